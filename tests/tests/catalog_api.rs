//! API.md's Catalog table through the gateway, in both shapes: products, categories,
//! listing with filters and cursors, ranked fuzzy search, caching, and the stock flag
//! kept from inventory's events.

use platform::service::Service;
use std::time::Duration;

use serde_json::{Value, json};
use viscount_tests::*;

async fn product(app: &TestApp, token: &str, body: Value) -> Value {
    let response = app.post("/api/v1/products", Some(token), &body).await;
    let status = response.status();
    let created: Value = response.json().await.expect("json");
    assert_eq!(status, 201, "{created}");
    created
}

fn simple(sku: &str, name: &str, amount: i64) -> Value {
    json!({"sku": sku, "name": name, "description": "", "price": {"amount": amount, "currency": "USD"}})
}

fn ids(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|i| i["id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

both_shapes! {
    async fn admins_create_read_update_and_delete_products(app) {
        let admin = app.admin().await;
        let customer = app.user("shopper").await;
        let body = json!({
            "sku": "MUG-1", "name": "Enamel mug", "description": "A mug for camping",
            "price": {"amount": 1299, "currency": "usd"}, "attributes": {"colour": "blue", "volume_ml": 350}
        });
        assert_problem(app.post("/api/v1/products", Some(&customer.access), &body).await, 403).await;
        assert_problem(app.post("/api/v1/products", None, &body).await, 401).await;
        let response = app.post("/api/v1/products", Some(&admin.access), &body).await;
        assert_eq!(response.status(), 201);
        assert!(response.headers().get("location").is_some());
        let created: Value = response.json().await.expect("json");
        assert_eq!(created["price"], json!({"amount": 1299, "currency": "USD"}));
        assert_eq!(created["in_stock"], false);
        assert_eq!(created["attributes"]["colour"], "blue");
        let id = created["id"].as_str().expect("id").to_owned();

        assert_problem(app.post("/api/v1/products", Some(&admin.access), &body).await, 409).await;
        let invalid = app
            .post("/api/v1/products", Some(&admin.access), &json!({
                "sku": "bad sku", "name": " ", "description": "d".repeat(5001),
                "price": {"amount": -1, "currency": "USD"}, "attributes": {"nested": {"x": 1}}
            }))
            .await;
        assert_eq!(error_fields(&assert_problem(invalid, 422).await), vec!["sku", "name", "description", "price.amount", "attributes"]);
        let currency = app.post("/api/v1/products", Some(&admin.access), &simple("X-1", "X", 1).as_object().map(|o| {
            let mut o = o.clone();
            o.insert("price".into(), json!({"amount": 1, "currency": "ZZZ"}));
            Value::Object(o)
        }).expect("object")).await;
        assert_eq!(error_fields(&assert_problem(currency, 422).await), vec!["price.currency"]);

        let read = app.get(&format!("/api/v1/products/{id}"), None).await;
        assert_eq!(read.status(), 200);
        let etag = read.headers().get("etag").and_then(|v| v.to_str().ok()).expect("etag").to_owned();
        assert!(read.headers().get("cache-control").and_then(|v| v.to_str().ok()).is_some_and(|c| c.contains("max-age")));
        let cached = app.client.get(app.url(&format!("/api/v1/products/{id}"))).header("if-none-match", &etag).send().await.expect("sent");
        assert_eq!(cached.status(), 304);

        let mut changed = body.clone();
        changed["price"] = json!({"amount": 999, "currency": "USD"});
        let updated = app.put(&format!("/api/v1/products/{id}"), &admin.access, &changed).await;
        assert_eq!(updated.status(), 200);
        let stale = app.client.get(app.url(&format!("/api/v1/products/{id}"))).header("if-none-match", &etag).send().await.expect("sent");
        assert_eq!(stale.status(), 200, "a change invalidates the ETag");
        assert_eq!(stale.json::<Value>().await.expect("json")["price"]["amount"], 999);
        let mut resku = changed.clone();
        resku["sku"] = json!("OTHER");
        assert_eq!(error_fields(&assert_problem(app.put(&format!("/api/v1/products/{id}"), &admin.access, &resku).await, 422).await), vec!["sku"]);

        let catalog = app.platform.as_ref().and_then(|p| p.services.get::<catalog::Catalog>()).expect("catalog");
        let events: Vec<String> = platform::db::query_scalar("SELECT event_type FROM outbox WHERE subject = $1 ORDER BY seq")
            .bind(&id)
            .fetch_all(catalog.db().reader())
            .await
            .expect("outbox");
        assert_eq!(events, vec!["catalog.product.created.v1", "catalog.product.updated.v1", "catalog.product.price_changed.v1"]);

        assert_problem(app.delete(&format!("/api/v1/products/{id}"), &customer.access).await, 403).await;
        assert_eq!(app.delete(&format!("/api/v1/products/{id}"), &admin.access).await.status(), 204);
        assert_problem(app.get(&format!("/api/v1/products/{id}"), None).await, 404).await;
    }

    async fn variants_name_their_parent(app) {
        let admin = app.admin().await;
        let shirt = product(&app, &admin.access, simple("TEE", "Tee shirt", 1500)).await;
        let parent = shirt["id"].as_str().expect("id");
        let mut small = simple("TEE-S", "Tee shirt, small", 1500);
        small["variant_of"] = json!(parent);
        small["attributes"] = json!({"size": "S"});
        let variant = product(&app, &admin.access, small).await;
        assert_eq!(variant["variant_of"], parent);
        let mut nested = simple("TEE-S-RED", "Nested", 1500);
        nested["variant_of"] = variant["id"].clone();
        assert_eq!(error_fields(&assert_problem(app.post("/api/v1/products", Some(&admin.access), &nested).await, 422).await), vec!["variant_of"]);
        assert_problem(app.delete(&format!("/api/v1/products/{parent}"), &admin.access).await, 409).await;
    }

    async fn category_listing_includes_sub_categories_and_filters_combine(app) {
        let admin = app.admin().await;
        let customer = app.user("shopper").await;
        let create_category = |name: &str, parent: Option<&str>| {
            let body = json!({"name": name, "parent_id": parent});
            let token = admin.access.clone();
            let app = &app;
            async move {
                let response = app.post("/api/v1/categories", Some(&token), &body).await;
                assert_eq!(response.status(), 201);
                response.json::<Value>().await.expect("json")["id"].as_str().expect("id").to_owned()
            }
        };
        assert_problem(app.post("/api/v1/categories", Some(&customer.access), &json!({"name": "x"})).await, 403).await;
        let outdoor = create_category("Outdoor", None).await;
        let tents = create_category("Tents", Some(&outdoor)).await;
        let kitchen = create_category("Kitchen", None).await;
        assert_problem(app.post("/api/v1/categories", Some(&admin.access), &json!({"name": "x", "parent_id": "nope"})).await, 422).await;

        let mut in_outdoor = simple("LAMP", "Lamp", 2000);
        in_outdoor["category_id"] = json!(outdoor);
        let mut in_tents = simple("TENT", "Tent", 20000);
        in_tents["category_id"] = json!(tents);
        let mut in_kitchen = simple("PAN", "Pan", 3000);
        in_kitchen["category_id"] = json!(kitchen);
        let lamp = product(&app, &admin.access, in_outdoor).await;
        let tent = product(&app, &admin.access, in_tents).await;
        product(&app, &admin.access, in_kitchen).await;
        let mut unknown = simple("GHOST", "Ghost", 1);
        unknown["category_id"] = json!("nope");
        assert_eq!(error_fields(&assert_problem(app.post("/api/v1/products", Some(&admin.access), &unknown).await, 422).await), vec!["category_id"]);

        let list: Value = app.get(&format!("/api/v1/products?category={outdoor}"), None).await.json().await.expect("json");
        assert_eq!(ids(&list), vec![lamp["id"].as_str().expect("id").to_owned(), tent["id"].as_str().expect("id").to_owned()]);
        let cheap: Value = app.get(&format!("/api/v1/products?category={outdoor}&max_price=5000"), None).await.json().await.expect("json");
        assert_eq!(ids(&cheap), vec![lamp["id"].as_str().expect("id").to_owned()]);
        let band: Value = app.get("/api/v1/products?min_price=2500&max_price=25000", None).await.json().await.expect("json");
        assert_eq!(band["items"].as_array().map(Vec::len), Some(2));
        assert_problem(app.get("/api/v1/products?min_price=10&max_price=5", None).await, 422).await;
        assert_problem(app.get("/api/v1/products?min_price=abc", None).await, 422).await;
        let categories: Value = app.get("/api/v1/categories", None).await.json().await.expect("json");
        assert_eq!(categories["items"].as_array().map(Vec::len), Some(3));
    }

    async fn cursor_pagination_stays_correct_while_products_are_inserted(app) {
        let admin = app.admin().await;
        for i in 0..5 {
            product(&app, &admin.access, simple(&format!("P-{i}"), &format!("Product {i}"), 100 + i)).await;
        }
        let first: Value = app.get("/api/v1/products?limit=2", None).await.json().await.expect("json");
        let mut seen = ids(&first);
        let mut cursor = first["next_cursor"].as_str().map(str::to_owned);
        product(&app, &admin.access, simple("P-new", "Inserted while paging", 1)).await;
        while let Some(next) = cursor {
            let page: Value = app.get(&format!("/api/v1/products?limit=2&cursor={next}"), None).await.json().await.expect("json");
            seen.extend(ids(&page));
            cursor = page["next_cursor"].as_str().map(str::to_owned);
        }
        let mut unique = seen.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), seen.len(), "no product twice");
        assert_eq!(seen.len(), 6, "every product once, including the one inserted while paging");
        assert_problem(app.get("/api/v1/products?cursor=!!", None).await, 422).await;
    }

    async fn search_ranks_names_first_tolerates_a_typo_and_combines_with_filters(app) {
        let admin = app.admin().await;
        let mut described = simple("BAG", "Canvas bag", 2500);
        described["description"] = json!("Carries your lantern and stove");
        let bag = product(&app, &admin.access, described).await;
        let lantern = product(&app, &admin.access, simple("LANTERN", "Brass lantern", 4000)).await;
        let mut attributed = simple("SOCKS", "Wool socks", 900);
        attributed["attributes"] = json!({"material": "merino"});
        let socks = product(&app, &admin.access, attributed).await;

        let found: Value = app.get("/api/v1/products/search?q=lantern", None).await.json().await.expect("json");
        assert_eq!(ids(&found), vec![lantern["id"].as_str().expect("id").to_owned(), bag["id"].as_str().expect("id").to_owned()], "name match above description match");
        let typo: Value = app.get("/api/v1/products/search?q=lantren", None).await.json().await.expect("json");
        assert_eq!(ids(&typo)[0], lantern["id"].as_str().expect("id"));
        let by_attribute: Value = app.get("/api/v1/products/search?q=merino", None).await.json().await.expect("json");
        assert_eq!(ids(&by_attribute), vec![socks["id"].as_str().expect("id").to_owned()]);
        let filtered: Value = app.get("/api/v1/products/search?q=lantern&max_price=3000", None).await.json().await.expect("json");
        assert_eq!(ids(&filtered), vec![bag["id"].as_str().expect("id").to_owned()]);
        let paged: Value = app.get("/api/v1/products/search?q=lantern&limit=1", None).await.json().await.expect("json");
        let next = paged["next_cursor"].as_str().expect("a second page");
        let second: Value = app.get(&format!("/api/v1/products/search?q=lantern&limit=1&cursor={next}"), None).await.json().await.expect("json");
        assert_eq!(ids(&second), vec![bag["id"].as_str().expect("id").to_owned()]);
        assert!(second["next_cursor"].is_null());
        assert_problem(app.get("/api/v1/products/search?q=", None).await, 422).await;

        let id = lantern["id"].as_str().expect("id");
        assert_eq!(app.delete(&format!("/api/v1/products/{id}"), &admin.access).await.status(), 204);
        let after: Value = app.get("/api/v1/products/search?q=lantern", None).await.json().await.expect("json");
        assert_eq!(ids(&after), vec![bag["id"].as_str().expect("id").to_owned()], "the index follows deletes");
    }

    async fn the_index_is_rebuilt_from_the_database_when_it_disagrees(app) {
        let admin = app.admin().await;
        product(&app, &admin.access, simple("KNOWN", "Known kettle", 100)).await;
        let catalog = app.platform.as_ref().and_then(|p| p.services.get::<catalog::Catalog>()).expect("catalog");
        // A product the index never heard of (a crash between the two commits).
        let mut tx = catalog.db().begin().await.expect("begin");
        platform::db::query("INSERT INTO products (id, sku, name, description, price_amount, currency, attributes, version, created_at, updated_at) \
                     VALUES ($1, 'HIDDEN', 'Hidden hammock', '', 100, 'USD', '{}', 1, $2, $2)")
            .bind(platform::ids::new_id())
            .bind(platform::time::now_millis() + 1000)
            .execute(&mut *tx)
            .await
            .expect("insert");
        tx.commit().await.expect("commit");
        let before: Value = app.get("/api/v1/products/search?q=hammock", None).await.json().await.expect("json");
        assert!(ids(&before).is_empty());
        assert!(catalog.app().ensure_index().await.expect("rebuild"), "the mismatch is noticed");
        let after: Value = app.get("/api/v1/products/search?q=hammock", None).await.json().await.expect("json");
        assert_eq!(after["items"].as_array().map(Vec::len), Some(1));
        assert!(!catalog.app().ensure_index().await.expect("no rebuild"), "a matching index is left alone");
    }

    async fn in_stock_follows_inventory_to_zero_and_back(app) {
        let admin = app.admin().await;
        let created = product(&app, &admin.access, simple("STOCKED", "Stocked stool", 5000)).await;
        let id = created["id"].as_str().expect("id").to_owned();
        let warehouse: Value = app.post("/api/v1/warehouses", Some(&admin.access), &json!({"code": "main", "name": "Main"})).await.json().await.expect("json");
        let warehouse = warehouse["id"].as_str().expect("warehouse").to_owned();
        let in_stock = |expected: bool| {
            let app = &app;
            let id = id.clone();
            async move {
                eventually(Duration::from_secs(20), &format!("in_stock = {expected}"), || async {
                    let p: Value = app.get(&format!("/api/v1/products/{id}"), None).await.json().await.ok()?;
                    (p["in_stock"] == expected).then_some(())
                })
                .await;
            }
        };
        let adjust = app.post("/api/v1/inventory/adjust", Some(&admin.access), &json!({"sku": "STOCKED", "warehouse_id": warehouse, "delta": 2, "reason": "delivery"})).await;
        assert_eq!(adjust.status(), 200);
        in_stock(true).await;
        let listed: Value = app.get("/api/v1/products?in_stock=true", None).await.json().await.expect("json");
        assert_eq!(ids(&listed), vec![id.clone()]);
        let reserve = app.post("/api/v1/inventory/reserve", Some(&admin.access), &json!({"order_id": "o-1", "items": [{"sku": "STOCKED", "quantity": 2}]})).await;
        assert_eq!(reserve.status(), 201);
        in_stock(false).await;
        let none: Value = app.get("/api/v1/products?in_stock=true", None).await.json().await.expect("json");
        assert!(ids(&none).is_empty());
        assert_eq!(app.post("/api/v1/inventory/release", Some(&admin.access), &json!({"order_id": "o-1"})).await.status(), 200);
        in_stock(true).await;
    }

    async fn writes_of_another_replica_reach_the_search_index(app) {
        let admin = app.admin().await;
        product(&app, &admin.access, simple("LOCAL-1", "Harbour lantern", 900)).await;
        let catalog = app.platform.as_ref().and_then(|p| p.services.get::<catalog::Catalog>()).expect("catalog");
        // Another replica writes the shared database; this replica's index never saw it.
        let now = app.clock.now_millis();
        let record = catalog::domain::Product::create(
            platform::ids::new_id(),
            catalog::domain::Sku::try_from("REMOTE-1".to_owned()).expect("sku"),
            catalog::domain::ProductInput {
                name: catalog::domain::ProductName::try_from("Glacier thermos".to_owned()).expect("name"),
                description: catalog::domain::Description::try_from("written by another replica".to_owned()).expect("description"),
                price: contracts::Money { amount: 2500, currency: "USD".into() },
                category_id: None,
                attributes: catalog::domain::Attributes::empty(),
                variant_of: None,
            },
            now,
        );
        let mut tx = catalog.db().begin().await.expect("begin");
        catalog::store::insert_product(&mut tx, &record).await.expect("insert");
        tx.commit().await.expect("commit");
        let search = |q: &'static str| {
            let app = &app;
            async move { ids(&app.get(&format!("/api/v1/products/search?q={q}"), None).await.json::<Value>().await.expect("json")) }
        };
        eventually(Duration::from_secs(20), "the other replica's product to be found", || async {
            search("thermos").await.contains(&record.id).then_some(())
        })
        .await;
        // And its delete.
        let mut tx = catalog.db().begin().await.expect("begin");
        platform::db::query("DELETE FROM products WHERE id = $1").bind(&record.id).execute(&mut *tx).await.expect("delete");
        tx.commit().await.expect("commit");
        eventually(Duration::from_secs(20), "the deleted product to leave the index", || async {
            search("thermos").await.is_empty().then_some(())
        })
        .await;
        assert_eq!(search("lantern").await.len(), 1, "the rest of the index is intact");
    }

    async fn odd_ids_filters_and_cursors_are_answered_without_touching_the_database(app) {
        let admin = app.admin().await;
        product(&app, &admin.access, simple("ODD-1", "Odd lantern", 100)).await;
        // A NUL (which PostgreSQL's text refuses) or any other non-id names nothing.
        for id in ["%00", "not-an-id"] {
            assert_problem(app.get(&format!("/api/v1/products/{id}"), None).await, 404).await;
            assert_problem(app.put(&format!("/api/v1/products/{id}"), &admin.access, &simple("ODD-1", "x", 1)).await, 404).await;
            assert_problem(app.delete(&format!("/api/v1/products/{id}"), &admin.access).await, 404).await;
        }
        let mut nul = simple("ODD-2", "Odd", 100);
        nul["category_id"] = json!("\u{0}");
        nul["variant_of"] = json!("\u{0}");
        let refused = app.post("/api/v1/products", Some(&admin.access), &nul).await;
        assert_eq!(error_fields(&assert_problem(refused, 422).await), ["category_id", "variant_of"]);
        let category = app.post("/api/v1/categories", Some(&admin.access), &json!({"name": "Odd", "parent_id": "\u{0}"})).await;
        assert_eq!(error_fields(&assert_problem(category, 422).await), ["parent_id"]);
        // A category filter that is no id matches nothing.
        for path in ["/api/v1/products?category=%00", "/api/v1/products/search?q=lantern&category=%00"] {
            let none: Value = app.get(path, None).await.json().await.expect("json");
            assert_eq!(none["items"], json!([]), "{path}");
        }
        // Cursors this API never issued: a NUL, a non-id, positions past any ranking
        // (u64::MAX overflowed the next page's arithmetic; a billion asked the index for
        // a billion hits).
        for cursor in ["AA", "bm90LWEtdXVpZA"] {
            assert_problem(app.get(&format!("/api/v1/products?cursor={cursor}"), None).await, 422).await;
        }
        for far in ["MTg0NDY3NDQwNzM3MDk1NTE2MTU", "MTAwMDAwMDAwMA"] {
            assert_problem(app.get(&format!("/api/v1/products/search?q=lantern&cursor={far}"), None).await, 422).await;
        }
        // The last position a search can issue is still a (past the end) page.
        let last: Value = app.get("/api/v1/products/search?q=lantern&cursor=MTYwMDA", None).await.json().await.expect("json");
        assert_eq!(last["items"], json!([]));
    }
}
