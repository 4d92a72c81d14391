//! Ordering's HTTP API (API.md, Ordering): carts, orders, history, cancel, refund and
//! admin status changes. Handlers turn bodies into domain input (`requests`), call the
//! app once and render its answer (`views`); who the caller is and what it may do is
//! decided by [`POLICY`].

mod requests;
mod views;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::handler::Handler;
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use platform::auth::{Authenticator, ForwardedCredentials, Principal};
use platform::http::{FieldError, Json, List, Problem, Query, created, with_location};
use platform::idempotency::{Idempotency, idempotent};
use platform::tasks::Tasks;

pub use self::requests::MAX_WAIT_SECS;
use self::requests::{
    CancelBody, CartItemBody, ListQuery, OrderBody, RefundBody, StatusBody, optional_body,
    preferred_wait,
};
use self::views::{CartView, HistoryView, OrderView};
use crate::app::{Caller, OrderingApp, OrderingError, POLICY};
use crate::domain::{MAX_LINES, PaymentsError, Refusal};

/// The routes, behind the authentication middleware; placing an order needs an
/// `Idempotency-Key`.
///
/// Placing, cancelling and refunding an order and an admin's status change run on
/// `tasks` to their end ([`platform::tasks::detach`]), whatever the client does: a
/// checkout calls payments and then writes the order, and a client that hung up between
/// the two used to leave a pending payment with no order. Placing an order detaches
/// with its idempotency record, so a retry with the same key replays the order the
/// first attempt made instead of making another.
pub fn router(app: OrderingApp, authenticator: Authenticator, tasks: Tasks) -> Router {
    // Card details never reach a stored fingerprint.
    let idempotency = Idempotency::required(app.db().clone())
        .redacting(&["/payment/card_number", "/payment/cvc"]);
    let detached = from_fn_with_state(tasks, platform::tasks::detach);
    Router::new()
        .route("/api/v1/carts", post(create_cart))
        .route("/api/v1/carts/{id}", get(get_cart))
        .route("/api/v1/carts/{id}/items", put(set_cart_item))
        .route(
            "/api/v1/orders",
            // Only placing an order needs (and stores) an Idempotency-Key.
            get(list_orders).post(
                place_order
                    .layer(from_fn_with_state(idempotency, idempotent))
                    .layer(detached.clone()),
            ),
        )
        .route("/api/v1/orders/{id}", get(get_order))
        .route("/api/v1/orders/{id}/history", get(order_history))
        .route(
            "/api/v1/orders/{id}/cancel",
            post(cancel_order).layer(detached.clone()),
        )
        .route(
            "/api/v1/orders/{id}/refund",
            post(refund_order).layer(detached.clone()),
        )
        .route(
            "/api/v1/orders/{id}/status",
            put(set_order_status).layer(detached),
        )
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
            OrderingError::UnknownSku(i, sku) => Problem::invalid_field(
                &format!("items[{i}].sku"),
                format!("{} is not for sale", sku.as_str()),
            ),
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
            OrderingError::Payments(PaymentsError::Invalid(errors)) => Problem::validation(
                errors
                    .into_iter()
                    .map(|e| FieldError::new(e.field, e.message))
                    .collect(),
            ),
            OrderingError::Payments(PaymentsError::Refused { refusal, detail }) => {
                refused_by_payments(refusal, detail)
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
fn refused_by_payments(refusal: Refusal, detail: String) -> Problem {
    let refused =
        |status| Problem::new(status, "payment-refused", "Payment refused", detail.clone());
    match refusal {
        Refusal::Conflict => Problem::conflict("payment-conflict", detail),
        Refusal::BadRequest => refused(StatusCode::BAD_REQUEST),
        Refusal::Unprocessable => refused(StatusCode::UNPROCESSABLE_ENTITY),
        Refusal::NotFound => Problem::conflict("payment-missing", "the order's payment is missing"),
        Refusal::Forbidden => Problem::forbidden(detail),
        Refusal::Failed(status) => {
            tracing::warn!(status, detail, "payments failed");
            Problem::unavailable("the payments service failed")
        }
    }
}

/// The caller as an ordering user: a signed-in person, or someone who manages
/// ordering (machines have no carts).
fn caller(principal: Principal) -> ApiResult<Caller> {
    Caller::new(principal)
        .ok_or_else(|| Problem::forbidden("carts and orders belong to signed-in users"))
}

#[tracing::instrument(skip_all)]
async fn create_cart(State(app): State<OrderingApp>, principal: Principal) -> ApiResult<Response> {
    let caller = caller(principal)?;
    let cart = CartView::from(app.create_cart(caller.user_id()).await?);
    Ok(created(&format!("/api/v1/carts/{}", cart.id), cart))
}

#[tracing::instrument(skip_all)]
async fn get_cart(
    State(app): State<OrderingApp>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<CartView>> {
    let caller = caller(principal)?;
    Ok(Json(app.cart(caller.user_id(), &id).await?.into()))
}

#[tracing::instrument(skip_all)]
async fn set_cart_item(
    State(app): State<OrderingApp>,
    principal: Principal,
    Path(id): Path<String>,
    Json(body): Json<CartItemBody>,
) -> ApiResult<Json<CartView>> {
    let caller = caller(principal)?;
    let (sku, quantity) = body.try_into_domain()?;
    match app
        .set_cart_item(caller.user_id(), &id, &sku, quantity)
        .await
    {
        Ok(cart) => Ok(Json(cart.into())),
        Err(OrderingError::UnknownSku(_, sku)) => Err(Problem::invalid_field(
            "sku",
            format!("{} is not for sale", sku.as_str()),
        )),
        Err(other) => Err(other.into()),
    }
}

#[tracing::instrument(skip_all)]
async fn place_order(
    State(app): State<OrderingApp>,
    principal: Principal,
    credentials: ForwardedCredentials,
    headers: HeaderMap,
    Json(body): Json<OrderBody>,
) -> ApiResult<Response> {
    let caller = caller(principal)?;
    let request = body.try_into_domain()?;
    let key = headers
        .get(platform::idempotency::HEADER)
        .and_then(|v| v.to_str().ok());
    let mut order = app.place_order(&caller, &credentials, request, key).await?;
    if let Some(wait) = preferred_wait(&headers) {
        order = app
            .wait_until_settled(&caller, order.order.id(), wait)
            .await?;
    }
    let status = if order.order.status().is_settled() {
        StatusCode::CREATED
    } else {
        StatusCode::ACCEPTED
    };
    let location = format!("/api/v1/orders/{}", order.order.id());
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
    let caller = caller(principal)?;
    Ok(Json(app.order(&caller, &id).await?.into()))
}

#[tracing::instrument(skip_all)]
async fn order_history(
    State(app): State<OrderingApp>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<HistoryView>>> {
    let caller = caller(principal)?;
    let history = app.history(&caller, &id).await?;
    Ok(Json(history.into_iter().map(HistoryView::from).collect()))
}

#[tracing::instrument(skip_all)]
async fn list_orders(
    State(app): State<OrderingApp>,
    principal: Principal,
    Query(query): Query<ListQuery>,
) -> ApiResult<Json<List<OrderView>>> {
    let caller = caller(principal)?;
    let status = query.status()?;
    let page = query.page.page()?;
    let orders = app
        .list(&caller, status, page.after.as_deref(), page.fetch_limit())
        .await?;
    let list = List::from_rows(orders, &page, |o| o.order.id().to_owned());
    Ok(Json(List {
        items: list.items.into_iter().map(OrderView::from).collect(),
        next_cursor: list.next_cursor,
    }))
}

#[tracing::instrument(skip_all)]
async fn cancel_order(
    State(app): State<OrderingApp>,
    principal: Principal,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<OrderView>> {
    let caller = caller(principal)?;
    let reason = optional_body::<CancelBody>(&body)?.reason_or(|| {
        if caller.may_manage() {
            "cancelled by an admin".to_owned()
        } else {
            "cancelled by the customer".to_owned()
        }
    });
    Ok(Json(app.cancel(&caller, &id, &reason).await?.into()))
}

#[tracing::instrument(skip_all)]
async fn refund_order(
    State(app): State<OrderingApp>,
    principal: Principal,
    credentials: ForwardedCredentials,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<OrderView>> {
    POLICY.require_manage(&principal)?;
    let caller = caller(principal)?;
    let amount = optional_body::<RefundBody>(&body)?.try_into_domain()?;
    let key = headers
        .get(platform::idempotency::HEADER)
        .and_then(|v| v.to_str().ok());
    Ok(Json(
        app.refund(&caller, &credentials, &id, amount, key)
            .await?
            .into(),
    ))
}

#[tracing::instrument(skip_all)]
async fn set_order_status(
    State(app): State<OrderingApp>,
    principal: Principal,
    Path(id): Path<String>,
    Json(body): Json<StatusBody>,
) -> ApiResult<Json<OrderView>> {
    POLICY.require_manage(&principal)?;
    let caller = caller(principal)?;
    let (next, reason) = body.try_into_domain()?;
    Ok(Json(
        app.set_status(&caller, &id, next, &reason).await?.into(),
    ))
}
