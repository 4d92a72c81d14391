//! Cards tokenized in the browser by Stripe.js, read by the Stripe provider against
//! localstripe (at `VISCOUNT_TEST_STRIPE_URL`, started by `scripts/test`): a test
//! PaymentMethod (`pm_card_visa`), a token (`tok_...`) and the Card it holds
//! (`card_...`) become the card payments keeps and then authorize; unknown ones are
//! refused as unknown, not as an outage. Each of those prints a SKIPPED line and
//! passes when the variable is unset.
//!
//! localstripe cannot make a PaymentMethod of a token (`card[token]`, Stripe's way),
//! nor answer `resource_missing` or `token_already_used`: those are tested against
//! Stripe's documented answers, served by a small server in these tests.

mod support;

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Form, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use contracts::payments::{CardBrand, FailureReason};
use payments::domain::CardTokenRef;
use payments::provider::stripe::IntentStatus;
use payments::provider::{CardToken, PaymentProvider, StripeProvider, TokenRefusal};
use serde_json::json;
use support::stripe::{browser_token, error_answer, hold, key, localstripe, provider, usd};

fn token(raw: &str) -> CardTokenRef {
    CardTokenRef::try_from(raw).expect("token")
}

/// `card` read again by its own id (`what` names the read) is the same card.
async fn assert_reads_back(stripe: &StripeProvider, card: &CardToken, what: &str) {
    let again = stripe
        .card_from_token(&token(&card.token))
        .await
        .expect(what);
    assert_eq!(&again, card);
}

#[tokio::test]
async fn stripe_takes_no_card_numbers() {
    assert!(!provider("http://127.0.0.1:1", 10_000).takes_raw_cards());
}

#[tokio::test]
async fn a_test_payment_method_becomes_a_card_that_authorizes() {
    let Some((stripe, _)) = localstripe() else {
        return;
    };
    let card = stripe
        .card_from_token(&token("pm_card_visa"))
        .await
        .expect("pm_card_visa");
    // Stripe makes a PaymentMethod of its own of the test name: that id is kept.
    assert!(
        card.token.starts_with("pm_") && card.token != "pm_card_visa",
        "{}",
        card.token
    );
    assert_eq!(
        (
            card.brand,
            card.last4.as_str(),
            card.exp_month,
            card.exp_year
        ),
        (CardBrand::Visa, "4242", 12, 2030)
    );
    let auth = hold(&stripe, &card.token, &usd(1200), &key("authorize"))
        .await
        .expect("authorized");
    let state = stripe.payment_intent(auth.as_str()).await.expect("intent");
    assert_eq!(state.status, IntentStatus::RequiresCapture);
    assert_eq!(state.capturable, usd(1200));

    // A PaymentMethod id read back is the same card.
    assert_reads_back(&stripe, &card, "read back").await;
}

#[tokio::test]
async fn a_browser_token_and_its_card_authorize() {
    let Some((stripe, base)) = localstripe() else {
        return;
    };
    let made = browser_token(&base, "4242424242424242").await;
    let tok = made["id"].as_str().expect("token id");
    assert!(tok.starts_with("tok_"), "{made}");
    let card = stripe
        .card_from_token(&token(tok))
        .await
        .expect("token read");
    assert!(card.token.starts_with("card_"), "{}", card.token);
    assert_eq!(
        (
            card.brand,
            card.last4.as_str(),
            card.exp_month,
            card.exp_year
        ),
        (CardBrand::Visa, "4242", 11, 2031)
    );
    hold(&stripe, &card.token, &usd(700), &key("authorize"))
        .await
        .expect("authorized with the token's card");
    // The Card id itself is taken too (as Stripe's Payment Methods API takes one).
    assert_reads_back(&stripe, &card, "card read").await;
}

#[tokio::test]
async fn a_token_of_a_card_that_declines_reads_and_then_declines() {
    let Some((stripe, _)) = localstripe() else {
        return;
    };
    let card = stripe
        .card_from_token(&token("pm_card_chargeCustomerFail"))
        .await
        .expect("read");
    assert_eq!(card.last4, "0341");
    let decline = hold(&stripe, &card.token, &usd(900), &key("authorize"))
        .await
        .expect_err("declined");
    assert_eq!(decline.reason, FailureReason::Declined);
}

