//! Composition of the platform: which adapters each shape uses and how services are
//! started, served and stopped. The CLI (`main.rs`) and the black-box tests both start
//! the platform through here, so they run the same code.

pub mod bench;
pub mod distributed;
pub mod dlq;
pub mod progress;
pub mod seed;
pub mod verify;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use gateway::{Backend, GatewayConfig};
use identity::Identity;
use platform::auth::Authenticator;
use platform::bus::{Bus, EmbeddedBus, NatsBus, NatsOptions};
use platform::client::ServiceClient;
use platform::config::{ConfigSource, ExposeSecret, Secret};
use platform::live::LiveConfig;
pub use platform::service::Services;
use platform::service::{Declaration, Service, ServiceContext, ServiceKind};
use platform::shutdown::Shutdown;
use platform::tasks::Tasks;
use platform::time::Clock;
use serde::Deserialize;

/// Settings shared by every command (top level of `viscount.toml`, `VISCOUNT_*`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// Where the embedded shape keeps its SQLite files.
    pub data_dir: PathBuf,
    /// Log format: `json` or `pretty`.
    pub log_format: platform::telemetry::LogFormat,
    /// First admin's email, created once at start when set.
    pub bootstrap_admin_email: Option<String>,
    /// First admin's password.
    pub bootstrap_admin_password: Option<Secret>,
    /// Redis (`redis://host:port`) for the gateway's rate-limit counts and response
    /// cache in the distributed shape, shared by its replicas; in memory without it.
    pub redis_url: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./data"),
            log_format: platform::telemetry::LogFormat::Json,
            bootstrap_admin_email: None,
            bootstrap_admin_password: None,
            redis_url: None,
        }
    }
}

/// Where a service's data and events live.
#[derive(Debug, Clone)]
pub enum Storage {
    /// One SQLite file per service under this directory; the embedded bus.
    Embedded {
        /// Data directory.
        data_dir: PathBuf,
    },
    /// PostgreSQL databases named `<prefix><service>` on this server; NATS JetStream.
    Distributed {
        /// Server URL without a database, e.g. `postgres://postgres@127.0.0.1:5432`.
        postgres_url: String,
        /// Prefix of database names, e.g. `viscount_`.
        database_prefix: String,
        /// NATS server and namespace.
        nats: NatsOptions,
        /// Redis for the gateway's rate limits and cache; in memory without it.
        redis_url: Option<String>,
    },
}

impl Storage {
    /// The database URL of `kind`.
    pub fn database_url(&self, kind: ServiceKind) -> String {
        match self {
            Storage::Embedded { data_dir } => platform::db::sqlite_url(data_dir, kind.as_str()),
            Storage::Distributed {
                postgres_url,
                database_prefix,
                ..
            } => format!(
                "{}/{database_prefix}{kind}",
                postgres_url.trim_end_matches('/')
            ),
        }
    }

    /// Where the gateway keeps its counts and cache (`None`: in memory).
    pub fn redis_url(&self) -> Option<String> {
        match self {
            Storage::Embedded { .. } => None,
            Storage::Distributed { redis_url, .. } => redis_url.clone(),
        }
    }

    /// The prefix of the gateway's Redis keys (see [`gateway_redis_prefix`]).
    pub fn redis_prefix(&self, base: &str) -> String {
        match self {
            Storage::Distributed { nats, .. } => gateway_redis_prefix(base, &nats.namespace),
            Storage::Embedded { .. } => base.to_owned(),
        }
    }

    /// The bus of this storage.
    pub async fn bus(&self) -> anyhow::Result<Arc<dyn Bus>> {
        Ok(match self {
            Storage::Embedded { .. } => Arc::new(EmbeddedBus::new()),
            Storage::Distributed { nats, .. } => {
                Arc::new(NatsBus::connect(nats).await.with_context(|| {
                    format!(
                        "cannot connect to NATS at {}",
                        platform::config::redact_url(&nats.url)
                    )
                })?)
            }
        })
    }
}

