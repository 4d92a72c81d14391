//! Saved cards at Stripe (issue 20, item 2): a card is attached to the user's
//! Customer, and the intents it pays name that Customer. Against localstripe (at
//! `VISCOUNT_TEST_STRIPE_URL`; those tests print a SKIPPED line and pass without it): a
//! test PaymentMethod and a browser token are attached, pay twice under the Customer
//! and are detached; a card its issuer declines is refused when it is saved.
//!
//! localstripe cannot make a PaymentMethod of a token (Stripe's way, then attaching
//! it), nor tell an idempotency key: those are tested against Stripe's documented
//! answers, served by a small server in these tests.

mod support;

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Form, Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use contracts::payments::{CardBrand, FailureReason};
use payments::domain::CardTokenRef;
use payments::provider::{CardToken, PaymentProvider, StripeProvider, TokenRefusal};
use serde_json::{Value, json};
use support::stripe::{browser_token, key, localstripe, localstripe_answer, provider, usd};

fn token(raw: &str) -> CardTokenRef {
    CardTokenRef::try_from(raw).expect("token")
}

/// What localstripe itself holds at `path`, read without the provider under test.
async fn raw(base: &str, path: &str) -> Value {
    localstripe_answer(reqwest::Client::new().get(format!("{base}{path}"))).await
}

/// Two payments of the saved `card` of `customer`, each opened naming the customer,
/// authorized and captured: localstripe's intents name the customer and the card.
async fn assert_pays_twice(stripe: &StripeProvider, base: &str, card: &CardToken, customer: &str) {
    for amount in [1100, 2300] {
        let ours = key("pay");
        let intent = stripe
            .open(&card.token, Some(customer), &usd(amount), &ours)
            .await
            .expect("opened");
        stripe
            .authorize(intent.as_str(), &ours)
            .await
            .expect("authorized");
        stripe
            .capture(intent.as_str(), &usd(amount), &ours)
            .await
            .expect("captured");
        let at_stripe = raw(base, &format!("/v1/payment_intents/{}", intent.as_str())).await;
        assert_eq!(at_stripe["customer"], customer, "{at_stripe}");
        assert_eq!(
            at_stripe["payment_method"],
            card.token.as_str(),
            "{at_stripe}"
        );
        assert_eq!(at_stripe["status"], "succeeded", "{at_stripe}");
        let charge = &at_stripe["latest_charge"];
        assert_eq!(
            (&charge["amount"], &charge["captured"], &charge["customer"]),
            (&json!(amount), &json!(true), &json!(customer)),
            "{at_stripe}"
        );
    }
}

