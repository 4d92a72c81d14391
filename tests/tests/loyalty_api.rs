//! Loyalty points through the gateway, in both shapes: a delivered order earns, a
//! partial then full refund reverses its share then all, points redeemed at checkout
//! discount the order (and its payment) and come back when the order is cancelled or
//! its card declined, or in the refunded share when it is refunded, more than available is refused naming `loyalty_points`, nobody
//! else reads a customer's points, and concurrent orders never redeem more than the
//! balance.

use serde_json::{Value, json};
use viscount_tests::shop::*;
use viscount_tests::{PASSWORD, TestApp, TestUser, assert_problem, both_shapes, error_fields};

/// `buyer`'s loyalty once `done` holds of it.
async fn loyalty_until(
    app: &TestApp,
    buyer: &TestUser,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    until(app, &buyer.access, "/api/v1/users/me/loyalty", what, done).await
}

/// Ships and delivers `order_id` (admin status changes), which earns its points.
async fn deliver(app: &TestApp, admin: &TestUser, order_id: &str) {
    let status = format!("/api/v1/orders/{order_id}/status");
    for to in ["shipped", "delivered"] {
        let moved = app
            .put(&status, &admin.access, &json!({"status": to}))
            .await;
        assert_eq!(moved.status(), 200, "{to}");
    }
}

/// A confirmed order of one `sku` by `buyer`, redeeming `points` when some.
async fn confirmed(app: &TestApp, buyer: &TestUser, sku: &str, points: Option<i64>) -> Value {
    let mut body = items_order(sku, 1, APPROVE);
    if let Some(points) = points {
        body["loyalty_points"] = json!(points);
    }
    let placed = json_of(order(app, buyer, &body).await).await;
    assert_eq!(placed["status"], "confirmed", "{placed}");
    placed
}

/// `buyer` with `points` earned by a delivered order of `sku` (priced `points` dollars).
async fn with_points(app: &TestApp, admin: &TestUser, buyer: &TestUser, sku: &str, points: i64) {
    stocked(app, admin, sku, points * 100, 1).await;
    let placed = confirmed(app, buyer, sku, None).await;
    deliver(app, admin, placed["id"].as_str().expect("id")).await;
    loyalty_until(app, buyer, "points earned", |l| l["balance"] == points).await;
}

