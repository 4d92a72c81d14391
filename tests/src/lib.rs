//! The test sandbox: the whole platform in one process, in either shape, on a port-0
//! gateway, with its own databases that are dropped afterwards.
//!
//! - [`Shape::Embedded`]: SQLite files in a temporary directory and the embedded bus.
//! - [`Shape::Distributed`]: fresh PostgreSQL databases and a fresh NATS namespace per
//!   test, from `VISCOUNT_TEST_POSTGRES_URL` and `VISCOUNT_TEST_NATS_URL`. When they are
//!   not set the test says it is skipped and passes, unless
//!   `VISCOUNT_TEST_REQUIRE_DISTRIBUTED=1` (CI), where it fails. With
//!   `VISCOUNT_TEST_REDIS_URL` the gateway keeps its rate-limit counts and cache in
//!   Redis, under a key prefix of the test's own; without it, in memory.
//!
//! Every test platform's gateway gets generous rate limits and no response cache
//! unless the test's configuration sets `[gateway.rate_limits]` or `[gateway.cache]`
//! itself (see [`spawn_app_with`]).
//!
//! [`both_shapes!`] writes each test once and runs it in both.

pub mod browser;
pub mod localstripe;
pub mod providers;
pub mod receiver;
pub mod shop;
pub mod smtp;

use std::time::Duration;

use platform::bus::{NatsBus, NatsOptions};
use platform::config::ConfigSource;
use platform::shutdown::Shutdown;
use platform::time::Clock;
use serde_json::{Value, json};
use viscount::{PlatformOptions, RunningPlatform, Storage};

/// Which adapters the platform runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// SQLite + embedded bus.
    Embedded,
    /// PostgreSQL + NATS JetStream.
    Distributed,
}

/// Server URLs of the distributed shape, or `None` (with a printed notice) when the
/// environment does not provide them.
pub fn distributed_env() -> Option<(String, String)> {
    let pg = std::env::var("VISCOUNT_TEST_POSTGRES_URL").ok();
    let nats = std::env::var("VISCOUNT_TEST_NATS_URL").ok();
    match (pg, nats) {
        (Some(pg), Some(nats)) => Some((pg, nats)),
        _ => {
            if std::env::var("VISCOUNT_TEST_REQUIRE_DISTRIBUTED").is_ok_and(|v| v == "1") {
                panic!(
                    "distributed shape required but VISCOUNT_TEST_POSTGRES_URL / VISCOUNT_TEST_NATS_URL are not set"
                );
            }
            eprintln!(
                "SKIPPED: distributed shape (VISCOUNT_TEST_POSTGRES_URL and VISCOUNT_TEST_NATS_URL not set)"
            );
            None
        }
    }
}

/// `VISCOUNT_TEST_REDIS_URL`, the Redis of the distributed shape's gateway.
pub fn redis_env() -> Option<String> {
    std::env::var("VISCOUNT_TEST_REDIS_URL")
        .ok()
        .filter(|url| !url.is_empty())
}

/// `config` with the harness's defaults for what the test did not configure itself:
/// rate limits no test reaches by accident (they all call from 127.0.0.1, the one
/// anonymous caller) and no response cache (tests read their own writes at once,
/// including writes that bypass the gateway, which only the cache's TTL would
/// bound). Tests of those features set `[gateway.rate_limits]` / `[gateway.cache]`.
/// And `/metrics` on the gateway's listener (`[gateway] public_metrics`, off in
/// production), where tests read the process's metrics.
fn with_test_defaults(config: ConfigSource) -> ConfigSource {
    let gateway = config.table("gateway");
    let limits = !gateway.contains_key("rate_limits");
    let cache = !gateway.contains_key("cache");
    let metrics = !gateway.contains_key("public_metrics");
    if !limits && !cache && !metrics {
        return config;
    }
    let mut table: toml::Table = config.section("").expect("configuration reads");
    let section = table
        .entry("gateway")
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    let Some(section) = section.as_table_mut() else {
        return config;
    };
    if limits {
        let generous = 1_000_000_000_i64;
        let mut rate_limits = toml::Table::new();
        for tier in [
            "anonymous_per_minute",
            "user_per_minute",
            "premium_per_minute",
        ] {
            rate_limits.insert(tier.into(), toml::Value::Integer(generous));
        }
        section.insert("rate_limits".into(), toml::Value::Table(rate_limits));
    }
    if cache {
        let mut off = toml::Table::new();
        off.insert("enabled".into(), toml::Value::Boolean(false));
        section.insert("cache".into(), toml::Value::Table(off));
    }
    if metrics {
        section.insert("public_metrics".into(), toml::Value::Boolean(true));
    }
    let text = toml::to_string(&table).expect("configuration writes");
    ConfigSource::from_parts(&text, std::iter::empty::<(String, String)>())
        .expect("configuration reads back")
}

