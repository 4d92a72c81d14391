//! The returns fulfillment opened for orders, as far as completion needs them: open
//! from `fulfillment.return.requested` until `fulfillment.return.received` (or
//! `.rejected`: nothing comes back).

use platform::db::{Executor, Tx};

/// Records that return `return_id` of `order_id` was opened at `at`; a redelivery, or
/// a request that arrives after its receipt, changes nothing.
pub async fn open(
    tx: &mut Tx,
    return_id: &str,
    order_id: &str,
    at: i64,
) -> Result<(), platform::db::Error> {
    platform::db::query(
        "INSERT INTO order_returns (return_id, order_id, opened_at) VALUES ($1, $2, $3) \
         ON CONFLICT (return_id) DO NOTHING",
    )
    .bind(return_id)
    .bind(order_id)
    .bind(at)
    .execute(&mut **tx)
    .await
    .map(|_| ())
}

/// Records that return `return_id` of `order_id` came back at `at` (closed once: a
/// redelivery keeps the first time).
pub async fn close(
    tx: &mut Tx,
    return_id: &str,
    order_id: &str,
    at: i64,
) -> Result<(), platform::db::Error> {
    platform::db::query(
        "INSERT INTO order_returns (return_id, order_id, opened_at, closed_at) \
         VALUES ($1, $2, $3, $3) \
         ON CONFLICT (return_id) DO UPDATE \
         SET closed_at = COALESCE(order_returns.closed_at, excluded.closed_at)",
    )
    .bind(return_id)
    .bind(order_id)
    .bind(at)
    .execute(&mut **tx)
    .await
    .map(|_| ())
}

/// Whether `order_id` has a return that did not come back yet.
pub async fn any_open<'e>(
    ex: impl Executor<'e>,
    order_id: &str,
) -> Result<bool, platform::db::Error> {
    let found: Option<i64> = platform::db::query_scalar(
        "SELECT 1 FROM order_returns WHERE order_id = $1 AND closed_at IS NULL LIMIT 1",
    )
    .bind(order_id)
    .fetch_optional(ex)
    .await?;
    Ok(found.is_some())
}
