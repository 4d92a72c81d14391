//! OpenTelemetry traces of the `viscount` binary, received by an OTLP/HTTP collector of
//! the test's own: one checkout through the gateway is one trace across every service
//! it touches, each hop a span whose parent is the hop before (an event's consumer span
//! a child of its producer span), in the embedded shape (`viscount up`, every service in
//! one process) and in the distributed one (`viscount serve` processes on PostgreSQL
//! and NATS; skipped without them); the log lines name the trace; and the spans still
//! buffered when the process is asked to stop are exported before it exits.
//!
//! The binary runs in child processes configured the way an operator would:
//! `OTEL_EXPORTER_OTLP_ENDPOINT` in their environment.

mod support;

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use prost::Message;
use serde_json::{Value, json};
use support::{Cluster, eventually};

const ADMIN_EMAIL: &str = "admin@traces.test";
const ADMIN_PASSWORD: &str = "admin-password-1";
const PASSWORD: &str = "correct horse battery";
/// How long the platform may take to start, and a trace to arrive whole.
const PATIENCE: Duration = Duration::from_secs(60);

/// One span as the collector received it.
#[derive(Debug, Clone)]
struct Received {
    service: String,
    trace_id: String,
    span_id: String,
    parent_span_id: String,
    name: String,
    kind: SpanKind,
}

/// An OTLP/HTTP collector on a port of its own: `POST /v1/traces` (protobuf).
struct Collector {
    endpoint: String,
    spans: Arc<Mutex<Vec<Received>>>,
}

