//! Merchants' outbound webhooks for admins: the event types there are, endpoints
//! (create, list, read, change, rotate the secret, delete), each endpoint's delivery
//! log with every attempt, and a resend.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use platform::auth::Principal;
use platform::config::ExposeSecret;
use platform::http::api::{ApiRouter, problems, routes};
use platform::http::{Json, List, PageQuery, Problem, Query, created};
use serde::{Deserialize, Serialize};
use utoipa::openapi::schema::{ArrayBuilder, Object, ObjectBuilder, SchemaType, Type};
use utoipa::{IntoParams, ToSchema};

use super::{ApiResult, names_schema, present};
use crate::app::{EndpointChange, NotificationsApp, POLICY};
use crate::domain::{
    Attempt, DeliveryStatus, Endpoint, EndpointSettings, MAX_DESCRIPTION_CHARS, MAX_EVENT_TYPES,
    MAX_URL_CHARS, WebhookDelivery, subscribable,
};

/// Where the endpoints live.
const BASE: &str = "/api/v1/admin/webhooks";

/// Admins' webhook routes.
pub(super) fn api() -> ApiRouter<NotificationsApp> {
    ApiRouter::new()
        .routes(routes!(event_types))
        .routes(routes!(list_endpoints, create_endpoint))
        .routes(routes!(get_endpoint, change_endpoint, delete_endpoint))
        .routes(routes!(rotate_secret))
        .routes(routes!(list_deliveries))
        .routes(routes!(get_delivery))
        .routes(routes!(resend_delivery))
}

/// One subscribable event type.
fn event_type() -> Object {
    names_schema("An event type", subscribable(), false)
}

/// The subscribed event types.
fn event_types_schema() -> utoipa::openapi::schema::Array {
    ArrayBuilder::new()
        .items(event_type())
        .min_items(Some(1))
        .max_items(Some(MAX_EVENT_TYPES))
        .description(Some(
            "The event types it receives (GET .../event-types lists them)",
        ))
        .build()
}

/// The subscriptions of a change: absent keeps them.
fn optional_event_types() -> utoipa::openapi::schema::Array {
    let mut schema = event_types_schema();
    schema.schema_type = SchemaType::from_iter([Type::Array, Type::Null]);
    schema.description =
        Some("New subscriptions replacing the old; absent or null keeps them".into());
    schema
}

fn url_schema(nullable: bool) -> Object {
    let kind = if nullable {
        SchemaType::from_iter([Type::String, Type::Null])
    } else {
        SchemaType::new(Type::String)
    };
    ObjectBuilder::new()
        .schema_type(kind)
        .description(Some(
            "An absolute http or https URL with a host, without a user name or password",
        ))
        .pattern(Some(r"^\s*[hH][tT][tT][pP][sS]?://\S+\s*$"))
        .max_length(Some(MAX_URL_CHARS))
        .build()
}

fn required_url() -> Object {
    url_schema(false)
}

fn optional_url() -> Object {
    url_schema(true)
}

fn description_schema() -> Object {
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .description(Some("What it is for, for people; no control characters"))
        .max_length(Some(MAX_DESCRIPTION_CHARS))
        .pattern(Some(r"^[^\x00-\x1f\x7f-\x9f]*$"))
        .build()
}

fn delivery_status() -> Object {
    names_schema(
        "pending (waiting for an attempt), delivered (answered 2xx) or failed (every attempt failed)",
        DeliveryStatus::ALL.into_iter().map(DeliveryStatus::as_str),
        false,
    )
}

/// An endpoint as the API shows it; `secret` only when it was just made.
#[derive(Debug, Serialize, ToSchema)]
struct EndpointView {
    /// Id.
    id: String,
    /// Where events are POSTed.
    url: String,
    /// What it is for.
    description: Option<String>,
    /// The event types it receives.
    #[schema(schema_with = event_types_schema)]
    event_types: Vec<String>,
    /// Whether events are sent to it.
    enabled: bool,
    /// The signing secret (`whsec_` and base64), shown only by the create and the
    /// rotation: keep it, the receiver verifies `webhook-signature` with it.
    #[serde(skip_serializing_if = "Option::is_none")]
    secret: Option<String>,
    /// Creation, RFC 3339.
    #[schema(format = DateTime)]
    created_at: String,
    /// Last change, RFC 3339.
    #[schema(format = DateTime)]
    updated_at: String,
}

impl EndpointView {
    fn new(endpoint: Endpoint, with_secret: bool) -> Self {
        Self {
            id: endpoint.id,
            url: endpoint.settings.url,
            description: endpoint.settings.description,
            event_types: endpoint.settings.event_types,
            enabled: endpoint.settings.enabled,
            secret: with_secret.then(|| endpoint.secret.expose_secret().to_owned()),
            created_at: platform::time::rfc3339(endpoint.created_at),
            updated_at: platform::time::rfc3339(endpoint.updated_at),
        }
    }
}

