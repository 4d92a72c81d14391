//! Composition of the platform: which adapters each shape uses and how services are
//! started, served and stopped. The CLI (`main.rs`) and the black-box tests both start
//! the platform through here, so they run the same code.

pub mod bench;
pub mod seed;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use gateway::{Backend, GatewayConfig};
use identity::{Identity, IdentityConfig};
use platform::bus::{Bus, EmbeddedBus, NatsBus, NatsOptions};
use platform::config::ConfigSource;
use platform::service::ServiceKind;
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
    pub bootstrap_admin_password: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./data"),
            log_format: platform::telemetry::LogFormat::Json,
            bootstrap_admin_email: None,
            bootstrap_admin_password: None,
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

    /// The bus of this storage.
    pub async fn bus(&self) -> anyhow::Result<Arc<dyn Bus>> {
        Ok(match self {
            Storage::Embedded { .. } => Arc::new(EmbeddedBus::new()),
            Storage::Distributed { nats, .. } => Arc::new(
                NatsBus::connect(nats)
                    .await
                    .with_context(|| format!("cannot connect to NATS at {}", nats.url))?,
            ),
        })
    }
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
    pub bootstrap_admin: Option<(String, String)>,
}

/// A built backend service, by kind.
#[derive(Clone)]
pub enum ServiceHandle {
    /// Identity.
    Identity(Box<Identity>),
    /// Catalog.
    Catalog(catalog::Catalog),
    /// Inventory.
    Inventory(inventory::Inventory),
    /// Payments.
    Payments(payments::Payments),
    /// Ordering.
    Ordering(ordering::Ordering),
    /// Fulfillment.
    Fulfillment(fulfillment::Fulfillment),
    /// Notifications.
    Notifications(notifications::Notifications),
}

/// What a service needs of the services it calls.
#[derive(Clone, Default)]
pub struct Peers {
    /// Verifies callers' tokens and API keys (identity's, in this process or remote).
    pub authenticator: Option<platform::auth::Authenticator>,
    /// The payments API (ordering calls it while placing and refunding orders).
    pub payments: Option<platform::client::ServiceClient>,
}

impl ServiceHandle {
    /// Builds `kind` on the database at `database_url`; `None` for the gateway. Services
    /// other than identity verify callers with `peers.authenticator` (identity's, when it
    /// runs in the same process); ordering calls `peers.payments`.
    pub async fn build(
        kind: ServiceKind,
        database_url: &str,
        bus: Arc<dyn Bus>,
        config: &ConfigSource,
        tasks: &Tasks,
        clock: &Clock,
        peers: &Peers,
    ) -> anyhow::Result<Option<Self>> {
        let authenticator = peers.authenticator.as_ref();
        Ok(match kind {
            ServiceKind::Identity => {
                let identity_config: IdentityConfig = config.section(kind.as_str())?;
                let identity =
                    Identity::build(identity_config, database_url, bus, tasks, clock.clone())
                        .await
                        .context("identity failed to start")?;
                Some(Self::Identity(Box::new(identity)))
            }
            ServiceKind::Catalog => {
                let authenticator =
                    authenticator.context("catalog needs identity's authenticator")?;
                let catalog = catalog::Catalog::build(
                    database_url,
                    bus,
                    authenticator.clone(),
                    tasks,
                    clock.clone(),
                )
                .await
                .context("catalog failed to start")?;
                Some(Self::Catalog(catalog))
            }
            ServiceKind::Inventory => {
                let authenticator =
                    authenticator.context("inventory needs identity's authenticator")?;
                let inventory_config: inventory::InventoryConfig = config.section(kind.as_str())?;
                let inventory = inventory::Inventory::build(
                    inventory_config,
                    database_url,
                    bus,
                    authenticator.clone(),
                    tasks,
                    clock.clone(),
                )
                .await
                .context("inventory failed to start")?;
                Some(Self::Inventory(inventory))
            }
            ServiceKind::Payments => {
                let authenticator =
                    authenticator.context("payments needs identity's authenticator")?;
                let payments_config: payments::PaymentsConfig = config.section(kind.as_str())?;
                let payments = payments::Payments::build(
                    payments_config,
                    database_url,
                    bus,
                    authenticator.clone(),
                    tasks,
                    clock.clone(),
                )
                .await
                .context("payments failed to start")?;
                Some(Self::Payments(payments))
            }
            ServiceKind::Ordering => {
                let authenticator =
                    authenticator.context("ordering needs identity's authenticator")?;
                let payments = peers
                    .payments
                    .clone()
                    .context("ordering needs the payments service")?;
                let ordering_config: ordering::OrderingConfig = config.section(kind.as_str())?;
                let ordering = ordering::Ordering::build(
                    ordering_config,
                    database_url,
                    bus,
                    authenticator.clone(),
                    payments,
                    tasks,
                    clock.clone(),
                )
                .await
                .context("ordering failed to start")?;
                Some(Self::Ordering(ordering))
            }
            ServiceKind::Fulfillment => {
                let authenticator =
                    authenticator.context("fulfillment needs identity's authenticator")?;
                let fulfillment_config: fulfillment::FulfillmentConfig =
                    config.section(kind.as_str())?;
                let fulfillment = fulfillment::Fulfillment::build(
                    fulfillment_config,
                    database_url,
                    bus,
                    authenticator.clone(),
                    tasks,
                    clock.clone(),
                )
                .await
                .context("fulfillment failed to start")?;
                Some(Self::Fulfillment(fulfillment))
            }
            ServiceKind::Notifications => {
                let authenticator =
                    authenticator.context("notifications needs identity's authenticator")?;
                let notifications_config: notifications::NotificationsConfig =
                    config.section(kind.as_str())?;
                let notifications = notifications::Notifications::build(
                    notifications_config,
                    database_url,
                    bus,
                    authenticator.clone(),
                    tasks,
                    clock.clone(),
                )
                .await
                .context("notifications failed to start")?;
                Some(Self::Notifications(notifications))
            }
            ServiceKind::Gateway => None,
        })
    }

