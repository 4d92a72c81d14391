//! Ordering's rules, free of I/O: validated inputs, order statuses and the checkout
//! saga as a transition table.
//!
//! The saga is orchestrated by ordering: each participant's event moves an order from
//! one status to the next ([`saga_step`]), and every step says what ordering must emit
//! so the next participant acts. A failure, decline or timeout ends the order
//! `cancelled` with a reason; the `cancelled` event is the compensation (inventory
//! releases, payments voids or refunds).

use std::fmt;

pub use contracts::types::{Invalid, Text};
pub use contracts::{Money, Sku};

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

/// A two-letter ISO 3166-1 country code, upper case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Country(String);

impl TryFrom<String> for Country {
    type Error = Invalid;

    fn try_from(raw: String) -> Result<Self, Self::Error> {
        let code = raw.trim().to_ascii_uppercase();
        if code.len() == 2 && code.bytes().all(|b| b.is_ascii_uppercase()) {
            Ok(Self(code))
        } else {
            Err(Invalid("must be a two-letter ISO 3166-1 country code"))
        }
    }
}

/// Where an order goes (the type the confirmed event carries to fulfillment).
pub use contracts::ordering::ShippingAddress;

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
    let country = check("country", Country::try_from(country).map(|c| c.0));
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

/// Where an order is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OrderStatus {
    /// Placed; waiting for stock.
    Pending,
    /// Stock held; waiting for payment authorization.
    Reserved,
    /// Payment authorized (confirmation follows in the same step).
    Authorized,
    /// Paid and committed; waiting for shipment.
    Confirmed,
    /// Handed to the carrier.
    Shipped,
    /// Delivered.
    Delivered,
    /// Ended without (or undoing) a sale; the reason is kept.
    Cancelled,
    /// Everything captured went back.
    Refunded,
    /// Part of what was captured went back.
    PartiallyRefunded,
}

impl OrderStatus {
    /// Every status.
    pub const ALL: [OrderStatus; 9] = [
        Self::Pending,
        Self::Reserved,
        Self::Authorized,
        Self::Confirmed,
        Self::Shipped,
        Self::Delivered,
        Self::Cancelled,
        Self::Refunded,
        Self::PartiallyRefunded,
    ];

    /// The stored and public name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Reserved => "reserved",
            Self::Authorized => "authorized",
            Self::Confirmed => "confirmed",
            Self::Shipped => "shipped",
            Self::Delivered => "delivered",
            Self::Cancelled => "cancelled",
            Self::Refunded => "refunded",
            Self::PartiallyRefunded => "partially_refunded",
        }
    }

    /// Parses a stored or public name.
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw)
    }

    /// Whether the checkout saga is over: the order is paid for or ended.
    pub fn is_settled(self) -> bool {
        !matches!(self, Self::Pending | Self::Reserved | Self::Authorized)
    }

    /// Whether the owner or an admin may still cancel (before shipment).
    pub fn can_cancel(self) -> bool {
        matches!(
            self,
            Self::Pending | Self::Reserved | Self::Authorized | Self::Confirmed
        )
    }

    /// Whether money may be refunded (something was captured and not all went back).
    pub fn can_refund(self) -> bool {
        matches!(
            self,
            Self::Confirmed | Self::Shipped | Self::Delivered | Self::PartiallyRefunded
        )
    }

    /// The transitions an admin may make with `PUT /orders/{id}/status`. The saga's
    /// own steps (reserve, authorize, confirm) and refunds are not set by hand.
    pub fn admin_can_set(self, next: OrderStatus) -> bool {
        matches!(
            (self, next),
            (Self::Confirmed, Self::Shipped)
                | (Self::Shipped, Self::Delivered)
                | (Self::PartiallyRefunded, Self::Shipped)
                | (
                    Self::Pending | Self::Reserved | Self::Authorized | Self::Confirmed,
                    Self::Cancelled
                )
        )
    }
}

impl fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a participant told the saga.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SagaEvent {
    /// Inventory holds every line.
    StockReserved,
    /// Inventory could not hold every line.
    ReservationFailed(String),
    /// Payments authorized the amount.
    PaymentAuthorized,
    /// Payments could not authorize (declined, fraud, ...).
    PaymentFailed(String),
    /// A step did not answer in time.
    TimedOut(String),
}

/// What ordering emits after a step, for the next participant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SagaCommand {
    /// `ordering.order.reserved`: payments authorizes.
    AuthorizePayment,
    /// `ordering.order.authorized` then `ordering.order.confirmed`: payments captures,
    /// inventory commits, fulfillment ships.
    Confirm,
    /// `ordering.order.cancelled`: inventory releases, payments voids or refunds.
    Compensate,
}

/// One step of the saga: the statuses passed through (in order, each with its
/// history reason) and what to emit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SagaStep {
    /// Statuses entered, oldest first, with the reason recorded in the history.
    pub entered: Vec<(OrderStatus, String)>,
    /// What ordering emits.
    pub command: SagaCommand,
}

