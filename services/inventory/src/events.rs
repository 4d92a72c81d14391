//! What inventory consumes: the checkout saga's order events (created reserves,
//! cancelled releases, confirmed commits) and fulfillment's received returns (units back
//! on hand) — each inside the consumer's transaction, which also holds the inbox row, so
//! a redelivered event changes nothing.

use async_trait::async_trait;
use contracts::Event;
use contracts::fulfillment::{ReturnReceived, ShipmentReturned};
use contracts::ordering::{OrderCancelled, OrderConfirmed, OrderCreated};
use platform::bus::{Envelope, EventHandler, HandlerError};
use platform::db::Tx;

use crate::app::{InventoryApp, InventoryError};
use crate::domain::{Quantity, ReservationStatus, Sku};

/// The actor recorded on ledger rows written for events.
const ACTOR: &str = "ordering";

/// Applies ordering's and fulfillment's events to stock.
pub struct OrderEvents {
    /// The operations.
    pub app: InventoryApp,
}

#[async_trait]
impl EventHandler for OrderEvents {
    async fn handle(&self, tx: &mut Tx, event: &Envelope) -> Result<(), HandlerError> {
        if event.is::<OrderCreated>() {
            let order: OrderCreated = event.decode()?;
            let mut items = Vec::with_capacity(order.items.len());
            for line in &order.items {
                let sku = Sku::try_from(line.sku.clone())
                    .map_err(|e| HandlerError::Rejected(format!("sku {}: {e}", line.sku)))?;
                let quantity = Quantity::try_from(i64::from(line.quantity))
                    .map_err(|e| HandlerError::Rejected(format!("quantity: {e}")))?;
                items.push((sku, quantity));
            }
            // A shortage is an outcome (its failure event is staged), not an error.
            let _ = self
                .app
                .reserve_in(
                    tx,
                    ACTOR,
                    &order.order_id,
                    &items,
                    self.app.config.default_reservation_ttl_secs,
                )
                .await?;
        } else if event.is::<OrderCancelled>() {
            let order: OrderCancelled = event.decode()?;
            // Cancelled while holding stock: release it. Cancelled after confirmation
            // (before shipment): the committed units go back on hand.
            let released = self
                .app
                .release_in(tx, ACTOR, &order.order_id, ReservationStatus::Released)
                .await?;
            match released {
                Err(InventoryError::ReservationClosed(status))
                    if status == ReservationStatus::Committed.as_str() =>
                {
                    ignore_missing(
                        self.app
                            .release_in(tx, ACTOR, &order.order_id, ReservationStatus::Returned)
                            .await?,
                    )?;
                }
                other => ignore_missing(other)?,
            }
        } else if event.is::<OrderConfirmed>() {
            let order: OrderConfirmed = event.decode()?;
            let committed = self
                .app
                .close_in(tx, ACTOR, &order.order_id, ReservationStatus::Committed)
                .await?;
            if let Err(err) = committed {
                // Confirming an order whose stock is gone (expired) is a saga bug; keep it
                // visible in the dead-letter table rather than dropping it.
                return Err(HandlerError::Rejected(format!(
                    "cannot commit order {}: {err}",
                    order.order_id
                )));
            }
        } else if event.is::<ReturnReceived>() || event.is::<ShipmentReturned>() {
            // A parcel back at the sender restocks like a received return.
            let returned: ReturnReceived = if event.is::<ShipmentReturned>() {
                event.decode::<ShipmentReturned>()?.into()
            } else {
                event.decode()?
            };
            if let Err(err) = self
                .app
                .restock_return_in(tx, "fulfillment", &returned)
                .await?
            {
                return Err(HandlerError::Rejected(format!(
                    "cannot restock return {}: {err}",
                    returned.return_id
                )));
            }
        }
        Ok(())
    }

    fn handles(&self, event_type: &str) -> bool {
        [
            OrderCreated::TYPE,
            OrderCancelled::TYPE,
            OrderConfirmed::TYPE,
            ReturnReceived::TYPE,
            ShipmentReturned::TYPE,
        ]
        .contains(&event_type)
    }
}

/// Releasing an order that never got stock (or was already released) is fine.
fn ignore_missing<T>(outcome: Result<T, InventoryError>) -> Result<(), HandlerError> {
    match outcome {
        Ok(_) | Err(InventoryError::NoReservation | InventoryError::ReservationClosed(_)) => Ok(()),
        Err(err) => Err(HandlerError::Rejected(err.to_string())),
    }
}
