//! What each report template shows, as a [`Table`] drawn from analytics' own read
//! models (never another service's data):
//!
//! - `sales_summary`: per day and currency, the tenant's orders, net revenue, refunds
//!   and average order value (from the hour totals); for Viscount's own business also
//!   the orders cancelled that day (from the KPI minutes).
//! - `revenue_by_channel`: per day, channel and currency under last-touch attribution,
//!   the revenue credited, the conversions, the average order value and the refunds.
//! - `attribution_by_model`: per channel and currency, the revenue credited over the
//!   whole period under each of the five models side by side (from the realtime
//!   answer, so the two always agree).
//! - `reconciliation`: the tenant's runs whose period overlaps the report's, with their
//!   counts, then each discrepancy of the latest completed one.
//! - `inventory`: units on hand per sku now, then a total row with the units sold in the
//!   period, the time-weighted average units on hand and the turnover.
//! - `payments`: per day, payments authorized and failed, the success rate, and refunds
//!   per currency.
//!
//! Money is a money cell with a currency column beside it (CSV and PDF write money as
//! a bare decimal). Days are UTC; only days with figures have rows. Where one day has
//! figures in several currencies, its counts stand on its first row only, so a column
//! still sums to the period's total.

use std::collections::{BTreeMap, BTreeSet};

use contracts::ingestion::Channel;

use super::{AnalyticsApp, AnalyticsError};
use crate::app::RevenueQuery;
use crate::domain::attribution::Model;
use crate::domain::kpis::{StockLevels, ratio, rounded_average, turnover};
use crate::domain::period::{Period, instant};
use crate::domain::report::{Cell, Table, Template};
use crate::domain::reporting::{OWN_TENANT, Report};
use crate::store::reports::{self as store, DayChannel, DayCounts, DayTotals};
use crate::store::{buckets, kpis, reconciliation};

/// Most discrepancies a reconciliation report lists.
const MAX_DISCREPANCIES: usize = 10_000;
/// Discrepancies read per query.
const DISCREPANCY_PAGE: i64 = 1_000;
/// Most reconciliation runs a report lists.
const MAX_RUNS: i64 = 1_000;
/// Most skus an inventory report lists.
const MAX_SKUS: usize = 10_000;

/// A template's columns, its rows, and a note on what was left out (if anything).
type Body = (&'static [&'static str], Vec<Vec<Cell>>, Option<String>);

const SALES_COLUMNS: &[&str] = &[
    "Day",
    "Currency",
    "Orders",
    "Revenue",
    "Refunds",
    "Average order value",
    "Cancelled orders",
];
const CHANNEL_COLUMNS: &[&str] = &[
    "Day",
    "Channel",
    "Currency",
    "Revenue",
    "Conversions",
    "Average order value",
    "Refunds",
];
const MODEL_COLUMNS: &[&str] = &[
    "Channel",
    "Currency",
    "Last touch",
    "First touch",
    "Linear",
    "Time decay",
    "Position based",
];
const RECONCILIATION_COLUMNS: &[&str] = &[
    "Run",
    "Started",
    "Period",
    "Status",
    "Matched",
    "Amount mismatch",
    "Missing payment",
    "Missing order",
    "Discrepancy",
    "Reference",
    "Currency",
    "Order amount",
    "Payment amount",
];
const INVENTORY_COLUMNS: &[&str] = &[
    "SKU",
    "On hand",
    "Units sold",
    "Average on hand",
    "Turnover",
];
const PAYMENT_COLUMNS: &[&str] = &[
    "Day",
    "Payments authorized",
    "Payments failed",
    "Success rate",
    "Refunds",
    "Currency",
];

