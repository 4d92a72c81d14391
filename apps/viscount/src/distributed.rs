//! `viscount up --distributed`: the distributed shape on one machine, as users run it.
//!
//! This module owns the supervisor. Before any process starts it refuses what would
//! only fail later (a NATS server older than 2.10 or without JetStream, a Redis that
//! does not answer) and creates and migrates every service's PostgreSQL database, so
//! replicas never race to migrate. Then it starts coordination, every service and the
//! gateway as separate `viscount serve` processes of this same binary, each told the
//! platform's addresses, its own database, the shared service token and the issuer
//! tokens must name (the gateway's address), so nothing depends on defaults that only
//! fit one process.
//!
//! Each child runs in its own process group, so Ctrl-C reaches the supervisor alone,
//! which stops the gateway first, then the services, then coordination. A child is
//! asked to stop by closing its stdin (`serve --exit-with-stdin`), which also stops
//! every child if the supervisor itself is killed. A child that exits on its own is
//! logged and started again after a backoff that doubles up to [`MAX_BACKOFF`] and
//! starts over once a child has run for [`STABLE_RUN`].
//!
//! Children log JSON; the supervisor prints each line with the instance it came from
//! (`ordering.2`), as JSON or as a short text line after the platform's log format.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use platform::bus::NatsBus;
use platform::bus::NatsOptions;
use platform::config::{ConfigSource, redact_url};
use platform::service::ServiceKind;
use platform::shutdown::Shutdown;
use platform::telemetry::LogFormat;
use serde_json::Value;

use crate::Storage;

/// The first restart waits this long; each quick exit doubles it.
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
/// The longest wait before a restart.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// A child that ran this long before exiting is restarted after [`FIRST_BACKOFF`] again.
const STABLE_RUN: Duration = Duration::from_secs(60);
/// How long a child may take to stop after its stdin closed before it is killed: a
/// server drains its requests for up to 30 s, then its tasks (detached checkouts among
/// them) get 10 s more.
const STOP_GRACE: Duration = Duration::from_secs(50);
/// How often a supervising thread looks at its child.
const WATCH_INTERVAL: Duration = Duration::from_millis(50);
/// How long coordination may take to answer before the services are started anyway.
const COORDINATION_WAIT: Duration = Duration::from_secs(30);

/// What `up --distributed` runs on and how.
#[derive(Debug, Clone)]
pub struct DistributedOptions {
    /// PostgreSQL server, without a database name.
    pub postgres_url: String,
    /// Prefix of each service's database name (`viscount_catalog`).
    pub database_prefix: String,
    /// NATS server with JetStream.
    pub nats_url: String,
    /// Prefix of the platform's NATS streams ("" for none).
    pub nats_namespace: String,
    /// Redis for the gateway's shared limits and cache.
    pub redis_url: String,
    /// The gateway's address.
    pub listen: String,
    /// Coordination's address (every other process is told it).
    pub coordination_listen: String,
    /// Processes per service beyond the default of one.
    pub replicas: Vec<(ServiceKind, usize)>,
    /// The configuration file every child reads too.
    pub config_path: PathBuf,
    /// How the supervisor prints its own and its children's logs.
    pub log_format: LogFormat,
    /// Extra environment of one service's processes (fault drills point one service at
    /// a proxy this way; `VISCOUNT_DATABASE_URL` replaces its database URL).
    pub child_env: Vec<(ServiceKind, String, String)>,
}

/// Parses `ordering=2` (one item of `--replicas ordering=2,catalog=2`).
pub fn parse_replicas(raw: &str) -> Result<(ServiceKind, usize), String> {
    let (name, count) = raw
        .split_once('=')
        .ok_or("expected service=count, e.g. ordering=2")?;
    let kind = name
        .trim()
        .parse::<ServiceKind>()
        .map_err(|e| e.to_string())?;
    let count = count
        .trim()
        .parse::<usize>()
        .ok()
        .filter(|count| (1..=16).contains(count))
        .ok_or("the count must be a whole number from 1 to 16")?;
    if kind == ServiceKind::Coordination {
        return Err("coordination runs as one process here (its address is fixed)".into());
    }
    Ok((kind, count))
}