/// The checkout saga's transition table. `None`: the event does not apply in `status`
/// (late, duplicated, or after the order ended) and changes nothing. Compensation of
/// late effects happens anyway because the participants react to `cancelled`.
pub fn saga_step(status: OrderStatus, event: &SagaEvent) -> Option<SagaStep> {
    use OrderStatus::*;
    let step = |entered: Vec<(OrderStatus, &str)>, command| {
        Some(SagaStep {
            entered: entered
                .into_iter()
                .map(|(s, r)| (s, r.to_owned()))
                .collect(),
            command,
        })
    };
    let cancel = |reason: &str| {
        Some(SagaStep {
            entered: vec![(Cancelled, reason.to_owned())],
            command: SagaCommand::Compensate,
        })
    };
    match (status, event) {
        (Pending, SagaEvent::StockReserved) => step(
            vec![(Reserved, "stock reserved")],
            SagaCommand::AuthorizePayment,
        ),
        (Pending, SagaEvent::ReservationFailed(why)) => cancel(why),
        (Reserved, SagaEvent::PaymentAuthorized) => step(
            vec![
                (Authorized, "payment authorized"),
                (Confirmed, "order confirmed"),
            ],
            SagaCommand::Confirm,
        ),
        (Reserved, SagaEvent::PaymentFailed(why)) => cancel(why),
        (Pending | Reserved, SagaEvent::TimedOut(why)) => cancel(why),
        _ => None,
    }
}

/// Refund status after `refunded_total` of `captured_total` went back.
pub fn status_after_refund(refunded_total: i64, captured_total: i64) -> OrderStatus {
    if refunded_total >= captured_total {
        OrderStatus::Refunded
    } else {
        OrderStatus::PartiallyRefunded
    }
}

/// How far an order's parcels got (fulfillment's events).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShipmentProgress {
    /// A shipment of the order left the warehouse.
    Dispatched,
    /// Every shipment of the order was delivered.
    Delivered,
}

/// The status an order takes when its parcels progress, or `None` when the progress
/// does not move it (already there, further along, or ended). Refund statuses give way
/// to the shipping ones: a part refund before dispatch does not stop the parcel.
pub fn status_after_shipment(
    current: OrderStatus,
    progress: ShipmentProgress,
) -> Option<OrderStatus> {
    use OrderStatus::*;
    match (current, progress) {
        (Confirmed | PartiallyRefunded, ShipmentProgress::Dispatched) => Some(Shipped),
        (Confirmed | Shipped | PartiallyRefunded, ShipmentProgress::Delivered) => Some(Delivered),
        _ => None,
    }
}

/// What returned units are worth at the prices they were ordered at: each returned
/// sku is priced from the order's line for it, and never more units of it than were
/// ordered (a sku may come back in several lines, from several warehouses). `None`
/// when nothing came back, a returned sku is not on the order, or the sum overflows.
pub fn returned_value<'a>(
    ordered: &[(String, Money, u32)],
    returned: impl IntoIterator<Item = (&'a str, u32)>,
) -> Option<Money> {
    let mut per_sku: Vec<(&str, u32)> = Vec::new();
    for (sku, quantity) in returned {
        match per_sku.iter_mut().find(|(s, _)| *s == sku) {
            Some((_, sum)) => *sum = sum.saturating_add(quantity),
            None => per_sku.push((sku, quantity)),
        }
    }
    let mut priced = Vec::with_capacity(per_sku.len());
    for (sku, quantity) in per_sku {
        let (_, unit, ordered_quantity) = ordered.iter().find(|(s, _, _)| s == sku)?;
        priced.push((unit, quantity.min(*ordered_quantity)));
    }
    total(priced)
}

