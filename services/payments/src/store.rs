//! Payments' SQL: payments, the transaction ledger, saved cards and authorization
//! attempts.
//!
//! Every status change is a conditional update on the status it leaves (`... WHERE
//! status = 'authorized'`), so two deliveries of one event cannot both act; refunds are
//! a conditional update on the totals (`refunded + $1 <= captured`), so no interleaving
//! of refunds can exceed what was captured. Each money movement writes a ledger row in
//! the same transaction as the totals it changes.

use platform::db::{Dialect, Executor, Row, Tx};

use crate::domain::{LedgerKind, PaymentStatus};

/// A stored payment.
#[derive(Debug, Clone)]
pub struct PaymentRecord {
    /// Id.
    pub id: String,
    /// The order it pays (one payment per order).
    pub order_id: String,
    /// The owner.
    pub user_id: String,
    /// A [`PaymentStatus`] name.
    pub status: String,
    /// Amount, minor units.
    pub amount: i64,
    /// ISO 4217.
    pub currency: String,
    /// Captured so far, minor units.
    pub captured: i64,
    /// Refunded so far, minor units.
    pub refunded: i64,
    /// The provider's card token.
    pub token: String,
    /// Card brand.
    pub brand: String,
    /// Last four digits.
    pub last4: String,
    /// Expiry month.
    pub exp_month: i64,
    /// Expiry year.
    pub exp_year: i64,
    /// The saved card it was paid with, if any.
    pub payment_method_id: Option<String>,
    /// The provider's authorization reference, once authorized.
    pub provider_ref: Option<String>,
    /// Why it failed, as a stable code.
    pub failure_reason: Option<String>,
    /// Why it failed, for people.
    pub failure_detail: Option<String>,
    /// Creation, epoch ms.
    pub created_at: i64,
    /// Last change, epoch ms.
    pub updated_at: i64,
}

impl PaymentRecord {
    /// The status (an unreadable one reads as failed, which nothing acts on).
    pub fn status(&self) -> PaymentStatus {
        PaymentStatus::parse(&self.status).unwrap_or(PaymentStatus::Failed)
    }
}

const PAYMENT_COLUMNS: &str = "id, order_id, user_id, status, amount, currency, captured, refunded, token, brand, last4, \
     exp_month, exp_year, payment_method_id, provider_ref, failure_reason, failure_detail, created_at, updated_at";

