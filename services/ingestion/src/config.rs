//! Ingestion's configuration (`[ingestion]`, `VISCOUNT_INGESTION__*`).

use serde::Deserialize;

/// Ingestion's settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct IngestionConfig {
    /// Whether a PayPal source without a stored certificate may have its certificate
    /// fetched from the delivery's `PAYPAL-CERT-URL` (only ever from PayPal's own
    /// hosts, over HTTPS). Off by default: a stored certificate needs no network.
    pub paypal_fetch_certificates: bool,
    /// Most touchpoints in one batch.
    pub max_touchpoints_per_batch: usize,
    /// How long a process trusts what it read of sources and taxonomies before reading
    /// them again, ms: a change made through another replica takes effect within it (a
    /// change made through this one, at once).
    pub cache_ttl_ms: u64,
}

impl Default for IngestionConfig {
    fn default() -> Self {
        Self {
            paypal_fetch_certificates: false,
            max_touchpoints_per_batch: 1000,
            cache_ttl_ms: 5_000,
        }
    }
}
