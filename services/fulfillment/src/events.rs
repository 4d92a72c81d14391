//! What fulfillment consumes: ordering's confirmation (owner, address, items) and
//! cancellation, and inventory's stock commit (which warehouse ships what). The two
//! halves of an order arrive on different streams in any order; shipments open when
//! both are known. Each event is applied inside the consumer's transaction, which also
//! holds the inbox row, so a redelivered event changes nothing.

use async_trait::async_trait;
use contracts::Event;
use contracts::inventory::StockCommitted;
use contracts::ordering::{OrderCancelled, OrderConfirmed};
use platform::bus::{Envelope, EventHandler, HandlerError};
use platform::db::Tx;

use crate::app::FulfillmentApp;

/// The event types fulfillment acts on.
const HANDLED: [&str; 3] = [
    OrderConfirmed::TYPE,
    OrderCancelled::TYPE,
    StockCommitted::TYPE,
];

/// Applies ordering's and inventory's events to shipments.
pub struct OrderEvents {
    /// The operations.
    pub app: FulfillmentApp,
}

#[async_trait]
impl EventHandler for OrderEvents {
    async fn handle(&self, tx: &mut Tx, event: &Envelope) -> Result<(), HandlerError> {
        if event.is::<OrderConfirmed>() {
            let order: OrderConfirmed = event.decode()?;
            // Without an owner no one could see the shipments; keep the event visible
            // in the dead-letter table instead of opening orphans.
            let user_id = order.user_id.as_deref().ok_or_else(|| {
                HandlerError::Rejected(format!(
                    "confirmed order {} carries no user_id",
                    order.order_id
                ))
            })?;
            self.app
                .confirmed_in(
                    tx,
                    &order.order_id,
                    user_id,
                    order.shipping_address.as_ref(),
                    &order.items,
                )
                .await?;
        } else if event.is::<StockCommitted>() {
            let committed: StockCommitted = event.decode()?;
            self.app
                .committed_in(tx, &committed.order_id, &committed.allocations)
                .await?;
        } else if event.is::<OrderCancelled>() {
            let cancelled: OrderCancelled = event.decode()?;
            self.app
                .cancelled_in(tx, &cancelled.order_id, &cancelled.reason)
                .await?;
        }
        Ok(())
    }

    fn handles(&self, event_type: &str) -> bool {
        HANDLED.contains(&event_type)
    }
}
