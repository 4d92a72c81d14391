//! Analytics' SQL, and the only translator between rows and the domain: tenants
//! ([`tenants`]), the ledger and each row's split ([`ledger`]), conversions and
//! touchpoints ([`journeys`]), the read models ([`buckets`]), spend ([`spend`]),
//! reconciliation runs ([`reconciliation`]), KPI minutes and stock ([`kpis`]), anomaly
//! baselines ([`baselines`]) and reports with their schedules ([`reports`]).
//!
//! Ledger rows are written only by [`ledger::insert_entry`] and never changed (the
//! database refuses it too); splits only by [`ledger::put_split`], which refuses one
//! whose allocations do not sum to the row's amount. A row that does not decode is the
//! column's decode error, never a default.

pub mod baselines;
pub mod buckets;
pub mod journeys;
pub mod kpis;
pub mod ledger;
pub mod reconciliation;
pub mod reports;
pub mod spend;
pub mod tenants;

use crate::domain::ledger::BadSplit;

/// Why a write was refused.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A split whose allocations do not sum to its row's amount (the sum guard).
    #[error("refused split: {0}")]
    BadSplit(#[from] BadSplit),
    /// The database failed.
    #[error(transparent)]
    Db(#[from] platform::db::Error),
}
