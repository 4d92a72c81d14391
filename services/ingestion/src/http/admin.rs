//! Sources, stored and dead events, replay and channel taxonomies: for admins; a
//! tenant's own key also reads its stored events and reads and sets its own taxonomy.
//! A tenant key naming another tenant is answered 404.

use axum::extract::{Path, State};
use axum::response::Response;
use contracts::ingestion::{Channel, EventReceived, Provider};
use platform::auth::{ForwardedCredentials, Principal};
use platform::http::api::{ApiRouter, problems, routes};
use platform::http::{Json, List, PageQuery, Problem, Query, no_content};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use super::{ApiResult, tenant_filter};
use crate::app::{IngestionApp, Replayed, TaxonomyView};
use crate::domain::event::DeadEvent;
use crate::domain::source::Credentials;
use crate::domain::taxonomy::Taxonomy;

/// Sources, events, dead events and the channel taxonomy.
pub(super) fn api() -> ApiRouter<IngestionApp> {
    ApiRouter::new()
        .routes(routes!(put_source))
        .routes(routes!(list_events))
        .routes(routes!(list_dead_events))
        .routes(routes!(replay))
        .routes(routes!(get_taxonomy, put_taxonomy))
}

/// A text field of a raw JSON body, or why not.
fn text_field(body: &Value, field: &'static str) -> Result<Option<String>, Problem> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(_) => Err(Problem::invalid_field(field, "must be a string")),
    }
}

/// A source's credentials: `secret` for Shopify, Stripe and WooCommerce;
/// `webhook_id` and, unless certificates are fetched from PayPal, `certificate_pem` for
/// PayPal. (The handler reads the raw object, to name a field the provider does not
/// take.)
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"secret": "whsec_5f2b7c…"}))]
#[expect(
    dead_code,
    reason = "documentation only: the body is read as a JSON object"
)]
struct SourceCredentials {
    /// The shared HMAC secret (Shopify, Stripe, WooCommerce).
    #[schema(min_length = 1)]
    secret: Option<String>,
    /// PayPal's id of the tenant's webhook.
    #[schema(min_length = 1)]
    webhook_id: Option<String>,
    /// PayPal's signing certificate, PEM (an RSA key of 2048 to 8192 bits).
    certificate_pem: Option<String>,
}

/// Sets a tenant's source for a provider.
///
/// The credentials its webhooks are verified with, replacing earlier ones (admins).
#[utoipa::path(
    put,
    path = "/api/v1/tenants/{id}/sources/{provider}",
    params(
        ("id" = String, Path, description = "The tenant's id"),
        ("provider" = String, Path, description = "The webhook provider",
            pattern = "^(shopify|stripe|paypal|woocommerce)$"),
    ),
    request_body = SourceCredentials,
    responses(
        (status = 204, description = "Set"),
        problems::BadRequest, problems::Unauthorized, problems::Forbidden, problems::NotFound,
        problems::Invalid, problems::Unavailable,
    ),
)]
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

/// A list's query (paging is [`PageQuery`]'s).
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct TenantPageQuery {
    /// Only this tenant's (an admin's filter; a tenant key sees its own).
    tenant: Option<String>,
    #[serde(flatten)]
    #[param(ignore)]
    page: PageQuery,
}

