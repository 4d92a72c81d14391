//! Events emitted by the ordering service (the checkout saga's steps). Inventory reacts
//! to `created` (reserve), `cancelled` (release, or restock once committed) and
//! `confirmed` (commit); payments to `reserved` (authorize), `confirmed` (capture) and
//! `cancelled` (void, or refund once captured).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{Event, Money};

/// One line of an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, ToSchema)]
pub struct OrderLine {
    /// The sellable unit.
    pub sku: String,
    /// How many.
    pub quantity: u32,
    /// Price per unit at order time.
    pub unit_price: Money,
}

/// Where an order goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, ToSchema)]
pub struct ShippingAddress {
    /// Recipient.
    pub name: String,
    /// Street and number.
    pub line1: String,
    /// Second address line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line2: Option<String>,
    /// City.
    pub city: String,
    /// Postal code.
    pub postal_code: String,
    /// ISO 3166-1 alpha-2 country.
    pub country: String,
}

/// Where the customer of an order came from, as the storefront told it at checkout
/// (the marketing source of Viscount's own orders, which ingestion classifies into a
/// channel exactly as it does an external storefront's).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema, ToSchema)]
pub struct Attribution {
    /// `utm_source`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub utm_source: Option<String>,
    /// `utm_medium`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub utm_medium: Option<String>,
    /// `utm_campaign`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub utm_campaign: Option<String>,
    /// The referring page, an absolute http(s) URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub referrer: Option<String>,
}

/// An order was placed and waits for stock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, ToSchema)]
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
    /// Where the customer came from, when the checkout said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attribution: Option<Attribution>,
}

impl Event for OrderCreated {
    const TYPE: &'static str = "ordering.order.created.v1";
    fn subject(&self) -> String {
        self.order_id.clone()
    }
}

/// An order was cancelled; whatever it holds is released.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, ToSchema)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, ToSchema)]
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
    /// Where it goes (fulfillment addresses its shipments with it).
    #[serde(default)]
    pub shipping_address: Option<ShippingAddress>,
    /// What was ordered, at order-time prices.
    #[serde(default)]
    pub items: Vec<OrderLine>,
    /// Where the customer came from, when the checkout said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attribution: Option<Attribution>,
}

impl Event for OrderConfirmed {
    const TYPE: &'static str = "ordering.order.confirmed.v1";
    fn subject(&self) -> String {
        self.order_id.clone()
    }
}

/// Every line of an order holds stock; its payment is to be authorized.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, ToSchema)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, ToSchema)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, ToSchema)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, ToSchema)]
pub struct OrderRefunded(pub RefundFacts);

impl Event for OrderRefunded {
    const TYPE: &'static str = "ordering.order.refunded.v1";
    fn subject(&self) -> String {
        self.0.order_id.clone()
    }
}

/// Part of an order was refunded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, ToSchema)]
pub struct OrderPartiallyRefunded(pub RefundFacts);

impl Event for OrderPartiallyRefunded {
    const TYPE: &'static str = "ordering.order.partially_refunded.v1";
    fn subject(&self) -> String {
        self.0.order_id.clone()
    }
}

/// Money is to go back to the customer for part of an order (returned items); payments
/// refunds it once per `request_id` and answers with `payments.refund.processed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, ToSchema)]
pub struct RefundRequested {
    /// The order.
    pub order_id: String,
    /// The payment to refund.
    pub payment_id: String,
    /// How much.
    pub amount: Money,
    /// Names this refund (the return's id), so a redelivery refunds nothing twice.
    pub request_id: String,
    /// Why, for the ledger.
    pub reason: String,
}

impl Event for RefundRequested {
    const TYPE: &'static str = "ordering.refund.requested.v1";
    fn subject(&self) -> String {
        self.order_id.clone()
    }
}

