//! Ordering's HTTP API (API.md, Ordering): carts, orders, history, cancel, refund and
//! admin status changes. Handlers turn bodies into domain input (`requests`), call the
//! app once and render its answer (`views`); who the caller is and what it may do is
//! decided by [`POLICY`].

mod requests;
mod views;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::{from_fn, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Router};
use platform::auth::{Authenticator, ForwardedCredentials, Principal};
use platform::http::api::{ApiRouter, UtoipaMethodRouterExt, problems, routes};
use platform::http::{FieldError, Json, List, PageQuery, Problem, Query, created, with_location};
use platform::idempotency::{Idempotency, IdempotencyStore, idempotent};
use platform::tasks::Tasks;

pub use self::requests::MAX_WAIT_SECS;
use self::requests::{
    CancelBody, CartItemBody, ListQuery, OrderBody, RefundBody, StatusBody, optional_body,
    preferred_wait,
};
use self::views::{CartView, HistoryView, OrderView};
use crate::app::{Caller, OrderingApp, OrderingError, POLICY};
use crate::domain::{LoyaltyError, MAX_LINES, PaymentsError, Refusal};

/// Placing an order needs an `Idempotency-Key`; card details never reach its stored
/// fingerprint.
const ORDER_IDEMPOTENCY: Idempotency =
    Idempotency::required().redacting(&["/payment/card_number", "/payment/cvc", "/payment/token"]);

/// The routes and their documentation, declared without values. Only placing an order
/// needs (and stores) an `Idempotency-Key`.
///
/// Placing, cancelling and refunding an order and an admin's status change run on the
/// service's tasks to their end ([`platform::tasks::detach`]), whatever the client does:
/// a checkout calls payments and then writes the order, and a client that hung up
/// between the two used to leave a pending payment with no order. Placing an order
/// detaches with its idempotency record, so a retry with the same key replays the order
/// the first attempt made instead of making another.
pub fn api() -> ApiRouter<OrderingApp> {
    let detached = || from_fn(platform::tasks::detach);
    ApiRouter::new()
        .routes(routes!(create_cart))
        .routes(routes!(get_cart))
        .routes(routes!(set_cart_item))
        .routes(routes!(list_orders))
        .routes(routes!(list_user_orders))
        .routes(routes!(place_order).map(|route| {
            route
                .route_layer(from_fn_with_state(ORDER_IDEMPOTENCY, idempotent))
                .route_layer(detached())
                .route_layer(from_fn(platform::auth::require_caller))
        }))
        .routes(routes!(get_order))
        .routes(routes!(order_history))
        .routes(routes!(cancel_order).map(|route| route.route_layer(detached())))
        .routes(routes!(refund_order).map(|route| route.route_layer(detached())))
        .routes(routes!(set_order_status).map(|route| route.route_layer(detached())))
}

/// The routes with the service's state, behind the authentication middleware.
pub fn router(app: OrderingApp, authenticator: Authenticator, tasks: Tasks) -> Router {
    let idempotency = IdempotencyStore::new(app.db().clone());
    let (routes, _) = api().split_for_parts();
    routes
        .with_state(app)
        .layer(Extension(idempotency))
        .layer(Extension(tasks))
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
            OrderingError::Loyalty(err) => loyalty_problem(err),
            OrderingError::DiscountExceedsSubtotal => Problem::invalid_field(
                "loyalty_points",
                "the points must be worth less than the order's items",
            ),
            OrderingError::Sql(err) => Problem::unexpected(&err),
        }
    }
}

