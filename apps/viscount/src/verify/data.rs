//! What several checks read: ordering's orders (the reference every other service is
//! compared with) and inventory's reservations, each read once.

use std::collections::{BTreeMap, HashMap, HashSet};

use anyhow::Context;
use inventory::domain::ReservationStatus;
use ordering::domain::OrderStatus;
use platform::db::{Db, query};

/// One order as ordering stores it.
pub(super) struct Order {
    pub user_id: String,
    /// The stored status name (an unknown one is a violation, not an error).
    pub status: String,
    pub total: i64,
    pub currency: String,
    pub payment_id: Option<String>,
    pub cancel_reason: Option<String>,
    /// What ordering learnt payments captured.
    pub captured: i64,
    /// What ordering learnt payments refunded in all.
    pub refunded: i64,
}

impl Order {
    /// The status, `None` when the stored name is not one.
    pub fn status(&self) -> Option<OrderStatus> {
        OrderStatus::parse(&self.status)
    }

    /// Whether the order was paid for and not cancelled: its payment must hold its
    /// total, its stock must have left, its parcels must exist.
    pub fn is_sold(&self) -> bool {
        matches!(
            self.status(),
            Some(
                OrderStatus::Confirmed
                    | OrderStatus::Shipped
                    | OrderStatus::Delivered
                    | OrderStatus::PartiallyRefunded
                    | OrderStatus::Refunded
            )
        )
    }
}

/// Ordering's orders and what hangs off them.
pub(super) struct Orders {
    /// By id, in id (so creation) order.
    pub by_id: BTreeMap<String, Order>,
    /// Orders whose history shows a confirmation (cancelled ones included).
    pub confirmed: HashSet<String>,
    /// Units ordered per (order, sku).
    pub items: HashMap<String, BTreeMap<String, i64>>,
    /// Refunds ordering recorded per order: refund id → amount.
    pub refunds: HashMap<String, BTreeMap<String, i64>>,
}

impl Orders {
    /// Reads ordering's database.
    pub async fn load(db: &Db) -> anyhow::Result<Self> {
        let mut by_id = BTreeMap::new();
        for row in query(
            "SELECT id, user_id, status, total_amount, currency, payment_id, cancel_reason, \
             captured_amount, refunded_amount FROM orders",
        )
        .fetch_all(db.reader())
        .await
        .context("cannot read orders")?
        {
            by_id.insert(
                row.try_get("id")?,
                Order {
                    user_id: row.try_get("user_id")?,
                    status: row.try_get("status")?,
                    total: row.try_get("total_amount")?,
                    currency: row.try_get("currency")?,
                    payment_id: row.try_get("payment_id")?,
                    cancel_reason: row.try_get("cancel_reason")?,
                    captured: row.try_get("captured_amount")?,
                    refunded: row.try_get("refunded_amount")?,
                },
            );
        }
        let confirmed = platform::db::query_scalar::<String>(
            "SELECT DISTINCT order_id FROM order_history WHERE status = $1",
        )
        .bind(OrderStatus::Confirmed.as_str())
        .fetch_all(db.reader())
        .await
        .context("cannot read order history")?
        .into_iter()
        .collect();
        let mut items: HashMap<String, BTreeMap<String, i64>> = HashMap::new();
        for row in query(
            "SELECT order_id, sku, CAST(SUM(quantity) AS BIGINT) AS quantity \
             FROM order_items GROUP BY order_id, sku",
        )
        .fetch_all(db.reader())
        .await
        .context("cannot read order lines")?
        {
            items
                .entry(row.try_get("order_id")?)
                .or_default()
                .insert(row.try_get("sku")?, row.try_get("quantity")?);
        }
        let mut refunds: HashMap<String, BTreeMap<String, i64>> = HashMap::new();
        for row in query("SELECT refund_id, order_id, amount FROM order_refunds")
            .fetch_all(db.reader())
            .await
            .context("cannot read order refunds")?
        {
            refunds
                .entry(row.try_get("order_id")?)
                .or_default()
                .insert(row.try_get("refund_id")?, row.try_get("amount")?);
        }
        Ok(Self {
            by_id,
            confirmed,
            items,
            refunds,
        })
    }

    /// Whether `id` was ever confirmed: by its status or by its history.
    pub fn was_confirmed(&self, id: &str, order: &Order) -> bool {
        order.is_sold() || self.confirmed.contains(id)
    }
}

/// One reservation of inventory's.
pub(super) struct Reservation {
    pub id: String,
    /// The stored status name.
    pub status: String,
    /// Units held per (warehouse, sku).
    pub lines: BTreeMap<(String, String), i64>,
}

impl Reservation {
    /// The status, `None` when the stored name is not one.
    pub fn status(&self) -> Option<ReservationStatus> {
        self.status.parse().ok()
    }
}

/// Inventory's reservations by order. Closed ones may be gone (retention prunes
/// them), so a missing reservation proves nothing; a present one must fit its order.
pub(super) struct Reservations {
    pub by_order: HashMap<String, Reservation>,
}

impl Reservations {
    /// Reads inventory's database.
    pub async fn load(db: &Db) -> anyhow::Result<Self> {
        let mut by_id: HashMap<String, (String, Reservation)> = HashMap::new();
        for row in query("SELECT id, order_id, status FROM reservations")
            .fetch_all(db.reader())
            .await
            .context("cannot read reservations")?
        {
            let id: String = row.try_get("id")?;
            let reservation = Reservation {
                id: id.clone(),
                status: row.try_get("status")?,
                lines: BTreeMap::new(),
            };
            by_id.insert(id, (row.try_get("order_id")?, reservation));
        }
        for row in
            query("SELECT reservation_id, sku, warehouse_id, quantity FROM reservation_lines")
                .fetch_all(db.reader())
                .await
                .context("cannot read reservation lines")?
        {
            let id: String = row.try_get("reservation_id")?;
            if let Some((_, reservation)) = by_id.get_mut(&id) {
                let quantity: i64 = row.try_get("quantity")?;
                *reservation
                    .lines
                    .entry((row.try_get("warehouse_id")?, row.try_get("sku")?))
                    .or_default() += quantity;
            }
        }
        Ok(Self {
            by_order: by_id.into_values().collect(),
        })
    }
}
