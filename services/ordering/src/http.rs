//! Ordering's HTTP API (API.md, Ordering): carts, orders, history, cancel, refund and
//! admin status changes. Bodies become domain values here; the operations live in
//! `app`.

use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::handler::Handler;
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use platform::auth::{Authenticator, Principal, PrincipalKind};
use platform::http::{Fields, Json, List, PageQuery, Problem, Query, created, with_location};
use platform::idempotency::{Idempotency, idempotent};
use serde::{Deserialize, Serialize};

use crate::app::{Caller, CartView, OrderSource, OrderingApp, OrderingError, PlaceOrder};
use crate::domain::{CartQuantity, MAX_LINES, Money, OrderStatus, Quantity, ShippingAddress, Sku};
use crate::payments::PaymentsError;
use crate::store::{HistoryEntry, LineRecord, OrderRecord};

/// Longest `Prefer: wait` honoured, in seconds.
pub const MAX_WAIT_SECS: u64 = 30;

/// The routes, behind the authentication middleware; placing an order needs an
/// `Idempotency-Key`.
pub fn router(app: OrderingApp, authenticator: Authenticator) -> Router {
    // Card details never reach a stored fingerprint.
    let idempotency = Idempotency::required(app.db().clone())
        .redacting(&["/payment/card_number", "/payment/cvc"]);
    Router::new()
        .route("/api/v1/carts", post(create_cart))
        .route("/api/v1/carts/{id}", get(get_cart))
        .route("/api/v1/carts/{id}/items", put(set_cart_item))
        .route(
            "/api/v1/orders",
            // Only placing an order needs (and stores) an Idempotency-Key.
            get(list_orders).post(place_order.layer(from_fn_with_state(idempotency, idempotent))),
        )
        .route("/api/v1/orders/{id}", get(get_order))
        .route("/api/v1/orders/{id}/history", get(order_history))
        .route("/api/v1/orders/{id}/cancel", post(cancel_order))
        .route("/api/v1/orders/{id}/refund", post(refund_order))
        .route("/api/v1/orders/{id}/status", put(set_order_status))
        .with_state(app)
        .layer(from_fn_with_state(
            authenticator,
            platform::auth::authenticate,
        ))
}

type ApiResult<T> = Result<T, Problem>;

impl From<OrderingError> for Problem {
    fn from(err: OrderingError) -> Self {
        match err {
            OrderingError::NotFound => Problem::not_found("resource"),
            OrderingError::UnknownSku(i, sku) => {
                Problem::invalid_field(&format!("items[{i}].sku"), format!("{sku} is not for sale"))
            }
            OrderingError::MixedCurrencies => {
                Problem::invalid_field("items", "all items must be priced in one currency")
            }
            OrderingError::EmptyCart => Problem::invalid_field("cart_id", "the cart is empty"),
            OrderingError::TooManyLines => {
                Problem::invalid_field("items", format!("at most {MAX_LINES} lines"))
            }
            OrderingError::WrongStatus(status) => Problem::conflict(
                "order-status-conflict",
                format!("not possible while the order is {status}"),
            ),
            OrderingError::WrongCurrency(currency) => Problem::invalid_field(
                "amount.currency",
                format!("must be the order's currency, {currency}"),
            ),
            OrderingError::Payments(PaymentsError::Invalid(errors)) => Problem::validation(errors),
            OrderingError::Payments(PaymentsError::Refused(status, detail)) => {
                refused_by_payments(status, detail)
            }
            OrderingError::Payments(err @ PaymentsError::Unavailable(_)) => {
                tracing::warn!(error = %err, "payments unavailable");
                Problem::unavailable("the payments service is unavailable")
            }
            OrderingError::Sql(err) => Problem::unexpected(&err),
        }
    }
}

