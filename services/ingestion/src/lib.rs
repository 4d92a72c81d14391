//! The ingestion service: orders, payments and refunds from external storefronts and
//! payment providers (Shopify, Stripe, PayPal, WooCommerce), each delivery verified by
//! its provider's signature scheme, stripped of personal data in two layers, normalized
//! into one attribution event with its marketing channel, stored once per provider
//! event and announced on the bus; plus tenants' sources, dead letters with replay,
//! channel taxonomies and touchpoints.
//!
//! Viscount's own confirmed orders, captured payments and processed refunds become the
//! same attribution events, as the built-in tenant `viscount`.
//!
//! Rooms: `domain` (topics, signatures, the allow-list, normalization, own events,
//! taxonomy, the personal-data detectors, what is stored, the ports it needs), `store`
//! (the only translator, every row through the personal-data guard), `app` (one file per
//! use case), `http` (handlers), `events` (what it consumes: ordering's and payments'
//! events), `config`; adapters: `identity` (tenants, over identity's API) and
//! `certificates` (PayPal's certificates over HTTPS).

pub mod app;
pub mod certificates;
pub mod config;
pub mod domain;
pub mod events;
pub mod http;
pub mod identity;
mod metrics;
pub mod store;

use std::sync::Arc;

use platform::auth::Authenticator;
use platform::db::Migrations;
use platform::service::{Consumer, Service, ServiceContext, ServiceData, ServiceKind, StartError};

pub use app::{IngestionApp, IngestionError, Receipt};
pub use config::IngestionConfig;

/// Ingestion's migrations.
pub const MIGRATIONS: Migrations = Migrations {
    scope: "ingestion",
    steps: &[platform::migration!("0001_init")],
};

/// A running ingestion service.
pub struct Ingestion {
    data: ServiceData,
    app: IngestionApp,
    authenticator: Authenticator,
}

impl Service for Ingestion {
    /// Opens the database; tenants are looked up at identity.
    async fn build(context: &ServiceContext) -> Result<Self, StartError> {
        let config: IngestionConfig = context.config()?;
        let data = context.open(&MIGRATIONS).await?;
        let certificates =
            certificates::PaypalCertificates::new().map_err(|err| context.failed(err))?;
        let app = IngestionApp::new(
            data.db.clone(),
            data.outbox.clone(),
            context.clock().clone(),
            config,
            Arc::new(identity::HttpTenants::new(
                context.peer(ServiceKind::Identity)?,
            )),
            Arc::new(certificates),
        );
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

    /// Viscount's own sales: confirmed orders from ordering, captured payments and
    /// processed refunds from payments.
    fn consumer(&self) -> Option<Consumer> {
        Some(Consumer::new(
            vec![ServiceKind::Ordering, ServiceKind::Payments],
            Arc::new(events::OwnEvents {
                app: self.app.clone(),
            }),
        ))
    }
}

impl Ingestion {
    /// The operations.
    pub fn app(&self) -> &IngestionApp {
        &self.app
    }
}
