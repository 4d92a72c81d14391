//! The ordering service: carts priced from its own copy of catalog prices, orders with
//! a price snapshot and status history, and the checkout saga it orchestrates
//! (reserve → authorize → confirm, compensating on any failure or timeout), plus
//! cancellation and refunds.
//!
//! Rooms: `domain` (statuses, the saga's transition table, validated inputs), `store`
//! (SQL), `app` (operations), `http` (handlers), `events` (what it consumes),
//! `payments` (the two synchronous calls it makes to payments).

pub mod app;
pub mod domain;
pub mod events;
pub mod http;
pub mod payments;
pub mod store;

use std::sync::Arc;
use std::time::Duration;

use platform::auth::Authenticator;
use platform::bus::{Bus, RetryPolicy, Subscription};
use platform::client::ServiceClient;
use platform::db::{Db, Migrations};
use platform::http::Readiness;
use platform::service::ServiceKind;
use platform::tasks::Tasks;
use platform::time::Clock;
use serde::Deserialize;

pub use app::{OrderingApp, OrderingError};

/// Ordering's migrations.
pub const MIGRATIONS: Migrations = Migrations {
    scope: "ordering",
    steps: &[platform::migration!("0001_init")],
};

/// Ordering's configuration (`[ordering]`, `VISCOUNT_ORDERING__*`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct OrderingConfig {
    /// How long each saga step (stock, then payment) may take before the order is
    /// cancelled.
    pub saga_step_timeout_secs: u64,
    /// How often overdue orders are looked for.
    pub timeout_sweep_interval_ms: u64,
}

impl Default for OrderingConfig {
    fn default() -> Self {
        Self {
            saga_step_timeout_secs: 60,
            timeout_sweep_interval_ms: 1000,
        }
    }
}

/// Why ordering could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Database.
    #[error(transparent)]
    Db(#[from] platform::db::DbError),
    /// Bus.
    #[error(transparent)]
    Bus(#[from] platform::bus::BusError),
}

/// A running ordering service.
#[derive(Clone)]
pub struct Ordering {
    app: OrderingApp,
    authenticator: Authenticator,
    bus: Arc<dyn Bus>,
}

impl Ordering {
    /// Opens the database, attaches the outbox, subscribes to catalog's, inventory's
    /// and payments' events, and starts the saga's timeout sweeper. `payments` reaches
    /// the payments service (in this process or over HTTP).
    pub async fn build(
        config: OrderingConfig,
        database_url: &str,
        bus: Arc<dyn Bus>,
        authenticator: Authenticator,
        payments: ServiceClient,
        tasks: &Tasks,
        clock: Clock,
    ) -> Result<Self, StartError> {
        let db = Db::connect(database_url, &MIGRATIONS).await?;
        let outbox = bus
            .attach_producer(ServiceKind::Ordering, db.clone(), tasks)
            .await?;
        let app = OrderingApp::new(
            db.clone(),
            outbox.clone(),
            clock,
            config.clone(),
            payments::PaymentsApi::new(payments),
        );
        bus.subscribe(
            Subscription {
                consumer: ServiceKind::Ordering.as_str().into(),
                db,
                streams: vec![
                    ServiceKind::Catalog,
                    ServiceKind::Inventory,
                    ServiceKind::Payments,
                    ServiceKind::Fulfillment,
                ],
                handler: Arc::new(events::OrderingEvents { app: app.clone() }),
                retry: RetryPolicy::default(),
                outbox: Some(outbox),
            },
            tasks,
        )
        .await?;
        let sweeper = app.clone();
        tasks.every(
            "saga timeout sweep",
            Duration::from_millis(config.timeout_sweep_interval_ms.max(10)),
            move || {
                let sweeper = sweeper.clone();
                async move { sweeper.expire_overdue().await }
            },
        );
        Ok(Self {
            app,
            authenticator,
            bus,
        })
    }

    /// The operations.
    pub fn app(&self) -> &OrderingApp {
        &self.app
    }

    /// The service's database.
    pub fn db(&self) -> &Db {
        self.app.db()
    }

    /// The HTTP routes (paths as in API.md), authenticated.
    pub fn router(&self) -> axum::Router {
        http::router(self.app.clone(), self.authenticator.clone())
    }

    /// Readiness checks: database and bus.
    pub fn readiness(&self) -> Readiness {
        Readiness::new(ServiceKind::Ordering.as_str())
            .with("database", self.app.db().clone())
            .with("bus", self.bus.clone())
    }
}
