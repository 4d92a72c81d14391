//! The `transactions` table: the append-only ledger (rows ⇄ [`LedgerEntry`]) and the
//! totals rebuilt from it.

use platform::db::{Executor, Row, Tx};

use crate::domain::{LedgerEntry, LedgerKind, Money};

fn entry_from(row: &Row) -> Result<LedgerEntry, platform::db::Error> {
    let kind: String = row.try_get("kind")?;
    Ok(LedgerEntry {
        id: row.try_get("id")?,
        payment_id: row.try_get("payment_id")?,
        order_id: row.try_get("order_id")?,
        kind: platform::db::named("kind", &kind, LedgerKind::parse)?,
        amount: Money {
            amount: row.try_get("amount")?,
            currency: row.try_get("currency")?,
        },
        provider_ref: row.try_get("provider_ref")?,
        actor: row.try_get("actor")?,
        created_at: row.try_get("created_at")?,
    })
}

/// Appends a ledger entry.
pub async fn insert_ledger_entry(
    tx: &mut Tx,
    entry: &LedgerEntry,
) -> Result<(), platform::db::Error> {
    platform::db::query(
        "INSERT INTO transactions (id, payment_id, order_id, kind, amount, currency, provider_ref, actor, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&entry.id)
    .bind(&entry.payment_id)
    .bind(&entry.order_id)
    .bind(entry.kind.as_str())
    .bind(entry.amount.amount)
    .bind(&entry.amount.currency)
    .bind(&entry.provider_ref)
    .bind(&entry.actor)
    .bind(entry.created_at)
    .execute(&mut **tx)
    .await
    .map(|_| ())
}

/// Ledger entries by id after `after`, of one payment or (with `""`) of all.
pub async fn ledger<'e>(
    ex: impl Executor<'e>,
    payment_id: &str,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<LedgerEntry>, platform::db::Error> {
    let rows = platform::db::query(
        "SELECT id, payment_id, order_id, kind, amount, currency, provider_ref, actor, created_at \
         FROM transactions WHERE id > $1 AND ($2 = '' OR payment_id = $2) ORDER BY id LIMIT $3",
    )
    .bind(after.unwrap_or(""))
    .bind(payment_id)
    .bind(limit)
    .fetch_all(ex)
    .await?;
    rows.iter().map(entry_from).collect()
}

// SUM over BIGINT is NUMERIC on PostgreSQL; the casts keep one portable integer type.

/// A payment's (captured, refunded) totals rebuilt from its ledger.
pub async fn ledger_sums<'e>(
    ex: impl Executor<'e>,
    payment_id: &str,
) -> Result<(i64, i64), platform::db::Error> {
    let row = platform::db::query(
        "SELECT CAST(COALESCE(SUM(CASE WHEN kind = $2 THEN amount ELSE 0 END), 0) AS BIGINT) AS captured, \
         CAST(COALESCE(SUM(CASE WHEN kind = $3 THEN amount ELSE 0 END), 0) AS BIGINT) AS refunded \
         FROM transactions WHERE payment_id = $1",
    )
    .bind(payment_id)
    .bind(LedgerKind::Capture.as_str())
    .bind(LedgerKind::Refund.as_str())
    .fetch_one(ex)
    .await?;
    Ok((row.try_get("captured")?, row.try_get("refunded")?))
}

/// Ids of payments whose captured or refunded totals differ from their ledger.
pub async fn disagreeing_payments<'e>(
    ex: impl Executor<'e>,
) -> Result<Vec<String>, platform::db::Error> {
    platform::db::query_scalar(
        "SELECT p.id FROM payments p LEFT JOIN ( \
             SELECT payment_id, \
                 CAST(SUM(CASE WHEN kind = $1 THEN amount ELSE 0 END) AS BIGINT) AS captured, \
                 CAST(SUM(CASE WHEN kind = $2 THEN amount ELSE 0 END) AS BIGINT) AS refunded \
             FROM transactions GROUP BY payment_id \
         ) t ON t.payment_id = p.id \
         WHERE p.captured <> COALESCE(t.captured, 0) OR p.refunded <> COALESCE(t.refunded, 0) \
         ORDER BY p.id",
    )
    .bind(LedgerKind::Capture.as_str())
    .bind(LedgerKind::Refund.as_str())
    .fetch_all(ex)
    .await
}
