//! What payments consumes: ordering's events. Reserved authorizes, confirmed captures,
//! cancelled cancels, voids or refunds, a refund request (returned items) refunds —
//! each decided inside the consumer's transaction, which also holds the inbox row, so a
//! redelivered event changes nothing. The provider call a decision records is made
//! once that transaction commits, never inside it.
//!
//! What payments emits is built by the `Payment` aggregate in `domain` and staged by
//! `app` in the same transactions; nothing here emits.

use async_trait::async_trait;
use contracts::Event;
use contracts::ordering::{OrderCancelled, OrderConfirmed, OrderReserved, RefundRequested};
use platform::bus::{Envelope, EventHandler, HandlerError};
use platform::db::Tx;

use crate::app::{PaymentsApp, PaymentsError};

/// Applies ordering events to payments.
pub struct OrderEvents {
    /// The operations.
    pub app: PaymentsApp,
}

#[async_trait]
impl EventHandler for OrderEvents {
    // Every event payments consumes is about an order, its subject.
    #[tracing::instrument(skip_all, fields(event_type = %event.event_type, order_id = %event.subject), err)]
    async fn handle(&self, tx: &mut Tx, event: &Envelope) -> Result<(), HandlerError> {
        // Declines, fraud blocks and mismatches are outcomes (their failure events are
        // staged), not errors; errors are retried and then dead-lettered.
        let step = if event.is::<OrderReserved>() {
            self.app.authorize_in(tx, &event.decode()?).await
        } else if event.is::<OrderConfirmed>() {
            self.app.capture_in(tx, &event.decode()?).await
        } else if event.is::<OrderCancelled>() {
            self.app.cancel_in(tx, &event.decode()?).await
        } else if event.is::<RefundRequested>() {
            self.app.refund_requested_in(tx, &event.decode()?).await
        } else {
            return Ok(());
        };
        match step {
            Ok(step) => {
                tracing::debug!(outcome = ?step.outcome, "order event applied");
                if let Some(call) = step.call {
                    self.app.make_after_commit(tx, call);
                }
                Ok(())
            }
            Err(PaymentsError::Sql(err)) => Err(HandlerError::Sql(err)),
            Err(err) => Err(HandlerError::Rejected(err.to_string())),
        }
    }

    fn handles(&self, event_type: &str) -> bool {
        [
            OrderReserved::TYPE,
            OrderConfirmed::TYPE,
            OrderCancelled::TYPE,
            RefundRequested::TYPE,
        ]
        .contains(&event_type)
    }
}