/// Where the services' caches keep their keys in Redis (the gateway's own keys start with
/// its configured `redis_prefix`); `--nats-namespace` is appended, as for the gateway.
pub const CACHE_PREFIX: &str = "viscount:cache:";

/// The services' Redis at `url` (the distributed shape), or none: their caches then
/// live in memory. Each call is given up after a short time, the read going to the
/// database (see `platform::redis`).
pub fn services_redis(url: Option<&str>) -> anyhow::Result<Option<Arc<platform::redis::Redis>>> {
    url.map(|url| {
        platform::redis::Redis::open(url, std::time::Duration::from_millis(100))
            .map(Arc::new)
            .context("the Redis URL")
    })
    .transpose()
}

/// The prefix of the gateway's Redis keys: `base` (`[gateway] redis_prefix`), then the
/// NATS namespace when there is one, so platforms that share a broker under namespaces
/// (tests) do not share budgets or caches either. Every gateway replica of one
/// platform must use the same.
pub fn gateway_redis_prefix(base: &str, namespace: &str) -> String {
    if namespace.is_empty() {
        base.to_owned()
    } else {
        format!("{base}{namespace}:")
    }
}

/// Creates (on PostgreSQL) and migrates `kind`'s database at `url`.
pub async fn migrate(kind: ServiceKind, url: &str) -> anyhow::Result<()> {
    let Some(declaration) = declaration(kind) else {
        return Ok(());
    };
    let db = platform::db::Db::connect(url, declaration.migrations()).await?;
    db.close().await;
    Ok(())
}

/// Everything a platform start needs.
pub struct PlatformOptions {
    /// Adapters.
    pub storage: Storage,
    /// Gateway address (`127.0.0.1:0` picks a port).
    pub listen: String,
    /// Merged configuration.
    pub config: ConfigSource,
    /// Clock (tests move it).
    pub clock: Clock,
    /// Bootstrap admin (email, password).
    pub bootstrap_admin: Option<(String, Secret)>,
}

/// The declaration of each backend service: the one place the binary names a
/// service's crate. `None` for the gateway, which fronts the others.
pub fn declaration(kind: ServiceKind) -> Option<Declaration> {
    Some(match kind {
        ServiceKind::Identity => Declaration::of::<identity::Identity>(),
        ServiceKind::Catalog => Declaration::of::<catalog::Catalog>(),
        ServiceKind::Inventory => Declaration::of::<inventory::Inventory>(),
        ServiceKind::Payments => Declaration::of::<payments::Payments>(),
        ServiceKind::Ordering => Declaration::of::<ordering::Ordering>(),
        ServiceKind::Fulfillment => Declaration::of::<fulfillment::Fulfillment>(),
        ServiceKind::Notifications => Declaration::of::<notifications::Notifications>(),
        ServiceKind::Ingestion => Declaration::of::<ingestion::Ingestion>(),
        ServiceKind::Analytics => Declaration::of::<analytics::Analytics>(),
        ServiceKind::Coordination => Declaration::of::<coordination::Coordination>(),
        ServiceKind::Support => Declaration::of::<support::Support>(),
        ServiceKind::Gateway => return None,
    })
}

/// The finished OpenAPI document of every service the gateway fronts, for its
/// `/openapi.json` (the same in both shapes: built from the declarations, not from
/// running services).
pub fn api_documents() -> Vec<serde_json::Value> {
    ServiceKind::backends()
        .filter(|kind| !gateway::public_paths(*kind).is_empty())
        .filter_map(|kind| declaration(kind).map(|declared| declared.openapi(kind)))
        .collect()
}

/// Starts `kind` on `context` (built, consuming, its background work running); `None`
/// for the gateway.
pub async fn launch(
    kind: ServiceKind,
    context: &ServiceContext,
) -> anyhow::Result<Option<Box<dyn Service>>> {
    let Some(declaration) = declaration(kind) else {
        return Ok(None);
    };
    let service = declaration
        .launch(context)
        .await
        .with_context(|| format!("{kind} failed to start"))?;
    Ok(Some(service))
}

