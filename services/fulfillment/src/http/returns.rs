//! Return handlers: a customer opens and reads returns; an operator approves, rejects
//! and receives them.

use axum::extract::{Path, State};
use axum::response::Response;
use platform::auth::Principal;
use platform::http::{Fields, Json, Problem, created};
use serde::{Deserialize, Serialize};

use super::{ApiResult, LineView, problem};
use crate::app::{FulfillmentApp, POLICY, ReturnRequest};
use crate::domain::{self, MAX_RETURN_LINES, Return, ReturnDecision, Sku, Text};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReturnLineBody {
    sku: String,
    quantity: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ReturnBody {
    order_id: String,
    lines: Vec<ReturnLineBody>,
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
#[derive(Serialize)]
struct ReturnAllocationView {
    shipment_id: String,
    warehouse_id: String,
    sku: String,
    quantity: u32,
}

/// A return as the API shows it.
#[derive(Serialize)]
pub(super) struct ReturnView {
    id: String,
    order_id: String,
    user_id: String,
    status: &'static str,
    reason: String,
    lines: Vec<LineView>,
    allocations: Vec<ReturnAllocationView>,
    created_at: String,
    updated_at: String,
    approved_at: Option<String>,
    rejected_at: Option<String>,
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

#[tracing::instrument(skip_all)]
pub(super) async fn create_return(
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

#[tracing::instrument(skip_all)]
pub(super) async fn get_return(
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

#[tracing::instrument(skip_all)]
pub(super) async fn approve_return(
    State(app): State<FulfillmentApp>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<ReturnView>> {
    decide(&app, &principal, &id, ReturnDecision::Approve).await
}

#[tracing::instrument(skip_all)]
pub(super) async fn reject_return(
    State(app): State<FulfillmentApp>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<ReturnView>> {
    decide(&app, &principal, &id, ReturnDecision::Reject).await
}

#[tracing::instrument(skip_all)]
pub(super) async fn receive_return(
    State(app): State<FulfillmentApp>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<ReturnView>> {
    decide(&app, &principal, &id, ReturnDecision::Receive).await
}
