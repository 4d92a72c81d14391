//! Events emitted by the inventory service.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::Event;

/// Units of one sku taken from one warehouse.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, ToSchema)]
pub struct Allocation {
    /// The sku.
    pub sku: String,
    /// The warehouse holding them.
    pub warehouse_id: String,
    /// How many.
    pub quantity: u32,
}

/// Every line of an order was reserved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, ToSchema)]
pub struct StockReserved {
    /// The order.
    pub order_id: String,
    /// The reservation.
    pub reservation_id: String,
    /// Where each unit was reserved.
    pub allocations: Vec<Allocation>,
    /// RFC 3339 time the reservation releases itself unless committed.
    pub expires_at: String,
}

impl Event for StockReserved {
    const TYPE: &'static str = "inventory.stock.reserved.v1";
    fn subject(&self) -> String {
        self.order_id.clone()
    }
}

/// An order could not be reserved; nothing was held.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, ToSchema)]
pub struct ReservationFailed {
    /// The order.
    pub order_id: String,
    /// Why, e.g. `insufficient stock for sku X`.
    pub reason: String,
    /// The skus that were short.
    pub short_skus: Vec<String>,
}

impl Event for ReservationFailed {
    const TYPE: &'static str = "inventory.stock.reservation_failed.v1";
    fn subject(&self) -> String {
        self.order_id.clone()
    }
}

/// A reservation was released (cancelled or expired).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, ToSchema)]
pub struct StockReleased {
    /// The order.
    pub order_id: String,
    /// The reservation.
    pub reservation_id: String,
    /// `released` or `expired`.
    pub reason: String,
}

impl Event for StockReleased {
    const TYPE: &'static str = "inventory.stock.released.v1";
    fn subject(&self) -> String {
        self.order_id.clone()
    }
}

/// A reservation was committed: the units left stock (order confirmed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, ToSchema)]
pub struct StockCommitted {
    /// The order.
    pub order_id: String,
    /// The reservation.
    pub reservation_id: String,
    /// What left which warehouse (fulfillment opens a shipment per warehouse).
    pub allocations: Vec<Allocation>,
}

impl Event for StockCommitted {
    const TYPE: &'static str = "inventory.stock.committed.v1";
    fn subject(&self) -> String {
        self.order_id.clone()
    }
}

/// An admin changed on-hand stock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, ToSchema)]
pub struct StockAdjusted {
    /// The sku.
    pub sku: String,
    /// The warehouse.
    pub warehouse_id: String,
    /// The change.
    pub delta: i64,
    /// Why.
    pub reason: String,
}

impl Event for StockAdjusted {
    const TYPE: &'static str = "inventory.stock.adjusted.v1";
    fn subject(&self) -> String {
        self.sku.clone()
    }
}

/// A sku's available stock fell to or under its threshold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, ToSchema)]
pub struct StockLow {
    /// The sku.
    pub sku: String,
    /// Units available across warehouses.
    pub available: i64,
    /// The threshold.
    pub threshold: i64,
}

impl Event for StockLow {
    const TYPE: &'static str = "inventory.stock.low.v1";
    fn subject(&self) -> String {
        self.sku.clone()
    }
}

/// A sku's totals changed (catalog keeps `in_stock` from this).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, ToSchema)]
pub struct StockUpdated {
    /// The sku.
    pub sku: String,
    /// Units on hand across warehouses.
    pub on_hand: i64,
    /// Units reserved across warehouses.
    pub reserved: i64,
    /// `on_hand - reserved`.
    pub available: i64,
}

impl Event for StockUpdated {
    const TYPE: &'static str = "inventory.stock.updated.v1";
    fn subject(&self) -> String {
        self.sku.clone()
    }
}
