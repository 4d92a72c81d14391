//! The ingestion API through the gateway, in both shapes: tenants' sources, each
//! provider's signature scheme, normalization to exact amounts, the channel taxonomy,
//! idempotency under concurrent deliveries, dead letters and replay, touchpoints,
//! tenant isolation, and personal data that is never stored.

use std::time::Duration;

use serde_json::{Value, json};
use viscount_tests::providers::{
    self, PAYPAL_WEBHOOK_ID, PII, SHOPIFY_SECRET, STRIPE_SECRET, Tenant, WOO_SECRET,
};
use viscount_tests::{TestApp, assert_problem, both_shapes, error_fields, eventually};

/// A Shopify order landing from a Google ad.
fn google_ad_order(id: u64) -> Value {
    providers::shopify_order(
        id,
        "59.00",
        "USD",
        "/products/shirt?utm_source=google&utm_medium=cpc&utm_campaign=spring",
        "https://www.google.com/search?q=shirt",
    )
}

/// The tenant's stored events (as its own key sees them).
async fn events_of(app: &TestApp, tenant: &Tenant) -> Vec<Value> {
    let response = app
        .get_with_key("/api/v1/ingestion/events?limit=100", &tenant.api_key)
        .await;
    assert_eq!(response.status(), 200, "events");
    let list: Value = response.json().await.expect("json");
    list["items"].as_array().cloned().unwrap_or_default()
}

/// Delivers and returns the status and body.
async fn deliver(app: &TestApp, tenant: &Tenant, delivery: &providers::Delivery) -> (u16, Value) {
    let response = app.deliver(&tenant.id, delivery).await;
    let status = response.status().as_u16();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body)
}

