//! The order's state machine, table by table: every transition against the tables in
//! `status`, what it leaves the order in, and what it refuses.

use super::*;
use crate::domain::OrderStatus::*;
use crate::domain::ShippingAddress;
use crate::domain::pricing::tests::{line, usd};

pub(crate) fn order_in(status: OrderStatus) -> Order {
    let facts = OrderFacts {
        id: "o1".into(),
        user_id: "u1".into(),
        total: usd(2500),
        shipping_address: ShippingAddress {
            name: "Ann".into(),
            line1: "1 Main St".into(),
            line2: None,
            city: "Springfield".into(),
            postal_code: "12345".into(),
            country: "US".into(),
        },
        payment_id: Some("pay1".into()),
        card_brand: Some("visa".into()),
        card_last4: Some("4242".into()),
        attribution: None,
        loyalty: None,
        created_at: 1,
    };
    let mut order = Order::place(facts, 100);
    order.state.status = status;
    order.state.deadline_at = status.has_deadline().then_some(100);
    order
}

fn refund(amount: i64, refunded_total: i64, captured_total: i64) -> ProcessedRefund {
    ProcessedRefund {
        refund_id: "r1".into(),
        amount: usd(amount),
        refunded_total,
        captured_total,
    }
}

#[test]
fn a_placed_order_waits_for_stock_until_its_deadline() {
    let order = order_in(Pending);
    assert_eq!(order.status(), Pending);
    assert_eq!(order.state().deadline_at, Some(100));
    assert_eq!(order.state().updated_at, order.facts.created_at);
    assert_eq!(order.overdue(99), None);
    assert_eq!(
        order.overdue(100),
        Some(SagaEvent::TimedOut("timed out waiting for stock".into()))
    );
    assert_eq!(
        order_in(Reserved).overdue(100),
        Some(SagaEvent::TimedOut("timed out waiting for payment".into()))
    );
    for settled in OrderStatus::ALL.into_iter().filter(|s| !s.has_deadline()) {
        assert_eq!(order_in(settled).overdue(i64::MAX), None, "{settled}");
    }
}

#[test]
fn saga_answers_move_the_order_along_the_table_and_nothing_else() {
    let events = [
        SagaEvent::StockReserved,
        SagaEvent::ReservationFailed("insufficient stock".into()),
        SagaEvent::PaymentAuthorized,
        SagaEvent::PaymentFailed("declined".into()),
        SagaEvent::TimedOut("timed out".into()),
    ];
    for status in OrderStatus::ALL {
        for event in &events {
            let mut order = order_in(status);
            let before = order.clone();
            match (saga_step(status, event), order.advance(event, 50, 500)) {
                (None, Err(err)) => {
                    assert_eq!(err.from(), status);
                    assert_eq!(order, before, "{status} on {event:?} changed nothing");
                }
                (Some(step), Ok(moved)) => {
                    assert_eq!(moved.command, step.command, "{status} on {event:?}");
                    // Each change starts where the previous one ended.
                    let mut from = status;
                    for (change, (to, reason)) in moved.changes.iter().zip(&step.entered) {
                        assert_eq!((change.from, change.to), (from, *to));
                        assert_eq!(&change.reason, reason);
                        assert_eq!(change.at, 50);
                        from = *to;
                    }
                    assert_eq!(moved.changes.len(), step.entered.len());
                    assert_eq!(order.status(), from);
                    assert_eq!(order.state().updated_at, 50);
                }
                (expected, got) => panic!("{status} on {event:?}: {expected:?} vs {got:?}"),
            }
        }
    }
}

#[test]
fn a_reservation_gives_payment_its_own_deadline_and_settling_clears_it() {
    let mut order = order_in(Pending);
    let reserved = order
        .advance(&SagaEvent::StockReserved, 50, 500)
        .expect("applies");
    assert_eq!(reserved.changes[0].deadline_at, Some(500));
    assert_eq!(order.state().deadline_at, Some(500));
    let confirmed = order
        .advance(&SagaEvent::PaymentAuthorized, 60, 600)
        .expect("applies");
    assert!(confirmed.changes.iter().all(|c| c.deadline_at.is_none()));
    assert_eq!(order.state().deadline_at, None);
    assert_eq!(order.state().cancel_reason, None);
}

#[test]
fn a_cancellation_keeps_its_reason_and_clears_the_deadline() {
    let mut order = order_in(Reserved);
    let change = order
        .advance(&SagaEvent::PaymentFailed("card declined".into()), 50, 500)
        .expect("applies")
        .changes;
    assert_eq!(change[0].cancel_reason(), Some("card declined"));
    assert_eq!(
        order.state().cancel_reason.as_deref(),
        Some("card declined")
    );
    assert_eq!(order.state().deadline_at, None);
}

#[test]
fn owners_and_admins_cancel_only_before_shipment() {
    for status in OrderStatus::ALL {
        let mut order = order_in(status);
        let result = order.cancel("changed my mind", 50);
        if status.can_cancel() {
            let change = result.expect("cancels");
            assert_eq!((change.from, change.to), (status, Cancelled));
            assert_eq!(
                order.state().cancel_reason.as_deref(),
                Some("changed my mind")
            );
        } else {
            assert_eq!(
                result,
                Err(IllegalTransition::Status {
                    from: status,
                    to: Cancelled
                })
            );
            assert_eq!(order, order_in(status));
        }
    }
}

#[test]
fn admins_set_only_the_statuses_the_table_allows() {
    for from in OrderStatus::ALL {
        for to in OrderStatus::ALL {
            let mut order = order_in(from);
            let result = order.set_by_admin(to, "by hand", 50);
            assert_eq!(result.is_ok(), from.admin_can_set(to), "{from} -> {to}");
            let expected = if from.admin_can_set(to) { to } else { from };
            assert_eq!(order.status(), expected, "{from} -> {to}");
        }
    }
}

