//! Orders with their lines, status history and refunds.

use std::collections::HashMap;

use platform::db::{Dialect, Executor, Row, Tx};

use crate::domain::{
    HistoryEntry, Money, Order, OrderFacts, OrderLine, OrderState, OrderStatus, Redemption,
    StatusChange,
};

const ORDER_COLUMNS: &str = "id, user_id, status, total_amount, currency, shipping_address, \
    payment_id, card_brand, card_last4, cancel_reason, captured_amount, refunded_amount, \
    deadline_at, created_at, updated_at, attribution, delivered_at, loyalty_points, \
    discount_amount";

/// An order row as the aggregate; an unknown status, an unreadable address or an
/// unreadable attribution is an error.
fn order_from(row: &Row) -> Result<Order, platform::db::Error> {
    let status: String = row.try_get("status")?;
    let address: String = row.try_get("shipping_address")?;
    let attribution: Option<String> = row.try_get("attribution")?;
    let currency: String = row.try_get("currency")?;
    let points: i64 = row.try_get("loyalty_points")?;
    let loyalty = match points {
        0 => None,
        points => Some(Redemption {
            points: platform::db::decoded("loyalty_points", u32::try_from(points))?,
            discount: Money {
                amount: row.try_get("discount_amount")?,
                currency: currency.clone(),
            },
        }),
    };
    let facts = OrderFacts {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        total: Money {
            amount: row.try_get("total_amount")?,
            currency,
        },
        shipping_address: serde_json::from_str(&address)
            .map_err(|e| platform::db::Error::undecodable("shipping_address", e))?,
        payment_id: row.try_get("payment_id")?,
        card_brand: row.try_get("card_brand")?,
        card_last4: row.try_get("card_last4")?,
        attribution: attribution
            .map(|json| platform::db::decoded("attribution", serde_json::from_str(&json)))
            .transpose()?,
        loyalty,
        created_at: row.try_get("created_at")?,
    };
    let state = OrderState {
        status: platform::db::named("status", &status, OrderStatus::parse)?,
        cancel_reason: row.try_get("cancel_reason")?,
        captured: row.try_get("captured_amount")?,
        refunded: row.try_get("refunded_amount")?,
        deadline_at: row.try_get("deadline_at")?,
        delivered_at: row.try_get("delivered_at")?,
        updated_at: row.try_get("updated_at")?,
    };
    Ok(Order::restore(facts, state))
}

/// Stores a new order with its lines and its first history entry (`reason`), under the
/// customer's `idempotency_key` when it came with one (a second order under the same
/// key is a unique violation).
pub async fn insert(
    tx: &mut Tx,
    order: &Order,
    lines: &[OrderLine],
    reason: &str,
    idempotency_key: Option<&str>,
) -> Result<(), platform::db::Error> {
    let facts = &order.facts;
    let state = order.state();
    let address = serde_json::to_string(&facts.shipping_address)
        .map_err(|e| platform::db::Error::Encode(Box::new(e)))?;
    let attribution = facts
        .attribution
        .as_ref()
        .map(serde_json::to_string)
        .transpose()
        .map_err(|e| platform::db::Error::Encode(Box::new(e)))?;
    platform::db::query(&format!(
        "INSERT INTO orders ({ORDER_COLUMNS}, idempotency_key) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)"
    ))
    .bind(&facts.id)
    .bind(&facts.user_id)
    .bind(state.status.as_str())
    .bind(facts.total.amount)
    .bind(&facts.total.currency)
    .bind(address)
    .bind(&facts.payment_id)
    .bind(&facts.card_brand)
    .bind(&facts.card_last4)
    .bind(&state.cancel_reason)
    .bind(state.captured)
    .bind(state.refunded)
    .bind(state.deadline_at)
    .bind(facts.created_at)
    .bind(state.updated_at)
    .bind(attribution)
    .bind(state.delivered_at)
    .bind(facts.loyalty.as_ref().map_or(0, |l| i64::from(l.points)))
    .bind(facts.loyalty.as_ref().map_or(0, |l| l.discount.amount))
    .bind(idempotency_key)
    .execute(&mut **tx)
    .await?;
    for (line_no, line) in lines.iter().enumerate() {
        platform::db::query(
            "INSERT INTO order_items (order_id, line_no, sku, name, quantity, unit_amount, currency) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&facts.id)
        .bind(i64::try_from(line_no).unwrap_or(i64::MAX))
        .bind(line.sku.as_str())
        .bind(&line.name)
        .bind(i64::from(line.quantity))
        .bind(line.unit_price.amount)
        .bind(&line.unit_price.currency)
        .execute(&mut **tx)
        .await?;
    }
    let first = HistoryEntry {
        status: state.status,
        reason: Some(reason.to_owned()),
        at: facts.created_at,
    };
    append_history(tx, order.id(), &first).await
}

/// The id of the order `user_id` placed under `idempotency_key`, if any.
pub async fn placed_under<'e>(
    ex: impl Executor<'e>,
    user_id: &str,
    idempotency_key: &str,
) -> Result<Option<String>, platform::db::Error> {
    platform::db::query_scalar("SELECT id FROM orders WHERE user_id = $1 AND idempotency_key = $2")
        .bind(user_id)
        .bind(idempotency_key)
        .fetch_optional(ex)
        .await
}

