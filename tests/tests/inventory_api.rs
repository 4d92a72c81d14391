//! API.md's Inventory table through the gateway, in both shapes: warehouses, stock,
//! adjustments, all-or-nothing reservations under concurrency, expiry, the ledger (its
//! sums, and the admins' newest-first listing), and the ordering events inventory
//! consumes.

use std::sync::Arc;
use std::time::Duration;

use contracts::Money;
use contracts::ordering::{OrderCreated, OrderLine};
use platform::bus::{RetryPolicy, Subscription};
use platform::db::Db;
use platform::service::{Service, ServiceKind};
use platform::shutdown::Shutdown;
use platform::tasks::Tasks;
use serde_json::{Value, json};
use viscount_tests::*;

async fn warehouse(app: &TestApp, token: &str, code: &str) -> String {
    let response = app
        .post(
            "/api/v1/warehouses",
            Some(token),
            &json!({"code": code, "name": format!("Warehouse {code}")}),
        )
        .await;
    assert_eq!(response.status(), 201, "create warehouse {code}");
    let body: Value = response.json().await.expect("json");
    body["id"].as_str().expect("id").to_owned()
}

async fn adjust(
    app: &TestApp,
    token: &str,
    sku: &str,
    warehouse_id: &str,
    delta: i64,
) -> reqwest::Response {
    app.post(
        "/api/v1/inventory/adjust",
        Some(token),
        &json!({"sku": sku, "warehouse_id": warehouse_id, "delta": delta, "reason": "test stock"}),
    )
    .await
}

async fn stock(app: &TestApp, sku: &str) -> Value {
    let response = app.get(&format!("/api/v1/inventory/{sku}"), None).await;
    assert_eq!(response.status(), 200);
    response.json().await.expect("json")
}

async fn reserve(app: &TestApp, token: &str, order_id: &str, items: Value) -> reqwest::Response {
    app.post(
        "/api/v1/inventory/reserve",
        Some(token),
        &json!({"order_id": order_id, "items": items}),
    )
    .await
}

