//! The `fraud_reviews` table (rows ⇄ [`FraudReview`]) and the facts the fraud rules
//! read from `payments`: payments on one card in a window, a user's captured amounts.

use contracts::payments::FraudSignal;
use platform::db::{Executor, Row, Tx};

use crate::domain::{FraudReview, PaymentStatus, ReviewStatus, StoredCard};

const REVIEW_COLUMNS: &str =
    "id, payment_id, order_id, user_id, score, signals, status, decided_by, decided_at, created_at";

fn review_from(row: &Row) -> Result<FraudReview, platform::db::Error> {
    let status: String = row.try_get("status")?;
    let signals: String = row.try_get("signals")?;
    let score: i64 = row.try_get("score")?;
    Ok(FraudReview {
        id: row.try_get("id")?,
        payment_id: row.try_get("payment_id")?,
        order_id: row.try_get("order_id")?,
        user_id: row.try_get("user_id")?,
        score: u32::try_from(score).map_err(|e| platform::db::Error::undecodable("score", e))?,
        signals: serde_json::from_str::<Vec<FraudSignal>>(&signals)
            .map_err(|e| platform::db::Error::undecodable("signals", e))?,
        status: platform::db::named("status", &status, ReviewStatus::parse)?,
        decided_by: row.try_get("decided_by")?,
        decided_at: row.try_get("decided_at")?,
        created_at: row.try_get("created_at")?,
    })
}

/// Stores a new review.
pub async fn insert_review(tx: &mut Tx, review: &FraudReview) -> Result<(), platform::db::Error> {
    let signals = serde_json::to_string(&review.signals)
        .map_err(|e| platform::db::Error::undecodable("signals", e))?;
    platform::db::query(
        "INSERT INTO fraud_reviews (id, payment_id, order_id, user_id, score, signals, status, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&review.id)
    .bind(&review.payment_id)
    .bind(&review.order_id)
    .bind(&review.user_id)
    .bind(i64::from(review.score))
    .bind(signals)
    .bind(review.status.as_str())
    .bind(review.created_at)
    .execute(&mut **tx)
    .await
    .map(|_| ())
}

/// A review by id.
pub async fn review<'e>(
    ex: impl Executor<'e>,
    id: &str,
) -> Result<Option<FraudReview>, platform::db::Error> {
    let row = platform::db::query(&format!(
        "SELECT {REVIEW_COLUMNS} FROM fraud_reviews WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(ex)
    .await?;
    row.as_ref().map(review_from).transpose()
}

/// Whether the payment was ever held for review (a redelivered reservation must not
/// hold it twice, nor authorize it behind the reviewer's back).
pub async fn has_review(tx: &mut Tx, payment_id: &str) -> Result<bool, platform::db::Error> {
    let count: i64 =
        platform::db::query_scalar("SELECT COUNT(*) FROM fraud_reviews WHERE payment_id = $1")
            .bind(payment_id)
            .fetch_one(&mut **tx)
            .await?;
    Ok(count > 0)
}

/// Reviews newest first, before the id `before`, in `status` or (with `None`) any.
pub async fn reviews<'e>(
    ex: impl Executor<'e>,
    status: Option<ReviewStatus>,
    before: Option<&str>,
    limit: i64,
) -> Result<Vec<FraudReview>, platform::db::Error> {
    let rows = platform::db::query(&format!(
        "SELECT {REVIEW_COLUMNS} FROM fraud_reviews \
         WHERE ($1 = '' OR status = $1) AND ($2 = '' OR id < $2) ORDER BY id DESC LIMIT $3"
    ))
    .bind(status.map(ReviewStatus::as_str).unwrap_or(""))
    .bind(before.unwrap_or(""))
    .bind(limit)
    .fetch_all(ex)
    .await?;
    rows.iter().map(review_from).collect()
}

/// Decides a pending review: `false` when it was decided already (or does not exist).
pub async fn decide(
    tx: &mut Tx,
    id: &str,
    to: ReviewStatus,
    decided_by: &str,
    now: i64,
) -> Result<bool, platform::db::Error> {
    let done = platform::db::query(
        "UPDATE fraud_reviews SET status = $2, decided_by = $3, decided_at = $4 \
         WHERE id = $1 AND status = $5",
    )
    .bind(id)
    .bind(to.as_str())
    .bind(decided_by)
    .bind(now)
    .bind(ReviewStatus::Pending.as_str())
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Ids of reviews still pending that were held at or before `held_before`, oldest first.
pub async fn pending_before<'e>(
    ex: impl Executor<'e>,
    held_before: i64,
    limit: i64,
) -> Result<Vec<String>, platform::db::Error> {
    platform::db::query_scalar(
        "SELECT id FROM fraud_reviews WHERE status = $1 AND created_at <= $2 \
         ORDER BY created_at, id LIMIT $3",
    )
    .bind(ReviewStatus::Pending.as_str())
    .bind(held_before)
    .bind(limit)
    .fetch_all(ex)
    .await
}

/// Other payments on `card` (brand, last four, expiry) created since `since`.
pub async fn card_payments_since(
    tx: &mut Tx,
    card: &StoredCard,
    payment_id: &str,
    since: i64,
) -> Result<i64, platform::db::Error> {
    platform::db::query_scalar(
        "SELECT COUNT(*) FROM payments WHERE last4 = $1 AND brand = $2 AND exp_month = $3 \
         AND exp_year = $4 AND created_at >= $5 AND id <> $6",
    )
    .bind(&card.last4)
    .bind(card.brand.as_str())
    .bind(i64::from(card.expiry.month))
    .bind(i64::from(card.expiry.year))
    .bind(since)
    .bind(payment_id)
    .fetch_one(&mut **tx)
    .await
}

/// What the user's last `limit` captured payments in `currency` captured, newest first.
pub async fn captured_amounts(
    tx: &mut Tx,
    user_id: &str,
    currency: &str,
    limit: i64,
) -> Result<Vec<i64>, platform::db::Error> {
    platform::db::query_scalar(
        "SELECT captured FROM payments WHERE user_id = $1 AND currency = $2 \
         AND status IN ($3, $4, $5) AND captured > 0 ORDER BY created_at DESC LIMIT $6",
    )
    .bind(user_id)
    .bind(currency)
    .bind(PaymentStatus::Captured.as_str())
    .bind(PaymentStatus::PartiallyRefunded.as_str())
    .bind(PaymentStatus::Refunded.as_str())
    .bind(limit)
    .fetch_all(&mut **tx)
    .await
}
