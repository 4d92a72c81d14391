//! The inventory service: warehouses, stock per (sku, warehouse) with a movement ledger,
//! all-or-nothing reservations with expiry, adjustments, and low-stock alerts.
//!
//! Rooms: `domain` (allocation and stock rules), `store` (SQL), `app` (operations),
//! `http` (handlers), `events` (the ordering events it consumes; what it emits is
//! staged by `app`).

pub mod app;
pub mod domain;
pub mod events;
pub mod http;
pub mod store;

use std::sync::Arc;
use std::time::Duration;

use platform::auth::Authenticator;
use platform::bus::{Bus, RetryPolicy, Subscription};
use platform::db::{Db, Migrations};
use platform::http::Readiness;
use platform::service::ServiceKind;
use platform::tasks::Tasks;
use platform::time::Clock;
use serde::Deserialize;

pub use app::{InventoryApp, InventoryError, StockView};

/// Inventory's migrations.
pub const MIGRATIONS: Migrations = Migrations {
    scope: "inventory",
    steps: &[
        platform::migration!("0001_init"),
        platform::migration!("0002_stock_changes"),
    ],
};

/// Inventory's configuration (`[inventory]`, `VISCOUNT_INVENTORY__*`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct InventoryConfig {
    /// Threshold of skus without their own.
    pub default_low_stock_threshold: i64,
    /// Reservation lifetime when the caller gives none.
    pub default_reservation_ttl_secs: i64,
    /// Longest reservation lifetime a caller may ask for.
    pub max_reservation_ttl_secs: i64,
    /// How often expired reservations are released.
    pub expiry_sweep_interval_ms: u64,
    /// How often changed stock totals are announced (`inventory.stock.updated`, one
    /// per changed sku per pass): the most the catalog's `in_stock` lags behind.
    pub stock_totals_interval_ms: u64,
}

impl Default for InventoryConfig {
    fn default() -> Self {
        Self {
            default_low_stock_threshold: 5,
            default_reservation_ttl_secs: 15 * 60,
            max_reservation_ttl_secs: 24 * 3600,
            expiry_sweep_interval_ms: 1000,
            stock_totals_interval_ms: 500,
        }
    }
}

/// Why inventory could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Database.
    #[error(transparent)]
    Db(#[from] platform::db::DbError),
    /// Bus.
    #[error(transparent)]
    Bus(#[from] platform::bus::BusError),
}

/// A running inventory service.
#[derive(Clone)]
pub struct Inventory {
    app: InventoryApp,
    authenticator: Authenticator,
    bus: Arc<dyn Bus>,
}

impl Inventory {
    /// Opens the database, attaches the outbox, subscribes to ordering's and
    /// fulfillment's events and starts the expiry sweeper and the stock totals
    /// announcer.
    pub async fn build(
        config: InventoryConfig,
        database_url: &str,
        bus: Arc<dyn Bus>,
        authenticator: Authenticator,
        tasks: &Tasks,
        clock: Clock,
    ) -> Result<Self, StartError> {
        let db = Db::connect(database_url, &MIGRATIONS).await?;
        let outbox = bus
            .attach_producer(ServiceKind::Inventory, db.clone(), tasks)
            .await?;
        let app = InventoryApp {
            db: db.clone(),
            outbox,
            clock,
            config: config.clone(),
        };
        bus.subscribe(
            Subscription {
                consumer: ServiceKind::Inventory.as_str().into(),
                db,
                streams: vec![ServiceKind::Ordering, ServiceKind::Fulfillment],
                handler: Arc::new(events::OrderEvents { app: app.clone() }),
                retry: RetryPolicy::default(),
                outbox: Some(app.outbox.clone()),
            },
            tasks,
        )
        .await?;
        let sweeper = app.clone();
        tasks.every(
            "reservation expiry sweep",
            Duration::from_millis(config.expiry_sweep_interval_ms.max(10)),
            move || {
                let sweeper = sweeper.clone();
                async move { sweeper.expire_due().await }
            },
        );
        let announcer = app.clone();
        tasks.every(
            "stock totals announcement",
            Duration::from_millis(config.stock_totals_interval_ms.max(10)),
            move || {
                let announcer = announcer.clone();
                async move { announcer.announce_changed_totals().await }
            },
        );
        Ok(Self {
            app,
            authenticator,
            bus,
        })
    }

    /// The operations.
    pub fn app(&self) -> &InventoryApp {
        &self.app
    }

    /// The service's database.
    pub fn db(&self) -> &Db {
        &self.app.db
    }

    /// The HTTP routes (paths as in API.md), authenticated.
    pub fn router(&self) -> axum::Router {
        http::router(self.app.clone(), self.authenticator.clone())
    }

    /// Readiness checks: database and bus.
    pub fn readiness(&self) -> Readiness {
        Readiness::new(ServiceKind::Inventory.as_str())
            .with("database", self.app.db.clone())
            .with("bus", self.bus.clone())
    }
}
