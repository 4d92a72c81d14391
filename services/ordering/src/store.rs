//! Ordering's SQL: the price copy, carts, orders with their lines, history and refunds.
//!
//! An order's status only changes through [`set_status`], a conditional update on the
//! status it was read in, inside a transaction that locked the row
//! ([`order_for_update`]); so the saga's consumer, the timeout sweeper and a user's
//! cancel can never both move the same order.

use std::collections::HashMap;

use platform::db::{Dialect, Executor, Row, Tx};

use crate::domain::{Money, OrderStatus, ShippingAddress};

/// One catalog price as ordering knows it.
#[derive(Debug, Clone)]
pub struct PriceRecord {
    /// The sku.
    pub sku: String,
    /// Its product.
    pub product_id: String,
    /// Its name (kept on order lines).
    pub name: String,
    /// Its price.
    pub price: Money,
}

/// Inserts or replaces the price of a sku.
pub async fn upsert_price(
    tx: &mut Tx,
    price: &PriceRecord,
    now: i64,
) -> Result<(), platform::db::Error> {
    platform::db::query(
        "INSERT INTO prices (sku, product_id, name, amount, currency, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (sku) DO UPDATE SET product_id = excluded.product_id, name = excluded.name, \
         amount = excluded.amount, currency = excluded.currency, updated_at = excluded.updated_at",
    )
    .bind(&price.sku)
    .bind(&price.product_id)
    .bind(&price.name)
    .bind(price.price.amount)
    .bind(&price.price.currency)
    .bind(now)
    .execute(&mut **tx)
    .await
    .map(|_| ())
}

/// Forgets a sku's price (its product was deleted): it can no longer be bought.
pub async fn delete_price(tx: &mut Tx, sku: &str) -> Result<(), platform::db::Error> {
    platform::db::query("DELETE FROM prices WHERE sku = $1")
        .bind(sku)
        .execute(&mut **tx)
        .await
        .map(|_| ())
}

/// The prices of `skus` that are known.
pub async fn prices<'e>(
    ex: impl Executor<'e>,
    skus: &[&str],
) -> Result<Vec<PriceRecord>, platform::db::Error> {
    if skus.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT sku, product_id, name, amount, currency FROM prices WHERE sku IN {}",
        platform::db::in_list(1, skus.len())
    );
    let mut query = platform::db::query(&sql);
    for sku in skus {
        query = query.bind(*sku);
    }
    let rows = query.fetch_all(ex).await?;
    rows.iter()
        .map(|row| {
            Ok(PriceRecord {
                sku: row.try_get("sku")?,
                product_id: row.try_get("product_id")?,
                name: row.try_get("name")?,
                price: Money {
                    amount: row.try_get("amount")?,
                    currency: row.try_get("currency")?,
                },
            })
        })
        .collect()
}

/// A cart and its lines.
#[derive(Debug, Clone)]
pub struct CartRecord {
    /// Id.
    pub id: String,
    /// Owner.
    pub user_id: String,
    /// (sku, quantity), in the order they were added.
    pub items: Vec<(String, u32)>,
}

/// Creates an empty cart.
pub async fn insert_cart(
    tx: &mut Tx,
    id: &str,
    user_id: &str,
    now: i64,
) -> Result<(), platform::db::Error> {
    platform::db::query(
        "INSERT INTO carts (id, user_id, created_at, updated_at) VALUES ($1, $2, $3, $3)",
    )
    .bind(id)
    .bind(user_id)
    .bind(now)
    .execute(&mut **tx)
    .await
    .map(|_| ())
}

/// A cart of `user_id` (another user's cart is not found).
pub async fn cart(
    ex: &mut platform::db::Conn,
    id: &str,
    user_id: &str,
) -> Result<Option<CartRecord>, platform::db::Error> {
    let Some(row) =
        platform::db::query("SELECT id, user_id FROM carts WHERE id = $1 AND user_id = $2")
            .bind(id)
            .bind(user_id)
            .fetch_optional(&mut *ex)
            .await?
    else {
        return Ok(None);
    };
    Ok(Some(CartRecord {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        items: cart_lines(&mut *ex, id).await?,
    }))
}

