//! Reports and their schedules, admins only: `GET /api/v1/reports/templates`,
//! `POST /api/v1/reports/generate` (202; a worker renders it), `GET /api/v1/reports`
//! and `/{id}`, `GET /api/v1/reports/{id}/download` (409 until it is completed),
//! `POST /api/v1/reports/schedule` (also `POST /api/v1/reports/schedules`),
//! `GET /api/v1/reports/schedules` and `/{id}`, `DELETE /api/v1/reports/schedules/{id}`.
//!
//! Requests are turned into domain values here (template, format, cron expression,
//! recipient; every invalid field named in one 422); the app never sees a raw string
//! with rules.

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use platform::auth::Principal;
use platform::http::api::{ApiRouter, problems, routes};
use platform::http::{Fields, Json, List, PageQuery, Problem, Query};
use serde::{Deserialize, Serialize};
use utoipa::openapi::schema::Object;
use utoipa::{IntoParams, ToSchema};

use super::{ApiResult, known_id, names_schema, one_tenant, period};
use crate::app::{AnalyticsApp, ReportFile};
use crate::domain::period::DAY;
use crate::domain::report::{Format, Template};
use crate::domain::reporting::{MAX_SPAN, NEVER, Recipient, Report, ReportState, Schedule};
use crate::domain::schedule::CronSchedule;
use crate::store::reports::ListOrder;

/// What a report covers when the request names no `from`: the week before `to`.
const DEFAULT_SPAN: i64 = 7 * DAY;
/// How long a client waits before asking for a pending report's file again, seconds.
const RETRY_AFTER_SECS: u64 = 2;

/// `/api/v1/reports/...`.
pub(super) fn api() -> ApiRouter<AnalyticsApp> {
    ApiRouter::new()
        .routes(routes!(list_reports))
        .routes(routes!(templates))
        .routes(routes!(generate))
        .routes(routes!(get_report))
        .routes(routes!(download))
        .routes(routes!(create_schedule))
        .routes(routes!(list_schedules, create_schedule_alias))
        .routes(routes!(get_schedule, delete_schedule))
}

fn template_ids() -> Object {
    names_schema(Template::ALL.map(Template::id))
}

fn format_names() -> Object {
    names_schema(Format::ALL.map(Format::as_str))
}

fn report_statuses() -> Object {
    names_schema(
        [
            ReportState::Pending,
            ReportState::Completed { at: 0 },
            ReportState::Failed {
                at: 0,
                error: String::new(),
            },
        ]
        .map(|state| state.as_str()),
    )
}

/// A template as listed.
#[derive(Serialize, ToSchema)]
struct TemplateBody {
    /// Its id, for `template`.
    #[schema(schema_with = template_ids)]
    id: &'static str,
    /// Its name (the report's title).
    name: &'static str,
    /// What it shows.
    description: &'static str,
}

/// The templates.
#[derive(Serialize, ToSchema)]
struct Items<T> {
    /// Every one.
    items: Vec<T>,
}