/// Payments' refusal as ordering's answer: conflicts and bad requests keep their
/// status, anything else means payments failed us.
fn refused_by_payments(status: StatusCode, detail: String) -> Problem {
    match status {
        StatusCode::CONFLICT => Problem::conflict("payment-conflict", detail),
        StatusCode::BAD_REQUEST | StatusCode::UNPROCESSABLE_ENTITY => {
            Problem::new(status, "payment-refused", "Payment refused", detail)
        }
        StatusCode::NOT_FOUND => {
            Problem::conflict("payment-missing", "the order's payment is missing")
        }
        StatusCode::FORBIDDEN => Problem::forbidden(detail),
        _ => {
            tracing::warn!(%status, detail, "payments failed");
            Problem::unavailable("the payments service failed")
        }
    }
}

/// The caller as an ordering user: a signed-in person (machines have no carts).
fn caller(principal: &Principal) -> ApiResult<Caller> {
    if principal.kind != PrincipalKind::User && !principal.is_admin() {
        return Err(Problem::forbidden(
            "carts and orders belong to signed-in users",
        ));
    }
    Ok(Caller {
        user_id: principal.subject.clone(),
        admin: principal.is_admin(),
    })
}

#[tracing::instrument(skip_all)]
async fn create_cart(State(app): State<OrderingApp>, principal: Principal) -> ApiResult<Response> {
    let caller = caller(&principal)?;
    let cart = app.create_cart(&caller.user_id).await?;
    Ok(created(&format!("/api/v1/carts/{}", cart.id), cart))
}

