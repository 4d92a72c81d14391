//! Fulfillment's HTTP API (API.md, Fulfillment): shipments, their labels, rates,
//! operator dispatch and delivery, the carrier tracking webhook, and returns. Bodies
//! become checked values here; the operations live in `app`.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::handler::Handler;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use contracts::ordering::ShippingAddress;
use platform::auth::{Authenticator, Principal};
use platform::http::{Fields, Json, List, PageQuery, Problem, Query, created};
use platform::idempotency::{Idempotency, idempotent};
use serde::{Deserialize, Serialize};

use crate::app::{
    Caller, CarrierUpdate, FulfillmentApp, FulfillmentError, NewReturn, ShipmentDetail, return_skus,
};
use crate::carrier::SIGNATURE_HEADER;
use crate::domain::{
    self, LineRefusal, MAX_RETURN_LINES, Money, Place, Quote, ReturnStatus, ShipmentStatus, Sku,
    Text,
};
use crate::store::ReturnRecord;

/// The scope an operator client (a warehouse system's API key) needs to see every
/// shipment and return and to move them; admins hold it.
pub const SCOPE_WRITE: &str = "fulfillment:write";

/// How far ahead of this service's clock a carrier's event time may be (clock skew).
const MAX_FUTURE_MS: i64 = 24 * 3600 * 1000;

/// The routes, behind the authentication middleware (the carrier webhook needs no
/// bearer token: its body is signed). Opening a return takes an optional
/// `Idempotency-Key`.
pub fn router(app: FulfillmentApp, authenticator: Authenticator) -> Router {
    let idempotency = Idempotency::optional(app.db().clone());
    Router::new()
        .route("/api/v1/shipments/quote", post(quote))
        .route("/api/v1/shipments/{id}", get(get_shipment))
        .route("/api/v1/shipments/{id}/label", get(get_label))
        .route("/api/v1/shipments/{id}/rates", get(get_rates))
        .route("/api/v1/shipments/{id}/dispatch", post(dispatch))
        .route("/api/v1/shipments/{id}/deliver", post(deliver))
        .route("/api/v1/shipments/{id}/tracking", post(tracking))
        .route("/api/v1/orders/{id}/shipments", get(order_shipments))
        .route(
            "/api/v1/returns",
            post(create_return.layer(from_fn_with_state(idempotency, idempotent))),
        )
        .route("/api/v1/returns/{id}", get(get_return))
        .route("/api/v1/returns/{id}/approve", post(approve_return))
        .route("/api/v1/returns/{id}/reject", post(reject_return))
        .route("/api/v1/returns/{id}/receive", post(receive_return))
        .with_state(app)
        .layer(from_fn_with_state(
            authenticator,
            platform::auth::authenticate,
        ))
}

type ApiResult<T> = Result<T, Problem>;

/// The problem for `err`, naming `what` when it is not found.
fn problem(err: FulfillmentError, what: &str) -> Problem {
    match &err {
        FulfillmentError::NotFound => Problem::not_found(what),
        FulfillmentError::ShipmentTransition { from, .. } => {
            Problem::conflict("shipment-status-conflict", err.to_string())
                .with("shipment_status", from.as_str())
        }
        FulfillmentError::ReturnTransition { from, .. } => {
            Problem::conflict("return-status-conflict", err.to_string())
                .with("return_status", from.as_str())
        }
        FulfillmentError::BadSignature => Problem::unauthorized(err.to_string()),
        FulfillmentError::TrackingMismatch => Problem::invalid_field(
            "tracking_number",
            "does not match the shipment's tracking number",
        ),
        FulfillmentError::NotDelivered => Problem::conflict("order-not-delivered", err.to_string()),
        FulfillmentError::WindowClosed { closed_at, .. } => {
            Problem::conflict("return-window-closed", err.to_string())
                .with("closed_at", closed_at.clone())
        }
        FulfillmentError::ReturnLines(lines) => {
            let mut fields = Fields::default();
            for (i, refusal) in lines {
                let field = match refusal {
                    LineRefusal::TooMany { .. } => "quantity",
                    LineRefusal::NotDelivered | LineRefusal::WindowClosed => "sku",
                };
                fields.push(&format!("lines[{i}].{field}"), refusal.to_string());
            }
            fields.into_problem()
        }
        FulfillmentError::Sql(cause) => Problem::unexpected(cause),
    }
}

