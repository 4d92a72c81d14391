//! `GET /api/v1/analytics/kpis` and `GET /api/v1/dashboards/{id}`: Viscount's own
//! business for admins. Both take `from` and `to` (RFC 3339 or `YYYY-MM-DD`; the last
//! 24 hours by default, at most 366 days) and an optional `currency`.

use axum::extract::{Path, State};
use contracts::Money;
use platform::auth::Principal;
use platform::http::api::{ApiRouter, problems, routes};
use platform::http::{Json, Problem, Query};
use serde::Deserialize;
use utoipa::IntoParams;

use super::{ApiResult, period};
use crate::app::{AnalyticsApp, Dashboard, DashboardView, Kpis};
use crate::domain::period::{DAY, Period};

/// `/api/v1/analytics/kpis` and `/api/v1/dashboards/{id}`.
pub(super) fn api() -> ApiRouter<AnalyticsApp> {
    ApiRouter::new()
        .routes(routes!(kpis))
        .routes(routes!(dashboard))
}

/// The longest period a KPI question may cover.
const MAX_SPAN: i64 = 366 * DAY;

/// The query both calls take.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct KpiParams {
    /// The period's start: RFC 3339, or a `YYYY-MM-DD` day (its first instant); 24 hours
    /// before `to` when absent.
    #[param(format = DateTime)]
    from: Option<String>,
    /// The period's end (exclusive): RFC 3339 or a `YYYY-MM-DD` day; now when absent. At
    /// most 366 days after `from`.
    #[param(format = DateTime)]
    to: Option<String>,
    /// The ISO 4217 currency money is given in (else the period's main one).
    #[param(pattern = "^[A-Za-z]{3}$")]
    currency: Option<String>,
}

impl KpiParams {
    /// The period (the last day by default) and the currency asked for, if any.
    fn parse(&self, app: &AnalyticsApp) -> ApiResult<(Period, Option<String>)> {
        let period = period(
            self.from.as_deref(),
            self.to.as_deref(),
            app.clock.now_millis(),
            DAY,
            MAX_SPAN,
        )?;
        let currency = self
            .currency
            .as_deref()
            .map(|code| {
                Money::price(0, code)
                    .map(|money| money.currency)
                    .map_err(|_| {
                        Problem::invalid_field("currency", "must be a known ISO 4217 code")
                    })
            })
            .transpose()?;
        Ok((period, currency))
    }
}

/// Viscount's own KPIs over a period, with their per-minute series (admins).
#[utoipa::path(
    get,
    path = "/api/v1/analytics/kpis",
    params(KpiParams),
    responses(
        (status = 200, description = "The period's KPIs and series", body = Kpis),
        problems::Unauthorized, problems::Forbidden, problems::Invalid,
    ),
)]
#[tracing::instrument(skip_all)]
async fn kpis(
    State(app): State<AnalyticsApp>,
    caller: Principal,
    Query(params): Query<KpiParams>,
) -> ApiResult<Json<Kpis>> {
    caller.require_admin()?;
    let (period, currency) = params.parse(&app)?;
    Ok(Json(app.kpis(period, currency.as_deref()).await?))
}

/// A built-in dashboard's series and summary over a period (admins).
#[utoipa::path(
    get,
    path = "/api/v1/dashboards/{id}",
    params(
        ("id" = String, Path, description = "The dashboard",
            pattern = "^(sales|payments|attribution|inventory)$"),
        KpiParams,
    ),
    responses(
        (status = 200, description = "The dashboard", body = DashboardView),
        problems::Unauthorized, problems::Forbidden, problems::NotFound, problems::Invalid,
    ),
)]
#[tracing::instrument(skip_all, fields(dashboard = %id))]
async fn dashboard(
    State(app): State<AnalyticsApp>,
    caller: Principal,
    Path(id): Path<String>,
    Query(params): Query<KpiParams>,
) -> ApiResult<Json<DashboardView>> {
    caller.require_admin()?;
    let dashboard = Dashboard::parse(&id).ok_or_else(|| Problem::not_found("dashboard"))?;
    let (period, currency) = params.parse(&app)?;
    Ok(Json(
        app.dashboard(dashboard, period, currency.as_deref())
            .await?,
    ))
}