/// Starts every backend service in this process on `storage` and `bus`, in
/// [`ServiceKind::all`] order: identity first (the others verify callers with its
/// authenticator), each one reachable in process by those started after it (ordering
/// calls payments).
pub async fn start_services(
    storage: &Storage,
    bus: Arc<dyn Bus>,
    config: &ConfigSource,
    tasks: &Tasks,
    clock: &Clock,
    live: &LiveConfig,
) -> anyhow::Result<Services> {
    let mut services = Services::default();
    let mut authenticator: Option<Authenticator> = None;
    // In one process the services call each other in process; the token only admits
    // them to coordination's locks, so without a configured one a fresh one serves.
    let discovery: platform::discovery::DiscoverySettings = config.section("discovery")?;
    let service_token = discovery
        .service_token
        .map(|secret| secret.expose_secret().to_owned())
        .filter(|token| !token.is_empty())
        .unwrap_or_else(|| platform::ids::random_token("svc"));
    let mut peers: Vec<(ServiceKind, ServiceClient)> = Vec::new();
    let redis = services_redis(storage.redis_url().as_deref())?;
    for kind in ServiceKind::backends() {
        let mut context = ServiceContext::new(
            kind,
            storage.database_url(kind),
            bus.clone(),
            config.clone(),
            clock.clone(),
            tasks.clone(),
        )
        .with_service_token(&service_token)
        .with_live(live.clone());
        if let Some(redis) = &redis {
            context = context.with_redis(redis.clone(), storage.redis_prefix(CACHE_PREFIX));
        }
        if let Some(authenticator) = &authenticator {
            context = context.with_authenticator(authenticator.clone());
        }
        for (peer, client) in &peers {
            context = context.with_peer(*peer, client.clone());
        }
        let Some(service) = launch(kind, &context).await? else {
            continue;
        };
        if let Some(offered) = service.authenticator() {
            authenticator = Some(offered.with_service_token(&service_token));
        }
        // With the common layers, as the gateway serves it: a call from a peer is a
        // request of this service's own (its server span, log line and metrics), as
        // it is over HTTP in the distributed shape.
        let served = platform::http::with_common_layers(
            platform::service::full_router(service.as_ref()),
            kind.as_str(),
        );
        peers.push((kind, ServiceClient::in_process(served)));
        services.push(service);
    }
    Ok(services)
}

/// The gateway's backends: every service of `services`, served in this process.
pub fn in_process_backends(services: &Services) -> Vec<(ServiceKind, Backend)> {
    services
        .iter()
        .map(|service| {
            let backend = Backend::InProcess {
                router: platform::service::full_router(service),
                readiness: service.readiness(),
            };
            (service.data().kind(), backend)
        })
        .collect()
}

/// A platform running in this process.
pub struct RunningPlatform {
    /// The gateway's address.
    pub addr: SocketAddr,
    /// Where the process serves `/metrics` apart from the API (`[gateway]
    /// metrics_listen`), if it does.
    pub metrics_addr: Option<SocketAddr>,
    /// The services.
    pub services: Services,
    /// Background tasks (relays, dispatchers).
    pub tasks: Tasks,
    /// The bus the services share.
    pub bus: Arc<dyn Bus>,
    /// The live configuration the services and the gateway share (coordination
    /// publishes accepted changes into it; tests may too).
    pub live: LiveConfig,
    edge: gateway::Edge,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    metrics_server: Option<gateway::MetricsServer>,
}

