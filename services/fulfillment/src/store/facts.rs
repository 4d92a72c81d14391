//! What fulfillment has learned of each order (`order_facts`): ordering's confirmation
//! (owner, address, items) and inventory's commit (allocations), kept as they arrive,
//! and the marks that shipments opened or the order was cancelled.

use contracts::ordering::OrderLine;
use platform::db::{Dialect, Error, Executor, Row, Tx};

use super::{json, to_json};
use crate::domain::{Allocation, OrderFacts, ShippingAddress};

fn facts_from(row: &Row) -> Result<OrderFacts, Error> {
    let allocations: Option<Vec<contracts::inventory::Allocation>> = json(row, "allocations")?;
    let allocations = allocations
        .map(|all| {
            all.into_iter()
                .map(Allocation::try_from)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|err| platform::db::Error::undecodable("allocations", err))
        })
        .transpose()?;
    Ok(OrderFacts {
        order_id: row.try_get("order_id")?,
        user_id: row.try_get("user_id")?,
        ship_to: json(row, "ship_to")?,
        confirmed_at: row.try_get("confirmed_at")?,
        allocations,
        opened_at: row.try_get("opened_at")?,
        cancelled_at: row.try_get("cancelled_at")?,
    })
}

/// The facts of an order, if any event about it arrived.
pub async fn get<'e>(ex: impl Executor<'e>, order_id: &str) -> Result<Option<OrderFacts>, Error> {
    platform::db::query(
        "SELECT order_id, user_id, ship_to, confirmed_at, allocations, opened_at, cancelled_at \
         FROM order_facts WHERE order_id = $1",
    )
    .bind(order_id)
    .fetch_optional(ex)
    .await?
    .as_ref()
    .map(facts_from)
    .transpose()
}

/// The owner of an order, once its confirmation arrived.
pub async fn owner<'e>(ex: impl Executor<'e>, order_id: &str) -> Result<Option<String>, Error> {
    let owner: Option<Option<String>> =
        platform::db::query_scalar("SELECT user_id FROM order_facts WHERE order_id = $1")
            .bind(order_id)
            .fetch_optional(ex)
            .await?;
    Ok(owner.flatten())
}

/// The owner of an order (as [`owner`]), its facts locked for the rest of `tx` on
/// PostgreSQL (SQLite's single writer holds the whole database already). Every change
/// of an order's shipments or returns takes this lock first, so they run one after
/// the other and never wait on each other in a cycle.
pub async fn lock(tx: &mut Tx, dialect: Dialect, order_id: &str) -> Result<Option<String>, Error> {
    let owner: Option<Option<String>> = platform::db::query_scalar(&format!(
        "SELECT user_id FROM order_facts WHERE order_id = $1{}",
        dialect.row_lock()
    ))
    .bind(order_id)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(owner.flatten())
}

/// Records ordering's confirmation of an order. The upsert takes the row's lock on
/// PostgreSQL, so of two transactions bringing the two halves, the later one waits and
/// then sees both.
pub async fn record_confirmed(
    tx: &mut Tx,
    order_id: &str,
    user_id: &str,
    ship_to: Option<&ShippingAddress>,
    items: &[OrderLine],
    now: i64,
) -> Result<(), Error> {
    let ship_to = ship_to.map(to_json).transpose()?;
    platform::db::query(
        "INSERT INTO order_facts (order_id, user_id, ship_to, items, confirmed_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $5) \
         ON CONFLICT (order_id) DO UPDATE SET user_id = excluded.user_id, ship_to = excluded.ship_to, \
         items = excluded.items, confirmed_at = excluded.confirmed_at, updated_at = excluded.updated_at",
    )
    .bind(order_id)
    .bind(user_id)
    .bind(ship_to)
    .bind(to_json(items)?)
    .bind(now)
    .execute(&mut **tx)
    .await
    .map(|_| ())
}

/// Records inventory's commit of an order's stock (which warehouse ships what).
pub async fn record_committed(
    tx: &mut Tx,
    order_id: &str,
    allocations: &[Allocation],
    now: i64,
) -> Result<(), Error> {
    // Stored in the shape inventory announced them in.
    let stored: Vec<contracts::inventory::Allocation> = allocations
        .iter()
        .map(|a| contracts::inventory::Allocation {
            sku: a.sku.as_str().to_owned(),
            warehouse_id: a.warehouse_id.clone(),
            quantity: a.quantity,
        })
        .collect();
    platform::db::query(
        "INSERT INTO order_facts (order_id, allocations, committed_at, updated_at) VALUES ($1, $2, $3, $3) \
         ON CONFLICT (order_id) DO UPDATE SET allocations = excluded.allocations, \
         committed_at = excluded.committed_at, updated_at = excluded.updated_at",
    )
    .bind(order_id)
    .bind(to_json(&stored)?)
    .bind(now)
    .execute(&mut **tx)
    .await
    .map(|_| ())
}

/// Records an order's cancellation (kept even before anything else is known, so a late
/// commit opens nothing).
pub async fn record_cancelled(tx: &mut Tx, order_id: &str, now: i64) -> Result<(), Error> {
    platform::db::query(
        "INSERT INTO order_facts (order_id, cancelled_at, updated_at) VALUES ($1, $2, $2) \
         ON CONFLICT (order_id) DO UPDATE SET cancelled_at = COALESCE(order_facts.cancelled_at, excluded.cancelled_at), \
         updated_at = excluded.updated_at",
    )
    .bind(order_id)
    .bind(now)
    .execute(&mut **tx)
    .await
    .map(|_| ())
}

/// Marks an order's shipments as opened.
pub async fn mark_opened(tx: &mut Tx, order_id: &str, now: i64) -> Result<(), Error> {
    platform::db::query(
        "UPDATE order_facts SET opened_at = $1, updated_at = $1 WHERE order_id = $2",
    )
    .bind(now)
    .bind(order_id)
    .execute(&mut **tx)
    .await
    .map(|_| ())
}
