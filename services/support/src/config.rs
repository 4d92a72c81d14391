//! Support's configuration (`[support]`, `VISCOUNT_SUPPORT__*`); read at start.

use serde::Deserialize;

/// Support's settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct SupportConfig {
    /// How often the knowledge-base index is compared with the database (and rebuilt
    /// when they disagree): the most another replica's article write takes to become
    /// searchable here.
    pub index_sync_interval_ms: u64,
}

impl Default for SupportConfig {
    fn default() -> Self {
        Self {
            index_sync_interval_ms: 2_000,
        }
    }
}