#[test]
fn parcels_move_the_order_along_the_shipping_table() {
    for status in OrderStatus::ALL {
        for progress in [ShipmentProgress::Dispatched, ShipmentProgress::Delivered] {
            let mut order = order_in(status);
            let got = order
                .follow_shipment(progress, "parcel", 50)
                .ok()
                .map(|c| c.to);
            assert_eq!(got, status_after_shipment(status, progress), "{status}");
        }
    }
}

#[test]
fn refunds_move_or_note_and_a_cancelled_order_stays_cancelled() {
    // (status, refunded_total, captured_total) -> (moved?, status after, full?)
    let table = [
        (Confirmed, 2500, 2500, true, Refunded, true),
        (Confirmed, 1000, 2500, true, PartiallyRefunded, false),
        (Shipped, 1000, 2500, true, PartiallyRefunded, false),
        (
            PartiallyRefunded,
            2000,
            2500,
            false,
            PartiallyRefunded,
            false,
        ),
        (PartiallyRefunded, 2500, 2500, true, Refunded, true),
        (Refunded, 2500, 2500, false, Refunded, true),
        (Cancelled, 2500, 2500, false, Cancelled, true),
        (Cancelled, 1000, 2500, false, Cancelled, false),
    ];
    for (status, refunded_total, captured_total, moved, after, full) in table {
        let mut order = order_in(status);
        let recorded =
            order.record_refund("pay1", &refund(500, refunded_total, captured_total), 50);
        assert_eq!(
            matches!(recorded.recorded, Recorded::Moved(_)),
            moved,
            "{status}"
        );
        assert_eq!(order.status(), after, "{status}");
        assert_eq!(order.state().refunded, refunded_total);
        assert_eq!(
            matches!(recorded.event, RefundEvent::Refunded(_)),
            full,
            "{status}"
        );
    }
}

#[test]
fn only_captured_orders_are_refunded_and_only_in_their_currency() {
    for status in OrderStatus::ALL {
        let order = order_in(status);
        let expected = if status.can_refund() {
            Ok("pay1")
        } else {
            Err(RefundRefused::Status(status))
        };
        assert_eq!(order.refundable(None), expected, "{status}");
    }
    let order = order_in(Confirmed);
    let eur = Money {
        amount: 100,
        currency: "EUR".into(),
    };
    assert_eq!(
        order.refundable(Some(&eur)),
        Err(RefundRefused::Currency("USD".into()))
    );
    assert_eq!(order.refundable(Some(&usd(100))), Ok("pay1"));
    let mut unpaid = order_in(Confirmed);
    unpaid.facts.payment_id = None;
    assert_eq!(
        unpaid.refundable(None),
        Err(RefundRefused::Status(Confirmed))
    );
}

#[test]
fn a_return_is_refunded_at_the_prices_paid_and_noted() {
    let order = order_in(Delivered);
    let lines = [line("A", 1250, 2)];
    let (request, note) = order
        .refund_of_return(&lines, "ret1", [("A", 1)], 50)
        .expect("refundable");
    assert_eq!(request.amount, usd(1250));
    assert_eq!(request.payment_id, "pay1");
    assert_eq!(request.request_id, "ret1");
    assert_eq!(request.reason, "return ret1");
    assert_eq!(note.status, Delivered);
    assert_eq!(
        note.reason.as_deref(),
        Some("return ret1 received; refund of 1250 USD requested")
    );
    assert_eq!(
        order.refund_of_return(&lines, "ret1", [("B", 1)], 50),
        Err(ReturnRefused::NothingOfTheOrder)
    );
    let mut unpaid = order_in(Delivered);
    unpaid.facts.payment_id = None;
    assert_eq!(
        unpaid.refund_of_return(&lines, "ret1", [("A", 1)], 50),
        Err(ReturnRefused::NoPayment(Delivered))
    );
}

#[test]
fn a_delivered_order_completes_once_its_window_closed_with_no_return_open() {
    const WINDOW: i64 = 1_000;
    let mut order = order_in(Shipped);
    // Not delivered yet: nothing to complete, whatever the time.
    assert!(order.complete(WINDOW, false, 1_000_000).is_err());
    let delivered = order
        .follow_shipment(ShipmentProgress::Delivered, "parcel", 10)
        .expect("delivers");
    assert_eq!(delivered.delivered_at(), Some(10));
    assert_eq!(order.state().delivered_at, Some(10));
    assert_eq!(order.completed_event(), None);
    // (now, open return) -> completes?
    for (now, open_return, completes) in [
        (10 + WINDOW - 1, false, false),
        (10 + WINDOW, true, false),
        (10 + WINDOW, false, true),
    ] {
        let mut candidate = order.clone();
        let outcome = candidate.complete(WINDOW, open_return, now);
        assert_eq!(
            outcome.is_ok(),
            completes,
            "at {now}, open return {open_return}"
        );
        if let Ok(change) = outcome {
            assert_eq!((change.from, change.to), (Delivered, Completed));
            assert_eq!(change.delivered_at(), None);
            let event = candidate.completed_event().expect("completed event");
            assert_eq!(event.order_id, "o1");
            assert_eq!(event.total, usd(2500));
            assert_eq!(event.refunded, usd(0));
            assert_eq!(event.delivered_at, platform::time::rfc3339(10));
            // Once: a completed order does not complete again, and a late refund
            // leaves it completed.
            assert!(candidate.complete(WINDOW, false, now + 1).is_err());
            let late = candidate.record_refund("pay1", &refund(500, 500, 2500), now + 2);
            assert!(matches!(late.recorded, Recorded::Noted(_)));
            assert_eq!(candidate.status(), Completed);
        }
    }
}
