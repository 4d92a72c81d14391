//! Fulfillment's HTTP API (API.md, Fulfillment): shipments, their labels and rates,
//! operator dispatch and delivery (`shipments`), the carrier tracking webhook
//! (`tracking`), and returns (`returns`). Bodies become checked domain inputs here
//! (`try_into_domain`); the operations, and who may do them, live in `app`.
//!
//! Each route is declared once, with its OpenAPI description ([`api`]); the schema
//! helpers below state the domain's rules (status names, text rules) in that
//! description, taken from the domain where it has a list.

mod returns;
mod shipments;
mod tracking;

use axum::middleware::from_fn_with_state;
use axum::{Extension, Router};
use platform::auth::Authenticator;
use platform::http::api::ApiRouter;
use platform::http::{Fields, Problem};
use platform::idempotency::IdempotencyStore;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa::openapi::schema::{Object, ObjectBuilder, Type};

use crate::app::{FulfillmentApp, FulfillmentError};
use crate::domain::LineRefusal;

/// The routes and their documentation, declared without values. Opening a return
/// honours an optional `Idempotency-Key`; the carrier webhook needs no bearer token
/// (its body is signed).
pub fn api() -> ApiRouter<FulfillmentApp> {
    ApiRouter::new()
        .merge(shipments::api())
        .merge(tracking::api())
        .merge(returns::api())
}

/// The routes with the service's state, behind the authentication middleware (which
/// lets requests without credentials through: the quote and the webhook take none).
pub fn router(app: FulfillmentApp, authenticator: Authenticator) -> Router {
    let idempotency = IdempotencyStore::new(app.db().clone());
    let (routes, _) = api().split_for_parts();
    routes
        .with_state(app)
        .layer(Extension(idempotency))
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
        FulfillmentError::Label(_) => Problem::unexpected(&err),
    }
}

/// Units of one sku in a shipment or return, as the API shows them.
#[derive(Serialize, ToSchema)]
struct LineView {
    /// The sku.
    sku: String,
    /// Units of it.
    quantity: u32,
}

/// The schema of a text field holding one of `names`: the public names of a domain
/// enum, so the description cannot drift from the code.
fn names_schema<'a>(description: &str, names: impl IntoIterator<Item = &'a str>) -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(description))
        .enum_values(Some(names))
        .build()
}

/// The schema of a [`crate::domain::Text`] field: 1 to `MAX` characters, something
/// besides white space, and no control characters (Rust's `char::is_control`, U+0000
/// to U+001F and U+007F to U+009F), except newline and tab where `MULTILINE`.
fn text_schema<const MAX: usize, const MULTILINE: bool>() -> Object {
    let (allowed, kind) = if MULTILINE {
        (r"[^\x00-\x08\x0b-\x1f\x7f-\x9f]", "lines")
    } else {
        (r"[^\x00-\x1f\x7f-\x9f]", "a line")
    };
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(format!(
            "{kind} of 1 to {MAX} characters, not blank, without control characters"
        )))
        .min_length(Some(1))
        .max_length(Some(MAX))
        .pattern(Some(format!(
            r"^{allowed}*[^\s\x00-\x1f\x7f-\x9f]{allowed}*$"
        )))
        .build()
}