impl Collector {
    async fn start() -> Self {
        let spans: Arc<Mutex<Vec<Received>>> = Arc::default();
        let app = axum::Router::new()
            .route("/v1/traces", axum::routing::post(receive))
            .with_state(spans.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("collector binds");
        let endpoint = format!("http://{}", listener.local_addr().expect("address"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { endpoint, spans }
    }

    /// The spans of `trace_id` received so far.
    fn trace(&self, trace_id: &str) -> Vec<Received> {
        self.spans
            .lock()
            .map(|spans| {
                spans
                    .iter()
                    .filter(|s| s.trace_id == trace_id)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }
}

async fn receive(State(spans): State<Arc<Mutex<Vec<Received>>>>, body: Bytes) -> Vec<u8> {
    let request = ExportTraceServiceRequest::decode(body).expect("an OTLP trace export");
    let hex = |bytes: &[u8]| bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
    let mut received = Vec::new();
    for resource_spans in request.resource_spans {
        let service = resource_spans
            .resource
            .iter()
            .flat_map(|r| &r.attributes)
            .find(|a| a.key == "service.name")
            .and_then(|a| match a.value.as_ref()?.value.as_ref()? {
                any_value::Value::StringValue(name) => Some(name.clone()),
                _ => None,
            })
            .unwrap_or_default();
        for scope in resource_spans.scope_spans {
            for span in scope.spans {
                received.push(Received {
                    service: service.clone(),
                    trace_id: hex(&span.trace_id),
                    span_id: hex(&span.span_id),
                    parent_span_id: hex(&span.parent_span_id),
                    kind: SpanKind::try_from(span.kind).unwrap_or(SpanKind::Unspecified),
                    name: span.name,
                });
            }
        }
    }
    spans.lock().expect("spans").extend(received);
    ExportTraceServiceResponse::default().encode_to_vec()
}

/// `viscount up` in a child process, exporting to `collector`; killed when dropped.
struct Platform {
    child: Child,
    shop: Shop,
    log: Arc<Mutex<Vec<String>>>,
}

/// The public API at a gateway, with a client.
struct Shop {
    base: String,
    client: reqwest::Client,
}

impl Platform {
    /// Starts it on `data_dir`, with the batch processor's schedule `flush_every`.
    fn start(data_dir: &Path, collector: &Collector, flush_every: Duration) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_viscount"));
        command.current_dir(data_dir);
        for (name, _) in std::env::vars_os() {
            let name = name.to_string_lossy();
            if name.starts_with("VISCOUNT_") || name.starts_with("OTEL_") {
                command.env_remove(&*name);
            }
        }
        command
            .args(["up", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .env("VISCOUNT_LOG", "info")
            .env("VISCOUNT_BOOTSTRAP_ADMIN_EMAIL", ADMIN_EMAIL)
            .env("VISCOUNT_BOOTSTRAP_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("OTEL_EXPORTER_OTLP_ENDPOINT", &collector.endpoint)
            .env(
                "OTEL_BSP_SCHEDULE_DELAY",
                flush_every.as_millis().to_string(),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("viscount starts");
        let stderr = child.stderr.take().expect("stderr piped");
        let log: Arc<Mutex<Vec<String>>> = Arc::default();
        let (up_tx, up_rx) = std::sync::mpsc::channel::<String>();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Ok(entry) = serde_json::from_str::<Value>(&line)
                    && entry["message"] == "viscount is up"
                    && let Some(url) = entry["url"].as_str()
                {
                    let _ = up_tx.send(url.to_owned());
                }
                if let Ok(mut lines) = sink.lock() {
                    lines.push(line);
                }
            }
        });
        let Ok(base) = up_rx.recv_timeout(PATIENCE) else {
            let _ = child.kill();
            let lines = log.lock().map(|l| l.join("\n")).unwrap_or_default();
            panic!("viscount did not come up:\n{lines}");
        };
        Self {
            child,
            shop: Shop::at(base),
            log,
        }
    }

    /// The JSON log lines read so far.
    fn log_lines(&self) -> Vec<Value> {
        self.log
            .lock()
            .map(|lines| {
                lines
                    .iter()
                    .filter_map(|line| serde_json::from_str(line).ok())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Asks it to stop (SIGTERM) and waits for it to exit on its own.
    async fn terminate(&mut self) -> std::process::ExitStatus {
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(sent.success(), "SIGTERM sent");
        let child = &mut self.child;
        eventually(PATIENCE, "viscount stops after SIGTERM", || {
            let exited = child.try_wait().expect("child status");
            async move { exited }
        })
        .await
    }
}

impl Drop for Platform {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Shop {
    fn at(base: String) -> Self {
        Self {
            base,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("client"),
        }
    }

    /// Sends a request, with `traceparent` when given; answers the status and JSON body.
    async fn send(
        &self,
        request: reqwest::RequestBuilder,
        traceparent: Option<&str>,
    ) -> (u16, Value) {
        let request = match traceparent {
            Some(traceparent) => request.header("traceparent", traceparent),
            None => request,
        };
        let response = request.send().await.expect("request sent");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn post(&self, path: &str, token: Option<&str>, body: &Value) -> (u16, Value) {
        let mut request = self.client.post(format!("{}{path}", self.base)).json(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        self.send(request, None).await
    }

    async fn login(&self, email: &str, password: &str) -> String {
        let (status, tokens) = self
            .post(
                "/api/v1/auth/login",
                None,
                &json!({"email": email, "password": password}),
            )
            .await;
        assert_eq!(status, 200, "login {email}: {tokens}");
        tokens["access_token"]
            .as_str()
            .expect("access token")
            .to_owned()
    }

    /// A product with stock in the MAIN warehouse, once ordering knows its price.
    async fn stocked(&self, admin: &str, sku: &str) {
        let (status, body) = self
            .post(
                "/api/v1/products",
                Some(admin),
                &json!({"sku": sku, "name": "Traced lamp", "description": "for sale",
                        "price": {"amount": 1250, "currency": "USD"}}),
            )
            .await;
        assert_eq!(status, 201, "create {sku}: {body}");
        let (status, body) = self
            .post(
                "/api/v1/warehouses",
                Some(admin),
                &json!({"code": "MAIN", "name": "Main"}),
            )
            .await;
        assert_eq!(status, 201, "warehouse: {body}");
        let (status, body) = self
            .post(
                "/api/v1/inventory/adjust",
                Some(admin),
                &json!({"sku": sku, "warehouse_id": "MAIN", "delta": 5, "reason": "received"}),
            )
            .await;
        assert_eq!(status, 200, "stock {sku}: {body}");
        let (_, cart) = self.post("/api/v1/carts", Some(admin), &json!({})).await;
        let cart = cart["id"].as_str().expect("cart id").to_owned();
        eventually(PATIENCE, "ordering knows the price", || async {
            let request = self
                .client
                .put(format!("{}/api/v1/carts/{cart}/items", self.base))
                .bearer_auth(admin)
                .json(&json!({"sku": sku, "quantity": 1}));
            let (status, _) = self.send(request, None).await;
            (status == 200).then_some(())
        })
        .await;
    }

    /// A new buyer, signed in.
    async fn buyer(&self, email: &str) -> String {
        let (status, body) = self
            .post(
                "/api/v1/users",
                None,
                &json!({"email": email, "password": PASSWORD, "name": "Buyer"}),
            )
            .await;
        assert_eq!(status, 201, "register: {body}");
        self.login(email, PASSWORD).await
    }

    /// One checkout of `sku` by `buyer`, waited for, sent in a trace of the caller's
    /// own; answers the `traceparent` it was sent with.
    async fn checkout(&self, buyer: &str, sku: &str) -> Caller {
        let caller = Caller::new();
        let order = self
            .client
            .post(format!("{}/api/v1/orders", self.base))
            .bearer_auth(buyer)
            .header("idempotency-key", uuid::Uuid::now_v7().to_string())
            .header("prefer", "wait=15")
            .json(&json!({
                "items": [{"sku": sku, "quantity": 1}],
                "shipping_address": {"name": "Ann Buyer", "line1": "1 Main St",
                                     "city": "Springfield", "postal_code": "12345",
                                     "country": "US"},
                "payment": {"method": "card", "card_number": "4242424242424242",
                            "exp_month": 12, "exp_year": 2099, "cvc": "123"},
            }));
        let (status, order) = self.send(order, Some(&caller.traceparent)).await;
        assert_eq!(status, 201, "the order settles: {order}");
        assert_eq!(order["status"], "confirmed", "{order}");
        caller
    }
}

/// The span of a caller in front of the gateway: a fresh sampled `traceparent`.
struct Caller {
    traceparent: String,
    trace_id: String,
    span_id: String,
}

impl Caller {
    fn new() -> Self {
        let trace_id = uuid::Uuid::now_v7().simple().to_string();
        let span_id = uuid::Uuid::now_v7().simple().to_string()[16..].to_owned();
        Self {
            traceparent: format!("00-{trace_id}-{span_id}-01"),
            trace_id,
            span_id,
        }
    }
}

/// Why `spans` are not one well-linked trace yet (or are not one at all): every
/// parent a span of the trace except the root's, which is the caller's span.
fn unlinked(spans: &[Received], caller_span: &str) -> Option<String> {
    let ids: HashSet<&str> = spans.iter().map(|s| s.span_id.as_str()).collect();
    let roots: Vec<&Received> = spans
        .iter()
        .filter(|s| !ids.contains(s.parent_span_id.as_str()))
        .collect();
    match roots.as_slice() {
        [root] if root.parent_span_id == caller_span => None,
        _ => Some(format!(
            "spans whose parent is not in the trace: {roots:#?}"
        )),
    }
}

/// The services a checkout's trace must show, and those of them that consume one of
/// its events.
const SERVICES: [&str; 6] = [
    "gateway",
    "ordering",
    "inventory",
    "payments",
    "fulfillment",
    "notifications",
];
const CONSUMERS: [&str; 4] = ["inventory", "payments", "fulfillment", "notifications"];

/// Waits until `caller`'s trace has every service of [`SERVICES`] (a consumer span in
/// each of [`CONSUMERS`]) and every parent in it, and answers its spans.
async fn whole_trace(collector: &Collector, caller: &Caller) -> Vec<Received> {
    // The saga goes on after the answer (capture, shipment, the customer's message), and
    // each service exports on its own schedule.
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        let spans = collector.trace(&caller.trace_id);
        let named: HashSet<&str> = spans.iter().map(|s| s.service.as_str()).collect();
        let consumed_in: HashSet<&str> = spans
            .iter()
            .filter(|s| s.kind == SpanKind::Consumer)
            .map(|s| s.service.as_str())
            .collect();
        let missing: Vec<String> = SERVICES
            .iter()
            .map(|s| format!("viscount-{s}"))
            .filter(|s| !named.contains(s.as_str()))
            .chain(
                CONSUMERS
                    .iter()
                    .map(|s| format!("viscount-{s}"))
                    .filter(|s| !consumed_in.contains(s.as_str()))
                    .map(|s| format!("a consumer span of {s}")),
            )
            .collect();
        let unlinked = unlinked(&spans, &caller.span_id);
        if missing.is_empty() && unlinked.is_none() {
            return spans;
        }
        if std::time::Instant::now() > deadline {
            let seen: Vec<String> = spans
                .iter()
                .map(|s| {
                    format!(
                        "{} {:?} {} {}<-{}",
                        s.service, s.kind, s.name, s.span_id, s.parent_span_id
                    )
                })
                .collect();
            panic!(
                "the checkout's trace is not whole: missing {missing:?}; {}\n{seen:#?}",
                unlinked.unwrap_or_default()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The hops of a checkout's trace: the gateway's server span under the caller's, then
/// ordering's server span (behind the gateway's client span when `proxied`), payments'
/// server span under ordering's client span, and each event's consumer span under its
/// producer span.
fn assert_checkout_hops(spans: &[Received], caller: &Caller, proxied: bool) {
    let by_id: HashMap<&str, &Received> = spans.iter().map(|s| (s.span_id.as_str(), s)).collect();
    let parent = |span: &Received| by_id.get(span.parent_span_id.as_str()).copied();

    let root = spans
        .iter()
        .find(|s| s.parent_span_id == caller.span_id)
        .expect("a span whose parent is the caller's");
    assert_eq!(
        (root.service.as_str(), root.kind, root.name.as_str()),
        ("viscount-gateway", SpanKind::Server, "POST /api/v1/orders"),
        "{root:?}"
    );
    let ordering = spans
        .iter()
        .find(|s| s.service == "viscount-ordering" && s.kind == SpanKind::Server)
        .expect("ordering's server span");
    assert_eq!(ordering.name, "POST /api/v1/orders");
    let above = parent(ordering).expect("ordering's caller is in the trace");
    if proxied {
        assert_eq!(
            (above.service.as_str(), above.kind),
            ("viscount-gateway", SpanKind::Client),
            "{above:?}"
        );
        assert_eq!(above.parent_span_id, root.span_id, "{above:?}");
    } else {
        assert_eq!(above.span_id, root.span_id, "{above:?}");
    }
    let paying = spans
        .iter()
        .find(|s| s.service == "viscount-payments" && s.kind == SpanKind::Server)
        .expect("payments' server span");
    let call = parent(paying).expect("the call to payments is in the trace");
    assert_eq!(
        (call.service.as_str(), call.kind),
        ("viscount-ordering", SpanKind::Client),
        "{call:?}"
    );
    let consumers: Vec<&Received> = spans
        .iter()
        .filter(|s| s.kind == SpanKind::Consumer)
        .collect();
    for consumer in &consumers {
        let producer = parent(consumer).expect("the producer span is in the trace");
        assert_eq!(
            producer.kind,
            SpanKind::Producer,
            "{consumer:?} <- {producer:?}"
        );
        let event = producer.name.trim_start_matches("publish ");
        assert_eq!(consumer.name, format!("process {event}"), "{consumer:?}");
    }
    assert!(
        consumers
            .iter()
            .any(|c| c.name == "process ordering.order.created.v1"
                && c.service == "viscount-inventory"),
        "inventory reserves for the order created: {consumers:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkout_is_one_trace_across_every_service_it_touches() {
    let collector = Collector::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let platform = Platform::start(dir.path(), &collector, Duration::from_millis(100));
    let shop = &platform.shop;
    let admin = shop.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    shop.stocked(&admin, "TRACE-1").await;
    let buyer = shop.buyer("buyer@traces.test").await;

    let caller = shop.checkout(&buyer, "TRACE-1").await;
    let spans = whole_trace(&collector, &caller).await;
    assert_checkout_hops(&spans, &caller, false);

    // The log lines of the request name the trace and one of its spans.
    let logged = platform.log_lines();
    let line = logged
        .iter()
        .find(|line| line["trace_id"] == caller.trace_id.as_str() && line["message"] == "request")
        .unwrap_or_else(|| panic!("a request log line names the trace: {logged:#?}"));
    let span_id = line["span_id"].as_str().expect("the line has a span id");
    assert!(spans.iter().any(|s| s.span_id == span_id), "{line}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_checkout_is_one_trace_across_the_processes_of_the_distributed_shape() {
    let collector = Collector::start().await;
    let Some(mut cluster) = Cluster::start(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", collector.endpoint.as_str()),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
    ]) else {
        return;
    };
    for service in [
        "identity",
        "catalog",
        "inventory",
        "payments",
        "ordering",
        "fulfillment",
        "notifications",
        "gateway",
    ] {
        cluster.spawn(service);
    }
    for service in [
        "identity",
        "catalog",
        "inventory",
        "payments",
        "ordering",
        "fulfillment",
        "notifications",
    ] {
        cluster.wait_registered(service, 1).await;
    }
    let shop = Shop::at(cluster.gateway());
    let admin = cluster.admin_token_at(&shop.base).await;
    shop.stocked(&admin, "TRACE-2").await;
    let buyer = shop.buyer("buyer@traces.test").await;

    let caller = shop.checkout(&buyer, "TRACE-2").await;
    let spans = whole_trace(&collector, &caller).await;
    assert_checkout_hops(&spans, &caller, true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_still_buffered_at_a_graceful_stop_are_exported_before_exit() {
    let collector = Collector::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    // Nothing is exported on schedule while the test runs: only the stop can flush.
    let mut platform = Platform::start(dir.path(), &collector, Duration::from_secs(600));
    let caller = Caller::new();
    let shop = &platform.shop;
    let request = shop.client.get(format!("{}/api/v1/products", shop.base));
    let (status, body) = shop.send(request, Some(&caller.traceparent)).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        collector.trace(&caller.trace_id).is_empty(),
        "not exported yet"
    );

    let exit = platform.terminate().await;
    assert!(exit.success(), "a graceful stop: {exit}");
    let spans = collector.trace(&caller.trace_id);
    let root = spans
        .iter()
        .find(|s| s.parent_span_id == caller.span_id)
        .unwrap_or_else(|| panic!("the gateway's span was flushed at exit: {spans:#?}"));
    assert_eq!(root.service, "viscount-gateway");
    assert_eq!(root.name, "GET /api/v1/products");
    assert!(
        spans.iter().any(|s| s.service == "viscount-catalog"),
        "catalog's span too: {spans:#?}"
    );
}
