//! Marketing spend per tenant, day and channel.

use contracts::ingestion::Channel;
use platform::db::{Executor, Tx, named};

use crate::domain::period::Period;

/// One day's spend on one channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaySpend {
    /// The day's first instant, ms.
    pub day: i64,
    /// The channel.
    pub channel: Channel,
    /// Minor units.
    pub amount: i64,
    /// ISO 4217.
    pub currency: String,
}

/// Records a day's spend on a channel (replacing what was sent before for it).
pub async fn put_spend(
    tx: &mut Tx,
    tenant: &str,
    spend: &DaySpend,
) -> Result<(), platform::db::Error> {
    platform::db::query(
        "INSERT INTO spend (tenant_id, day, channel, amount, currency) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (tenant_id, day, channel) DO UPDATE SET amount = excluded.amount, \
         currency = excluded.currency",
    )
    .bind(tenant)
    .bind(spend.day)
    .bind(spend.channel.as_str())
    .bind(spend.amount)
    .bind(&spend.currency)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The tenant's spend in `period`, days then channels in order.
pub async fn spend_in<'e>(
    ex: impl Executor<'e>,
    tenant: &str,
    period: Period,
) -> Result<Vec<DaySpend>, platform::db::Error> {
    platform::db::query(
        "SELECT day, channel, amount, currency FROM spend WHERE tenant_id = $1 \
         AND day >= $2 AND day < $3 ORDER BY day, channel",
    )
    .bind(tenant)
    .bind(period.from)
    .bind(period.to)
    .fetch_all(ex)
    .await?
    .iter()
    .map(|row| {
        let channel: String = row.try_get("channel")?;
        Ok(DaySpend {
            day: row.try_get("day")?,
            channel: named("channel", &channel, Channel::parse)?,
            amount: row.try_get("amount")?,
            currency: row.try_get("currency")?,
        })
    })
    .collect()
}

/// The first and last day with spend of `tenant`, if any.
pub async fn spend_span<'e>(
    ex: impl Executor<'e>,
    tenant: &str,
) -> Result<Option<Period>, platform::db::Error> {
    let row = platform::db::query(
        "SELECT MIN(day) AS first, MAX(day) AS last FROM spend WHERE tenant_id = $1",
    )
    .bind(tenant)
    .fetch_one(ex)
    .await?;
    let first: Option<i64> = row.try_get("first")?;
    let last: Option<i64> = row.try_get("last")?;
    Ok(first.zip(last).map(|(from, last)| Period {
        from,
        to: last + crate::domain::period::DAY,
    }))
}
