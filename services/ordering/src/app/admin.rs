//! Cancellations (by the owner or an admin, before shipment) and an admin's status
//! changes along the allowed transitions.

use super::{Caller, OrderingApp, OrderingError};
use crate::domain::{OrderDetails, OrderStatus, SagaCommand};
use crate::store;

impl OrderingApp {
    /// Cancels an order before shipment (owner or admin). Stock goes back and the
    /// payment is voided or refunded, by the participants reacting to `cancelled`.
    #[tracing::instrument(skip_all, fields(order_id = %id), err(level = "debug"))]
    pub async fn cancel(
        &self,
        caller: &Caller,
        id: &str,
        reason: &str,
    ) -> Result<OrderDetails, OrderingError> {
        let mut tx = self.db.begin().await?;
        let mut order = store::orders::for_update(&mut tx, self.db.dialect(), id)
            .await?
            .filter(|o| caller.may_see(&o.facts.user_id))
            .ok_or(OrderingError::NotFound)?;
        let change = order.cancel(reason, self.clock.now_millis())?;
        self.save_change(&mut tx, &order, &change).await?;
        self.emit(&mut tx, &order, SagaCommand::Compensate).await?;
        tx.commit().await?;
        self.outbox.wake();
        self.order_changed(id);
        let lines = self.lines_of(id).await?;
        Ok(OrderDetails { order, lines })
    }

    /// An admin's status change along the allowed transitions (a cancellation
    /// compensates like [`OrderingApp::cancel`]). The caller was checked to manage
    /// ordering.
    #[tracing::instrument(skip_all, fields(order_id = %id, next = %next), err(level = "debug"))]
    pub async fn set_status(
        &self,
        caller: &Caller,
        id: &str,
        next: OrderStatus,
        reason: &str,
    ) -> Result<OrderDetails, OrderingError> {
        if next == OrderStatus::Cancelled {
            return self.cancel(caller, id, reason).await;
        }
        let mut tx = self.db.begin().await?;
        let mut order = store::orders::for_update(&mut tx, self.db.dialect(), id)
            .await?
            .ok_or(OrderingError::NotFound)?;
        let change = order.set_by_admin(next, reason, self.clock.now_millis())?;
        self.save_change(&mut tx, &order, &change).await?;
        self.stage_shipping_event(&mut tx, &order, &change).await?;
        tx.commit().await?;
        self.outbox.wake();
        let lines = self.lines_of(id).await?;
        Ok(OrderDetails { order, lines })
    }
}
