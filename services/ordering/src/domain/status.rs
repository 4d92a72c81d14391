//! An order's statuses and the tables that say how it moves between them: the checkout
//! saga ([`saga_step`]), parcels ([`status_after_shipment`]), refunds
//! ([`status_after_refund`]), completion ([`OrderStatus::can_complete`]) and what an
//! owner or admin may do. [`super::Order`]'s
//! transitions consult these tables and nothing else, and the store's conditional
//! updates take their expected status from those transitions, so the state machine
//! exists once, here, with its table-driven tests.

use std::fmt;

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
    /// Delivered, and its return window closed with no return open: done.
    Completed,
}

impl OrderStatus {
    /// Every status.
    pub const ALL: [OrderStatus; 10] = [
        Self::Pending,
        Self::Reserved,
        Self::Authorized,
        Self::Confirmed,
        Self::Shipped,
        Self::Delivered,
        Self::Cancelled,
        Self::Refunded,
        Self::PartiallyRefunded,
        Self::Completed,
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
            Self::Completed => "completed",
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

    /// Whether the order waits for a saga participant, and so has a deadline; entering
    /// any other status clears it.
    pub fn has_deadline(self) -> bool {
        matches!(self, Self::Pending | Self::Reserved)
    }

    /// Whether the owner or an admin may still cancel (before shipment).
    pub fn can_cancel(self) -> bool {
        matches!(
            self,
            Self::Pending | Self::Reserved | Self::Authorized | Self::Confirmed
        )
    }

    /// Whether money may be refunded (something was captured and not all went back).
    /// A completed order still may be, as a goodwill gesture by an admin.
    pub fn can_refund(self) -> bool {
        matches!(
            self,
            Self::Confirmed
                | Self::Shipped
                | Self::Delivered
                | Self::PartiallyRefunded
                | Self::Completed
        )
    }

    /// Whether an order in this status completes once its return window closes: a
    /// delivered one, or one delivered and then partly refunded (a return came back).
    /// Whether it was delivered at all is the order's to say (`delivered_at`).
    pub fn can_complete(self) -> bool {
        matches!(self, Self::Delivered | Self::PartiallyRefunded)
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

impl SagaEvent {
    /// A short name, for errors and logs.
    pub fn name(&self) -> &'static str {
        match self {
            Self::StockReserved => "stock reserved",
            Self::ReservationFailed(_) => "reservation failed",
            Self::PaymentAuthorized => "payment authorized",
            Self::PaymentFailed(_) => "payment failed",
            Self::TimedOut(_) => "timed out",
        }
    }
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
            (PartiallyRefunded, Delivered, Some(OrderStatus::Delivered)),
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
    fn statuses_round_trip_settle_and_keep_deadlines_while_waiting() {
        for status in OrderStatus::ALL {
            assert_eq!(OrderStatus::parse(status.as_str()), Some(status));
            assert_eq!(
                status.has_deadline(),
                matches!(status, Pending | Reserved),
                "{status}"
            );
        }
        assert_eq!(OrderStatus::parse("lost"), None);
        assert!(!Pending.is_settled() && !Reserved.is_settled() && !Authorized.is_settled());
        assert!(Confirmed.is_settled() && Cancelled.is_settled());
        assert!(Confirmed.can_cancel() && !Shipped.can_cancel() && !Cancelled.can_cancel());
        let completing: Vec<OrderStatus> = OrderStatus::ALL
            .into_iter()
            .filter(|s| s.can_complete())
            .collect();
        assert_eq!(completing, [Delivered, PartiallyRefunded]);
        assert!(Completed.is_settled() && Completed.can_refund() && !Completed.can_cancel());
    }

    #[test]
    fn refunds_settle_as_full_or_partial() {
        assert_eq!(status_after_refund(500, 500), Refunded);
        assert_eq!(status_after_refund(600, 500), Refunded);
        assert_eq!(status_after_refund(100, 500), PartiallyRefunded);
    }
}
