//! [`PaymentsPort`] over payments' public HTTP API, through
//! `platform::client::ServiceClient` (payments' router in this process, or its
//! instances over HTTP).
//!
//! Placing an order creates its payment (`POST /api/v1/payments`, the order id as the
//! idempotency key): the card details go straight through to payments, which tokenizes
//! them, so they never touch ordering's database, outbox or logs. Refunding an order
//! asks payments to refund (`POST /api/v1/payments/{id}/refund`), the authority on what
//! was captured. Answers are read as the `contracts::payments` types payments renders.

use async_trait::async_trait;
use contracts::payments::{PaymentView, RefundOutcome};
use http::{Method, StatusCode};
use platform::auth::ForwardedCredentials;
use platform::client::{CallError, Reply, ServiceClient};
use serde::Deserialize;
use serde_json::json;

use crate::domain::{
    CreatedPayment, Money, NextAction, PaymentFieldError, PaymentMethod, PaymentsError,
    PaymentsPort, ProcessedRefund, Refusal,
};

/// Payments' API, in this process or remote.
#[derive(Clone)]
pub struct HttpPayments {
    client: ServiceClient,
}

impl HttpPayments {
    /// Calls payments through `client`.
    pub fn new(client: ServiceClient) -> Self {
        Self { client }
    }

    async fn post(
        &self,
        path: &str,
        credentials: &ForwardedCredentials,
        idempotency_key: Option<&str>,
        body: &serde_json::Value,
    ) -> Result<Reply, PaymentsError> {
        self.client
            .send_json(Method::POST, path, credentials, idempotency_key, Some(body))
            .await
            .map_err(unavailable)
    }
}

#[async_trait]
impl PaymentsPort for HttpPayments {
    async fn create_payment(
        &self,
        credentials: &ForwardedCredentials,
        order_id: &str,
        amount: &Money,
        method: &PaymentMethod,
        shipping_country: &str,
    ) -> Result<CreatedPayment, PaymentsError> {
        let key = format!("order-{order_id}");
        let body = json!({
            "order_id": order_id,
            "amount": amount,
            "method": method.as_json(),
            "shipping_country": shipping_country,
        });
        let reply = self
            .post("/api/v1/payments", credentials, Some(&key), &body)
            .await?;
        match reply.status {
            StatusCode::CREATED | StatusCode::OK => {
                let view: PaymentView = reply.json().map_err(unavailable)?;
                Ok(CreatedPayment {
                    id: view.id,
                    brand: Some(view.brand.as_str().to_owned()),
                    last4: Some(view.last4),
                })
            }
            StatusCode::UNPROCESSABLE_ENTITY => {
                let problem: ProblemView = reply.json().map_err(unavailable)?;
                Err(PaymentsError::Invalid(
                    problem
                        .errors
                        .into_iter()
                        .map(|e| PaymentFieldError {
                            field: order_field(&e.field),
                            message: e.message,
                        })
                        .collect(),
                ))
            }
            status => Err(refusal(status, &reply.body)),
        }
    }

    async fn next_action(
        &self,
        credentials: &ForwardedCredentials,
        payment_id: &str,
    ) -> Result<Option<NextAction>, PaymentsError> {
        let path = format!("/api/v1/payments/{payment_id}");
        let reply = self
            .client
            .send_json::<serde_json::Value>(Method::GET, &path, credentials, None, None)
            .await
            .map_err(unavailable)?;
        if reply.status != StatusCode::OK {
            return Err(refusal(reply.status, &reply.body));
        }
        let view: PaymentView = reply.json().map_err(unavailable)?;
        Ok(view.next_action)
    }

    async fn refund(
        &self,
        credentials: &ForwardedCredentials,
        payment_id: &str,
        amount: Option<&Money>,
        idempotency_key: Option<&str>,
    ) -> Result<ProcessedRefund, PaymentsError> {
        let body = match amount {
            Some(amount) => json!({ "amount": amount }),
            None => json!({}),
        };
        let path = format!("/api/v1/payments/{payment_id}/refund");
        let reply = self
            .post(&path, credentials, idempotency_key, &body)
            .await?;
        if reply.status != StatusCode::OK {
            return Err(refusal(reply.status, &reply.body));
        }
        let outcome: RefundOutcome = reply.json().map_err(unavailable)?;
        Ok(ProcessedRefund {
            refund_id: outcome.refund_id,
            amount: outcome.amount,
            refunded_total: outcome.payment.refunded.amount,
            captured_total: outcome.payment.captured.amount,
        })
    }
}

/// Payments' problem body: what ordering passes on of it.
#[derive(Deserialize)]
struct ProblemView {
    #[serde(default)]
    detail: String,
    #[serde(default)]
    errors: Vec<ProblemField>,
}

#[derive(Deserialize)]
struct ProblemField {
    field: String,
    message: String,
}

fn unavailable(err: CallError) -> PaymentsError {
    PaymentsError::Unavailable(err.to_string())
}

/// Payments names fields of its `method` object; the order body calls it `payment`.
fn order_field(field: &str) -> String {
    match field.strip_prefix("method.") {
        Some(rest) => format!("payment.{rest}"),
        None if field == "method" => "payment".to_owned(),
        None => format!("payment.{field}"),
    }
}

/// A refusal from payments' status and problem `detail`.
fn refusal(status: StatusCode, body: &[u8]) -> PaymentsError {
    let detail = serde_json::from_slice::<ProblemView>(body)
        .map(|p| p.detail)
        .unwrap_or_default();
    let refusal = match status {
        StatusCode::BAD_REQUEST => Refusal::BadRequest,
        StatusCode::UNPROCESSABLE_ENTITY => Refusal::Unprocessable,
        StatusCode::CONFLICT => Refusal::Conflict,
        StatusCode::NOT_FOUND => Refusal::NotFound,
        StatusCode::FORBIDDEN => Refusal::Forbidden,
        other => Refusal::Failed(other.as_u16()),
    };
    PaymentsError::Refused { refusal, detail }
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
    fn refusals_keep_payments_detail_and_kind() {
        let body = br#"{"type":"x","title":"t","status":409,"detail":"already refunded"}"#;
        assert_eq!(
            refusal(StatusCode::CONFLICT, body),
            PaymentsError::Refused {
                refusal: Refusal::Conflict,
                detail: "already refunded".into()
            }
        );
        assert_eq!(
            refusal(StatusCode::BAD_GATEWAY, b"not json"),
            PaymentsError::Refused {
                refusal: Refusal::Failed(502),
                detail: String::new()
            }
        );
    }
}
