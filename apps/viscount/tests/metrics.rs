//! `/metrics` after real traffic. Checkouts through the gateway (one paid, one declined,
//! one for more than is in stock) must move the business series by exactly what they
//! did (orders by status, revenue by currency, payments and their failures,
//! reservations, low-stock alerts, notifications); every scrape must pass `promtool
//! check metrics` (Prometheus' own lint: `_total` counters, units, help text); and
//! every metric the Grafana dashboard (`deploy/grafana/viscount.json`) queries must be
//! in the scrape.
//!
//! The embedded shape runs in this process with `[gateway] metrics_listen`; the
//! distributed one as `viscount serve` processes (skipped without PostgreSQL, NATS and
//! Redis), where each service's own listener serves its metrics. In both, the gateway's
//! public listener must not serve `/metrics`.
//!
//! promtool is `VISCOUNT_TEST_PROMTOOL` or `promtool` on PATH (`scripts/test` fetches
//! it); without it the lint is skipped, unless the distributed shape is required
//! (`VISCOUNT_TEST_REQUIRE_DISTRIBUTED=1`, as in CI), where that is a failure.

mod support;

use std::collections::BTreeSet;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use platform::config::ConfigSource;
use platform::shutdown::Shutdown;
use platform::time::Clock;
use serde_json::{Value, json};
use support::Cluster;
use viscount::{PlatformOptions, RunningPlatform, Storage};

/// How long the saga and the consumers after it may take.
const SETTLE: Duration = Duration::from_secs(30);
const ADMIN_EMAIL: &str = "admin@metrics.test";
const ADMIN_PASSWORD: &str = "admin-password-1";
const BUYER_PASSWORD: &str = "buyer password 1";
const SKU: &str = "METRIC-1";
/// The product's price, in cents.
const PRICE: i64 = 1_500;
const APPROVE: &str = "4242424242424242";
const DECLINE: &str = "4000000000000002";

/// Metrics only the embedded shape has (SQLite), and only the distributed one
/// (PostgreSQL pools): a dashboard query of one of them is checked in its own shape.
const EMBEDDED_ONLY: &[&str] = &["viscount_sqlite_commit_group_size"];
const DISTRIBUTED_ONLY: &[&str] = &[
    "viscount_db_pool_connections",
    "viscount_db_pool_idle_connections",
    "viscount_db_pool_max_connections",
];

/// A series and how much the traffic of [`run_checkouts`] moves it.
type Expected = (&'static str, &'static [(&'static str, &'static str)], f64);

/// What the traffic must have counted, exactly: each is counted once per change.
const EXACTLY: &[Expected] = &[
    ("viscount_orders_total", &[("status", "pending"), USD], 3.0),
    ("viscount_orders_total", &[("status", "reserved"), USD], 2.0),
    (
        "viscount_orders_total",
        &[("status", "confirmed"), USD],
        1.0,
    ),
    (
        "viscount_orders_total",
        &[("status", "cancelled"), USD],
        2.0,
    ),
    ("viscount_orders_total", &[("status", "refunded"), USD], 1.0),
    (
        "viscount_revenue_minor_units_total",
        &[USD],
        (2 * PRICE) as f64,
    ),
    (
        "viscount_refunds_minor_units_total",
        &[USD],
        (2 * PRICE) as f64,
    ),
    ("viscount_payments_total", &[("status", "pending")], 3.0),
    ("viscount_payments_total", &[("status", "captured")], 1.0),
    ("viscount_payments_total", &[("status", "refunded")], 1.0),
    (
        "viscount_payment_failures_total",
        &[("reason", "declined")],
        1.0,
    ),
    (
        "viscount_inventory_reservations_total",
        &[("result", "reserved")],
        2.0,
    ),
    (
        "viscount_inventory_reservations_total",
        &[("result", "insufficient")],
        1.0,
    ),
    (
        "viscount_inventory_reservations_closed_total",
        &[("status", "committed")],
        1.0,
    ),
    (
        "viscount_inventory_reservations_closed_total",
        &[("status", "released")],
        1.0,
    ),
    ("viscount_inventory_low_stock_alerts_total", &[], 1.0),
    (
        "viscount_ingestion_webhooks_total",
        &[("provider", "shopify"), ("result", "rejected")],
        1.0,
    ),
];

