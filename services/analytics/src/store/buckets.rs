//! The read models: revenue per tenant, model, currency, channel and hour or day
//! (`revenue_buckets`), and per tenant, currency and hour or day (`revenue_totals`).
//! The consumer adds to them in the transaction that records the event; requests only
//! read them.

use contracts::ingestion::Channel;
use platform::db::{Executor, Tx, named};

use crate::domain::attribution::Model;
use crate::domain::period::{Grain, Period};

/// What one ledger row (or one change of its split) adds to a channel's buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ChannelFigures {
    /// Net revenue, minor units.
    pub revenue: i64,
    /// Money given back, minor units (positive).
    pub refunds: i64,
    /// Orders that gave the channel credit.
    pub conversions: i64,
}

/// Adds `figures` to `channel`'s hour and day buckets at `at`.
#[allow(clippy::too_many_arguments)]
pub async fn add_to_channel(
    tx: &mut Tx,
    tenant: &str,
    model: Model,
    currency: &str,
    at: i64,
    channel: Channel,
    figures: ChannelFigures,
) -> Result<(), platform::db::Error> {
    if figures == ChannelFigures::default() {
        return Ok(());
    }
    for grain in Grain::ALL {
        platform::db::query(
            "INSERT INTO revenue_buckets (tenant_id, model, currency, grain, bucket, channel, \
             revenue, refunds, conversions) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (tenant_id, model, currency, grain, bucket, channel) DO UPDATE SET \
             revenue = revenue_buckets.revenue + excluded.revenue, \
             refunds = revenue_buckets.refunds + excluded.refunds, \
             conversions = revenue_buckets.conversions + excluded.conversions",
        )
        .bind(tenant)
        .bind(model.as_str())
        .bind(currency)
        .bind(grain.as_str())
        .bind(grain.bucket(at))
        .bind(channel.as_str())
        .bind(figures.revenue)
        .bind(figures.refunds)
        .bind(figures.conversions)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// A tenant's totals over some buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Totals {
    /// Orders.
    pub conversions: i64,
    /// Net revenue, minor units.
    pub revenue: i64,
    /// Money given back, minor units (positive).
    pub refunds: i64,
    /// Payments received, minor units.
    pub payments: i64,
}

impl std::ops::AddAssign for Totals {
    fn add_assign(&mut self, other: Self) {
        self.conversions += other.conversions;
        self.revenue += other.revenue;
        self.refunds += other.refunds;
        self.payments += other.payments;
    }
}

/// Adds `totals` to the tenant's hour and day totals at `at`.
pub async fn add_to_totals(
    tx: &mut Tx,
    tenant: &str,
    currency: &str,
    at: i64,
    totals: Totals,
) -> Result<(), platform::db::Error> {
    for grain in Grain::ALL {
        platform::db::query(
            "INSERT INTO revenue_totals (tenant_id, currency, grain, bucket, conversions, revenue, \
             refunds, payments) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (tenant_id, currency, grain, bucket) DO UPDATE SET \
             conversions = revenue_totals.conversions + excluded.conversions, \
             revenue = revenue_totals.revenue + excluded.revenue, \
             refunds = revenue_totals.refunds + excluded.refunds, \
             payments = revenue_totals.payments + excluded.payments",
        )
        .bind(tenant)
        .bind(currency)
        .bind(grain.as_str())
        .bind(grain.bucket(at))
        .bind(totals.conversions)
        .bind(totals.revenue)
        .bind(totals.refunds)
        .bind(totals.payments)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// Each channel's figures summed over the `grain` buckets in `period`.
pub async fn channel_sums<'e>(
    ex: impl Executor<'e>,
    tenant: &str,
    model: Model,
    currency: &str,
    grain: Grain,
    period: Period,
) -> Result<Vec<(Channel, ChannelFigures)>, platform::db::Error> {
    platform::db::query(
        "SELECT channel, CAST(SUM(revenue) AS BIGINT) AS revenue, \
         CAST(SUM(refunds) AS BIGINT) AS refunds, \
         CAST(SUM(conversions) AS BIGINT) AS conversions FROM revenue_buckets \
         WHERE tenant_id = $1 AND model = $2 AND currency = $3 AND grain = $4 \
         AND bucket >= $5 AND bucket < $6 GROUP BY channel",
    )
    .bind(tenant)
    .bind(model.as_str())
    .bind(currency)
    .bind(grain.as_str())
    .bind(period.from)
    .bind(period.to)
    .fetch_all(ex)
    .await?
    .iter()
    .map(|row| {
        let channel: String = row.try_get("channel")?;
        Ok((
            named("channel", &channel, Channel::parse)?,
            ChannelFigures {
                revenue: row.try_get("revenue")?,
                refunds: row.try_get("refunds")?,
                conversions: row.try_get("conversions")?,
            },
        ))
    })
    .collect()
}

/// Every channel's figures per day in `period` (days, then channels, in order).
pub async fn channel_days<'e>(
    ex: impl Executor<'e>,
    tenant: &str,
    model: Model,
    currency: &str,
    period: Period,
) -> Result<Vec<(i64, Channel, ChannelFigures)>, platform::db::Error> {
    platform::db::query(
        "SELECT bucket, channel, revenue, refunds, conversions FROM revenue_buckets \
         WHERE tenant_id = $1 AND model = $2 AND currency = $3 AND grain = 'day' \
         AND bucket >= $4 AND bucket < $5 ORDER BY bucket, channel",
    )
    .bind(tenant)
    .bind(model.as_str())
    .bind(currency)
    .bind(period.from)
    .bind(period.to)
    .fetch_all(ex)
    .await?
    .iter()
    .map(|row| {
        let channel: String = row.try_get("channel")?;
        Ok((
            row.try_get("bucket")?,
            named("channel", &channel, Channel::parse)?,
            ChannelFigures {
                revenue: row.try_get("revenue")?,
                refunds: row.try_get("refunds")?,
                conversions: row.try_get("conversions")?,
            },
        ))
    })
    .collect()
}

/// The totals summed over the `grain` buckets in `period`.
pub async fn totals_sum<'e>(
    ex: impl Executor<'e>,
    tenant: &str,
    currency: &str,
    grain: Grain,
    period: Period,
) -> Result<Totals, platform::db::Error> {
    let row = platform::db::query(
        "SELECT CAST(COALESCE(SUM(conversions), 0) AS BIGINT) AS conversions, \
         CAST(COALESCE(SUM(revenue), 0) AS BIGINT) AS revenue, \
         CAST(COALESCE(SUM(refunds), 0) AS BIGINT) AS refunds, \
         CAST(COALESCE(SUM(payments), 0) AS BIGINT) AS payments \
         FROM revenue_totals WHERE tenant_id = $1 AND currency = $2 AND grain = $3 \
         AND bucket >= $4 AND bucket < $5",
    )
    .bind(tenant)
    .bind(currency)
    .bind(grain.as_str())
    .bind(period.from)
    .bind(period.to)
    .fetch_one(ex)
    .await?;
    Ok(Totals {
        conversions: row.try_get("conversions")?,
        revenue: row.try_get("revenue")?,
        refunds: row.try_get("refunds")?,
        payments: row.try_get("payments")?,
    })
}

