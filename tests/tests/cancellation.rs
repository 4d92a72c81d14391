//! Cancellation safety, in both shapes: a client that hangs up mid-checkout — at the
//! worst moment, its payment created and its order not yet stored — still leaves the
//! order settled, its payment captured, and one order for its idempotency key; and a
//! payment no order ever took further (pending with no order) is given up by payments'
//! sweep once its time has passed, with the platform's clock moved rather than waited
//! for.

use std::time::Duration;

use platform::config::ConfigSource;
use serde_json::{Value, json};
use viscount_tests::shop::*;
use viscount_tests::{Shape, TestApp, both_shapes, eventually, in_both_shapes, spawn_app_with};

/// The ordering service of `app`.
fn ordering(app: &TestApp) -> &ordering::Ordering {
    app.platform
        .as_ref()
        .and_then(|p| p.services.get::<ordering::Ordering>())
        .expect("ordering runs")
}

/// The buyer's orders, newest first.
async fn orders_of(app: &TestApp, token: &str) -> Vec<Value> {
    json_of(app.get("/api/v1/orders", Some(token)).await).await["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

both_shapes! {
    async fn a_client_that_hangs_up_mid_checkout_still_leaves_a_settled_order_and_no_pending_payment(app) {
        let admin = app.admin().await;
        stocked(&app, &admin, "HANGUP-1", 900, 5).await;
        let buyer = app.user("hangup").await;
        let tasks = app.platform.as_ref().expect("platform runs").tasks.clone();
        let left_before = tasks.callers_left();

        // Checkouts stop after creating their payment, before storing their order.
        let hold = ordering(&app).app().hold_checkouts().await;
        let key = uuid::Uuid::now_v7().to_string();
        let body = items_order("HANGUP-1", 2, APPROVE);
        let client = {
            let request = app
                .client
                .post(app.url("/api/v1/orders"))
                .bearer_auth(&buyer.access)
                .header("idempotency-key", &key)
                .header("prefer", "wait=15")
                .json(&body);
            tokio::spawn(async move { request.send().await })
        };
        eventually(SETTLE, "the checkout waits with its payment created", || async {
            (hold.waiting() == 1).then_some(())
        })
        .await;

        // The client hangs up there: its connection closes, and the server drops the
        // request's future.
        client.abort();
        assert!(client.await.is_err_and(|e| e.is_cancelled()), "the client gave up");
        eventually(SETTLE, "the server saw its client leave", || async {
            (tasks.callers_left() > left_before).then_some(())
        })
        .await;
        assert!(orders_of(&app, &buyer.access).await.is_empty(), "held before its order was stored");
        drop(hold);

        // The checkout went on without its client: the order is stored and settles.
        let order = eventually(SETTLE, "the order settles", || async {
            let orders = orders_of(&app, &buyer.access).await;
            let order = orders.first()?;
            let settled = ["confirmed", "cancelled"].contains(&order["status"].as_str()?);
            settled.then(|| order.clone())
        })
        .await;
        assert_eq!(order["status"], "confirmed", "{order}");
        let payment_id = order["payment_id"].as_str().expect("payment id");
        let payment = until(&app, &buyer.access, &format!("/api/v1/payments/{payment_id}"), "capture", |p| {
            p["status"] != "pending" && p["status"] != "authorized"
        })
        .await;
        assert_eq!(payment["status"], "captured", "{payment}");
        assert_eq!(payment["captured"]["amount"], 1800);

        // Its idempotency record was written too: the client's retry gets that order.
        let replay = eventually(SETTLE, "the first attempt's answer is stored", || async {
            let response = order_with_key(&app, &buyer, &body, &key).await;
            (response.status() != 409).then_some(response)
        })
        .await;
        assert!(replay.status().is_success(), "{}", replay.status());
        assert_eq!(replay.headers().get("idempotent-replayed").map(|v| v.as_bytes()), Some(&b"true"[..]));
        assert_eq!(json_of(replay).await["id"], order["id"], "the same order");
        assert_eq!(orders_of(&app, &buyer.access).await.len(), 1, "one order for one key");
        eventually(SETTLE, "the stock is sold once", || async {
            let s = stock(&app, "HANGUP-1").await;
            (s["on_hand"] == 3 && s["reserved"] == 0).then_some(())
        })
        .await;
    }
}

in_both_shapes!(an_orphaned_pending_payment_is_given_up_once_its_time_has_passed);

async fn an_orphaned_pending_payment_is_given_up_once_its_time_has_passed(shape: Shape) {
    // A pending payment is given up after two minutes here (15 by default), looked for
    // every 50 ms; the clock moves less than an access token lives.
    let config = ConfigSource::from_parts(
        "[payments]\npending_expiry_secs = 120\nexpiry_sweep_interval_ms = 50\n",
        std::iter::empty::<(String, String)>(),
    )
    .expect("config");
    let Some(app) = spawn_app_with(shape, config).await else {
        return;
    };
    let admin = app.admin().await;
    stocked(&app, &admin, "ORPHAN-1", 700, 5).await;
    let buyer = app.user("orphan").await;

    // A payment made as a checkout makes it, for an order that was never stored.
    let orphan = app
        .client
        .post(app.url("/api/v1/payments"))
        .bearer_auth(&buyer.access)
        .header("idempotency-key", uuid::Uuid::now_v7().to_string())
        .json(&json!({"order_id": uuid::Uuid::now_v7().to_string(),
                      "amount": {"amount": 1500, "currency": "USD"}, "method": card(APPROVE)}))
        .send()
        .await
        .expect("payment sent");
    assert_eq!(orphan.status(), 201);
    let orphan = json_of(orphan).await;
    assert_eq!(orphan["status"], "pending");
    let orphan_path = format!("/api/v1/payments/{}", orphan["id"].as_str().expect("id"));

    // A checkout that went through beside it.
    let placed = json_of(order(&app, &buyer, &items_order("ORPHAN-1", 1, APPROVE)).await).await;
    assert_eq!(placed["status"], "confirmed", "{placed}");
    let paid_path = format!(
        "/api/v1/payments/{}",
        placed["payment_id"].as_str().expect("payment")
    );
    until(&app, &buyer.access, &paid_path, "capture", |p| {
        p["status"] == "captured"
    })
    .await;
    assert_eq!(
        json_of(app.get(&orphan_path, Some(&buyer.access)).await).await["status"],
        "pending",
        "not due yet"
    );

    app.clock.advance(Duration::from_secs(121));
    let given_up = until(
        &app,
        &buyer.access,
        &orphan_path,
        "the orphan given up",
        |p| p["status"] != "pending",
    )
    .await;
    assert_eq!(given_up["status"], "cancelled", "{given_up}");
    assert_eq!(given_up["captured"]["amount"], 0);
    let paid = json_of(app.get(&paid_path, Some(&buyer.access)).await).await;
    assert_eq!(
        paid["status"], "captured",
        "a payment its order took further is kept: {paid}"
    );
}
