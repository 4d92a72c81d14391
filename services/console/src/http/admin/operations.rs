//! Running the platform: shipments across orders (dispatch, deliver), returns (approve,
//! reject, receive), the dead letters of every service (replay, discard), and each
//! service's health.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect};
use serde::Deserialize;
use serde_json::Value as Json;

use crate::app::{Call, Console};
use crate::http::forms::{FieldErrors, confirm_page, confirmed};
use crate::http::render::{PageError, PageResult, base, ok, view};
use crate::http::shop::encode;
use crate::http::visitor::Visitor;

/// A list page's filter and cursor.
#[derive(Deserialize, Default)]
pub(super) struct Filter {
    #[serde(default)]
    status: String,
    #[serde(default)]
    cursor: String,
}

impl Filter {
    fn api(&self, allowed: &[&str]) -> String {
        let mut query = form_urlencoded::Serializer::new(String::new());
        query.append_pair("limit", "20");
        if allowed.contains(&self.status.as_str()) {
            query.append_pair("status", &self.status);
        }
        if !self.cursor.is_empty() {
            query.append_pair("cursor", &self.cursor);
        }
        query.finish()
    }

    fn next(&self, at: &str, cursor: Option<&String>) -> Option<String> {
        cursor.map(|cursor| {
            format!(
                "{at}?status={}&cursor={}",
                encode(&self.status),
                encode(cursor)
            )
        })
    }
}

const SHIPMENT_STATUSES: [&str; 9] = [
    "pending",
    "label_created",
    "dispatched",
    "in_transit",
    "out_for_delivery",
    "delivered",
    "failed_delivery",
    "returned",
    "cancelled",
];
const RETURN_STATUSES: [&str; 4] = ["requested", "approved", "received", "rejected"];
const LETTER_STATUSES: [&str; 2] = ["waiting", "replayed"];

async fn list_page(
    console: &Console,
    visitor: &Visitor,
    what: &'static str,
    filter: &Filter,
    errors: FieldErrors,
) -> PageResult {
    let (api, statuses, template, at): (&str, &[&str], &str, &str) = match what {
        "shipments" => (
            "/api/v1/shipments",
            &SHIPMENT_STATUSES,
            "admin/shipments.html",
            "/admin/shipments",
        ),
        "returns" => (
            "/api/v1/returns",
            &RETURN_STATUSES,
            "admin/returns.html",
            "/admin/returns",
        ),
        _ => (
            "/api/v1/admin/dead-letters",
            &LETTER_STATUSES,
            "admin/dead_letters.html",
            "/admin/dead-letters",
        ),
    };
    let list: Json = visitor
        .ask(
            console,
            Call::get(format!("{api}?{}", filter.api(statuses))),
            what,
        )
        .await?;
    let next_page = filter.next(at, list["next_cursor"].as_str().map(str::to_owned).as_ref());
    ok(
        template,
        view!(base(visitor); items => list["items"], unavailable => list["unavailable"],
              next_page => next_page, status => filter.status, statuses => statuses,
              errors => errors),
    )
}

/// `GET /admin/shipments?status=`.
#[tracing::instrument(skip_all)]
pub(super) async fn shipments(
    State(console): State<Arc<Console>>,
    visitor: Visitor,
    Query(filter): Query<Filter>,
) -> PageResult {
    visitor.admin()?;
    list_page(
        &console,
        &visitor,
        "shipments",
        &filter,
        FieldErrors::default(),
    )
    .await
}

/// `GET /admin/returns?status=`.
#[tracing::instrument(skip_all)]
pub(super) async fn returns(
    State(console): State<Arc<Console>>,
    visitor: Visitor,
    Query(filter): Query<Filter>,
) -> PageResult {
    visitor.admin()?;
    list_page(
        &console,
        &visitor,
        "returns",
        &filter,
        FieldErrors::default(),
    )
    .await
}

