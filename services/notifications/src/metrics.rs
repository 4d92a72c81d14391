//! Notifications' metrics, declared once here through `platform::http::metrics`:
//! messages by channel and the status they were created in, delivery attempts by
//! channel and outcome, how long a message took to reach its channel, and merchants'
//! webhook attempts by outcome with their endpoints' answer time.

use std::sync::LazyLock;

use platform::db::Tx;
use platform::http::metrics::{self, HistogramVec, IntCounterVec};

use crate::domain::Message;

static MESSAGES: LazyLock<IntCounterVec> = LazyLock::new(|| {
    metrics::counter_vec(
        "notifications_messages_total",
        "Messages created, by channel and the status they started in (queued, suppressed, \
         failed, cancelled)",
        &["channel", "status"],
    )
});

static DELIVERIES: LazyLock<IntCounterVec> = LazyLock::new(|| {
    metrics::counter_vec(
        "notifications_deliveries_total",
        "Delivery attempts by channel and outcome (sent, retry, failed)",
        &["channel", "outcome"],
    )
});

static DELIVERY_SECONDS: LazyLock<HistogramVec> = LazyLock::new(|| {
    metrics::histogram_vec(
        "notifications_delivery_seconds",
        "Time from a message's creation to its acceptance by the channel",
        &["channel"],
        &[
            0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0, 300.0,
        ],
    )
});

static WEBHOOK_ATTEMPTS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    metrics::counter_vec(
        "notifications_webhook_attempts_total",
        "Attempts to deliver merchants' webhooks, by outcome (delivered, retry, failed)",
        &["outcome"],
    )
});

static WEBHOOK_ATTEMPT_SECONDS: LazyLock<HistogramVec> = LazyLock::new(|| {
    metrics::histogram_vec(
        "notifications_webhook_attempt_seconds",
        "How long merchants' endpoints took to answer one webhook attempt",
        &[],
        &[0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 15.0],
    )
});

/// Counts `message`, inserted in `tx`, once `tx` commits.
pub(crate) fn message_created(tx: &mut Tx, message: &Message) {
    let channel = message.composed().channel.as_str();
    let status = message.status().as_str();
    tx.after_commit(move || MESSAGES.with_label_values(&[channel, status]).inc());
}

/// Counts a recorded delivery attempt of a message on `channel` (call after its commit).
pub(crate) fn delivery(channel: &str, outcome: &str) {
    DELIVERIES.with_label_values(&[channel, outcome]).inc();
}

/// Observes how long a message on `channel` took from creation to its channel.
pub(crate) fn delivered_after(channel: &str, seconds: f64) {
    DELIVERY_SECONDS
        .with_label_values(&[channel])
        .observe(seconds);
}

/// Counts a recorded webhook attempt with its `outcome`, and how long it took.
pub(crate) fn webhook_attempt(outcome: &str, duration_ms: i64) {
    WEBHOOK_ATTEMPTS.with_label_values(&[outcome]).inc();
    WEBHOOK_ATTEMPT_SECONDS
        .with_label_values::<&str>(&[])
        .observe(duration_ms.max(0) as f64 / 1000.0);
}
