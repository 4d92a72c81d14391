//! Ingestion's metrics, declared once here through `platform::http::metrics`: webhook
//! deliveries by provider and what became of them. A delivery is counted when its
//! answer is known, after whatever it stored has committed.

use std::sync::LazyLock;

use contracts::ingestion::Provider;
use platform::http::metrics::{self, IntCounterVec};

use crate::app::{IngestionError, Receipt};

static WEBHOOKS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    metrics::counter_vec(
        "ingestion_webhooks_total",
        "Webhook deliveries by provider and result (stored, duplicate, dead: kept as a dead \
         event; rejected: no source or a bad signature; error: not taken, to be retried)",
        &["provider", "result"],
    )
});

/// Counts one delivery from `provider` that ended as `outcome`.
pub(crate) fn webhook(provider: Provider, outcome: &Result<Receipt, IngestionError>) {
    let result = match outcome {
        Ok(Receipt::Stored(_)) => "stored",
        Ok(Receipt::Duplicate(_)) => "duplicate",
        Ok(Receipt::Dead { .. }) => "dead",
        Err(IngestionError::Unauthorized(_)) => "rejected",
        Err(_) => "error",
    };
    WEBHOOKS
        .with_label_values(&[provider.as_str(), result])
        .inc();
}
