//! The distributed shape's gateway: identity served as its own server (its standalone
//! app on its own port) and the gateway proxying to it over HTTP, as `viscount serve`
//! runs them in separate processes. Each test runs on embedded storage and, when the
//! environment provides it, on PostgreSQL + NATS.

use std::time::Duration;

use gateway::{Backend, GatewayConfig};
use platform::config::ConfigSource;
use platform::service::{Service, ServiceContext, ServiceKind};
use platform::shutdown::Shutdown;
use platform::tasks::Tasks;
use platform::time::Clock;
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use viscount_tests::{PASSWORD, Shape, TestStorage, assert_problem, eventually};

/// Identity on its own server and a gateway proxying to it.
struct Proxied {
    /// `http://127.0.0.1:<port>` of the gateway.
    gateway: String,
    /// `http://127.0.0.1:<port>` of the standalone identity server.
    identity: String,
    client: reqwest::Client,
    identity_shutdown: Shutdown,
    identity_server: Option<JoinHandle<std::io::Result<()>>>,
    gateway_shutdown: Shutdown,
    gateway_server: Option<JoinHandle<std::io::Result<()>>>,
    tasks: Tasks,
    service: Box<dyn Service>,
    // Last: the databases are dropped after everything using them.
    _storage: TestStorage,
}

impl Proxied {
    /// Starts both servers on `shape`'s storage; `None` when the shape is unavailable.
    async fn start(shape: Shape) -> Option<Self> {
        platform::telemetry::init_logging(platform::telemetry::LogFormat::Pretty);
        let storage = TestStorage::new(shape)?;
        let identity_shutdown = Shutdown::new();
        let tasks = Tasks::new(identity_shutdown.clone());
        let bus = storage.storage.bus().await.expect("bus connects");
        let url = storage.storage.database_url(ServiceKind::Identity);
        let context = ServiceContext::new(
            ServiceKind::Identity,
            url,
            bus,
            ConfigSource::default(),
            Clock::system(),
            tasks.clone(),
        );
        let service = viscount::launch(ServiceKind::Identity, &context)
            .await
            .expect("identity starts")
            .expect("identity is a backend service");
        let (router, readiness) = (service.router(), service.readiness());
        let app = platform::http::standalone_app("identity", router, readiness);
        let listener = platform::http::server::bind("127.0.0.1:0")
            .await
            .expect("identity binds");
        let identity_addr = listener.local_addr().expect("identity address");
        let identity_server = tokio::spawn(platform::http::serve(
            listener,
            app,
            identity_shutdown.clone(),
        ));

        let gateway_app = gateway::router(
            vec![(
                ServiceKind::Identity,
                Backend::at(ServiceKind::Identity, &format!("http://{identity_addr}")),
            )],
            &GatewayConfig::default(),
            gateway::Edge {
                authenticator: None,
                live: platform::live::LiveConfig::new(),
                redis_url: None,
                redis_prefix: String::new(),
                bus: None,
                tasks: tasks.clone(),
                config: ConfigSource::default(),
                api_documents: Vec::new(),
            },
        )
        .expect("gateway builds");
        let listener = platform::http::server::bind("127.0.0.1:0")
            .await
            .expect("gateway binds");
        let gateway_addr = listener.local_addr().expect("gateway address");
        let gateway_shutdown = Shutdown::new();
        let gateway_server = tokio::spawn(platform::http::serve(
            listener,
            gateway_app,
            gateway_shutdown.clone(),
        ));
        Some(Self {
            gateway: format!("http://{gateway_addr}"),
            identity: format!("http://{identity_addr}"),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("client"),
            identity_shutdown,
            identity_server: Some(identity_server),
            gateway_shutdown,
            gateway_server: Some(gateway_server),
            tasks,
            service,
            _storage: storage,
        })
    }

    fn gateway_url(&self, path: &str) -> String {
        format!("{}{path}", self.gateway)
    }

    fn identity_url(&self, path: &str) -> String {
        format!("{}{path}", self.identity)
    }

    async fn post(&self, path: &str, body: &Value) -> reqwest::Response {
        self.client
            .post(self.gateway_url(path))
            .json(body)
            .send()
            .await
            .expect("request sent")
    }