#[tracing::instrument(skip_all)]
async fn get_cart(
    State(app): State<OrderingApp>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<CartView>> {
    let caller = caller(&principal)?;
    Ok(Json(app.cart(&caller.user_id, &id).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CartItemBody {
    sku: String,
    quantity: i64,
}

#[tracing::instrument(skip_all)]
async fn set_cart_item(
    State(app): State<OrderingApp>,
    principal: Principal,
    Path(id): Path<String>,
    Json(body): Json<CartItemBody>,
) -> ApiResult<Json<CartView>> {
    let caller = caller(&principal)?;
    let mut fields = Fields::default();
    let sku = fields.check("sku", Sku::try_from(body.sku));
    let quantity = fields.check("quantity", CartQuantity::try_from(body.quantity));
    let (Some(sku), Some(quantity)) = (sku, quantity) else {
        return Err(fields.into_problem());
    };
    app.set_cart_item(&caller.user_id, &id, &sku, quantity)
        .await
        .map(Json)
        .map_err(|err| match err {
            OrderingError::UnknownSku(_, sku) => {
                Problem::invalid_field("sku", format!("{sku} is not for sale"))
            }
            other => other.into(),
        })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LineBody {
    sku: String,
    quantity: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AddressBody {
    name: String,
    line1: String,
    #[serde(default)]
    line2: Option<String>,
    city: String,
    postal_code: String,
    country: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OrderBody {
    #[serde(default)]
    cart_id: Option<String>,
    #[serde(default)]
    items: Option<Vec<LineBody>>,
    shipping_address: AddressBody,
    payment: serde_json::Value,
}

/// The order as the API shows it.
#[derive(Serialize)]
struct OrderView {
    id: String,
    user_id: String,
    status: &'static str,
    items: Vec<LineView>,
    total: Money,
    shipping_address: ShippingAddress,
    payment_id: Option<String>,
    payment: PaymentSummary,
    cancel_reason: Option<String>,
    captured: Money,
    refunded: Money,
    created_at: String,
    updated_at: String,
}

#[derive(Serialize)]
struct PaymentSummary {
    brand: Option<String>,
    last4: Option<String>,
}

#[derive(Serialize)]
struct LineView {
    sku: String,
    name: String,
    quantity: u32,
    unit_price: Money,
    line_total: Money,
}

impl From<LineRecord> for LineView {
    fn from(line: LineRecord) -> Self {
        Self {
            line_total: Money {
                amount: line
                    .unit_price
                    .amount
                    .saturating_mul(i64::from(line.quantity)),
                currency: line.unit_price.currency.clone(),
            },
            sku: line.sku,
            name: line.name,
            quantity: line.quantity,
            unit_price: line.unit_price,
        }
    }
}

impl From<OrderRecord> for OrderView {
    fn from(order: OrderRecord) -> Self {
        let currency = order.total.currency.clone();
        Self {
            id: order.id,
            user_id: order.user_id,
            status: order.status.as_str(),
            items: order.items.into_iter().map(LineView::from).collect(),
            total: order.total,
            shipping_address: order.shipping_address,
            payment_id: order.payment_id,
            payment: PaymentSummary {
                brand: order.card_brand,
                last4: order.card_last4,
            },
            cancel_reason: order.cancel_reason,
            captured: Money {
                amount: order.captured,
                currency: currency.clone(),
            },
            refunded: Money {
                amount: order.refunded,
                currency,
            },
            created_at: platform::time::rfc3339(order.created_at),
            updated_at: platform::time::rfc3339(order.updated_at),
        }
    }
}

/// A JSON body that may be left out entirely (then every field takes its default).
fn optional_body<T: serde::de::DeserializeOwned + Default>(bytes: &[u8]) -> ApiResult<T> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    platform::http::extract::parse_json(bytes)
}

/// `Prefer: wait=N` (RFC 7240), capped at [`MAX_WAIT_SECS`].
fn preferred_wait(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|pref| {
            let (name, value) = pref.trim().split_once('=')?;
            (name.trim().eq_ignore_ascii_case("wait"))
                .then(|| value.trim().trim_matches('"').parse::<u64>().ok())
                .flatten()
        })
        .next()
        .map(|secs| Duration::from_secs(secs.min(MAX_WAIT_SECS)))
}

fn order_request(body: OrderBody) -> ApiResult<PlaceOrder> {
    let mut fields = Fields::default();
    let source = match (body.cart_id, body.items) {
        (Some(cart_id), None) => Some(OrderSource::Cart(cart_id)),
        (None, Some(items)) => {
            if items.is_empty() || items.len() > MAX_LINES {
                fields.push("items", format!("must hold 1 to {MAX_LINES} lines"));
            }
            let mut lines = Vec::with_capacity(items.len());
            for (i, line) in items.into_iter().enumerate() {
                let sku = fields.check(&format!("items[{i}].sku"), Sku::try_from(line.sku));
                let quantity = fields.check(
                    &format!("items[{i}].quantity"),
                    Quantity::try_from(line.quantity),
                );
                if let (Some(sku), Some(quantity)) = (sku, quantity) {
                    lines.push((sku, quantity));
                }
            }
            Some(OrderSource::Items(lines))
        }
        _ => {
            fields.push("items", "give either cart_id or items");
            None
        }
    };
    let a = body.shipping_address;
    let address = match crate::domain::shipping_address(
        a.name,
        a.line1,
        a.line2,
        a.city,
        a.postal_code,
        a.country,
    ) {
        Ok(address) => Some(address),
        Err(errors) => {
            for (field, invalid) in errors {
                fields.push(&format!("shipping_address.{field}"), invalid.to_string());
            }
            None
        }
    };
    if !body.payment.is_object() {
        fields.push("payment", "must be an object");
    }
    match (source, address, fields.is_ok()) {
        (Some(source), Some(shipping_address), true) => Ok(PlaceOrder {
            source,
            shipping_address,
            payment: body.payment,
        }),
        _ => Err(fields.into_problem()),
    }
}

#[tracing::instrument(skip_all)]
async fn place_order(
    State(app): State<OrderingApp>,
    principal: Principal,
    headers: HeaderMap,
    Json(body): Json<OrderBody>,
) -> ApiResult<Response> {
    let caller = caller(&principal)?;
    let request = order_request(body)?;
    let mut order = app.place_order(&caller, &headers, request).await?;
    if let Some(wait) = preferred_wait(&headers) {
        order = app.wait_until_settled(&caller, &order.id, wait).await?;
    }
    let status = if order.status.is_settled() {
        StatusCode::CREATED
    } else {
        StatusCode::ACCEPTED
    };
    let location = format!("/api/v1/orders/{}", order.id);
    Ok(with_location(
        (status, Json(OrderView::from(order))).into_response(),
        &location,
    ))
}

#[tracing::instrument(skip_all)]
async fn get_order(
    State(app): State<OrderingApp>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<OrderView>> {
    let caller = caller(&principal)?;
    Ok(Json(app.order(&caller, &id).await?.into()))
}

#[tracing::instrument(skip_all)]
async fn order_history(
    State(app): State<OrderingApp>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<HistoryEntry>>> {
    let caller = caller(&principal)?;
    Ok(Json(app.history(&caller, &id).await?))
}

#[derive(Deserialize)]
struct ListQuery {
    #[serde(default)]
    status: Option<String>,
    #[serde(flatten)]
    page: PageQuery,
}

#[tracing::instrument(skip_all)]
async fn list_orders(
    State(app): State<OrderingApp>,
    principal: Principal,
    Query(query): Query<ListQuery>,
) -> ApiResult<Json<List<OrderView>>> {
    let caller = caller(&principal)?;
    let status = match query.status.as_deref() {
        None | Some("") => None,
        Some(raw) => Some(
            OrderStatus::parse(raw)
                .ok_or_else(|| Problem::invalid_field("status", "is not an order status"))?,
        ),
    };
    let page = query.page.page()?;
    let orders = app
        .list(&caller, status, page.after.as_deref(), page.fetch_limit())
        .await?;
    let list = List::from_rows(orders, &page, |o| o.id.clone());
    Ok(Json(List {
        items: list.items.into_iter().map(OrderView::from).collect(),
        next_cursor: list.next_cursor,
    }))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct CancelBody {
    #[serde(default)]
    reason: Option<String>,
}

#[tracing::instrument(skip_all)]
async fn cancel_order(
    State(app): State<OrderingApp>,
    principal: Principal,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<OrderView>> {
    let caller = caller(&principal)?;
    let body: CancelBody = optional_body(&body)?;
    let reason = body
        .reason
        .map(|r| r.trim().chars().take(200).collect::<String>())
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| {
            if caller.admin {
                "cancelled by an admin".to_owned()
            } else {
                "cancelled by the customer".to_owned()
            }
        });
    Ok(Json(app.cancel(&caller, &id, &reason).await?.into()))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RefundBody {
    #[serde(default)]
    amount: Option<Money>,
}

#[tracing::instrument(skip_all)]
async fn refund_order(
    State(app): State<OrderingApp>,
    principal: Principal,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<OrderView>> {
    principal.require_admin()?;
    let caller = caller(&principal)?;
    let amount = optional_body::<RefundBody>(&body)?.amount;
    if let Some(amount) = &amount
        && amount.amount <= 0
    {
        return Err(Problem::invalid_field("amount.amount", "must be positive"));
    }
    let key = headers
        .get(platform::idempotency::HEADER)
        .and_then(|v| v.to_str().ok());
    Ok(Json(
        app.refund(&caller, &headers, &id, amount, key)
            .await?
            .into(),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StatusBody {
    status: String,
    #[serde(default)]
    reason: Option<String>,
}

#[tracing::instrument(skip_all)]
async fn set_order_status(
    State(app): State<OrderingApp>,
    principal: Principal,
    Path(id): Path<String>,
    Json(body): Json<StatusBody>,
) -> ApiResult<Json<OrderView>> {
    principal.require_admin()?;
    let caller = caller(&principal)?;
    let next = OrderStatus::parse(&body.status)
        .ok_or_else(|| Problem::invalid_field("status", "is not an order status"))?;
    let reason = body
        .reason
        .map(|r| r.trim().chars().take(200).collect::<String>())
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| format!("set to {next} by an admin"));
    Ok(Json(
        app.set_status(&caller, &id, next, &reason).await?.into(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefer_wait_is_read_and_capped() {
        let mut headers = HeaderMap::new();
        assert_eq!(preferred_wait(&headers), None);
        headers.insert("prefer", "respond-async, wait=5".parse().expect("header"));
        assert_eq!(preferred_wait(&headers), Some(Duration::from_secs(5)));
        headers.insert("prefer", "wait=600".parse().expect("header"));
        assert_eq!(
            preferred_wait(&headers),
            Some(Duration::from_secs(MAX_WAIT_SECS))
        );
        headers.insert("prefer", "wait=soon".parse().expect("header"));
        assert_eq!(preferred_wait(&headers), None);
    }
}
