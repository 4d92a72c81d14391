//! The catalog service: products (variants are products naming their parent),
//! categories in a tree, prices, full-text search, and the stock flag kept from
//! inventory's events.
//!
//! Rooms: `domain` (the `Product` aggregate, categories, filters), `store` (the only
//! translator between rows and aggregates), `app` (one file per use case), `http`
//! (handlers), `events` (inventory events it consumes), `config`, plus `search` (what the
//! catalog puts in the platform's full-text index, the `fulltext` crate).

pub mod app;
pub mod config;
pub mod domain;
pub mod events;
pub mod http;
pub mod search;
pub mod store;

use std::sync::Arc;
use std::time::Duration;

use platform::auth::Authenticator;
use platform::db::Migrations;
use platform::service::{Consumer, Service, ServiceContext, ServiceData, ServiceKind, StartError};
use platform::tasks::Tasks;

pub use app::{CatalogApp, CatalogError};
pub use config::CatalogConfig;

/// Catalog's migrations.
pub const MIGRATIONS: Migrations = Migrations {
    scope: "catalog",
    steps: &[platform::migration!("0001_init")],
};

/// A running catalog service.
pub struct Catalog {
    data: ServiceData,
    app: CatalogApp,
    authenticator: Authenticator,
    config: CatalogConfig,
    /// The search index's directory, removed at close when it is this process's own
    /// (PostgreSQL).
    index_dir: fulltext::IndexDir,
}

impl Service for Catalog {
    /// Opens the database and the search index, rebuilding the index when it does not
    /// match the database.
    async fn build(context: &ServiceContext) -> Result<Self, StartError> {
        let config: CatalogConfig = context.config()?;
        let data = context.open(&MIGRATIONS).await?;
        let index_dir = fulltext::IndexDir::for_database(context.database_url());
        let path = index_dir.path.clone();
        let index = tokio::task::spawn_blocking(move || search::SearchIndex::open(&path))
            .await
            .map_err(|_| context.failed(search::SearchError::Worker))?
            .map_err(|e| context.failed(e))?;
        let app = CatalogApp {
            db: data.db.clone(),
            outbox: data.outbox.clone(),
            clock: context.clock().clone(),
            index,
            products: app::product_cache(
                context,
                Duration::from_secs(config.product_cache_ttl_secs),
            ),
        };
        app.ensure_index().await.map_err(|e| context.failed(e))?;
        Ok(Self {
            data,
            app,
            authenticator: context.authenticator()?,
            config,
            index_dir,
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

    /// Stock totals, for the in-stock flag.
    fn consumer(&self) -> Option<Consumer> {
        Some(Consumer::new(
            vec![ServiceKind::Inventory],
            Arc::new(events::StockEvents {
                clock: self.app.clock.clone(),
                outbox: self.data.outbox.clone(),
                products: self.app.products.clone(),
            }),
        ))
    }

    fn close(&self) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + '_>> {
        Box::pin(async move {
            self.data.db.close().await;
            if let Err(err) = self.index_dir.remove_if_own() {
                tracing::warn!(error = %err, "cannot remove the search index directory");
            }
        })
    }

    /// Another replica's writes reach this replica's search index within a few seconds.
    fn start_background(&self, tasks: &Tasks) {
        let syncing = self.app.clone();
        let interval = Duration::from_millis(self.config.index_sync_interval_ms.max(10));
        tasks.every("search index sync", interval, move || {
            let syncing = syncing.clone();
            async move { syncing.sync_index().await.map(usize::from) }
        });
    }
}

impl Catalog {
    /// The operations.
    pub fn app(&self) -> &CatalogApp {
        &self.app
    }
}
