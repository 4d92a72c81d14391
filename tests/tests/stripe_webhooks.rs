//! Stripe's webhooks into payments through the gateway (issue 20, item 4), in both
//! shapes: `POST /webhooks/stripe/payments` takes only bodies signed with the
//! endpoint's secret, applies a dispute once however often it is delivered, and the
//! dispute reaches every admin as a message. With the Stripe provider pointed at
//! localstripe (`VISCOUNT_TEST_STRIPE_URL`; that part prints a SKIPPED line and passes
//! without it), the webhooks localstripe itself sends after a checkout are verified
//! and taken. (localstripe sends only `payment_intent.*` events; `charge.refunded` and
//! disputes are signed here as Stripe documents them, and refunds made in Stripe's
//! dashboard are tested in payments' own `notices` tests.) A card that needs 3-D
//! Secure leaves its order waiting with the client secret in the order's answer; once
//! the customer authenticated (localstripe's `_authenticate`, standing in for
//! Stripe.js), Stripe's `payment_intent.amount_capturable_updated` notice — which
//! localstripe does not send, so it is signed here from localstripe's intent — lets
//! the order go on to its capture.

use platform::webhook_signature::sign_stripe;
use serde_json::{Value, json};
use viscount_tests::localstripe::{SECRET_KEY, at_stripe, ledger_ref, spawn_with_stripe};
use viscount_tests::shop::*;
use viscount_tests::{
    Shape, TestApp, assert_problem, eventually, in_both_shapes, spawn_app_with_vars,
};

in_both_shapes!(
    deliveries_are_verified_applied_once_and_a_dispute_reaches_the_admins,
    localstripes_own_webhooks_are_verified_and_taken,
    a_3_d_secure_order_waits_for_the_customer_and_goes_on_with_stripes_notice,
);

/// `POST /webhooks/stripe/payments` with `body` and `signature`.
async fn deliver(app: &TestApp, body: &[u8], signature: Option<&str>) -> reqwest::Response {
    let mut request = app
        .client
        .post(app.url("/webhooks/stripe/payments"))
        .header("content-type", "application/json")
        .body(body.to_vec());
    if let Some(signature) = signature {
        request = request.header("stripe-signature", signature);
    }
    request.send().await.expect("delivered")
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0))
}

/// The payment of `order` (read by `token`), once it is `status`.
async fn payment_of(app: &TestApp, token: &str, order: &Value, status: &str) -> Value {
    let order_id = order["id"].as_str().expect("order id");
    let order = until(
        app,
        token,
        &format!("/api/v1/orders/{order_id}"),
        "a payment",
        |o| o["payment_id"].is_string(),
    )
    .await;
    let payment_id = order["payment_id"].as_str().expect("payment id");
    until(
        app,
        token,
        &format!("/api/v1/payments/{payment_id}"),
        status,
        |p| p["status"] == status,
    )
    .await
}

