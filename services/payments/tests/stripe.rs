//! The Stripe provider against a real Stripe-compatible server, localstripe (at
//! `VISCOUNT_TEST_STRIPE_URL`, started by `scripts/test`): authorize, capture, refund
//! in parts and void, with the amounts read back from the server; cards that decline
//! or need 3-D Secure; retried calls. Each of those prints a SKIPPED line and passes
//! when the variable is unset.
//!
//! What localstripe cannot answer — the decline codes other than `card_declined`
//! (insufficient funds, fraud, expired card), outages, timeouts, and whether the
//! idempotency keys sent are the ones derived from ours (it ignores them) — is tested
//! against Stripe's documented answers, served by a small server in these tests.

mod support;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use contracts::payments::FailureReason;
use payments::domain::{CardDetails, CardNumber, Cvc, Expiry};
use payments::provider::stripe::IntentStatus;
use payments::provider::{
    Answer, Call, CardToken, Lookup, Operation, PaymentProvider, ProviderRef, StripeProvider,
};
use serde_json::{Value, json};
use support::stripe::{
    SECRET_KEY, error_answer, hold, key, localstripe, localstripe_answer, provider, usd,
};

/// Card `number` (expiring 12/2030) as localstripe tokenized it.
async fn tokenized(stripe: &StripeProvider, number: &str) -> CardToken {
    let card = CardDetails {
        number: CardNumber::try_from(number).expect("number"),
        expiry: Expiry::stored(12, 2030).expect("expiry"),
        cvc: Cvc::try_from("123").expect("cvc"),
    };
    stripe.tokenize(&card).await.expect("tokenized")
}

/// An authorization of `amount` USD on a card localstripe approves.
async fn authorized(stripe: &StripeProvider, amount: i64) -> ProviderRef {
    let token = tokenized(stripe, "4242424242424242").await;
    hold(stripe, &token.token, &usd(amount), &key("authorize"))
        .await
        .expect("authorized")
}

/// What localstripe itself holds at `path`, read without the provider under test.
async fn raw(base: &str, path: &str) -> Value {
    localstripe_answer(reqwest::Client::new().get(format!("{base}{path}"))).await
}

/// The intent `auth` as localstripe itself holds it.
async fn raw_intent(base: &str, auth: &ProviderRef) -> Value {
    raw(base, &format!("/v1/payment_intents/{}", auth.as_str())).await
}

#[tokio::test]
async fn authorize_capture_and_refund_in_parts_as_localstripe_records_them() {
    let Some((stripe, base)) = localstripe() else {
        return;
    };
    let token = tokenized(&stripe, "4242424242424242").await;
    assert!(token.token.starts_with("pm_"), "{}", token.token);
    assert_eq!(
        (token.last4.as_str(), token.exp_month, token.exp_year),
        ("4242", 12, 2030)
    );

    let auth = hold(&stripe, &token.token, &usd(2500), &key("authorize"))
        .await
        .expect("authorized");
    let held = stripe.payment_intent(auth.as_str()).await.expect("intent");
    assert_eq!(held.status, IntentStatus::RequiresCapture);
    assert_eq!(
        (held.amount.clone(), held.capturable, held.captured),
        (usd(2500), usd(2500), usd(0))
    );
    let intent = raw_intent(&base, &auth).await;
    assert_eq!(intent["capture_method"], "manual");
    assert_eq!(intent["currency"], "usd", "lowercase at Stripe");
    assert_eq!(intent["payment_method"], token.token.as_str());

    let capture = stripe
        .capture(auth.as_str(), &usd(2500), &key("capture"))
        .await
        .expect("captured");
    assert!(
        capture.as_str().starts_with("ch_"),
        "the charge: {}",
        capture.as_str()
    );
    let captured = stripe.payment_intent(auth.as_str()).await.expect("intent");
    assert_eq!(captured.status, IntentStatus::Succeeded);
    assert_eq!((captured.captured, captured.refunded), (usd(2500), usd(0)));

    let partial = stripe
        .refund(auth.as_str(), &usd(1000), &key("refund"))
        .await
        .expect("refunded");
    assert!(partial.as_str().starts_with("re_"));
    let rest = stripe
        .refund(auth.as_str(), &usd(1500), &key("refund"))
        .await
        .expect("refunded");
    assert_ne!(partial, rest);

    let after = stripe.payment_intent(auth.as_str()).await.expect("intent");
    assert_eq!((after.captured, after.refunded), (usd(2500), usd(2500)));
    let charge = &raw_intent(&base, &auth).await["latest_charge"];
    assert_eq!(charge["id"], capture.as_str());
    assert_eq!(charge["amount_refunded"], 2500);
    assert_eq!(charge["refunded"], true);
    for (refund, amount) in [(&partial, 1000), (&rest, 1500)] {
        let refund = raw(&base, &format!("/v1/refunds/{}", refund.as_str())).await;
        assert_eq!(refund["amount"], amount);
        assert_eq!(refund["charge"], capture.as_str());
    }
}