/// Parses `payments:VISCOUNT_NATS_URL=nats://127.0.0.1:4999` (one `--child-env`).
pub fn parse_child_env(raw: &str) -> Result<(ServiceKind, String, String), String> {
    let (service, assignment) = raw.split_once(':').ok_or("expected service:KEY=value")?;
    let (key, value) = assignment
        .split_once('=')
        .ok_or("expected service:KEY=value")?;
    let kind = service.parse::<ServiceKind>().map_err(|e| e.to_string())?;
    if !key.starts_with(platform::config::ENV_PREFIX) {
        return Err(format!(
            "the variable must start with {}",
            platform::config::ENV_PREFIX
        ));
    }
    Ok((kind, key.to_owned(), value.to_owned()))
}

/// Checks the infrastructure, prepares the databases, then runs the platform as child
/// processes until `shutdown`, and stops them in order.
pub async fn run(
    options: DistributedOptions,
    config: &ConfigSource,
    shutdown: Shutdown,
) -> anyhow::Result<()> {
    let nats_version = check_nats(&options).await?;
    check_redis(&options.redis_url).await?;
    let postgres = redact_url(&options.postgres_url);
    let storage = Storage::Distributed {
        postgres_url: options.postgres_url.clone(),
        database_prefix: options.database_prefix.clone(),
        nats: NatsOptions {
            url: options.nats_url.clone(),
            namespace: options.nats_namespace.clone(),
        },
        redis_url: Some(options.redis_url.clone()),
    };
    for kind in ServiceKind::backends() {
        crate::migrate(kind, &storage.database_url(kind))
            .await
            .with_context(|| {
                format!("cannot prepare {kind}'s database on PostgreSQL at {postgres}")
            })?;
    }
    tracing::info!(nats = %nats_version, "infrastructure checked; databases migrated");

    let plan = plan(&options, &storage, config)?;
    let discovery: platform::discovery::DiscoverySettings = config.section("discovery")?;
    let refresh = Duration::from_millis(discovery.refresh_ms);
    let printer = Arc::new(Printer {
        format: options.log_format,
        gateway_url: Mutex::new(None),
        serving: Mutex::new(BTreeSet::new()),
        expected: plan.len(),
        announced: AtomicBool::new(false),
        all_serving: tokio::sync::Notify::new(),
    });
    let mut tiers: Vec<Vec<Supervised>> = vec![Vec::new(), Vec::new(), Vec::new()];
    // Coordination first, and answering, so the others register at once.
    for spec in plan
        .iter()
        .filter(|spec| spec.kind == ServiceKind::Coordination)
    {
        tiers[2].push(Supervised::start(spec.clone(), printer.clone())?);
    }
    wait_until_ready(&options.coordination_listen, &shutdown).await;
    if shutdown.is_cancelled() {
        for supervised in tiers.into_iter().flatten() {
            supervised.stop().join();
        }
        return Ok(());
    }
    for spec in plan
        .iter()
        .filter(|spec| spec.kind != ServiceKind::Coordination)
    {
        let tier = if spec.kind == ServiceKind::Gateway {
            0
        } else {
            1
        };
        tiers[tier].push(Supervised::start(spec.clone(), printer.clone())?);
    }
    tokio::select! {
        () = announce_when_routable(&printer, refresh, &shutdown) => {}
        () = shutdown.cancelled() => {}
    }
    shutdown.cancelled().await;
    tracing::info!("stopping the platform: gateway, services, then coordination");
    for tier in tiers {
        let stops: Vec<_> = tier.into_iter().map(Supervised::stop).collect();
        for stop in stops {
            let _ = tokio::task::spawn_blocking(move || stop.join()).await;
        }
    }
    tracing::info!("every process stopped");
    Ok(())
}

async fn check_nats(options: &DistributedOptions) -> anyhow::Result<String> {
    let bus = NatsBus::connect(&NatsOptions {
        url: options.nats_url.clone(),
        namespace: options.nats_namespace.clone(),
    })
    .await
    .with_context(|| {
        format!(
            "cannot connect to NATS at {} (pass --nats-url with a NATS 2.10+ server with JetStream)",
            redact_url(&options.nats_url)
        )
    })?;
    bus.check_server().await.with_context(|| {
        format!(
            "NATS at {} cannot carry the platform",
            redact_url(&options.nats_url)
        )
    })
}