/// A cart's lines as (sku, quantity), in the order they were first added.
pub async fn cart_lines(
    ex: &mut platform::db::Conn,
    cart_id: &str,
) -> Result<Vec<(String, u32)>, platform::db::Error> {
    let lines = platform::db::query(
        "SELECT sku, quantity FROM cart_items WHERE cart_id = $1 ORDER BY added_at, sku",
    )
    .bind(cart_id)
    .fetch_all(ex)
    .await?;
    lines
        .iter()
        .map(|l| {
            let quantity: i64 = l.try_get("quantity")?;
            Ok((
                l.try_get("sku")?,
                u32::try_from(quantity).unwrap_or(u32::MAX),
            ))
        })
        .collect()
}

/// Marks `user_id`'s cart changed now and locks it for the transaction; false when
/// there is no such cart of theirs. The check and the touch are one statement, and the
/// lock orders concurrent changes of one cart.
pub async fn touch_own_cart(
    tx: &mut Tx,
    cart_id: &str,
    user_id: &str,
    now: i64,
) -> Result<bool, platform::db::Error> {
    let touched =
        platform::db::query("UPDATE carts SET updated_at = $1 WHERE id = $2 AND user_id = $3")
            .bind(now)
            .bind(cart_id)
            .bind(user_id)
            .execute(&mut **tx)
            .await?
            .rows_affected();
    Ok(touched == 1)
}

/// Sets a cart line's quantity (inserting the line if new); the cart was touched
/// ([`touch_own_cart`]).
pub async fn set_cart_line(
    tx: &mut Tx,
    cart_id: &str,
    sku: &str,
    quantity: u32,
    now: i64,
) -> Result<(), platform::db::Error> {
    platform::db::query(
        "INSERT INTO cart_items (cart_id, sku, quantity, added_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (cart_id, sku) DO UPDATE SET quantity = excluded.quantity",
    )
    .bind(cart_id)
    .bind(sku)
    .bind(i64::from(quantity))
    .bind(now)
    .execute(&mut **tx)
    .await
    .map(|_| ())
}

/// Removes a cart line (nothing if absent); the cart was touched ([`touch_own_cart`]).
pub async fn remove_cart_line(
    tx: &mut Tx,
    cart_id: &str,
    sku: &str,
) -> Result<(), platform::db::Error> {
    platform::db::query("DELETE FROM cart_items WHERE cart_id = $1 AND sku = $2")
        .bind(cart_id)
        .bind(sku)
        .execute(&mut **tx)
        .await
        .map(|_| ())
}

/// Empties a cart (it was checked out); the cart was touched ([`touch_own_cart`]).
pub async fn clear_cart(tx: &mut Tx, cart_id: &str) -> Result<(), platform::db::Error> {
    platform::db::query("DELETE FROM cart_items WHERE cart_id = $1")
        .bind(cart_id)
        .execute(&mut **tx)
        .await
        .map(|_| ())
}

/// One order line with its price snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineRecord {
    /// The sku.
    pub sku: String,
    /// Its name at order time.
    pub name: String,
    /// How many.
    pub quantity: u32,
    /// Unit price at order time.
    pub unit_price: Money,
}

/// An order as stored.
#[derive(Debug, Clone)]
pub struct OrderRecord {
    /// Id.
    pub id: String,
    /// Owner.
    pub user_id: String,
    /// Status.
    pub status: OrderStatus,
    /// Total.
    pub total: Money,
    /// Where it goes.
    pub shipping_address: ShippingAddress,
    /// Its payment.
    pub payment_id: Option<String>,
    /// Card brand.
    pub card_brand: Option<String>,
    /// Card's last four digits.
    pub card_last4: Option<String>,
    /// Why it was cancelled.
    pub cancel_reason: Option<String>,
    /// Captured so far (minor units of the total's currency).
    pub captured: i64,
    /// Refunded so far.
    pub refunded: i64,
    /// When an unsettled order times out.
    pub deadline_at: Option<i64>,
    /// Lines.
    pub items: Vec<LineRecord>,
    /// Created, epoch ms.
    pub created_at: i64,
    /// Last change, epoch ms.
    pub updated_at: i64,
}

