//! Conversions (a tenant's orders as attribution sees them) and customers' touchpoints.

use contracts::ingestion::Channel;
use platform::db::{Executor, Row, Tx, named};

use crate::domain::attribution::Touch;
use crate::domain::period::Period;

/// A conversion: an order with its own channel and the customer's keyed hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conversion {
    /// Its id (the ledger rows of the order carry it).
    pub id: String,
    /// The tenant.
    pub tenant_id: String,
    /// The provider (`shopify`, ..., `viscount`).
    pub provider: String,
    /// The provider's order id.
    pub external_id: String,
    /// The customer's keyed hash, when the order named one.
    pub customer_ref: Option<String>,
    /// The order's own channel.
    pub channel: Channel,
    /// The order's amount as it stands, minor units.
    pub amount: i64,
    /// ISO 4217.
    pub currency: String,
    /// When it was ordered, ms.
    pub occurred_at: i64,
}

const CONVERSION: &str = "SELECT id, tenant_id, provider, external_id, customer_ref, channel, \
                          amount, currency, occurred_at FROM conversions";

/// Records a new conversion.
pub async fn insert_conversion(
    tx: &mut Tx,
    conversion: &Conversion,
) -> Result<(), platform::db::Error> {
    platform::db::query(
        "INSERT INTO conversions (id, tenant_id, provider, external_id, customer_ref, channel, \
         amount, currency, occurred_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&conversion.id)
    .bind(&conversion.tenant_id)
    .bind(&conversion.provider)
    .bind(&conversion.external_id)
    .bind(&conversion.customer_ref)
    .bind(conversion.channel.as_str())
    .bind(conversion.amount)
    .bind(&conversion.currency)
    .bind(conversion.occurred_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Sets a conversion's amount after an adjustment.
pub async fn set_amount(tx: &mut Tx, id: &str, amount: i64) -> Result<(), platform::db::Error> {
    platform::db::query("UPDATE conversions SET amount = $2 WHERE id = $1")
        .bind(id)
        .bind(amount)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// The conversion of `tenant`'s order `external_id` at `provider`.
pub async fn conversion_of(
    tx: &mut Tx,
    tenant: &str,
    provider: &str,
    external_id: &str,
) -> Result<Option<Conversion>, platform::db::Error> {
    platform::db::query(&format!(
        "{CONVERSION} WHERE tenant_id = $1 AND provider = $2 AND external_id = $3"
    ))
    .bind(tenant)
    .bind(provider)
    .bind(external_id)
    .fetch_optional(&mut **tx)
    .await?
    .as_ref()
    .map(conversion)
    .transpose()
}

/// The conversion a refund or payment of `provider` refers to by `reference`: the
/// same provider's order first, else any provider's (a Stripe refund of a Shopify
/// order names the Shopify order).
pub async fn conversion_referred(
    tx: &mut Tx,
    tenant: &str,
    provider: &str,
    reference: &str,
) -> Result<Option<Conversion>, platform::db::Error> {
    platform::db::query(&format!(
        "{CONVERSION} WHERE tenant_id = $1 AND external_id = $3 \
         ORDER BY CASE WHEN provider = $2 THEN 0 ELSE 1 END, occurred_at LIMIT 1"
    ))
    .bind(tenant)
    .bind(provider)
    .bind(reference)
    .fetch_optional(&mut **tx)
    .await?
    .as_ref()
    .map(conversion)
    .transpose()
}

/// The conversions of a customer that happened in `period`.
pub async fn conversions_of_customer(
    tx: &mut Tx,
    tenant: &str,
    customer_ref: &str,
    period: Period,
) -> Result<Vec<Conversion>, platform::db::Error> {
    platform::db::query(&format!(
        "{CONVERSION} WHERE tenant_id = $1 AND customer_ref = $2 \
         AND occurred_at >= $3 AND occurred_at < $4 ORDER BY occurred_at, id"
    ))
    .bind(tenant)
    .bind(customer_ref)
    .bind(period.from)
    .bind(period.to)
    .fetch_all(&mut **tx)
    .await?
    .iter()
    .map(conversion)
    .collect()
}

/// A page of `tenant`'s conversions (orders as they stand) that occurred in `period`,
/// in time order after position `after` (occurred_at, id).
pub async fn conversions_page<'e>(
    ex: impl Executor<'e>,
    tenant: &str,
    period: Period,
    after: Option<(i64, &str)>,
    limit: i64,
) -> Result<Vec<Conversion>, platform::db::Error> {
    let (after_at, after_id) = after.unwrap_or((i64::MIN, ""));
    platform::db::query(&format!(
        "{CONVERSION} WHERE tenant_id = $1 AND occurred_at >= $2 AND occurred_at < $3 \
         AND NOT (occurred_at = $4 AND id <= $5) ORDER BY occurred_at, id LIMIT $6"
    ))
    .bind(tenant)
    .bind(period.from.max(after_at))
    .bind(period.to)
    .bind(after_at)
    .bind(after_id)
    .bind(limit)
    .fetch_all(ex)
    .await?
    .iter()
    .map(conversion)
    .collect()
}

/// A page of the conversions of `tenant` that occurred outside `period` but that a
/// payment of `period` names (an order placed just before its payment's period), by
/// that payment's position (occurred_at, id), with it. One conversion paid twice comes
/// twice.
pub async fn conversions_paid_from_outside<'e>(
    ex: impl Executor<'e>,
    tenant: &str,
    period: Period,
    after: Option<(i64, &str)>,
    limit: i64,
) -> Result<Vec<((i64, String), Conversion)>, platform::db::Error> {
    let (after_at, after_id) = after.unwrap_or((i64::MIN, ""));
    platform::db::query(
        "SELECT l.occurred_at AS paid_at, l.id AS payment_id, c.id, c.tenant_id, c.provider, \
         c.external_id, c.customer_ref, c.channel, c.amount, c.currency, c.occurred_at \
         FROM ledger l JOIN conversions c ON c.tenant_id = l.tenant_id AND c.external_id = l.order_ref \
         WHERE l.tenant_id = $1 AND l.kind = 'payment' AND l.occurred_at >= $2 AND l.occurred_at < $3 \
         AND NOT (l.occurred_at = $4 AND l.id <= $5) \
         AND (c.occurred_at < $6 OR c.occurred_at >= $3) ORDER BY l.occurred_at, l.id LIMIT $7",
    )
    .bind(tenant)
    .bind(period.from.max(after_at))
    .bind(period.to)
    .bind(after_at)
    .bind(after_id)
    .bind(period.from)
    .bind(limit)
    .fetch_all(ex)
    .await?
    .iter()
    .map(|row| Ok(((row.try_get("paid_at")?, row.try_get("payment_id")?), conversion(row)?)))
    .collect()
}

fn conversion(row: &Row) -> Result<Conversion, platform::db::Error> {
    let channel: String = row.try_get("channel")?;
    Ok(Conversion {
        id: row.try_get("id")?,
        tenant_id: row.try_get("tenant_id")?,
        provider: row.try_get("provider")?,
        external_id: row.try_get("external_id")?,
        customer_ref: row.try_get("customer_ref")?,
        channel: named("channel", &channel, Channel::parse)?,
        amount: row.try_get("amount")?,
        currency: row.try_get("currency")?,
        occurred_at: row.try_get("occurred_at")?,
    })
}

/// A touchpoint to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTouchpoint<'a> {
    /// Ingestion's id of it.
    pub id: &'a str,
    /// The tenant.
    pub tenant_id: &'a str,
    /// The customer's keyed hash.
    pub customer_ref: &'a str,
    /// Its channel.
    pub channel: Channel,
    /// When, ms.
    pub occurred_at: i64,
}

/// Records a touchpoint; false when it was already recorded.
pub async fn insert_touchpoint(
    tx: &mut Tx,
    touchpoint: &NewTouchpoint<'_>,
) -> Result<bool, platform::db::Error> {
    let done = platform::db::query(
        "INSERT INTO touchpoints (id, tenant_id, customer_ref, channel, occurred_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING",
    )
    .bind(touchpoint.id)
    .bind(touchpoint.tenant_id)
    .bind(touchpoint.customer_ref)
    .bind(touchpoint.channel.as_str())
    .bind(touchpoint.occurred_at)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// The most touches a journey holds: its first and the latest before the conversion.
/// A tenant can send any number of visits for one customer; a journey's cost must not
/// grow with them.
pub const MAX_JOURNEY: i64 = 500;

/// A customer's touches in `period` (both ends included), oldest first: the first one
/// and the latest [`MAX_JOURNEY`]` - 1`.
pub async fn touches(
    tx: &mut Tx,
    tenant: &str,
    customer_ref: &str,
    period: Period,
) -> Result<Vec<Touch>, platform::db::Error> {
    let select = "SELECT id, channel, occurred_at FROM touchpoints WHERE tenant_id = $1 \
                  AND customer_ref = $2 AND occurred_at >= $3 AND occurred_at <= $4";
    let mut rows = platform::db::query(&format!(
        "{select} ORDER BY occurred_at DESC, id DESC LIMIT $5"
    ))
    .bind(tenant)
    .bind(customer_ref)
    .bind(period.from)
    .bind(period.to)
    .bind(MAX_JOURNEY - 1)
    .fetch_all(&mut **tx)
    .await?;
    rows.reverse();
    if rows.len() as i64 == MAX_JOURNEY - 1 {
        let first = platform::db::query(&format!("{select} ORDER BY occurred_at, id LIMIT 1"))
            .bind(tenant)
            .bind(customer_ref)
            .bind(period.from)
            .bind(period.to)
            .fetch_optional(&mut **tx)
            .await?;
        if let Some(first) = first {
            let first_id: String = first.try_get("id")?;
            let oldest_kept: Option<String> = rows.first().map(|r| r.try_get("id")).transpose()?;
            if oldest_kept.as_deref() != Some(first_id.as_str()) {
                rows.insert(0, first);
            }
        }
    }
    rows.iter()
        .map(|row| {
            let channel: String = row.try_get("channel")?;
            let at: i64 = row.try_get("occurred_at")?;
            Ok(Touch {
                at: crate::domain::period::instant(at),
                channel: named("channel", &channel, Channel::parse)?,
            })
        })
        .collect()
}
