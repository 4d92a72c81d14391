//! A platform run the way an operator runs the distributed shape: the `viscount`
//! binary started as separate `viscount serve <service>` processes on PostgreSQL, NATS
//! JetStream and Redis, finding each other through coordination alone (no `--upstream`).
//!
//! Each cluster gets its own databases, NATS namespace and Redis key prefix, and every
//! process listens on a port the kernel picked (read back from its `serving` log line),
//! except coordination, whose address the others must know before it starts.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

pub mod running;

/// The admin every cluster is created with.
pub const ADMIN_EMAIL: &str = "admin@cluster.test";
/// Its password.
pub const ADMIN_PASSWORD: &str = "correct horse battery";
/// The shared service token of a test cluster.
const SERVICE_TOKEN: &str = "cluster-test-service-token";

/// PostgreSQL, NATS and Redis of the environment; `None` (skipped) when absent, a panic
/// when the distributed shape is required.
pub fn environment() -> Option<(String, String, String)> {
    let pg = std::env::var("VISCOUNT_TEST_POSTGRES_URL").ok();
    let nats = std::env::var("VISCOUNT_TEST_NATS_URL").ok();
    let redis = std::env::var("VISCOUNT_TEST_REDIS_URL").ok();
    match (pg, nats, redis) {
        (Some(pg), Some(nats), Some(redis)) => Some((pg, nats, redis)),
        _ => {
            assert!(
                std::env::var("VISCOUNT_TEST_REQUIRE_DISTRIBUTED").as_deref() != Ok("1"),
                "distributed shape required but VISCOUNT_TEST_POSTGRES_URL / _NATS_URL / _REDIS_URL are not all set"
            );
            eprintln!("SKIPPED: the cluster needs PostgreSQL, NATS and Redis");
            None
        }
    }
}

/// One `viscount serve` process.
pub struct Process {
    /// The service it runs.
    pub service: String,
    /// Its base URL.
    pub url: String,
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
}

impl Process {
    /// Kills it at once (SIGKILL): no deregistration, no drain.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Asks it to stop (SIGTERM) and waits for it to exit.
    pub fn terminate(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.kill();
    }

