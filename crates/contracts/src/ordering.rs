//! Events emitted by the ordering service (the checkout saga's steps). Inventory reacts
//! to `created` (reserve), `cancelled` (release, or restock once committed) and
//! `confirmed` (commit); payments to `reserved` (authorize), `confirmed` (capture) and
//! `cancelled` (void, or refund once captured).

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
    /// The payment that will be authorized once stock is reserved.
    #[serde(default)]
    pub payment_id: Option<String>,
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
    /// The order's payment, if it has one (voided or refunded by payments).
    #[serde(default)]
    pub payment_id: Option<String>,
}

impl Event for OrderCancelled {
    const TYPE: &'static str = "ordering.order.cancelled.v1";
    fn subject(&self) -> String {
        self.order_id.clone()
    }
}

/// An order was confirmed (paid); its reserved stock leaves the warehouse and its
/// payment is captured.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderConfirmed {
    /// The order.
    pub order_id: String,
    /// Its owner.
    #[serde(default)]
    pub user_id: Option<String>,
    /// The payment to capture.
    #[serde(default)]
    pub payment_id: Option<String>,
    /// The amount to capture.
    #[serde(default)]
    pub total: Option<Money>,
}

impl Event for OrderConfirmed {
    const TYPE: &'static str = "ordering.order.confirmed.v1";
    fn subject(&self) -> String {
        self.order_id.clone()
    }
}

/// Every line of an order holds stock; its payment is to be authorized.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderReserved {
    /// The order.
    pub order_id: String,
    /// Its owner.
    pub user_id: String,
    /// The payment to authorize.
    pub payment_id: String,
    /// The amount to authorize (the order total).
    pub amount: Money,
}

impl Event for OrderReserved {
    const TYPE: &'static str = "ordering.order.reserved.v1";
    fn subject(&self) -> String {
        self.order_id.clone()
    }
}

/// An order's payment was authorized.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderAuthorized {
    /// The order.
    pub order_id: String,
    /// The authorized payment.
    pub payment_id: String,
}

impl Event for OrderAuthorized {
    const TYPE: &'static str = "ordering.order.authorized.v1";
    fn subject(&self) -> String {
        self.order_id.clone()
    }
}

/// Money went back to the customer for an order (carried by both `refunded` and
/// `partially_refunded`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundFacts {
    /// The order.
    pub order_id: String,
    /// The payment refunded.
    pub payment_id: String,
    /// This refund.
    pub amount: Money,
    /// Refunded so far, this one included.
    pub refunded_total: Money,
}

/// An order was refunded in full.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderRefunded(pub RefundFacts);

impl Event for OrderRefunded {
    const TYPE: &'static str = "ordering.order.refunded.v1";
    fn subject(&self) -> String {
        self.0.order_id.clone()
    }
}

/// Part of an order was refunded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderPartiallyRefunded(pub RefundFacts);

impl Event for OrderPartiallyRefunded {
    const TYPE: &'static str = "ordering.order.partially_refunded.v1";
    fn subject(&self) -> String {
        self.0.order_id.clone()
    }
}
