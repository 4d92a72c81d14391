//! Marketing spend (`POST /api/v1/attribution/spend`) and the Bayesian marketing-mix
//! model over it (`POST /api/v1/attribution/mmm`): each day's net revenue (from the
//! daily totals the consumer keeps) regressed on each channel's spend that day.

use std::collections::BTreeMap;

use contracts::Money;
use contracts::ingestion::Channel;
use serde::Serialize;

use super::{AnalyticsApp, AnalyticsError};
use crate::domain::mmm::{self, MmmError, MmmInput, MmmSettings};
use crate::domain::period::{DAY, Period};
use crate::store::{buckets, spend};

/// One day's spend on one channel, as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpendItem {
    /// The day's first instant, ms.
    pub day: i64,
    /// The channel.
    pub channel: Channel,
    /// What was spent.
    pub amount: Money,
}

/// A channel's effect, as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChannelAnswer {
    /// The channel.
    pub channel: Channel,
    /// Spent over the period.
    pub spend: Money,
    /// Revenue the model credits to the channel over the period (posterior mean).
    pub contribution: Money,
    /// Contribution over spend.
    pub roi: f64,
    /// The ROI's 90 % credible interval.
    pub roi_interval_90: [f64; 2],
    /// The geometric adstock decay chosen for the channel.
    pub adstock_decay: f64,
}

/// The fit, as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FitAnswer {
    /// Share of the daily revenue's variance the model explains.
    pub r2: f64,
    /// Days modelled.
    pub days: usize,
}

/// The marketing-mix model's answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MmmAnswer {
    /// The tenant.
    pub tenant: String,
    /// The period's first day (`YYYY-MM-DD`).
    pub from: String,
    /// The day after its last (`YYYY-MM-DD`).
    pub to: String,
    /// Per channel with spend.
    pub channels: Vec<ChannelAnswer>,
    /// Revenue per day the model gives no channel (posterior mean).
    pub baseline: Money,
    /// How well it fits.
    pub fit: FitAnswer,
}

impl AnalyticsApp {
    /// Records a tenant's daily spend (all items or none).
    pub async fn put_spend(
        &self,
        tenant: &str,
        items: &[SpendItem],
    ) -> Result<usize, AnalyticsError> {
        self.require_tenant(tenant).await?;
        let mut tx = self.db.begin().await?;
        for item in items {
            spend::put_spend(
                &mut tx,
                tenant,
                &spend::DaySpend {
                    day: item.day,
                    channel: item.channel,
                    amount: item.amount.amount,
                    currency: item.amount.currency.clone(),
                },
            )
            .await?;
        }
        tx.commit().await?;
        Ok(items.len())
    }

    /// Fits the marketing-mix model over `period` (whole days; by default every day
    /// with spend) in `currency`.
    pub async fn marketing_mix(
        &self,
        tenant: &str,
        period: Option<Period>,
        currency: Option<&str>,
    ) -> Result<MmmAnswer, AnalyticsError> {
        self.require_tenant(tenant).await?;
        let reader = self.db.reader();
        let Some(period) = (match period {
            Some(period) => Some(period),
            None => spend::spend_span(reader, tenant).await?,
        }) else {
            return Err(AnalyticsError::invalid(
                "items",
                "no spend has been sent for this tenant",
            ));
        };
        let days = usize::try_from((period.to - period.from) / DAY).unwrap_or(0);
        let spent = spend::spend_in(reader, tenant, period).await?;
        let currency = match currency {
            Some(currency) => currency.to_owned(),
            None => spent
                .first()
                .map(|s| s.currency.clone())
                .unwrap_or_else(|| self.config.default_currency.clone()),
        };
        let mut by_channel: BTreeMap<Channel, Vec<f64>> = BTreeMap::new();
        for item in spent.iter().filter(|s| s.currency == currency) {
            let day = usize::try_from((item.day - period.from) / DAY).unwrap_or(usize::MAX);
            if day < days {
                by_channel
                    .entry(item.channel)
                    .or_insert_with(|| vec![0.0; days])[day] += item.amount as f64;
            }
        }
        let mut revenue = vec![0.0; days];
        for (day, day_currency, totals) in buckets::daily_totals(reader, tenant, period).await? {
            let index = usize::try_from((day - period.from) / DAY).unwrap_or(usize::MAX);
            if day_currency == currency && index < days {
                revenue[index] = totals.revenue as f64;
            }
        }
        let input = MmmInput {
            revenue,
            spend: by_channel.into_iter().collect(),
        };
        // The sampler is CPU work of up to a second: off the request threads.
        let result = tokio::task::spawn_blocking(move || mmm::fit(&input, &MmmSettings::default()))
            .await
            .map_err(|_| AnalyticsError::invalid("items", "the model could not be fitted"))?
            .map_err(mmm_refused)?;
        let money = |amount: f64| Money {
            amount: amount.round() as i64,
            currency: currency.clone(),
        };
        let day = |at: i64| {
            platform::time::rfc3339(at)
                .get(..10)
                .unwrap_or_default()
                .to_owned()
        };
        Ok(MmmAnswer {
            tenant: tenant.to_owned(),
            from: day(period.from),
            to: day(period.to),
            channels: result
                .channels
                .iter()
                .map(|effect| ChannelAnswer {
                    channel: effect.channel,
                    spend: money(effect.spend),
                    contribution: money(effect.contribution),
                    roi: effect.roi,
                    roi_interval_90: [effect.roi_interval_90.0, effect.roi_interval_90.1],
                    adstock_decay: effect.adstock_decay,
                })
                .collect(),
            baseline: money(result.baseline),
            fit: FitAnswer {
                r2: result.fit.r2,
                days: result.fit.days,
            },
        })
    }
}

/// Why the model could not be fitted, as a field error.
fn mmm_refused(err: MmmError) -> AnalyticsError {
    AnalyticsError::invalid("items", err.to_string())
}
