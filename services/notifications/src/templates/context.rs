//! The context each event gives its template (`user`, `order`, `payment`, …), the
//! context of a message sent through the API, and samples of each event's context for
//! checking edits.

use contracts::Money;
use contracts::fulfillment::{ShipmentDelivered, ShipmentDispatched};
use contracts::inventory::StockLow;
use contracts::ordering::{OrderConfirmed, OrderLine, RefundFacts};
use contracts::payments::{FailureReason, PaymentFailed};
use serde_json::{Map, Value, json};

use super::{
    ORDER_CONFIRMED, PAYMENT_FAILED, REFUND_PROCESSED, SHIPMENT_DELIVERED, SHIPMENT_DISPATCHED,
    STOCK_LOW, WELCOME,
};
use crate::domain::{Recipient, format_money};

fn user(recipient: &Recipient) -> Value {
    json!({"id": recipient.id, "name": recipient.name, "email": recipient.email})
}

fn money(value: &Money) -> String {
    format_money(value.amount, &value.currency)
}

fn lines(items: &[OrderLine]) -> Value {
    Value::Array(
        items
            .iter()
            .map(|line| {
                let total = line
                    .unit_price
                    .amount
                    .saturating_mul(i64::from(line.quantity));
                json!({
                    "sku": line.sku,
                    "quantity": line.quantity,
                    "unit_price": money(&line.unit_price),
                    "line_total": format_money(total, &line.unit_price.currency),
                })
            })
            .collect(),
    )
}

/// The order total: the event's, or the sum of its lines when they share a currency.
fn order_total(total: Option<&Money>, items: &[OrderLine]) -> Option<String> {
    if let Some(total) = total {
        return Some(money(total));
    }
    let currency = &items.first()?.unit_price.currency;
    if items.iter().any(|l| &l.unit_price.currency != currency) {
        return None;
    }
    let sum = items.iter().fold(0i64, |sum, l| {
        sum.saturating_add(l.unit_price.amount.saturating_mul(i64::from(l.quantity)))
    });
    Some(format_money(sum, currency))
}

/// `welcome`: `user`.
pub fn welcome(recipient: &Recipient) -> Value {
    json!({"user": user(recipient)})
}

/// `order_confirmed`: `user`, `order.{id, total, items[].{sku, quantity, unit_price,
/// line_total}}`.
pub fn order_confirmed(recipient: &Recipient, order: &OrderConfirmed) -> Value {
    json!({
        "user": user(recipient),
        "order": {
            "id": order.order_id,
            "total": order_total(order.total.as_ref(), &order.items).unwrap_or_default(),
            "items": lines(&order.items),
        },
    })
}

fn failure_reason(reason: FailureReason) -> &'static str {
    match reason {
        FailureReason::Declined => "declined",
        FailureReason::InsufficientFunds => "insufficient_funds",
        FailureReason::Fraud => "fraud",
        FailureReason::ExpiredCard => "expired_card",
        FailureReason::Mismatch => "mismatch",
        FailureReason::ProviderError => "provider_error",
    }
}

/// `payment_failed`: `user`, `order.{id, total}`, `payment.{id, reason, detail}`.
pub fn payment_failed(
    recipient: &Recipient,
    total: Option<&Money>,
    failed: &PaymentFailed,
) -> Value {
    json!({
        "user": user(recipient),
        "order": {"id": failed.order_id, "total": total.map(money)},
        "payment": {
            "id": failed.payment_id,
            "reason": failure_reason(failed.reason),
            "detail": failed.detail,
        },
    })
}

/// `shipment_dispatched`: `user`, `order.id`, `shipment.{id, carrier, tracking_number,
/// tracking_url, dispatched_at}`.
pub fn shipment_dispatched(recipient: &Recipient, shipment: &ShipmentDispatched) -> Value {
    json!({
        "user": user(recipient),
        "order": {"id": shipment.order_id},
        "shipment": {
            "id": shipment.shipment_id,
            "carrier": shipment.carrier,
            "tracking_number": shipment.tracking_number,
            "tracking_url": shipment.tracking_url,
            "dispatched_at": shipment.dispatched_at,
        },
    })
}

/// `shipment_delivered`: `user`, `order.{id, delivered}`, `shipment.{id,
/// tracking_number, delivered_at}` (`order.delivered` is true once every parcel is).
pub fn shipment_delivered(recipient: &Recipient, shipment: &ShipmentDelivered) -> Value {
    json!({
        "user": user(recipient),
        "order": {"id": shipment.order_id, "delivered": shipment.order_delivered},
        "shipment": {
            "id": shipment.shipment_id,
            "tracking_number": shipment.tracking_number,
            "delivered_at": shipment.delivered_at,
        },
    })
}

