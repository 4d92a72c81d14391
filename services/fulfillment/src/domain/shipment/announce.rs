//! What a shipment's moves announce to other services: the `contracts` events built
//! from the aggregate, staged by `app` in the transaction that stores the move.

use contracts::fulfillment::{
    ParcelLine, ReturnedLine, ShipmentCreated, ShipmentDelivered, ShipmentDispatched,
    ShipmentFailed, ShipmentReturned,
};

use super::Shipment;

impl Shipment {
    /// What it carries, per sku, as events name it.
    fn parcel_lines(&self) -> Vec<ParcelLine> {
        self.lines
            .iter()
            .map(|l| ParcelLine {
                sku: l.sku.as_str().to_owned(),
                quantity: l.quantity,
            })
            .collect()
    }

    /// The announcement that it opened.
    pub fn created_event(&self) -> ShipmentCreated {
        ShipmentCreated {
            shipment_id: self.id.clone(),
            order_id: self.order_id.clone(),
            user_id: self.user_id.clone(),
            warehouse_id: self.warehouse_id.clone(),
            carrier: self.carrier.clone(),
            tracking_number: self.tracking_number.clone(),
            lines: self.parcel_lines(),
        }
    }

    /// The announcement that it left at `at`; `tracking_url` is its carrier's page.
    pub fn dispatched_event(&self, tracking_url: Option<String>, at: i64) -> ShipmentDispatched {
        ShipmentDispatched {
            shipment_id: self.id.clone(),
            order_id: self.order_id.clone(),
            user_id: self.user_id.clone(),
            carrier: self.carrier.clone(),
            tracking_number: self.tracking_number.clone(),
            tracking_url,
            dispatched_at: platform::time::rfc3339(at),
        }
    }

    /// The announcement that it arrived at `at`, and whether that was the order's last
    /// shipment due.
    pub fn delivered_event(&self, at: i64, order_delivered: bool) -> ShipmentDelivered {
        ShipmentDelivered {
            shipment_id: self.id.clone(),
            order_id: self.order_id.clone(),
            user_id: self.user_id.clone(),
            tracking_number: self.tracking_number.clone(),
            delivered_at: platform::time::rfc3339(at),
            order_delivered,
        }
    }

    /// The announcement that the carrier could not deliver it, for `reason`.
    pub fn failed_event(&self, reason: &str) -> ShipmentFailed {
        ShipmentFailed {
            shipment_id: self.id.clone(),
            order_id: self.order_id.clone(),
            user_id: self.user_id.clone(),
            tracking_number: self.tracking_number.clone(),
            reason: reason.to_owned(),
        }
    }

    /// The announcement that it came back to the warehouse it left from.
    pub fn returned_event(&self) -> ShipmentReturned {
        ShipmentReturned {
            shipment_id: self.id.clone(),
            order_id: self.order_id.clone(),
            user_id: self.user_id.clone(),
            lines: self
                .lines
                .iter()
                .filter(|l| l.quantity > 0)
                .map(|l| ReturnedLine {
                    sku: l.sku.as_str().to_owned(),
                    warehouse_id: self.warehouse_id.clone(),
                    quantity: l.quantity,
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::ShipmentStatus::*;
    use super::super::tests::shipment_in;
    use super::*;

    #[test]
    fn a_parcel_back_at_the_sender_returns_its_lines_to_its_warehouse() {
        let returned = shipment_in(Returned).returned_event();
        assert_eq!(
            returned.lines,
            [ReturnedLine {
                sku: "A-1".into(),
                warehouse_id: "wh-1".into(),
                quantity: 2
            }]
        );
        assert_eq!(shipment_in(LabelCreated).created_event().lines.len(), 1);
    }
}
