//! Completion: a delivered order whose return window closed with no return open is
//! `completed` (seed 003's `order.completed`), by a periodic sweep. The returns that
//! hold it open are recorded from fulfillment's events.
//!
//! Several replicas may sweep at once: each order completes under its row lock with a
//! conditional update on the status it leaves, re-checked once locked, so exactly one
//! sweep moves it and emits `ordering.order.completed`; the others find it completed
//! and skip it.

use platform::db::Tx;

use super::{OrderingApp, OrderingError};
use crate::store;

/// Most orders one sweep completes (the next sweep takes the rest).
const BATCH: i64 = 100;

impl OrderingApp {
    /// Records a return fulfillment opened for an order, inside the consumer's
    /// transaction: the order does not complete until it came back.
    #[tracing::instrument(skip_all, fields(order_id = %order_id, return_id = %return_id), err(level = "debug"))]
    pub async fn return_opened_in(
        &self,
        tx: &mut Tx,
        order_id: &str,
        return_id: &str,
    ) -> Result<(), platform::db::Error> {
        store::returns::open(tx, return_id, order_id, self.clock.now_millis()).await
    }

    /// Records that a return came back, inside the consumer's transaction.
    #[tracing::instrument(skip_all, fields(order_id = %order_id, return_id = %return_id), err(level = "debug"))]
    pub async fn return_closed_in(
        &self,
        tx: &mut Tx,
        order_id: &str,
        return_id: &str,
    ) -> Result<(), platform::db::Error> {
        store::returns::close(tx, return_id, order_id, self.clock.now_millis()).await
    }

    /// Completes every order whose return window closed with no return open; returns
    /// how many it completed.
    #[tracing::instrument(skip_all, err(level = "debug"))]
    pub async fn complete_due(&self) -> Result<usize, OrderingError> {
        let now = self.clock.now_millis();
        let window = self.config.return_window_ms();
        let due =
            store::orders::completable(self.db.reader(), now.saturating_sub(window), BATCH).await?;
        let mut completed = 0;
        for order_id in due {
            match self.complete_one(&order_id, window).await {
                Ok(true) => completed += 1,
                Ok(false) => {}
                Err(err) => tracing::warn!(order_id, error = %err, "cannot complete order"),
            }
        }
        if completed > 0 {
            self.outbox.wake();
        }
        Ok(completed)
    }

    /// Completes one order, if it still may once locked (another replica may have
    /// completed it, or a return opened since it was listed).
    #[tracing::instrument(skip_all, fields(order_id = %order_id), err(level = "debug"))]
    async fn complete_one(
        &self,
        order_id: &str,
        window_ms: i64,
    ) -> Result<bool, platform::db::Error> {
        let mut tx = self.db.begin().await?;
        let Some(mut order) =
            store::orders::for_update(&mut tx, self.db.dialect(), order_id).await?
        else {
            return Ok(false);
        };
        let open_return = store::returns::any_open(&mut *tx, order_id).await?;
        let change = match order.complete(window_ms, open_return, self.clock.now_millis()) {
            Ok(change) => change,
            Err(refused) => {
                tracing::debug!(order_id, %refused, "order does not complete");
                return Ok(false);
            }
        };
        self.save_change(&mut tx, &order, &change).await?;
        let event = order.completed_event().ok_or_else(|| {
            platform::db::Error::Protocol(format!("order {order_id} completed without a delivery"))
        })?;
        self.outbox.stage(&mut tx, &event).await?;
        tx.commit().await?;
        Ok(true)
    }
}
