//! The inventory service: warehouses, stock per (sku, warehouse) with a movement ledger,
//! all-or-nothing reservations with expiry, adjustments, and low-stock alerts.
//!
//! Rooms: `domain` (the `StockLevel` and `Reservation` aggregates: the one stock rule,
//! allocation, the events they emit), `store` (the only translator between rows and
//! aggregates), `app` (one file per use case), `http` (handlers), `events` (the
//! ordering and fulfillment events it consumes), `config`.

pub mod app;
pub mod config;
pub mod domain;
pub mod events;
pub mod http;
mod metrics;
pub mod store;

use std::sync::Arc;
use std::time::Duration;

use platform::auth::Authenticator;
use platform::db::Migrations;
use platform::service::{Consumer, Service, ServiceContext, ServiceData, ServiceKind, StartError};
use platform::tasks::Tasks;

pub use app::{InventoryApp, InventoryError, StockView};
pub use config::InventoryConfig;

/// Inventory's migrations.
pub const MIGRATIONS: Migrations = Migrations {
    scope: "inventory",
    steps: &[
        platform::migration!("0001_init"),
        platform::migration!("0002_stock_changes"),
        platform::migration!("0003_reservation_retention"),
        platform::migration!("0004_ledger_order"),
    ],
};

/// A running inventory service.
pub struct Inventory {
    data: ServiceData,
    app: InventoryApp,
    authenticator: Authenticator,
}

impl Service for Inventory {
    /// Opens the database; the default low-stock threshold is followed live. Closed
    /// reservations are swept with the platform's tables.
    async fn build(context: &ServiceContext) -> Result<Self, StartError> {
        let config: InventoryConfig = context.config()?;
        let live = Arc::new(context.live_config::<InventoryConfig>()?);
        let data = context.open(&MIGRATIONS).await?;
        let app = InventoryApp {
            db: data.db.clone(),
            outbox: data.outbox.clone(),
            clock: context.clock().clone(),
            config,
            live,
        };
        data.retention()
            .add_rule(Arc::new(app::ClosedReservations::new(&app)));
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

    /// Orders to reserve, commit, release or restock; returns to put back on hand.
    fn consumer(&self) -> Option<Consumer> {
        Some(Consumer::new(
            vec![ServiceKind::Ordering, ServiceKind::Fulfillment],
            Arc::new(events::OrderEvents {
                app: self.app.clone(),
            }),
        ))
    }

    /// The reservation expiry sweeper and the stock totals announcer.
    fn start_background(&self, tasks: &Tasks) {
        let config = &self.app.config;
        let sweeper = self.app.clone();
        tasks.every(
            "reservation expiry sweep",
            Duration::from_millis(config.expiry_sweep_interval_ms.max(10)),
            move || {
                let sweeper = sweeper.clone();
                async move { sweeper.expire_due().await }
            },
        );
        let announcer = self.app.clone();
        tasks.every(
            "stock totals announcement",
            Duration::from_millis(config.stock_totals_interval_ms.max(10)),
            move || {
                let announcer = announcer.clone();
                async move { announcer.announce_changed_totals().await }
            },
        );
    }
}

impl Inventory {
    /// The operations.
    pub fn app(&self) -> &InventoryApp {
        &self.app
    }
}
