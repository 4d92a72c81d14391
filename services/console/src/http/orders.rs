//! The buyer's orders: the list, one order with its history and shipments (with the
//! carrier's tracking), cancelling it, and asking to return what was delivered.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::http::render::view;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect};
use serde::Deserialize;
use serde_json::{Value as Json, json};

use super::cart::picked_lines;
use super::forms::{FieldErrors, confirm_page, confirmed};
use super::render::{PageResult, base, ok};
use super::shop::{List, encode};
use super::visitor::Visitor;
use crate::app::{Call, Console};

/// The statuses an order list may be filtered by.
pub(super) const STATUSES: [&str; 10] = [
    "pending",
    "reserved",
    "authorized",
    "confirmed",
    "shipped",
    "delivered",
    "completed",
    "cancelled",
    "refunded",
    "partially_refunded",
];

#[derive(Deserialize, Default)]
pub(super) struct ListQuery {
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub cursor: String,
}

/// The API query of an order list page.
pub(super) fn list_query(query: &ListQuery, limit: u32) -> String {
    let mut api = form_urlencoded::Serializer::new(String::new());
    api.append_pair("limit", &limit.to_string());
    if STATUSES.contains(&query.status.as_str()) {
        api.append_pair("status", &query.status);
    }
    if !query.cursor.is_empty() {
        api.append_pair("cursor", &query.cursor);
    }
    api.finish()
}

/// The link to the page after, keeping the filter.
pub(super) fn next_link(at: &str, query: &ListQuery, cursor: Option<&str>) -> Option<String> {
    let cursor = cursor?;
    let mut link = form_urlencoded::Serializer::new(String::new());
    if !query.status.is_empty() {
        link.append_pair("status", &query.status);
    }
    link.append_pair("cursor", cursor);
    Some(format!("{at}?{}", link.finish()))
}

/// `GET /orders`.
#[tracing::instrument(skip_all)]
pub(super) async fn list(
    State(console): State<Arc<Console>>,
    visitor: Visitor,
    Query(query): Query<ListQuery>,
) -> PageResult {
    visitor.signed_in()?;
    let orders: List<Json> = visitor
        .ask(
            &console,
            Call::get(format!("/api/v1/orders?{}", list_query(&query, 10))),
            "orders",
        )
        .await?;
    ok(
        "shop/orders.html",
        view!(base(&visitor); orders => orders.items,
            next_page => next_link("/orders", &query, orders.next_cursor.as_deref()),
            status => query.status,
            statuses => STATUSES),
    )
}

/// An order with its history and shipments.
#[tracing::instrument(skip_all)]
pub(super) async fn order_with_story(
    console: &Console,
    visitor: &Visitor,
    id: &str,
) -> Result<(Json, Json, Json), super::PageError> {
    let id = encode(id);
    let (order, history, shipments) = tokio::join!(
        visitor.ask::<Json>(console, Call::get(format!("/api/v1/orders/{id}")), "order"),
        visitor.ask::<Json>(
            console,
            Call::get(format!("/api/v1/orders/{id}/history")),
            "history"
        ),
        visitor.send(console, Call::get(format!("/api/v1/orders/{id}/shipments"))),
    );
    let (order, history) = (order?, history?);
    let shipments = match shipments {
        Ok(answer) => {
            answer
                .json::<List<Json>>("shipments")
                .map_err(super::PageError::Api)?
                .items
        }
        // Fulfillment hears of an order from its events: until then it knows no
        // shipment of it (and answers 404) although the order exists.
        Err(problem) if problem.status == 404 => Vec::new(),
        Err(problem) => return Err(visitor.failed(problem)),
    };
    Ok((order, history, json!(shipments)))
}

#[derive(Deserialize, Default)]
pub(super) struct DetailQuery {
    #[serde(default)]
    placed: Option<String>,
}

