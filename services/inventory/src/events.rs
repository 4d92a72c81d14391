//! What inventory consumes: the checkout saga's order events (created reserves,
//! cancelled releases or returns, confirmed commits) and fulfillment's received returns
//! (units back on hand) — each inside the consumer's transaction, which also holds the
//! inbox row, so a redelivered event changes nothing. Each event becomes a validated
//! domain input and one call to the app; what inventory emits is built by `domain`.

use async_trait::async_trait;
use contracts::Event;
use contracts::fulfillment::{ReturnReceived, ShipmentReturned};
use contracts::ordering::{OrderCancelled, OrderConfirmed, OrderCreated};
use platform::bus::{Envelope, EventHandler, HandlerError};
use platform::db::Tx;

use crate::app::{InventoryApp, InventoryError};
use crate::domain::{Quantity, ReservationStatus, Restock, RestockLine, Sku};

/// The actor recorded on ledger rows written for ordering's events.
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
            self.order_created(tx, event.decode()?).await
        } else if event.is::<OrderCancelled>() {
            self.order_cancelled(tx, event.decode()?).await
        } else if event.is::<OrderConfirmed>() {
            self.order_confirmed(tx, event.decode()?).await
        } else if event.is::<ReturnReceived>() {
            self.returned(tx, event.decode()?).await
        } else if event.is::<ShipmentReturned>() {
            // A parcel back at the sender restocks like a received return.
            self.returned(tx, event.decode::<ShipmentReturned>()?.into())
                .await
        } else {
            Ok(())
        }
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

impl OrderEvents {
    /// Reserves the order's lines; a shortage is an outcome (its failure event is
    /// staged), not an error.
    #[tracing::instrument(skip_all, fields(order_id = %order.order_id), err)]
    async fn order_created(&self, tx: &mut Tx, order: OrderCreated) -> Result<(), HandlerError> {
        let mut items = Vec::with_capacity(order.items.len());
        for line in order.items {
            let sku = Sku::try_from(line.sku.clone())
                .map_err(|e| HandlerError::Rejected(format!("sku {}: {e}", line.sku)))?;
            let quantity = Quantity::try_from(i64::from(line.quantity))
                .map_err(|e| HandlerError::Rejected(format!("quantity: {e}")))?;
            items.push((sku, quantity));
        }
        let _outcome = self
            .app
            .reserve_in(
                tx,
                ACTOR,
                &order.order_id,
                &items,
                self.app.config().default_reservation_ttl_secs,
            )
            .await?;
        Ok(())
    }

    /// Cancelled while holding stock: release it. Cancelled after confirmation (before
    /// shipment): the committed units go back on hand.
    #[tracing::instrument(skip_all, fields(order_id = %order.order_id), err)]
    async fn order_cancelled(
        &self,
        tx: &mut Tx,
        order: OrderCancelled,
    ) -> Result<(), HandlerError> {
        ignore_missing(self.app.cancel_in(tx, ACTOR, &order.order_id).await?)
    }

    /// Commits the order's reservation.
    #[tracing::instrument(skip_all, fields(order_id = %order.order_id), err)]
    async fn order_confirmed(
        &self,
        tx: &mut Tx,
        order: OrderConfirmed,
    ) -> Result<(), HandlerError> {
        let committed = self
            .app
            .close_in(tx, ACTOR, &order.order_id, ReservationStatus::Committed)
            .await?;
        match committed {
            Ok(_) => Ok(()),
            // Confirming an order whose stock is gone (expired) is a saga bug; keep it
            // visible in the dead-letter table rather than dropping it.
            Err(err) => Err(HandlerError::Rejected(format!(
                "cannot commit order {}: {err}",
                order.order_id
            ))),
        }
    }

    /// Puts the returned units back on hand.
    #[tracing::instrument(skip_all, fields(return_id = %returned.return_id, order_id = %returned.order_id), err)]
    async fn returned(&self, tx: &mut Tx, returned: ReturnReceived) -> Result<(), HandlerError> {
        let mut lines = Vec::with_capacity(returned.lines.len());
        for line in returned.lines {
            let sku = Sku::try_from(line.sku.clone())
                .map_err(|e| HandlerError::Rejected(format!("sku {}: {e}", line.sku)))?;
            lines.push(RestockLine {
                sku,
                warehouse: line.warehouse_id,
                quantity: line.quantity,
            });
        }
        let restock = Restock {
            return_id: returned.return_id,
            lines,
        };
        match self
            .app
            .restock_return_in(tx, "fulfillment", &restock)
            .await?
        {
            Ok(()) => Ok(()),
            Err(err) => Err(HandlerError::Rejected(format!(
                "cannot restock return {}: {err}",
                restock.return_id
            ))),
        }
    }
}

/// Releasing an order that never got stock (or was already released) is fine.
fn ignore_missing<T>(outcome: Result<T, InventoryError>) -> Result<(), HandlerError> {
    match outcome {
        Ok(_) | Err(InventoryError::NoReservation | InventoryError::ReservationClosed(_)) => Ok(()),
        Err(err) => Err(HandlerError::Rejected(err.to_string())),
    }
}
