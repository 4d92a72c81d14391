//! Payments' metrics, declared once here through `platform::http::metrics`: payments by
//! the status they entered, failures by reason, the fraud rules' decisions, and the
//! money captured and refunded by currency. Each is counted when the transaction
//! holding the change commits ([`platform::db::Tx::after_commit`]), so a change rolled
//! back never counts.

use std::sync::LazyLock;

use platform::db::Tx;
use platform::http::metrics::{self, IntCounterVec};

use crate::domain::{FailureReason, Money, Payment, PaymentStatus, Verdict};

static PAYMENTS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    metrics::counter_vec(
        "payments_total",
        "Payments that entered each status (pending when created)",
        &["status"],
    )
});

static FAILURES: LazyLock<IntCounterVec> = LazyLock::new(|| {
    metrics::counter_vec(
        "payment_failures_total",
        "Payment authorizations refused or failed, by reason",
        &["reason"],
    )
});

static CAPTURED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    metrics::counter_vec(
        "revenue_minor_units_total",
        "Money captured from customers, in minor units of its currency (cents for USD), by \
         currency",
        &["currency"],
    )
});

static REFUNDED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    metrics::counter_vec(
        "refunds_minor_units_total",
        "Money refunded to customers, in minor units of its currency, by currency",
        &["currency"],
    )
});

static FRAUD_DECISIONS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    metrics::counter_vec(
        "fraud_decisions_total",
        "Authorization attempts by what the fraud rules' score decided (allow, review, block)",
        &["decision"],
    )
});

/// Counts an authorization attempt the fraud rules scored into `verdict`, once `tx`
/// commits.
pub(crate) fn fraud_decided(tx: &mut Tx, verdict: Verdict) {
    let decision = match verdict {
        Verdict::Allow => "allow",
        Verdict::Review => "review",
        Verdict::Block => "block",
    };
    tx.after_commit(move || FRAUD_DECISIONS.with_label_values(&[decision]).inc());
}

/// Counts `payment` (as changed in `tx`) entering `status`, with what it captured or
/// why it failed, once `tx` commits.
pub(crate) fn payment_entered(tx: &mut Tx, payment: &Payment, status: PaymentStatus) {
    let captured = (status == PaymentStatus::Captured).then(|| payment.captured());
    let failure = payment
        .failure()
        .map(|failure| failure.reason)
        .filter(|_| status == PaymentStatus::Failed);
    tx.after_commit(move || {
        PAYMENTS.with_label_values(&[status.as_str()]).inc();
        if let Some(money) = captured {
            add(&CAPTURED, &money);
        }
        if let Some(reason) = failure {
            FAILURES.with_label_values(&[reason.as_str()]).inc();
        }
    });
}

/// Counts an authorization that failed for `reason` without a payment to move (it
/// named none of the order's), once `tx` commits.
pub(crate) fn failed_without_payment(tx: &mut Tx, reason: FailureReason) {
    tx.after_commit(move || FAILURES.with_label_values(&[reason.as_str()]).inc());
}

/// Counts a refund of `amount` that left `payment` in its status, once `tx` commits.
pub(crate) fn refunded(tx: &mut Tx, payment: &Payment, amount: &Money) {
    let status = payment.status();
    let amount = amount.clone();
    tx.after_commit(move || {
        PAYMENTS.with_label_values(&[status.as_str()]).inc();
        add(&REFUNDED, &amount);
    });
}

fn add(counter: &IntCounterVec, money: &Money) {
    // Amounts are never negative; a negative one would be a bug, not money to count.
    if let Ok(amount) = u64::try_from(money.amount) {
        counter
            .with_label_values(&[money.currency.as_str()])
            .inc_by(amount);
    }
}
