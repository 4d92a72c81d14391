//! `POST /api/v1/reconciliation/runs`, `GET /api/v1/reconciliation/runs/{id}` and its
//! `/discrepancies`, `GET /api/v1/reconciliation/status`: admins only.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use platform::auth::Principal;
use platform::http::{Json, List, PageQuery, Query};
use serde::{Deserialize, Serialize};

use super::{ApiResult, period};
use crate::app::AnalyticsApp;
use crate::domain::period::DAY;
use crate::domain::reconciliation::Discrepancy;
use crate::store::reconciliation::Run;

pub(super) fn routes() -> Router<AnalyticsApp> {
    Router::new()
        .route("/api/v1/reconciliation/runs", post(start_run))
        .route("/api/v1/reconciliation/runs/{id}", get(get_run))
        .route(
            "/api/v1/reconciliation/runs/{id}/discrepancies",
            get(list_discrepancies),
        )
        .route("/api/v1/reconciliation/status", get(status))
}

/// A run as the API shows it.
#[derive(Serialize)]
struct RunBody {
    id: String,
    tenant: String,
    status: &'static str,
    trigger: &'static str,
    from: String,
    to: String,
    matched: i64,
    amount_mismatch: i64,
    missing_payment: i64,
    missing_order: i64,
    started_at: String,
    finished_at: Option<String>,
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StartRun {
    tenant: String,
    from: String,
    to: String,
}

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

#[tracing::instrument(skip_all, fields(run_id = %id))]
async fn get_run(
    State(app): State<AnalyticsApp>,
    caller: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<RunBody>> {
    caller.require_admin()?;
    Ok(Json(app.reconciliation_run(&id).await?.into()))
}

/// A discrepancy as the API shows it.
#[derive(Serialize)]
struct DiscrepancyBody {
    category: &'static str,
    reference: String,
    order_amount: Option<i64>,
    payment_amount: Option<i64>,
    currency: Option<String>,
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

#[tracing::instrument(skip_all, fields(run_id = %id))]
async fn list_discrepancies(
    State(app): State<AnalyticsApp>,
    caller: Principal,
    Path(id): Path<String>,
    Query(query): Query<PageQuery>,
) -> ApiResult<Json<List<DiscrepancyBody>>> {
    caller.require_admin()?;
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

#[derive(Deserialize)]
struct StatusQuery {
    tenant: Option<String>,
}

#[derive(Serialize)]
struct StatusBody {
    items: Vec<RunBody>,
}

#[tracing::instrument(skip_all)]
async fn status(
    State(app): State<AnalyticsApp>,
    caller: Principal,
    Query(query): Query<StatusQuery>,
) -> ApiResult<Json<StatusBody>> {
    caller.require_admin()?;
    let runs = app.reconciliation_status(query.tenant.as_deref()).await?;
    Ok(Json(StatusBody {
        items: runs.into_iter().map(RunBody::from).collect(),
    }))
}
