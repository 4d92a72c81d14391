//! The coordination service: the registry of service instances with heartbeats and a
//! TTL, health aggregation from each instance's `/health/ready`, versioned
//! configuration documents applied live by the services, leases on named locks with
//! fencing tokens, and the event schema registry.
//!
//! Rooms: `domain` (registration rules and when an instance expires, health
//! aggregation, the types of the configuration keys that apply live, the lease state
//! machine), `store` (the only translator between rows and domain values; every raced
//! change a conditional statement), `app` (one file per use case), `http` (handlers),
//! `events` (what it produces; it consumes nothing), `config`.

pub mod app;
pub mod config;
pub mod domain;
pub mod events;
pub mod http;
pub mod store;

use std::time::Duration;

use platform::auth::Authenticator;
use platform::db::Migrations;
use platform::service::{Service, ServiceContext, ServiceData, StartError};
use platform::tasks::Tasks;

pub use app::{CoordinationApp, CoordinationError};
pub use config::CoordinationConfig;

/// Coordination's migrations.
pub const MIGRATIONS: Migrations = Migrations {
    scope: "coordination",
    steps: &[platform::migration!("0001_init")],
};

/// A running coordination service.
pub struct Coordination {
    data: ServiceData,
    app: CoordinationApp,
    authenticator: Authenticator,
}

impl Service for Coordination {
    /// Checks the configuration, opens the database and publishes every stored
    /// configuration document into the process's live configuration, so the services
    /// started after it begin with the latest values.
    async fn build(context: &ServiceContext) -> Result<Self, StartError> {
        let config: CoordinationConfig = context.config()?;
        config.check().map_err(|e| context.failed(e))?;
        let data = context.open(&MIGRATIONS).await?;
        let app = CoordinationApp::new(
            data.db.clone(),
            data.outbox.clone(),
            context.clock().clone(),
            context.live().clone(),
            config,
        );
        let published = app.publish_stored().await.map_err(|e| context.failed(e))?;
        tracing::debug!(documents = published, "stored configuration published");
        Ok(Self {
            data,
            app,
            authenticator: context.authenticator()?,
        })
    }

    fn migrations() -> &'static Migrations {
        &MIGRATIONS
    }

    fn openapi() -> utoipa::openapi::OpenApi {
        http::api().into_openapi()
    }

    fn data(&self) -> &ServiceData {
        &self.data
    }

    fn router(&self) -> axum::Router {
        http::router(self.app.clone(), self.authenticator.clone())
    }

    /// The sweeper of expired instances and the health poller.
    fn start_background(&self, tasks: &Tasks) {
        let sweeper = self.app.clone();
        let every = Duration::from_millis(sweeper.config().sweep_interval_ms);
        tasks.every("registry sweep", every, move || {
            let app = sweeper.clone();
            async move { app.sweep().await }
        });
        let poller = self.app.clone();
        let every = Duration::from_millis(poller.config().health_interval_ms);
        tasks.every("health poll", every, move || {
            let app = poller.clone();
            async move { app.poll_health().await }
        });
    }
}

impl Coordination {
    /// The operations.
    pub fn app(&self) -> &CoordinationApp {
        &self.app
    }
}
