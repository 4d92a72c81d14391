//! `POST /webhooks/stripe/payments`: Stripe's webhook deliveries to payments, taken as
//! raw bytes (the signature is over them) with the `Stripe-Signature` header, and
//! handed to the app (`app::notices`). No caller authenticates: the signature is the
//! proof. 200 for an event applied, repeated or of no concern; 401 for anything not
//! signed with the endpoint's secret within five minutes; 400 for a signed body that
//! is not an event; 404 when no signing secret is configured.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::HeaderMap;
use platform::http::Problem;
use platform::http::api::{ApiRouter, problems, routes};
use platform::webhook_signature::STRIPE_SIGNATURE_HEADER;
use serde::Serialize;
use utoipa::ToSchema;

use crate::app::{NoticeError, PaymentsApp};

/// The webhook route.
pub(super) fn api() -> ApiRouter<PaymentsApp> {
    ApiRouter::new().routes(routes!(stripe_payments))
}

/// What became of a delivery.
#[derive(Debug, Serialize, ToSchema)]
struct NoticeReceipt {
    /// `applied`: it changed the payment it names; `duplicate`: it was applied before;
    /// `ignored`: nothing to do (a type payments does not act on, a payment of
    /// another shop, nothing new).
    status: &'static str,
}

impl From<NoticeError> for Problem {
    fn from(err: NoticeError) -> Self {
        match err {
            NoticeError::NotConfigured => Problem::not_found("stripe webhook endpoint"),
            NoticeError::Signature(err) => Problem::unauthorized(err.to_string()),
            NoticeError::Unreadable(err) => Problem::bad_request(err.to_string()),
            NoticeError::Payments(err) => err.into(),
        }
    }
}

/// A Stripe event about a payment: a capture or a refund made in Stripe's dashboard,
/// the outcome of a customer's 3-D Secure authentication, a failure, or a dispute.
///
/// Subscribe the endpoint to `payment_intent.succeeded`,
/// `payment_intent.amount_capturable_updated`, `payment_intent.payment_failed`,
/// `charge.refunded` and `charge.dispute.created`; its signing secret is
/// `payments.stripe.webhook_secret`. Each event is applied once, however often Stripe
/// delivers it.
#[utoipa::path(
    post,
    path = "/webhooks/stripe/payments",
    params(
        ("Stripe-Signature" = String, Header,
            description = "`t=<unix time>,v1=<hex HMAC-SHA256 of t.body>` (several `v1` allowed); `t` within 5 minutes of now"),
    ),
    request_body(
        content = Object,
        content_type = "application/json",
        description = "Stripe's event exactly as it sent it: the signature is over these bytes.",
    ),
    responses(
        (status = 200, description = "Applied, a repeat, or of no concern", body = NoticeReceipt,
            example = json!({"status": "applied"})),
        problems::BadRequest, problems::Unauthorized, problems::NotFound, problems::Unavailable,
    ),
    security(()),
)]
async fn stripe_payments(
    State(app): State<PaymentsApp>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<NoticeReceipt>, Problem> {
    let body = body.map_err(|err| Problem::bad_request(err.body_text()))?;
    let signature = headers
        .get(STRIPE_SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok());
    let outcome = app.receive_stripe_notice(signature, &body).await?;
    Ok(Json(NoticeReceipt {
        status: outcome.as_str(),
    }))
}
