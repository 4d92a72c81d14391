//! Shipment handlers: a shipment and an order's shipments with their history, every
//! shipment for operators, the label PDF, rates, shipping estimates, and an operator's
//! dispatch and delivery.

use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use platform::auth::Principal;
use platform::http::api::{ApiRouter, problems, routes};
use platform::http::{Fields, Json, List, PageQuery, Problem, Query};
use serde::{Deserialize, Serialize};
use utoipa::openapi::schema::{Object, ObjectBuilder, Type};
use utoipa::{IntoParams, ToSchema};

use super::{ApiResult, LineView, names_schema, problem, text_schema};
use crate::app::{FulfillmentApp, POLICY, QuoteRequest, ShipmentDetail};
use crate::domain::{Country, Money, Place, Quote, ShipmentStatus, ShippingAddress, Text};

/// Shipments: reads, the label, rates, the public estimate, and operators' moves.
pub(super) fn api() -> ApiRouter<FulfillmentApp> {
    ApiRouter::new()
        .routes(routes!(quote))
        .routes(routes!(list_shipments))
        .routes(routes!(get_shipment))
        .routes(routes!(get_label))
        .routes(routes!(get_rates))
        .routes(routes!(dispatch))
        .routes(routes!(deliver))
        .routes(routes!(order_shipments))
}

/// Every status a shipment can be in.
pub(super) fn shipment_status() -> Object {
    names_schema(
        "Where the shipment is",
        ShipmentStatus::ALL.map(ShipmentStatus::as_str),
    )
}

/// The `status` filter of the shipment list: a status, or empty for every status.
fn shipment_status_filter() -> Object {
    names_schema(
        "Only shipments in this status (empty: every status)",
        ShipmentStatus::ALL
            .map(ShipmentStatus::as_str)
            .into_iter()
            .chain([""]),
    )
}

/// The label as the API answers it: the PDF's bytes.
struct LabelPdf;

impl utoipa::PartialSchema for LabelPdf {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .content_media_type("application/pdf")
            .description(Some("A PDF document (the label, with a Code 128 barcode)"))
            .into()
    }
}

impl ToSchema for LabelPdf {}

/// One entry of a shipment's tracking history.
#[derive(Serialize, ToSchema)]
struct EventView {
    /// The status this entry reports.
    #[schema(schema_with = shipment_status)]
    status: &'static str,
    /// When it happened, RFC 3339.
    #[schema(format = DateTime)]
    occurred_at: String,
    /// Where, as the carrier says.
    location: Option<String>,
    /// What happened.
    description: Option<String>,
    /// Who reported it: the carrier's code, an operator, or `fulfillment`.
    source: String,
}