/// The caller: its subject, and whether it acts for the shop (admins and clients
/// holding [`SCOPE_WRITE`]).
fn caller(principal: &Principal) -> Caller {
    Caller {
        user_id: principal.subject.clone(),
        admin: principal.has_scope(SCOPE_WRITE),
    }
}

/// 403 unless the caller acts for the shop.
fn operator(principal: &Principal) -> ApiResult<Caller> {
    principal.require_scope(SCOPE_WRITE)?;
    Ok(caller(principal))
}

/// One line of a shipment or return.
#[derive(Serialize)]
struct LineView {
    sku: String,
    quantity: i64,
}

/// One entry of a shipment's tracking history.
#[derive(Serialize)]
struct EventView {
    status: String,
    occurred_at: String,
    location: Option<String>,
    description: Option<String>,
    source: String,
}

/// A shipment as the API shows it.
#[derive(Serialize)]
struct ShipmentView {
    id: String,
    order_id: String,
    user_id: String,
    warehouse_id: String,
    carrier: String,
    tracking_number: String,
    tracking_url: Option<String>,
    status: String,
    rate: Money,
    weight_grams: i64,
    lines: Vec<LineView>,
    ship_to: Option<ShippingAddress>,
    events: Vec<EventView>,
    label_url: String,
    created_at: String,
    updated_at: String,
    dispatched_at: Option<String>,
    delivered_at: Option<String>,
}

impl From<ShipmentDetail> for ShipmentView {
    fn from(detail: ShipmentDetail) -> Self {
        let s = detail.shipment;
        Self {
            label_url: format!("/api/v1/shipments/{}/label", s.id),
            ship_to: s
                .ship_to
                .as_deref()
                .and_then(|t| serde_json::from_str(t).ok()),
            rate: Money {
                amount: s.rate_amount,
                currency: s.rate_currency,
            },
            lines: s
                .lines
                .into_iter()
                .map(|(sku, quantity)| LineView { sku, quantity })
                .collect(),
            events: detail
                .events
                .into_iter()
                .map(|e| EventView {
                    status: e.status,
                    occurred_at: platform::time::rfc3339(e.occurred_at),
                    location: e.location,
                    description: e.description,
                    source: e.source,
                })
                .collect(),
            tracking_url: detail.tracking_url,
            id: s.id,
            order_id: s.order_id,
            user_id: s.user_id,
            warehouse_id: s.warehouse_id,
            carrier: s.carrier,
            tracking_number: s.tracking_number,
            status: s.status,
            weight_grams: s.weight_grams,
            created_at: platform::time::rfc3339(s.created_at),
            updated_at: platform::time::rfc3339(s.updated_at),
            dispatched_at: s.dispatched_at.map(platform::time::rfc3339),
            delivered_at: s.delivered_at.map(platform::time::rfc3339),
        }
    }
}

