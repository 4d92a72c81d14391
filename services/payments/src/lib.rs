//! The payments service: card payments through a provider (a built-in sandbox that
//! behaves like a card processor), authorize / capture / void / refund, an append-only
//! transaction ledger, saved cards, and fraud rules.
//!
//! Rooms: `domain` (card rules, fraud rules, statuses), `provider` (the provider trait
//! and the sandbox), `store` (SQL), `app` (operations), `http` (handlers), `events`
//! (the ordering events it reacts to; what it emits is staged by `app`).
//!
//! A card number is used only to call the provider: it is never stored, logged or
//! echoed. Payments keeps the provider's token, the brand, the last four digits and
//! the expiry.

pub mod app;
pub mod domain;
pub mod events;
pub mod http;
pub mod provider;
pub mod store;

use std::sync::Arc;

use platform::auth::Authenticator;
use platform::bus::{Bus, RetryPolicy, Subscription};
use platform::db::{Db, Migrations};
use platform::http::Readiness;
use platform::service::ServiceKind;
use platform::tasks::Tasks;
use platform::time::Clock;
use serde::Deserialize;

pub use app::{
    EventOutcome, NewPayment, PaymentMethodView, PaymentSource, PaymentView, PaymentsApp,
    PaymentsError, RefundOutcome, TransactionView,
};
pub use domain::PaymentStatus;
pub use provider::{PaymentProvider, SandboxProvider};

/// Payments' migrations.
pub const MIGRATIONS: Migrations = Migrations {
    scope: "payments",
    steps: &[platform::migration!("0001_init")],
};

/// Payments' configuration (`[payments]`, `VISCOUNT_PAYMENTS__*`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct PaymentsConfig {
    /// Largest amount (minor units) authorized without a fraud block.
    pub max_amount_minor: i64,
    /// Authorization attempts per user per minute beyond which the fraud rules block.
    pub fraud_max_attempts_per_minute: u32,
}

impl Default for PaymentsConfig {
    fn default() -> Self {
        Self {
            max_amount_minor: 1_000_000,
            fraud_max_attempts_per_minute: 5,
        }
    }
}

/// Why payments could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Database.
    #[error(transparent)]
    Db(#[from] platform::db::DbError),
    /// Bus.
    #[error(transparent)]
    Bus(#[from] platform::bus::BusError),
}

/// A running payments service.
#[derive(Clone)]
pub struct Payments {
    app: PaymentsApp,
    authenticator: Authenticator,
    bus: Arc<dyn Bus>,
}

impl Payments {
    /// Opens the database, attaches the outbox and subscribes to ordering's events, with
    /// the built-in sandbox as the card provider.
    pub async fn build(
        config: PaymentsConfig,
        database_url: &str,
        bus: Arc<dyn Bus>,
        authenticator: Authenticator,
        tasks: &Tasks,
        clock: Clock,
    ) -> Result<Self, StartError> {
        Self::build_with_provider(
            config,
            database_url,
            bus,
            authenticator,
            tasks,
            clock,
            Arc::new(SandboxProvider::new()),
        )
        .await
    }

    /// [`Payments::build`] with another card provider.
    pub async fn build_with_provider(
        config: PaymentsConfig,
        database_url: &str,
        bus: Arc<dyn Bus>,
        authenticator: Authenticator,
        tasks: &Tasks,
        clock: Clock,
        provider: Arc<dyn PaymentProvider>,
    ) -> Result<Self, StartError> {
        let db = Db::connect(database_url, &MIGRATIONS).await?;
        let outbox = bus
            .attach_producer(ServiceKind::Payments, db.clone(), tasks)
            .await?;
        let app = PaymentsApp::new(db.clone(), outbox.clone(), clock, config, provider);
        bus.subscribe(
            Subscription {
                consumer: ServiceKind::Payments.as_str().into(),
                db,
                streams: vec![ServiceKind::Ordering],
                handler: Arc::new(events::OrderEvents { app: app.clone() }),
                retry: RetryPolicy::default(),
                outbox: Some(outbox),
            },
            tasks,
        )
        .await?;
        Ok(Self {
            app,
            authenticator,
            bus,
        })
    }

    /// The operations (ordering calls `refund` through them in one process).
    pub fn app(&self) -> &PaymentsApp {
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
        Readiness::new(ServiceKind::Payments.as_str())
            .with("database", self.app.db().clone())
            .with("bus", self.bus.clone())
    }
}
