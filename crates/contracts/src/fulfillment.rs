//! Events emitted by the fulfillment service. Ordering follows an order's parcels
//! (`dispatched` → shipped, `delivered` with `order_delivered` → delivered) and refunds
//! received returns; inventory puts returned units back on hand; notifications tells
//! the customer.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::Event;

/// Units of one sku in a shipment or a return.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, ToSchema)]
pub struct ParcelLine {
    /// The sku.
    pub sku: String,
    /// How many.
    pub quantity: u32,
}

/// A shipment was opened for the part of an order one warehouse holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, ToSchema)]
pub struct ShipmentCreated {
    /// The shipment.
    pub shipment_id: String,
    /// The order it ships.
    pub order_id: String,
    /// The order's owner.
    pub user_id: String,
    /// The warehouse it leaves from.
    pub warehouse_id: String,
    /// The carrier (e.g. `local`).
    pub carrier: String,
    /// The carrier's tracking number.
    pub tracking_number: String,
    /// What is in it.
    pub lines: Vec<ParcelLine>,
}

impl Event for ShipmentCreated {
    const TYPE: &'static str = "fulfillment.shipment.created.v1";
    fn subject(&self) -> String {
        self.shipment_id.clone()
    }
}

/// A shipment left the warehouse with its carrier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, ToSchema)]
pub struct ShipmentDispatched {
    /// The shipment.
    pub shipment_id: String,
    /// The order it ships.
    pub order_id: String,
    /// The order's owner.
    pub user_id: String,
    /// The carrier.
    pub carrier: String,
    /// The carrier's tracking number.
    pub tracking_number: String,
    /// Where the customer can follow it, when the carrier has such a page.
    #[serde(default)]
    pub tracking_url: Option<String>,
    /// RFC 3339 time it left.
    pub dispatched_at: String,
}

impl Event for ShipmentDispatched {
    const TYPE: &'static str = "fulfillment.shipment.dispatched.v1";
    fn subject(&self) -> String {
        self.shipment_id.clone()
    }
}

/// A shipment reached its recipient.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, ToSchema)]
pub struct ShipmentDelivered {
    /// The shipment.
    pub shipment_id: String,
    /// The order it ships.
    pub order_id: String,
    /// The order's owner.
    pub user_id: String,
    /// The carrier's tracking number.
    pub tracking_number: String,
    /// RFC 3339 time of delivery.
    pub delivered_at: String,
    /// Every shipment of the order is now delivered (the order is delivered).
    pub order_delivered: bool,
}

impl Event for ShipmentDelivered {
    const TYPE: &'static str = "fulfillment.shipment.delivered.v1";
    fn subject(&self) -> String {
        self.shipment_id.clone()
    }
}

/// The carrier could not deliver a shipment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, ToSchema)]
pub struct ShipmentFailed {
    /// The shipment.
    pub shipment_id: String,
    /// The order it ships.
    pub order_id: String,
    /// The order's owner.
    pub user_id: String,
    /// The carrier's tracking number.
    pub tracking_number: String,
    /// The carrier's reason.
    pub reason: String,
}

impl Event for ShipmentFailed {
    const TYPE: &'static str = "fulfillment.shipment.failed.v1";
    fn subject(&self) -> String {
        self.shipment_id.clone()
    }
}

/// A parcel the carrier could not deliver came back to the warehouse it left from:
/// inventory restocks its units and ordering refunds them, as for a received return.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, ToSchema)]
pub struct ShipmentReturned {
    /// The shipment.
    pub shipment_id: String,
    /// The order it shipped.
    pub order_id: String,
    /// The order's owner.
    pub user_id: String,
    /// What came back, and where to.
    pub lines: Vec<ReturnedLine>,
}

impl Event for ShipmentReturned {
    const TYPE: &'static str = "fulfillment.shipment.returned.v1";
    fn subject(&self) -> String {
        self.shipment_id.clone()
    }
}

impl From<ShipmentReturned> for ReturnReceived {
    /// The same facts as a return received under the shipment's id (which names the
    /// refund, so it is made once).
    fn from(returned: ShipmentReturned) -> Self {
        Self {
            return_id: returned.shipment_id,
            order_id: returned.order_id,
            user_id: returned.user_id,
            lines: returned.lines,
        }
    }
}

/// A customer asked to send delivered items back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, ToSchema)]
pub struct ReturnRequested {
    /// The return.
    pub return_id: String,
    /// The order the items came with.
    pub order_id: String,
    /// The customer.
    pub user_id: String,
    /// What comes back.
    pub lines: Vec<ParcelLine>,
    /// The customer's reason.
    pub reason: String,
}

impl Event for ReturnRequested {
    const TYPE: &'static str = "fulfillment.return.requested.v1";
    fn subject(&self) -> String {
        self.return_id.clone()
    }
}

/// Units of one sku that came back into one warehouse.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, ToSchema)]
pub struct ReturnedLine {
    /// The sku.
    pub sku: String,
    /// The warehouse they went back to (the one they shipped from).
    pub warehouse_id: String,
    /// How many.
    pub quantity: u32,
}

/// Returned items arrived at the warehouse: inventory restocks them and ordering
/// refunds them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, ToSchema)]
pub struct ReturnReceived {
    /// The return.
    pub return_id: String,
    /// The order the items came with.
    pub order_id: String,
    /// The customer.
    pub user_id: String,
    /// What came back, and where to.
    pub lines: Vec<ReturnedLine>,
}

impl Event for ReturnReceived {
    const TYPE: &'static str = "fulfillment.return.received.v1";
    fn subject(&self) -> String {
        self.return_id.clone()
    }
}

/// An operator rejected a requested return: nothing comes back, and the order no
/// longer waits on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, ToSchema)]
pub struct ReturnRejected {
    /// The return.
    pub return_id: String,
    /// The order the items came with.
    pub order_id: String,
    /// The customer.
    pub user_id: String,
}

impl Event for ReturnRejected {
    const TYPE: &'static str = "fulfillment.return.rejected.v1";
    fn subject(&self) -> String {
        self.return_id.clone()
    }
}
