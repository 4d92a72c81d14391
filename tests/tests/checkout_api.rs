//! The checkout through the gateway, in both shapes: carts, the saga with each test
//! card, cancellation and refunds, idempotency, authorization, and many buyers racing
//! for a few units.

use std::time::Duration;

use contracts::fulfillment::{ReturnReceived, ReturnedLine, ShipmentDelivered, ShipmentDispatched};
use platform::bus::{Envelope, EventHandler};
use platform::service::{Service, ServiceKind};
use serde_json::{Value, json};
use viscount_tests::shop::*;
use viscount_tests::{TestApp, assert_problem, both_shapes, error_fields, eventually};

/// Hands fulfillment's `event` to ordering's consumer, as the bus would.
async fn deliver_to_ordering<E: contracts::Event>(app: &TestApp, event: &E) {
    let ordering = app
        .platform
        .as_ref()
        .and_then(|p| p.services.get::<ordering::Ordering>())
        .expect("ordering runs");
    let handler = ordering::events::OrderingEvents {
        app: ordering.app().clone(),
    };
    let envelope = Envelope::new(ServiceKind::Fulfillment, event).expect("envelope");
    let mut tx = ordering.db().begin().await.expect("begin");
    handler.handle(&mut tx, &envelope).await.expect("handled");
    tx.commit().await.expect("commit");
}

/// Hands fulfillment's `event` to inventory's consumer, as the bus would.
async fn deliver_to_inventory<E: contracts::Event>(app: &TestApp, event: &E) {
    let inventory = app
        .platform
        .as_ref()
        .and_then(|p| p.services.get::<inventory::Inventory>())
        .expect("inventory runs");
    let handler = inventory::events::OrderEvents {
        app: inventory.app().clone(),
    };
    let envelope = Envelope::new(ServiceKind::Fulfillment, event).expect("envelope");
    let mut tx = inventory.db().begin().await.expect("begin");
    handler.handle(&mut tx, &envelope).await.expect("handled");
    tx.commit().await.expect("commit");
}

