//! What ordering emits, built from the order aggregate: the saga's commands to the
//! next participant (`created`, `validated` + `reserved`, `authorized` + `confirmed`,
//! `cancelled`), the shipping statuses it follows, its completion, and refunds. `app` stages these in the same
//! transaction as the change they announce.

use contracts::ordering::{
    OrderAuthorized, OrderCancelled, OrderCompleted, OrderConfirmed, OrderCreated, OrderDelivered,
    OrderPartiallyRefunded, OrderRefunded, OrderReserved, OrderShipped, OrderStatusChanged,
    OrderValidated, RefundFacts, RefundRequested,
};

use super::{Order, OrderLine, StatusChange};
use crate::domain::{Money, OrderStatus, ProcessedRefund};

/// The event of a shipping status an order entered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShippingEvent {
    /// `ordering.order.shipped`.
    Shipped(OrderShipped),
    /// `ordering.order.delivered`.
    Delivered(OrderDelivered),
}

/// The event of a refund applied to an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefundEvent {
    /// `ordering.order.refunded`: everything captured went back.
    Refunded(OrderRefunded),
    /// `ordering.order.partially_refunded`.
    PartiallyRefunded(OrderPartiallyRefunded),
}

/// An order line as events carry it.
fn event_line(line: &OrderLine) -> contracts::ordering::OrderLine {
    contracts::ordering::OrderLine {
        sku: line.sku.as_str().to_owned(),
        quantity: line.quantity,
        unit_price: line.unit_price.clone(),
    }
}

impl Order {
    /// `created`: inventory reserves `lines`, which starts the saga.
    pub fn created_event(&self, lines: &[OrderLine]) -> OrderCreated {
        OrderCreated {
            order_id: self.facts.id.clone(),
            user_id: self.facts.user_id.clone(),
            items: lines.iter().map(event_line).collect(),
            total: self.facts.total.clone(),
            payment_id: self.facts.payment_id.clone(),
            attribution: self.facts.attribution.clone(),
        }
    }

    /// `validated`, emitted with `reserved` when inventory holds every line.
    ///
    /// Seed 001 has the order service publish `OrderValidated` after `OrderCreated`
    /// and before the payment, and confirm the order on `InventoryReserved`. At
    /// creation ordering checks only what it knows itself (the lines' skus and
    /// quantities against its price copy, the address's fields); whether the order can
    /// be fulfilled is known once inventory reserved every line at the order's prices.
    /// So that is where the order is valid, and where payments is asked to authorize
    /// it: the event carries what was validated (lines, total, address).
    pub fn validated_event(&self, lines: &[OrderLine]) -> OrderValidated {
        OrderValidated {
            order_id: self.facts.id.clone(),
            user_id: self.facts.user_id.clone(),
            items: lines.iter().map(event_line).collect(),
            total: self.facts.total.clone(),
            shipping_address: self.facts.shipping_address.clone(),
        }
    }

    /// `completed`, once [`Order::complete`] moved it (`None` before that: only a
    /// delivered order completes).
    pub fn completed_event(&self) -> Option<OrderCompleted> {
        if self.state.status != OrderStatus::Completed {
            return None;
        }
        Some(OrderCompleted {
            order_id: self.facts.id.clone(),
            user_id: self.facts.user_id.clone(),
            total: self.facts.total.clone(),
            refunded: Money {
                amount: self.state.refunded,
                currency: self.facts.total.currency.clone(),
            },
            delivered_at: platform::time::rfc3339(self.state.delivered_at?),
            completed_at: platform::time::rfc3339(self.state.updated_at),
        })
    }

    /// `reserved`: payments authorizes the order's payment (none when it has none,
    /// which the checkout never stores).
    pub fn reserved_event(&self) -> Option<OrderReserved> {
        Some(OrderReserved {
            order_id: self.facts.id.clone(),
            user_id: self.facts.user_id.clone(),
            payment_id: self.facts.payment_id.clone()?,
            amount: self.facts.total.clone(),
        })
    }

    /// `authorized`, emitted with `confirmed`.
    pub fn authorized_event(&self) -> OrderAuthorized {
        OrderAuthorized {
            order_id: self.facts.id.clone(),
            payment_id: self.facts.payment_id.clone().unwrap_or_default(),
        }
    }

    /// `confirmed`: payments captures, inventory commits, fulfillment ships `lines` to
    /// the address and notifications lists them.
    pub fn confirmed_event(&self, lines: &[OrderLine]) -> OrderConfirmed {
        OrderConfirmed {
            order_id: self.facts.id.clone(),
            user_id: Some(self.facts.user_id.clone()),
            payment_id: self.facts.payment_id.clone(),
            total: Some(self.facts.total.clone()),
            shipping_address: Some(self.facts.shipping_address.clone()),
            items: lines.iter().map(event_line).collect(),
            attribution: self.facts.attribution.clone(),
        }
    }

    /// `cancelled`, the compensation: inventory releases, payments voids or refunds.
    pub fn cancelled_event(&self) -> OrderCancelled {
        OrderCancelled {
            order_id: self.facts.id.clone(),
            reason: self
                .state()
                .cancel_reason
                .clone()
                .unwrap_or_else(|| "cancelled".to_owned()),
            payment_id: self.facts.payment_id.clone(),
        }
    }