    /// The service's routes (without the common layers, which whoever serves them adds)
    /// and readiness.
    pub fn backend(&self) -> Backend {
        match self {
            Self::Identity(identity) => Backend::InProcess {
                router: identity.router(),
                readiness: identity.readiness(),
            },
            Self::Catalog(catalog) => Backend::InProcess {
                router: catalog.router(),
                readiness: catalog.readiness(),
            },
            Self::Inventory(inventory) => Backend::InProcess {
                router: inventory.router(),
                readiness: inventory.readiness(),
            },
            Self::Payments(payments) => Backend::InProcess {
                router: payments.router(),
                readiness: payments.readiness(),
            },
            Self::Ordering(ordering) => Backend::InProcess {
                router: ordering.router(),
                readiness: ordering.readiness(),
            },
            Self::Fulfillment(fulfillment) => Backend::InProcess {
                router: fulfillment.router(),
                readiness: fulfillment.readiness(),
            },
            Self::Notifications(notifications) => Backend::InProcess {
                router: notifications.router(),
                readiness: notifications.readiness(),
            },
        }
    }

    /// Closes the service's database.
    pub async fn close(&self) {
        match self {
            Self::Identity(identity) => identity.db().close().await,
            Self::Catalog(catalog) => catalog.db().close().await,
            Self::Inventory(inventory) => inventory.db().close().await,
            Self::Payments(payments) => payments.db().close().await,
            Self::Ordering(ordering) => ordering.db().close().await,
            Self::Fulfillment(fulfillment) => fulfillment.db().close().await,
            Self::Notifications(notifications) => notifications.db().close().await,
        }
    }
}

/// The backend services of one process.
#[derive(Clone)]
pub struct Services {
    built: Vec<(ServiceKind, ServiceHandle)>,
}

impl Services {
    /// Builds every backend service on `storage` and `bus`.
    pub async fn build(
        storage: &Storage,
        bus: Arc<dyn Bus>,
        config: &ConfigSource,
        tasks: &Tasks,
        clock: &Clock,
    ) -> anyhow::Result<Self> {
        let mut built: Vec<(ServiceKind, ServiceHandle)> = Vec::new();
        // Services start in `ServiceKind::all` order: identity first (the others verify
        // callers with its keys), payments before ordering (which calls it in-process).
        let mut peers = Peers::default();
        for kind in ServiceKind::backends() {
            let url = storage.database_url(kind);
            let service =
                ServiceHandle::build(kind, &url, bus.clone(), config, tasks, clock, &peers).await?;
            match &service {
                Some(ServiceHandle::Identity(identity)) => {
                    peers.authenticator = Some(identity.authenticator());
                }
                Some(ServiceHandle::Payments(payments)) => {
                    peers.payments = Some(platform::client::ServiceClient::in_process(
                        payments.router(),
                    ));
                }
                _ => {}
            }
            if let Some(service) = service {
                built.push((kind, service));
            }
        }
        Ok(Self { built })
    }