/// A unique lowercase name for this test's databases and streams.
pub fn unique_namespace() -> String {
    format!("vt{}", &uuid::Uuid::now_v7().simple().to_string()[20..])
}

/// Storage for one test, and what to clean up after it.
pub struct TestStorage {
    /// The storage to start services on.
    pub storage: Storage,
    dir: Option<tempfile::TempDir>,
    cleanup: Option<(Vec<String>, NatsOptions)>,
}

impl TestStorage {
    /// Fresh storage of `shape`; `None` when the distributed shape is unavailable.
    pub fn new(shape: Shape) -> Option<Self> {
        match shape {
            Shape::Embedded => {
                let dir = tempfile::tempdir().expect("temp dir");
                Some(Self {
                    storage: Storage::Embedded {
                        data_dir: dir.path().to_path_buf(),
                    },
                    dir: Some(dir),
                    cleanup: None,
                })
            }
            Shape::Distributed => {
                let (pg, nats) = distributed_env()?;
                let namespace = unique_namespace();
                let nats = NatsOptions {
                    url: nats,
                    namespace: namespace.clone(),
                };
                let storage = Storage::Distributed {
                    postgres_url: pg,
                    database_prefix: format!("{namespace}_"),
                    nats: nats.clone(),
                    redis_url: redis_env(),
                };
                let urls = platform::service::ServiceKind::all()
                    .iter()
                    .map(|k| storage.database_url(*k))
                    .chain(["test_producer", "test_consumer"].map(|n| match &storage {
                        Storage::Distributed {
                            postgres_url,
                            database_prefix,
                            ..
                        } => {
                            format!(
                                "{}/{database_prefix}{n}",
                                postgres_url.trim_end_matches('/')
                            )
                        }
                        Storage::Embedded { .. } => unreachable!(),
                    }))
                    .collect();
                Some(Self {
                    storage,
                    dir: None,
                    cleanup: Some((urls, nats)),
                })
            }
        }
    }

    /// The database URL for an extra database named `name` (bus tests: `test_producer`,
    /// `test_consumer`), dropped with the rest.
    pub fn extra_database_url(&self, name: &str) -> String {
        match &self.storage {
            Storage::Embedded { data_dir } => platform::db::sqlite_url(data_dir, name),
            Storage::Distributed {
                postgres_url,
                database_prefix,
                ..
            } => format!(
                "{}/{database_prefix}{name}",
                postgres_url.trim_end_matches('/')
            ),
        }
    }

    /// The temporary directory of the embedded shape.
    pub fn data_dir(&self) -> Option<&std::path::Path> {
        self.dir.as_ref().map(|d| d.path())
    }
}

impl Drop for TestStorage {
    fn drop(&mut self) {
        let Some((urls, nats)) = self.cleanup.take() else {
            return;
        };
        // Drop runs outside async context guarantees; clean up on a thread of its own.
        let cleanup = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async move {
                for url in urls {
                    let _ = platform::db::drop_postgres_database(&url).await;
                }
                if let Ok(bus) = NatsBus::connect(&nats).await {
                    let _ = bus.delete_namespace().await;
                }
            });
        });
        let _ = cleanup.join();
    }
}

/// The whole platform for one test.
pub struct TestApp {
    /// `http://127.0.0.1:<port>` of the gateway.
    pub base: String,
    /// HTTP client.
    pub client: reqwest::Client,
    /// The services' clock; move it instead of sleeping.
    pub clock: Clock,
    /// The running platform.
    pub platform: Option<RunningPlatform>,
    /// Which shape.
    pub shape: Shape,
    storage: TestStorage,
    config: ConfigSource,
}

/// Starts the platform in `shape`; `None` when the distributed shape is unavailable.
pub async fn spawn_app(shape: Shape) -> Option<TestApp> {
    spawn_app_with(shape, ConfigSource::default()).await
}

/// Starts the platform in `shape` configured by the `VISCOUNT_*` variables `vars`
/// (name, value) alone; see [`spawn_app_with`].
pub async fn spawn_app_with_vars(shape: Shape, vars: &[(&str, &str)]) -> Option<TestApp> {
    let vars: Vec<(String, String)> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let config = ConfigSource::from_parts("", vars).expect("configuration variables read");
    spawn_app_with(shape, config).await
}

/// Starts the platform in `shape` with `config` (e.g. an SMTP server of the test's own,
/// from [`ConfigSource::from_parts`]); it is kept across [`TestApp::restart`]. The
/// gateway's rate limits and cache follow the harness's defaults unless `config`
/// sets them (see [`with_test_defaults`]).
pub async fn spawn_app_with(shape: Shape, config: ConfigSource) -> Option<TestApp> {
    spawn_app_listening(shape, config, "127.0.0.1:0".into()).await
}

