//! The carrier tracking webhook: authenticated by the HMAC-SHA256 signature of its raw
//! body rather than a bearer token, then parsed into a checked [`CarrierUpdate`].

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use platform::http::{Fields, Json, Problem};
use serde::{Deserialize, Serialize};

use super::{ApiResult, problem};
use crate::app::{CarrierUpdate, FulfillmentApp};
use crate::carrier::SIGNATURE_HEADER;
use crate::domain::{ShipmentStatus, Text};

/// How far ahead of this service's clock a carrier's event time may be (clock skew).
const MAX_FUTURE_MS: i64 = 24 * 3600 * 1000;

/// A carrier's tracking update as it arrives. Unknown fields are ignored: carriers add
/// fields without notice.
#[derive(Deserialize)]
struct TrackingBody {
    tracking_number: String,
    status: String,
    occurred_at: String,
    #[serde(default)]
    location: Option<String>,
    #[serde(default)]
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
#[derive(Serialize)]
pub(super) struct TrackingAck {
    shipment_id: String,
    status: &'static str,
    duplicate: bool,
    applied: bool,
}

/// The carrier webhook: authenticated by the HMAC-SHA256 signature of the raw body
/// (`X-Carrier-Signature: sha256=<hex>`), checked before the body is parsed.
#[tracing::instrument(skip_all)]
pub(super) async fn tracking(
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
