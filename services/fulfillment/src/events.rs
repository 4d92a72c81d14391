//! What fulfillment consumes: ordering's confirmation (owner, address, items) and
//! cancellation, and inventory's stock commit (which warehouse ships what). The two
//! halves of an order arrive on different streams in any order; shipments open when
//! both are known. Each event is applied inside the consumer's transaction, which also
//! holds the inbox row, so a redelivered event changes nothing. What fulfillment emits
//! is built by its aggregates and staged by `app`.

use async_trait::async_trait;
use contracts::Event;
use contracts::inventory::StockCommitted;
use contracts::ordering::{OrderCancelled, OrderConfirmed};
use platform::bus::{Envelope, EventHandler, HandlerError};
use platform::db::Tx;

use crate::app::FulfillmentApp;
use crate::domain::Allocation;

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

impl OrderEvents {
    #[tracing::instrument(skip_all, fields(order_id = %order.order_id), err)]
    async fn confirmed(&self, tx: &mut Tx, order: OrderConfirmed) -> Result<(), HandlerError> {
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
        Ok(())
    }

    #[tracing::instrument(skip_all, fields(order_id = %committed.order_id), err)]
    async fn committed(&self, tx: &mut Tx, committed: StockCommitted) -> Result<(), HandlerError> {
        let allocations = committed
            .allocations
            .into_iter()
            .map(Allocation::try_from)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|invalid| {
                HandlerError::Rejected(format!(
                    "stock commit of order {} names an invalid sku: {invalid}",
                    committed.order_id
                ))
            })?;
        self.app
            .committed_in(tx, &committed.order_id, &allocations)
            .await?;
        Ok(())
    }

    #[tracing::instrument(skip_all, fields(order_id = %cancelled.order_id), err)]
    async fn cancelled(&self, tx: &mut Tx, cancelled: OrderCancelled) -> Result<(), HandlerError> {
        self.app
            .cancelled_in(tx, &cancelled.order_id, &cancelled.reason)
            .await?;
        Ok(())
    }
}

#[async_trait]
impl EventHandler for OrderEvents {
    async fn handle(&self, tx: &mut Tx, event: &Envelope) -> Result<(), HandlerError> {
        if event.is::<OrderConfirmed>() {
            self.confirmed(tx, event.decode()?).await
        } else if event.is::<StockCommitted>() {
            self.committed(tx, event.decode()?).await
        } else if event.is::<OrderCancelled>() {
            self.cancelled(tx, event.decode()?).await
        } else {
            Ok(())
        }
    }

    fn handles(&self, event_type: &str) -> bool {
        HANDLED.contains(&event_type)
    }
}