/// The report templates (admins).
#[utoipa::path(
    get,
    path = "/api/v1/reports/templates",
    responses(
        (status = 200, description = "Every template", body = Items<TemplateBody>),
        problems::Unauthorized, problems::Forbidden,
    ),
)]
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
#[derive(Serialize, ToSchema)]
struct ReportBody {
    /// Its id.
    id: String,
    /// The template.
    #[schema(schema_with = template_ids)]
    template: &'static str,
    /// The file's format.
    #[schema(schema_with = format_names)]
    format: &'static str,
    /// Where it is: `pending` until a worker renders it.
    #[schema(schema_with = report_statuses)]
    status: &'static str,
    /// The tenant it is about.
    tenant: String,
    /// The period's start (RFC 3339).
    from: String,
    /// The period's end (RFC 3339, exclusive).
    to: String,
    /// The schedule that made it, if one did.
    #[serde(skip_serializing_if = "Option::is_none")]
    schedule_id: Option<String>,
    /// When it was asked for (RFC 3339).
    requested_at: String,
    /// When it was rendered or failed (RFC 3339); null while pending.
    completed_at: Option<String>,
    /// Why it failed, when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    /// Where to download the file, once completed.
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

/// A report to render.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"template": "sales_summary", "format": "csv", "from": "2026-03-01T00:00:00Z", "to": "2026-03-08T00:00:00Z"}))]
struct GenerateBody {
    /// The template (see `GET /api/v1/reports/templates`).
    #[schema(schema_with = template_ids)]
    template: String,
    /// The file's format.
    #[schema(schema_with = format_names)]
    format: String,
    /// The period's start: RFC 3339 or a `YYYY-MM-DD` day; a week before `to` when absent.
    #[schema(format = DateTime)]
    from: Option<String>,
    /// The period's end (exclusive): RFC 3339 or a `YYYY-MM-DD` day; now when absent.
    #[schema(format = DateTime)]
    to: Option<String>,
    /// The tenant (`viscount` when absent; only per-tenant templates take another).
    tenant: Option<String>,
}

/// Asks for a report; a worker renders it and its `status` turns `completed` (admins).
#[utoipa::path(
    post,
    path = "/api/v1/reports/generate",
    request_body = GenerateBody,
    responses(
        (status = 202, description = "Accepted, pending", body = ReportBody,
            headers(("Location" = String, description = "The report"))),
        problems::BadRequest, problems::Unauthorized, problems::Forbidden, problems::NotFound,
        problems::Invalid,
    ),
)]
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

/// `GET /api/v1/reports` query (paging is [`PageQuery`]'s).
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ReportsQuery {
    /// Only the reports this schedule made.
    #[param(format = "uuid")]
    schedule: Option<String>,
    /// `oldest` first (the default) or `newest` first; pass the same order with each
    /// page's cursor.
    #[param(inline)]
    order: Option<ReportsOrder>,
    #[serde(flatten)]
    #[param(ignore)]
    page: PageQuery,
}

/// The order of `GET /api/v1/reports`.
#[derive(Debug, Clone, Copy, Default, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
enum ReportsOrder {
    /// As they were asked for.
    #[default]
    Oldest,
    /// The latest first.
    Newest,
}

/// Reports, oldest (or newest) first, one cursor page at a time (admins).
#[utoipa::path(
    get,
    path = "/api/v1/reports",
    params(ReportsQuery, PageQuery),
    responses(
        (status = 200, description = "One page of reports", body = List<ReportBody>),
        problems::Unauthorized, problems::Forbidden, problems::Invalid,
    ),
)]
#[tracing::instrument(skip_all)]
async fn list_reports(
    State(app): State<AnalyticsApp>,
    caller: Principal,
    Query(query): Query<ReportsQuery>,
) -> ApiResult<Json<List<ReportBody>>> {
    caller.require_admin()?;
    if query
        .schedule
        .as_deref()
        .is_some_and(|id| !platform::ids::is_uuid(id))
    {
        return Err(Problem::invalid_field("schedule", "is not a schedule id"));
    }
    let page = query.page.page()?;
    let reports = app
        .reports(
            query.schedule.as_deref(),
            page.after.as_deref(),
            page.fetch_limit(),
            match query.order.unwrap_or_default() {
                ReportsOrder::Oldest => ListOrder::OldestFirst,
                ReportsOrder::Newest => ListOrder::NewestFirst,
            },
        )
        .await?;
    let list = List::from_rows(reports, &page, |report| report.id.clone());
    Ok(Json(List {
        items: list.items.into_iter().map(ReportBody::from).collect(),
        next_cursor: list.next_cursor,
    }))
}

/// A report (admins).
#[utoipa::path(
    get,
    path = "/api/v1/reports/{id}",
    params(("id" = String, Path, format = "uuid", description = "The report's id")),
    responses(
        (status = 200, description = "The report", body = ReportBody),
        problems::Unauthorized, problems::Forbidden, problems::NotFound,
    ),
)]
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