/// An order (without its lines).
pub async fn head<'e>(
    ex: impl Executor<'e>,
    id: &str,
) -> Result<Option<Order>, platform::db::Error> {
    platform::db::query(&format!("SELECT {ORDER_COLUMNS} FROM orders WHERE id = $1"))
        .bind(id)
        .fetch_optional(ex)
        .await?
        .as_ref()
        .map(order_from)
        .transpose()
}

/// An order inside `tx`, its row locked until commit (PostgreSQL; SQLite's
/// `BEGIN IMMEDIATE` already holds the whole database).
pub async fn for_update(
    tx: &mut Tx,
    dialect: Dialect,
    id: &str,
) -> Result<Option<Order>, platform::db::Error> {
    platform::db::query(&format!(
        "SELECT {ORDER_COLUMNS} FROM orders WHERE id = $1{}",
        dialect.row_lock()
    ))
    .bind(id)
    .fetch_optional(&mut **tx)
    .await?
    .as_ref()
    .map(order_from)
    .transpose()
}

/// The lines of some orders (in one query), each order's in line order.
pub async fn lines<'e>(
    ex: impl Executor<'e>,
    order_ids: &[&str],
) -> Result<HashMap<String, Vec<OrderLine>>, platform::db::Error> {
    let mut by_order: HashMap<String, Vec<OrderLine>> = HashMap::new();
    if order_ids.is_empty() {
        return Ok(by_order);
    }
    let sql = format!(
        "SELECT order_id, sku, name, quantity, unit_amount, currency FROM order_items \
         WHERE order_id IN {} ORDER BY order_id, line_no",
        platform::db::in_list(1, order_ids.len())
    );
    let mut query = platform::db::query(&sql);
    for id in order_ids {
        query = query.bind(*id);
    }
    for row in query.fetch_all(ex).await? {
        by_order
            .entry(row.try_get("order_id")?)
            .or_default()
            .push(OrderLine {
                sku: super::sku(row.try_get("sku")?)?,
                name: row.try_get("name")?,
                quantity: super::line_quantity(row.try_get("quantity")?)?,
                unit_price: Money {
                    amount: row.try_get("unit_amount")?,
                    currency: row.try_get("currency")?,
                },
            });
    }
    Ok(by_order)
}

/// Writes a status change of `order` (one of its transitions made it) and its history
/// entry: one conditional update, on the status the transition moved the order from.
/// A change that delivered the order keeps when (the return window runs from there).
/// `false` (and nothing written) when the row is no longer in that status.
pub async fn save_change(
    tx: &mut Tx,
    order: &Order,
    change: &StatusChange,
) -> Result<bool, platform::db::Error> {
    let changed = platform::db::query(
        "UPDATE orders SET status = $1, updated_at = $2, \
         cancel_reason = COALESCE($3, cancel_reason), deadline_at = $4, \
         delivered_at = COALESCE($7, delivered_at) \
         WHERE id = $5 AND status = $6",
    )
    .bind(change.to.as_str())
    .bind(change.at)
    .bind(change.cancel_reason())
    .bind(change.deadline_at)
    .bind(order.id())
    .bind(change.from.as_str())
    .bind(change.delivered_at())
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if changed == 0 {
        return Ok(false);
    }
    append_history(tx, order.id(), &change.entry()).await?;
    Ok(true)
}

/// Appends a history entry (a status change's, or a note that changes no status).
pub async fn append_history(
    tx: &mut Tx,
    order_id: &str,
    entry: &HistoryEntry,
) -> Result<(), platform::db::Error> {
    platform::db::query(
        "INSERT INTO order_history (order_id, seq, status, reason, at) \
         SELECT $1, COALESCE(MAX(seq), 0) + 1, $2, $3, $4 FROM order_history WHERE order_id = $1",
    )
    .bind(order_id)
    .bind(entry.status.as_str())
    .bind(entry.reason.as_deref())
    .bind(entry.at)
    .execute(&mut **tx)
    .await
    .map(|_| ())
}

