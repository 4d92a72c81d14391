//! Orders for the shop's staff: every order, filtered by status; one order with its
//! history and shipments; cancelling, refunding (all or part), moving its status;
//! dispatching and delivering its shipments and printing their labels.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::http::render::view;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::{Value as Json, json};

use crate::app::{Call, Console};
use crate::domain::format;
use crate::http::forms::{FieldErrors, confirm_page, confirmed};
use crate::http::orders::{ListQuery, STATUSES, list_query, next_link, order_with_story};
use crate::http::render::{PageError, PageResult, base, ok};
use crate::http::shop::{List, encode};
use crate::http::visitor::Visitor;

/// `GET /admin/orders?status=`.
#[tracing::instrument(skip_all)]
pub(super) async fn list(
    State(console): State<Arc<Console>>,
    visitor: Visitor,
    Query(query): Query<ListQuery>,
) -> PageResult {
    visitor.admin()?;
    let orders: List<Json> = visitor
        .ask(
            &console,
            Call::get(format!("/api/v1/orders?{}", list_query(&query, 20))),
            "orders",
        )
        .await?;
    ok(
        "admin/orders.html",
        view!(base(&visitor); orders => orders.items,
            next_page => next_link("/admin/orders", &query, orders.next_cursor.as_deref()),
            status => query.status, statuses => STATUSES),
    )
}

async fn order_page(
    console: &Console,
    visitor: &Visitor,
    id: &str,
    errors: FieldErrors,
    notice: Option<&str>,
) -> PageResult {
    let (order, history, shipments) = order_with_story(console, visitor, id).await?;
    let status = order["status"].as_str().unwrap_or_default();
    let refundable = matches!(
        status,
        "confirmed" | "shipped" | "delivered" | "partially_refunded" | "completed"
    );
    let cancellable = matches!(status, "pending" | "reserved" | "authorized" | "confirmed");
    let moves: &[&str] = match status {
        "confirmed" | "partially_refunded" => &["shipped"],
        "shipped" => &["delivered"],
        _ => &[],
    };
    ok(
        "admin/order.html",
        view!(base(visitor); order => order, history => history, shipments => shipments, errors => errors,
            notice => notice, refundable => refundable, cancellable => cancellable,
            moves => moves, attempt => platform::ids::new_id()),
    )
}

/// `GET /admin/orders/{id}`.
#[tracing::instrument(skip_all)]
pub(super) async fn detail(
    State(console): State<Arc<Console>>,
    visitor: Visitor,
    Path(id): Path<String>,
) -> PageResult {
    visitor.admin()?;
    order_page(&console, &visitor, &id, FieldErrors::default(), None).await
}

/// `POST /admin/orders/{id}/refund`: the amount typed (empty: everything left), after
/// confirmation.
#[tracing::instrument(skip_all)]
pub(super) async fn refund(
    State(console): State<Arc<Console>>,
    visitor: Visitor,
    Path(id): Path<String>,
    axum::Form(fields): axum::Form<BTreeMap<String, String>>,
) -> PageResult {
    visitor.admin()?;
    // The amount is read in the order's currency (yen have no cents).
    let order: Json = visitor
        .ask(
            &console,
            Call::get(format!("/api/v1/orders/{}", encode(&id))),
            "order",
        )
        .await?;
    let currency = order["total"]["currency"]
        .as_str()
        .unwrap_or("USD")
        .to_owned();
    let typed = fields.get("amount").map(|a| a.trim()).unwrap_or_default();
    let amount = if typed.is_empty() {
        None
    } else {
        match format::parse_amount(typed, &currency) {
            Some(minor) if minor > 0 => Some(minor),
            _ => {
                let mut errors = FieldErrors::default();
                errors.push(
                    "amount",
                    format!(
                        "Enter an amount such as {}, or leave it empty to refund the rest.",
                        format::plain_amount(1_250, &currency)
                    ),
                );
                return order_page(&console, &visitor, &id, errors, None).await;
            }
        }
    };
    let back = format!("/admin/orders/{}", encode(&id));
    if !confirmed(&fields) {
        let what = amount.map_or("everything not yet refunded".to_owned(), |minor| {
            format::money(minor, &currency)
        });
        return confirm_page(
            &visitor,
            "Refund this order?",
            &format!("Refund {what} to the buyer's card. A refund cannot be taken back."),
            &format!("{back}/refund"),
            &fields,
            "Yes, refund",
            &back,
        );
    }
    let currency = currency.as_str();
    let body = match amount {
        Some(minor) => json!({"amount": {"amount": minor, "currency": currency}}),
        None => json!({}),
    };
    let key = fields
        .get("attempt")
        .cloned()
        .unwrap_or_else(platform::ids::new_id);
    let refunded = visitor
        .send(
            &console,
            Call::post(format!("/api/v1/orders/{}/refund", encode(&id)), &body)
                .header("idempotency-key", &format!("console:refund:{key}")),
        )
        .await;
    match refunded {
        Ok(_) => {
            order_page(
                &console,
                &visitor,
                &id,
                FieldErrors::default(),
                Some("Refund sent."),
            )
            .await
        }
        Err(problem) if matches!(problem.status, 409 | 422) => {
            let errors = FieldErrors::from_problem(
                &problem,
                &[("amount.amount", "amount"), ("amount.currency", "amount")],
            );
            order_page(&console, &visitor, &id, errors, None).await
        }
        Err(problem) => Err(visitor.failed(problem)),
    }
}