fn payment_from(row: &Row) -> Result<PaymentRecord, platform::db::Error> {
    Ok(PaymentRecord {
        id: row.try_get("id")?,
        order_id: row.try_get("order_id")?,
        user_id: row.try_get("user_id")?,
        status: row.try_get("status")?,
        amount: row.try_get("amount")?,
        currency: row.try_get("currency")?,
        captured: row.try_get("captured")?,
        refunded: row.try_get("refunded")?,
        token: row.try_get("token")?,
        brand: row.try_get("brand")?,
        last4: row.try_get("last4")?,
        exp_month: row.try_get("exp_month")?,
        exp_year: row.try_get("exp_year")?,
        payment_method_id: row.try_get("payment_method_id")?,
        provider_ref: row.try_get("provider_ref")?,
        failure_reason: row.try_get("failure_reason")?,
        failure_detail: row.try_get("failure_detail")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// Inserts a payment; a second payment for an order is a unique violation.
pub async fn insert_payment(
    tx: &mut Tx,
    payment: &PaymentRecord,
) -> Result<(), platform::db::Error> {
    platform::db::query(
        "INSERT INTO payments (id, order_id, user_id, status, amount, currency, captured, refunded, token, brand, last4, \
         exp_month, exp_year, payment_method_id, provider_ref, failure_reason, failure_detail, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)",
    )
    .bind(&payment.id)
    .bind(&payment.order_id)
    .bind(&payment.user_id)
    .bind(&payment.status)
    .bind(payment.amount)
    .bind(&payment.currency)
    .bind(payment.captured)
    .bind(payment.refunded)
    .bind(&payment.token)
    .bind(&payment.brand)
    .bind(&payment.last4)
    .bind(payment.exp_month)
    .bind(payment.exp_year)
    .bind(payment.payment_method_id.as_deref())
    .bind(payment.provider_ref.as_deref())
    .bind(payment.failure_reason.as_deref())
    .bind(payment.failure_detail.as_deref())
    .bind(payment.created_at)
    .bind(payment.updated_at)
    .execute(&mut **tx)
    .await
    .map(|_| ())
}

/// A payment by id.
pub async fn payment<'e>(
    ex: impl Executor<'e>,
    id: &str,
) -> Result<Option<PaymentRecord>, platform::db::Error> {
    platform::db::query(&format!(
        "SELECT {PAYMENT_COLUMNS} FROM payments WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(ex)
    .await?
    .as_ref()
    .map(payment_from)
    .transpose()
}

/// The payment of an order.
pub async fn payment_by_order<'e>(
    ex: impl Executor<'e>,
    order_id: &str,
) -> Result<Option<PaymentRecord>, platform::db::Error> {
    platform::db::query(&format!(
        "SELECT {PAYMENT_COLUMNS} FROM payments WHERE order_id = $1"
    ))
    .bind(order_id)
    .fetch_optional(ex)
    .await?
    .as_ref()
    .map(payment_from)
    .transpose()
}

/// Which column a locked lookup matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key<'a> {
    /// The payment id.
    Id(&'a str),
    /// The order id.
    Order(&'a str),
}

/// A payment, locked for the rest of `tx` on PostgreSQL (SQLite's single writer holds
/// the whole database already), so the provider is called once per change.
pub async fn payment_for_update(
    tx: &mut Tx,
    dialect: Dialect,
    key: Key<'_>,
) -> Result<Option<PaymentRecord>, platform::db::Error> {
    let (column, value) = match key {
        Key::Id(id) => ("id", id),
        Key::Order(order) => ("order_id", order),
    };
    platform::db::query(&format!(
        "SELECT {PAYMENT_COLUMNS} FROM payments WHERE {column} = $1{}",
        dialect.row_lock()
    ))
    .bind(value)
    .fetch_optional(&mut **tx)
    .await?
    .as_ref()
    .map(payment_from)
    .transpose()
}

/// Moves a payment from `from` to `to`; `false` if it was not in `from`.
pub async fn transition(
    tx: &mut Tx,
    id: &str,
    from: PaymentStatus,
    to: PaymentStatus,
    now: i64,
) -> Result<bool, platform::db::Error> {
    let updated = platform::db::query(
        "UPDATE payments SET status = $1, updated_at = $2 WHERE id = $3 AND status = $4",
    )
    .bind(to.as_str())
    .bind(now)
    .bind(id)
    .bind(from.as_str())
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(updated == 1)
}

/// Marks a pending payment authorized under `provider_ref`; `false` if not pending.
pub async fn set_authorized(
    tx: &mut Tx,
    id: &str,
    provider_ref: &str,
    now: i64,
) -> Result<bool, platform::db::Error> {
    let updated = platform::db::query(
        "UPDATE payments SET status = 'authorized', provider_ref = $1, updated_at = $2 \
         WHERE id = $3 AND status = 'pending'",
    )
    .bind(provider_ref)
    .bind(now)
    .bind(id)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(updated == 1)
}

/// Marks a pending payment failed; `false` if not pending.
pub async fn set_failed(
    tx: &mut Tx,
    id: &str,
    reason: &str,
    detail: &str,
    now: i64,
) -> Result<bool, platform::db::Error> {
    let updated = platform::db::query(
        "UPDATE payments SET status = 'failed', failure_reason = $1, failure_detail = $2, updated_at = $3 \
         WHERE id = $4 AND status = 'pending'",
    )
    .bind(reason)
    .bind(detail)
    .bind(now)
    .bind(id)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(updated == 1)
}

/// Captures `amount` of an authorized payment (at most its amount); `false` if it was
/// not authorized or the amount is too large.
pub async fn set_captured(
    tx: &mut Tx,
    id: &str,
    amount: i64,
    now: i64,
) -> Result<bool, platform::db::Error> {
    let updated = platform::db::query(
        "UPDATE payments SET status = 'captured', captured = $1, updated_at = $2 \
         WHERE id = $3 AND status = 'authorized' AND $1 <= amount",
    )
    .bind(amount)
    .bind(now)
    .bind(id)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(updated == 1)
}

/// Adds `amount` to a captured payment's refunded total if the total stays within what
/// was captured, and moves it to `partially_refunded` or `refunded`; `false` when that
/// would refund more than was captured (or nothing was captured).
pub async fn add_refund(
    tx: &mut Tx,
    id: &str,
    amount: i64,
    now: i64,
) -> Result<bool, platform::db::Error> {
    // Every SET expression reads the row as it was before this update.
    let updated = platform::db::query(
        "UPDATE payments SET refunded = refunded + $1, \
         status = CASE WHEN refunded + $1 >= captured THEN 'refunded' ELSE 'partially_refunded' END, \
         updated_at = $2 \
         WHERE id = $3 AND status IN ('captured', 'partially_refunded') AND $1 > 0 AND refunded + $1 <= captured",
    )
    .bind(amount)
    .bind(now)
    .bind(id)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(updated == 1)
}

/// One ledger row.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LedgerRow {
    /// Id (for refunds, the refund id).
    pub id: String,
    /// The payment.
    pub payment_id: String,
    /// Its order.
    pub order_id: String,
    /// `authorize`, `capture`, `void` or `refund`.
    pub kind: String,
    /// Amount, minor units.
    pub amount: i64,
    /// ISO 4217.
    pub currency: String,
    /// The provider's reference for this movement.
    pub provider_ref: String,
    /// Who caused it (user or client id, or the service whose event it was).
    pub actor: String,
    /// When, epoch ms.
    pub created_at: i64,
}

impl LedgerRow {
    /// A new row of `kind` for `payment`.
    pub fn new(
        payment: &PaymentRecord,
        kind: LedgerKind,
        amount: i64,
        provider_ref: &str,
        actor: &str,
        now: i64,
    ) -> Self {
        Self {
            id: platform::ids::new_id(),
            payment_id: payment.id.clone(),
            order_id: payment.order_id.clone(),
            kind: kind.as_str().to_owned(),
            amount,
            currency: payment.currency.clone(),
            provider_ref: provider_ref.to_owned(),
            actor: actor.to_owned(),
            created_at: now,
        }
    }
}

fn ledger_from(row: &Row) -> Result<LedgerRow, platform::db::Error> {
    Ok(LedgerRow {
        id: row.try_get("id")?,
        payment_id: row.try_get("payment_id")?,
        order_id: row.try_get("order_id")?,
        kind: row.try_get("kind")?,
        amount: row.try_get("amount")?,
        currency: row.try_get("currency")?,
        provider_ref: row.try_get("provider_ref")?,
        actor: row.try_get("actor")?,
        created_at: row.try_get("created_at")?,
    })
}

/// Appends a ledger row.
pub async fn insert_ledger_row(tx: &mut Tx, row: &LedgerRow) -> Result<(), platform::db::Error> {
    platform::db::query(
        "INSERT INTO transactions (id, payment_id, order_id, kind, amount, currency, provider_ref, actor, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&row.id)
    .bind(&row.payment_id)
    .bind(&row.order_id)
    .bind(&row.kind)
    .bind(row.amount)
    .bind(&row.currency)
    .bind(&row.provider_ref)
    .bind(&row.actor)
    .bind(row.created_at)
    .execute(&mut **tx)
    .await
    .map(|_| ())
}

/// Ledger rows by id after `after`, of one payment or (with `""`) of all.
pub async fn ledger<'e>(
    ex: impl Executor<'e>,
    payment_id: &str,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<LedgerRow>, platform::db::Error> {
    let rows = platform::db::query(
        "SELECT id, payment_id, order_id, kind, amount, currency, provider_ref, actor, created_at \
         FROM transactions WHERE id > $1 AND ($2 = '' OR payment_id = $2) ORDER BY id LIMIT $3",
    )
    .bind(after.unwrap_or(""))
    .bind(payment_id)
    .bind(limit)
    .fetch_all(ex)
    .await?;
    rows.iter().map(ledger_from).collect()
}

// SUM over BIGINT is NUMERIC on PostgreSQL; the casts keep one portable integer type.

/// A payment's (captured, refunded) totals rebuilt from its ledger.
pub async fn ledger_sums<'e>(
    ex: impl Executor<'e>,
    payment_id: &str,
) -> Result<(i64, i64), platform::db::Error> {
    let row = platform::db::query(
        "SELECT CAST(COALESCE(SUM(CASE WHEN kind = 'capture' THEN amount ELSE 0 END), 0) AS BIGINT) AS captured, \
         CAST(COALESCE(SUM(CASE WHEN kind = 'refund' THEN amount ELSE 0 END), 0) AS BIGINT) AS refunded \
         FROM transactions WHERE payment_id = $1",
    )
    .bind(payment_id)
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
                 CAST(SUM(CASE WHEN kind = 'capture' THEN amount ELSE 0 END) AS BIGINT) AS captured, \
                 CAST(SUM(CASE WHEN kind = 'refund' THEN amount ELSE 0 END) AS BIGINT) AS refunded \
             FROM transactions GROUP BY payment_id \
         ) t ON t.payment_id = p.id \
         WHERE p.captured <> COALESCE(t.captured, 0) OR p.refunded <> COALESCE(t.refunded, 0) \
         ORDER BY p.id",
    )
    .fetch_all(ex)
    .await
}

/// How many authorization attempts `user_id` made at or after `since`.
pub async fn attempts_since(
    tx: &mut Tx,
    user_id: &str,
    since: i64,
) -> Result<i64, platform::db::Error> {
    platform::db::query_scalar(
        "SELECT COUNT(*) FROM authorization_attempts WHERE user_id = $1 AND attempted_at >= $2",
    )
    .bind(user_id)
    .bind(since)
    .fetch_one(&mut **tx)
    .await
}

/// Records an authorization attempt.
pub async fn insert_attempt(
    tx: &mut Tx,
    user_id: &str,
    payment_id: &str,
    now: i64,
) -> Result<(), platform::db::Error> {
    platform::db::query(
        "INSERT INTO authorization_attempts (id, user_id, payment_id, attempted_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(platform::ids::new_id())
    .bind(user_id)
    .bind(payment_id)
    .bind(now)
    .execute(&mut **tx)
    .await
    .map(|_| ())
}

/// A saved card.
#[derive(Debug, Clone)]
pub struct PaymentMethodRecord {
    /// Id.
    pub id: String,
    /// The owner.
    pub user_id: String,
    /// The provider's card token.
    pub token: String,
    /// Card brand.
    pub brand: String,
    /// Last four digits.
    pub last4: String,
    /// Expiry month.
    pub exp_month: i64,
    /// Expiry year.
    pub exp_year: i64,
    /// Creation, epoch ms.
    pub created_at: i64,
}

const METHOD_COLUMNS: &str = "id, user_id, token, brand, last4, exp_month, exp_year, created_at";

fn method_from(row: &Row) -> Result<PaymentMethodRecord, platform::db::Error> {
    Ok(PaymentMethodRecord {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        token: row.try_get("token")?,
        brand: row.try_get("brand")?,
        last4: row.try_get("last4")?,
        exp_month: row.try_get("exp_month")?,
        exp_year: row.try_get("exp_year")?,
        created_at: row.try_get("created_at")?,
    })
}

/// Inserts a saved card.
pub async fn insert_payment_method(
    tx: &mut Tx,
    method: &PaymentMethodRecord,
) -> Result<(), platform::db::Error> {
    platform::db::query(&format!(
        "INSERT INTO payment_methods ({METHOD_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
    ))
    .bind(&method.id)
    .bind(&method.user_id)
    .bind(&method.token)
    .bind(&method.brand)
    .bind(&method.last4)
    .bind(method.exp_month)
    .bind(method.exp_year)
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
) -> Result<Option<PaymentMethodRecord>, platform::db::Error> {
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
) -> Result<Vec<PaymentMethodRecord>, platform::db::Error> {
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
