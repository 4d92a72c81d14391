//! API keys for admins: create (the key is shown once), list, revoke, and the
//! introspection other services check a presented key with.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::Response;
use axum::routing::{delete, post};
use platform::auth::Principal;
use platform::auth::remote::Introspection;
use platform::http::{Fields, Json, List, PageQuery, Query, created, no_content};
use serde::{Deserialize, Serialize};

use super::{ApiResult, HttpState};
use crate::app::POLICY;
use crate::domain::{ApiKey, Scopes, UserName};

/// `/api-keys/...`.
pub(super) fn routes() -> Router<HttpState> {
    Router::new()
        .route("/api/v1/api-keys", post(create_api_key).get(list_api_keys))
        .route("/api/v1/api-keys/introspect", post(introspect_api_key))
        .route("/api/v1/api-keys/{id}", delete(delete_api_key))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ApiKeyBody {
    name: String,
    scopes: Vec<String>,
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

#[derive(Serialize)]
struct ApiKeyView {
    id: String,
    name: String,
    scopes: Vec<String>,
    /// The tenant a tenant key is bound to.
    #[serde(skip_serializing_if = "Option::is_none")]
    tenant_id: Option<String>,
    created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
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

#[tracing::instrument(skip_all)]
async fn delete_api_key(
    State(s): State<HttpState>,
    caller: Principal,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    POLICY.require_manage(&caller)?;
    s.app.delete_api_key(&id).await?;
    Ok(no_content())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IntrospectBody {
    key: String,
}

/// Lets other services check an API key they were shown: whether it is active, and its
/// scopes or its tenant. Holding the key is the authority to learn what it grants, so
/// the call needs no other credential.
#[tracing::instrument(skip_all)]
async fn introspect_api_key(
    State(s): State<HttpState>,
    Json(body): Json<IntrospectBody>,
) -> ApiResult<Json<Introspection>> {
    let principal = s.app.resolve_api_key(&body.key).await?;
    Ok(Json(match principal {
        Some(p) => Introspection {
            active: true,
            id: Some(p.subject),
            scopes: p.scopes,
            tenant: p.tenant,
        },
        None => Introspection {
            active: false,
            id: None,
            scopes: Vec::new(),
            tenant: None,
        },
    }))
}
