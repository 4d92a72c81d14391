//! `GET`/`POST /api/v1/reconciliation/runs`, `GET /api/v1/reconciliation/runs/{id}` and its
//! `/discrepancies`, `GET /api/v1/reconciliation/status`: admins only.

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use platform::auth::Principal;
use platform::http::api::{ApiRouter, problems, routes};
use platform::http::{Json, List, PageQuery, Query};
use serde::{Deserialize, Serialize};
use utoipa::openapi::schema::Object;
use utoipa::{IntoParams, ToSchema};

use super::{ApiResult, known_id, names_schema, period};
use crate::app::AnalyticsApp;
use crate::domain::period::DAY;
use crate::domain::reconciliation::{Category, Discrepancy};
use crate::store::reconciliation::{Run, RunStatus, Trigger};

/// `/api/v1/reconciliation/...`.
pub(super) fn api() -> ApiRouter<AnalyticsApp> {
    ApiRouter::new()
        .routes(routes!(list_runs, start_run))
        .routes(routes!(get_run))
        .routes(routes!(list_discrepancies))
        .routes(routes!(status))
        .routes(routes!(status_seed_alias))
}

fn run_statuses() -> Object {
    names_schema(
        [RunStatus::Running, RunStatus::Completed, RunStatus::Failed].map(RunStatus::as_str),
    )
}

fn triggers() -> Object {
    names_schema([Trigger::Manual, Trigger::Daily].map(Trigger::as_str))
}

fn categories() -> Object {
    names_schema(
        [
            Category::AmountMismatch,
            Category::MissingPayment,
            Category::MissingOrder,
        ]
        .map(Category::as_str),
    )
}

/// A reconciliation run: orders matched with payments over a period.
#[derive(Serialize, ToSchema)]
struct RunBody {
    /// Its id.
    id: String,
    /// The tenant reconciled.
    tenant: String,
    /// Where it is.
    #[schema(schema_with = run_statuses)]
    status: &'static str,
    /// Started by an admin (`manual`) or the daily run of the previous day.
    #[schema(schema_with = triggers)]
    trigger: &'static str,
    /// The period's start (RFC 3339).
    from: String,
    /// The period's end (RFC 3339, exclusive).
    to: String,
    /// Orders whose payments match.
    matched: i64,
    /// Orders whose payments name another sum or currency.
    amount_mismatch: i64,
    /// Orders no payment refers to.
    missing_payment: i64,
    /// Payments that refer to no known order.
    missing_order: i64,
    /// When it started (RFC 3339).
    started_at: String,
    /// When it finished (RFC 3339); null while running.
    finished_at: Option<String>,
    /// Why it failed; null unless it did.
    error: Option<String>,
}

impl From<Run> for RunBody {
    fn from(run: Run) -> Self {
        Self {
            id: run.id,
            tenant: run.tenant_id,
            status: run.status.as_str(),
            trigger: run.trigger.as_str(),
            from: platform::time::rfc3339(run.period.from),
            to: platform::time::rfc3339(run.period.to),
            matched: run.matched,
            amount_mismatch: run.amount_mismatch,
            missing_payment: run.missing_payment,
            missing_order: run.missing_order,
            started_at: platform::time::rfc3339(run.started_at),
            finished_at: run.finished_at.map(platform::time::rfc3339),
            error: run.error,
        }
    }
}

/// What to reconcile.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"tenant": "viscount", "from": "2026-03-01T00:00:00Z", "to": "2026-03-02T00:00:00Z"}))]
struct StartRun {
    /// The tenant.
    tenant: String,
    /// The period's start: RFC 3339 or a `YYYY-MM-DD` day.
    #[schema(format = DateTime)]
    from: String,
    /// The period's end (exclusive), at most 366 days after `from`.
    #[schema(format = DateTime)]
    to: String,
}

/// Reconciles a tenant's orders with its payments over a period, now (admins).
#[utoipa::path(
    post,
    path = "/api/v1/reconciliation/runs",
    request_body = StartRun,
    responses(
        (status = 201, description = "The finished run", body = RunBody,
            headers(("Location" = String, description = "The run"))),
        problems::BadRequest, problems::Unauthorized, problems::Forbidden, problems::NotFound,
        problems::Invalid,
    ),
)]
#[tracing::instrument(skip_all)]
async fn start_run(
    State(app): State<AnalyticsApp>,
    caller: Principal,
    Json(body): Json<StartRun>,
) -> ApiResult<Response> {
    caller.require_admin()?;
    let period = period(
        Some(&body.from),
        Some(&body.to),
        app.clock.now_millis(),
        DAY,
        366 * DAY,
    )?;
    let run = app.reconcile(&body.tenant, period).await?;
    let location = format!("/api/v1/reconciliation/runs/{}", run.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(RunBody::from(run)),
    )
        .into_response())
}

/// `GET /api/v1/reconciliation/runs` query (paging is [`PageQuery`]'s).
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct RunsQuery {
    /// Only this tenant's runs.
    tenant: Option<String>,
    #[serde(flatten)]
    #[param(ignore)]
    page: PageQuery,
}

