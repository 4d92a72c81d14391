//! Black-box tests of the `viscount` binary: its help, its commands, and the platform
//! it starts, driven over HTTP and killed like an operator would.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::time::Instant;

mod support;

use support::running::{Running, STARTUP, free_port, viscount};

const PASSWORD: &str = "correct horse battery";
const ADMIN_EMAIL: &str = "boss@example.com";
const ADMIN_PASSWORD: &str = "boss-password-1";

/// Runs `viscount args...` to completion.
fn run(cwd: &Path, args: &[&str]) -> Output {
    viscount(cwd)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("viscount runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `viscount up` on `data_dir` with a port-0 gateway.
fn up(data_dir: &Path, bootstrap_admin: bool) -> Running {
    let mut command = viscount(data_dir);
    command.args([
        "up",
        "--data-dir",
        &data_dir.display().to_string(),
        "--listen",
        "127.0.0.1:0",
    ]);
    if bootstrap_admin {
        command
            .env("VISCOUNT_BOOTSTRAP_ADMIN_EMAIL", ADMIN_EMAIL)
            .env("VISCOUNT_BOOTSTRAP_ADMIN_PASSWORD", ADMIN_PASSWORD);
    }
    Running::spawn(command)
}

/// The NATS server `serve` needs and a namespace of the test's own; `None` (skipped)
/// without one, a failure when the distributed shape is required.
fn nats() -> Option<(String, String)> {
    match std::env::var("VISCOUNT_TEST_NATS_URL") {
        Ok(url) => Some((
            url,
            format!("cli{}", &uuid::Uuid::now_v7().simple().to_string()[20..]),
        )),
        Err(_) => {
            assert!(
                std::env::var("VISCOUNT_TEST_REQUIRE_DISTRIBUTED").as_deref() != Ok("1"),
                "VISCOUNT_TEST_NATS_URL is required"
            );
            eprintln!("SKIPPED: `serve` needs NATS (VISCOUNT_TEST_NATS_URL)");
            None
        }
    }
}

/// `viscount serve <service> --listen 127.0.0.1:0 <extra...>` on `nats` (url, namespace)
/// with a service token; coordination is not running, so discovery only warns and the
/// services are wired with `--upstream`.
fn serve(cwd: &Path, service: &str, nats: &(String, String), extra: &[&str]) -> Running {
    serve_with(cwd, service, nats, extra, &[])
}

/// [`serve`] with environment variables `env`.
fn serve_with(
    cwd: &Path,
    service: &str,
    nats: &(String, String),
    extra: &[&str],
    env: &[(&str, &str)],
) -> Running {
    let mut command = viscount(cwd);
    command.envs(env.iter().copied());
    command
        .args(["serve", service, "--listen", "127.0.0.1:0"])
        .args(["--nats-url", &nats.0, "--nats-namespace", &nats.1])
        .args(["--coordination-url", "http://127.0.0.1:9"])
        .env(
            "VISCOUNT_DISCOVERY__SERVICE_TOKEN",
            "cli-test-service-token",
        )
        .args(extra);
    Running::spawn(command)
}

/// Removes the NATS streams of a test's namespace.
async fn drop_streams(nats: &(String, String)) {
    let options = platform::bus::NatsOptions {
        url: nats.0.clone(),
        namespace: nats.1.clone(),
    };
    if let Ok(bus) = platform::bus::NatsBus::connect(&options).await {
        let _ = bus.delete_namespace().await;
    }
}

/// An HTTP client against one base URL.
struct Api {
    base: String,
    client: reqwest::Client,
}

impl Api {
    fn new(base: String) -> Self {
        Self {
            base,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("client"),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn get(&self, path: &str, token: Option<&str>) -> reqwest::Response {
        let mut request = self.client.get(self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.expect("request sent")
    }

    async fn register(&self, email: &str) -> Value {
        let response = self
            .client
            .post(self.url("/api/v1/users"))
            .json(&json!({"email": email, "password": PASSWORD, "name": "Test User"}))
            .send()
            .await
            .expect("request sent");
        assert_eq!(response.status(), 201, "register {email}");
        response.json().await.expect("json")
    }

    /// Signs in and returns the access token.
    async fn login(&self, email: &str, password: &str) -> String {
        let response = self
            .client
            .post(self.url("/api/v1/auth/login"))
            .json(&json!({"email": email, "password": password}))
            .send()
            .await
            .expect("request sent");
        assert_eq!(response.status(), 200, "login {email}");
        let tokens: Value = response.json().await.expect("json");
        tokens["access_token"]
            .as_str()
            .expect("access token")
            .to_owned()
    }

    async fn me(&self, token: &str) -> Value {
        let response = self.get("/api/v1/users/me", Some(token)).await;
        assert_eq!(response.status(), 200, "me");
        response.json().await.expect("json")
    }

    /// Admin search for `q`: the matching users.
    async fn search(&self, admin_token: &str, q: &str) -> Vec<Value> {
        let response = self
            .client
            .get(self.url("/api/v1/users/search"))
            .query(&[("q", q), ("limit", "100")])
            .bearer_auth(admin_token)
            .send()
            .await
            .expect("request sent");
        assert_eq!(response.status(), 200, "search {q}");
        let list: Value = response.json().await.expect("json");
        list["items"].as_array().cloned().unwrap_or_default()
    }
}

fn roles(user: &Value) -> Vec<String> {
    user["roles"]
        .as_array()
        .map(|roles| {
            roles
                .iter()
                .filter_map(|r| r.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn help_of_every_command_exits_zero_and_lists_its_flags() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cases: &[(&[&str], &[&str])] = &[
        (
            &["--help"],
            &[
                "up", "serve", "migrate", "seed", "admin", "bench", "--config",
            ],
        ),
        (
            &["up", "--help"],
            &[
                "--data-dir",
                "--listen",
                "--distributed",
                "--postgres-url",
                "--nats-url",
                "--redis-url",
                "--replicas",
            ],
        ),
        (
            &["serve", "--help"],
            &[
                "--database-url",
                "--nats-url",
                "--listen",
                "--upstream",
                "--data-dir",
                "--nats-replicas",
            ],
        ),
        (
            &["migrate", "--help"],
            &["--data-dir", "--database-url", "--service"],
        ),
        (&["admin", "--help"], &["create"]),
        (
            &["verify", "--help"],
            &["--data-dir", "--postgres-url", "--nats-url", "--json"],
        ),
        (
            &["bench", "checkout", "--help"],
            &["--target", "--customers", "--duration", "--seed", "--json"],
        ),
        (&["seed", "--help"], &["--demo", "--products", "--data-dir"]),
        (
            &["admin", "create", "--help"],
            &["--email", "--password", "--data-dir", "--database-url"],
        ),
    ];
    for (args, flags) in cases {
        let output = run(dir.path(), args);
        let stdout = text(&output.stdout);
        assert!(
            output.status.success(),
            "viscount {args:?} exits 0: {}",
            text(&output.stderr)
        );
        for flag in *flags {
            assert!(
                stdout.contains(flag),
                "viscount {args:?} mentions {flag}:\n{stdout}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_serves_the_platform_and_its_data_survives_a_kill_dash_nine() {
    let dir = tempfile::tempdir().expect("temp dir");
    let email = "ann@example.com";

    let mut first = up(dir.path(), true);
    let api = Api::new(first.url_of("viscount is up").await);
    assert!(
        first.logged("bootstrap admin created"),
        "the first start creates the admin:\n{}",
        first.log.join("\n")
    );
    let created = api.register(email).await;
    let token = api.login(email, PASSWORD).await;
    let me = api.me(&token).await;
    assert_eq!(me["email"], email);
    assert_eq!(me["id"], created["id"]);
    let admin_token = api.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert!(
        roles(&api.me(&admin_token).await).contains(&"admin".to_owned()),
        "the bootstrap admin is an admin"
    );
    assert!(
        dir.path().join("identity.db").exists(),
        "data lives in --data-dir"
    );

    first.kill();
    let refused = api.client.get(api.url("/health")).send().await;
    assert!(refused.is_err(), "the killed process no longer answers");

    let mut second = up(dir.path(), true);
    let api = Api::new(second.url_of("viscount is up").await);
    assert!(
        !second.logged("bootstrap admin created"),
        "the admin exists already:\n{}",
        second.log.join("\n")
    );
    let token = api.login(email, PASSWORD).await;
    let me = api.me(&token).await;
    assert_eq!(me["email"], email, "the user survived the kill");
    assert_eq!(me["id"], created["id"]);
    let admin_token = api.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let admins = api.search(&admin_token, ADMIN_EMAIL).await;
    assert_eq!(admins.len(), 1, "one admin after two starts: {admins:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_reports_mistyped_configuration_keys_at_start_naming_the_nearest() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        dir.path().join("viscount.toml"),
        "[gateway.rate_limits]\nanonymous_per_minut = 5\n\n[catlog]\nsearch = 1\n",
    )
    .expect("config file");
    let mut command = viscount(dir.path());
    command
        .args(["up", "--data-dir", &dir.path().display().to_string()])
        .args(["--listen", "127.0.0.1:0"])
        .env("VISCOUNT_INVENTORY__DEFAULT_LOW_STOCK_THRESHOLDD", "3")
        .env("VISCOUNT_GATEWAY__RATE_LIMITS__USER_PER_MINUTE", "500");
    let mut platform = Running::spawn(command);
    platform.wait_for("viscount is up").await;
    let warnings: Vec<Value> = platform
        .log
        .iter()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|event| event["message"] == "unknown configuration key ignored (mistyped?)")
        .collect();
    let named = |key: &str| warnings.iter().find(|w| w["key"] == key).cloned();
    let rate =
        named("gateway.rate_limits.anonymous_per_minut").expect("the file's typo is reported");
    assert_eq!(rate["nearest"], "gateway.rate_limits.anonymous_per_minute");
    assert!(
        named("catlog").is_some(),
        "an unknown section is reported: {warnings:?}"
    );
    let threshold =
        named("inventory.default_low_stock_thresholdd").expect("the variable's typo is reported");
    assert_eq!(
        threshold["nearest_variable"],
        "VISCOUNT_INVENTORY__DEFAULT_LOW_STOCK_THRESHOLD"
    );
    assert_eq!(warnings.len(), 3, "only the typos: {warnings:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_names_its_own_address_as_the_tokens_issuer() {
    let dir = tempfile::tempdir().expect("temp dir");
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let mut command = viscount(dir.path());
    command
        .args(["up", "--data-dir", &dir.path().display().to_string()])
        .args(["--listen", &listen]);
    let mut platform = Running::spawn(command);
    platform.wait_for("viscount is up").await;
    let discovery: Value =
        reqwest::get(format!("http://{listen}/.well-known/openid-configuration"))
            .await
            .expect("discovery")
            .json()
            .await
            .expect("json");
    assert_eq!(discovery["issuer"], format!("http://{listen}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_create_before_up_makes_an_admin_who_can_sign_in() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data_dir = dir.path().join("data");
    let data = data_dir.display().to_string();
    let email = "x@example.com";
    let password = "x-admin-password";

    let output = run(
        dir.path(),
        &[
            "admin",
            "create",
            "--email",
            email,
            "--password",
            password,
            "--data-dir",
            &data,
        ],
    );
    assert!(
        output.status.success(),
        "admin create exits 0: {}",
        text(&output.stderr)
    );
    assert!(
        text(&output.stdout).contains(email),
        "admin create names the admin: {}",
        text(&output.stdout)
    );

    let mut running = up(&data_dir, false);
    let api = Api::new(running.url_of("viscount is up").await);
    let token = api.login(email, password).await;
    let me = api.me(&token).await;
    assert_eq!(me["email"], email);
    assert!(roles(&me).contains(&"admin".to_owned()), "roles {me}");
}

#[test]
fn admin_create_refuses_a_short_password() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().display().to_string();
    let output = run(
        dir.path(),
        &[
            "admin",
            "create",
            "--email",
            "x@example.com",
            "--password",
            "short",
            "--data-dir",
            &data,
        ],
    );
    assert!(!output.status.success(), "a short password fails");
    assert!(
        text(&output.stderr).contains("password"),
        "the error names the password: {}",
        text(&output.stderr)
    );
}

#[test]
fn migrate_creates_the_identity_database_in_the_data_dir() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data_dir = dir.path().join("fresh");
    let output = run(
        dir.path(),
        &["migrate", "--data-dir", &data_dir.display().to_string()],
    );
    assert!(
        output.status.success(),
        "migrate exits 0: {}",
        text(&output.stderr)
    );
    assert!(
        data_dir.join("identity.db").is_file(),
        "identity.db created"
    );
    assert!(
        text(&output.stdout).contains("identity: migrated"),
        "migrate reports each service: {}",
        text(&output.stdout)
    );

    let again = run(
        dir.path(),
        &["migrate", "--data-dir", &data_dir.display().to_string()],
    );
    assert!(
        again.status.success(),
        "migrating twice is harmless: {}",
        text(&again.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_runs_identity_alone_and_a_gateway_in_front_of_it() {
    let Some(nats) = nats() else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().display().to_string();

    let mut identity = serve_with(
        dir.path(),
        "identity",
        &nats,
        &["--data-dir", &data],
        &[
            ("VISCOUNT_BOOTSTRAP_ADMIN_EMAIL", ADMIN_EMAIL),
            ("VISCOUNT_BOOTSTRAP_ADMIN_PASSWORD", ADMIN_PASSWORD),
        ],
    );
    let identity_url = identity.url_of("serving").await;
    let identity_api = Api::new(identity_url.clone());
    // A service alone answers `/health` too (its readiness).
    let health = identity_api.get("/health", None).await;
    assert_eq!(health.status(), 200, "identity's /health");
    let response = identity_api.get("/health/ready", None).await;
    assert_eq!(response.status(), 200, "identity is ready");
    let ready: Value = response.json().await.expect("json");
    assert_eq!(ready["service"], "identity");
    assert_eq!(ready["checks"]["database"]["status"], "ok", "{ready}");
    assert!(
        dir.path().join("identity.db").is_file(),
        "identity.db in --data-dir"
    );

    let upstream = format!("identity={identity_url}");
    let mut gateway = serve(dir.path(), "gateway", &nats, &["--upstream", &upstream]);
    let gateway_api = Api::new(gateway.url_of("serving").await);
    // Identity is there; the services no process runs are not (nothing is registered
    // with coordination), so the platform is not whole.
    let response = gateway_api.get("/health", None).await;
    assert_eq!(
        response.status(),
        503,
        "a platform of one service is not ready"
    );
    let health: Value = response.json().await.expect("json");
    assert_eq!(health["services"]["identity"]["status"], "ok", "{health}");
    assert_eq!(health["services"]["catalog"]["status"], "down", "{health}");

    gateway_api.register("ann@example.com").await;
    let token = gateway_api.login("ann@example.com", PASSWORD).await;
    assert_eq!(gateway_api.me(&token).await["email"], "ann@example.com");
    // The bootstrap admin was made by the identity process, as `up` makes it.
    let admin = gateway_api.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert!(roles(&gateway_api.me(&admin).await).contains(&"admin".to_owned()));
    drop_streams(&nats).await;
}

#[test]
fn serve_refuses_to_start_without_a_broker_or_the_service_token() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().display().to_string();
    let output = viscount(dir.path())
        .args(["serve", "ordering", "--data-dir", &data])
        .env("VISCOUNT_DISCOVERY__SERVICE_TOKEN", "a-token")
        .stdin(Stdio::null())
        .output()
        .expect("viscount runs");
    assert!(!output.status.success(), "no broker, no start");
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("--nats-url"),
        "the error says what is missing: {stderr}"
    );

    let output = run(
        dir.path(),
        &[
            "serve",
            "ordering",
            "--data-dir",
            &data,
            "--nats-url",
            "nats://127.0.0.1:9",
        ],
    );
    assert!(!output.status.success(), "no token, no start");
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("VISCOUNT_DISCOVERY__SERVICE_TOKEN"),
        "the error says what is missing: {stderr}"
    );
}

/// A NATS server that says it is `version` and answers pings, nothing more.
fn pretend_nats(version: &'static str) -> u16 {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("port");
    let port = listener.local_addr().expect("address").port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            std::thread::spawn(move || {
                let info = format!(
                    "INFO {{\"server_id\":\"pretend\",\"server_name\":\"pretend\",\"version\":\"{version}\",\"proto\":1,\"go\":\"go1\",\"host\":\"127.0.0.1\",\"port\":{port},\"headers\":true,\"max_payload\":1048576}}\r\n"
                );
                if stream.write_all(info.as_bytes()).is_err() {
                    return;
                }
                let mut buffer = [0u8; 4096];
                while let Ok(read) = stream.read(&mut buffer) {
                    if read == 0 {
                        return;
                    }
                    let text = String::from_utf8_lossy(&buffer[..read]);
                    for _ in 0..text.matches("PING").count() {
                        if stream.write_all(b"PONG\r\n").is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    port
}

#[test]
fn up_distributed_refuses_a_nats_server_older_than_2_10_naming_its_version() {
    let dir = tempfile::tempdir().expect("temp dir");
    let port = pretend_nats("2.9.10");
    let output = run(
        dir.path(),
        &[
            "up",
            "--distributed",
            "--nats-url",
            &format!("nats://127.0.0.1:{port}"),
        ],
    );
    assert!(!output.status.success(), "an old NATS, no start");
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("2.9.10") && stderr.contains("2.10 or newer"),
        "the error names the version found and the one needed: {stderr}"
    );
}

/// A real `nats-server` of the test's own (`VISCOUNT_TEST_NATS_BIN`, else the one
/// `scripts/test` keeps in `.tools/`) with `args`, killed when dropped; `None` (skipped)
/// without the binary, a failure when the distributed shape is required.
struct NatsServer {
    child: Child,
    port: u16,
    _store: tempfile::TempDir,
}

impl NatsServer {
    fn start(args: &[&str]) -> Option<Self> {
        let bin = std::env::var("VISCOUNT_TEST_NATS_BIN")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|_| {
                Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.tools/venv/bin/nats-server")
            });
        if !bin.exists() {
            assert!(
                std::env::var("VISCOUNT_TEST_REQUIRE_DISTRIBUTED").as_deref() != Ok("1"),
                "no nats-server binary at {}",
                bin.display()
            );
            eprintln!("SKIPPED: no nats-server binary");
            return None;
        }
        let store = tempfile::tempdir().expect("store dir");
        let port = free_port();
        let child = Command::new(&bin)
            .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
            .arg(store.path())
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server starts");
        let until = std::time::Instant::now() + STARTUP;
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(std::time::Instant::now() < until, "nats-server listens");
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(Self {
            child,
            port,
            _store: store,
        })
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn up_distributed_refuses_a_nats_server_without_jetstream() {
    let Some(nats) = NatsServer::start(&[]) else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let output = run(
        dir.path(),
        &["up", "--distributed", "--nats-url", &nats.url()],
    );
    assert!(!output.status.success(), "no JetStream, no start");
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("no JetStream") && stderr.contains("-js"),
        "the error says JetStream is missing and how to enable it: {stderr}"
    );
}

#[test]
fn up_distributed_refuses_a_redis_that_does_not_answer() {
    let Some(nats) = NatsServer::start(&["-js"]) else {
        return;
    };
    // A port nothing listens on.
    let closed = free_port();
    let redis = format!("redis://127.0.0.1:{closed}");
    let dir = tempfile::tempdir().expect("temp dir");
    let output = run(
        dir.path(),
        &[
            "up",
            "--distributed",
            "--nats-url",
            &nats.url(),
            "--redis-url",
            &redis,
        ],
    );
    assert!(!output.status.success(), "no Redis, no start");
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains(&format!("Redis at {redis} is not reachable"))
            && stderr.contains("--redis-url"),
        "the error names the Redis and the flag: {stderr}"
    );
}

#[test]
fn serve_refuses_an_unknown_service_by_name() {
    let dir = tempfile::tempdir().expect("temp dir");
    let output = run(dir.path(), &["serve", "nosuchservice"]);
    assert!(!output.status.success(), "an unknown service fails");
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("nosuchservice") && stderr.contains("unknown service"),
        "the error names the problem: {stderr}"
    );
}

#[test]
fn serve_refuses_an_upstream_that_is_not_a_url() {
    let dir = tempfile::tempdir().expect("temp dir");
    let output = run(
        dir.path(),
        &["serve", "gateway", "--upstream", "identity=127.0.0.1:8087"],
    );
    assert!(!output.status.success(), "a bad upstream fails");
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("--upstream") && stderr.contains("http://"),
        "the error names the problem: {stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_runs_inventory_alone_verifying_callers_with_a_remote_identity() {
    let Some(nats) = nats() else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().display().to_string();
    let created = run(
        dir.path(),
        &[
            "admin",
            "create",
            "--email",
            ADMIN_EMAIL,
            "--password",
            ADMIN_PASSWORD,
            "--data-dir",
            &data,
        ],
    );
    assert!(created.status.success(), "{}", text(&created.stderr));

    let mut identity = serve(dir.path(), "identity", &nats, &["--data-dir", &data]);
    let identity_url = identity.url_of("serving").await;
    let identity_upstream = format!("identity={identity_url}");
    let mut inventory = serve(
        dir.path(),
        "inventory",
        &nats,
        &["--data-dir", &data, "--upstream", &identity_upstream],
    );
    let inventory_url = inventory.url_of("serving").await;
    let upstreams = [
        format!("identity={identity_url}"),
        format!("inventory={inventory_url}"),
    ];
    let mut gateway = serve(
        dir.path(),
        "gateway",
        &nats,
        &["--upstream", &upstreams[0], "--upstream", &upstreams[1]],
    );
    let api = Api::new(gateway.url_of("serving").await);
    assert!(
        dir.path().join("inventory.db").is_file(),
        "inventory.db in --data-dir"
    );

    // A bearer token is verified in the inventory process with identity's JWKS.
    let admin = api.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let warehouse: Value = api
        .client
        .post(api.url("/api/v1/warehouses"))
        .bearer_auth(&admin)
        .json(&json!({"code": "main", "name": "Main"}))
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");
    let warehouse_id = warehouse["id"].as_str().expect("warehouse id");
    let adjusted = api
        .client
        .post(api.url("/api/v1/inventory/adjust"))
        .bearer_auth(&admin)
        .json(&json!({"sku": "SKU-1", "warehouse_id": warehouse_id, "delta": 3, "reason": "delivery"}))
        .send()
        .await
        .expect("sent");
    assert_eq!(adjusted.status(), 200);

    // An API key is introspected with identity from the inventory process.
    let key: Value = api
        .client
        .post(api.url("/api/v1/api-keys"))
        .bearer_auth(&admin)
        .json(&json!({"name": "ordering", "scopes": ["inventory:write"]}))
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");
    let reserve = |key: String| {
        api.client
            .post(api.url("/api/v1/inventory/reserve"))
            .header("x-api-key", key)
            .json(&json!({"order_id": "o-1", "items": [{"sku": "SKU-1", "quantity": 2}]}))
            .send()
    };
    assert_eq!(
        reserve("vsk_forged".into()).await.expect("sent").status(),
        401
    );
    assert_eq!(
        reserve(key["key"].as_str().expect("key").to_owned())
            .await
            .expect("sent")
            .status(),
        201
    );
    let stock: Value = api
        .get("/api/v1/inventory/SKU-1", None)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        (stock["on_hand"].as_i64(), stock["reserved"].as_i64()),
        (Some(3), Some(2))
    );
    let customer_token = {
        api.register("ann@example.com").await;
        api.login("ann@example.com", PASSWORD).await
    };
    let forbidden = api
        .client
        .post(api.url("/api/v1/inventory/adjust"))
        .bearer_auth(&customer_token)
        .json(&json!({"sku": "SKU-1", "warehouse_id": warehouse_id, "delta": 3, "reason": "x"}))
        .send()
        .await
        .expect("sent");
    assert_eq!(forbidden.status(), 403);
    drop_streams(&nats).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_demo_fills_catalog_and_stock_once_and_up_serves_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data_dir = dir.path().display().to_string();
    let seed = |products: &str| {
        run(
            dir.path(),
            &[
                "seed",
                "--demo",
                "--products",
                products,
                "--data-dir",
                &data_dir,
            ],
        )
    };
    let first = seed("40");
    assert!(first.status.success(), "seed: {}", text(&first.stderr));
    assert!(
        text(&first.stdout).contains("40 new"),
        "first seed creates every product: {}",
        text(&first.stdout)
    );
    let second = seed("40");
    assert!(
        second.status.success(),
        "seed again: {}",
        text(&second.stderr)
    );
    let said = text(&second.stdout);
    assert!(
        said.contains("(0 new)")
            && said.contains("0 categories new")
            && said.contains("0 skus stocked"),
        "a second seed changes nothing: {said}"
    );

    let mut platform = up(dir.path(), false);
    let api = Api::new(platform.url_of("viscount is up").await);
    let listed: Value = api
        .get("/api/v1/products?limit=100", None)
        .await
        .json()
        .await
        .expect("json");
    let items = listed["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(items.len(), 40, "every seeded product is listed");
    assert!(
        items
            .iter()
            .all(|p| !p["description"].as_str().unwrap_or("").is_empty())
    );

    // DEMO-00002 has 3 units; DEMO-00001 none.
    let stock: Value = api
        .get("/api/v1/inventory/DEMO-00002", None)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(stock["on_hand"], 3, "{stock}");
    let empty: Value = api
        .get("/api/v1/inventory/DEMO-00001", None)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(empty["on_hand"], 0, "{empty}");

    // The catalog learned the stock flags from inventory's events.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let in_stock: Value = api
            .get("/api/v1/products?in_stock=true&limit=100", None)
            .await
            .json()
            .await
            .expect("json");
        let count = in_stock["items"].as_array().map_or(0, Vec::len);
        if count == 38 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "38 of 40 demo products are in stock, saw {count}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let found: Value = api
        .get("/api/v1/products/search?q=lantern", None)
        .await
        .json()
        .await
        .expect("json");
    let hits = found["items"].as_array().cloned().unwrap_or_default();
    assert!(!hits.is_empty(), "search finds demo lanterns: {found}");
    assert!(
        hits.iter().all(|p| p["name"]
            .as_str()
            .unwrap_or("")
            .to_lowercase()
            .contains("lantern")
            || p["description"].as_str().unwrap_or("").contains("lantern")),
        "{found}"
    );
    platform.kill();
}

impl Api {
    async fn send(&self, request: reqwest::RequestBuilder, what: &str) -> Value {
        let response = request.send().await.expect("request sent");
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "{what}: {status} {body}");
        body
    }

    async fn post_json(&self, path: &str, token: &str, body: &Value) -> Value {
        self.send(
            self.client
                .post(self.url(path))
                .bearer_auth(token)
                .json(body),
            path,
        )
        .await
    }

    async fn get_json(&self, path: &str, token: &str) -> Value {
        self.send(self.client.get(self.url(path)).bearer_auth(token), path)
            .await
    }
}

/// Checkouts in flight when the process is killed with SIGKILL all settle after a
/// restart, and money and stock agree: nothing reserved is left hanging, what was
/// received is on hand or sold, and every payment's totals equal its ledger with at
/// most one capture.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkouts_interrupted_by_a_kill_dash_nine_settle_after_a_restart() {
    const RECEIVED: i64 = 12;
    // With the default settings: the payments the kill interrupted are settled by
    // payments' reconciler (after `call_answer_wait_ms`) before ordering's step
    // timeout would cancel their orders.
    let dir = tempfile::tempdir().expect("temp dir");
    let mut first = up(dir.path(), true);
    let api = Api::new(first.url_of("viscount is up").await);
    let admin = api.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    api.post_json(
        "/api/v1/products",
        &admin,
        &json!({"sku": "CRASH-1", "name": "Crash kettle", "description": "survives",
                "price": {"amount": 700, "currency": "USD"}}),
    )
    .await;
    api.post_json(
        "/api/v1/warehouses",
        &admin,
        &json!({"code": "MAIN", "name": "Main"}),
    )
    .await;
    api.post_json(
        "/api/v1/inventory/adjust",
        &admin,
        &json!({"sku": "CRASH-1", "warehouse_id": "MAIN", "delta": RECEIVED, "reason": "received"}),
    )
    .await;
    let cart = api.post_json("/api/v1/carts", &admin, &json!({})).await;
    let probe = format!("/api/v1/carts/{}/items", cart["id"].as_str().expect("cart"));
    let deadline = Instant::now() + STARTUP;
    while api
        .client
        .put(api.url(&probe))
        .bearer_auth(&admin)
        .json(&json!({"sku": "CRASH-1", "quantity": 1}))
        .send()
        .await
        .expect("sent")
        .status()
        != 200
    {
        assert!(Instant::now() < deadline, "ordering learns the price");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Sixteen buyers for twelve units, not waiting for the saga; kill mid-flight.
    let mut buyers = Vec::new();
    for i in 0..16 {
        let email = format!("crash{i}@example.com");
        api.register(&email).await;
        buyers.push(api.login(&email, PASSWORD).await);
    }
    let placed = futures_util::future::join_all(buyers.iter().map(|token| {
        let api = &api;
        async move {
            let response = api
                .client
                .post(api.url("/api/v1/orders"))
                .bearer_auth(token)
                .header("idempotency-key", uuid::Uuid::now_v7().to_string())
                .json(&json!({"items": [{"sku": "CRASH-1", "quantity": 1}],
                    "shipping_address": {"name": "A", "line1": "1 St", "city": "C", "postal_code": "1", "country": "US"},
                    "payment": {"method": "card", "card_number": "4242424242424242", "exp_month": 12, "exp_year": 2099, "cvc": "123"}}))
                .send()
                .await
                .expect("order sent");
            assert_eq!(response.status(), 202, "accepted, not waited for");
            let order: Value = response.json().await.expect("json");
            (order["id"].as_str().expect("id").to_owned(), token.clone())
        }
    }))
    .await;
    first.kill();

    let mut second = up(dir.path(), true);
    let api = Api::new(second.url_of("viscount is up").await);
    let admin = api.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let mut confirmed = 0;
    let mut cancelled = Vec::new();
    let deadline = Instant::now() + STARTUP;
    for (id, _) in &placed {
        loop {
            let order = api.get_json(&format!("/api/v1/orders/{id}"), &admin).await;
            match order["status"].as_str() {
                Some("confirmed") => {
                    confirmed += 1;
                    break;
                }
                Some("cancelled") => {
                    let history = api
                        .get_json(&format!("/api/v1/orders/{id}/history"), &admin)
                        .await;
                    cancelled.push(history);
                    break;
                }
                _ => {}
            }
            assert!(Instant::now() < deadline, "order {id} settles: {order}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    assert_eq!(
        confirmed, 12,
        "every unit sold once, no more; the cancelled: {cancelled:#?}"
    );

    // Stock: nothing left reserved, and received = on hand + sold.
    loop {
        let stock = api.get_json("/api/v1/inventory/CRASH-1", &admin).await;
        if stock["reserved"] == 0 && stock["on_hand"] == RECEIVED - confirmed {
            break;
        }
        assert!(Instant::now() < deadline, "stock settles: {stock}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Money: every payment's totals match its ledger, one capture at most.
    for (id, _) in &placed {
        let order = api.get_json(&format!("/api/v1/orders/{id}"), &admin).await;
        let payment_id = order["payment_id"].as_str().expect("payment");
        loop {
            let payment = api
                .get_json(&format!("/api/v1/payments/{payment_id}"), &admin)
                .await;
            let ledger = api
                .get_json(
                    &format!("/api/v1/transactions?payment_id={payment_id}&limit=100"),
                    &admin,
                )
                .await;
            let rows = ledger["items"].as_array().cloned().unwrap_or_default();
            let sum = |kind: &str| -> i64 {
                rows.iter()
                    .filter(|r| r["kind"] == kind)
                    .filter_map(|r| r["amount"]["amount"].as_i64())
                    .sum()
            };
            let captures = rows.iter().filter(|r| r["kind"] == "capture").count();
            assert!(captures <= 1, "at most one capture: {ledger}");
            let settled = if order["status"] == "confirmed" {
                payment["status"] == "captured"
            } else {
                payment["captured"]["amount"] == 0
            };
            if settled {
                assert_eq!(payment["captured"]["amount"].as_i64(), Some(sum("capture")));
                assert_eq!(payment["refunded"]["amount"].as_i64(), Some(sum("refund")));
                break;
            }
            assert!(
                Instant::now() < deadline,
                "payment of {id} settles: {payment}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    second.kill();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_checkout_stops_at_its_order_count_and_measures_the_confirmation_emails() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut platform = up(dir.path(), true);
    let target = platform.url_of("viscount is up").await;
    let bench = tokio::task::spawn_blocking({
        let dir = dir.path().to_path_buf();
        move || {
            viscount(&dir)
                .args([
                    "bench",
                    "checkout",
                    "--target",
                    &target,
                    "--customers",
                    "2",
                    "--duration",
                    "120s",
                    "--warmup",
                    "0s",
                    "--seed",
                    "--products",
                    "3",
                    "--orders",
                    "6",
                    "--confirmation-delays",
                    "--json",
                ])
                .env("VISCOUNT_BOOTSTRAP_ADMIN_EMAIL", ADMIN_EMAIL)
                .env("VISCOUNT_BOOTSTRAP_ADMIN_PASSWORD", ADMIN_PASSWORD)
                .stdin(Stdio::null())
                .output()
                .expect("bench runs")
        }
    })
    .await
    .expect("bench finished");
    assert!(
        bench.status.success(),
        "bench failed: {}",
        text(&bench.stderr)
    );
    let report: Value = serde_json::from_slice(&bench.stdout).expect("one JSON report");
    let settled = report["settled_checkouts"].as_u64().expect("settled count");
    // Each shopper checks the count before a visit, so the two may each finish one more.
    assert!(
        (6..=8).contains(&settled),
        "stopped near --orders: {report}"
    );
    assert!(
        report["measured_s"].as_f64().expect("measured") < 110.0,
        "{report}"
    );
    let confirmed = report["confirmed"].as_u64().expect("confirmed");
    let delays = &report["confirmation_delays"];
    assert_eq!(delays["orders"].as_u64(), Some(confirmed), "{report}");
    assert_eq!(
        delays["delay"]["count"].as_u64(),
        Some(confirmed),
        "every confirmation mailed: {report}"
    );
    assert_eq!(delays["missing"].as_u64(), Some(0), "{report}");
    assert!(
        delays["delay"]["max_ms"]
            .as_f64()
            .is_some_and(|ms| ms >= 0.0),
        "{report}"
    );
}

/// A newcomer's first run: `viscount up --demo` and the shop at its address sells the
/// demo catalog, the sign-in leads to identity's page, and the admin asks to sign in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_with_demo_opens_a_shop_with_something_to_sell() {
    let dir = tempfile::tempdir().expect("temp dir");
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let mut command = viscount(dir.path());
    command
        .args([
            "up",
            "--demo",
            "--data-dir",
            &dir.path().display().to_string(),
        ])
        .args(["--listen", &listen]);
    let mut platform = Running::spawn(command);
    let up = platform.wait_for("viscount is up").await;
    assert_eq!(up["admin"], format!("http://{listen}/admin"), "{up}");
    // Catalog learns the stock from inventory's events, a moment after the seed.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let shop = reqwest::get(format!("http://{listen}/"))
            .await
            .expect("shop");
        assert_eq!(shop.status(), 200);
        assert!(
            shop.headers()["content-type"]
                .to_str()
                .unwrap_or_default()
                .starts_with("text/html")
        );
        let page = shop.text().await.expect("page");
        assert!(page.contains("All products"), "{page}");
        if page.contains("In stock") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "nothing in stock: {page}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let admin = client
        .get(format!("http://{listen}/admin"))
        .send()
        .await
        .expect("admin");
    assert_eq!(admin.status(), 303);
    let login = admin.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    assert!(
        login.starts_with("/auth/login?return_to=%2Fadmin"),
        "{login}"
    );
    let to_identity = client
        .get(format!("http://{listen}{login}"))
        .send()
        .await
        .expect("login");
    let authorize = to_identity.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    assert!(
        authorize.starts_with(&format!("http://{listen}/oauth2/authorize?")),
        "{authorize}"
    );
    let sign_in = client.get(&authorize).send().await.expect("sign-in page");
    assert_eq!(sign_in.status(), 200);
    assert!(sign_in.text().await.expect("page").contains("Sign in"));
}
