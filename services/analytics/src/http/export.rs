//! `GET /api/v1/export/revenue?format=csv|json`: ledger rows with their allocations, of
//! one tenant and period. JSON is a cursor list; CSV streams every row of the period.

use axum::body::Body;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use platform::auth::Principal;
use platform::http::api::{ApiRouter, problems, routes};
use platform::http::{Json, List, PageQuery, Problem, Query};
use serde::Deserialize;
use utoipa::IntoParams;

use super::{ApiResult, one_tenant, period};
use crate::app::{AnalyticsApp, ExportRow};
use crate::domain::period::DAY;

/// `/api/v1/export/revenue`.
pub(super) fn api() -> ApiRouter<AnalyticsApp> {
    ApiRouter::new()
        .routes(routes!(export))
        .routes(routes!(export_seed_alias))
}

/// The export's query (paging, for JSON, is [`PageQuery`]'s).
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ExportQuery {
    /// `json` (a cursor page; the default) or `csv` (every row of the period, streamed).
    #[param(pattern = "^(csv|json)$")]
    format: Option<String>,
    /// The tenant (an admin's choice, `viscount` when absent; a tenant key's own).
    tenant: Option<String>,
    /// The period's start: RFC 3339 or a `YYYY-MM-DD` day; the beginning when absent.
    #[param(format = DateTime)]
    from: Option<String>,
    /// The period's end (exclusive): RFC 3339 or a `YYYY-MM-DD` day; now when absent.
    #[param(format = DateTime)]
    to: Option<String>,
    #[serde(flatten)]
    #[param(ignore)]
    page: PageQuery,
}

/// Exports a tenant's ledger rows with their allocations.
///
/// Every model's split of each row, as a JSON cursor page or a streamed CSV file
/// (admins, tenant keys).
#[utoipa::path(
    get,
    path = "/api/v1/export/revenue",
    params(ExportQuery, PageQuery),
    responses(
        (status = 200, description = "The rows: a JSON page, or with `format=csv` an RFC 4180 file with a header row",
            content(
                (List<ExportRow> = "application/json"),
                (String = "text/csv"),
            ),
            headers(("Content-Disposition" = String, description = "With `format=csv`: an attachment named `revenue-{tenant}.csv`"))),
        problems::Unauthorized, problems::Forbidden, problems::NotFound, problems::Invalid,
    ),
)]
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

/// Exports a tenant's ledger rows with their allocations (seed 004's path).
///
/// The same as `GET /api/v1/export/revenue` (admins, tenant keys).
#[utoipa::path(
    get,
    path = "/api/export/revenue",
    params(ExportQuery, PageQuery),
    responses(
        (status = 200, description = "The rows: a JSON page, or with `format=csv` an RFC 4180 file with a header row",
            content(
                (List<ExportRow> = "application/json"),
                (String = "text/csv"),
            ),
            headers(("Content-Disposition" = String, description = "With `format=csv`: an attachment named `revenue-{tenant}.csv`"))),
        problems::Unauthorized, problems::Forbidden, problems::NotFound, problems::Invalid,
    ),
)]
async fn export_seed_alias(
    state: State<AnalyticsApp>,
    caller: Principal,
    query: Query<ExportQuery>,
) -> ApiResult<Response> {
    export(state, caller, query).await
}
