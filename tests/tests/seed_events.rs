//! The seeds' events that had no producer (issue 21), driven through the gateway in
//! both shapes and observed by an admin's webhook subscription to their types and a
//! receiver on a socket: carts created and updated, orders validated and completed
//! once their return window closed with no return open, and products selling out (once
//! per sell-out). Notifications delivered (SMTP acceptance, the SMS provider's 2xx) are
//! read from notifications' outbox instead: merchants cannot subscribe to
//! notifications' own events (its webhooks do not echo itself).

use axum::http::StatusCode;
use platform::config::ConfigSource;
use platform::service::ServiceKind;
use serde_json::{Value, json};
use viscount_tests::receiver::{Hook, Receiver};
use viscount_tests::shop::*;
use viscount_tests::smtp::SmtpServer;
use viscount_tests::{Shape, TestApp, TestUser, eventually, in_both_shapes, spawn_app_with};

in_both_shapes!(
    carts_announce_their_creation_and_every_change_of_their_lines,
    orders_are_validated_and_complete_once_their_return_window_closed,
    a_product_sells_out_once_per_sell_out,
    notifications_are_delivered_when_the_server_or_provider_accepts_them,
);

const ENDPOINTS: &str = "/api/v1/admin/webhooks";
const DAY: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// The platform with `extra` settings, a quick notifications poll and short outbound
/// webhook retries; `None` when the shape is unavailable.
async fn start(shape: Shape, extra: Vec<(String, String)>) -> Option<TestApp> {
    let mut vars: Vec<(String, String)> = [
        (
            "VISCOUNT_NOTIFICATIONS__WEBHOOKS__RETRY_DELAYS_SECS",
            "[1, 1]",
        ),
        ("VISCOUNT_NOTIFICATIONS__POLL_INTERVAL_MS", "100"),
    ]
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .into();
    vars.extend(extra);
    spawn_app_with(shape, ConfigSource::from_parts("", vars).expect("config")).await
}

/// A receiver that takes everything, subscribed by `admin` to `types`.
async fn subscribed(app: &TestApp, admin: &TestUser, types: &[&str]) -> Receiver {
    let receiver = Receiver::start(|_, _| StatusCode::OK).await;
    let response = app
        .post(
            ENDPOINTS,
            Some(&admin.access),
            &json!({"url": receiver.url("events"), "description": "seed events", "event_types": types}),
        )
        .await;
    assert_eq!(response.status(), 201, "subscribe to {types:?}");
    receiver
}

/// The `data` of every event of `event_type` received whose `field` is `value`.
fn events(receiver: &Receiver, event_type: &str, field: &str, value: &str) -> Vec<Value> {
    let mut hooks = receiver.hooks("events");
    // In the order the events were emitted: deliveries are sent several at once, so
    // they may arrive in another order, but each delivery's id (`webhook-id`) is a
    // UUIDv7 made when the consumer queued it, in the events' order.
    hooks.sort_by(|a, b| a.header("webhook-id").cmp(&b.header("webhook-id")));
    hooks
        .iter()
        .map(Hook::json)
        .filter(|body| body["type"] == event_type && body["data"][field] == value)
        .map(|body| body["data"].clone())
        .collect()
}

