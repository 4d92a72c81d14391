//! Viscount's own orders, payments and refunds, taken from the bus and stored as the
//! built-in tenant's attribution events, exactly as a webhook's are: classified by the
//! tenant's taxonomy, the owner hashed with the tenant's key, written through the
//! store's guard, and announced with `ingestion.event.received.v1`. All of it happens
//! in the consumer's transaction, so the event, its announcement and the consumer's
//! record of having applied it are kept together or not at all; a redelivery (the same
//! envelope id) stores nothing twice.

use std::sync::Arc;

use contracts::ingestion::{Channel, VISCOUNT_TENANT};
use platform::db::Tx;

use super::{IngestionApp, IngestionError};
use crate::domain::event::{AttributionEvent, Origin};
use crate::domain::own::{self, OwnEvent};
use crate::domain::payload::CustomerRefKey;
use crate::store::{self, StoreError};

/// What became of one of Viscount's own events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OwnRecorded {
    /// Stored as this attribution event (and announced).
    Stored(String),
    /// The envelope was stored before; nothing was written.
    Duplicate,
    /// Not stored, for this reason (logged; never personal data).
    Skipped(String),
}

impl IngestionApp {
    /// Stores `event`, which arrived in the envelope `envelope_id` at `time`, as the
    /// built-in tenant's attribution event inside the consumer's `tx`.
    #[tracing::instrument(
        skip_all,
        fields(event_id = %envelope_id, event_type = event.topic().event_type(), order_id = %event.order_id()),
        err
    )]
    pub async fn record_own(
        &self,
        tx: &mut Tx,
        envelope_id: &str,
        time: &str,
        event: &OwnEvent,
    ) -> Result<OwnRecorded, IngestionError> {
        let key = self.own_ref_key(tx).await?;
        let normalized = match own::normalize(envelope_id, time, event, &key) {
            Ok(normalized) => normalized,
            Err(skipped) => {
                tracing::warn!(reason = %skipped, "an own event without what an attribution event needs was skipped");
                return Ok(OwnRecorded::Skipped(skipped.reason));
            }
        };
        let taxonomy = self.taxonomy_in_force(VISCOUNT_TENANT).await?;
        // A webhook no rule classifies waits as a dead event for a taxonomy fix; an own
        // event has no payload to replay, and revenue must not go missing, so it counts
        // under the channel that means exactly "no rule names it".
        let channel = taxonomy
            .classify(&normalized.channel_fields)
            .unwrap_or_else(|| {
                tracing::warn!("no rule of the viscount tenant's taxonomy matches; channel other");
                Channel::Other
            });
        let stored = AttributionEvent {
            id: platform::ids::new_id(),
            tenant_id: VISCOUNT_TENANT.to_owned(),
            origin: Origin::Own(event.topic()),
            normalized,
            channel,
            received_at: self.clock.now_millis(),
        };
        match store::insert_event(tx, &stored).await {
            Ok(true) => {
                self.outbox.stage(tx, &stored.to_contract()).await?;
                Ok(OwnRecorded::Stored(stored.id))
            }
            Ok(false) => Ok(OwnRecorded::Duplicate),
            // The first layer screens what customers typed, so this should never
            // happen; should it, the event cannot be kept as it is (and a retry would
            // not change it).
            Err(StoreError::PersonalData(found)) => {
                tracing::warn!(
                    column = found.column,
                    kind = found.kind.as_str(),
                    "the store refused personal data in an own event; it was skipped"
                );
                Ok(OwnRecorded::Skipped(found.to_string()))
            }
            Err(StoreError::Db(err)) => Err(err.into()),
        }
    }

    /// The built-in tenant's hashing key, made inside `tx` the first time. A key made
    /// here is not remembered until it is read back committed: should `tx` roll back,
    /// a remembered key would hash with a key nobody stored.
    async fn own_ref_key(&self, tx: &mut Tx) -> Result<Arc<CustomerRefKey>, IngestionError> {
        if let Some(key) = self.cache.key(VISCOUNT_TENANT) {
            return Ok(key);
        }
        if let Some(key) = store::tenant_key(&mut **tx, VISCOUNT_TENANT).await? {
            let key = Arc::new(key);
            self.cache.put_key(VISCOUNT_TENANT, key.clone());
            return Ok(key);
        }
        let fresh = CustomerRefKey::generate().map_err(|_| {
            IngestionError::Port(crate::domain::ports::PortError::Unavailable(
                "the system's random number generator",
            ))
        })?;
        let key =
            store::ensure_tenant(tx, VISCOUNT_TENANT, &fresh, self.clock.now_millis()).await?;
        Ok(Arc::new(key))
    }
}

#[cfg(test)]
mod tests;