#[tokio::test]
async fn tokens_stripe_never_issued_are_unknown() {
    let Some((stripe, _)) = localstripe() else {
        return;
    };
    for name in [
        "pm_doesnotexist0000",
        "tok_doesnotexist0000",
        "card_doesnotexist0000",
        // Stripe's test token names are not localstripe's.
        "tok_visa",
        // Never sent: not an id of Stripe's, or one no path can carry.
        "sbx_tok_ok_visa_4242_122030_abc",
        "pm_../v1/charges",
        "pm_",
        "src_123",
    ] {
        let refusal = stripe.card_from_token(&token(name)).await;
        assert_eq!(refusal, Err(TokenRefusal::Unknown), "{name}");
    }
}

// ----------------------------------------------------------------------------------
// Stripe's documented answers, for what localstripe does not do.
// ----------------------------------------------------------------------------------

type Log = support::stripe::Log<HashMap<String, String>>;

fn error(status: StatusCode, kind: &str, code: &str) -> Response {
    error_answer(
        status,
        json!({"type": kind, "code": code, "message": "documented"}),
    )
}

fn method(id: &str) -> Response {
    axum::Json(json!({
        "id": id, "object": "payment_method", "type": "card",
        "card": {"brand": "mastercard", "last4": "4444", "exp_month": 8, "exp_year": 2032,
                 "funding": "credit", "country": "US"},
    }))
    .into_response()
}

async fn create_method(
    State(log): State<Log>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let token = form.get("card[token]").cloned().unwrap_or_default();
    if let Ok(mut log) = log.lock() {
        log.push(form);
    }
    match token.as_str() {
        "tok_mastercard" => method("pm_from_token"),
        "tok_used" => error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "token_already_used",
        ),
        "tok_declined" => error_answer(
            StatusCode::PAYMENT_REQUIRED,
            json!({"type": "card_error", "code": "card_declined",
                   "decline_code": "insufficient_funds"}),
        ),
        "tok_outage" => error(StatusCode::INTERNAL_SERVER_ERROR, "api_error", "api_error"),
        _ => error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "resource_missing",
        ),
    }
}

async fn retrieve_method(Path(id): Path<String>) -> Response {
    match id.as_str() {
        "pm_known" => method("pm_known"),
        "pm_garbled" => {
            axum::Json(json!({"id": "pm_garbled", "card": {"brand": "visa"}})).into_response()
        }
        _ => error(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            "resource_missing",
        ),
    }
}

async fn documented_stripe() -> (String, Log) {
    support::stripe::documented_stripe(
        Router::new()
            .route("/v1/payment_methods", post(create_method))
            .route("/v1/payment_methods/{id}", get(retrieve_method)),
    )
    .await
}

#[tokio::test]
async fn stripes_documented_answers_to_tokens_map_to_ours() {
    let (base, log) = documented_stripe().await;
    let stripe = provider(&base, 10_000);

    // A token becomes a PaymentMethod of its own, made with `card[token]`.
    let card = stripe
        .card_from_token(&token("tok_mastercard"))
        .await
        .expect("made");
    assert_eq!(
        (
            card.token.as_str(),
            card.brand,
            card.last4.as_str(),
            card.exp_month,
            card.exp_year
        ),
        ("pm_from_token", CardBrand::Mastercard, "4444", 8, 2032)
    );
    let sent = log
        .lock()
        .expect("log")
        .first()
        .cloned()
        .expect("a request");
    assert_eq!(sent.get("type").map(String::as_str), Some("card"));
    assert_eq!(
        sent.get("card[token]").map(String::as_str),
        Some("tok_mastercard")
    );

    let known = stripe
        .card_from_token(&token("pm_known"))
        .await
        .expect("known");
    assert_eq!(known.token, "pm_known");

    for unknown in ["pm_missing", "tok_used", "tok_missing"] {
        assert_eq!(
            stripe.card_from_token(&token(unknown)).await,
            Err(TokenRefusal::Unknown),
            "{unknown}"
        );
    }
    let reason = |refusal: Result<_, TokenRefusal>| match refusal {
        Err(TokenRefusal::Provider(decline)) => Some(decline.reason),
        _ => None,
    };
    assert_eq!(
        reason(stripe.card_from_token(&token("tok_declined")).await),
        Some(FailureReason::InsufficientFunds)
    );
    assert_eq!(
        reason(stripe.card_from_token(&token("tok_outage")).await),
        Some(FailureReason::ProviderError)
    );
    assert_eq!(
        reason(stripe.card_from_token(&token("pm_garbled")).await),
        Some(FailureReason::ProviderError),
        "a card without last four digits or expiry does not read"
    );
}
