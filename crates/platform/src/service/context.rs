//! What the process gives a service to build itself from, and what a built service owns.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serde::de::DeserializeOwned;

use super::ServiceKind;
use crate::auth::Authenticator;
use crate::bus::dead_letters::DeadLetterDesk;
use crate::bus::{Bus, BusError, Outbox, Subscription};
use crate::cache::Cache;
use crate::client::ServiceClient;
use crate::config::{ConfigError, ConfigSource};
use crate::db::{Db, DbError, Migrations};
use crate::http::Readiness;
use crate::http::metrics::runtime::Sampler;
use crate::live::{LiveConfig, LiveSection};
use crate::redis::Redis;
use crate::retention::{Retention, RetentionConfig};
use crate::tasks::Tasks;
use crate::time::Clock;

/// Why a service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Its database could not be opened or migrated.
    #[error(transparent)]
    Db(#[from] DbError),
    /// The bus refused its outbox or its consumer.
    #[error(transparent)]
    Bus(#[from] BusError),
    /// Its configuration section does not read.
    #[error("the [{section}] configuration is invalid")]
    Config {
        /// The section.
        section: &'static str,
        /// Why.
        #[source]
        source: ConfigError,
    },
    /// It needs something of another service that this process does not provide.
    #[error("{service} needs {needs}, which this process does not provide")]
    Missing {
        /// The service that needs it.
        service: ServiceKind,
        /// What it needs.
        needs: &'static str,
    },
    /// Something of its own (keys, an index, a channel) failed.
    #[error("{service} failed to start")]
    Service {
        /// The service.
        service: ServiceKind,
        /// The cause.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// What the process gives a service: where its data lives, the bus, authentication,
/// the clock, the configuration, the other services it calls, and the process's
/// background tasks.
#[derive(Clone)]
pub struct ServiceContext {
    kind: ServiceKind,
    database_url: String,
    bus: Arc<dyn Bus>,
    authenticator: Option<Authenticator>,
    peers: BTreeMap<ServiceKind, ServiceClient>,
    clock: Clock,
    config: ConfigSource,
    live: LiveConfig,
    service_token: Option<String>,
    tasks: Tasks,
    caches: Caches,
}

/// Where a process's service caches live.
#[derive(Clone)]
enum Caches {
    /// This process's memory: the embedded shape, where each service runs once.
    Memory,
    /// Redis under a prefix, shared by every replica.
    Redis(Arc<Redis>, String),
    /// Nowhere: a replica among others without Redis, whose memory would miss the
    /// others' changes.
    Off,
}

impl ServiceContext {
    /// The context of `kind`, whose database is at `database_url`.
    pub fn new(
        kind: ServiceKind,
        database_url: String,
        bus: Arc<dyn Bus>,
        config: ConfigSource,
        clock: Clock,
        tasks: Tasks,
    ) -> Self {
        Self {
            kind,
            database_url,
            bus,
            authenticator: None,
            peers: BTreeMap::new(),
            clock,
            config,
            live: LiveConfig::new(),
            service_token: None,
            tasks,
            caches: Caches::Memory,
        }
    }

    /// The process's Redis (the distributed shape), whose keys start with `prefix`: the
    /// services' caches live there, shared by every replica.
    pub fn with_redis(mut self, redis: Arc<Redis>, prefix: String) -> Self {
        self.caches = Caches::Redis(redis, prefix);
        self
    }

    /// No caches: for a process that may be one replica among others and has no Redis
    /// to share them through (a cache in its own memory would keep serving what another
    /// replica changed).
    pub fn without_caches(mut self) -> Self {
        self.caches = Caches::Off;
        self
    }

    /// The cache `name` (`<service>.<what>`), each entry kept for `ttl`: in Redis when
    /// the process has one (shared by every replica), else in this process's memory
    /// (at most `capacity` entries), or off (see [`ServiceContext::without_caches`];
    /// and when `ttl` is zero).
    pub fn cache(&self, name: &'static str, ttl: Duration, capacity: usize) -> Cache {
        if ttl.is_zero() {
            return Cache::off(name);
        }
        match &self.caches {
            Caches::Redis(redis, prefix) => Cache::redis(name, ttl, redis.clone(), prefix),
            Caches::Memory => Cache::memory(name, ttl, capacity),
            Caches::Off => Cache::off(name),
        }
    }

    /// The platform's processes present `token` to each other (coordination's
    /// registry and locks).
    pub fn with_service_token(mut self, token: &str) -> Self {
        self.service_token = Some(token.to_owned());
        self
    }

    /// The platform's service token, when the process has one.
    pub fn service_token(&self) -> Option<&str> {
        self.service_token.as_deref()
    }

    /// The process's live configuration is `live` (shared by the services of one
    /// process, fed by coordination).
    pub fn with_live(mut self, live: LiveConfig) -> Self {
        self.live = live;
        self
    }

    /// The process's live configuration.
    pub fn live(&self) -> &LiveConfig {
        &self.live
    }

    /// The service's own section with its live values laid over it (see
    /// [`crate::live`]): for the settings it applies without a restart.
    pub fn live_config<T: DeserializeOwned + Send + Sync + 'static>(
        &self,
    ) -> Result<LiveSection<T>, StartError> {
        LiveSection::new(&self.config, &self.live, self.kind).map_err(|source| StartError::Config {
            section: self.kind.as_str(),
            source,
        })
    }

    /// Callers are verified with `authenticator`.
    pub fn with_authenticator(mut self, authenticator: Authenticator) -> Self {
        self.authenticator = Some(authenticator);
        self
    }

    /// `kind` is reached through `client`.
    pub fn with_peer(mut self, kind: ServiceKind, client: ServiceClient) -> Self {
        self.peers.insert(kind, client);
        self
    }

    /// Which service this context is for.
    pub fn kind(&self) -> ServiceKind {
        self.kind
    }

    /// Where its database is.
    pub fn database_url(&self) -> &str {
        &self.database_url
    }

    /// The bus.
    pub fn bus(&self) -> &Arc<dyn Bus> {
        &self.bus
    }

    /// The clock (tests move it).
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// The process's background tasks.
    pub fn tasks(&self) -> &Tasks {
        &self.tasks
    }

    /// The service's own configuration section (`[<kind>]`, `VISCOUNT_<KIND>__*`).
    pub fn config<T: DeserializeOwned>(&self) -> Result<T, StartError> {
        self.config
            .section(self.kind.as_str())
            .map_err(|source| StartError::Config {
                section: self.kind.as_str(),
                source,
            })
    }

    /// How callers are verified.
    pub fn authenticator(&self) -> Result<Authenticator, StartError> {
        self.authenticator.clone().ok_or(StartError::Missing {
            service: self.kind,
            needs: "identity's authenticator",
        })
    }

    /// The client of another service's API.
    pub fn peer(&self, kind: ServiceKind) -> Result<ServiceClient, StartError> {
        self.peers.get(&kind).cloned().ok_or(StartError::Missing {
            service: self.kind,
            needs: kind.as_str(),
        })
    }

    /// Opens the service's database (migrated by `migrations`), attaches its outbox
    /// to the bus, starts the retention sweep of the platform's tables in it
    /// (`[retention]`; see [`crate::retention`]) and the sampling of its outbox, dead
    /// letters and pool for `/metrics`.
    pub async fn open(&self, migrations: &Migrations) -> Result<ServiceData, StartError> {
        let retention = self.retention_config()?;
        let db = Db::connect(&self.database_url, migrations).await?;
        let outbox = self
            .bus
            .attach_producer(self.kind, db.clone(), &self.tasks)
            .await?;
        let retention = Retention::new(
            self.kind,
            db.clone(),
            self.bus.clone(),
            self.clock.clone(),
            retention,
        );
        retention.start(&self.tasks);
        Sampler::new(self.kind, db.clone(), self.bus.clone()).start(&self.tasks);
        Ok(ServiceData {
            kind: self.kind,
            db,
            outbox,
            bus: self.bus.clone(),
            retention,
            subscription: Arc::default(),
            authenticator: self.authenticator.clone(),
        })
    }

    /// The platform's `[retention]` section, refused when it would lose something.
    fn retention_config(&self) -> Result<RetentionConfig, StartError> {
        let invalid = |source| StartError::Config {
            section: "retention",
            source,
        };
        let config: RetentionConfig = self.config.section("retention").map_err(invalid)?;
        config
            .validate()
            .map_err(|reason| invalid(ConfigError::invalid("retention", reason)))?;
        Ok(config)
    }

    /// A failure of the service's own making, for [`StartError::Service`].
    pub fn failed(&self, source: impl std::error::Error + Send + Sync + 'static) -> StartError {
        StartError::Service {
            service: self.kind,
            source: Box::new(source),
        }
    }
}

/// A service's own database and outbox, and the bus they flow to.
#[derive(Clone)]
pub struct ServiceData {
    kind: ServiceKind,
    /// The database only this service writes.
    pub db: Db,
    /// Where its events are staged.
    pub outbox: Outbox,
    bus: Arc<dyn Bus>,
    retention: Retention,
    /// Its consumer's subscription, once [`super::launch`] made it (shared by clones,
    /// so the copy a service keeps sees it): what its dead letters replay through.
    subscription: Arc<OnceLock<Subscription>>,
    /// How its callers are verified, when the process gave it a way.
    authenticator: Option<Authenticator>,
}

impl ServiceData {
    /// Which service owns it.
    pub fn kind(&self) -> ServiceKind {
        self.kind
    }

    /// The retention sweep of its database, to which it may add rules of its own.
    pub fn retention(&self) -> &Retention {
        &self.retention
    }

    /// The subscription its consumer reads with, once it is launched; `None` for a
    /// service that consumes nothing.
    pub fn subscription(&self) -> Option<&Subscription> {
        self.subscription.get()
    }

    /// Records the subscription its consumer reads with (at launch, once).
    pub(crate) fn set_subscription(&self, subscription: Subscription) {
        // Launched once; a second launch of the same data would read the same way.
        let _ = self.subscription.set(subscription);
    }

    /// The authenticator the process gave it, if any (identity makes its own).
    pub(crate) fn authenticator(&self) -> Option<&Authenticator> {
        self.authenticator.as_ref()
    }

    /// The dead-letter desk over its database ([`crate::bus::dead_letters`]).
    pub fn dead_letter_desk(&self) -> DeadLetterDesk {
        DeadLetterDesk::new(
            self.kind.as_str(),
            self.db.clone(),
            self.subscription.clone(),
        )
    }

    /// Readiness of the database and the bus.
    pub fn readiness(&self) -> Readiness {
        Readiness::new(self.kind.as_str())
            .with("database", self.db.clone())
            .with("bus", self.bus.clone())
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;
    use crate::bus::EmbeddedBus;

    fn context(kind: ServiceKind, config: ConfigSource) -> ServiceContext {
        ServiceContext::new(
            kind,
            "sqlite::memory:".into(),
            Arc::new(EmbeddedBus::new()),
            config,
            Clock::system(),
            Tasks::default(),
        )
    }

    #[test]
    fn what_a_service_lacks_is_named_with_who_needs_it() {
        let ordering = context(ServiceKind::Ordering, ConfigSource::default());
        let missing = ordering
            .peer(ServiceKind::Payments)
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            missing.as_deref(),
            Some("ordering needs payments, which this process does not provide")
        );
        assert!(matches!(
            ordering.authenticator(),
            Err(StartError::Missing {
                service: ServiceKind::Ordering,
                ..
            })
        ));
    }

    #[test]
    fn a_peer_given_is_found_and_only_that_one() {
        let client = ServiceClient::in_process(axum::Router::new());
        let ordering = context(ServiceKind::Ordering, ConfigSource::default())
            .with_peer(ServiceKind::Payments, client);
        assert!(ordering.peer(ServiceKind::Payments).is_ok());
        assert!(ordering.peer(ServiceKind::Inventory).is_err());
    }

    #[derive(Debug, Default, Deserialize)]
    #[serde(default)]
    struct Settings {
        interval_ms: u64,
    }

    #[test]
    fn a_service_reads_its_own_section_and_an_unreadable_one_names_it() {
        let source = |toml: &str| {
            ConfigSource::from_parts(toml, std::iter::empty::<(String, String)>()).expect("source")
        };
        let config = source("[ordering]\ninterval_ms = 7\n[inventory]\ninterval_ms = 9\n");
        let settings: Settings = context(ServiceKind::Ordering, config)
            .config()
            .expect("settings");
        assert_eq!(settings.interval_ms, 7);
        let broken = source("[ordering]\ninterval_ms = \"soon\"\n");
        let refused = context(ServiceKind::Ordering, broken).config::<Settings>();
        assert!(matches!(
            refused,
            Err(StartError::Config {
                section: "ordering",
                ..
            })
        ));
    }
}
