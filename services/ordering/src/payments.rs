//! The payments service as ordering sees it: the two synchronous calls of the checkout.
//!
//! Placing an order creates its payment (`POST /api/v1/payments`): the card details go
//! straight through to payments, which tokenizes them, so they never touch ordering's
//! database, outbox or logs. Refunding an order asks payments to refund
//! (`POST /api/v1/payments/{id}/refund`), the authority on what was captured. Both
//! forward the caller's own credentials, so payments authorizes the user, not ordering.

use http::{HeaderMap, Method, StatusCode};
use platform::client::{CallError, ServiceClient};
use platform::http::FieldError;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::domain::Money;

/// A payment created for an order.
#[derive(Debug, Clone)]
pub struct CreatedPayment {
    /// Its id.
    pub id: String,
    /// Card brand.
    pub brand: Option<String>,
    /// Card's last four digits.
    pub last4: Option<String>,
}

/// A processed refund.
#[derive(Debug, Clone)]
pub struct ProcessedRefund {
    /// Its id.
    pub refund_id: String,
    /// This refund.
    pub amount: Money,
    /// Refunded so far, this one included.
    pub refunded_total: i64,
    /// Captured in total.
    pub captured_total: i64,
}

/// Why payments did not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum PaymentsError {
    /// The payment details are invalid; fields are named as the order body names them
    /// (`payment.card_number`, ...).
    #[error("invalid payment details")]
    Invalid(Vec<FieldError>),
    /// Payments refused (its status and problem `detail`).
    #[error("payments refused: {1}")]
    Refused(StatusCode, String),
    /// Payments could not be reached or answered something unreadable.
    #[error(transparent)]
    Unavailable(#[from] CallError),
}

#[derive(Deserialize)]
struct PaymentView {
    id: String,
    #[serde(default)]
    brand: Option<String>,
    #[serde(default)]
    last4: Option<String>,
}

#[derive(Deserialize)]
struct RefundView {
    refund_id: String,
    amount: Money,
    payment: RefundedPayment,
}

#[derive(Deserialize)]
struct RefundedPayment {
    captured: Money,
    refunded: Money,
}

#[derive(Deserialize)]
struct ProblemView {
    #[serde(default)]
    detail: String,
    #[serde(default)]
    errors: Vec<FieldError>,
}

/// Headers of the caller worth forwarding: its credentials and request id.
pub fn forwarded(headers: &HeaderMap) -> HeaderMap {
    let mut out = HeaderMap::new();
    for name in ["authorization", "x-api-key", "x-request-id", "traceparent"] {
        if let Some(value) = headers.get(name) {
            out.insert(name, value.clone());
        }
    }
    out
}

/// The payments API.
#[derive(Clone)]
pub struct PaymentsApi {
    client: ServiceClient,
}

impl PaymentsApi {
    /// Calls payments through `client`.
    pub fn new(client: ServiceClient) -> Self {
        Self { client }
    }

    /// Creates the payment of `order_id`. `method` is the order body's `payment` object,
    /// passed through unread. Repeating the call for the same order returns the same
    /// payment (the order id is the idempotency key).
    pub async fn create(
        &self,
        credentials: &HeaderMap,
        order_id: &str,
        amount: &Money,
        method: &Value,
    ) -> Result<CreatedPayment, PaymentsError> {
        let mut headers = forwarded(credentials);
        if let Ok(key) = http::HeaderValue::from_str(&format!("order-{order_id}")) {
            headers.insert("idempotency-key", key);
        }
        let body = json!({"order_id": order_id, "amount": amount, "method": method});
        let reply = self
            .client
            .send_json(Method::POST, "/api/v1/payments", headers, Some(&body))
            .await?;
        match reply.status {
            StatusCode::CREATED | StatusCode::OK => {
                let view: PaymentView = reply.json()?;
                Ok(CreatedPayment {
                    id: view.id,
                    brand: view.brand,
                    last4: view.last4,
                })
            }
            StatusCode::UNPROCESSABLE_ENTITY => {
                let problem: ProblemView = reply.json()?;
                Err(PaymentsError::Invalid(
                    problem
                        .errors
                        .into_iter()
                        .map(|e| FieldError::new(order_field(&e.field), e.message))
                        .collect(),
                ))
            }
            status => Err(refusal(status, &reply.body)),
        }
    }

    /// Refunds `amount` (none: everything not yet refunded) of `payment_id`.
    pub async fn refund(
        &self,
        credentials: &HeaderMap,
        payment_id: &str,
        amount: Option<&Money>,
        idempotency_key: Option<&str>,
    ) -> Result<ProcessedRefund, PaymentsError> {
        let mut headers = forwarded(credentials);
        if let Some(key) = idempotency_key.and_then(|k| http::HeaderValue::from_str(k).ok()) {
            headers.insert("idempotency-key", key);
        }
        let body = match amount {
            Some(amount) => json!({ "amount": amount }),
            None => json!({}),
        };
        let reply = self
            .client
            .send_json(
                Method::POST,
                &format!("/api/v1/payments/{payment_id}/refund"),
                headers,
                Some(&body),
            )
            .await?;
        if reply.status != StatusCode::OK {
            return Err(refusal(reply.status, &reply.body));
        }
        let view: RefundView = reply.json()?;
        Ok(ProcessedRefund {
            refund_id: view.refund_id,
            amount: view.amount,
            refunded_total: view.payment.refunded.amount,
            captured_total: view.payment.captured.amount,
        })
    }
}

/// Payments names fields of its `method` object; the order body calls it `payment`.
fn order_field(field: &str) -> String {
    match field.strip_prefix("method.") {
        Some(rest) => format!("payment.{rest}"),
        None if field == "method" => "payment".to_owned(),
        None => format!("payment.{field}"),
    }
}

fn refusal(status: StatusCode, body: &[u8]) -> PaymentsError {
    let detail = serde_json::from_slice::<ProblemView>(body)
        .map(|p| p.detail)
        .unwrap_or_default();
    PaymentsError::Refused(status, detail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payment_fields_are_named_as_the_order_body_names_them() {
        assert_eq!(order_field("method.card_number"), "payment.card_number");
        assert_eq!(order_field("method"), "payment");
        assert_eq!(order_field("amount"), "payment.amount");
    }

    #[test]
    fn only_credentials_and_tracing_headers_are_forwarded() {
        let mut headers = HeaderMap::new();
        headers.insert("authorization", http::HeaderValue::from_static("Bearer x"));
        headers.insert("cookie", http::HeaderValue::from_static("secret"));
        headers.insert("x-request-id", http::HeaderValue::from_static("r1"));
        let out = forwarded(&headers);
        assert!(out.contains_key("authorization") && out.contains_key("x-request-id"));
        assert!(!out.contains_key("cookie"));
    }
}
