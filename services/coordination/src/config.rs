//! Coordination's configuration (`[coordination]`, `VISCOUNT_COORDINATION__*`): how
//! often expired instances are swept and instances' health is polled.

use serde::Deserialize;

/// Coordination's settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct CoordinationConfig {
    /// How often instances past their TTL are dropped (500 ms): the most an instance
    /// outlives its TTL in the registry.
    pub sweep_interval_ms: u64,
    /// How often every instance's `/health/ready` is polled (1000 ms).
    pub health_interval_ms: u64,
    /// How long a poll may take before the instance counts as down (1000 ms).
    pub health_timeout_ms: u64,
    /// How many instances are polled at the same time (16).
    pub health_concurrency: usize,
}

impl Default for CoordinationConfig {
    fn default() -> Self {
        Self {
            sweep_interval_ms: 500,
            health_interval_ms: 1000,
            health_timeout_ms: 1000,
            health_concurrency: 16,
        }
    }
}

impl CoordinationConfig {
    /// Checks the rules the settings must follow.
    pub fn check(&self) -> Result<(), InvalidConfig> {
        if !(10..=600_000).contains(&self.sweep_interval_ms) {
            return Err(InvalidConfig(
                "sweep_interval_ms must be between 10 and 600000",
            ));
        }
        if !(10..=600_000).contains(&self.health_interval_ms) {
            return Err(InvalidConfig(
                "health_interval_ms must be between 10 and 600000",
            ));
        }
        if !(10..=60_000).contains(&self.health_timeout_ms) {
            return Err(InvalidConfig(
                "health_timeout_ms must be between 10 and 60000",
            ));
        }
        if !(1..=1024).contains(&self.health_concurrency) {
            return Err(InvalidConfig(
                "health_concurrency must be between 1 and 1024",
            ));
        }
        Ok(())
    }
}

/// The `[coordination]` configuration breaks a rule.
#[derive(Debug, thiserror::Error)]
#[error("invalid coordination configuration: {0}")]
pub struct InvalidConfig(pub &'static str);
