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
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
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
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct FitAnswer {
    /// Share of the daily revenue's variance the model explains.
    pub r2: f64,
    /// Days modelled.
    pub days: usize,
}

/// The marketing-mix model's answer.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
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
    /// with spend) in `currency`. A day whose refunds exceed its orders counts as no
    /// revenue: the model explains what spend brings in, and a negative day is money
    /// given back for earlier days, not a day spend made worse.
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
        // Before anything is allocated per day: the span of a tenant's spend is the
        // sender's to stretch (one item in year 1, one in 9999).
        let days = period_days(period)?;
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
        if by_channel.is_empty() {
            return Err(if spent.is_empty() {
                AnalyticsError::invalid("items", "no spend has been sent for this period")
            } else {
                AnalyticsError::invalid(
                    "currency",
                    format!("no spend in {currency} has been sent for this period"),
                )
            });
        }
        let mut revenue = vec![0.0; days];
        for (day, day_currency, totals) in buckets::daily_totals(reader, tenant, period).await? {
            let index = usize::try_from((day - period.from) / DAY).unwrap_or(usize::MAX);
            if day_currency == currency && index < days {
                revenue[index] = totals.revenue.max(0) as f64;
            }
        }
        let input = MmmInput {
            revenue,
            spend: by_channel.into_iter().collect(),
        };
        // The sampler is CPU work of up to a second: off the request threads.
        let result = off_thread(move || mmm::fit(&input, &MmmSettings::default()))
            .await?
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

/// The whole days of `period`: at least one, at most [`mmm::MAX_DAYS`] (a 422 naming
/// `from`, the end a caller moves to shorten or lengthen it).
fn period_days(period: Period) -> Result<usize, AnalyticsError> {
    let days = period.to.saturating_sub(period.from) / DAY;
    match usize::try_from(days) {
        Ok(days) if (1..=mmm::MAX_DAYS).contains(&days) => Ok(days),
        Ok(0) | Err(_) => Err(AnalyticsError::invalid(
            "from",
            "must be at least a day before `to`",
        )),
        Ok(days) => Err(AnalyticsError::invalid(
            "from",
            format!(
                "gives a period of {days} days, the model takes at most {}",
                mmm::MAX_DAYS
            ),
        )),
    }
}

/// Runs `work` on the blocking pool; its panic is a 500, not a refusal of the input.
async fn off_thread<T, F>(work: F) -> Result<T, AnalyticsError>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    tokio::task::spawn_blocking(work).await.map_err(|err| {
        tracing::error!(error = %err, "the marketing-mix model failed");
        AnalyticsError::Internal(format!("the marketing-mix model failed: {err}"))
    })
}

/// Why the model could not be fitted, as an error on the field that would change it:
/// the period for its length, the spend items for what they hold, the currency for
/// the revenue series it picks; the sampler's own guards are the server's fault.
fn mmm_refused(err: MmmError) -> AnalyticsError {
    match err {
        MmmError::TooFewDays { .. } | MmmError::TooManyDays { .. } => {
            AnalyticsError::invalid("from", err.to_string())
        }
        MmmError::NoSpend
        | MmmError::Misaligned { .. }
        | MmmError::DuplicateChannel { .. }
        | MmmError::InvalidSpend { .. } => AnalyticsError::invalid("items", err.to_string()),
        MmmError::InvalidRevenue { .. } | MmmError::ConstantRevenue => {
            AnalyticsError::invalid("currency", format!("revenue in the currency: {err}"))
        }
        MmmError::InvalidSettings { .. } | MmmError::Numerical => {
            AnalyticsError::Internal(err.to_string())
        }
    }
}

#[cfg(test)]
mod tests {

    use super::*;
    use crate::config::AnalyticsConfig;
    use crate::store::buckets::Totals;

    /// 2026-01-01T00:00:00Z.
    const DAY0: i64 = 1_767_225_600_000;

    struct Fixture {
        _db: crate::testing::TestDb,
        app: AnalyticsApp,
        tenant: String,
    }

    /// An app over a fresh SQLite database with one tenant.
    async fn fixture() -> Fixture {
        let (db, app) = crate::testing::test_app(AnalyticsConfig::default()).await;
        let tenant = platform::ids::new_id();
        let mut tx = app.db.begin().await.expect("begin");
        crate::store::tenants::put_tenant(&mut tx, &tenant, "Mixed", app.clock.now_millis())
            .await
            .expect("tenant");
        tx.commit().await.expect("commit");
        Fixture {
            _db: db,
            app,
            tenant,
        }
    }

    fn usd(amount: i64) -> Money {
        Money {
            amount,
            currency: "USD".into(),
        }
    }

    fn field_of(result: &Result<MmmAnswer, AnalyticsError>) -> Option<&str> {
        match result {
            Err(AnalyticsError::Invalid { field, .. }) => Some(field),
            _ => None,
        }
    }

