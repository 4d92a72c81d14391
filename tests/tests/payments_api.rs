//! API.md's Payments table through the gateway, in both shapes: creating payments with
//! an Idempotency-Key, card validation naming fields, ownership (BOLA), saved cards,
//! the admin-only ledger, the saga's events driving authorize / capture / void / refund,
//! refunds racing each other, and a card number that never reaches the database.

use std::time::Duration;

use contracts::Money;
use contracts::ordering::{OrderCancelled, OrderConfirmed, OrderReserved};
use platform::bus::{Envelope, EventHandler};
use platform::db::Dialect;
use platform::service::{Service, ServiceKind};
use serde_json::{Value, json};
use viscount_tests::*;

const VISA: &str = "4242424242424242";

fn payments_of(app: &TestApp) -> &payments::Payments {
    app.platform
        .as_ref()
        .and_then(|p| p.services.get::<payments::Payments>())
        .expect("payments runs")
}

fn card(number: &str) -> Value {
    json!({"method": "card", "card_number": number, "exp_month": 12, "exp_year": 2099, "cvc": "123"})
}

fn usd(amount: i64) -> Money {
    Money {
        amount,
        currency: "USD".into(),
    }
}

fn new_order() -> String {
    format!("order-{}", uuid::Uuid::now_v7())
}

/// `POST /api/v1/payments` with an optional `Idempotency-Key`.
async fn post_payment(
    app: &TestApp,
    token: &str,
    key: Option<&str>,
    body: &Value,
) -> reqwest::Response {
    let mut request = app
        .client
        .post(app.url("/api/v1/payments"))
        .bearer_auth(token)
        .json(body);
    if let Some(key) = key {
        request = request.header("idempotency-key", key);
    }
    request.send().await.expect("request sent")
}

/// Creates a payment of `amount` USD for a new order and returns (order id, payment).
async fn pay(app: &TestApp, token: &str, amount: i64, number: &str) -> (String, Value) {
    let order = new_order();
    let body = json!({"order_id": order, "amount": {"amount": amount, "currency": "USD"}, "method": card(number)});
    let response = post_payment(app, token, Some(&format!("k-{order}")), &body).await;
    assert_eq!(response.status(), 201, "create payment");
    (order, response.json().await.expect("json"))
}

/// Applies an ordering event through payments' consumer, as the bus would, and waits
/// until the provider call it recorded is answered (as the saga waits for payments'
/// answer before its next step).
async fn deliver<E: contracts::Event>(app: &TestApp, event: &E) {
    let payments = payments_of(app);
    let handler = payments::events::OrderEvents {
        app: payments.app().clone(),
    };
    let envelope = Envelope::new(ServiceKind::Ordering, event).expect("envelope");
    let mut tx = payments.db().begin().await.expect("begin");
    handler.handle(&mut tx, &envelope).await.expect("handled");
    tx.commit().await.expect("commit");
    eventually(
        Duration::from_secs(10),
        "the provider call answered",
        || async {
            let pending: i64 = platform::db::query_scalar(
                "SELECT COUNT(*) FROM provider_calls WHERE state = 'pending'",
            )
            .fetch_one(payments.db().reader())
            .await
            .ok()?;
            (pending == 0).then_some(())
        },
    )
    .await;
}

async fn status_of(app: &TestApp, token: &str, id: &str) -> Value {
    let response = app
        .get(&format!("/api/v1/payments/{id}"), Some(token))
        .await;
    assert_eq!(response.status(), 200, "read payment");
    response.json().await.expect("json")
}

