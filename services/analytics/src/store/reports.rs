//! Reports, their files and their schedules; and the reads the report templates need
//! that the read models' own stores do not answer: per-day sums of the hour buckets and
//! of the minutes, stock levels per sku, and the reconciliation runs of a period.
//!
//! A report's state changes only from `pending`, by the replica whose claim still
//! stands (`claimed_at`), so two replicas never both render or finish one. A schedule
//! runs only if its `next_run_at` is still the one the run was computed from, so a due
//! schedule makes one report however many replicas see it. Files are stored base64
//! (the query layer binds text; reports are small).

use platform::db::{Executor, Row, Tx, decoded, named};

use crate::domain::attribution::Model;
use crate::domain::period::{DAY, Period};
use crate::domain::report::{Format, Template};
use crate::domain::reporting::{Recipient, Report, ReportState, Schedule};
use crate::domain::schedule::CronSchedule;

const REPORT: &str = "SELECT id, template, format, tenant_id, period_from, period_to, status, \
     schedule_id, recipient, error, requested_at, completed_at FROM reports";

const SCHEDULE: &str = "SELECT id, template, format, cron, recipient, tenant_id, next_run_at, \
     last_run_at, created_at FROM report_schedules";

/// Stores a new report.
pub async fn insert_report(tx: &mut Tx, report: &Report) -> Result<(), platform::db::Error> {
    let state = report.state();
    platform::db::query(
        "INSERT INTO reports (id, template, format, tenant_id, period_from, period_to, status, \
         schedule_id, recipient, error, requested_at, completed_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(&report.id)
    .bind(report.template.id())
    .bind(report.format.as_str())
    .bind(&report.tenant)
    .bind(report.period.from)
    .bind(report.period.to)
    .bind(state.as_str())
    .bind(&report.schedule_id)
    .bind(report.recipient.as_ref().map(Recipient::as_str))
    .bind(state.error())
    .bind(report.requested_at)
    .bind(state.completed_at())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The report `id`.
pub async fn report<'e>(
    ex: impl Executor<'e>,
    id: &str,
) -> Result<Option<Report>, platform::db::Error> {
    platform::db::query(&format!("{REPORT} WHERE id = $1"))
        .bind(id)
        .fetch_optional(ex)
        .await?
        .as_ref()
        .map(report_of)
        .transpose()
}

/// Which end of the list of reports comes first.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ListOrder {
    /// As they were asked for (ids grow with time).
    #[default]
    OldestFirst,
    /// The latest first: what a person looks for.
    NewestFirst,
}

/// A page of reports (of schedule `schedule` only, when named) in `order`, continuing
/// past id `after`.
pub async fn reports<'e>(
    ex: impl Executor<'e>,
    schedule: Option<&str>,
    after: Option<&str>,
    limit: i64,
    order: ListOrder,
) -> Result<Vec<Report>, platform::db::Error> {
    let page = match order {
        ListOrder::OldestFirst => "id > $2 ORDER BY id",
        ListOrder::NewestFirst => "($2 = '' OR id < $2) ORDER BY id DESC",
    };
    platform::db::query(&format!(
        "{REPORT} WHERE ($1 = '' OR schedule_id = $1) AND {page} LIMIT $3"
    ))
    .bind(schedule.unwrap_or(""))
    .bind(after.unwrap_or(""))
    .bind(limit)
    .fetch_all(ex)
    .await?
    .iter()
    .map(report_of)
    .collect()
}

/// Up to `limit` pending reports no replica holds a claim on (none, or one made before
/// `stale_before`), oldest first.
pub async fn claimable<'e>(
    ex: impl Executor<'e>,
    stale_before: i64,
    limit: i64,
) -> Result<Vec<String>, platform::db::Error> {
    platform::db::query_scalar(
        "SELECT id FROM reports WHERE status = 'pending' \
         AND (claimed_at IS NULL OR claimed_at < $1) ORDER BY requested_at, id LIMIT $2",
    )
    .bind(stale_before)
    .bind(limit)
    .fetch_all(ex)
    .await
}

