//! Viscount's own business as KPIs: each ordering, payments and inventory event adds to
//! its minute (orders placed, confirmed and cancelled, payments authorized and failed,
//! revenue, confirmed orders and refunds per currency, units sold) and stock on hand is
//! followed per sku; and the KPIs of a period read back from those minutes
//! (`GET /api/v1/analytics/kpis`, and the dashboards' summaries).
//!
//! A minute counts in a period when it starts inside it. The answer's per-minute series
//! is zero-filled (every minute, quiet ones at 0) when the period is at most a day, a
//! chart's worth of points; over longer periods it lists only the minutes with activity,
//! so a year's answer grows with the business rather than with the calendar.

use std::collections::BTreeMap;

use contracts::inventory::{StockCommitted, StockUpdated};
use contracts::ordering::{OrderCancelled, OrderConfirmed, OrderCreated};
use contracts::payments::{PaymentAuthorized, PaymentFailed, RefundProcessed};
use contracts::{Event, Money};
use platform::bus::Envelope;
use platform::db::{Conn, Tx};
use serde::Serialize;

use super::{AnalyticsApp, AnalyticsError};
use crate::domain::kpis::{
    MINUTE, Step, StockLevels, Totals, bucket_starts, dominant_currency, figures,
};
use crate::domain::period::{DAY, Period, minute_of};
use crate::store::kpis::{self, Count, MoneyFigures};

/// The event types the KPIs are made of.
pub const KPI_EVENTS: [&str; 8] = [
    OrderCreated::TYPE,
    OrderConfirmed::TYPE,
    OrderCancelled::TYPE,
    PaymentAuthorized::TYPE,
    PaymentFailed::TYPE,
    RefundProcessed::TYPE,
    StockCommitted::TYPE,
    StockUpdated::TYPE,
];

impl AnalyticsApp {
    /// Adds one of Viscount's own events to its minute (others are ignored).
    pub(crate) async fn record_kpi_in(
        &self,
        tx: &mut Tx,
        event: &Envelope,
    ) -> Result<(), AnalyticsError> {
        let at =
            platform::time::parse_rfc3339(&event.time).unwrap_or_else(|| self.clock.now_millis());
        let minute = minute_of(at);
        if event.is::<OrderCreated>() {
            kpis::add_count(tx, minute, Count::OrdersCreated, 1).await?;
        } else if event.is::<OrderConfirmed>() {
            let confirmed: OrderConfirmed = event.decode().map_err(decode_error)?;
            kpis::add_count(tx, minute, Count::OrdersConfirmed, 1).await?;
            if let Some(total) = confirmed.total {
                kpis::add_sale(tx, minute, &total.currency, total.amount).await?;
            }
        } else if event.is::<OrderCancelled>() {
            kpis::add_count(tx, minute, Count::OrdersCancelled, 1).await?;
        } else if event.is::<PaymentAuthorized>() {
            kpis::add_count(tx, minute, Count::PaymentsAuthorized, 1).await?;
        } else if event.is::<PaymentFailed>() {
            kpis::add_count(tx, minute, Count::PaymentsFailed, 1).await?;
        } else if event.is::<RefundProcessed>() {
            let refund: RefundProcessed = event.decode().map_err(decode_error)?;
            kpis::add_money(tx, minute, &refund.amount.currency, 0, refund.amount.amount).await?;
        } else if event.is::<StockCommitted>() {
            let committed: StockCommitted = event.decode().map_err(decode_error)?;
            let units: i64 = committed
                .allocations
                .iter()
                .map(|a| i64::from(a.quantity))
                .sum();
            kpis::add_count(tx, minute, Count::UnitsSold, units).await?;
        } else if event.is::<StockUpdated>() {
            let updated: StockUpdated = event.decode().map_err(decode_error)?;
            kpis::set_stock(tx, &updated.sku, updated.on_hand, at, &event.id).await?;
        }
        Ok(())
    }
}

