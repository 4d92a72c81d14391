//! Loyalty rows: the ledger (`loyalty_entries`, append-only), each user's balance and
//! held points (`loyalty_accounts`, changed only by conditional updates beside the
//! ledger row that explains them), reservations per order (`loyalty_reservations`)
//! and what an order paid and earned (`loyalty_orders`).

use platform::db::{Dialect, Executor, Row, Tx};

use crate::domain::loyalty::{
    EntryKind, LoyaltyBalance, LoyaltyEntry, OrderPoints, Reservation, ReservationStatus,
};

type Result<T> = std::result::Result<T, platform::db::Error>;

const ENTRY_COLUMNS: &str = "id, user_id, kind, points, order_id, at";
const RESERVATION_COLUMNS: &str =
    "order_id, user_id, points, discount_minor, currency, status, created_at";
const ORDER_COLUMNS: &str = "order_id, user_id, currency, total_minor, refunded_minor, earned, \
                             refunded_at_earn, reversed, restored";

fn entry_from(row: &Row) -> Result<LoyaltyEntry> {
    let kind: String = row.try_get("kind")?;
    Ok(LoyaltyEntry {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        kind: platform::db::decoded("kind", EntryKind::try_from(kind.as_str()))?,
        points: row.try_get("points")?,
        order_id: row.try_get("order_id")?,
        at: row.try_get("at")?,
    })
}

fn reservation_from(row: &Row) -> Result<Reservation> {
    let status: String = row.try_get("status")?;
    Ok(Reservation {
        order_id: row.try_get("order_id")?,
        user_id: row.try_get("user_id")?,
        points: row.try_get("points")?,
        discount_minor: row.try_get("discount_minor")?,
        currency: row.try_get("currency")?,
        status: platform::db::decoded("status", ReservationStatus::try_from(status.as_str()))?,
        created_at: row.try_get("created_at")?,
    })
}

fn order_from(row: &Row) -> Result<OrderPoints> {
    let user_id: Option<String> = row.try_get("user_id")?;
    let currency: Option<String> = row.try_get("currency")?;
    let total: Option<i64> = row.try_get("total_minor")?;
    let paid = match (user_id, currency, total) {
        (Some(user), Some(currency), Some(total)) => Some((user, currency, total)),
        _ => None,
    };
    Ok(OrderPoints {
        order_id: row.try_get("order_id")?,
        paid,
        refunded_minor: row.try_get("refunded_minor")?,
        earned: row.try_get("earned")?,
        refunded_at_earn: row.try_get("refunded_at_earn")?,
        reversed: row.try_get("reversed")?,
        restored: row.try_get("restored")?,
    })
}

/// Appends `entry`; false when the order already has an entry of this kind that may
/// exist once (earned, reserved, redeemed): a redelivery, which changes nothing.
pub async fn insert_loyalty_entry(tx: &mut Tx, entry: &LoyaltyEntry) -> Result<bool> {
    let done = platform::db::query(
        "INSERT INTO loyalty_entries (id, user_id, kind, points, order_id, at) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
    )
    .bind(&entry.id)
    .bind(&entry.user_id)
    .bind(entry.kind.as_str())
    .bind(entry.points)
    .bind(&entry.order_id)
    .bind(entry.at)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// `user_id`'s history, newest first, after the id `before` (the previous page's last).
pub async fn loyalty_entries<'e>(
    ex: impl Executor<'e>,
    user_id: &str,
    before: Option<&str>,
    limit: i64,
) -> Result<Vec<LoyaltyEntry>> {
    let rows = match before {
        Some(before) => {
            platform::db::query(&format!(
                "SELECT {ENTRY_COLUMNS} FROM loyalty_entries WHERE user_id = $1 AND id < $2 \
                 ORDER BY id DESC LIMIT $3"
            ))
            .bind(user_id)
            .bind(before)
            .bind(limit)
            .fetch_all(ex)
            .await?
        }
        None => {
            platform::db::query(&format!(
                "SELECT {ENTRY_COLUMNS} FROM loyalty_entries WHERE user_id = $1 \
                 ORDER BY id DESC LIMIT $2"
            ))
            .bind(user_id)
            .bind(limit)
            .fetch_all(ex)
            .await?
        }
    };
    rows.iter().map(entry_from).collect()
}

