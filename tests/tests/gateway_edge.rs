//! The gateway's edge (API.md "Gateway"), in both shapes: rate-limit tiers counted in
//! memory (embedded) or Redis (distributed, when `VISCOUNT_TEST_REDIS_URL` is set),
//! failing open when Redis is unreachable, changed live; and the response cache of
//! anonymous catalog reads with ETag revalidation, dropped when catalog announces a
//! change.
//!
//! Limits are per fixed window aligned to the epoch; the tests use a day-long window so
//! it does not roll while they run, and a generous Redis timeout so a slow machine
//! never makes a count fail open (except where failing open is the point).

use futures_util::StreamExt;
use gateway::GatewayConfig;
use platform::config::ConfigSource;
use platform::live::Versioned;
use platform::service::ServiceKind;
use platform::shutdown::Shutdown;
use serde_json::{Value, json};
use std::time::Duration;
use viscount_tests::in_both_shapes;
use viscount_tests::{Shape, TestApp, assert_problem, eventually, redis_env, spawn_app_with};

in_both_shapes!(
    the_101st_anonymous_request_in_a_window_is_429_with_retry_after,
    concurrent_requests_over_the_limit_let_exactly_the_limit_through,
    a_premium_caller_is_not_limited_at_1001_requests,
    a_signed_in_user_has_the_user_tier_and_a_bad_credential_is_anonymous,
    an_unreachable_redis_lets_requests_through_and_counts_the_failure,
    a_live_change_of_the_limits_applies_without_a_restart,
    a_second_anonymous_read_is_a_cache_hit_that_never_reaches_catalog,
    a_changed_product_leaves_the_cache,
    webhook_deliveries_have_their_own_budget_per_sending_address,
);

/// Limits with a day-long window; the tiers at API.md's values unless `extra` (more
/// `[gateway.rate_limits]` lines) sets them.
fn limits(extra: &str) -> ConfigSource {
    let text = format!(
        "[gateway]\nredis_timeout_ms = 2000\n[gateway.rate_limits]\nwindow_secs = 86400\n{extra}"
    );
    ConfigSource::from_parts(&text, std::iter::empty::<(String, String)>()).expect("config")
}

/// The cache on, with a TTL longer than any test waits (only a drop can refresh it).
fn cached() -> ConfigSource {
    ConfigSource::from_parts(
        "[gateway.cache]\nttl_secs = 600\n",
        std::iter::empty::<(String, String)>(),
    )
    .expect("config")
}