    /// The lines it logged so far.
    pub fn log(&self) -> Vec<String> {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A running cluster.
pub struct Cluster {
    /// The processes, in start order.
    pub processes: Vec<Process>,
    /// Coordination's base URL.
    pub coordination: String,
    /// HTTP client for the tests.
    pub client: reqwest::Client,
    pg: String,
    nats: String,
    redis: String,
    namespace: String,
    coordination_listen: String,
    extra_env: Vec<(String, String)>,
}

impl Cluster {
    /// Coordination alone, with the admin in identity's database; `None` when the
    /// environment lacks the distributed shape. `extra_env` goes to every process.
    pub fn start(extra_env: &[(&str, &str)]) -> Option<Self> {
        let (pg, nats, redis) = environment()?;
        let namespace = format!("vc{}", &uuid::Uuid::now_v7().simple().to_string()[20..]);
        // Coordination's port is chosen here: every other process is told it.
        let port = running::free_port();
        let mut cluster = Self {
            processes: Vec::new(),
            coordination: format!("http://127.0.0.1:{port}"),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("client"),
            pg,
            nats,
            redis,
            namespace,
            coordination_listen: format!("127.0.0.1:{port}"),
            extra_env: extra_env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        };
        let admin = Command::new(env!("CARGO_BIN_EXE_viscount"))
            .args([
                "admin",
                "create",
                "--email",
                ADMIN_EMAIL,
                "--password",
                ADMIN_PASSWORD,
            ])
            .args([
                "--service",
                "identity",
                "--database-url",
                &cluster.database("identity"),
            ])
            .output()
            .expect("viscount admin create runs");
        assert!(
            admin.status.success(),
            "admin create failed: {}",
            String::from_utf8_lossy(&admin.stderr)
        );
        cluster.spawn("coordination");
        Some(cluster)
    }

    /// The database URL of `service`.
    pub fn database(&self, service: &str) -> String {
        format!(
            "{}/{}_{service}",
            self.pg.trim_end_matches('/'),
            self.namespace
        )
    }

    /// Starts one more `viscount serve <service>` and waits until it serves; returns its
    /// index in `processes`.
    pub fn spawn(&mut self, service: &str) -> usize {
        let listen = if service == "coordination" {
            self.coordination_listen.clone()
        } else {
            "127.0.0.1:0".to_owned()
        };
        let mut command = Command::new(env!("CARGO_BIN_EXE_viscount"));
        command
            .args(["serve", service, "--listen", &listen])
            .args([
                "--nats-url",
                &self.nats,
                "--nats-namespace",
                &self.namespace,
            ])
            .args(["--coordination-url", &self.coordination])
            .env("VISCOUNT_DISCOVERY__SERVICE_TOKEN", SERVICE_TOKEN)
            .env("VISCOUNT_DISCOVERY__TTL_SECONDS", "3")
            .env("VISCOUNT_DISCOVERY__REFRESH_MS", "250")
            .env("VISCOUNT_REDIS_URL", &self.redis)
            .env("VISCOUNT_LOG", "info")
            .env_remove("VISCOUNT_DATABASE_URL")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if service != "gateway" {
            command.args(["--database-url", &self.database(service)]);
        }
        for (key, value) in &self.extra_env {
            command.env(key, value);
        }
        let mut child = command.spawn().expect("viscount serve starts");
        let stderr = child.stderr.take().expect("stderr piped");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<String>();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Ok(entry) = serde_json::from_str::<Value>(&line)
                    && entry["message"] == "serving"
                    && let Some(url) = entry["url"].as_str()
                {
                    let _ = ready_tx.send(url.to_owned());
                }
                if let Ok(mut lines) = sink.lock() {
                    lines.push(line);
                }
            }
        });
        let url = match ready_rx.recv_timeout(Duration::from_secs(60)) {
            Ok(url) => url,
            Err(_) => {
                let _ = child.kill();
                let lines = log.lock().map(|l| l.join("\n")).unwrap_or_default();
                panic!("{service} did not start:\n{lines}");
            }
        };
        self.processes.push(Process {
            service: service.to_owned(),
            url,
            child,
            log,
        });
        self.processes.len() - 1
    }

    /// Every process of `service`.
    pub fn all(&self, service: &str) -> Vec<&Process> {
        self.processes
            .iter()
            .filter(|p| p.service == service)
            .collect()
    }

    /// The first gateway's base URL.
    pub fn gateway(&self) -> String {
        self.all("gateway")
            .first()
            .map(|p| p.url.clone())
            .expect("a gateway runs")
    }

    /// Waits until coordination lists `count` instances of `service` as up.
    pub async fn wait_registered(&self, service: &str, count: usize) {
        eventually(
            Duration::from_secs(30),
            &format!("{count} {service} up"),
            || async {
                let up = self.instances(service).await?;
                (up.iter().filter(|i| i["status"] == "up").count() == count).then_some(())
            },
        )
        .await;
    }

    /// The instances coordination lists for `service` (asked with the service token).
    pub async fn instances(&self, service: &str) -> Option<Vec<Value>> {
        let listed: Value = self
            .client
            .get(format!(
                "{}/api/v1/services?service={service}",
                self.coordination
            ))
            .bearer_auth(SERVICE_TOKEN)
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        Some(
            listed
                .as_array()?
                .iter()
                .filter(|entry| entry["service"] == service)
                .flat_map(|entry| entry["instances"].as_array().cloned().unwrap_or_default())
                .collect(),
        )
    }

    /// An admin access token, signed in through the gateway at `base`.
    pub async fn admin_token_at(&self, base: &str) -> String {
        self.login(base, ADMIN_EMAIL, ADMIN_PASSWORD).await
    }

    /// An access token of `email`, signed in through the gateway at `base`.
    pub async fn login(&self, base: &str, email: &str, password: &str) -> String {
        eventually(Duration::from_secs(30), "sign-in", || async {
            let answer: Value = self
                .client
                .post(format!("{base}/api/v1/auth/login"))
                .json(&json!({"email": email, "password": password}))
                .send()
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            answer["access_token"].as_str().map(str::to_owned)
        })
        .await
    }

    /// `http_requests_total` of `service` served by the process at `base` (every route).
    pub async fn requests_served(&self, base: &str, service: &str) -> f64 {
        let text = self
            .client
            .get(format!("{base}/metrics"))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("metrics text");
        text.lines()
            .filter(|line| {
                line.starts_with("viscount_http_requests_total{")
                    && line.contains(&format!("service=\"{service}\""))
                    && line.contains("route=\"/api/")
            })
            .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for process in &mut self.processes {
            process.kill();
        }
        let databases: Vec<String> = [
            "coordination",
            "identity",
            "catalog",
            "inventory",
            "payments",
            "ordering",
            "fulfillment",
            "notifications",
            "ingestion",
            "analytics",
            "support",
        ]
        .iter()
        .map(|s| self.database(s))
        .collect();
        drop_databases_and_streams(
            databases,
            platform::bus::NatsOptions {
                url: self.nats.clone(),
                namespace: self.namespace.clone(),
            },
        );
    }
}

