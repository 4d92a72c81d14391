//! Payments' fraud rules with scores and the review queue (issue 21), through the
//! gateway in both shapes: an authorization scoring into review waits (its order stays
//! `reserved`, its saga step extended) until an admin approves (the order is confirmed)
//! or declines (cancelled, stock released), or the review times out (declined by the
//! sweep); one scoring at or above the block threshold is declined at once with
//! `payments.fraud.detected` naming the rule. The client address travels from the
//! gateway through ordering to payments (`ip_velocity`), and the card's billing
//! country is compared with the order's shipping country (`country_mismatch`). Rules are made to fire deterministically
//! through `VISCOUNT_PAYMENTS__FRAUD__*` settings.

use axum::http::StatusCode;
use platform::config::ConfigSource;
use serde_json::{Value, json};
use viscount_tests::receiver::{Hook, Receiver};
use viscount_tests::shop::*;
use viscount_tests::{
    Shape, TestApp, TestUser, assert_problem, eventually, in_both_shapes, spawn_app_with,
};

in_both_shapes!(
    a_held_order_waits_for_review_and_the_decision_drives_the_saga,
    an_order_scoring_block_is_declined_at_once_naming_the_rule,
    an_undecided_review_expires_and_cancels_the_order,
    payments_from_one_client_address_are_counted_across_customers,
    a_billing_country_other_than_the_shipping_country_scores,
);

const REVIEWS: &str = "/api/v1/fraud/reviews";
const DETECTED: &str = "payments.fraud.detected.v1";
const HELD: &str = "payment held for fraud review";

