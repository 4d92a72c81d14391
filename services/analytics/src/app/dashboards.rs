//! The built-in dashboards (`GET /api/v1/dashboards/{id}`): a few series and a summary
//! each, drawn from the KPI minutes and the attribution read models.
//!
//! - `sales`: orders and revenue per bucket, and the KPI summary;
//! - `payments`: payments authorized and failed per bucket and the success rate;
//! - `attribution`: tenant `viscount`'s revenue per channel and day under last touch;
//! - `inventory`: units sold per bucket and the units on hand at each bucket's end.
//!
//! Buckets are minutes for periods up to 6 hours, hours up to 14 days, days beyond
//! (a few hundred points at most), every bucket present (quiet ones at 0). Money series
//! are minor units of the currency the series names.

use std::collections::BTreeMap;

use contracts::Money;
use contracts::ingestion::Channel;
use serde::Serialize;

use super::kpis::{KpiSummary, OWN_TENANT};
use super::{AnalyticsApp, AnalyticsError};
use crate::domain::attribution::Model;
use crate::domain::kpis::{Step, bucket_starts, zero_filled};
use crate::domain::period::Period;
use crate::store::{buckets, kpis};

/// A built-in dashboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dashboard {
    /// Orders and revenue.
    Sales,
    /// Payments authorized and failed.
    Payments,
    /// Revenue per channel.
    Attribution,
    /// Units sold and stock on hand.
    Inventory,
}

impl Dashboard {
    /// Every dashboard.
    pub const ALL: [Dashboard; 4] = [
        Dashboard::Sales,
        Dashboard::Payments,
        Dashboard::Attribution,
        Dashboard::Inventory,
    ];

    /// Its id in the path: `sales`, `payments`, `attribution`, `inventory`.
    pub fn id(self) -> &'static str {
        match self {
            Dashboard::Sales => "sales",
            Dashboard::Payments => "payments",
            Dashboard::Attribution => "attribution",
            Dashboard::Inventory => "inventory",
        }
    }

    /// The dashboard with `id`, if any.
    pub fn parse(id: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.id() == id)
    }

    /// Its title for people.
    pub fn title(self) -> &'static str {
        match self {
            Dashboard::Sales => "Sales",
            Dashboard::Payments => "Payments",
            Dashboard::Attribution => "Revenue by channel (last touch)",
            Dashboard::Inventory => "Inventory",
        }
    }
}

/// A point's value: a whole number (counts, minor units) or a fraction (rates).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Measure {
    /// Counts, units, minor units.
    Whole(i64),
    /// Ratios.
    Fraction(f64),
}

/// One point of a series.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Point {
    /// The bucket's start (RFC 3339).
    pub t: String,
    /// Its value; null where there is none (a success rate without payments).
    // A whole number is a number too: one schema, not a `oneOf` both branches match.
    #[schema(value_type = Option<f64>)]
    pub v: Option<Measure>,
}

/// One series of a dashboard.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct DashboardSeries {
    /// What it measures (`orders`, `revenue`, a channel, ...).
    pub name: String,
    /// Its unit: `orders`, `payments`, `units`, `minor_units` (of `currency`) or `ratio`.
    pub unit: &'static str,
    /// The currency of a money series.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    /// Its points, in time order.
    pub points: Vec<Point>,
}

/// The payments dashboard's summary.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct PaymentsSummary {
    /// Payments authorized.
    pub authorized: i64,
    /// Payments failed.
    pub failed: i64,
    /// authorized / (authorized + failed); null without payments.
    pub success_rate: Option<f64>,
    /// Refunded (positive).
    pub refunds: Money,
}

/// One channel's share in the attribution dashboard's summary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ChannelTotal {
    /// The channel.
    pub channel: Channel,
    /// Its net revenue under last touch.
    pub revenue: Money,
    /// Orders that gave it credit.
    pub conversions: i64,
}