#[tokio::test]
async fn a_voided_authorization_is_cancelled_and_can_no_longer_be_captured() {
    let Some((stripe, base)) = localstripe() else {
        return;
    };
    let auth = authorized(&stripe, 1200).await;
    let void = stripe
        .void(auth.as_str(), &key("void"))
        .await
        .expect("voided");
    assert_eq!(void, auth, "the cancelled intent");
    let state = stripe.payment_intent(auth.as_str()).await.expect("intent");
    assert_eq!(
        (state.status, state.capturable),
        (IntentStatus::Canceled, usd(0))
    );
    assert_eq!(raw_intent(&base, &auth).await["status"], "canceled");

    // A redelivered cancellation: localstripe refuses a second cancel (and keeps no
    // idempotency keys), the intent's state says it is done.
    assert_eq!(
        stripe.void(auth.as_str(), &key("void")).await,
        Ok(auth.clone())
    );
    let capture = stripe
        .capture(auth.as_str(), &usd(1200), &key("capture"))
        .await;
    assert_eq!(
        capture.map_err(|d| d.reason),
        Err(FailureReason::ProviderError)
    );
}

#[tokio::test]
async fn a_retried_capture_answers_from_the_intent_and_never_captures_twice() {
    let Some((stripe, _)) = localstripe() else {
        return;
    };
    let auth = authorized(&stripe, 3000).await;
    let capture_key = key("capture");
    let first = stripe
        .capture(auth.as_str(), &usd(3000), &capture_key)
        .await
        .expect("captured");
    let again = stripe
        .capture(auth.as_str(), &usd(3000), &capture_key)
        .await
        .expect("the same capture");
    assert_eq!(first, again);
    // Another amount than the one captured is not the same capture.
    let other = stripe
        .capture(auth.as_str(), &usd(2000), &key("capture"))
        .await;
    assert_eq!(
        other.map_err(|d| d.reason),
        Err(FailureReason::ProviderError)
    );
    let state = stripe.payment_intent(auth.as_str()).await.expect("intent");
    assert_eq!((state.captured, state.refunded), (usd(3000), usd(0)));
}

#[tokio::test]
async fn a_card_that_declines_its_charge_fails_as_declined() {
    let Some((stripe, _)) = localstripe() else {
        return;
    };
    // localstripe declines charges on this card only (4000000000000002 and the other
    // decline cards of Stripe's docs are refused only when attached to a customer).
    let token = tokenized(&stripe, "4000000000000341").await;
    let outcome = hold(&stripe, &token.token, &usd(900), &key("authorize")).await;
    let decline = outcome.expect_err("declined");
    assert_eq!(decline.reason, FailureReason::Declined);
    assert_eq!(decline.detail, "the card was declined");
}

#[tokio::test]
async fn a_card_that_needs_3_d_secure_waits_for_the_customer_then_holds_or_fails() {
    let Some((stripe, base)) = localstripe() else {
        return;
    };
    for success in [true, false] {
        let token = tokenized(&stripe, "4000002500003155").await;
        let ours = key("authorize");
        let intent = stripe
            .open(&token.token, None, &usd(1500), &ours)
            .await
            .expect("opened");
        let Answer::AwaitsCustomer { client_secret } = stripe
            .authorize(intent.as_str(), &ours)
            .await
            .expect("taken")
        else {
            panic!("a 3-D Secure card holds nothing before the customer authenticates");
        };
        assert!(
            client_secret.starts_with(intent.as_str()),
            "the intent's client secret"
        );
        let amount = usd(1500);
        let call = Call {
            operation: Operation::Authorize,
            intent: intent.as_str(),
            amount: &amount,
            key: &ours,
        };
        assert!(
            stripe.lookup(&call).await.is_err(),
            "still the customer's turn"
        );
        // The customer's browser authenticates (localstripe's stand-in for Stripe.js).
        let authenticated = localstripe_answer(
            reqwest::Client::new()
                .post(format!(
                    "{base}/v1/payment_intents/{}/_authenticate",
                    intent.as_str()
                ))
                .form(&[
                    ("client_secret", client_secret.as_str()),
                    ("success", if success { "true" } else { "false" }),
                ]),
        )
        .await;
        let looked_up = stripe.lookup(&call).await.expect("answered");
        if success {
            assert_eq!(
                authenticated["status"], "requires_capture",
                "{authenticated}"
            );
            assert_eq!(looked_up, Lookup::Made(intent.clone()));
        } else {
            assert!(
                matches!(&looked_up, Lookup::Refused(d) if d.reason == FailureReason::Declined),
                "{looked_up:?}"
            );
        }
    }
}

