//! Analytics' operations, one use case per file: recording ingested events in the
//! ledger and attributing them (`ledger`), touchpoints and re-attribution
//! (`touchpoints`), the revenue read models' answers (`revenue`), spend and the
//! marketing-mix model (`mmm`), reconciliation (`reconciliation`), export (`export`),
//! Viscount's own KPIs (`kpis`), dashboards (`dashboards`), anomaly alerts
//! (`anomalies`), reports and their schedules (`reports`), and the jobs one replica
//! runs at a time under a coordination lease (`jobs`).
//!
//! Every write from an event happens in the consumer's transaction, so an event's
//! ledger row, split and read-model changes land together or not at all.

mod anomalies;
mod dashboards;
mod export;
mod jobs;
mod kpis;
mod ledger;
mod mmm;
mod reconciliation;
mod reports;
mod revenue;
mod touchpoints;

use platform::bus::Outbox;
use platform::db::Db;
use platform::time::Clock;

pub use dashboards::{
    AttributionSummary, ChannelTotal, Dashboard, DashboardSeries, DashboardSummary, DashboardView,
    InventorySummary, Measure, PaymentsSummary, Point,
};
pub use export::{CSV_FIELDS, ExportRow, ExportStream};
pub use jobs::{DAILY_RECONCILIATION, Jobs, REPORT_SCHEDULES};
pub use kpis::{KPI_EVENTS, KpiMinute, KpiSummary, Kpis};
pub use mmm::{MmmAnswer, SpendItem};
pub use reports::{CLAIM_LEASE, ReportFile, ReportWake};
pub use revenue::{ChannelDay, Realtime, RealtimeChannel, RevenueQuery};

use crate::config::AnalyticsConfig;
use crate::domain::attribution::Settings;
use crate::store::StoreError;

/// Why an analytics operation failed.
#[derive(Debug, thiserror::Error)]
pub enum AnalyticsError {
    /// No such thing (or not the caller's).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A request field is unusable.
    #[error("`{field}` {message}")]
    Invalid {
        /// The field.
        field: String,
        /// Why.
        message: String,
    },
    /// The store refused a write (a split that does not add up).
    #[error(transparent)]
    Refused(StoreError),
    /// The database failed (or holds a row that does not decode).
    #[error(transparent)]
    Sql(#[from] platform::db::Error),
    /// The service failed on its own (a computation panicked): a 500, logged where it
    /// happened, the detail kept from the caller.
    #[error("internal error: {0}")]
    Internal(String),
}

impl AnalyticsError {
    /// A request field is unusable.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.to_owned(),
            message: message.into(),
        }
    }
}

impl From<StoreError> for AnalyticsError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Db(err) => Self::Sql(err),
            refused => Self::Refused(refused),
        }
    }
}

/// The analytics service's operations.
#[derive(Clone)]
pub struct AnalyticsApp {
    pub(crate) db: Db,
    pub(crate) outbox: Outbox,
    pub(crate) clock: Clock,
    pub(crate) config: AnalyticsConfig,
    pub(crate) reports: ReportWake,
    /// The leases of the jobs one replica runs at a time (none in the crate's unit
    /// tests, which drive those jobs under fences of their own).
    pub(crate) jobs: Option<Jobs>,
}

impl AnalyticsApp {
    /// Operations over `db`, staging events in `outbox` (see [`AnalyticsApp::with_jobs`]
    /// for the jobs one replica runs at a time).
    pub fn new(db: Db, outbox: Outbox, clock: Clock, config: AnalyticsConfig) -> Self {
        Self {
            db,
            outbox,
            clock,
            config,
            reports: ReportWake::default(),
            jobs: None,
        }
    }

    /// The service's database.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// The settings.
    pub fn config(&self) -> &AnalyticsConfig {
        &self.config
    }

    /// The attribution settings (lookback and half-life) from the configuration.
    pub fn attribution_settings(&self) -> Settings {
        Settings {
            lookback: time::Duration::days(i64::from(self.config.lookback_days)),
            half_life: time::Duration::seconds_f64(
                self.config.half_life_days.max(0.001) * 86_400.0,
            ),
        }
    }

    /// Whether `tenant` is known.
    pub async fn tenant_exists(&self, tenant: &str) -> Result<bool, AnalyticsError> {
        // Text no tenant id holds is not asked about: the database refuses some of it
        // (a NUL byte) with an error rather than no row.
        if tenant.is_empty() || tenant.len() > 128 || tenant.chars().any(char::is_control) {
            return Ok(false);
        }
        Ok(crate::store::tenants::tenant_exists(self.db.reader(), tenant).await?)
    }

    /// Fails with 404 unless `tenant` is known.
    pub async fn require_tenant(&self, tenant: &str) -> Result<(), AnalyticsError> {
        if self.tenant_exists(tenant).await? {
            Ok(())
        } else {
            Err(AnalyticsError::NotFound("tenant"))
        }
    }
}