/// The attribution dashboard's summary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct AttributionSummary {
    /// The tenant (`viscount`).
    pub tenant: String,
    /// The model (`last_touch`).
    pub model: &'static str,
    /// Net revenue over every channel.
    pub total: Money,
    /// Per channel, largest revenue first.
    pub by_channel: Vec<ChannelTotal>,
}

/// The inventory dashboard's summary.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct InventorySummary {
    /// Units that left the warehouses for orders.
    pub units_sold: i64,
    /// The time-weighted average of the units on hand.
    pub average_units_on_hand: Option<f64>,
    /// Units sold over the average units on hand; null when nothing was on hand.
    pub inventory_turnover: Option<f64>,
    /// Units on hand at the period's end.
    pub units_on_hand: i64,
}

/// A dashboard's summary (its shape depends on the dashboard).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum DashboardSummary {
    /// `sales`: the KPIs of the period.
    Sales(Box<KpiSummary>),
    /// `payments`.
    Payments(PaymentsSummary),
    /// `attribution`.
    Attribution(AttributionSummary),
    /// `inventory`.
    Inventory(InventorySummary),
}

/// A dashboard as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct DashboardView {
    /// The dashboard's id.
    pub id: &'static str,
    /// Its title.
    pub title: &'static str,
    /// The period's start (RFC 3339); the attribution dashboard's whole days start at
    /// the day holding the requested start.
    pub from: String,
    /// The period's end (RFC 3339, exclusive).
    pub to: String,
    /// The buckets' width: `minute`, `hour` or `day`.
    pub step: &'static str,
    /// The series.
    pub series: Vec<DashboardSeries>,
    /// The summary.
    pub summary: DashboardSummary,
}

/// Whole-number points of `values` summed into every `step` bucket of `period`.
fn points(period: Period, step: Step, values: &[(i64, i64)]) -> Vec<Point> {
    zero_filled(period, step, values)
        .into_iter()
        .map(|(t, v)| Point {
            t: platform::time::rfc3339(t),
            v: Some(Measure::Whole(v)),
        })
        .collect()
}

/// A series that is not money.
fn series(name: &str, unit: &'static str, points: Vec<Point>) -> DashboardSeries {
    DashboardSeries {
        name: name.to_owned(),
        unit,
        currency: None,
        points,
    }
}

/// A money series in `currency`.
fn money_series(name: &str, currency: &str, points: Vec<Point>) -> DashboardSeries {
    DashboardSeries {
        name: name.to_owned(),
        unit: "minor_units",
        currency: Some(currency.to_owned()),
        points,
    }
}

/// One channel's figures in the attribution dashboard, as they are read.
#[derive(Default)]
struct ChannelDays {
    /// Net revenue per day.
    days: Vec<(i64, i64)>,
    /// Net revenue over the days.
    revenue: i64,
    /// Orders that gave the channel credit.
    conversions: i64,
}

/// The whole UTC days that hold `period`.
fn whole_days(period: Period) -> Period {
    let from = Step::Day.start_of(period.from);
    let last = Step::Day.start_of(period.to);
    Period {
        from,
        to: if last == period.to || period.to <= from {
            last.max(from)
        } else {
            last + Step::Day.millis()
        },
    }
}

impl AnalyticsApp {
    /// `dashboard` over `period`, money in `currency` (or the period's main currency).
    pub async fn dashboard(
        &self,
        dashboard: Dashboard,
        period: Period,
        currency: Option<&str>,
    ) -> Result<DashboardView, AnalyticsError> {
        let step = Step::for_span(period.to - period.from);
        let mut shown = period;
        let (series, summary) = match dashboard {
            Dashboard::Sales => self.sales(period, step, currency).await?,
            Dashboard::Payments => self.payments(period, step, currency).await?,
            Dashboard::Inventory => self.inventory(period, step).await?,
            Dashboard::Attribution => {
                shown = whole_days(period);
                self.attribution(shown, currency).await?
            }
        };
        Ok(DashboardView {
            id: dashboard.id(),
            title: dashboard.title(),
            from: platform::time::rfc3339(shown.from),
            to: platform::time::rfc3339(shown.to),
            step: if dashboard == Dashboard::Attribution {
                Step::Day.as_str()
            } else {
                step.as_str()
            },
            series,
            summary,
        })
    }

