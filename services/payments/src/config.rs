//! Payments' configuration (`[payments]`, `VISCOUNT_PAYMENTS__*`) and where the running
//! service reads it from.
//!
//! Every payments setting is a fraud limit, and an operator tightens or loosens those
//! while the platform runs (coordination's `PUT /api/v1/config/payments`), so the
//! service reads them through [`PaymentsSettings`] on each authorization instead of
//! keeping the values it started with.

use std::sync::Arc;

use platform::live::LiveSection;
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

/// Where the service reads its settings: the live configuration (the service as the
/// platform runs it), or fixed values (operations driven directly, as in tests).
#[derive(Clone)]
pub struct PaymentsSettings(Source);

#[derive(Clone)]
enum Source {
    Fixed(Arc<PaymentsConfig>),
    Live(Arc<LiveSection<PaymentsConfig>>),
}

impl PaymentsSettings {
    /// Settings that follow `section`: a change applies to the next authorization.
    pub fn live(section: LiveSection<PaymentsConfig>) -> Self {
        Self(Source::Live(Arc::new(section)))
    }

    /// Settings that never change.
    pub fn fixed(config: PaymentsConfig) -> Self {
        Self(Source::Fixed(Arc::new(config)))
    }

    /// The settings now (cheap: read them per use, do not keep them).
    pub fn get(&self) -> Arc<PaymentsConfig> {
        match &self.0 {
            Source::Fixed(config) => config.clone(),
            Source::Live(section) => section.get(),
        }
    }
}

impl From<PaymentsConfig> for PaymentsSettings {
    fn from(config: PaymentsConfig) -> Self {
        Self::fixed(config)
    }
}