fn kinds(loyalty: &Value) -> Vec<(String, i64)> {
    loyalty["history"]["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|e| {
                    (
                        e["kind"].as_str().unwrap_or("").to_owned(),
                        e["points"].as_i64().unwrap_or(0),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

both_shapes! {
    async fn a_delivered_order_earns_and_refunds_reverse_its_share_then_all(app) {
        let admin = app.admin().await;
        stocked(&app, &admin, "LOY-EARN", 1999, 5).await;
        let buyer = app.user("earner").await;
        let fresh = json_of(app.get("/api/v1/users/me/loyalty", Some(&buyer.access)).await).await;
        assert_eq!((fresh["balance"].as_i64(), fresh["available"].as_i64()), (Some(0), Some(0)), "{fresh}");
        assert_eq!(fresh["currency_rates"][0]["currency"], "USD");

        let placed = confirmed(&app, &buyer, "LOY-EARN", None).await;
        let id = placed["id"].as_str().expect("id");
        deliver(&app, &admin, id).await;
        // 19.99 paid at one point per whole dollar.
        let earned = loyalty_until(&app, &buyer, "19 points earned", |l| l["balance"] == 19).await;
        assert_eq!(kinds(&earned), [("earned".to_owned(), 19)]);
        assert_eq!(earned["history"]["items"][0]["order_id"], id);

        // Nobody else reads them; admins do.
        let other = app.user("nosy").await;
        assert_problem(app.get(&format!("/api/v1/users/{}/loyalty", buyer.id), Some(&other.access)).await, 403).await;
        let seen = json_of(app.get(&format!("/api/v1/users/{}/loyalty", buyer.id), Some(&admin.access)).await).await;
        assert_eq!(seen["balance"], 19);

        let refund = |amount: Option<i64>| {
            let body = amount.map_or_else(|| json!({}), |a| json!({"amount": {"amount": a, "currency": "USD"}}));
            let app = &app;
            let admin = &admin;
            async move { app.post(&format!("/api/v1/orders/{id}/refund"), Some(&admin.access), &body).await }
        };
        assert_eq!(refund(Some(1000)).await.status(), 200);
        // floor(19 × 1000 / 1999) = 9 reversed.
        let partly = loyalty_until(&app, &buyer, "the refunded share reversed", |l| l["balance"] == 10).await;
        assert_eq!(kinds(&partly)[0], ("reversed".to_owned(), -9));
        assert_eq!(refund(None).await.status(), 200);
        let all = loyalty_until(&app, &buyer, "everything reversed", |l| l["balance"] == 0).await;
        assert_eq!(
            kinds(&all),
            [("reversed".to_owned(), -10), ("reversed".to_owned(), -9), ("earned".to_owned(), 19)]
        );
        // Paging: one at a time, newest first.
        let first = json_of(app.get("/api/v1/users/me/loyalty?limit=1", Some(&buyer.access)).await).await;
        let cursor = first["history"]["next_cursor"].as_str().expect("another page");
        let second = json_of(app.get(&format!("/api/v1/users/me/loyalty?limit=1&cursor={cursor}"), Some(&buyer.access)).await).await;
        assert_eq!(kinds(&second), [("reversed".to_owned(), -9)]);
    }

    async fn redeemed_points_discount_the_payment_and_come_back_on_cancellation(app) {
        let admin = app.admin().await;
        let buyer = app.user("redeemer").await;
        with_points(&app, &admin, &buyer, "LOY-BIG", 500).await;
        stocked(&app, &admin, "LOY-TEN", 1000, 10).await;

        let mut body = items_order("LOY-TEN", 1, APPROVE);
        body["loyalty_points"] = json!(300);
        let key = uuid::Uuid::now_v7().to_string();
        let placed = json_of(order_with_key(&app, &buyer, &body, &key).await).await;
        assert_eq!(placed["status"], "confirmed", "{placed}");
        // A replay under the same key is the same order: nothing is held twice.
        let replayed = json_of(order_with_key(&app, &buyer, &body, &key).await).await;
        assert_eq!(replayed["id"], placed["id"]);
        assert_eq!(placed["discount"], json!({"amount": 300, "currency": "USD"}));
        assert_eq!(placed["loyalty_points"], 300);
        assert_eq!(placed["total"], json!({"amount": 700, "currency": "USD"}));
        let payment_id = placed["payment_id"].as_str().expect("payment");
        let payment = json_of(app.get(&format!("/api/v1/payments/{payment_id}"), Some(&admin.access)).await).await;
        assert_eq!(payment["amount"], json!({"amount": 700, "currency": "USD"}), "{payment}");
        let spent = loyalty_until(&app, &buyer, "points spent", |l| l["balance"] == 200 && l["reserved"] == 0).await;
        assert_eq!(kinds(&spent)[..2], [("redeemed".to_owned(), -300), ("reserved".to_owned(), -300)]);

        // Cancelling the confirmed order gives the spent points back.
        let id = placed["id"].as_str().expect("id");
        let cancelled = app.post(&format!("/api/v1/orders/{id}/cancel"), Some(&buyer.access), &json!({})).await;
        assert_eq!(cancelled.status(), 200);
        let back = loyalty_until(&app, &buyer, "points given back", |l| l["balance"] == 500).await;
        assert_eq!(kinds(&back)[0], ("released".to_owned(), 300));

        // A declined card releases the held points.
        let mut declined = items_order("LOY-TEN", 1, DECLINE);
        declined["loyalty_points"] = json!(100);
        let declined = json_of(order(&app, &buyer, &declined).await).await;
        assert_eq!(declined["status"], "cancelled", "{declined}");
        let released = loyalty_until(&app, &buyer, "held points released", |l| {
            l["reserved"] == 0 && l["history"]["items"][0]["kind"] == "released"
        })
        .await;
        assert_eq!((released["balance"].as_i64(), released["available"].as_i64()), (Some(500), Some(500)));

        // More than available, and a bad number, are refused naming the field.
        let mut greedy = items_order("LOY-TEN", 1, APPROVE);
        greedy["loyalty_points"] = json!(501);
        let refused = assert_problem(order(&app, &buyer, &greedy).await, 422).await;
        assert_eq!(error_fields(&refused), ["loyalty_points"]);
        greedy["loyalty_points"] = json!(0);
        let refused = assert_problem(order(&app, &buyer, &greedy).await, 422).await;
        assert_eq!(error_fields(&refused), ["loyalty_points"]);

        // The service endpoint: idempotent per order, a user's own points only.
        let path = format!("/api/v1/users/{}/loyalty/reservations", buyer.id);
        let body = json!({"order_id": "order-by-hand", "points": 50, "currency": "USD"});
        let held = app.post(&path, Some(&buyer.access), &body).await;
        assert_eq!(held.status(), 201);
        let held = json_of(held).await;
        assert_eq!(held, json!({"points": 50, "discount": {"amount": 50, "currency": "USD"}}));
        let again = json_of(app.post(&path, Some(&buyer.access), &body).await).await;
        assert_eq!(again, held, "the same order gets the same answer");
        let status = json_of(app.get("/api/v1/users/me/loyalty", Some(&buyer.access)).await).await;
        assert_eq!((status["reserved"].as_i64(), status["available"].as_i64()), (Some(50), Some(450)), "held once");
        let other = app.user("thief").await;
        assert_problem(app.post(&path, Some(&other.access), &json!({"order_id": "o-2", "points": 1, "currency": "USD"})).await, 403).await;
        let too_many = assert_problem(app.post(&path, Some(&buyer.access), &json!({"order_id": "o-3", "points": 451, "currency": "USD"})).await, 409).await;
        assert_eq!(too_many["available"], 450);
        let no_rate = assert_problem(app.post(&path, Some(&buyer.access), &json!({"order_id": "o-4", "points": 1, "currency": "EUR"})).await, 422).await;
        assert_eq!(error_fields(&no_rate), ["currency"]);

        // Points worth more than the items are refused.
        stocked(&app, &admin, "LOY-CHEAP", 100, 5).await;
        let mut cheap = items_order("LOY-CHEAP", 1, APPROVE);
        cheap["loyalty_points"] = json!(101);
        let refused = assert_problem(order(&app, &buyer, &cheap).await, 422).await;
        assert_eq!(error_fields(&refused), ["loyalty_points"]);
        // ... and what they held is given back at once, not when the hold goes stale.
        let after = json_of(app.get("/api/v1/users/me/loyalty", Some(&buyer.access)).await).await;
        assert_eq!(after["reserved"], 50, "{after}");
        assert_eq!(kinds(&after)[..2], [("released".to_owned(), 101), ("reserved".to_owned(), -101)]);

        // A hold whose order never came is given back by ordering (its service token) or
        // an admin, once; never by the customer, whose order could still confirm with
        // the discount after the points were back.
        let hold = format!("{path}/order-by-hand");
        assert_problem(app.delete(&hold, &other.access).await, 403).await;
        assert_problem(app.delete(&hold, &buyer.access).await, 403).await;
        assert_eq!(app.delete(&hold, &admin.access).await.status(), 204);
        assert_eq!(app.delete(&hold, &admin.access).await.status(), 204);
        assert_problem(app.delete(&format!("{path}/never-held"), &admin.access).await, 404).await;
        let after = json_of(app.get("/api/v1/users/me/loyalty", Some(&buyer.access)).await).await;
        assert_eq!((after["reserved"].as_i64(), after["available"].as_i64()), (Some(0), Some(500)), "{after}");
    }

    async fn refunds_give_back_their_share_of_the_points_an_order_spent(app) {
        let admin = app.admin().await;
        let buyer = app.user("refunded-redeemer").await;
        with_points(&app, &admin, &buyer, "LOY-BANK", 500).await;
        stocked(&app, &admin, "LOY-GIFT", 1000, 5).await;
        // 10.00 less 300 points: 7.00 charged.
        let placed = confirmed(&app, &buyer, "LOY-GIFT", Some(300)).await;
        assert_eq!(placed["total"], json!({"amount": 700, "currency": "USD"}));
        loyalty_until(&app, &buyer, "points spent", |l| l["balance"] == 200).await;
        let id = placed["id"].as_str().expect("id");
        // A refund is of a captured payment: the capture follows the confirmation.
        let payment_id = placed["payment_id"].as_str().expect("payment");
        until(&app, &admin.access, &format!("/api/v1/payments/{payment_id}"), "captured", |p| p["status"] == "captured").await;
        let refund = |amount: Option<i64>| {
            let body = amount.map_or_else(|| json!({}), |a| json!({"amount": {"amount": a, "currency": "USD"}}));
            let app = &app;
            let admin = &admin;
            async move { app.post(&format!("/api/v1/orders/{id}/refund"), Some(&admin.access), &body).await }
        };
        // Half of what was charged: half of the spent points, floor(300 × 350 / 700).
        assert_eq!(refund(Some(350)).await.status(), 200);
        let half = loyalty_until(&app, &buyer, "half the points back", |l| l["balance"] == 350).await;
        assert_eq!(kinds(&half)[0], ("restored".to_owned(), 150));
        // The rest: all of them, and not one more.
        assert_eq!(refund(None).await.status(), 200);
        let all = loyalty_until(&app, &buyer, "all the points back", |l| l["balance"] == 500).await;
        assert_eq!(kinds(&all)[..2], [("restored".to_owned(), 150), ("restored".to_owned(), 150)]);
        assert_eq!((all["reserved"].as_i64(), all["available"].as_i64()), (Some(0), Some(500)));

    }

    async fn concurrent_orders_never_redeem_more_than_the_balance(app) {
        let admin = app.admin().await;
        let buyer = app.user("rush").await;
        with_points(&app, &admin, &buyer, "LOY-FUND", 500).await;
        stocked(&app, &admin, "LOY-RUSH", 1000, 20).await;
        let attempts = 12;
        let placed = futures_util::future::join_all((0..attempts).map(|_| {
            let app = &app;
            let buyer = &buyer;
            async move {
                let mut body = items_order("LOY-RUSH", 1, APPROVE);
                body["loyalty_points"] = json!(100);
                let response = order(app, buyer, &body).await;
                (response.status().as_u16(), json_of(response).await)
            }
        }))
        .await;
        // Holds are exact: 500 points buy five holds of 100, whatever the interleaving.
        // A held order may still be cancelled (payments' limit of attempts per minute
        // declines some of a burst): its points come back.
        let mut discounts = 0;
        let mut held = 0;
        for (status, body) in &placed {
            match status {
                201 | 202 => {
                    held += 1;
                    let id = body["id"].as_str().expect("id");
                    let settled = until(&app, &buyer.access, &format!("/api/v1/orders/{id}"), "settled", |o| {
                        o["status"] == "confirmed" || o["status"] == "cancelled"
                    })
                    .await;
                    assert_eq!(settled["discount"]["amount"], 100, "{settled}");
                    assert_eq!(settled["total"]["amount"], 900);
                    if settled["status"] == "confirmed" {
                        discounts += 100;
                    }
                }
                422 => assert_eq!(error_fields(body), ["loyalty_points"], "{body}"),
                other => panic!("unexpected {other}: {body}"),
            }
        }
        assert_eq!(held, 5, "500 points hold five redemptions of 100");
        assert!(discounts > 0 && discounts <= 500, "{discounts}");
        let remaining = 500 - discounts;
        let after = loyalty_until(&app, &buyer, "every hold spent or given back", |l| {
            l["reserved"] == 0 && l["balance"] == remaining
        })
        .await;
        assert_eq!(after["available"], remaining);
    }

    async fn a_hold_whose_order_never_came_is_given_back_after_its_lifetime(app) {
        let admin = app.admin().await;
        let mut buyer = app.user("forgetful").await;
        with_points(&app, &admin, &buyer, "LOY-LOST", 200).await;
        let path = format!("/api/v1/users/{}/loyalty/reservations", buyer.id);
        let held = app.post(&path, Some(&buyer.access), &json!({"order_id": "lost-order", "points": 80, "currency": "USD"})).await;
        assert_eq!(held.status(), 201);
        let sweeper = app.identity().app().clone();
        assert_eq!(sweeper.release_stale_loyalty().await.expect("sweep"), 0, "not stale yet");
        let status = json_of(app.get("/api/v1/users/me/loyalty", Some(&buyer.access)).await).await;
        assert_eq!(status["reserved"], 80);

        // An hour (the default lifetime) later, the sweep gives the points back, once.
        app.clock.advance(std::time::Duration::from_secs(3601));
        sweeper.release_stale_loyalty().await.expect("sweep");
        assert_eq!(sweeper.release_stale_loyalty().await.expect("sweep"), 0, "released once");
        let signed_in = json_of(app.login(&buyer.email, PASSWORD).await).await;
        buyer.access = signed_in["access_token"].as_str().expect("token").to_owned();
        let after = json_of(app.get("/api/v1/users/me/loyalty", Some(&buyer.access)).await).await;
        assert_eq!((after["balance"].as_i64(), after["reserved"].as_i64()), (Some(200), Some(0)), "{after}");
        assert_eq!(kinds(&after)[..2], [("released".to_owned(), 80), ("reserved".to_owned(), -80)]);
    }
}