/// Drops a test's PostgreSQL databases and its NATS namespace's streams, from a `Drop`
/// (which cannot await: on a runtime of its own, on a thread of its own).
pub fn drop_databases_and_streams(databases: Vec<String>, nats: platform::bus::NatsOptions) {
    let cleanup = std::thread::spawn(move || {
        let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        runtime.block_on(async move {
            for url in databases {
                let _ = platform::db::drop_postgres_database(&url).await;
            }
            if let Ok(bus) = platform::bus::NatsBus::connect(&nats).await {
                let _ = bus.delete_namespace().await;
            }
        });
    });
    let _ = cleanup.join();
}

/// Creates a product `sku` with plenty of stock and waits until ordering prices it.
pub async fn stocked(cluster: &Cluster, gateway: &str, admin: &str, sku: &str) -> String {
    let client = &cluster.client;
    let product: Value = client
        .post(format!("{gateway}/api/v1/products"))
        .bearer_auth(admin)
        .json(
            &json!({"sku": sku, "name": format!("Product {sku}"), "description": "for sale",
                      "price": {"amount": 1500, "currency": "USD"}}),
        )
        .send()
        .await
        .expect("create product")
        .json()
        .await
        .expect("product");
    let id = product["id"].as_str().expect("product id").to_owned();
    let warehouse = client
        .post(format!("{gateway}/api/v1/warehouses"))
        .bearer_auth(admin)
        .json(&json!({"code": "MAIN", "name": "Main"}))
        .send()
        .await
        .expect("warehouse");
    assert!([201, 409].contains(&warehouse.status().as_u16()));
    let adjusted = client
        .post(format!("{gateway}/api/v1/inventory/adjust"))
        .bearer_auth(admin)
        .json(&json!({"sku": sku, "warehouse_id": "MAIN", "delta": 100000, "reason": "received"}))
        .send()
        .await
        .expect("adjust");
    assert_eq!(adjusted.status(), 200);
    let cart: Value = client
        .post(format!("{gateway}/api/v1/carts"))
        .bearer_auth(admin)
        .json(&json!({}))
        .send()
        .await
        .expect("cart")
        .json()
        .await
        .expect("cart json");
    let cart = cart["id"].as_str().expect("cart id").to_owned();
    eventually(
        Duration::from_secs(30),
        "ordering knows the price",
        || async {
            let r = client
                .put(format!("{gateway}/api/v1/carts/{cart}/items"))
                .bearer_auth(admin)
                .json(&json!({"sku": sku, "quantity": 1}))
                .send()
                .await
                .ok()?;
            (r.status() == 200).then_some(())
        },
    )
    .await;
    id
}

/// Polls `check` until it gives a value or `deadline` passes (then panics naming `what`).
pub async fn eventually<T, F, Fut>(deadline: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let until = Instant::now() + deadline;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < until, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
