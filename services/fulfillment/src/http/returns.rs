//! Return handlers: a customer opens and reads returns (one, or a list of their own);
//! an operator lists every return, approves, rejects and receives them.

use axum::extract::{Path, State};
use axum::middleware::{from_fn, from_fn_with_state};
use axum::response::Response;
use platform::auth::Principal;
use platform::http::api::{ApiRouter, UtoipaMethodRouterExt, problems, routes};
use platform::http::{Fields, Json, List, PageQuery, Problem, Query, created};
use platform::idempotency::{Idempotency, idempotent};
use serde::{Deserialize, Serialize};
use utoipa::openapi::schema::Object;
use utoipa::{IntoParams, ToSchema};

use super::{ApiResult, LineView, names_schema, problem, text_schema};
use crate::app::{FulfillmentApp, POLICY, ReturnRequest};
use crate::domain::{self, MAX_RETURN_LINES, Return, ReturnDecision, ReturnStatus, Sku, Text};

/// Returns: a customer opens one (honouring an optional `Idempotency-Key`, checked
/// only for a signed-in caller) and reads theirs; operators list all, decide and
/// receive.
pub(super) fn api() -> ApiRouter<FulfillmentApp> {
    ApiRouter::new()
        .routes(routes!(create_return).map(|route| {
            route
                .route_layer(from_fn_with_state(Idempotency::optional(), idempotent))
                .route_layer(from_fn(platform::auth::require_caller))
        }))
        .routes(routes!(list_returns))
        .routes(routes!(get_return))
        .routes(routes!(approve_return))
        .routes(routes!(reject_return))
        .routes(routes!(receive_return))
}

/// Every status a return can be in.
fn return_status() -> Object {
    names_schema(
        "Where the return is",
        ReturnStatus::ALL.map(ReturnStatus::as_str),
    )
}

/// The `status` filter of the return list: a status, or empty for every status.
fn return_status_filter() -> Object {
    names_schema(
        "Only returns in this status (empty: every status)",
        ReturnStatus::ALL
            .map(ReturnStatus::as_str)
            .into_iter()
            .chain([""]),
    )
}

/// Units of one delivered sku to send back.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ReturnLineBody {
    /// A sku of the order's delivered shipments.
    #[schema(min_length = 1, max_length = 64, pattern = r"^\s*[A-Za-z0-9._-]+\s*$")]
    sku: String,
    /// Units, 1 to 1000 (no more than were delivered and not yet returned).
    #[schema(minimum = 1, maximum = 1000)]
    quantity: i64,
}

/// A customer's return.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"order_id": "0190a5e4-7c2b-7d3e-9f10-2b3c4d5e6f70", "lines": [{"sku": "DEMO-00005", "quantity": 1}], "reason": "Arrived damaged"}))]
pub(super) struct ReturnBody {
    /// The order, delivered within the return window.
    #[schema(format = "uuid")]
    order_id: String,
    /// What goes back: 1 to 100 lines.
    #[schema(min_items = 1, max_items = 100)]
    lines: Vec<ReturnLineBody>,
    /// Why.
    #[schema(schema_with = text_schema::<500, true>)]
    reason: String,
}

impl ReturnBody {
    /// The request: an order id, 1 to [`MAX_RETURN_LINES`] lines of a sku and a
    /// quantity, and a reason.
    fn try_into_domain(self) -> Result<ReturnRequest, Problem> {
        let mut fields = Fields::default();
        let order_id = self.order_id.trim().to_owned();
        if !platform::ids::is_uuid(&order_id) {
            fields.push("order_id", "must be an order id");
        }
        if self.lines.is_empty() || self.lines.len() > MAX_RETURN_LINES {
            fields.push("lines", format!("must hold 1 to {MAX_RETURN_LINES} lines"));
        }
        let mut lines = Vec::with_capacity(self.lines.len());
        for (i, line) in self.lines.into_iter().enumerate() {
            let sku = fields.check(&format!("lines[{i}].sku"), Sku::try_from(line.sku));
            let quantity = fields.check(
                &format!("lines[{i}].quantity"),
                domain::return_quantity(line.quantity),
            );
            if let (Some(sku), Some(quantity)) = (sku, quantity) {
                lines.push((sku, quantity));
            }
        }
        let reason = fields.check("reason", Text::<500, true>::try_from(self.reason));
        let (Some(reason), true) = (reason, fields.is_ok()) else {
            return Err(fields.into_problem());
        };
        Ok(ReturnRequest {
            order_id,
            lines,
            reason,
        })
    }
}