/// `GET /orders/{id}`.
#[tracing::instrument(skip_all)]
pub(super) async fn detail(
    State(console): State<Arc<Console>>,
    visitor: Visitor,
    Path(id): Path<String>,
    Query(query): Query<DetailQuery>,
) -> PageResult {
    visitor.signed_in()?;
    let (order, history, shipments) = order_with_story(&console, &visitor, &id).await?;
    order_page(
        &visitor,
        order,
        history,
        shipments,
        query.placed.is_some(),
        FieldErrors::default(),
    )
}

fn order_page(
    visitor: &Visitor,
    order: Json,
    history: Json,
    shipments: Json,
    placed: bool,
    errors: FieldErrors,
) -> PageResult {
    let status = order["status"].as_str().unwrap_or_default();
    let cancellable = matches!(status, "pending" | "reserved" | "authorized" | "confirmed");
    let returnable = matches!(status, "delivered" | "completed" | "partially_refunded");
    let settling = matches!(status, "pending" | "reserved" | "authorized");
    ok(
        "shop/order.html",
        view!(base(visitor); order => order, history => history, shipments => shipments, placed => placed,
            cancellable => cancellable, returnable => returnable, settling => settling,
            errors => errors),
    )
}

/// `POST /orders/{id}/cancel`: asks first, then cancels.
#[tracing::instrument(skip_all)]
pub(super) async fn cancel(
    State(console): State<Arc<Console>>,
    visitor: Visitor,
    Path(id): Path<String>,
    axum::Form(fields): axum::Form<BTreeMap<String, String>>,
) -> PageResult {
    visitor.signed_in()?;
    let back = format!("/orders/{}", encode(&id));
    if !confirmed(&fields) {
        return confirm_page(
            &visitor,
            "Cancel this order?",
            "The order is cancelled, its stock released and its payment voided or refunded. \
             This cannot be undone.",
            &format!("{back}/cancel"),
            &fields,
            "Yes, cancel the order",
            &back,
        );
    }
    let cancelled = visitor
        .send(
            &console,
            Call::post(
                format!("/api/v1/orders/{}/cancel", encode(&id)),
                &json!({"reason": "cancelled by the customer"}),
            ),
        )
        .await;
    match cancelled {
        Ok(_) => Ok(Redirect::to(&back).into_response()),
        Err(problem) if problem.status == 409 => {
            let (order, history, shipments) = order_with_story(&console, &visitor, &id).await?;
            order_page(
                &visitor,
                order,
                history,
                shipments,
                false,
                FieldErrors::from_problem(&problem, &[]),
            )
        }
        Err(problem) => Err(visitor.failed(problem)),
    }
}

/// `POST /orders/{id}/return`: asks to return the picked lines.
#[tracing::instrument(skip_all)]
pub(super) async fn request_return(
    State(console): State<Arc<Console>>,
    visitor: Visitor,
    Path(id): Path<String>,
    axum::Form(fields): axum::Form<BTreeMap<String, String>>,
) -> PageResult {
    visitor.signed_in()?;
    let lines = picked_lines(&fields);
    let reason = fields.get("reason").map(|r| r.trim()).unwrap_or_default();
    let mut errors = FieldErrors::default();
    if lines.is_empty() {
        errors.push("lines", "Pick at least one item to return.");
    }
    if reason.is_empty() {
        errors.push("reason", "Say why you are returning it.");
    }
    if errors.is_empty() {
        let asked = visitor
            .send(
                &console,
                Call::post(
                    "/api/v1/returns",
                    &json!({"order_id": id, "lines": lines, "reason": reason}),
                ),
            )
            .await;
        match asked {
            Ok(answer) => {
                let asked: Json = answer.json("return").map_err(super::PageError::Api)?;
                let back = format!(
                    "/orders/{}?return={}",
                    encode(&id),
                    encode(asked["id"].as_str().unwrap_or_default())
                );
                return Ok(Redirect::to(&back).into_response());
            }
            Err(problem) if matches!(problem.status, 409 | 422) => {
                errors = FieldErrors::from_problem(&problem, &[]);
            }
            Err(problem) => return Err(visitor.failed(problem)),
        }
    }
    let (order, history, shipments) = order_with_story(&console, &visitor, &id).await?;
    order_page(&visitor, order, history, shipments, false, errors)
}
