//! Ingestion's HTTP surface: API.md's Ingestion table. Webhooks (`webhooks`) carry no
//! credentials of a Viscount caller (their signature is checked by the app); the rest
//! (`admin`: sources, events, dead events, taxonomies; `touchpoints`) are for admins
//! and tenants' own keys. No handler logs its input.
//!
//! Every route is declared once with its OpenAPI description ([`api`]); [`router`]
//! adds the state and the authentication middleware.

mod admin;
mod touchpoints;
mod webhooks;

use axum::Router;
use axum::middleware::from_fn_with_state;
use platform::auth::{Authenticator, Principal, TenantScope};
use platform::http::Problem;
use platform::http::api::ApiRouter;

use crate::app::{IngestionApp, IngestionError};

type ApiResult<T> = Result<T, Problem>;

/// The routes and their documentation, declared without values.
pub fn api() -> ApiRouter<IngestionApp> {
    ApiRouter::new()
        .merge(webhooks::api())
        .merge(admin::api())
        .merge(touchpoints::api())
}

/// The routes with the service's state, behind the authentication middleware (which
/// lets requests without credentials through: webhooks are verified by their
/// signature).
pub fn router(app: IngestionApp, authenticator: Authenticator) -> Router {
    let (routes, _) = api().split_for_parts();
    routes.with_state(app).layer(from_fn_with_state(
        authenticator,
        platform::auth::authenticate,
    ))
}

impl From<IngestionError> for Problem {
    fn from(err: IngestionError) -> Self {
        match &err {
            IngestionError::Unauthorized(detail) => Problem::unauthorized(detail.clone()),
            IngestionError::NotFound(what) => Problem::not_found(what),
            IngestionError::Invalid { field, message } => {
                Problem::invalid_field(field, message.clone())
            }
            IngestionError::NotReplayable(_) => {
                Problem::conflict("not-replayable", err.to_string())
            }
            IngestionError::Port(crate::domain::ports::PortError::Refused(detail)) => {
                Problem::forbidden(detail.clone())
            }
            IngestionError::Port(crate::domain::ports::PortError::Unavailable(_)) => {
                Problem::unavailable(err.to_string())
            }
            IngestionError::PersonalData(found) => Problem::invalid_field(
                found.column,
                format!("must not hold personal data ({})", found.kind.as_str()),
            ),
            IngestionError::Sql(_) => Problem::unexpected(&err),
        }
    }
}

/// The tenant named in a query, when it can be one (ingestion's own records, such as
/// the platform's taxonomy, are stored under names no tenant id can have).
fn named_tenant(requested: Option<&str>) -> ApiResult<Option<&str>> {
    match requested {
        Some(id) if !crate::app::is_tenant_id(id) => {
            Err(Problem::invalid_field("tenant", "is not a tenant id"))
        }
        requested => Ok(requested),
    }
}

/// The one tenant a call acts on: a tenant key's own, or the one an admin names.
fn one_tenant(caller: &Principal, requested: Option<&str>) -> ApiResult<String> {
    match caller.tenant_scope(named_tenant(requested)?)? {
        TenantScope::One(tenant) => Ok(tenant),
        TenantScope::All => Err(Problem::invalid_field("tenant", "is required")),
    }
}

/// The tenant a call is limited to, or `None` for an admin who names none.
fn tenant_filter(caller: &Principal, requested: Option<&str>) -> ApiResult<Option<String>> {
    Ok(match caller.tenant_scope(named_tenant(requested)?)? {
        TenantScope::One(tenant) => Some(tenant),
        TenantScope::All => None,
    })
}
