//! Notifications' own copy of who it writes to: users from identity's events (a
//! deleted one keeps a tombstone) and each order's owner from ordering's.

use contracts::Money;
use platform::db::{Executor, Row, Tx};

use super::{messages, parked, preferences};
use crate::domain::{OrderOwner, Recipient};

fn user_from(row: &Row) -> Result<Recipient, platform::db::Error> {
    let roles: String = row.try_get("roles")?;
    Ok(Recipient {
        id: row.try_get("user_id")?,
        email: row.try_get("email")?,
        name: row.try_get("name")?,
        roles: roles.split_whitespace().map(str::to_owned).collect(),
        deleted: row.try_get::<Option<i64>, _>("deleted_at")?.is_some(),
    })
}

/// Inserts or refreshes a user (a deleted user stays deleted).
pub async fn upsert_user(
    tx: &mut Tx,
    user: &Recipient,
    now: i64,
) -> Result<(), platform::db::Error> {
    platform::db::query(
        "INSERT INTO users (user_id, email, name, roles, updated_at) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (user_id) DO UPDATE SET email = excluded.email, name = excluded.name, \
         roles = excluded.roles, updated_at = excluded.updated_at \
         WHERE users.deleted_at IS NULL",
    )
    .bind(&user.id)
    .bind(&user.email)
    .bind(&user.name)
    .bind(user.roles.join(" "))
    .bind(now)
    .execute(&mut **tx)
    .await
    .map(|_| ())
}

/// A user by id (deleted ones too, as tombstones).
pub async fn user<'e>(
    ex: impl Executor<'e>,
    user_id: &str,
) -> Result<Option<Recipient>, platform::db::Error> {
    platform::db::query(
        "SELECT user_id, email, name, roles, deleted_at FROM users WHERE user_id = $1",
    )
    .bind(user_id)
    .fetch_optional(ex)
    .await?
    .as_ref()
    .map(user_from)
    .transpose()
}

/// Every live admin.
pub async fn admins<'e>(ex: impl Executor<'e>) -> Result<Vec<Recipient>, platform::db::Error> {
    // The LIKE narrows the scan; the exact role check is done on the parsed list.
    let rows = platform::db::query(
        "SELECT user_id, email, name, roles, deleted_at FROM users \
         WHERE deleted_at IS NULL AND roles LIKE '%admin%' ORDER BY user_id",
    )
    .fetch_all(ex)
    .await?;
    let users: Result<Vec<Recipient>, _> = rows.iter().map(user_from).collect();
    Ok(users?.into_iter().filter(Recipient::is_admin).collect())
}

/// Forgets a deleted user: a tombstone instead of their details, no preferences, no
/// parked events, queued messages cancelled and every message's address and text
/// redacted.
pub async fn forget_user(tx: &mut Tx, user_id: &str, now: i64) -> Result<(), platform::db::Error> {
    platform::db::query(
        "INSERT INTO users (user_id, email, name, roles, updated_at, deleted_at) \
         VALUES ($1, '', '', '', $2, $2) \
         ON CONFLICT (user_id) DO UPDATE SET email = '', name = '', roles = '', \
         updated_at = excluded.updated_at, deleted_at = excluded.deleted_at",
    )
    .bind(user_id)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    preferences::delete_all(tx, user_id).await?;
    parked::drop_waiting_for(tx, &format!("user:{user_id}")).await?;
    messages::cancel_and_redact(tx, user_id, now).await
}

/// Remembers an order's owner (once).
pub async fn insert_order(
    tx: &mut Tx,
    order: &OrderOwner,
    now: i64,
) -> Result<(), platform::db::Error> {
    platform::db::query(
        "INSERT INTO orders (order_id, user_id, total_amount, currency, created_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
    )
    .bind(&order.order_id)
    .bind(&order.user_id)
    .bind(order.total.as_ref().map(|m| m.amount))
    .bind(order.total.as_ref().map(|m| m.currency.clone()))
    .bind(now)
    .execute(&mut **tx)
    .await
    .map(|_| ())
}

/// An order by id.
pub async fn order<'e>(
    ex: impl Executor<'e>,
    order_id: &str,
) -> Result<Option<OrderOwner>, platform::db::Error> {
    let Some(row) = platform::db::query(
        "SELECT order_id, user_id, total_amount, currency FROM orders WHERE order_id = $1",
    )
    .bind(order_id)
    .fetch_optional(ex)
    .await?
    else {
        return Ok(None);
    };
    let amount: Option<i64> = row.try_get("total_amount")?;
    let currency: Option<String> = row.try_get("currency")?;
    let total = match (amount, currency) {
        (Some(amount), Some(currency)) => Some(Money { amount, currency }),
        (None, None) => None,
        // Both are written from one `Money`: half a total is a corrupt row.
        _ => {
            return Err(platform::db::Error::Decode(
                format!("order {order_id}: a total without its amount or currency").into(),
            ));
        }
    };
    Ok(Some(OrderOwner {
        order_id: row.try_get("order_id")?,
        user_id: row.try_get("user_id")?,
        total,
    }))
}