impl AnalyticsApp {
    /// `report`'s table.
    pub(crate) async fn report_table(&self, report: &Report) -> Result<Table, AnalyticsError> {
        let (tenant, period) = (report.tenant.as_str(), report.period);
        let (columns, rows, note) = match report.template {
            Template::SalesSummary => self.sales_summary(tenant, period).await?,
            Template::RevenueByChannel => self.revenue_by_channel(tenant, period).await?,
            Template::AttributionByModel => self.attribution_by_model(tenant, period).await?,
            Template::Reconciliation => self.reconciliation_report(tenant, period).await?,
            Template::Inventory => self.inventory_report(period).await?,
            Template::Payments => self.payments_report(period).await?,
        };
        let mut subtitle = format!(
            "{} to {} (UTC), tenant {tenant}",
            minute_text(period.from),
            minute_text(period.to)
        );
        if let Some(note) = note {
            subtitle.push_str("; ");
            subtitle.push_str(&note);
        }
        Ok(Table {
            title: report.template.name().to_owned(),
            subtitle,
            columns: columns.iter().map(|c| (*c).to_owned()).collect(),
            rows,
        })
    }

    async fn sales_summary(&self, tenant: &str, period: Period) -> Result<Body, AnalyticsError> {
        let mut reader = self.db.reader().acquire().await?;
        let totals = store::daily_totals(&mut reader, tenant, period).await?;
        // Cancellations are known only of Viscount's own orders (ordering's events).
        let cancelled = if tenant == OWN_TENANT {
            let counts = store::daily_counts(&mut reader, period).await?;
            Some(counts.iter().map(|d| (d.day, d.orders_cancelled)).collect())
        } else {
            None
        };
        Ok((SALES_COLUMNS, sales_rows(&totals, cancelled.as_ref()), None))
    }

    async fn revenue_by_channel(
        &self,
        tenant: &str,
        period: Period,
    ) -> Result<Body, AnalyticsError> {
        let days =
            store::daily_channels(self.db.reader(), tenant, Model::LastTouch, period).await?;
        Ok((CHANNEL_COLUMNS, channel_rows(&days), None))
    }

    async fn attribution_by_model(
        &self,
        tenant: &str,
        period: Period,
    ) -> Result<Body, AnalyticsError> {
        let mut credited: BTreeMap<(String, Channel), [i64; 5]> = BTreeMap::new();
        for currency in buckets::currencies(self.db.reader(), tenant, period).await? {
            for (index, model) in Model::ALL.into_iter().enumerate() {
                let answer = self
                    .realtime(&RevenueQuery {
                        tenant: tenant.to_owned(),
                        model,
                        period,
                        currency: Some(currency.clone()),
                    })
                    .await?;
                for channel in answer.by_channel {
                    credited
                        .entry((currency.clone(), channel.channel))
                        .or_default()[index] += channel.revenue.amount;
                }
            }
        }
        let rows = credited
            .into_iter()
            .map(|((currency, channel), amounts)| {
                let mut row = vec![Cell::text(channel.as_str()), Cell::text(&currency)];
                row.extend(amounts.iter().map(|amount| Cell::money(*amount, &currency)));
                row
            })
            .collect();
        Ok((MODEL_COLUMNS, rows, None))
    }

    async fn reconciliation_report(
        &self,
        tenant: &str,
        period: Period,
    ) -> Result<Body, AnalyticsError> {
        let mut reader = self.db.reader().acquire().await?;
        let mut runs = Vec::new();
        for id in store::runs_overlapping(&mut reader, tenant, period, MAX_RUNS).await? {
            if let Some(run) = reconciliation::run(&mut reader, &id).await? {
                runs.push(run);
            }
        }
        let mut rows: Vec<Vec<Cell>> = runs.iter().map(run_row).collect();
        let mut note = None;
        let latest = runs
            .iter()
            .rev()
            .find(|run| run.status == reconciliation::RunStatus::Completed);
        if let Some(latest) = latest {
            let mut after: Option<String> = None;
            let mut listed = 0;
            loop {
                let page = reconciliation::discrepancies(
                    &mut reader,
                    &latest.id,
                    after.as_deref(),
                    DISCREPANCY_PAGE,
                )
                .await?;
                let full = page.len() as i64 == DISCREPANCY_PAGE;
                for (position, found) in page {
                    if listed == MAX_DISCREPANCIES {
                        note = Some(format!(
                            "only the first {MAX_DISCREPANCIES} discrepancies are listed"
                        ));
                        break;
                    }
                    rows.push(discrepancy_row(&latest.id, &found));
                    listed += 1;
                    after = Some(position);
                }
                if !full || note.is_some() {
                    break;
                }
            }
        }
        Ok((RECONCILIATION_COLUMNS, rows, note))
    }