/// A payload that does not fit its type.
fn decode_error(err: serde_json::Error) -> AnalyticsError {
    AnalyticsError::invalid("data", format!("does not fit the event type: {err}"))
}

/// The KPIs of a period without the series: what the KPI answer and the dashboards'
/// summaries share.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct KpiSummary {
    /// The period's start (RFC 3339).
    pub from: String,
    /// The period's end (RFC 3339, exclusive).
    pub to: String,
    /// The currency money is given in: the one asked for, else the one with the most
    /// revenue in the period, else the configured default.
    pub currency: String,
    /// Orders placed.
    pub orders: i64,
    /// Orders placed per minute of the period.
    pub orders_per_minute: f64,
    /// Orders confirmed in the currency.
    pub orders_confirmed: i64,
    /// Revenue over confirmed orders (minor units, rounded half away from zero); null
    /// without confirmed orders.
    pub average_order_value: Option<Money>,
    /// Payments authorized.
    pub payments_authorized: i64,
    /// Payments that failed.
    pub payments_failed: i64,
    /// authorized / (authorized + failed); null without payments.
    pub payment_success_rate: Option<f64>,
    /// Units that left the warehouses for orders.
    pub units_sold: i64,
    /// The time-weighted average of the units on hand over the period.
    pub average_units_on_hand: Option<f64>,
    /// Units sold over the average units on hand; null when nothing was on hand.
    pub inventory_turnover: Option<f64>,
    /// Revenue of the confirmed orders.
    pub revenue: Money,
    /// Refunded (positive).
    pub refunds: Money,
    /// Orders cancelled.
    pub cancellations: i64,
    /// Cancelled over placed (orders cancelled in the period may have been placed
    /// before it); null without orders placed.
    pub cancellation_rate: Option<f64>,
}

/// One minute of the KPI series.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct KpiMinute {
    /// The minute's start (RFC 3339).
    pub minute: String,
    /// Orders placed.
    pub orders: i64,
    /// Revenue of the orders confirmed in it, in the answer's currency.
    pub revenue: Money,
    /// Payments that failed.
    pub payment_failures: i64,
    /// Payments authorized.
    pub payments_authorized: i64,
    /// Orders cancelled.
    pub cancellations: i64,
}

/// `GET /api/v1/analytics/kpis`: the summary and the per-minute series.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Kpis {
    /// The period's KPIs.
    #[serde(flatten)]
    pub summary: KpiSummary,
    /// Whether `series` holds every minute of the period (periods of at most a day) or
    /// only the minutes with activity (longer ones).
    pub series_zero_filled: bool,
    /// Per minute, in order.
    pub series: Vec<KpiMinute>,
}

/// The built-in tenant whose business the KPIs, dashboards and anomaly alerts are about
/// (seeded by the first migration; the HTTP layer's default tenant too).
pub(crate) const OWN_TENANT: &str = "viscount";

/// The longest period whose series lists every minute.
const ZERO_FILLED_SPAN: i64 = DAY;