both_shapes! {
    async fn availability_answers_a_hundred_skus_at_once(app) {
        let admin = app.admin().await;
        let main = warehouse(&app, &admin.access, "AV-MAIN").await;
        let north = warehouse(&app, &admin.access, "AV-NORTH").await;
        assert_eq!(adjust(&app, &admin.access, "AV-1", &main, 7).await.status(), 200);
        assert_eq!(adjust(&app, &admin.access, "AV-1", &north, 3).await.status(), 200);
        assert_eq!(adjust(&app, &admin.access, "AV-2", &main, 4).await.status(), 200);
        let reserved = reserve(&app, &admin.access, "av-order", json!([{"sku": "AV-1", "quantity": 6}])).await;
        assert_eq!(reserved.status(), 201);

        // 100 skus: two known, 98 never adjusted, in the order asked; a repeat once.
        let mut asked: Vec<String> = (0..98).map(|i| format!("AV-NONE-{i}")).collect();
        asked.insert(10, "AV-1".into());
        asked.push("AV-2".into());
        asked.push("AV-1".into());
        let path = format!("/api/v1/inventory/availability?skus={}", asked.join(","));
        let response = app.get(&path, None).await;
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.expect("json");
        let items = body["items"].as_array().expect("items");
        assert_eq!(items.len(), 100);
        let skus: Vec<&str> = items.iter().filter_map(|i| i["sku"].as_str()).collect();
        assert_eq!(skus, asked[..100].iter().map(String::as_str).collect::<Vec<_>>());
        assert_eq!(items[10], json!({"sku": "AV-1", "available": 4, "on_hand": 10, "reserved": 6}));
        assert_eq!(items[99], json!({"sku": "AV-2", "available": 4, "on_hand": 4, "reserved": 0}));
        assert_eq!(items[0], json!({"sku": "AV-NONE-0", "available": 0, "on_hand": 0, "reserved": 0}));

        // Bad input names the field and the sku.
        for query in ["skus=", "skus=ok,bad%20sku", "skus=a,,b"] {
            let problem = assert_problem(
                app.get(&format!("/api/v1/inventory/availability?{query}"), None).await,
                422,
            )
            .await;
            assert_eq!(error_fields(&problem), ["skus"], "{query}");
        }
        let too_many: Vec<String> = (0..201).map(|i| format!("S{i}")).collect();
        let problem = assert_problem(
            app.get(&format!("/api/v1/inventory/availability?skus={}", too_many.join(",")), None)
                .await,
            422,
        )
        .await;
        assert_eq!(error_fields(&problem), ["skus"]);
        assert_problem(app.get("/api/v1/inventory/availability", None).await, 422).await;
    }

    async fn admins_manage_warehouses_and_customers_cannot(app) {
        let admin = app.admin().await;
        let customer = app.user("shopper").await;
        let id = warehouse(&app, &admin.access, "east-1").await;
        let dup = app.post("/api/v1/warehouses", Some(&admin.access), &json!({"code": "EAST-1", "name": "Again"})).await;
        assert_problem(dup, 409).await;
        let bad = app.post("/api/v1/warehouses", Some(&admin.access), &json!({"code": "no spaces", "name": ""})).await;
        assert_eq!(error_fields(&assert_problem(bad, 422).await), vec!["code", "name"]);
        assert_problem(app.post("/api/v1/warehouses", Some(&customer.access), &json!({"code": "X", "name": "X"})).await, 403).await;
        assert_problem(app.get("/api/v1/warehouses", Some(&customer.access)).await, 403).await;
        let list: Value = app.get("/api/v1/warehouses", Some(&admin.access)).await.json().await.expect("json");
        let items = list["items"].as_array().expect("items");
        assert_eq!(items.len(), 1);
        assert_eq!(items[0]["id"], id.as_str());
        assert_eq!(items[0]["code"], "EAST-1");
    }

    async fn adjustments_move_on_hand_and_refuse_going_below_zero_or_reserved(app) {
        let admin = app.admin().await;
        let customer = app.user("shopper").await;
        let w = warehouse(&app, &admin.access, "main").await;
        let fresh = stock(&app, "SKU-NEW").await;
        assert_eq!((fresh["on_hand"].as_i64(), fresh["available"].as_i64()), (Some(0), Some(0)), "a new sku has stock 0");

        assert_problem(adjust(&app, &customer.access, "SKU-1", &w, 5).await, 403).await;
        let level: Value = adjust(&app, &admin.access, "SKU-1", &w, 10).await.json().await.expect("json");
        assert_eq!(level["on_hand"], 10);
        assert_eq!(level["locations"][0]["warehouse_id"], w.as_str());
        assert_problem(adjust(&app, &admin.access, "SKU-1", &w, -11).await, 409).await;
        assert_problem(adjust(&app, &admin.access, "SKU-1", "no-such-warehouse", 1).await, 422).await;
        let zero = app
            .post("/api/v1/inventory/adjust", Some(&admin.access), &json!({"sku": "bad sku", "warehouse_id": w, "delta": 0, "reason": ""}))
            .await;
        assert_eq!(error_fields(&assert_problem(zero, 422).await), vec!["sku", "reason", "delta"]);

        assert_eq!(reserve(&app, &admin.access, "order-1", json!([{"sku": "SKU-1", "quantity": 7}])).await.status(), 201);
        let below = assert_problem(adjust(&app, &admin.access, "SKU-1", &w, -4).await, 409).await;
        assert!(below["detail"].as_str().is_some_and(|d| d.contains("reserved")));
        assert_eq!(adjust(&app, &admin.access, "SKU-1", &w, -3).await.status(), 200);
        let now = stock(&app, "SKU-1").await;
        assert_eq!((now["on_hand"].as_i64(), now["reserved"].as_i64(), now["available"].as_i64()), (Some(7), Some(7), Some(0)));
    }

    async fn reservations_are_all_or_nothing_across_warehouses(app) {
        let admin = app.admin().await;
        let customer = app.user("shopper").await;
        let small = warehouse(&app, &admin.access, "small").await;
        let big = warehouse(&app, &admin.access, "big").await;
        adjust(&app, &admin.access, "A", &small, 3).await;
        adjust(&app, &admin.access, "A", &big, 8).await;
        adjust(&app, &admin.access, "B", &big, 1).await;

        assert_problem(reserve(&app, &customer.access, "o1", json!([{"sku": "A", "quantity": 1}])).await, 403).await;
        let short = reserve(&app, &admin.access, "o1", json!([{"sku": "A", "quantity": 10}, {"sku": "B", "quantity": 2}])).await;
        let problem = assert_problem(short, 409).await;
        assert_eq!(problem["short_skus"], json!(["B"]));
        assert_eq!(stock(&app, "A").await["reserved"], 0, "nothing reserved when one line is short");

        let response = reserve(&app, &admin.access, "o2", json!([{"sku": "A", "quantity": 10}, {"sku": "B", "quantity": 1}])).await;
        assert_eq!(response.status(), 201);
        let reservation: Value = response.json().await.expect("json");
        assert_eq!(reservation["status"], "active");
        let a = stock(&app, "A").await;
        assert_eq!(a["reserved"], 10);
        let by_warehouse: std::collections::HashMap<String, i64> = a["locations"]
            .as_array()
            .expect("locations")
            .iter()
            .map(|l| (l["warehouse_id"].as_str().unwrap_or_default().to_owned(), l["reserved"].as_i64().unwrap_or_default()))
            .collect();
        assert_eq!(by_warehouse.get(&big), Some(&8), "most available warehouse first");
        assert_eq!(by_warehouse.get(&small), Some(&2));

        let again = reserve(&app, &admin.access, "o2", json!([{"sku": "A", "quantity": 10}, {"sku": "B", "quantity": 1}])).await;
        assert_eq!(again.status(), 201);
        assert_eq!(again.json::<Value>().await.expect("json")["id"], reservation["id"], "same order, same reservation");
        assert_eq!(stock(&app, "A").await["reserved"], 10);

        let released: Value = app.post("/api/v1/inventory/release", Some(&admin.access), &json!({"order_id": "o2"})).await.json().await.expect("json");
        assert_eq!(released["status"], "released");
        let a = stock(&app, "A").await;
        assert_eq!((a["on_hand"].as_i64(), a["reserved"].as_i64()), (Some(11), Some(0)));
        assert_problem(app.post("/api/v1/inventory/commit", Some(&admin.access), &json!({"order_id": "o2"})).await, 409).await;
        assert_problem(app.post("/api/v1/inventory/release", Some(&admin.access), &json!({"order_id": "nope"})).await, 404).await;

        assert_eq!(reserve(&app, &admin.access, "o3", json!([{"sku": "A", "quantity": 4}])).await.status(), 201);
        let committed: Value = app.post("/api/v1/inventory/commit", Some(&admin.access), &json!({"order_id": "o3"})).await.json().await.expect("json");
        assert_eq!(committed["status"], "committed");
        let a = stock(&app, "A").await;
        assert_eq!((a["on_hand"].as_i64(), a["reserved"].as_i64()), (Some(7), Some(0)), "commit takes units out of stock");

        let invalid = reserve(&app, &admin.access, "o4", json!([{"sku": "A", "quantity": 0}, {"sku": "a b", "quantity": 1}])).await;
        assert_eq!(error_fields(&assert_problem(invalid, 422).await), vec!["items[0].quantity", "items[1].sku"]);
    }

    async fn fifty_concurrent_reservations_for_ten_units_succeed_exactly_ten_times(app) {
        let admin = app.admin().await;
        let w = warehouse(&app, &admin.access, "main").await;
        adjust(&app, &admin.access, "HOT", &w, 10).await;
        let mut tasks = Vec::new();
        for i in 0..50 {
            let client = app.client.clone();
            let url = app.url("/api/v1/inventory/reserve");
            let token = admin.access.clone();
            tasks.push(tokio::spawn(async move {
                client
                    .post(url)
                    .bearer_auth(token)
                    .json(&json!({"order_id": format!("race-{i}"), "items": [{"sku": "HOT", "quantity": 1}]}))
                    .send()
                    .await
                    .expect("sent")
                    .status()
                    .as_u16()
            }));
        }
        let mut created = 0;
        let mut refused = 0;
        for task in tasks {
            match task.await.expect("task") {
                201 => created += 1,
                409 => refused += 1,
                other => panic!("unexpected status {other}"),
            }
        }
        assert_eq!((created, refused), (10, 40));
        let hot = stock(&app, "HOT").await;
        assert_eq!((hot["on_hand"].as_i64(), hot["reserved"].as_i64(), hot["available"].as_i64()), (Some(10), Some(10), Some(0)));
    }

    async fn the_last_announced_totals_of_busy_skus_match_their_stock(app) {
        let admin = app.admin().await;
        let w = warehouse(&app, &admin.access, "main").await;
        adjust(&app, &admin.access, "BUSY-A", &w, 100).await;
        adjust(&app, &admin.access, "BUSY-B", &w, 100).await;
        // Reservations of both skus (in either order) race adjustments of both, so
        // changes commit while the announcer takes and clears their marks.
        let mut tasks = Vec::new();
        for i in 0..40 {
            let client = app.client.clone();
            let token = admin.access.clone();
            let (url, body) = if i % 4 == 3 {
                let sku = if i % 8 == 3 { "BUSY-A" } else { "BUSY-B" };
                (app.url("/api/v1/inventory/adjust"), json!({"sku": sku, "warehouse_id": w, "delta": 1, "reason": "restock"}))
            } else {
                let (first, second) = if i % 2 == 0 { ("BUSY-A", "BUSY-B") } else { ("BUSY-B", "BUSY-A") };
                (app.url("/api/v1/inventory/reserve"), json!({"order_id": format!("busy-{i}"), "items": [{"sku": first, "quantity": 1}, {"sku": second, "quantity": 2}]}))
            };
            tasks.push(tokio::spawn(async move {
                client.post(url).bearer_auth(token).json(&body).send().await.expect("sent").status().as_u16()
            }));
        }
        for task in tasks {
            let status = task.await.expect("task");
            assert!(status == 200 || status == 201, "unexpected status {status}");
        }
        let inventory = app.platform.as_ref().and_then(|p| p.services.get::<inventory::Inventory>()).expect("inventory");
        // 20 reservations take 1 A and 2 B, 10 take 1 B and 2 A; five restocks each.
        for (sku, reserved) in [("BUSY-A", 40), ("BUSY-B", 50)] {
            let now = stock(&app, sku).await;
            let expected = (now["on_hand"].as_i64(), now["reserved"].as_i64(), now["available"].as_i64());
            assert_eq!(expected, (Some(105), Some(reserved), Some(105 - reserved)), "{sku}");
            eventually(Duration::from_secs(20), &format!("{sku}'s totals announced"), || async {
                let last: Option<String> = platform::db::query_scalar(
                    "SELECT body FROM outbox WHERE event_type = 'inventory.stock.updated.v1' AND subject = $1 ORDER BY seq DESC LIMIT 1",
                )
                .bind(sku)
                .fetch_optional(inventory.db().reader())
                .await
                .expect("outbox");
                let event: Value = serde_json::from_str(&last?).expect("envelope");
                let data = &event["data"];
                (expected == (data["on_hand"].as_i64(), data["reserved"].as_i64(), data["available"].as_i64())).then_some(())
            })
            .await;
        }
    }

    async fn twenty_concurrent_adjustments_keep_the_ledger_equal_to_on_hand(app) {
        let admin = app.admin().await;
        let w = warehouse(&app, &admin.access, "main").await;
        adjust(&app, &admin.access, "LEDGER", &w, 5).await;
        let mut tasks = Vec::new();
        for i in 0..20i64 {
            let client = app.client.clone();
            let url = app.url("/api/v1/inventory/adjust");
            let token = admin.access.clone();
            let w = w.clone();
            // Alternating +3 / -2 with some removals refused when they would go negative.
            let delta = if i % 2 == 0 { 3 } else { -4 };
            tasks.push(tokio::spawn(async move {
                client
                    .post(url)
                    .bearer_auth(token)
                    .json(&json!({"sku": "LEDGER", "warehouse_id": w, "delta": delta, "reason": "count"}))
                    .send()
                    .await
                    .expect("sent")
                    .status()
                    .as_u16()
            }));
        }
        for task in tasks {
            let status = task.await.expect("task");
            assert!(status == 200 || status == 409, "status {status}");
        }
        let level = stock(&app, "LEDGER").await;
        let on_hand = level["on_hand"].as_i64().expect("on_hand");
        assert!(on_hand >= 0);
        let inventory = app.platform.as_ref().and_then(|p| p.services.get::<inventory::Inventory>()).expect("inventory");
        let (ledger_on_hand, ledger_reserved) = inventory::store::ledger_sums(inventory.db().reader(), "LEDGER", &w).await.expect("ledger");
        assert_eq!(ledger_on_hand, on_hand, "the ledger rebuilds the level");
        assert_eq!(ledger_reserved, 0);
    }

    async fn the_ledger_lists_a_skus_movements_newest_first_to_admins_only(app) {
        let admin = app.admin().await;
        let customer = app.user("shopper").await;
        let main = warehouse(&app, &admin.access, "LEDGER-MAIN").await;
        let north = warehouse(&app, &admin.access, "LEDGER-NORTH").await;
        let adjust_with = |warehouse_id: String, delta: i64, reason: &'static str| {
            let app = &app;
            let token = admin.access.clone();
            async move {
                let response = app
                    .post(
                        "/api/v1/inventory/adjust",
                        Some(&token),
                        &json!({"sku": "LEDGER-1", "warehouse_id": warehouse_id, "delta": delta, "reason": reason}),
                    )
                    .await;
                assert_eq!(response.status(), 200, "adjust {reason}");
            }
        };
        adjust_with(main.clone(), 10, "first count").await;
        adjust_with(north.clone(), 4, "north delivery").await;
        adjust_with(main.clone(), -3, "damaged in storage").await;
        let ledger = |query: String| {
            let app = &app;
            let token = admin.access.clone();
            async move {
                let response = app.get(&format!("/api/v1/inventory/LEDGER-1/ledger{query}"), Some(&token)).await;
                assert_eq!(response.status(), 200, "ledger{query}");
                response.json::<Value>().await.expect("json")
            }
        };

        // Newest first, each with its deltas, reason, actor and time.
        let all = ledger(String::new()).await;
        let items = all["items"].as_array().expect("items");
        let seen: Vec<(&str, i64, &str)> = items
            .iter()
            .map(|e| (e["warehouse_id"].as_str().unwrap_or_default(), e["on_hand_delta"].as_i64().unwrap_or_default(), e["reason"].as_str().unwrap_or_default()))
            .collect();
        assert_eq!(
            seen,
            vec![(main.as_str(), -3, "damaged in storage"), (north.as_str(), 4, "north delivery"), (main.as_str(), 10, "first count")]
        );
        let newest = &items[0];
        assert_eq!(newest["sku"], "LEDGER-1");
        assert_eq!(newest["kind"], "adjust");
        assert_eq!(newest["reserved_delta"], 0);
        assert_eq!(newest["actor"], admin.id.as_str());
        assert_eq!(newest["reference"], Value::Null);
        assert!(newest["at"].as_str().is_some_and(|at| at.contains('T')), "{newest}");
        assert!(newest["id"].is_string());
        assert_eq!(all["next_cursor"], Value::Null);

        // A reservation is in the ledger too, referencing its order.
        assert_eq!(reserve(&app, &admin.access, "ledger-order", json!([{"sku": "LEDGER-1", "quantity": 2}])).await.status(), 201);
        let reserved = ledger("?limit=1".into()).await;
        assert_eq!(reserved["items"][0]["kind"], "reserve");
        assert_eq!(reserved["items"][0]["reserved_delta"], 2);
        assert_eq!(reserved["items"][0]["reference"], "ledger-order");

        // Paging: the cursor of a one-item page gives the next one.
        let main_only = format!("?warehouse={main}&limit=1");
        let first = ledger(main_only.clone()).await;
        assert_eq!(first["items"].as_array().map(Vec::len), Some(1));
        assert_eq!(first["items"][0]["kind"], "reserve");
        let cursor = first["next_cursor"].as_str().expect("a next page").to_owned();
        let second = ledger(format!("{main_only}&cursor={cursor}")).await;
        assert_eq!(second["items"].as_array().map(Vec::len), Some(1));
        assert_eq!(second["items"][0]["reason"], "damaged in storage");
        let cursor = second["next_cursor"].as_str().expect("a third page").to_owned();
        let third = ledger(format!("{main_only}&cursor={cursor}")).await;
        assert_eq!(third["items"][0]["reason"], "first count");
        assert_eq!(third["next_cursor"], Value::Null, "the last page");

        // The warehouse filter takes an id or a code.
        for filter in [north.as_str(), "LEDGER-NORTH"] {
            let only = ledger(format!("?warehouse={filter}")).await;
            let items = only["items"].as_array().expect("items");
            assert_eq!(items.len(), 1, "{filter}");
            assert_eq!(items[0]["warehouse_id"], north.as_str());
            assert_eq!(items[0]["reason"], "north delivery");
        }
        let nowhere = app.get("/api/v1/inventory/LEDGER-1/ledger?warehouse=NOWHERE", Some(&admin.access)).await;
        assert_eq!(error_fields(&assert_problem(nowhere, 422).await), ["warehouse"]);

        // A sku never moved has an empty ledger; a malformed one is refused.
        let never: Value = app.get("/api/v1/inventory/NEVER-MOVED/ledger", Some(&admin.access)).await.json().await.expect("json");
        assert_eq!(never, json!({"items": [], "next_cursor": null}));
        let malformed = app.get("/api/v1/inventory/bad%20sku/ledger", Some(&admin.access)).await;
        assert_eq!(error_fields(&assert_problem(malformed, 422).await), ["sku"]);
        let bad_cursor = app.get("/api/v1/inventory/LEDGER-1/ledger?cursor=%25%25", Some(&admin.access)).await;
        assert_eq!(error_fields(&assert_problem(bad_cursor, 422).await), ["cursor"]);

        // Admins only, as for adjustments.
        assert_problem(app.get("/api/v1/inventory/LEDGER-1/ledger", Some(&customer.access)).await, 403).await;
        assert_problem(app.get("/api/v1/inventory/LEDGER-1/ledger", None).await, 401).await;
    }

    async fn a_reservation_releases_itself_when_it_expires(app) {
        let admin = app.admin().await;
        let w = warehouse(&app, &admin.access, "main").await;
        adjust(&app, &admin.access, "EXP", &w, 4).await;
        let body = json!({"order_id": "expiring", "items": [{"sku": "EXP", "quantity": 3}], "ttl_seconds": 60});
        assert_eq!(app.post("/api/v1/inventory/reserve", Some(&admin.access), &body).await.status(), 201);
        assert_eq!(stock(&app, "EXP").await["reserved"], 3);
        app.clock.advance(Duration::from_secs(61));
        eventually(Duration::from_secs(10), "the reservation to expire", || async {
            (stock(&app, "EXP").await["reserved"] == 0).then_some(())
        })
        .await;
        assert_problem(app.post("/api/v1/inventory/commit", Some(&admin.access), &json!({"order_id": "expiring"})).await, 409).await;
    }

    async fn service_clients_reserve_with_a_scoped_api_key(app) {
        let admin = app.admin().await;
        let w = warehouse(&app, &admin.access, "main").await;
        adjust(&app, &admin.access, "API", &w, 2).await;
        let key = |scopes: Value| {
            let app = &app;
            let admin = admin.access.clone();
            async move {
                let created: Value = app.post("/api/v1/api-keys", Some(&admin), &json!({"name": "svc", "scopes": scopes})).await.json().await.expect("json");
                created["key"].as_str().expect("key").to_owned()
            }
        };
        let writer = key(json!(["inventory:write"])).await;
        let reader = key(json!(["reports:read"])).await;
        let call = |k: String| {
            app.client
                .post(app.url("/api/v1/inventory/reserve"))
                .header("x-api-key", k)
                .json(&json!({"order_id": "svc-1", "items": [{"sku": "API", "quantity": 1}]}))
                .send()
        };
        assert_problem(call(reader).await.expect("sent"), 403).await;
        assert_eq!(call(writer).await.expect("sent").status(), 201);
    }

    async fn low_stock_lists_skus_at_or_under_their_threshold_and_announces_the_crossing(app) {
        let admin = app.admin().await;
        let w = warehouse(&app, &admin.access, "main").await;
        adjust(&app, &admin.access, "PLENTY", &w, 50).await;
        adjust(&app, &admin.access, "SCARCE", &w, 6).await;
        assert_eq!(reserve(&app, &admin.access, "low-1", json!([{"sku": "SCARCE", "quantity": 2}])).await.status(), 201);
        let customer = app.user("shopper").await;
        assert_problem(app.get("/api/v1/inventory/low-stock", Some(&customer.access)).await, 403).await;
        let low: Value = app.get("/api/v1/inventory/low-stock", Some(&admin.access)).await.json().await.expect("json");
        let skus: Vec<&str> = low["items"].as_array().expect("items").iter().filter_map(|i| i["sku"].as_str()).collect();
        assert_eq!(skus, vec!["SCARCE"]);
        assert_eq!(low["items"][0]["available"], 4);
        assert_eq!(low["items"][0]["low_stock_threshold"], 5);

        let raised = app.put("/api/v1/inventory/PLENTY/threshold", &admin.access, &json!({"low_stock_threshold": 60})).await;
        assert_eq!(raised.status(), 200);
        let inventory = app.platform.as_ref().and_then(|p| p.services.get::<inventory::Inventory>()).expect("inventory");
        let low_events: Vec<String> = platform::db::query_scalar("SELECT subject FROM outbox WHERE event_type = 'inventory.stock.low.v1' ORDER BY seq")
            .fetch_all(inventory.db().reader())
            .await
            .expect("outbox");
        assert_eq!(low_events, vec!["SCARCE", "PLENTY"], "one event per crossing");
    }

    async fn a_redelivered_order_created_event_reserves_once(app) {
        let admin = app.admin().await;
        let w = warehouse(&app, &admin.access, "main").await;
        adjust(&app, &admin.access, "EVT", &w, 10).await;
        let platform = app.platform.as_ref().expect("platform");
        let inventory = platform.services.get::<inventory::Inventory>().expect("inventory");
        // A stand-in for the ordering service: its own database and outbox.
        let ordering_db = Db::connect(&app.storage().extra_database_url("test_producer"), &platform::db::Migrations { scope: "test", steps: &[] })
            .await
            .expect("ordering db");
        let order = |id: &str, quantity: u32| OrderCreated {
            order_id: id.to_owned(),
            user_id: "u1".into(),
            items: vec![OrderLine { sku: "EVT".into(), quantity, unit_price: Money { amount: 500, currency: "USD".into() } }],
            total: Money { amount: 500 * i64::from(quantity), currency: "USD".into() },
            payment_id: None,
            attribution: None,
        };
        // Stage the first order in the stand-in's outbox and deliver it by hand, twice:
        // the second delivery is a redelivery of the same event id.
        let staging = Tasks::new(Shutdown::new());
        let stand_in = platform::bus::EmbeddedBus::new();
        let outbox = platform::bus::Bus::attach_producer(&stand_in, ServiceKind::Ordering, ordering_db.clone(), &staging)
            .await
            .expect("outbox");
        let mut tx = ordering_db.begin().await.expect("begin");
        outbox.stage(&mut tx, &order("evt-1", 3)).await.expect("stage");
        tx.commit().await.expect("commit");
        let subscription = Subscription {
            consumer: "inventory".into(),
            db: inventory.db().clone(),
            streams: vec![ServiceKind::Ordering],
            handler: Arc::new(inventory::events::OrderEvents { app: inventory.app().clone() }),
            retry: RetryPolicy::default(),
            outbox: None,
        };
        assert_eq!(platform::bus::deliver_without_advancing(&ordering_db, ServiceKind::Ordering, &subscription).await.expect("deliver"), 1);
        assert_eq!(stock(&app, "EVT").await["reserved"], 3);
        assert_eq!(platform::bus::deliver_without_advancing(&ordering_db, ServiceKind::Ordering, &subscription).await.expect("redeliver"), 0, "a redelivery applies nothing");
        assert_eq!(stock(&app, "EVT").await["reserved"], 3);

        // The live bus delivers what the real ordering service stages.
        let ordering = platform.services.get::<ordering::Ordering>().expect("ordering");
        let live = platform.bus.attach_producer(ServiceKind::Ordering, ordering.db().clone(), &platform.tasks).await.expect("attach");
        let mut tx = ordering.db().begin().await.expect("begin");
        live.stage(&mut tx, &order("evt-2", 2)).await.expect("stage");
        tx.commit().await.expect("commit");
        live.wake();
        eventually(Duration::from_secs(20), "the second order to be reserved", || async {
            (stock(&app, "EVT").await["reserved"] == 5).then_some(())
        })
        .await;
        let reservations: i64 = platform::db::query_scalar("SELECT COUNT(*) FROM reservations")
            .fetch_one(inventory.db().reader())
            .await
            .expect("count");
        assert_eq!(reservations, 2, "the redelivered event reserved nothing more");
        staging.stop(Duration::from_secs(1)).await;
    }
}
