//! Analytics through the gateway, in both shapes: webhooks in, revenue out. Ledger rows
//! from ingested orders, refunds and payments; attribution under every model against
//! hand-worked journeys; re-attribution by a late touchpoint; reconciliation with each
//! category; export (CSV parsed back equals the JSON rows); the ledger's and the
//! splits' guards; bad input and tenant isolation.

use std::time::Duration;

use serde_json::{Value, json};
use viscount_tests::providers::{self, SHOPIFY_SECRET, STRIPE_SECRET, Tenant};
use viscount_tests::shop::{self, APPROVE};
use viscount_tests::{TestApp, assert_problem, both_shapes, error_fields, eventually};

/// 2026-12-01T16:00:00Z, a day the test orders are placed on (Shopify's fixture orders
/// are placed at 15:00Z that day).
const CHARGE_TIME: i64 = 1_796_140_800;
/// The period around the fixtures.
const PERIOD: &str = "from=2026-11-30T00:00:00Z&to=2026-12-03T00:00:00Z";

/// A Shopify order of `total` USD from a Google ad.
fn google_ad_order(id: u64, total: &str) -> Value {
    providers::shopify_order(
        id,
        total,
        "USD",
        "/products/shirt?utm_source=google&utm_medium=cpc&utm_campaign=spring",
        "https://www.google.com/search?q=shirt",
    )
}

/// A Stripe charge of `amount` cents for order `order_id`, made on the test day.
fn charge(event: &str, charge_id: &str, amount: i64, order_id: &str) -> Value {
    let mut body = providers::stripe_charge(
        event,
        "charge.succeeded",
        charge_id,
        amount,
        0,
        "usd",
        order_id,
    );
    body["created"] = json!(CHARGE_TIME);
    body["data"]["object"]["created"] = json!(CHARGE_TIME);
    body
}

async fn deliver_ok(app: &TestApp, tenant: &Tenant, delivery: &providers::Delivery) {
    let response = app.deliver(&tenant.id, delivery).await;
    assert_eq!(response.status(), 200, "delivery accepted");
}

async fn touch(
    app: &TestApp,
    tenant: &Tenant,
    occurred_at: &str,
    utm_source: &str,
    utm_medium: &str,
) {
    let body = json!({"items": [{"customer_ref": "jane.doe@example.com", "occurred_at": occurred_at,
        "utm_source": utm_source, "utm_medium": utm_medium}]});
    let response = app
        .post_with_key("/api/v1/ingestion/touchpoints", &tenant.api_key, &body)
        .await;
    assert_eq!(response.status(), 202, "touchpoint accepted");
}

/// Realtime revenue as the tenant's key sees it.
async fn realtime(app: &TestApp, tenant: &Tenant, model: &str) -> Value {
    let path = format!("/api/v1/attribution/revenue/realtime?model={model}&{PERIOD}");
    let response = app.get_with_key(&path, &tenant.api_key).await;
    assert_eq!(response.status(), 200, "realtime");
    response.json().await.expect("json")
}

/// `channel → revenue` of a realtime answer.
fn by_channel(answer: &Value) -> Vec<(String, i64)> {
    let mut pairs: Vec<(String, i64)> = answer["by_channel"]
        .as_array()
        .expect("by_channel")
        .iter()
        .map(|c| {
            (
                c["channel"].as_str().expect("channel").to_owned(),
                c["revenue"]["amount"].as_i64().expect("amount"),
            )
        })
        .collect();
    pairs.sort();
    pairs
}

/// Waits until the tenant's realtime total under `model` is `total`.
async fn revenue_reaches(app: &TestApp, tenant: &Tenant, model: &str, total: i64) -> Value {
    eventually(
        Duration::from_secs(20),
        "revenue to reach its total",
        || async {
            let answer = realtime(app, tenant, model).await;
            (answer["total"]["amount"].as_i64() == Some(total)).then_some(answer)
        },
    )
    .await
}

fn pairs(list: &[(&str, i64)]) -> Vec<(String, i64)> {
    let mut owned: Vec<(String, i64)> = list.iter().map(|(c, a)| ((*c).to_owned(), *a)).collect();
    owned.sort();
    owned
}

