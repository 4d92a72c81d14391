//! Fulfillment through the gateway, in both shapes: shipments opened from confirmed
//! orders (one per warehouse), operator dispatch and delivery, the signed carrier
//! webhook, labels, returns ending in a refund and a restock, and the lists of
//! shipments (operators) and returns (operators, and customers their own).

use contracts::inventory::{Allocation, StockCommitted};
use contracts::ordering::{OrderCancelled, OrderConfirmed, ShippingAddress};
use platform::service::{Service, ServiceKind};
use serde_json::{Value, json};
use viscount_tests::shop::*;
use viscount_tests::{TestApp, TestUser, assert_problem, both_shapes, error_fields, eventually};

/// The secret the local courier signs webhooks with in a platform started without
/// configuration.
const SECRET: &[u8] = fulfillment::DEV_LOCAL_COURIER_SECRET.as_bytes();

/// A confirmed order of `quantity` of `sku` by `buyer`.
async fn confirmed_order(app: &TestApp, buyer: &TestUser, sku: &str, quantity: i64) -> Value {
    let placed = json_of(order(app, buyer, &items_order(sku, quantity, APPROVE)).await).await;
    assert_eq!(placed["status"], "confirmed", "{placed}");
    placed
}

/// The order's shipments once `count` of them are open, as `token` sees them.
async fn shipments_of(app: &TestApp, token: &str, order_id: &str, count: usize) -> Vec<Value> {
    let list = until(
        app,
        token,
        &format!("/api/v1/orders/{order_id}/shipments"),
        "the order's shipments",
        |l| l["items"].as_array().is_some_and(|i| i.len() == count),
    )
    .await;
    list["items"].as_array().cloned().unwrap_or_default()
}

/// The one shipment of a one-warehouse order.
async fn shipment_of(app: &TestApp, token: &str, order_id: &str) -> Value {
    shipments_of(app, token, order_id, 1)
        .await
        .pop()
        .expect("one shipment")
}

fn id_of(value: &Value) -> &str {
    value["id"].as_str().expect("id")
}

/// POST with a bearer token and no body.
async fn post_empty(app: &TestApp, path: &str, token: &str) -> reqwest::Response {
    app.client
        .post(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .expect("request sent")
}

/// A carrier tracking update body for `shipment`.
fn update(shipment: &Value, status: &str, occurred_at: i64) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "tracking_number": shipment["tracking_number"],
        "status": status,
        "occurred_at": platform::time::rfc3339(occurred_at),
        "location": "Springfield hub",
        "description": format!("{status} scan"),
    }))
    .expect("json")
}

/// Sends `body` to the shipment's webhook, signed with `secret` (or unsigned).
async fn webhook(
    app: &TestApp,
    shipment: &Value,
    body: Vec<u8>,
    secret: Option<&[u8]>,
) -> reqwest::Response {
    let mut request = app
        .client
        .post(app.url(&format!("/api/v1/shipments/{}/tracking", id_of(shipment))))
        .header("content-type", "application/json");
    if let Some(secret) = secret {
        request = request.header(
            "x-carrier-signature",
            fulfillment::carrier::sign(secret, &body),
        );
    }
    request.body(body).send().await.expect("request sent")
}

/// Signs and sends a carrier update of `status` happening now.
async fn carrier_says(app: &TestApp, shipment: &Value, status: &str) -> Value {
    let response = webhook(
        app,
        shipment,
        update(shipment, status, app.clock.now_millis()),
        Some(SECRET),
    )
    .await;
    assert_eq!(response.status(), 200, "carrier update {status}");
    json_of(response).await
}

async fn get_shipment(app: &TestApp, token: &str, id: &str) -> Value {
    let response = app
        .get(&format!("/api/v1/shipments/{id}"), Some(token))
        .await;
    assert_eq!(response.status(), 200, "shipment {id}");
    json_of(response).await
}