/// `refund_processed`: `user`, `order.id`, `refund.{amount, refunded_total, full}`.
pub fn refund_processed(recipient: &Recipient, refund: &RefundFacts, full: bool) -> Value {
    json!({
        "user": user(recipient),
        "order": {"id": refund.order_id},
        "refund": {
            "amount": money(&refund.amount),
            "refunded_total": money(&refund.refunded_total),
            "full": full,
        },
    })
}

/// `stock_low` (to each admin): `user`, `stock.{sku, available, threshold}`.
pub fn stock_low(recipient: &Recipient, low: &StockLow) -> Value {
    json!({
        "user": user(recipient),
        "stock": {"sku": low.sku, "available": low.available, "threshold": low.threshold},
    })
}

/// A message sent through the API: the caller's `data` at the top level, and `user`
/// (which `data` cannot replace).
pub fn custom(recipient: &Recipient, data: &Map<String, Value>) -> Value {
    let mut context = data.clone();
    context.insert("user".into(), user(recipient));
    Value::Object(context)
}

/// A context of the shape event `key` produces, for checking edits; `None` for keys
/// whose context the sender chooses.
pub fn sample_context(key: &str) -> Option<Value> {
    let recipient = Recipient::live(
        "0190a000-0000-7000-8000-000000000001".into(),
        "ada@example.com".into(),
        "Ada Lovelace".into(),
        Vec::new(),
    );
    let usd = |amount| Money {
        amount,
        currency: "USD".into(),
    };
    let order_id = "0190a000-0000-7000-8000-000000000002";
    Some(match key {
        WELCOME => welcome(&recipient),
        ORDER_CONFIRMED => order_confirmed(
            &recipient,
            &OrderConfirmed {
                order_id: order_id.into(),
                user_id: Some(recipient.id.clone()),
                payment_id: None,
                total: Some(usd(2998)),
                shipping_address: None,
                items: vec![OrderLine {
                    sku: "SKU-1".into(),
                    quantity: 2,
                    unit_price: usd(1499),
                }],
            },
        ),
        PAYMENT_FAILED => payment_failed(
            &recipient,
            Some(&usd(2998)),
            &PaymentFailed {
                payment_id: "0190a000-0000-7000-8000-000000000003".into(),
                order_id: order_id.into(),
                reason: FailureReason::Declined,
                detail: "the card was declined".into(),
            },
        ),
        SHIPMENT_DISPATCHED => shipment_dispatched(
            &recipient,
            &ShipmentDispatched {
                shipment_id: "0190a000-0000-7000-8000-000000000004".into(),
                order_id: order_id.into(),
                user_id: recipient.id.clone(),
                carrier: "sandbox".into(),
                tracking_number: "VS123456789".into(),
                tracking_url: Some("https://track.example.com/VS123456789".into()),
                dispatched_at: "2026-01-01T10:00:00Z".into(),
            },
        ),
        SHIPMENT_DELIVERED => shipment_delivered(
            &recipient,
            &ShipmentDelivered {
                shipment_id: "0190a000-0000-7000-8000-000000000004".into(),
                order_id: order_id.into(),
                user_id: recipient.id.clone(),
                tracking_number: "VS123456789".into(),
                delivered_at: "2026-01-02T10:00:00Z".into(),
                order_delivered: true,
            },
        ),
        REFUND_PROCESSED => refund_processed(
            &recipient,
            &RefundFacts {
                order_id: order_id.into(),
                payment_id: "0190a000-0000-7000-8000-000000000003".into(),
                amount: usd(1499),
                refunded_total: usd(1499),
            },
            false,
        ),
        STOCK_LOW => stock_low(
            &recipient,
            &StockLow {
                sku: "SKU-1".into(),
                available: 3,
                threshold: 5,
            },
        ),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_fall_back_to_the_sum_of_lines() {
        let usd = |amount| Money {
            amount,
            currency: "USD".into(),
        };
        let line = |amount, quantity| OrderLine {
            sku: "A".into(),
            quantity,
            unit_price: usd(amount),
        };
        assert_eq!(
            order_total(Some(&usd(5)), &[line(100, 2)]),
            Some("0.05 USD".into())
        );
        assert_eq!(
            order_total(None, &[line(100, 2), line(50, 1)]),
            Some("2.50 USD".into())
        );
        assert_eq!(order_total(None, &[]), None);
    }

    #[test]
    fn api_data_cannot_replace_the_user() {
        let recipient = Recipient::live(
            "u1".into(),
            "ann@example.com".into(),
            "Ann".into(),
            Vec::new(),
        );
        let mut data = Map::new();
        data.insert("user".into(), json!("someone else"));
        data.insert("code".into(), json!("SAVE10"));
        let context = custom(&recipient, &data);
        assert_eq!(context["user"]["name"], "Ann");
        assert_eq!(context["code"], "SAVE10");
    }
}