/// Stored attribution events, one cursor page at a time.
///
/// Oldest first (admins; a tenant key, its own). They hold no personal data.
#[utoipa::path(
    get,
    path = "/api/v1/ingestion/events",
    params(TenantPageQuery, PageQuery),
    responses(
        (status = 200, description = "One page of events", body = List<EventReceived>),
        problems::Unauthorized, problems::Forbidden, problems::NotFound, problems::Invalid,
    ),
)]
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
#[derive(Serialize, ToSchema)]
struct DeadEventBody {
    /// Its id.
    id: String,
    /// The tenant whose source sent it.
    tenant_id: String,
    /// The provider.
    #[schema(value_type = Provider)]
    provider: &'static str,
    /// The provider's name of the event (`orders/create`, `charge.succeeded`, ...).
    topic: &'static str,
    /// The provider's id of the event.
    provider_event_id: String,
    /// Why it could not be stored as an event.
    reason: String,
    /// How many times it was delivered.
    deliveries: i64,
    /// When it first arrived (RFC 3339).
    received_at: String,
    /// What was kept of the delivery (its allow-listed fields); null when nothing could
    /// be.
    #[schema(value_type = Option<Object>)]
    payload: Option<Value>,
    /// `dead`, or `resolved` once a replay or a later delivery stored it.
    #[schema(pattern = "^(dead|resolved)$")]
    status: &'static str,
    /// When it was resolved (RFC 3339); null while dead.
    resolved_at: Option<String>,
    /// The event that resolved it; null while dead.
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

/// Dead events, one cursor page at a time.
///
/// Deliveries that were signed correctly but could not be normalized, each with its
/// reason (admins).
#[utoipa::path(
    get,
    path = "/api/v1/ingestion/dead-events",
    params(TenantPageQuery, PageQuery),
    responses(
        (status = 200, description = "One page of dead events", body = List<DeadEventBody>),
        problems::Unauthorized, problems::Forbidden, problems::Invalid,
    ),
)]
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

/// What a replay came to.
#[derive(Serialize, ToSchema)]
struct ReplayBody {
    /// The dead event.
    id: String,
    /// What became of it.
    status: ReplayStatus,
    /// The stored event.
    event_id: String,
}

/// What a replay came to, by name.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
enum ReplayStatus {
    /// Stored now.
    Stored,
    /// Stored before (by an earlier replay or a later delivery).
    AlreadyStored,
}

/// Replays a dead event.
///
/// Its kept payload is normalized and stored again, under the taxonomy now in force
/// (admins).
#[utoipa::path(
    post,
    path = "/api/v1/ingestion/dead-events/{id}/replay",
    params(("id" = String, Path, format = "uuid", description = "The dead event's id")),
    responses(
        (status = 200, description = "Stored", body = ReplayBody),
        problems::Unauthorized, problems::Forbidden, problems::NotFound, problems::Conflict,
        problems::Invalid,
    ),
)]
#[tracing::instrument(skip_all)]
async fn replay(
    State(app): State<IngestionApp>,
    caller: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<ReplayBody>> {
    caller.require_admin()?;
    // Dead events' ids are UUIDs: other text is no dead event, and is not sent to the
    // database (which refuses some of it, a NUL byte, with an error).
    if !platform::ids::is_uuid(&id) {
        return Err(Problem::not_found("dead event"));
    }
    let (status, event_id) = match app.replay(None, &id).await? {
        Replayed::Stored(event_id) => (ReplayStatus::Stored, event_id),
        Replayed::AlreadyStored(event_id) => (ReplayStatus::AlreadyStored, event_id),
    };
    Ok(Json(ReplayBody {
        id,
        status,
        event_id,
    }))
}

/// The channel-taxonomy calls' query.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct TaxonomyQuery {
    /// The tenant (an admin's choice; the platform's taxonomy when absent; a tenant key's
    /// own).
    tenant: Option<String>,
}

