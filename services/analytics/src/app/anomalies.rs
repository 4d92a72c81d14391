//! Anomaly alerts on Viscount's own per-minute series: orders placed, payment failures
//! and revenue (in the configured default currency). A background pass closes every
//! full minute since each series' last one, feeds its value (0 for a quiet minute) to
//! the series' stored baseline, and stages `analytics.anomaly.detected.v1` for tenant
//! `viscount` when the series leaves the band — once per excursion: minutes that stay
//! out on the same side do not alert again until the series has been back inside.
//!
//! The alerts are staged in the transaction that stores the baseline, and the baseline
//! only moves on from the minute its pass read, so when two replicas close the same
//! minutes one of them stores nothing and alerts nothing.

use contracts::analytics::AnomalyDetected;

use super::kpis::OWN_TENANT;
use super::{AnalyticsApp, AnalyticsError};
use crate::domain::anomaly::{Baseline, BaselineSettings};
use crate::domain::kpis::{MINUTE, Step, minutes_to_close, zero_filled};
use crate::domain::period::Period;
use crate::store::baselines::{self, StoredBaseline};
use crate::store::kpis;

/// A watched series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Series {
    /// Orders placed per minute.
    Orders,
    /// Payments failed per minute.
    PaymentFailures,
    /// Revenue of confirmed orders per minute, minor units of one currency.
    Revenue,
}

impl Series {
    const ALL: [Series; 3] = [Series::Orders, Series::PaymentFailures, Series::Revenue];

    /// The event's name of the series.
    fn name(self) -> &'static str {
        match self {
            Series::Orders => "orders",
            Series::PaymentFailures => "payment_failures",
            Series::Revenue => "revenue",
        }
    }

    /// Its row in `baselines`: revenue learns per currency, so a change of the default
    /// currency starts a new baseline instead of reading euros against dollars.
    fn key(self, currency: &str) -> String {
        match self {
            Series::Revenue => format!("revenue:{currency}"),
            other => other.name().to_owned(),
        }
    }
}

impl AnalyticsApp {
    /// One anomaly pass over every series, when detection is on; answers how many
    /// anomalies it raised.
    pub async fn detect_anomalies(&self) -> Result<usize, AnalyticsError> {
        if !self.config.anomaly_detection {
            return Ok(0);
        }
        let now = self.clock.now_millis();
        let mut raised = 0;
        for series in Series::ALL {
            raised += self.close_minutes(series, now).await?;
        }
        Ok(raised)
    }

    /// Closes the minutes of `series` that are due at `now`.
    async fn close_minutes(&self, series: Series, now: i64) -> Result<usize, AnalyticsError> {
        let currency = &self.config.default_currency;
        let key = series.key(currency);
        let stored = baselines::baseline(self.db.reader(), &key).await?;
        let read_at = stored.as_ref().map(|s| s.last_minute);
        let Some(window) = minutes_to_close(read_at, now) else {
            return Ok(0);
        };
        let values = self.minute_values(series, currency, window).await?;
        let mut state = stored.unwrap_or_else(|| StoredBaseline {
            baseline: Baseline::new(),
            last_minute: window.from - MINUTE,
            excursion: None,
        });
        let settings = BaselineSettings::default();
        let mut alerts = Vec::new();
        for (minute, value) in values {
            // Counts and minor units are far inside f64's exact integers.
            let value = value as f64;
            match state.baseline.observe(value, &settings) {
                Some(deviation) => {
                    if state.excursion != Some(deviation.direction) {
                        alerts.push(AnomalyDetected {
                            id: platform::ids::new_id(),
                            series: series.name().to_owned(),
                            tenant_id: OWN_TENANT.to_owned(),
                            minute: platform::time::rfc3339(minute),
                            value,
                            expected: deviation.expected,
                            lower: deviation.lower,
                            upper: deviation.upper,
                            direction: deviation.direction.as_str().to_owned(),
                            currency: (series == Series::Revenue).then(|| currency.clone()),
                        });
                    }
                    state.excursion = Some(deviation.direction);
                }
                None => state.excursion = None,
            }
            state.last_minute = minute;
        }

        let mut tx = self.db.begin().await?;
        let stored = match read_at {
            Some(read_at) => baselines::advance(&mut tx, &key, &state, read_at).await?,
            None => baselines::insert(&mut tx, &key, &state).await?,
        };
        if !stored {
            // Another pass (another replica) closed these minutes first and raised
            // whatever they held.
            tx.rollback().await?;
            return Ok(0);
        }
        for alert in &alerts {
            self.outbox.stage(&mut tx, alert).await?;
        }
        tx.commit().await?;
        if !alerts.is_empty() {
            self.outbox.wake();
        }
        for alert in &alerts {
            tracing::warn!(
                series = %alert.series,
                minute = %alert.minute,
                value = alert.value,
                expected = alert.expected,
                direction = %alert.direction,
                "anomaly detected"
            );
        }
        Ok(alerts.len())
    }

    /// Every minute of `window` with the series' value, quiet minutes at 0.
    async fn minute_values(
        &self,
        series: Series,
        currency: &str,
        window: Period,
    ) -> Result<Vec<(i64, i64)>, AnalyticsError> {
        let reader = self.db.reader();
        let values: Vec<(i64, i64)> = match series {
            Series::Orders | Series::PaymentFailures => kpis::count_buckets(reader, window, MINUTE)
                .await?
                .into_iter()
                .map(|m| {
                    let value = if series == Series::Orders {
                        m.orders_created
                    } else {
                        m.payments_failed
                    };
                    (m.minute, value)
                })
                .collect(),
            Series::Revenue => kpis::money_buckets(reader, window, currency, MINUTE)
                .await?
                .into_iter()
                .map(|(minute, money)| (minute, money.revenue))
                .collect(),
        };
        Ok(zero_filled(window, Step::Minute, &values))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_have_the_events_names_and_revenue_learns_per_currency() {
        let names: Vec<&str> = Series::ALL.iter().map(|s| s.name()).collect();
        assert_eq!(names, ["orders", "payment_failures", "revenue"]);
        assert_eq!(Series::Orders.key("USD"), "orders");
        assert_eq!(Series::Revenue.key("EUR"), "revenue:EUR");
    }
}
