//! Payments' configuration (`[payments]`, `VISCOUNT_PAYMENTS__*`).

use serde::Deserialize;

/// Payments' settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct PaymentsConfig {
    /// Largest amount (minor units) authorized without a fraud block.
    pub max_amount_minor: i64,
    /// Authorization attempts per user per minute beyond which the fraud rules block.
    pub fraud_max_attempts_per_minute: u32,
}

impl Default for PaymentsConfig {
    fn default() -> Self {
        Self {
            max_amount_minor: 1_000_000,
            fraud_max_attempts_per_minute: 5,
        }
    }
}
