//! Payments' configuration (`[payments]`, `VISCOUNT_PAYMENTS__*`) and where the running
//! service reads it from.
//!
//! The fraud limits are tightened or loosened by an operator while the platform runs
//! (coordination's `PUT /api/v1/config/payments`), so the service reads its settings
//! through [`PaymentsSettings`] on each use instead of keeping the values it started
//! with. The expiry of payments no order took up (see `app::expiry`) is read the same
//! way, though only a restart changes it (it is not a live key).

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
    /// How long a payment may stay `pending` (no order had it authorized) before it is
    /// cancelled as abandoned. Longer than ordering's two saga steps together, so only
    /// a payment whose order never came to exist, or was cancelled, is still pending.
    pub pending_expiry_secs: u64,
    /// How long an authorization may wait for its capture before it is voided at the
    /// provider, as card networks let a hold lapse (a confirmed order captures within
    /// moments; only an order whose confirmation or cancellation never reached payments
    /// leaves one).
    pub authorization_expiry_secs: u64,
    /// How often abandoned payments are looked for.
    pub expiry_sweep_interval_ms: u64,
}

impl Default for PaymentsConfig {
    fn default() -> Self {
        Self {
            max_amount_minor: 1_000_000,
            fraud_max_attempts_per_minute: 5,
            pending_expiry_secs: 15 * 60,
            authorization_expiry_secs: 7 * 24 * 3600,
            expiry_sweep_interval_ms: 60_000,
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