/// A shipment as the API shows it.
#[derive(Serialize, ToSchema)]
pub(super) struct ShipmentView {
    /// Id.
    id: String,
    /// The order it carries (part of).
    order_id: String,
    /// The order's customer.
    user_id: String,
    /// The warehouse it leaves from.
    warehouse_id: String,
    /// The carrier's code.
    carrier: String,
    /// The carrier's tracking number.
    tracking_number: String,
    /// Where the customer can follow it, when the carrier has such a page.
    tracking_url: Option<String>,
    /// Where it is.
    #[schema(schema_with = shipment_status)]
    status: &'static str,
    /// What the carrier charges.
    rate: Money,
    /// The parcel's weight.
    weight_grams: u32,
    /// What it carries.
    lines: Vec<LineView>,
    /// Where it goes (null when the order gave no address).
    ship_to: Option<ShippingAddress>,
    /// Its tracking history, oldest first.
    events: Vec<EventView>,
    /// Where its PDF label is.
    label_url: String,
    /// Creation, RFC 3339.
    #[schema(format = DateTime)]
    created_at: String,
    /// Last change, RFC 3339.
    #[schema(format = DateTime)]
    updated_at: String,
    /// When it was handed to the carrier, RFC 3339.
    #[schema(format = DateTime)]
    dispatched_at: Option<String>,
    /// When it reached the recipient, RFC 3339.
    #[schema(format = DateTime)]
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

/// A shipment with its tracking history: its customer's, or any for operators.
#[utoipa::path(
    get,
    path = "/api/v1/shipments/{id}",
    params(("id" = String, Path, description = "The shipment's id")),
    responses(
        (status = 200, description = "The shipment", body = ShipmentView),
        problems::Unauthorized, problems::NotFound,
    ),
)]
#[tracing::instrument(skip_all)]
async fn get_shipment(
    State(app): State<FulfillmentApp>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<ShipmentView>> {
    app.shipment(&principal, &id)
        .await
        .map(|d| Json(d.into()))
        .map_err(|e| problem(e, "shipment"))
}

/// `GET /shipments` filters (the paging is [`PageQuery`]'s, documented beside it).
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ShipmentListQuery {
    /// Only shipments in this status.
    #[serde(default)]
    #[param(schema_with = shipment_status_filter)]
    status: Option<String>,
    #[serde(flatten)]
    #[param(ignore)]
    page: PageQuery,
}

impl ShipmentListQuery {
    /// The status filter, if any (422 naming `status` for an unknown one).
    fn status(&self) -> ApiResult<Option<ShipmentStatus>> {
        match self.status.as_deref().map(str::trim) {
            None | Some("") => Ok(None),
            Some(raw) => ShipmentStatus::parse(raw).map(Some).ok_or_else(|| {
                Problem::invalid_field(
                    "status",
                    format!(
                        "must be one of {}",
                        ShipmentStatus::ALL.map(ShipmentStatus::as_str).join(", ")
                    ),
                )
            }),
        }
    }
}

/// Every shipment, newest first, with its tracking history (admins and
/// `fulfillment:write`).
#[utoipa::path(
    get,
    path = "/api/v1/shipments",
    params(ShipmentListQuery, PageQuery),
    responses(
        (status = 200, description = "One page of shipments, newest first", body = List<ShipmentView>),
        problems::Unauthorized, problems::Forbidden, problems::Invalid,
    ),
)]
#[tracing::instrument(skip_all)]
async fn list_shipments(
    State(app): State<FulfillmentApp>,
    principal: Principal,
    Query(query): Query<ShipmentListQuery>,
) -> ApiResult<Json<List<ShipmentView>>> {
    POLICY.require_manage(&principal)?;
    let status = query.status()?;
    let page = query.page.page()?;
    let details = app
        .shipments(status, page.after.as_deref(), page.fetch_limit())
        .await
        .map_err(|e| problem(e, "shipment"))?;
    let list = List::from_rows(details, &page, |d| d.shipment.id.clone());
    Ok(Json(List {
        items: list.items.into_iter().map(ShipmentView::from).collect(),
        next_cursor: list.next_cursor,
    }))
}

/// The shipments of an order (one per warehouse it ships from), by id.
#[utoipa::path(
    get,
    path = "/api/v1/orders/{id}/shipments",
    params(("id" = String, Path, description = "The order's id"), PageQuery),
    responses(
        (status = 200, description = "One page of the order's shipments", body = List<ShipmentView>),
        problems::Unauthorized, problems::NotFound, problems::Invalid,
    ),
)]
#[tracing::instrument(skip_all)]
async fn order_shipments(
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

/// A shipment's label, as a PDF: sender, recipient and a barcode of its tracking number.
#[utoipa::path(
    get,
    path = "/api/v1/shipments/{id}/label",
    params(("id" = String, Path, description = "The shipment's id")),
    responses(
        (status = 200, description = "The label", content_type = "application/pdf", body = LabelPdf,
            headers(("Content-Disposition" = String, description = "`inline` with the file name `label-<id>.pdf`"))),
        problems::Unauthorized, problems::NotFound,
    ),
)]
#[tracing::instrument(skip_all)]
async fn get_label(
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
#[derive(Serialize, ToSchema)]
pub(super) struct QuoteView {
    /// The carrier's code.
    carrier: String,
    /// The zone the destination falls in, from the sender's.
    zone: u8,
    /// What it would charge.
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

/// What every carrier would charge for a shipment.
#[utoipa::path(
    get,
    path = "/api/v1/shipments/{id}/rates",
    params(("id" = String, Path, description = "The shipment's id")),
    responses(
        (status = 200, description = "One price per carrier (a single page)", body = List<QuoteView>),
        problems::Unauthorized, problems::NotFound,
    ),
)]
#[tracing::instrument(skip_all)]
async fn get_rates(
    State(app): State<FulfillmentApp>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<List<QuoteView>>> {
    app.rates(&principal, &id)
        .await
        .map(|q| Json(quote_list(q)))
        .map_err(|e| problem(e, "shipment"))
}

/// Where an estimated parcel would go.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct DestinationBody {
    /// ISO 3166-1 alpha-2 country (either case).
    #[schema(pattern = r"^\s*[A-Za-z]{2}\s*$")]
    country: String,
    /// Postal code.
    #[schema(schema_with = text_schema::<20, false>)]
    postal_code: String,
}

