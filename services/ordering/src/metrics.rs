//! Ordering's metrics, declared once here through `platform::http::metrics`: orders by
//! the status they entered and their currency. Each is counted when the transaction
//! that moved the order commits ([`platform::db::Tx::after_commit`]), so a step rolled
//! back (or redelivered onto an order that already moved) never counts.

use std::sync::LazyLock;

use platform::db::Tx;
use platform::http::metrics::{self, IntCounterVec};

use crate::domain::{Order, OrderStatus};

static ORDERS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    metrics::counter_vec(
        "orders_total",
        "Orders that entered each status (pending when placed), by currency",
        &["status", "currency"],
    )
});

/// Counts `order` entering `status` in `tx`, once `tx` commits.
pub(crate) fn order_entered(tx: &mut Tx, order: &Order, status: OrderStatus) {
    let currency = order.facts.total.currency.clone();
    tx.after_commit(move || {
        ORDERS
            .with_label_values(&[status.as_str(), currency.as_str()])
            .inc();
    });
}