/// Claims pending report `id` for the caller as `claim` (a time, ms); false when
/// another replica holds a claim made at or after `stale_before`, or it is not pending.
pub async fn claim(
    db: &platform::db::Db,
    id: &str,
    claim: i64,
    stale_before: i64,
) -> Result<bool, platform::db::Error> {
    let done = db
        .execute_alone(
            platform::db::query(
                "UPDATE reports SET claimed_at = $2 WHERE id = $1 AND status = 'pending' \
                 AND (claimed_at IS NULL OR claimed_at < $3)",
            )
            .bind(id)
            .bind(claim)
            .bind(stale_before),
        )
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Stores `report`'s finished state (and its file, when completed), if it is still
/// pending under the caller's `claim`; false when it is not (another replica took it
/// over and finished first), and then nothing is written.
pub async fn finish(
    tx: &mut Tx,
    report: &Report,
    claim: i64,
    file: Option<&[u8]>,
) -> Result<bool, platform::db::Error> {
    let state = report.state();
    let done = platform::db::query(
        "UPDATE reports SET status = $2, error = $3, completed_at = $4 \
         WHERE id = $1 AND status = 'pending' AND claimed_at = $5",
    )
    .bind(&report.id)
    .bind(state.as_str())
    .bind(state.error())
    .bind(state.completed_at())
    .bind(claim)
    .execute(&mut **tx)
    .await?;
    if done.rows_affected() != 1 {
        return Ok(false);
    }
    if let Some(file) = file {
        platform::db::query("INSERT INTO report_files (report_id, content) VALUES ($1, $2)")
            .bind(&report.id)
            .bind(data_encoding::BASE64.encode(file))
            .execute(&mut **tx)
            .await?;
    }
    Ok(true)
}

/// The file of completed report `id`.
pub async fn file<'e>(
    ex: impl Executor<'e>,
    id: &str,
) -> Result<Option<Vec<u8>>, platform::db::Error> {
    let content: Option<String> =
        platform::db::query_scalar("SELECT content FROM report_files WHERE report_id = $1")
            .bind(id)
            .fetch_optional(ex)
            .await?;
    content
        .map(|text| decoded("content", data_encoding::BASE64.decode(text.as_bytes())))
        .transpose()
}

fn report_of(row: &Row) -> Result<Report, platform::db::Error> {
    let template: String = row.try_get("template")?;
    let format: String = row.try_get("format")?;
    let status: String = row.try_get("status")?;
    let recipient: Option<String> = row.try_get("recipient")?;
    let completed_at: Option<i64> = row.try_get("completed_at")?;
    let error: Option<String> = row.try_get("error")?;
    let state = ReportState::from_parts(&status, completed_at, error)
        .ok_or_else(|| platform::db::Error::unknown("status", &status))?;
    let tenant: Option<String> = row.try_get("tenant_id")?;
    let from: Option<i64> = row.try_get("period_from")?;
    let to: Option<i64> = row.try_get("period_to")?;
    let (Some(tenant), Some(from), Some(to)) = (tenant, from, to) else {
        // Every report this service stores has them; the columns are nullable only for
        // reports that cover no period, which no template makes.
        return Err(platform::db::Error::undecodable(
            "period_from",
            "a report without its tenant or period",
        ));
    };
    Ok(Report::stored(
        row.try_get("id")?,
        named("template", &template, Template::parse)?,
        named("format", &format, Format::parse)?,
        tenant,
        Period { from, to },
        row.try_get("schedule_id")?,
        recipient
            .map(|raw| decoded("recipient", Recipient::try_from(raw.as_str())))
            .transpose()?,
        row.try_get("requested_at")?,
        state,
    ))
}

/// Stores a new schedule.
pub async fn insert_schedule(tx: &mut Tx, schedule: &Schedule) -> Result<(), platform::db::Error> {
    platform::db::query(
        "INSERT INTO report_schedules (id, template, format, cron, recipient, tenant_id, \
         next_run_at, last_run_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&schedule.id)
    .bind(schedule.template.id())
    .bind(schedule.format.as_str())
    .bind(schedule.cron.expression())
    .bind(schedule.recipient.as_str())
    .bind(&schedule.tenant)
    .bind(schedule.next_run_at())
    .bind(schedule.last_run_at())
    .bind(schedule.created_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The schedule `id`.
pub async fn schedule<'e>(
    ex: impl Executor<'e>,
    id: &str,
) -> Result<Option<Schedule>, platform::db::Error> {
    platform::db::query(&format!("{SCHEDULE} WHERE id = $1"))
        .bind(id)
        .fetch_optional(ex)
        .await?
        .as_ref()
        .map(schedule_of)
        .transpose()
}

/// A page of schedules after id `after`, oldest first.
pub async fn schedules<'e>(
    ex: impl Executor<'e>,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<Schedule>, platform::db::Error> {
    platform::db::query(&format!("{SCHEDULE} WHERE id > $1 ORDER BY id LIMIT $2"))
        .bind(after.unwrap_or(""))
        .bind(limit)
        .fetch_all(ex)
        .await?
        .iter()
        .map(schedule_of)
        .collect()
}

/// Up to `limit` schedules due at `now`, the longest due first.
pub async fn due_schedules<'e>(
    ex: impl Executor<'e>,
    now: i64,
    limit: i64,
) -> Result<Vec<Schedule>, platform::db::Error> {
    platform::db::query(&format!(
        "{SCHEDULE} WHERE next_run_at <= $1 ORDER BY next_run_at, id LIMIT $2"
    ))
    .bind(now)
    .bind(limit)
    .fetch_all(ex)
    .await?
    .iter()
    .map(schedule_of)
    .collect()
}

