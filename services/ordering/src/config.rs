//! Ordering's configuration (`[ordering]`, `VISCOUNT_ORDERING__*`).

use serde::Deserialize;

/// Ordering's settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct OrderingConfig {
    /// How long each saga step (stock, then payment) may take before the order is
    /// cancelled. Longer than payments takes to settle a provider call a crash
    /// interrupted (`payments.call_answer_wait_ms`, its sweep interval and one call to
    /// the provider: 45 s by default), so such an order is finished, not cancelled.
    pub saga_step_timeout_secs: u64,
    /// How often overdue orders are looked for.
    pub timeout_sweep_interval_ms: u64,
    /// Days after delivery within which a return may be opened (30): a delivered order
    /// completes once they passed with no return open.
    ///
    /// Fulfillment enforces the window (`[fulfillment] return_window_days`, whose
    /// default this is) and the two must be set alike. Ordering does not read
    /// fulfillment's section: a service reads only its own, and an ordering process
    /// may run without fulfillment. Set apart, a longer window here only completes
    /// orders later; a shorter one may complete an order that a return then refunds
    /// (noted in its history; it stays completed).
    pub return_window_days: u32,
    /// How often orders whose return window closed are looked for (60 s).
    pub completion_sweep_interval_ms: u64,
    /// How long a cart's lines read by id are kept in the cache (Redis in the
    /// distributed shape, shared by every replica; memory in the embedded one); 0 turns
    /// the cache off. Prices are never kept: every read prices the cart anew. Every
    /// change of the lines (a line set, the checkout emptying the cart) drops the
    /// cart's entry once committed, so this bounds how long an entry can outlive a
    /// change only when that drop failed (Redis unreachable at that moment).
    pub cart_cache_ttl_secs: u64,
}

impl Default for OrderingConfig {
    fn default() -> Self {
        Self {
            saga_step_timeout_secs: 60,
            timeout_sweep_interval_ms: 1000,
            return_window_days: 30,
            completion_sweep_interval_ms: 60_000,
            cart_cache_ttl_secs: 60,
        }
    }
}

impl OrderingConfig {
    /// The return window in ms.
    pub fn return_window_ms(&self) -> i64 {
        i64::from(self.return_window_days).saturating_mul(24 * 3_600_000)
    }
}
