//! What the API answers (API.md, Ordering): orders, carts and history entries rendered
//! from the domain's values.

use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::{
    Attribution, HistoryEntry, Money, NextAction, OrderDetails, OrderLine, OrderStatus, PricedCart,
    ShippingAddress, Sku,
};

/// An order's status: `pending → reserved → authorized → confirmed → shipped →
/// delivered → completed` (once the return window closed with no return open), or
/// `cancelled`, `refunded`, `partially_refunded`.
#[derive(Serialize, ToSchema, Clone, Copy)]
#[serde(rename_all = "snake_case")]
pub(super) enum Status {
    Pending,
    Reserved,
    Authorized,
    Confirmed,
    Shipped,
    Delivered,
    Cancelled,
    Refunded,
    PartiallyRefunded,
    Completed,
}

impl From<OrderStatus> for Status {
    fn from(status: OrderStatus) -> Self {
        // Exhaustive, so a new domain status cannot go undocumented.
        match status {
            OrderStatus::Pending => Self::Pending,
            OrderStatus::Reserved => Self::Reserved,
            OrderStatus::Authorized => Self::Authorized,
            OrderStatus::Confirmed => Self::Confirmed,
            OrderStatus::Shipped => Self::Shipped,
            OrderStatus::Delivered => Self::Delivered,
            OrderStatus::Cancelled => Self::Cancelled,
            OrderStatus::Refunded => Self::Refunded,
            OrderStatus::PartiallyRefunded => Self::PartiallyRefunded,
            OrderStatus::Completed => Self::Completed,
        }
    }
}

/// An order.
#[derive(Serialize, ToSchema)]
#[schema(as = Order)]
pub(super) struct OrderView {
    /// Its id.
    id: String,
    /// Its owner.
    user_id: String,
    /// Where the checkout saga and the parcels have taken it.
    status: Status,
    /// What was ordered, priced when the order was placed.
    items: Vec<LineView>,
    /// What the customer pays: the sum of the lines less `discount`.
    total: Money,
    /// Taken off the lines by redeemed loyalty points (zero when none were).
    discount: Money,
    /// Loyalty points redeemed (0 when none were).
    loyalty_points: u32,
    /// Where it goes.
    shipping_address: ShippingAddress,
    /// Its payment at payments.
    payment_id: Option<String>,
    /// What the customer has to do before the payment can go on: with `type`
    /// `authenticate`, the card's 3-D Secure, done in the browser with the provider's
    /// script and this `client_secret`. Only while the order waits for it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) next_action: Option<NextAction>,
    /// The card it is paid with.
    payment: PaymentSummary,
    /// Why it was cancelled, when it was.
    cancel_reason: Option<String>,
    /// Captured so far.
    captured: Money,
    /// Refunded so far.
    refunded: Money,
    /// RFC 3339.
    #[schema(format = DateTime)]
    created_at: String,
    /// RFC 3339.
    #[schema(format = DateTime)]
    updated_at: String,
    /// Where the customer came from, when the checkout said (left out otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    attribution: Option<Attribution>,
}

/// The card an order is paid with (never its number).
#[derive(Serialize, ToSchema)]
struct PaymentSummary {
    /// `visa`, `mastercard`, ...
    brand: Option<String>,
    /// The last four digits.
    last4: Option<String>,
}

/// An order line.
#[derive(Serialize, ToSchema)]
#[schema(as = OrderLine)]
struct LineView {
    /// The sku.
    sku: Sku,
    /// The product's name when ordered.
    name: String,
    /// How many.
    quantity: u32,
    /// Price per unit when ordered.
    unit_price: Money,
    /// `unit_price` × `quantity`.
    line_total: Money,
}

impl From<OrderLine> for LineView {
    fn from(line: OrderLine) -> Self {
        Self {
            line_total: line.line_total(),
            sku: line.sku,
            name: line.name,
            quantity: line.quantity,
            unit_price: line.unit_price,
        }
    }
}

impl From<OrderDetails> for OrderView {
    fn from(OrderDetails { order, lines }: OrderDetails) -> Self {
        let (facts, state) = order.into_parts();
        let currency = facts.total.currency.clone();
        Self {
            status: state.status.into(),
            cancel_reason: state.cancel_reason,
            captured: Money {
                amount: state.captured,
                currency: currency.clone(),
            },
            refunded: Money {
                amount: state.refunded,
                currency,
            },
            updated_at: platform::time::rfc3339(state.updated_at),
            id: facts.id,
            user_id: facts.user_id,
            items: lines.into_iter().map(LineView::from).collect(),
            discount: facts.loyalty.as_ref().map_or_else(
                || Money {
                    amount: 0,
                    currency: facts.total.currency.clone(),
                },
                |l| l.discount.clone(),
            ),
            loyalty_points: facts.loyalty.as_ref().map_or(0, |l| l.points),
            total: facts.total,
            shipping_address: facts.shipping_address,
            payment_id: facts.payment_id,
            next_action: None,
            payment: PaymentSummary {
                brand: facts.card_brand,
                last4: facts.card_last4,
            },
            attribution: facts.attribution,
            created_at: platform::time::rfc3339(facts.created_at),
        }
    }
}

/// A cart priced now.
#[derive(Serialize, ToSchema)]
#[schema(as = Cart)]
pub(super) struct CartView {
    /// Id (the `Location` of a new cart names it).
    pub(super) id: String,
    /// Its lines, in the order first added.
    items: Vec<CartLineView>,
    /// Sum of the lines (null for an empty cart with no currency yet).
    total: Option<Money>,
}

/// A cart line, at today's price.
#[derive(Serialize, ToSchema)]
#[schema(as = CartLine)]
struct CartLineView {
    /// The sku.
    sku: Sku,
    /// How many.
    quantity: u32,
    /// Price per unit now.
    unit_price: Money,
    /// `unit_price` × `quantity`.
    line_total: Money,
}

impl From<PricedCart> for CartView {
    fn from(cart: PricedCart) -> Self {
        Self {
            id: cart.id,
            items: cart
                .lines
                .into_iter()
                .map(|line| CartLineView {
                    line_total: line.line_total(),
                    sku: line.sku,
                    quantity: line.quantity,
                    unit_price: line.unit_price,
                })
                .collect(),
            total: cart.total,
        }
    }
}

/// One history entry: a status the order entered, when and why.
#[derive(Serialize, ToSchema)]
#[schema(as = HistoryEntry)]
pub(super) struct HistoryView {
    /// The status entered.
    status: Status,
    /// When (RFC 3339).
    #[schema(format = DateTime)]
    at: String,
    /// Why, when known.
    reason: Option<String>,
}

impl From<HistoryEntry> for HistoryView {
    fn from(entry: HistoryEntry) -> Self {
        Self {
            status: entry.status.into(),
            at: platform::time::rfc3339(entry.at),
            reason: entry.reason,
        }
    }
}