    #[tokio::test]
    async fn a_spend_span_of_millennia_is_refused_before_anything_is_allocated() {
        let f = fixture().await;
        let far = [(-719_162, Channel::Email), (2_932_896, Channel::PaidSearch)]; // 0001-01-01, 9999-12-31
        let items: Vec<SpendItem> = far
            .into_iter()
            .map(|(day, channel)| SpendItem {
                day: day * DAY,
                channel,
                amount: usd(1_000),
            })
            .collect();
        f.app.put_spend(&f.tenant, &items).await.expect("spend");
        let refused = f.app.marketing_mix(&f.tenant, None, None).await;
        assert_eq!(field_of(&refused), Some("from"), "{refused:?}");

        let empty = Period {
            from: DAY0,
            to: DAY0,
        };
        let refused = f.app.marketing_mix(&f.tenant, Some(empty), None).await;
        assert_eq!(field_of(&refused), Some("from"), "{refused:?}");
    }

    #[tokio::test]
    async fn a_day_of_more_refunds_than_orders_counts_as_no_revenue() {
        let f = fixture().await;
        let mut items = Vec::new();
        let mut tx = f.app.db.begin().await.expect("begin");
        for d in 0..30 {
            let email = 5_000 + (d % 7) * 1_000;
            let search = if d % 2 == 0 { 20_000 } else { 0 };
            let day = DAY0 + d * DAY;
            items.push(SpendItem {
                day,
                channel: Channel::Email,
                amount: usd(email),
            });
            items.push(SpendItem {
                day,
                channel: Channel::PaidSearch,
                amount: usd(search),
            });
            // Day 9's refunds are larger than its orders.
            let revenue = if d == 9 {
                -40_000
            } else {
                50_000 + 3 * email + 2 * search + (d * 37 % 11) * 100
            };
            let totals = Totals {
                conversions: 1,
                revenue,
                ..Totals::default()
            };
            buckets::add_to_totals(&mut tx, &f.tenant, "USD", day + 12 * 3_600_000, totals)
                .await
                .expect("totals");
        }
        tx.commit().await.expect("commit");
        f.app.put_spend(&f.tenant, &items).await.expect("spend");

        let answer = f
            .app
            .marketing_mix(&f.tenant, None, None)
            .await
            .expect("fitted");
        assert_eq!(answer.fit.days, 30);
        assert_eq!(answer.channels.len(), 2);

        let refused = f.app.marketing_mix(&f.tenant, None, Some("EUR")).await;
        assert_eq!(field_of(&refused), Some("currency"), "{refused:?}");
    }

    #[test]
    fn periods_are_whole_days_within_the_models_limit() {
        let days = |n: i64| Period {
            from: DAY0,
            to: DAY0 + n * DAY,
        };
        assert_eq!(period_days(days(1)).ok(), Some(1));
        let max = i64::try_from(mmm::MAX_DAYS).expect("small");
        assert_eq!(period_days(days(max)).ok(), Some(mmm::MAX_DAYS));
        for bad in [
            days(0),
            days(-3),
            days(max + 1),
            Period {
                from: i64::MIN,
                to: i64::MAX,
            },
        ] {
            assert!(
                matches!(period_days(bad), Err(AnalyticsError::Invalid { ref field, .. }) if field == "from"),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn refusals_name_the_field_that_would_change_them() {
        let field = |err: MmmError| match mmm_refused(err) {
            AnalyticsError::Invalid { field, .. } => field,
            AnalyticsError::Internal(_) => "500".to_owned(),
            other => format!("{other:?}"),
        };
        let channel = Channel::Email;
        assert_eq!(
            field(MmmError::TooFewDays {
                days: 3,
                needed: 14
            }),
            "from"
        );
        assert_eq!(
            field(MmmError::TooManyDays {
                days: 9_999,
                max: 3_660
            }),
            "from"
        );
        assert_eq!(field(MmmError::NoSpend), "items");
        assert_eq!(field(MmmError::InvalidSpend { channel, day: 0 }), "items");
        assert_eq!(field(MmmError::DuplicateChannel { channel }), "items");
        assert_eq!(field(MmmError::ConstantRevenue), "currency");
        assert_eq!(field(MmmError::InvalidRevenue { day: 2 }), "currency");
        assert_eq!(field(MmmError::Numerical), "500");
        assert_eq!(field(MmmError::InvalidSettings { field: "draws" }), "500");
    }

    #[tokio::test]
    async fn a_panic_while_fitting_is_an_internal_error() {
        let failed = off_thread(|| -> usize { panic!("the sampler fell over") }).await;
        assert!(
            matches!(failed, Err(AnalyticsError::Internal(_))),
            "{failed:?}"
        );
        assert_eq!(off_thread(|| 7).await.ok(), Some(7));
    }
}
