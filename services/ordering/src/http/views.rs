//! What the API answers (API.md, Ordering): orders, carts and history entries rendered
//! from the domain's values.

use serde::Serialize;

use crate::domain::{
    Attribution, HistoryEntry, Money, OrderDetails, OrderLine, PricedCart, ShippingAddress, Sku,
};

/// An order.
#[derive(Serialize)]
pub(super) struct OrderView {
    id: String,
    user_id: String,
    status: &'static str,
    items: Vec<LineView>,
    total: Money,
    shipping_address: ShippingAddress,
    payment_id: Option<String>,
    payment: PaymentSummary,
    cancel_reason: Option<String>,
    captured: Money,
    refunded: Money,
    created_at: String,
    updated_at: String,
    /// Where the customer came from, when the checkout said (left out otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    attribution: Option<Attribution>,
}

#[derive(Serialize)]
struct PaymentSummary {
    brand: Option<String>,
    last4: Option<String>,
}

/// An order line.
#[derive(Serialize)]
struct LineView {
    sku: Sku,
    name: String,
    quantity: u32,
    unit_price: Money,
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
            status: state.status.as_str(),
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
            total: facts.total,
            shipping_address: facts.shipping_address,
            payment_id: facts.payment_id,
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
#[derive(Serialize)]
pub(super) struct CartView {
    /// Id (the `Location` of a new cart names it).
    pub(super) id: String,
    items: Vec<CartLineView>,
    /// Sum of the lines (null for an empty cart with no currency yet).
    total: Option<Money>,
}

#[derive(Serialize)]
struct CartLineView {
    sku: Sku,
    quantity: u32,
    unit_price: Money,
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

/// One history entry.
#[derive(Serialize)]
pub(super) struct HistoryView {
    status: &'static str,
    at: String,
    reason: Option<String>,
}

impl From<HistoryEntry> for HistoryView {
    fn from(entry: HistoryEntry) -> Self {
        Self {
            status: entry.status.as_str(),
            at: platform::time::rfc3339(entry.at),
            reason: entry.reason,
        }
    }
}
