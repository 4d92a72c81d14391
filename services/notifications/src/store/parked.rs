//! Events set aside until the user or order they name is known (`waits_for` is
//! `user:<id>` or `order:<id>`), stored as the envelope's JSON.

use platform::db::{Executor, Tx};

/// Sets an event aside until `waits_for` is known.
pub async fn park(
    tx: &mut Tx,
    event_id: &str,
    waits_for: &str,
    event_type: &str,
    body: &str,
    now: i64,
) -> Result<(), platform::db::Error> {
    platform::db::query(
        "INSERT INTO parked_events (event_id, waits_for, event_type, body, parked_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
    )
    .bind(event_id)
    .bind(waits_for)
    .bind(event_type)
    .bind(body)
    .bind(now)
    .execute(&mut **tx)
    .await
    .map(|_| ())
}

/// Takes (removes and returns) the events waiting for `waits_for`, oldest first.
pub async fn take_parked(tx: &mut Tx, waits_for: &str) -> Result<Vec<String>, platform::db::Error> {
    let bodies: Vec<String> = platform::db::query_scalar(
        "SELECT body FROM parked_events WHERE waits_for = $1 ORDER BY parked_at, event_id",
    )
    .bind(waits_for)
    .fetch_all(&mut **tx)
    .await?;
    if !bodies.is_empty() {
        drop_waiting_for(tx, waits_for).await?;
    }
    Ok(bodies)
}

/// Drops the events waiting for `waits_for` (a deleted user's).
pub(super) async fn drop_waiting_for(
    tx: &mut Tx,
    waits_for: &str,
) -> Result<(), platform::db::Error> {
    platform::db::query("DELETE FROM parked_events WHERE waits_for = $1")
        .bind(waits_for)
        .execute(&mut **tx)
        .await
        .map(|_| ())
}

/// Whether any event is parked.
pub async fn any_parked<'e>(ex: impl Executor<'e>) -> Result<bool, platform::db::Error> {
    Ok(
        platform::db::query_scalar::<i64>("SELECT 1 FROM parked_events LIMIT 1")
            .fetch_optional(ex)
            .await?
            .is_some(),
    )
}

/// What parked events wait for that is known by now. Normally the arrival itself
/// releases them; this catches an event parked by a transaction that ran beside the
/// arrival's, which (under PostgreSQL's read committed) could not see the parked row.
pub async fn parked_now_known(tx: &mut Tx) -> Result<Vec<String>, platform::db::Error> {
    platform::db::query_scalar(
        "SELECT DISTINCT p.waits_for FROM parked_events p \
         WHERE EXISTS (SELECT 1 FROM users u WHERE 'user:' || u.user_id = p.waits_for) \
            OR EXISTS (SELECT 1 FROM orders o WHERE 'order:' || o.order_id = p.waits_for)",
    )
    .fetch_all(&mut **tx)
    .await
}

/// Drops events parked before `before`; returns how many.
pub async fn expire_parked(tx: &mut Tx, before: i64) -> Result<u64, platform::db::Error> {
    Ok(
        platform::db::query("DELETE FROM parked_events WHERE parked_at < $1")
            .bind(before)
            .execute(&mut **tx)
            .await?
            .rows_affected(),
    )
}