/// `POST /admin/orders/{id}/cancel`, after confirmation.
#[tracing::instrument(skip_all)]
pub(super) async fn cancel(
    State(console): State<Arc<Console>>,
    visitor: Visitor,
    Path(id): Path<String>,
    axum::Form(fields): axum::Form<BTreeMap<String, String>>,
) -> PageResult {
    visitor.admin()?;
    let back = format!("/admin/orders/{}", encode(&id));
    if !confirmed(&fields) {
        return confirm_page(
            &visitor,
            "Cancel this order?",
            "The order is cancelled, its stock released and its payment voided or refunded.",
            &format!("{back}/cancel"),
            &fields,
            "Yes, cancel the order",
            &back,
        );
    }
    let reason = fields
        .get("reason")
        .map(|r| r.trim())
        .filter(|r| !r.is_empty())
        .unwrap_or("cancelled by an admin");
    match visitor
        .send(
            &console,
            Call::post(
                format!("/api/v1/orders/{}/cancel", encode(&id)),
                &json!({"reason": reason}),
            ),
        )
        .await
    {
        Ok(_) => {
            order_page(
                &console,
                &visitor,
                &id,
                FieldErrors::default(),
                Some("Order cancelled."),
            )
            .await
        }
        Err(problem) if problem.status == 409 => {
            order_page(
                &console,
                &visitor,
                &id,
                FieldErrors::from_problem(&problem, &[]),
                None,
            )
            .await
        }
        Err(problem) => Err(visitor.failed(problem)),
    }
}

/// `POST /admin/orders/{id}/status`: a move the order's state machine allows.
#[tracing::instrument(skip_all)]
pub(super) async fn set_status(
    State(console): State<Arc<Console>>,
    visitor: Visitor,
    Path(id): Path<String>,
    axum::Form(fields): axum::Form<BTreeMap<String, String>>,
) -> PageResult {
    visitor.admin()?;
    let status = fields.get("status").cloned().unwrap_or_default();
    match visitor
        .send(
            &console,
            Call::put(
                format!("/api/v1/orders/{}/status", encode(&id)),
                &json!({"status": status}),
            ),
        )
        .await
    {
        Ok(_) => Ok(Redirect::to(&format!("/admin/orders/{}", encode(&id))).into_response()),
        Err(problem) if matches!(problem.status, 409 | 422) => {
            order_page(
                &console,
                &visitor,
                &id,
                FieldErrors::from_problem(&problem, &[]),
                None,
            )
            .await
        }
        Err(problem) => Err(visitor.failed(problem)),
    }
}

/// `POST /admin/shipments/{id}/{dispatch|deliver}`, back to the page it was pressed on.
#[tracing::instrument(skip_all)]
pub(super) async fn shipment_action(
    State(console): State<Arc<Console>>,
    visitor: Visitor,
    Path((id, action)): Path<(String, String)>,
    axum::Form(fields): axum::Form<BTreeMap<String, String>>,
) -> Result<Response, PageError> {
    visitor.admin()?;
    let order = fields.get("order_id").cloned().unwrap_or_default();
    match action.as_str() {
        "dispatch" | "deliver" => {
            let done = visitor
                .send(
                    &console,
                    Call::new(
                        http::Method::POST,
                        format!("/api/v1/shipments/{}/{action}", encode(&id)),
                    ),
                )
                .await;
            match done {
                // Back to the page the button was on: the shipments list, or the order.
                Ok(_) if fields.get("back").is_some_and(|back| back == "list") => {
                    Ok(Redirect::to("/admin/shipments").into_response())
                }
                Ok(_) => {
                    Ok(Redirect::to(&format!("/admin/orders/{}", encode(&order))).into_response())
                }
                Err(problem) if problem.status == 409 => {
                    order_page(
                        &console,
                        &visitor,
                        &order,
                        FieldErrors::from_problem(&problem, &[]),
                        None,
                    )
                    .await
                }
                Err(problem) => Err(visitor.failed(problem)),
            }
        }
        _ => Err(PageError::NotFound),
    }
}

/// `GET /admin/shipments/{id}/label`: the shipment's label PDF, fetched with the admin's
/// token.
#[tracing::instrument(skip_all)]
pub(super) async fn shipment_label(
    State(console): State<Arc<Console>>,
    visitor: Visitor,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    super::file(
        &console,
        &visitor,
        format!("/api/v1/shipments/{}/label", encode(&id)),
    )
    .await
}
