//! Analytics' configuration (`[analytics]`, `VISCOUNT_ANALYTICS__*`).

use serde::Deserialize;

/// Analytics' settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct AnalyticsConfig {
    /// How far before a conversion a touchpoint still belongs to its journey, days.
    pub lookback_days: u32,
    /// The time-decay model's half-life, days: a touch this much older than another
    /// gets half its weight.
    pub half_life_days: f64,
    /// The UTC hour at which each tenant's previous day is reconciled on its own.
    pub reconciliation_hour: u8,
    /// Whether the daily reconciliation runs at all.
    pub daily_reconciliation: bool,
    /// Whether per-minute series are watched for anomalies.
    pub anomaly_detection: bool,
    /// How often the anomaly pass runs, seconds (each closes the minutes since the last).
    pub anomaly_interval_secs: u64,
    /// The currency a tenant's figures are given in when it has none yet.
    pub default_currency: String,
    /// Largest report attached to a scheduled report's email, bytes; a larger one is
    /// linked instead.
    pub report_attachment_limit: usize,
    /// How often due report schedules are looked for, seconds.
    pub report_poll_secs: u64,
    /// Ledger rows read per page of a CSV export (memory is bounded by one page).
    pub export_page_rows: i64,
}

impl Default for AnalyticsConfig {
    fn default() -> Self {
        Self {
            lookback_days: 30,
            half_life_days: 7.0,
            reconciliation_hour: 2,
            daily_reconciliation: true,
            anomaly_detection: true,
            anomaly_interval_secs: 60,
            default_currency: "USD".into(),
            report_attachment_limit: 512 * 1024,
            report_poll_secs: 15,
            export_page_rows: 2_000,
        }
    }
}
