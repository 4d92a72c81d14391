//! The fulfillment service: shipments opened from confirmed orders (one per warehouse
//! the stock was committed from), carrier labels and rates, carrier tracking webhooks,
//! delivery confirmation, and customer returns.
//!
//! Rooms: `domain` (shipment and return state machines, the `Carrier` trait, return
//! rules), `carrier` (the built-in local courier and webhook signatures), `label` (the
//! PDF label and its Code 128 barcode), `store` (SQL), `app` (operations), `http`
//! (handlers), `events` (the ordering and inventory events it consumes; what it emits
//! is staged by `app`).

pub mod app;
pub mod carrier;
pub mod domain;
pub mod events;
pub mod http;
pub mod label;
pub mod store;

use std::collections::BTreeMap;
use std::sync::Arc;

use platform::auth::Authenticator;
use platform::bus::{Bus, RetryPolicy, Subscription};
use platform::config::Secret;
use platform::db::{Db, Migrations};
use platform::http::Readiness;
use platform::service::ServiceKind;
use platform::tasks::Tasks;
use platform::time::Clock;
use serde::Deserialize;

pub use app::{Caller, FulfillmentApp, FulfillmentError};

/// Fulfillment's migrations.
pub const MIGRATIONS: Migrations = Migrations {
    scope: "fulfillment",
    steps: &[platform::migration!("0001_init")],
};

/// The local courier's webhook secret when none is configured. For development and
/// tests only: anyone who reads this source can sign tracking updates with it, so a
/// deployment sets `VISCOUNT_FULFILLMENT__LOCAL_COURIER_SECRET`.
pub const DEV_LOCAL_COURIER_SECRET: &str = "viscount-dev-local-courier-secret";

/// Fulfillment's configuration (`[fulfillment]`, `VISCOUNT_FULFILLMENT__*`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct FulfillmentConfig {
    /// ISO 4217 currency of carrier rates (`USD`).
    pub currency: String,
    /// Weight of one unit in grams (500). The catalog keeps no weights, so every unit
    /// of every sku weighs this much when parcels are priced.
    pub unit_weight_grams: u32,
    /// Days after delivery within which a return may be opened (30).
    pub return_window_days: u32,
    /// Secret the local courier signs its tracking webhooks with (HMAC-SHA256). The
    /// default, [`DEV_LOCAL_COURIER_SECRET`], is for development only.
    pub local_courier_secret: Secret,
    /// The local courier's public tracking page, with `{tracking_number}` replaced
    /// (none by default).
    pub local_courier_tracking_url: Option<String>,
    /// Where parcels leave from: the label's sender and the rate's origin, for every
    /// warehouse without an entry in `warehouses`.
    pub ship_from: ShipFrom,
    /// Sender addresses by warehouse id (`[fulfillment.warehouses.<id>]`).
    pub warehouses: BTreeMap<String, ShipFrom>,
}

impl Default for FulfillmentConfig {
    fn default() -> Self {
        Self {
            currency: "USD".into(),
            unit_weight_grams: 500,
            return_window_days: 30,
            local_courier_secret: Secret::from(DEV_LOCAL_COURIER_SECRET),
            local_courier_tracking_url: None,
            ship_from: ShipFrom::default(),
            warehouses: BTreeMap::new(),
        }
    }
}

impl FulfillmentConfig {
    /// The sender address of parcels from `warehouse_id`.
    pub fn ship_from(&self, warehouse_id: &str) -> &ShipFrom {
        self.warehouses.get(warehouse_id).unwrap_or(&self.ship_from)
    }

    fn check(&self) -> Result<(), StartError> {
        if contracts::Money::price(0, &self.currency).is_err() {
            return Err(StartError::Config("currency must be a known ISO 4217 code"));
        }
        if !(1..=1_000_000).contains(&self.unit_weight_grams) {
            return Err(StartError::Config(
                "unit_weight_grams must be between 1 and 1000000",
            ));
        }
        if !(1..=3650).contains(&self.return_window_days) {
            return Err(StartError::Config(
                "return_window_days must be between 1 and 3650",
            ));
        }
        if self.local_courier_secret.expose().len() < 16 {
            return Err(StartError::Config(
                "local_courier_secret must be at least 16 bytes",
            ));
        }
        Ok(())
    }
}

/// A sender address.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct ShipFrom {
    /// Sender name.
    pub name: String,
    /// Street and number.
    pub line1: String,
    /// City.
    pub city: String,
    /// Postal code (rates compare its prefix with the recipient's).
    pub postal_code: String,
    /// ISO 3166-1 alpha-2 country.
    pub country: String,
}

impl Default for ShipFrom {
    fn default() -> Self {
        Self {
            name: "Viscount Fulfillment".into(),
            line1: "1 Warehouse Way".into(),
            city: "Springfield".into(),
            postal_code: "12300".into(),
            country: "US".into(),
        }
    }
}

/// Why fulfillment could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Database.
    #[error(transparent)]
    Db(#[from] platform::db::DbError),
    /// Bus.
    #[error(transparent)]
    Bus(#[from] platform::bus::BusError),
    /// The `[fulfillment]` configuration breaks a rule.
    #[error("invalid fulfillment configuration: {0}")]
    Config(&'static str),
}

/// A running fulfillment service.
#[derive(Clone)]
pub struct Fulfillment {
    app: FulfillmentApp,
    authenticator: Authenticator,
    bus: Arc<dyn Bus>,
}

impl Fulfillment {
    /// Checks the configuration, opens the database, attaches the outbox and subscribes
    /// to ordering's and inventory's events.
    pub async fn build(
        config: FulfillmentConfig,
        database_url: &str,
        bus: Arc<dyn Bus>,
        authenticator: Authenticator,
        tasks: &Tasks,
        clock: Clock,
    ) -> Result<Self, StartError> {
        config.check()?;
        if config.local_courier_secret.expose() == DEV_LOCAL_COURIER_SECRET {
            tracing::warn!(
                "fulfillment uses the development local courier secret; set VISCOUNT_FULFILLMENT__LOCAL_COURIER_SECRET in production"
            );
        }
        let db = Db::connect(database_url, &MIGRATIONS).await?;
        let outbox = bus
            .attach_producer(ServiceKind::Fulfillment, db.clone(), tasks)
            .await?;
        let carriers = carrier::Carriers::new(vec![Arc::new(carrier::LocalCourier::new(
            &config.currency,
            config.local_courier_secret.expose(),
            config.local_courier_tracking_url.clone(),
        ))]);
        let app = FulfillmentApp {
            db: db.clone(),
            outbox: outbox.clone(),
            clock,
            config: Arc::new(config),
            carriers,
        };
        bus.subscribe(
            Subscription {
                consumer: ServiceKind::Fulfillment.as_str().into(),
                db,
                streams: vec![ServiceKind::Ordering, ServiceKind::Inventory],
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

    /// The operations.
    pub fn app(&self) -> &FulfillmentApp {
        &self.app
    }

    /// The service's database.
    pub fn db(&self) -> &Db {
        &self.app.db
    }

    /// The HTTP routes (paths as in API.md), authenticated; the carrier webhook is
    /// authenticated by its signature instead.
    pub fn router(&self) -> axum::Router {
        http::router(self.app.clone(), self.authenticator.clone())
    }

    /// Readiness checks: database and bus.
    pub fn readiness(&self) -> Readiness {
        Readiness::new(ServiceKind::Fulfillment.as_str())
            .with("database", self.app.db.clone())
            .with("bus", self.bus.clone())
    }
}