both_shapes! {
    async fn sources_are_set_by_admins_for_tenants_that_exist(app) {
        let admin = app.admin().await;
        let tenant = app.tenant_with_sources(&admin, "Acme").await;
        let path = format!("/api/v1/tenants/{}/sources/shopify", tenant.id);

        let customer = app.user("buyer").await;
        assert_problem(app.put(&path, &customer.access, &json!({"secret": "s"})).await, 403).await;
        let anonymous = app.client.put(app.url(&path)).json(&json!({"secret": "s"})).send().await.expect("sent");
        assert_problem(anonymous, 401).await;

        let unknown = format!("/api/v1/tenants/{}/sources/shopify", uuid::Uuid::now_v7());
        assert_problem(app.put(&unknown, &admin.access, &json!({"secret": "s"})).await, 404).await;
        let bad_provider = format!("/api/v1/tenants/{}/sources/magento", tenant.id);
        assert_problem(app.put(&bad_provider, &admin.access, &json!({"secret": "s"})).await, 404).await;

        let problem = assert_problem(app.put(&path, &admin.access, &json!({"secret": ""})).await, 422).await;
        assert_eq!(error_fields(&problem), vec!["secret"]);
        let problem = assert_problem(app.put(&path, &admin.access, &json!({"secret": "s", "extra": 1})).await, 422).await;
        assert_eq!(error_fields(&problem), vec!["extra"]);
        let paypal = format!("/api/v1/tenants/{}/sources/paypal", tenant.id);
        let problem = assert_problem(
            app.put(&paypal, &admin.access, &json!({"webhook_id": "WH-1", "certificate_pem": "not a certificate"})).await,
            422,
        ).await;
        assert_eq!(error_fields(&problem), vec!["certificate_pem"]);
        // Without certificate fetching configured, PayPal's certificate is required.
        let problem = assert_problem(app.put(&paypal, &admin.access, &json!({"webhook_id": "WH-1"})).await, 422).await;
        assert_eq!(error_fields(&problem), vec!["certificate_pem"]);

        // A new secret replaces the old one at once: deliveries signed with the old
        // one are refused.
        assert_eq!(app.put(&path, &admin.access, &json!({"secret": "rotated-secret"})).await.status(), 204);
        let old = providers::shopify("orders/create", &google_ad_order(1001), "wh-rot-1", SHOPIFY_SECRET);
        assert_problem(app.deliver(&tenant.id, &old).await, 401).await;
        let new = providers::shopify("orders/create", &google_ad_order(1001), "wh-rot-1", "rotated-secret");
        assert_eq!(app.deliver(&tenant.id, &new).await.status(), 200);
    }

    async fn every_provider_signature_scheme_is_checked_before_anything_is_stored(app) {
        let admin = app.admin().await;
        let tenant = app.tenant_with_sources(&admin, "Signed").await;
        let now = app.clock.now_secs();
        let valid = [
            providers::shopify("orders/create", &google_ad_order(2001), "wh-sig-1", SHOPIFY_SECRET),
            providers::stripe("charge/succeeded", &providers::stripe_charge("evt_sig_1", "charge.succeeded", "ch_sig_1", 5900, 0, "usd", "2001"), now, STRIPE_SECRET),
            providers::paypal("payment/sale/completed", &providers::paypal_sale("WH-SIG-1", "PAYMENT.SALE.COMPLETED", "SALE-SIG-1", "59.00", "USD", "2001"), "tx-sig-1", PAYPAL_WEBHOOK_ID),
            providers::woocommerce("order/created", &providers::woo_order(2002, "processing", "59.00", "USD", "newsletter", "email"), "woo-sig-1", WOO_SECRET),
        ];
        let signature_header = ["X-Shopify-Hmac-Sha256", "Stripe-Signature", "PAYPAL-TRANSMISSION-SIG", "X-WC-Webhook-Signature"];
        for (delivery, header) in valid.iter().zip(signature_header) {
            let tampered = delivery.clone().with_body(&delivery.body.iter().map(|b| if *b == b'9' { b'8' } else { *b }).collect::<Vec<u8>>());
            assert_problem(app.deliver(&tenant.id, &tampered).await, 401).await;
            let missing = delivery.clone().with_header(header, None);
            assert_problem(app.deliver(&tenant.id, &missing).await, 401).await;
            let garbage = delivery.clone().with_header(header, Some("bm90IGEgc2lnbmF0dXJl"));
            assert_problem(app.deliver(&tenant.id, &garbage).await, 401).await;
            // Unknown tenant and no tenant read like an unconfigured source.
            assert_problem(app.deliver(&uuid::Uuid::now_v7().to_string(), delivery).await, 401).await;
        }
        // Wrong secrets.
        assert_problem(app.deliver(&tenant.id, &providers::shopify("orders/create", &google_ad_order(2001), "wh-sig-1", "wrong")).await, 401).await;
        assert_problem(app.deliver(&tenant.id, &providers::stripe("charge/succeeded", &providers::stripe_charge("evt_sig_1", "charge.succeeded", "ch_sig_1", 5900, 0, "usd", "2001"), now, "wrong")).await, 401).await;
        assert_problem(app.deliver(&tenant.id, &providers::woocommerce("order/created", &providers::woo_order(2002, "processing", "59.00", "USD", "x", "y"), "woo-sig-1", "wrong")).await, 401).await;
        assert_problem(app.deliver(&tenant.id, &providers::paypal("payment/sale/completed", &providers::paypal_sale("WH-SIG-1", "PAYMENT.SALE.COMPLETED", "SALE-SIG-1", "59.00", "USD", "2001"), "tx-sig-1", "WH-ANOTHER")).await, 401).await;
        // A Stripe signature older than five minutes is stale.
        let stale = providers::stripe("charge/succeeded", &providers::stripe_charge("evt_sig_2", "charge.succeeded", "ch_sig_2", 5900, 0, "usd", "2001"), now - 301, STRIPE_SECRET);
        assert_problem(app.deliver(&tenant.id, &stale).await, 401).await;
        assert!(events_of(&app, &tenant).await.is_empty(), "nothing stored for refused deliveries");

        for delivery in &valid {
            let (status, body) = deliver(&app, &tenant, delivery).await;
            assert_eq!((status, body["status"].as_str()), (200, Some("stored")), "{}: {body}", delivery.path);
        }
        assert_eq!(events_of(&app, &tenant).await.len(), 4);

        // A tenant without sources takes nothing.
        let bare: Value = app.post("/api/v1/tenants", Some(&admin.access), &json!({"name": "Bare"})).await.json().await.expect("json");
        let bare_id = bare["id"].as_str().expect("id");
        assert_problem(app.deliver(bare_id, &valid[0]).await, 401).await;
    }

    async fn orders_payments_and_refunds_of_every_provider_are_normalized_to_exact_amounts(app) {
        let admin = app.admin().await;
        let tenant = app.tenant_with_sources(&admin, "Amounts").await;
        let now = app.clock.now_secs();
        let deliveries = [
            providers::shopify("orders/create", &google_ad_order(3001), "wh-amt-1", SHOPIFY_SECRET),
            providers::shopify("orders/create", &providers::shopify_order(3002, "5900", "JPY", "/", ""), "wh-amt-2", SHOPIFY_SECRET),
            providers::shopify("refunds/create", &providers::shopify_refund(3101, 3001, "10.50", "USD"), "wh-amt-3", SHOPIFY_SECRET),
            providers::stripe("charge/succeeded", &providers::stripe_charge("evt_amt_1", "charge.succeeded", "ch_amt_1", 5900, 0, "usd", "3001"), now, STRIPE_SECRET),
            providers::stripe("charge/succeeded", &providers::stripe_charge("evt_amt_2", "charge.succeeded", "ch_amt_2", 5900, 0, "jpy", "3002"), now, STRIPE_SECRET),
            providers::stripe("charge/refunded", &providers::stripe_charge("evt_amt_3", "charge.refunded", "ch_amt_1", 5900, 1050, "usd", "3001"), now, STRIPE_SECRET),
            providers::paypal("payment/sale/completed", &providers::paypal_sale("WH-AMT-1", "PAYMENT.SALE.COMPLETED", "SALE-AMT-1", "59.00", "USD", "3003"), "tx-amt-1", PAYPAL_WEBHOOK_ID),
            providers::paypal("payment/sale/refunded", &providers::paypal_sale("WH-AMT-2", "PAYMENT.SALE.REFUNDED", "REF-AMT-1", "10.50", "USD", "3003"), "tx-amt-2", PAYPAL_WEBHOOK_ID),
            providers::woocommerce("order/created", &providers::woo_order(3004, "processing", "59.00", "EUR", "newsletter", "email"), "woo-amt-1", WOO_SECRET),
            providers::woocommerce("order/updated", &providers::woo_order(3004, "refunded", "59.00", "EUR", "newsletter", "email"), "woo-amt-2", WOO_SECRET),
        ];
        for delivery in &deliveries {
            let (status, body) = deliver(&app, &tenant, delivery).await;
            assert_eq!(status, 200, "{}: {body}", delivery.path);
        }
        let events = events_of(&app, &tenant).await;
        let summary: Vec<(String, String, i64, String, String)> = events.iter().map(|e| (
            e["provider"].as_str().unwrap_or("").to_owned(),
            e["kind"].as_str().unwrap_or("").to_owned(),
            e["amount"]["amount"].as_i64().unwrap_or(-1),
            e["amount"]["currency"].as_str().unwrap_or("").to_owned(),
            e["order_ref"].as_str().unwrap_or("").to_owned(),
        )).collect();
        let expected = [
            ("shopify", "order", 5900, "USD", "3001"),
            ("shopify", "order", 5900, "JPY", "3002"),
            ("shopify", "refund", 1050, "USD", "3001"),
            ("stripe", "payment", 5900, "USD", "3001"),
            ("stripe", "payment", 5900, "JPY", "3002"),
            ("stripe", "refund", 1050, "USD", "3001"),
            ("paypal", "payment", 5900, "USD", "3003"),
            ("paypal", "refund", 1050, "USD", "3003"),
            ("woocommerce", "order", 5900, "EUR", "3004"),
            ("woocommerce", "refund", 5900, "EUR", "3004"),
        ];
        assert_eq!(
            summary,
            expected.iter().map(|(p, k, a, c, o)| ((*p).to_owned(), (*k).to_owned(), *a, (*c).to_owned(), (*o).to_owned())).collect::<Vec<_>>(),
        );
        let order = &events[0];
        assert_eq!((order["external_id"].as_str(), order["topic"].as_str()), (Some("3001"), Some("orders/create")));
        assert_eq!(order["channel"], "paid_search");
        assert_eq!(order["channel_fields"]["utm_source"], "google");
        assert_eq!(order["channel_fields"]["referring_site"], "www.google.com");
        assert_eq!(order["line_items"], json!([{"sku": "SKU-1", "quantity": 2, "unit_price": 2950}]));
        assert!(order["customer_ref"].as_str().is_some_and(|r| r.len() >= 32), "customer_ref is a keyed hash: {order}");
        assert_eq!(events[8]["channel"], "email", "WooCommerce attribution meta: {}", events[8]);

        // Every stored event was announced on the bus through the outbox.
        let db = platform::service::Service::db(app.ingestion());
        let announced: i64 = platform::db::query_scalar("SELECT COUNT(*) FROM outbox WHERE event_type = 'ingestion.event.received.v1'")
            .fetch_one(db.reader()).await.expect("count");
        assert_eq!(announced, 10);

        // The list pages by cursor: ten events in pages of four.
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let path = match &cursor {
                Some(c) => format!("/api/v1/ingestion/events?limit=4&cursor={c}"),
                None => "/api/v1/ingestion/events?limit=4".to_owned(),
            };
            let page: Value = app.get_with_key(&path, &tenant.api_key).await.json().await.expect("json");
            let items = page["items"].as_array().cloned().unwrap_or_default();
            assert!(items.len() <= 4, "{page}");
            seen.extend(items.iter().filter_map(|e| e["id"].as_str().map(str::to_owned)));
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => break,
            }
        }
        assert_eq!(seen, events.iter().filter_map(|e| e["id"].as_str().map(str::to_owned)).collect::<Vec<_>>());
    }

    async fn the_channel_taxonomy_has_ga4_defaults_and_a_tenant_can_replace_them(app) {
        let admin = app.admin().await;
        let tenant = app.tenant_with_sources(&admin, "Channels").await;
        let defaults: Value = app.get("/api/v1/ingestion/channel-taxonomy", Some(&admin.access)).await.json().await.expect("json");
        assert_eq!(defaults["origin"], "default");
        assert!(defaults["rules"].as_array().is_some_and(|r| r.len() >= 9), "{defaults}");

        let landings = [
            (4001, "/?utm_source=google&utm_medium=cpc", "", "paid_search"),
            (4002, "/", "https://www.bing.com/search?q=x", "organic_search"),
            (4003, "/?utm_source=facebook&utm_medium=paid_social", "", "paid_social"),
            (4004, "/", "https://l.facebook.com/", "organic_social"),
            (4005, "/?utm_source=newsletter&utm_medium=email", "", "email"),
            (4006, "/?utm_source=partner&utm_medium=affiliate", "", "affiliate"),
            (4007, "/", "https://blog.example.org/post", "referral"),
            (4008, "/", "", "direct"),
        ];
        for (id, landing, referrer, _) in landings {
            let delivery = providers::shopify("orders/create", &providers::shopify_order(id, "10.00", "USD", landing, referrer), &format!("wh-ch-{id}"), SHOPIFY_SECRET);
            assert_eq!(app.deliver(&tenant.id, &delivery).await.status(), 200);
        }
        let channels: Vec<String> = events_of(&app, &tenant).await.iter().map(|e| e["channel"].as_str().unwrap_or("").to_owned()).collect();
        assert_eq!(channels, landings.iter().map(|l| l.3.to_owned()).collect::<Vec<_>>());

        let path = format!("/api/v1/ingestion/channel-taxonomy?tenant={}", tenant.id);
        let problem = assert_problem(app.put(&path, &admin.access, &json!({"rules": [{"channel": "paid_search", "medium": "(unclosed"}]})).await, 422).await;
        assert_eq!(error_fields(&problem), vec!["rules[0].medium"]);
        let problem = assert_problem(app.put(&path, &admin.access, &json!({"rules": [{"channel": "television"}]})).await, 422).await;
        assert_eq!(error_fields(&problem), vec!["rules[0].channel"]);

        let own = json!({"rules": [{"channel": "affiliate", "source": "^google$"}, {"channel": "other"}]});
        let put: Value = app.put(&path, &admin.access, &own).await.json().await.expect("json");
        assert_eq!((put["origin"].as_str(), put["version"].as_i64()), (Some("tenant"), Some(1)), "{put}");
        let delivery = providers::shopify("orders/create", &providers::shopify_order(4009, "10.00", "USD", "/?utm_source=google&utm_medium=cpc", ""), "wh-ch-4009", SHOPIFY_SECRET);
        assert_eq!(app.deliver(&tenant.id, &delivery).await.status(), 200);
        let last = events_of(&app, &tenant).await.pop().expect("event");
        assert_eq!(last["channel"], "affiliate", "the tenant's own rule: {last}");
        // Its key reads its own taxonomy.
        let seen: Value = app.get_with_key("/api/v1/ingestion/channel-taxonomy", &tenant.api_key).await.json().await.expect("json");
        assert_eq!(seen["origin"], "tenant");
    }

    async fn concurrent_copies_of_one_delivery_store_one_event(app) {
        let admin = app.admin().await;
        let tenant = app.tenant_with_sources(&admin, "Twice").await;
        let delivery = providers::shopify("orders/create", &google_ad_order(5001), "wh-dup-1", SHOPIFY_SECRET);
        let copies = futures_util::future::join_all((0..12).map(|_| deliver(&app, &tenant, &delivery))).await;
        let mut stored = 0;
        for (status, body) in &copies {
            assert_eq!(*status, 200, "{body}");
            if body["status"] == "stored" { stored += 1; } else { assert_eq!(body["status"], "duplicate", "{body}"); }
        }
        assert_eq!(stored, 1, "{copies:?}");
        let ids: std::collections::BTreeSet<&str> = copies.iter().filter_map(|(_, b)| b["id"].as_str()).collect();
        assert_eq!(ids.len(), 1, "every copy names the one event: {copies:?}");
        assert_eq!(events_of(&app, &tenant).await.len(), 1);
    }

    async fn a_dead_event_is_kept_stripped_and_stored_by_a_replay_after_a_fix(app) {
        let admin = app.admin().await;
        let tenant = app.tenant_with_sources(&admin, "Dead").await;
        // The tenant's taxonomy knows only email traffic.
        let path = format!("/api/v1/ingestion/channel-taxonomy?tenant={}", tenant.id);
        assert_eq!(app.put(&path, &admin.access, &json!({"rules": [{"channel": "email", "medium": "^email$"}]})).await.status(), 200);

        let unclassified = providers::shopify("orders/create", &google_ad_order(6001), "wh-dead-1", SHOPIFY_SECRET);
        let (status, body) = deliver(&app, &tenant, &unclassified).await;
        assert_eq!(status, 202, "{body}");
        assert_eq!(body["status"], "dead");
        let mut no_total = google_ad_order(6002);
        no_total.as_object_mut().expect("object").remove("total_price");
        let (status, body) = deliver(&app, &tenant, &providers::shopify("orders/create", &no_total, "wh-dead-2", SHOPIFY_SECRET)).await;
        assert_eq!(status, 202);
        assert!(body["reason"].as_str().is_some_and(|r| r.contains("total_price")), "{body}");
        let malformed = providers::shopify_raw("orders/create", b"{\"id\": 6003, \"email\": \"jane.doe@example.com\"", "wh-dead-3", SHOPIFY_SECRET);
        let (status, body) = deliver(&app, &tenant, &malformed).await;
        assert_eq!(status, 202, "{body}");
        // A repeated dead delivery is counted, not added.
        assert_eq!(deliver(&app, &tenant, &malformed).await.0, 202);

        let dead: Value = app.get(&format!("/api/v1/ingestion/dead-events?tenant={}", tenant.id), Some(&admin.access)).await.json().await.expect("json");
        let items = dead["items"].as_array().cloned().unwrap_or_default();
        assert_eq!(items.len(), 3, "{dead}");
        assert!(items[0]["reason"].as_str().is_some_and(|r| r.contains("taxonomy")), "{dead}");
        assert!(items[0]["payload"].is_object(), "the stripped payload is kept");
        assert!(items[2]["payload"].is_null(), "nothing of unreadable JSON is kept");
        assert_eq!(items[2]["deliveries"], 2);
        let text = dead.to_string();
        for pii in PII {
            assert!(!text.contains(pii), "dead events hold {pii}: {text}");
        }
        assert!(events_of(&app, &tenant).await.is_empty());

        // Before the fix a replay says why it still fails.
        let replay = |id: &str| format!("/api/v1/ingestion/dead-events/{id}/replay");
        let first = items[0]["id"].as_str().expect("id");
        assert_problem(app.post(&replay(first), Some(&admin.access), &json!({})).await, 409).await;
        assert_problem(app.post(&replay(items[2]["id"].as_str().expect("id")), Some(&admin.access), &json!({})).await, 409).await;

        // The fix: a rule for everything else. The replay stores it.
        assert_eq!(app.put(&path, &admin.access, &json!({"rules": [{"channel": "email", "medium": "^email$"}, {"channel": "other"}]})).await.status(), 200);
        let replayed = app.post(&replay(first), Some(&admin.access), &json!({})).await;
        assert_eq!(replayed.status(), 200);
        let replayed: Value = replayed.json().await.expect("json");
        assert_eq!(replayed["status"], "stored", "{replayed}");
        let events = events_of(&app, &tenant).await;
        assert_eq!(events.len(), 1);
        assert_eq!((events[0]["external_id"].as_str(), events[0]["channel"].as_str()), (Some("6001"), Some("other")));
        assert_eq!(events[0]["id"], replayed["event_id"]);
        // Replaying again changes nothing; the dead event shows it resolved.
        let again: Value = app.post(&replay(first), Some(&admin.access), &json!({})).await.json().await.expect("json");
        assert_eq!(again["status"], "already_stored");
        let dead: Value = app.get(&format!("/api/v1/ingestion/dead-events?tenant={}", tenant.id), Some(&admin.access)).await.json().await.expect("json");
        assert_eq!(dead["items"][0]["status"], "resolved");
        assert_eq!(events_of(&app, &tenant).await.len(), 1);
        // Only admins replay; a customer cannot.
        let customer = app.user("buyer").await;
        assert_problem(app.post(&replay(first), Some(&customer.access), &json!({})).await, 403).await;
    }

    async fn touchpoints_are_hashed_like_orders_and_checked_item_by_item(app) {
        let admin = app.admin().await;
        let tenant = app.tenant_with_sources(&admin, "Visits").await;
        let path = "/api/v1/ingestion/touchpoints";
        let good = json!({"items": [
            {"customer_ref": "Jane.Doe@Example.com ", "occurred_at": "2026-11-30T09:00:00Z", "landing_url": "https://shop.example.com/?utm_source=google&utm_medium=cpc&utm_campaign=spring&email=jane.doe@example.com"},
            {"customer_ref": "cust-42", "occurred_at": "2026-11-30T09:05:00Z", "referrer": "https://www.facebook.com/some/post"}
        ]});
        let db = platform::service::Service::db(app.ingestion());
        let count = || async {
            platform::db::query_scalar::<i64>("SELECT COUNT(*) FROM touchpoints").fetch_one(db.reader()).await.expect("count")
        };

        let bad = json!({"items": [
            {"customer_ref": "a@example.com", "occurred_at": "2026-11-30T09:00:00Z"},
            {"customer_ref": "", "occurred_at": "yesterday"},
            {"customer_ref": "b", "occurred_at": "2026-11-30T09:00:00Z", "utm_campaign": "call 415-555-0199"}
        ]});
        let problem = assert_problem(app.post_with_key(path, &tenant.api_key, &bad).await, 422).await;
        assert_eq!(error_fields(&problem), vec!["items[1].customer_ref", "items[1].occurred_at", "items[2].utm_campaign"]);
        assert_eq!(count().await, 0, "nothing of a refused batch is written");

        let customer = app.user("buyer").await;
        assert_problem(app.post(path, Some(&customer.access), &good).await, 403).await;
        assert_problem(app.post(path, None, &good).await, 401).await;
        let problem = assert_problem(app.post(path, Some(&admin.access), &good).await, 422).await;
        assert_eq!(error_fields(&problem), vec!["tenant"]);

        let accepted = app.post_with_key(path, &tenant.api_key, &good).await;
        assert_eq!(accepted.status(), 202);
        assert_eq!(count().await, 2);
        let announced: i64 = platform::db::query_scalar("SELECT COUNT(*) FROM outbox WHERE event_type = 'ingestion.touchpoint.recorded.v1'")
            .fetch_one(db.reader()).await.expect("count");
        assert_eq!(announced, 2, "each touchpoint is announced on the bus");

        // The visit and an order by the same customer carry the same customer_ref.
        let order = providers::shopify("orders/create", &google_ad_order(7001), "wh-tp-1", SHOPIFY_SECRET);
        assert_eq!(app.deliver(&tenant.id, &order).await.status(), 200);
        let order_ref = events_of(&app, &tenant).await[0]["customer_ref"].as_str().expect("ref").to_owned();
        let visit: (String, String) = {
            let row = platform::db::query("SELECT customer_ref, channel FROM touchpoints ORDER BY occurred_at LIMIT 1")
                .fetch_one(db.reader()).await.expect("row");
            (row.try_get("customer_ref").expect("ref"), row.try_get("channel").expect("channel"))
        };
        assert_eq!(visit, (order_ref, "paid_search".to_owned()));
    }

    async fn a_tenant_key_sees_only_its_own_tenant(app) {
        let admin = app.admin().await;
        let a = app.tenant_with_sources(&admin, "Tenant A").await;
        let b = app.tenant_with_sources(&admin, "Tenant B").await;
        for (tenant, id) in [(&a, 8001), (&b, 8002)] {
            let delivery = providers::shopify("orders/create", &google_ad_order(id), &format!("wh-iso-{id}"), SHOPIFY_SECRET);
            assert_eq!(app.deliver(&tenant.id, &delivery).await.status(), 200);
        }
        let own = events_of(&app, &a).await;
        assert_eq!(own.len(), 1);
        assert_eq!(own[0]["tenant_id"], a.id.as_str());
        assert_problem(app.get_with_key(&format!("/api/v1/ingestion/events?tenant={}", b.id), &a.api_key).await, 404).await;
        // Dead letters and replays are the operators'.
        assert_problem(app.get_with_key(&format!("/api/v1/ingestion/dead-events?tenant={}", a.id), &a.api_key).await, 403).await;
        // An admin naming something that cannot be a tenant is told so.
        let problem = assert_problem(app.get("/api/v1/ingestion/channel-taxonomy?tenant=*", Some(&admin.access)).await, 422).await;
        assert_eq!(error_fields(&problem), vec!["tenant"]);
        assert_problem(app.get_with_key(&format!("/api/v1/ingestion/channel-taxonomy?tenant={}", b.id), &a.api_key).await, 404).await;
        // A tenant key cannot configure sources, even its own.
        let response = app.client.put(app.url(&format!("/api/v1/tenants/{}/sources/shopify", a.id)))
            .header("X-API-Key", &a.api_key).json(&json!({"secret": "mine"})).send().await.expect("sent");
        assert_problem(response, 403).await;
        // The admin sees both, or one by filter.
        let all: Value = app.get("/api/v1/ingestion/events?limit=100", Some(&admin.access)).await.json().await.expect("json");
        assert_eq!(all["items"].as_array().map(Vec::len), Some(2));
        let filtered: Value = app.get(&format!("/api/v1/ingestion/events?tenant={}", b.id), Some(&admin.access)).await.json().await.expect("json");
        assert_eq!(filtered["items"][0]["tenant_id"], b.id.as_str());
        // A customer sees nothing.
        let customer = app.user("buyer").await;
        assert_problem(app.get("/api/v1/ingestion/events", Some(&customer.access)).await, 403).await;
    }

    async fn the_store_guard_refuses_a_row_with_an_email_written_directly(app) {
        use contracts::Money;
        use contracts::ingestion::{Channel, ChannelFields, EventKind};
        use ingestion::domain::Topic;
        use ingestion::domain::event::{AttributionEvent, Origin};
        use ingestion::domain::normalize::Normalized;

        let db = platform::service::Service::db(app.ingestion());
        let event = |campaign: &str| AttributionEvent {
            id: platform::ids::new_id(),
            tenant_id: "t-guard".into(),
            origin: Origin::Webhook(Topic::ShopifyOrderCreated),
            normalized: Normalized {
                provider_event_id: platform::ids::new_id(),
                kind: EventKind::Order,
                external_id: "1".into(),
                order_ref: Some("1".into()),
                amount: Money { amount: 100, currency: "USD".into() },
                line_items: Vec::new(),
                occurred_at_ms: 0,
                channel_fields: ChannelFields { utm_campaign: Some(campaign.into()), ..ChannelFields::default() },
                customer_ref: None,
            },
            channel: Channel::Direct,
            received_at: 0,
        };
        let mut tx = db.begin().await.expect("tx");
        let refused = ingestion::store::insert_event(&mut tx, &event("spring jane.doe@example.com")).await;
        assert!(matches!(refused, Err(ingestion::store::StoreError::PersonalData(ref found)) if found.column == "utm_campaign"), "{refused:?}");
        tx.rollback().await.expect("rollback");
        let mut tx = db.begin().await.expect("tx");
        for pii in ["call +1 415 555 0134", "from 203.0.113.77", "card 4111 1111 1111 1111"] {
            let refused = ingestion::store::insert_event(&mut tx, &event(pii)).await;
            assert!(matches!(refused, Err(ingestion::store::StoreError::PersonalData(_))), "{pii} refused: {refused:?}");
        }
        assert!(ingestion::store::insert_event(&mut tx, &event("spring-sale")).await.expect("clean row"));
        tx.commit().await.expect("commit");
        let stored: i64 = platform::db::query_scalar("SELECT COUNT(*) FROM attribution_events").fetch_one(db.reader()).await.expect("count");
        assert_eq!(stored, 1, "only the clean row was written");
    }

    async fn the_built_in_tenant_takes_no_sources_and_no_webhooks(app) {
        use ingestion::domain::source::{Credentials, Source};

        let admin = app.admin().await;
        let bodies = [
            ("shopify", json!({"secret": SHOPIFY_SECRET})),
            ("stripe", json!({"secret": STRIPE_SECRET})),
            ("woocommerce", json!({})),
            ("paypal", json!({"webhook_id": PAYPAL_WEBHOOK_ID})),
        ];
        for (provider, body) in bodies {
            let path = format!("/api/v1/tenants/viscount/sources/{provider}");
            let problem = assert_problem(app.put(&path, &admin.access, &body).await, 422).await;
            assert_eq!(error_fields(&problem), vec!["tenant"], "{provider}: {problem}");
            assert!(problem.to_string().contains("own orders"), "the reason is explained: {problem}");
        }

        // A source row for it (written before the rule, or by hand) still lets nothing in.
        let db = platform::service::Service::db(app.ingestion());
        let source = Source {
            tenant_id: "viscount".into(),
            provider: contracts::ingestion::Provider::Shopify,
            credentials: Credentials::hmac(SHOPIFY_SECRET.into()).expect("a secret"),
        };
        let mut tx = db.begin().await.expect("tx");
        let key = ingestion::domain::payload::CustomerRefKey::from_bytes([7; 32]);
        ingestion::store::ensure_tenant(&mut tx, "viscount", &key, app.clock.now_millis())
            .await
            .expect("tenant row");
        ingestion::store::put_source(&mut tx, &source, app.clock.now_millis()).await.expect("source row");
        tx.commit().await.expect("commit");
        let signed = providers::shopify("orders/create", &google_ad_order(10_001), "wh-own-1", SHOPIFY_SECRET);
        let problem = assert_problem(app.deliver("viscount", &signed).await, 401).await;
        assert!(problem["detail"].as_str().is_some_and(|d| d.contains("no source is configured")), "like an unconfigured source: {problem}");
        let mut broken = google_ad_order(10_002);
        broken["total_price"] = json!("not money");
        assert_problem(app.deliver("viscount", &providers::shopify("orders/create", &broken, "wh-own-2", SHOPIFY_SECRET)).await, 401).await;

        // Nothing was stored, not even a dead event; its events and taxonomy still read.
        let events = app.get("/api/v1/ingestion/events?tenant=viscount&limit=100", Some(&admin.access)).await;
        assert_eq!(events.status(), 200);
        let events: Value = events.json().await.expect("json");
        assert_eq!(events["items"], json!([]), "{events}");
        let dead: Value = app.get("/api/v1/ingestion/dead-events?tenant=viscount", Some(&admin.access)).await.json().await.expect("json");
        assert_eq!(dead["items"], json!([]), "{dead}");
        let taxonomy = app.get("/api/v1/ingestion/channel-taxonomy?tenant=viscount", Some(&admin.access)).await;
        assert_eq!(taxonomy.status(), 200);
        let taxonomy: Value = taxonomy.json().await.expect("json");
        assert!(taxonomy["rules"].as_array().is_some_and(|r| !r.is_empty()), "{taxonomy}");

        // Any other tenant configured the same way takes the same delivery.
        let shop = app.tenant_with_sources(&admin, "Shop").await;
        let (status, body) = deliver(&app, &shop, &signed).await;
        assert_eq!((status, body["status"].as_str()), (200, Some("stored")), "{body}");
    }

    async fn absurd_amounts_are_dead_with_a_reason_and_never_stored(app) {
        let admin = app.admin().await;
        let tenant = app.tenant_with_sources(&admin, "Absurd").await;
        let now = app.clock.now_secs();
        let mut many = google_ad_order(11_003);
        many["line_items"][0]["quantity"] = json!(1_000_000_001);
        let cases = [
            // 10^15 cents and one more.
            (providers::shopify("orders/create", &providers::shopify_order(11_001, "10000000000000.01", "USD", "/", ""), "wh-big-1", SHOPIFY_SECRET), "`total_price`"),
            // 9.2 × 10^18 cents: an i64, but no charge.
            (providers::stripe("charge/succeeded", &providers::stripe_charge("evt_big_1", "charge.succeeded", "ch_big_1", 9_200_000_000_000_000_000, 0, "usd", "11001"), now, STRIPE_SECRET), "`data.object.amount`"),
            // 10^30 dollars.
            (providers::paypal("payment/sale/completed", &providers::paypal_sale("WH-BIG-1", "PAYMENT.SALE.COMPLETED", "SALE-BIG-1", &format!("1{}.00", "0".repeat(30)), "USD", "11001"), "tx-big-1", PAYPAL_WEBHOOK_ID), "`resource.amount.total`"),
            (providers::woocommerce("order/created", &providers::woo_order(11_002, "processing", "20000000000000.00", "USD", "google", "cpc"), "woo-big-1", WOO_SECRET), "`total`"),
            (providers::shopify("orders/create", &many, "wh-big-2", SHOPIFY_SECRET), "`line_items[0].quantity`"),
        ];
        for (delivery, field) in &cases {
            let (status, body) = deliver(&app, &tenant, delivery).await;
            assert_eq!((status, body["status"].as_str()), (202, Some("dead")), "{}: {body}", delivery.path);
            let reason = body["reason"].as_str().unwrap_or_default();
            assert!(reason.starts_with(field) && reason.contains("above the largest"), "{field}: {reason}");
        }
        assert!(events_of(&app, &tenant).await.is_empty(), "nothing absurd was stored");
        let dead: Value = app.get(&format!("/api/v1/ingestion/dead-events?tenant={}", tenant.id), Some(&admin.access)).await.json().await.expect("json");
        assert_eq!(dead["items"].as_array().map(Vec::len), Some(cases.len()), "{dead}");

        // At the bound an order is taken, to the cent.
        let largest = providers::shopify("orders/create", &providers::shopify_order(11_004, "10000000000000.00", "USD", "/", ""), "wh-big-3", SHOPIFY_SECRET);
        let (status, body) = deliver(&app, &tenant, &largest).await;
        assert_eq!((status, body["status"].as_str()), (200, Some("stored")), "{body}");
        let stored = events_of(&app, &tenant).await;
        assert_eq!(stored[0]["amount"], json!({"amount": 1_000_000_000_000_000_i64, "currency": "USD"}));
    }
}