/// One rule of a taxonomy: the channel of the events whose fields match every condition
/// it states. Patterns are regular expressions matched whole and case-insensitively.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
#[expect(
    dead_code,
    reason = "documentation only: rules are read and written as JSON"
)]
struct TaxonomyRule {
    /// The channel.
    channel: Channel,
    /// Matches `utm_source`.
    #[schema(min_length = 1, max_length = 500, format = Regex)]
    source: Option<String>,
    /// Matches `utm_medium`.
    #[schema(min_length = 1, max_length = 500, format = Regex)]
    medium: Option<String>,
    /// Matches `utm_campaign`.
    #[schema(min_length = 1, max_length = 500, format = Regex)]
    campaign: Option<String>,
    /// Matches the referring host.
    #[schema(min_length = 1, max_length = 500, format = Regex)]
    referrer: Option<String>,
    /// Matches the storefront's source name.
    #[schema(min_length = 1, max_length = 500, format = Regex)]
    source_name: Option<String>,
    /// The kind of site the source or referrer is.
    #[schema(pattern = "^(search|social|shopping|video|email)$")]
    source_category: Option<String>,
    /// Whether the event has no source at all (not `true` together with `source`,
    /// `medium`, `referrer` or `source_category`).
    direct: Option<bool>,
}

/// A taxonomy to put in force. Other top-level members (what `GET` answers) are
/// ignored.
#[derive(ToSchema)]
#[schema(example = json!({"rules": [{"channel": "paid_search", "source": "google|bing", "medium": "cpc|ppc"}, {"channel": "direct", "direct": true}]}))]
#[expect(dead_code, reason = "documentation only: the body is read as JSON")]
struct TaxonomyRequest {
    /// The rules, in order: the first that matches decides (1 to 100).
    #[schema(min_items = 1, max_items = 100)]
    rules: Vec<TaxonomyRule>,
}

/// The taxonomy in force.
#[derive(Serialize, ToSchema)]
struct TaxonomyBody {
    /// The rules, in order: the first that matches decides.
    #[schema(value_type = Vec<TaxonomyRule>)]
    rules: Value,
    /// The tenant it is in force for; null for the platform's.
    tenant: Option<String>,
    /// `tenant` (its own), `platform` (an operator's) or `default` (the built-in rules).
    #[schema(pattern = "^(default|platform|tenant)$")]
    origin: &'static str,
    /// Its version (0 for the built-in defaults).
    version: i64,
}

fn taxonomy_body(view: TaxonomyView) -> TaxonomyBody {
    let mut rules = view.taxonomy.to_json();
    TaxonomyBody {
        rules: rules.get_mut("rules").map(Value::take).unwrap_or_default(),
        tenant: view.tenant_id,
        origin: view.origin.as_str(),
        version: view.version,
    }
}

/// The channel taxonomy in force.
///
/// A tenant's own, else the platform's, else the built-in defaults (admins; a tenant
/// key, its own).
#[utoipa::path(
    get,
    path = "/api/v1/ingestion/channel-taxonomy",
    params(TaxonomyQuery),
    responses(
        (status = 200, description = "The taxonomy in force", body = TaxonomyBody),
        problems::Unauthorized, problems::Forbidden, problems::NotFound, problems::Invalid,
    ),
)]
#[tracing::instrument(skip_all)]
async fn get_taxonomy(
    State(app): State<IngestionApp>,
    caller: Principal,
    Query(query): Query<TaxonomyQuery>,
) -> ApiResult<Json<TaxonomyBody>> {
    let tenant = tenant_filter(&caller, query.tenant.as_deref())?;
    Ok(Json(taxonomy_body(app.taxonomy(tenant.as_deref()).await?)))
}

/// Replaces a channel taxonomy.
///
/// A tenant's, or without a tenant the platform's (admins; a tenant key, its own).
#[utoipa::path(
    put,
    path = "/api/v1/ingestion/channel-taxonomy",
    params(TaxonomyQuery),
    request_body = TaxonomyRequest,
    responses(
        (status = 200, description = "The taxonomy now in force", body = TaxonomyBody),
        problems::BadRequest, problems::Unauthorized, problems::Forbidden, problems::NotFound,
        problems::Invalid,
    ),
)]
#[tracing::instrument(skip_all)]
async fn put_taxonomy(
    State(app): State<IngestionApp>,
    caller: Principal,
    Query(query): Query<TaxonomyQuery>,
    Json(body): Json<Value>,
) -> ApiResult<Json<TaxonomyBody>> {
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
