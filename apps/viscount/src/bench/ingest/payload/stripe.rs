//! Stripe's webhook bodies: `charge.succeeded` and `charge.refunded` events, each
//! wrapping a Charge object as Stripe's API version 2024-06-20 writes it.

use serde::Serialize;

use super::shopify::order_id;
use super::to_body;
use crate::bench::ingest::Ids;
use crate::bench::ingest::sale::{PHONE_E164, STREET, Sale};

#[derive(Serialize)]
struct Event<'a> {
    id: String,
    object: &'static str,
    api_version: &'static str,
    created: i64,
    data: Data<'a>,
    livemode: bool,
    pending_webhooks: u32,
    request: Request,
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(Serialize)]
struct Data<'a> {
    object: Charge<'a>,
    /// What the event changed: present on `charge.refunded`.
    #[serde(skip_serializing_if = "Option::is_none")]
    previous_attributes: Option<Previous>,
}

#[derive(Serialize)]
struct Previous {
    amount_refunded: i64,
    refunded: bool,
}

#[derive(Serialize)]
struct Request {
    id: String,
    idempotency_key: String,
}

#[derive(Serialize)]
struct Charge<'a> {
    id: &'a str,
    object: &'static str,
    amount: i64,
    amount_captured: i64,
    amount_refunded: i64,
    balance_transaction: String,
    billing_details: BillingDetails<'a>,
    calculated_statement_descriptor: &'static str,
    captured: bool,
    created: i64,
    currency: &'a str,
    customer: String,
    description: String,
    livemode: bool,
    metadata: Metadata,
    outcome: Outcome,
    paid: bool,
    payment_intent: String,
    payment_method: String,
    payment_method_details: PaymentMethodDetails,
    receipt_email: &'a str,
    receipt_url: String,
    refunded: bool,
    refunds: List<Refund<'a>>,
    status: &'static str,
}

#[derive(Serialize)]
struct BillingDetails<'a> {
    address: Address,
    email: &'a str,
    name: String,
    phone: &'static str,
}

#[derive(Serialize)]
struct Address {
    city: &'static str,
    country: &'static str,
    line1: &'static str,
    line2: &'static str,
    postal_code: &'static str,
    state: &'static str,
}

#[derive(Serialize)]
struct Metadata {
    order_id: String,
}

#[derive(Serialize)]
struct Outcome {
    network_status: &'static str,
    risk_level: &'static str,
    seller_message: &'static str,
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(Serialize)]
struct PaymentMethodDetails {
    #[serde(rename = "type")]
    kind: &'static str,
    card: Card,
}

#[derive(Serialize)]
struct Card {
    brand: &'static str,
    country: &'static str,
    exp_month: u32,
    exp_year: u32,
    fingerprint: String,
    funding: &'static str,
    last4: &'static str,
    network: &'static str,
}

#[derive(Serialize)]
struct List<T> {
    object: &'static str,
    data: Vec<T>,
    has_more: bool,
}

#[derive(Serialize)]
struct Refund<'a> {
    id: String,
    object: &'static str,
    amount: i64,
    currency: &'a str,
    charge: &'a str,
    created: i64,
    reason: &'static str,
    status: &'static str,
}

/// A Stripe event: `charge.succeeded`, or `charge.refunded` (a partial refund, the
/// charge's first) when `refunded`. Amounts are already in minor units, as Stripe
/// sends them; the charge names the order it paid in `metadata.order_id`.
pub fn stripe_charge(sale: &Sale, ids: Ids, refunded: bool) -> Vec<u8> {
    let person = sale.person();
    let amount = sale.total();
    let amount_refunded = if refunded { sale.refund() } else { 0 };
    let charge = format!("ch_3{}", ids.alnum(30, 23));
    let currency = sale.currency.code.to_lowercase();
    let email = sale.email();
    let order_id = order_id(ids).to_string();
    let refunds = if refunded {
        vec![Refund {
            id: format!("re_3{}", ids.alnum(31, 23)),
            object: "refund",
            amount: amount_refunded,
            currency: &currency,
            charge: &charge,
            created: sale.created_unix,
            reason: "requested_by_customer",
            status: "succeeded",
        }]
    } else {
        Vec::new()
    };
    to_body(&Event {
        id: format!("evt_3{}", ids.alnum(38, 23)),
        object: "event",
        api_version: "2024-06-20",
        created: sale.created_unix,
        data: Data {
            object: Charge {
                id: &charge,
                object: "charge",
                amount,
                amount_captured: amount,
                amount_refunded,
                balance_transaction: format!("txn_3{}", ids.alnum(32, 23)),
                billing_details: BillingDetails {
                    address: Address {
                        city: person.city,
                        country: person.country,
                        line1: STREET.0,
                        line2: STREET.1,
                        postal_code: person.zip,
                        state: person.province,
                    },
                    email: &email,
                    name: format!("{} {}", person.first, person.last),
                    phone: PHONE_E164,
                },
                calculated_statement_descriptor: "VISCOUNT BENCH",
                captured: true,
                created: sale.created_unix,
                currency: &currency,
                customer: format!("cus_{}", ids.alnum(33, 14)),
                description: format!("Order {order_id}"),
                livemode: false,
                metadata: Metadata { order_id },
                outcome: Outcome {
                    network_status: "approved_by_network",
                    risk_level: "normal",
                    seller_message: "Payment complete.",
                    kind: "authorized",
                },
                paid: true,
                payment_intent: format!("pi_3{}", ids.alnum(34, 23)),
                payment_method: format!("pm_1{}", ids.alnum(35, 23)),
                payment_method_details: PaymentMethodDetails {
                    kind: "card",
                    card: Card {
                        brand: "visa",
                        country: "US",
                        exp_month: 12,
                        exp_year: 2030,
                        fingerprint: ids.alnum(36, 16),
                        funding: "credit",
                        last4: "4242",
                        network: "visa",
                    },
                },
                receipt_email: &email,
                receipt_url: format!(
                    "https://pay.stripe.com/receipts/payment/{}",
                    ids.alnum(37, 40)
                ),
                refunded: refunded && amount_refunded == amount,
                refunds: List {
                    object: "list",
                    data: refunds,
                    has_more: false,
                },
                status: "succeeded",
            },
            previous_attributes: refunded.then_some(Previous {
                amount_refunded: 0,
                refunded: false,
            }),
        },
        livemode: false,
        pending_webhooks: 1,
        request: Request {
            id: format!("req_{}", ids.alnum(39, 14)),
            idempotency_key: ids.uuid(40),
        },
        kind: if refunded {
            "charge.refunded"
        } else {
            "charge.succeeded"
        },
    })
}
