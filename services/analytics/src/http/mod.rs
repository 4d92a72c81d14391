//! Analytics' HTTP surface: API.md's Analytics table. Attribution, spend, the
//! marketing-mix model and export are for admins and tenants' own keys (a tenant key
//! naming another tenant is answered 404); reconciliation, KPIs, reports and dashboards
//! are for admins.
//!
//! Every route is declared once with its OpenAPI description ([`api`]); [`router`]
//! adds the state and the authentication middleware.

mod attribution;
mod export;
mod kpis;
mod reconciliation;
mod reports;

use axum::Router;
use axum::middleware::from_fn_with_state;
use platform::auth::{Authenticator, Principal, TenantScope};
use platform::http::Problem;
use platform::http::api::ApiRouter;
use utoipa::openapi::schema::{Object, ObjectBuilder, Type};

use crate::app::{AnalyticsApp, AnalyticsError};
use crate::domain::period::Period;

type ApiResult<T> = Result<T, Problem>;

/// The tenant whose revenue is Viscount's own orders; an admin who names no tenant
/// asks about it.
pub const OWN_TENANT: &str = "viscount";

/// The routes and their documentation, declared without values.
pub fn api() -> ApiRouter<AnalyticsApp> {
    ApiRouter::new()
        .merge(attribution::api())
        .merge(reconciliation::api())
        .merge(export::api())
        .merge(kpis::api())
        .merge(reports::api())
}

/// The routes with the service's state, behind the authentication middleware.
pub fn router(app: AnalyticsApp, authenticator: Authenticator) -> Router {
    let (routes, _) = api().split_for_parts();
    routes.with_state(app).layer(from_fn_with_state(
        authenticator,
        platform::auth::authenticate,
    ))
}

impl From<AnalyticsError> for Problem {
    fn from(err: AnalyticsError) -> Self {
        match &err {
            AnalyticsError::NotFound(what) => Problem::not_found(what),
            AnalyticsError::Invalid { field, message } => {
                Problem::invalid_field(field, message.clone())
            }
            AnalyticsError::Refused(_) | AnalyticsError::Sql(_) => Problem::unexpected(&err),
            AnalyticsError::Internal(_) => Problem::internal(),
        }
    }
}

/// The one tenant a call is about: a tenant key's own; the one an admin names, or
/// Viscount's own when the admin names none.
fn one_tenant(caller: &Principal, requested: Option<&str>) -> ApiResult<String> {
    match caller.tenant_scope(requested)? {
        TenantScope::One(tenant) => Ok(tenant),
        TenantScope::All => Ok(OWN_TENANT.to_owned()),
    }
}

/// 404 for an id that cannot be one of ours (ids are UUIDs), with no database round
/// trip.
fn known_id(id: &str, what: &str) -> ApiResult<()> {
    if platform::ids::is_uuid(id) {
        Ok(())
    } else {
        Err(Problem::not_found(what))
    }
}

/// The schema of a string that is one of `names`: what a field holding a domain
/// value's wire name (`&'static str`) shows, taken from the domain's own list.
fn names_schema(names: impl IntoIterator<Item = &'static str>) -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(names))
        .build()
}

/// A time given as RFC 3339 or as a day (`YYYY-MM-DD`, its first instant), ms.
fn parse_time(field: &str, raw: &str) -> ApiResult<i64> {
    platform::time::parse_rfc3339(raw)
        .or_else(|| platform::time::parse_rfc3339(&format!("{raw}T00:00:00Z")))
        .ok_or_else(|| {
            Problem::invalid_field(field, "must be an RFC 3339 time or a YYYY-MM-DD day")
        })
}

/// The period of `from` and `to` (either may be absent: `to` defaults to now, `from` to
/// `default_span` before `to`), at most `max_span` long.
fn period(
    from: Option<&str>,
    to: Option<&str>,
    now: i64,
    default_span: i64,
    max_span: i64,
) -> ApiResult<Period> {
    let to = match to {
        Some(raw) => parse_time("to", raw)?,
        None => now,
    };
    let from = match from {
        Some(raw) => parse_time("from", raw)?,
        None => to.saturating_sub(default_span),
    };
    if from > to {
        return Err(Problem::invalid_field("from", "must not be after `to`"));
    }
    if to - from > max_span {
        return Err(Problem::invalid_field(
            "to",
            format!(
                "the period must not be longer than {} days",
                max_span / crate::domain::period::DAY
            ),
        ));
    }
    Ok(Period { from, to })
}