async fn deliveries_are_verified_applied_once_and_a_dispute_reaches_the_admins(shape: Shape) {
    const SECRET: &str = "whsec_gateway_test";
    let Some(app) = spawn_app_with_vars(
        shape,
        &[("VISCOUNT_PAYMENTS__STRIPE__WEBHOOK_SECRET", SECRET)],
    )
    .await
    else {
        return;
    };
    let admin = app.admin().await;
    stocked(&app, &admin, "HOOK-1", 4200, 5).await;
    let buyer = app.user("hooked").await;
    let placed = json_of(order(&app, &buyer, &items_order("HOOK-1", 1, APPROVE)).await).await;
    let payment = payment_of(&app, &admin.access, &placed, "captured").await;
    let payment_id = payment["id"].as_str().expect("id");
    let charge = ledger_ref(&app, &admin.access, payment_id, "capture").await;

    let body = json!({"id": format!("evt_dp_{}", uuid::Uuid::now_v7().simple()), "object": "event",
        "type": "charge.dispute.created",
        "data": {"object": {"id": "dp_gateway", "object": "dispute", "charge": charge,
            "amount": 4200, "currency": "usd", "reason": "product_not_received",
            "status": "needs_response", "evidence_details": {"due_by": now_secs() + 7 * 86_400}}}})
    .to_string()
    .into_bytes();

    // Not signed, signed with another secret, signed too long ago, a tampered body.
    let problem = assert_problem(deliver(&app, &body, None).await, 401).await;
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|d| d.contains("Stripe-Signature")),
        "{problem}"
    );
    let foreign = sign_stripe(b"whsec_someone_else", now_secs(), &body);
    assert_problem(deliver(&app, &body, Some(&foreign)).await, 401).await;
    let stale = sign_stripe(SECRET.as_bytes(), now_secs() - 600, &body);
    assert_problem(deliver(&app, &body, Some(&stale)).await, 401).await;
    let signature = sign_stripe(SECRET.as_bytes(), now_secs(), &body);
    let mut tampered = body.clone();
    tampered.push(b'\n');
    assert_problem(deliver(&app, &tampered, Some(&signature)).await, 401).await;
    let not_an_event = b"[1, 2, 3]";
    let signed = sign_stripe(SECRET.as_bytes(), now_secs(), not_an_event);
    assert_problem(deliver(&app, not_an_event, Some(&signed)).await, 400).await;

    // Signed: applied once, however often Stripe delivers it.
    for expected in ["applied", "duplicate", "duplicate"] {
        let answer = deliver(&app, &body, Some(&signature)).await;
        assert_eq!(answer.status(), 200);
        assert_eq!(json_of(answer).await["status"], expected);
    }
    let admin_id = &admin.id;
    let messages = eventually(SETTLE, "the admin told of the dispute", || async {
        let listed = json_of(
            app.get(
                &format!("/api/v1/users/{admin_id}/notifications?limit=100"),
                Some(&admin.access),
            )
            .await,
        )
        .await;
        let disputes: Vec<Value> = listed["items"]
            .as_array()?
            .iter()
            .filter(|n| n["template_id"] == "dispute_opened.email")
            .cloned()
            .collect();
        (!disputes.is_empty()).then_some(disputes)
    })
    .await;
    assert_eq!(
        messages.len(),
        1,
        "one message for one dispute: {messages:?}"
    );
    let order_id = placed["id"].as_str().expect("order id");
    assert!(
        messages[0]["subject"]
            .as_str()
            .is_some_and(|s| s.contains(order_id)),
        "{messages:?}"
    );
}

async fn localstripes_own_webhooks_are_verified_and_taken(shape: Shape) {
    let secret = format!("whsec_{}", uuid::Uuid::now_v7().simple());
    let Some((app, stripe)) = spawn_with_stripe(
        shape,
        &[("VISCOUNT_PAYMENTS__STRIPE__WEBHOOK_SECRET", &secret)],
    )
    .await
    else {
        return;
    };
    // localstripe calls this platform's gateway for the events this test is about.
    let registered = app
        .client
        .post(format!(
            "{stripe}/_config/webhooks/{}",
            uuid::Uuid::now_v7().simple()
        ))
        .json(
            &json!({"url": app.url("/webhooks/stripe/payments"), "secret": secret,
                      "events": ["payment_intent.succeeded", "payment_intent.payment_failed"]}),
        )
        .send()
        .await
        .expect("localstripe answers");
    assert!(registered.status().is_success(), "{}", registered.status());
    let admin = app.admin().await;
    stocked(&app, &admin, "HOOK-2", 3100, 5).await;
    let buyer = app.user("hooked").await;
    let body = json!({"items": [{"sku": "HOOK-2", "quantity": 1}], "shipping_address": address(),
                      "payment": {"method": "card", "token": "pm_card_visa"}});
    let placed = json_of(order(&app, &buyer, &body).await).await;
    let payment = payment_of(&app, &admin.access, &placed, "captured").await;
    let payment_id = payment["id"].as_str().expect("id").to_owned();
    // The capture makes localstripe send `payment_intent.succeeded` about a second
    // later; payments verifies it and records it (its capture is known already).
    let payments = app
        .platform
        .as_ref()
        .and_then(|p| p.services.get::<payments::Payments>())
        .expect("payments runs");
    use platform::service::Service;
    let kinds: Vec<String> = eventually(SETTLE, "localstripe's notice taken", || async {
        let kinds: Vec<String> =
            platform::db::query_scalar("SELECT kind FROM provider_notices WHERE payment_id = $1")
                .bind(&payment_id)
                .fetch_all(payments.db().reader())
                .await
                .ok()?;
        (!kinds.is_empty()).then_some(kinds)
    })
    .await;
    assert_eq!(kinds, ["payment_intent.succeeded"]);
    let after = json_of(
        app.get(
            &format!("/api/v1/payments/{payment_id}"),
            Some(&admin.access),
        )
        .await,
    )
    .await;
    assert_eq!(after["captured"]["amount"], 3100, "captured once: {after}");
}