/// Records a run of `schedule` (its new next and last run), if its next run is still
/// `was_due_at`; false when another replica ran it first (or it was deleted).
pub async fn record_run(
    tx: &mut Tx,
    schedule: &Schedule,
    was_due_at: i64,
) -> Result<bool, platform::db::Error> {
    let done = platform::db::query(
        "UPDATE report_schedules SET next_run_at = $2, last_run_at = $3 \
         WHERE id = $1 AND next_run_at = $4",
    )
    .bind(&schedule.id)
    .bind(schedule.next_run_at())
    .bind(schedule.last_run_at())
    .bind(was_due_at)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Deletes schedule `id`; false when there is none. Its reports stay.
pub async fn delete_schedule(db: &platform::db::Db, id: &str) -> Result<bool, platform::db::Error> {
    let done = db
        .execute_alone(platform::db::query("DELETE FROM report_schedules WHERE id = $1").bind(id))
        .await?;
    Ok(done.rows_affected() > 0)
}

fn schedule_of(row: &Row) -> Result<Schedule, platform::db::Error> {
    let template: String = row.try_get("template")?;
    let format: String = row.try_get("format")?;
    let cron: String = row.try_get("cron")?;
    let recipient: String = row.try_get("recipient")?;
    let tenant: Option<String> = row.try_get("tenant_id")?;
    Ok(Schedule::stored(
        row.try_get("id")?,
        named("template", &template, Template::parse)?,
        named("format", &format, Format::parse)?,
        decoded("cron", CronSchedule::parse(&cron))?,
        decoded("recipient", Recipient::try_from(recipient.as_str()))?,
        tenant.ok_or_else(|| {
            platform::db::Error::undecodable("tenant_id", "a schedule without its tenant")
        })?,
        row.try_get("created_at")?,
        row.try_get("next_run_at")?,
        row.try_get("last_run_at")?,
    ))
}

/// One tenant's day in one currency, from the hour totals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayTotals {
    /// The day's first instant, ms.
    pub day: i64,
    /// ISO 4217.
    pub currency: String,
    /// Orders.
    pub orders: i64,
    /// Net revenue (orders and adjustments less refunds), minor units.
    pub revenue: i64,
    /// Given back, minor units (positive).
    pub refunds: i64,
}

/// `tenant`'s totals per day and currency over the hour buckets in `period`, in order.
pub async fn daily_totals<'e>(
    ex: impl Executor<'e>,
    tenant: &str,
    period: Period,
) -> Result<Vec<DayTotals>, platform::db::Error> {
    // SUM of a BIGINT is NUMERIC on PostgreSQL; the cast keeps it an integer there.
    platform::db::query(&format!(
        "SELECT day, currency, CAST(SUM(conversions) AS BIGINT) AS orders, \
         CAST(SUM(revenue) AS BIGINT) AS revenue, CAST(SUM(refunds) AS BIGINT) AS refunds \
         FROM (SELECT bucket - (bucket % {DAY}) AS day, currency, conversions, revenue, refunds \
         FROM revenue_totals WHERE tenant_id = $1 AND grain = 'hour' AND bucket >= $2 \
         AND bucket < $3) hours GROUP BY day, currency ORDER BY day, currency"
    ))
    .bind(tenant)
    .bind(period.from)
    .bind(period.to)
    .fetch_all(ex)
    .await?
    .iter()
    .map(|row| {
        Ok(DayTotals {
            day: row.try_get("day")?,
            currency: row.try_get("currency")?,
            orders: row.try_get("orders")?,
            revenue: row.try_get("revenue")?,
            refunds: row.try_get("refunds")?,
        })
    })
    .collect()
}

/// One channel's day in one currency under a model, from the hour buckets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayChannel {
    /// The day's first instant, ms.
    pub day: i64,
    /// The channel's name.
    pub channel: String,
    /// ISO 4217.
    pub currency: String,
    /// Net revenue credited to the channel, minor units.
    pub revenue: i64,
    /// Given back, minor units (positive).
    pub refunds: i64,
    /// Orders that gave the channel credit.
    pub conversions: i64,
}

