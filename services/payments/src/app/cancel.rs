//! Compensating for a cancelled order (`ordering.order.cancelled`): the payment's
//! status decides how ([`Payment::compensation`]). A void or refund is a recorded
//! call to the provider (see `calls`), made once the transaction commits.
//!
//! [`Payment::compensation`]: crate::domain::Payment::compensation

use contracts::ordering::OrderCancelled;
use platform::db::Tx;

use super::calls::NewCall;
use super::{EventOutcome, ORDERING_ACTOR, PaymentsApp, PaymentsError, Step};
use crate::domain::{Action, Payment, PaymentStatus};
use crate::provider::Operation;
use crate::store::{self, Key};

impl PaymentsApp {
    /// Compensates for an `ordering.order.cancelled` event (see
    /// [`PaymentsApp::cancel_in`]), in a transaction of its own, and waits for the
    /// provider's answer.
    pub async fn cancel(&self, order: &OrderCancelled) -> Result<EventOutcome, PaymentsError> {
        let mut tx = self.db.begin().await?;
        let step = self.cancel_in(&mut tx, order).await?;
        self.finish(tx, step).await
    }

    /// Compensates inside `tx` for a cancelled order: a pending payment is cancelled (so
    /// a late `reserved` event cannot authorize it; a hold already on its way is
    /// released when it lands), an authorized one voided, a captured one refunded for
    /// whatever is not refunded or being refunded yet. Anything else: nothing.
    #[tracing::instrument(skip_all, fields(order_id = %order.order_id, payment_id), err(level = "debug"))]
    pub async fn cancel_in(
        &self,
        tx: &mut Tx,
        order: &OrderCancelled,
    ) -> Result<Step, PaymentsError> {
        let Some(payment) =
            store::payment_for_update(tx, self.db.dialect(), Key::Order(&order.order_id)).await?
        else {
            return Ok(EventOutcome::Unchanged.into());
        };
        tracing::Span::current().record("payment_id", payment.id.as_str());
        if order
            .payment_id
            .as_ref()
            .is_some_and(|id| *id != payment.id)
        {
            tracing::warn!(
                order_id = %order.order_id,
                "cancelled order names a payment other than the order's; compensating the order's payment"
            );
        }
        let now = self.clock.now_millis();
        match payment.compensation() {
            Some(Action::Cancel) => {
                self.cancel_pending_in(tx, payment, ORDERING_ACTOR, now)
                    .await
            }
            Some(Action::Void) => self.void_in(tx, payment, ORDERING_ACTOR).await,
            Some(Action::Refund) => {
                let key = format!("{}:cancel-refund", payment.id);
                match self
                    .refund_payment_in(tx, payment, None, ORDERING_ACTOR, &key)
                    .await
                {
                    Ok(step) => Ok(step),
                    Err(PaymentsError::OverRefund { .. }) => Ok(EventOutcome::Unchanged.into()),
                    Err(err) => Err(err),
                }
            }
            Some(Action::Authorize | Action::Fail | Action::Capture) | None => {
                Ok(EventOutcome::Unchanged.into())
            }
        }
    }

    /// Cancels a pending `payment` (locked in `tx`) by `actor`. An authorization on its
    /// way, or waiting for the customer (3-D Secure), has the intent cancelled at the
    /// provider as well (a recorded void), so nothing stays held for a payment that is
    /// given up, whatever that answer is.
    pub(super) async fn cancel_pending_in(
        &self,
        tx: &mut Tx,
        mut payment: Payment,
        actor: &str,
        now: i64,
    ) -> Result<Step, PaymentsError> {
        let authorizing =
            store::calls::pending_call_of(tx, &payment.id, Operation::Authorize).await?;
        let cancelled = payment.cancel(now)?;
        if !self.save_transition(tx, &payment, &cancelled).await? {
            return Ok(EventOutcome::Unchanged.into());
        }
        match authorizing {
            Some(_) => self.void_in(tx, payment, actor).await,
            None => Ok(EventOutcome::Moved(cancelled.to).into()),
        }
    }

    /// Records the void of an authorized `payment` (locked in `tx`), or of the intent
    /// of one cancelled while its authorization was on its way, by `actor`, to be made
    /// once `tx` commits; its answer writes the ledger entry and, for an authorized
    /// payment, stages `payments.payment.voided`. A capture waiting for the provider: an
    /// error, so the caller comes again once it is answered.
    pub(super) async fn void_in(
        &self,
        tx: &mut Tx,
        payment: Payment,
        actor: &str,
    ) -> Result<Step, PaymentsError> {
        // A cancelled payment's intent is released whatever its authorization does.
        if payment.status() == PaymentStatus::Authorized {
            match store::calls::pending_change(&mut **tx, &payment.id).await? {
                Some(Operation::Void) | None => {}
                Some(other) => return Err(PaymentsError::CallPending(other)),
            }
        }
        let call = self
            .record_call_in(
                tx,
                NewCall {
                    payment: &payment,
                    operation: Operation::Void,
                    amount: &payment.amount,
                    actor,
                    key: format!("{}:void", payment.id),
                    refund_id: None,
                    order: None,
                },
            )
            .await?;
        Ok(Step::calling(call))
    }
}