/// Identity's refusal to hold loyalty points, named as the order body names them.
fn loyalty_problem(err: LoyaltyError) -> Problem {
    match err {
        LoyaltyError::Insufficient { available } => Problem::invalid_field(
            "loyalty_points",
            format!("only {available} points are available"),
        ),
        LoyaltyError::NoRate(currency) => Problem::invalid_field(
            "loyalty_points",
            format!("points cannot be redeemed in {currency}"),
        ),
        LoyaltyError::Refused { status, detail } => {
            tracing::warn!(status, detail, "identity refused a loyalty reservation");
            match StatusCode::from_u16(status) {
                Ok(StatusCode::FORBIDDEN) => Problem::forbidden(detail),
                Ok(StatusCode::CONFLICT) => Problem::conflict("loyalty-conflict", detail),
                _ => Problem::unavailable("the identity service failed"),
            }
        }
        LoyaltyError::Unavailable(detail) => {
            tracing::warn!(detail, "identity unavailable");
            Problem::unavailable("the identity service is unavailable")
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

/// A cart or order id from the path: ids are UUIDs, so anything else names nothing
/// (and never reaches the database, where a NUL would fail PostgreSQL's text).
fn existing(id: &str) -> ApiResult<&str> {
    if platform::ids::is_uuid(id) {
        Ok(id)
    } else {
        Err(OrderingError::NotFound.into())
    }
}

/// Starts an empty cart for the signed-in user.
#[utoipa::path(
    post,
    path = "/api/v1/carts",
    responses(
        (status = 201, description = "The new, empty cart", body = CartView,
            headers(("Location" = String, description = "The new cart"))),
        problems::Unauthorized, problems::Forbidden,
    ),
)]
#[tracing::instrument(skip_all)]
async fn create_cart(State(app): State<OrderingApp>, principal: Principal) -> ApiResult<Response> {
    let caller = caller(principal)?;
    let cart = CartView::from(app.create_cart(caller.user_id()).await?);
    Ok(created(&format!("/api/v1/carts/{}", cart.id), cart))
}

/// One of the caller's carts, priced now.
#[utoipa::path(
    get,
    path = "/api/v1/carts/{id}",
    params(("id" = String, Path, description = "The cart's id")),
    responses(
        (status = 200, description = "The cart", body = CartView),
        problems::Unauthorized, problems::Forbidden, problems::NotFound,
    ),
)]
#[tracing::instrument(skip_all)]
async fn get_cart(
    State(app): State<OrderingApp>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<CartView>> {
    let caller = caller(principal)?;
    Ok(Json(
        app.cart(caller.user_id(), existing(&id)?).await?.into(),
    ))
}

/// Sets how many of a sku the cart holds (0 removes the line).
#[utoipa::path(
    put,
    path = "/api/v1/carts/{id}/items",
    params(("id" = String, Path, description = "The cart's id")),
    request_body = CartItemBody,
    responses(
        (status = 200, description = "The cart as it is now", body = CartView),
        problems::BadRequest, problems::Unauthorized, problems::Forbidden, problems::NotFound,
        problems::Invalid,
    ),
)]
#[tracing::instrument(skip_all)]
async fn set_cart_item(
    State(app): State<OrderingApp>,
    principal: Principal,
    Path(id): Path<String>,
    Json(body): Json<CartItemBody>,
) -> ApiResult<Json<CartView>> {
    let caller = caller(principal)?;
    let id = existing(&id)?;
    let (sku, quantity) = body.try_into_domain()?;
    match app
        .set_cart_item(caller.user_id(), id, &sku, quantity)
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

/// Places an order from a cart or from items: the checkout saga starts.
///
/// The payment is created with payments first (the card goes there and nowhere else);
/// the order is stored `pending` and the saga runs on events. With `Prefer: wait=N` the
/// answer waits up to N seconds (at most 30) for the saga to end.
#[utoipa::path(
    post,
    path = "/api/v1/orders",
    request_body = OrderBody,
    params(
        ("Idempotency-Key" = String, Header, pattern = "^[ -~\t]{1,255}$",
            description = "Required: a repeat with the same body gets the stored answer \
                (the same key with another body is 422, while the first still runs 409)."),
        ("Prefer" = Option<String>, Header, example = "wait=10",
            description = "RFC 7240 `wait=N`: answer with the settled order when the saga \
                ends within N seconds (at most 30)."),
    ),
    responses(
        (status = 201, description = "The saga has ended (confirmed, or cancelled with its \
            reason) within the `Prefer: wait`", body = OrderView,
            headers(("Location" = String, description = "The order"))),
        (status = 202, description = "Placed; the saga is still running (`pending`, \
            `reserved` or `authorized`): follow `Location`", body = OrderView,
            headers(("Location" = String, description = "The order"))),
        problems::BadRequest, problems::Unauthorized, problems::Forbidden, problems::NotFound,
        problems::Conflict, problems::Invalid, problems::Unavailable,
    ),
)]
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
    let next_action = app.payment_action(&credentials, &order.order).await;
    let mut view = OrderView::from(order);
    view.next_action = next_action;
    Ok(with_location(
        (status, Json(view)).into_response(),
        &location,
    ))
}

