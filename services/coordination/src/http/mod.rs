//! Coordination's HTTP API (API.md, Coordination): the registry and health
//! (`registry`), configuration documents (`settings`), locks (`locks`) and event
//! schemas (`schemas`). Bodies become checked domain values here; the operations live
//! in `app`. Callers: the platform's own processes (the `service` scope, which admins
//! hold too) for the registry, health, configuration reads and locks; admins for
//! configuration writes; anyone for schemas.

mod locks;
mod registry;
mod schemas;
mod settings;

use axum::Router;
use axum::routing::{get, post};
use platform::auth::{Authenticator, Principal, SCOPE_SERVICE};
use platform::http::Problem;
use platform::service::ServiceKind;

use crate::app::{CoordinationApp, CoordinationError};

/// The routes, behind the authentication middleware.
pub fn router(app: CoordinationApp, authenticator: Authenticator) -> Router {
    Router::new()
        .route("/api/v1/services", get(registry::list))
        .route("/api/v1/services/register", post(registry::register))
        .route("/api/v1/services/health", get(registry::platform_health))
        .route(
            "/api/v1/services/{service}/health",
            get(registry::service_health),
        )
        .route(
            "/api/v1/services/{service}/instances/{instance_id}",
            get(registry::get_instance).delete(registry::deregister),
        )
        .route(
            "/api/v1/config/{service}",
            get(settings::get_document).put(settings::put_document),
        )
        .route(
            "/api/v1/locks/{name}",
            get(locks::holder)
                .post(locks::acquire)
                .delete(locks::release),
        )
        .route("/api/v1/schemas", get(schemas::list))
        .route("/api/v1/schemas/check", post(schemas::check))
        .route("/api/v1/schemas/{event_type}", get(schemas::get_schema))
        .with_state(app)
        .layer(axum::middleware::from_fn_with_state(
            authenticator,
            platform::auth::authenticate,
        ))
}

type ApiResult<T> = Result<T, Problem>;

/// 403 unless the caller is one of the platform's processes or an admin.
fn require_service(caller: &Principal) -> Result<(), Problem> {
    caller.require_scope(SCOPE_SERVICE)
}

/// The service a path segment names; 404 for a name that is not a Viscount service.
fn service_in_path(raw: &str) -> Result<ServiceKind, Problem> {
    raw.parse().map_err(|_| Problem::not_found("service"))
}

/// The problem for `err`.
fn problem(err: CoordinationError) -> Problem {
    match err {
        CoordinationError::NotFound(what) => Problem::not_found(what),
        CoordinationError::StaleVersion { current } => Problem::new(
            http::StatusCode::PRECONDITION_FAILED,
            "stale-version",
            "Precondition failed",
            format!("the document is at version {current}; read it again and retry"),
        )
        .with("current_version", current),
        CoordinationError::LockHeld { expires_at } => {
            let problem = Problem::conflict("lock-held", "another owner holds the lock");
            if expires_at > 0 {
                problem.with("expires_at", platform::time::rfc3339(expires_at))
            } else {
                problem
            }
        }
        CoordinationError::NotHolder => {
            Problem::conflict("not-lock-holder", "the lock is not held by this owner")
        }
        CoordinationError::Incompatible(found) => {
            let mut problem = Problem::conflict(
                "schema-incompatible",
                "the schema is not backward compatible with the registered one",
            );
            problem.errors = found
                .into_iter()
                .map(|(field, reason)| platform::http::FieldError::new(field, reason))
                .collect();
            problem
        }
        CoordinationError::Sql(cause) => Problem::unexpected(&cause),
    }
}