/// What it must have counted at least: asynchronous, or not one per order.
const AT_LEAST: &[Expected] = &[
    (
        "viscount_notifications_messages_total",
        &[("channel", "email")],
        1.0,
    ),
    (
        "viscount_notifications_deliveries_total",
        &[("channel", "email"), ("outcome", "sent")],
        1.0,
    ),
    (
        "viscount_bus_delivery_latency_seconds_count",
        &[("consumer", "payments")],
        1.0,
    ),
    (
        "viscount_bus_delivery_latency_seconds_count",
        &[("consumer", "inventory")],
        1.0,
    ),
    (
        "viscount_http_requests_total",
        &[("route", "/api/v1/orders"), ("status", "201")],
        3.0,
    ),
];

const USD: (&str, &str) = ("currency", "USD");

const EMBEDDED_CONFIG: &str = r#"
[gateway]
metrics_listen = "127.0.0.1:0"

[gateway.rate_limits]
enabled = false

[gateway.cache]
enabled = false

[payments]
fraud_max_attempts_per_minute = 1000
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn checkouts_move_the_business_series_in_the_embedded_shape() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = ConfigSource::from_parts(EMBEDDED_CONFIG, std::iter::empty::<(String, String)>())
        .expect("configuration");
    let platform = RunningPlatform::start(
        PlatformOptions {
            storage: Storage::Embedded {
                data_dir: dir.path().to_path_buf(),
            },
            listen: "127.0.0.1:0".into(),
            config,
            clock: Clock::system(),
            bootstrap_admin: Some((ADMIN_EMAIL.into(), ADMIN_PASSWORD.into())),
        },
        Shutdown::new(),
    )
    .await
    .expect("platform starts");
    let shop = Shop::new(format!("http://{}", platform.addr));
    let metrics_url = format!(
        "http://{}/metrics",
        platform
            .metrics_addr
            .expect("[gateway] metrics_listen opens a listener")
    );
    assert_eq!(
        shop.get_status("/metrics").await,
        404,
        "the gateway's public listener serves no /metrics unless [gateway] public_metrics"
    );

    let scrape = || async { vec![shop.scrape(&metrics_url).await] };
    let texts = run_checkouts(&shop, ADMIN_EMAIL, ADMIN_PASSWORD, &scrape).await;
    let text = &texts[0];
    assert!(
        Samples::of(text).sum("viscount_sqlite_commit_group_size_count", &[]) > 0.0,
        "SQLite group commits are observed:\n{text}"
    );
    lint(&texts);
    dashboard_metrics_are_scraped(&texts, DISTRIBUTED_ONLY);
    platform.stop().await.expect("platform stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn checkouts_move_the_business_series_in_the_distributed_shape() {
    let Some(mut cluster) = Cluster::start(&[
        ("VISCOUNT_GATEWAY__METRICS_LISTEN", "127.0.0.1:0"),
        ("VISCOUNT_GATEWAY__RATE_LIMITS__ENABLED", "false"),
        ("VISCOUNT_GATEWAY__CACHE__ENABLED", "false"),
        ("VISCOUNT_PAYMENTS__FRAUD_MAX_ATTEMPTS_PER_MINUTE", "1000"),
    ]) else {
        return;
    };
    let services = [
        "identity",
        "catalog",
        "inventory",
        "payments",
        "ordering",
        "notifications",
        "ingestion",
    ];
    for service in services {
        cluster.spawn(service);
    }
    cluster.spawn("gateway");
    for service in services {
        cluster.wait_registered(service, 1).await;
    }
    let gateway = cluster.all("gateway")[0];
    let gateway_metrics = gateway
        .log()
        .iter()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find(|entry| entry["message"] == "serving metrics")
        .and_then(|entry| entry["addr"].as_str().map(str::to_owned))
        .expect("the gateway logs where it serves metrics");
    let shop = Shop::new(gateway.url.clone());
    assert_eq!(
        shop.get_status("/metrics").await,
        404,
        "the gateway's public listener serves no /metrics unless [gateway] public_metrics"
    );
    // Each process's metrics, each service's at its own listener.
    let mut urls: Vec<String> = cluster
        .processes
        .iter()
        .filter(|process| process.service != "gateway")
        .map(|process| format!("{}/metrics", process.url))
        .collect();
    urls.push(format!("http://{gateway_metrics}/metrics"));

    let scrape = || async {
        let mut texts = Vec::new();
        for url in &urls {
            texts.push(shop.scrape(url).await);
        }
        texts
    };
    let texts = run_checkouts(
        &shop,
        support::ADMIN_EMAIL,
        support::ADMIN_PASSWORD,
        &scrape,
    )
    .await;
    let all = Samples::of(&texts.join("\n"));
    assert!(
        all.sum(
            "viscount_db_pool_max_connections",
            &[("service", "ordering")]
        ) > 0.0,
        "ordering's PostgreSQL pool is sampled"
    );
    assert!(
        all.sum(
            "viscount_http_requests_total",
            &[("service", "gateway"), ("route", "/api/v1/orders")]
        ) > 0.0,
        "the gateway's own requests are at its metrics listener"
    );
    lint(&texts);
    dashboard_metrics_are_scraped(&texts, EMBEDDED_ONLY);
    for process in &mut cluster.processes {
        process.terminate();
    }
}

