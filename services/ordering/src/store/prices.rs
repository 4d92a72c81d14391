//! Ordering's copy of catalog's prices.

use platform::db::{Executor, Row, Tx};

use crate::domain::{Money, Price, Sku};

/// Inserts or replaces the price of a sku.
pub async fn upsert(tx: &mut Tx, price: &Price, now: i64) -> Result<(), platform::db::Error> {
    platform::db::query(
        "INSERT INTO prices (sku, product_id, name, amount, currency, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (sku) DO UPDATE SET product_id = excluded.product_id, name = excluded.name, \
         amount = excluded.amount, currency = excluded.currency, updated_at = excluded.updated_at",
    )
    .bind(price.sku.as_str())
    .bind(&price.product_id)
    .bind(&price.name)
    .bind(price.price.amount)
    .bind(&price.price.currency)
    .bind(now)
    .execute(&mut **tx)
    .await
    .map(|_| ())
}

/// Forgets a sku's price (its product was deleted): it can no longer be bought.
pub async fn delete(tx: &mut Tx, sku: &Sku) -> Result<(), platform::db::Error> {
    platform::db::query("DELETE FROM prices WHERE sku = $1")
        .bind(sku.as_str())
        .execute(&mut **tx)
        .await
        .map(|_| ())
}

/// The prices of `skus` that are known.
pub async fn of<'e>(
    ex: impl Executor<'e>,
    skus: &[&str],
) -> Result<Vec<Price>, platform::db::Error> {
    if skus.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT sku, product_id, name, amount, currency FROM prices WHERE sku IN {}",
        platform::db::in_list(1, skus.len())
    );
    let mut query = platform::db::query(&sql);
    for sku in skus {
        query = query.bind(*sku);
    }
    query.fetch_all(ex).await?.iter().map(price_from).collect()
}

fn price_from(row: &Row) -> Result<Price, platform::db::Error> {
    Ok(Price {
        sku: super::sku(row.try_get("sku")?)?,
        product_id: row.try_get("product_id")?,
        name: row.try_get("name")?,
        price: Money {
            amount: row.try_get("amount")?,
            currency: row.try_get("currency")?,
        },
    })
}
