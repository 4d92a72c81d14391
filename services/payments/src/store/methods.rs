//! The `payment_methods` table: saved cards (rows ⇄ [`PaymentMethod`]).

use platform::db::{Executor, Row, Tx};

use super::expiry_from;
use crate::domain::{CardBrand, PaymentMethod, StoredCard};

const METHOD_COLUMNS: &str = "id, user_id, token, brand, last4, exp_month, exp_year, created_at";

fn method_from(row: &Row) -> Result<PaymentMethod, platform::db::Error> {
    let brand: String = row.try_get("brand")?;
    Ok(PaymentMethod {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        card: StoredCard {
            token: row.try_get("token")?,
            brand: platform::db::named("brand", &brand, CardBrand::parse)?,
            last4: row.try_get("last4")?,
            expiry: expiry_from(row)?,
        },
        created_at: row.try_get("created_at")?,
    })
}

/// Inserts a saved card.
pub async fn insert_payment_method(
    tx: &mut Tx,
    method: &PaymentMethod,
) -> Result<(), platform::db::Error> {
    platform::db::query(&format!(
        "INSERT INTO payment_methods ({METHOD_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
    ))
    .bind(&method.id)
    .bind(&method.user_id)
    .bind(&method.card.token)
    .bind(method.card.brand.as_str())
    .bind(&method.card.last4)
    .bind(i64::from(method.card.expiry.month))
    .bind(i64::from(method.card.expiry.year))
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

/// Deletes a saved card of `user_id`; `false` if there was none.
pub async fn delete_payment_method(
    tx: &mut Tx,
    user_id: &str,
    id: &str,
) -> Result<bool, platform::db::Error> {
    let deleted = platform::db::query("DELETE FROM payment_methods WHERE id = $1 AND user_id = $2")
        .bind(id)
        .bind(user_id)
        .execute(&mut **tx)
        .await?
        .rows_affected();
    Ok(deleted == 1)
}
