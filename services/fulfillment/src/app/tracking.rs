//! Carrier tracking webhooks: the signature that authenticates them, and how a scan
//! moves (or only adds to the history of) a shipment. Carriers resend, repeat and
//! reorder their scans, so the same update twice changes nothing and a scan the
//! parcel is past is kept without moving it.

use std::sync::Arc;

use super::shipments::Report;
use super::{FulfillmentApp, FulfillmentError};
use crate::carrier::signature_is_valid;
use crate::domain::{Carrier, Scan, Shipment, ShipmentStatus};
use crate::store;

/// A carrier's tracking update, checked.
#[derive(Debug, Clone)]
pub struct CarrierUpdate {
    /// The tracking number it is about.
    pub tracking_number: String,
    /// The status it reports (one a carrier may report).
    pub status: ShipmentStatus,
    /// When it happened, epoch ms.
    pub occurred_at: i64,
    /// Where.
    pub location: Option<String>,
    /// What happened.
    pub description: Option<String>,
}

/// What a tracking update did.
#[derive(Debug, Clone)]
pub struct TrackingOutcome {
    /// The shipment's status after it.
    pub status: ShipmentStatus,
    /// The same update had been applied before; nothing changed.
    pub duplicate: bool,
    /// The update moved (or confirmed) the shipment's status; `false` for a scan the
    /// parcel is already past, which is only recorded.
    pub applied: bool,
}

impl FulfillmentApp {
    /// Checks a carrier webhook's signature over the raw `body` and returns the
    /// shipment it is for. The secret is the shipment's carrier's; for an unknown
    /// shipment the answer is 401 unless some carrier signed the body, so unsigned
    /// callers learn nothing about which shipments exist.
    #[tracing::instrument(skip_all, fields(shipment_id = %id), err(level = "debug"))]
    pub async fn authenticate_webhook(
        &self,
        id: &str,
        body: &[u8],
        signature: Option<&str>,
    ) -> Result<Shipment, FulfillmentError> {
        let shipment = if platform::ids::is_uuid(id) {
            let mut conn = self.db.reader().acquire().await?;
            store::shipments::get(&mut conn, id).await?
        } else {
            None
        };
        let signed = |carrier: &Arc<dyn Carrier>| {
            signature_is_valid(carrier.webhook_secret(), body, signature)
        };
        match shipment {
            Some(shipment) => match self.carriers.get(&shipment.carrier) {
                Some(carrier) if signed(carrier) => Ok(shipment),
                _ => Err(FulfillmentError::BadSignature),
            },
            None if self.carriers.all().iter().any(signed) => Err(FulfillmentError::NotFound),
            None => Err(FulfillmentError::BadSignature),
        }
    }

    /// Applies a carrier's (authenticated) tracking update: the same update again
    /// changes nothing, the current status again adds a history entry (another scan),
    /// and any other status moves the shipment along the state machine.
    #[tracing::instrument(
        skip_all,
        fields(shipment_id = %shipment.id, order_id = %shipment.order_id, status = %update.status),
        err
    )]
    pub async fn apply_tracking(
        &self,
        shipment: &Shipment,
        update: &CarrierUpdate,
    ) -> Result<TrackingOutcome, FulfillmentError> {
        if update.tracking_number != shipment.tracking_number {
            return Err(FulfillmentError::TrackingMismatch);
        }
        let mut tx = self.db.begin().await?;
        let mut current = self
            .lock_order_and_read(&mut tx, &shipment.order_id, &shipment.id)
            .await?;
        let from = current.status();
        if store::shipments::entry_exists(&mut tx, &current.id, update.status, update.occurred_at)
            .await?
        {
            tx.rollback().await?;
            return Ok(TrackingOutcome {
                status: from,
                duplicate: true,
                applied: false,
            });
        }
        let carrier = current.carrier.clone();
        let report = Report {
            at: update.occurred_at,
            location: update.location.as_deref(),
            description: update.description.as_deref(),
            source: &carrier,
        };
        let now = self.clock.now_millis();
        let applied = match current.track(update.status, update.occurred_at, now) {
            Scan::Repeated => {
                self.record_in(&mut tx, &current, from, &report).await?;
                true
            }
            Scan::Moved(transition) => {
                self.move_in(&mut tx, &current, &transition, &report)
                    .await?;
                true
            }
            Scan::Stale => {
                self.record_in(&mut tx, &current, update.status, &report)
                    .await?;
                false
            }
        };
        tx.commit().await?;
        self.outbox.wake();
        Ok(TrackingOutcome {
            status: current.status(),
            duplicate: false,
            applied,
        })
    }
}