/// The event types an endpoint can subscribe to.
#[derive(Debug, Serialize, ToSchema)]
struct EventTypes {
    /// Sorted.
    #[schema(schema_with = event_types_schema)]
    items: Vec<&'static str>,
}

/// Every event type an endpoint can subscribe to (admins).
#[utoipa::path(
    get,
    path = "/api/v1/admin/webhooks/event-types",
    responses(
        (status = 200, description = "The subscribable event types", body = EventTypes),
        problems::Unauthorized, problems::Forbidden,
    ),
)]
#[tracing::instrument(skip_all)]
async fn event_types(caller: Principal) -> ApiResult<Json<EventTypes>> {
    POLICY.require_manage(&caller)?;
    Ok(Json(EventTypes {
        items: subscribable(),
    }))
}

/// A new endpoint.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"url": "https://erp.shop.example/hooks/viscount", "description": "ERP order import", "event_types": ["ordering.order.confirmed.v1", "ordering.order.refunded.v1"]}))]
struct CreateEndpointBody {
    /// Where events are POSTed.
    #[schema(schema_with = required_url)]
    url: String,
    /// What it is for.
    #[serde(default)]
    #[schema(schema_with = description_schema)]
    description: Option<String>,
    /// The event types it receives.
    #[schema(schema_with = event_types_schema)]
    event_types: Vec<String>,
    /// Whether events are sent to it (true when absent).
    #[serde(default)]
    enabled: Option<bool>,
}

/// Registers an endpoint for some event types; the answer carries its signing secret,
/// shown this once (admins).
#[utoipa::path(
    post,
    path = "/api/v1/admin/webhooks",
    request_body = CreateEndpointBody,
    responses(
        (status = 201, description = "Created, with its secret", body = EndpointView,
            headers(("Location" = String, description = "The new endpoint"))),
        problems::BadRequest, problems::Unauthorized, problems::Forbidden, problems::Invalid,
    ),
)]
#[tracing::instrument(skip_all)]
async fn create_endpoint(
    State(app): State<NotificationsApp>,
    caller: Principal,
    Json(body): Json<CreateEndpointBody>,
) -> ApiResult<Response> {
    POLICY.require_manage(&caller)?;
    let settings = EndpointSettings::new(
        &body.url,
        body.description,
        body.event_types,
        body.enabled.unwrap_or(true),
    )
    .map_err(|(field, why)| Problem::invalid_field(field, why.to_string()))?;
    let endpoint = app.create_endpoint(settings).await?;
    let location = format!("{BASE}/{}", endpoint.id);
    Ok(created(&location, EndpointView::new(endpoint, true)))
}

/// Every endpoint, by id (admins).
#[utoipa::path(
    get,
    path = "/api/v1/admin/webhooks",
    params(PageQuery),
    responses(
        (status = 200, description = "One page of endpoints", body = List<EndpointView>),
        problems::Unauthorized, problems::Forbidden, problems::Invalid,
    ),
)]
#[tracing::instrument(skip_all)]
async fn list_endpoints(
    State(app): State<NotificationsApp>,
    caller: Principal,
    Query(query): Query<PageQuery>,
) -> ApiResult<Json<List<EndpointView>>> {
    POLICY.require_manage(&caller)?;
    let page = query.page()?;
    let rows = app
        .endpoints(page.after.as_deref(), page.fetch_limit())
        .await?;
    let list = List::from_rows(rows, &page, |e| e.id.clone());
    Ok(Json(List {
        items: list
            .items
            .into_iter()
            .map(|e| EndpointView::new(e, false))
            .collect(),
        next_cursor: list.next_cursor,
    }))
}