/// Waits until `count` events of `event_type` with `field` = `value` arrived; returns
/// them in the order they were emitted.
async fn wait_events(
    receiver: &Receiver,
    event_type: &str,
    field: &str,
    value: &str,
    count: usize,
) -> Vec<Value> {
    eventually(
        SETTLE,
        &format!("{count} × {event_type} {value}"),
        || async {
            let found = events(receiver, event_type, field, value);
            (found.len() >= count).then_some(found)
        },
    )
    .await
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

/// A confirmed order of `quantity` × `sku` by `buyer`; its body.
async fn confirmed(app: &TestApp, buyer: &TestUser, sku: &str, quantity: i64) -> Value {
    let placed = json_of(order(app, buyer, &items_order(sku, quantity, APPROVE)).await).await;
    assert_eq!(placed["status"], "confirmed", "{placed}");
    placed
}

/// Dispatches and delivers the one shipment of `order_id`; waits for the order to
/// follow.
async fn deliver(app: &TestApp, admin: &TestUser, buyer: &TestUser, order_id: &str) {
    let list = until(
        app,
        &buyer.access,
        &format!("/api/v1/orders/{order_id}/shipments"),
        "the order's shipment",
        |l| l["items"].as_array().is_some_and(|i| i.len() == 1),
    )
    .await;
    let id = list["items"][0]["id"]
        .as_str()
        .expect("shipment id")
        .to_owned();
    for step in ["dispatch", "deliver"] {
        let r = post_empty(
            app,
            &format!("/api/v1/shipments/{id}/{step}"),
            &admin.access,
        )
        .await;
        assert_eq!(r.status(), 200, "{step}");
    }
    status_is(app, &buyer.access, order_id, "delivered").await;
}

/// Waits until the order is in `status`; returns it.
async fn status_is(app: &TestApp, token: &str, order_id: &str, status: &str) -> Value {
    until(
        app,
        token,
        &format!("/api/v1/orders/{order_id}"),
        status,
        |o| o["status"] == status,
    )
    .await
}

/// Opens a return of `quantity` × `sku` of `order_id`; its id.
async fn open_return(
    app: &TestApp,
    buyer: &TestUser,
    order_id: &str,
    sku: &str,
    quantity: i64,
) -> String {
    let opened = app
        .post(
            "/api/v1/returns",
            Some(&buyer.access),
            &json!({"order_id": order_id, "lines": [{"sku": sku, "quantity": quantity}], "reason": "too big"}),
        )
        .await;
    assert_eq!(opened.status(), 201);
    json_of(opened).await["id"]
        .as_str()
        .expect("return id")
        .to_owned()
}

/// Approves and receives a return.
async fn receive_return(app: &TestApp, admin: &TestUser, return_id: &str) {
    for step in ["approve", "receive"] {
        let r = post_empty(
            app,
            &format!("/api/v1/returns/{return_id}/{step}"),
            &admin.access,
        )
        .await;
        assert_eq!(r.status(), 200, "{step} return");
    }
}

/// An operator rejects return `return_id`: nothing comes back.
async fn reject_return(app: &TestApp, admin: &TestUser, return_id: &str) {
    let r = post_empty(
        app,
        &format!("/api/v1/returns/{return_id}/reject"),
        &admin.access,
    )
    .await;
    assert_eq!(r.status(), 200, "reject return");
}

/// A fresh session of `user` (after the clock moved past its token's expiry).
async fn again(app: &TestApp, user: &TestUser) -> TestUser {
    let tokens = json_of(app.login(&user.email, viscount_tests::PASSWORD).await).await;
    TestUser {
        access: tokens["access_token"].as_str().expect("access").to_owned(),
        ..user.clone()
    }
}

fn usd(amount: i64) -> Value {
    json!({"amount": amount, "currency": "USD"})
}

async fn carts_announce_their_creation_and_every_change_of_their_lines(shape: Shape) {
    let Some(app) = start(shape, Vec::new()).await else {
        return;
    };
    let admin = app.admin().await;
    let receiver = subscribed(
        &app,
        &admin,
        &["ordering.cart.created.v1", "ordering.cart.updated.v1"],
    )
    .await;
    stocked(&app, &admin, "CART-1", 1250, 5).await;
    stocked(&app, &admin, "CART-2", 300, 5).await;
    let buyer = app.user("carts").await;

    let cart = json_of(
        app.post("/api/v1/carts", Some(&buyer.access), &json!({}))
            .await,
    )
    .await;
    let cart_id = cart["id"].as_str().expect("cart id").to_owned();
    let created = wait_events(
        &receiver,
        "ordering.cart.created.v1",
        "cart_id",
        &cart_id,
        1,
    )
    .await;
    assert_eq!(
        created,
        [json!({"cart_id": cart_id, "user_id": buyer.id, "items": [], "subtotal": null})]
    );

    let items = format!("/api/v1/carts/{cart_id}/items");
    for (sku, quantity) in [("CART-1", 2), ("CART-2", 1), ("CART-1", 0)] {
        let r = app
            .put(
                &items,
                &buyer.access,
                &json!({"sku": sku, "quantity": quantity}),
            )
            .await;
        assert_eq!(r.status(), 200, "{sku} × {quantity}");
    }
    // A sku not for sale changes nothing, and announces nothing.
    let unknown = app
        .put(
            &items,
            &buyer.access,
            &json!({"sku": "NOPE-1", "quantity": 1}),
        )
        .await;
    assert_eq!(unknown.status(), 422);
    let updates = wait_events(
        &receiver,
        "ordering.cart.updated.v1",
        "cart_id",
        &cart_id,
        3,
    )
    .await;
    let line = |sku: &str, quantity: i64, unit: i64| json!({"sku": sku, "quantity": quantity, "unit_price": usd(unit), "line_total": usd(unit * quantity)});
    assert_eq!(
        updates,
        [
            json!({"cart_id": cart_id, "user_id": buyer.id, "items": [line("CART-1", 2, 1250)], "subtotal": usd(2500)}),
            json!({"cart_id": cart_id, "user_id": buyer.id,
                   "items": [line("CART-1", 2, 1250), line("CART-2", 1, 300)], "subtotal": usd(2800)}),
            json!({"cart_id": cart_id, "user_id": buyer.id, "items": [line("CART-2", 1, 300)], "subtotal": usd(300)}),
        ]
    );

    // Checking the cart out empties it: a change of its lines too.
    let body = json!({"cart_id": cart_id, "shipping_address": address(), "payment": card(APPROVE)});
    let placed = json_of(order(&app, &buyer, &body).await).await;
    assert_eq!(placed["status"], "confirmed", "{placed}");
    let updates = wait_events(
        &receiver,
        "ordering.cart.updated.v1",
        "cart_id",
        &cart_id,
        4,
    )
    .await;
    assert_eq!(
        updates[3],
        json!({"cart_id": cart_id, "user_id": buyer.id, "items": [], "subtotal": null})
    );
    assert_eq!(
        events(&receiver, "ordering.cart.created.v1", "cart_id", &cart_id).len(),
        1
    );
}

async fn orders_are_validated_and_complete_once_their_return_window_closed(shape: Shape) {
    // A one-day window, in fulfillment (which enforces it) and ordering (which completes
    // after it), and a quick completion sweep.
    let settings = [
        ("VISCOUNT_FULFILLMENT__RETURN_WINDOW_DAYS", "1"),
        ("VISCOUNT_ORDERING__RETURN_WINDOW_DAYS", "1"),
        ("VISCOUNT_ORDERING__COMPLETION_SWEEP_INTERVAL_MS", "100"),
    ];
    let Some(app) = start(
        shape,
        settings.map(|(k, v)| (k.to_owned(), v.to_owned())).into(),
    )
    .await
    else {
        return;
    };
    let admin = app.admin().await;
    let validated_type = "ordering.order.validated.v1";
    let completed_type = "ordering.order.completed.v1";
    let receiver = subscribed(&app, &admin, &[validated_type, completed_type]).await;
    stocked(&app, &admin, "DONE-1", 1000, 20).await;
    let buyer = app.user("completes").await;

    // Validated once stock is held, with what was validated.
    let a = confirmed(&app, &buyer, "DONE-1", 1).await;
    let a_id = a["id"].as_str().expect("order id").to_owned();
    let validated = wait_events(&receiver, validated_type, "order_id", &a_id, 1).await;
    assert_eq!(
        validated,
        [json!({"order_id": a_id, "user_id": buyer.id,
                "items": [{"sku": "DONE-1", "quantity": 1, "unit_price": usd(1000)}],
                "total": usd(1000), "shipping_address": address()})]
    );
    let history = json_of(
        app.get(
            &format!("/api/v1/orders/{a_id}/history"),
            Some(&buyer.access),
        )
        .await,
    )
    .await;
    let statuses: Vec<&str> = history
        .as_array()
        .or_else(|| history["items"].as_array())
        .expect("history")
        .iter()
        .filter_map(|e| e["status"].as_str())
        .collect();
    assert_eq!(statuses, ["pending", "reserved", "authorized", "confirmed"]);

    // B is delivered first and keeps a return open; one of its returns came back
    // already (refunded: partially_refunded still completes).
    let b = confirmed(&app, &buyer, "DONE-1", 3).await;
    let b_id = b["id"].as_str().expect("order id").to_owned();
    deliver(&app, &admin, &buyer, &b_id).await;
    let first = open_return(&app, &buyer, &b_id, "DONE-1", 1).await;
    receive_return(&app, &admin, &first).await;
    status_is(&app, &buyer.access, &b_id, "partially_refunded").await;
    let second = open_return(&app, &buyer, &b_id, "DONE-1", 1).await;
    deliver(&app, &admin, &buyer, &a_id).await;
    // D's return was rejected: nothing comes back, so it does not hold D open.
    let d = confirmed(&app, &buyer, "DONE-1", 1).await;
    let d_id = d["id"].as_str().expect("order id").to_owned();
    deliver(&app, &admin, &buyer, &d_id).await;
    let rejected = open_return(&app, &buyer, &d_id, "DONE-1", 1).await;
    reject_return(&app, &admin, &rejected).await;

    // C is delivered 23 hours later: its window closes a day after that.
    app.clock
        .advance(DAY - std::time::Duration::from_secs(3600));
    let admin = app.admin().await;
    let buyer = again(&app, &buyer).await;
    let c = confirmed(&app, &buyer, "DONE-1", 1).await;
    let c_id = c["id"].as_str().expect("order id").to_owned();
    deliver(&app, &admin, &buyer, &c_id).await;

    // Two hours on, A's window closed: it completes, once, with its history.
    app.clock.advance(std::time::Duration::from_secs(2 * 3600));
    let admin = app.admin().await;
    let buyer = again(&app, &buyer).await;
    let done = status_is(&app, &buyer.access, &a_id, "completed").await;
    assert_eq!(done["id"], a_id.as_str());
    let completed = wait_events(&receiver, completed_type, "order_id", &a_id, 1).await;
    assert_eq!(completed.len(), 1);
    let event = &completed[0];
    assert_eq!(event["user_id"], buyer.id.as_str());
    assert_eq!(event["total"], usd(1000));
    assert_eq!(event["refunded"], usd(0));
    assert!(
        event["delivered_at"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z')),
        "{event}"
    );
    assert!(
        event["completed_at"].as_str() > event["delivered_at"].as_str(),
        "{event}"
    );
    let history = json_of(
        app.get(
            &format!("/api/v1/orders/{a_id}/history"),
            Some(&buyer.access),
        )
        .await,
    )
    .await;
    let last = history
        .as_array()
        .or_else(|| history["items"].as_array())
        .and_then(|h| h.last().cloned())
        .expect("history");
    assert_eq!(last["status"], "completed");
    assert_eq!(last["reason"], "return window closed");
    status_is(&app, &buyer.access, &d_id, "completed").await;
    assert_eq!(
        wait_events(&receiver, completed_type, "order_id", &d_id, 1)
            .await
            .len(),
        1
    );
    let listed = json_of(
        app.get("/api/v1/orders?status=completed", Some(&buyer.access))
            .await,
    )
    .await;
    assert_eq!(
        listed["items"].as_array().map(Vec::len),
        Some(2),
        "A and D: {listed}"
    );

    // B's open return holds it; once it is back, B completes too.
    assert_eq!(
        status_is(&app, &buyer.access, &b_id, "partially_refunded").await["id"],
        b_id.as_str()
    );
    receive_return(&app, &admin, &second).await;
    status_is(&app, &buyer.access, &b_id, "completed").await;
    let completed = wait_events(&receiver, completed_type, "order_id", &b_id, 1).await;
    assert_eq!(completed[0]["total"], usd(3000));
    let refunded = completed[0]["refunded"]["amount"]
        .as_i64()
        .expect("refunded");
    assert!([1000, 2000].contains(&refunded), "{}", completed[0]);

    // C's window is still open, many sweeps later; none completed twice.
    status_is(&app, &buyer.access, &c_id, "delivered").await;
    assert!(events(&receiver, completed_type, "order_id", &c_id).is_empty());
    assert_eq!(
        events(&receiver, completed_type, "order_id", &a_id).len(),
        1
    );
    // An admin may not set it by hand.
    let by_hand = app
        .put(
            &format!("/api/v1/orders/{c_id}/status"),
            &admin.access,
            &json!({"status": "completed"}),
        )
        .await;
    assert_eq!(by_hand.status(), 409);
}

async fn a_product_sells_out_once_per_sell_out(shape: Shape) {
    let Some(app) = start(shape, Vec::new()).await else {
        return;
    };
    let admin = app.admin().await;
    let out = "catalog.product.out_of_stock.v1";
    let receiver = subscribed(&app, &admin, &[out]).await;
    stocked(&app, &admin, "SOLD-1", 700, 2).await;
    let product = json_of(app.get("/api/v1/products?limit=100", None).await).await;
    let product_id = product["items"]
        .as_array()
        .and_then(|items| items.iter().find(|p| p["sku"] == "SOLD-1"))
        .and_then(|p| p["id"].as_str())
        .expect("product")
        .to_owned();
    let product_path = format!("/api/v1/products/{product_id}");
    let in_stock = |want: bool| {
        let (app, path, token) = (&app, product_path.clone(), admin.access.clone());
        async move {
            until(app, &token, &path, "the stock flag", |p| {
                p["in_stock"] == want
            })
            .await;
        }
    };
    in_stock(true).await;

    // Sold out by an order reserving every unit; its commit keeps it at zero, which is
    // no second sell-out.
    let buyer = app.user("sellout").await;
    confirmed(&app, &buyer, "SOLD-1", 2).await;
    let first = wait_events(&receiver, out, "product_id", &product_id, 1).await;
    assert_eq!(
        first,
        [
            json!({"product_id": product_id, "sku": "SOLD-1", "name": "Product SOLD-1", "variant_of": null})
        ]
    );
    in_stock(false).await;
    eventually(SETTLE, "the reservation committed", || async {
        let level = stock(&app, "SOLD-1").await;
        (level["on_hand"] == 0 && level["reserved"] == 0).then_some(())
    })
    .await;

    // Restocked, then sold out again by an adjustment: a second one.
    let adjust = |delta: i64| {
        let app = &app;
        let token = admin.access.clone();
        async move {
            let r = app
                .post(
                    "/api/v1/inventory/adjust",
                    Some(&token),
                    &json!({"sku": "SOLD-1", "warehouse_id": "MAIN", "delta": delta, "reason": "count"}),
                )
                .await;
            assert_eq!(r.status(), 200, "adjust {delta}");
        }
    };
    adjust(3).await;
    in_stock(true).await;
    adjust(-3).await;
    wait_events(&receiver, out, "product_id", &product_id, 2).await;
    in_stock(false).await;
    // A restock that lands after both: by then any extra sell-out would have arrived.
    adjust(1).await;
    in_stock(true).await;
    assert_eq!(events(&receiver, out, "product_id", &product_id).len(), 2);
}

/// Notifications' database, opened beside the running platform to read its outbox.
async fn notifications_db(app: &TestApp) -> platform::db::Db {
    let url = app
        .storage()
        .storage
        .database_url(ServiceKind::Notifications);
    platform::db::Db::open_existing(&url)
        .await
        .expect("notifications database")
}

/// The payloads of the events of `event_type` notifications emitted about `user_id`,
/// oldest first.
async fn emitted(db: &platform::db::Db, event_type: &str, user_id: &str) -> Vec<Value> {
    let bodies: Vec<String> =
        platform::db::query_scalar("SELECT body FROM outbox WHERE event_type = $1 ORDER BY seq")
            .bind(event_type)
            .fetch_all(db.reader())
            .await
            .expect("outbox");
    bodies
        .iter()
        .map(|b| serde_json::from_str::<Value>(b).expect("envelope")["data"].clone())
        .filter(|data| data["user_id"] == user_id)
        .collect()
}

/// Waits until notifications emitted an event of `event_type` for `user_id` from
/// `template_id`; returns its payload.
async fn emitted_one(
    db: &platform::db::Db,
    event_type: &str,
    user_id: &str,
    template_id: &str,
) -> Value {
    eventually(
        SETTLE,
        &format!("{event_type} of {template_id}"),
        || async {
            emitted(db, event_type, user_id)
                .await
                .into_iter()
                .find(|e| e["template_id"] == template_id)
        },
    )
    .await
}

async fn notifications_are_delivered_when_the_server_or_provider_accepts_them(shape: Shape) {
    let smtp = SmtpServer::start().await;
    let provider = Receiver::start(|_, _| StatusCode::OK).await;
    let mut settings = smtp.config_vars();
    settings.push((
        "VISCOUNT_NOTIFICATIONS__SMS__URL".into(),
        provider.url("sms"),
    ));
    settings.push((
        "VISCOUNT_NOTIFICATIONS__SMS__SECRET".into(),
        "whsec-test".into(),
    ));
    let Some(app) = start(shape, settings).await else {
        return;
    };
    let db = notifications_db(&app).await;
    let delivered = "notifications.notification.delivered.v1";
    let sent = "notifications.notification.sent.v1";
    let admin = app.admin().await;
    stocked(&app, &admin, "NOTE-1", 500, 5).await;

    // The welcome email: accepted by the SMTP server.
    let user = app.user("delivered").await;
    smtp.wait_for_mail(&user.email, "Welcome", SETTLE).await;
    let email = emitted_one(&db, delivered, &user.id, "welcome.email").await;
    assert_eq!(email["channel"], "email");
    assert_eq!(email["transport"], "smtp");
    assert!(
        email["delivered_at"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z')),
        "{email}"
    );
    let notification_id = email["notification_id"].as_str().expect("notification id");
    let view = json_of(
        app.get(
            &format!("/api/v1/notifications/{notification_id}"),
            Some(&user.access),
        )
        .await,
    )
    .await;
    assert_eq!(view["status"], "sent", "{view}");
    assert_eq!(view["transport"], "smtp");

    // A text through the provider's webhook (2xx); a push with no provider configured
    // stays in the local outbox: sent, never delivered.
    let path = format!("/api/v1/users/{}/notification-preferences", user.id);
    let prefs = app
        .put(
            &path,
            &user.access,
            &json!({"sms": {"to": "+15551234567"}, "push": {"to": "device-token-1"}}),
        )
        .await;
    assert_eq!(prefs.status(), 200);
    let placed = confirmed(&app, &user, "NOTE-1", 1).await;
    let text = emitted_one(&db, delivered, &user.id, "order_confirmed.sms").await;
    assert_eq!(text["channel"], "sms");
    assert_eq!(text["transport"], "webhook");
    assert_eq!(provider.hooks("sms").len(), 1);
    // The push of the dispatch (push has a template only for parcels).
    let order_id = placed["id"].as_str().expect("order id");
    let list = until(
        &app,
        &user.access,
        &format!("/api/v1/orders/{order_id}/shipments"),
        "the order's shipment",
        |l| l["items"].as_array().is_some_and(|i| i.len() == 1),
    )
    .await;
    let shipment = list["items"][0]["id"].as_str().expect("shipment id");
    let dispatched = post_empty(
        &app,
        &format!("/api/v1/shipments/{shipment}/dispatch"),
        &admin.access,
    )
    .await;
    assert_eq!(dispatched.status(), 200);
    let push = emitted_one(&db, sent, &user.id, "shipment_dispatched.push").await;
    // Sent and delivered are written in one transaction: the push's delivery, had there
    // been one, is in the outbox already.
    assert!(
        emitted(&db, delivered, &user.id)
            .await
            .iter()
            .all(|e| e["notification_id"] != push["notification_id"]),
        "a message kept in the outbox is not delivered"
    );
    let delivered_ids: Vec<Value> = emitted(&db, delivered, &user.id)
        .await
        .iter()
        .map(|e| e["notification_id"].clone())
        .collect();
    let mut unique: Vec<String> = delivered_ids.iter().map(Value::to_string).collect();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), delivered_ids.len(), "each delivered once");
    db.close().await;
}