/// Units of one sku from one shipment, as the API shows a return's allocation.
#[derive(Serialize, ToSchema)]
struct ReturnAllocationView {
    /// The shipment that delivered them.
    shipment_id: String,
    /// The warehouse they go back to.
    warehouse_id: String,
    /// The sku.
    sku: String,
    /// Units.
    quantity: u32,
}

/// A return as the API shows it.
#[derive(Serialize, ToSchema)]
pub(super) struct ReturnView {
    /// Id.
    id: String,
    /// The order.
    order_id: String,
    /// The order's customer.
    user_id: String,
    /// Where it is.
    #[schema(schema_with = return_status)]
    status: &'static str,
    /// Why, as the customer said.
    reason: String,
    /// Units per sku.
    lines: Vec<LineView>,
    /// The same units per shipment they were delivered in.
    allocations: Vec<ReturnAllocationView>,
    /// Creation, RFC 3339.
    #[schema(format = DateTime)]
    created_at: String,
    /// Last change, RFC 3339.
    #[schema(format = DateTime)]
    updated_at: String,
    /// Approval, RFC 3339.
    #[schema(format = DateTime)]
    approved_at: Option<String>,
    /// Rejection, RFC 3339.
    #[schema(format = DateTime)]
    rejected_at: Option<String>,
    /// Receipt of the units, RFC 3339.
    #[schema(format = DateTime)]
    received_at: Option<String>,
}

impl From<Return> for ReturnView {
    fn from(r: Return) -> Self {
        let state = r.state();
        Self {
            lines: r
                .skus()
                .into_iter()
                .map(|(sku, quantity)| LineView {
                    sku: sku.as_str().to_owned(),
                    quantity,
                })
                .collect(),
            allocations: r
                .lines
                .into_iter()
                .map(|l| ReturnAllocationView {
                    shipment_id: l.shipment_id,
                    warehouse_id: l.warehouse_id,
                    sku: l.sku.as_str().to_owned(),
                    quantity: l.quantity,
                })
                .collect(),
            id: r.id,
            order_id: r.order_id,
            user_id: r.user_id,
            status: state.status.as_str(),
            reason: r.reason.into_string(),
            created_at: platform::time::rfc3339(state.created_at),
            updated_at: platform::time::rfc3339(state.updated_at),
            approved_at: state.approved_at.map(platform::time::rfc3339),
            rejected_at: state.rejected_at.map(platform::time::rfc3339),
            received_at: state.received_at.map(platform::time::rfc3339),
        }
    }
}

/// Opens a return of delivered items of the caller's order, within the return window.
#[utoipa::path(
    post,
    path = "/api/v1/returns",
    request_body = ReturnBody,
    params(("Idempotency-Key" = Option<String>, Header, nullable = false, pattern = "^[ -~\t]{1,255}$", description = "Optional: a repeat with the same body gets the stored answer.")),
    responses(
        (status = 201, description = "Requested", body = ReturnView,
            headers(("Location" = String, description = "The new return"))),
        problems::BadRequest, problems::Unauthorized, problems::NotFound, problems::Conflict,
        problems::Invalid,
    ),
)]
#[tracing::instrument(skip_all)]
async fn create_return(
    State(app): State<FulfillmentApp>,
    principal: Principal,
    Json(body): Json<ReturnBody>,
) -> ApiResult<Response> {
    let request = body.try_into_domain()?;
    let record = app
        .create_return(&principal, request)
        .await
        .map_err(|e| problem(e, "order"))?;
    Ok(created(
        &format!("/api/v1/returns/{}", record.id),
        ReturnView::from(record),
    ))
}

/// `GET /returns` filters (the paging is [`PageQuery`]'s, documented beside it).
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ReturnListQuery {
    /// Only returns in this status.
    #[serde(default)]
    #[param(schema_with = return_status_filter)]
    status: Option<String>,
    #[serde(flatten)]
    #[param(ignore)]
    page: PageQuery,
}