/// A shipping estimate's question.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"to": {"country": "DE", "postal_code": "10115"}, "units": 2}))]
pub(super) struct QuoteBody {
    /// Where it would go.
    to: DestinationBody,
    /// Units, 1 to 10000 (1 when absent).
    #[serde(default)]
    #[schema(minimum = 1, maximum = 10000)]
    units: Option<i64>,
    /// The warehouse it would leave from (the default sender when absent or unknown).
    #[serde(default)]
    warehouse_id: Option<String>,
}

impl QuoteBody {
    /// The estimate asked for: a two-letter country, a postal code, and 1 to 10000
    /// units (1 by default).
    fn try_into_domain(self) -> Result<QuoteRequest, Problem> {
        let mut fields = Fields::default();
        let country = fields.check("to.country", Country::try_from(self.to.country));
        let postal_code = fields.check("to.postal_code", Text::<20>::try_from(self.to.postal_code));
        let units = self.units.unwrap_or(1);
        let units = match u32::try_from(units) {
            Ok(units) if (1..=10_000).contains(&units) => Some(units),
            _ => {
                fields.push("units", "must be between 1 and 10000");
                None
            }
        };
        let (Some(country), Some(postal_code), Some(units), true) =
            (country, postal_code, units, fields.is_ok())
        else {
            return Err(fields.into_problem());
        };
        Ok(QuoteRequest {
            warehouse_id: self.warehouse_id,
            units,
            to: Place {
                country: country.into_string(),
                postal_code: postal_code.into_string(),
            },
        })
    }
}

/// A shipping estimate before an order exists: each carrier's price. Anyone may ask.
///
/// What carrying `units` units (1 by default) to a destination would cost.
#[utoipa::path(
    post,
    path = "/api/v1/shipments/quote",
    request_body = QuoteBody,
    responses(
        (status = 200, description = "One price per carrier (a single page)", body = List<QuoteView>),
        problems::BadRequest, problems::Invalid,
    ),
    security(()),
)]
#[tracing::instrument(skip_all)]
async fn quote(
    State(app): State<FulfillmentApp>,
    Json(body): Json<QuoteBody>,
) -> ApiResult<Json<List<QuoteView>>> {
    Ok(Json(quote_list(app.quote(body.try_into_domain()?))))
}

/// An operator hands a shipment to its carrier (admins and `fulfillment:write`).
#[utoipa::path(
    post,
    path = "/api/v1/shipments/{id}/dispatch",
    params(("id" = String, Path, description = "The shipment's id")),
    responses(
        (status = 200, description = "Dispatched", body = ShipmentView),
        problems::Unauthorized, problems::Forbidden, problems::NotFound, problems::Conflict,
    ),
)]
#[tracing::instrument(skip_all)]
async fn dispatch(
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

/// An operator confirms a shipment's delivery (admins and `fulfillment:write`).
#[utoipa::path(
    post,
    path = "/api/v1/shipments/{id}/deliver",
    params(("id" = String, Path, description = "The shipment's id")),
    responses(
        (status = 200, description = "Delivered", body = ShipmentView),
        problems::Unauthorized, problems::Forbidden, problems::NotFound, problems::Conflict,
    ),
)]
#[tracing::instrument(skip_all)]
async fn deliver(
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
