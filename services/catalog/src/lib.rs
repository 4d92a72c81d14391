//! The catalog service: products (variants are products naming their parent),
//! categories in a tree, prices, full-text search, and the stock flag kept from
//! inventory's events.
//!
//! Rooms: `domain` (rules), `store` (SQL), `app` (operations), `http` (handlers),
//! `events` (inventory events it consumes), plus `search` (the tantivy index).

pub mod app;
pub mod domain;
pub mod events;
pub mod http;
pub mod search;
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

pub use app::{CatalogApp, CatalogError};

/// How often a replica looks for writes its search index has not seen.
pub const INDEX_SYNC_INTERVAL: Duration = Duration::from_secs(2);

/// Catalog's migrations.
pub const MIGRATIONS: Migrations = Migrations {
    scope: "catalog",
    steps: &[platform::migration!("0001_init")],
};

/// Why the catalog could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Database.
    #[error(transparent)]
    Db(#[from] platform::db::DbError),
    /// Bus.
    #[error(transparent)]
    Bus(#[from] platform::bus::BusError),
    /// Search index.
    #[error(transparent)]
    Search(#[from] search::SearchError),
    /// Rebuilding the index.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
}

/// A running catalog service.
#[derive(Clone)]
pub struct Catalog {
    app: CatalogApp,
    authenticator: Authenticator,
    bus: Arc<dyn Bus>,
}

impl Catalog {
    /// Opens the database and the search index (rebuilding it when it does not match
    /// the database), attaches the outbox and subscribes to inventory's events.
    pub async fn build(
        database_url: &str,
        bus: Arc<dyn Bus>,
        authenticator: Authenticator,
        tasks: &Tasks,
        clock: Clock,
    ) -> Result<Self, StartError> {
        let db = Db::connect(database_url, &MIGRATIONS).await?;
        let outbox = bus
            .attach_producer(ServiceKind::Catalog, db.clone(), tasks)
            .await?;
        let index_dir = search::index_dir_for(database_url);
        let index = tokio::task::spawn_blocking(move || search::SearchIndex::open(&index_dir))
            .await
            .map_err(|_| search::SearchError::Worker)??;
        let app = CatalogApp {
            db: db.clone(),
            outbox,
            clock: clock.clone(),
            index,
        };
        app.ensure_index().await?;
        // Another replica's writes reach this replica's index within a few seconds.
        let syncing = app.clone();
        tasks.every("search index sync", INDEX_SYNC_INTERVAL, move || {
            let syncing = syncing.clone();
            async move { syncing.sync_index().await.map(usize::from) }
        });
        bus.subscribe(
            Subscription {
                consumer: ServiceKind::Catalog.as_str().into(),
                db,
                streams: vec![ServiceKind::Inventory],
                handler: Arc::new(events::StockEvents { clock }),
                retry: RetryPolicy::default(),
                outbox: Some(app.outbox.clone()),
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
    pub fn app(&self) -> &CatalogApp {
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
        Readiness::new(ServiceKind::Catalog.as_str())
            .with("database", self.app.db.clone())
            .with("bus", self.bus.clone())
    }
}