/// `user_id`'s balance and held points (zero for a user who never had any).
pub async fn loyalty_balance<'e>(ex: impl Executor<'e>, user_id: &str) -> Result<LoyaltyBalance> {
    let row =
        platform::db::query("SELECT balance, reserved FROM loyalty_accounts WHERE user_id = $1")
            .bind(user_id)
            .fetch_optional(ex)
            .await?;
    match row {
        Some(row) => Ok(LoyaltyBalance {
            balance: row.try_get("balance")?,
            reserved: row.try_get("reserved")?,
        }),
        None => Ok(LoyaltyBalance::default()),
    }
}

/// Makes sure `user_id` has an account row for the conditional updates below.
async fn ensure_account(tx: &mut Tx, user_id: &str, now: i64) -> Result<()> {
    platform::db::query(
        "INSERT INTO loyalty_accounts (user_id, balance, reserved, updated_at) \
         VALUES ($1, 0, 0, $2) ON CONFLICT DO NOTHING",
    )
    .bind(user_id)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Adds `delta` (signed) to `user_id`'s balance: earning, reversing (which may go
/// below zero), and giving spent points back.
pub async fn add_loyalty_balance(tx: &mut Tx, user_id: &str, delta: i64, now: i64) -> Result<()> {
    ensure_account(tx, user_id, now).await?;
    platform::db::query(
        "UPDATE loyalty_accounts SET balance = balance + $2, updated_at = $3 WHERE user_id = $1",
    )
    .bind(user_id)
    .bind(delta)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Holds `points` of `user_id`'s available points, only if that many are available
/// (one conditional update: concurrent holds cannot together take more).
pub async fn hold_loyalty_points(
    tx: &mut Tx,
    user_id: &str,
    points: i64,
    now: i64,
) -> Result<bool> {
    ensure_account(tx, user_id, now).await?;
    let done = platform::db::query(
        "UPDATE loyalty_accounts SET reserved = reserved + $2, updated_at = $3 \
         WHERE user_id = $1 AND balance - reserved >= $2",
    )
    .bind(user_id)
    .bind(points)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Ends a hold of `points`: spent (`spend`: the balance loses them too) or given back.
pub async fn end_loyalty_hold(
    tx: &mut Tx,
    user_id: &str,
    points: i64,
    spend: bool,
    now: i64,
) -> Result<bool> {
    let spent = if spend { points } else { 0 };
    let done = platform::db::query(
        "UPDATE loyalty_accounts SET reserved = reserved - $2, balance = balance - $3, \
         updated_at = $4 WHERE user_id = $1 AND reserved >= $2",
    )
    .bind(user_id)
    .bind(points)
    .bind(spent)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Stores `reservation`; false when its order already has one.
pub async fn insert_loyalty_reservation(tx: &mut Tx, reservation: &Reservation) -> Result<bool> {
    let done = platform::db::query(&format!(
        "INSERT INTO loyalty_reservations ({RESERVATION_COLUMNS}) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING"
    ))
    .bind(&reservation.order_id)
    .bind(&reservation.user_id)
    .bind(reservation.points)
    .bind(reservation.discount_minor)
    .bind(&reservation.currency)
    .bind(reservation.status.as_str())
    .bind(reservation.created_at)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The reservation of `order_id`, if any.
pub async fn loyalty_reservation<'e>(
    ex: impl Executor<'e>,
    order_id: &str,
) -> Result<Option<Reservation>> {
    platform::db::query(&format!(
        "SELECT {RESERVATION_COLUMNS} FROM loyalty_reservations WHERE order_id = $1"
    ))
    .bind(order_id)
    .fetch_optional(ex)
    .await?
    .as_ref()
    .map(reservation_from)
    .transpose()
}

/// Moves `order_id`'s reservation from `from` to `to`; false when it was not in `from`
/// (another event or the sweep moved it first).
pub async fn move_loyalty_reservation(
    tx: &mut Tx,
    order_id: &str,
    from: ReservationStatus,
    to: ReservationStatus,
) -> Result<bool> {
    let done = platform::db::query(
        "UPDATE loyalty_reservations SET status = $3 WHERE order_id = $1 AND status = $2",
    )
    .bind(order_id)
    .bind(from.as_str())
    .bind(to.as_str())
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Up to `limit` reservations still held that were made before `before` (epoch ms).
pub async fn stale_loyalty_reservations<'e>(
    ex: impl Executor<'e>,
    before: i64,
    limit: i64,
) -> Result<Vec<Reservation>> {
    platform::db::query(&format!(
        "SELECT {RESERVATION_COLUMNS} FROM loyalty_reservations \
         WHERE status = 'reserved' AND created_at < $1 ORDER BY created_at LIMIT $2"
    ))
    .bind(before)
    .bind(limit)
    .fetch_all(ex)
    .await?
    .iter()
    .map(reservation_from)
    .collect()
}

/// Records what `order_id` charged `user_id` (from its confirmation).
pub async fn record_order_paid(
    tx: &mut Tx,
    order_id: &str,
    user_id: &str,
    currency: &str,
    total_minor: i64,
) -> Result<()> {
    platform::db::query(
        "INSERT INTO loyalty_orders (order_id, user_id, currency, total_minor) \
         VALUES ($1, $2, $3, $4) ON CONFLICT (order_id) DO UPDATE \
         SET user_id = $2, currency = $3, total_minor = $4",
    )
    .bind(order_id)
    .bind(user_id)
    .bind(currency)
    .bind(total_minor)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Records that `refunded_minor` of `order_id` has been refunded in total (a lower
/// total from an older event changes nothing).
pub async fn record_order_refunded(tx: &mut Tx, order_id: &str, refunded_minor: i64) -> Result<()> {
    platform::db::query(
        "INSERT INTO loyalty_orders (order_id, refunded_minor) VALUES ($1, $2) \
         ON CONFLICT (order_id) DO UPDATE SET refunded_minor = CASE \
         WHEN loyalty_orders.refunded_minor < $2 THEN $2 ELSE loyalty_orders.refunded_minor END",
    )
    .bind(order_id)
    .bind(refunded_minor)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// `order_id`'s points, locked for the rest of `tx` (PostgreSQL; SQLite's writer is
/// alone anyway).
pub async fn lock_order_points(
    tx: &mut Tx,
    dialect: Dialect,
    order_id: &str,
) -> Result<Option<OrderPoints>> {
    platform::db::query(&format!(
        "SELECT {ORDER_COLUMNS} FROM loyalty_orders WHERE order_id = $1{}",
        dialect.row_lock()
    ))
    .bind(order_id)
    .fetch_optional(&mut **tx)
    .await?
    .as_ref()
    .map(order_from)
    .transpose()
}

/// Records that `order_id` earned `earned` points with `refunded_at_earn` refunded;
/// false when it already earned.
pub async fn set_order_earned(
    tx: &mut Tx,
    order_id: &str,
    earned: i64,
    refunded_at_earn: i64,
) -> Result<bool> {
    let done = platform::db::query(
        "UPDATE loyalty_orders SET earned = $2, refunded_at_earn = $3 \
         WHERE order_id = $1 AND earned IS NULL",
    )
    .bind(order_id)
    .bind(earned)
    .bind(refunded_at_earn)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Records that refunds gave back `to` of `order_id`'s spent points, if `from` were;
/// false when another change came first.
pub async fn set_order_restored(tx: &mut Tx, order_id: &str, from: i64, to: i64) -> Result<bool> {
    move_order_count(tx, "restored", order_id, from, to).await
}

/// Moves `order_id`'s reversed points from `from` to `to`; false when another change
/// came first.
pub async fn set_order_reversed(tx: &mut Tx, order_id: &str, from: i64, to: i64) -> Result<bool> {
    move_order_count(tx, "reversed", order_id, from, to).await
}

/// Moves one of `order_id`'s running counts (`column`, a name from this file) from
/// `from` to `to` in one conditional update, so a redelivered event moves nothing twice.
async fn move_order_count(
    tx: &mut Tx,
    column: &'static str,
    order_id: &str,
    from: i64,
    to: i64,
) -> Result<bool> {
    let done = platform::db::query(&format!(
        "UPDATE loyalty_orders SET {column} = $3 WHERE order_id = $1 AND {column} = $2"
    ))
    .bind(order_id)
    .bind(from)
    .bind(to)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}
