//! Sources, stored and dead events, replay and channel taxonomies: for admins; a
//! tenant's own key also reads its stored events and reads and sets its own taxonomy.
//! A tenant key naming another tenant is answered 404.

use axum::Router;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::{get, post, put};
use contracts::ingestion::{EventReceived, Provider};
use platform::auth::{ForwardedCredentials, Principal};
use platform::http::{Json, List, PageQuery, Problem, Query, no_content};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{ApiResult, tenant_filter};
use crate::app::{IngestionApp, Replayed, TaxonomyView};
use crate::domain::event::DeadEvent;
use crate::domain::source::Credentials;
use crate::domain::taxonomy::Taxonomy;

pub(super) fn routes() -> Router<IngestionApp> {
    Router::new()
        .route("/api/v1/tenants/{id}/sources/{provider}", put(put_source))
        .route("/api/v1/ingestion/events", get(list_events))
        .route("/api/v1/ingestion/dead-events", get(list_dead_events))
        .route("/api/v1/ingestion/dead-events/{id}/replay", post(replay))
        .route(
            "/api/v1/ingestion/channel-taxonomy",
            get(get_taxonomy).put(put_taxonomy),
        )
}

/// A text field of a raw JSON body, or why not.
fn text_field(body: &Value, field: &'static str) -> Result<Option<String>, Problem> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(_) => Err(Problem::invalid_field(field, "must be a string")),
    }
}

#[tracing::instrument(skip_all)]
async fn put_source(
    State(app): State<IngestionApp>,
    caller: Principal,
    credentials: ForwardedCredentials,
    Path((tenant_id, provider)): Path<(String, String)>,
    Json(body): Json<Value>,
) -> ApiResult<Response> {
    caller.require_admin()?;
    let provider = Provider::parse(&provider).ok_or_else(|| Problem::not_found("provider"))?;
    // Before the body: whatever credentials it holds, the built-in tenant takes none.
    crate::app::check_source_tenant(&tenant_id)?;
    if !body.is_object() {
        return Err(Problem::invalid_field("body", "must be a JSON object"));
    }
    let allowed: &[&str] = match provider {
        Provider::Paypal => &["webhook_id", "certificate_pem"],
        _ => &["secret"],
    };
    if let Some(unknown) = body
        .as_object()
        .and_then(|fields| fields.keys().find(|key| !allowed.contains(&key.as_str())))
    {
        return Err(Problem::invalid_field(
            unknown,
            "is not a field of this provider's source",
        ));
    }
    let source_credentials = match provider {
        Provider::Paypal => Credentials::paypal(
            text_field(&body, "webhook_id")?.unwrap_or_default(),
            text_field(&body, "certificate_pem")?,
            !app.config().paypal_fetch_certificates,
        ),
        _ => Credentials::hmac(text_field(&body, "secret")?.unwrap_or_default()),
    }
    .map_err(|invalid| Problem::invalid_field(invalid.field, invalid.message))?;
    app.put_source(&credentials, &tenant_id, provider, source_credentials)
        .await?;
    Ok(no_content())
}

#[derive(Deserialize)]
struct TenantPageQuery {
    tenant: Option<String>,
    #[serde(flatten)]
    page: PageQuery,
}

#[tracing::instrument(skip_all)]
async fn list_events(
    State(app): State<IngestionApp>,
    caller: Principal,
    Query(query): Query<TenantPageQuery>,
) -> ApiResult<Json<List<EventReceived>>> {
    let tenant = tenant_filter(&caller, query.tenant.as_deref())?;
    let page = query.page.page()?;
    let rows = app
        .events(tenant.as_deref(), page.after.as_deref(), page.fetch_limit())
        .await?;
    Ok(Json(List::from_rows(rows, &page, |event| event.id.clone())))
}

