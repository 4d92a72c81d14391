//! Cards tokenized in the browser (issue 20, item 2), through the gateway in both
//! shapes: an order paid with the sandbox's test token `tok_visa` is confirmed, one
//! with a declining token is cancelled for the reason, a token together with a card
//! number is a 422, and a saved card can be made of a token. With the Stripe provider
//! pointed at localstripe (`VISCOUNT_TEST_STRIPE_URL`; those parts print a SKIPPED
//! line and pass without it) an order paid with `pm_card_visa` is confirmed and
//! captured end to end, and raw card fields are refused naming `payment.card_number`;
//! a saved card is attached to the buyer's Customer there, pays two orders naming that
//! Customer, and is detached when the buyer deletes it.

use serde_json::{Value, json};
use viscount_tests::localstripe::{at_stripe, ledger_ref, spawn_with_stripe};
use viscount_tests::shop::*;
use viscount_tests::{
    Shape, TestApp, TestUser, assert_problem, error_fields, in_both_shapes, spawn_app_with_vars,
};

in_both_shapes!(
    sandbox_tokens_pay_like_their_test_cards,
    a_token_and_a_card_number_together_are_refused,
    a_saved_card_is_made_of_a_token,
    with_stripe_a_token_order_is_confirmed_and_card_numbers_are_refused,
    with_stripe_a_saved_card_pays_twice_as_the_buyers_customer,
    with_stripe_a_decline_cancels_and_a_refund_goes_in_parts,
);

/// An order body for one `sku` paid with the provider's `token`.
fn token_order(sku: &str, token: &str) -> Value {
    json!({"items": [{"sku": sku, "quantity": 1}], "shipping_address": address(),
           "payment": {"method": "card", "token": token}})
}

/// A new user `name`, with `units` of `sku` (at `cents` each) stocked for them to buy.
async fn buyer_of(app: &TestApp, name: &str, sku: &str, cents: i64, units: i64) -> TestUser {
    let admin = app.admin().await;
    stocked(app, &admin, sku, cents, units).await;
    app.user(name).await
}

/// `buyer` saves a card described by `body`.
async fn save_card(app: &TestApp, buyer: &TestUser, body: &Value) -> reqwest::Response {
    app.post("/api/v1/payment-methods", Some(&buyer.access), body)
        .await
}

/// `buyer` orders one `sku` paid with `token` (of a card ending in 4242): the order
/// is confirmed and its payment captured (`what` names the wait for it).
async fn assert_token_order_captured(
    app: &TestApp,
    buyer: &TestUser,
    sku: &str,
    token: &str,
    what: &str,
) {
    let placed = json_of(order(app, buyer, &token_order(sku, token)).await).await;
    assert_eq!(placed["status"], "confirmed", "{placed}");
    assert_eq!(placed["payment"]["last4"], "4242", "{placed}");
    let payment_id = placed["payment_id"].as_str().expect("payment id");
    until(
        app,
        &buyer.access,
        &format!("/api/v1/payments/{payment_id}"),
        what,
        |p| p["status"] == "captured",
    )
    .await;
}

async fn sandbox_tokens_pay_like_their_test_cards(shape: Shape) {
    let Some(app) = spawn_app_with_vars(shape, &[]).await else {
        return;
    };
    let buyer = buyer_of(&app, "tokens", "TOK-1", 1500, 10).await;
    assert_token_order_captured(&app, &buyer, "TOK-1", "tok_visa", "captured").await;

    for (token, reason) in [
        ("tok_chargeDeclined", "declined"),
        (
            "pm_card_visa_chargeDeclinedInsufficientFunds",
            "insufficient",
        ),
    ] {
        let placed = json_of(order(&app, &buyer, &token_order("TOK-1", token)).await).await;
        assert_eq!(placed["status"], "cancelled", "{token}: {placed}");
        let why = placed["cancel_reason"]
            .as_str()
            .unwrap_or("")
            .to_lowercase();
        assert!(
            why.contains(reason),
            "{token} is cancelled for {reason}: {why}"
        );
    }

    let unknown = order(&app, &buyer, &token_order("TOK-1", "tok_nosuchcard")).await;
    let problem = assert_problem(unknown, 422).await;
    assert_eq!(error_fields(&problem), ["payment.token"], "{problem}");
    let spaced = order(&app, &buyer, &token_order("TOK-1", "tok visa")).await;
    let problem = assert_problem(spaced, 422).await;
    assert_eq!(error_fields(&problem), ["payment.token"], "{problem}");

    // The sandbox keeps taking card numbers.
    let placed = json_of(order(&app, &buyer, &items_order("TOK-1", 1, APPROVE)).await).await;
    assert_eq!(placed["status"], "confirmed", "{placed}");
}