#[tracing::instrument(skip_all)]
async fn get_shipment(
    State(app): State<FulfillmentApp>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<ShipmentView>> {
    app.shipment(&caller(&principal), &id)
        .await
        .map(|d| Json(d.into()))
        .map_err(|e| problem(e, "shipment"))
}

#[tracing::instrument(skip_all)]
async fn order_shipments(
    State(app): State<FulfillmentApp>,
    principal: Principal,
    Path(order_id): Path<String>,
    Query(query): Query<PageQuery>,
) -> ApiResult<Json<List<ShipmentView>>> {
    let page = query.page()?;
    let details = app
        .order_shipments(
            &caller(&principal),
            &order_id,
            page.after.as_deref(),
            page.fetch_limit(),
        )
        .await
        .map_err(|e| problem(e, "order"))?;
    let list = List::from_rows(details, &page, |d| d.shipment.id.clone());
    Ok(Json(List {
        items: list.items.into_iter().map(ShipmentView::from).collect(),
        next_cursor: list.next_cursor,
    }))
}

#[tracing::instrument(skip_all)]
async fn get_label(
    State(app): State<FulfillmentApp>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let pdf = app
        .label(&caller(&principal), &id)
        .await
        .map_err(|e| problem(e, "shipment"))?;
    let disposition = HeaderValue::from_str(&format!("inline; filename=\"label-{id}.pdf\""))
        .unwrap_or_else(|_| HeaderValue::from_static("inline"));
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/pdf"),
            ),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        pdf,
    )
        .into_response())
}

/// A carrier's price as the API shows it.
#[derive(Serialize)]
struct QuoteView {
    carrier: String,
    zone: u8,
    rate: Money,
}

fn quote_list(quotes: Vec<Quote>) -> List<QuoteView> {
    List {
        items: quotes
            .into_iter()
            .map(|q| QuoteView {
                carrier: q.carrier,
                zone: q.zone,
                rate: q.rate,
            })
            .collect(),
        next_cursor: None,
    }
}