#[tokio::test]
async fn a_saved_payment_method_is_the_customers_and_pays_twice() {
    let Some((stripe, base)) = localstripe() else {
        return;
    };
    let owner = platform::ids::new_id();
    let customer = stripe.new_customer(&owner).await.expect("customer");
    assert!(customer.starts_with("cus_"), "{customer}");
    let at_stripe = raw(&base, &format!("/v1/customers/{customer}")).await;
    assert_eq!(at_stripe["metadata"]["viscount_user_id"], owner.as_str());
    assert!(
        at_stripe["email"].is_null() && at_stripe["name"].is_null(),
        "no personal data at the provider: {at_stripe}"
    );

    let card = stripe
        .attach(&token("pm_card_visa"), &customer)
        .await
        .expect("attached");
    assert!(
        card.token.starts_with("pm_") && card.token != "pm_card_visa",
        "Stripe's own PaymentMethod of the test id is kept: {}",
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
    let method = raw(&base, &format!("/v1/payment_methods/{}", card.token)).await;
    assert_eq!(method["customer"], customer.as_str(), "{method}");

    assert_pays_twice(&stripe, &base, &card, &customer).await;

    stripe
        .detach(&card.token, &customer)
        .await
        .expect("detached");
    let method = raw(&base, &format!("/v1/payment_methods/{}", card.token)).await;
    assert!(method["customer"].is_null(), "{method}");
}

#[tokio::test]
async fn a_browser_token_is_kept_as_the_customers_card_and_pays_twice() {
    let Some((stripe, base)) = localstripe() else {
        return;
    };
    let customer = stripe
        .new_customer(&platform::ids::new_id())
        .await
        .expect("customer");
    let made = browser_token(&base, "5555555555554444").await;
    let tok = made["id"].as_str().expect("token id");
    let card = stripe
        .attach(&token(tok), &customer)
        .await
        .expect("attached");
    assert!(card.token.starts_with("card_"), "{}", card.token);
    assert_eq!(
        (card.last4.as_str(), card.exp_month, card.exp_year),
        ("4444", 11, 2031)
    );
    let sources = raw(&base, &format!("/v1/customers/{customer}/sources")).await;
    let ids: Vec<&str> = sources["data"]
        .as_array()
        .expect("sources")
        .iter()
        .filter_map(|s| s["id"].as_str())
        .collect();
    assert_eq!(ids, [card.token.as_str()], "{sources}");

    assert_pays_twice(&stripe, &base, &card, &customer).await;

    stripe
        .detach(&card.token, &customer)
        .await
        .expect("detached");
    let sources = raw(&base, &format!("/v1/customers/{customer}/sources")).await;
    assert_eq!(sources["data"], json!([]), "{sources}");
    stripe
        .detach(&card.token, &customer)
        .await
        .expect("detaching what is gone is done");
}

#[tokio::test]
async fn a_card_its_issuer_declines_is_not_saved() {
    let Some((stripe, _)) = localstripe() else {
        return;
    };
    let customer = stripe
        .new_customer(&platform::ids::new_id())
        .await
        .expect("customer");
    match stripe
        .attach(&token("pm_card_visa_chargeDeclined"), &customer)
        .await
    {
        Err(TokenRefusal::Provider(decline)) => {
            assert_eq!(decline.reason, FailureReason::Declined, "{decline}");
        }
        other => panic!("a declining card is refused: {other:?}"),
    }
    for unknown in [
        "pm_doesnotexist0000",
        "card_doesnotexist0000",
        "tok_nosuch0000",
    ] {
        assert!(
            matches!(
                stripe.attach(&token(unknown), &customer).await,
                Err(TokenRefusal::Unknown)
            ),
            "{unknown}"
        );
    }
}

// ----------------------------------------------------------------------------------
// Stripe's documented answers, for what localstripe does not do.
// ----------------------------------------------------------------------------------

/// A request received: its path, its Idempotency-Key and its form.
type Log = support::stripe::Log<(String, Option<String>, HashMap<String, String>)>;

fn record(log: &Log, path: String, headers: &HeaderMap, form: HashMap<String, String>) {
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    log.lock().expect("log").push((path, key, form));
}

async fn create_customer(
    State(log): State<Log>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    record(&log, "/v1/customers".to_owned(), &headers, form);
    axum::Json(json!({"id": "cus_documented", "object": "customer"})).into_response()
}

async fn create_method(
    State(log): State<Log>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    record(&log, "/v1/payment_methods".to_owned(), &headers, form);
    axum::Json(json!({"id": "pm_from_token", "object": "payment_method", "customer": null,
                      "card": {"brand": "visa", "last4": "4242", "exp_month": 3, "exp_year": 2033}}))
    .into_response()
}

async fn attach_method(
    State(log): State<Log>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let customer = form.get("customer").cloned().unwrap_or_default();
    record(
        &log,
        format!("/v1/payment_methods/{id}/attach"),
        &headers,
        form,
    );
    axum::Json(json!({"id": id, "object": "payment_method", "customer": customer,
                      "card": {"brand": "visa", "last4": "4242", "exp_month": 3, "exp_year": 2033}}))
    .into_response()
}

#[tokio::test]
async fn with_stripe_a_token_is_made_a_payment_method_then_attached() {
    let (base, log) = support::stripe::documented_stripe(
        Router::new()
            .route("/v1/customers", post(create_customer))
            .route("/v1/payment_methods", post(create_method))
            .route("/v1/payment_methods/{id}/attach", post(attach_method)),
    )
    .await;
    let stripe = provider(&base, 10_000);
    let customer = stripe.new_customer("user-7").await.expect("customer");
    assert_eq!(customer, "cus_documented");
    let card = stripe
        .attach(&token("tok_visa"), &customer)
        .await
        .expect("attached");
    assert_eq!(card.token, "pm_from_token");

    let sent = log.lock().expect("log").clone();
    let paths: Vec<&str> = sent.iter().map(|(path, _, _)| path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "/v1/customers",
            "/v1/payment_methods",
            "/v1/payment_methods/pm_from_token/attach"
        ]
    );
    let (_, customer_key, customer_form) = &sent[0];
    assert_eq!(
        customer_key.as_deref(),
        Some("viscount:customer:user-7"),
        "a retried first save makes one customer"
    );
    assert_eq!(
        customer_form
            .get("metadata[viscount_user_id]")
            .map(String::as_str),
        Some("user-7")
    );
    assert_eq!(
        sent[1].2.get("card[token]").map(String::as_str),
        Some("tok_visa")
    );
    assert_eq!(
        sent[2].2.get("customer").map(String::as_str),
        Some("cus_documented")
    );
}
