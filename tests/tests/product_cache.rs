//! The product cache (issue 21, seed 002's cache-aside), through the gateway in both
//! shapes: a product read by id comes from the cache after its first read (memory in
//! the embedded shape, Redis in the distributed one), and every change is seen by the
//! very next read: a new price, a deletion, the stock flag inventory moves.
//!
//! Reads are made with a token: the gateway's own cache serves only anonymous ones, so
//! these reach the catalog and its cache.

use std::time::Duration;

use serde_json::{Value, json};
use viscount_tests::{TestApp, assert_problem, both_shapes, eventually};

/// The catalog's product cache's reads so far with `result` (`hit` or `miss`), from
/// this process's metrics (the platform runs in the test's process).
fn cache_reads(result: &str) -> u64 {
    let text = platform::http::metrics::metrics().render();
    let line =
        format!("viscount_cache_requests_total{{cache=\"catalog.product\",result=\"{result}\"}}");
    text.lines()
        .find_map(|l| l.strip_prefix(&line))
        .and_then(|count| count.trim().parse().ok())
        .unwrap_or(0)
}

async fn read(app: &TestApp, id: &str, token: &str) -> Value {
    let response = app
        .get(&format!("/api/v1/products/{id}"), Some(token))
        .await;
    assert_eq!(response.status(), 200, "read {id}");
    response.json().await.expect("json")
}

both_shapes! {
    async fn products_come_from_the_cache_and_every_change_is_seen_at_once(app) {
        let admin = app.admin().await;
        let buyer = app.user("reader").await;
        let created: Value = app
            .post("/api/v1/products", Some(&admin.access), &json!({
                "sku": "CACHE-1", "name": "Cached mug", "description": "",
                "price": {"amount": 1000, "currency": "USD"}}))
            .await
            .json()
            .await
            .expect("json");
        let id = created["id"].as_str().expect("id").to_owned();

        // The first read loads, the next ones are hits answering the same.
        let (hits, misses) = (cache_reads("hit"), cache_reads("miss"));
        let first = read(&app, &id, &buyer.access).await;
        for _ in 0..3 {
            assert_eq!(read(&app, &id, &buyer.access).await, first);
        }
        assert_eq!(cache_reads("miss") - misses, 1, "one load");
        assert_eq!(cache_reads("hit") - hits, 3, "then hits");

        // A new price is seen by the very next read, by anyone.
        let mut body = json!({"name": "Cached mug", "description": "",
            "price": {"amount": 1250, "currency": "USD"}});
        let updated = app.put(&format!("/api/v1/products/{id}"), &admin.access, &body).await;
        assert_eq!(updated.status(), 200);
        let after = read(&app, &id, &buyer.access).await;
        assert_eq!(after["price"]["amount"], 1250);
        body["price"]["amount"] = json!(1500);
        app.put(&format!("/api/v1/products/{id}"), &admin.access, &body).await;
        assert_eq!(read(&app, &id, &admin.access).await["price"]["amount"], 1500);

        // The stock flag inventory moves reaches the read once catalog has applied it.
        let warehouse = app.post("/api/v1/warehouses", Some(&admin.access),
            &json!({"code": "MAIN", "name": "Main"})).await;
        assert_eq!(warehouse.status(), 201);
        let adjusted = app.post("/api/v1/inventory/adjust", Some(&admin.access),
            &json!({"sku": "CACHE-1", "warehouse_id": "MAIN", "delta": 2, "reason": "received"})).await;
        assert_eq!(adjusted.status(), 200);
        eventually(Duration::from_secs(20), "in stock through the cache", || async {
            (read(&app, &id, &buyer.access).await["in_stock"] == true).then_some(())
        })
        .await;

        // A deleted product is gone at once.
        let deleted = app.delete(&format!("/api/v1/products/{id}"), &admin.access).await;
        assert_eq!(deleted.status(), 204);
        assert_problem(app.get(&format!("/api/v1/products/{id}"), Some(&buyer.access)).await, 404).await;
    }
}
