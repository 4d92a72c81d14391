//! `GET /api/v1/analytics/kpis` and `GET /api/v1/dashboards/{id}`: Viscount's own
//! business for admins. Both take `from` and `to` (RFC 3339 or `YYYY-MM-DD`; the last
//! 24 hours by default, at most 366 days) and an optional `currency`.

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::get;
use contracts::Money;
use platform::auth::Principal;
use platform::http::{Json, Problem, Query};
use serde::Deserialize;

use super::{ApiResult, period};
use crate::app::{AnalyticsApp, Dashboard, DashboardView, Kpis};
use crate::domain::period::{DAY, Period};

pub(super) fn routes() -> Router<AnalyticsApp> {
    Router::new()
        .route("/api/v1/analytics/kpis", get(kpis))
        .route("/api/v1/dashboards/{id}", get(dashboard))
}

/// The longest period a KPI question may cover.
const MAX_SPAN: i64 = 366 * DAY;

/// The query both calls take.
#[derive(Deserialize)]
struct KpiParams {
    from: Option<String>,
    to: Option<String>,
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
