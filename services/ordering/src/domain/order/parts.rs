//! What an order is made of: the request that places it, its lines, its facts (fixed
//! when placed) and its state (changed only by [`super::Order`]'s transitions), and
//! its history entries.

use super::Order;
use crate::domain::{
    Attribution, Money, OrderStatus, PaymentMethod, Quantity, Redemption, ShippingAddress, Sku,
};

/// One order line with its price snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderLine {
    /// The sku.
    pub sku: Sku,
    /// Its name at order time.
    pub name: String,
    /// How many (repeated skus of a request add up, so this may exceed one line's
    /// [`super::MAX_QUANTITY`]).
    pub quantity: u32,
    /// Unit price at order time.
    pub unit_price: Money,
}

impl OrderLine {
    /// `unit_price × quantity`.
    pub fn line_total(&self) -> Money {
        Money {
            amount: self
                .unit_price
                .amount
                .saturating_mul(i64::from(self.quantity)),
            currency: self.unit_price.currency.clone(),
        }
    }
}

/// What an order is made of.
#[derive(Debug, Clone)]
pub enum OrderSource {
    /// The caller's cart (emptied once the order is placed).
    Cart(String),
    /// Explicit lines.
    Items(Vec<(Sku, Quantity)>),
}

/// A validated order request.
#[derive(Debug, Clone)]
pub struct PlaceOrder {
    /// The lines.
    pub source: OrderSource,
    /// Where it goes.
    pub shipping_address: ShippingAddress,
    /// How it is paid; passed to payments unread.
    pub payment: PaymentMethod,
    /// Where the customer came from, if the checkout said.
    pub attribution: Option<Attribution>,
    /// Loyalty points to redeem (held at identity before the order is stored).
    pub loyalty_points: Option<u32>,
}

/// What an order is, fixed when it is placed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderFacts {
    /// Id.
    pub id: String,
    /// Owner.
    pub user_id: String,
    /// What the customer pays: the lines less the loyalty discount.
    pub total: Money,
    /// Where it goes.
    pub shipping_address: ShippingAddress,
    /// Loyalty points redeemed and the discount they bought, if any.
    pub loyalty: Option<Redemption>,
    /// Its payment.
    pub payment_id: Option<String>,
    /// Card brand.
    pub card_brand: Option<String>,
    /// Card's last four digits.
    pub card_last4: Option<String>,
    /// Where the customer came from, if the checkout said.
    pub attribution: Option<Attribution>,
    /// Placed, epoch ms.
    pub created_at: i64,
}

/// Where an order is in its life.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderState {
    /// Status.
    pub status: OrderStatus,
    /// Why it was cancelled.
    pub cancel_reason: Option<String>,
    /// Captured so far (minor units of the total's currency).
    pub captured: i64,
    /// Refunded so far.
    pub refunded: i64,
    /// When the saga step it waits for times out (only while pending or reserved).
    pub deadline_at: Option<i64>,
    /// When it was last delivered, epoch ms (ordering's time of the event): its return
    /// window runs from here.
    pub delivered_at: Option<i64>,
    /// Last change, epoch ms.
    pub updated_at: i64,
}

/// An order with its lines (read apart from the order: the saga's steps do not need
/// them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderDetails {
    /// The order.
    pub order: Order,
    /// Its lines, in line order.
    pub lines: Vec<OrderLine>,
}

/// One entry of an order's status history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEntry {
    /// The status entered (or kept, for a note).
    pub status: OrderStatus,
    /// Why.
    pub reason: Option<String>,
    /// When, epoch ms.
    pub at: i64,
}
