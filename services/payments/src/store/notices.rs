//! The `provider_notices` table: the provider's webhook notices already applied, so a
//! redelivery changes nothing; and finding the payment a notice names by its charge.

use platform::db::{Executor, Tx};

/// Records notice `id` (of `kind`, about `payment_id`); `false` when it was recorded
/// already (a redelivery).
pub async fn record_notice(
    tx: &mut Tx,
    id: &str,
    kind: &str,
    payment_id: Option<&str>,
    now: i64,
) -> Result<bool, platform::db::Error> {
    let inserted = platform::db::query(
        "INSERT INTO provider_notices (id, kind, payment_id, received_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(id)
    .bind(kind)
    .bind(payment_id)
    .bind(now)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(inserted == 1)
}

/// The notices, by the time each was received.
const NOTICES: super::Aged = super::Aged {
    table: "provider_notices",
    key: "id",
    at: "received_at",
};

/// Deletes up to `limit` notices received before `before`; how many went.
pub async fn prune_notices(
    tx: &mut Tx,
    before: i64,
    limit: i64,
) -> Result<u64, platform::db::Error> {
    NOTICES.prune(tx, before, limit).await
}

/// The payment whose capture made `charge`.
pub async fn payment_of_charge<'e>(
    ex: impl Executor<'e>,
    charge: &str,
) -> Result<Option<String>, platform::db::Error> {
    platform::db::query_scalar(
        "SELECT payment_id FROM transactions WHERE provider_ref = $1 AND kind = 'capture' LIMIT 1",
    )
    .bind(charge)
    .fetch_optional(ex)
    .await
}