/// Authorizes and captures a payment the way the saga does.
async fn authorize_and_capture(app: &TestApp, user: &TestUser, order: &str, payment: &Value) {
    let id = payment["id"].as_str().expect("id");
    let amount = payment["amount"]["amount"].as_i64().expect("amount");
    deliver(
        app,
        &OrderReserved {
            order_id: order.into(),
            user_id: user.id.clone(),
            payment_id: id.into(),
            amount: usd(amount),
        },
    )
    .await;
    deliver(
        app,
        &OrderConfirmed {
            order_id: order.into(),
            user_id: Some(user.id.clone()),
            payment_id: Some(id.into()),
            total: Some(usd(amount)),
            shipping_address: None,
            items: Vec::new(),
            attribution: None,
        },
    )
    .await;
}

async fn api_key(app: &TestApp, admin: &TestUser, scopes: Value) -> String {
    let created: Value = app
        .post(
            "/api/v1/api-keys",
            Some(&admin.access),
            &json!({"name": "svc", "scopes": scopes}),
        )
        .await
        .json()
        .await
        .expect("json");
    created["key"].as_str().expect("key").to_owned()
}

both_shapes! {
    async fn a_customer_creates_a_payment_that_only_they_and_admins_can_read(app) {
        let buyer = app.user("buyer").await;
        let other = app.user("other").await;
        let admin = app.admin().await;
        let order = new_order();
        let body = json!({"order_id": order, "amount": {"amount": 2599, "currency": "usd"}, "method": card(VISA)});
        let response = post_payment(&app, &buyer.access, Some("create-1"), &body).await;
        assert_eq!(response.status(), 201);
        let location = response.headers().get("location").and_then(|v| v.to_str().ok()).expect("location").to_owned();
        let text = response.text().await.expect("body");
        assert!(!text.contains(VISA), "the card number is never echoed: {text}");
        let payment: Value = serde_json::from_str(&text).expect("json");
        let id = payment["id"].as_str().expect("id");
        assert_eq!(location, format!("/api/v1/payments/{id}"));
        assert_eq!(payment["order_id"], order.as_str());
        assert_eq!(payment["user_id"], buyer.id.as_str());
        assert_eq!(payment["status"], "pending");
        assert_eq!(payment["amount"], json!({"amount": 2599, "currency": "USD"}));
        assert_eq!(payment["captured"], json!({"amount": 0, "currency": "USD"}));
        assert_eq!(payment["refunded"], json!({"amount": 0, "currency": "USD"}));
        assert_eq!((payment["brand"].as_str(), payment["last4"].as_str()), (Some("visa"), Some("4242")));
        assert!(payment.get("token").is_none() && payment.get("cvc").is_none());
        assert!(payment["created_at"].is_string() && payment["updated_at"].is_string());

        assert_eq!(status_of(&app, &buyer.access, id).await, payment);
        assert_eq!(status_of(&app, &admin.access, id).await["id"], id);
        assert_problem(app.get(&location, Some(&other.access)).await, 404).await;
        assert_problem(app.get(&location, None).await, 401).await;
        assert_problem(app.get("/api/v1/payments/not-an-id", Some(&buyer.access)).await, 404).await;
        assert_problem(post_payment(&app, &other.access, Some("k"), &json!({"order_id": new_order(), "amount": {"amount": 1, "currency": "USD"}, "method": card(VISA), "user_id": buyer.id})).await, 403).await;
    }

    async fn creating_a_payment_needs_an_idempotency_key_and_replays_it(app) {
        let buyer = app.user("buyer").await;
        let order = new_order();
        let body = json!({"order_id": order, "amount": {"amount": 1000, "currency": "USD"}, "method": card(VISA)});
        let missing = assert_problem(post_payment(&app, &buyer.access, None, &body).await, 400).await;
        assert!(missing["detail"].as_str().is_some_and(|d| d.contains("Idempotency-Key")));
        assert_problem(post_payment(&app, "not-a-token", Some("k1"), &body).await, 401).await;
        assert_problem(app.get("/api/v1/payments", Some(&buyer.access)).await, 405).await;

        let first = post_payment(&app, &buyer.access, Some("k1"), &body).await;
        assert_eq!(first.status(), 201);
        let first: Value = first.json().await.expect("json");
        let again = post_payment(&app, &buyer.access, Some("k1"), &body).await;
        assert_eq!(again.status(), 201);
        assert_eq!(again.headers().get("idempotent-replayed").and_then(|v| v.to_str().ok()), Some("true"));
        assert!(again.headers().get("location").is_some());
        assert_eq!(again.json::<Value>().await.expect("json")["id"], first["id"], "the stored response");

        let other_body = json!({"order_id": order, "amount": {"amount": 999, "currency": "USD"}, "method": card(VISA)});
        assert_problem(post_payment(&app, &buyer.access, Some("k1"), &other_body).await, 422).await;
        let taken = assert_problem(post_payment(&app, &buyer.access, Some("k2"), &body).await, 409).await;
        assert!(taken["type"].as_str().is_some_and(|t| t.ends_with("order-has-payment")));
    }

    async fn a_claim_left_by_a_crashed_request_is_in_flight_until_stale_then_taken_over(app) {
        let buyer = app.user("buyer").await;
        let body = json!({"order_id": new_order(), "amount": {"amount": 1000, "currency": "USD"}, "method": card(VISA)});
        assert_eq!(post_payment(&app, &buyer.access, Some("k1"), &body).await.status(), 201);
        // The key's row as it would be had its request died before answering.
        let db = payments_of(&app).db();
        let abandon = |claimed_at: i64| {
            platform::db::query("UPDATE idempotency_keys SET status = NULL, headers = NULL, body = NULL, created_at = $1 WHERE key = 'k1'")
                .bind(claimed_at)
        };
        let now = platform::time::now_millis();
        assert_eq!(db.execute_alone(abandon(now)).await.expect("abandoned").rows_affected(), 1);
        let in_flight = assert_problem(post_payment(&app, &buyer.access, Some("k1"), &body).await, 409).await;
        assert!(in_flight["type"].as_str().is_some_and(|t| t.ends_with("idempotency-key-in-flight")), "{in_flight}");

        let stale = now - platform::idempotency::STALE_CLAIM_MS - 1;
        db.execute_alone(abandon(stale)).await.expect("abandoned long ago");
        // Taken over: the request runs again (its order has its payment by now) ...
        let rerun = post_payment(&app, &buyer.access, Some("k1"), &body).await;
        assert!(rerun.headers().get("idempotent-replayed").is_none(), "ran, not replayed");
        let rerun = assert_problem(rerun, 409).await;
        assert!(rerun["type"].as_str().is_some_and(|t| t.ends_with("order-has-payment")), "{rerun}");
        // ... and what it answered is the key's stored response from then on.
        let replayed = post_payment(&app, &buyer.access, Some("k1"), &body).await;
        assert_eq!(replayed.headers().get("idempotent-replayed").and_then(|v| v.to_str().ok()), Some("true"));
        assert_eq!(assert_problem(replayed, 409).await, rerun);
    }

    async fn bad_cards_and_amounts_are_refused_naming_the_field(app) {
        let buyer = app.user("buyer").await;
        let attempt = |amount: Value, method: Value| {
            let body = json!({"order_id": new_order(), "amount": amount, "method": method});
            let app = &app;
            let token = buyer.access.clone();
            async move { post_payment(app, &token, Some(&uuid::Uuid::now_v7().to_string()), &body).await }
        };
        let usd = json!({"amount": 100, "currency": "USD"});
        let cases = [
            (usd.clone(), json!({"method": "card", "card_number": "4242424242424241", "exp_month": 12, "exp_year": 2099, "cvc": "123"}), vec!["method.card_number"]),
            (usd.clone(), json!({"method": "card", "card_number": "4242424242424242", "exp_month": 1, "exp_year": 2020, "cvc": "123"}), vec!["method.exp_year"]),
            (usd.clone(), json!({"method": "card", "card_number": "4242424242424242", "exp_month": 13, "exp_year": 2099, "cvc": "123"}), vec!["method.exp_month"]),
            (usd.clone(), json!({"method": "card", "card_number": "4242424242424242", "exp_month": 12, "exp_year": 99, "cvc": "123"}), vec!["method.exp_year"]),
            (usd.clone(), json!({"method": "card", "card_number": "4242424242424242", "exp_month": 12, "exp_year": 2099, "cvc": "12"}), vec!["method.cvc"]),
            (usd.clone(), json!({"method": "card", "card_number": "4242 4242", "exp_month": 0, "exp_year": 2099}), vec!["method.card_number", "method.exp_month", "method.cvc"]),
            (usd.clone(), json!({"method": "cash"}), vec!["method.method"]),
            (usd.clone(), json!({"method": "saved", "payment_method_id": "nope"}), vec!["method.payment_method_id"]),
            (json!({"amount": 0, "currency": "USD"}), card(VISA), vec!["amount"]),
            (json!({"amount": -5, "currency": "USD"}), card(VISA), vec!["amount"]),
            (json!({"amount": 100, "currency": "XXX"}), card(VISA), vec!["amount"]),
        ];
        for (amount, method, fields) in cases {
            let problem = assert_problem(attempt(amount, method.clone()).await, 422).await;
            assert_eq!(error_fields(&problem), fields, "{method}");
            assert!(!problem.to_string().contains("424242424242424"), "the number is not echoed: {problem}");
        }
        // A card number sent as a JSON number is read, and still never echoed.
        let numeric = json!({"method": "card", "card_number": 4242424242424241u64, "exp_month": 12, "exp_year": 2099, "cvc": "123"});
        let problem = assert_problem(attempt(usd.clone(), numeric).await, 422).await;
        assert_eq!(error_fields(&problem), vec!["method.card_number"]);
        assert!(!problem.to_string().contains("4242424242424241"));
        let spaced = json!({"method": "card", "card_number": "4242 4242-4242 4242", "exp_month": "12", "exp_year": "2099", "cvc": "1234"});
        assert_eq!(attempt(usd, spaced).await.status(), 201, "spaces, dashes and numeric strings are fine");
    }

    async fn saved_cards_belong_to_their_owner(app) {
        let buyer = app.user("buyer").await;
        let other = app.user("other").await;
        let admin = app.admin().await;
        let saved = app.post("/api/v1/payment-methods", Some(&buyer.access), &json!({"card_number": "5555 5555 5555 4444", "exp_month": 3, "exp_year": 2099, "cvc": "321"})).await;
        assert_eq!(saved.status(), 201);
        let location = saved.headers().get("location").and_then(|v| v.to_str().ok()).expect("location").to_owned();
        let text = saved.text().await.expect("body");
        assert!(!text.contains("5555555555554444") && !text.contains("321"), "{text}");
        let method: Value = serde_json::from_str(&text).expect("json");
        let id = method["id"].as_str().expect("id").to_owned();
        assert_eq!(location, format!("/api/v1/payment-methods/{id}"));
        assert_eq!((method["brand"].as_str(), method["last4"].as_str()), (Some("mastercard"), Some("4444")));
        assert_eq!((method["exp_month"].as_i64(), method["exp_year"].as_i64()), (Some(3), Some(2099)));
        assert!(method["created_at"].is_string());

        let bad = app.post("/api/v1/payment-methods", Some(&buyer.access), &json!({"card_number": "1234", "exp_month": 3, "exp_year": 2001, "cvc": "1"})).await;
        assert_eq!(error_fields(&assert_problem(bad, 422).await), vec!["card_number", "exp_year", "cvc"]);

        let mine: Value = app.get("/api/v1/payment-methods", Some(&buyer.access)).await.json().await.expect("json");
        assert_eq!(mine["items"].as_array().map(Vec::len), Some(1));
        assert_eq!(mine["items"][0]["id"], id.as_str());
        let theirs: Value = app.get("/api/v1/payment-methods", Some(&other.access)).await.json().await.expect("json");
        assert_eq!(theirs["items"], json!([]));
        assert_eq!(app.get(&location, Some(&buyer.access)).await.status(), 200);
        assert_problem(app.get(&location, Some(&other.access)).await, 404).await;
        assert_problem(app.delete(&location, &other.access).await, 404).await;
        assert_problem(app.delete(&location, &admin.access).await, 404).await;

        let saved_method = json!({"method": "saved", "payment_method_id": id});
        let stolen = post_payment(&app, &other.access, Some("s1"), &json!({"order_id": new_order(), "amount": {"amount": 500, "currency": "USD"}, "method": saved_method})).await;
        assert_eq!(error_fields(&assert_problem(stolen, 422).await), vec!["method.payment_method_id"]);
        let paid = post_payment(&app, &buyer.access, Some("s1"), &json!({"order_id": new_order(), "amount": {"amount": 500, "currency": "USD"}, "method": saved_method})).await;
        assert_eq!(paid.status(), 201);
        let paid: Value = paid.json().await.expect("json");
        assert_eq!((paid["brand"].as_str(), paid["last4"].as_str()), (Some("mastercard"), Some("4444")));

        let key = api_key(&app, &admin, json!(["payments:write"])).await;
        let as_service = app.client.get(app.url("/api/v1/payment-methods")).header("x-api-key", key).send().await.expect("sent");
        assert_problem(as_service, 403).await;

        assert_eq!(app.delete(&location, &buyer.access).await.status(), 204);
        assert_problem(app.delete(&location, &buyer.access).await, 404).await;
        assert_problem(app.delete("/api/v1/payment-methods/not-an-id", &buyer.access).await, 404).await;
    }

    async fn the_saga_authorizes_captures_and_refunds_through_ordering_events(app) {
        let buyer = app.user("buyer").await;
        let admin = app.admin().await;
        let (order, payment) = pay(&app, &buyer.access, 10_000, VISA).await;
        let id = payment["id"].as_str().expect("id").to_owned();
        authorize_and_capture(&app, &buyer, &order, &payment).await;
        let captured = status_of(&app, &buyer.access, &id).await;
        assert_eq!(captured["status"], "captured");
        assert_eq!(captured["captured"]["amount"], 10_000);
        // Redelivered events change nothing.
        authorize_and_capture(&app, &buyer, &order, &payment).await;
        assert_eq!(status_of(&app, &buyer.access, &id).await["captured"]["amount"], 10_000);

        let refund_url = format!("/api/v1/payments/{id}/refund");
        assert_problem(app.post(&refund_url, Some(&buyer.access), &json!({})).await, 403).await;
        let wrong_currency = app.post(&refund_url, Some(&admin.access), &json!({"amount": {"amount": 100, "currency": "EUR"}})).await;
        assert_eq!(error_fields(&assert_problem(wrong_currency, 422).await), vec!["amount"]);
        let zero = app.post(&refund_url, Some(&admin.access), &json!({"amount": {"amount": 0, "currency": "USD"}})).await;
        assert_eq!(error_fields(&assert_problem(zero, 422).await), vec!["amount"]);
        let over = assert_problem(app.post(&refund_url, Some(&admin.access), &json!({"amount": {"amount": 10_001, "currency": "USD"}})).await, 409).await;
        assert!(over["type"].as_str().is_some_and(|t| t.ends_with("over-refund")));

        let partial_refund = || {
            app.client
                .post(app.url(&refund_url))
                .bearer_auth(&admin.access)
                .header("idempotency-key", "refund-1")
                .json(&json!({"amount": {"amount": 2_500, "currency": "USD"}}))
                .send()
        };
        let part = partial_refund().await.expect("sent");
        assert_eq!(part.status(), 200);
        let part: Value = part.json().await.expect("json");
        let replayed = partial_refund().await.expect("sent");
        assert_eq!(replayed.headers().get("idempotent-replayed").and_then(|v| v.to_str().ok()), Some("true"));
        assert_eq!(replayed.json::<Value>().await.expect("json")["refund_id"], part["refund_id"], "refunded once");
        assert!(part["refund_id"].is_string());
        assert_eq!(part["amount"], json!({"amount": 2500, "currency": "USD"}));
        assert_eq!(part["payment"]["status"], "partially_refunded");
        assert_eq!(part["payment"]["refunded"]["amount"], 2_500);

        // Cancelling the order refunds what is left.
        deliver(&app, &OrderCancelled { order_id: order.clone(), reason: "customer request".into(), payment_id: Some(id.clone()) }).await;
        let done = status_of(&app, &buyer.access, &id).await;
        assert_eq!((done["status"].as_str(), done["refunded"]["amount"].as_i64()), (Some("refunded"), Some(10_000)));
        assert_problem(app.post(&refund_url, Some(&admin.access), &json!({})).await, 409).await;

        let payments = payments_of(&app);
        assert!(payments.app().ledger_agrees(&id).await.expect("ledger"));
        let refunds: Vec<String> = platform::db::query_scalar("SELECT subject FROM outbox WHERE event_type = 'payments.refund.processed.v1' ORDER BY seq")
            .fetch_all(payments.db().reader())
            .await
            .expect("outbox");
        assert_eq!(refunds, vec![id.clone(), id.clone()]);

        // A pending payment is cancelled and a late reservation does not authorize it.
        let (late_order, late) = pay(&app, &buyer.access, 700, VISA).await;
        let late_id = late["id"].as_str().expect("id");
        deliver(&app, &OrderCancelled { order_id: late_order.clone(), reason: "timeout".into(), payment_id: None }).await;
        deliver(&app, &OrderReserved { order_id: late_order, user_id: buyer.id.clone(), payment_id: late_id.into(), amount: usd(700) }).await;
        assert_eq!(status_of(&app, &buyer.access, late_id).await["status"], "cancelled");

        // An authorized payment is voided.
        let (held_order, held) = pay(&app, &buyer.access, 900, VISA).await;
        let held_id = held["id"].as_str().expect("id");
        deliver(&app, &OrderReserved { order_id: held_order.clone(), user_id: buyer.id.clone(), payment_id: held_id.into(), amount: usd(900) }).await;
        assert_eq!(status_of(&app, &buyer.access, held_id).await["status"], "authorized");
        deliver(&app, &OrderCancelled { order_id: held_order, reason: "out of stock".into(), payment_id: Some(held_id.into()) }).await;
        assert_eq!(status_of(&app, &buyer.access, held_id).await["status"], "voided");

        // A declined card fails, with the reason ordering reads.
        let (declined_order, declined) = pay(&app, &buyer.access, 300, "4000000000000002").await;
        let declined_id = declined["id"].as_str().expect("id");
        deliver(&app, &OrderReserved { order_id: declined_order, user_id: buyer.id.clone(), payment_id: declined_id.into(), amount: usd(300) }).await;
        let failed = status_of(&app, &buyer.access, declined_id).await;
        assert_eq!((failed["status"].as_str(), failed["failure_reason"].as_str()), (Some("failed"), Some("declined")));
        assert!(payments.app().reconcile().await.expect("reconcile").is_empty());
    }

    async fn service_clients_need_the_payments_write_scope(app) {
        let admin = app.admin().await;
        let buyer = app.user("buyer").await;
        let writer = api_key(&app, &admin, json!(["payments:write"])).await;
        let reader = api_key(&app, &admin, json!(["reports:read"])).await;
        let order = new_order();
        let body = json!({"order_id": order, "amount": {"amount": 1200, "currency": "USD"}, "method": card(VISA), "user_id": buyer.id});
        let call = |key: String, idempotency: &'static str| {
            app.client.post(app.url("/api/v1/payments")).header("x-api-key", key).header("idempotency-key", idempotency).json(&body).send()
        };
        assert_problem(call(reader.clone(), "svc-1").await.expect("sent"), 403).await;
        let created = call(writer.clone(), "svc-2").await.expect("sent");
        assert_eq!(created.status(), 201);
        let payment: Value = created.json().await.expect("json");
        assert_eq!(payment["user_id"], buyer.id.as_str(), "paid on the buyer's behalf");
        let id = payment["id"].as_str().expect("id");
        assert_eq!(status_of(&app, &buyer.access, id).await["id"], id, "the buyer owns it");

        authorize_and_capture(&app, &buyer, &order, &payment).await;
        let refund = |key: String| {
            app.client.post(app.url(&format!("/api/v1/payments/{id}/refund"))).header("x-api-key", key).json(&json!({"amount": {"amount": 200, "currency": "USD"}})).send()
        };
        assert_problem(refund(reader).await.expect("sent"), 403).await;
        let refunded = refund(writer).await.expect("sent");
        assert_eq!(refunded.status(), 200);
        assert_eq!(refunded.json::<Value>().await.expect("json")["payment"]["refunded"]["amount"], 200);
    }

    async fn only_admins_read_the_ledger(app) {
        let buyer = app.user("buyer").await;
        let admin = app.admin().await;
        let (order, payment) = pay(&app, &buyer.access, 4_000, VISA).await;
        let id = payment["id"].as_str().expect("id");
        authorize_and_capture(&app, &buyer, &order, &payment).await;
        let (other_order, other) = pay(&app, &buyer.access, 1_000, VISA).await;
        authorize_and_capture(&app, &buyer, &other_order, &other).await;

        assert_problem(app.get("/api/v1/transactions", Some(&buyer.access)).await, 403).await;
        assert_problem(app.get("/api/v1/transactions", None).await, 401).await;
        let all: Value = app.get("/api/v1/transactions", Some(&admin.access)).await.json().await.expect("json");
        assert_eq!(all["items"].as_array().map(Vec::len), Some(4));
        let mine: Value = app.get(&format!("/api/v1/transactions?payment_id={id}"), Some(&admin.access)).await.json().await.expect("json");
        let rows = mine["items"].as_array().expect("items");
        let kinds: Vec<&str> = rows.iter().filter_map(|r| r["kind"].as_str()).collect();
        assert_eq!(kinds, vec!["authorize", "capture"]);
        assert!(rows.iter().all(|r| r["payment_id"] == id && r["order_id"] == order.as_str() && r["amount"]["amount"] == 4_000));
        assert!(rows.iter().all(|r| r["provider_ref"].as_str().is_some_and(|p| p.starts_with("sbx_"))));

        let first: Value = app.get("/api/v1/transactions?limit=3", Some(&admin.access)).await.json().await.expect("json");
        assert_eq!(first["items"].as_array().map(Vec::len), Some(3));
        let cursor = first["next_cursor"].as_str().expect("a next page");
        let second: Value = app.get(&format!("/api/v1/transactions?limit=3&cursor={cursor}"), Some(&admin.access)).await.json().await.expect("json");
        assert_eq!(second["items"].as_array().map(Vec::len), Some(1));
        assert!(second["next_cursor"].is_null());
        assert_problem(app.get("/api/v1/transactions?limit=0", Some(&admin.access)).await, 422).await;
    }

    async fn ten_concurrent_refunds_of_thirty_percent_succeed_exactly_three_times(app) {
        let buyer = app.user("buyer").await;
        let admin = app.admin().await;
        let (order, payment) = pay(&app, &buyer.access, 10_000, VISA).await;
        let id = payment["id"].as_str().expect("id").to_owned();
        authorize_and_capture(&app, &buyer, &order, &payment).await;
        let mut tasks = Vec::new();
        for _ in 0..10 {
            let client = app.client.clone();
            let url = app.url(&format!("/api/v1/payments/{id}/refund"));
            let token = admin.access.clone();
            tasks.push(tokio::spawn(async move {
                client
                    .post(url)
                    .bearer_auth(token)
                    .json(&json!({"amount": {"amount": 3_000, "currency": "USD"}}))
                    .send()
                    .await
                    .expect("sent")
                    .status()
                    .as_u16()
            }));
        }
        let (mut refunded, mut refused) = (0, 0);
        for task in tasks {
            match task.await.expect("task") {
                200 => refunded += 1,
                409 => refused += 1,
                other => panic!("unexpected status {other}"),
            }
        }
        assert_eq!((refunded, refused), (3, 7));
        let after = status_of(&app, &buyer.access, &id).await;
        assert_eq!((after["status"].as_str(), after["refunded"]["amount"].as_i64()), (Some("partially_refunded"), Some(9_000)));
        let payments = payments_of(&app);
        let (_, ledger_refunded) = payments::store::ledger_sums(payments.db().reader(), &id).await.expect("sums");
        assert_eq!(ledger_refunded, 9_000, "the ledger agrees with the total");
        assert!(payments.app().ledger_agrees(&id).await.expect("ledger"));
    }

    async fn the_card_number_never_reaches_the_database(app) {
        const PAN: &str = "4000056655665556";
        let buyer = app.user("buyer").await;
        let admin = app.admin().await;
        let (order, payment) = pay(&app, &buyer.access, 5_000, PAN).await;
        authorize_and_capture(&app, &buyer, &order, &payment).await;
        let id = payment["id"].as_str().expect("id");
        let refunded = app.post(&format!("/api/v1/payments/{id}/refund"), Some(&admin.access), &json!({})).await;
        assert_eq!(refunded.status(), 200);
        let saved = app.post("/api/v1/payment-methods", Some(&buyer.access), &json!({"card_number": "4000 0566 5566 5556", "exp_month": 12, "exp_year": 2099, "cvc": "987"})).await;
        assert_eq!(saved.status(), 201);
        let invalid = json!({"order_id": new_order(), "amount": {"amount": 1, "currency": "USD"}, "method": {"method": "card", "card_number": "4000056655665557", "exp_month": 12, "exp_year": 2099, "cvc": "987"}});
        assert_problem(post_payment(&app, &buyer.access, Some("bad-pan"), &invalid).await, 422).await;

        let payments = payments_of(&app);
        let db = payments.db();
        let tables: Vec<String> = match db.dialect() {
            Dialect::Sqlite => platform::db::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table'").fetch_all(db.reader()).await,
            Dialect::Postgres => platform::db::query_scalar("SELECT CAST(table_name AS TEXT) FROM information_schema.tables WHERE table_schema = 'public'").fetch_all(db.reader()).await,
        }
        .expect("tables");
        assert!(tables.iter().any(|t| t == "payments") && tables.iter().any(|t| t == "payment_methods"));
        let mut cells = 0;
        for table in &tables {
            let rows = platform::db::query(&format!("SELECT * FROM {table}")).fetch_all(db.reader()).await.expect("rows");
            for row in &rows {
                for (ordinal, column) in row.columns().into_iter().enumerate() {
                    if let Ok(Some(text)) = row.try_get::<Option<String>, _>(ordinal) {
                        cells += 1;
                        for pan in [PAN, "4000056655665557", "4000 0566 5566 5556"] {
                            assert!(!text.contains(pan), "{table}.{column} holds a card number");
                        }
                    }
                }
            }
        }
        assert!(cells > 20, "the scan read the text columns ({cells})");
        let kept = platform::db::query("SELECT last4, brand FROM payment_methods")
            .fetch_one(db.reader())
            .await
            .expect("saved card");
        let kept: (String, String) = (kept.try_get("last4").expect("last4"), kept.try_get("brand").expect("brand"));
        assert_eq!(kept, ("5556".to_owned(), "visa".to_owned()));
    }
}