/// An order: the owner's, or any for admins.
#[utoipa::path(
    get,
    path = "/api/v1/orders/{id}",
    params(("id" = String, Path, description = "The order's id")),
    responses(
        (status = 200, description = "The order", body = OrderView),
        problems::Unauthorized, problems::Forbidden, problems::NotFound,
    ),
)]
#[tracing::instrument(skip_all)]
async fn get_order(
    State(app): State<OrderingApp>,
    principal: Principal,
    credentials: ForwardedCredentials,
    Path(id): Path<String>,
) -> ApiResult<Json<OrderView>> {
    let caller = caller(principal)?;
    let details = app.order(&caller, existing(&id)?).await?;
    let next_action = app.payment_action(&credentials, &details.order).await;
    let mut view = OrderView::from(details);
    view.next_action = next_action;
    Ok(Json(view))
}

/// The statuses an order went through, oldest first.
#[utoipa::path(
    get,
    path = "/api/v1/orders/{id}/history",
    params(("id" = String, Path, description = "The order's id")),
    responses(
        (status = 200, description = "Its history", body = Vec<HistoryView>),
        problems::Unauthorized, problems::Forbidden, problems::NotFound,
    ),
)]
#[tracing::instrument(skip_all)]
async fn order_history(
    State(app): State<OrderingApp>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<HistoryView>>> {
    let caller = caller(principal)?;
    let history = app.history(&caller, existing(&id)?).await?;
    Ok(Json(history.into_iter().map(HistoryView::from).collect()))
}

/// The caller's orders (every order for admins), newest first.
#[utoipa::path(
    get,
    path = "/api/v1/orders",
    params(ListQuery, PageQuery),
    responses(
        (status = 200, description = "One page of orders", body = List<OrderView>),
        problems::Unauthorized, problems::Forbidden, problems::Invalid,
    ),
)]
#[tracing::instrument(skip_all)]
async fn list_orders(
    State(app): State<OrderingApp>,
    principal: Principal,
    Query(query): Query<ListQuery>,
) -> ApiResult<Json<List<OrderView>>> {
    orders_page(&app, &caller(principal)?, None, query).await
}

/// One user's orders, newest first (seeds 001 and 003): the caller's own (`me` or their
/// id), or anyone's for admins; another user's are not found.
#[utoipa::path(
    get,
    path = "/api/v1/users/{id}/orders",
    params(("id" = String, Path, description = "The user's id, or `me`"), ListQuery, PageQuery),
    responses(
        (status = 200, description = "One page of the user's orders", body = List<OrderView>),
        problems::Unauthorized, problems::Forbidden, problems::NotFound, problems::Invalid,
    ),
)]
#[tracing::instrument(skip_all)]
async fn list_user_orders(
    State(app): State<OrderingApp>,
    principal: Principal,
    Path(user_id): Path<String>,
    Query(query): Query<ListQuery>,
) -> ApiResult<Json<List<OrderView>>> {
    let caller = caller(principal)?;
    let owner = if user_id == "me" {
        caller.user_id().to_owned()
    } else {
        user_id
    };
    orders_page(&app, &caller, Some(&owner), query).await
}

