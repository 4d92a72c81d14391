//! Capturing the payment of a confirmed order (`ordering.order.confirmed`). On the
//! checkout's hot path: one locked read and the recorded call; then, once the
//! provider answers (see `calls`), one conditional update, one ledger entry, the
//! invoice (its number counter, one row), one event.

use contracts::ordering::OrderConfirmed;
use platform::db::Tx;

use super::calls::NewCall;
use super::{EventOutcome, ORDERING_ACTOR, PaymentsApp, PaymentsError, Step};
use crate::provider::Operation;
use crate::store::{self, Key};

impl PaymentsApp {
    /// Captures for an `ordering.order.confirmed` event (see
    /// [`PaymentsApp::capture_in`]), in a transaction of its own, and waits for the
    /// provider's answer.
    pub async fn capture(&self, order: &OrderConfirmed) -> Result<EventOutcome, PaymentsError> {
        let mut tx = self.db.begin().await?;
        let step = self.capture_in(&mut tx, order).await?;
        self.finish(tx, step).await
    }

    /// Records inside `tx` the capture of the authorized payment of a confirmed order
    /// (the order's total, or the authorized amount when the event carries none), to
    /// be made once `tx` commits. Already captured, or its capture recorded: nothing.
    /// Not authorized, or a total that does not fit: an error, since the saga only
    /// confirms authorized orders; a void waiting for the provider: an error, so the
    /// event comes again once it is answered.
    #[tracing::instrument(
        skip_all,
        fields(payment_id = order.payment_id.as_deref().unwrap_or_default(), order_id = %order.order_id),
        err(level = "debug")
    )]
    pub async fn capture_in(
        &self,
        tx: &mut Tx,
        order: &OrderConfirmed,
    ) -> Result<Step, PaymentsError> {
        let key = match &order.payment_id {
            Some(id) => Key::Id(id),
            None => Key::Order(&order.order_id),
        };
        let Some(payment) = store::payment_for_update(tx, self.db.dialect(), key).await? else {
            return match order.payment_id {
                // An order confirmed without a payment has nothing to capture.
                None => Ok(EventOutcome::Unchanged.into()),
                Some(_) => Err(PaymentsError::NotFound),
            };
        };
        if payment.order_id != order.order_id {
            return Err(PaymentsError::Mismatch(format!(
                "payment {} belongs to another order",
                payment.id
            )));
        }
        if payment.was_captured() {
            // A redelivery, or the capture already happened another way.
            return Ok(EventOutcome::Unchanged.into());
        }
        match store::calls::pending_change(&mut **tx, &payment.id).await? {
            Some(Operation::Capture) | None => {}
            Some(other) => return Err(PaymentsError::CallPending(other)),
        }
        // Decided on a copy: the payment moves when the provider answers.
        let amount = payment
            .clone()
            .capture(order.total.as_ref(), self.clock.now_millis())?
            .event
            .amount;
        let call = self
            .record_call_in(
                tx,
                NewCall {
                    payment: &payment,
                    operation: Operation::Capture,
                    amount: &amount,
                    actor: ORDERING_ACTOR,
                    key: format!("{}:capture", payment.id),
                    refund_id: None,
                    order: Some(order),
                },
            )
            .await?;
        Ok(Step::calling(call))
    }
}
