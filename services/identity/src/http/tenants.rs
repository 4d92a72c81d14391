//! Tenants for admins: create (with the tenant's API key, shown once), list, and read;
//! a tenant's own key may read its tenant too.

use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::Response;
use platform::auth::Principal;
use platform::http::api::{ApiRouter, problems, routes};
use platform::http::{Fields, Json, List, PageQuery, Problem, Query, created};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{ApiResult, HttpState, name_schema};
use crate::app::{NewTenant, POLICY};
use crate::domain::{Tenant, UserName};

/// `/tenants/...`.
pub(super) fn api() -> ApiRouter<HttpState> {
    ApiRouter::new()
        .routes(routes!(create_tenant, list_tenants))
        .routes(routes!(get_tenant))
}

/// A new tenant.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Acme"}))]
struct TenantBody {
    /// Its name (also its first key's label).
    #[schema(schema_with = name_schema)]
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

/// A tenant as the API shows it.
#[derive(Serialize, ToSchema)]
struct TenantView {
    /// Id (a UUID, or `viscount` for the built-in tenant of Viscount's own shop).
    id: String,
    /// Name.
    name: String,
    /// Creation, RFC 3339.
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
#[derive(Serialize, ToSchema)]
struct CreatedTenantView {
    #[serde(flatten)]
    tenant: TenantView,
    /// The key (for `X-API-Key`).
    api_key: String,
    /// Its id, to revoke it at `/api/v1/api-keys/{id}`.
    api_key_id: String,
}

/// Creates a tenant with its first API key (admins); the key is in this answer only.
#[utoipa::path(
    post,
    path = "/api/v1/tenants",
    request_body = TenantBody,
    responses(
        (status = 201, description = "Created, with its key", body = CreatedTenantView,
            headers(("Location" = String, description = "The new tenant"),
                ("Cache-Control" = String, description = "`no-store`"))),
        problems::Unauthorized, problems::Forbidden, problems::Invalid,
    ),
)]
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

/// Tenants (admins).
#[utoipa::path(
    get,
    path = "/api/v1/tenants",
    params(PageQuery),
    responses(
        (status = 200, description = "One page of tenants", body = List<TenantView>),
        problems::Unauthorized, problems::Forbidden, problems::Invalid,
    ),
)]
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

/// A tenant: any for admins, its own for a tenant key.
#[utoipa::path(
    get,
    path = "/api/v1/tenants/{id}",
    params(("id" = String, Path, description = "The tenant's id")),
    responses(
        (status = 200, description = "The tenant", body = TenantView),
        problems::Unauthorized, problems::NotFound,
    ),
)]
#[tracing::instrument(skip_all)]
async fn get_tenant(
    State(s): State<HttpState>,
    caller: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<TenantView>> {
    // Tenant ids are UUIDs or `viscount`; PostgreSQL refuses a NUL in text, so an id
    // with a control character is no tenant, answered before any query.
    if id.chars().any(char::is_control) {
        return Err(Problem::not_found("tenant"));
    }
    Ok(Json(s.app.tenant(&caller, &id).await?.into()))
}