both_shapes! {
    async fn a_checkout_confirms_captures_and_commits_stock(app) {
        let admin = app.admin().await;
        stocked(&app, &admin, "HAPPY-1", 1250, 10).await;
        let buyer = app.user("buyer").await;
        let response = order(&app, &buyer, &items_order("HAPPY-1", 2, APPROVE)).await;
        assert_eq!(response.status(), 201, "settled in time");
        assert!(response.headers().get("location").is_some());
        let text = response.text().await.expect("body");
        assert!(!text.contains(APPROVE), "the card number is never echoed");
        let placed: Value = serde_json::from_str(&text).expect("json");
        assert_eq!(placed["status"], "confirmed", "{placed}");
        assert_eq!(placed["total"], json!({"amount": 2500, "currency": "USD"}));
        assert_eq!(placed["items"][0]["unit_price"]["amount"], 1250);
        assert_eq!(placed["payment"]["last4"], "4242");
        let id = placed["id"].as_str().expect("id");

        let history = json_of(app.get(&format!("/api/v1/orders/{id}/history"), Some(&buyer.access)).await).await;
        let statuses: Vec<&str> = history.as_array().expect("list").iter().filter_map(|h| h["status"].as_str()).collect();
        assert_eq!(statuses, ["pending", "reserved", "authorized", "confirmed"]);

        let payment_id = placed["payment_id"].as_str().expect("payment id");
        until(&app, &buyer.access, &format!("/api/v1/payments/{payment_id}"), "capture", |p| p["status"] == "captured").await;
        eventually(SETTLE, "stock committed", || async {
            let s = stock(&app, "HAPPY-1").await;
            (s["on_hand"] == 8 && s["reserved"] == 0).then_some(())
        })
        .await;
        until(&app, &buyer.access, &format!("/api/v1/orders/{id}"), "captured on the order", |o| o["captured"]["amount"] == 2500).await;
    }

    async fn each_test_card_ends_as_its_processor_says(app) {
        let admin = app.admin().await;
        stocked(&app, &admin, "CARDS-1", 500, 10).await;
        let buyer = app.user("cards").await;
        for (number, reason) in [(DECLINE, "declined"), (INSUFFICIENT, "insufficient"), (FRAUD, "fraud")] {
            let placed = json_of(order(&app, &buyer, &items_order("CARDS-1", 1, number)).await).await;
            assert_eq!(placed["status"], "cancelled", "{number}: {placed}");
            let why = placed["cancel_reason"].as_str().unwrap_or("").to_lowercase();
            assert!(why.contains(reason), "{number} is cancelled for {reason}: {why}");
        }
        let approved = json_of(order(&app, &buyer, &items_order("CARDS-1", 1, "5555555555554444")).await).await;
        assert_eq!(approved["status"], "confirmed", "another Luhn-valid card approves");
        eventually(SETTLE, "declined orders release their stock", || async {
            let s = stock(&app, "CARDS-1").await;
            (s["reserved"] == 0 && s["on_hand"] == 9).then_some(())
        })
        .await;
    }

    async fn bad_cards_are_422s_and_nothing_is_ordered(app) {
        let admin = app.admin().await;
        stocked(&app, &admin, "LUHN-1", 500, 5).await;
        let buyer = app.user("luhn").await;
        let bad_luhn = order(&app, &buyer, &items_order("LUHN-1", 1, "4242424242424241")).await;
        let problem = assert_problem(bad_luhn, 422).await;
        assert!(error_fields(&problem).contains(&"payment.card_number".to_owned()), "{problem}");
        let mut expired = items_order("LUHN-1", 1, APPROVE);
        expired["payment"]["exp_year"] = json!(2020);
        let problem = assert_problem(order(&app, &buyer, &expired).await, 422).await;
        assert!(error_fields(&problem).iter().any(|f| f.starts_with("payment.exp")), "{problem}");
        let unknown = order(&app, &buyer, &items_order("NO-SUCH-SKU", 1, APPROVE)).await;
        let problem = assert_problem(unknown, 422).await;
        assert_eq!(error_fields(&problem), ["items[0].sku"]);
        let mine = json_of(app.get("/api/v1/orders", Some(&buyer.access)).await).await;
        assert_eq!(mine["items"], json!([]), "no order was written");
        assert_eq!(stock(&app, "LUHN-1").await["reserved"], 0);
    }

    async fn an_order_needs_an_idempotency_key_and_replays_by_it(app) {
        let admin = app.admin().await;
        stocked(&app, &admin, "IDEM-1", 700, 5).await;
        let buyer = app.user("idem").await;
        let body = items_order("IDEM-1", 1, APPROVE);
        let without = app.client.post(app.url("/api/v1/orders")).bearer_auth(&buyer.access).json(&body).send().await.expect("sent");
        assert_problem(without, 400).await;
        let first = json_of(order_with_key(&app, &buyer, &body, "key-1").await).await;
        let again = order_with_key(&app, &buyer, &body, "key-1").await;
        assert_eq!(again.headers().get("idempotent-replayed").map(|v| v.as_bytes()), Some(&b"true"[..]));
        assert_eq!(json_of(again).await["id"], first["id"], "the same order");
        let other = order_with_key(&app, &buyer, &items_order("IDEM-1", 2, APPROVE), "key-1").await;
        assert_problem(other, 422).await;
        let mine = json_of(app.get("/api/v1/orders", Some(&buyer.access)).await).await;
        assert_eq!(mine["items"].as_array().map(Vec::len), Some(1), "one order for one key");
        eventually(SETTLE, "one unit reserved or sold", || async {
            let s = stock(&app, "IDEM-1").await;
            (s["available"] == 4).then_some(())
        })
        .await;
    }

    async fn carts_are_priced_from_the_catalog_and_private(app) {
        let admin = app.admin().await;
        stocked(&app, &admin, "CART-A", 300, 5).await;
        stocked(&app, &admin, "CART-B", 150, 5).await;
        let owner = app.user("owner").await;
        let other = app.user("other").await;
        let cart = app.post("/api/v1/carts", Some(&owner.access), &json!({})).await;
        assert_eq!(cart.status(), 201);
        let cart = json_of(cart).await;
        let id = cart["id"].as_str().expect("id");
        let items = format!("/api/v1/carts/{id}/items");
        app.put(&items, &owner.access, &json!({"sku": "CART-A", "quantity": 2})).await;
        let priced = json_of(app.put(&items, &owner.access, &json!({"sku": "CART-B", "quantity": 3})).await).await;
        assert_eq!(priced["total"], json!({"amount": 1050, "currency": "USD"}));
        assert_eq!(priced["items"][0]["line_total"]["amount"], 600);
        let removed = json_of(app.put(&items, &owner.access, &json!({"sku": "CART-A", "quantity": 0})).await).await;
        assert_eq!(removed["items"].as_array().map(Vec::len), Some(1));
        let unknown = app.put(&items, &owner.access, &json!({"sku": "NOPE", "quantity": 1})).await;
        assert_eq!(error_fields(&assert_problem(unknown, 422).await), ["sku"]);
        assert_problem(app.get(&format!("/api/v1/carts/{id}"), Some(&other.access)).await, 404).await;
        assert_problem(app.put(&items, &other.access, &json!({"sku": "CART-A", "quantity": 1})).await, 404).await;
        assert_problem(app.get(&format!("/api/v1/carts/{id}"), None).await, 401).await;

        // Checking out the cart orders its lines and empties it.
        let placed = json_of(order(&app, &owner, &json!({"cart_id": id, "shipping_address": address(), "payment": card(APPROVE)})).await).await;
        assert_eq!(placed["status"], "confirmed", "{placed}");
        assert_eq!(placed["total"]["amount"], 450);
        let emptied = json_of(app.get(&format!("/api/v1/carts/{id}"), Some(&owner.access)).await).await;
        assert_eq!(emptied["items"], json!([]));

        // Orders and payments are private too.
        let order_id = placed["id"].as_str().expect("id");
        assert_problem(app.get(&format!("/api/v1/orders/{order_id}"), Some(&other.access)).await, 404).await;
        assert_problem(app.get(&format!("/api/v1/orders/{order_id}/history"), Some(&other.access)).await, 404).await;
        assert_problem(app.post(&format!("/api/v1/orders/{order_id}/cancel"), Some(&other.access), &json!({})).await, 404).await;
        let payment_id = placed["payment_id"].as_str().expect("payment");
        assert_problem(app.get(&format!("/api/v1/payments/{payment_id}"), Some(&other.access)).await, 404).await;
        let theirs = json_of(app.get("/api/v1/orders", Some(&other.access)).await).await;
        assert_eq!(theirs["items"], json!([]));
        let all = json_of(app.get("/api/v1/orders", Some(&admin.access)).await).await;
        assert!(all["items"].as_array().is_some_and(|o| o.iter().any(|o| o["id"] == order_id)), "admins see every order");
        let first = app.get("/api/v1/orders?status=confirmed&limit=1", Some(&owner.access)).await;
        assert_eq!(first.status(), 200, "a numeric limit beside a filter");
        let first = json_of(first).await;
        assert_eq!(first["items"].as_array().map(Vec::len), Some(1), "{first}");

        // A user's orders by their id (seeds 001 and 003): their own (or `me`), anyone's
        // for admins, and another user's are not found.
        let ids = |list: &Value| -> Vec<String> {
            list["items"].as_array().map(|o| o.iter().filter_map(|o| o["id"].as_str().map(str::to_owned)).collect()).unwrap_or_default()
        };
        let mine = format!("/api/v1/users/{}/orders", owner.id);
        let own = json_of(app.get(&mine, Some(&owner.access)).await).await;
        assert_eq!(ids(&own), [order_id]);
        let me = json_of(app.get("/api/v1/users/me/orders?status=confirmed", Some(&owner.access)).await).await;
        assert_eq!(ids(&me), [order_id]);
        let by_admin = json_of(app.get(&mine, Some(&admin.access)).await).await;
        assert_eq!(ids(&by_admin), [order_id], "an admin sees that user's orders only");
        assert_problem(app.get(&mine, Some(&other.access)).await, 404).await;
        assert_problem(app.get(&mine, None).await, 401).await;
        let none = json_of(app.get(&format!("/api/v1/users/{}/orders", other.id), Some(&other.access)).await).await;
        assert_eq!(none["items"], json!([]));
    }

    async fn cancelling_a_confirmed_order_returns_stock_and_money(app) {
        let admin = app.admin().await;
        stocked(&app, &admin, "UNDO-1", 900, 4).await;
        let buyer = app.user("undo").await;
        let placed = json_of(order(&app, &buyer, &items_order("UNDO-1", 2, APPROVE)).await).await;
        assert_eq!(placed["status"], "confirmed");
        let id = placed["id"].as_str().expect("id");
        let payment_id = placed["payment_id"].as_str().expect("payment");
        until(&app, &buyer.access, &format!("/api/v1/payments/{payment_id}"), "capture", |p| p["status"] == "captured").await;
        let cancelled = app.post(&format!("/api/v1/orders/{id}/cancel"), Some(&buyer.access), &json!({"reason": "changed my mind"})).await;
        assert_eq!(cancelled.status(), 200);
        assert_eq!(json_of(cancelled).await["cancel_reason"], "changed my mind");
        eventually(SETTLE, "stock back on hand", || async {
            let s = stock(&app, "UNDO-1").await;
            (s["on_hand"] == 4 && s["reserved"] == 0).then_some(())
        })
        .await;
        until(&app, &buyer.access, &format!("/api/v1/payments/{payment_id}"), "refund", |p| p["status"] == "refunded" && p["refunded"]["amount"] == 1800).await;
        until(&app, &buyer.access, &format!("/api/v1/orders/{id}"), "refund on the order", |o| o["refunded"]["amount"] == 1800 && o["status"] == "cancelled").await;
        let again = app.post(&format!("/api/v1/orders/{id}/cancel"), Some(&buyer.access), &json!({})).await;
        assert_problem(again, 409).await;
    }

    async fn orders_follow_their_parcels_and_received_returns_are_refunded_and_restocked(app) {
        let admin = app.admin().await;
        stocked(&app, &admin, "PARCEL-1", 1250, 5).await;
        let buyer = app.user("parcel").await;
        let placed = json_of(order(&app, &buyer, &items_order("PARCEL-1", 2, APPROVE)).await).await;
        assert_eq!(placed["status"], "confirmed", "{placed}");
        let id = placed["id"].as_str().expect("id").to_owned();
        until(&app, &buyer.access, &format!("/api/v1/orders/{id}"), "capture", |o| o["captured"]["amount"] == 2500).await;
        let parcel = |shipment: &str| ShipmentDelivered {
            shipment_id: shipment.into(),
            order_id: id.clone(),
            user_id: buyer.id.clone(),
            tracking_number: format!("LC-{shipment}"),
            delivered_at: "2026-11-23T10:00:00Z".into(),
            order_delivered: false,
        };
        deliver_to_ordering(&app, &ShipmentDispatched {
            shipment_id: "s-1".into(),
            order_id: id.clone(),
            user_id: buyer.id.clone(),
            carrier: "local".into(),
            tracking_number: "LC-s-1".into(),
            tracking_url: None,
            dispatched_at: "2026-11-22T10:00:00Z".into(),
        })
        .await;
        let shipped = json_of(app.get(&format!("/api/v1/orders/{id}"), Some(&buyer.access)).await).await;
        assert_eq!(shipped["status"], "shipped");
        let cancel = app.post(&format!("/api/v1/orders/{id}/cancel"), Some(&buyer.access), &json!({})).await;
        assert_problem(cancel, 409).await;
        // One parcel of two arriving does not deliver the order; the last one does.
        deliver_to_ordering(&app, &parcel("s-1")).await;
        let order_now = json_of(app.get(&format!("/api/v1/orders/{id}"), Some(&buyer.access)).await).await;
        assert_eq!(order_now["status"], "shipped");
        deliver_to_ordering(&app, &ShipmentDelivered { order_delivered: true, ..parcel("s-2") }).await;
        let delivered = json_of(app.get(&format!("/api/v1/orders/{id}"), Some(&buyer.access)).await).await;
        assert_eq!(delivered["status"], "delivered");

        let returned = ReturnReceived {
            return_id: "r-1".into(),
            order_id: id.clone(),
            user_id: buyer.id.clone(),
            lines: vec![ReturnedLine { sku: "PARCEL-1".into(), warehouse_id: "MAIN".into(), quantity: 1 }],
        };
        deliver_to_ordering(&app, &returned).await;
        deliver_to_inventory(&app, &returned).await;
        let refunded = until(&app, &buyer.access, &format!("/api/v1/orders/{id}"), "the return refunded", |o| o["refunded"]["amount"] == 1250).await;
        assert_eq!(refunded["status"], "partially_refunded", "{refunded}");
        let payment_id = placed["payment_id"].as_str().expect("payment");
        let payment = json_of(app.get(&format!("/api/v1/payments/{payment_id}"), Some(&buyer.access)).await).await;
        assert_eq!(payment["refunded"]["amount"], 1250);
        let s = stock(&app, "PARCEL-1").await;
        assert_eq!((s["on_hand"].as_i64(), s["reserved"].as_i64()), (Some(4), Some(0)), "3 left after the sale, 1 came back: {s}");
        let history = json_of(app.get(&format!("/api/v1/orders/{id}/history"), Some(&buyer.access)).await).await;
        let statuses: Vec<&str> = history.as_array().expect("list").iter().filter_map(|h| h["status"].as_str()).collect();
        assert!(statuses.ends_with(&["confirmed", "shipped", "delivered", "delivered", "partially_refunded"]), "{statuses:?}");
    }

    async fn refunds_add_up_to_what_was_captured_and_no_more(app) {
        let admin = app.admin().await;
        stocked(&app, &admin, "REFUND-1", 1000, 3).await;
        let buyer = app.user("refund").await;
        let placed = json_of(order(&app, &buyer, &items_order("REFUND-1", 1, APPROVE)).await).await;
        let id = placed["id"].as_str().expect("id");
        until(&app, &buyer.access, &format!("/api/v1/orders/{id}"), "capture", |o| o["captured"]["amount"] == 1000).await;
        let refund = |amount: Option<i64>| {
            let body = match amount {
                Some(a) => json!({"amount": {"amount": a, "currency": "USD"}}),
                None => json!({}),
            };
            let path = format!("/api/v1/orders/{id}/refund");
            let token = admin.access.clone();
            let app = &app;
            async move { app.post(&path, Some(&token), &body).await }
        };
        let customer = app.post(&format!("/api/v1/orders/{id}/refund"), Some(&buyer.access), &json!({})).await;
        assert_problem(customer, 403).await;
        let partial = refund(Some(300)).await;
        assert_eq!(partial.status(), 200);
        let partial = json_of(partial).await;
        assert_eq!(partial["status"], "partially_refunded", "{partial}");
        assert_eq!(partial["refunded"]["amount"], 300);
        assert_problem(refund(Some(800)).await, 409).await;
        let euros = app.post(&format!("/api/v1/orders/{id}/refund"), Some(&admin.access), &json!({"amount": {"amount": 10, "currency": "EUR"}})).await;
        assert_problem(euros, 422).await;
        let rest = json_of(refund(None).await).await;
        assert_eq!(rest["status"], "refunded", "{rest}");
        assert_eq!(rest["refunded"]["amount"], 1000);
        assert_problem(refund(Some(1)).await, 409).await;
        let payment_id = placed["payment_id"].as_str().expect("payment");
        let payment = json_of(app.get(&format!("/api/v1/payments/{payment_id}"), Some(&admin.access)).await).await;
        assert_eq!(payment["refunded"]["amount"], 1000);
    }

    async fn admins_move_orders_only_along_the_state_machine(app) {
        let admin = app.admin().await;
        stocked(&app, &admin, "SHIP-1", 400, 3).await;
        let buyer = app.user("ship").await;
        let placed = json_of(order(&app, &buyer, &items_order("SHIP-1", 1, APPROVE)).await).await;
        let status = format!("/api/v1/orders/{}/status", placed["id"].as_str().expect("id"));
        assert_problem(app.put(&status, &buyer.access, &json!({"status": "shipped"})).await, 403).await;
        assert_problem(app.put(&status, &admin.access, &json!({"status": "delivered"})).await, 409).await;
        assert_problem(app.put(&status, &admin.access, &json!({"status": "teleported"})).await, 422).await;
        let shipped = app.put(&status, &admin.access, &json!({"status": "shipped"})).await;
        assert_eq!(shipped.status(), 200);
        assert_eq!(json_of(shipped).await["status"], "shipped");
        let cancel = app.post(&format!("/api/v1/orders/{}/cancel", placed["id"].as_str().expect("id")), Some(&buyer.access), &json!({})).await;
        assert_problem(cancel, 409).await;
        let delivered = json_of(app.put(&status, &admin.access, &json!({"status": "delivered"})).await).await;
        assert_eq!(delivered["status"], "delivered");
        let shipped_list = json_of(app.get("/api/v1/orders?status=delivered", Some(&buyer.access)).await).await;
        assert_eq!(shipped_list["items"].as_array().map(Vec::len), Some(1));
        assert_problem(app.get("/api/v1/orders?status=nonsense", Some(&buyer.access)).await, 422).await;
    }

    async fn thirty_buyers_for_ten_units_confirm_exactly_ten(app) {
        let admin = app.admin().await;
        stocked(&app, &admin, "RUSH-1", 2000, 10).await;
        let mut buyers = Vec::new();
        for i in 0..30 {
            buyers.push(app.user(&format!("rush{i}")).await);
        }
        let placed = futures_util::future::join_all(buyers.iter().map(|buyer| {
            let app = &app;
            async move { json_of(order(app, buyer, &items_order("RUSH-1", 1, APPROVE)).await).await }
        }))
        .await;
        let mut confirmed = 0;
        let mut cancelled = Vec::new();
        for (order, buyer) in placed.iter().zip(&buyers) {
            let id = order["id"].as_str().expect("id");
            let settled = until(&app, &buyer.access, &format!("/api/v1/orders/{id}"), "settled", |o| {
                o["status"] == "confirmed" || o["status"] == "cancelled"
            })
            .await;
            if settled["status"] == "confirmed" {
                confirmed += 1;
            } else {
                assert!(settled["cancel_reason"].as_str().is_some_and(|r| !r.is_empty()), "a reason: {settled}");
                cancelled.push((settled, buyer));
            }
        }
        assert_eq!(confirmed, 10, "exactly the stock");
        assert_eq!(cancelled.len(), 20);
        eventually(SETTLE, "all ten sold", || async {
            let s = stock(&app, "RUSH-1").await;
            (s["available"] == 0 && s["on_hand"] == 0 && s["reserved"] == 0).then_some(())
        })
        .await;
        for (order, _) in &cancelled {
            let payment_id = order["payment_id"].as_str().expect("payment");
            let payment = json_of(app.get(&format!("/api/v1/payments/{payment_id}"), Some(&admin.access)).await).await;
            assert_eq!(payment["captured"]["amount"], 0, "no capture for a cancelled order: {payment}");
        }
    }

    async fn checkouts_stopped_between_saga_steps_settle_after_a_restart(app) {
        let mut app = app;
        const RECEIVED: i64 = 12;
        let admin = app.admin().await;
        stocked(&app, &admin, "STOP-1", 700, RECEIVED).await;
        let mut buyers = Vec::new();
        for i in 0..16 {
            buyers.push(app.user(&format!("stop{i}")).await);
        }
        // Accepted, not waited for: the saga is mid-flight when everything stops.
        let placed = futures_util::future::join_all(buyers.iter().map(|buyer| {
            let app = &app;
            async move {
                let response = app
                    .client
                    .post(app.url("/api/v1/orders"))
                    .bearer_auth(&buyer.access)
                    .header("idempotency-key", uuid::Uuid::now_v7().to_string())
                    .json(&items_order("STOP-1", 1, APPROVE))
                    .send()
                    .await
                    .expect("order sent");
                assert_eq!(response.status(), 202);
                json_of(response).await["id"].as_str().expect("id").to_owned()
            }
        }))
        .await;
        app.restart().await;

        // On JetStream, events the stopped consumers had taken but not acknowledged come
        // back after the ack wait (10 s).
        let admin = app.admin().await;
        let mut confirmed = 0;
        for id in &placed {
            let order = eventually(Duration::from_secs(60), "settled", || async {
                let order = json_of(app.get(&format!("/api/v1/orders/{id}"), Some(&admin.access)).await).await;
                (order["status"] == "confirmed" || order["status"] == "cancelled").then_some(order)
            })
            .await;
            if order["status"] == "confirmed" {
                confirmed += 1;
            }
        }
        assert_eq!(confirmed, RECEIVED, "every unit sold once, no more");
        // Stock: nothing left reserved; what was received is on hand or sold.
        eventually(SETTLE, "stock settles", || async {
            let s = stock(&app, "STOP-1").await;
            (s["reserved"] == 0 && s["on_hand"] == 0).then_some(())
        })
        .await;
        // Money: totals equal the ledger, one capture at most, none for a cancelled order.
        for id in &placed {
            let order = json_of(app.get(&format!("/api/v1/orders/{id}"), Some(&admin.access)).await).await;
            let payment_id = order["payment_id"].as_str().expect("payment").to_owned();
            let wanted = if order["status"] == "confirmed" { 700 } else { 0 };
            let payment = until(&app, &admin.access, &format!("/api/v1/payments/{payment_id}"), "payment settles", |p| {
                p["captured"]["amount"] == wanted && p["status"] != "pending" && p["status"] != "authorized"
            })
            .await;
            let ledger = json_of(app.get(&format!("/api/v1/transactions?payment_id={payment_id}&limit=100"), Some(&admin.access)).await).await;
            let rows = ledger["items"].as_array().cloned().unwrap_or_default();
            let sum = |kind: &str| -> i64 {
                rows.iter().filter(|r| r["kind"] == kind).filter_map(|r| r["amount"]["amount"].as_i64()).sum()
            };
            assert!(rows.iter().filter(|r| r["kind"] == "capture").count() <= 1, "one capture at most: {ledger}");
            assert_eq!(payment["captured"]["amount"].as_i64(), Some(sum("capture")), "{payment} {ledger}");
            assert_eq!(payment["refunded"]["amount"].as_i64(), Some(sum("refund")), "{payment} {ledger}");
        }
    }

    async fn odd_ids_reasons_and_cursors_are_answered_without_a_server_error(app) {
        let admin = app.admin().await;
        stocked(&app, &admin, "ODD-1", 300, 5).await;
        let buyer = app.user("odd").await;
        // A NUL (which PostgreSQL's text refuses) or any other non-id names nothing.
        for id in ["%00", "not-an-id"] {
            assert_problem(app.get(&format!("/api/v1/carts/{id}"), Some(&buyer.access)).await, 404).await;
            assert_problem(app.get(&format!("/api/v1/orders/{id}"), Some(&buyer.access)).await, 404).await;
            assert_problem(app.get(&format!("/api/v1/orders/{id}/history"), Some(&buyer.access)).await, 404).await;
            assert_problem(app.post(&format!("/api/v1/orders/{id}/cancel"), Some(&buyer.access), &json!({})).await, 404).await;
        }
        let by_cart = order(&app, &buyer, &json!({"cart_id": "\u{0}", "shipping_address": address(), "payment": card(APPROVE)})).await;
        assert_eq!(error_fields(&assert_problem(by_cart, 422).await), ["cart_id"]);
        assert_problem(app.get("/api/v1/orders?cursor=AA", Some(&buyer.access)).await, 422).await;
        // Not signed in: 401 before the missing key is even looked at.
        assert_problem(app.post("/api/v1/orders", None, &items_order("ODD-1", 1, APPROVE)).await, 401).await;

        // Control characters never reach a history line; a `null` body is no body.
        let placed = json_of(order(&app, &buyer, &items_order("ODD-1", 1, APPROVE)).await).await;
        let id = placed["id"].as_str().expect("id");
        let cancel = app.post(&format!("/api/v1/orders/{id}/cancel"), Some(&buyer.access), &json!({"reason": "too\u{0} late\u{7}"})).await;
        assert_eq!(cancel.status(), 200);
        assert_eq!(json_of(cancel).await["cancel_reason"], "too late");
        let again = app.post(&format!("/api/v1/orders/{id}/cancel"), Some(&buyer.access), &Value::Null).await;
        assert_problem(again, 409).await;
    }
}