#[tokio::test]
async fn payments_refuse_references_that_are_not_stripe_intents() {
    let Some((stripe, _)) = localstripe() else {
        return;
    };
    for reference in ["sbx_auth_123", "pi_missing1234567", ""] {
        let outcome = stripe.capture(reference, &usd(100), &key("capture")).await;
        assert_eq!(
            outcome.map_err(|d| d.reason),
            Err(FailureReason::ProviderError),
            "{reference}"
        );
    }
}

#[tokio::test]
async fn an_unreachable_stripe_is_a_provider_error_not_a_decline() {
    // A port nothing listens on: bound, then released.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("port");
    let address = listener.local_addr().expect("address");
    drop(listener);
    let stripe = provider(&format!("http://{address}"), 2_000);
    let outcome = hold(&stripe, "pm_card_visa", &usd(100), "k").await;
    assert_eq!(
        outcome.map_err(|d| (d.reason, d.detail)),
        Err((
            FailureReason::ProviderError,
            "stripe could not be reached".to_owned()
        ))
    );
}

// ----------------------------------------------------------------------------------
// Stripe's documented answers, served by the tests (localstripe has none of these).
// ----------------------------------------------------------------------------------

/// One request the documented-answers server received.
#[derive(Debug, Clone)]
struct Received {
    path: String,
    authorization: String,
    version: String,
    idempotency_key: Option<String>,
    form: HashMap<String, String>,
}

type Log = support::stripe::Log<Received>;

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

fn record(log: &Log, path: String, headers: &HeaderMap, form: HashMap<String, String>) {
    log.lock().expect("log").push(Received {
        path,
        authorization: header(headers, "authorization").unwrap_or_default(),
        version: header(headers, "stripe-version").unwrap_or_default(),
        idempotency_key: header(headers, "idempotency-key"),
        form,
    });
}

/// A card error as Stripe's docs show it (`type: card_error`, HTTP 402).
fn card_error(code: &str, decline_code: Option<&str>, message: &str) -> Response {
    let mut error = json!({
        "type": "card_error",
        "code": code,
        "message": message,
        "doc_url": format!("https://stripe.com/docs/error-codes/{code}"),
        "payment_intent": {
            "id": "pi_doc", "object": "payment_intent", "status": "requires_payment_method",
        },
    });
    if let Some(decline_code) = decline_code {
        error["decline_code"] = json!(decline_code);
    }
    error_answer(StatusCode::PAYMENT_REQUIRED, error)
}

fn intent(id: &str, status: &str, amount: i64) -> Response {
    axum::Json(json!({
        "id": id, "object": "payment_intent", "status": status, "amount": amount,
        "currency": "usd", "capture_method": "manual", "latest_charge": "ch_doc",
        "amount_capturable": if status == "requires_capture" { amount } else { 0 },
        "amount_received": if status == "succeeded" { amount } else { 0 },
    }))
    .into_response()
}

/// An intent opened on one of the test PaymentMethods of Stripe's docs: named after
/// it (`pi_for_<method>`), so its confirmation answers as the docs say Stripe answers
/// one with that method. A method Stripe does not know is refused at once.
async fn create_intent(
    State(log): State<Log>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let method = form.get("payment_method").cloned().unwrap_or_default();
    let amount = form.get("amount").and_then(|a| a.parse().ok()).unwrap_or(0);
    record(&log, "/v1/payment_intents".to_owned(), &headers, form);
    if method == "pm_no_such_method" {
        return error_answer(
            StatusCode::BAD_REQUEST,
            json!({
                "type": "invalid_request_error", "code": "resource_missing",
                "param": "payment_method", "message": format!("No such PaymentMethod: '{method}'"),
            }),
        );
    }
    intent(&format!("pi_for_{method}"), "requires_confirmation", amount)
}

