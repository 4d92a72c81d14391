//! Reports and their schedules, admins only: `GET /api/v1/reports/templates`,
//! `POST /api/v1/reports/generate` (202; a worker renders it), `GET /api/v1/reports`
//! and `/{id}`, `GET /api/v1/reports/{id}/download` (409 until it is completed),
//! `POST /api/v1/reports/schedule` (also `POST /api/v1/reports/schedules`),
//! `GET /api/v1/reports/schedules` and `/{id}`, `DELETE /api/v1/reports/schedules/{id}`.
//!
//! Requests are turned into domain values here (template, format, cron expression,
//! recipient; every invalid field named in one 422); the app never sees a raw string
//! with rules.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use platform::auth::Principal;
use platform::http::{Fields, Json, List, PageQuery, Problem, Query};
use serde::{Deserialize, Serialize};

use super::{ApiResult, one_tenant, period};
use crate::app::{AnalyticsApp, ReportFile};
use crate::domain::period::DAY;
use crate::domain::report::{Format, Template};
use crate::domain::reporting::{MAX_SPAN, NEVER, Recipient, Report, ReportState, Schedule};
use crate::domain::schedule::CronSchedule;

/// What a report covers when the request names no `from`: the week before `to`.
const DEFAULT_SPAN: i64 = 7 * DAY;
/// How long a client waits before asking for a pending report's file again, seconds.
const RETRY_AFTER_SECS: u64 = 2;

pub(super) fn routes() -> Router<AnalyticsApp> {
    Router::new()
        .route("/api/v1/reports", get(list_reports))
        .route("/api/v1/reports/templates", get(templates))
        .route("/api/v1/reports/generate", post(generate))
        .route("/api/v1/reports/{id}", get(get_report))
        .route("/api/v1/reports/{id}/download", get(download))
        .route("/api/v1/reports/schedule", post(create_schedule))
        .route(
            "/api/v1/reports/schedules",
            get(list_schedules).post(create_schedule),
        )
        .route(
            "/api/v1/reports/schedules/{id}",
            get(get_schedule).delete(delete_schedule),
        )
}

/// A template as listed.
#[derive(Serialize)]
struct TemplateBody {
    id: &'static str,
    name: &'static str,
    description: &'static str,
}

#[derive(Serialize)]
struct Items<T> {
    items: Vec<T>,
}

#[tracing::instrument(skip_all)]
async fn templates(caller: Principal) -> ApiResult<Json<Items<TemplateBody>>> {
    caller.require_admin()?;
    Ok(Json(Items {
        items: Template::ALL
            .into_iter()
            .map(|t| TemplateBody {
                id: t.id(),
                name: t.name(),
                description: t.description(),
            })
            .collect(),
    }))
}

/// A report as the API shows it.
#[derive(Serialize)]
struct ReportBody {
    id: String,
    template: &'static str,
    format: &'static str,
    status: &'static str,
    tenant: String,
    from: String,
    to: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    schedule_id: Option<String>,
    requested_at: String,
    completed_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    download: Option<String>,
}

impl From<Report> for ReportBody {
    fn from(report: Report) -> Self {
        let state = report.state();
        Self {
            template: report.template.id(),
            format: report.format.as_str(),
            status: state.as_str(),
            from: platform::time::rfc3339(report.period.from),
            to: platform::time::rfc3339(report.period.to),
            requested_at: platform::time::rfc3339(report.requested_at),
            completed_at: state.completed_at().map(platform::time::rfc3339),
            error: state.error().map(str::to_owned),
            download: matches!(state, ReportState::Completed { .. })
                .then(|| report.download_path()),
            id: report.id,
            tenant: report.tenant,
            schedule_id: report.schedule_id,
        }
    }
}

fn parse_template(raw: &str) -> Result<Template, String> {
    Template::parse(raw.trim()).ok_or_else(|| {
        let known: Vec<&str> = Template::ALL.iter().map(|t| t.id()).collect();
        format!("must be one of {}", known.join(", "))
    })
}

fn parse_format(raw: &str) -> Result<Format, &'static str> {
    Format::parse(raw.trim()).ok_or("must be one of csv, json, pdf")
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GenerateBody {
    template: String,
    format: String,
    from: Option<String>,
    to: Option<String>,
    tenant: Option<String>,
}

#[tracing::instrument(skip_all)]
async fn generate(
    State(app): State<AnalyticsApp>,
    caller: Principal,
    Json(body): Json<GenerateBody>,
) -> ApiResult<Response> {
    caller.require_admin()?;
    let mut fields = Fields::default();
    let template = fields.check("template", parse_template(&body.template));
    let format = fields.check("format", parse_format(&body.format));
    let (Some(template), Some(format)) = (template, format) else {
        return Err(fields.into_problem());
    };
    let tenant = one_tenant(&caller, body.tenant.as_deref())?;
    let period = period(
        body.from.as_deref(),
        body.to.as_deref(),
        app.clock.now_millis(),
        DEFAULT_SPAN,
        MAX_SPAN,
    )?;
    let report = app
        .request_report(template, format, &tenant, period)
        .await?;
    let location = format!("/api/v1/reports/{}", report.id);
    Ok((
        StatusCode::ACCEPTED,
        [(header::LOCATION, location)],
        Json(ReportBody::from(report)),
    )
        .into_response())
}

#[derive(Deserialize)]
struct ReportsQuery {
    schedule: Option<String>,
    #[serde(flatten)]
    page: PageQuery,
}