/// One endpoint, without its secret (admins).
#[utoipa::path(
    get,
    path = "/api/v1/admin/webhooks/{id}",
    params(("id" = String, Path, description = "The endpoint's id")),
    responses(
        (status = 200, description = "The endpoint", body = EndpointView),
        problems::Unauthorized, problems::Forbidden, problems::NotFound,
    ),
)]
#[tracing::instrument(skip_all)]
async fn get_endpoint(
    State(app): State<NotificationsApp>,
    caller: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<EndpointView>> {
    POLICY.require_manage(&caller)?;
    Ok(Json(EndpointView::new(app.endpoint(&id).await?, false)))
}

/// A change to an endpoint; fields left out keep their value.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"enabled": false}))]
struct ChangeEndpointBody {
    /// A new URL.
    #[serde(default)]
    #[schema(schema_with = optional_url)]
    url: Option<String>,
    /// A new description; null clears it.
    #[serde(default, deserialize_with = "present")]
    #[schema(schema_with = description_schema)]
    description: Option<Option<String>>,
    /// New subscriptions, replacing the old.
    #[serde(default)]
    #[schema(schema_with = optional_event_types)]
    event_types: Option<Vec<String>>,
    /// Switches sending on or off (deliveries wait while it is off).
    #[serde(default)]
    enabled: Option<bool>,
}

/// Changes an endpoint's URL, description, subscriptions or switch (admins).
#[utoipa::path(
    patch,
    path = "/api/v1/admin/webhooks/{id}",
    params(("id" = String, Path, description = "The endpoint's id")),
    request_body = ChangeEndpointBody,
    responses(
        (status = 200, description = "The endpoint after the change", body = EndpointView),
        problems::BadRequest, problems::Unauthorized, problems::Forbidden, problems::NotFound,
        problems::Invalid,
    ),
)]
#[tracing::instrument(skip_all)]
async fn change_endpoint(
    State(app): State<NotificationsApp>,
    caller: Principal,
    Path(id): Path<String>,
    Json(body): Json<ChangeEndpointBody>,
) -> ApiResult<Json<EndpointView>> {
    POLICY.require_manage(&caller)?;
    let change = EndpointChange {
        url: body.url,
        description: body.description,
        event_types: body.event_types,
        enabled: body.enabled,
    };
    Ok(Json(EndpointView::new(
        app.change_endpoint(&id, change).await?,
        false,
    )))
}

/// Deletes an endpoint and its delivery log; queued deliveries are dropped (admins).
#[utoipa::path(
    delete,
    path = "/api/v1/admin/webhooks/{id}",
    params(("id" = String, Path, description = "The endpoint's id")),
    responses(
        (status = 204, description = "Deleted"),
        problems::Unauthorized, problems::Forbidden, problems::NotFound,
    ),
)]
#[tracing::instrument(skip_all)]
async fn delete_endpoint(
    State(app): State<NotificationsApp>,
    caller: Principal,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    POLICY.require_manage(&caller)?;
    app.delete_endpoint(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Gives an endpoint a new signing secret, shown this once; attempts from now on are
/// signed with it (admins).
#[utoipa::path(
    post,
    path = "/api/v1/admin/webhooks/{id}/rotate-secret",
    params(("id" = String, Path, description = "The endpoint's id")),
    responses(
        (status = 200, description = "The endpoint with its new secret", body = EndpointView),
        problems::Unauthorized, problems::Forbidden, problems::NotFound,
    ),
)]
#[tracing::instrument(skip_all)]
async fn rotate_secret(
    State(app): State<NotificationsApp>,
    caller: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<EndpointView>> {
    POLICY.require_manage(&caller)?;
    Ok(Json(EndpointView::new(app.rotate_secret(&id).await?, true)))
}

/// One attempt as the log shows it.
#[derive(Debug, Serialize, ToSchema)]
struct AttemptView {
    /// 1-based.
    attempt: u32,
    /// When it started, RFC 3339.
    #[schema(format = DateTime)]
    at: String,
    /// The endpoint's HTTP status (null when it did not answer).
    status_code: Option<u16>,
    /// Why it failed (null when it succeeded).
    error: Option<String>,
    /// How long it took.
    duration_ms: i64,
}

impl From<Attempt> for AttemptView {
    fn from(a: Attempt) -> Self {
        Self {
            attempt: a.attempt,
            at: platform::time::rfc3339(a.at),
            status_code: a.status_code,
            error: a.error,
            duration_ms: a.duration_ms,
        }
    }
}

/// A delivery as the log shows it; `payload` and `attempts_log` only on the detail.
#[derive(Debug, Serialize, ToSchema)]
struct DeliveryView {
    /// Id: the `webhook-id` every attempt carries.
    id: String,
    /// The endpoint.
    endpoint_id: String,
    /// The event's id.
    event_id: String,
    /// The event's type.
    event_type: String,
    /// Where it stands.
    #[schema(schema_with = delivery_status)]
    status: String,
    /// Attempts so far.
    attempts: u32,
    /// The last attempt's HTTP status.
    last_status_code: Option<u16>,
    /// Why the last attempt failed.
    last_error: Option<String>,
    /// When it was queued, RFC 3339.
    #[schema(format = DateTime)]
    created_at: String,
    /// When the endpoint took it.
    #[schema(format = DateTime)]
    delivered_at: Option<String>,
    /// When the next attempt is due (pending only).
    #[schema(format = DateTime)]
    next_attempt_at: Option<String>,
    /// The exact body every attempt sends (the detail only).
    #[serde(skip_serializing_if = "Option::is_none")]
    payload: Option<String>,
    /// Every attempt, oldest first (the detail only).
    #[serde(skip_serializing_if = "Option::is_none")]
    attempts_log: Option<Vec<AttemptView>>,
}

impl DeliveryView {
    fn new(d: WebhookDelivery, detail: Option<Vec<Attempt>>) -> Self {
        let pending = d.status == DeliveryStatus::Pending;
        let with_payload = detail.is_some();
        Self {
            status: d.status.as_str().to_owned(),
            attempts: d.attempts,
            last_status_code: d.last_status_code,
            last_error: d.last_error,
            created_at: platform::time::rfc3339(d.created_at),
            delivered_at: d.delivered_at.map(platform::time::rfc3339),
            next_attempt_at: pending.then(|| platform::time::rfc3339(d.next_attempt_at)),
            payload: with_payload.then_some(d.payload),
            attempts_log: detail.map(|a| a.into_iter().map(AttemptView::from).collect()),
            id: d.id,
            endpoint_id: d.endpoint_id,
            event_id: d.event_id,
            event_type: d.event_type,
        }
    }
}

/// The `status` filter: a status, or empty for every status.
fn status_filter() -> Object {
    names_schema(
        "Only deliveries in this status (empty: every status)",
        DeliveryStatus::ALL
            .into_iter()
            .map(DeliveryStatus::as_str)
            .chain([""]),
        false,
    )
}

/// Which deliveries to list.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct DeliveryFilter {
    /// Only deliveries in this status.
    #[serde(default)]
    #[param(schema_with = status_filter)]
    status: Option<String>,
}

