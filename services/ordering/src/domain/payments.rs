//! What the checkout needs from payments, named by role: create an order's payment
//! (the card goes to payments and nowhere else) and refund one. `crate::payments`
//! implements it over `platform::client::ServiceClient` (in this process or over
//! HTTP); tests may put anything else behind it. Calls carry the caller's own
//! credentials, so payments authorizes the user, not ordering.

use std::fmt;

use async_trait::async_trait;
pub use contracts::payments::NextAction;
use platform::auth::ForwardedCredentials;

use super::Money;

/// The payment object of an order request, passed to payments unread. It holds card
/// details, so it never prints.
#[derive(Clone, PartialEq)]
pub struct PaymentMethod(serde_json::Value);

impl PaymentMethod {
    /// The object as the client sent it (the caller checked it is an object).
    pub fn new(object: serde_json::Value) -> Self {
        Self(object)
    }

    /// The object, to send to payments.
    pub fn as_json(&self) -> &serde_json::Value {
        &self.0
    }
}

impl fmt::Debug for PaymentMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PaymentMethod(<redacted>)")
    }
}

/// A payment created for an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedPayment {
    /// Its id.
    pub id: String,
    /// Card brand.
    pub brand: Option<String>,
    /// Card's last four digits.
    pub last4: Option<String>,
}

/// A processed refund.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessedRefund {
    /// Its id.
    pub refund_id: String,
    /// This refund.
    pub amount: Money,
    /// Refunded so far, this one included (minor units of the amount's currency).
    pub refunded_total: i64,
    /// Captured in total.
    pub captured_total: i64,
}

/// A field of the order's payment object that payments found invalid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentFieldError {
    /// The field, named as the order body names it (`payment.card_number`).
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

/// How payments refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The request was malformed.
    BadRequest,
    /// The request was understood and refused (an amount beyond what is left, ...).
    Unprocessable,
    /// The payment is not in a state that allows it.
    Conflict,
    /// The order's payment does not exist.
    NotFound,
    /// The caller may not do this to the payment.
    Forbidden,
    /// Payments failed to answer sensibly (its status code, for the log).
    Failed(u16),
}

/// Why payments did not do what was asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PaymentsError {
    /// The payment details are invalid.
    #[error("invalid payment details")]
    Invalid(Vec<PaymentFieldError>),
    /// Payments refused, with its explanation.
    #[error("payments refused: {detail}")]
    Refused {
        /// How.
        refusal: Refusal,
        /// Payments' explanation (its problem `detail`).
        detail: String,
    },
    /// Payments could not be reached or answered something unreadable.
    #[error("payments is unavailable: {0}")]
    Unavailable(String),
}

/// The payments service, as the checkout and refunds use it.
#[async_trait]
pub trait PaymentsPort: Send + Sync {
    /// Creates the payment of `order_id` for `amount`, paid with `method`, for an order
    /// shipping to `shipping_country` (which payments' fraud rules compare with the
    /// card's billing country). Repeating the call for the same order returns the same
    /// payment.
    async fn create_payment(
        &self,
        credentials: &ForwardedCredentials,
        order_id: &str,
        amount: &Money,
        method: &PaymentMethod,
        shipping_country: &str,
    ) -> Result<CreatedPayment, PaymentsError>;

    /// Refunds `amount` (none: everything not yet refunded) of `payment_id`, once per
    /// `idempotency_key` when the caller gave one.
    async fn refund(
        &self,
        credentials: &ForwardedCredentials,
        payment_id: &str,
        amount: Option<&Money>,
        idempotency_key: Option<&str>,
    ) -> Result<ProcessedRefund, PaymentsError>;

    /// What the customer has to do before `payment_id` can go on (3-D Secure: the
    /// provider's client secret for their browser), read as the caller; `None` when
    /// nothing.
    async fn next_action(
        &self,
        credentials: &ForwardedCredentials,
        payment_id: &str,
    ) -> Result<Option<NextAction>, PaymentsError> {
        let _ = (credentials, payment_id);
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_payment_method_never_prints_its_card() {
        let method = PaymentMethod::new(serde_json::json!({"card_number": "4242424242424242"}));
        assert!(!format!("{method:?}").contains("4242"));
    }
}
