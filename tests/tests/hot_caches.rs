//! Two more hot reads behind `platform::cache`, through the gateway in both shapes:
//! identity's per-request check that a token's user still exists (`identity.user`),
//! and ordering's read of a cart's lines (`ordering.cart`). Each is answered from the
//! cache after its first read (memory in the embedded shape, Redis in the distributed
//! one), and every change is seen by the very next request: a deleted user's still
//! valid token is refused, a cart's new line is there, a checked-out cart is empty.
//! And with Redis, a deletion made through another identity replica is seen by this
//! one at once.
//!
//! Cache reads are counted from this process's metrics (the platform runs in the
//! test's process); nextest runs each test in a process of its own, so the counts are
//! this test's.

use std::time::Duration;

use platform::auth::{Principal, PrincipalKind};
use platform::config::ConfigSource;
use platform::service::{Service, ServiceContext, ServiceKind};
use platform::shutdown::Shutdown;
use platform::tasks::Tasks;
use serde_json::{Value, json};
use viscount_tests::shop::{APPROVE, SETTLE, address, card, json_of, order, stocked};
use viscount_tests::{Shape, TestApp, assert_problem, both_shapes, eventually, spawn_app};

/// The reads so far of the cache `cache` with `result` (`hit` or `miss`).
fn cache_reads(cache: &str, result: &str) -> u64 {
    let text = platform::http::metrics::metrics().render();
    let line = format!("viscount_cache_requests_total{{cache=\"{cache}\",result=\"{result}\"}}");
    text.lines()
        .find_map(|l| l.strip_prefix(&line))
        .and_then(|count| count.trim().parse().ok())
        .unwrap_or(0)
}

/// `GET path` as `token`, which must answer 200.
async fn read(app: &TestApp, path: &str, token: &str) -> Value {
    let response = app.get(path, Some(token)).await;
    assert_eq!(response.status(), 200, "read {path}");
    response.json().await.expect("json")
}

/// A cart's lines as (sku, quantity).
fn lines(cart: &Value) -> Vec<(String, i64)> {
    cart["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|line| {
            (
                line["sku"].as_str().expect("sku").to_owned(),
                line["quantity"].as_i64().expect("quantity"),
            )
        })
        .collect()
}

both_shapes! {
    async fn a_deleted_users_token_is_refused_from_the_very_next_request(app) {
        let admin = app.admin().await;
        let doomed = app.user("doomed").await;
        let bystander = app.user("bystander").await;

        // A session's requests succeed, and after the first the check that its user
        // exists is answered from the cache.
        assert_eq!(read(&app, "/api/v1/users/me", &doomed.access).await["id"], doomed.id.as_str());
        let hits = cache_reads("identity.user", "hit");
        for _ in 0..3 {
            assert_eq!(read(&app, "/api/v1/users/me", &doomed.access).await["id"], doomed.id.as_str());
        }
        assert_eq!(app.get("/api/v1/orders", Some(&doomed.access)).await.status(), 200);
        assert!(cache_reads("identity.user", "hit") >= hits + 4, "checked from the cache");

        // An admin deletes the user: the very next request with the token, which is
        // still within its lifetime, is refused, by identity and by any other service.
        let deleted = app.delete(&format!("/api/v1/users/{}", doomed.id), &admin.access).await;
        assert_eq!(deleted.status(), 204);
        assert_problem(app.get("/api/v1/users/me", Some(&doomed.access)).await, 401).await;
        assert_problem(app.get("/api/v1/orders", Some(&doomed.access)).await, 401).await;
        // Kept as gone, and refused again.
        assert_problem(app.get("/api/v1/users/me", Some(&doomed.access)).await, 401).await;

        // Nobody else's answer moved.
        assert_eq!(read(&app, "/api/v1/users/me", &bystander.access).await["id"], bystander.id.as_str());
        assert_eq!(read(&app, "/api/v1/users/me", &admin.access).await["id"], admin.id.as_str());
    }

    async fn a_cart_read_sees_every_change_of_its_lines_at_once(app) {
        let admin = app.admin().await;
        stocked(&app, &admin, "HOT-A", 400, 10).await;
        stocked(&app, &admin, "HOT-B", 250, 10).await;
        let owner = app.user("cart-owner").await;
        let other = app.user("cart-other").await;
        let created = app.post("/api/v1/carts", Some(&owner.access), &json!({})).await;
        assert_eq!(created.status(), 201);
        let id = json_of(created).await["id"].as_str().expect("id").to_owned();
        let cart = format!("/api/v1/carts/{id}");
        let items = format!("{cart}/items");

        // The first read loads, the next is a hit answering the same.
        let (hits, misses) = (cache_reads("ordering.cart", "hit"), cache_reads("ordering.cart", "miss"));
        let empty = read(&app, &cart, &owner.access).await;
        assert_eq!(lines(&empty), []);
        assert_eq!(read(&app, &cart, &owner.access).await, empty);
        assert!(cache_reads("ordering.cart", "miss") > misses, "loaded");
        assert!(cache_reads("ordering.cart", "hit") > hits, "then kept");

        // A new line is there at the very next read, and stays there.
        let set = app.put(&items, &owner.access, &json!({"sku": "HOT-A", "quantity": 2})).await;
        assert_eq!(set.status(), 200);
        let one = read(&app, &cart, &owner.access).await;
        assert_eq!(lines(&one), [("HOT-A".to_owned(), 2)]);
        assert_eq!(one["total"], json!({"amount": 800, "currency": "USD"}));
        assert_eq!(read(&app, &cart, &owner.access).await, one);
        // So is a changed quantity, a second line and a removed one.
        app.put(&items, &owner.access, &json!({"sku": "HOT-A", "quantity": 3})).await;
        assert_eq!(lines(&read(&app, &cart, &owner.access).await), [("HOT-A".to_owned(), 3)]);
        app.put(&items, &owner.access, &json!({"sku": "HOT-B", "quantity": 1})).await;
        app.put(&items, &owner.access, &json!({"sku": "HOT-A", "quantity": 0})).await;
        assert_eq!(lines(&read(&app, &cart, &owner.access).await), [("HOT-B".to_owned(), 1)]);
        // A refused line leaves the cart as it was.
        let unknown = app.put(&items, &owner.access, &json!({"sku": "HOT-NOPE", "quantity": 1})).await;
        assert_problem(unknown, 422).await;
        assert_eq!(lines(&read(&app, &cart, &owner.access).await), [("HOT-B".to_owned(), 1)]);

        // Another user's read of the cart is not found though it is in the cache: it
        // is answered from the entry the owner's read kept.
        let hits = cache_reads("ordering.cart", "hit");
        assert_problem(app.get(&cart, Some(&other.access)).await, 404).await;
        assert!(cache_reads("ordering.cart", "hit") > hits, "answered from the kept cart");
        assert_problem(app.put(&items, &other.access, &json!({"sku": "HOT-A", "quantity": 1})).await, 404).await;

        // Prices are not kept with the lines: a new price is in the next read once
        // ordering has it.
        assert_eq!(read(&app, &cart, &owner.access).await["total"]["amount"], 250);
        let products = json_of(app.get("/api/v1/products?limit=100", None).await).await;
        let product_id = products["items"]
            .as_array()
            .and_then(|found| found.iter().find(|p| p["sku"] == "HOT-B"))
            .and_then(|p| p["id"].as_str())
            .expect("HOT-B listed")
            .to_owned();
        let repriced = app.put(&format!("/api/v1/products/{product_id}"), &admin.access,
            &json!({"name": "Product HOT-B", "description": "for sale",
                    "price": {"amount": 275, "currency": "USD"}})).await;
        assert_eq!(repriced.status(), 200);
        eventually(SETTLE, "the new price in the cart", || async {
            (read(&app, &cart, &owner.access).await["total"]["amount"] == 275).then_some(())
        })
        .await;

        // Checking the cart out empties it, and the very next read says so.
        let placed = json_of(order(&app, &owner, &json!({"cart_id": id, "shipping_address": address(), "payment": card(APPROVE)})).await).await;
        assert_eq!(placed["status"], "confirmed", "{placed}");
        assert_eq!(placed["items"][0]["sku"], "HOT-B", "{placed}");
        assert_eq!(placed["total"]["amount"], 275, "{placed}");
        let emptied = read(&app, &cart, &owner.access).await;
        assert_eq!(lines(&emptied), []);
        assert_eq!(emptied["total"], Value::Null, "{emptied}");
        // Still nobody else's.
        assert_problem(app.get(&cart, Some(&other.access)).await, 404).await;
    }
}