async fn a_token_and_a_card_number_together_are_refused(shape: Shape) {
    let Some(app) = spawn_app_with_vars(shape, &[]).await else {
        return;
    };
    let buyer = buyer_of(&app, "both", "TOK-2", 900, 3).await;
    let mut body = items_order("TOK-2", 1, APPROVE);
    body["payment"]["token"] = json!("tok_visa");
    let problem = assert_problem(order(&app, &buyer, &body).await, 422).await;
    let fields = error_fields(&problem);
    assert!(fields.contains(&"payment.token".to_owned()), "{problem}");
    let orders = json_of(app.get("/api/v1/orders", Some(&buyer.access)).await).await;
    assert_eq!(
        orders["items"].as_array().map(Vec::len),
        Some(0),
        "{orders}"
    );
}

async fn a_saved_card_is_made_of_a_token(shape: Shape) {
    let Some(app) = spawn_app_with_vars(shape, &[]).await else {
        return;
    };
    let buyer = buyer_of(&app, "saver", "TOK-3", 800, 3).await;
    let saved = save_card(&app, &buyer, &json!({"token": "tok_mastercard"})).await;
    assert_eq!(saved.status(), 201);
    let saved = json_of(saved).await;
    assert_eq!(
        (&saved["brand"], &saved["last4"]),
        (&json!("mastercard"), &json!("4444")),
        "{saved}"
    );
    let id = saved["id"].as_str().expect("id");
    let body = json!({"items": [{"sku": "TOK-3", "quantity": 1}], "shipping_address": address(),
                      "payment": {"method": "saved", "payment_method_id": id}});
    let placed = json_of(order(&app, &buyer, &body).await).await;
    assert_eq!(placed["status"], "confirmed", "{placed}");

    let unknown = save_card(&app, &buyer, &json!({"token": "pm_nosuchcard"})).await;
    let problem = assert_problem(unknown, 422).await;
    assert_eq!(error_fields(&problem), ["token"], "{problem}");
}

async fn with_stripe_a_token_order_is_confirmed_and_card_numbers_are_refused(shape: Shape) {
    let Some((app, _)) = spawn_with_stripe(shape, &[]).await else {
        return;
    };
    let buyer = buyer_of(&app, "stripe", "STRIPE-1", 2500, 5).await;
    assert_token_order_captured(
        &app,
        &buyer,
        "STRIPE-1",
        "pm_card_visa",
        "captured at stripe",
    )
    .await;

    let raw = order(&app, &buyer, &items_order("STRIPE-1", 1, APPROVE)).await;
    let problem = assert_problem(raw, 422).await;
    assert_eq!(error_fields(&problem), ["payment.card_number"], "{problem}");
    let text = problem.to_string();
    assert!(
        text.contains("Stripe.js") && text.contains("token"),
        "{problem}"
    );
    assert!(!text.contains(APPROVE), "the number is echoed: {problem}");

    let raw_save = save_card(
        &app,
        &buyer,
        &json!({"card_number": APPROVE, "exp_month": 12, "exp_year": 2099, "cvc": "123"}),
    )
    .await;
    let problem = assert_problem(raw_save, 422).await;
    assert_eq!(error_fields(&problem), ["card_number"], "{problem}");
    let saved = save_card(&app, &buyer, &json!({"token": "pm_card_visa"})).await;
    assert_eq!(saved.status(), 201);
    let saved = json_of(saved).await;
    assert_eq!(saved["last4"], "4242", "{saved}");
}

