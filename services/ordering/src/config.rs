//! Ordering's configuration (`[ordering]`, `VISCOUNT_ORDERING__*`).

use serde::Deserialize;

/// Ordering's settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct OrderingConfig {
    /// How long each saga step (stock, then payment) may take before the order is
    /// cancelled.
    pub saga_step_timeout_secs: u64,
    /// How often overdue orders are looked for.
    pub timeout_sweep_interval_ms: u64,
}

impl Default for OrderingConfig {
    fn default() -> Self {
        Self {
            saga_step_timeout_secs: 60,
            timeout_sweep_interval_ms: 1000,
        }
    }
}
