//! The `payment_origins` table (rows ⇄ [`PaymentOrigin`]): where each payment came
//! from, for the fraud rules that count payments per client address and compare the
//! billing and shipping countries, and the pruning of it and of the attempts per user
//! once the rules' windows are long past.

use platform::db::Tx;

use crate::domain::PaymentOrigin;

/// Stores where `payment_id` came from.
pub async fn insert_origin(
    tx: &mut Tx,
    payment_id: &str,
    origin: &PaymentOrigin,
    now: i64,
) -> Result<(), platform::db::Error> {
    platform::db::query(
        "INSERT INTO payment_origins (payment_id, client, billing_country, shipping_country, created_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(payment_id)
    .bind(origin.client.as_deref())
    .bind(origin.billing_country.as_deref())
    .bind(origin.shipping_country.as_deref())
    .bind(now)
    .execute(&mut **tx)
    .await
    .map(|_| ())
}

/// Where `payment_id` came from; empty for a payment made before origins were kept,
/// or whose origin was pruned.
pub async fn origin_of(
    tx: &mut Tx,
    payment_id: &str,
) -> Result<PaymentOrigin, platform::db::Error> {
    let row = platform::db::query(
        "SELECT client, billing_country, shipping_country FROM payment_origins WHERE payment_id = $1",
    )
    .bind(payment_id)
    .fetch_optional(&mut **tx)
    .await?;
    let Some(row) = row else {
        return Ok(PaymentOrigin::default());
    };
    Ok(PaymentOrigin {
        client: row.try_get("client")?,
        billing_country: row.try_get("billing_country")?,
        shipping_country: row.try_get("shipping_country")?,
    })
}

/// How many payments other than `payment_id` came from `client` at or after `since`.
pub async fn client_payments_since(
    tx: &mut Tx,
    client: &str,
    payment_id: &str,
    since: i64,
) -> Result<i64, platform::db::Error> {
    platform::db::query_scalar(
        "SELECT COUNT(*) FROM payment_origins WHERE client = $1 AND created_at >= $2 \
         AND payment_id <> $3",
    )
    .bind(client)
    .bind(since)
    .bind(payment_id)
    .fetch_one(&mut **tx)
    .await
}

/// Deletes up to `limit` origins made before `before`; how many went.
pub async fn prune_origins(
    tx: &mut Tx,
    before: i64,
    limit: i64,
) -> Result<u64, platform::db::Error> {
    ORIGINS.prune(tx, before, limit).await
}

/// Deletes up to `limit` authorization attempts made before `before`; how many went.
pub async fn prune_attempts(
    tx: &mut Tx,
    before: i64,
    limit: i64,
) -> Result<u64, platform::db::Error> {
    ATTEMPTS.prune(tx, before, limit).await
}

/// The origins, by the time of their payment.
const ORIGINS: super::Aged = super::Aged {
    table: "payment_origins",
    key: "payment_id",
    at: "created_at",
};

/// The authorization attempts, by the time of each.
const ATTEMPTS: super::Aged = super::Aged {
    table: "authorization_attempts",
    key: "id",
    at: "attempted_at",
};