/// `POST /admin/returns/{id}/{approve|reject|receive}`; rejecting asks first.
#[tracing::instrument(skip_all)]
pub(super) async fn return_action(
    State(console): State<Arc<Console>>,
    visitor: Visitor,
    Path((id, action)): Path<(String, String)>,
    axum::Form(fields): axum::Form<BTreeMap<String, String>>,
) -> PageResult {
    visitor.admin()?;
    if !matches!(action.as_str(), "approve" | "reject" | "receive") {
        return Err(PageError::NotFound);
    }
    let at = format!("/admin/returns/{}/{action}", encode(&id));
    if action == "reject" && !confirmed(&fields) {
        return confirm_page(
            &visitor,
            "Reject this return?",
            "The buyer is told the return is refused.",
            &at,
            &fields,
            "Yes, reject it",
            "/admin/returns",
        );
    }
    match visitor
        .submit(
            &console,
            Call::new(
                http::Method::POST,
                format!("/api/v1/returns/{}/{action}", encode(&id)),
            ),
        )
        .await?
    {
        Ok(_) => Ok(Redirect::to("/admin/returns").into_response()),
        Err(problem) => {
            list_page(
                &console,
                &visitor,
                "returns",
                &Filter::default(),
                FieldErrors::from_problem(&problem, &[]),
            )
            .await
        }
    }
}

/// `GET /admin/dead-letters?status=`.
#[tracing::instrument(skip_all)]
pub(super) async fn dead_letters(
    State(console): State<Arc<Console>>,
    visitor: Visitor,
    Query(filter): Query<Filter>,
) -> PageResult {
    visitor.admin()?;
    list_page(
        &console,
        &visitor,
        "dead letters",
        &filter,
        FieldErrors::default(),
    )
    .await
}

/// `POST /admin/dead-letters/{id}/{replay|discard}`, after confirmation.
#[tracing::instrument(skip_all)]
pub(super) async fn dead_letter_action(
    State(console): State<Arc<Console>>,
    visitor: Visitor,
    Path((id, action)): Path<(String, String)>,
    axum::Form(fields): axum::Form<BTreeMap<String, String>>,
) -> PageResult {
    visitor.admin()?;
    let path = format!("/api/v1/admin/dead-letters/{}", encode(&id));
    let (call, title, message) = match action.as_str() {
        "replay" => (
            Call::new(http::Method::POST, format!("{path}/replay")),
            "Replay this message?",
            "Its consumer handles it again, once.",
        ),
        "discard" => (
            Call::delete(path),
            "Discard this message?",
            "It is dropped for good and never handled.",
        ),
        _ => return Err(PageError::NotFound),
    };
    if !confirmed(&fields) {
        return confirm_page(
            &visitor,
            title,
            message,
            &format!("/admin/dead-letters/{}/{action}", encode(&id)),
            &fields,
            "Yes",
            "/admin/dead-letters",
        );
    }
    match visitor.submit(&console, call).await? {
        Ok(_) => Ok(Redirect::to("/admin/dead-letters").into_response()),
        Err(problem) => {
            list_page(
                &console,
                &visitor,
                "dead letters",
                &Filter::default(),
                FieldErrors::from_problem(&problem, &[]),
            )
            .await
        }
    }
}

/// `GET /admin/health`: each service's readiness and instances (a service down is a
/// 503 of the API, still shown).
#[tracing::instrument(skip_all)]
pub(super) async fn health(State(console): State<Arc<Console>>, visitor: Visitor) -> PageResult {
    visitor.admin()?;
    let health: Json = match visitor.send(&console, Call::get("/health")).await {
        Ok(answer) => answer.json("health").map_err(PageError::Api)?,
        Err(problem) if problem.status == 503 => {
            serde_json::json!({"status": "down", "services": {}})
        }
        Err(problem) => return Err(visitor.failed(problem)),
    };
    ok("admin/health.html", view!(base(&visitor); health => health))
}
