//! Catalog's configuration (`[catalog]`, `VISCOUNT_CATALOG__*`).

use serde::Deserialize;

/// Catalog's settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct CatalogConfig {
    /// How often a replica looks for writes its search index has not seen (another
    /// replica's writes reach its index within this).
    pub index_sync_interval_ms: u64,
}

impl Default for CatalogConfig {
    fn default() -> Self {
        Self {
            index_sync_interval_ms: 2000,
        }
    }
}