/// Stocks a product, places three orders through the gateway (paid, declined, more
/// than in stock), refunds the paid one, sends a webhook from no configured source,
/// and waits until the scrapes (from `scrape`, one text per process) show exactly what
/// that did; answers the last scrapes.
async fn run_checkouts<F, Fut>(shop: &Shop, admin: &str, password: &str, scrape: &F) -> Vec<String>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Vec<String>>,
{
    let admin = shop.login(admin, password).await;
    // Six units, and the default low-stock threshold of five: the paid order's two
    // units take the sku under it once.
    shop.stock(&admin, 6).await;
    let buyer = shop.buyer("buyer@metrics.test").await;
    let before = Samples::of(&scrape().await.join("\n"));

    let paid = shop.checkout(&buyer, 2, APPROVE).await;
    assert_eq!(paid["status"], "confirmed", "{paid}");
    let declined = shop.checkout(&buyer, 1, DECLINE).await;
    assert_eq!(declined["status"], "cancelled", "{declined}");
    let short = shop.checkout(&buyer, 50, APPROVE).await;
    assert_eq!(short["status"], "cancelled", "{short}");
    let order_id = paid["id"].as_str().expect("order id");
    let refunded = shop.refund(&admin, order_id).await;
    assert_eq!(refunded["status"], "refunded", "{refunded}");
    let rejected = shop
        .post(
            "/webhooks/shopify/orders/create?tenant=nobody",
            None,
            &json!({}),
        )
        .await;
    assert_eq!(
        rejected.status(),
        401,
        "a delivery from no configured source"
    );

    let deadline = Instant::now() + SETTLE;
    loop {
        let texts = scrape().await;
        let after = Samples::of(&texts.join("\n"));
        let moved =
            |(name, labels, _): &Expected| after.sum(name, labels) - before.sum(name, labels);
        let short_of: Vec<String> = EXACTLY
            .iter()
            .chain(AT_LEAST)
            .filter(|expected| moved(expected) < expected.2)
            .map(|expected| {
                format!(
                    "{} {:?}: moved {}, expected {}",
                    expected.0,
                    expected.1,
                    moved(expected),
                    expected.2
                )
            })
            .collect();
        if short_of.is_empty() {
            let wrong: Vec<String> = EXACTLY
                .iter()
                .filter(|expected| moved(expected) != expected.2)
                .map(|expected| {
                    format!(
                        "{} {:?}: moved {}, expected exactly {}",
                        expected.0,
                        expected.1,
                        moved(expected),
                        expected.2
                    )
                })
                .collect();
            assert!(
                wrong.is_empty(),
                "counted more than happened:\n{}",
                wrong.join("\n")
            );
            let all = texts.join("\n");
            for gauge in [
                "viscount_outbox_pending_events",
                "viscount_outbox_lag_seconds",
                "viscount_bus_dead_letters",
            ] {
                assert!(
                    all.lines()
                        .any(|line| line.starts_with(&format!("{gauge}{{"))),
                    "{gauge} is sampled:\n{all}"
                );
            }
            return texts;
        }
        assert!(
            Instant::now() < deadline,
            "the business series did not move as the orders did:\n{}",
            short_of.join("\n")
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Runs `promtool check metrics` over each scrape: skipped without promtool, unless
/// the distributed shape (and so the whole toolchain) is required.
fn lint(texts: &[String]) {
    let Some(promtool) = promtool() else {
        assert!(
            std::env::var("VISCOUNT_TEST_REQUIRE_DISTRIBUTED").as_deref() != Ok("1"),
            "promtool is required (VISCOUNT_TEST_REQUIRE_DISTRIBUTED=1) but neither \
             VISCOUNT_TEST_PROMTOOL nor `promtool` on PATH names one"
        );
        eprintln!(
            "SKIPPED: promtool check metrics (no VISCOUNT_TEST_PROMTOOL, no promtool on PATH)"
        );
        return;
    };
    for text in texts {
        let mut child = Command::new(&promtool)
            .args(["check", "metrics"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("promtool runs");
        // A promtool that stops reading early says why in its output and exit status.
        let _ = child
            .stdin
            .take()
            .expect("stdin piped")
            .write_all(text.as_bytes());
        let output = child.wait_with_output().expect("promtool finishes");
        assert!(
            output.status.success(),
            "promtool check metrics failed:\n{}{}\n--- the scrape:\n{text}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

/// promtool: `VISCOUNT_TEST_PROMTOOL`, else `promtool` on PATH.
fn promtool() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("VISCOUNT_TEST_PROMTOOL").filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        assert!(
            path.is_file(),
            "VISCOUNT_TEST_PROMTOOL={} is not a file",
            path.display()
        );
        return Some(path);
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("promtool"))
            .find(|candidate| candidate.is_file())
    })
}

/// Every metric the dashboard's queries name is in `texts`, but for those only the
/// other shape has (`elsewhere`).
fn dashboard_metrics_are_scraped(texts: &[String], elsewhere: &[&str]) {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../deploy/grafana/viscount.json"
    );
    let dashboard: Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("the dashboard is readable"))
            .expect("the dashboard is JSON");
    let mut queries = Vec::new();
    collect_exprs(&dashboard, &mut queries);
    assert!(
        queries.len() >= 5,
        "the dashboard has its queries: {queries:?}"
    );
    let named: BTreeSet<String> = queries
        .iter()
        .flat_map(|query| metric_names(query))
        .collect();
    let scraped: BTreeSet<&str> = texts
        .iter()
        .flat_map(|text| text.lines())
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.split(['{', ' ']).next())
        .collect();
    let missing: Vec<&String> = named
        .iter()
        .filter(|name| !scraped.contains(name.as_str()))
        .filter(|name| !elsewhere.contains(&histogram_base(name)))
        .collect();
    assert!(
        missing.is_empty(),
        "the dashboard queries metrics no scrape has: {missing:?}"
    );
}

/// Every `expr` string in `value`.
fn collect_exprs(value: &Value, into: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                match (key.as_str(), value) {
                    ("expr", Value::String(expr)) => into.push(expr.clone()),
                    _ => collect_exprs(value, into),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| collect_exprs(item, into)),
        _ => {}
    }
}

