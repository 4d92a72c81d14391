//! An embedded consumer's cursor: how far into a producer's log it has applied, kept in
//! the consumer's own database (`bus_cursors`) and moved in the same transaction as the
//! effects it covers. The embedded dispatcher reads and moves it; the consumer moves it
//! with each applied event.

use super::Subscription;
use crate::db::Db;
use crate::service::kind::ServiceKind;

/// The cursor's name in the consumer's database: one per (consumer, producer).
pub(super) fn cursor_key(consumer: &str, producer: ServiceKind) -> String {
    format!("{consumer}<-{producer}")
}

/// The consumer's position in a producer's log. Cursors used to live in the producer's
/// database under the consumer's name; a consumer without its own cursor yet starts
/// from that one, so an upgrade does not redeliver the whole log.
pub(super) async fn load_cursor(
    subscription: &Subscription,
    log: &Db,
    key: &str,
) -> Result<i64, crate::db::Error> {
    load_position(&subscription.db, &subscription.consumer, log, key).await
}

/// [`load_cursor`] of consumer `consumer`, whose database is `db` (for retention, which
/// knows the consumers of a log without their subscriptions).
pub(super) async fn load_position(
    db: &Db,
    consumer: &str,
    log: &Db,
    key: &str,
) -> Result<i64, crate::db::Error> {
    let read = |db: Db, key: String| async move {
        crate::db::query_scalar::<i64>("SELECT position FROM bus_cursors WHERE consumer = $1")
            .bind(key)
            .fetch_optional(db.reader())
            .await
    };
    if let Some(position) = read(db.clone(), key.to_owned()).await? {
        return Ok(position);
    }
    Ok(read(log.clone(), consumer.to_owned()).await?.unwrap_or(0))
}

/// Moves a cursor inside `tx`.
pub(super) async fn save_cursor_in(
    tx: &mut crate::db::Tx,
    key: &str,
    position: i64,
) -> Result<(), crate::db::Error> {
    crate::db::query(
        "INSERT INTO bus_cursors (consumer, position) VALUES ($1, $2) \
         ON CONFLICT (consumer) DO UPDATE SET position = excluded.position",
    )
    .bind(key)
    .bind(position)
    .execute(&mut **tx)
    .await
    .map(|_| ())
}

/// Moves a cursor in a transaction of its own.
pub(super) async fn save_cursor(db: &Db, key: &str, position: i64) -> Result<(), crate::db::Error> {
    let mut tx = db.begin().await?;
    save_cursor_in(&mut tx, key, position).await?;
    tx.commit().await
}
