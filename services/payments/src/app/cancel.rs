//! Compensating for a cancelled order (`ordering.order.cancelled`): the payment's
//! status decides how ([`Payment::compensation`]).
//!
//! [`Payment::compensation`]: crate::domain::Payment::compensation

use contracts::ordering::OrderCancelled;
use platform::db::Tx;

use super::{EventOutcome, ORDERING_ACTOR, PaymentsApp, PaymentsError};
use crate::domain::{Action, LedgerEntry, LedgerKind, Payment};
use crate::store::{self, Key};

impl PaymentsApp {
    /// Compensates for an `ordering.order.cancelled` event (see
    /// [`PaymentsApp::cancel_in`]), in a transaction of its own.
    pub async fn cancel(&self, order: &OrderCancelled) -> Result<EventOutcome, PaymentsError> {
        let mut tx = self.db.begin().await?;
        let outcome = self.cancel_in(&mut tx, order).await?;
        tx.commit().await?;
        self.outbox.wake();
        Ok(outcome)
    }

    /// Compensates inside `tx` for a cancelled order: a pending payment is cancelled (so
    /// a late `reserved` event cannot authorize it), an authorized one voided, a
    /// captured one refunded for whatever is not refunded yet. Anything else: nothing.
    #[tracing::instrument(skip_all, fields(order_id = %order.order_id, payment_id), err(level = "debug"))]
    pub async fn cancel_in(
        &self,
        tx: &mut Tx,
        order: &OrderCancelled,
    ) -> Result<EventOutcome, PaymentsError> {
        let Some(mut payment) =
            store::payment_for_update(tx, self.db.dialect(), Key::Order(&order.order_id)).await?
        else {
            return Ok(EventOutcome::Unchanged);
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
                let cancelled = payment.cancel(now)?;
                let moved = self.save_transition(tx, &payment, &cancelled).await?;
                Ok(if moved {
                    EventOutcome::Moved(cancelled.to)
                } else {
                    EventOutcome::Unchanged
                })
            }
            Some(Action::Void) => self.void_in(tx, payment, ORDERING_ACTOR, now).await,
            Some(Action::Refund) => {
                let key = format!("{}:cancel-refund", payment.id);
                match self
                    .refund_payment_in(tx, payment, None, ORDERING_ACTOR, &key)
                    .await
                {
                    Ok(refund) => Ok(EventOutcome::Moved(refund.payment.status)),
                    Err(PaymentsError::OverRefund { .. }) => Ok(EventOutcome::Unchanged),
                    Err(err) => Err(err),
                }
            }
            Some(Action::Authorize | Action::Fail | Action::Capture) | None => {
                Ok(EventOutcome::Unchanged)
            }
        }
    }

    /// Voids an authorized `payment` (locked in `tx`): releases the hold at the
    /// provider, writes the ledger entry with `actor` and stages `payments.payment.voided`.
    pub(super) async fn void_in(
        &self,
        tx: &mut Tx,
        mut payment: Payment,
        actor: &str,
        now: i64,
    ) -> Result<EventOutcome, PaymentsError> {
        let voided = payment.void(now)?;
        if !self.save_transition(tx, &payment, &voided).await? {
            return Ok(EventOutcome::Unchanged);
        }
        let reference = self.provider.void(payment.provider_ref()).await?;
        let entry = LedgerEntry::new(
            platform::ids::new_id(),
            &payment,
            LedgerKind::Void,
            payment.amount.amount,
            reference.as_str(),
            actor,
            now,
        );
        store::insert_ledger_entry(tx, &entry).await?;
        self.outbox.stage(tx, &voided.event).await?;
        Ok(EventOutcome::Moved(voided.to))
    }
}