/// A second identity replica on the platform's database and Redis, as `viscount serve
/// identity` would start one: a user it deletes is refused by the platform's own
/// identity from the very next request (each replica's memory alone would have trusted
/// the user until its entry expired).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deletion_through_another_identity_replica_is_seen_by_all_at_once() {
    if viscount_tests::redis_env().is_none() {
        eprintln!("SKIPPED: replicas sharing Redis (VISCOUNT_TEST_REDIS_URL not set)");
        return;
    }
    let Some(app) = spawn_app(Shape::Distributed).await else {
        return;
    };
    let storage = &app.storage().storage;
    let redis = viscount::services_redis(storage.redis_url().as_deref())
        .expect("the Redis URL")
        .expect("a Redis");
    let platform = app.platform.as_ref().expect("the platform runs");
    let tasks = Tasks::new(Shutdown::new());
    let context = ServiceContext::new(
        ServiceKind::Identity,
        storage.database_url(ServiceKind::Identity),
        platform.bus.clone(),
        ConfigSource::default(),
        app.clock.clone(),
        tasks.clone(),
    )
    .with_redis(redis, storage.redis_prefix(viscount::CACHE_PREFIX));
    let other = identity::Identity::build(&context)
        .await
        .expect("a second identity replica");

    let admin = app.admin().await;
    let doomed = app.user("replicated").await;
    assert_eq!(
        read(&app, "/api/v1/users/me", &doomed.access).await["id"],
        doomed.id.as_str()
    );
    let principal = |subject: &str, role: &str| Principal {
        subject: subject.to_owned(),
        kind: PrincipalKind::User,
        roles: vec![role.to_owned()],
        scopes: Vec::new(),
        session_id: None,
        tenant: None,
    };
    // The other replica answers from the entry this one kept: one cache between them.
    let hits = cache_reads("identity.user", "hit");
    assert!(
        other
            .app()
            .subject_is_active(&principal(&doomed.id, "customer"))
            .await
            .expect("checked")
    );
    assert!(
        cache_reads("identity.user", "hit") > hits,
        "a hit of the shared entry"
    );

    other
        .app()
        .delete_user(&principal(&admin.id, "admin"), &doomed.id)
        .await
        .expect("deleted through the other replica");
    assert_problem(app.get("/api/v1/users/me", Some(&doomed.access)).await, 401).await;
    assert_problem(app.get("/api/v1/orders", Some(&doomed.access)).await, 401).await;

    other.close().await;
    tasks.stop(Duration::from_secs(5)).await;
}