/// Starts the platform in `shape` with `vars`, on an address chosen first so that
/// identity's issuer is that address: a browser signing in through the console is sent
/// back to it (the console's redirect URI is `{issuer}/auth/callback`).
pub async fn spawn_app_at_its_issuer(shape: Shape, vars: &[(&str, &str)]) -> Option<TestApp> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    let issuer = format!("http://127.0.0.1:{port}");
    let mut vars: Vec<(String, String)> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    vars.push(("VISCOUNT_IDENTITY__ISSUER".into(), issuer));
    let config = ConfigSource::from_parts("", vars).expect("configuration variables read");
    spawn_app_listening(shape, config, format!("127.0.0.1:{port}")).await
}

async fn spawn_app_listening(
    shape: Shape,
    config: ConfigSource,
    listen: String,
) -> Option<TestApp> {
    let config = with_test_defaults(config);
    // Failing tests show the services' warnings and errors (nextest keeps the output
    // of passing tests to itself).
    platform::telemetry::init_logging(platform::telemetry::LogFormat::Pretty);
    let storage = TestStorage::new(shape)?;
    let clock = Clock::system();
    let platform = RunningPlatform::start(
        PlatformOptions {
            storage: storage.storage.clone(),
            listen,
            config: config.clone(),
            clock: clock.clone(),
            bootstrap_admin: Some(("admin@viscount.test".into(), "admin-password-1".into())),
        },
        Shutdown::new(),
    )
    .await
    .expect("platform starts");
    Some(TestApp {
        base: format!("http://{}", platform.addr),
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client"),
        clock,
        platform: Some(platform),
        shape,
        storage,
        config,
    })
}

/// Runs each named test function in both shapes, for tests that start the platform
/// themselves (their own configuration, two apps): `in_both_shapes!(name, ...)` over
/// `async fn name(shape: Shape)`.
#[macro_export]
macro_rules! in_both_shapes {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn embedded() {
                    super::$name($crate::Shape::Embedded).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn distributed() {
                    super::$name($crate::Shape::Distributed).await;
                }
            }
        )*
    };
}

