//! The fulfillment service: shipments opened from confirmed orders (one per warehouse
//! the stock was committed from), carrier labels and rates, carrier tracking webhooks,
//! delivery confirmation, and customer returns.
//!
//! Rooms: `domain` (the `Shipment` and `Return` aggregates with their state machines
//! and the events they emit, the `Carrier` trait, return rules), `carrier` (the
//! built-in local courier and webhook signatures), `label` (the PDF label and its Code
//! 128 barcode), `store` (the only translator between rows and aggregates), `app` (one
//! file per use case), `http` (handlers), `events` (the ordering and inventory events
//! it consumes), `config`.

pub mod app;
pub mod carrier;
pub mod config;
pub mod domain;
pub mod events;
pub mod http;
pub mod label;
pub mod store;

use std::sync::Arc;

use platform::auth::Authenticator;
use platform::config::ExposeSecret;
use platform::db::Migrations;
use platform::service::{Consumer, Service, ServiceContext, ServiceData, ServiceKind, StartError};

pub use app::{FulfillmentApp, FulfillmentError};
pub use config::{DEV_LOCAL_COURIER_SECRET, FulfillmentConfig, ShipFrom};

/// Fulfillment's migrations.
pub const MIGRATIONS: Migrations = Migrations {
    scope: "fulfillment",
    steps: &[
        platform::migration!("0001_init"),
        platform::migration!("0002_list_order"),
    ],
};

/// A running fulfillment service.
pub struct Fulfillment {
    data: ServiceData,
    app: FulfillmentApp,
    authenticator: Authenticator,
}

impl Service for Fulfillment {
    /// Checks the configuration, opens the database and sets up the carriers.
    async fn build(context: &ServiceContext) -> Result<Self, StartError> {
        let config: FulfillmentConfig = context.config()?;
        config.check().map_err(|e| context.failed(e))?;
        if config.local_courier_secret.expose_secret() == DEV_LOCAL_COURIER_SECRET {
            tracing::warn!(
                "fulfillment uses the development local courier secret; set VISCOUNT_FULFILLMENT__LOCAL_COURIER_SECRET in production"
            );
        }
        let data = context.open(&MIGRATIONS).await?;
        let carriers = carrier::Carriers::new(vec![Arc::new(carrier::LocalCourier::new(
            &config.currency,
            config.local_courier_secret.expose_secret(),
            config.local_courier_tracking_url.clone(),
        ))]);
        let app = FulfillmentApp {
            db: data.db.clone(),
            outbox: data.outbox.clone(),
            clock: context.clock().clone(),
            config: Arc::new(config),
            carriers,
        };
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

    /// Authenticated routes; the carrier webhook is authenticated by its signature.
    fn router(&self) -> axum::Router {
        http::router(self.app.clone(), self.authenticator.clone())
    }

    /// Confirmed and cancelled orders from ordering, committed stock from inventory.
    fn consumer(&self) -> Option<Consumer> {
        Some(Consumer::new(
            vec![ServiceKind::Ordering, ServiceKind::Inventory],
            Arc::new(events::OrderEvents {
                app: self.app.clone(),
            }),
        ))
    }
}

impl Fulfillment {
    /// The operations.
    pub fn app(&self) -> &FulfillmentApp {
        &self.app
    }
}
