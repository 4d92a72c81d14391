//! The payments service: card payments through a provider (a built-in sandbox that
//! behaves like a card processor, or Stripe), authorize / capture / void / refund, an
//! append-only transaction ledger, saved cards, and fraud rules.
//!
//! Rooms: `domain` (the `Payment` aggregate and its state machine, card and fraud
//! rules, the events it emits, invoices and credit notes), `provider` (the provider
//! trait, the sandbox and Stripe), `pdf` (invoices and credit notes as PDF),
//! `store` (the only translator between rows and aggregates), `app` (one file per use
//! case), `http` (handlers), `events` (the ordering events it consumes), `config`.
//!
//! A card number is used only to call the provider: it is never stored, logged or
//! echoed. Payments keeps the provider's token, the brand, the last four digits and
//! the expiry.

pub mod app;
pub mod config;
pub mod domain;
pub mod events;
pub mod http;
mod metrics;
pub mod pdf;
pub mod provider;
pub mod store;

use std::sync::Arc;
use std::time::Duration;

use platform::auth::Authenticator;
use platform::db::Migrations;
use platform::service::{Consumer, Service, ServiceContext, ServiceData, ServiceKind, StartError};
use platform::tasks::Tasks;

pub use app::{
    CardSource, EventOutcome, FraudReviewView, NewPayment, PaymentMethodView, PaymentSource,
    PaymentView, PaymentsApp, PaymentsError, RefundOutcome, TransactionView,
};
pub use config::{PaymentsConfig, PaymentsSettings};
pub use domain::PaymentStatus;
pub use provider::{PaymentProvider, SandboxProvider};

/// Payments' migrations.
pub const MIGRATIONS: Migrations = Migrations {
    scope: "payments",
    steps: &[
        platform::migration!("0001_init"),
        platform::migration!("0002_expiry"),
        platform::migration!("0003_invoices"),
        platform::migration!("0004_fraud_reviews"),
        platform::migration!("0005_payment_origins"),
        platform::migration!("0006_provider_calls"),
        platform::migration!("0007_provider_notices"),
        platform::migration!("0008_provider_customers"),
    ],
};

/// A running payments service.
pub struct Payments {
    data: ServiceData,
    app: PaymentsApp,
    authenticator: Authenticator,
    /// Where requests that move money run to their end whatever their client does.
    tasks: Tasks,
}

impl Service for Payments {
    /// Opens the database, with the card provider `payments.provider` names (the
    /// built-in sandbox unless configured) and the fraud limits read live (a change
    /// applies to the next authorization). A provider that cannot be set up (Stripe
    /// without its secret key) refuses to start.
    async fn build(context: &ServiceContext) -> Result<Self, StartError> {
        let settings = PaymentsSettings::live(context.live_config()?);
        let provider = provider::from_config(&settings.get())?;
        Self::build_with_provider(context, settings, provider).await
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

    /// Ordering's saga: authorize when reserved, capture when confirmed, void or refund
    /// when cancelled.
    fn consumer(&self) -> Option<Consumer> {
        let mut consumer = Consumer::new(
            vec![ServiceKind::Ordering],
            Arc::new(events::OrderEvents {
                app: self.app.clone(),
            }),
        );
        // A cancellation that finds a capture waiting for the provider comes again until
        // the capture is answered, which may take the reconciler's wait (a minute by
        // default) and a lookup: eight attempts span about a hundred seconds.
        consumer.retry.max_attempts = consumer.retry.max_attempts.max(8);
        Some(consumer)
    }

    /// The sweeps that give up payments no order took further in time, decline fraud
    /// reviews no one decided in time, and settle provider calls whose answer was
    /// lost.
    fn start_background(&self, tasks: &Tasks) {
        let review_interval = self
            .app
            .settings
            .get()
            .fraud
            .review_sweep_interval_ms
            .max(10);
        let app = self.app.clone();
        tasks.every(
            "fraud review expiry sweep",
            Duration::from_millis(review_interval),
            move || {
                let app = app.clone();
                async move { app.expire_reviews().await }
            },
        );
        let interval = self.app.settings.get().expiry_sweep_interval_ms.max(10);
        let app = self.app.clone();
        tasks.every(
            "abandoned payment sweep",
            Duration::from_millis(interval),
            move || {
                let app = app.clone();
                async move { app.expire_abandoned().await }
            },
        );
        let interval = self.app.settings.get().call_sweep_interval_ms.max(10);
        let app = self.app.clone();
        tasks.every(
            "provider call reconciler",
            Duration::from_millis(interval),
            move || {
                let app = app.clone();
                async move { app.reconcile_calls().await }
            },
        );
    }
}

impl Payments {
    /// [`Service::build`] with `settings` (fixed values, or the live ones) and another
    /// card provider.
    pub async fn build_with_provider(
        context: &ServiceContext,
        settings: impl Into<PaymentsSettings>,
        provider: Arc<dyn PaymentProvider>,
    ) -> Result<Self, StartError> {
        let settings: PaymentsSettings = settings.into();
        let rate = settings.get().invoices.tax_rate_basis_points;
        if rate > domain::invoice::BASIS_POINTS {
            return Err(StartError::Config {
                section: "payments",
                source: platform::config::ConfigError::invalid(
                    "payments",
                    format!("invoices.tax_rate_basis_points is {rate}; at most 10000 (100 %)"),
                ),
            });
        }
        let data = context.open(&MIGRATIONS).await?;
        for rule in [
            app::FraudFactsRetention::Attempts,
            app::FraudFactsRetention::Origins,
        ] {
            data.retention().add_rule(Arc::new(rule));
        }
        data.retention().add_rule(Arc::new(app::NoticesRetention));
        let app = PaymentsApp::new(
            data.db.clone(),
            data.outbox.clone(),
            context.clock().clone(),
            settings,
            provider,
            context.tasks().clone(),
        );
        Ok(Self {
            data,
            app,
            authenticator: context.authenticator()?,
            tasks: context.tasks().clone(),
        })
    }

    /// The operations.
    pub fn app(&self) -> &PaymentsApp {
        &self.app
    }
}