both_shapes! {
    async fn webhook_revenue_is_attributed_under_every_model_and_refunds_follow(app) {
        let admin = app.admin().await;
        let tenant = app.tenant_with_sources(&admin, "Attributed").await;
        // Jane's journey: an email on the 25th, a Facebook ad on the 28th, then she
        // orders from a Google ad on 1 December at 15:00Z.
        touch(&app, &tenant, "2026-11-25T15:00:00Z", "newsletter", "email").await;
        touch(&app, &tenant, "2026-11-28T15:00:00Z", "facebook", "paid_social").await;
        // Touches outside the 30-day lookback never count.
        touch(&app, &tenant, "2026-10-01T15:00:00Z", "bing", "cpc").await;
        deliver_ok(&app, &tenant, &providers::shopify("orders/create", &google_ad_order(91_001, "100.00"), "wh-an-1", SHOPIFY_SECRET)).await;

        let last = revenue_reaches(&app, &tenant, "last_touch", 10_000).await;
        assert_eq!(last["conversions"], 1);
        assert_eq!(last["total"]["currency"], "USD");
        assert_eq!(by_channel(&last), pairs(&[("paid_search", 10_000)]));
        let first = realtime(&app, &tenant, "first_touch").await;
        assert_eq!(by_channel(&first), pairs(&[("email", 10_000)]));
        // 100.00 over three touches: 33.33 each and the odd cent to the earliest
        // channel in channel order (paid_search), deterministically.
        let linear = realtime(&app, &tenant, "linear").await;
        assert_eq!(by_channel(&linear), pairs(&[("paid_search", 3_334), ("paid_social", 3_333), ("email", 3_333)]));
        // 40/20/40 over first, middle, last.
        let position = realtime(&app, &tenant, "position_based").await;
        assert_eq!(by_channel(&position), pairs(&[("email", 4_000), ("paid_social", 2_000), ("paid_search", 4_000)]));
        // Time decay, 7-day half-life: ages 6, 3 and 0 days weigh 2^-6/7, 2^-3/7, 1
        // = 0.5520, 0.7430, 1 → 24.05 %, 32.37 %, 43.57 % of 10,000 cents.
        let decay = realtime(&app, &tenant, "time_decay").await;
        assert_eq!(by_channel(&decay), pairs(&[("email", 2_405), ("paid_social", 3_238), ("paid_search", 4_357)]));
        for answer in [&last, &first, &linear, &position, &decay] {
            let sum: i64 = by_channel(answer).iter().map(|(_, a)| a).sum();
            assert_eq!(sum, 10_000, "allocations sum exactly to the revenue");
        }

        // A refund of 40.00 is allocated like the conversion it reverses.
        deliver_ok(&app, &tenant, &providers::shopify("refunds/create", &providers::shopify_refund(5001, 91_001, "40.00", "USD"), "wh-an-2", SHOPIFY_SECRET)).await;
        let refunded = revenue_reaches(&app, &tenant, "linear", 6_000).await;
        assert_eq!(refunded["refunds"]["amount"], 4_000);
        assert_eq!(by_channel(&refunded), pairs(&[("paid_search", 2_000), ("paid_social", 2_000), ("email", 2_000)]));
        // A payment is matched, never revenue a second time.
        deliver_ok(&app, &tenant, &providers::stripe("charge/succeeded", &charge("evt_an_1", "ch_an_1", 10_000, "91001"), app.clock.now_secs(), STRIPE_SECRET)).await;
        let db = platform::service::Service::db(app.analytics());
        eventually(Duration::from_secs(20), "the payment in the ledger", || async {
            let n: i64 = platform::db::query_scalar("SELECT COUNT(*) FROM ledger WHERE kind = 'payment'")
                .fetch_one(db.reader()).await.expect("count");
            (n == 1).then_some(())
        }).await;
        assert_eq!(realtime(&app, &tenant, "linear").await["total"]["amount"], 6_000);

        // Channel performance per day.
        let channels = app.get_with_key(&format!("/api/v1/attribution/channels?{PERIOD}"), &tenant.api_key).await;
        assert_eq!(channels.status(), 200);
        let channels: Value = channels.json().await.expect("json");
        let search = channels["items"].as_array().expect("items").iter()
            .find(|d| d["channel"] == "paid_search" && d["day"] == "2026-12-01").cloned().expect("paid_search day");
        assert_eq!(search["revenue"]["amount"], 10_000);
        assert_eq!(search["conversions"], 1);
        assert_eq!(search["average_order_value"]["amount"], 10_000);
    }

    async fn a_late_touchpoint_reattributes_its_conversion(app) {
        let admin = app.admin().await;
        let tenant = app.tenant_with_sources(&admin, "Late").await;
        deliver_ok(&app, &tenant, &providers::shopify("orders/create", &google_ad_order(92_001, "50.00"), "wh-late-1", SHOPIFY_SECRET)).await;
        let before = revenue_reaches(&app, &tenant, "first_touch", 5_000).await;
        assert_eq!(by_channel(&before), pairs(&[("paid_search", 5_000)]));

        // The visit happened two days before the order but arrives after it.
        touch(&app, &tenant, "2026-11-29T15:00:00Z", "newsletter", "email").await;
        eventually(Duration::from_secs(20), "re-attribution", || async {
            let after = realtime(&app, &tenant, "first_touch").await;
            (by_channel(&after) == pairs(&[("email", 5_000)])).then_some(())
        }).await;
        let linear = realtime(&app, &tenant, "linear").await;
        assert_eq!(by_channel(&linear), pairs(&[("paid_search", 2_500), ("email", 2_500)]));
        assert_eq!(linear["conversions"], 1, "re-attribution is not another conversion");
        let last = realtime(&app, &tenant, "last_touch").await;
        assert_eq!(by_channel(&last), pairs(&[("paid_search", 5_000)]));
    }

    async fn reconciliation_finds_each_category_and_export_round_trips(app) {
        let admin = app.admin().await;
        let tenant = app.tenant_with_sources(&admin, "Reconciled").await;
        let now = app.clock.now_secs();
        for (id, total) in [(93_001, "10.00"), (93_002, "20.00"), (93_003, "30.00")] {
            deliver_ok(&app, &tenant, &providers::shopify("orders/create", &google_ad_order(id, total), &format!("wh-rec-{id}"), SHOPIFY_SECRET)).await;
        }
        // 93001 paid exactly, 93002 paid 19.99, 93003 unpaid, and a charge for an
        // order nobody sent.
        for (event, charge_id, amount, order) in [("evt_r1", "ch_r1", 1_000, "93001"), ("evt_r2", "ch_r2", 1_999, "93002"), ("evt_r9", "ch_r9", 900, "93999")] {
            deliver_ok(&app, &tenant, &providers::stripe("charge/succeeded", &charge(event, charge_id, amount, order), now, STRIPE_SECRET)).await;
        }
        let db = platform::service::Service::db(app.analytics());
        eventually(Duration::from_secs(20), "six ledger rows", || async {
            let n: i64 = platform::db::query_scalar("SELECT COUNT(*) FROM ledger WHERE tenant_id = $1")
                .bind(&tenant.id).fetch_one(db.reader()).await.expect("count");
            (n == 6).then_some(())
        }).await;

        let body = json!({"tenant": tenant.id, "from": "2026-11-30T00:00:00Z", "to": "2026-12-03T00:00:00Z"});
        let customer = app.user("buyer").await;
        assert_problem(app.post("/api/v1/reconciliation/runs", Some(&customer.access), &body).await, 403).await;
        let started = app.post("/api/v1/reconciliation/runs", Some(&admin.access), &body).await;
        assert_eq!(started.status(), 201);
        let started: Value = started.json().await.expect("json");
        let id = started["id"].as_str().expect("id").to_owned();
        let run: Value = eventually(Duration::from_secs(20), "the run to complete", || async {
            let run: Value = app.get(&format!("/api/v1/reconciliation/runs/{id}"), Some(&admin.access)).await.json().await.expect("json");
            (run["status"] == "completed").then_some(run)
        }).await;
        assert_eq!((run["matched"].as_i64(), run["amount_mismatch"].as_i64(), run["missing_payment"].as_i64(), run["missing_order"].as_i64()),
            (Some(1), Some(1), Some(1), Some(1)));
        let found: Value = app.get(&format!("/api/v1/reconciliation/runs/{id}/discrepancies"), Some(&admin.access)).await.json().await.expect("json");
        let mut categories: Vec<(String, String)> = found["items"].as_array().expect("items").iter()
            .map(|d| (d["category"].as_str().expect("category").to_owned(), d["reference"].as_str().expect("reference").to_owned()))
            .collect();
        categories.sort();
        assert_eq!(categories, vec![
            ("amount_mismatch".to_owned(), "93002".to_owned()),
            ("missing_order".to_owned(), "93999".to_owned()),
            ("missing_payment".to_owned(), "93003".to_owned()),
        ]);
        let status: Value = app.get(&format!("/api/v1/reconciliation/status?tenant={}", tenant.id), Some(&admin.access)).await.json().await.expect("json");
        assert_eq!(status["items"][0]["id"], id.as_str());

        // The tenant's runs, newest first, a page at a time.
        let again = app.post("/api/v1/reconciliation/runs", Some(&admin.access), &body).await;
        assert_eq!(again.status(), 201);
        let again: Value = again.json().await.expect("json");
        let runs = |query: String| {
            let (app, admin) = (&app, &admin);
            async move {
                let page = app.get(&format!("/api/v1/reconciliation/runs?{query}"), Some(&admin.access)).await;
                assert_eq!(page.status(), 200);
                page.json::<Value>().await.expect("json")
            }
        };
        let newest = runs(format!("tenant={}&limit=1", tenant.id)).await;
        assert_eq!(newest["items"][0]["id"], again["id"], "newest first: {newest}");
        let cursor = newest["next_cursor"].as_str().expect("a second page").to_owned();
        let older = runs(format!("tenant={}&limit=1&cursor={cursor}", tenant.id)).await;
        assert_eq!(older["items"][0]["id"], id.as_str(), "{older}");
        assert!(older["next_cursor"].is_null(), "two runs in all: {older}");
        assert_eq!(runs("tenant=nobody".into()).await["items"], json!([]));
        assert_problem(app.get("/api/v1/reconciliation/runs", Some(&customer.access)).await, 403).await;
        assert_problem(app.get("/api/v1/reconciliation/runs?cursor=%%%", Some(&admin.access)).await, 422).await;

        // Export: every JSON page, then the CSV parsed back, row for row.
        let mut rows = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut path = format!("/api/v1/export/revenue?format=json&limit=2&{PERIOD}");
            if let Some(cursor) = &cursor { path.push_str(&format!("&cursor={cursor}")); }
            let page: Value = app.get_with_key(&path, &tenant.api_key).await.json().await.expect("json");
            rows.extend(page["items"].as_array().expect("items").iter().cloned());
            match page["next_cursor"].as_str() { Some(next) => cursor = Some(next.to_owned()), None => break }
        }
        assert_eq!(rows.len(), 6);
        let csv = app.get_with_key(&format!("/api/v1/export/revenue?format=csv&{PERIOD}"), &tenant.api_key).await;
        assert_eq!(csv.status(), 200);
        assert!(csv.headers()["content-type"].to_str().expect("type").starts_with("text/csv"));
        let text = csv.text().await.expect("text");
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let header: Vec<String> = reader.headers().expect("header").iter().map(str::to_owned).collect();
        assert_eq!(&header[..3], &["id", "kind", "provider"]);
        let records: Vec<csv::StringRecord> = reader.records().collect::<Result<_, _>>().expect("RFC 4180");
        assert_eq!(records.len(), rows.len());
        let column = |name: &str| header.iter().position(|h| h == name).expect("column");
        for (record, row) in records.iter().zip(&rows) {
            assert_eq!(&record[column("id")], row["id"].as_str().expect("id"));
            assert_eq!(&record[column("kind")], row["kind"].as_str().expect("kind"));
            assert_eq!(record[column("amount")].parse::<i64>().ok(), row["amount"]["amount"].as_i64());
            assert_eq!(&record[column("currency")], row["amount"]["currency"].as_str().expect("currency"));
            let linear: Vec<String> = row["allocations"]["linear"].as_array().map(|a| a.iter()
                .map(|x| format!("{}:{}", x["channel"].as_str().expect("channel"), x["amount"])).collect()).unwrap_or_default();
            assert_eq!(&record[column("linear")], linear.join(";"));
        }
        let problem = assert_problem(app.get_with_key("/api/v1/export/revenue?format=xml", &tenant.api_key).await, 422).await;
        assert_eq!(error_fields(&problem), vec!["format"]);
    }

    async fn the_ledger_is_append_only_and_splits_must_add_up(app) {
        let admin = app.admin().await;
        let tenant = app.tenant_with_sources(&admin, "Guarded").await;
        deliver_ok(&app, &tenant, &providers::shopify("orders/create", &google_ad_order(94_001, "12.00"), "wh-guard-1", SHOPIFY_SECRET)).await;
        revenue_reaches(&app, &tenant, "last_touch", 1_200).await;
        let db = platform::service::Service::db(app.analytics());
        for statement in ["UPDATE ledger SET amount = 1", "DELETE FROM ledger"] {
            let mut tx = db.begin().await.expect("tx");
            let refused = platform::db::query(statement).execute(&mut *tx).await;
            assert!(refused.is_err(), "{statement} is refused");
        }
        let (entry, _) = analytics::store::ledger::page(db.reader(), &tenant.id,
            analytics::domain::period::Period { from: 0, to: i64::MAX }, None, 10).await.expect("rows").remove(0);
        let short = analytics::domain::ledger::Split::whole(contracts::ingestion::Channel::Email, entry.amount - 1);
        let mut tx = db.begin().await.expect("tx");
        let refused = analytics::store::ledger::put_split(&mut tx, &entry, entry.conversion_id.as_deref(), &short, 0).await;
        assert!(matches!(refused, Err(analytics::store::StoreError::BadSplit(_))), "the sum guard refuses it");
    }

    async fn bad_questions_get_clear_problems_and_tenants_see_only_their_own(app) {
        let admin = app.admin().await;
        let a = app.tenant_with_sources(&admin, "Tenant A").await;
        let b = app.tenant_with_sources(&admin, "Tenant B").await;
        let base = "/api/v1/attribution/revenue/realtime";
        let cases = [
            (format!("{base}?model=u_shaped"), "model"),
            (format!("{base}?from=2026-12-03T00:00:00Z&to=2026-12-01T00:00:00Z"), "from"),
            (format!("{base}?from=2024-01-01&to=2026-01-01"), "to"),
            (format!("{base}?from=yesterday"), "from"),
        ];
        for (path, field) in cases {
            let problem = assert_problem(app.get_with_key(&path, &a.api_key).await, 422).await;
            assert_eq!(error_fields(&problem), vec![field], "{path}");
        }
        // Another tenant's figures are not found, for a key; an unknown tenant too.
        assert_problem(app.get_with_key(&format!("{base}?tenant={}", b.id), &a.api_key).await, 404).await;
        let unknown = uuid::Uuid::now_v7();
        assert_problem(app.get(&format!("{base}?tenant={unknown}"), Some(&admin.access)).await, 404).await;
        assert_eq!(app.get(&format!("{base}?tenant={}", b.id), Some(&admin.access)).await.status(), 200);
        // Viscount's own revenue is the admin's default.
        let own: Value = app.get(base, Some(&admin.access)).await.json().await.expect("json");
        assert_eq!(own["tenant"], "viscount");
        let customer = app.user("buyer").await;
        assert_problem(app.get(base, Some(&customer.access)).await, 403).await;
        assert_problem(app.get(base, None).await, 401).await;
    }

    async fn viscount_own_orders_are_revenue_of_the_viscount_tenant_and_reconcile(app) {
        let admin = app.admin().await;
        shop::stocked(&app, &admin, "ANL-1", 2_500, 10).await;
        let buyer = app.user("buyer").await;
        let mut body = shop::items_order("ANL-1", 1, APPROVE);
        body["attribution"] = json!({"utm_source": "newsletter", "utm_medium": "email", "utm_campaign": "december"});
        let placed = shop::json_of(shop::order(&app, &buyer, &body).await).await;
        assert_eq!(placed["status"], "confirmed", "{placed}");

        // The admin's default tenant is Viscount's own.
        let answer: Value = eventually(Duration::from_secs(20), "own revenue", || async {
            let answer: Value = app.get("/api/v1/attribution/revenue/realtime?model=last_touch", Some(&admin.access)).await.json().await.expect("json");
            (answer["total"]["amount"] == 2_500).then_some(answer)
        }).await;
        assert_eq!(answer["tenant"], "viscount");
        assert_eq!(by_channel(&answer), pairs(&[("email", 2_500)]));

        let db = platform::service::Service::db(app.analytics());
        eventually(Duration::from_secs(20), "the captured payment in the ledger", || async {
            let n: i64 = platform::db::query_scalar("SELECT COUNT(*) FROM ledger WHERE tenant_id = 'viscount' AND kind = 'payment'")
                .fetch_one(db.reader()).await.expect("count");
            (n == 1).then_some(())
        }).await;
        let now = app.clock.now_millis();
        let run = app.post("/api/v1/reconciliation/runs", Some(&admin.access), &json!({
            "tenant": "viscount",
            "from": platform::time::rfc3339(now - 3_600_000),
            "to": platform::time::rfc3339(now + 3_600_000),
        })).await;
        assert_eq!(run.status(), 201);
        let run: Value = run.json().await.expect("json");
        assert_eq!((run["status"].as_str(), run["matched"].as_i64(), run["missing_payment"].as_i64(), run["missing_order"].as_i64()),
            (Some("completed"), Some(1), Some(0), Some(0)), "{run}");
    }

    async fn the_daily_reconciliation_runs_once_per_tenant_and_day(app) {
        let analytics = app.analytics().app().clone();
        // Past the configured hour of the day (02:00 UTC by default).
        let into_day = app.clock.now_millis().rem_euclid(86_400_000);
        if into_day < 3 * 3_600_000 {
            app.clock.advance(Duration::from_millis((3 * 3_600_000 - into_day) as u64));
        }
        let first = analytics.run_daily_reconciliations().await.expect("daily runs");
        assert!(first >= 1, "at least Viscount's own day is reconciled");
        assert_eq!(analytics.run_daily_reconciliations().await.expect("daily runs"), 0, "once a day");
        let admin = app.admin().await;
        let status: Value = app.get("/api/v1/reconciliation/status?tenant=viscount", Some(&admin.access)).await.json().await.expect("json");
        assert_eq!(status["items"][0]["trigger"], "daily");
        assert_eq!(status["items"][0]["status"], "completed");
    }

    async fn the_marketing_mix_model_answers_from_spend_and_revenue(app) {
        let admin = app.admin().await;
        let tenant = app.tenant_with_sources(&admin, "Mixed").await;
        // Forty days: email spend every day, paid search on alternate days; each
        // day's revenue is a base plus what each channel's spend brings back.
        let day0 = 20_400; // 2025-11-08, days since the epoch
        let mut items = Vec::new();
        for d in 0..40u64 {
            let day = platform::time::rfc3339((day0 + d as i64) * 86_400_000)[..10].to_owned();
            let email = 5_000 + (d % 7) as i64 * 1_000;
            let search = if d % 2 == 0 { 20_000 } else { 0 };
            items.push(json!({"day": day, "channel": "email", "amount": {"amount": email, "currency": "USD"}}));
            items.push(json!({"day": day, "channel": "paid_search", "amount": {"amount": search, "currency": "USD"}}));
            let revenue = 50_000 + 3 * email + 2 * search + (d as i64 * 37 % 11) * 100;
            let mut order = google_ad_order(95_000 + d, &format!("{}.{:02}", revenue / 100, revenue % 100));
            order["created_at"] = json!(format!("{day}T12:00:00Z"));
            order["processed_at"] = json!(format!("{day}T12:00:00Z"));
            deliver_ok(&app, &tenant, &providers::shopify("orders/create", &order, &format!("wh-mmm-{d}"), SHOPIFY_SECRET)).await;
        }
        let accepted = app.post_with_key("/api/v1/attribution/spend", &tenant.api_key, &json!({"items": items})).await;
        assert_eq!(accepted.status(), 200);
        let db = platform::service::Service::db(app.analytics());
        eventually(Duration::from_secs(30), "forty orders in the ledger", || async {
            let n: i64 = platform::db::query_scalar("SELECT COUNT(*) FROM ledger WHERE tenant_id = $1")
                .bind(&tenant.id).fetch_one(db.reader()).await.expect("count");
            (n == 40).then_some(())
        }).await;
        let answer = app.post_with_key("/api/v1/attribution/mmm", &tenant.api_key, &json!({})).await;
        let status = answer.status();
        let answer: Value = answer.json().await.expect("json");
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["fit"]["days"], 40);
        assert!(answer["fit"]["r2"].as_f64().expect("r2") > 0.5, "{answer}");
        let channels = answer["channels"].as_array().expect("channels");
        assert_eq!(channels.len(), 2);
        for channel in channels {
            let roi = channel["roi"].as_f64().expect("roi");
            let [lo, hi] = [channel["roi_interval_90"][0].as_f64().expect("lo"), channel["roi_interval_90"][1].as_f64().expect("hi")];
            assert!(lo <= roi && roi <= hi && lo >= 0.0, "{channel}");
            assert!(channel["contribution"]["amount"].as_i64().expect("contribution") >= 0);
        }

        let bad = app.post_with_key("/api/v1/attribution/spend", &tenant.api_key,
            &json!({"items": [{"day": "2025-13-01", "channel": "tv", "amount": {"amount": 1, "currency": "USD"}}]})).await;
        let problem = assert_problem(bad, 422).await;
        assert_eq!(error_fields(&problem), vec!["items[0].day"]);
        let other = app.tenant_with_sources(&admin, "Unmixed").await;
        let problem = assert_problem(app.post_with_key("/api/v1/attribution/mmm", &other.api_key, &json!({})).await, 422).await;
        assert_eq!(error_fields(&problem), vec!["items"]);
    }

    async fn a_refund_that_arrives_before_its_order_is_split_like_it(app) {
        let admin = app.admin().await;
        let tenant = app.tenant_with_sources(&admin, "Early refund").await;
        touch(&app, &tenant, "2026-11-29T15:00:00Z", "newsletter", "email").await;
        deliver_ok(&app, &tenant, &providers::shopify("refunds/create", &providers::shopify_refund(6001, 96_001, "40.00", "USD"), "wh-early-1", SHOPIFY_SECRET)).await;
        deliver_ok(&app, &tenant, &providers::shopify("orders/create", &google_ad_order(96_001, "100.00"), "wh-early-2", SHOPIFY_SECRET)).await;
        let linear = revenue_reaches(&app, &tenant, "linear", 6_000).await;
        // The refund moved from its own channel to the order's journey: email and
        // paid search share the order and its refund alike.
        assert_eq!(by_channel(&linear), pairs(&[("email", 3_000), ("paid_search", 3_000)]));
        assert_eq!(linear["refunds"]["amount"], 4_000);
        let csv = app.get_with_key(&format!("/api/v1/export/revenue?format=csv&{PERIOD}"), &tenant.api_key).await.text().await.expect("csv");
        assert!(csv.contains("\r\n") && !csv.replace("\r\n", "").contains('\n'), "RFC 4180 records end with CRLF");
    }

    async fn concurrent_orders_updates_refunds_and_late_touchpoints_keep_every_sum(app) {
        use contracts::ingestion::{Channel, ChannelFields, EventKind, EventReceived, Provider, TouchpointRecorded};
        let analytics = app.analytics().app().clone();
        let tenant = uuid::Uuid::now_v7().to_string();
        let base = 1_796_140_800_000i64; // 2026-12-01T16:00Z
        let at = |offset_min: i64| platform::time::rfc3339(base + offset_min * 60_000);
        let event = |id: String, kind: EventKind, external: &str, order_ref: &str, amount: i64, customer: usize, minute: i64| EventReceived {
            id: id.clone(),
            tenant_id: tenant.clone(),
            provider: Provider::Shopify,
            provider_event_id: id,
            topic: "orders/updated".into(),
            kind,
            external_id: external.into(),
            order_ref: Some(order_ref.into()),
            amount: contracts::Money { amount, currency: "USD".into() },
            line_items: Vec::new(),
            occurred_at: at(minute),
            channel_fields: ChannelFields::default(),
            channel: Channel::ALL[customer % Channel::ALL.len()],
            customer_ref: Some(format!("c{customer}")),
            received_at: at(minute),
        };
        // Four writers at once over the same five customers and orders: each places
        // or updates every order with its own amount, refunds part of it, and sends
        // late touchpoints that re-attribute the orders.
        let mut writers = Vec::new();
        for writer in 0..4usize {
            let analytics = analytics.clone();
            let mut events = Vec::new();
            let mut touches = Vec::new();
            for customer in 0..5usize {
                let order = format!("o{customer}");
                events.push(event(format!("w{writer}-o{customer}"), EventKind::Order, &order, &order, 1_000 + 100 * writer as i64, customer, 0));
                events.push(event(format!("w{writer}-r{customer}"), EventKind::Refund, &format!("r{writer}{customer}"), &order, 7 + writer as i64, customer, 5));
                touches.push(TouchpointRecorded {
                    id: format!("w{writer}-t{customer}"),
                    tenant_id: tenant.clone(),
                    customer_ref: format!("c{customer}"),
                    occurred_at: at(-60 * (writer as i64 + 1)),
                    channel_fields: ChannelFields::default(),
                    channel: Channel::ALL[(customer + writer + 1) % Channel::ALL.len()],
                });
            }
            writers.push(tokio::spawn(async move {
                for (event, touch) in events.chunks(2).zip(&touches) {
                    retrying(|| analytics.record_events(event)).await;
                    retrying(|| analytics.record_touchpoints(std::slice::from_ref(touch))).await;
                }
            }));
        }
        for writer in writers {
            writer.await.expect("writer");
        }

        let db = platform::service::Service::db(app.analytics());
        // Each conversion's amount is the sum of its order and adjustment rows.
        let drift: i64 = platform::db::query_scalar(
            "SELECT COUNT(*) FROM conversions c WHERE c.tenant_id = $1 AND c.amount <> \
             (SELECT CAST(COALESCE(SUM(l.amount), 0) AS BIGINT) FROM ledger l WHERE l.conversion_id = c.id \
              AND l.kind IN ('order', 'adjustment'))")
            .bind(&tenant).fetch_one(db.reader()).await.expect("drift");
        assert_eq!(drift, 0, "conversion amounts follow their rows");
        // The read models hold exactly what the stored splits say, under every model.
        let rows = platform::db::query("SELECT a.split FROM allocations a JOIN ledger l ON l.id = a.ledger_id WHERE l.tenant_id = $1")
            .bind(&tenant).fetch_all(db.reader()).await.expect("splits");
        let mut from_splits = std::collections::BTreeMap::<(String, String), i64>::new();
        for row in &rows {
            let text: String = row.try_get("split").expect("split");
            let split = analytics::domain::ledger::Split::from_json(&serde_json::from_str(&text).expect("json")).expect("split");
            for (model, allocations) in split.models() {
                for a in allocations {
                    *from_splits.entry((model.as_str().to_owned(), a.channel.as_str().to_owned())).or_default() += a.amount;
                }
            }
        }
        from_splits.retain(|_, v| *v != 0);
        let buckets = platform::db::query("SELECT model, channel, CAST(SUM(revenue) AS BIGINT) AS revenue FROM revenue_buckets \
            WHERE tenant_id = $1 AND grain = 'day' GROUP BY model, channel")
            .bind(&tenant).fetch_all(db.reader()).await.expect("buckets");
        let mut from_buckets = std::collections::BTreeMap::<(String, String), i64>::new();
        for row in &buckets {
            let revenue: i64 = row.try_get("revenue").expect("revenue");
            if revenue != 0 {
                from_buckets.insert((row.try_get("model").expect("model"), row.try_get("channel").expect("channel")), revenue);
            }
        }
        assert_eq!(from_buckets, from_splits, "buckets equal the splits");
        let ledger_total: i64 = platform::db::query_scalar("SELECT CAST(SUM(amount) AS BIGINT) FROM ledger WHERE tenant_id = $1 AND kind <> 'payment'")
            .bind(&tenant).fetch_one(db.reader()).await.expect("total");
        for model in ["last_touch", "first_touch", "linear", "time_decay", "position_based"] {
            let total: i64 = from_splits.iter().filter(|((m, _), _)| m == model).map(|(_, v)| v).sum();
            assert_eq!(total, ledger_total, "{model} sums to the ledger");
        }
    }

    async fn the_marketing_mix_model_refuses_a_spend_span_of_millennia_at_once(app) {
        let admin = app.admin().await;
        let tenant = app.tenant_with_sources(&admin, "Millennia").await;
        let items = json!({"items": [
            {"day": "0001-01-01", "channel": "email", "amount": {"amount": 1_000, "currency": "USD"}},
            {"day": "9999-12-31", "channel": "paid_search", "amount": {"amount": 1_000, "currency": "USD"}},
        ]});
        let accepted = app.post_with_key("/api/v1/attribution/spend", &tenant.api_key, &items).await;
        assert_eq!(accepted.status(), 200);
        // The whole spend span is ten thousand years of days: refused by its length
        // before a day of it is laid out.
        let problem = assert_problem(app.post_with_key("/api/v1/attribution/mmm", &tenant.api_key, &json!({})).await, 422).await;
        assert_eq!(error_fields(&problem), vec!["from"]);
        // A period with spend, but none in the currency asked for, names the currency.
        let problem = assert_problem(app.post_with_key("/api/v1/attribution/mmm", &tenant.api_key,
            &json!({"from": "9999-12-01", "to": "9999-12-31T12:00:00Z", "currency": "EUR"})).await, 422).await;
        assert_eq!(error_fields(&problem), vec!["currency"]);
    }
}

/// Runs `attempt` until it succeeds: concurrent writers on PostgreSQL may be chosen as
/// a deadlock's victim or see a unique-key race, as the consumer would, and retry.
async fn retrying<F, Fut>(mut attempt: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), analytics::AnalyticsError>>,
{
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        match attempt().await {
            Ok(()) => return,
            Err(err) if std::time::Instant::now() < deadline => {
                eprintln!("retrying after: {err}");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            Err(err) => panic!("kept failing: {err}"),
        }
    }
}
