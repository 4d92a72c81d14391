//! Coordination's operations, one use case per file: the registry of instances and its
//! sweeper (`registry`), polling instances' health and aggregating it (`health`),
//! configuration documents and their live application (`settings`), leases on named
//! locks (`locks`), and the event schema registry (`schemas`). Each change runs in one
//! transaction with the event that announces it.
//!
//! Who may call what is decided at the HTTP edge: the registry, health, configuration
//! reads and locks are for the platform's own processes (the `service` scope) and
//! admins, configuration writes for admins only, schemas for anyone.

mod health;
mod locks;
mod registry;
mod schemas;
mod settings;

use std::sync::Arc;

use platform::bus::Outbox;
use platform::client::HttpClient;
use platform::db::Db;
use platform::live::LiveConfig;
use platform::time::Clock;

pub use health::{PlatformHealth, ServiceHealthReport, ServiceSummary};
pub use locks::Granted;
pub use registry::Registered;
pub use schemas::Schemas;
pub use settings::Written;

use crate::config::CoordinationConfig;

/// Why a coordination operation failed.
#[derive(Debug, thiserror::Error)]
pub enum CoordinationError {
    /// No such instance, lock or event type.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The configuration document is not at the version the writer read.
    #[error("the document is at version {current}, not the one given in If-Match")]
    StaleVersion {
        /// The document's version now.
        current: u64,
    },
    /// Another owner holds an unexpired lease on the lock.
    #[error("the lock is held by another owner")]
    LockHeld {
        /// When that lease ends unless renewed, epoch ms.
        expires_at: i64,
    },
    /// The caller does not hold the lock it tries to release.
    #[error("the lock is not held by this owner")]
    NotHolder,
    /// A schema is not backward compatible with the registered one: (field, reason).
    #[error("the schema is not backward compatible with the registered one")]
    Incompatible(Vec<(String, String)>),
    /// The database failed, or a stored row could not be read.
    #[error(transparent)]
    Sql(#[from] platform::db::Error),
}

/// The coordination service's operations.
#[derive(Clone)]
pub struct CoordinationApp {
    pub(crate) db: Db,
    pub(crate) outbox: Outbox,
    pub(crate) clock: Clock,
    pub(crate) live: LiveConfig,
    pub(crate) config: Arc<CoordinationConfig>,
    pub(crate) http: HttpClient,
    pub(crate) schemas: Arc<Schemas>,
    /// When this process's registry started, epoch ms: the sweeper's grace period
    /// counts from it.
    pub(crate) started_at: i64,
}

impl CoordinationApp {
    /// The operations over `db`, staging events in `outbox`, publishing accepted
    /// configuration into `live`.
    pub fn new(
        db: Db,
        outbox: Outbox,
        clock: Clock,
        live: LiveConfig,
        config: CoordinationConfig,
    ) -> Self {
        Self {
            db,
            outbox,
            live,
            config: Arc::new(config),
            http: platform::client::http_client(),
            schemas: Arc::new(Schemas::from_contracts()),
            started_at: clock.now_millis(),
            clock,
        }
    }

    /// The service's database.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// The service's configuration.
    pub fn config(&self) -> &CoordinationConfig {
        &self.config
    }
}

#[cfg(test)]
mod tests;