impl AnalyticsApp {
    /// The KPIs of `period`, money in `currency` (or the period's main currency).
    pub async fn kpis(
        &self,
        period: Period,
        currency: Option<&str>,
    ) -> Result<Kpis, AnalyticsError> {
        let mut reader = self.db.reader().acquire().await?;
        let summary = self.kpi_summary_in(&mut reader, period, currency).await?;
        let step = MINUTE;
        let counts = kpis::count_buckets(&mut reader, period, step).await?;
        let money = kpis::money_buckets(&mut reader, period, &summary.currency, step).await?;
        let zero_filled_series = period.to - period.from <= ZERO_FILLED_SPAN;
        let mut minutes: BTreeMap<i64, (kpis::Minute, i64)> = BTreeMap::new();
        if zero_filled_series {
            for minute in bucket_starts(period, Step::Minute) {
                minutes.insert(
                    minute,
                    (
                        kpis::Minute {
                            minute,
                            ..Default::default()
                        },
                        0,
                    ),
                );
            }
        }
        for counted in counts {
            let minute = counted.minute;
            minutes.entry(minute).or_default().0 = counted;
        }
        for (minute, figures) in money {
            minutes.entry(minute).or_default().1 = figures.revenue;
        }
        let series = minutes
            .into_iter()
            .map(|(minute, (counted, revenue))| KpiMinute {
                minute: platform::time::rfc3339(minute),
                orders: counted.orders_created,
                revenue: Money {
                    amount: revenue,
                    currency: summary.currency.clone(),
                },
                payment_failures: counted.payments_failed,
                payments_authorized: counted.payments_authorized,
                cancellations: counted.orders_cancelled,
            })
            .collect();
        Ok(Kpis {
            summary,
            series_zero_filled: zero_filled_series,
            series,
        })
    }

    /// The KPIs of `period` without the series.
    pub async fn kpi_summary(
        &self,
        period: Period,
        currency: Option<&str>,
    ) -> Result<KpiSummary, AnalyticsError> {
        let mut reader = self.db.reader().acquire().await?;
        self.kpi_summary_in(&mut reader, period, currency).await
    }

    /// The currency a KPI question about `period` is answered in: `requested`, else the
    /// one with the most revenue in the period, else the configured default.
    pub(crate) fn kpi_currency(&self, requested: Option<&str>, money: &[MoneyFigures]) -> String {
        requested
            .or_else(|| dominant_currency(money.iter().map(|m| (m.currency.as_str(), m.revenue))))
            .unwrap_or(&self.config.default_currency)
            .to_owned()
    }

    /// The platform's stock on hand over `period`.
    pub(crate) async fn stock_levels_in(
        &self,
        reader: &mut Conn,
        period: Period,
    ) -> Result<StockLevels, AnalyticsError> {
        let (start, changes) = kpis::stock_history(reader, period).await?;
        Ok(StockLevels { start, changes })
    }

    async fn kpi_summary_in(
        &self,
        reader: &mut Conn,
        period: Period,
        currency: Option<&str>,
    ) -> Result<KpiSummary, AnalyticsError> {
        let counts = kpis::count_totals(&mut *reader, period).await?;
        let money = kpis::money_totals(&mut *reader, period).await?;
        let stock = self.stock_levels_in(reader, period).await?;
        let currency = self.kpi_currency(currency, &money);
        let in_currency = money
            .into_iter()
            .find(|m| m.currency == currency)
            .unwrap_or_default();
        let totals = Totals {
            orders_created: counts.orders_created,
            orders_cancelled: counts.orders_cancelled,
            payments_authorized: counts.payments_authorized,
            payments_failed: counts.payments_failed,
            units_sold: counts.units_sold,
            orders_confirmed: in_currency.orders,
            revenue: in_currency.revenue,
            refunds: in_currency.refunds,
        };
        let figures = figures(&totals, &stock, period);
        let money = |amount| Money {
            amount,
            currency: currency.clone(),
        };
        Ok(KpiSummary {
            from: platform::time::rfc3339(period.from),
            to: platform::time::rfc3339(period.to),
            currency: currency.clone(),
            orders: totals.orders_created,
            orders_per_minute: figures.orders_per_minute,
            orders_confirmed: totals.orders_confirmed,
            average_order_value: figures.average_order_value.map(money),
            payments_authorized: totals.payments_authorized,
            payments_failed: totals.payments_failed,
            payment_success_rate: figures.payment_success_rate,
            units_sold: totals.units_sold,
            average_units_on_hand: figures.average_on_hand,
            inventory_turnover: figures.inventory_turnover,
            revenue: money(totals.revenue),
            refunds: money(totals.refunds),
            cancellations: totals.orders_cancelled,
            cancellation_rate: figures.cancellation_rate,
        })
    }
}