/// A dead event as the API shows it: where it came from, why it is dead, and what
/// was kept of it (the stripped payload).
#[derive(Serialize)]
struct DeadEventBody {
    id: String,
    tenant_id: String,
    provider: &'static str,
    topic: &'static str,
    provider_event_id: String,
    reason: String,
    deliveries: i64,
    received_at: String,
    payload: Option<Value>,
    status: &'static str,
    resolved_at: Option<String>,
    event_id: Option<String>,
}

impl From<DeadEvent> for DeadEventBody {
    fn from(dead: DeadEvent) -> Self {
        Self {
            provider: dead.topic.provider().as_str(),
            topic: dead.topic.provider_name(),
            status: if dead.resolution.is_some() {
                "resolved"
            } else {
                "dead"
            },
            resolved_at: dead
                .resolution
                .as_ref()
                .map(|r| platform::time::rfc3339(r.at)),
            event_id: dead.resolution.map(|r| r.event_id),
            id: dead.id,
            tenant_id: dead.tenant_id,
            provider_event_id: dead.provider_event_id,
            reason: dead.reason,
            deliveries: dead.deliveries,
            received_at: platform::time::rfc3339(dead.received_at),
            payload: dead.payload,
        }
    }
}

#[tracing::instrument(skip_all)]
async fn list_dead_events(
    State(app): State<IngestionApp>,
    caller: Principal,
    Query(query): Query<TenantPageQuery>,
) -> ApiResult<Json<List<DeadEventBody>>> {
    caller.require_admin()?;
    let tenant = tenant_filter(&caller, query.tenant.as_deref())?;
    let page = query.page.page()?;
    let rows = app
        .dead_events(tenant.as_deref(), page.after.as_deref(), page.fetch_limit())
        .await?;
    let rows: Vec<DeadEventBody> = rows.into_iter().map(DeadEventBody::from).collect();
    Ok(Json(List::from_rows(rows, &page, |dead| dead.id.clone())))
}

#[tracing::instrument(skip_all)]
async fn replay(
    State(app): State<IngestionApp>,
    caller: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    caller.require_admin()?;
    let (status, event_id) = match app.replay(None, &id).await? {
        Replayed::Stored(event_id) => ("stored", event_id),
        Replayed::AlreadyStored(event_id) => ("already_stored", event_id),
    };
    Ok(Json(
        serde_json::json!({"id": id, "status": status, "event_id": event_id}),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TaxonomyQuery {
    tenant: Option<String>,
}

fn taxonomy_body(view: TaxonomyView) -> Value {
    let mut body = view.taxonomy.to_json();
    if let Some(fields) = body.as_object_mut() {
        fields.insert("tenant".into(), view.tenant_id.into());
        fields.insert("origin".into(), view.origin.as_str().into());
        fields.insert("version".into(), view.version.into());
    }
    body
}

#[tracing::instrument(skip_all)]
async fn get_taxonomy(
    State(app): State<IngestionApp>,
    caller: Principal,
    Query(query): Query<TaxonomyQuery>,
) -> ApiResult<Json<Value>> {
    let tenant = tenant_filter(&caller, query.tenant.as_deref())?;
    Ok(Json(taxonomy_body(app.taxonomy(tenant.as_deref()).await?)))
}

#[tracing::instrument(skip_all)]
async fn put_taxonomy(
    State(app): State<IngestionApp>,
    caller: Principal,
    Query(query): Query<TaxonomyQuery>,
    Json(body): Json<Value>,
) -> ApiResult<Json<Value>> {
    let tenant = tenant_filter(&caller, query.tenant.as_deref())?;
    let taxonomy = Taxonomy::from_json(&body).map_err(|errors| {
        Problem::validation(
            errors
                .into_iter()
                .map(|(field, message)| platform::http::FieldError::new(field, message))
                .collect(),
        )
    })?;
    Ok(Json(taxonomy_body(
        app.put_taxonomy(tenant.as_deref(), taxonomy).await?,
    )))
}
