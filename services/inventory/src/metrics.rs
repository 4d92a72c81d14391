//! Inventory's metrics, declared once here through `platform::http::metrics`:
//! reservations made or refused, reservations closed by how (committed, released,
//! expired, returned), and low-stock alerts. Each is counted when the transaction
//! holding the change commits ([`platform::db::Tx::after_commit`]), so a change rolled
//! back never counts.

use std::sync::LazyLock;

use platform::db::Tx;
use platform::http::metrics::{self, IntCounter, IntCounterVec};

use crate::domain::ReservationStatus;

static RESERVATIONS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    metrics::counter_vec(
        "inventory_reservations_total",
        "Orders' reservations asked for, by result (reserved: every line held; \
         insufficient: refused, nothing held)",
        &["result"],
    )
});

static CLOSED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    metrics::counter_vec(
        "inventory_reservations_closed_total",
        "Reservations closed, by the status they entered (committed: the units left stock; \
         released, expired, returned: the units are free again)",
        &["status"],
    )
});

static LOW_STOCK: LazyLock<IntCounter> = LazyLock::new(|| {
    metrics::counter(
        "inventory_low_stock_alerts_total",
        "Skus that fell to or under their low-stock threshold (one alert per crossing)",
    )
});

/// Counts a reservation asked for in `tx` with `result`, once `tx` commits.
pub(crate) fn reservation(tx: &mut Tx, result: &'static str) {
    tx.after_commit(move || RESERVATIONS.with_label_values(&[result]).inc());
}

/// Counts a reservation closed as `status` in `tx`, once `tx` commits.
pub(crate) fn reservation_closed(tx: &mut Tx, status: ReservationStatus) {
    tx.after_commit(move || CLOSED.with_label_values(&[status.as_str()]).inc());
}

/// Counts a low-stock alert staged in `tx`, once `tx` commits.
pub(crate) fn low_stock(tx: &mut Tx) {
    tx.after_commit(|| LOW_STOCK.inc());
}