    async fn inventory_report(&self, period: Period) -> Result<Body, AnalyticsError> {
        let mut reader = self.db.reader().acquire().await?;
        let limit = i64::try_from(MAX_SKUS + 1).unwrap_or(i64::MAX);
        let mut levels = store::stock_levels(&mut reader, limit).await?;
        let note = (levels.len() > MAX_SKUS).then(|| {
            levels.truncate(MAX_SKUS);
            format!("only the first {MAX_SKUS} skus are listed")
        });
        let units_sold = store::daily_counts(&mut reader, period)
            .await?
            .iter()
            .map(|d| d.units_sold)
            .sum();
        let (start, changes) = kpis::stock_history(&mut reader, period).await?;
        let stock = StockLevels { start, changes };
        Ok((
            INVENTORY_COLUMNS,
            inventory_rows(&levels, units_sold, &stock, period),
            note,
        ))
    }

    async fn payments_report(&self, period: Period) -> Result<Body, AnalyticsError> {
        let mut reader = self.db.reader().acquire().await?;
        let counts = store::daily_counts(&mut reader, period).await?;
        let refunds = store::daily_refunds(&mut reader, period).await?;
        Ok((PAYMENT_COLUMNS, payment_rows(&counts, &refunds), None))
    }
}

/// `at` as `YYYY-MM-DD HH:MM`.
fn minute_text(at: i64) -> String {
    let at = instant(at);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute()
    )
}

/// The day holding `at` as `YYYY-MM-DD`.
fn day_text(at: i64) -> String {
    minute_text(at).chars().take(10).collect()
}

/// An amount when there is one, else an empty cell.
fn money_or_empty(amount: Option<i64>, currency: &str) -> Cell {
    amount.map_or(Cell::Empty, |amount| Cell::money(amount, currency))
}

/// A ratio when there is one, else an empty cell (a rate over nothing is no rate).
fn ratio_or_empty(value: Option<f64>) -> Cell {
    value.map_or(Cell::Empty, Cell::Ratio)
}

fn sales_rows(totals: &[DayTotals], cancelled: Option<&BTreeMap<i64, i64>>) -> Vec<Vec<Cell>> {
    let mut days: BTreeSet<i64> = totals.iter().map(|t| t.day).collect();
    if let Some(cancelled) = cancelled {
        days.extend(
            cancelled
                .iter()
                .filter(|(_, n)| **n != 0)
                .map(|(day, _)| *day),
        );
    }
    let mut rows = Vec::new();
    for day in days {
        let cancelled_cell = || match cancelled {
            Some(cancelled) => Cell::Int(cancelled.get(&day).copied().unwrap_or(0)),
            None => Cell::Empty,
        };
        let of_day: Vec<&DayTotals> = totals.iter().filter(|t| t.day == day).collect();
        if of_day.is_empty() {
            rows.push(vec![
                Cell::text(day_text(day)),
                Cell::Empty,
                Cell::Int(0),
                Cell::Empty,
                Cell::Empty,
                Cell::Empty,
                cancelled_cell(),
            ]);
        }
        for (index, t) in of_day.into_iter().enumerate() {
            // The order value before refunds: what a customer spent per order.
            let average = rounded_average(t.revenue.saturating_add(t.refunds), t.orders);
            rows.push(vec![
                Cell::text(day_text(day)),
                Cell::text(&t.currency),
                Cell::Int(t.orders),
                Cell::money(t.revenue, &t.currency),
                Cell::money(t.refunds, &t.currency),
                money_or_empty(average, &t.currency),
                if index == 0 {
                    cancelled_cell()
                } else {
                    Cell::Empty
                },
            ]);
        }
    }
    rows
}

fn channel_rows(days: &[DayChannel]) -> Vec<Vec<Cell>> {
    days.iter()
        .filter(|d| d.revenue != 0 || d.refunds != 0 || d.conversions != 0)
        .map(|d| {
            vec![
                Cell::text(day_text(d.day)),
                Cell::text(&d.channel),
                Cell::text(&d.currency),
                Cell::money(d.revenue, &d.currency),
                Cell::Int(d.conversions),
                money_or_empty(rounded_average(d.revenue, d.conversions), &d.currency),
                Cell::money(d.refunds, &d.currency),
            ]
        })
        .collect()
}