/// Writes each test once and runs it in both shapes:
/// `both_shapes! { async fn name(app) { ... } }`.
#[macro_export]
macro_rules! both_shapes {
    ($(async fn $name:ident($app:ident) $body:block)*) => {
        $(
            mod $name {
                #[allow(unused_imports)]
                use super::*;

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn embedded() {
                    let $app = $crate::spawn_app($crate::Shape::Embedded).await.expect("embedded shape");
                    $body
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn distributed() {
                    let Some($app) = $crate::spawn_app($crate::Shape::Distributed).await else {
                        return;
                    };
                    $body
                }
            }
        )*
    };
}

/// Polls `check` every 20 ms until it returns `Some`, or panics after `deadline`.
pub async fn eventually<T, F, Fut>(deadline: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let started = std::time::Instant::now();
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(started.elapsed() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The admin account every test platform starts with.
pub const ADMIN_EMAIL: &str = "admin@viscount.test";
/// Its password.
pub const ADMIN_PASSWORD: &str = "admin-password-1";
/// The password test users get.
pub const PASSWORD: &str = "correct horse battery";

/// A signed-in test user.
#[derive(Debug, Clone)]
pub struct TestUser {
    /// User id.
    pub id: String,
    /// Email.
    pub email: String,
    /// Access token.
    pub access: String,
    /// Refresh token.
    pub refresh: String,
}

impl TestApp {
    /// `base + path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The identity service of this platform.
    pub fn identity(&self) -> &identity::Identity {
        self.platform
            .as_ref()
            .and_then(|p| p.services.get::<identity::Identity>())
            .expect("identity runs")
    }

    /// Stops the platform mid-flight (its consumers and relays stop between saga
    /// steps) and starts it again on the same databases and streams, as after every
    /// process went down at once. The gateway comes back on a new port.
    pub async fn restart(&mut self) {
        if let Some(platform) = self.platform.take() {
            platform.stop().await.expect("platform stops");
        }
        let platform = RunningPlatform::start(
            PlatformOptions {
                storage: self.storage.storage.clone(),
                listen: "127.0.0.1:0".into(),
                config: self.config.clone(),
                clock: self.clock.clone(),
                bootstrap_admin: Some((ADMIN_EMAIL.into(), ADMIN_PASSWORD.into())),
            },
            Shutdown::new(),
        )
        .await
        .expect("platform restarts");
        self.base = format!("http://{}", platform.addr);
        self.platform = Some(platform);
    }

    /// The live configuration of the platform (its services and gateway): publish a
    /// document into it as coordination would after an accepted change.
    pub fn live(&self) -> &platform::live::LiveConfig {
        &self.platform.as_ref().expect("platform runs").live
    }

    /// The storage this platform runs on.
    pub fn storage(&self) -> &TestStorage {
        &self.storage
    }

    /// POST JSON, optionally with a bearer token.
    pub async fn post(&self, path: &str, token: Option<&str>, body: &Value) -> reqwest::Response {
        let mut request = self.client.post(self.url(path)).json(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.expect("request sent")
    }

    /// PUT JSON with a bearer token.
    pub async fn put(&self, path: &str, token: &str, body: &Value) -> reqwest::Response {
        self.client
            .put(self.url(path))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .expect("request sent")
    }

    /// PATCH JSON with a bearer token.
    pub async fn patch(&self, path: &str, token: &str, body: &Value) -> reqwest::Response {
        self.client
            .patch(self.url(path))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .expect("request sent")
    }

    /// GET, optionally with a bearer token.
    pub async fn get(&self, path: &str, token: Option<&str>) -> reqwest::Response {
        let mut request = self.client.get(self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.expect("request sent")
    }

    /// DELETE with a bearer token.
    pub async fn delete(&self, path: &str, token: &str) -> reqwest::Response {
        self.client
            .delete(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("request sent")
    }

    /// Registers `email` with [`PASSWORD`] and returns the created user.
    pub async fn register(&self, email: &str) -> Value {
        let response = self
            .post(
                "/api/v1/users",
                None,
                &json!({"email": email, "password": PASSWORD, "name": "Test User"}),
            )
            .await;
        assert_eq!(response.status(), 201, "register {email}");
        response.json().await.expect("json")
    }

    /// Signs in and returns the token response.
    pub async fn login(&self, email: &str, password: &str) -> reqwest::Response {
        self.post(
            "/api/v1/auth/login",
            None,
            &json!({"email": email, "password": password}),
        )
        .await
    }

    /// Registers and signs in a new user with a unique email.
    pub async fn user(&self, label: &str) -> TestUser {
        let email = format!(
            "{label}-{}@example.com",
            &uuid::Uuid::now_v7().simple().to_string()[20..]
        );
        let created = self.register(&email).await;
        let response = self.login(&email, PASSWORD).await;
        assert_eq!(response.status(), 200, "login {email}");
        let tokens: Value = response.json().await.expect("json");
        TestUser {
            id: created["id"].as_str().expect("id").to_owned(),
            email,
            access: tokens["access_token"].as_str().expect("access").to_owned(),
            refresh: tokens["refresh_token"]
                .as_str()
                .expect("refresh")
                .to_owned(),
        }
    }

    /// Signs in as the bootstrap admin.
    pub async fn admin(&self) -> TestUser {
        let response = self.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
        assert_eq!(response.status(), 200, "admin login");
        let tokens: Value = response.json().await.expect("json");
        let access = tokens["access_token"].as_str().expect("access").to_owned();
        let me: Value = self
            .get("/api/v1/users/me", Some(&access))
            .await
            .json()
            .await
            .expect("json");
        TestUser {
            id: me["id"].as_str().expect("id").to_owned(),
            email: ADMIN_EMAIL.into(),
            access,
            refresh: tokens["refresh_token"]
                .as_str()
                .expect("refresh")
                .to_owned(),
        }
    }

    /// How many live users match `q` (admin search), to prove nothing was written.
    pub async fn count_users(&self, q: &str) -> usize {
        let admin = self.admin().await;
        let response = self
            .client
            .get(self.url("/api/v1/users/search"))
            .query(&[("q", q), ("limit", "100")])
            .bearer_auth(&admin.access)
            .send()
            .await
            .expect("search");
        assert_eq!(response.status(), 200);
        let list: Value = response.json().await.expect("json");
        list["items"].as_array().map(Vec::len).unwrap_or(0)
    }
}

/// Asserts `response` is a problem+json of `status` and returns its body.
pub async fn assert_problem(response: reqwest::Response, status: u16) -> Value {
    assert_eq!(response.status().as_u16(), status, "status");
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    assert!(
        content_type.starts_with("application/problem+json"),
        "content type {content_type}"
    );
    let body: Value = response.json().await.expect("problem json");
    assert_eq!(body["status"], status);
    assert!(body["type"].as_str().is_some_and(|t| !t.is_empty()), "type");
    assert!(
        body["title"].is_string() && body["detail"].is_string(),
        "title and detail"
    );
    body
}

/// The current TOTP code for a base32 secret at the clock's time.
pub fn totp_now(secret_base32: &str, clock: &Clock) -> String {
    let secret = data_encoding::BASE32_NOPAD
        .decode(secret_base32.as_bytes())
        .expect("base32");
    let step = identity::domain::totp::step_at(clock.now_secs());
    format!("{:06}", identity::domain::totp::code_at_step(&secret, step))
}

/// The field names of a 422 problem's `errors`.
pub fn error_fields(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .filter_map(|e| e["field"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}
