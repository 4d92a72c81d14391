//! What identity consumes: ordering's events, for loyalty points. Confirmed spends the
//! points an order held and records what it charged, delivered earns, refunded and
//! partially refunded reverse, cancelled gives points back — each inside the
//! consumer's transaction, which also holds the inbox row, so a redelivered event
//! changes nothing.

use async_trait::async_trait;
use contracts::Event;
use contracts::ordering::{
    OrderCancelled, OrderConfirmed, OrderDelivered, OrderPartiallyRefunded, OrderRefunded,
};
use platform::bus::{Envelope, EventHandler, HandlerError};
use platform::db::Tx;

use crate::app::{IdentityApp, LoyaltyError};

/// Applies ordering events to loyalty points.
pub struct OrderEvents {
    /// The operations.
    pub app: IdentityApp,
}

#[async_trait]
impl EventHandler for OrderEvents {
    // Every event identity consumes is about an order, its subject.
    #[tracing::instrument(skip_all, fields(event_type = %event.event_type, order_id = %event.subject), err)]
    async fn handle(&self, tx: &mut Tx, event: &Envelope) -> Result<(), HandlerError> {
        // Switched off, nothing new is earned; holds made before still follow their
        // orders (spent, given back, refunded), so no discount goes unpaid.
        if !self.app.config.loyalty.enabled && event.is::<OrderDelivered>() {
            return Ok(());
        }
        let outcome = if event.is::<OrderConfirmed>() {
            self.app
                .loyalty_order_confirmed_in(tx, &event.decode()?)
                .await
        } else if event.is::<OrderDelivered>() {
            self.app
                .loyalty_order_delivered_in(tx, &event.decode()?)
                .await
        } else if event.is::<OrderRefunded>() {
            let OrderRefunded(facts) = event.decode()?;
            self.app.loyalty_order_refunded_in(tx, &facts).await
        } else if event.is::<OrderPartiallyRefunded>() {
            let OrderPartiallyRefunded(facts) = event.decode()?;
            self.app.loyalty_order_refunded_in(tx, &facts).await
        } else if event.is::<OrderCancelled>() {
            self.app
                .loyalty_order_cancelled_in(tx, &event.decode()?)
                .await
        } else {
            return Ok(());
        };
        match outcome {
            Ok(()) => Ok(()),
            Err(LoyaltyError::Sql(err)) => Err(HandlerError::Sql(err)),
            Err(err) => Err(HandlerError::Rejected(err.to_string())),
        }
    }

    fn handles(&self, event_type: &str) -> bool {
        [
            OrderConfirmed::TYPE,
            OrderDelivered::TYPE,
            OrderRefunded::TYPE,
            OrderPartiallyRefunded::TYPE,
            OrderCancelled::TYPE,
        ]
        .contains(&event_type)
    }
}
