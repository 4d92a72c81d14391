//! Recording a customer's touchpoint, and re-attributing the conversions it joins: a
//! touchpoint that arrives after an order it precedes changes that order's journey, so
//! every revenue row of the order gets a new split and the read models move with it.

use contracts::ingestion::TouchpointRecorded;
use platform::db::Tx;

use super::ledger::{add_split, customer_key, split_by};
use super::{AnalyticsApp, AnalyticsError};
use crate::domain::period::Period;
use crate::store::journeys::{self, NewTouchpoint};
use crate::store::{ledger, tenants};

impl AnalyticsApp {
    /// Records `touchpoints` in one transaction, as the consumer would one by one.
    pub async fn record_touchpoints(
        &self,
        touchpoints: &[TouchpointRecorded],
    ) -> Result<(), AnalyticsError> {
        let mut tx = self.db.begin().await?;
        for touchpoint in touchpoints {
            self.record_touchpoint_in(&mut tx, touchpoint).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Records `touchpoint` and re-attributes the customer's conversions within the
    /// lookback window after it (a redelivery changes nothing).
    pub(crate) async fn record_touchpoint_in(
        &self,
        tx: &mut Tx,
        touchpoint: &TouchpointRecorded,
    ) -> Result<(), AnalyticsError> {
        let now = self.clock.now_millis();
        let Some(occurred_at) = platform::time::parse_rfc3339(&touchpoint.occurred_at) else {
            tracing::warn!(touchpoint_id = %touchpoint.id, "touchpoint time is not RFC 3339; skipped");
            return Ok(());
        };
        tenants::ensure_tenant(tx, &touchpoint.tenant_id, now).await?;
        // Serialized with the customer's orders and refunds (see `ledger`), so a
        // re-attribution and a new row of the same conversion never both read the
        // split the other is replacing.
        tx.lock(&customer_key(
            &touchpoint.tenant_id,
            &touchpoint.customer_ref,
        ))
        .await?;
        let new = NewTouchpoint {
            id: &touchpoint.id,
            tenant_id: &touchpoint.tenant_id,
            customer_ref: &touchpoint.customer_ref,
            channel: touchpoint.channel,
            occurred_at,
        };
        if !journeys::insert_touchpoint(tx, &new).await? {
            return Ok(());
        }
        let lookback = self.attribution_settings().lookback.whole_milliseconds() as i64;
        let affected = journeys::conversions_of_customer(
            tx,
            &touchpoint.tenant_id,
            &touchpoint.customer_ref,
            Period {
                from: occurred_at,
                to: occurred_at.saturating_add(lookback).saturating_add(1),
            },
        )
        .await?;
        for conversion in affected {
            let weights = self.weights(tx, &conversion).await?;
            for (entry, old) in ledger::rows_of_conversion(tx, &conversion.id).await? {
                let new = split_by(&weights, entry.amount);
                if old.as_ref() == Some(&new) {
                    continue;
                }
                if let Some(old) = &old {
                    add_split(tx, &entry, old, -1).await?;
                }
                self.store_split(tx, &entry, Some(&conversion.id), &new, now)
                    .await?;
                add_split(tx, &entry, &new, 1).await?;
            }
        }
        Ok(())
    }
}