/// PING over the wire: the supervisor itself has no use for a Redis client.
async fn check_redis(raw_url: &str) -> anyhow::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let url = redact_url(raw_url);
    let address = redis_address(raw_url)
        .with_context(|| format!("--redis-url {url} is not redis://host[:port][/db]"))?;
    let answer = tokio::time::timeout(Duration::from_secs(3), async {
        let mut stream = tokio::net::TcpStream::connect(&address).await?;
        stream.write_all(b"PING\r\n").await?;
        let mut reply = [0u8; 64];
        let read = stream.read(&mut reply).await?;
        Ok::<_, std::io::Error>(String::from_utf8_lossy(&reply[..read]).into_owned())
    })
    .await;
    match answer {
        // "-NOAUTH" also proves a Redis server is there; the gateway logs in itself.
        Ok(Ok(reply)) if reply.starts_with("+PONG") || reply.starts_with("-NOAUTH") => Ok(()),
        Ok(Ok(reply)) => bail!("{url} answered PING with {:?}: is it Redis?", reply.trim()),
        Ok(Err(err)) => bail!("Redis at {url} is not reachable ({err}); pass --redis-url"),
        Err(_) => bail!("Redis at {url} did not answer within 3 s; pass --redis-url"),
    }
}

/// `host:port` of a `redis://[user:pass@]host[:port][/db]` URL.
fn redis_address(url: &str) -> Option<String> {
    let rest = url.strip_prefix("redis://")?;
    let rest = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    let host_port = rest.split('/').next()?;
    if host_port.is_empty() {
        return None;
    }
    Some(
        if host_port
            .rsplit_once(':')
            .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
        {
            host_port.to_owned()
        } else {
            format!("{host_port}:6379")
        },
    )
}

/// One child process to keep running.
#[derive(Debug, Clone)]
struct ChildSpec {
    kind: ServiceKind,
    /// `ordering.2`: the service and its replica number, from 1.
    name: String,
    args: Vec<String>,
    env: Vec<(String, String)>,
}

/// Every child of the platform: coordination, each service's replicas, the gateway.
fn plan(
    options: &DistributedOptions,
    storage: &Storage,
    config: &ConfigSource,
) -> anyhow::Result<Vec<ChildSpec>> {
    let coordination_url = format!("http://{}", options.coordination_listen);
    let token = std::env::var("VISCOUNT_DISCOVERY__SERVICE_TOKEN")
        .ok()
        .filter(|token| !token.is_empty())
        .or_else(|| {
            config
                .table("discovery")
                .get("service_token")
                .and_then(|token| token.as_str().map(str::to_owned))
        })
        // One secret per run when none is configured: only these children share it.
        .unwrap_or_else(|| platform::ids::random_token("vst_"));
    let mut common = vec![
        ("VISCOUNT_DISCOVERY__SERVICE_TOKEN".to_owned(), token),
        ("VISCOUNT_NATS_URL".to_owned(), options.nats_url.clone()),
        (
            "VISCOUNT_NATS_NAMESPACE".to_owned(),
            options.nats_namespace.clone(),
        ),
        ("VISCOUNT_REDIS_URL".to_owned(), options.redis_url.clone()),
        ("VISCOUNT_COORDINATION_URL".to_owned(), coordination_url),
        ("VISCOUNT_LOG_FORMAT".to_owned(), "json".to_owned()),
    ];
    // Tokens name the address shoppers reach, not the default every process assumes.
    // (`VISCOUNT_IDENTITY__ISSUER` in the environment is in the table too.)
    if !config.table("identity").contains_key("issuer") {
        common.push((
            "VISCOUNT_IDENTITY__ISSUER".to_owned(),
            format!("http://{}", options.listen),
        ));
    }
    let replicas = |kind: ServiceKind| {
        options
            .replicas
            .iter()
            .rev()
            .find(|(named, _)| *named == kind)
            .map_or(1, |(_, count)| *count)
    };
    let mut plan = Vec::new();
    for &kind in ServiceKind::all() {
        for replica in 1..=replicas(kind) {
            let listen = match kind {
                ServiceKind::Coordination => options.coordination_listen.clone(),
                ServiceKind::Gateway if replica == 1 => options.listen.clone(),
                // The others register the port the kernel gave them.
                _ => "127.0.0.1:0".to_owned(),
            };
            let args = vec![
                "--config".to_owned(),
                options.config_path.display().to_string(),
                "serve".to_owned(),
                kind.as_str().to_owned(),
                "--listen".to_owned(),
                listen,
                "--exit-with-stdin".to_owned(),
            ];
            let mut env = common.clone();
            env.extend(
                options
                    .child_env
                    .iter()
                    .filter(|(named, _, _)| *named == kind)
                    .map(|(_, key, value)| (key.clone(), value.clone())),
            );
            // `[gateway] metrics_listen` is one address: the first gateway serves the
            // metrics there, and the others, which would fail to bind it, open none.
            if kind == ServiceKind::Gateway && replica > 1 {
                env.push(("VISCOUNT_GATEWAY__METRICS_LISTEN".to_owned(), String::new()));
            }
            // In the environment, not the arguments: `ps` shows arguments to everyone.
            if kind != ServiceKind::Gateway
                && !env.iter().any(|(key, _)| key == "VISCOUNT_DATABASE_URL")
            {
                env.push((
                    "VISCOUNT_DATABASE_URL".to_owned(),
                    storage.database_url(kind),
                ));
            }
            // The first admin is made by identity; the others would only warn.
            if kind == ServiceKind::Identity {
                for key in [
                    "VISCOUNT_BOOTSTRAP_ADMIN_EMAIL",
                    "VISCOUNT_BOOTSTRAP_ADMIN_PASSWORD",
                ] {
                    if let Ok(value) = std::env::var(key) {
                        env.push((key.to_owned(), value));
                    }
                }
            }
            plan.push(ChildSpec {
                kind,
                name: format!("{kind}.{replica}"),
                args,
                env,
            });
        }
    }
    Ok(plan)
}

