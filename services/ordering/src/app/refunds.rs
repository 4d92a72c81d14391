//! Refunds: an admin's refund through payments, refunds payments processed (as its
//! answer or as its event, applied once), and the refund of a received return.

use contracts::fulfillment::ReturnReceived;
use platform::auth::ForwardedCredentials;
use platform::db::Tx;

use super::{Caller, OrderingApp, OrderingError};
use crate::domain::{Money, OrderDetails, ProcessedRefund, Recorded, RefundEvent, ReturnRefused};
use crate::store;

impl OrderingApp {
    /// Refunds `amount` of an order (none: everything not yet refunded), through
    /// payments, which refuses anything beyond what was captured.
    #[tracing::instrument(skip_all, fields(order_id = %id), err(level = "debug"))]
    pub async fn refund(
        &self,
        caller: &Caller,
        credentials: &ForwardedCredentials,
        id: &str,
        amount: Option<Money>,
        idempotency_key: Option<&str>,
    ) -> Result<OrderDetails, OrderingError> {
        let order = self.visible_order(caller, id).await?;
        let payment_id = order.refundable(amount.as_ref())?.to_owned();
        let refund = self
            .payments
            .refund(credentials, &payment_id, amount.as_ref(), idempotency_key)
            .await?;
        let mut tx = self.db.begin().await?;
        self.apply_refund_in(&mut tx, id, &payment_id, &refund)
            .await?;
        tx.commit().await?;
        self.outbox.wake();
        self.order(caller, id).await
    }

    /// Records a refund of `payment_id` once (it may arrive as an answer and again as
    /// an event), moves the order to `refunded` or `partially_refunded` (a cancelled
    /// order stays cancelled) and emits the matching event.
    #[tracing::instrument(skip_all, fields(order_id = %order_id, refund_id = %refund.refund_id), err(level = "debug"))]
    pub async fn apply_refund_in(
        &self,
        tx: &mut Tx,
        order_id: &str,
        payment_id: &str,
        refund: &ProcessedRefund,
    ) -> Result<(), platform::db::Error> {
        let now = self.clock.now_millis();
        let Some(mut order) = store::orders::for_update(tx, self.db.dialect(), order_id).await?
        else {
            return Ok(());
        };
        let first_time = store::orders::record_refund(
            tx,
            &order,
            &refund.refund_id,
            refund.amount.amount,
            refund.refunded_total,
            now,
        )
        .await?;
        if !first_time {
            return Ok(());
        }
        let recorded = order.record_refund(payment_id, refund, now);
        match &recorded.recorded {
            Recorded::Moved(change) => self.save_change(tx, &order, change).await?,
            Recorded::Noted(note) => store::orders::append_history(tx, order_id, note).await?,
        }
        match &recorded.event {
            RefundEvent::Refunded(event) => self.outbox.stage(tx, event).await?,
            RefundEvent::PartiallyRefunded(event) => self.outbox.stage(tx, event).await?,
        };
        Ok(())
    }

    /// Asks payments to refund what a received return is worth at the prices paid,
    /// inside the consumer's transaction; the order's refund totals and status follow
    /// when payments answers with `refund.processed`. A return that names nothing of
    /// the order, or an order without payment, is refused.
    #[tracing::instrument(skip_all, fields(order_id = %returned.order_id, return_id = %returned.return_id), err(level = "warn"))]
    pub async fn refund_return_in(
        &self,
        tx: &mut Tx,
        returned: &ReturnReceived,
    ) -> Result<Money, OrderingError> {
        let order_id = returned.order_id.as_str();
        let order = store::orders::for_update(tx, self.db.dialect(), order_id)
            .await?
            .ok_or(OrderingError::NotFound)?;
        let lines = store::orders::lines(&mut **tx, &[order_id])
            .await?
            .remove(order_id)
            .unwrap_or_default();
        let returned_lines = returned.lines.iter().map(|l| (l.sku.as_str(), l.quantity));
        let (request, note) = order
            .refund_of_return(
                &lines,
                &returned.return_id,
                returned_lines,
                self.clock.now_millis(),
            )
            .map_err(|refused| match refused {
                ReturnRefused::NoPayment(status) => OrderingError::WrongStatus(status),
                ReturnRefused::NothingOfTheOrder => OrderingError::NotFound,
            })?;
        store::orders::append_history(tx, order_id, &note).await?;
        self.outbox.stage(tx, &request).await?;
        Ok(request.amount)
    }
}
