//! Labels and prices: a shipment's PDF label (sender, recipient, barcode of its
//! tracking number), what every carrier would charge for it, and shipping estimates
//! before an order exists.

use super::{FulfillmentApp, FulfillmentError};
use crate::ShipFrom;
use crate::domain::{Parcel, Place, Quote, ShippingAddress};
use crate::label::{self, Label};
use platform::auth::Principal;

/// A shipping estimate asked before an order exists.
#[derive(Debug, Clone)]
pub struct QuoteRequest {
    /// The warehouse it would leave from (the default sender when `None` or unknown).
    pub warehouse_id: Option<String>,
    /// Units (each weighs the configured unit weight).
    pub units: u32,
    /// Where it would go.
    pub to: Place,
}

impl FulfillmentApp {
    /// The parcel of `weight_grams` from `warehouse_id`'s sender to `to`.
    pub(super) fn parcel(
        &self,
        warehouse_id: &str,
        weight_grams: u32,
        to: Option<&ShippingAddress>,
    ) -> Parcel {
        let from = self.config.ship_from(warehouse_id);
        Parcel {
            weight_grams,
            from: Place {
                country: from.country.clone(),
                postal_code: from.postal_code.clone(),
            },
            to: to.map(|a| Place {
                country: a.country.clone(),
                postal_code: a.postal_code.clone(),
            }),
        }
    }

    /// The shipping label of a shipment the caller may see, as a PDF.
    #[tracing::instrument(skip_all, fields(shipment_id = %id), err(level = "debug"))]
    pub async fn label(&self, caller: &Principal, id: &str) -> Result<Vec<u8>, FulfillmentError> {
        let shipment = self.visible_shipment(caller, id).await?;
        let from = self.config.ship_from(&shipment.warehouse_id);
        let carrier = self
            .carriers
            .get(&shipment.carrier)
            .map(|c| format!("{} ({})", c.name(), c.code()))
            .unwrap_or_else(|| shipment.carrier.clone());
        let units = shipment.units();
        let label = Label {
            from: sender_lines(from),
            to: shipment
                .ship_to
                .as_ref()
                .map(recipient_lines)
                .unwrap_or_else(|| vec!["(no address given)".into()]),
            carrier,
            tracking_number: shipment.tracking_number.clone(),
            details: vec![
                format!("Order: {}", shipment.order_id),
                format!("Shipment: {}", shipment.id),
                format!(
                    "Weight: {:.2} kg, {units} unit{}",
                    f64::from(shipment.weight_grams) / 1000.0,
                    if units == 1 { "" } else { "s" }
                ),
            ],
        };
        // A few milliseconds of CPU (font subsetting, compression): off the async
        // workers, so requests sharing them do not wait behind it.
        tokio::task::spawn_blocking(move || label::render(&label))
            .await
            .map_err(|err| unexpected(Box::new(err)))?
            .map_err(|err| unexpected(Box::new(err)))
    }

    /// What every carrier would charge for a shipment the caller may see.
    #[tracing::instrument(skip_all, fields(shipment_id = %id), err(level = "debug"))]
    pub async fn rates(
        &self,
        caller: &Principal,
        id: &str,
    ) -> Result<Vec<Quote>, FulfillmentError> {
        let shipment = self.visible_shipment(caller, id).await?;
        let parcel = self.parcel(
            &shipment.warehouse_id,
            shipment.weight_grams,
            shipment.ship_to.as_ref(),
        );
        Ok(self.quotes(&parcel))
    }

    /// What every carrier would charge for the parcel `request` describes.
    pub fn quote(&self, request: QuoteRequest) -> Vec<Quote> {
        let weight = request.units.saturating_mul(self.config.unit_weight_grams);
        let warehouse_id = request.warehouse_id.as_deref().unwrap_or("");
        let mut parcel = self.parcel(warehouse_id, weight, None);
        parcel.to = Some(request.to);
        self.quotes(&parcel)
    }

    fn quotes(&self, parcel: &Parcel) -> Vec<Quote> {
        self.carriers
            .all()
            .iter()
            .map(|c| c.quote(parcel))
            .collect()
    }
}

/// A label that could not be written (or whose rendering task failed): a 500 whose
/// cause is logged with its whole chain.
fn unexpected(err: platform::db::BoxDynError) -> FulfillmentError {
    FulfillmentError::Label(err)
}

fn sender_lines(from: &ShipFrom) -> Vec<String> {
    vec![
        from.name.clone(),
        from.line1.clone(),
        format!("{} {}", from.postal_code, from.city),
        from.country.clone(),
    ]
}

fn recipient_lines(to: &ShippingAddress) -> Vec<String> {
    let mut lines = vec![to.name.clone(), to.line1.clone()];
    lines.extend(to.line2.clone());
    lines.push(format!("{} {}", to.postal_code, to.city));
    lines.push(to.country.clone());
    lines
}
