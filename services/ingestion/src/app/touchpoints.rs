//! Touchpoints: a tenant's batch of visits, checked item by item (a bad item names
//! `items[i].field` and nothing of the batch is written), hashed, classified by the
//! tenant's taxonomy and stored with their events in one transaction.

use super::{IngestionApp, IngestionError};
use crate::domain::event::Touchpoint;
pub use crate::domain::touchpoint::TouchpointInput;
use crate::store;

/// Why a batch was refused: every bad field of every item.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} field(s) of the batch are unusable", .errors.len())]
pub struct TouchpointsError {
    /// `(items[i].field, why)`.
    pub errors: Vec<(String, String)>,
}

impl IngestionApp {
    /// Checks and stores a tenant's batch; answers the stored ids in order.
    #[tracing::instrument(skip_all, fields(tenant_id = %tenant_id, items = items.len()), err(level = "info"))]
    pub async fn record_touchpoints(
        &self,
        tenant_id: &str,
        items: Vec<TouchpointInput>,
    ) -> Result<Result<Vec<String>, TouchpointsError>, IngestionError> {
        if items.is_empty() {
            return Ok(Err(TouchpointsError {
                errors: vec![("items".into(), "must not be empty".into())],
            }));
        }
        if items.len() > self.config.max_touchpoints_per_batch {
            return Ok(Err(TouchpointsError {
                errors: vec![(
                    "items".into(),
                    format!(
                        "must hold at most {} touchpoints",
                        self.config.max_touchpoints_per_batch
                    ),
                )],
            }));
        }
        let key = self.ref_key(tenant_id).await?;
        let taxonomy = self.taxonomy_in_force(tenant_id).await?;
        let now = self.clock.now_millis();
        let mut errors = Vec::new();
        let mut touchpoints = Vec::with_capacity(items.len());
        for (i, item) in items.into_iter().enumerate() {
            match item.check(&key, now) {
                Err(bad) => errors.extend(
                    bad.into_iter()
                        .map(|(field, why)| (format!("items[{i}].{field}"), why)),
                ),
                Ok(checked) => match taxonomy.classify(&checked.channel_fields) {
                    None => errors.push((
                        format!("items[{i}]"),
                        "no rule of the tenant's channel taxonomy matches".into(),
                    )),
                    Some(channel) => touchpoints.push(Touchpoint {
                        id: platform::ids::new_id(),
                        tenant_id: tenant_id.to_owned(),
                        customer_ref: checked.customer_ref,
                        occurred_at: checked.occurred_at,
                        channel_fields: checked.channel_fields,
                        channel,
                        received_at: now,
                    }),
                },
            }
        }
        if !errors.is_empty() {
            return Ok(Err(TouchpointsError { errors }));
        }
        let mut tx = self.db.begin().await?;
        for touchpoint in &touchpoints {
            store::insert_touchpoint(&mut tx, touchpoint).await?;
            self.outbox
                .stage(&mut tx, &touchpoint.to_contract())
                .await?;
        }
        tx.commit().await?;
        self.outbox.wake();
        Ok(Ok(touchpoints.into_iter().map(|t| t.id).collect()))
    }
}