#[tracing::instrument(skip_all)]
async fn get_rates(
    State(app): State<FulfillmentApp>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<List<QuoteView>>> {
    app.rates(&caller(&principal), &id)
        .await
        .map(|q| Json(quote_list(q)))
        .map_err(|e| problem(e, "shipment"))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DestinationBody {
    country: String,
    postal_code: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct QuoteBody {
    to: DestinationBody,
    #[serde(default)]
    units: Option<i64>,
    #[serde(default)]
    warehouse_id: Option<String>,
}

/// What carrying `units` units (1 by default) to a destination would cost: a shipping
/// estimate before an order exists. Anyone may ask.
#[tracing::instrument(skip_all)]
async fn quote(
    State(app): State<FulfillmentApp>,
    Json(body): Json<QuoteBody>,
) -> ApiResult<Json<List<QuoteView>>> {
    let mut fields = Fields::default();
    let country = body.to.country.trim().to_ascii_uppercase();
    if country.len() != 2 || !country.bytes().all(|b| b.is_ascii_uppercase()) {
        fields.push("to.country", "must be a two-letter ISO 3166-1 country code");
    }
    let postal_code = fields.check("to.postal_code", Text::<20>::try_from(body.to.postal_code));
    let units = body.units.unwrap_or(1);
    if !(1..=10_000).contains(&units) {
        fields.push("units", "must be between 1 and 10000");
    }
    let (Some(postal_code), true) = (postal_code, fields.is_ok()) else {
        return Err(fields.into_problem());
    };
    let to = Place {
        country,
        postal_code: postal_code.into_string(),
    };
    let units = u32::try_from(units).unwrap_or(1);
    Ok(Json(quote_list(app.quote(
        body.warehouse_id.as_deref(),
        units,
        to,
    ))))
}

async fn advance(
    app: &FulfillmentApp,
    principal: &Principal,
    id: &str,
    to: ShipmentStatus,
) -> ApiResult<Json<ShipmentView>> {
    let operator = operator(principal)?;
    app.advance(&operator.user_id, id, to)
        .await
        .map(|d| Json(d.into()))
        .map_err(|e| problem(e, "shipment"))
}

#[tracing::instrument(skip_all)]
async fn dispatch(
    State(app): State<FulfillmentApp>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<ShipmentView>> {
    advance(&app, &principal, &id, ShipmentStatus::Dispatched).await
}

#[tracing::instrument(skip_all)]
async fn deliver(
    State(app): State<FulfillmentApp>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<ShipmentView>> {
    advance(&app, &principal, &id, ShipmentStatus::Delivered).await
}

/// A carrier's tracking update as it arrives. Unknown fields are ignored: carriers add
/// fields without notice.
#[derive(Deserialize)]
struct TrackingBody {
    tracking_number: String,
    status: String,
    occurred_at: String,
    #[serde(default)]
    location: Option<String>,
    #[serde(default)]
    description: Option<String>,
}

/// What the carrier is told.
#[derive(Serialize)]
struct TrackingAck {
    shipment_id: String,
    status: String,
    duplicate: bool,
    applied: bool,
}

/// An optional text: absent or blank is `None`.
fn optional_text<const MAX: usize>(
    fields: &mut Fields,
    field: &str,
    raw: Option<String>,
) -> Option<String> {
    raw.filter(|t| !t.trim().is_empty())
        .and_then(|t| fields.check(field, Text::<MAX>::try_from(t)))
        .map(Text::into_string)
}

/// The carrier webhook: authenticated by the HMAC-SHA256 signature of the raw body
/// (`X-Carrier-Signature: sha256=<hex>`), checked before the body is parsed.
#[tracing::instrument(skip_all)]
async fn tracking(
    State(app): State<FulfillmentApp>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<TrackingAck>> {
    let signature = headers.get(SIGNATURE_HEADER).and_then(|v| v.to_str().ok());
    let shipment = app
        .authenticate_webhook(&id, &body, signature)
        .await
        .map_err(|e| problem(e, "shipment"))?;
    let body: TrackingBody = platform::http::extract::parse_json(&body)?;
    let mut fields = Fields::default();
    let status = ShipmentStatus::from_carrier(&body.status);
    if status.is_none() {
        fields.push(
            "status",
            "must be one of dispatched, in_transit, out_for_delivery, delivered, failed_delivery, returned",
        );
    }
    let occurred_at = platform::time::parse_rfc3339(&body.occurred_at);
    match occurred_at {
        None => fields.push("occurred_at", "must be an RFC 3339 time"),
        Some(at) if at > app.clock.now_millis() + MAX_FUTURE_MS => {
            fields.push("occurred_at", "must not be in the future")
        }
        Some(_) => {}
    }
    let location = optional_text::<200>(&mut fields, "location", body.location);
    let description = optional_text::<500>(&mut fields, "description", body.description);
    let (Some(status), Some(occurred_at), true) = (status, occurred_at, fields.is_ok()) else {
        return Err(fields.into_problem());
    };
    let update = CarrierUpdate {
        tracking_number: body.tracking_number.trim().to_owned(),
        status,
        occurred_at,
        location,
        description,
    };
    let outcome = app
        .apply_tracking(&shipment, &update)
        .await
        .map_err(|e| problem(e, "shipment"))?;
    Ok(Json(TrackingAck {
        shipment_id: shipment.id,
        status: outcome.status.as_str().to_owned(),
        duplicate: outcome.duplicate,
        applied: outcome.applied,
    }))
}

// ---- returns ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReturnLineBody {
    sku: String,
    quantity: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReturnBody {
    order_id: String,
    lines: Vec<ReturnLineBody>,
    reason: String,
}

/// Units of one sku from one shipment, as the API shows a return's allocation.
#[derive(Serialize)]
struct ReturnAllocationView {
    shipment_id: String,
    warehouse_id: String,
    sku: String,
    quantity: i64,
}

/// A return as the API shows it.
#[derive(Serialize)]
struct ReturnView {
    id: String,
    order_id: String,
    user_id: String,
    status: String,
    reason: String,
    lines: Vec<LineView>,
    allocations: Vec<ReturnAllocationView>,
    created_at: String,
    updated_at: String,
    approved_at: Option<String>,
    rejected_at: Option<String>,
    received_at: Option<String>,
}

impl From<ReturnRecord> for ReturnView {
    fn from(r: ReturnRecord) -> Self {
        Self {
            lines: return_skus(&r)
                .into_iter()
                .map(|(sku, quantity)| LineView {
                    sku,
                    quantity: i64::from(quantity),
                })
                .collect(),
            allocations: r
                .lines
                .into_iter()
                .map(|l| ReturnAllocationView {
                    shipment_id: l.shipment_id,
                    warehouse_id: l.warehouse_id,
                    sku: l.sku,
                    quantity: l.quantity,
                })
                .collect(),
            id: r.id,
            order_id: r.order_id,
            user_id: r.user_id,
            status: r.status,
            reason: r.reason,
            created_at: platform::time::rfc3339(r.created_at),
            updated_at: platform::time::rfc3339(r.updated_at),
            approved_at: r.approved_at.map(platform::time::rfc3339),
            rejected_at: r.rejected_at.map(platform::time::rfc3339),
            received_at: r.received_at.map(platform::time::rfc3339),
        }
    }
}

#[tracing::instrument(skip_all)]
async fn create_return(
    State(app): State<FulfillmentApp>,
    principal: Principal,
    Json(body): Json<ReturnBody>,
) -> ApiResult<Response> {
    let caller = caller(&principal);
    let mut fields = Fields::default();
    let order_id = body.order_id.trim().to_owned();
    if !platform::ids::is_uuid(&order_id) {
        fields.push("order_id", "must be an order id");
    }
    if body.lines.is_empty() || body.lines.len() > MAX_RETURN_LINES {
        fields.push("lines", format!("must hold 1 to {MAX_RETURN_LINES} lines"));
    }
    let mut lines = Vec::with_capacity(body.lines.len());
    for (i, line) in body.lines.into_iter().enumerate() {
        let sku = fields.check(&format!("lines[{i}].sku"), Sku::try_from(line.sku));
        let quantity = fields.check(
            &format!("lines[{i}].quantity"),
            domain::return_quantity(line.quantity),
        );
        if let (Some(sku), Some(quantity)) = (sku, quantity) {
            lines.push((sku.as_str().to_owned(), quantity));
        }
    }
    let reason = fields.check("reason", Text::<500, true>::try_from(body.reason));
    let (Some(reason), true) = (reason, fields.is_ok()) else {
        return Err(fields.into_problem());
    };
    let record = app
        .create_return(
            &caller,
            NewReturn {
                order_id,
                lines,
                reason,
            },
        )
        .await
        .map_err(|e| problem(e, "order"))?;
    Ok(created(
        &format!("/api/v1/returns/{}", record.id),
        ReturnView::from(record),
    ))
}

#[tracing::instrument(skip_all)]
async fn get_return(
    State(app): State<FulfillmentApp>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<ReturnView>> {
    app.return_of(&caller(&principal), &id)
        .await
        .map(|r| Json(r.into()))
        .map_err(|e| problem(e, "return"))
}

async fn decide(
    app: &FulfillmentApp,
    principal: &Principal,
    id: &str,
    to: ReturnStatus,
) -> ApiResult<Json<ReturnView>> {
    operator(principal)?;
    app.decide_return(id, to)
        .await
        .map(|r| Json(r.into()))
        .map_err(|e| problem(e, "return"))
}

#[tracing::instrument(skip_all)]
async fn approve_return(
    State(app): State<FulfillmentApp>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<ReturnView>> {
    decide(&app, &principal, &id, ReturnStatus::Approved).await
}

#[tracing::instrument(skip_all)]
async fn reject_return(
    State(app): State<FulfillmentApp>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<ReturnView>> {
    decide(&app, &principal, &id, ReturnStatus::Rejected).await
}

#[tracing::instrument(skip_all)]
async fn receive_return(
    State(app): State<FulfillmentApp>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<ReturnView>> {
    decide(&app, &principal, &id, ReturnStatus::Received).await
}
