//! Lock handlers: take or renew a lease, release it, read the holder.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use platform::auth::Principal;
use platform::http::{Fields, Json, Problem, Query, created, no_content};
use platform::time::rfc3339;
use serde::{Deserialize, Serialize};

use super::{ApiResult, problem, require_service};
use crate::app::CoordinationApp;
use crate::domain::{Lease, LeaseRequest, LockName, Owner, lease};

/// A lease as the API shows it.
#[derive(Serialize)]
pub(super) struct LeaseView {
    name: String,
    owner: String,
    fencing_token: i64,
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AcquireBody {
    owner: String,
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

#[derive(Deserialize)]
pub(super) struct ReleaseQuery {
    owner: Option<String>,
}

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
