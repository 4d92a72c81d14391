//! `GET /api/v1/export/revenue?format=csv|json`: ledger rows with their allocations, of
//! one tenant and period. JSON is a cursor list; CSV streams every row of the period.

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use platform::auth::Principal;
use platform::http::{Json, List, PageQuery, Problem, Query};
use serde::Deserialize;

use super::{ApiResult, one_tenant, period};
use crate::app::AnalyticsApp;
use crate::domain::period::DAY;

pub(super) fn routes() -> Router<AnalyticsApp> {
    Router::new().route("/api/v1/export/revenue", get(export))
}

#[derive(Deserialize)]
struct ExportQuery {
    format: Option<String>,
    tenant: Option<String>,
    from: Option<String>,
    to: Option<String>,
    #[serde(flatten)]
    page: PageQuery,
}

#[tracing::instrument(skip_all)]
async fn export(
    State(app): State<AnalyticsApp>,
    caller: Principal,
    Query(query): Query<ExportQuery>,
) -> ApiResult<Response> {
    let tenant = one_tenant(&caller, query.tenant.as_deref())?;
    let format = query.format.as_deref().unwrap_or("json");
    if !matches!(format, "csv" | "json") {
        return Err(Problem::invalid_field("format", "must be `csv` or `json`"));
    }
    // Without a period, everything up to now (an export is not bounded to a year).
    let period = period(
        query.from.as_deref(),
        query.to.as_deref(),
        app.clock.now_millis(),
        app.clock.now_millis().saturating_add(DAY),
        i64::MAX,
    )?;
    if format == "csv" {
        let stream = app.export_csv(&tenant, period).await?;
        let name = format!("attachment; filename=\"revenue-{tenant}.csv\"");
        return Ok((
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
                (header::CONTENT_DISPOSITION, name),
            ],
            Body::from_stream(stream),
        )
            .into_response());
    }
    let page = query.page.page()?;
    let rows = app
        .export_page(&tenant, period, page.after.as_deref(), page.fetch_limit())
        .await?;
    let list = List::from_rows(rows, &page, |(position, _)| position.clone());
    Ok(Json(List {
        items: list
            .items
            .into_iter()
            .map(|(_, row)| row)
            .collect::<Vec<_>>(),
        next_cursor: list.next_cursor,
    })
    .into_response())
}
