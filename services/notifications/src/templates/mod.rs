//! Message templates, free of I/O: the keys of the messages events cause, the
//! MiniJinja renderer, the check of an admin's edit and its preview (`render`), the
//! context each event gives its template (`context`), and the templates the service
//! starts with (`defaults`).

mod context;
mod defaults;
mod render;

pub use context::{
    anomaly_detected, custom, dispute_opened, order_confirmed, payment_failed, refund_processed,
    report_ready, sample_context, sample_send_context, shipment_delivered, shipment_dispatched,
    stock_low, welcome,
};
pub use defaults::{DefaultTemplate, defaults};
pub use render::{MAX_BODY, MAX_HTML, MAX_SUBJECT, Renderer, TemplateError};

/// Key of the message sent when an account is created (`identity.user.created`).
pub const WELCOME: &str = "welcome";
/// Key of the message sent when an order is confirmed (`ordering.order.confirmed`).
pub const ORDER_CONFIRMED: &str = "order_confirmed";
/// Key of the message sent when a payment fails (`payments.payment.failed`).
pub const PAYMENT_FAILED: &str = "payment_failed";
/// Key of the message sent when a shipment leaves (`fulfillment.shipment.dispatched`).
pub const SHIPMENT_DISPATCHED: &str = "shipment_dispatched";
/// Key of the message sent when a shipment arrives (`fulfillment.shipment.delivered`).
pub const SHIPMENT_DELIVERED: &str = "shipment_delivered";
/// Key of the message sent when money goes back (`ordering.order.refunded` and
/// `ordering.order.partially_refunded`).
pub const REFUND_PROCESSED: &str = "refund_processed";
/// Key of the admins' alert when stock runs low (`inventory.stock.low`).
pub const STOCK_LOW: &str = "stock_low";
/// Key of the message that brings a scheduled report to its recipient address
/// (`analytics.report.ready`).
pub const REPORT_READY: &str = "report_ready";
/// Key of the admins' alert when a business series leaves its expected band
/// (`analytics.anomaly.detected`).
pub const ANOMALY_DETECTED: &str = "anomaly_detected";
/// Key of the admins' alert when a cardholder disputes a payment at the provider, a
/// chargeback the shop must answer there (`payments.dispute.opened`).
pub const DISPUTE_OPENED: &str = "dispute_opened";
/// Key of the seeded marketing template, sent through the API.
pub const PROMOTION: &str = "promotion";

/// Keys whose context is fixed by code: edits to their templates are test-rendered.
pub const EVENT_KEYS: [&str; 10] = [
    WELCOME,
    ORDER_CONFIRMED,
    PAYMENT_FAILED,
    SHIPMENT_DISPATCHED,
    SHIPMENT_DELIVERED,
    REFUND_PROCESSED,
    STOCK_LOW,
    REPORT_READY,
    ANOMALY_DETECTED,
    DISPUTE_OPENED,
];
