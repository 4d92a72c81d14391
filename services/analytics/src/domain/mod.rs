//! Analytics' pure rules: no I/O.

pub mod anomaly;
pub mod attribution;
pub mod kpis;
pub mod ledger;
pub mod mmm;
pub mod period;
pub mod reconciliation;
pub mod report;
pub mod reporting;
pub mod schedule;