/// The confirmation of an intent `create_intent` opened, as Stripe's docs answer it
/// for the intent's test PaymentMethod.
async fn confirm_intent(
    State(log): State<Log>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    record(
        &log,
        format!("/v1/payment_intents/{id}/confirm"),
        &headers,
        form,
    );
    let method = id.strip_prefix("pi_for_").unwrap_or_default();
    match method {
        "pm_card_visa" => intent(&id, "requires_capture", 4200),
        "pm_card_visa_chargeDeclined" => card_error(
            "card_declined",
            Some("generic_decline"),
            "Your card was declined.",
        ),
        "pm_card_visa_chargeDeclinedInsufficientFunds" => card_error(
            "card_declined",
            Some("insufficient_funds"),
            "Your card has insufficient funds.",
        ),
        "pm_card_visa_chargeDeclinedFraudulent" => card_error(
            "card_declined",
            Some("fraudulent"),
            "Your card was declined.",
        ),
        "pm_card_visa_chargeDeclinedLostCard" => card_error(
            "card_declined",
            Some("lost_card"),
            "Your card was declined.",
        ),
        "pm_card_visa_chargeDeclinedExpiredCard" => {
            card_error("expired_card", None, "Your card has expired.")
        }
        "pm_card_visa_chargeDeclinedIncorrectCvc" => card_error(
            "incorrect_cvc",
            None,
            "Your card's security code is incorrect.",
        ),
        "pm_card_visa_chargeDeclinedProcessingError" => card_error(
            "processing_error",
            None,
            "An error occurred while processing your card. Try again in a little bit.",
        ),
        "pm_rate_limited" => error_answer(
            StatusCode::TOO_MANY_REQUESTS,
            json!({"type": "invalid_request_error", "code": "rate_limit",
                "message": "Too many requests hit the API too quickly."}),
        ),
        "pm_server_error" => error_answer(
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({"type": "api_error", "message": "An unknown error occurred"}),
        ),
        "pm_bad_key" => error_answer(
            StatusCode::UNAUTHORIZED,
            json!({"type": "invalid_request_error",
                "message": "Invalid API Key provided: sk_test_****uunt"}),
        ),
        "pm_hangs" => std::future::pending().await,
        _ => error_answer(
            StatusCode::BAD_REQUEST,
            json!({"type": "invalid_request_error", "code": "resource_missing",
                "message": format!("No such payment_intent: '{id}'")}),
        ),
    }
}

async fn capture_intent(
    State(log): State<Log>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let amount = form
        .get("amount_to_capture")
        .and_then(|a| a.parse().ok())
        .unwrap_or(0);
    record(
        &log,
        format!("/v1/payment_intents/{id}/capture"),
        &headers,
        form,
    );
    intent(&id, "succeeded", amount)
}

async fn cancel_intent(
    State(log): State<Log>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    record(
        &log,
        format!("/v1/payment_intents/{id}/cancel"),
        &headers,
        form,
    );
    intent(&id, "canceled", 0)
}

async fn create_refund(
    State(log): State<Log>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let amount: i64 = form.get("amount").and_then(|a| a.parse().ok()).unwrap_or(0);
    record(&log, "/v1/refunds".to_owned(), &headers, form);
    axum::Json(
        json!({"id": "re_doc", "object": "refund", "amount": amount, "status": "succeeded",
        "payment_intent": "pi_doc", "charge": "ch_doc", "currency": "usd"}),
    )
    .into_response()
}

/// The documented-answers server on a port of its own, and what it received.
async fn documented_stripe() -> (String, Log) {
    support::stripe::documented_stripe(
        Router::new()
            .route("/v1/payment_intents", post(create_intent))
            .route("/v1/payment_intents/{id}/confirm", post(confirm_intent))
            .route("/v1/payment_intents/{id}/capture", post(capture_intent))
            .route("/v1/payment_intents/{id}/cancel", post(cancel_intent))
            .route("/v1/refunds", post(create_refund)),
    )
    .await
}

#[tokio::test]
async fn stripes_documented_declines_and_outages_map_to_our_reasons() {
    use FailureReason::*;
    let (base, log) = documented_stripe().await;
    let stripe = provider(&base, 5_000);
    let cases = [
        (
            "pm_card_visa_chargeDeclined",
            Declined,
            "the card was declined",
        ),
        (
            "pm_card_visa_chargeDeclinedInsufficientFunds",
            InsufficientFunds,
            "the card has insufficient funds",
        ),
        (
            "pm_card_visa_chargeDeclinedFraudulent",
            Fraud,
            "the payment was blocked as fraudulent",
        ),
        (
            "pm_card_visa_chargeDeclinedLostCard",
            Fraud,
            "the payment was blocked as fraudulent",
        ),
        (
            "pm_card_visa_chargeDeclinedExpiredCard",
            ExpiredCard,
            "the card has expired",
        ),
        (
            "pm_card_visa_chargeDeclinedIncorrectCvc",
            Declined,
            "the card was declined (incorrect_cvc)",
        ),
        (
            "pm_card_visa_chargeDeclinedProcessingError",
            ProviderError,
            "the card's issuer could not be reached",
        ),
        ("pm_rate_limited", ProviderError, "stripe is unavailable"),
        ("pm_server_error", ProviderError, "stripe is unavailable"),
        (
            "pm_bad_key",
            ProviderError,
            "stripe refused the request (status 401)",
        ),
        (
            "pm_no_such_method",
            ProviderError,
            "stripe refused the request (resource_missing)",
        ),
    ];
    // Each method: its intent opened, then (but the unknown method) confirmed.
    for (method, reason, detail) in cases {
        let outcome = hold(&stripe, method, &usd(1000), &key("authorize")).await;
        assert_eq!(
            outcome.map_err(|d| (d.reason, d.detail)),
            Err((reason, detail.to_owned())),
            "{method}"
        );
    }
    assert!(hold(&stripe, "pm_card_visa", &usd(1000), "k").await.is_ok());
    assert_eq!(
        log.lock().expect("log").len(),
        2 * (cases.len() + 1) - 1,
        "one opening and one confirmation each, no retries"
    );
}