impl ReturnListQuery {
    /// The status filter, if any (422 naming `status` for an unknown one).
    fn status(&self) -> ApiResult<Option<ReturnStatus>> {
        match self.status.as_deref().map(str::trim) {
            None | Some("") => Ok(None),
            Some(raw) => ReturnStatus::parse(raw).map(Some).ok_or_else(|| {
                Problem::invalid_field(
                    "status",
                    format!(
                        "must be one of {}",
                        ReturnStatus::ALL.map(ReturnStatus::as_str).join(", ")
                    ),
                )
            }),
        }
    }
}

/// Returns, newest first: the caller's own, or every one for operators (admins and
/// `fulfillment:write`).
#[utoipa::path(
    get,
    path = "/api/v1/returns",
    params(ReturnListQuery, PageQuery),
    responses(
        (status = 200, description = "One page of returns, newest first", body = List<ReturnView>),
        problems::Unauthorized, problems::Invalid,
    ),
)]
#[tracing::instrument(skip_all)]
async fn list_returns(
    State(app): State<FulfillmentApp>,
    principal: Principal,
    Query(query): Query<ReturnListQuery>,
) -> ApiResult<Json<List<ReturnView>>> {
    let status = query.status()?;
    let page = query.page.page()?;
    let returns = app
        .returns(
            &principal,
            status,
            page.after.as_deref(),
            page.fetch_limit(),
        )
        .await
        .map_err(|e| problem(e, "return"))?;
    let list = List::from_rows(returns, &page, |r| r.id.clone());
    Ok(Json(List {
        items: list.items.into_iter().map(ReturnView::from).collect(),
        next_cursor: list.next_cursor,
    }))
}

/// A return: its customer's, or any for operators.
#[utoipa::path(
    get,
    path = "/api/v1/returns/{id}",
    params(("id" = String, Path, description = "The return's id")),
    responses(
        (status = 200, description = "The return", body = ReturnView),
        problems::Unauthorized, problems::NotFound,
    ),
)]
#[tracing::instrument(skip_all)]
async fn get_return(
    State(app): State<FulfillmentApp>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<ReturnView>> {
    app.return_of(&principal, &id)
        .await
        .map(|r| Json(r.into()))
        .map_err(|e| problem(e, "return"))
}

async fn decide(
    app: &FulfillmentApp,
    principal: &Principal,
    id: &str,
    decision: ReturnDecision,
) -> ApiResult<Json<ReturnView>> {
    POLICY.require_manage(principal)?;
    app.decide_return(id, decision)
        .await
        .map(|r| Json(r.into()))
        .map_err(|e| problem(e, "return"))
}

/// An operator approves a requested return (admins and `fulfillment:write`).
#[utoipa::path(
    post,
    path = "/api/v1/returns/{id}/approve",
    params(("id" = String, Path, description = "The return's id")),
    responses(
        (status = 200, description = "Approved", body = ReturnView),
        problems::Unauthorized, problems::Forbidden, problems::NotFound, problems::Conflict,
    ),
)]
#[tracing::instrument(skip_all)]
async fn approve_return(
    State(app): State<FulfillmentApp>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<ReturnView>> {
    decide(&app, &principal, &id, ReturnDecision::Approve).await
}

/// An operator rejects a requested return (admins and `fulfillment:write`).
#[utoipa::path(
    post,
    path = "/api/v1/returns/{id}/reject",
    params(("id" = String, Path, description = "The return's id")),
    responses(
        (status = 200, description = "Rejected", body = ReturnView),
        problems::Unauthorized, problems::Forbidden, problems::NotFound, problems::Conflict,
    ),
)]
#[tracing::instrument(skip_all)]
async fn reject_return(
    State(app): State<FulfillmentApp>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<ReturnView>> {
    decide(&app, &principal, &id, ReturnDecision::Reject).await
}

/// An operator receives an approved return's units: they go back on hand and are refunded.
#[utoipa::path(
    post,
    path = "/api/v1/returns/{id}/receive",
    params(("id" = String, Path, description = "The return's id")),
    responses(
        (status = 200, description = "Received", body = ReturnView),
        problems::Unauthorized, problems::Forbidden, problems::NotFound, problems::Conflict,
    ),
)]
#[tracing::instrument(skip_all)]
async fn receive_return(
    State(app): State<FulfillmentApp>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<ReturnView>> {
    decide(&app, &principal, &id, ReturnDecision::Receive).await
}
