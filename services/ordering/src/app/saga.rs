//! The checkout saga's steps, inside the consumer's transaction: a participant's
//! answer moves the order along [`crate::domain::saga_step`] (through
//! [`Order::advance`]), each status change is a conditional update, and what the next
//! participant needs is emitted with it. Also what payments captured, a payment held
//! for fraud review (its step gets the review's time), and the timeout sweep that
//! cancels orders whose step did not answer in time.

use platform::db::Tx;

use super::{OrderingApp, OrderingError};
use crate::domain::{Order, OrderStatus, SagaCommand, SagaEvent, StatusChange};
use crate::store;

impl OrderingApp {
    /// Applies a participant's answer to an order, inside `tx`. Returns the status the
    /// order ended in, or `None` when the event did not apply (unknown order, or late).
    #[tracing::instrument(skip_all, fields(order_id = %order_id, event = event.name()), err(level = "debug"))]
    pub async fn advance_in(
        &self,
        tx: &mut Tx,
        order_id: &str,
        event: SagaEvent,
    ) -> Result<Option<OrderStatus>, platform::db::Error> {
        let Some(mut order) = store::orders::for_update(tx, self.db.dialect(), order_id).await?
        else {
            tracing::warn!(order_id, ?event, "saga event for an unknown order");
            return Ok(None);
        };
        self.step_in(tx, &mut order, &event).await
    }

    /// Moves a locked order along the saga on `event`, writes each change and emits
    /// what the step commands.
    async fn step_in(
        &self,
        tx: &mut Tx,
        order: &mut Order,
        event: &SagaEvent,
    ) -> Result<Option<OrderStatus>, platform::db::Error> {
        let now = self.clock.now_millis();
        // A step that waits for the next participant gives it its own time.
        let moved = match order.advance(event, now, now + self.step_timeout_ms()) {
            Ok(moved) => moved,
            Err(refused) => {
                tracing::debug!(order_id = order.id(), %refused, "saga event does not apply");
                return Ok(None);
            }
        };
        for change in &moved.changes {
            self.save_change(tx, order, change).await?;
        }
        self.emit(tx, order, moved.command).await?;
        Ok(Some(order.status()))
    }

    /// Stages what a saga command tells the participants.
    pub(super) async fn emit(
        &self,
        tx: &mut Tx,
        order: &Order,
        command: SagaCommand,
    ) -> Result<(), platform::db::Error> {
        match command {
            SagaCommand::AuthorizePayment => {
                let reserved = order.reserved_event().ok_or_else(|| {
                    platform::db::Error::Protocol(format!("order {} has no payment", order.id()))
                })?;
                // Stock held at the order's prices: the order is valid (see
                // `Order::validated_event` for why here), and payments goes next.
                let lines = store::orders::lines(&mut **tx, &[order.id()])
                    .await?
                    .remove(order.id())
                    .unwrap_or_default();
                self.outbox
                    .stage(tx, &order.validated_event(&lines))
                    .await?;
                self.outbox.stage(tx, &reserved).await?;
            }
            SagaCommand::Confirm => {
                // The confirmation carries the order's lines and address to those who
                // act on it (fulfillment keeps them with the shipments, notifications
                // lists them in the email); they are read here, once per order, rather
                // than carried on every saga hop.
                let lines = store::orders::lines(&mut **tx, &[order.id()])
                    .await?
                    .remove(order.id())
                    .unwrap_or_default();
                self.outbox.stage(tx, &order.authorized_event()).await?;
                self.outbox
                    .stage(tx, &order.confirmed_event(&lines))
                    .await?;
            }
            SagaCommand::Compensate => {
                self.outbox.stage(tx, &order.cancelled_event()).await?;
            }
        }
        Ok(())
    }

    /// Payments holds the order's authorization for someone — a person reviewing it
    /// for fraud, or the customer authenticating the card (3-D Secure) — which may take
    /// up to `wait_secs`: the order keeps waiting for its payment (still `reserved`,
    /// with the history line `why`) until then plus one step's time, rather than being
    /// cancelled by the step timeout meanwhile. Payments gives up a review no one
    /// decided in time, and the order is cancelled if the customer never answers, so
    /// the order still settles.
    #[tracing::instrument(skip_all, fields(order_id = %order_id), err(level = "debug"))]
    pub async fn payment_held_in(
        &self,
        tx: &mut Tx,
        order_id: &str,
        wait_secs: u64,
        why: &str,
    ) -> Result<bool, platform::db::Error> {
        let Some(order) = store::orders::for_update(tx, self.db.dialect(), order_id).await? else {
            return Ok(false);
        };
        if order.status() != OrderStatus::Reserved {
            // Settled already (or not yet waiting for payment): nothing to extend.
            return Ok(false);
        }
        let now = self.clock.now_millis();
        let wait_ms = i64::try_from(wait_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
        let deadline = now
            .saturating_add(wait_ms)
            .saturating_add(self.step_timeout_ms());
        // Not a status transition: the order stays `reserved`; the same conditional
        // update a saga step writes (`WHERE status = 'reserved'`) moves its deadline and
        // adds the history line. Written here, not through `Order::advance`, as no saga
        // step is taken.
        let held = StatusChange {
            from: OrderStatus::Reserved,
            to: OrderStatus::Reserved,
            reason: why.to_owned(),
            at: now,
            deadline_at: Some(
                order
                    .state()
                    .deadline_at
                    .map_or(deadline, |d| d.max(deadline)),
            ),
        };
        store::orders::save_change(tx, &order, &held).await
    }

    /// Records what payments captured for an order.
    #[tracing::instrument(skip_all, fields(order_id = %order_id), err(level = "debug"))]
    pub async fn captured_in(
        &self,
        tx: &mut Tx,
        order_id: &str,
        amount: i64,
    ) -> Result<(), platform::db::Error> {
        store::orders::set_captured(tx, order_id, amount, self.clock.now_millis()).await
    }

    /// Cancels every unsettled order whose current step did not answer in time.
    #[tracing::instrument(skip_all, err(level = "debug"))]
    pub async fn expire_overdue(&self) -> Result<usize, OrderingError> {
        let due = store::orders::overdue(self.db.reader(), self.clock.now_millis(), 100).await?;
        let mut cancelled = 0;
        for order_id in due {
            match self.expire_one(&order_id).await {
                Ok(true) => cancelled += 1,
                Ok(false) => {}
                Err(err) => tracing::warn!(order_id, error = %err, "cannot time out order"),
            }
        }
        if cancelled > 0 {
            self.outbox.wake();
        }
        Ok(cancelled)
    }

    /// Times one order out, if it is still overdue once locked.
    #[tracing::instrument(skip_all, fields(order_id = %order_id), err(level = "debug"))]
    async fn expire_one(&self, order_id: &str) -> Result<bool, platform::db::Error> {
        let mut tx = self.db.begin().await?;
        let Some(mut order) =
            store::orders::for_update(&mut tx, self.db.dialect(), order_id).await?
        else {
            return Ok(false);
        };
        let Some(timeout) = order.overdue(self.clock.now_millis()) else {
            return Ok(false);
        };
        let moved = self.step_in(&mut tx, &mut order, &timeout).await?;
        tx.commit().await?;
        self.order_changed(order_id);
        Ok(moved.is_some())
    }
}
