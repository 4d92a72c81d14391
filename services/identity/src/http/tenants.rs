//! Tenants for admins: create (with the tenant's API key, shown once), list, and read;
//! a tenant's own key may read its tenant too.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::Response;
use axum::routing::{get, post};
use platform::auth::Principal;
use platform::http::{Fields, Json, List, PageQuery, Query, created};
use serde::{Deserialize, Serialize};

use super::{ApiResult, HttpState};
use crate::app::{NewTenant, POLICY};
use crate::domain::{Tenant, UserName};

/// `/tenants/...`.
pub(super) fn routes() -> Router<HttpState> {
    Router::new()
        .route("/api/v1/tenants", post(create_tenant).get(list_tenants))
        .route("/api/v1/tenants/{id}", get(get_tenant))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TenantBody {
    name: String,
}

impl TenantBody {
    /// The tenant's name, or a 422 naming the field.
    fn try_into_domain(self) -> ApiResult<UserName> {
        let mut fields = Fields::default();
        fields
            .check("name", UserName::try_from(self.name))
            .ok_or_else(|| fields.into_problem())
    }
}

#[derive(Serialize)]
struct TenantView {
    id: String,
    name: String,
    created_at: String,
}

impl From<Tenant> for TenantView {
    fn from(tenant: Tenant) -> Self {
        Self {
            id: tenant.id,
            name: tenant.name.as_str().to_owned(),
            created_at: platform::time::rfc3339(tenant.created_at),
        }
    }
}

/// A new tenant with its key, the one time the key is shown.
#[derive(Serialize)]
struct CreatedTenantView {
    #[serde(flatten)]
    tenant: TenantView,
    /// The key (for `X-API-Key`).
    api_key: String,
    /// Its id, to revoke it at `/api/v1/api-keys/{id}`.
    api_key_id: String,
}

#[tracing::instrument(skip_all)]
async fn create_tenant(
    State(s): State<HttpState>,
    caller: Principal,
    Json(body): Json<TenantBody>,
) -> ApiResult<Response> {
    POLICY.require_manage(&caller)?;
    let name = body.try_into_domain()?;
    let NewTenant { tenant, key } = s.app.create_tenant(&caller, name).await?;
    let location = format!("/api/v1/tenants/{}", tenant.id);
    let mut response = created(
        &location,
        CreatedTenantView {
            tenant: tenant.into(),
            api_key: key.key,
            api_key_id: key.record.id,
        },
    );
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

#[tracing::instrument(skip_all)]
async fn list_tenants(
    State(s): State<HttpState>,
    caller: Principal,
    Query(query): Query<PageQuery>,
) -> ApiResult<Json<List<TenantView>>> {
    POLICY.require_manage(&caller)?;
    let page = query.page()?;
    let rows = s
        .app
        .tenants(page.after.as_deref(), page.fetch_limit())
        .await?;
    let list = List::from_rows(rows, &page, |t| t.id.clone());
    Ok(Json(List {
        items: list.items.into_iter().map(TenantView::from).collect(),
        next_cursor: list.next_cursor,
    }))
}

#[tracing::instrument(skip_all)]
async fn get_tenant(
    State(s): State<HttpState>,
    caller: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<TenantView>> {
    Ok(Json(s.app.tenant(&caller, &id).await?.into()))
}