/// `tenant`'s revenue per day, currency and channel under `model` over the hour
/// buckets in `period` (days, then currencies, then channels, in order).
pub async fn daily_channels<'e>(
    ex: impl Executor<'e>,
    tenant: &str,
    model: Model,
    period: Period,
) -> Result<Vec<DayChannel>, platform::db::Error> {
    platform::db::query(&format!(
        "SELECT day, currency, channel, CAST(SUM(revenue) AS BIGINT) AS revenue, \
         CAST(SUM(refunds) AS BIGINT) AS refunds, CAST(SUM(conversions) AS BIGINT) AS conversions \
         FROM (SELECT bucket - (bucket % {DAY}) AS day, currency, channel, revenue, refunds, \
         conversions FROM revenue_buckets WHERE tenant_id = $1 AND model = $2 AND grain = 'hour' \
         AND bucket >= $3 AND bucket < $4) hours \
         GROUP BY day, currency, channel ORDER BY day, currency, channel"
    ))
    .bind(tenant)
    .bind(model.as_str())
    .bind(period.from)
    .bind(period.to)
    .fetch_all(ex)
    .await?
    .iter()
    .map(|row| {
        Ok(DayChannel {
            day: row.try_get("day")?,
            channel: row.try_get("channel")?,
            currency: row.try_get("currency")?,
            revenue: row.try_get("revenue")?,
            refunds: row.try_get("refunds")?,
            conversions: row.try_get("conversions")?,
        })
    })
    .collect()
}

/// Viscount's own counts of one day, from the minutes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DayCounts {
    /// The day's first instant, ms.
    pub day: i64,
    /// Orders cancelled.
    pub orders_cancelled: i64,
    /// Payments authorized.
    pub payments_authorized: i64,
    /// Payments that failed.
    pub payments_failed: i64,
    /// Units sold.
    pub units_sold: i64,
}

/// Viscount's own counts per day over the minutes in `period`, in order.
pub async fn daily_counts<'e>(
    ex: impl Executor<'e>,
    period: Period,
) -> Result<Vec<DayCounts>, platform::db::Error> {
    platform::db::query(&format!(
        "SELECT day, CAST(SUM(orders_cancelled) AS BIGINT) AS orders_cancelled, \
         CAST(SUM(payments_authorized) AS BIGINT) AS payments_authorized, \
         CAST(SUM(payments_failed) AS BIGINT) AS payments_failed, \
         CAST(SUM(units_sold) AS BIGINT) AS units_sold \
         FROM (SELECT minute - (minute % {DAY}) AS day, orders_cancelled, payments_authorized, \
         payments_failed, units_sold FROM kpi_counts WHERE minute >= $1 AND minute < $2) minutes \
         GROUP BY day ORDER BY day"
    ))
    .bind(period.from)
    .bind(period.to)
    .fetch_all(ex)
    .await?
    .iter()
    .map(|row| {
        Ok(DayCounts {
            day: row.try_get("day")?,
            orders_cancelled: row.try_get("orders_cancelled")?,
            payments_authorized: row.try_get("payments_authorized")?,
            payments_failed: row.try_get("payments_failed")?,
            units_sold: row.try_get("units_sold")?,
        })
    })
    .collect()
}

/// Viscount's own refunds per day and currency over the minutes in `period` (days with
/// refunds only, in order): `(day, currency, refunded)`.
pub async fn daily_refunds<'e>(
    ex: impl Executor<'e>,
    period: Period,
) -> Result<Vec<(i64, String, i64)>, platform::db::Error> {
    platform::db::query(&format!(
        "SELECT day, currency, CAST(SUM(refunds) AS BIGINT) AS refunds \
         FROM (SELECT minute - (minute % {DAY}) AS day, currency, refunds FROM kpi_money \
         WHERE minute >= $1 AND minute < $2 AND refunds <> 0) minutes \
         GROUP BY day, currency ORDER BY day, currency"
    ))
    .bind(period.from)
    .bind(period.to)
    .fetch_all(ex)
    .await?
    .iter()
    .map(|row| {
        Ok((
            row.try_get("day")?,
            row.try_get("currency")?,
            row.try_get("refunds")?,
        ))
    })
    .collect()
}

/// Up to `limit` skus with their units on hand now, by sku.
pub async fn stock_levels<'e>(
    ex: impl Executor<'e>,
    limit: i64,
) -> Result<Vec<(String, i64)>, platform::db::Error> {
    platform::db::query("SELECT sku, on_hand FROM stock_levels ORDER BY sku LIMIT $1")
        .bind(limit)
        .fetch_all(ex)
        .await?
        .iter()
        .map(|row| Ok((row.try_get("sku")?, row.try_get("on_hand")?)))
        .collect()
}

/// The ids of up to `limit` of `tenant`'s reconciliation runs whose period overlaps
/// `period`, in the order they started.
pub async fn runs_overlapping<'e>(
    ex: impl Executor<'e>,
    tenant: &str,
    period: Period,
    limit: i64,
) -> Result<Vec<String>, platform::db::Error> {
    platform::db::query_scalar(
        "SELECT id FROM reconciliation_runs WHERE tenant_id = $1 AND period_from < $3 \
         AND period_to > $2 ORDER BY started_at, id LIMIT $4",
    )
    .bind(tenant)
    .bind(period.from)
    .bind(period.to)
    .bind(limit)
    .fetch_all(ex)
    .await
}