    /// The event of `change` if it entered a shipping status (the other statuses have
    /// their own events, emitted where they happen).
    pub fn shipping_event(&self, change: &StatusChange) -> Option<ShippingEvent> {
        let facts = || OrderStatusChanged {
            order_id: self.facts.id.clone(),
            user_id: self.facts.user_id.clone(),
            from: change.from.as_str().to_owned(),
            to: change.to.as_str().to_owned(),
        };
        match change.to {
            OrderStatus::Shipped => Some(ShippingEvent::Shipped(OrderShipped(facts()))),
            OrderStatus::Delivered => Some(ShippingEvent::Delivered(OrderDelivered(facts()))),
            _ => None,
        }
    }

    /// `refund.requested`: payments refunds `amount` of `payment_id` for the return
    /// `return_id`, once.
    pub(super) fn refund_requested_event(
        &self,
        payment_id: &str,
        return_id: &str,
        amount: Money,
    ) -> RefundRequested {
        RefundRequested {
            order_id: self.facts.id.clone(),
            payment_id: payment_id.to_owned(),
            amount,
            request_id: return_id.to_owned(),
            reason: format!("return {return_id}"),
        }
    }

    /// `refunded` or `partially_refunded`, as `status` (the refund status) says.
    pub(super) fn refund_event(
        &self,
        payment_id: &str,
        refund: &ProcessedRefund,
        status: OrderStatus,
    ) -> RefundEvent {
        let facts = RefundFacts {
            order_id: self.facts.id.clone(),
            payment_id: payment_id.to_owned(),
            amount: refund.amount.clone(),
            refunded_total: Money {
                amount: refund.refunded_total,
                currency: refund.amount.currency.clone(),
            },
        };
        match status {
            OrderStatus::Refunded => RefundEvent::Refunded(OrderRefunded(facts)),
            _ => RefundEvent::PartiallyRefunded(OrderPartiallyRefunded(facts)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::OrderStatus::*;
    use crate::domain::order::tests::order_in;
    use crate::domain::pricing::tests::line;

    #[test]
    fn the_saga_events_carry_the_order_facts() {
        let mut order = order_in(Reserved);
        let lines = [line("A", 1250, 2)];
        let created = order.created_event(&lines);
        assert_eq!(created.items[0].sku, "A");
        assert_eq!(created.payment_id.as_deref(), Some("pay1"));
        assert_eq!(
            order.reserved_event().map(|e| e.amount),
            Some(order.facts.total.clone())
        );
        let confirmed = order.confirmed_event(&lines);
        assert_eq!(
            confirmed.shipping_address,
            Some(order.facts.shipping_address.clone())
        );
        assert_eq!(confirmed.items, created.items);
        order.cancel("changed my mind", 5).expect("cancels");
        assert_eq!(order.cancelled_event().reason, "changed my mind");
        order.facts.payment_id = None;
        assert_eq!(order.reserved_event(), None);
    }

    #[test]
    fn created_and_confirmed_carry_the_attribution() {
        let mut order = order_in(Reserved);
        let lines = [line("A", 1250, 2)];
        assert_eq!(order.created_event(&lines).attribution, None);
        assert_eq!(order.confirmed_event(&lines).attribution, None);
        let attribution = crate::domain::Attribution {
            utm_source: Some("newsletter".into()),
            utm_medium: Some("email".into()),
            utm_campaign: None,
            referrer: Some("https://news.example/spring".into()),
        };
        order.facts.attribution = Some(attribution.clone());
        assert_eq!(
            order.created_event(&lines).attribution.as_ref(),
            Some(&attribution)
        );
        let confirmed = order.confirmed_event(&lines);
        assert_eq!(confirmed.attribution.as_ref(), Some(&attribution));
        // On the wire, absent fields are left out rather than written as null.
        let json = serde_json::to_value(&confirmed).expect("json");
        assert_eq!(
            json["attribution"],
            serde_json::json!({"utm_source": "newsletter", "utm_medium": "email",
                               "referrer": "https://news.example/spring"})
        );
        order.facts.attribution = None;
        let json = serde_json::to_value(order.confirmed_event(&lines)).expect("json");
        assert!(json.get("attribution").is_none());
    }

    #[test]
    fn only_shipping_statuses_have_a_status_event() {
        let mut order = order_in(Confirmed);
        let shipped = order
            .follow_shipment(crate::domain::ShipmentProgress::Dispatched, "parcel", 5)
            .expect("ships");
        match order.shipping_event(&shipped) {
            Some(ShippingEvent::Shipped(OrderShipped(facts))) => {
                assert_eq!(
                    (facts.from.as_str(), facts.to.as_str()),
                    ("confirmed", "shipped")
                );
            }
            other => panic!("{other:?}"),
        }
        let mut order = order_in(Confirmed);
        let cancelled = order.cancel("no", 5).expect("cancels");
        assert_eq!(order.shipping_event(&cancelled), None);
    }
}