fn statuses(shipment: &Value) -> Vec<String> {
    shipment["events"]
        .as_array()
        .map(|events| {
            events
                .iter()
                .filter_map(|e| e["status"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The fulfillment service's database.
fn fulfillment_db(app: &TestApp) -> &platform::db::Db {
    app.platform
        .as_ref()
        .and_then(|p| p.services.get::<fulfillment::Fulfillment>())
        .expect("fulfillment runs")
        .db()
}

/// The payloads of the events of `event_type` fulfillment emitted, oldest first.
async fn emitted(app: &TestApp, event_type: &str) -> Vec<Value> {
    let bodies: Vec<String> =
        platform::db::query_scalar("SELECT body FROM outbox WHERE event_type = $1 ORDER BY seq")
            .bind(event_type)
            .fetch_all(fulfillment_db(app).reader())
            .await
            .expect("outbox");
    bodies
        .iter()
        .map(|b| serde_json::from_str::<Value>(b).expect("envelope")["data"].clone())
        .collect()
}

/// How many returns fulfillment holds.
async fn return_count(app: &TestApp) -> i64 {
    platform::db::query_scalar("SELECT COUNT(*) FROM returns")
        .fetch_one(fulfillment_db(app).reader())
        .await
        .expect("count")
}

async fn open_return(
    app: &TestApp,
    token: &str,
    order_id: &str,
    sku: &str,
    quantity: i64,
) -> reqwest::Response {
    app.post(
        "/api/v1/returns",
        Some(token),
        &json!({"order_id": order_id, "lines": [{"sku": sku, "quantity": quantity}],
                "reason": "does not fit"}),
    )
    .await
}

/// A fresh access token for `user` (after the clock moved past the old one's expiry).
async fn sign_in_again(app: &TestApp, user: &TestUser) -> String {
    let tokens = json_of(app.login(&user.email, viscount_tests::PASSWORD).await).await;
    tokens["access_token"].as_str().expect("access").to_owned()
}

both_shapes! {
    async fn a_checkout_ships_and_the_order_follows_its_shipment_to_delivery(app) {
        let admin = app.admin().await;
        stocked(&app, &admin, "SHIP-1", 1500, 5).await;
        let buyer = app.user("shipper").await;
        let placed = confirmed_order(&app, &buyer, "SHIP-1", 2).await;
        let order_id = id_of(&placed);
        let order_path = format!("/api/v1/orders/{order_id}");

        let shipment = shipment_of(&app, &buyer.access, order_id).await;
        assert_eq!(shipment["status"], "label_created", "{shipment}");
        assert_eq!(shipment["carrier"], "local");
        assert_eq!(shipment["order_id"], order_id);
        let tracking = shipment["tracking_number"].as_str().expect("tracking number");
        assert!(tracking.starts_with("LC") && tracking.len() == 14, "{tracking}");
        assert_eq!(shipment["lines"], json!([{"sku": "SHIP-1", "quantity": 2}]));
        assert_eq!(shipment["weight_grams"], 1000, "two units of the default 500 g");
        // Same postal area as the default warehouse (zone 1), up to 1 kg.
        assert_eq!(shipment["rate"], json!({"amount": 599, "currency": "USD"}));
        assert_eq!(shipment["ship_to"]["name"], "Ann Buyer");
        assert_eq!(statuses(&shipment), ["pending", "label_created"]);
        let id = id_of(&shipment);

        let forbidden = post_empty(&app, &format!("/api/v1/shipments/{id}/dispatch"), &buyer.access).await;
        assert_problem(forbidden, 403).await;
        let dispatched = post_empty(&app, &format!("/api/v1/shipments/{id}/dispatch"), &admin.access).await;
        assert_eq!(dispatched.status(), 200);
        let dispatched = json_of(dispatched).await;
        assert_eq!(dispatched["status"], "dispatched");
        assert!(dispatched["dispatched_at"].is_string());
        let again = post_empty(&app, &format!("/api/v1/shipments/{id}/dispatch"), &admin.access).await;
        let problem = assert_problem(again, 409).await;
        assert_eq!(problem["shipment_status"], "dispatched", "{problem}");
        until(&app, &buyer.access, &order_path, "the order shipped", |o| o["status"] == "shipped").await;

        carrier_says(&app, &shipment, "in_transit").await;
        carrier_says(&app, &shipment, "out_for_delivery").await;
        let delivered_body = update(&shipment, "delivered", app.clock.now_millis());
        let ack = json_of(webhook(&app, &shipment, delivered_body.clone(), Some(SECRET)).await).await;
        assert_eq!(ack, json!({"shipment_id": id, "status": "delivered", "duplicate": false, "applied": true}));
        // The carrier repeating itself changes nothing.
        let repeated = webhook(&app, &shipment, delivered_body, Some(SECRET)).await;
        assert_eq!(repeated.status(), 200);
        assert_eq!(json_of(repeated).await["duplicate"], true);

        let delivered = get_shipment(&app, &buyer.access, id).await;
        assert_eq!(delivered["status"], "delivered");
        assert!(delivered["delivered_at"].is_string());
        assert_eq!(
            statuses(&delivered),
            ["pending", "label_created", "dispatched", "in_transit", "out_for_delivery", "delivered"]
        );
        assert_eq!(delivered["events"][3]["location"], "Springfield hub");
        let announced = emitted(&app, "fulfillment.shipment.delivered.v1").await;
        assert_eq!(announced.len(), 1, "one delivery announced: {announced:?}");
        assert_eq!(announced[0]["order_delivered"], true);
        until(&app, &buyer.access, &order_path, "the order delivered", |o| o["status"] == "delivered").await;

        // A late scan is acknowledged and kept, and a delivered parcel stays delivered.
        let late = webhook(&app, &shipment, update(&shipment, "in_transit", app.clock.now_millis() + 1), Some(SECRET)).await;
        assert_eq!(late.status(), 200);
        let late: Value = late.json().await.expect("json");
        assert_eq!((late["status"].as_str(), late["applied"].as_bool()), (Some("delivered"), Some(false)), "{late}");
        let after = get_shipment(&app, &buyer.access, id).await;
        assert_eq!(after["status"], "delivered");
        assert_eq!(after["events"].as_array().map(Vec::len), Some(7), "the late scan is in the history: {after}");
    }

    async fn a_parcel_back_at_the_sender_is_restocked_and_refunded(app) {
        let admin = app.admin().await;
        stocked(&app, &admin, "RTS-1", 800, 5).await;
        let buyer = app.user("away").await;
        let placed = confirmed_order(&app, &buyer, "RTS-1", 2).await;
        let order_id = id_of(&placed);
        let shipment = shipment_of(&app, &buyer.access, order_id).await;
        eventually(SETTLE, "the sale leaves stock", || async {
            (stock(&app, "RTS-1").await["on_hand"] == 3).then_some(())
        })
        .await;
        for status in ["in_transit", "failed_delivery", "returned"] {
            carrier_says(&app, &shipment, status).await;
        }
        let order_path = format!("/api/v1/orders/{order_id}");
        let refunded = until(&app, &buyer.access, &order_path, "the returned parcel refunded", |o| o["refunded"]["amount"] == 1600).await;
        assert_eq!(refunded["status"], "refunded", "{refunded}");
        eventually(SETTLE, "the parcel's units back on hand", || async {
            (stock(&app, "RTS-1").await["on_hand"] == 5).then_some(())
        })
        .await;
        let announced = emitted(&app, "fulfillment.shipment.returned.v1").await;
        assert_eq!(announced.len(), 1, "{announced:?}");
        assert_eq!(announced[0]["lines"][0]["quantity"], 2);
    }

    async fn a_received_return_is_refunded_and_restocked(app) {
        let admin = app.admin().await;
        stocked(&app, &admin, "RET-1", 1000, 5).await;
        let buyer = app.user("returner").await;
        let placed = confirmed_order(&app, &buyer, "RET-1", 2).await;
        let order_id = id_of(&placed);
        let payment_id = placed["payment_id"].as_str().expect("payment id");
        let shipment = shipment_of(&app, &buyer.access, order_id).await;
        let id = id_of(&shipment);
        for step in ["dispatch", "deliver"] {
            let r = post_empty(&app, &format!("/api/v1/shipments/{id}/{step}"), &admin.access).await;
            assert_eq!(r.status(), 200, "{step}");
        }
        until(&app, &buyer.access, &format!("/api/v1/orders/{order_id}"), "delivered", |o| o["status"] == "delivered").await;
        eventually(SETTLE, "two units left stock", || async {
            (stock(&app, "RET-1").await["on_hand"] == 3).then_some(())
        })
        .await;

        let body = json!({"order_id": order_id, "lines": [{"sku": "RET-1", "quantity": 1}], "reason": "too big"});
        let send = || {
            app.client
                .post(app.url("/api/v1/returns"))
                .bearer_auth(&buyer.access)
                .header("idempotency-key", format!("return-{order_id}"))
                .json(&body)
                .send()
        };
        let opened = send().await.expect("sent");
        assert_eq!(opened.status(), 201);
        assert!(opened.headers().get("location").is_some());
        let opened = json_of(opened).await;
        assert_eq!(opened["status"], "requested", "{opened}");
        assert_eq!(opened["user_id"], buyer.id.as_str());
        assert_eq!(opened["lines"], json!([{"sku": "RET-1", "quantity": 1}]));
        assert_eq!(opened["allocations"][0]["shipment_id"], id);
        assert_eq!(opened["allocations"][0]["warehouse_id"], shipment["warehouse_id"]);
        let replayed = send().await.expect("sent");
        assert_eq!(replayed.status(), 201);
        assert_eq!(json_of(replayed).await["id"], opened["id"], "the same key replays the return");
        assert_eq!(return_count(&app).await, 1);
        let return_id = id_of(&opened);

        let by_customer = post_empty(&app, &format!("/api/v1/returns/{return_id}/approve"), &buyer.access).await;
        assert_problem(by_customer, 403).await;
        let early = post_empty(&app, &format!("/api/v1/returns/{return_id}/receive"), &admin.access).await;
        assert_problem(early, 409).await;
        let approved = post_empty(&app, &format!("/api/v1/returns/{return_id}/approve"), &admin.access).await;
        assert_eq!(json_of(approved).await["status"], "approved");
        let received = post_empty(&app, &format!("/api/v1/returns/{return_id}/receive"), &admin.access).await;
        let received = json_of(received).await;
        assert_eq!(received["status"], "received");
        assert!(received["received_at"].is_string());
        let twice = post_empty(&app, &format!("/api/v1/returns/{return_id}/receive"), &admin.access).await;
        assert_problem(twice, 409).await;
        let seen = json_of(app.get(&format!("/api/v1/returns/{return_id}"), Some(&buyer.access)).await).await;
        assert_eq!(seen["status"], "received");

        let announced = emitted(&app, "fulfillment.return.received.v1").await;
        assert_eq!(
            announced,
            vec![json!({"return_id": return_id, "order_id": order_id, "user_id": buyer.id,
                        "lines": [{"sku": "RET-1", "warehouse_id": shipment["warehouse_id"], "quantity": 1}]})]
        );
        until(&app, &buyer.access, &format!("/api/v1/orders/{order_id}"), "a partial refund", |o| {
            o["status"] == "partially_refunded" && o["refunded"]["amount"] == 1000
        })
        .await;
        until(&app, &admin.access, &format!("/api/v1/payments/{payment_id}"), "the payment refunded", |p| {
            p["refunded"]["amount"] == 1000
        })
        .await;
        eventually(SETTLE, "the returned unit back on hand", || async {
            (stock(&app, "RET-1").await["on_hand"] == 4).then_some(())
        })
        .await;

        // The other unit may still come back; a third may not.
        let too_many = open_return(&app, &buyer.access, order_id, "RET-1", 2).await;
        let problem = assert_problem(too_many, 422).await;
        assert_eq!(error_fields(&problem), ["lines[0].quantity"]);
    }

    async fn stock_in_two_warehouses_ships_as_two_parcels(app) {
        let admin = app.admin().await;
        stocked(&app, &admin, "SPLIT-1", 800, 1).await;
        let east = app
            .post("/api/v1/warehouses", Some(&admin.access), &json!({"code": "EAST", "name": "East"}))
            .await;
        assert_eq!(east.status(), 201);
        let adjusted = app
            .post(
                "/api/v1/inventory/adjust",
                Some(&admin.access),
                &json!({"sku": "SPLIT-1", "warehouse_id": "EAST", "delta": 2, "reason": "received"}),
            )
            .await;
        assert_eq!(adjusted.status(), 200);
        let buyer = app.user("splitter").await;
        let placed = confirmed_order(&app, &buyer, "SPLIT-1", 3).await;
        let order_id = id_of(&placed);

        let shipments = shipments_of(&app, &buyer.access, order_id, 2).await;
        let mut quantities: Vec<i64> = shipments
            .iter()
            .map(|s| s["lines"][0]["quantity"].as_i64().expect("quantity"))
            .collect();
        quantities.sort_unstable();
        assert_eq!(quantities, [1, 2]);
        assert_ne!(shipments[0]["warehouse_id"], shipments[1]["warehouse_id"]);
        assert_ne!(shipments[0]["tracking_number"], shipments[1]["tracking_number"]);
        let created = emitted(&app, "fulfillment.shipment.created.v1").await;
        assert_eq!(created.len(), 2, "each parcel announced once: {created:?}");

        for (i, shipment) in shipments.iter().enumerate() {
            let r = post_empty(&app, &format!("/api/v1/shipments/{}/deliver", id_of(shipment)), &admin.access).await;
            let delivered = json_of(r).await;
            assert_eq!(delivered["status"], "delivered", "{delivered}");
            // Delivering a label straight away passes through dispatch.
            assert!(statuses(&delivered).contains(&"dispatched".to_owned()));
            let announced = emitted(&app, "fulfillment.shipment.delivered.v1").await;
            assert_eq!(announced.len(), i + 1);
            assert_eq!(announced[i]["order_delivered"], i == 1, "only the last parcel completes the order");
        }
        until(&app, &buyer.access, &format!("/api/v1/orders/{order_id}"), "the order delivered", |o| o["status"] == "delivered").await;
    }

    async fn the_label_is_a_pdf_carrying_the_tracking_number(app) {
        let admin = app.admin().await;
        stocked(&app, &admin, "LABEL-1", 700, 3).await;
        let buyer = app.user("labeller").await;
        let placed = confirmed_order(&app, &buyer, "LABEL-1", 1).await;
        let shipment = shipment_of(&app, &buyer.access, id_of(&placed)).await;
        let id = id_of(&shipment);
        let tracking = shipment["tracking_number"].as_str().expect("tracking number");

        let response = app.get(&format!("/api/v1/shipments/{id}/label"), Some(&buyer.access)).await;
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers().get("content-type").and_then(|v| v.to_str().ok()),
            Some("application/pdf")
        );
        let bytes = response.bytes().await.expect("body");
        assert!(bytes.starts_with(b"%PDF-"), "a PDF");
        let document = lopdf::Document::load_mem(&bytes).expect("the PDF parses");
        assert_eq!(document.get_pages().len(), 1);
        let text = document.extract_text(&[1]).expect("page text");
        assert!(text.contains(tracking), "tracking number in {text:?}");
        assert!(text.contains("Ann Buyer") && text.contains("Local Courier"), "{text:?}");

        let admin_copy = app.get(&format!("/api/v1/shipments/{id}/label"), Some(&admin.access)).await;
        assert_eq!(admin_copy.status(), 200);
        let stranger = app.user("nosy").await;
        let hidden = app.get(&format!("/api/v1/shipments/{id}/label"), Some(&stranger.access)).await;
        assert_problem(hidden, 404).await;
        let anonymous = app.get(&format!("/api/v1/shipments/{id}/label"), None).await;
        assert_problem(anonymous, 401).await;

        let rates = json_of(app.get(&format!("/api/v1/shipments/{id}/rates"), Some(&buyer.access)).await).await;
        assert_eq!(rates["items"][0]["carrier"], "local");
        assert_eq!(rates["items"][0]["rate"], json!({"amount": 499, "currency": "USD"}));
        let abroad = app
            .post(
                "/api/v1/shipments/quote",
                None,
                &json!({"to": {"country": "ca", "postal_code": "H2X 1Y4"}, "units": 2}),
            )
            .await;
        assert_eq!(abroad.status(), 200);
        let abroad = json_of(abroad).await;
        assert_eq!(abroad["items"][0]["zone"], 4);
        assert_eq!(abroad["items"][0]["rate"]["amount"], 2499);
        let bad = app
            .post("/api/v1/shipments/quote", None, &json!({"to": {"country": "Canada", "postal_code": ""}}))
            .await;
        let problem = assert_problem(bad, 422).await;
        assert_eq!(error_fields(&problem), ["to.country", "to.postal_code"]);
    }

    async fn forged_updates_strangers_and_returns_out_of_time_are_refused(app) {
        let admin = app.admin().await;
        stocked(&app, &admin, "GUARD-1", 900, 5).await;
        let buyer = app.user("guarded").await;
        let stranger = app.user("stranger").await;
        let placed = confirmed_order(&app, &buyer, "GUARD-1", 2).await;
        let order_id = id_of(&placed);
        let shipment = shipment_of(&app, &buyer.access, order_id).await;
        let id = id_of(&shipment);
        let now = app.clock.now_millis();

        // Forged, unsigned and mismatched carrier updates change nothing.
        let forged = webhook(&app, &shipment, update(&shipment, "delivered", now), Some(b"not-the-secret")).await;
        assert_problem(forged, 401).await;
        let unsigned = webhook(&app, &shipment, update(&shipment, "delivered", now), None).await;
        assert_problem(unsigned, 401).await;
        let mut other = shipment.clone();
        other["tracking_number"] = json!("LC000000000000");
        let mismatched = webhook(&app, &shipment, update(&other, "in_transit", now), Some(SECRET)).await;
        let problem = assert_problem(mismatched, 422).await;
        assert_eq!(error_fields(&problem), ["tracking_number"]);
        let lost = webhook(&app, &shipment, update(&shipment, "lost", now), Some(SECRET)).await;
        assert_eq!(error_fields(&assert_problem(lost, 422).await), ["status"]);
        let unchanged = get_shipment(&app, &buyer.access, id).await;
        assert_eq!(unchanged["status"], "label_created");
        assert_eq!(statuses(&unchanged), ["pending", "label_created"]);
        let unknown = json!({"id": "0190f0c8-0000-7000-8000-000000000000", "tracking_number": "LC1"});
        let nobody = webhook(&app, &unknown, update(&unknown, "in_transit", now), None).await;
        assert_problem(nobody, 401).await;

        // Strangers see nothing of another's order.
        for path in [
            format!("/api/v1/shipments/{id}"),
            format!("/api/v1/orders/{order_id}/shipments"),
        ] {
            assert_problem(app.get(&path, Some(&stranger.access)).await, 404).await;
        }
        assert_problem(app.get("/api/v1/shipments/not-an-id", Some(&buyer.access)).await, 404).await;

        // Nothing delivered yet: nothing to return, and nothing is written.
        let early = open_return(&app, &buyer.access, order_id, "GUARD-1", 1).await;
        let problem = assert_problem(early, 409).await;
        assert!(problem["detail"].as_str().unwrap_or("").contains("delivered"), "{problem}");
        let theirs = open_return(&app, &stranger.access, order_id, "GUARD-1", 1).await;
        assert_problem(theirs, 404).await;
        let malformed = app
            .post("/api/v1/returns", Some(&buyer.access), &json!({"order_id": "x", "lines": [], "reason": " "}))
            .await;
        let problem = assert_problem(malformed, 422).await;
        assert_eq!(error_fields(&problem), ["order_id", "lines", "reason"]);
        assert_eq!(return_count(&app).await, 0);

        let delivered = post_empty(&app, &format!("/api/v1/shipments/{id}/deliver"), &admin.access).await;
        assert_eq!(delivered.status(), 200);
        let not_bought = open_return(&app, &buyer.access, order_id, "OTHER-1", 1).await;
        assert_eq!(error_fields(&assert_problem(not_bought, 422).await), ["lines[0].sku"]);
        let ok = open_return(&app, &buyer.access, order_id, "GUARD-1", 1).await;
        assert_eq!(ok.status(), 201);
        let return_id = id_of(&json_of(ok).await).to_owned();
        let hidden = app.get(&format!("/api/v1/returns/{return_id}"), Some(&stranger.access)).await;
        assert_problem(hidden, 404).await;

        // A month later the window has closed.
        app.clock.advance(std::time::Duration::from_secs(31 * 24 * 3600));
        let token = sign_in_again(&app, &buyer).await;
        let late = open_return(&app, &token, order_id, "GUARD-1", 1).await;
        let problem = assert_problem(late, 409).await;
        assert!(problem["detail"].as_str().unwrap_or("").contains("return window closed"), "{problem}");
        assert!(problem["closed_at"].is_string());
        assert_eq!(return_count(&app).await, 1, "nothing written");
    }
}

/// Applies `event` (as published by `source`) through fulfillment's consumer, with a
/// fresh event id each time, as a producer re-publishing it would.
async fn deliver_event<E: contracts::Event>(app: &TestApp, source: ServiceKind, event: &E) {
    use platform::bus::EventHandler;
    let service = app
        .platform
        .as_ref()
        .and_then(|p| p.services.get::<fulfillment::Fulfillment>())
        .expect("fulfillment runs");
    let handler = fulfillment::events::OrderEvents {
        app: service.app().clone(),
    };
    let envelope = platform::bus::Envelope::new(source, event).expect("envelope");
    let mut tx = service.db().begin().await.expect("transaction");
    handler.handle(&mut tx, &envelope).await.expect("handled");
    tx.commit().await.expect("commit");
}

fn confirmed(order_id: &str, user_id: &str) -> OrderConfirmed {
    OrderConfirmed {
        order_id: order_id.to_owned(),
        user_id: Some(user_id.to_owned()),
        payment_id: None,
        total: None,
        shipping_address: Some(ShippingAddress {
            name: "Bo (Evt) Buyer".into(),
            line1: "2 Side St".into(),
            line2: None,
            city: "Shelbyville".into(),
            postal_code: "99501".into(),
            country: "US".into(),
        }),
        items: vec![],
        attribution: None,
    }
}

fn committed(order_id: &str, allocations: &[(&str, &str, u32)]) -> StockCommitted {
    StockCommitted {
        order_id: order_id.to_owned(),
        reservation_id: "r-1".into(),
        allocations: allocations
            .iter()
            .map(|(sku, warehouse_id, quantity)| Allocation {
                sku: (*sku).to_owned(),
                warehouse_id: (*warehouse_id).to_owned(),
                quantity: *quantity,
            })
            .collect(),
    }
}

fn cancelled(order_id: &str) -> OrderCancelled {
    OrderCancelled {
        order_id: order_id.to_owned(),
        reason: "changed my mind".into(),
        payment_id: None,
    }
}

/// The shipments fulfillment holds for an order, as an admin sees them.
async fn admin_shipments(app: &TestApp, admin: &TestUser, order_id: &str) -> Vec<Value> {
    let list = json_of(
        app.get(
            &format!("/api/v1/orders/{order_id}/shipments"),
            Some(&admin.access),
        )
        .await,
    )
    .await;
    list["items"].as_array().cloned().unwrap_or_default()
}

async fn created_for(app: &TestApp, order_id: &str) -> usize {
    emitted(app, "fulfillment.shipment.created.v1")
        .await
        .iter()
        .filter(|e| e["order_id"] == order_id)
        .count()
}

both_shapes! {
    async fn shipments_open_once_whatever_order_the_events_arrive_in(app) {
        let admin = app.admin().await;
        let buyer = app.user("events").await;
        let order_id = uuid::Uuid::now_v7().to_string();
        let allocations = [("A-1", "wh-west", 1), ("A-1", "wh-east", 1), ("B-1", "wh-east", 2)];

        // The commit comes first: nothing opens until the confirmation says for whom.
        deliver_event(&app, ServiceKind::Inventory, &committed(&order_id, &allocations)).await;
        assert!(admin_shipments(&app, &admin, &order_id).await.is_empty());
        let unknown = app.get(&format!("/api/v1/orders/{order_id}/shipments"), Some(&buyer.access)).await;
        assert_problem(unknown, 404).await;
        deliver_event(&app, ServiceKind::Ordering, &confirmed(&order_id, &buyer.id)).await;
        let shipments = shipments_of(&app, &buyer.access, &order_id, 2).await;
        let mut parcels: Vec<(String, Value)> = shipments
            .iter()
            .map(|s| (s["warehouse_id"].as_str().expect("warehouse").to_owned(), s["lines"].clone()))
            .collect();
        parcels.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(
            parcels,
            [
                ("wh-east".to_owned(), json!([{"sku": "A-1", "quantity": 1}, {"sku": "B-1", "quantity": 2}])),
                ("wh-west".to_owned(), json!([{"sku": "A-1", "quantity": 1}])),
            ]
        );
        assert_eq!(shipments[0]["ship_to"]["city"], "Shelbyville");
        // Zone 3 (another region of the same country): 1.5 kg east, 500 g west.
        let mut rates: Vec<i64> = shipments.iter().map(|s| s["rate"]["amount"].as_i64().expect("rate")).collect();
        rates.sort_unstable();
        assert_eq!(rates, [799, 1299]);

        // Both halves again, in either order: nothing opens twice.
        deliver_event(&app, ServiceKind::Ordering, &confirmed(&order_id, &buyer.id)).await;
        deliver_event(&app, ServiceKind::Inventory, &committed(&order_id, &allocations)).await;
        assert_eq!(admin_shipments(&app, &admin, &order_id).await.len(), 2);
        assert_eq!(created_for(&app, &order_id).await, 2);

        // A failed delivery is retried, then delivered; the other parcel is still due.
        let west = shipments.iter().find(|s| s["warehouse_id"] == "wh-west").expect("west");
        carrier_says(&app, west, "in_transit").await;
        let failed = webhook(&app, west, update(west, "failed_delivery", app.clock.now_millis()), Some(SECRET)).await;
        assert_eq!(json_of(failed).await["status"], "failed_delivery");
        let reasons: Vec<Value> = emitted(&app, "fulfillment.shipment.failed.v1").await.iter().map(|e| e["reason"].clone()).collect();
        assert_eq!(reasons, [json!("failed_delivery scan")]);
        carrier_says(&app, west, "out_for_delivery").await;
        carrier_says(&app, west, "delivered").await;
        let announced = emitted(&app, "fulfillment.shipment.delivered.v1").await;
        assert_eq!(announced.len(), 1);
        assert_eq!(announced[0]["order_delivered"], false, "the east parcel is still due");

        // Cancelled before anything else: a late confirmation and commit open nothing.
        let gone = uuid::Uuid::now_v7().to_string();
        deliver_event(&app, ServiceKind::Ordering, &cancelled(&gone)).await;
        deliver_event(&app, ServiceKind::Ordering, &confirmed(&gone, &buyer.id)).await;
        deliver_event(&app, ServiceKind::Inventory, &committed(&gone, &[("A-1", "wh-west", 1)])).await;
        assert!(admin_shipments(&app, &admin, &gone).await.is_empty());

        // Cancelled after its parcel was opened but before it left: the parcel is
        // cancelled and cannot be dispatched.
        let late = uuid::Uuid::now_v7().to_string();
        deliver_event(&app, ServiceKind::Ordering, &confirmed(&late, &buyer.id)).await;
        deliver_event(&app, ServiceKind::Inventory, &committed(&late, &[("A-1", "wh-west", 1)])).await;
        let parcel = shipment_of(&app, &buyer.access, &late).await;
        deliver_event(&app, ServiceKind::Ordering, &cancelled(&late)).await;
        let parcel = get_shipment(&app, &buyer.access, id_of(&parcel)).await;
        assert_eq!(parcel["status"], "cancelled");
        assert_eq!(statuses(&parcel), ["pending", "label_created", "cancelled"]);
        let dispatch = post_empty(&app, &format!("/api/v1/shipments/{}/dispatch", id_of(&parcel)), &admin.access).await;
        assert_problem(dispatch, 409).await;
    }
}

/// `GET path` as `token`, answered 200, as JSON.
async fn listed(app: &TestApp, token: &str, path: &str) -> Value {
    let response = app.get(path, Some(token)).await;
    assert_eq!(response.status(), 200, "{path}");
    json_of(response).await
}

/// The values of `field` of a list's items, in order.
fn fields_of<'a>(list: &'a Value, field: &str) -> Vec<&'a str> {
    list["items"]
        .as_array()
        .map(|items| items.iter().filter_map(|i| i[field].as_str()).collect())
        .unwrap_or_default()
}

both_shapes! {
    async fn operators_list_every_shipment_newest_first_and_customers_cannot(app) {
        let admin = app.admin().await;
        let buyer = app.user("lister").await;
        let other = app.user("other-lister").await;
        let mut orders = Vec::new();
        for (owner, warehouse) in [(&buyer, "wh-a"), (&other, "wh-b"), (&buyer, "wh-c")] {
            let order_id = uuid::Uuid::now_v7().to_string();
            deliver_event(&app, ServiceKind::Ordering, &confirmed(&order_id, &owner.id)).await;
            deliver_event(&app, ServiceKind::Inventory, &committed(&order_id, &[("LIST-1", warehouse, 2)])).await;
            orders.push(order_id);
        }
        let newest_first: Vec<&str> = orders.iter().rev().map(String::as_str).collect();

        // Every shipment, newest first, each as the single read shows it.
        let all = listed(&app, &admin.access, "/api/v1/shipments").await;
        assert_eq!(fields_of(&all, "order_id"), newest_first);
        assert_eq!(all["next_cursor"], Value::Null);
        let first = &all["items"][0];
        assert_eq!(first, &get_shipment(&app, &admin.access, id_of(first)).await, "the single read's view");
        assert_eq!(statuses(first), ["pending", "label_created"]);

        // Paging.
        let page = listed(&app, &admin.access, "/api/v1/shipments?limit=2").await;
        assert_eq!(fields_of(&page, "order_id"), newest_first[..2]);
        let cursor = page["next_cursor"].as_str().expect("a next page");
        let rest = listed(&app, &admin.access, &format!("/api/v1/shipments?limit=2&cursor={cursor}")).await;
        assert_eq!(fields_of(&rest, "order_id"), newest_first[2..]);
        assert_eq!(rest["next_cursor"], Value::Null);

        // The status filter.
        let oldest = all["items"][2].clone();
        let delivered = post_empty(&app, &format!("/api/v1/shipments/{}/deliver", id_of(&oldest)), &admin.access).await;
        assert_eq!(delivered.status(), 200);
        let only = listed(&app, &admin.access, "/api/v1/shipments?status=delivered").await;
        assert_eq!(fields_of(&only, "id"), [id_of(&oldest)]);
        assert_eq!(only["items"][0]["status"], "delivered");
        let waiting = listed(&app, &admin.access, "/api/v1/shipments?status=label_created").await;
        assert_eq!(fields_of(&waiting, "order_id"), newest_first[..2]);
        let none = listed(&app, &admin.access, "/api/v1/shipments?status=cancelled").await;
        assert_eq!(none, json!({"items": [], "next_cursor": null}));
        let every = listed(&app, &admin.access, "/api/v1/shipments?status=").await;
        assert_eq!(every["items"].as_array().map(Vec::len), Some(3));
        let bogus = app.get("/api/v1/shipments?status=teleported", Some(&admin.access)).await;
        assert_eq!(error_fields(&assert_problem(bogus, 422).await), ["status"]);
        let bad_cursor = app.get("/api/v1/shipments?cursor=%25%25", Some(&admin.access)).await;
        assert_eq!(error_fields(&assert_problem(bad_cursor, 422).await), ["cursor"]);

        // Operators only: a client with the `fulfillment:write` scope may, customers not.
        assert_problem(app.get("/api/v1/shipments", Some(&buyer.access)).await, 403).await;
        assert_problem(app.get("/api/v1/shipments", None).await, 401).await;
        let key = |scopes: Value| {
            let app = &app;
            let admin = admin.access.clone();
            async move {
                let created = json_of(app.post("/api/v1/api-keys", Some(&admin), &json!({"name": "warehouse", "scopes": scopes})).await).await;
                created["key"].as_str().expect("key").to_owned()
            }
        };
        for (scopes, status) in [(json!(["fulfillment:write"]), 200), (json!(["reports:read"]), 403)] {
            let response = app
                .client
                .get(app.url("/api/v1/shipments"))
                .header("x-api-key", key(scopes.clone()).await)
                .send()
                .await
                .expect("sent");
            assert_eq!(response.status(), status, "{scopes}");
        }
    }

    async fn customers_list_their_own_returns_and_operators_every_one(app) {
        let admin = app.admin().await;
        let buyer = app.user("returns-lister").await;
        let other = app.user("other-returner").await;
        let mut returns = Vec::new();
        for (owner, warehouse) in [(&buyer, "wh-a"), (&other, "wh-b"), (&buyer, "wh-c")] {
            let order_id = uuid::Uuid::now_v7().to_string();
            deliver_event(&app, ServiceKind::Ordering, &confirmed(&order_id, &owner.id)).await;
            deliver_event(&app, ServiceKind::Inventory, &committed(&order_id, &[("RLIST-1", warehouse, 2)])).await;
            let shipment = shipment_of(&app, &owner.access, &order_id).await;
            let delivered = post_empty(&app, &format!("/api/v1/shipments/{}/deliver", id_of(&shipment)), &admin.access).await;
            assert_eq!(delivered.status(), 200);
            let opened = open_return(&app, &owner.access, &order_id, "RLIST-1", 1).await;
            assert_eq!(opened.status(), 201);
            returns.push(json_of(opened).await);
        }
        let ids: Vec<&str> = returns.iter().map(id_of).collect();
        let approved = post_empty(&app, &format!("/api/v1/returns/{}/approve", ids[0]), &admin.access).await;
        assert_eq!(approved.status(), 200);

        // A customer sees their own, newest first, as the single read shows them.
        let own = listed(&app, &buyer.access, "/api/v1/returns").await;
        assert_eq!(fields_of(&own, "id"), [ids[2], ids[0]]);
        assert_eq!(fields_of(&own, "user_id"), [buyer.id.as_str(), buyer.id.as_str()]);
        let single = listed(&app, &buyer.access, &format!("/api/v1/returns/{}", ids[0])).await;
        assert_eq!(own["items"][1], single, "the single read's view");
        assert_eq!(single["status"], "approved");
        let theirs = listed(&app, &other.access, "/api/v1/returns").await;
        assert_eq!(fields_of(&theirs, "id"), [ids[1]]);
        let stranger = app.user("no-returns").await;
        let nothing = listed(&app, &stranger.access, "/api/v1/returns").await;
        assert_eq!(nothing, json!({"items": [], "next_cursor": null}));

        // Operators see every one.
        let all = listed(&app, &admin.access, "/api/v1/returns").await;
        assert_eq!(fields_of(&all, "id"), [ids[2], ids[1], ids[0]]);

        // The status filter, for both.
        let approved = listed(&app, &admin.access, "/api/v1/returns?status=approved").await;
        assert_eq!(fields_of(&approved, "id"), [ids[0]]);
        let requested = listed(&app, &buyer.access, "/api/v1/returns?status=requested").await;
        assert_eq!(fields_of(&requested, "id"), [ids[2]]);
        let rejected = listed(&app, &admin.access, "/api/v1/returns?status=rejected").await;
        assert_eq!(rejected["items"], json!([]));
        let bogus = app.get("/api/v1/returns?status=refunded", Some(&buyer.access)).await;
        assert_eq!(error_fields(&assert_problem(bogus, 422).await), ["status"]);

        // Paging.
        let page = listed(&app, &admin.access, "/api/v1/returns?limit=1").await;
        assert_eq!(fields_of(&page, "id"), [ids[2]]);
        let mut cursor = page["next_cursor"].as_str().expect("a next page").to_owned();
        let mut seen = vec![ids[2].to_owned()];
        loop {
            let next = listed(&app, &admin.access, &format!("/api/v1/returns?limit=1&cursor={cursor}")).await;
            seen.extend(fields_of(&next, "id").into_iter().map(str::to_owned));
            match next["next_cursor"].as_str() {
                Some(more) => cursor = more.to_owned(),
                None => break,
            }
        }
        assert_eq!(seen, [ids[2], ids[1], ids[0]]);
        let own_page = listed(&app, &buyer.access, "/api/v1/returns?limit=1").await;
        let cursor = own_page["next_cursor"].as_str().expect("a next page");
        let own_next = listed(&app, &buyer.access, &format!("/api/v1/returns?limit=1&cursor={cursor}")).await;
        assert_eq!(fields_of(&own_next, "id"), [ids[0]], "a customer's page skips others' returns");
        assert_eq!(own_next["next_cursor"], Value::Null);

        assert_problem(app.get("/api/v1/returns", None).await, 401).await;
    }
}
