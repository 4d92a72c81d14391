//! The `payments` table (rows ⇄ [`Payment`]) and the authorization attempts the
//! velocity fraud rule counts.

use platform::db::{Dialect, Executor, Row, Tx};

use super::card_from;
use crate::domain::{
    ClientSecret, Failure, FailureReason, Money, Payment, PaymentState, PaymentStatus,
    RefundChange, Transition,
};

const PAYMENT_COLUMNS: &str = "id, order_id, user_id, status, amount, currency, captured, refunded, refunding, token, brand, last4, \
     exp_month, exp_year, payment_method_id, provider_ref, failure_reason, failure_detail, customer_action, \
     provider_customer, created_at, updated_at";

/// A payment from a row of [`PAYMENT_COLUMNS`].
fn payment_from(row: &Row) -> Result<Payment, platform::db::Error> {
    let status: String = row.try_get("status")?;
    let failure_reason: Option<String> = row.try_get("failure_reason")?;
    let failure = match failure_reason {
        Some(code) => Some(Failure {
            reason: platform::db::named("failure_reason", &code, FailureReason::parse)?,
            detail: row
                .try_get::<Option<String>, _>("failure_detail")?
                .unwrap_or_default(),
        }),
        None => None,
    };
    let card = card_from(row)?;
    let amount = Money {
        amount: row.try_get("amount")?,
        currency: row.try_get("currency")?,
    };
    let state = PaymentState {
        status: platform::db::named("status", &status, PaymentStatus::parse)?,
        captured: row.try_get("captured")?,
        refunded: row.try_get("refunded")?,
        refunding: row.try_get("refunding")?,
        provider_ref: row.try_get("provider_ref")?,
        failure,
        customer_action: row
            .try_get::<Option<String>, _>("customer_action")?
            .map(ClientSecret),
        updated_at: row.try_get("updated_at")?,
    };
    let payment = Payment::open(
        row.try_get("id")?,
        row.try_get("order_id")?,
        row.try_get("user_id")?,
        amount,
        card,
        row.try_get("payment_method_id")?,
        row.try_get("created_at")?,
    );
    Ok(payment.restored(state))
}

/// Inserts a payment; a second payment for an order is a unique violation.
pub async fn insert_payment(tx: &mut Tx, payment: &Payment) -> Result<(), platform::db::Error> {
    let state = payment.state();
    let failure = state.failure.as_ref();
    platform::db::query(&format!(
        "INSERT INTO payments ({PAYMENT_COLUMNS}) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22)"
    ))
    .bind(&payment.id)
    .bind(&payment.order_id)
    .bind(&payment.user_id)
    .bind(state.status.as_str())
    .bind(payment.amount.amount)
    .bind(&payment.amount.currency)
    .bind(state.captured)
    .bind(state.refunded)
    .bind(state.refunding)
    .bind(&payment.card.token)
    .bind(payment.card.brand.as_str())
    .bind(&payment.card.last4)
    .bind(i64::from(payment.card.expiry.month))
    .bind(i64::from(payment.card.expiry.year))
    .bind(payment.payment_method_id.as_deref())
    .bind(state.provider_ref.as_deref())
    .bind(failure.map(|f| f.reason.as_str()))
    .bind(failure.map(|f| f.detail.as_str()))
    .bind(state.customer_action.as_ref().map(|c| c.0.as_str()))
    .bind(payment.card.customer.as_deref())
    .bind(payment.created_at)
    .bind(state.updated_at)
    .execute(&mut **tx)
    .await
    .map(|_| ())
}

