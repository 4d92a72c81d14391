//! The analytics service: the revenue ledger (append-only), attribution of every
//! conversion under five models, read models kept current by its consumer, the
//! Bayesian marketing-mix model, reconciliation of orders with payments, export, KPIs of
//! Viscount's own business, reports and dashboards, and anomaly alerts. It builds all
//! of it from events and never reads another service's database.
//!
//! Rooms: `domain` (attribution models, the ledger's rows and splits, periods and
//! buckets, reconciliation, the marketing-mix model, anomaly baselines, reports and
//! schedules), `store` (the only translator; the ledger's append-only insert and the
//! splits' sum guard), `app` (one file per use case), `http` (handlers), `events` (the
//! consumer), `config`.

pub mod app;
pub mod config;
pub mod domain;
pub mod events;
pub mod http;
pub mod store;
#[cfg(test)]
mod testing;

use std::sync::Arc;
use std::time::Duration;

use platform::auth::Authenticator;
use platform::db::Migrations;
use platform::service::{Consumer, Service, ServiceContext, ServiceData, ServiceKind, StartError};
use platform::tasks::Tasks;

pub use app::{AnalyticsApp, AnalyticsError, DAILY_RECONCILIATION, REPORT_SCHEDULES};
pub use config::AnalyticsConfig;

/// Analytics' migrations.
pub const MIGRATIONS: Migrations = Migrations {
    scope: "analytics",
    steps: &[
        platform::migration!("0001_init"),
        platform::migration!("0002_kpis"),
        platform::migration!("0003_report_runs"),
        platform::migration!("0004_job_fences"),
        platform::migration!("0005_run_order"),
    ],
};

/// A running analytics service.
pub struct Analytics {
    data: ServiceData,
    app: AnalyticsApp,
    authenticator: Authenticator,
}

impl Service for Analytics {
    /// Opens the database; the daily reconciliation and the report schedules run under
    /// coordination's locks.
    async fn build(context: &ServiceContext) -> Result<Self, StartError> {
        let config: AnalyticsConfig = context.config()?;
        let data = context.open(&MIGRATIONS).await?;
        let jobs = app::Jobs::new(platform::fence::locks_for(context)?);
        let app = AnalyticsApp::new(
            data.db.clone(),
            data.outbox.clone(),
            context.clock().clone(),
            config,
        )
        .with_jobs(jobs);
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

    fn consumer(&self) -> Option<Consumer> {
        Some(Consumer::new(
            vec![
                ServiceKind::Identity,
                ServiceKind::Ingestion,
                ServiceKind::Ordering,
                ServiceKind::Payments,
                ServiceKind::Inventory,
            ],
            Arc::new(events::AnalyticsEvents {
                app: self.app.clone(),
            }),
        ))
    }

    fn start_background(&self, tasks: &Tasks) {
        let app = self.app.clone();
        tasks.every("daily reconciliation", Duration::from_secs(60), move || {
            let app = app.clone();
            async move { app.run_daily_reconciliations().await }
        });
        let anomalies = self.app.clone();
        let every = Duration::from_secs(anomalies.config().anomaly_interval_secs.max(1));
        tasks.every("anomaly detection", every, move || {
            let app = anomalies.clone();
            async move { app.detect_anomalies().await }
        });
        self.app.start_report_tasks(tasks);
    }
}

impl Analytics {
    /// The operations.
    pub fn app(&self) -> &AnalyticsApp {
        &self.app
    }
}
