//! The carrier tracking webhook: authenticated by the HMAC-SHA256 signature of its raw
//! body rather than a bearer token, then parsed into a checked [`CarrierUpdate`].

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use platform::http::api::{ApiRouter, problems, routes};
use platform::http::{Fields, Json, Problem};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa::openapi::schema::{Object, ObjectBuilder, Type};

use super::{ApiResult, names_schema, problem};
use crate::app::{CarrierUpdate, FulfillmentApp};
use crate::carrier::SIGNATURE_HEADER;
use crate::domain::{ShipmentStatus, Text};

/// The webhook's route. It is documented without security: the signature header is
/// the credential.
pub(super) fn api() -> ApiRouter<FulfillmentApp> {
    ApiRouter::new().routes(routes!(tracking))
}

/// How far ahead of this service's clock a carrier's event time may be (clock skew).
const MAX_FUTURE_MS: i64 = 24 * 3600 * 1000;

/// The statuses a carrier may report.
fn carrier_status() -> Object {
    names_schema(
        "What the carrier reports",
        ShipmentStatus::ALL
            .into_iter()
            .map(ShipmentStatus::as_str)
            .filter(|name| ShipmentStatus::from_carrier(name).is_some()),
    )
}

/// An optional short text of at most `MAX` characters: blank counts as absent, and
/// anything else must be free of control characters.
fn optional_text_schema<const MAX: usize>() -> Object {
    ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::SchemaType::from_iter([
            Type::String,
            Type::Null,
        ]))
        .description(Some(format!(
            "up to {MAX} characters without control characters; blank is as absent"
        )))
        .max_length(Some(MAX))
        .pattern(Some(r"^[^\x00-\x1f\x7f-\x9f]*$"))
        .build()
}

/// A carrier's tracking update as it arrives. Unknown fields are ignored: carriers add
/// fields without notice.
#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"tracking_number": "LC000001234567", "status": "in_transit", "occurred_at": "2026-12-01T10:00:00Z", "location": "Berlin hub"}))]
struct TrackingBody {
    /// The shipment's tracking number (another is 422).
    tracking_number: String,
    /// What the carrier reports.
    #[schema(schema_with = carrier_status)]
    status: String,
    /// When, RFC 3339; not further ahead of the service's clock than a day.
    #[schema(format = DateTime)]
    occurred_at: String,
    /// Where.
    #[serde(default)]
    #[schema(schema_with = optional_text_schema::<200>)]
    location: Option<String>,
    /// What happened.
    #[serde(default)]
    #[schema(schema_with = optional_text_schema::<500>)]
    description: Option<String>,
}

/// An optional text: absent or blank is `None`.
fn optional_text<const MAX: usize>(
    fields: &mut Fields,
    field: &str,
    raw: Option<String>,
) -> Option<String> {
    raw.filter(|t| !t.trim().is_empty())
        .and_then(|t| fields.check(field, Text::<MAX>::try_from(t)))
        .map(Text::into_string)
}

impl TrackingBody {
    /// The update: a status a carrier may report, an RFC 3339 time no further ahead of
    /// `now` than clock skew explains, and short texts.
    fn try_into_domain(self, now: i64) -> Result<CarrierUpdate, Problem> {
        let mut fields = Fields::default();
        let status = ShipmentStatus::from_carrier(&self.status);
        if status.is_none() {
            fields.push(
                "status",
                "must be one of dispatched, in_transit, out_for_delivery, delivered, failed_delivery, returned",
            );
        }
        let occurred_at = platform::time::parse_rfc3339(&self.occurred_at);
        match occurred_at {
            None => fields.push("occurred_at", "must be an RFC 3339 time"),
            Some(at) if at > now + MAX_FUTURE_MS => {
                fields.push("occurred_at", "must not be in the future")
            }
            Some(_) => {}
        }
        let location = optional_text::<200>(&mut fields, "location", self.location);
        let description = optional_text::<500>(&mut fields, "description", self.description);
        let (Some(status), Some(occurred_at), true) = (status, occurred_at, fields.is_ok()) else {
            return Err(fields.into_problem());
        };
        Ok(CarrierUpdate {
            tracking_number: self.tracking_number.trim().to_owned(),
            status,
            occurred_at,
            location,
            description,
        })
    }
}

/// What the carrier is told.
#[derive(Serialize, ToSchema)]
pub(super) struct TrackingAck {
    /// The shipment.
    shipment_id: String,
    /// Its status after the update.
    #[schema(schema_with = super::shipments::shipment_status)]
    status: &'static str,
    /// The same update came before; nothing changed.
    duplicate: bool,
    /// It moved (or confirmed) the status; false for a scan the parcel is already
    /// past, which is only kept in the history.
    applied: bool,
}

/// The carrier tracking webhook, signed by the carrier instead of a bearer token.
///
/// Authenticated by the HMAC-SHA256 signature of the raw body
/// (`X-Carrier-Signature: sha256=<hex>`), checked before the body is parsed: a missing
/// or bad signature is 401 and changes nothing.
#[utoipa::path(
    post,
    path = "/api/v1/shipments/{id}/tracking",
    params(
        ("id" = String, Path, description = "The shipment's id"),
        ("X-Carrier-Signature" = String, Header,
            description = "`sha256=` and the hex HMAC-SHA256 of the raw body under the carrier's secret"),
    ),
    request_body(content = TrackingBody, content_type = "application/json",
        description = "Signed as sent: the signature covers the raw bytes"),
    responses(
        (status = 200, description = "Acknowledged (also a repeated or late scan)", body = TrackingAck),
        problems::BadRequest, problems::Unauthorized, problems::NotFound, problems::Conflict,
        problems::Invalid,
    ),
    security(()),
)]
#[tracing::instrument(skip_all)]
async fn tracking(
    State(app): State<FulfillmentApp>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<TrackingAck>> {
    let signature = headers.get(SIGNATURE_HEADER).and_then(|v| v.to_str().ok());
    let shipment = app
        .authenticate_webhook(&id, &body, signature)
        .await
        .map_err(|e| problem(e, "shipment"))?;
    let body: TrackingBody = platform::http::extract::parse_json(&body)?;
    let update = body.try_into_domain(app.now())?;
    let outcome = app
        .apply_tracking(&shipment, &update)
        .await
        .map_err(|e| problem(e, "shipment"))?;
    Ok(Json(TrackingAck {
        shipment_id: shipment.id.clone(),
        status: outcome.status.as_str(),
        duplicate: outcome.duplicate,
        applied: outcome.applied,
    }))
}