/// The platform with `extra` settings besides a per-user velocity limit no test
/// reaches and a quick review sweep; `None` when the shape is unavailable.
async fn start(shape: Shape, extra: &[(&str, &str)]) -> Option<TestApp> {
    let mut vars: Vec<(String, String)> = [
        ("VISCOUNT_PAYMENTS__FRAUD_MAX_ATTEMPTS_PER_MINUTE", "100"),
        ("VISCOUNT_PAYMENTS__FRAUD__REVIEW_SWEEP_INTERVAL_MS", "100"),
    ]
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .into();
    vars.extend(
        extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    spawn_app_with(shape, ConfigSource::from_parts("", vars).expect("config")).await
}

/// A second payment on one card within the hour scores 60 (`card_velocity`): review.
const CARD_VELOCITY_REVIEWS: (&str, &str) =
    ("VISCOUNT_PAYMENTS__FRAUD__CARD_ATTEMPTS_PER_HOUR", "1");

/// `POST /orders` without waiting for the saga (an order in review does not settle).
async fn place(app: &TestApp, user: &TestUser, body: &Value) -> String {
    let response = app
        .client
        .post(app.url("/api/v1/orders"))
        .bearer_auth(&user.access)
        .header("idempotency-key", uuid::Uuid::now_v7().to_string())
        .json(body)
        .send()
        .await
        .expect("order sent");
    assert!(
        response.status().is_success(),
        "order placed: {}",
        response.status()
    );
    json_of(response).await["id"]
        .as_str()
        .expect("order id")
        .to_owned()
}

/// A review already decided cannot be approved (409), and the stock of its cancelled
/// order is released: `sku` is back to `on_hand` with nothing reserved.
async fn settled_and_released(
    app: &TestApp,
    admin: &TestUser,
    review_id: &str,
    sku: &str,
    on_hand: i64,
) {
    assert_problem(
        app.post(
            &format!("{REVIEWS}/{review_id}/approve"),
            Some(&admin.access),
            &json!({}),
        )
        .await,
        409,
    )
    .await;
    eventually(
        SETTLE,
        "the cancelled order's stock is released",
        || async {
            let s = stock(app, sku).await;
            (s["reserved"] == 0 && s["on_hand"] == on_hand).then_some(())
        },
    )
    .await;
}

/// The pending review of `order_id`, once payments held it.
async fn pending_review(app: &TestApp, admin: &TestUser, order_id: &str) -> Value {
    eventually(SETTLE, "the order's payment is held for review", || async {
        let page = json_of(
            app.get(
                &format!("{REVIEWS}?status=pending&limit=100"),
                Some(&admin.access),
            )
            .await,
        )
        .await;
        page["items"]
            .as_array()
            .and_then(|items| items.iter().find(|r| r["order_id"] == order_id).cloned())
    })
    .await
}

/// Waits until the order's history says its payment is held (ordering extended the
/// payment step); the order is still `reserved` then.
async fn held_in_ordering(app: &TestApp, buyer: &TestUser, order_id: &str) {
    until(
        app,
        &buyer.access,
        &format!("/api/v1/orders/{order_id}/history"),
        "the order notes the hold",
        |h| {
            h.as_array()
                .is_some_and(|entries| entries.iter().any(|e| e["reason"] == HELD))
        },
    )
    .await;
    let order = json_of(
        app.get(&format!("/api/v1/orders/{order_id}"), Some(&buyer.access))
            .await,
    )
    .await;
    assert_eq!(order["status"], "reserved", "held, not settled: {order}");
}

/// Waits until the order is `status`; returns it.
async fn order_in(app: &TestApp, buyer: &TestUser, order_id: &str, status: &str) -> Value {
    until(
        app,
        &buyer.access,
        &format!("/api/v1/orders/{order_id}"),
        status,
        |o| o["status"] == status,
    )
    .await
}

async fn a_held_order_waits_for_review_and_the_decision_drives_the_saga(shape: Shape) {
    let Some(app) = start(shape, &[CARD_VELOCITY_REVIEWS]).await else {
        return;
    };
    let admin = app.admin().await;
    stocked(&app, &admin, "REVIEW-1", 1_000, 10).await;
    let buyer = app.user("reviewed").await;
    let first = json_of(order(&app, &buyer, &items_order("REVIEW-1", 1, APPROVE)).await).await;
    assert_eq!(
        first["status"], "confirmed",
        "the card's first payment is not suspicious"
    );

    // The second payment on the card within the hour is held, not authorized.
    let second = place(&app, &buyer, &items_order("REVIEW-1", 1, APPROVE)).await;
    let review = pending_review(&app, &admin, &second).await;
    assert_eq!(review["score"], 60, "{review}");
    assert_eq!(review["signals"][0]["rule"], "card_velocity", "{review}");
    held_in_ordering(&app, &buyer, &second).await;
    let review_id = review["id"].as_str().expect("review id");

    // Customers cannot read or decide the queue.
    assert_problem(app.get(REVIEWS, Some(&buyer.access)).await, 403).await;
    assert_problem(
        app.get(&format!("{REVIEWS}/{review_id}"), Some(&buyer.access))
            .await,
        403,
    )
    .await;
    assert_problem(
        app.post(
            &format!("{REVIEWS}/{review_id}/approve"),
            Some(&buyer.access),
            &json!({}),
        )
        .await,
        403,
    )
    .await;
    assert_problem(
        app.get(&format!("{REVIEWS}?status=held"), Some(&admin.access))
            .await,
        422,
    )
    .await;

    // Approved: the authorization proceeds and the order is confirmed.
    let approved = app
        .post(
            &format!("{REVIEWS}/{review_id}/approve"),
            Some(&admin.access),
            &json!({}),
        )
        .await;
    assert_eq!(approved.status(), 200);
    let approved = json_of(approved).await;
    assert_eq!(
        (approved["status"].as_str(), approved["decided_by"].as_str()),
        (Some("approved"), Some(admin.id.as_str()))
    );
    order_in(&app, &buyer, &second, "confirmed").await;
    // Deciding twice, either way, is a conflict.
    assert_problem(
        app.post(
            &format!("{REVIEWS}/{review_id}/approve"),
            Some(&admin.access),
            &json!({}),
        )
        .await,
        409,
    )
    .await;
    assert_problem(
        app.post(
            &format!("{REVIEWS}/{review_id}/decline"),
            Some(&admin.access),
            &json!({}),
        )
        .await,
        409,
    )
    .await;

    // Another held order, declined: cancelled with the reason, its stock released.
    let third = place(&app, &buyer, &items_order("REVIEW-1", 1, APPROVE)).await;
    let review = pending_review(&app, &admin, &third).await;
    let review_id = review["id"].as_str().expect("review id");
    let declined = app
        .post(
            &format!("{REVIEWS}/{review_id}/decline"),
            Some(&admin.access),
            &json!({}),
        )
        .await;
    assert_eq!(declined.status(), 200);
    let cancelled = order_in(&app, &buyer, &third, "cancelled").await;
    let why = cancelled["cancel_reason"].as_str().unwrap_or_default();
    assert!(why.contains("fraud_review_declined"), "{why}");
    settled_and_released(&app, &admin, review_id, "REVIEW-1", 8).await;
    let read = json_of(
        app.get(&format!("{REVIEWS}/{review_id}"), Some(&admin.access))
            .await,
    )
    .await;
    assert_eq!(read["status"], "declined");
    let decided = json_of(
        app.get(&format!("{REVIEWS}?status=declined"), Some(&admin.access))
            .await,
    )
    .await;
    assert_eq!(
        decided["items"].as_array().map(Vec::len),
        Some(1),
        "{decided}"
    );
}

async fn an_order_scoring_block_is_declined_at_once_naming_the_rule(shape: Shape) {
    // More than twice the customer's usual amount blocks on its own.
    let settings = [
        ("VISCOUNT_PAYMENTS__FRAUD__USUAL_MULTIPLE", "2"),
        ("VISCOUNT_PAYMENTS__FRAUD__UNUSUAL_AMOUNT_SCORE", "95"),
    ];
    let Some(app) = start(shape, &settings).await else {
        return;
    };
    let admin = app.admin().await;
    let receiver = Receiver::start(|_, _| StatusCode::OK).await;
    let subscribed = app
        .post(
            "/api/v1/admin/webhooks",
            Some(&admin.access),
            &json!({"url": receiver.url("events"), "description": "fraud", "event_types": [DETECTED]}),
        )
        .await;
    assert_eq!(subscribed.status(), 201, "subscribe");
    stocked(&app, &admin, "USUAL-1", 1_000, 20).await;
    let buyer = app.user("usual").await;
    // Three captured payments of 10.00 make the usual amount.
    for _ in 0..3 {
        let placed = json_of(order(&app, &buyer, &items_order("USUAL-1", 1, APPROVE)).await).await;
        assert_eq!(placed["status"], "confirmed", "{placed}");
        let payment = placed["payment_id"].as_str().expect("payment id");
        until(
            &app,
            &buyer.access,
            &format!("/api/v1/payments/{payment}"),
            "captured",
            |p| p["status"] == "captured",
        )
        .await;
    }
    let blocked = json_of(order(&app, &buyer, &items_order("USUAL-1", 3, APPROVE)).await).await;
    assert_eq!(blocked["status"], "cancelled", "{blocked}");
    let order_id = blocked["id"].as_str().expect("order id");
    assert!(
        blocked["cancel_reason"]
            .as_str()
            .unwrap_or_default()
            .contains("usual amount"),
        "{blocked}"
    );
    let detected = eventually(SETTLE, "payments.fraud.detected", || async {
        receiver
            .hooks("events")
            .iter()
            .map(Hook::json)
            .find(|body| body["type"] == DETECTED && body["data"]["order_id"] == order_id)
            .map(|body| body["data"].clone())
    })
    .await;
    assert_eq!(detected["decision"], "block", "{detected}");
    assert_eq!(detected["score"], 95, "{detected}");
    assert_eq!(
        detected["signals"][0]["rule"], "unusual_amount",
        "{detected}"
    );
    assert_eq!(detected["user_id"], buyer.id.as_str());
    // Nothing waits for a person.
    let queue = json_of(app.get(REVIEWS, Some(&admin.access)).await).await;
    assert_eq!(queue["items"], json!([]), "{queue}");
    let metrics = app
        .get("/metrics", None)
        .await
        .text()
        .await
        .expect("metrics");
    assert!(
        metrics.contains("viscount_fraud_decisions_total{decision=\"block\"} 1"),
        "the block is counted"
    );
}

async fn an_undecided_review_expires_and_cancels_the_order(shape: Shape) {
    let settings = [
        CARD_VELOCITY_REVIEWS,
        ("VISCOUNT_PAYMENTS__FRAUD__REVIEW_TIMEOUT_SECS", "300"),
    ];
    let Some(app) = start(shape, &settings).await else {
        return;
    };
    let admin = app.admin().await;
    stocked(&app, &admin, "EXPIRE-1", 1_000, 10).await;
    let buyer = app.user("expires").await;
    let first = json_of(order(&app, &buyer, &items_order("EXPIRE-1", 1, APPROVE)).await).await;
    assert_eq!(first["status"], "confirmed");
    let held = place(&app, &buyer, &items_order("EXPIRE-1", 2, APPROVE)).await;
    let review = pending_review(&app, &admin, &held).await;
    held_in_ordering(&app, &buyer, &held).await;

    // Past the review timeout, well past the saga's one-minute payment step: the review
    // declines it (the step was extended, so the saga's timeout does not cancel first).
    app.clock.advance(std::time::Duration::from_secs(301));
    let admin = app.admin().await;
    let buyer = TestUser {
        access:
            json_of(app.login(&buyer.email, viscount_tests::PASSWORD).await).await["access_token"]
                .as_str()
                .expect("access")
                .to_owned(),
        ..buyer
    };
    let cancelled = order_in(&app, &buyer, &held, "cancelled").await;
    let why = cancelled["cancel_reason"].as_str().unwrap_or_default();
    assert!(why.contains("fraud_review_expired"), "{why}");
    let review_id = review["id"].as_str().expect("review id");
    let read = json_of(
        app.get(&format!("{REVIEWS}/{review_id}"), Some(&admin.access))
            .await,
    )
    .await;
    assert_eq!(
        (read["status"].as_str(), read["decided_by"].as_str()),
        (Some("expired"), Some("expiry"))
    );
    settled_and_released(&app, &admin, review_id, "EXPIRE-1", 9).await;
}

async fn payments_from_one_client_address_are_counted_across_customers(shape: Shape) {
    // From two payments an hour from one address, the next is held (60: review).
    let Some(app) = start(
        shape,
        &[("VISCOUNT_PAYMENTS__FRAUD__IP_ATTEMPTS_PER_HOUR", "2")],
    )
    .await
    else {
        return;
    };
    let admin = app.admin().await;
    stocked(&app, &admin, "IP-1", 1_000, 10).await;
    // Three customers, one address (this test's 127.0.0.1, the gateway's peer): each
    // is new to the platform, so only the address links them.
    for name in ["ip-first", "ip-second"] {
        let buyer = app.user(name).await;
        let placed = json_of(order(&app, &buyer, &items_order("IP-1", 1, APPROVE)).await).await;
        assert_eq!(placed["status"], "confirmed", "{name}: {placed}");
    }
    let third = app.user("ip-third").await;
    let held = place(&app, &third, &items_order("IP-1", 1, APPROVE)).await;
    let review = pending_review(&app, &admin, &held).await;
    assert_eq!(review["score"], 60, "{review}");
    assert_eq!(review["signals"][0]["rule"], "ip_velocity", "{review}");
    let detail = review["signals"][0]["detail"].as_str().unwrap_or_default();
    assert_eq!(
        detail,
        "2 payments from this client address in the last hour"
    );
    assert!(
        !detail.contains("127.0.0.1"),
        "the address is personal data"
    );
    held_in_ordering(&app, &third, &held).await;
}

async fn a_billing_country_other_than_the_shipping_country_scores(shape: Shape) {
    let Some(app) = start(
        shape,
        &[("VISCOUNT_PAYMENTS__FRAUD__COUNTRY_MISMATCH_SCORE", "95")],
    )
    .await
    else {
        return;
    };
    let admin = app.admin().await;
    stocked(&app, &admin, "GEO-1", 1_000, 10).await;
    let buyer = app.user("traveller").await;
    let with_billing = |country: &str| {
        let mut body = items_order("GEO-1", 1, APPROVE);
        body["payment"]["billing_country"] = json!(country);
        body
    };
    // Not a country code: refused, naming the field, and nothing is reserved.
    let refused = order(&app, &buyer, &with_billing("Germany")).await;
    let problem = assert_problem(refused, 422).await;
    assert!(
        problem.to_string().contains("payment.billing_country"),
        "{problem}"
    );
    assert_eq!(stock(&app, "GEO-1").await["available"], 10);
    // The same country as the address (US, in either case): nothing fires.
    let home = json_of(order(&app, &buyer, &with_billing("us")).await).await;
    assert_eq!(home["status"], "confirmed", "{home}");
    // Billed in Germany, shipped to the United States: 95 blocks.
    let abroad = json_of(order(&app, &buyer, &with_billing("DE")).await).await;
    assert_eq!(abroad["status"], "cancelled", "{abroad}");
    assert!(
        abroad["cancel_reason"]
            .as_str()
            .unwrap_or_default()
            .contains("billing country (DE) differs from the shipping country (US)"),
        "{abroad}"
    );
    let payment = abroad["payment_id"].as_str().expect("payment id");
    let failed = json_of(
        app.get(&format!("/api/v1/payments/{payment}"), Some(&buyer.access))
            .await,
    )
    .await;
    assert_eq!(failed["failure_reason"], "fraud", "{failed}");
}