    async fn sales(
        &self,
        period: Period,
        step: Step,
        currency: Option<&str>,
    ) -> Result<(Vec<DashboardSeries>, DashboardSummary), AnalyticsError> {
        let summary = self.kpi_summary(period, currency).await?;
        let mut reader = self.db.reader().acquire().await?;
        let counts = kpis::count_buckets(&mut reader, period, step.millis()).await?;
        let money =
            kpis::money_buckets(&mut reader, period, &summary.currency, step.millis()).await?;
        let orders: Vec<(i64, i64)> = counts
            .iter()
            .map(|m| (m.minute, m.orders_created))
            .collect();
        let revenue: Vec<(i64, i64)> = money.iter().map(|(t, m)| (*t, m.revenue)).collect();
        Ok((
            vec![
                series("orders", "orders", points(period, step, &orders)),
                money_series("revenue", &summary.currency, points(period, step, &revenue)),
            ],
            DashboardSummary::Sales(Box::new(summary)),
        ))
    }

    async fn payments(
        &self,
        period: Period,
        step: Step,
        currency: Option<&str>,
    ) -> Result<(Vec<DashboardSeries>, DashboardSummary), AnalyticsError> {
        let summary = self.kpi_summary(period, currency).await?;
        let counts = kpis::count_buckets(self.db.reader(), period, step.millis()).await?;
        let authorized: Vec<(i64, i64)> = counts
            .iter()
            .map(|m| (m.minute, m.payments_authorized))
            .collect();
        let failed: Vec<(i64, i64)> = counts
            .iter()
            .map(|m| (m.minute, m.payments_failed))
            .collect();
        let authorized = zero_filled(period, step, &authorized);
        let failed = zero_filled(period, step, &failed);
        let rates = authorized
            .iter()
            .zip(&failed)
            .map(|(&(t, ok), &(_, failed))| Point {
                t: platform::time::rfc3339(t),
                v: crate::domain::kpis::ratio(ok, ok.saturating_add(failed)).map(Measure::Fraction),
            })
            .collect();
        Ok((
            vec![
                series(
                    "payments_authorized",
                    "payments",
                    points(period, step, &authorized),
                ),
                series("payments_failed", "payments", points(period, step, &failed)),
                series("payment_success_rate", "ratio", rates),
            ],
            DashboardSummary::Payments(PaymentsSummary {
                authorized: summary.payments_authorized,
                failed: summary.payments_failed,
                success_rate: summary.payment_success_rate,
                refunds: summary.refunds,
            }),
        ))
    }

    async fn inventory(
        &self,
        period: Period,
        step: Step,
    ) -> Result<(Vec<DashboardSeries>, DashboardSummary), AnalyticsError> {
        let summary = self.kpi_summary(period, None).await?;
        let mut reader = self.db.reader().acquire().await?;
        let counts = kpis::count_buckets(&mut reader, period, step.millis()).await?;
        let stock = self.stock_levels_in(&mut reader, period).await?;
        let sold: Vec<(i64, i64)> = counts.iter().map(|m| (m.minute, m.units_sold)).collect();
        let on_hand = bucket_starts(period, step)
            .into_iter()
            .map(|t| {
                let end = (t + step.millis()).min(period.to);
                Point {
                    t: platform::time::rfc3339(t),
                    v: Some(Measure::Whole(stock.level_before(end))),
                }
            })
            .collect();
        let units_on_hand = stock
            .changes
            .last()
            .map_or(stock.start, |(_, level)| *level);
        Ok((
            vec![
                series("units_sold", "units", points(period, step, &sold)),
                series("units_on_hand", "units", on_hand),
            ],
            DashboardSummary::Inventory(InventorySummary {
                units_sold: summary.units_sold,
                average_units_on_hand: summary.average_units_on_hand,
                inventory_turnover: summary.inventory_turnover,
                units_on_hand,
            }),
        ))
    }

