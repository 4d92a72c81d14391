//! The support service (seed 003's Customer Support context): customers' tickets with
//! their conversation, optionally about one of their orders, worked by admins; and a
//! knowledge base of articles searched through the platform's full-text engine (the
//! `fulltext` crate, the catalog's).
//!
//! Rooms: `domain` (the `Ticket` aggregate and its state machine, articles), `store`
//! (the only translator between rows and aggregates), `app` (one file per use case),
//! `http` (handlers), `events` (the ticket events it emits; it consumes none), `peers`
//! (what it asks ordering and identity), `metrics`, `config`.

pub mod app;
pub mod config;
pub mod domain;
pub mod events;
pub mod http;
mod metrics;
pub mod peers;
pub mod store;

use std::time::Duration;

use platform::auth::Authenticator;
use platform::db::Migrations;
use platform::service::{Service, ServiceContext, ServiceData, ServiceKind, StartError};
use platform::tasks::Tasks;

pub use app::{SupportApp, SupportError};
pub use config::SupportConfig;

/// Support's migrations.
pub const MIGRATIONS: Migrations = Migrations {
    scope: "support",
    steps: &[platform::migration!("0001_init")],
};

/// A running support service.
pub struct Support {
    data: ServiceData,
    app: SupportApp,
    authenticator: Authenticator,
    config: SupportConfig,
    /// The search index's directory, removed at close when it is this process's own
    /// (PostgreSQL).
    index_dir: fulltext::IndexDir,
}

impl Service for Support {
    /// Opens the database and the knowledge-base index, rebuilding the index when it
    /// does not match the database.
    async fn build(context: &ServiceContext) -> Result<Self, StartError> {
        let config: SupportConfig = context.config()?;
        let data = context.open(&MIGRATIONS).await?;
        let url = context.database_url();
        let index_dir = fulltext::IndexDir::for_database(url);
        let index = fulltext::SearchIndex::open_async(index_dir.path.clone(), app::LAYOUT)
            .await
            .map_err(|e| context.failed(e))?;
        let peers = peers::Peers::new(
            context.peer(ServiceKind::Ordering)?,
            context.peer(ServiceKind::Identity)?,
        );
        let app = SupportApp {
            db: data.db.clone(),
            outbox: data.outbox.clone(),
            clock: context.clock().clone(),
            index,
            peers,
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

    fn close(&self) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + '_>> {
        Box::pin(async move {
            self.data.db.close().await;
            if let Err(err) = self.index_dir.remove_if_own() {
                tracing::warn!(error = %err, "cannot remove the search index directory");
            }
        })
    }

    /// Another replica's article writes reach this replica's index within
    /// `index_sync_interval_ms`.
    fn start_background(&self, tasks: &Tasks) {
        let syncing = self.app.clone();
        let interval = Duration::from_millis(self.config.index_sync_interval_ms.max(10));
        tasks.every("knowledge-base index sync", interval, move || {
            let syncing = syncing.clone();
            async move { syncing.ensure_index().await.map(usize::from) }
        });
    }
}

impl Support {
    /// The operations.
    pub fn app(&self) -> &SupportApp {
        &self.app
    }
}