/// Every text of every table of ingestion's database, one string per row.
async fn every_row(app: &TestApp) -> Vec<String> {
    let db = platform::service::Service::db(app.ingestion());
    let postgres = db.dialect() == platform::db::Dialect::Postgres;
    let tables: Vec<String> = if postgres {
        platform::db::query_scalar("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            .fetch_all(db.reader())
            .await
            .expect("tables")
    } else {
        platform::db::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table'")
            .fetch_all(db.reader())
            .await
            .expect("tables")
    };
    assert!(
        tables.iter().any(|t| t == "attribution_events"),
        "{tables:?}"
    );
    let mut rows = Vec::new();
    for table in tables {
        let texts: Vec<String> = if postgres {
            platform::db::query_scalar(&format!("SELECT CAST(t AS TEXT) FROM \"{table}\" t"))
                .fetch_all(db.reader())
                .await
                .expect("rows")
        } else {
            let columns: Vec<String> =
                platform::db::query_scalar("SELECT name FROM pragma_table_info($1)")
                    .bind(table.as_str())
                    .fetch_all(db.reader())
                    .await
                    .expect("columns");
            let joined = columns
                .iter()
                .map(|c| format!("COALESCE(CAST(\"{c}\" AS TEXT), '')"))
                .collect::<Vec<_>>()
                .join(" || '|' || ");
            platform::db::query_scalar(&format!("SELECT {joined} FROM \"{table}\""))
                .fetch_all(db.reader())
                .await
                .expect("rows")
        };
        rows.extend(texts.into_iter().map(|row| format!("{table}: {row}")));
    }
    rows
}

/// A log sink the test reads back.
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut bytes) = self.0.lock() {
            bytes.extend_from_slice(buf);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Ingests payloads full of personal data from every provider, dead ones included,
/// with every log line at debug level captured, then looks for that data in every
/// row of every table and in the log.
async fn personal_data_is_neither_stored_nor_logged(app: TestApp, logs: Captured) {
    let admin = app.admin().await;
    let tenant = app.tenant_with_sources(&admin, "Private").await;
    let now = app.clock.now_secs();
    let mut unusable = providers::woo_order(9003, "processing", "59.00", "XYZ", "google", "cpc");
    unusable["billing"]["email"] = json!("jane.doe@example.com");
    let deliveries = [
        providers::shopify(
            "orders/create",
            &google_ad_order(9001),
            "wh-pii-1",
            SHOPIFY_SECRET,
        ),
        providers::stripe(
            "charge/succeeded",
            &providers::stripe_charge(
                "evt_pii_1",
                "charge.succeeded",
                "ch_pii_1",
                5900,
                0,
                "usd",
                "9001",
            ),
            now,
            STRIPE_SECRET,
        ),
        providers::paypal(
            "payment/sale/completed",
            &providers::paypal_sale(
                "WH-PII-1",
                "PAYMENT.SALE.COMPLETED",
                "SALE-PII-1",
                "59.00",
                "USD",
                "9001",
            ),
            "tx-pii-1",
            PAYPAL_WEBHOOK_ID,
        ),
        providers::woocommerce(
            "order/created",
            &providers::woo_order(9002, "processing", "59.00", "USD", "google", "cpc"),
            "woo-pii-1",
            WOO_SECRET,
        ),
        providers::woocommerce("order/created", &unusable, "woo-pii-2", WOO_SECRET),
        providers::shopify_raw(
            "orders/create",
            b"{\"email\": \"jane.doe@example.com\", \"phone\": \"+1 415-555-0134\"",
            "wh-pii-2",
            SHOPIFY_SECRET,
        ),
        // Refused deliveries must not log their bodies either.
        providers::shopify(
            "orders/create",
            &google_ad_order(9004),
            "wh-pii-3",
            "wrong-secret",
        ),
    ];
    for delivery in &deliveries {
        let status = app.deliver(&tenant.id, delivery).await.status().as_u16();
        assert!([200, 202, 401].contains(&status), "{status}");
    }
    let touchpoints = json!({"items": [{"customer_ref": "jane.doe@example.com", "occurred_at": "2026-11-30T09:00:00Z", "landing_url": "https://shop.example.com/?utm_source=google&phone=415-555-0199"}]});
    assert_eq!(
        app.post_with_key(
            "/api/v1/ingestion/touchpoints",
            &tenant.api_key,
            &touchpoints
        )
        .await
        .status(),
        202
    );
    let events = eventually(Duration::from_secs(10), "events stored", || async {
        let events = events_of(&app, &tenant).await;
        (events.len() == 4).then_some(events)
    })
    .await;
    assert_eq!(events.len(), 4);

    let rows = every_row(&app).await;
    assert!(
        rows.iter().any(|r| r.starts_with("dead_events")),
        "dead events are among the rows"
    );
    for row in &rows {
        for pii in PII {
            assert!(!row.contains(pii), "a row holds {pii}: {row}");
        }
    }
    let logged = String::from_utf8_lossy(&logs.0.lock().expect("logs")).into_owned();
    assert!(
        logged.contains("ingestion"),
        "the log was captured: {} bytes",
        logged.len()
    );
    for pii in PII {
        assert!(!logged.contains(pii), "the log holds {pii}");
    }
}

fn capture_logs() -> Captured {
    let logs = Captured::default();
    let sink = logs.clone();
    // Each test runs in its own process (nextest), so this subscriber is the one the
    // platform logs to; `init_logging` in the harness then finds one set and leaves it.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(
            "debug,sqlx=debug,hyper=info,h2=info,async_nats=info",
        ))
        .with_writer(move || sink.clone())
        .with_ansi(false)
        .try_init();
    logs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn personal_data_is_neither_stored_nor_logged_embedded() {
    let logs = capture_logs();
    let app = viscount_tests::spawn_app(viscount_tests::Shape::Embedded)
        .await
        .expect("embedded");
    personal_data_is_neither_stored_nor_logged(app, logs).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn personal_data_is_neither_stored_nor_logged_distributed() {
    let logs = capture_logs();
    let Some(app) = viscount_tests::spawn_app(viscount_tests::Shape::Distributed).await else {
        return;
    };
    personal_data_is_neither_stored_nor_logged(app, logs).await;
}

/// With certificate fetching on, a PayPal source may leave its certificate out; a
/// delivery naming a certificate address that is not PayPal's is refused without any
/// request being made to it.
async fn paypal_certificates_are_fetched_only_from_paypal(shape: viscount_tests::Shape) {
    let config = platform::config::ConfigSource::from_parts(
        "[ingestion]\npaypal_fetch_certificates = true",
        [],
    )
    .expect("config");
    let Some(app) = viscount_tests::spawn_app_with(shape, config).await else {
        return;
    };
    let admin = app.admin().await;
    let tenant = app.tenant_with_sources(&admin, "Fetching").await;
    let path = format!("/api/v1/tenants/{}/sources/paypal", tenant.id);
    assert_eq!(
        app.put(
            &path,
            &admin.access,
            &json!({"webhook_id": PAYPAL_WEBHOOK_ID})
        )
        .await
        .status(),
        204
    );
    let sale = providers::paypal_sale(
        "WH-FETCH-1",
        "PAYMENT.SALE.COMPLETED",
        "SALE-F-1",
        "5.00",
        "USD",
        "1",
    );
    let delivery = providers::paypal(
        "payment/sale/completed",
        &sale,
        "tx-fetch-1",
        PAYPAL_WEBHOOK_ID,
    );
    for url in [
        "https://evil.example.com/v1/notifications/certs/CERT-1",
        "http://api.paypal.com/v1/notifications/certs/CERT-1",
        "https://api.paypal.com.evil.example/certs/CERT-1",
    ] {
        let problem = assert_problem(
            app.deliver(
                &tenant.id,
                &delivery.clone().with_header("PAYPAL-CERT-URL", Some(url)),
            )
            .await,
            401,
        )
        .await;
        assert!(
            problem["detail"]
                .as_str()
                .is_some_and(|d| d.contains("PAYPAL-CERT-URL")),
            "{problem}"
        );
    }
    assert_problem(
        app.deliver(
            &tenant.id,
            &delivery.clone().with_header("PAYPAL-CERT-URL", None),
        )
        .await,
        401,
    )
    .await;
    assert!(events_of(&app, &tenant).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paypal_certificates_are_fetched_only_from_paypal_embedded() {
    paypal_certificates_are_fetched_only_from_paypal(viscount_tests::Shape::Embedded).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paypal_certificates_are_fetched_only_from_paypal_distributed() {
    paypal_certificates_are_fetched_only_from_paypal(viscount_tests::Shape::Distributed).await;
}
