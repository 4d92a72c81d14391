//! Ingestion's operations, one use case per file: webhooks (`webhooks`), Viscount's own
//! orders, payments and refunds from the bus (`own`), tenants' sources (`sources`),
//! touchpoints (`touchpoints`), stored and dead events with replay (`events`), channel
//! taxonomies (`taxonomy`); `cache` holds what the webhook path reads on every
//! delivery, and `writer` stores deliveries' events in batches.
//!
//! A delivery is verified before anything of it is read, stripped to an allow-list
//! before anything of it is kept, and stored with its event in one transaction. No
//! operation logs a payload, a secret or a customer's identifier.

mod cache;
mod events;
mod own;
mod sources;
mod taxonomy;
mod touchpoints;
mod webhooks;
mod writer;

use std::sync::Arc;

use platform::bus::Outbox;
use platform::db::Db;
use platform::time::Clock;

pub use events::Replayed;
pub use own::OwnRecorded;
pub use sources::{check_source_tenant, is_tenant_id, takes_webhooks};
pub use taxonomy::{TaxonomyOrigin, TaxonomyView};
pub use touchpoints::{TouchpointInput, TouchpointsError};
pub use webhooks::Receipt;

use crate::config::IngestionConfig;
use crate::domain::ports::{CertificateSource, PortError, TenantDirectory};
use crate::store::{PersonalData, StoreError};

/// Why an ingestion operation failed.
#[derive(Debug, thiserror::Error)]
pub enum IngestionError {
    /// A webhook that is not from a configured source, or whose signature does not
    /// verify: nothing of it was kept.
    #[error("{0}")]
    Unauthorized(String),
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
    /// A dead event cannot be stored yet.
    #[error("{0}")]
    NotReplayable(String),
    /// Something outside (identity, PayPal) could not answer.
    #[error(transparent)]
    Port(#[from] PortError),
    /// The store refused a row with personal data.
    #[error(transparent)]
    PersonalData(#[from] PersonalData),
    /// The database failed (or holds a row that does not decode).
    #[error(transparent)]
    Sql(#[from] platform::db::Error),
}

impl From<StoreError> for IngestionError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::PersonalData(found) => Self::PersonalData(found),
            StoreError::Db(err) => Self::Sql(err),
        }
    }
}

/// The ingestion service's operations.
#[derive(Clone)]
pub struct IngestionApp {
    pub(crate) db: Db,
    pub(crate) outbox: Outbox,
    pub(crate) clock: Clock,
    pub(crate) config: IngestionConfig,
    pub(crate) tenants: Arc<dyn TenantDirectory>,
    pub(crate) certificates: Arc<dyn CertificateSource>,
    pub(crate) cache: Arc<cache::Cache>,
    pub(crate) writer: writer::EventWriter,
}

impl IngestionApp {
    /// Operations over `db`, staging events in `outbox`, asking `tenants` whether a
    /// tenant exists and `certificates` for PayPal's certificates.
    pub fn new(
        db: Db,
        outbox: Outbox,
        clock: Clock,
        config: IngestionConfig,
        tenants: Arc<dyn TenantDirectory>,
        certificates: Arc<dyn CertificateSource>,
    ) -> Self {
        let cache = Arc::new(cache::Cache::new(std::time::Duration::from_millis(
            config.cache_ttl_ms,
        )));
        let writer = writer::EventWriter::start(db.clone(), outbox.clone(), clock.clone());
        Self {
            writer,
            db,
            outbox,
            clock,
            config,
            tenants,
            certificates,
            cache,
        }
    }

    /// The service's database.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// The settings.
    pub fn config(&self) -> &IngestionConfig {
        &self.config
    }
}
