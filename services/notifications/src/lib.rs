//! The notifications service (to be written).

pub mod app;
pub mod domain;
pub mod events;
pub mod http;
pub mod store;

use std::sync::Arc;

use platform::auth::Authenticator;
use platform::bus::Bus;
use platform::db::{Db, Migrations};
use platform::http::Readiness;
use platform::service::ServiceKind;
use platform::tasks::Tasks;
use platform::time::Clock;
use serde::Deserialize;

/// Notifications's migrations.
pub const MIGRATIONS: Migrations = Migrations {
    scope: "notifications",
    steps: &[platform::migration!("0001_init")],
};

/// Notifications's configuration (`[notifications]`, `VISCOUNT_NOTIFICATIONS__*`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct NotificationsConfig {}

/// Why notifications could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Database.
    #[error(transparent)]
    Db(#[from] platform::db::DbError),
    /// Bus.
    #[error(transparent)]
    Bus(#[from] platform::bus::BusError),
}

/// A running notifications service.
#[derive(Clone)]
pub struct Notifications {
    db: Db,
    authenticator: Authenticator,
    bus: Arc<dyn Bus>,
}

impl Notifications {
    /// Opens the database and attaches the outbox.
    pub async fn build(
        config: NotificationsConfig,
        database_url: &str,
        bus: Arc<dyn Bus>,
        authenticator: Authenticator,
        tasks: &Tasks,
        clock: Clock,
    ) -> Result<Self, StartError> {
        let _ = (config, clock);
        let db = Db::connect(database_url, &MIGRATIONS).await?;
        let _outbox = bus
            .attach_producer(ServiceKind::Notifications, db.clone(), tasks)
            .await?;
        Ok(Self {
            db,
            authenticator,
            bus,
        })
    }

    /// The service's database.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// The HTTP routes (paths as in API.md), authenticated.
    pub fn router(&self) -> axum::Router {
        let _ = &self.authenticator;
        axum::Router::new()
    }

    /// Readiness checks: database and bus.
    pub fn readiness(&self) -> Readiness {
        Readiness::new(ServiceKind::Notifications.as_str())
            .with("database", self.db.clone())
            .with("bus", self.bus.clone())
    }
}