/// A payment by id.
pub async fn payment<'e>(
    ex: impl Executor<'e>,
    id: &str,
) -> Result<Option<Payment>, platform::db::Error> {
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
) -> Result<Option<Payment>, platform::db::Error> {
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
    /// The provider's intent.
    Intent(&'a str),
}

/// A payment, locked for the rest of `tx` on PostgreSQL (SQLite's single writer holds
/// the whole database already), so the provider is called once per change.
pub async fn payment_for_update(
    tx: &mut Tx,
    dialect: Dialect,
    key: Key<'_>,
) -> Result<Option<Payment>, platform::db::Error> {
    let (column, value) = match key {
        Key::Id(id) => ("id", id),
        Key::Order(order) => ("order_id", order),
        Key::Intent(intent) => ("provider_ref", intent),
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

/// Writes what `transition` changed in `payment` (status, captured total, provider
/// reference, failure) if the stored payment is still in `transition.from`; `false`
/// when it is not (another delivery moved it first). One statement, which also never
/// lets the captured total exceed the amount, whatever the caller read before.
pub async fn save_transition<E: Sync>(
    tx: &mut Tx,
    payment: &Payment,
    transition: &Transition<E>,
) -> Result<bool, platform::db::Error> {
    let state = payment.state();
    let failure = state.failure.as_ref();
    let updated = platform::db::query(
        "UPDATE payments SET status = $1, captured = $2, provider_ref = $3, failure_reason = $4, \
         failure_detail = $5, updated_at = $6 \
         WHERE id = $7 AND status = $8 AND $2 <= amount",
    )
    .bind(transition.to.as_str())
    .bind(state.captured)
    .bind(state.provider_ref.as_deref())
    .bind(failure.map(|f| f.reason.as_str()))
    .bind(failure.map(|f| f.detail.as_str()))
    .bind(state.updated_at)
    .bind(&payment.id)
    .bind(transition.from.as_str())
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(updated == 1)
}

/// Sets (or, with `None`, clears) what payment `id` waits for its customer to do.
pub async fn set_customer_action(
    tx: &mut Tx,
    id: &str,
    client_secret: Option<&str>,
) -> Result<(), platform::db::Error> {
    platform::db::query("UPDATE payments SET customer_action = $1 WHERE id = $2")
        .bind(client_secret)
        .bind(id)
        .execute(&mut **tx)
        .await
        .map(|_| ())
}

/// Keeps `intent` as the provider's intent of payment `id`, unless it has one.
pub async fn keep_intent(tx: &mut Tx, id: &str, intent: &str) -> Result<(), platform::db::Error> {
    platform::db::query(
        "UPDATE payments SET provider_ref = $1 WHERE id = $2 AND provider_ref IS NULL",
    )
    .bind(intent)
    .bind(id)
    .execute(&mut **tx)
    .await
    .map(|_| ())
}

/// Promises a refund of the stored payment in one conditional update: only from the
/// statuses `change.from` names, and only while what is refunded and being refunded
/// stays within the captured total as the row is when the update runs. The payment as
/// the update left it, or `None` when the refund no longer fits. The status changes
/// once the provider made the refund ([`settle_refund`]).
pub async fn reserve_refund(
    tx: &mut Tx,
    payment: &Payment,
    change: &RefundChange,
) -> Result<Option<Payment>, platform::db::Error> {
    let statuses = platform::db::in_list(4, change.from.len());
    let sql = format!(
        "UPDATE payments SET refunding = refunding + $1, updated_at = $2 \
         WHERE id = $3 AND $1 > 0 AND refunded + refunding + $1 <= captured \
           AND status IN {statuses} \
         RETURNING {PAYMENT_COLUMNS}"
    );
    let mut query = platform::db::query(&sql)
        .bind(change.amount.amount)
        .bind(payment.updated_at())
        .bind(&payment.id);
    for status in change.from {
        query = query.bind(status.as_str());
    }
    query
        .fetch_optional(&mut **tx)
        .await?
        .as_ref()
        .map(payment_from)
        .transpose()
}

/// Settles a promised refund of `amount` of payment `id`: `made`, it joins the
/// refunded total and the status moves to `settled` when the refunded total reaches
/// the captured one, to `partial` otherwise; refused by the provider, the promise is
/// withdrawn. The payment as the update left it; `None` when no such promise is open.
pub async fn settle_refund(
    tx: &mut Tx,
    id: &str,
    amount: i64,
    made: Option<(PaymentStatus, PaymentStatus)>,
    now: i64,
) -> Result<Option<Payment>, platform::db::Error> {
    // Every SET expression reads the row as it was before this update.
    let (sql, statuses) = match made {
        Some(statuses) => (
            format!(
                "UPDATE payments SET refunded = refunded + $1, refunding = refunding - $1, \
                 status = CASE WHEN refunded + $1 >= captured THEN $2 ELSE $3 END, updated_at = $4 \
                 WHERE id = $5 AND refunding >= $1 RETURNING {PAYMENT_COLUMNS}"
            ),
            Some(statuses),
        ),
        None => (
            format!(
                "UPDATE payments SET refunding = refunding - $1, updated_at = $2 \
                 WHERE id = $3 AND refunding >= $1 RETURNING {PAYMENT_COLUMNS}"
            ),
            None,
        ),
    };
    let mut query = platform::db::query(&sql).bind(amount);
    if let Some((settled, partial)) = statuses {
        query = query.bind(settled.as_str()).bind(partial.as_str());
    }
    query
        .bind(now)
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?
        .as_ref()
        .map(payment_from)
        .transpose()
}

/// Ids of payments that may have waited too long for their order: `pending` and last
/// changed at or before `pending_before`, or `authorized` and last changed at or before
/// `authorized_before` (the aggregate decides, once locked), oldest first, at most
/// `limit`.
pub async fn waiting_since<'e>(
    ex: impl Executor<'e>,
    pending_before: i64,
    authorized_before: i64,
    after: Option<&(i64, String)>,
    limit: i64,
) -> Result<Vec<(i64, String)>, platform::db::Error> {
    // Keyset paging on (updated_at, id): a page of payments that cannot be given up now
    // (the provider failing) does not hide the ones behind it.
    let (after_at, after_id) = after.cloned().unwrap_or((i64::MIN, String::new()));
    let rows = platform::db::query(
        "SELECT id, updated_at FROM payments \
         WHERE ((status = $1 AND updated_at <= $2) OR (status = $3 AND updated_at <= $4)) \
           AND (updated_at > $5 OR (updated_at = $5 AND id > $6)) \
         ORDER BY updated_at, id LIMIT $7",
    )
    .bind(PaymentStatus::Pending.as_str())
    .bind(pending_before)
    .bind(PaymentStatus::Authorized.as_str())
    .bind(authorized_before)
    .bind(after_at)
    .bind(after_id)
    .bind(limit)
    .fetch_all(ex)
    .await?;
    rows.iter()
        .map(|row| Ok((row.try_get("updated_at")?, row.try_get("id")?)))
        .collect()
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

#[cfg(test)]
mod tests {
    use platform::db::Db;

    use super::*;
    use crate::domain::{CardBrand, Expiry, StoredCard};

    fn card() -> StoredCard {
        StoredCard {
            token: "tok_visa".into(),
            brand: CardBrand::Visa,
            last4: "4242".into(),
            expiry: Expiry::stored(12, 2099).expect("expiry"),
            customer: None,
        }
    }

    #[tokio::test]
    async fn rows_decode_to_payments_and_an_unknown_status_is_an_error() {
        let name = format!(
            "payments_store_{}",
            platform::ids::new_id().replace('-', "")
        );
        let dir = std::env::temp_dir();
        let db = Db::connect(&platform::db::sqlite_url(&dir, &name), &crate::MIGRATIONS)
            .await
            .expect("database");
        let usd = Money {
            amount: 1_000,
            currency: "USD".into(),
        };
        let stored = Payment::open(
            platform::ids::new_id(),
            "o-1".into(),
            "u-1".into(),
            usd,
            card(),
            None,
            1,
        );
        let mut tx = db.begin().await.expect("begin");
        insert_payment(&mut tx, &stored).await.expect("insert");
        tx.commit().await.expect("commit");
        let read = payment(db.reader(), &stored.id).await.expect("read");
        assert_eq!(
            read.as_ref(),
            Some(&stored),
            "a row reads back as it was written"
        );

        let mut tx = db.begin().await.expect("begin");
        platform::db::query("UPDATE payments SET status = 'settled' WHERE id = $1")
            .bind(&stored.id)
            .execute(&mut *tx)
            .await
            .expect("corrupt the status");
        let locked = payment_for_update(&mut tx, db.dialect(), Key::Id(&stored.id)).await;
        assert!(
            matches!(&locked, Err(platform::db::Error::ColumnDecode { column, .. }) if column == "status"),
            "{locked:?}"
        );
        tx.commit().await.expect("commit");
        let read = payment_by_order(db.reader(), "o-1").await;
        assert!(
            matches!(&read, Err(e @ platform::db::Error::ColumnDecode { .. }) if e.to_string().contains("settled")),
            "an unknown status is never read as another: {read:?}"
        );

        db.close().await;
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(dir.join(format!("{name}.db{suffix}")));
        }
    }
}