fn header(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

fn number(response: &reqwest::Response, name: &str) -> u64 {
    header(response, name)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{name} missing or not a number"))
}

/// The sum of the samples of `metric` whose line contains `filter`, at `base`.
async fn metric(app: &TestApp, base: &str, metric: &str, filter: &str) -> f64 {
    let text = app
        .client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text");
    text.lines()
        .filter(|line| line.starts_with(metric) && line.contains(filter))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Requests catalog itself has served so far.
async fn catalog_requests(app: &TestApp) -> f64 {
    metric(
        app,
        &app.base,
        "viscount_http_requests_total{",
        "service=\"catalog\"",
    )
    .await
}

/// Another gateway over the same services, on its own port; stopped on drop.
struct Gateway {
    base: String,
    shutdown: Shutdown,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

async fn another_gateway(app: &TestApp, edge: gateway::Edge) -> Gateway {
    let running = app.platform.as_ref().expect("platform runs");
    let config: GatewayConfig = edge.config.section("gateway").expect("gateway config");
    let router = gateway::router(
        viscount::in_process_backends(&running.services),
        &config,
        edge,
    )
    .expect("gateway builds");
    let listener = platform::http::server::bind("127.0.0.1:0")
        .await
        .expect("gateway binds");
    let addr = listener.local_addr().expect("address");
    let shutdown = Shutdown::new();
    tokio::spawn(platform::http::serve(listener, router, shutdown.clone()));
    Gateway {
        base: format!("http://{addr}"),
        shutdown,
    }
}

/// Publishes `values` as the gateway's next live configuration document.
fn publish(app: &TestApp, values: Value) {
    let live = app.live();
    let version = live.current(ServiceKind::Gateway).version + 1;
    let values = values.as_object().cloned().expect("an object");
    assert!(live.publish(ServiceKind::Gateway, Versioned { version, values }));
}

async fn the_101st_anonymous_request_in_a_window_is_429_with_retry_after(shape: Shape) {
    let Some(app) = spawn_app_with(shape, limits("")).await else {
        return;
    };
    for sent in 1..=100u64 {
        let response = app.get("/api/v1/categories", None).await;
        assert_eq!(response.status(), 200, "request {sent}");
        assert_eq!(number(&response, "ratelimit-limit"), 100);
        assert_eq!(number(&response, "ratelimit-remaining"), 100 - sent);
        let reset = number(&response, "ratelimit-reset");
        assert!((1..=86_400).contains(&reset), "reset {reset}");
    }
    let refused = app.get("/api/v1/categories", None).await;
    assert_eq!(number(&refused, "ratelimit-limit"), 100);
    assert_eq!(number(&refused, "ratelimit-remaining"), 0);
    let retry_after = number(&refused, "retry-after");
    assert!(
        (1..=86_400).contains(&retry_after),
        "retry after {retry_after}"
    );
    assert_eq!(retry_after, number(&refused, "ratelimit-reset"));
    let problem = assert_problem(refused, 429).await;
    assert!(
        problem["type"]
            .as_str()
            .is_some_and(|t| t.ends_with("rate-limited"))
    );
    // The client is the gateway's TCP peer, whatever it claims to forward for.
    let disguised = app
        .client
        .get(app.url("/api/v1/categories"))
        .header("x-forwarded-for", "198.51.100.7")
        .send()
        .await
        .expect("sent");
    assert_eq!(disguised.status(), 429);
    // Any path counts (an unknown one too); health and metrics are never limited.
    assert_problem(app.get("/api/v1/nothing-here", None).await, 429).await;
    let health = app.get("/health/live", None).await;
    assert_eq!(health.status(), 200);
    assert!(header(&health, "ratelimit-limit").is_none());
    assert_eq!(app.get("/metrics", None).await.status(), 200);
}

async fn webhook_deliveries_have_their_own_budget_per_sending_address(shape: Shape) {
    let Some(app) = spawn_app_with(
        shape,
        limits("webhooks_per_minute = 3\nanonymous_per_minute = 5"),
    )
    .await
    else {
        return;
    };
    let deliver = || async {
        app.client
            .post(app.url("/webhooks/shopify/orders/create?tenant=nobody"))
            .header("content-type", "application/json")
            .body("{}")
            .send()
            .await
            .expect("sent")
    };
    for sent in 1..=3u64 {
        let answer = deliver().await;
        assert_ne!(answer.status(), 429, "delivery {sent}");
        assert_eq!(number(&answer, "ratelimit-limit"), 3);
        assert_eq!(number(&answer, "ratelimit-remaining"), 3 - sent);
    }
    assert_problem(deliver().await, 429).await;
    // Browsing from the same address has its own budget still.
    let browsing = app.get("/api/v1/categories", None).await;
    assert_eq!(browsing.status(), 200);
    assert_eq!(number(&browsing, "ratelimit-limit"), 5);
    assert_eq!(number(&browsing, "ratelimit-remaining"), 4);
}

async fn concurrent_requests_over_the_limit_let_exactly_the_limit_through(shape: Shape) {
    let Some(app) = spawn_app_with(shape, limits("anonymous_per_minute = 20")).await else {
        return;
    };
    let statuses: Vec<u16> = futures_util::future::join_all(
        (0..60).map(|_| app.client.get(app.url("/api/v1/categories")).send()),
    )
    .await
    .into_iter()
    .map(|response| response.expect("sent").status().as_u16())
    .collect();
    let passed = statuses.iter().filter(|s| **s == 200).count();
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!((passed, refused), (20, 40), "{statuses:?}");
}

async fn a_premium_caller_is_not_limited_at_1001_requests(shape: Shape) {
    let Some(app) = spawn_app_with(shape, limits("")).await else {
        return;
    };
    let admin = app.admin().await;
    let key = |scopes: Value| {
        let app = &app;
        let admin = &admin;
        async move {
            let response = app
                .post(
                    "/api/v1/api-keys",
                    Some(&admin.access),
                    &json!({"name": "edge", "scopes": scopes}),
                )
                .await;
            assert_eq!(response.status(), 201);
            let created: Value = response.json().await.expect("json");
            created["key"].as_str().expect("key").to_owned()
        }
    };
    let premium = key(json!(["premium"])).await;
    let ordinary = key(json!(["catalog:read"])).await;

    let with_key = |key: &str| {
        app.client
            .get(app.url("/api/v1/categories"))
            .header("x-api-key", key)
            .send()
    };
    let answer = with_key(&ordinary).await.expect("sent");
    assert_eq!(answer.status(), 200);
    assert_eq!(
        number(&answer, "ratelimit-limit"),
        1_000,
        "an API key is in the user tier"
    );

    let statuses: Vec<(u16, u64)> = futures_util::stream::iter(0..1_001)
        .map(|_| async {
            let response = with_key(&premium).await.expect("sent");
            (
                response.status().as_u16(),
                number(&response, "ratelimit-limit"),
            )
        })
        .buffer_unordered(8)
        .collect()
        .await;
    assert!(
        statuses
            .iter()
            .all(|(status, limit)| *status == 200 && *limit == 10_000),
        "{:?}",
        statuses.iter().find(|(s, _)| *s != 200)
    );
    let last = with_key(&premium).await.expect("sent");
    assert_eq!(number(&last, "ratelimit-remaining"), 10_000 - 1_002);
}

async fn a_signed_in_user_has_the_user_tier_and_a_bad_credential_is_anonymous(shape: Shape) {
    let Some(app) = spawn_app_with(
        shape,
        limits("user_per_minute = 5\nanonymous_per_minute = 50"),
    )
    .await
    else {
        return;
    };
    let ann = app.user("ann").await;
    for sent in 1..=5u64 {
        let response = app.get("/api/v1/users/me", Some(&ann.access)).await;
        assert_eq!(response.status(), 200, "request {sent}");
        assert_eq!(number(&response, "ratelimit-limit"), 5);
        assert_eq!(number(&response, "ratelimit-remaining"), 5 - sent);
    }
    let refused = app.get("/api/v1/users/me", Some(&ann.access)).await;
    assert!(header(&refused, "retry-after").is_some());
    assert_problem(refused, 429).await;

    // Another user and the anonymous callers of the same address have budgets of their own.
    let bob = app.user("bob").await;
    let response = app.get("/api/v1/users/me", Some(&bob.access)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(number(&response, "ratelimit-remaining"), 4);
    let anonymous = app.get("/api/v1/categories", None).await;
    assert_eq!(anonymous.status(), 200);
    assert_eq!(number(&anonymous, "ratelimit-limit"), 50);

    // A credential that does not verify spends the anonymous budget; the service says 401.
    let forged = app.get("/api/v1/users/me", Some("not-a-token")).await;
    assert_eq!(number(&forged, "ratelimit-limit"), 50);
    assert_problem(forged, 401).await;
}

async fn an_unreachable_redis_lets_requests_through_and_counts_the_failure(shape: Shape) {
    let config = limits("anonymous_per_minute = 2\n[gateway.cache]\nenabled = true");
    let Some(app) = spawn_app_with(shape, config).await else {
        return;
    };
    // A port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("free port")
        .port();
    let mut edge = app.platform.as_ref().expect("platform").gateway_edge();
    edge.redis_url = Some(format!("redis://127.0.0.1:{closed}"));
    edge.redis_prefix = "viscount:unreachable:".into();
    let edge_gateway = another_gateway(&app, edge).await;
    let errors = "viscount_gateway_ratelimit_backend_errors_total";
    let cache_errors = "viscount_gateway_cache_backend_errors_total";
    let before = metric(&app, &app.base, errors, "").await;
    let cache_before = metric(&app, &app.base, cache_errors, "").await;
    for sent in 1..=5 {
        let response = app
            .client
            .get(format!("{}/api/v1/categories", edge_gateway.base))
            .send()
            .await
            .expect("sent");
        assert_eq!(
            response.status(),
            200,
            "request {sent} passes although over the limit"
        );
        assert_eq!(number(&response, "ratelimit-limit"), 2);
        // The cache cannot be read either: catalog answers every time.
        assert_eq!(header(&response, "x-cache").as_deref(), Some("miss"));
    }
    let after = metric(&app, &edge_gateway.base, errors, "").await;
    assert!(after >= before + 5.0, "backend errors {before} -> {after}");
    let cache_after = metric(&app, &edge_gateway.base, cache_errors, "").await;
    assert!(
        cache_after >= cache_before + 5.0,
        "cache backend errors {cache_before} -> {cache_after}"
    );
}

async fn a_live_change_of_the_limits_applies_without_a_restart(shape: Shape) {
    let Some(app) = spawn_app_with(shape, limits("")).await else {
        return;
    };
    for _ in 0..3 {
        let response = app.get("/api/v1/categories", None).await;
        assert_eq!(response.status(), 200);
        assert_eq!(number(&response, "ratelimit-limit"), 100);
    }
    publish(&app, json!({"rate_limits": {"anonymous_per_minute": 3}}));
    let refused = app.get("/api/v1/categories", None).await;
    assert_eq!(number(&refused, "ratelimit-limit"), 3);
    assert_problem(refused, 429).await;

    publish(&app, json!({"rate_limits": {"enabled": false}}));
    let open = app.get("/api/v1/categories", None).await;
    assert_eq!(open.status(), 200);
    assert!(header(&open, "ratelimit-limit").is_none());
}

/// Creates a product as the admin; its id.
async fn product(app: &TestApp, token: &str, sku: &str, name: &str) -> String {
    let body = json!({"sku": sku, "name": name, "description": "", "price": {"amount": 1200, "currency": "USD"}});
    let response = app.post("/api/v1/products", Some(token), &body).await;
    assert_eq!(response.status(), 201);
    let created: Value = response.json().await.expect("json");
    created["id"].as_str().expect("id").to_owned()
}

async fn a_second_anonymous_read_is_a_cache_hit_that_never_reaches_catalog(shape: Shape) {
    let Some(app) = spawn_app_with(shape, cached()).await else {
        return;
    };
    let admin = app.admin().await;
    let id = product(&app, &admin.access, "LAMP-1", "Desk lamp").await;
    let path = format!("/api/v1/products/{id}");

    let first = app.get(&path, None).await;
    assert_eq!(first.status(), 200);
    assert_eq!(header(&first, "x-cache").as_deref(), Some("miss"));
    let etag = header(&first, "etag").expect("etag");
    assert!(etag.starts_with('"'), "a strong etag: {etag}");
    let body: Value = first.json().await.expect("json");
    assert_eq!(body["name"], "Desk lamp");

    let before = catalog_requests(&app).await;
    let second = app.get(&path, None).await;
    assert_eq!(second.status(), 200);
    assert_eq!(header(&second, "x-cache").as_deref(), Some("hit"));
    assert_eq!(header(&second, "etag").as_deref(), Some(etag.as_str()));
    assert!(header(&second, "content-type").is_some_and(|t| t.starts_with("application/json")));
    assert_eq!(second.json::<Value>().await.expect("json"), body);
    let revalidated = app
        .client
        .get(app.url(&path))
        .header("if-none-match", &etag)
        .send()
        .await
        .expect("sent");
    assert_eq!(revalidated.status(), 304);
    assert_eq!(header(&revalidated, "x-cache").as_deref(), Some("hit"));
    assert_eq!(header(&revalidated, "etag").as_deref(), Some(etag.as_str()));
    assert_eq!(
        catalog_requests(&app).await,
        before,
        "hits never reach catalog"
    );

    // A miss whose fresh answer matches the client's ETag is a 304 too.
    let other_key = app
        .client
        .get(app.url(&format!("{path}?view=again")))
        .header("if-none-match", &etag)
        .send()
        .await
        .expect("sent");
    assert_eq!(other_key.status(), 304);
    assert_eq!(header(&other_key, "x-cache").as_deref(), Some("miss"));
    assert_eq!(catalog_requests(&app).await, before + 1.0);

    // A signed-in read is never served from the cache.
    let signed_in = app.get(&path, Some(&admin.access)).await;
    assert_eq!(signed_in.status(), 200);
    assert_ne!(header(&signed_in, "x-cache").as_deref(), Some("hit"));
    assert_eq!(catalog_requests(&app).await, before + 2.0);

    // Lists and categories too; a category written through the gateway drops them.
    assert_eq!(
        header(&app.get("/api/v1/categories", None).await, "x-cache").as_deref(),
        Some("miss")
    );
    assert_eq!(
        header(&app.get("/api/v1/categories", None).await, "x-cache").as_deref(),
        Some("hit")
    );
    let created = app
        .post(
            "/api/v1/categories",
            Some(&admin.access),
            &json!({"name": "Lighting"}),
        )
        .await;
    assert_eq!(created.status(), 201);
    let listed = app.get("/api/v1/categories", None).await;
    assert_eq!(header(&listed, "x-cache").as_deref(), Some("miss"));
    let listed: Value = listed.json().await.expect("json");
    assert!(
        listed["items"]
            .as_array()
            .is_some_and(|items| items.iter().any(|c| c["name"] == "Lighting")),
        "{listed}"
    );
}

/// A product's name as an anonymous reader sees it, and the `X-Cache` of the answer.
async fn name(app: &TestApp, path: &str) -> (String, Option<String>) {
    let response = app.get(path, None).await;
    let cache = header(&response, "x-cache");
    let body: Value = response.json().await.expect("json");
    (body["name"].as_str().unwrap_or_default().to_owned(), cache)
}

async fn a_changed_product_leaves_the_cache(shape: Shape) {
    let Some(app) = spawn_app_with(shape, cached()).await else {
        return;
    };
    let admin = app.admin().await;
    let id = product(&app, &admin.access, "CHAIR-1", "Oak chair").await;
    let path = format!("/api/v1/products/{id}");
    assert_eq!(
        name(&app, &path).await,
        ("Oak chair".into(), Some("miss".into()))
    );
    assert_eq!(
        name(&app, &path).await,
        ("Oak chair".into(), Some("hit".into()))
    );

    // An admin's change through the gateway.
    let changed = json!({"name": "Walnut chair", "description": "", "price": {"amount": 1200, "currency": "USD"}});
    assert_eq!(app.put(&path, &admin.access, &changed).await.status(), 200);
    eventually(
        Duration::from_secs(20),
        "the new name through the cache",
        || async { (name(&app, &path).await.0 == "Walnut chair").then_some(()) },
    )
    .await;
    assert_eq!(name(&app, &path).await.1.as_deref(), Some("hit"));

    // A change that never passed through the gateway: only catalog's announcement
    // (its event, tailed by the gateway) can drop the entry before the TTL.
    let catalog = app
        .platform
        .as_ref()
        .and_then(|p| p.services.get::<catalog::Catalog>())
        .expect("catalog");
    let input = catalog::domain::ProductInput {
        name: catalog::domain::ProductName::try_from("Cherry chair".to_owned()).expect("name"),
        description: catalog::domain::Description::try_from(String::new()).expect("description"),
        price: contracts::Money {
            amount: 1200,
            currency: "USD".into(),
        },
        category_id: None,
        attributes: catalog::domain::Attributes::empty(),
        variant_of: None,
    };
    catalog.app().update(&id, input).await.expect("update");
    eventually(
        Duration::from_secs(20),
        "the announced change to drop the entry",
        || async { (name(&app, &path).await.0 == "Cherry chair").then_some(()) },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_gateways_on_one_redis_prefix_share_one_budget() {
    if redis_env().is_none() {
        assert!(
            std::env::var("VISCOUNT_TEST_REQUIRE_DISTRIBUTED").map_or(true, |v| v != "1"),
            "the distributed shape is required but VISCOUNT_TEST_REDIS_URL is not set"
        );
        eprintln!("SKIPPED: shared Redis budget (VISCOUNT_TEST_REDIS_URL not set)");
        return;
    }
    let Some(app) = spawn_app_with(Shape::Distributed, limits("anonymous_per_minute = 10")).await
    else {
        return;
    };
    let edge = app.platform.as_ref().expect("platform").gateway_edge();
    assert!(
        edge.redis_url.is_some(),
        "the distributed gateway counts in Redis"
    );
    let second = another_gateway(&app, edge).await;
    let get = |base: &str| app.client.get(format!("{base}/api/v1/categories")).send();
    for sent in 1..=10u64 {
        let base = if sent % 2 == 0 {
            &second.base
        } else {
            &app.base
        };
        let response = get(base).await.expect("sent");
        assert_eq!(response.status(), 200, "request {sent}");
        assert_eq!(
            number(&response, "ratelimit-remaining"),
            10 - sent,
            "one budget across both"
        );
    }
    assert_problem(get(&app.base).await.expect("sent"), 429).await;
    assert_problem(get(&second.base).await.expect("sent"), 429).await;
}