/// An endpoint's deliveries, newest first (admins).
#[utoipa::path(
    get,
    path = "/api/v1/admin/webhooks/{id}/deliveries",
    params(("id" = String, Path, description = "The endpoint's id"), DeliveryFilter, PageQuery),
    responses(
        (status = 200, description = "One page of deliveries", body = List<DeliveryView>),
        problems::Unauthorized, problems::Forbidden, problems::NotFound, problems::Invalid,
    ),
)]
#[tracing::instrument(skip_all)]
async fn list_deliveries(
    State(app): State<NotificationsApp>,
    caller: Principal,
    Path(id): Path<String>,
    Query(filter): Query<DeliveryFilter>,
    Query(query): Query<PageQuery>,
) -> ApiResult<Json<List<DeliveryView>>> {
    POLICY.require_manage(&caller)?;
    let status = match filter.status.as_deref() {
        None | Some("") => None,
        Some(raw) => Some(DeliveryStatus::parse(raw).ok_or_else(|| {
            Problem::invalid_field("status", "must be pending, delivered or failed")
        })?),
    };
    let page = query.page()?;
    let rows = app
        .deliveries(&id, status, page.after.as_deref(), page.fetch_limit())
        .await?;
    let list = List::from_rows(rows, &page, |d| d.id.clone());
    Ok(Json(List {
        items: list
            .items
            .into_iter()
            .map(|d| DeliveryView::new(d, None))
            .collect(),
        next_cursor: list.next_cursor,
    }))
}

/// One delivery with its body and every attempt (admins).
#[utoipa::path(
    get,
    path = "/api/v1/admin/webhooks/{id}/deliveries/{delivery_id}",
    params(
        ("id" = String, Path, description = "The endpoint's id"),
        ("delivery_id" = String, Path, description = "The delivery's id"),
    ),
    responses(
        (status = 200, description = "The delivery", body = DeliveryView),
        problems::Unauthorized, problems::Forbidden, problems::NotFound,
    ),
)]
#[tracing::instrument(skip_all)]
async fn get_delivery(
    State(app): State<NotificationsApp>,
    caller: Principal,
    Path((id, delivery_id)): Path<(String, String)>,
) -> ApiResult<Json<DeliveryView>> {
    POLICY.require_manage(&caller)?;
    let (delivery, attempts) = app.delivery(&id, &delivery_id).await?;
    Ok(Json(DeliveryView::new(delivery, Some(attempts))))
}

/// Sends a delivered or failed delivery once more, now (admins).
#[utoipa::path(
    post,
    path = "/api/v1/admin/webhooks/{id}/deliveries/{delivery_id}/resend",
    params(
        ("id" = String, Path, description = "The endpoint's id"),
        ("delivery_id" = String, Path, description = "The delivery's id"),
    ),
    responses(
        (status = 202, description = "Queued for one more attempt", body = DeliveryView),
        problems::Unauthorized, problems::Forbidden, problems::NotFound,
        (status = 409, description = "It is still pending: an attempt is already on its way", body = Problem, content_type = "application/problem+json"),
    ),
)]
#[tracing::instrument(skip_all)]
async fn resend_delivery(
    State(app): State<NotificationsApp>,
    caller: Principal,
    Path((id, delivery_id)): Path<(String, String)>,
) -> ApiResult<Response> {
    POLICY.require_manage(&caller)?;
    let (delivery, attempts) = app.resend(&id, &delivery_id).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(DeliveryView::new(delivery, Some(attempts))),
    )
        .into_response())
}
