//! Events that arrive before the user or order they name (a payment failure before
//! the order's creation, which streams allow) are parked, in the consumer's
//! transaction, under what they wait for (`user:<id>` or `order:<id>`), and replayed
//! when that arrives, instead of being retried until they land in the dead-letter
//! table. A sweeper replays those whose arrival missed them; it sends messages, so one
//! replica runs it at a time, under a coordination lease whose token fences its
//! transaction (see [`PARKED_REPLAY`]).

use platform::bus::{Envelope, HandlerError};
use platform::db::Tx;
use platform::fence::Fence;

use super::NotificationEvents;

/// The lock (and fence) of the parked-event replay sweeper.
pub const PARKED_REPLAY: &str = "notifications.parked-replay";

impl NotificationEvents {
    /// Sets `event` aside until `waits_for` is known.
    pub(super) async fn park(
        &self,
        tx: &mut Tx,
        event: &Envelope,
        waits_for: &str,
    ) -> Result<(), HandlerError> {
        tracing::info!(waits_for, "recipient not known yet; event parked");
        let body = serde_json::to_string(event)?;
        self.app
            .park_in(tx, &event.id, &event.event_type, waits_for, &body)
            .await?;
        Ok(())
    }

    /// The events parked for `waits_for`, taken out of the parking.
    pub(super) async fn release(
        &self,
        tx: &mut Tx,
        waits_for: &str,
    ) -> Result<Vec<Envelope>, HandlerError> {
        let bodies = self.app.take_parked_in(tx, waits_for).await?;
        let mut released = Vec::with_capacity(bodies.len());
        for body in bodies {
            match serde_json::from_str::<Envelope>(&body) {
                Ok(event) => released.push(event),
                Err(err) => {
                    tracing::error!(waits_for, error = %err, "unreadable parked event dropped")
                }
            }
        }
        Ok(released)
    }

    /// Applies the parked events whose user or order has become known without
    /// releasing them (see [`crate::store::parked_now_known`]), under `fence` (the
    /// [`PARKED_REPLAY`] job's lease); returns how many waits ended (none when the fence
    /// refuses: a newer lease has replayed).
    pub async fn replay_released(&self, fence: &Fence) -> Result<usize, HandlerError> {
        let mut tx = self.app.db.begin().await?;
        if !fence.admit(&mut tx).await? {
            return Ok(0);
        }
        let known = self.app.parked_now_known_in(&mut tx).await?;
        for waits_for in &known {
            let released = self.release(&mut tx, waits_for).await?;
            self.apply_all(&mut tx, released.into()).await?;
        }
        tx.commit().await?;
        if !known.is_empty() {
            tracing::info!(count = known.len(), "parked events replayed by the sweeper");
            self.app.wake_sender();
        }
        Ok(known.len())
    }
}