async fn a_3_d_secure_order_waits_for_the_customer_and_goes_on_with_stripes_notice(shape: Shape) {
    const SECRET: &str = "whsec_three_d_secure";
    let Some((app, stripe)) = spawn_with_stripe(
        shape,
        &[("VISCOUNT_PAYMENTS__STRIPE__WEBHOOK_SECRET", SECRET)],
    )
    .await
    else {
        return;
    };
    let admin = app.admin().await;
    stocked(&app, &admin, "HOOK-3", 2700, 5).await;
    let buyer = app.user("secure").await;
    // The card tokenized as the browser would (Stripe.js), at localstripe.
    let method: Value = app
        .client
        .post(format!("{stripe}/v1/payment_methods"))
        .bearer_auth(SECRET_KEY)
        .form(&[
            ("type", "card"),
            ("card[number]", "4000002500003155"),
            ("card[exp_month]", "12"),
            ("card[exp_year]", "2030"),
            ("card[cvc]", "123"),
        ])
        .send()
        .await
        .expect("localstripe answers")
        .json()
        .await
        .expect("json");
    let token = method["id"].as_str().expect("a payment method");
    let placed = app
        .client
        .post(app.url("/api/v1/orders"))
        .bearer_auth(&buyer.access)
        .header("idempotency-key", uuid::Uuid::now_v7().to_string())
        .json(
            &json!({"items": [{"sku": "HOOK-3", "quantity": 1}], "shipping_address": address(),
                      "payment": {"method": "card", "token": token}}),
        )
        .send()
        .await
        .expect("order");
    assert!(placed.status().is_success(), "{}", placed.status());
    let order_id = json_of(placed).await["id"]
        .as_str()
        .expect("order id")
        .to_owned();
    let path = format!("/api/v1/orders/{order_id}");
    let waiting = until(
        &app,
        &buyer.access,
        &path,
        "the order waits for the customer",
        |o| o["next_action"]["client_secret"].is_string(),
    )
    .await;
    assert_eq!(waiting["status"], "reserved", "{waiting}");
    assert_eq!(waiting["next_action"]["type"], "authenticate");
    let client_secret = waiting["next_action"]["client_secret"]
        .as_str()
        .expect("secret");
    let intent = client_secret.split("_secret_").next().expect("the intent");
    // Another customer never sees it.
    let other = app.user("other").await;
    assert_eq!(app.get(&path, Some(&other.access)).await.status(), 404);

    // The customer authenticates in the browser…
    let authenticated = app
        .client
        .post(format!(
            "{stripe}/v1/payment_intents/{intent}/_authenticate"
        ))
        .bearer_auth(SECRET_KEY)
        .form(&[("client_secret", client_secret), ("success", "true")])
        .send()
        .await
        .expect("localstripe answers");
    assert!(authenticated.status().is_success());
    // …and Stripe says the intent now holds the amount.
    let object = at_stripe(&stripe, &format!("/v1/payment_intents/{intent}")).await;
    assert_eq!(object["status"], "requires_capture", "{object}");
    let body =
        json!({"id": format!("evt_3ds_{}", uuid::Uuid::now_v7().simple()), "object": "event",
        "type": "payment_intent.amount_capturable_updated", "data": {"object": object}})
        .to_string()
        .into_bytes();
    let signature = sign_stripe(SECRET.as_bytes(), now_secs(), &body);
    let answer = deliver(&app, &body, Some(&signature)).await;
    assert_eq!(answer.status(), 200);
    assert_eq!(json_of(answer).await["status"], "applied");

    let confirmed = until(&app, &buyer.access, &path, "the order confirmed", |o| {
        o["status"] == "confirmed"
    })
    .await;
    assert!(confirmed["next_action"].is_null(), "{confirmed}");
    payment_of(&app, &buyer.access, &confirmed, "captured").await;
}