/// The totals per day in `period`, with their currency (days in order).
pub async fn daily_totals<'e>(
    ex: impl Executor<'e>,
    tenant: &str,
    period: Period,
) -> Result<Vec<(i64, String, Totals)>, platform::db::Error> {
    platform::db::query(
        "SELECT bucket, currency, conversions, revenue, refunds, payments FROM revenue_totals \
         WHERE tenant_id = $1 AND grain = 'day' AND bucket >= $2 AND bucket < $3 \
         ORDER BY bucket, currency",
    )
    .bind(tenant)
    .bind(period.from)
    .bind(period.to)
    .fetch_all(ex)
    .await?
    .iter()
    .map(|row| {
        Ok((
            row.try_get("bucket")?,
            row.try_get("currency")?,
            Totals {
                conversions: row.try_get("conversions")?,
                revenue: row.try_get("revenue")?,
                refunds: row.try_get("refunds")?,
                payments: row.try_get("payments")?,
            },
        ))
    })
    .collect()
}

/// The currencies `tenant` has revenue in (not only payments), on the days touching
/// `period`.
pub async fn currencies<'e>(
    ex: impl Executor<'e>,
    tenant: &str,
    period: Period,
) -> Result<Vec<String>, platform::db::Error> {
    platform::db::query_scalar(
        "SELECT DISTINCT currency FROM revenue_totals WHERE tenant_id = $1 AND grain = 'day' \
         AND bucket >= $2 AND bucket < $3 AND (conversions <> 0 OR revenue <> 0 OR refunds <> 0) \
         ORDER BY currency",
    )
    .bind(tenant)
    .bind(Grain::Day.bucket(period.from))
    .bind(period.to)
    .fetch_all(ex)
    .await
}
