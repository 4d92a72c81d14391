//! Events emitted by the ordering service (the checkout saga's steps). Inventory reacts
//! to `created` (reserve), `cancelled` (release) and `confirmed` (commit).

use serde::{Deserialize, Serialize};

use crate::{Event, Money};

/// One line of an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderLine {
    /// The sellable unit.
    pub sku: String,
    /// How many.
    pub quantity: u32,
    /// Price per unit at order time.
    pub unit_price: Money,
}

/// An order was placed and waits for stock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderCreated {
    /// The order.
    pub order_id: String,
    /// Its owner.
    pub user_id: String,
    /// What was ordered.
    pub items: Vec<OrderLine>,
    /// The order total.
    pub total: Money,
}

impl Event for OrderCreated {
    const TYPE: &'static str = "ordering.order.created.v1";
    fn subject(&self) -> String {
        self.order_id.clone()
    }
}

/// An order was cancelled; whatever it holds is released.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderCancelled {
    /// The order.
    pub order_id: String,
    /// Why.
    pub reason: String,
}

impl Event for OrderCancelled {
    const TYPE: &'static str = "ordering.order.cancelled.v1";
    fn subject(&self) -> String {
        self.order_id.clone()
    }
}

/// An order was confirmed (paid); its reserved stock leaves the warehouse.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderConfirmed {
    /// The order.
    pub order_id: String,
}

impl Event for OrderConfirmed {
    const TYPE: &'static str = "ordering.order.confirmed.v1";
    fn subject(&self) -> String {
        self.order_id.clone()
    }
}