#[tracing::instrument(skip_all)]
async fn list_reports(
    State(app): State<AnalyticsApp>,
    caller: Principal,
    Query(query): Query<ReportsQuery>,
) -> ApiResult<Json<List<ReportBody>>> {
    caller.require_admin()?;
    let page = query.page.page()?;
    let reports = app
        .reports(
            query.schedule.as_deref(),
            page.after.as_deref(),
            page.fetch_limit(),
        )
        .await?;
    let list = List::from_rows(reports, &page, |report| report.id.clone());
    Ok(Json(List {
        items: list.items.into_iter().map(ReportBody::from).collect(),
        next_cursor: list.next_cursor,
    }))
}

/// 404 for an id that cannot be one (no database round trip).
fn known_id(id: &str, what: &str) -> ApiResult<()> {
    if platform::ids::is_uuid(id) {
        Ok(())
    } else {
        Err(Problem::not_found(what))
    }
}

#[tracing::instrument(skip_all, fields(report_id = %id))]
async fn get_report(
    State(app): State<AnalyticsApp>,
    caller: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<ReportBody>> {
    caller.require_admin()?;
    known_id(&id, "report")?;
    Ok(Json(app.report(&id).await?.into()))
}

#[tracing::instrument(skip_all, fields(report_id = %id))]
async fn download(
    State(app): State<AnalyticsApp>,
    caller: Principal,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    caller.require_admin()?;
    known_id(&id, "report")?;
    let (report, file) = app.report_file(&id).await?;
    match (file, report.state()) {
        (ReportFile::Ready(bytes), _) => {
            let disposition = format!("attachment; filename=\"{}\"", report.file_name());
            Ok((
                [
                    (
                        header::CONTENT_TYPE,
                        report.format.content_type().to_owned(),
                    ),
                    (header::CONTENT_DISPOSITION, disposition),
                ],
                bytes,
            )
                .into_response())
        }
        (ReportFile::NotReady, ReportState::Failed { error, .. }) => Err(Problem::conflict(
            "report-failed",
            format!("the report failed and has no file: {error}"),
        )),
        (ReportFile::NotReady, _) => Err(Problem::conflict(
            "report-pending",
            "the report is still being generated; try again shortly",
        )
        .with_retry_after(RETRY_AFTER_SECS)),
    }
}

/// A schedule as the API shows it.
#[derive(Serialize)]
struct ScheduleBody {
    id: String,
    template: &'static str,
    format: &'static str,
    cron: String,
    recipient: String,
    tenant: String,
    /// Null when the expression matches no later time.
    next_run_at: Option<String>,
    last_run_at: Option<String>,
    created_at: String,
}

impl From<Schedule> for ScheduleBody {
    fn from(schedule: Schedule) -> Self {
        Self {
            template: schedule.template.id(),
            format: schedule.format.as_str(),
            cron: schedule.cron.expression().to_owned(),
            recipient: schedule.recipient.as_str().to_owned(),
            next_run_at: (schedule.next_run_at() != NEVER)
                .then(|| platform::time::rfc3339(schedule.next_run_at())),
            last_run_at: schedule.last_run_at().map(platform::time::rfc3339),
            created_at: platform::time::rfc3339(schedule.created_at),
            id: schedule.id,
            tenant: schedule.tenant,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScheduleRequest {
    template: String,
    format: String,
    cron: String,
    recipient: String,
    tenant: Option<String>,
}

#[tracing::instrument(skip_all)]
async fn create_schedule(
    State(app): State<AnalyticsApp>,
    caller: Principal,
    Json(body): Json<ScheduleRequest>,
) -> ApiResult<Response> {
    caller.require_admin()?;
    let mut fields = Fields::default();
    let template = fields.check("template", parse_template(&body.template));
    let format = fields.check("format", parse_format(&body.format));
    let cron = fields.check("cron", CronSchedule::parse(&body.cron));
    let recipient = fields.check("recipient", Recipient::try_from(body.recipient.as_str()));
    let (Some(template), Some(format), Some(cron), Some(recipient)) =
        (template, format, cron, recipient)
    else {
        return Err(fields.into_problem());
    };
    let tenant = one_tenant(&caller, body.tenant.as_deref())?;
    let schedule = app
        .create_schedule(template, format, cron, recipient, &tenant)
        .await?;
    let location = format!("/api/v1/reports/schedules/{}", schedule.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(ScheduleBody::from(schedule)),
    )
        .into_response())
}

#[tracing::instrument(skip_all)]
async fn list_schedules(
    State(app): State<AnalyticsApp>,
    caller: Principal,
    Query(query): Query<PageQuery>,
) -> ApiResult<Json<List<ScheduleBody>>> {
    caller.require_admin()?;
    let page = query.page()?;
    let schedules = app
        .schedules(page.after.as_deref(), page.fetch_limit())
        .await?;
    let list = List::from_rows(schedules, &page, |schedule| schedule.id.clone());
    Ok(Json(List {
        items: list.items.into_iter().map(ScheduleBody::from).collect(),
        next_cursor: list.next_cursor,
    }))
}

#[tracing::instrument(skip_all, fields(schedule_id = %id))]
async fn get_schedule(
    State(app): State<AnalyticsApp>,
    caller: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<ScheduleBody>> {
    caller.require_admin()?;
    known_id(&id, "schedule")?;
    Ok(Json(app.schedule(&id).await?.into()))
}

#[tracing::instrument(skip_all, fields(schedule_id = %id))]
async fn delete_schedule(
    State(app): State<AnalyticsApp>,
    caller: Principal,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    caller.require_admin()?;
    known_id(&id, "schedule")?;
    app.delete_schedule(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}