/// Polls coordination's readiness until it answers, `COORDINATION_WAIT` passes, or the
/// platform is stopped.
async fn wait_until_ready(address: &str, shutdown: &Shutdown) {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(1))
        .build()
        .unwrap_or_default();
    let url = format!("http://{address}/health/ready");
    let deadline = Instant::now() + COORDINATION_WAIT;
    while Instant::now() < deadline && !shutdown.is_cancelled() {
        if let Ok(response) = client.get(&url).send().await
            && response.status().is_success()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tracing::warn!(
        url,
        "coordination is not ready yet; starting the services anyway"
    );
}

/// Once every child serves, waits until the gateway reaches every service (its
/// `/health` says `ok`: coordination has polled each instance; then one `refresh` of
/// the gateway's lists of instances), then says where the gateway listens. A platform
/// that is not routable within [`COORDINATION_WAIT`] is announced anyway, with what is
/// not up.
async fn announce_when_routable(printer: &Printer, refresh: Duration, shutdown: &Shutdown) {
    printer.all_serving.notified().await;
    let gateway = printer
        .gateway_url
        .lock()
        .ok()
        .and_then(|url| url.clone())
        .unwrap_or_default();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap_or_default();
    let deadline = Instant::now() + COORDINATION_WAIT;
    let mut not_up = Vec::new();
    while Instant::now() < deadline && !shutdown.is_cancelled() {
        let health: Option<Value> = match client.get(format!("{gateway}/health")).send().await {
            Ok(answer) => answer.json().await.ok(),
            Err(_) => None,
        };
        if let Some(health) = &health {
            not_up = health["services"]
                .as_object()
                .map(|services| {
                    services
                        .iter()
                        .filter(|(_, report)| report["status"] != "ok")
                        .map(|(name, _)| name.clone())
                        .collect()
                })
                .unwrap_or_default();
            if health["status"] == "ok" && not_up.is_empty() {
                tokio::time::sleep(refresh + Duration::from_millis(250)).await;
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let processes = printer.serving.lock().map(|s| s.len()).unwrap_or(0);
    if not_up.is_empty() {
        tracing::info!(url = %gateway, processes, "viscount is up (distributed)");
    } else {
        tracing::warn!(url = %gateway, processes, not_up = ?not_up, "viscount is up, but the gateway cannot reach every service yet");
    }
    println!("viscount is up: gateway at {gateway} ({processes} processes)");
}

/// A child kept running by its own thread until [`Supervised::stop`].
struct Supervised {
    stopping: Arc<AtomicBool>,
    stdin: Arc<Mutex<Option<ChildStdin>>>,
    thread: std::thread::JoinHandle<()>,
}

/// Stopping a child: its stdin is closed; [`StopHandle::join`] waits for it.
struct StopHandle(std::thread::JoinHandle<()>);

impl StopHandle {
    fn join(self) {
        let _ = self.0.join();
    }
}

impl Supervised {
    fn start(spec: ChildSpec, printer: Arc<Printer>) -> std::io::Result<Self> {
        let stopping = Arc::new(AtomicBool::new(false));
        let stdin = Arc::new(Mutex::new(None));
        let thread = {
            let stopping = stopping.clone();
            let stdin = stdin.clone();
            std::thread::Builder::new()
                .name(format!("supervise-{}", spec.name))
                .spawn(move || supervise(&spec, &stopping, &stdin, &printer))?
        };
        Ok(Self {
            stopping,
            stdin,
            thread,
        })
    }

    /// Asks the child to stop (closing its stdin) and returns a handle to wait on.
    fn stop(self) -> StopHandle {
        self.stopping.store(true, Ordering::SeqCst);
        if let Ok(mut stdin) = self.stdin.lock() {
            stdin.take();
        }
        StopHandle(self.thread)
    }
}

/// Runs `spec` until `stopping`, restarting it with backoff whenever it exits.
fn supervise(
    spec: &ChildSpec,
    stopping: &AtomicBool,
    stdin_slot: &Mutex<Option<ChildStdin>>,
    printer: &Arc<Printer>,
) {
    let mut backoff = FIRST_BACKOFF;
    let mut restarts: u32 = 0;
    while !stopping.load(Ordering::SeqCst) {
        let started = Instant::now();
        let mut child = match spawn(spec) {
            Ok(child) => child,
            Err(err) => {
                tracing::error!(instance = %spec.name, error = %err, "cannot start the process");
                wait_or_stop(backoff, stopping);
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
        };
        tracing::info!(
            instance = %spec.name,
            pid = child.id(),
            restarts,
            "process started"
        );
        if let Some(stderr) = child.stderr.take() {
            let printer = printer.clone();
            let name = spec.name.clone();
            let kind = spec.kind;
            let _ = std::thread::Builder::new()
                .name(format!("logs-{}", spec.name))
                .spawn(move || {
                    for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                        printer.line(kind, &name, &line);
                    }
                });
        }
        if let Ok(mut slot) = stdin_slot.lock() {
            *slot = child.stdin.take();
            // Stopped between the check above and now: close it at once.
            if stopping.load(Ordering::SeqCst) {
                slot.take();
            }
        }
        let status = watch(&mut child, stopping);
        printer.forget(&spec.name);
        if stopping.load(Ordering::SeqCst) {
            tracing::info!(instance = %spec.name, status = %describe(status), "process stopped");
            return;
        }
        if started.elapsed() >= STABLE_RUN {
            backoff = FIRST_BACKOFF;
        }
        restarts += 1;
        tracing::warn!(
            instance = %spec.name,
            status = %describe(status),
            restart_in_ms = backoff.as_millis() as u64,
            "process exited; restarting it"
        );
        wait_or_stop(backoff, stopping);
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

fn spawn(spec: &ChildSpec) -> std::io::Result<Child> {
    use std::os::unix::process::CommandExt;
    let program = std::env::current_exe()?;
    Command::new(program)
        .args(&spec.args)
        // What the supervisor was started with must not leak into every child: each
        // gets its own database, and only identity the first admin.
        .env_remove("VISCOUNT_DATABASE_URL")
        .env_remove("VISCOUNT_BOOTSTRAP_ADMIN_EMAIL")
        .env_remove("VISCOUNT_BOOTSTRAP_ADMIN_PASSWORD")
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        // Its own group: Ctrl-C in the terminal reaches the supervisor only, which
        // stops the children in order.
        .process_group(0)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
}

/// Waits for the child to exit; once `stopping`, gives it [`STOP_GRACE`] and then
/// kills it.
fn watch(child: &mut Child, stopping: &AtomicBool) -> Option<std::process::ExitStatus> {
    let mut stop_deadline: Option<Instant> = None;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) => {}
            // The child cannot be watched: it is killed rather than left running
            // beside the next one.
            Err(_) => {
                let _ = child.kill();
                return child.wait().ok();
            }
        }
        if stopping.load(Ordering::SeqCst) {
            let deadline = *stop_deadline.get_or_insert_with(|| Instant::now() + STOP_GRACE);
            if Instant::now() >= deadline {
                let _ = child.kill();
                return child.wait().ok();
            }
        }
        std::thread::sleep(WATCH_INTERVAL);
    }
}

fn wait_or_stop(duration: Duration, stopping: &AtomicBool) {
    let until = Instant::now() + duration;
    while Instant::now() < until && !stopping.load(Ordering::SeqCst) {
        std::thread::sleep(WATCH_INTERVAL);
    }
}

fn describe(status: Option<std::process::ExitStatus>) -> String {
    use std::os::unix::process::ExitStatusExt;
    match status {
        Some(status) => match (status.code(), status.signal()) {
            (Some(code), _) => format!("exit code {code}"),
            (None, Some(signal)) => format!("killed by signal {signal}"),
            (None, None) => status.to_string(),
        },
        None => "unknown".to_owned(),
    }
}

/// Prints the children's log lines, and says once where the gateway listens when every
/// child serves.
struct Printer {
    format: LogFormat,
    gateway_url: Mutex<Option<String>>,
    serving: Mutex<BTreeSet<String>>,
    expected: usize,
    announced: AtomicBool,
    /// Notified once, when every child first logged `serving`.
    all_serving: tokio::sync::Notify,
}

impl Printer {
    fn line(&self, kind: ServiceKind, instance: &str, line: &str) {
        let parsed = serde_json::from_str::<Value>(line).ok();
        // The platform's JSON lines carry the event's fields at the top level.
        if let Some(Value::Object(object)) = &parsed
            && object.get("message").and_then(Value::as_str) == Some("serving")
            && let Some(url) = object.get("url").and_then(Value::as_str)
        {
            self.served(kind, instance, url);
        }
        let mut out = std::io::stderr().lock();
        let _ = match (self.format, parsed) {
            (LogFormat::Json, Some(Value::Object(mut object))) => {
                object.insert("instance".to_owned(), Value::from(instance));
                writeln!(out, "{}", Value::Object(object))
            }
            (LogFormat::Pretty, Some(Value::Object(object))) => {
                writeln!(out, "{instance:>16} | {}", pretty(&object))
            }
            _ => writeln!(out, "{instance:>16} | {line}"),
        };
    }

    fn served(&self, kind: ServiceKind, instance: &str, url: &str) {
        if kind == ServiceKind::Gateway
            && instance.ends_with(".1")
            && let Ok(mut gateway) = self.gateway_url.lock()
        {
            *gateway = Some(url.to_owned());
        }
        let Ok(mut serving) = self.serving.lock() else {
            return;
        };
        serving.insert(instance.to_owned());
        if serving.len() >= self.expected && !self.announced.swap(true, Ordering::SeqCst) {
            self.all_serving.notify_one();
        }
    }

    /// A child exited: it serves again once it logs `serving`.
    fn forget(&self, instance: &str) {
        if let Ok(mut serving) = self.serving.lock() {
            serving.remove(instance);
        }
    }
}

/// `LEVEL message key=value ...` from one of the platform's JSON lines.
fn pretty(object: &serde_json::Map<String, Value>) -> String {
    let level = object.get("level").and_then(Value::as_str).unwrap_or("");
    let mut text = format!("{level:>5}");
    if let Some(message) = object.get("message").and_then(Value::as_str) {
        text.push(' ');
        text.push_str(message);
    }
    let bookkeeping = ["timestamp", "level", "target", "message", "span", "spans"];
    for (key, value) in object
        .iter()
        .filter(|(key, _)| !bookkeeping.contains(&key.as_str()))
    {
        match value {
            Value::String(value) => text.push_str(&format!(" {key}={value}")),
            other => text.push_str(&format!(" {key}={other}")),
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replicas_name_a_service_and_a_count() {
        assert_eq!(parse_replicas("ordering=2"), Ok((ServiceKind::Ordering, 2)));
        assert!(parse_replicas("ordering").is_err());
        assert!(parse_replicas("ordering=0").is_err());
        assert!(parse_replicas("ordering=many").is_err());
        assert!(parse_replicas("orders=2").is_err());
        assert!(parse_replicas("coordination=2").is_err());
    }

    #[test]
    fn redis_addresses_default_the_port() {
        assert_eq!(
            redis_address("redis://127.0.0.1:6379").as_deref(),
            Some("127.0.0.1:6379")
        );
        assert_eq!(
            redis_address("redis://cache").as_deref(),
            Some("cache:6379")
        );
        assert_eq!(
            redis_address("redis://user:secret@cache:7000/2").as_deref(),
            Some("cache:7000")
        );
        assert_eq!(redis_address("http://cache"), None);
        assert_eq!(redis_address("redis://"), None);
    }
}