#[tokio::test]
async fn a_stripe_that_does_not_answer_in_time_is_a_provider_error() {
    let (base, _) = documented_stripe().await;
    let stripe = provider(&base, 300);
    let started = Instant::now();
    let outcome = hold(&stripe, "pm_hangs", &usd(1000), "k").await;
    assert_eq!(
        outcome.map_err(|d| (d.reason, d.detail)),
        Err((
            FailureReason::ProviderError,
            "stripe did not answer in time".to_owned()
        ))
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn every_call_that_moves_money_carries_a_key_derived_from_ours() {
    let (base, log) = documented_stripe().await;
    let stripe = provider(&base, 5_000);
    let intent = stripe
        .open("pm_card_visa", None, &usd(4200), "pay-1")
        .await
        .expect("opened");
    assert_eq!(intent.as_str(), "pi_for_pm_card_visa");
    let auth = stripe
        .authorize(intent.as_str(), "pay-1:authorize")
        .await
        .expect("authorized");
    assert_eq!(
        auth,
        Answer::Done(intent.clone()),
        "the intent is the authorization"
    );
    stripe
        .authorize(intent.as_str(), "pay-1:authorize")
        .await
        .expect("again");
    stripe
        .capture(intent.as_str(), &usd(4000), "pay-1:capture")
        .await
        .expect("captured");
    stripe
        .refund(intent.as_str(), &usd(1500), "refund-7")
        .await
        .expect("refunded");
    stripe
        .void(intent.as_str(), "pay-1:void")
        .await
        .expect("voided");

    let received = log.lock().expect("log").clone();
    let keys: Vec<_> = received
        .iter()
        .map(|r| r.idempotency_key.as_deref())
        .collect();
    assert_eq!(
        keys,
        [
            Some("viscount:open:pay-1"),
            Some("viscount:authorize:pay-1:authorize"),
            Some("viscount:authorize:pay-1:authorize"),
            Some("viscount:capture:pay-1:capture"),
            Some("viscount:refund:refund-7"),
            Some("viscount:void:pay-1:void"),
        ]
    );
    let paths: Vec<_> = received.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "/v1/payment_intents",
            "/v1/payment_intents/pi_for_pm_card_visa/confirm",
            "/v1/payment_intents/pi_for_pm_card_visa/confirm",
            "/v1/payment_intents/pi_for_pm_card_visa/capture",
            "/v1/refunds",
            "/v1/payment_intents/pi_for_pm_card_visa/cancel",
        ]
    );
    for r in &received {
        assert_eq!(
            r.authorization,
            format!("Bearer {SECRET_KEY}"),
            "{}",
            r.path
        );
        assert_eq!(r.version, "2024-06-20", "{}", r.path);
    }
    let form = |i: usize, field: &str| received[i].form.get(field).cloned();
    for (field, value) in [
        ("amount", "4200"),
        ("currency", "usd"),
        ("payment_method", "pm_card_visa"),
        ("capture_method", "manual"),
        ("confirm", "false"),
        ("payment_method_types[0]", "card"),
        ("metadata[viscount_idempotency_key]", "viscount:open:pay-1"),
    ] {
        assert_eq!(form(0, field).as_deref(), Some(value), "{field}");
    }
    assert!(
        received[1].form.is_empty(),
        "a confirmation sends nothing more"
    );
    assert_eq!(form(3, "amount_to_capture").as_deref(), Some("4000"));
    assert_eq!(
        form(4, "payment_intent").as_deref(),
        Some("pi_for_pm_card_visa")
    );
    assert_eq!(form(4, "amount").as_deref(), Some("1500"));
}
