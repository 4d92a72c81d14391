//! Viscount's own orders as attribution events, through the gateway, in both shapes: an
//! order keeps the attribution its checkout gave, ingestion records the confirmed order,
//! its captured payment and its refunds as events of the built-in tenant `viscount`
//! (classified by the tenant's taxonomy, the owner hashed as touchpoints are), a bad
//! attribution is a 422 naming the field, and identity lists the built-in tenant.

use serde_json::{Value, json};
use viscount_tests::shop::*;
use viscount_tests::{TestApp, TestUser, assert_problem, both_shapes, error_fields, eventually};

/// An order body for `quantity` of `sku` with `attribution`.
fn attributed_order(sku: &str, quantity: i64, attribution: Value) -> Value {
    let mut body = items_order(sku, quantity, APPROVE);
    body["attribution"] = attribution;
    body
}

/// The built-in tenant's events, as an admin reads them.
async fn viscount_events(app: &TestApp, admin: &TestUser) -> Vec<Value> {
    let response = app
        .get(
            "/api/v1/ingestion/events?tenant=viscount&limit=100",
            Some(&admin.access),
        )
        .await;
    assert_eq!(response.status(), 200, "events");
    json_of(response).await["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// Waits for the built-in tenant's event of `kind` about `order_id`.
async fn event_of(app: &TestApp, admin: &TestUser, kind: &str, order_id: &str) -> Value {
    eventually(
        SETTLE,
        &format!("the {kind} event of {order_id}"),
        || async {
            viscount_events(app, admin)
                .await
                .into_iter()
                .find(|e| e["kind"] == kind && e["order_ref"] == order_id)
        },
    )
    .await
}

/// The `customer_ref` ingestion stored for the built-in tenant's touchpoints (there is
/// no API that lists touchpoints: they go to analytics on the bus).
async fn stored_touchpoint_refs(app: &TestApp) -> Vec<String> {
    use platform::service::Service;
    let ingestion = app
        .platform
        .as_ref()
        .and_then(|p| p.services.get::<ingestion::Ingestion>())
        .expect("ingestion runs");
    platform::db::query_scalar("SELECT customer_ref FROM touchpoints WHERE tenant_id = 'viscount'")
        .fetch_all(ingestion.db().reader())
        .await
        .expect("touchpoints")
}

both_shapes! {
    async fn an_attributed_order_and_its_payment_become_the_viscount_tenants_events(app) {
        let admin = app.admin().await;
        stocked(&app, &admin, "OWN-1", 1250, 10).await;
        let buyer = app.user("own").await;
        let attribution = json!({"utm_source": "newsletter", "utm_medium": "email"});
        let response = order(&app, &buyer, &attributed_order("OWN-1", 2, attribution.clone())).await;
        assert_eq!(response.status(), 201, "settled in time");
        let placed = json_of(response).await;
        assert_eq!(placed["status"], "confirmed", "{placed}");
        assert_eq!(placed["attribution"], attribution, "kept as given, absent fields left out");
        let id = placed["id"].as_str().expect("id");
        let read = json_of(app.get(&format!("/api/v1/orders/{id}"), Some(&buyer.access)).await).await;
        assert_eq!(read["attribution"], attribution);

        let ordered = event_of(&app, &admin, "order", id).await;
        assert_eq!(ordered["tenant_id"], "viscount");
        assert_eq!(ordered["provider"], "viscount");
        assert_eq!(ordered["topic"], "ordering.order.confirmed.v1");
        assert_eq!(ordered["external_id"], id);
        assert_eq!(ordered["channel"], "email", "{ordered}");
        assert_eq!(ordered["amount"], json!({"amount": 2500, "currency": "USD"}));
        assert_eq!(ordered["line_items"], json!([{"sku": "OWN-1", "quantity": 2, "unit_price": 1250}]));
        assert_eq!(ordered["channel_fields"], attribution);
        let customer_ref = ordered["customer_ref"].as_str().expect("the owner's keyed hash");
        assert!(customer_ref.len() == 64 && customer_ref.bytes().all(|b| b.is_ascii_hexdigit()), "{customer_ref}");
        let listed = serde_json::to_string(&viscount_events(&app, &admin).await).expect("json");
        assert!(!listed.contains(&buyer.id) && !listed.contains(&buyer.email), "never the user's id or email");

        let payment_id = placed["payment_id"].as_str().expect("payment id");
        let paid = event_of(&app, &admin, "payment", id).await;
        assert_eq!(paid["external_id"], payment_id);
        assert_eq!(paid["amount"], json!({"amount": 2500, "currency": "USD"}));
        assert_eq!(paid["topic"], "payments.payment.captured.v1");

        // A refund of part of it reduces the tenant's revenue as a refund event.
        let refunded = app.post(&format!("/api/v1/orders/{id}/refund"), Some(&admin.access),
            &json!({"amount": {"amount": 1000, "currency": "USD"}})).await;
        assert_eq!(refunded.status(), 200);
        let refund = event_of(&app, &admin, "refund", id).await;
        assert_eq!(refund["amount"], json!({"amount": 1000, "currency": "USD"}));
        assert_eq!(refund["topic"], "payments.refund.processed.v1");

        // A visit the storefront records with the user's id meets the order.
        let an_hour_ago = platform::time::rfc3339(app.clock.now_millis() - 3_600_000);
        let visit = app.post("/api/v1/ingestion/touchpoints?tenant=viscount", Some(&admin.access),
            &json!({"items": [{"customer_ref": buyer.id, "occurred_at": an_hour_ago,
                               "utm_source": "google", "utm_medium": "cpc"}]})).await;
        assert_eq!(visit.status(), 202);
        assert_eq!(stored_touchpoint_refs(&app).await, [customer_ref.to_owned()]);

        // Each event once: no copy for redeliveries or the order's other events.
        let events = viscount_events(&app, &admin).await;
        let mut mine: Vec<&str> = events.iter().filter(|e| e["order_ref"] == id).filter_map(|e| e["kind"].as_str()).collect();
        // The streams of ordering and payments are not ordered with each other.
        mine.sort_unstable();
        assert_eq!(mine, ["order", "payment", "refund"]);
    }

    async fn an_order_without_attribution_is_direct_and_shows_none(app) {
        let admin = app.admin().await;
        stocked(&app, &admin, "OWN-2", 700, 5).await;
        let buyer = app.user("plain").await;
        let plain = items_order("OWN-2", 1, APPROVE);
        let placed = json_of(order_with_key(&app, &buyer, &plain, "own-key-1").await).await;
        assert_eq!(placed["status"], "confirmed", "{placed}");
        assert!(placed.get("attribution").is_none(), "{placed}");
        let id = placed["id"].as_str().expect("id");
        // The attribution is part of the request an Idempotency-Key stands for.
        let attributed = attributed_order("OWN-2", 1, json!({"utm_source": "newsletter"}));
        assert_problem(order_with_key(&app, &buyer, &attributed, "own-key-1").await, 422).await;
        let ordered = event_of(&app, &admin, "order", id).await;
        assert_eq!(ordered["channel"], "direct");
        assert_eq!(ordered["amount"], json!({"amount": 700, "currency": "USD"}));
    }

    async fn a_bad_attribution_is_named_and_nothing_is_ordered(app) {
        let admin = app.admin().await;
        stocked(&app, &admin, "OWN-3", 500, 5).await;
        let buyer = app.user("badattr").await;
        let cases = [
            (json!({"referrer": "not a url"}), "attribution.referrer"),
            (json!({"referrer": "ftp://files.example/x"}), "attribution.referrer"),
            (json!({"utm_source": "google", "gclid": "x"}), "attribution.gclid"),
            (json!({"utm_campaign": "c".repeat(501)}), "attribution.utm_campaign"),
            (json!({"utm_medium": "  "}), "attribution.utm_medium"),
        ];
        for (attribution, field) in cases {
            let response = order(&app, &buyer, &attributed_order("OWN-3", 1, attribution.clone())).await;
            let problem = assert_problem(response, 422).await;
            assert_eq!(error_fields(&problem), [field], "{attribution}");
        }
        let mine = json_of(app.get("/api/v1/orders", Some(&buyer.access)).await).await;
        assert_eq!(mine["items"], json!([]), "no order was written");
    }

    async fn the_built_in_tenant_is_listed_and_read_by_admins_only(app) {
        let admin = app.admin().await;
        let listed = json_of(app.get("/api/v1/tenants", Some(&admin.access)).await).await;
        let items = listed["items"].as_array().expect("items");
        assert!(items.iter().any(|t| t["id"] == "viscount" && t["name"] == "Viscount"), "{listed}");
        let read = app.get("/api/v1/tenants/viscount", Some(&admin.access)).await;
        assert_eq!(read.status(), 200);
        let read = json_of(read).await;
        assert_eq!((read["id"].as_str(), read["name"].as_str()), (Some("viscount"), Some("Viscount")));
        assert!(read["created_at"].as_str().is_some_and(|t| t.ends_with('Z')), "{read}");
        assert!(read.get("api_key").is_none());
        let customer = app.user("nosy").await;
        assert_problem(app.get("/api/v1/tenants/viscount", Some(&customer.access)).await, 404).await;
        // Its events are an admin's to read, like any tenant's.
        assert_problem(app.get("/api/v1/ingestion/events?tenant=viscount", Some(&customer.access)).await, 403).await;
        // It takes no webhooks: it has no source, and `viscount` names no provider.
        let own = app.client.post(app.url("/webhooks/viscount/ordering.order.confirmed.v1?tenant=viscount"))
            .body("{}").send().await.expect("sent");
        assert_problem(own, 404).await;
        let shopify = app.client.post(app.url("/webhooks/shopify/orders/create?tenant=viscount"))
            .body("{}").send().await.expect("sent");
        assert_problem(shopify, 401).await;
        let source = app.put("/api/v1/tenants/viscount/sources/viscount", &admin.access, &json!({"secret": "s"})).await;
        assert_problem(source, 404).await;
    }
}
