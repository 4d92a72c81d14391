//! Shipment handlers: a shipment and an order's shipments with their history, the
//! label PDF, rates, shipping estimates, and an operator's dispatch and delivery.

use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use platform::auth::Principal;
use platform::http::{Fields, Json, List, PageQuery, Problem, Query};
use serde::{Deserialize, Serialize};

use super::{ApiResult, LineView, problem};
use crate::app::{FulfillmentApp, POLICY, QuoteRequest, ShipmentDetail};
use crate::domain::{Money, Place, Quote, ShippingAddress, Text};

/// One entry of a shipment's tracking history.
#[derive(Serialize)]
struct EventView {
    status: &'static str,
    occurred_at: String,
    location: Option<String>,
    description: Option<String>,
    source: String,
}

/// A shipment as the API shows it.
#[derive(Serialize)]
pub(super) struct ShipmentView {
    id: String,
    order_id: String,
    user_id: String,
    warehouse_id: String,
    carrier: String,
    tracking_number: String,
    tracking_url: Option<String>,
    status: &'static str,
    rate: Money,
    weight_grams: u32,
    lines: Vec<LineView>,
    ship_to: Option<ShippingAddress>,
    events: Vec<EventView>,
    label_url: String,
    created_at: String,
    updated_at: String,
    dispatched_at: Option<String>,
    delivered_at: Option<String>,
}

impl From<ShipmentDetail> for ShipmentView {
    fn from(detail: ShipmentDetail) -> Self {
        let (s, state) = detail.shipment.into_parts();
        Self {
            label_url: format!("/api/v1/shipments/{}/label", s.id),
            lines: s
                .lines
                .into_iter()
                .map(|l| LineView {
                    sku: l.sku.as_str().to_owned(),
                    quantity: l.quantity,
                })
                .collect(),
            events: detail
                .events
                .into_iter()
                .map(|e| EventView {
                    status: e.status.as_str(),
                    occurred_at: platform::time::rfc3339(e.occurred_at),
                    location: e.location,
                    description: e.description,
                    source: e.source,
                })
                .collect(),
            tracking_url: detail.tracking_url,
            id: s.id,
            order_id: s.order_id,
            user_id: s.user_id,
            warehouse_id: s.warehouse_id,
            carrier: s.carrier,
            tracking_number: s.tracking_number,
            status: state.status.as_str(),
            rate: s.rate,
            weight_grams: s.weight_grams,
            ship_to: s.ship_to,
            created_at: platform::time::rfc3339(state.created_at),
            updated_at: platform::time::rfc3339(state.updated_at),
            dispatched_at: state.dispatched_at.map(platform::time::rfc3339),
            delivered_at: state.delivered_at.map(platform::time::rfc3339),
        }
    }
}

#[tracing::instrument(skip_all)]
pub(super) async fn get_shipment(
    State(app): State<FulfillmentApp>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<ShipmentView>> {
    app.shipment(&principal, &id)
        .await
        .map(|d| Json(d.into()))
        .map_err(|e| problem(e, "shipment"))
}

#[tracing::instrument(skip_all)]
pub(super) async fn order_shipments(
    State(app): State<FulfillmentApp>,
    principal: Principal,
    Path(order_id): Path<String>,
    Query(query): Query<PageQuery>,
) -> ApiResult<Json<List<ShipmentView>>> {
    let page = query.page()?;
    let details = app
        .order_shipments(
            &principal,
            &order_id,
            page.after.as_deref(),
            page.fetch_limit(),
        )
        .await
        .map_err(|e| problem(e, "order"))?;
    let list = List::from_rows(details, &page, |d| d.shipment.id.clone());
    Ok(Json(List {
        items: list.items.into_iter().map(ShipmentView::from).collect(),
        next_cursor: list.next_cursor,
    }))
}

#[tracing::instrument(skip_all)]
pub(super) async fn get_label(
    State(app): State<FulfillmentApp>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let pdf = app
        .label(&principal, &id)
        .await
        .map_err(|e| problem(e, "shipment"))?;
    let disposition = HeaderValue::from_str(&format!("inline; filename=\"label-{id}.pdf\""))
        .unwrap_or_else(|_| HeaderValue::from_static("inline"));
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/pdf"),
            ),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        pdf,
    )
        .into_response())
}

/// A carrier's price as the API shows it.
#[derive(Serialize)]
pub(super) struct QuoteView {
    carrier: String,
    zone: u8,
    rate: Money,
}

fn quote_list(quotes: Vec<Quote>) -> List<QuoteView> {
    List {
        items: quotes
            .into_iter()
            .map(|q| QuoteView {
                carrier: q.carrier,
                zone: q.zone,
                rate: q.rate,
            })
            .collect(),
        next_cursor: None,
    }
}

#[tracing::instrument(skip_all)]
pub(super) async fn get_rates(
    State(app): State<FulfillmentApp>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<List<QuoteView>>> {
    app.rates(&principal, &id)
        .await
        .map(|q| Json(quote_list(q)))
        .map_err(|e| problem(e, "shipment"))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct DestinationBody {
    country: String,
    postal_code: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct QuoteBody {
    to: DestinationBody,
    #[serde(default)]
    units: Option<i64>,
    #[serde(default)]
    warehouse_id: Option<String>,
}

impl QuoteBody {
    /// The estimate asked for: a two-letter country, a postal code, and 1 to 10000
    /// units (1 by default).
    fn try_into_domain(self) -> Result<QuoteRequest, Problem> {
        let mut fields = Fields::default();
        let country = self.to.country.trim().to_ascii_uppercase();
        if country.len() != 2 || !country.bytes().all(|b| b.is_ascii_uppercase()) {
            fields.push("to.country", "must be a two-letter ISO 3166-1 country code");
        }
        let postal_code = fields.check("to.postal_code", Text::<20>::try_from(self.to.postal_code));
        let units = self.units.unwrap_or(1);
        let units = match u32::try_from(units) {
            Ok(units) if (1..=10_000).contains(&units) => Some(units),
            _ => {
                fields.push("units", "must be between 1 and 10000");
                None
            }
        };
        let (Some(postal_code), Some(units), true) = (postal_code, units, fields.is_ok()) else {
            return Err(fields.into_problem());
        };
        Ok(QuoteRequest {
            warehouse_id: self.warehouse_id,
            units,
            to: Place {
                country,
                postal_code: postal_code.into_string(),
            },
        })
    }
}

/// What carrying `units` units (1 by default) to a destination would cost: a shipping
/// estimate before an order exists. Anyone may ask.
#[tracing::instrument(skip_all)]
pub(super) async fn quote(
    State(app): State<FulfillmentApp>,
    Json(body): Json<QuoteBody>,
) -> ApiResult<Json<List<QuoteView>>> {
    Ok(Json(quote_list(app.quote(body.try_into_domain()?))))
}

#[tracing::instrument(skip_all)]
pub(super) async fn dispatch(
    State(app): State<FulfillmentApp>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<ShipmentView>> {
    POLICY.require_manage(&principal)?;
    app.dispatch(&principal.subject, &id)
        .await
        .map(|d| Json(d.into()))
        .map_err(|e| problem(e, "shipment"))
}

#[tracing::instrument(skip_all)]
pub(super) async fn deliver(
    State(app): State<FulfillmentApp>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<ShipmentView>> {
    POLICY.require_manage(&principal)?;
    app.deliver(&principal.subject, &id)
        .await
        .map(|d| Json(d.into()))
        .map_err(|e| problem(e, "shipment"))
}