impl RunningPlatform {
    /// Starts every service and the gateway in this process.
    pub async fn start(options: PlatformOptions, shutdown: Shutdown) -> anyhow::Result<Self> {
        let tasks = Tasks::new(shutdown.clone());
        let bus = options.storage.bus().await?;
        let live = LiveConfig::new();
        let services = start_services(
            &options.storage,
            bus.clone(),
            &options.config,
            &tasks,
            &options.clock,
            &live,
        )
        .await?;
        if let (Some((email, password)), Some(identity)) =
            (&options.bootstrap_admin, services.get::<Identity>())
        {
            bootstrap_admin(identity, email, password.expose_secret()).await?;
        }
        let backends = in_process_backends(&services);
        let gateway_config: GatewayConfig =
            options.config.section(ServiceKind::Gateway.as_str())?;
        let edge = gateway::Edge {
            authenticator: services.iter().find_map(|service| service.authenticator()),
            live: live.clone(),
            redis_url: options.storage.redis_url(),
            redis_prefix: options.storage.redis_prefix(&gateway_config.redis_prefix),
            bus: Some(bus.clone()),
            tasks: tasks.clone(),
            config: options.config.clone(),
            api_documents: api_documents(),
        };
        let app = gateway::router(backends, &gateway_config, edge.clone())?;
        platform::live::follow_log_level(&live, ServiceKind::all(), &tasks);
        let metrics = gateway::serve_metrics(&gateway_config, shutdown.clone())
            .await
            .context("cannot listen for metrics at [gateway] metrics_listen")?;
        let listener = platform::http::server::bind(&options.listen)
            .await
            .with_context(|| format!("cannot listen on {}", options.listen))?;
        let addr = listener.local_addr()?;
        let server = tokio::spawn(platform::http::serve(listener, app, shutdown));
        let (metrics_addr, metrics_server) = metrics.unzip();
        Ok(Self {
            addr,
            metrics_addr,
            services,
            tasks,
            bus,
            live,
            edge,
            server,
            metrics_server,
        })
    }

    /// What this platform's gateway runs its rate limits and cache on, for another
    /// gateway over the same services (a second replica sharing its Redis budget).
    pub fn gateway_edge(&self) -> gateway::Edge {
        self.edge.clone()
    }

    /// Stops serving, drains requests and background tasks, closes databases.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.tasks.shutdown().cancel();
        let served = self.server.await;
        if let Some(metrics) = self.metrics_server {
            // Its scrapes are not worth failing a stop over.
            let _ = metrics.await;
        }
        self.tasks.stop(Duration::from_secs(10)).await;
        self.services.close().await;
        served??;
        Ok(())
    }

    /// Waits until shutdown, then stops.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        self.tasks.shutdown().cancelled().await;
        self.stop().await
    }
}

/// Creates the first admin if the email has no account yet.
pub async fn bootstrap_admin(
    identity: &Identity,
    email: &str,
    password: &str,
) -> anyhow::Result<()> {
    let email =
        identity::domain::Email::try_from(email.to_owned()).context("bootstrap admin email")?;
    let password = identity::domain::Password::try_from(password.to_owned())
        .context("bootstrap admin password")?;
    if identity.app().ensure_admin(email, password).await? {
        tracing::info!("bootstrap admin created");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    /// A payment whose provider call a crash interrupted is settled by payments'
    /// reconciler: after `call_answer_wait_ms`, at its next sweep, with one call to the
    /// provider (at most `stripe.timeout_ms`). Ordering's saga must still be waiting
    /// then, with room for the restart, or the order is cancelled for taking too long
    /// while its payment is settled after.
    #[test]
    fn interrupted_payments_settle_inside_the_sagas_step_timeout() {
        const RESTART_MS: u64 = 10_000;
        let payments = payments::PaymentsConfig::default();
        let ordering = ordering::OrderingConfig::default();
        let settled_within_ms = payments.call_answer_wait_ms
            + payments.call_sweep_interval_ms
            + payments.stripe.timeout_ms;
        assert!(
            settled_within_ms + RESTART_MS <= ordering.saga_step_timeout_secs * 1000,
            "payments settles within {settled_within_ms} ms; the saga waits {} s",
            ordering.saga_step_timeout_secs
        );
    }
}