/// Downloads a completed report's file.
///
/// In the report's format (admins); 409 while it is pending (with `Retry-After`) or
/// when it failed.
#[utoipa::path(
    get,
    path = "/api/v1/reports/{id}/download",
    params(("id" = String, Path, format = "uuid", description = "The report's id")),
    responses(
        (status = 200, description = "The file: CSV (RFC 4180, a header row), JSON `{title, subtitle, columns, rows}` or PDF",
            content(
                (String = "text/csv"),
                (Value = "application/json"),
                ("application/pdf"),
            ),
            headers(("Content-Disposition" = String, description = "An attachment with the report's file name"))),
        problems::Unauthorized, problems::Forbidden, problems::NotFound, problems::Conflict,
    ),
)]
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
#[derive(Serialize, ToSchema)]
struct ScheduleBody {
    /// Its id.
    id: String,
    /// The template.
    #[schema(schema_with = template_ids)]
    template: &'static str,
    /// The file's format.
    #[schema(schema_with = format_names)]
    format: &'static str,
    /// The cron expression (UTC).
    cron: String,
    /// The email address each report goes to.
    recipient: String,
    /// The tenant.
    tenant: String,
    /// The next due time (RFC 3339); null when the expression matches no later time.
    next_run_at: Option<String>,
    /// The last run (RFC 3339); null before the first.
    last_run_at: Option<String>,
    /// When it was made (RFC 3339).
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

/// A report to make on a schedule and send to a recipient.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"template": "sales_summary", "format": "pdf", "cron": "0 6 * * 1", "recipient": "ops@example.com"}))]
struct ScheduleRequest {
    /// The template.
    #[schema(schema_with = template_ids)]
    template: String,
    /// The file's format.
    #[schema(schema_with = format_names)]
    format: String,
    /// A five-field cron expression (minute hour day-of-month month day-of-week, UTC) or
    /// a macro such as `@daily`; it must match some later time.
    #[schema(min_length = 1, max_length = 200)]
    cron: String,
    /// The email address each report goes to.
    #[schema(format = Email, max_length = 254)]
    recipient: String,
    /// The tenant (`viscount` when absent; only per-tenant templates take another).
    tenant: Option<String>,
}

/// Schedules a report.
///
/// The report is made when the cron expression is due and sent to the recipient by
/// notifications (admins).
#[utoipa::path(
    post,
    path = "/api/v1/reports/schedule",
    request_body = ScheduleRequest,
    responses(
        (status = 201, description = "Scheduled", body = ScheduleBody,
            headers(("Location" = String, description = "The schedule"))),
        problems::BadRequest, problems::Unauthorized, problems::Forbidden, problems::NotFound,
        problems::Invalid,
    ),
)]
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

/// Schedules a report (the collection's own path).
///
/// The same as `POST /api/v1/reports/schedule` (admins).
#[utoipa::path(
    post,
    path = "/api/v1/reports/schedules",
    request_body = ScheduleRequest,
    responses(
        (status = 201, description = "Scheduled", body = ScheduleBody,
            headers(("Location" = String, description = "The schedule"))),
        problems::BadRequest, problems::Unauthorized, problems::Forbidden, problems::NotFound,
        problems::Invalid,
    ),
)]
async fn create_schedule_alias(
    state: State<AnalyticsApp>,
    caller: Principal,
    body: Json<ScheduleRequest>,
) -> ApiResult<Response> {
    create_schedule(state, caller, body).await
}

/// Report schedules, one cursor page at a time (admins).
#[utoipa::path(
    get,
    path = "/api/v1/reports/schedules",
    params(PageQuery),
    responses(
        (status = 200, description = "One page of schedules", body = List<ScheduleBody>),
        problems::Unauthorized, problems::Forbidden, problems::Invalid,
    ),
)]
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

/// A report schedule (admins).
#[utoipa::path(
    get,
    path = "/api/v1/reports/schedules/{id}",
    params(("id" = String, Path, format = "uuid", description = "The schedule's id")),
    responses(
        (status = 200, description = "The schedule", body = ScheduleBody),
        problems::Unauthorized, problems::Forbidden, problems::NotFound,
    ),
)]
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

/// Deletes a report schedule (admins).
#[utoipa::path(
    delete,
    path = "/api/v1/reports/schedules/{id}",
    params(("id" = String, Path, format = "uuid", description = "The schedule's id")),
    responses(
        (status = 204, description = "Deleted"),
        problems::Unauthorized, problems::Forbidden, problems::NotFound,
    ),
)]
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