/// The `viscount_…` names in a PromQL query.
fn metric_names(query: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = query;
    while let Some(at) = rest.find("viscount_") {
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        names.push(tail[..end].to_owned());
        rest = &tail[end..];
    }
    names
}

/// A histogram's name without the suffix of one of its series.
fn histogram_base(name: &str) -> &str {
    ["_bucket", "_sum", "_count"]
        .iter()
        .find_map(|suffix| name.strip_suffix(suffix))
        .unwrap_or(name)
}

/// The samples of one or more scrapes.
struct Samples(Vec<(String, String, f64)>);

impl Samples {
    fn of(text: &str) -> Self {
        Self(
            text.lines()
                .filter(|line| !line.starts_with('#') && !line.is_empty())
                .filter_map(|line| {
                    let (series, value) = line.rsplit_once(' ')?;
                    let (name, labels) = series.split_once('{').unwrap_or((series, ""));
                    Some((name.to_owned(), labels.to_owned(), value.parse().ok()?))
                })
                .collect(),
        )
    }

    /// The sum of `name`'s samples that carry every one of `labels`.
    fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.0
            .iter()
            .filter(|(series, tags, _)| {
                series == name
                    && labels
                        .iter()
                        .all(|(key, value)| tags.contains(&format!("{key}=\"{value}\"")))
            })
            .map(|(_, _, value)| value)
            .sum()
    }
}

/// A shopper and an admin at the gateway.
struct Shop {
    base: String,
    client: reqwest::Client,
}

impl Shop {
    fn new(base: String) -> Self {
        Self {
            base,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("client"),
        }
    }

    async fn get_status(&self, path: &str) -> u16 {
        self.client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("request sent")
            .status()
            .as_u16()
    }