    /// Stops the identity server and waits until it no longer listens.
    async fn stop_identity(&mut self) {
        self.identity_shutdown.cancel();
        if let Some(server) = self.identity_server.take() {
            server
                .await
                .expect("identity server task joins")
                .expect("identity server stops cleanly");
        }
        self.tasks.stop(Duration::from_secs(10)).await;
    }

    /// Stops both servers and closes the database.
    async fn stop(mut self) {
        self.stop_identity().await;
        self.gateway_shutdown.cancel();
        if let Some(server) = self.gateway_server.take() {
            server
                .await
                .expect("gateway server task joins")
                .expect("gateway server stops cleanly");
        }
        self.service.close().await;
    }
}

impl Drop for Proxied {
    fn drop(&mut self) {
        // A failed test drops without `stop`; never leave servers running.
        self.identity_shutdown.cancel();
        self.gateway_shutdown.cancel();
    }
}

/// Writes each test once and runs it on embedded and on distributed storage.
macro_rules! both_storages {
    ($(async fn $name:ident($p:ident) $body:block)*) => {
        $(
            mod $name {
                #[allow(unused_imports)]
                use super::*;

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                #[allow(unused_mut)]
                async fn embedded() {
                    let mut $p = Proxied::start(Shape::Embedded).await.expect("embedded storage");
                    $body
                    $p.stop().await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                #[allow(unused_mut)]
                async fn distributed() {
                    let Some(mut $p) = Proxied::start(Shape::Distributed).await else {
                        return;
                    };
                    $body
                    $p.stop().await;
                }
            }
        )*
    };
}

fn header(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// The value of `viscount_http_requests_total` with exactly these labels, if present.
fn requests_total(metrics: &str, service: &str, method: &str, route: &str, status: &str) -> f64 {
    let labels = [
        format!("service=\"{service}\""),
        format!("method=\"{method}\""),
        format!("route=\"{route}\""),
        format!("status=\"{status}\""),
    ];
    metrics
        .lines()
        .filter(|line| line.starts_with("viscount_http_requests_total{"))
        .filter(|line| labels.iter().all(|label| line.contains(label.as_str())))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

both_storages! {
    async fn register_login_and_me_work_through_the_proxy_with_request_ids(p) {
        let email = "ann@example.com";
        let response = p
            .post("/api/v1/users", &json!({"email": email, "password": PASSWORD, "name": "Ann"}))
            .await;
        assert_eq!(response.status(), 201, "register through the proxy");
        assert!(header(&response, "x-request-id").is_some_and(|id| !id.is_empty()), "register has a request id");
        let location = header(&response, "location");
        let user: Value = response.json().await.expect("json");
        let id = user["id"].as_str().expect("id").to_owned();
        assert_eq!(location, Some(format!("/api/v1/users/{id}")), "location passes through the proxy");

        let response = p
            .post("/api/v1/auth/login", &json!({"email": email, "password": PASSWORD}))
            .await;
        assert_eq!(response.status(), 200, "login through the proxy");
        assert!(header(&response, "x-request-id").is_some(), "login has a request id");
        let tokens: Value = response.json().await.expect("json");
        let access = tokens["access_token"].as_str().expect("access token").to_owned();

        let response = p
            .client
            .get(p.gateway_url("/api/v1/users/me"))
            .bearer_auth(&access)
            .header("x-request-id", "abc-123")
            .send()
            .await
            .expect("request sent");
        assert_eq!(response.status(), 200, "me through the proxy");
        assert_eq!(header(&response, "x-request-id").as_deref(), Some("abc-123"), "client request id echoed");
        let me: Value = response.json().await.expect("json");
        assert_eq!(me["id"], id.as_str());
        assert_eq!(me["email"], email);

        let unauthenticated = p.client.get(p.gateway_url("/api/v1/users/me")).send().await.expect("request sent");
        assert_problem(unauthenticated, 401).await;
    }

    async fn health_is_aggregated_by_the_gateway_and_served_by_the_standalone_identity(p) {
        let response = p.client.get(p.gateway_url("/health")).send().await.expect("request sent");
        assert_eq!(response.status(), 200, "gateway health");
        let health: Value = response.json().await.expect("json");
        assert_eq!(health["status"], "ok");
        assert_eq!(health["services"]["identity"]["status"], "ok", "{health}");

        let response = p.client.get(p.identity_url("/health/ready")).send().await.expect("request sent");
        assert_eq!(response.status(), 200, "identity readiness");
        let ready: Value = response.json().await.expect("json");
        assert_eq!(ready["status"], "ok");
        assert_eq!(ready["service"], "identity");
        assert_eq!(ready["checks"]["database"]["status"], "ok", "{ready}");
        assert_eq!(ready["checks"]["bus"]["status"], "ok", "{ready}");

        let response = p.client.get(p.identity_url("/health/live")).send().await.expect("request sent");
        assert_eq!(response.status(), 200, "identity liveness");
        let live: Value = response.json().await.expect("json");
        assert_eq!(live["status"], "ok");
    }

    async fn the_standalone_identity_counts_each_request_once_by_route(p) {
        let response = p
            .post("/api/v1/users", &json!({"email": "bob@example.com", "password": PASSWORD, "name": "Bob"}))
            .await;
        assert_eq!(response.status(), 201);

        let response = p.client.get(p.identity_url("/metrics")).send().await.expect("request sent");
        assert_eq!(response.status(), 200, "identity metrics");
        let metrics = response.text().await.expect("metrics text");
        assert!(metrics.contains("viscount_http_requests_total"), "{metrics}");
        assert!(metrics.contains("route=\"/api/v1/users\""), "{metrics}");
        assert_eq!(
            requests_total(&metrics, "identity", "POST", "/api/v1/users", "201"),
            1.0,
            "one registration is one request on the identity server:\n{metrics}"
        );
    }

    async fn unknown_paths_and_oversized_bodies_are_problems(p) {
        let response = p.client.get(p.gateway_url("/api/v1/nothing-here")).send().await.expect("request sent");
        assert_problem(response, 404).await;
        let response = p.client.get(p.gateway_url("/api/v1/users/me/nothing-here")).send().await.expect("request sent");
        assert_problem(response, 404).await;

        let oversized = vec![b'a'; 1024 * 1024 + 1];
        let response = p
            .client
            .post(p.gateway_url("/api/v1/users"))
            .header("content-type", "application/json")
            .body(oversized)
            .send()
            .await
            .expect("request sent");
        assert_problem(response, 413).await;
    }

    async fn cors_preflight_is_allowed(p) {
        let response = p
            .client
            .request(reqwest::Method::OPTIONS, p.gateway_url("/api/v1/users"))
            .header("origin", "https://shop.example.com")
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type")
            .send()
            .await
            .expect("request sent");
        assert!(response.status().is_success(), "preflight status {}", response.status());
        assert!(header(&response, "access-control-allow-origin").is_some(), "allow-origin present");
        let methods = header(&response, "access-control-allow-methods").unwrap_or_default();
        assert!(methods.contains("POST"), "allowed methods {methods}");
    }

    async fn a_stopped_upstream_makes_health_and_its_routes_unavailable(p) {
        let response = p.client.get(p.gateway_url("/health")).send().await.expect("request sent");
        assert_eq!(response.status(), 200, "healthy before the upstream stops");

        p.stop_identity().await;

        let health: Value = eventually(Duration::from_secs(10), "gateway health to report identity down", || async {
            let response = p.client.get(p.gateway_url("/health")).send().await.ok()?;
            if response.status() != 503 {
                return None;
            }
            response.json::<Value>().await.ok()
        })
        .await;
        assert_eq!(health["status"], "down");
        assert_eq!(health["services"]["identity"]["status"], "down", "{health}");

        let response = p
            .post("/api/v1/auth/login", &json!({"email": "ann@example.com", "password": PASSWORD}))
            .await;
        let problem = assert_problem(response, 503).await;
        let detail = problem["detail"].as_str().unwrap_or_default();
        assert!(detail.contains("identity"), "detail names the service: {detail}");
    }
}
