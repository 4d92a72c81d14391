//! Ordering's rules, free of I/O: validated inputs, the `Order` and `Cart` aggregates
//! with their state machines, pricing, and the ports to payments and to identity
//! (loyalty points).
//!
//! The checkout saga is orchestrated by ordering: each participant's event moves an
//! order from one status to the next ([`saga_step`] is the transition table, applied by
//! [`Order::advance`]), and every step says what ordering must emit so the next
//! participant acts. A failure, decline or timeout ends the order `cancelled` with a
//! reason; the `cancelled` event is the compensation (inventory releases, payments
//! voids or refunds).

mod attribution;
mod cart;
mod loyalty;
mod order;
mod payments;
mod pricing;
mod status;

pub use attribution::{Attribution, MAX_ATTRIBUTION_CHARS, attribution};
pub use cart::{Cart, CartChange, CartItem, TooManyLines};
pub use loyalty::{IdentityPort, LoyaltyError, Redemption, discounted_total};
pub use order::{
    HistoryEntry, IllegalTransition, Order, OrderDetails, OrderFacts, OrderLine, OrderSource,
    OrderState, PlaceOrder, Recorded, RefundEvent, RefundRecorded, RefundRefused, ReturnRefused,
    SagaMove, ShippingEvent, StatusChange,
};
pub use payments::{
    CreatedPayment, NextAction, PaymentFieldError, PaymentMethod, PaymentsError, PaymentsPort,
    ProcessedRefund, Refusal,
};
pub use pricing::{
    Price, PricedCart, PricingError, merge_lines, price_lines, returned_value, total,
};
pub use status::{
    OrderStatus, SagaCommand, SagaEvent, SagaStep, ShipmentProgress, saga_step,
    status_after_refund, status_after_shipment,
};

pub use contracts::types::{Country, Invalid, Text};
pub use contracts::{Money, Sku};

/// Where an order goes (the type the confirmed event carries to fulfillment).
pub use contracts::ordering::ShippingAddress;

/// Most units of one sku in one line.
pub const MAX_QUANTITY: u32 = 1_000;
/// Most lines in one cart or order.
pub const MAX_LINES: usize = 100;

/// A line quantity: 1 to [`MAX_QUANTITY`] (0 is allowed only in cart updates, where it
/// removes the line, see [`CartQuantity`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quantity(u32);

impl TryFrom<i64> for Quantity {
    type Error = Invalid;

    fn try_from(raw: i64) -> Result<Self, Self::Error> {
        match u32::try_from(raw) {
            Ok(q) if (1..=MAX_QUANTITY).contains(&q) => Ok(Self(q)),
            _ => Err(Invalid("must be between 1 and 1000")),
        }
    }
}

impl Quantity {
    /// The number of units.
    pub fn get(self) -> u32 {
        self.0
    }
}

/// A cart line update: 0 removes the line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CartQuantity {
    /// Remove the line.
    Remove,
    /// Set the line to this many.
    Set(Quantity),
}

impl TryFrom<i64> for CartQuantity {
    type Error = Invalid;

    fn try_from(raw: i64) -> Result<Self, Self::Error> {
        if raw == 0 {
            return Ok(Self::Remove);
        }
        Quantity::try_from(raw)
            .map(Self::Set)
            .map_err(|_| Invalid("must be between 0 and 1000"))
    }
}

/// A validated address from its parts; errors name the field (without a prefix).
pub fn shipping_address(
    name: String,
    line1: String,
    line2: Option<String>,
    city: String,
    postal_code: String,
    country: String,
) -> Result<ShippingAddress, Vec<(&'static str, Invalid)>> {
    let mut errors = Vec::new();
    let mut check = |field: &'static str, result: Result<String, Invalid>| match result {
        Ok(value) => value,
        Err(invalid) => {
            errors.push((field, invalid));
            String::new()
        }
    };
    let name = check("name", Text::<200>::try_from(name).map(Text::into_string));
    let line1 = check("line1", Text::<200>::try_from(line1).map(Text::into_string));
    let line2 = line2
        .filter(|l| !l.trim().is_empty())
        .map(|l| check("line2", Text::<200>::try_from(l).map(Text::into_string)));
    let city = check("city", Text::<100>::try_from(city).map(Text::into_string));
    let postal_code = check(
        "postal_code",
        Text::<20>::try_from(postal_code).map(Text::into_string),
    );
    let country = check(
        "country",
        Country::try_from(country).map(Country::into_string),
    );
    if errors.is_empty() {
        Ok(ShippingAddress {
            name,
            line1,
            line2,
            city,
            postal_code,
            country,
        })
    } else {
        Err(errors)
    }
}

/// Values for other rooms' tests.
#[cfg(test)]
pub(crate) mod testing {
    pub(crate) use super::order::tests::order_in;
    pub(crate) use super::pricing::tests::{line, sku, usd};
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_and_addresses_are_checked() {
        assert!(Quantity::try_from(0).is_err());
        assert!(Quantity::try_from(1001).is_err());
        assert_eq!(CartQuantity::try_from(0), Ok(CartQuantity::Remove));
        assert!(CartQuantity::try_from(-1).is_err());
        let ok = shipping_address(
            "Ann".into(),
            "1 Main St".into(),
            None,
            "Springfield".into(),
            "12345".into(),
            "us".into(),
        )
        .expect("valid");
        assert_eq!(ok.country, "US");
        let bad = shipping_address(
            String::new(),
            "1 Main St".into(),
            None,
            "x".repeat(101),
            "1".into(),
            "USA".into(),
        )
        .expect_err("invalid");
        let fields: Vec<&str> = bad.iter().map(|(f, _)| *f).collect();
        assert_eq!(fields, ["name", "city", "country"]);
    }
}
