//! The `payment_methods` table: saved cards (rows ⇄ [`PaymentMethod`]), and
//! `provider_customers`: who each user who saved a card is at the provider.

use platform::db::{Executor, Row, Tx};

use super::card_from;
use crate::domain::PaymentMethod;

const METHOD_COLUMNS: &str =
    "id, user_id, token, brand, last4, exp_month, exp_year, provider_customer, created_at";

fn method_from(row: &Row) -> Result<PaymentMethod, platform::db::Error> {
    Ok(PaymentMethod {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        card: card_from(row)?,
        created_at: row.try_get("created_at")?,
    })
}

/// The provider's customer `user_id` is, if they have saved a card before.
pub async fn provider_customer<'e>(
    ex: impl Executor<'e>,
    user_id: &str,
) -> Result<Option<String>, platform::db::Error> {
    platform::db::query("SELECT customer_ref FROM provider_customers WHERE user_id = $1")
        .bind(user_id)
        .fetch_optional(ex)
        .await?
        .map(|row| row.try_get("customer_ref"))
        .transpose()
}

/// Keeps `customer_ref` as `user_id`'s customer at the provider unless they have one
/// already (two first saves at once); the one kept either way.
pub async fn insert_provider_customer(
    tx: &mut Tx,
    user_id: &str,
    customer_ref: &str,
    now: i64,
) -> Result<String, platform::db::Error> {
    platform::db::query(
        "INSERT INTO provider_customers (user_id, customer_ref, created_at) VALUES ($1, $2, $3) \
         ON CONFLICT (user_id) DO NOTHING",
    )
    .bind(user_id)
    .bind(customer_ref)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    let kept = provider_customer(&mut **tx, user_id).await?;
    kept.ok_or_else(|| platform::db::Error::undecodable("customer_ref", "missing after insert"))
}

/// Inserts a saved card.
pub async fn insert_payment_method(
    tx: &mut Tx,
    method: &PaymentMethod,
) -> Result<(), platform::db::Error> {
    platform::db::query(&format!(
        "INSERT INTO payment_methods ({METHOD_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
    ))
    .bind(&method.id)
    .bind(&method.user_id)
    .bind(&method.card.token)
    .bind(method.card.brand.as_str())
    .bind(&method.card.last4)
    .bind(i64::from(method.card.expiry.month))
    .bind(i64::from(method.card.expiry.year))
    .bind(method.card.customer.as_deref())
    .bind(method.created_at)
    .execute(&mut **tx)
    .await
    .map(|_| ())
}

/// A saved card of `user_id`.
pub async fn payment_method<'e>(
    ex: impl Executor<'e>,
    user_id: &str,
    id: &str,
) -> Result<Option<PaymentMethod>, platform::db::Error> {
    platform::db::query(&format!(
        "SELECT {METHOD_COLUMNS} FROM payment_methods WHERE id = $1 AND user_id = $2"
    ))
    .bind(id)
    .bind(user_id)
    .fetch_optional(ex)
    .await?
    .as_ref()
    .map(method_from)
    .transpose()
}

/// `user_id`'s saved cards by id after `after`.
pub async fn payment_methods<'e>(
    ex: impl Executor<'e>,
    user_id: &str,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<PaymentMethod>, platform::db::Error> {
    let rows = platform::db::query(&format!(
        "SELECT {METHOD_COLUMNS} FROM payment_methods WHERE user_id = $1 AND id > $2 ORDER BY id LIMIT $3"
    ))
    .bind(user_id)
    .bind(after.unwrap_or(""))
    .bind(limit)
    .fetch_all(ex)
    .await?;
    rows.iter().map(method_from).collect()
}

/// Deletes a saved card of `user_id`: the card deleted, `None` if there was none.
pub async fn delete_payment_method(
    tx: &mut Tx,
    user_id: &str,
    id: &str,
) -> Result<Option<PaymentMethod>, platform::db::Error> {
    platform::db::query(&format!(
        "DELETE FROM payment_methods WHERE id = $1 AND user_id = $2 RETURNING {METHOD_COLUMNS}"
    ))
    .bind(id)
    .bind(user_id)
    .fetch_optional(&mut **tx)
    .await?
    .as_ref()
    .map(method_from)
    .transpose()
}