    /// Revenue per channel and day of `days` (whole days) for tenant `viscount` under
    /// last touch, from the read model the consumer keeps.
    async fn attribution(
        &self,
        days: Period,
        currency: Option<&str>,
    ) -> Result<(Vec<DashboardSeries>, DashboardSummary), AnalyticsError> {
        let mut reader = self.db.reader().acquire().await?;
        let money = kpis::money_totals(&mut reader, days).await?;
        let currency = self.kpi_currency(currency, &money);
        let model = Model::LastTouch;
        let rows = buckets::channel_days(&mut reader, OWN_TENANT, model, &currency, days).await?;
        let mut by_channel: BTreeMap<Channel, ChannelDays> = BTreeMap::new();
        for (day, channel, figures) in rows {
            let entry = by_channel.entry(channel).or_default();
            entry.days.push((day, figures.revenue));
            entry.revenue += figures.revenue;
            entry.conversions += figures.conversions;
        }
        let money = |amount| Money {
            amount,
            currency: currency.clone(),
        };
        let series = by_channel
            .iter()
            .map(|(channel, figures)| {
                money_series(
                    channel.as_str(),
                    &currency,
                    points(days, Step::Day, &figures.days),
                )
            })
            .collect();
        let mut totals: Vec<ChannelTotal> = by_channel
            .into_iter()
            .map(|(channel, figures)| ChannelTotal {
                channel,
                revenue: money(figures.revenue),
                conversions: figures.conversions,
            })
            .collect();
        totals.sort_by_key(|total| std::cmp::Reverse(total.revenue.amount));
        Ok((
            series,
            DashboardSummary::Attribution(AttributionSummary {
                tenant: OWN_TENANT.to_owned(),
                model: model.as_str(),
                total: money(totals.iter().map(|t| t.revenue.amount).sum()),
                by_channel: totals,
            }),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::period::{DAY, HOUR};

    #[test]
    fn dashboards_are_found_by_their_id() {
        for dashboard in Dashboard::ALL {
            assert_eq!(Dashboard::parse(dashboard.id()), Some(dashboard));
        }
        assert_eq!(Dashboard::parse("Sales"), None);
        assert_eq!(Dashboard::parse(""), None);
    }

    #[test]
    fn the_attribution_dashboard_covers_whole_days() {
        let day = 20_000 * DAY;
        let within = Period {
            from: day + 5 * HOUR,
            to: day + DAY + HOUR,
        };
        assert_eq!(
            whole_days(within),
            Period {
                from: day,
                to: day + 2 * DAY
            }
        );
        let exact = Period {
            from: day,
            to: day + DAY,
        };
        assert_eq!(whole_days(exact), exact);
        let empty = Period { from: day, to: day };
        assert_eq!(whole_days(empty), empty);
    }

    #[test]
    fn measures_serialize_as_plain_numbers() {
        let point = Point {
            t: "2026-01-01T00:00:00Z".into(),
            v: Some(Measure::Whole(3)),
        };
        assert_eq!(
            serde_json::to_value(&point).ok(),
            Some(serde_json::json!({"t": "2026-01-01T00:00:00Z", "v": 3}))
        );
        let rate = Point {
            t: "x".into(),
            v: Some(Measure::Fraction(0.5)),
        };
        assert_eq!(
            serde_json::to_value(&rate).ok().map(|v| v["v"].clone()),
            Some(serde_json::json!(0.5))
        );
        let none = Point {
            t: "x".into(),
            v: None,
        };
        assert_eq!(
            serde_json::to_value(&none).ok().map(|v| v["v"].clone()),
            Some(serde_json::Value::Null)
        );
    }
}
