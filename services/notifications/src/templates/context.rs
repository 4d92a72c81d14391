//! The context each event gives its template (`user`, `order`, `payment`, …), the
//! context of a message sent through the API, and samples of each event's context for
//! checking edits.

use contracts::Money;
use contracts::analytics::{AnomalyDetected, ReportReady};
use contracts::fulfillment::{ShipmentDelivered, ShipmentDispatched};
use contracts::inventory::StockLow;
use contracts::ordering::{OrderConfirmed, OrderLine, RefundFacts};
use contracts::payments::{DisputeOpened, FailureReason, PaymentFailed};
use serde_json::{Map, Value, json};

use super::{
    ANOMALY_DETECTED, DISPUTE_OPENED, ORDER_CONFIRMED, PAYMENT_FAILED, REFUND_PROCESSED,
    REPORT_READY, SHIPMENT_DELIVERED, SHIPMENT_DISPATCHED, STOCK_LOW, WELCOME,
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

/// An RFC 3339 time as people read it, to the minute: `2026-12-01 06:00 UTC`; text
/// that is no such time is shown as given (clipped).
fn moment(raw: &str) -> String {
    let Some(normal) = platform::time::parse_rfc3339(raw).map(platform::time::rfc3339) else {
        return raw.trim().chars().take(64).collect();
    };
    // `2026-12-01T06:00:00Z`: the date, then hours and minutes.
    match (normal.get(..10), normal.get(11..16)) {
        (Some(date), Some(time)) => format!("{date} {time} UTC"),
        _ => normal,
    }
}

/// A report's period, `[from, to)`, as people read it; empty when it names none.
fn period(from: Option<&str>, to: Option<&str>) -> String {
    match (from.map(moment), to.map(moment)) {
        (Some(from), Some(to)) => format!("{from} to {to}"),
        (Some(from), None) => format!("from {from}"),
        (None, Some(to)) => format!("until {to}"),
        (None, None) => String::new(),
    }
}

/// `report_ready` (to the schedule's address): `recipient.email`, `report.{id,
/// template, title, format, file_name, period, generated_at, download_path,
/// attached}` (`attached` says whether the file is on the email; otherwise the text
/// points to `download_path`).
pub fn report_ready(recipient: &Recipient, report: &ReportReady, attached: bool) -> Value {
    json!({
        "recipient": {"email": recipient.email},
        "report": {
            "id": report.report_id,
            "template": report.template,
            "title": report.title,
            "format": report.format.to_ascii_uppercase(),
            "file_name": report.file_name,
            "period": period(report.period_from.as_deref(), report.period_to.as_deref()),
            "generated_at": moment(&report.generated_at),
            "download_path": report.download_path,
            "attached": attached,
        },
    })
}

/// A measured figure: a whole number without decimals, others with two; money in a
/// currency as money (the figure is minor units).
fn figure(value: f64, currency: Option<&str>) -> String {
    if !value.is_finite() {
        return "n/a".to_owned();
    }
    if let Some(currency) = currency {
        // Saturating: a figure past i64 is not a real amount anyway.
        return format_money(value.round() as i64, currency);
    }
    if (value - value.round()).abs() < 1e-9 {
        format!("{value:.0}")
    } else {
        format!("{value:.2}")
    }
}

/// The series' name for people.
fn series_name(series: &str) -> String {
    match series {
        "orders" => "Orders per minute".to_owned(),
        "payment_failures" => "Payment failures per minute".to_owned(),
        "revenue" => "Revenue per minute".to_owned(),
        other => format!("Series {other}"),
    }
}

/// `anomaly_detected` (to each admin): `user`, `anomaly.{id, series, series_name,
/// tenant_id, minute, value, expected, lower, upper, direction}` (figures as text;
/// revenue as money).
pub fn anomaly_detected(recipient: &Recipient, anomaly: &AnomalyDetected) -> Value {
    let currency = anomaly.currency.as_deref();
    json!({
        "user": user(recipient),
        "anomaly": {
            "id": anomaly.id,
            "series": anomaly.series,
            "series_name": series_name(&anomaly.series),
            "tenant_id": anomaly.tenant_id,
            "minute": moment(&anomaly.minute),
            "value": figure(anomaly.value, currency),
            "expected": figure(anomaly.expected, currency),
            "lower": figure(anomaly.lower, currency),
            "upper": figure(anomaly.upper, currency),
            "direction": anomaly.direction,
        },
    })
}

/// `dispute_opened` (to each admin): `user`, `order.id`, `payment.id`, `dispute.{id,
/// amount, reason, evidence_due_by}` (the amount as money; the deadline as people read
/// it, or null when the provider gave none).
pub fn dispute_opened(recipient: &Recipient, dispute: &DisputeOpened) -> Value {
    json!({
        "user": user(recipient),
        "order": {"id": dispute.order_id},
        "payment": {"id": dispute.payment_id},
        "dispute": {
            "id": dispute.dispute_id,
            "amount": money(&dispute.amount),
            "reason": dispute.reason,
            "evidence_due_by": dispute.evidence_due_by.as_deref().map(moment),
        },
    })
}

/// A message sent through the API: the caller's `data` at the top level, and `user`
/// (which `data` cannot replace).
pub fn custom(recipient: &Recipient, data: &Map<String, Value>) -> Value {
    let mut context = data.clone();
    context.insert("user".into(), user(recipient));
    Value::Object(context)
}

/// The recipient of every sample context.
fn sample_recipient() -> Recipient {
    Recipient::live(
        "0190a000-0000-7000-8000-000000000001".into(),
        "ada@example.com".into(),
        "Ada Lovelace".into(),
        Vec::new(),
    )
}

/// The context a send through the API with no `data` gives a template, for the sample
/// recipient: only `user`. Previews of templates whose context the sender chooses
/// (keys [`sample_context`] has no sample for) render with it.
pub fn sample_send_context() -> Value {
    custom(&sample_recipient(), &Map::new())
}

/// A context of the shape event `key` produces, for checking edits; `None` for keys
/// whose context the sender chooses.
pub fn sample_context(key: &str) -> Option<Value> {
    let recipient = sample_recipient();
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
                attribution: None,
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
        REPORT_READY => report_ready(
            &Recipient::address("finance@example.com").unwrap_or(recipient),
            &ReportReady {
                report_id: "0190a000-0000-7000-8000-000000000005".into(),
                schedule_id: Some("0190a000-0000-7000-8000-000000000006".into()),
                template: "sales_summary".into(),
                title: "Sales summary".into(),
                format: "csv".into(),
                recipient: "finance@example.com".into(),
                file_name: "sales_summary-2026-01-08.csv".into(),
                content_type: "text/csv; charset=utf-8".into(),
                attachment_base64: None,
                download_path: "/api/v1/reports/0190a000-0000-7000-8000-000000000005/download"
                    .into(),
                period_from: Some("2026-01-01T00:00:00Z".into()),
                period_to: Some("2026-01-08T00:00:00Z".into()),
                generated_at: "2026-01-08T06:00:02Z".into(),
            },
            true,
        ),
        ANOMALY_DETECTED => anomaly_detected(
            &recipient,
            &AnomalyDetected {
                id: "0190a000-0000-7000-8000-000000000007".into(),
                series: "revenue".into(),
                tenant_id: "viscount".into(),
                minute: "2026-01-08T06:00:00Z".into(),
                value: 125_000.0,
                expected: 20_000.0,
                lower: 5_000.0,
                upper: 35_000.0,
                direction: "above".into(),
                currency: Some("USD".into()),
            },
        ),
        DISPUTE_OPENED => dispute_opened(
            &recipient,
            &DisputeOpened {
                dispute_id: "dp_1Q2w3E4r5T6y7U8i".into(),
                payment_id: "0190a000-0000-7000-8000-000000000003".into(),
                order_id: order_id.into(),
                amount: usd(2998),
                reason: "product_not_received".into(),
                evidence_due_by: Some("2026-01-22T23:59:59Z".into()),
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
    fn periods_and_times_read_to_the_minute_in_utc() {
        assert_eq!(moment("2026-12-01T06:00:00Z"), "2026-12-01 06:00 UTC");
        assert_eq!(
            moment("2026-12-01T08:30:59.999+02:00"),
            "2026-12-01 06:30 UTC"
        );
        assert_eq!(moment("yesterday"), "yesterday");
        assert_eq!(
            period(Some("2026-12-01T00:00:00Z"), Some("2026-12-08T00:00:00Z")),
            "2026-12-01 00:00 UTC to 2026-12-08 00:00 UTC"
        );
        assert_eq!(
            period(Some("2026-12-01T00:00:00Z"), None),
            "from 2026-12-01 00:00 UTC"
        );
        assert_eq!(period(None, None), "");
    }

    #[test]
    fn figures_are_counts_decimals_or_money() {
        assert_eq!(figure(3.0, None), "3");
        assert_eq!(figure(2.456, None), "2.46");
        assert_eq!(figure(-0.5, None), "-0.50");
        assert_eq!(figure(f64::NAN, None), "n/a");
        assert_eq!(figure(123_456.4, Some("USD")), "1234.56 USD");
        assert_eq!(figure(-1500.0, Some("EUR")), "-15.00 EUR");
        assert_eq!(figure(1500.0, Some("JPY")), "1500 JPY");
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