    /// The gateway backends of every service.
    pub fn backends(&self) -> Vec<(ServiceKind, Backend)> {
        self.built
            .iter()
            .map(|(kind, s)| (*kind, s.backend()))
            .collect()
    }

    /// The identity service.
    pub fn identity(&self) -> Option<&Identity> {
        self.built.iter().find_map(|(_, s)| match s {
            ServiceHandle::Identity(identity) => Some(identity.as_ref()),
            _ => None,
        })
    }

    /// The catalog service.
    pub fn catalog(&self) -> Option<&catalog::Catalog> {
        self.built.iter().find_map(|(_, s)| match s {
            ServiceHandle::Catalog(catalog) => Some(catalog),
            _ => None,
        })
    }

    /// The inventory service.
    pub fn inventory(&self) -> Option<&inventory::Inventory> {
        self.built.iter().find_map(|(_, s)| match s {
            ServiceHandle::Inventory(inventory) => Some(inventory),
            _ => None,
        })
    }

    /// The payments service.
    pub fn payments(&self) -> Option<&payments::Payments> {
        self.built.iter().find_map(|(_, s)| match s {
            ServiceHandle::Payments(payments) => Some(payments),
            _ => None,
        })
    }

    /// The ordering service.
    pub fn ordering(&self) -> Option<&ordering::Ordering> {
        self.built.iter().find_map(|(_, s)| match s {
            ServiceHandle::Ordering(ordering) => Some(ordering),
            _ => None,
        })
    }

    /// The fulfillment service.
    pub fn fulfillment(&self) -> Option<&fulfillment::Fulfillment> {
        self.built.iter().find_map(|(_, s)| match s {
            ServiceHandle::Fulfillment(fulfillment) => Some(fulfillment),
            _ => None,
        })
    }

    /// The notifications service.
    pub fn notifications(&self) -> Option<&notifications::Notifications> {
        self.built.iter().find_map(|(_, s)| match s {
            ServiceHandle::Notifications(notifications) => Some(notifications),
            _ => None,
        })
    }

    /// Closes every database.
    pub async fn close(&self) {
        for (_, service) in &self.built {
            service.close().await;
        }
    }
}

/// A platform running in this process.
pub struct RunningPlatform {
    /// The gateway's address.
    pub addr: SocketAddr,
    /// The services.
    pub services: Services,
    /// Background tasks (relays, dispatchers).
    pub tasks: Tasks,
    /// The bus the services share.
    pub bus: Arc<dyn Bus>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl RunningPlatform {
    /// Starts every service and the gateway in this process.
    pub async fn start(options: PlatformOptions, shutdown: Shutdown) -> anyhow::Result<Self> {
        let tasks = Tasks::new(shutdown.clone());
        let bus = options.storage.bus().await?;
        let services = Services::build(
            &options.storage,
            bus.clone(),
            &options.config,
            &tasks,
            &options.clock,
        )
        .await?;
        if let (Some((email, password)), Some(identity)) =
            (&options.bootstrap_admin, services.identity())
        {
            bootstrap_admin(identity, email, password).await?;
        }
        let backends = services.backends();
        let gateway_config: GatewayConfig =
            options.config.section(ServiceKind::Gateway.as_str())?;
        let app = gateway::router(backends, &gateway_config);
        let listener = platform::http::server::bind(&options.listen)
            .await
            .with_context(|| format!("cannot listen on {}", options.listen))?;
        let addr = listener.local_addr()?;
        let server = tokio::spawn(platform::http::serve(listener, app, shutdown));
        Ok(Self {
            addr,
            services,
            tasks,
            bus,
            server,
        })
    }

    /// Stops serving, drains requests and background tasks, closes databases.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.tasks.shutdown().cancel();
        let served = self.server.await;
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
