//! Shopping helpers shared by the black-box tests: stocked products, orders through the
//! checkout saga, and polling a resource until it settles.

use std::time::Duration;

use serde_json::{Value, json};

use crate::{TestApp, TestUser, eventually};

/// The sandbox card that is approved.
pub const APPROVE: &str = "4242424242424242";
/// The sandbox card the issuer declines.
pub const DECLINE: &str = "4000000000000002";
/// The sandbox card without funds.
pub const INSUFFICIENT: &str = "4000000000009995";
/// The sandbox card fraud rules block.
pub const FRAUD: &str = "4100000000000019";
/// How long a saga or a projection may take to settle in a test.
pub const SETTLE: Duration = Duration::from_secs(20);

/// A card payment with `number`.
pub fn card(number: &str) -> Value {
    json!({"method": "card", "card_number": number, "exp_month": 12, "exp_year": 2099, "cvc": "123"})
}

/// A valid shipping address.
pub fn address() -> Value {
    json!({"name": "Ann Buyer", "line1": "1 Main St", "city": "Springfield", "postal_code": "12345", "country": "US"})
}

/// A product priced `cents` USD with `units` in stock, once ordering knows its price.
pub async fn stocked(app: &TestApp, admin: &TestUser, sku: &str, cents: i64, units: i64) {
    stocked_named(app, admin, sku, &format!("Product {sku}"), cents, units).await;
}

/// [`stocked`], with the product's `name`; returns the product.
pub async fn stocked_named(
    app: &TestApp,
    admin: &TestUser,
    sku: &str,
    name: &str,
    cents: i64,
    units: i64,
) -> Value {
    let created = app
        .post(
            "/api/v1/products",
            Some(&admin.access),
            &json!({"sku": sku, "name": name, "description": "for sale",
                    "price": {"amount": cents, "currency": "USD"}}),
        )
        .await;
    assert_eq!(created.status(), 201, "create {sku}");
    let product = json_of(created).await;
    let warehouse = app
        .post(
            "/api/v1/warehouses",
            Some(&admin.access),
            &json!({"code": "MAIN", "name": "Main"}),
        )
        .await;
    assert!(
        [201, 409].contains(&warehouse.status().as_u16()),
        "warehouse"
    );
    if units > 0 {
        let adjusted = app
            .post(
                "/api/v1/inventory/adjust",
                Some(&admin.access),
                &json!({"sku": sku, "warehouse_id": "MAIN", "delta": units, "reason": "received"}),
            )
            .await;
        assert_eq!(adjusted.status(), 200, "stock {sku}");
    }
    // Ordering learns prices from catalog's events.
    let probe: Value = app
        .post("/api/v1/carts", Some(&admin.access), &json!({}))
        .await
        .json()
        .await
        .expect("cart");
    let cart = probe["id"].as_str().expect("cart id").to_owned();
    eventually(SETTLE, "ordering knows the price", || async {
        let r = app
            .put(
                &format!("/api/v1/carts/{cart}/items"),
                &admin.access,
                &json!({"sku": sku, "quantity": 1}),
            )
            .await;
        (r.status() == 200).then_some(())
    })
    .await;
    product
}

/// `POST /orders` with a fresh idempotency key, waiting for the saga.
pub async fn order(app: &TestApp, user: &TestUser, body: &Value) -> reqwest::Response {
    order_with_key(app, user, body, &uuid::Uuid::now_v7().to_string()).await
}

/// `POST /orders` with `key`, waiting for the saga.
pub async fn order_with_key(
    app: &TestApp,
    user: &TestUser,
    body: &Value,
    key: &str,
) -> reqwest::Response {
    app.client
        .post(app.url("/api/v1/orders"))
        .bearer_auth(&user.access)
        .header("idempotency-key", key)
        .header("prefer", "wait=15")
        .json(body)
        .send()
        .await
        .expect("order sent")
}

/// An order body for `quantity` of `sku`, paid with `card_number`.
pub fn items_order(sku: &str, quantity: i64, card_number: &str) -> Value {
    json!({"items": [{"sku": sku, "quantity": quantity}], "shipping_address": address(),
           "payment": card(card_number)})
}

/// The JSON body of `response`.
pub async fn json_of(response: reqwest::Response) -> Value {
    response.json().await.expect("json")
}

/// `GET /inventory/{sku}`.
pub async fn stock(app: &TestApp, sku: &str) -> Value {
    json_of(app.get(&format!("/api/v1/inventory/{sku}"), None).await).await
}

/// Waits until `path` (read as `token`) satisfies `done`.
pub async fn until(
    app: &TestApp,
    token: &str,
    path: &str,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    eventually(SETTLE, what, || async {
        let value = json_of(app.get(path, Some(token)).await).await;
        done(&value).then_some(value)
    })
    .await
}
