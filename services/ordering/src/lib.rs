//! The ordering service: carts priced from its own copy of catalog prices, orders with
//! a price snapshot and status history, and the checkout saga it orchestrates
//! (reserve → authorize → confirm, compensating on any failure or timeout), plus
//! cancellation and refunds.
//!
//! Rooms: `domain` (the `Order` and `Cart` aggregates, the saga's transition table,
//! validated inputs, what it emits, the `PaymentsPort` it needs), `store` (the only
//! translator between rows and aggregates), `app` (one file per use case), `http`
//! (handlers), `events` (what it consumes), `config`, `payments` (`HttpPayments`,
//! the port's adapter over payments' API) and `identity` (`HttpIdentity`, holding
//! loyalty points over identity's API).

pub mod app;
pub mod config;
pub mod domain;
pub mod events;
pub mod http;
pub mod identity;
mod metrics;
pub mod payments;
pub mod store;

use std::sync::Arc;
use std::time::Duration;

use platform::auth::Authenticator;
use platform::db::Migrations;
use platform::service::{Consumer, Service, ServiceContext, ServiceData, ServiceKind, StartError};
use platform::tasks::Tasks;

pub use app::{CheckoutHold, OrderingApp, OrderingError};
pub use config::OrderingConfig;

/// Ordering's migrations.
pub const MIGRATIONS: Migrations = Migrations {
    scope: "ordering",
    steps: &[
        platform::migration!("0001_init"),
        platform::migration!("0002_attribution"),
        platform::migration!("0003_idempotency_key"),
        platform::migration!("0004_completion"),
        platform::migration!("0005_loyalty"),
    ],
};

/// A running ordering service.
pub struct Ordering {
    data: ServiceData,
    app: OrderingApp,
    authenticator: Authenticator,
    config: OrderingConfig,
    /// Where checkouts, cancellations and refunds run to their end whatever their
    /// client does.
    tasks: Tasks,
}

impl Service for Ordering {
    /// Opens the database and reaches payments and identity (in this process or over
    /// HTTP).
    async fn build(context: &ServiceContext) -> Result<Self, StartError> {
        let config: OrderingConfig = context.config()?;
        let data = context.open(&MIGRATIONS).await?;
        let payments = payments::HttpPayments::new(context.peer(ServiceKind::Payments)?);
        let app = OrderingApp::new(
            data.db.clone(),
            data.outbox.clone(),
            context.clock().clone(),
            config.clone(),
            payments,
        )
        .with_identity(identity::HttpIdentity::new(
            context.peer(ServiceKind::Identity)?,
            context.service_token(),
        ))
        .with_cart_cache(app::cart_cache(
            context,
            Duration::from_secs(config.cart_cache_ttl_secs),
        ));
        Ok(Self {
            data,
            app,
            authenticator: context.authenticator()?,
            config,
            tasks: context.tasks().clone(),
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
        http::router(
            self.app.clone(),
            self.authenticator.clone(),
            self.tasks.clone(),
        )
    }

    /// Prices from catalog, the saga's answers from inventory and payments, parcels from
    /// fulfillment.
    fn consumer(&self) -> Option<Consumer> {
        Some(Consumer::new(
            vec![
                ServiceKind::Catalog,
                ServiceKind::Inventory,
                ServiceKind::Payments,
                ServiceKind::Fulfillment,
            ],
            Arc::new(events::OrderingEvents {
                app: self.app.clone(),
            }),
        ))
    }

    /// The saga's timeout sweeper, and the sweep that completes delivered orders
    /// whose return window closed.
    fn start_background(&self, tasks: &Tasks) {
        let sweeper = self.app.clone();
        tasks.every(
            "saga timeout sweep",
            Duration::from_millis(self.config.timeout_sweep_interval_ms.max(10)),
            move || {
                let sweeper = sweeper.clone();
                async move { sweeper.expire_overdue().await }
            },
        );
        let completer = self.app.clone();
        tasks.every(
            "order completion sweep",
            Duration::from_millis(self.config.completion_sweep_interval_ms.max(10)),
            move || {
                let completer = completer.clone();
                async move { completer.complete_due().await }
            },
        );
    }
}

impl Ordering {
    /// The operations.
    pub fn app(&self) -> &OrderingApp {
        &self.app
    }
}