const ORDER_COLUMNS: &str = "id, user_id, status, total_amount, currency, shipping_address, \
    payment_id, card_brand, card_last4, cancel_reason, captured_amount, refunded_amount, \
    deadline_at, created_at, updated_at";

fn order_from(row: &Row) -> Result<OrderRecord, platform::db::Error> {
    let status: String = row.try_get("status")?;
    let address: String = row.try_get("shipping_address")?;
    Ok(OrderRecord {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        status: OrderStatus::parse(&status).ok_or_else(|| {
            platform::db::Error::Decode(format!("unknown order status {status}").into())
        })?,
        total: Money {
            amount: row.try_get("total_amount")?,
            currency: row.try_get("currency")?,
        },
        shipping_address: serde_json::from_str(&address)
            .map_err(|e| platform::db::Error::Decode(Box::new(e)))?,
        payment_id: row.try_get("payment_id")?,
        card_brand: row.try_get("card_brand")?,
        card_last4: row.try_get("card_last4")?,
        cancel_reason: row.try_get("cancel_reason")?,
        captured: row.try_get("captured_amount")?,
        refunded: row.try_get("refunded_amount")?,
        deadline_at: row.try_get("deadline_at")?,
        items: Vec::new(),
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// Stores a new order with its lines and its first history entry.
pub async fn insert_order(
    tx: &mut Tx,
    order: &OrderRecord,
    reason: &str,
) -> Result<(), platform::db::Error> {
    let address = serde_json::to_string(&order.shipping_address)
        .map_err(|e| platform::db::Error::Encode(Box::new(e)))?;
    platform::db::query(&format!(
        "INSERT INTO orders ({ORDER_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
    ))
    .bind(&order.id)
    .bind(&order.user_id)
    .bind(order.status.as_str())
    .bind(order.total.amount)
    .bind(&order.total.currency)
    .bind(address)
    .bind(&order.payment_id)
    .bind(&order.card_brand)
    .bind(&order.card_last4)
    .bind(&order.cancel_reason)
    .bind(order.captured)
    .bind(order.refunded)
    .bind(order.deadline_at)
    .bind(order.created_at)
    .bind(order.updated_at)
    .execute(&mut **tx)
    .await?;
    for (line_no, line) in order.items.iter().enumerate() {
        platform::db::query(
            "INSERT INTO order_items (order_id, line_no, sku, name, quantity, unit_amount, currency) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&order.id)
        .bind(i64::try_from(line_no).unwrap_or(i64::MAX))
        .bind(&line.sku)
        .bind(&line.name)
        .bind(i64::from(line.quantity))
        .bind(line.unit_price.amount)
        .bind(&line.unit_price.currency)
        .execute(&mut **tx)
        .await?;
    }
    append_history(tx, &order.id, order.status, Some(reason), order.created_at).await
}

/// An order without its lines.
pub async fn order_head<'e>(
    ex: impl Executor<'e>,
    id: &str,
) -> Result<Option<OrderRecord>, platform::db::Error> {
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
pub async fn order_for_update(
    tx: &mut Tx,
    dialect: Dialect,
    id: &str,
) -> Result<Option<OrderRecord>, platform::db::Error> {
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
pub async fn order_lines<'e>(
    ex: impl Executor<'e>,
    order_ids: &[&str],
) -> Result<HashMap<String, Vec<LineRecord>>, platform::db::Error> {
    let mut by_order: HashMap<String, Vec<LineRecord>> = HashMap::new();
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
        let quantity: i64 = row.try_get("quantity")?;
        by_order
            .entry(row.try_get("order_id")?)
            .or_default()
            .push(LineRecord {
                sku: row.try_get("sku")?,
                name: row.try_get("name")?,
                quantity: u32::try_from(quantity).unwrap_or(u32::MAX),
                unit_price: Money {
                    amount: row.try_get("unit_amount")?,
                    currency: row.try_get("currency")?,
                },
            });
    }
    Ok(by_order)
}

/// Moves an order from `from` to `to` if it is still in `from`; `false` otherwise.
/// Settling (any status but pending and reserved) clears the saga deadline.
pub async fn set_status(
    tx: &mut Tx,
    id: &str,
    from: OrderStatus,
    to: OrderStatus,
    reason: Option<&str>,
    now: i64,
) -> Result<bool, platform::db::Error> {
    set_status_until(tx, id, from, to, reason, now, None).await
}

/// [`set_status`], giving a saga step that stays unsettled its own deadline (epoch ms)
/// in the same statement. Without one, an unsettled order keeps its deadline; an order
/// without a deadline gets none.
pub async fn set_status_until(
    tx: &mut Tx,
    id: &str,
    from: OrderStatus,
    to: OrderStatus,
    reason: Option<&str>,
    now: i64,
    deadline_at: Option<i64>,
) -> Result<bool, platform::db::Error> {
    let cancel_reason = (to == OrderStatus::Cancelled).then_some(reason).flatten();
    let keeps_deadline = matches!(to, OrderStatus::Pending | OrderStatus::Reserved);
    let changed = platform::db::query(
        "UPDATE orders SET status = $1, updated_at = $2, \
         cancel_reason = COALESCE($3, cancel_reason), \
         deadline_at = CASE WHEN $4 = 1 AND deadline_at IS NOT NULL \
           THEN COALESCE($7, deadline_at) END \
         WHERE id = $5 AND status = $6",
    )
    .bind(to.as_str())
    .bind(now)
    .bind(cancel_reason)
    .bind(i64::from(keeps_deadline))
    .bind(id)
    .bind(from.as_str())
    .bind(deadline_at)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if changed == 0 {
        return Ok(false);
    }
    append_history(tx, id, to, reason, now).await?;
    Ok(true)
}

/// Appends a history entry.
pub async fn append_history(
    tx: &mut Tx,
    order_id: &str,
    status: OrderStatus,
    reason: Option<&str>,
    at: i64,
) -> Result<(), platform::db::Error> {
    platform::db::query(
        "INSERT INTO order_history (order_id, seq, status, reason, at) \
         SELECT $1, COALESCE(MAX(seq), 0) + 1, $2, $3, $4 FROM order_history WHERE order_id = $1",
    )
    .bind(order_id)
    .bind(status.as_str())
    .bind(reason)
    .bind(at)
    .execute(&mut **tx)
    .await
    .map(|_| ())
}

/// One history entry.
#[derive(Debug, Clone, serde::Serialize)]
pub struct HistoryEntry {
    /// The status entered.
    pub status: String,
    /// When (RFC 3339).
    pub at: String,
    /// Why.
    pub reason: Option<String>,
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
            Ok(HistoryEntry {
                status: row.try_get("status")?,
                reason: row.try_get("reason")?,
                at: platform::time::rfc3339(row.try_get("at")?),
            })
        })
        .collect()
}

/// Records what payments captured for an order.
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

/// Records a refund once; `false` if this refund id was recorded before.
pub async fn record_refund(
    tx: &mut Tx,
    refund_id: &str,
    order_id: &str,
    amount: i64,
    refunded_total: i64,
    now: i64,
) -> Result<bool, platform::db::Error> {
    let inserted = platform::db::query(
        "INSERT INTO order_refunds (refund_id, order_id, amount, at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT DO NOTHING",
    )
    .bind(refund_id)
    .bind(order_id)
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
    .bind(order_id)
    .execute(&mut **tx)
    .await?;
    Ok(true)
}

/// Filters of an order list.
#[derive(Debug, Clone, Default)]
pub struct OrderFilter {
    /// Only this owner's (none: everyone's, for admins).
    pub user_id: Option<String>,
    /// Only in this status.
    pub status: Option<OrderStatus>,
}

/// Orders newest first (ids are UUIDv7, so id order is creation order), after the
/// cursor position `before`.
pub async fn list_orders<'e>(
    ex: impl Executor<'e>,
    filter: &OrderFilter,
    before: Option<&str>,
    limit: i64,
) -> Result<Vec<OrderRecord>, platform::db::Error> {
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

/// Unsettled orders whose deadline passed.
pub async fn overdue_orders<'e>(
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