fn run_row(run: &reconciliation::Run) -> Vec<Cell> {
    vec![
        Cell::text(&run.id),
        Cell::text(minute_text(run.started_at)),
        Cell::text(format!(
            "{} to {}",
            minute_text(run.period.from),
            minute_text(run.period.to)
        )),
        Cell::text(run.status.as_str()),
        Cell::Int(run.matched),
        Cell::Int(run.amount_mismatch),
        Cell::Int(run.missing_payment),
        Cell::Int(run.missing_order),
        Cell::Empty,
        Cell::Empty,
        Cell::Empty,
        Cell::Empty,
        Cell::Empty,
    ]
}

fn discrepancy_row(run_id: &str, found: &crate::domain::reconciliation::Discrepancy) -> Vec<Cell> {
    // An amount without a known currency is shown as the bare number it was stored as.
    let amount = |value: Option<i64>| match (value, &found.currency) {
        (Some(amount), Some(currency)) => Cell::money(amount, currency),
        (Some(amount), None) => Cell::Int(amount),
        (None, _) => Cell::Empty,
    };
    vec![
        Cell::text(run_id),
        Cell::Empty,
        Cell::Empty,
        Cell::Empty,
        Cell::Empty,
        Cell::Empty,
        Cell::Empty,
        Cell::Empty,
        Cell::text(found.category.as_str()),
        Cell::text(&found.reference),
        found.currency.as_deref().map_or(Cell::Empty, Cell::text),
        amount(found.order_amount),
        amount(found.payment_amount),
    ]
}

fn inventory_rows(
    levels: &[(String, i64)],
    units_sold: i64,
    stock: &StockLevels,
    period: Period,
) -> Vec<Vec<Cell>> {
    let mut rows: Vec<Vec<Cell>> = levels
        .iter()
        .map(|(sku, on_hand)| {
            vec![
                Cell::text(sku),
                Cell::Int(*on_hand),
                Cell::Empty,
                Cell::Empty,
                Cell::Empty,
            ]
        })
        .collect();
    let average = stock.time_weighted_average(period);
    rows.push(vec![
        Cell::text("All SKUs"),
        Cell::Int(levels.iter().map(|(_, on_hand)| *on_hand).sum()),
        Cell::Int(units_sold),
        // Whole units: a fraction of a unit on hand reads as noise in a report.
        average.map_or(Cell::Empty, |a| Cell::Int(a.round() as i64)),
        ratio_or_empty(turnover(units_sold, average)),
    ]);
    rows
}

fn payment_rows(counts: &[DayCounts], refunds: &[(i64, String, i64)]) -> Vec<Vec<Cell>> {
    let mut days: BTreeSet<i64> = counts
        .iter()
        .filter(|c| c.payments_authorized != 0 || c.payments_failed != 0)
        .map(|c| c.day)
        .collect();
    days.extend(refunds.iter().map(|(day, _, _)| *day));
    let mut rows = Vec::new();
    for day in days {
        let count = counts
            .iter()
            .find(|c| c.day == day)
            .copied()
            .unwrap_or_default();
        let attempts = count
            .payments_authorized
            .saturating_add(count.payments_failed);
        let mut of_day = refunds.iter().filter(|(d, _, _)| *d == day);
        let first = of_day.next();
        rows.push(vec![
            Cell::text(day_text(day)),
            Cell::Int(count.payments_authorized),
            Cell::Int(count.payments_failed),
            ratio_or_empty(ratio(count.payments_authorized, attempts)),
            first.map_or(Cell::Empty, |(_, currency, amount)| {
                Cell::money(*amount, currency)
            }),
            first.map_or(Cell::Empty, |(_, currency, _)| Cell::text(currency)),
        ]);
        for (_, currency, amount) in of_day {
            rows.push(vec![
                Cell::text(day_text(day)),
                Cell::Empty,
                Cell::Empty,
                Cell::Empty,
                Cell::money(*amount, currency),
                Cell::text(currency),
            ]);
        }
    }
    rows
}

#[cfg(test)]
mod tests;