/// An order's history, oldest first.
pub async fn history<'e>(
    ex: impl Executor<'e>,
    order_id: &str,
) -> Result<Vec<HistoryEntry>, platform::db::Error> {
    let rows = platform::db::query(
        "SELECT status, reason, at FROM order_history WHERE order_id = $1 ORDER BY seq",
    )
    .bind(order_id)
    .fetch_all(ex)
    .await?;
    rows.iter()
        .map(|row| {
            let status: String = row.try_get("status")?;
            Ok(HistoryEntry {
                status: platform::db::named("status", &status, OrderStatus::parse)?,
                reason: row.try_get("reason")?,
                at: row.try_get("at")?,
            })
        })
        .collect()
}

/// Records what payments captured for an order (not a status change: the order is
/// confirmed already, and capture follows).
pub async fn set_captured(
    tx: &mut Tx,
    id: &str,
    amount: i64,
    now: i64,
) -> Result<(), platform::db::Error> {
    platform::db::query("UPDATE orders SET captured_amount = $1, updated_at = $2 WHERE id = $3")
        .bind(amount)
        .bind(now)
        .bind(id)
        .execute(&mut **tx)
        .await
        .map(|_| ())
}

/// Records a refund of `order` once, with payments' running total; `false` if this
/// refund id was recorded before (then nothing else of it may be applied).
pub async fn record_refund(
    tx: &mut Tx,
    order: &Order,
    refund_id: &str,
    amount: i64,
    refunded_total: i64,
    now: i64,
) -> Result<bool, platform::db::Error> {
    let inserted = platform::db::query(
        "INSERT INTO order_refunds (refund_id, order_id, amount, at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT DO NOTHING",
    )
    .bind(refund_id)
    .bind(order.id())
    .bind(amount)
    .bind(now)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if inserted == 0 {
        return Ok(false);
    }
    // Payments' running total is the authority; never move it backwards.
    platform::db::query(
        "UPDATE orders SET refunded_amount = CASE WHEN refunded_amount > $1 THEN refunded_amount ELSE $1 END, \
         updated_at = $2 WHERE id = $3",
    )
    .bind(refunded_total)
    .bind(now)
    .bind(order.id())
    .execute(&mut **tx)
    .await?;
    Ok(true)
}

/// Filters of an order list.
#[derive(Debug, Clone, Default)]
pub struct OrderFilter {
    /// Only this owner's (none: everyone's, for those who manage ordering).
    pub user_id: Option<String>,
    /// Only in this status.
    pub status: Option<OrderStatus>,
}

/// Orders newest first (ids are UUIDv7, so id order is creation order), after the
/// cursor position `before`.
pub async fn list<'e>(
    ex: impl Executor<'e>,
    filter: &OrderFilter,
    before: Option<&str>,
    limit: i64,
) -> Result<Vec<Order>, platform::db::Error> {
    let rows = platform::db::query(&format!(
        "SELECT {ORDER_COLUMNS} FROM orders \
         WHERE ($1 = '' OR user_id = $1) AND ($2 = '' OR status = $2) AND ($3 = '' OR id < $3) \
         ORDER BY id DESC LIMIT $4"
    ))
    .bind(filter.user_id.as_deref().unwrap_or(""))
    .bind(filter.status.map(OrderStatus::as_str).unwrap_or(""))
    .bind(before.unwrap_or(""))
    .bind(limit)
    .fetch_all(ex)
    .await?;
    rows.iter().map(order_from).collect()
}

/// Ids of unsettled orders whose deadline passed.
pub async fn overdue<'e>(
    ex: impl Executor<'e>,
    now: i64,
    limit: i64,
) -> Result<Vec<String>, platform::db::Error> {
    platform::db::query_scalar(
        "SELECT id FROM orders WHERE deadline_at IS NOT NULL AND deadline_at <= $1 \
         ORDER BY deadline_at LIMIT $2",
    )
    .bind(now)
    .bind(limit)
    .fetch_all(ex)
    .await
}

/// Ids of orders that may complete at `now` (see [`crate::domain::Order::complete`]):
/// in a status that completes, delivered at or before `delivered_before`, and with no
/// return open; oldest delivery first.
pub async fn completable<'e>(
    ex: impl Executor<'e>,
    delivered_before: i64,
    limit: i64,
) -> Result<Vec<String>, platform::db::Error> {
    let statuses: Vec<&str> = OrderStatus::ALL
        .into_iter()
        .filter(|s| s.can_complete())
        .map(OrderStatus::as_str)
        .collect();
    let sql = format!(
        "SELECT o.id FROM orders o \
         WHERE o.delivered_at IS NOT NULL AND o.delivered_at <= $1 AND o.status IN {} \
         AND NOT EXISTS (SELECT 1 FROM order_returns r \
                         WHERE r.order_id = o.id AND r.closed_at IS NULL) \
         ORDER BY o.delivered_at LIMIT $2",
        platform::db::in_list(3, statuses.len())
    );
    let mut query = platform::db::query_scalar(&sql)
        .bind(delivered_before)
        .bind(limit);
    for status in statuses {
        query = query.bind(status);
    }
    query.fetch_all(ex).await
}
