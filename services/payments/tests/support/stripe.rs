//! The Stripe provider's tests' helpers: the provider on localstripe (at
//! `VISCOUNT_TEST_STRIPE_URL`) or on a given server, amounts and keys, requests to
//! localstripe made without the provider, and the small server that gives Stripe's
//! documented answers where localstripe has none.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use contracts::Money;
use payments::config::StripeConfig;
use payments::provider::{Answer, Decline, PaymentProvider, ProviderRef, StripeProvider};
use platform::config::Secret;
use serde_json::{Value, json};

/// The secret key the provider sends (localstripe takes any).
pub const SECRET_KEY: &str = "sk_test_viscount";

/// The provider on the server at `api_base`, waiting `timeout_ms` for an answer.
pub fn provider(api_base: &str, timeout_ms: u64) -> StripeProvider {
    StripeProvider::from_config(&StripeConfig {
        api_base: api_base.to_owned(),
        secret_key: Some(Secret::from(SECRET_KEY)),
        webhook_secret: None,
        timeout_ms,
    })
    .expect("provider")
}

/// The provider on localstripe, or `None` (and a SKIPPED line) without one.
pub fn localstripe() -> Option<(StripeProvider, String)> {
    let Ok(url) = std::env::var("VISCOUNT_TEST_STRIPE_URL") else {
        eprintln!("SKIPPED: VISCOUNT_TEST_STRIPE_URL not set");
        return None;
    };
    Some((provider(&url, 10_000), url))
}

pub fn usd(amount: i64) -> Money {
    Money {
        amount,
        currency: "USD".to_owned(),
    }
}

/// An authorization as payments makes one: an intent of `amount` opened on the
/// payment method `method`, then confirmed, both under `key`.
pub async fn hold(
    stripe: &StripeProvider,
    method: &str,
    amount: &Money,
    key: &str,
) -> Result<ProviderRef, Decline> {
    let intent = stripe.open(method, None, amount, key).await?;
    match stripe.authorize(intent.as_str(), key).await? {
        Answer::Done(reference) => Ok(reference),
        Answer::AwaitsCustomer { .. } => Err(Decline {
            reason: contracts::payments::FailureReason::Declined,
            detail: "the customer has to authenticate first".to_owned(),
        }),
    }
}

/// A key no other test (or earlier run against the same server) used.
pub fn key(name: &str) -> String {
    format!("{name}-{}", platform::ids::new_id())
}

/// What localstripe answers to `request`, sent with our secret key, without the
/// provider under test.
pub async fn localstripe_answer(request: reqwest::RequestBuilder) -> Value {
    request
        .bearer_auth(SECRET_KEY)
        .send()
        .await
        .expect("localstripe answers")
        .json()
        .await
        .expect("json")
}

/// A token made as Stripe.js makes one in the browser (`POST /v1/tokens`).
pub async fn browser_token(base: &str, number: &str) -> Value {
    localstripe_answer(
        reqwest::Client::new()
            .post(format!("{base}/v1/tokens"))
            .form(&[
                ("card[number]", number),
                ("card[exp_month]", "11"),
                ("card[exp_year]", "2031"),
                ("card[cvc]", "123"),
            ]),
    )
    .await
}

// ----------------------------------------------------------------------------------
// Stripe's documented answers, served by the tests.
// ----------------------------------------------------------------------------------

/// What a documented-answers server received, an entry a request.
pub type Log<T> = Arc<Mutex<Vec<T>>>;

/// An error as Stripe answers one: `error` under `"error"`, with `status`.
pub fn error_answer(status: StatusCode, error: Value) -> Response {
    (status, axum::Json(json!({ "error": error }))).into_response()
}

/// `routes` served as a documented-answers server on a port of its own, with a fresh
/// log: its base URL and that log.
pub async fn documented_stripe<T: Send + 'static>(routes: Router<Log<T>>) -> (String, Log<T>) {
    let log = Log::default();
    let router = routes.with_state(log.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, router).await });
    (format!("http://{address}"), log)
}
