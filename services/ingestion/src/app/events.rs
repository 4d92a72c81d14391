//! Stored attribution events and dead events, listed for an admin or a tenant's own
//! key, and the replay of a dead event after a taxonomy or code fix.

use contracts::ingestion::EventReceived;

use super::webhooks::Receipt;
use super::{IngestionApp, IngestionError};
use crate::domain::event::{DeadEvent, Resolution};
use crate::store;

/// What a replay came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replayed {
    /// Stored now as this event.
    Stored(String),
    /// Already stored as this event (an earlier replay or delivery).
    AlreadyStored(String),
}

impl IngestionApp {
    /// Stored events by id after `after`, of one tenant or of all.
    pub async fn events(
        &self,
        tenant_id: Option<&str>,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<EventReceived>, IngestionError> {
        Ok(
            store::list_events(self.db.reader(), tenant_id, after, limit)
                .await?
                .iter()
                .map(|event| event.to_contract())
                .collect(),
        )
    }

    /// Dead events by id after `after`, of one tenant or of all.
    pub async fn dead_events(
        &self,
        tenant_id: Option<&str>,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<DeadEvent>, IngestionError> {
        Ok(store::list_dead_events(self.db.reader(), tenant_id, after, limit).await?)
    }

    /// Normalizes a dead event again (with the taxonomy and code in force now) and
    /// stores it; when it still cannot be, its reason is brought up to date and the
    /// answer says why. `tenant_id` limits which dead events the caller may replay.
    #[tracing::instrument(skip_all, fields(dead_event_id = %id), err(level = "info"))]
    pub async fn replay(
        &self,
        tenant_id: Option<&str>,
        id: &str,
    ) -> Result<Replayed, IngestionError> {
        let dead = store::dead_event(self.db.reader(), id)
            .await?
            .filter(|dead| tenant_id.is_none_or(|tenant| tenant == dead.tenant_id))
            .ok_or(IngestionError::NotFound("dead event"))?;
        if let Some(resolution) = &dead.resolution {
            return Ok(Replayed::AlreadyStored(resolution.event_id.clone()));
        }
        let stripped = dead.replayable().ok_or_else(|| {
            IngestionError::NotReplayable(format!(
                "nothing of the delivery was kept ({}); it can only be delivered again",
                dead.reason
            ))
        })?;
        match self.take(&dead.tenant_id, stripped).await? {
            Receipt::Stored(event_id) => Ok(Replayed::Stored(event_id)),
            Receipt::Duplicate(event_id) => {
                // Stored by another delivery meanwhile: the dead event is settled by it.
                let mut tx = self.db.begin().await?;
                store::resolve_dead_event(
                    &mut tx,
                    &dead.tenant_id,
                    dead.topic.provider(),
                    &dead.provider_event_id,
                    &Resolution {
                        at: self.clock.now_millis(),
                        event_id: event_id.clone(),
                    },
                )
                .await?;
                tx.commit().await?;
                Ok(Replayed::AlreadyStored(event_id))
            }
            Receipt::Dead { reason, .. } => Err(IngestionError::NotReplayable(format!(
                "it still cannot be normalized: {reason}"
            ))),
        }
    }
}