async fn with_stripe_a_saved_card_pays_twice_as_the_buyers_customer(shape: Shape) {
    let Some((app, stripe)) = spawn_with_stripe(shape, &[]).await else {
        return;
    };
    let buyer = buyer_of(&app, "regular", "STRIPE-2", 1800, 5).await;
    let saved = save_card(&app, &buyer, &json!({"token": "pm_card_visa"})).await;
    assert_eq!(saved.status(), 201);
    let saved = json_of(saved).await;
    assert_eq!(
        (&saved["brand"], &saved["last4"]),
        (&json!("visa"), &json!("4242"))
    );
    let id = saved["id"].as_str().expect("id");
    // A second card (Stripe makes a new PaymentMethod of each use of the test id).
    let second = json_of(save_card(&app, &buyer, &json!({"token": "pm_card_visa"})).await).await;
    assert_ne!(second["id"], saved["id"], "{second}");

    let admin = app.admin().await;
    let mut customers = Vec::new();
    let mut methods = Vec::new();
    for _ in 0..2 {
        let body = json!({"items": [{"sku": "STRIPE-2", "quantity": 1}], "shipping_address": address(),
                          "payment": {"method": "saved", "payment_method_id": id}});
        let placed = json_of(order(&app, &buyer, &body).await).await;
        assert_eq!(placed["status"], "confirmed", "{placed}");
        let payment_id = placed["payment_id"].as_str().expect("payment id");
        until(
            &app,
            &buyer.access,
            &format!("/api/v1/payments/{payment_id}"),
            "captured",
            |p| p["status"] == "captured",
        )
        .await;
        let intent = ledger_ref(&app, &admin.access, payment_id, "authorize").await;
        let intent = at_stripe(&stripe, &format!("/v1/payment_intents/{intent}")).await;
        assert_eq!(intent["status"], "succeeded", "{intent}");
        assert_eq!(intent["latest_charge"]["amount"], 1800, "{intent}");
        customers.push(
            intent["customer"]
                .as_str()
                .expect("the intent names a customer")
                .to_owned(),
        );
        methods.push(
            intent["payment_method"]
                .as_str()
                .expect("a payment method")
                .to_owned(),
        );
    }
    assert_eq!(customers[0], customers[1], "one customer per buyer");
    assert_eq!(methods[0], methods[1], "the saved card");
    let customer = at_stripe(&stripe, &format!("/v1/customers/{}", customers[0])).await;
    assert_eq!(
        customer["metadata"]["viscount_user_id"],
        buyer.id.as_str(),
        "{customer}"
    );
    let method = at_stripe(&stripe, &format!("/v1/payment_methods/{}", methods[0])).await;
    assert_eq!(method["customer"], customers[0].as_str(), "{method}");
    let listed = at_stripe(
        &stripe,
        &format!("/v1/payment_methods?customer={}&type=card", customers[0]),
    )
    .await;
    assert_eq!(
        listed["data"].as_array().map(Vec::len),
        Some(2),
        "both saved cards: {listed}"
    );

    // Another buyer is another customer.
    let other = app.user("other").await;
    json_of(save_card(&app, &other, &json!({"token": "pm_card_visa"})).await).await;
    let listed = at_stripe(
        &stripe,
        &format!("/v1/payment_methods?customer={}&type=card", customers[0]),
    )
    .await;
    assert_eq!(listed["data"].as_array().map(Vec::len), Some(2), "{listed}");

    let deleted = app
        .delete(&format!("/api/v1/payment-methods/{id}"), &buyer.access)
        .await;
    assert_eq!(deleted.status(), 204);
    let method = at_stripe(&stripe, &format!("/v1/payment_methods/{}", methods[0])).await;
    assert!(method["customer"].is_null(), "detached: {method}");
}

async fn with_stripe_a_decline_cancels_and_a_refund_goes_in_parts(shape: Shape) {
    let Some((app, stripe)) = spawn_with_stripe(shape, &[]).await else {
        return;
    };
    let buyer = buyer_of(&app, "decliner", "STRIPE-3", 3000, 5).await;
    let declined = json_of(
        order(
            &app,
            &buyer,
            &token_order("STRIPE-3", "pm_card_chargeCustomerFail"),
        )
        .await,
    )
    .await;
    assert_eq!(declined["status"], "cancelled", "{declined}");
    let why = declined["cancel_reason"]
        .as_str()
        .unwrap_or("")
        .to_lowercase();
    assert!(why.contains("declined"), "cancelled for the decline: {why}");

    let admin = app.admin().await;
    let placed = json_of(order(&app, &buyer, &token_order("STRIPE-3", "pm_card_visa")).await).await;
    assert_eq!(placed["status"], "confirmed", "{placed}");
    let order_id = placed["id"].as_str().expect("order id");
    let payment_id = placed["payment_id"].as_str().expect("payment id");
    let payment = format!("/api/v1/payments/{payment_id}");
    until(&app, &admin.access, &payment, "captured", |p| {
        p["status"] == "captured"
    })
    .await;
    let refund = |body: Value| {
        let (app, admin) = (&app, &admin);
        async move {
            app.post(
                &format!("/api/v1/orders/{order_id}/refund"),
                Some(&admin.access),
                &body,
            )
            .await
        }
    };
    assert_eq!(
        refund(json!({"amount": {"amount": 1000, "currency": "USD"}}))
            .await
            .status(),
        200
    );
    assert_eq!(refund(json!({})).await.status(), 200);
    until(&app, &admin.access, &payment, "refunded in full", |p| {
        p["status"] == "refunded"
    })
    .await;
    let intent = ledger_ref(&app, &admin.access, payment_id, "authorize").await;
    let charge =
        &at_stripe(&stripe, &format!("/v1/payment_intents/{intent}")).await["latest_charge"];
    assert_eq!(
        (&charge["amount_refunded"], &charge["refunded"]),
        (&json!(3000), &json!(true)),
        "{charge}"
    );
}