/// Reconciliation runs, newest first, one cursor page at a time (admins).
#[utoipa::path(
    get,
    path = "/api/v1/reconciliation/runs",
    params(RunsQuery, PageQuery),
    responses(
        (status = 200, description = "One page of runs", body = List<RunBody>),
        problems::Unauthorized, problems::Forbidden, problems::Invalid,
    ),
)]
#[tracing::instrument(skip_all)]
async fn list_runs(
    State(app): State<AnalyticsApp>,
    caller: Principal,
    Query(query): Query<RunsQuery>,
) -> ApiResult<Json<List<RunBody>>> {
    caller.require_admin()?;
    let page = query.page.page()?;
    let tenant = query.tenant.as_deref().unwrap_or_default();
    // Text no tenant id holds matches no run (and is not sent to the database, which
    // refuses some of it, a NUL byte, with an error).
    if tenant.chars().any(char::is_control) {
        return Ok(Json(List {
            items: Vec::new(),
            next_cursor: None,
        }));
    }
    let runs = app
        .reconciliation_runs(tenant, page.after.as_deref(), page.fetch_limit())
        .await?;
    let list = List::from_rows(runs, &page, |run| run.id.clone());
    Ok(Json(List {
        items: list.items.into_iter().map(RunBody::from).collect(),
        next_cursor: list.next_cursor,
    }))
}

/// A reconciliation run (admins).
#[utoipa::path(
    get,
    path = "/api/v1/reconciliation/runs/{id}",
    params(("id" = String, Path, format = "uuid", description = "The run's id")),
    responses(
        (status = 200, description = "The run", body = RunBody),
        problems::Unauthorized, problems::Forbidden, problems::NotFound,
    ),
)]
#[tracing::instrument(skip_all, fields(run_id = %id))]
async fn get_run(
    State(app): State<AnalyticsApp>,
    caller: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<RunBody>> {
    caller.require_admin()?;
    known_id(&id, "run")?;
    Ok(Json(app.reconciliation_run(&id).await?.into()))
}

/// Something a run found that does not reconcile.
#[derive(Serialize, ToSchema)]
struct DiscrepancyBody {
    /// What kind.
    #[schema(schema_with = categories)]
    category: &'static str,
    /// The order reference it is about (the payment's own id for a payment without
    /// one).
    reference: String,
    /// The order's amount in minor units; null without an order.
    order_amount: Option<i64>,
    /// What the payments referring to it sum to, in minor units; null without any.
    payment_amount: Option<i64>,
    /// The currency (the order's, else the payments').
    currency: Option<String>,
    /// The payments involved.
    payment_ids: Vec<String>,
}

impl From<Discrepancy> for DiscrepancyBody {
    fn from(found: Discrepancy) -> Self {
        Self {
            category: found.category.as_str(),
            reference: found.reference,
            order_amount: found.order_amount,
            payment_amount: found.payment_amount,
            currency: found.currency,
            payment_ids: found.payment_ids,
        }
    }
}

/// A run's discrepancies, one cursor page at a time (admins).
#[utoipa::path(
    get,
    path = "/api/v1/reconciliation/runs/{id}/discrepancies",
    params(("id" = String, Path, format = "uuid", description = "The run's id"), PageQuery),
    responses(
        (status = 200, description = "One page of discrepancies", body = List<DiscrepancyBody>),
        problems::Unauthorized, problems::Forbidden, problems::NotFound, problems::Invalid,
    ),
)]
#[tracing::instrument(skip_all, fields(run_id = %id))]
async fn list_discrepancies(
    State(app): State<AnalyticsApp>,
    caller: Principal,
    Path(id): Path<String>,
    Query(query): Query<PageQuery>,
) -> ApiResult<Json<List<DiscrepancyBody>>> {
    caller.require_admin()?;
    known_id(&id, "run")?;
    app.reconciliation_run(&id).await?;
    let page = query.page()?;
    let rows = app
        .discrepancies(&id, page.after.as_deref(), page.fetch_limit())
        .await?;
    let list = List::from_rows(rows, &page, |(position, _)| position.clone());
    Ok(Json(List {
        items: list.items.into_iter().map(|(_, d)| d.into()).collect(),
        next_cursor: list.next_cursor,
    }))
}

/// `GET /api/v1/reconciliation/status` query.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct StatusQuery {
    /// Only this tenant's latest run.
    tenant: Option<String>,
}

/// The latest runs.
#[derive(Serialize, ToSchema)]
struct StatusBody {
    /// The latest run of each tenant.
    items: Vec<RunBody>,
}

/// The latest reconciliation run of each tenant, or of one (admins).
#[utoipa::path(
    get,
    path = "/api/v1/reconciliation/status",
    params(StatusQuery),
    responses(
        (status = 200, description = "The latest runs", body = StatusBody),
        problems::Unauthorized, problems::Forbidden, problems::Invalid,
    ),
)]
#[tracing::instrument(skip_all)]
async fn status(
    State(app): State<AnalyticsApp>,
    caller: Principal,
    Query(query): Query<StatusQuery>,
) -> ApiResult<Json<StatusBody>> {
    caller.require_admin()?;
    // Text no tenant id holds matches no run (and is not sent to the database, which
    // refuses some of it, a NUL byte, with an error).
    if query
        .tenant
        .as_deref()
        .is_some_and(|tenant| tenant.chars().any(char::is_control))
    {
        return Ok(Json(StatusBody { items: Vec::new() }));
    }
    let runs = app.reconciliation_status(query.tenant.as_deref()).await?;
    Ok(Json(StatusBody {
        items: runs.into_iter().map(RunBody::from).collect(),
    }))
}

/// The latest reconciliation run of each tenant, or of one (seed 004's path).
///
/// The same as `GET /api/v1/reconciliation/status` (admins).
#[utoipa::path(
    get,
    path = "/api/reconciliation/status",
    params(StatusQuery),
    responses(
        (status = 200, description = "The latest runs", body = StatusBody),
        problems::Unauthorized, problems::Forbidden, problems::Invalid,
    ),
)]
async fn status_seed_alias(
    state: State<AnalyticsApp>,
    caller: Principal,
    query: Query<StatusQuery>,
) -> ApiResult<Json<StatusBody>> {
    status(state, caller, query).await
}