    async fn scrape(&self, url: &str) -> String {
        let response = self.client.get(url).send().await.expect("scrape");
        assert_eq!(response.status(), 200, "GET {url}");
        response.text().await.expect("metrics text")
    }

    async fn post(&self, path: &str, token: Option<&str>, body: &Value) -> reqwest::Response {
        let mut request = self.client.post(format!("{}{path}", self.base)).json(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.expect("request sent")
    }

    async fn login(&self, email: &str, password: &str) -> String {
        support::eventually(SETTLE, "sign-in", || async {
            let answer: Value = self
                .post(
                    "/api/v1/auth/login",
                    None,
                    &json!({"email": email, "password": password}),
                )
                .await
                .json()
                .await
                .ok()?;
            answer["access_token"].as_str().map(str::to_owned)
        })
        .await
    }

    async fn buyer(&self, email: &str) -> String {
        let registered = self
            .post(
                "/api/v1/users",
                None,
                &json!({"email": email, "password": BUYER_PASSWORD, "name": "Metered Buyer"}),
            )
            .await;
        assert_eq!(registered.status(), 201, "register {email}");
        self.login(email, BUYER_PASSWORD).await
    }

    /// The product [`SKU`] at [`PRICE`] with `units` in stock, once ordering prices it.
    async fn stock(&self, admin: &str, units: i64) {
        let created = self
            .post(
                "/api/v1/products",
                Some(admin),
                &json!({"sku": SKU, "name": "Metered product", "description": "for sale",
                        "price": {"amount": PRICE, "currency": "USD"}}),
            )
            .await;
        assert_eq!(created.status(), 201, "create the product");
        let warehouse = self
            .post(
                "/api/v1/warehouses",
                Some(admin),
                &json!({"code": "MAIN", "name": "Main"}),
            )
            .await;
        assert!(
            [201, 409].contains(&warehouse.status().as_u16()),
            "warehouse"
        );
        let adjusted = self
            .post(
                "/api/v1/inventory/adjust",
                Some(admin),
                &json!({"sku": SKU, "warehouse_id": "MAIN", "delta": units, "reason": "received"}),
            )
            .await;
        assert_eq!(adjusted.status(), 200, "stock");
        let cart: Value = self
            .post("/api/v1/carts", Some(admin), &json!({}))
            .await
            .json()
            .await
            .expect("cart");
        let cart = cart["id"].as_str().expect("cart id").to_owned();
        support::eventually(SETTLE, "ordering knows the price", || async {
            let put = self
                .client
                .put(format!("{}/api/v1/carts/{cart}/items", self.base))
                .bearer_auth(admin)
                .json(&json!({"sku": SKU, "quantity": 1}))
                .send()
                .await
                .ok()?;
            (put.status() == 200).then_some(())
        })
        .await;
    }

    /// Refunds all of `order_id` as `admin`, once its payment is captured (payments
    /// captures after the confirmation, asynchronously).
    async fn refund(&self, admin: &str, order_id: &str) -> Value {
        support::eventually(SETTLE, "the paid order refunded", || async {
            let response = self
                .client
                .post(format!("{}/api/v1/orders/{order_id}/refund", self.base))
                .bearer_auth(admin)
                .header("idempotency-key", uuid::Uuid::now_v7().to_string())
                .json(&json!({}))
                .send()
                .await
                .ok()?;
            if response.status() != 200 {
                return None;
            }
            response.json().await.ok()
        })
        .await
    }

    /// Orders `quantity` of [`SKU`] paid with `card`, waiting for the saga to settle.
    async fn checkout(&self, buyer: &str, quantity: i64, card: &str) -> Value {
        let response = self
            .client
            .post(format!("{}/api/v1/orders", self.base))
            .bearer_auth(buyer)
            .header("idempotency-key", uuid::Uuid::now_v7().to_string())
            .header("prefer", "wait=20")
            .json(&json!({
                "items": [{"sku": SKU, "quantity": quantity}],
                "shipping_address": {"name": "Ann Buyer", "line1": "1 Main St",
                    "city": "Springfield", "postal_code": "12345", "country": "US"},
                "payment": {"method": "card", "card_number": card, "exp_month": 12,
                    "exp_year": 2099, "cvc": "123"}
            }))
            .send()
            .await
            .expect("order sent");
        assert_eq!(response.status(), 201, "a settled order");
        response.json().await.expect("order")
    }
}
