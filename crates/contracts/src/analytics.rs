//! What the analytics service publishes: a report that is ready for its recipient
//! (notifications mails it) and a business series that left its expected band
//! (notifications alerts every admin).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::Event;

/// A generated report is ready to be delivered to a recipient (a scheduled report).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, ToSchema)]
pub struct ReportReady {
    /// The generated report.
    pub report_id: String,
    /// The schedule that asked for it, when one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule_id: Option<String>,
    /// The built-in template (`sales_summary`, `revenue_by_channel`, ...).
    pub template: String,
    /// The template's name for people, e.g. "Sales summary".
    pub title: String,
    /// `csv`, `json` or `pdf`.
    pub format: String,
    /// Where it goes: an email address.
    pub recipient: String,
    /// The file's name, e.g. `sales_summary-2026-12-05.csv`.
    pub file_name: String,
    /// Its media type, e.g. `text/csv`.
    pub content_type: String,
    /// The report itself, base64 (standard alphabet, padded), when it is small enough
    /// to attach; otherwise absent and the message links to `download_path`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attachment_base64: Option<String>,
    /// Where an admin downloads it through the gateway.
    pub download_path: String,
    /// The first instant the report covers (RFC 3339), when it covers a period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period_from: Option<String>,
    /// The first instant after the period it covers (RFC 3339, exclusive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period_to: Option<String>,
    /// When it was generated (RFC 3339).
    pub generated_at: String,
}

impl Event for ReportReady {
    const TYPE: &'static str = "analytics.report.ready.v1";
    fn subject(&self) -> String {
        self.report_id.clone()
    }
}

/// A per-minute business series left its robust baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, ToSchema)]
pub struct AnomalyDetected {
    /// The anomaly's id.
    pub id: String,
    /// The series: `orders`, `payment_failures` or `revenue`.
    pub series: String,
    /// The tenant whose series it is (`viscount` for the platform's own).
    pub tenant_id: String,
    /// The minute that left the band (RFC 3339, start of the minute).
    pub minute: String,
    /// What the minute measured (revenue in minor units of `currency`).
    pub value: f64,
    /// What the baseline expected.
    pub expected: f64,
    /// The band's lower edge.
    pub lower: f64,
    /// The band's upper edge.
    pub upper: f64,
    /// `above` or `below`.
    pub direction: String,
    /// The currency of a revenue series.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
}

impl Event for AnomalyDetected {
    const TYPE: &'static str = "analytics.anomaly.detected.v1";
    fn subject(&self) -> String {
        self.id.clone()
    }
}
