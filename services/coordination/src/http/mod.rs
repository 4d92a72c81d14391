//! Coordination's HTTP API (API.md, Coordination): the registry and health
//! (`registry`), configuration documents (`settings`), locks (`locks`) and event
//! schemas (`schemas`). Bodies become checked domain values here; the operations live
//! in `app`. Callers: the platform's own processes (the `service` scope, which admins
//! hold too) for the registry, health, configuration reads and locks; admins for
//! configuration writes; anyone for schemas. Each room declares its routes with their
//! OpenAPI description; [`api`] joins them.

mod locks;
mod registry;
mod schemas;
mod settings;

use axum::Router;
use platform::auth::{Authenticator, Principal, SCOPE_SERVICE};
use platform::http::Problem;
use platform::http::api::ApiRouter;
use platform::service::ServiceKind;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};

use crate::app::{CoordinationApp, CoordinationError};

/// The routes and their documentation, declared without values: each room's routes
/// merged.
pub fn api() -> ApiRouter<CoordinationApp> {
    ApiRouter::new()
        .merge(registry::routes())
        .merge(settings::routes())
        .merge(locks::routes())
        .merge(schemas::routes())
}

/// The routes with the service's state, behind the authentication middleware.
pub fn router(app: CoordinationApp, authenticator: Authenticator) -> Router {
    let (routes, _) = api().split_for_parts();
    routes
        .with_state(app)
        .layer(axum::middleware::from_fn_with_state(
            authenticator,
            platform::auth::authenticate,
        ))
}

/// The documented type of a Viscount service's name (a path segment, a field): one of
/// [`ServiceKind::all`], as [`ServiceKind::as_str`] spells it.
struct ServiceName;

impl utoipa::PartialSchema for ServiceName {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some("A Viscount service's name."))
            .enum_values(Some(ServiceKind::all().iter().map(|kind| kind.as_str())))
            .into()
    }
}

impl utoipa::ToSchema for ServiceName {}

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
