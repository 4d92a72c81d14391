//! PayPal's webhook bodies: `PAYMENT.SALE.COMPLETED` and `PAYMENT.SALE.REFUNDED`
//! events (v1 notifications), each wrapping a sale or a refund resource.

use serde::Serialize;

use super::shopify::order_id;
use super::{Link, to_body};
use crate::bench::ingest::Ids;
use crate::bench::ingest::sale::{Sale, utc};

/// PayPal's API base in the links it sends.
const API: &str = "https://api.paypal.com/v1";

#[derive(Serialize)]
struct Event {
    id: String,
    event_version: &'static str,
    create_time: String,
    resource_type: &'static str,
    event_type: &'static str,
    summary: String,
    resource: Resource,
    links: [Link; 2],
}

#[derive(Serialize)]
#[serde(untagged)]
enum Resource {
    Sale(SaleResource),
    Refund(RefundResource),
}

#[derive(Serialize)]
struct Amount {
    total: String,
    currency: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    details: Option<Details>,
}

#[derive(Serialize)]
struct Details {
    subtotal: String,
}

#[derive(Serialize)]
struct Value {
    value: String,
    currency: &'static str,
}

#[derive(Serialize)]
struct SaleResource {
    id: String,
    state: &'static str,
    amount: Amount,
    payment_mode: &'static str,
    protection_eligibility: &'static str,
    protection_eligibility_type: &'static str,
    transaction_fee: Value,
    invoice_number: String,
    custom: String,
    parent_payment: String,
    create_time: String,
    update_time: String,
    links: [Link; 3],
}

#[derive(Serialize)]
struct RefundResource {
    id: String,
    state: &'static str,
    amount: Amount,
    sale_id: String,
    parent_payment: String,
    invoice_number: String,
    custom: String,
    refund_from_transaction_fee: Value,
    total_refunded_amount: Value,
    create_time: String,
    update_time: String,
    links: [Link; 3],
}

/// A PayPal webhook event: `PAYMENT.SALE.COMPLETED`, or `PAYMENT.SALE.REFUNDED` (a
/// partial refund, with the negative total PayPal's v1 samples show) when `refunded`.
/// The sale names the order it paid in `invoice_number` and `custom`.
pub fn paypal_sale(sale: &Sale, ids: Ids, refunded: bool) -> Vec<u8> {
    let sale_id = ids.alnum_upper(50, 17);
    let payment = format!("PAY-{}", ids.alnum_upper(52, 24));
    let event = format!("WH-{}-{}", ids.alnum_upper(53, 17), ids.alnum_upper(54, 17));
    let invoice = order_id(ids).to_string();
    let created = utc(sale.created_unix);
    let code = sale.currency.code;
    let (event_type, summary, resource) = if refunded {
        let refund_id = ids.alnum_upper(51, 17);
        let refunded_amount = sale.money(sale.refund());
        (
            "PAYMENT.SALE.REFUNDED",
            format!("A {refunded_amount} {code} sale payment was refunded"),
            Resource::Refund(RefundResource {
                links: [
                    Link::new(format!("{API}/payments/refund/{refund_id}"), "self", "GET"),
                    Link::new(
                        format!("{API}/payments/payment/{payment}"),
                        "parent_payment",
                        "GET",
                    ),
                    Link::new(format!("{API}/payments/sale/{sale_id}"), "sale", "GET"),
                ],
                id: refund_id,
                state: "completed",
                amount: Amount {
                    total: sale.money(-sale.refund()),
                    currency: code,
                    details: None,
                },
                sale_id,
                parent_payment: payment,
                custom: format!("order-{invoice}"),
                invoice_number: invoice,
                refund_from_transaction_fee: Value {
                    value: sale.money(0),
                    currency: code,
                },
                total_refunded_amount: Value {
                    value: refunded_amount,
                    currency: code,
                },
                create_time: created.clone(),
                update_time: created.clone(),
            }),
        )
    } else {
        let total = sale.money(sale.total());
        (
            "PAYMENT.SALE.COMPLETED",
            format!("Payment completed for {total} {code}"),
            Resource::Sale(SaleResource {
                links: [
                    Link::new(format!("{API}/payments/sale/{sale_id}"), "self", "GET"),
                    Link::new(
                        format!("{API}/payments/sale/{sale_id}/refund"),
                        "refund",
                        "POST",
                    ),
                    Link::new(
                        format!("{API}/payments/payment/{payment}"),
                        "parent_payment",
                        "GET",
                    ),
                ],
                id: sale_id,
                state: "completed",
                amount: Amount {
                    total: total.clone(),
                    currency: code,
                    details: Some(Details { subtotal: total }),
                },
                payment_mode: "INSTANT_TRANSFER",
                protection_eligibility: "ELIGIBLE",
                protection_eligibility_type: "ITEM_NOT_RECEIVED_ELIGIBLE,UNAUTHORIZED_PAYMENT_ELIGIBLE",
                transaction_fee: Value {
                    value: sale.money(sale.total() / 30),
                    currency: code,
                },
                custom: format!("order-{invoice}"),
                invoice_number: invoice,
                parent_payment: payment,
                create_time: created.clone(),
                update_time: created.clone(),
            }),
        )
    };
    to_body(&Event {
        links: [
            Link::new(
                format!("{API}/notifications/webhooks-events/{event}"),
                "self",
                "GET",
            ),
            Link::new(
                format!("{API}/notifications/webhooks-events/{event}/resend"),
                "resend",
                "POST",
            ),
        ],
        id: event,
        event_version: "1.0",
        create_time: created,
        resource_type: if refunded { "refund" } else { "sale" },
        event_type,
        summary,
        resource,
    })
}
