//! API keys for admins: create (the key is shown once), list, revoke, and the
//! introspection other services check a presented key with.

use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::Response;
use platform::auth::Principal;
use platform::http::api::{ApiRouter, problems, routes};
use platform::http::{Fields, Json, List, PageQuery, Problem, Query, created, no_content};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};

use super::{ApiResult, HttpState, name_schema};
use crate::app::POLICY;
use crate::domain::{ApiKey, Scopes, UserName};

/// `/api-keys/...`.
pub(super) fn api() -> ApiRouter<HttpState> {
    ApiRouter::new()
        .routes(routes!(create_api_key, list_api_keys))
        .routes(routes!(introspect_api_key))
        .routes(routes!(delete_api_key))
}

/// A new API key.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "reporting", "scopes": ["reports:read", "orders:read"]}))]
struct ApiKeyBody {
    /// A label.
    #[schema(schema_with = name_schema)]
    name: String,
    /// What it may do.
    #[schema(schema_with = scopes_schema)]
    scopes: Vec<String>,
}

/// The schema of a new key's scopes (see [`Scopes`]).
fn scopes_schema() -> ArrayBuilder {
    ArrayBuilder::new()
        .items(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some("^[a-z0-9:._*-]{1,64}$")),
        )
        .min_items(Some(1))
        .max_items(Some(32))
        .description(Some(
            "1 to 32 scopes (`service:action`), each 1 to 64 of `a-z 0-9 : . _ * -`; \
             repeats are dropped.",
        ))
}

impl ApiKeyBody {
    /// The key's label and scopes, or a 422 naming every bad field.
    fn try_into_domain(self) -> ApiResult<(UserName, Scopes)> {
        let mut fields = Fields::default();
        let name = fields.check("name", UserName::try_from(self.name));
        let scopes = fields.check("scopes", Scopes::try_from(self.scopes));
        match (name, scopes) {
            (Some(name), Some(scopes)) => Ok((name, scopes)),
            _ => Err(fields.into_problem()),
        }
    }
}

/// An API key as the API shows it; the key itself only in the answer that created it.
#[derive(Serialize, ToSchema)]
struct ApiKeyView {
    /// Id (also the OAuth `client_id`).
    id: String,
    /// Label.
    name: String,
    /// Granted scopes (none for a tenant key).
    scopes: Vec<String>,
    /// The tenant a tenant key is bound to.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    tenant_id: Option<String>,
    /// Creation, RFC 3339.
    created_at: String,
    /// The key, for `X-API-Key` (or as `client_secret`): shown once, at creation.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    key: Option<String>,
}

impl ApiKeyView {
    fn new(record: ApiKey, key: Option<String>) -> Self {
        Self {
            scopes: record.scopes().to_vec(),
            tenant_id: record.tenant().map(str::to_owned),
            id: record.id,
            name: record.name.as_str().to_owned(),
            created_at: platform::time::rfc3339(record.created_at),
            key,
        }
    }
}

/// Creates an API key (admins); the key is in this answer only.
#[utoipa::path(
    post,
    path = "/api/v1/api-keys",
    request_body = ApiKeyBody,
    responses(
        (status = 201, description = "Created, with its `key`", body = ApiKeyView,
            headers(("Location" = String, description = "The new key"),
                ("Cache-Control" = String, description = "`no-store`"))),
        problems::Unauthorized, problems::Forbidden, problems::Invalid,
    ),
)]
#[tracing::instrument(skip_all)]
async fn create_api_key(
    State(s): State<HttpState>,
    caller: Principal,
    Json(body): Json<ApiKeyBody>,
) -> ApiResult<Response> {
    POLICY.require_manage(&caller)?;
    let (name, scopes) = body.try_into_domain()?;
    let created_key = s.app.create_api_key(&caller, name, scopes).await?;
    let location = format!("/api/v1/api-keys/{}", created_key.record.id);
    let mut response = created(
        &location,
        ApiKeyView::new(created_key.record, Some(created_key.key)),
    );
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// Unrevoked API keys, tenants' too (admins).
#[utoipa::path(
    get,
    path = "/api/v1/api-keys",
    params(PageQuery),
    responses(
        (status = 200, description = "One page of keys (without the keys themselves)",
            body = List<ApiKeyView>),
        problems::Unauthorized, problems::Forbidden, problems::Invalid,
    ),
)]
#[tracing::instrument(skip_all)]
async fn list_api_keys(
    State(s): State<HttpState>,
    caller: Principal,
    Query(query): Query<PageQuery>,
) -> ApiResult<Json<List<ApiKeyView>>> {
    POLICY.require_manage(&caller)?;
    let page = query.page()?;
    let rows = s
        .app
        .api_keys(page.after.as_deref(), page.fetch_limit())
        .await?;
    let list = List::from_rows(rows, &page, |k| k.id.clone());
    Ok(Json(List {
        items: list
            .items
            .into_iter()
            .map(|k| ApiKeyView::new(k, None))
            .collect(),
        next_cursor: list.next_cursor,
    }))
}

/// Revokes an API key (admins); requests presenting it are refused from then on.
#[utoipa::path(
    delete,
    path = "/api/v1/api-keys/{id}",
    params(("id" = String, Path, description = "The key's id")),
    responses(
        (status = 204, description = "Revoked"),
        problems::Unauthorized, problems::Forbidden, problems::NotFound,
    ),
)]
#[tracing::instrument(skip_all)]
async fn delete_api_key(
    State(s): State<HttpState>,
    caller: Principal,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    POLICY.require_manage(&caller)?;
    // Key ids are UUIDs; anything else is no key, answered before any query.
    if !platform::ids::is_uuid(&id) {
        return Err(Problem::not_found("api key"));
    }
    s.app.delete_api_key(&id).await?;
    Ok(no_content())
}

/// A key to check.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"key": "vsk_3q2-7wE..."}))]
struct IntrospectBody {
    /// The key as presented in `X-API-Key`.
    key: String,
}

/// What a key grants.
// Identity's own shape of the platform's `Introspection`, which other services read it
// into and which carries no schema; the members match.
#[derive(Serialize, ToSchema)]
struct IntrospectionView {
    /// Whether the key is valid and unrevoked.
    active: bool,
    /// The key's id (the client), when active.
    #[schema(required = true)]
    id: Option<String>,
    /// Its scopes (none when inactive, or for a tenant key).
    scopes: Vec<String>,
    /// The tenant a tenant key acts for.
    #[schema(required = true)]
    tenant: Option<String>,
}

/// Checks an API key: whether it is active, and what it grants.
///
/// Lets other services check an API key they were shown: whether it is active, and its
/// scopes or its tenant. Holding the key is the authority to learn what it grants, so
/// the call needs no other credential.
#[utoipa::path(
    post,
    path = "/api/v1/api-keys/introspect",
    request_body = IntrospectBody,
    responses(
        (status = 200, description = "What the key grants (`active: false` for an unknown or \
            revoked key)", body = IntrospectionView),
        problems::Invalid,
    ),
    security(()),
)]
#[tracing::instrument(skip_all)]
async fn introspect_api_key(
    State(s): State<HttpState>,
    Json(body): Json<IntrospectBody>,
) -> ApiResult<Json<IntrospectionView>> {
    let principal = s.app.resolve_api_key(&body.key).await?;
    Ok(Json(match principal {
        Some(p) => IntrospectionView {
            active: true,
            id: Some(p.subject),
            scopes: p.scopes,
            tenant: p.tenant,
        },
        None => IntrospectionView {
            active: false,
            id: None,
            scopes: Vec::new(),
            tenant: None,
        },
    }))
}
