//! Lock handlers: take or renew a lease, release it, read the holder.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use platform::auth::Principal;
use platform::http::api::{ApiRouter, problems, routes};
use platform::http::{Fields, Json, Problem, Query, created, no_content};
use platform::time::rfc3339;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{ApiResult, problem, require_service};
use crate::app::CoordinationApp;
use crate::domain::{Lease, LeaseRequest, LockName, Owner, lease};

/// The locks' routes.
pub(super) fn routes() -> ApiRouter<CoordinationApp> {
    ApiRouter::new().routes(routes!(holder, acquire, release))
}

/// A lease as the API shows it.
#[derive(Serialize, ToSchema)]
pub(super) struct LeaseView {
    /// The lock.
    name: String,
    /// Its holder.
    owner: String,
    /// The token to present to fenced resources: larger than any earlier lease's on
    /// this lock.
    fencing_token: i64,
    /// When the lease ends unless renewed, RFC 3339.
    expires_at: String,
}

impl From<Lease> for LeaseView {
    fn from(lease: Lease) -> Self {
        Self {
            name: lease.name,
            owner: lease.owner,
            fencing_token: lease.fencing_token,
            expires_at: rfc3339(lease.expires_at),
        }
    }
}

fn name_in_path(raw: String) -> Result<LockName, Problem> {
    LockName::try_from(raw).map_err(|err| Problem::invalid_field("name", err.to_string()))
}

/// A request to take or renew a lease.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"owner": "analytics-5d8f", "ttl_seconds": 60}))]
pub(super) struct AcquireBody {
    /// Who asks (an instance id, a worker's name): 1 to 200 characters, not only
    /// spaces, no control characters.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    owner: String,
    /// How long the lease lasts unless renewed.
    #[schema(minimum = 1, maximum = 3600)]
    ttl_seconds: i64,
}

impl AcquireBody {
    /// A lease request: an owner of 1 to 200 printable characters and a TTL of 1 to
    /// 3600 seconds.
    fn try_into_domain(self) -> Result<LeaseRequest, Problem> {
        let mut fields = Fields::default();
        let owner = fields.check("owner", Owner::try_from(self.owner));
        let ttl_ms = fields.check("ttl_seconds", lease::lease_ttl_ms(self.ttl_seconds));
        match (owner, ttl_ms) {
            (Some(owner), Some(ttl_ms)) => Ok(LeaseRequest { owner, ttl_ms }),
            _ => Err(fields.into_problem()),
        }
    }
}

/// Takes a lock or renews its owner's lease (the platform's processes; admins).
#[utoipa::path(
    post,
    path = "/api/v1/locks/{name}",
    params(("name" = String, Path, description = "The lock: 1 to 128 of `A-Z a-z 0-9 . _ - :`",
        pattern = r"^[A-Za-z0-9._:-]{1,128}$")),
    request_body = AcquireBody,
    responses(
        (status = 201, description = "Taken, with a new fencing token", body = LeaseView,
            headers(("Location" = String, description = "The lock"))),
        (status = 200, description = "Renewed: the owner held it already", body = LeaseView),
        problems::BadRequest, problems::Unauthorized, problems::Forbidden,
        (status = 409, description = "Another owner holds it (`expires_at` says until when)",
            content_type = "application/problem+json", body = Problem),
        problems::Invalid,
    ),
)]
#[tracing::instrument(skip_all)]
pub(super) async fn acquire(
    State(app): State<CoordinationApp>,
    principal: Principal,
    Path(name): Path<String>,
    Json(body): Json<AcquireBody>,
) -> ApiResult<Response> {
    require_service(&principal)?;
    let name = name_in_path(name)?;
    let request = body.try_into_domain()?;
    let granted = app.acquire(&name, &request).await.map_err(problem)?;
    Ok(if granted.acquired {
        created(
            &format!("/api/v1/locks/{}", name.as_str()),
            LeaseView::from(granted.lease),
        )
    } else {
        Json(LeaseView::from(granted.lease)).into_response()
    })
}

/// `DELETE /api/v1/locks/{name}` query.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct ReleaseQuery {
    /// The holder releasing it (required).
    #[param(
        required = true,
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    owner: Option<String>,
}

/// Releases a lock its owner holds (the platform's processes; admins).
///
/// Its fencing token stays for the next lease.
#[utoipa::path(
    delete,
    path = "/api/v1/locks/{name}",
    params(("name" = String, Path, description = "The lock: 1 to 128 of `A-Z a-z 0-9 . _ - :`",
        pattern = r"^[A-Za-z0-9._:-]{1,128}$"), ReleaseQuery),
    responses(
        (status = 204, description = "Released"),
        problems::Unauthorized, problems::Forbidden,
        (status = 409, description = "The lock is not held by this owner",
            content_type = "application/problem+json", body = Problem),
        problems::Invalid,
    ),
)]
#[tracing::instrument(skip_all)]
pub(super) async fn release(
    State(app): State<CoordinationApp>,
    principal: Principal,
    Path(name): Path<String>,
    Query(query): Query<ReleaseQuery>,
) -> ApiResult<Response> {
    require_service(&principal)?;
    let name = name_in_path(name)?;
    let owner = query
        .owner
        .ok_or_else(|| Problem::invalid_field("owner", "the holder's name is required"))
        .and_then(|owner| {
            Owner::try_from(owner).map_err(|err| Problem::invalid_field("owner", err.to_string()))
        })?;
    app.release(&name, &owner).await.map_err(problem)?;
    Ok(no_content())
}

/// The lock's unexpired lease (the platform's processes; admins).
#[utoipa::path(
    get,
    path = "/api/v1/locks/{name}",
    params(("name" = String, Path, description = "The lock: 1 to 128 of `A-Z a-z 0-9 . _ - :`",
        pattern = r"^[A-Za-z0-9._:-]{1,128}$")),
    responses(
        (status = 200, description = "The holder's lease", body = LeaseView),
        problems::Unauthorized, problems::Forbidden, problems::NotFound, problems::Invalid,
    ),
)]
#[tracing::instrument(skip_all)]
pub(super) async fn holder(
    State(app): State<CoordinationApp>,
    principal: Principal,
    Path(name): Path<String>,
) -> ApiResult<Json<LeaseView>> {
    require_service(&principal)?;
    let name = name_in_path(name)?;
    app.holder(&name)
        .await
        .map(|lease| Json(lease.into()))
        .map_err(problem)
}
