//! Events emitted by the payments service. Ordering drives the checkout saga from
//! `authorized` and `failed`, and keeps its refund totals from `refund.processed`.

use serde::{Deserialize, Serialize};

use crate::{Event, Money};

/// A payment was authorized: the amount is held on the card.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentAuthorized {
    /// The payment.
    pub payment_id: String,
    /// The order it pays.
    pub order_id: String,
    /// The amount held.
    pub amount: Money,
}

impl Event for PaymentAuthorized {
    const TYPE: &'static str = "payments.payment.authorized.v1";
    fn subject(&self) -> String {
        self.payment_id.clone()
    }
}

/// An authorized payment was captured: the money moved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentCaptured {
    /// The payment.
    pub payment_id: String,
    /// The order it pays.
    pub order_id: String,
    /// The amount captured.
    pub amount: Money,
}

impl Event for PaymentCaptured {
    const TYPE: &'static str = "payments.payment.captured.v1";
    fn subject(&self) -> String {
        self.payment_id.clone()
    }
}

/// An authorization was released without capture.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentVoided {
    /// The payment.
    pub payment_id: String,
    /// The order it was for.
    pub order_id: String,
}

impl Event for PaymentVoided {
    const TYPE: &'static str = "payments.payment.voided.v1";
    fn subject(&self) -> String {
        self.payment_id.clone()
    }
}

/// Why a payment failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureReason {
    /// The issuer declined.
    Declined,
    /// Not enough funds.
    InsufficientFunds,
    /// Blocked by fraud rules.
    Fraud,
    /// The card expired before authorization.
    ExpiredCard,
    /// The payment does not match the order (amount, currency or owner).
    Mismatch,
    /// The provider failed.
    ProviderError,
}

/// A payment could not be authorized (or captured).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentFailed {
    /// The payment.
    pub payment_id: String,
    /// The order it was for.
    pub order_id: String,
    /// Why, as a stable code.
    pub reason: FailureReason,
    /// Why, for people.
    pub detail: String,
}

impl Event for PaymentFailed {
    const TYPE: &'static str = "payments.payment.failed.v1";
    fn subject(&self) -> String {
        self.payment_id.clone()
    }
}

/// Money went back to the card.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundProcessed {
    /// The refund.
    pub refund_id: String,
    /// The payment refunded.
    pub payment_id: String,
    /// The order it paid.
    pub order_id: String,
    /// This refund.
    pub amount: Money,
    /// Refunded so far, this one included.
    pub refunded_total: Money,
    /// Captured in total.
    pub captured_total: Money,
}

impl Event for RefundProcessed {
    const TYPE: &'static str = "payments.refund.processed.v1";
    fn subject(&self) -> String {
        self.payment_id.clone()
    }
}