/// One page of orders as `caller` may see them: `owner`'s, or the caller's own (all for
/// admins) when none is named.
async fn orders_page(
    app: &OrderingApp,
    caller: &Caller,
    owner: Option<&str>,
    query: ListQuery,
) -> ApiResult<Json<List<OrderView>>> {
    let status = query.status()?;
    let page = query.page.page()?;
    // Order ids are UUIDs: a cursor holding anything else was not issued here.
    if page
        .after
        .as_deref()
        .is_some_and(|after| !platform::ids::is_uuid(after))
    {
        return Err(Problem::invalid_field(
            "cursor",
            "is not a cursor this API issued",
        ));
    }
    let orders = app
        .list(
            caller,
            owner,
            status,
            page.after.as_deref(),
            page.fetch_limit(),
        )
        .await?;
    let list = List::from_rows(orders, &page, |o| o.order.id().to_owned());
    Ok(Json(List {
        items: list.items.into_iter().map(OrderView::from).collect(),
        next_cursor: list.next_cursor,
    }))
}

/// Cancels an order before it ships: stock is released, the payment voided or refunded.
#[utoipa::path(
    post,
    path = "/api/v1/orders/{id}/cancel",
    params(("id" = String, Path, description = "The order's id")),
    request_body(content = Option<CancelBody>, description = "May be left out"),
    responses(
        (status = 200, description = "The cancelled order", body = OrderView),
        problems::BadRequest, problems::Unauthorized, problems::Forbidden, problems::NotFound,
        problems::Conflict, problems::Invalid,
    ),
)]
#[tracing::instrument(skip_all)]
async fn cancel_order(
    State(app): State<OrderingApp>,
    principal: Principal,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<OrderView>> {
    let caller = caller(principal)?;
    let id = existing(&id)?;
    let reason = optional_body::<CancelBody>(&body)?.reason_or(|| {
        if caller.may_manage() {
            "cancelled by an admin".to_owned()
        } else {
            "cancelled by the customer".to_owned()
        }
    });
    Ok(Json(app.cancel(&caller, id, &reason).await?.into()))
}

/// Refunds part or the rest of what was captured, never more in total (admins).
#[utoipa::path(
    post,
    path = "/api/v1/orders/{id}/refund",
    params(
        ("id" = String, Path, description = "The order's id"),
        ("Idempotency-Key" = Option<String>, Header, nullable = false, pattern = "^[ -~\t]{1,255}$",
            description = "Optional: passed on to payments, so a repeated refund with the \
                same key refunds once."),
    ),
    request_body(content = Option<RefundBody>, description = "May be left out: all that is left"),
    responses(
        (status = 200, description = "The order with the refund recorded", body = OrderView),
        problems::BadRequest, problems::Unauthorized, problems::Forbidden, problems::NotFound,
        problems::Conflict, problems::Invalid, problems::Unavailable,
    ),
)]
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
    let id = existing(&id)?;
    let amount = optional_body::<RefundBody>(&body)?.try_into_domain()?;
    let key = headers
        .get(platform::idempotency::HEADER)
        .and_then(|v| v.to_str().ok());
    Ok(Json(
        app.refund(&caller, &credentials, id, amount, key)
            .await?
            .into(),
    ))
}

/// Moves an order to a status its state machine allows (admins).
#[utoipa::path(
    put,
    path = "/api/v1/orders/{id}/status",
    params(("id" = String, Path, description = "The order's id")),
    request_body = StatusBody,
    responses(
        (status = 200, description = "The order in its new status", body = OrderView),
        problems::BadRequest, problems::Unauthorized, problems::Forbidden, problems::NotFound,
        problems::Conflict, problems::Invalid,
    ),
)]
#[tracing::instrument(skip_all)]
async fn set_order_status(
    State(app): State<OrderingApp>,
    principal: Principal,
    Path(id): Path<String>,
    Json(body): Json<StatusBody>,
) -> ApiResult<Json<OrderView>> {
    POLICY.require_manage(&principal)?;
    let caller = caller(principal)?;
    let id = existing(&id)?;
    let (next, reason) = body.try_into_domain()?;
    Ok(Json(
        app.set_status(&caller, id, next, &reason).await?.into(),
    ))
}
