//! Fulfillment's HTTP API (API.md, Fulfillment): shipments, their labels and rates,
//! operator dispatch and delivery (`shipments`), the carrier tracking webhook
//! (`tracking`), and returns (`returns`). Bodies become checked domain inputs here
//! (`try_into_domain`); the operations, and who may do them, live in `app`.

mod returns;
mod shipments;
mod tracking;

use axum::Router;
use axum::handler::Handler;
use axum::middleware::from_fn_with_state;
use axum::routing::{get, post};
use platform::auth::Authenticator;
use platform::http::{Fields, Problem};
use platform::idempotency::{Idempotency, idempotent};
use serde::Serialize;

use crate::app::{FulfillmentApp, FulfillmentError};
use crate::domain::LineRefusal;

/// The routes, behind the authentication middleware (the carrier webhook needs no
/// bearer token: its body is signed). Opening a return takes an optional
/// `Idempotency-Key`.
pub fn router(app: FulfillmentApp, authenticator: Authenticator) -> Router {
    let idempotency = Idempotency::optional(app.db().clone());
    Router::new()
        .route("/api/v1/shipments/quote", post(shipments::quote))
        .route("/api/v1/shipments/{id}", get(shipments::get_shipment))
        .route("/api/v1/shipments/{id}/label", get(shipments::get_label))
        .route("/api/v1/shipments/{id}/rates", get(shipments::get_rates))
        .route("/api/v1/shipments/{id}/dispatch", post(shipments::dispatch))
        .route("/api/v1/shipments/{id}/deliver", post(shipments::deliver))
        .route("/api/v1/shipments/{id}/tracking", post(tracking::tracking))
        .route(
            "/api/v1/orders/{id}/shipments",
            get(shipments::order_shipments),
        )
        .route(
            "/api/v1/returns",
            post(returns::create_return.layer(from_fn_with_state(idempotency, idempotent))),
        )
        .route("/api/v1/returns/{id}", get(returns::get_return))
        .route(
            "/api/v1/returns/{id}/approve",
            post(returns::approve_return),
        )
        .route("/api/v1/returns/{id}/reject", post(returns::reject_return))
        .route(
            "/api/v1/returns/{id}/receive",
            post(returns::receive_return),
        )
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
        FulfillmentError::ShipmentTransition(refused) => {
            Problem::conflict("shipment-status-conflict", err.to_string())
                .with("shipment_status", refused.from.as_str())
        }
        FulfillmentError::ReturnTransition(refused) => {
            Problem::conflict("return-status-conflict", err.to_string())
                .with("return_status", refused.from.as_str())
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

/// Units of one sku in a shipment or return, as the API shows them.
#[derive(Serialize)]
struct LineView {
    sku: String,
    quantity: u32,
}