/// An order's status followed its shipments (`shipped` or `delivered`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, ToSchema)]
pub struct OrderStatusChanged {
    /// The order.
    pub order_id: String,
    /// Its owner.
    pub user_id: String,
    /// The status before.
    pub from: String,
    /// The status now.
    pub to: String,
}

/// An order left the warehouse (its first shipment was dispatched).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, ToSchema)]
pub struct OrderShipped(pub OrderStatusChanged);

impl Event for OrderShipped {
    const TYPE: &'static str = "ordering.order.shipped.v1";
    fn subject(&self) -> String {
        self.0.order_id.clone()
    }
}

/// Every shipment of an order was delivered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, ToSchema)]
pub struct OrderDelivered(pub OrderStatusChanged);

impl Event for OrderDelivered {
    const TYPE: &'static str = "ordering.order.delivered.v1";
    fn subject(&self) -> String {
        self.0.order_id.clone()
    }
}

/// One line of a cart, priced from ordering's price copy when the cart changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, ToSchema)]
pub struct CartLine {
    /// The sellable unit.
    pub sku: String,
    /// How many.
    pub quantity: u32,
    /// Price per unit now; none when the sku is no longer for sale (its product was
    /// deleted), which a checkout of the cart would refuse.
    #[serde(default)]
    pub unit_price: Option<Money>,
    /// `unit_price × quantity`, when it has a price.
    #[serde(default)]
    pub line_total: Option<Money>,
}

/// A cart as it is after a change: carried by `cart.created` and `cart.updated`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, ToSchema)]
pub struct CartFacts {
    /// The cart.
    pub cart_id: String,
    /// Its owner.
    pub user_id: String,
    /// Its lines, in the order first added.
    pub items: Vec<CartLine>,
    /// The subtotal of the lines (its currency is the cart's); none while empty, or
    /// while a line has no price or the lines mix currencies.
    #[serde(default)]
    pub subtotal: Option<Money>,
}

/// A user opened a cart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, ToSchema)]
pub struct CartCreated(pub CartFacts);

impl Event for CartCreated {
    const TYPE: &'static str = "ordering.cart.created.v1";
    fn subject(&self) -> String {
        self.0.cart_id.clone()
    }
}

/// A cart's lines changed (a line set or removed, or the cart emptied by a checkout).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, ToSchema)]
pub struct CartUpdated(pub CartFacts);

impl Event for CartUpdated {
    const TYPE: &'static str = "ordering.cart.updated.v1";
    fn subject(&self) -> String {
        self.0.cart_id.clone()
    }
}

/// Inventory holds every line of an order at the prices it was placed with, for the
/// address it was placed with: the order is valid to charge, and its payment is
/// authorized next (seed 001's `OrderValidated`, between `OrderCreated` and the
/// payment).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, ToSchema)]
pub struct OrderValidated {
    /// The order.
    pub order_id: String,
    /// Its owner.
    pub user_id: String,
    /// What was ordered, at order-time prices.
    pub items: Vec<OrderLine>,
    /// The order total.
    pub total: Money,
    /// Where it goes.
    pub shipping_address: ShippingAddress,
}

impl Event for OrderValidated {
    const TYPE: &'static str = "ordering.order.validated.v1";
    fn subject(&self) -> String {
        self.order_id.clone()
    }
}

/// An order is done: it was delivered, its return window closed with no return open,
/// and nothing more will happen to it in the normal course.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, ToSchema)]
pub struct OrderCompleted {
    /// The order.
    pub order_id: String,
    /// Its owner.
    pub user_id: String,
    /// The order total.
    pub total: Money,
    /// Refunded of it so far (returns, goodwill), in the total's currency.
    pub refunded: Money,
    /// RFC 3339 time ordering saw the order delivered.
    pub delivered_at: String,
    /// RFC 3339 time it completed.
    pub completed_at: String,
}

impl Event for OrderCompleted {
    const TYPE: &'static str = "ordering.order.completed.v1";
    fn subject(&self) -> String {
        self.order_id.clone()
    }
}