/// The total of priced lines, or `None` if they mix currencies or overflow.
pub fn total<'a>(lines: impl IntoIterator<Item = (&'a Money, u32)>) -> Option<Money> {
    let mut total: Option<Money> = None;
    for (unit, quantity) in lines {
        let line = unit.amount.checked_mul(i64::from(quantity))?;
        match &mut total {
            None => {
                total = Some(Money {
                    amount: line,
                    currency: unit.currency.clone(),
                })
            }
            Some(t) if t.currency == unit.currency => t.amount = t.amount.checked_add(line)?,
            Some(_) => return None,
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::OrderStatus::*;
    use super::*;

    #[test]
    fn parcels_move_paid_orders_forward_only() {
        use ShipmentProgress::*;
        let table = [
            (Confirmed, Dispatched, Some(Shipped)),
            (PartiallyRefunded, Dispatched, Some(Shipped)),
            (Shipped, Dispatched, None),
            (OrderStatus::Delivered, Dispatched, None),
            (Confirmed, Delivered, Some(OrderStatus::Delivered)),
            (Shipped, Delivered, Some(OrderStatus::Delivered)),
            (OrderStatus::Delivered, Delivered, None),
            (Cancelled, Dispatched, None),
            (Cancelled, Delivered, None),
            (Refunded, Delivered, None),
            (Pending, Dispatched, None),
        ];
        for (current, progress, expected) in table {
            assert_eq!(
                status_after_shipment(current, progress),
                expected,
                "{current} on {progress:?}"
            );
        }
    }

    #[test]
    fn returns_are_worth_what_was_paid_for_at_most_what_was_ordered() {
        let ordered = vec![
            ("A".to_owned(), usd(1250), 2),
            ("B".to_owned(), usd(300), 1),
        ];
        assert_eq!(returned_value(&ordered, [("A", 1)]), Some(usd(1250)));
        assert_eq!(
            returned_value(&ordered, [("A", 1), ("B", 1)]),
            Some(usd(1550))
        );
        // Split across warehouses, and more than ordered: capped per sku.
        assert_eq!(
            returned_value(&ordered, [("A", 2), ("A", 3)]),
            Some(usd(2500))
        );
        assert_eq!(returned_value(&ordered, [("C", 1)]), None);
        assert_eq!(returned_value(&ordered, []), None);
    }

    fn usd(amount: i64) -> Money {
        Money {
            amount,
            currency: "USD".into(),
        }
    }

    #[test]
    fn the_saga_moves_forward_only_on_the_expected_event() {
        let failed = SagaEvent::PaymentFailed("declined".into());
        let short = SagaEvent::ReservationFailed("insufficient stock".into());
        let late = SagaEvent::TimedOut("timed out".into());
        // (status, event) -> (final status, command); everything else is None.
        type Row<'a> = (
            OrderStatus,
            &'a SagaEvent,
            Option<(OrderStatus, SagaCommand)>,
        );
        let table: &[Row] = &[
            (
                Pending,
                &SagaEvent::StockReserved,
                Some((Reserved, SagaCommand::AuthorizePayment)),
            ),
            (Pending, &short, Some((Cancelled, SagaCommand::Compensate))),
            (
                Reserved,
                &SagaEvent::PaymentAuthorized,
                Some((Confirmed, SagaCommand::Confirm)),
            ),
            (
                Reserved,
                &failed,
                Some((Cancelled, SagaCommand::Compensate)),
            ),
            (Pending, &late, Some((Cancelled, SagaCommand::Compensate))),
            (Reserved, &late, Some((Cancelled, SagaCommand::Compensate))),
        ];
        let events = [
            SagaEvent::StockReserved,
            short.clone(),
            SagaEvent::PaymentAuthorized,
            failed.clone(),
            late.clone(),
        ];
        for status in OrderStatus::ALL {
            for event in &events {
                let expected = table
                    .iter()
                    .find(|(s, e, _)| *s == status && *e == event)
                    .and_then(|(_, _, outcome)| *outcome);
                let got = saga_step(status, event).map(|step| {
                    (
                        step.entered.last().map(|(s, _)| *s).unwrap_or(status),
                        step.command,
                    )
                });
                assert_eq!(got, expected, "{status} on {event:?}");
            }
        }
    }

    #[test]
    fn authorization_passes_through_authorized_to_confirmed() {
        let step = saga_step(Reserved, &SagaEvent::PaymentAuthorized).expect("applies");
        let statuses: Vec<OrderStatus> = step.entered.iter().map(|(s, _)| *s).collect();
        assert_eq!(statuses, [Authorized, Confirmed]);
    }

    #[test]
    fn a_cancellation_keeps_its_reason() {
        let step = saga_step(Reserved, &SagaEvent::PaymentFailed("card declined".into()))
            .expect("applies");
        assert_eq!(step.entered, vec![(Cancelled, "card declined".to_owned())]);
    }

    #[test]
    fn admins_move_orders_only_along_allowed_edges() {
        let allowed = [
            (Confirmed, Shipped),
            (Shipped, Delivered),
            (PartiallyRefunded, Shipped),
            (Pending, Cancelled),
            (Reserved, Cancelled),
            (Authorized, Cancelled),
            (Confirmed, Cancelled),
        ];
        for from in OrderStatus::ALL {
            for to in OrderStatus::ALL {
                assert_eq!(
                    from.admin_can_set(to),
                    allowed.contains(&(from, to)),
                    "{from} -> {to}"
                );
            }
        }
    }

    #[test]
    fn statuses_round_trip_and_settle() {
        for status in OrderStatus::ALL {
            assert_eq!(OrderStatus::parse(status.as_str()), Some(status));
        }
        assert!(!Pending.is_settled() && !Reserved.is_settled());
        assert!(Confirmed.is_settled() && Cancelled.is_settled());
        assert!(Confirmed.can_cancel() && !Shipped.can_cancel() && !Cancelled.can_cancel());
    }

    #[test]
    fn totals_add_lines_and_refuse_mixed_currencies() {
        let a = usd(250);
        let b = usd(100);
        assert_eq!(total([(&a, 2), (&b, 3)]), Some(usd(800)));
        let eur = Money {
            amount: 1,
            currency: "EUR".into(),
        };
        assert_eq!(total([(&a, 1), (&eur, 1)]), None);
        let huge = usd(i64::MAX);
        assert_eq!(total([(&huge, 2)]), None);
        assert_eq!(status_after_refund(500, 500), Refunded);
        assert_eq!(status_after_refund(100, 500), PartiallyRefunded);
    }

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
