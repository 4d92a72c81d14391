//! Capturing the payment of a confirmed order (`ordering.order.confirmed`). On the
//! checkout's hot path: one locked read, one conditional update, one ledger entry, the
//! invoice (its number counter, one row), one event.

use contracts::ordering::OrderConfirmed;
use platform::db::Tx;

use super::{EventOutcome, ORDERING_ACTOR, PaymentsApp, PaymentsError};
use crate::domain::{LedgerEntry, LedgerKind};
use crate::store::{self, Key};

impl PaymentsApp {
    /// Captures for an `ordering.order.confirmed` event (see
    /// [`PaymentsApp::capture_in`]), in a transaction of its own.
    pub async fn capture(&self, order: &OrderConfirmed) -> Result<EventOutcome, PaymentsError> {
        let mut tx = self.db.begin().await?;
        let outcome = self.capture_in(&mut tx, order).await?;
        tx.commit().await?;
        self.outbox.wake();
        Ok(outcome)
    }

    /// Captures inside `tx` the authorized payment of a confirmed order (the order's
    /// total, or the authorized amount when the event carries none). Already captured:
    /// nothing. Not authorized, or a total that does not fit: an error, since the saga
    /// only confirms authorized orders.
    #[tracing::instrument(
        skip_all,
        fields(payment_id = order.payment_id.as_deref().unwrap_or_default(), order_id = %order.order_id),
        err(level = "debug")
    )]
    pub async fn capture_in(
        &self,
        tx: &mut Tx,
        order: &OrderConfirmed,
    ) -> Result<EventOutcome, PaymentsError> {
        let key = match &order.payment_id {
            Some(id) => Key::Id(id),
            None => Key::Order(&order.order_id),
        };
        let Some(mut payment) = store::payment_for_update(tx, self.db.dialect(), key).await? else {
            return match order.payment_id {
                // An order confirmed without a payment has nothing to capture.
                None => Ok(EventOutcome::Unchanged),
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
            return Ok(EventOutcome::Unchanged);
        }
        let now = self.clock.now_millis();
        let captured = payment.capture(order.total.as_ref(), now)?;
        if !self.save_transition(tx, &payment, &captured).await? {
            return Ok(EventOutcome::Unchanged);
        }
        let amount = &captured.event.amount;
        let reference = self
            .provider
            .capture(
                payment.provider_ref(),
                amount,
                &format!("{}:capture", payment.id),
            )
            .await?;
        let entry = LedgerEntry::new(
            platform::ids::new_id(),
            &payment,
            LedgerKind::Capture,
            amount.amount,
            reference.as_str(),
            ORDERING_ACTOR,
            now,
        );
        store::insert_ledger_entry(tx, &entry).await?;
        self.issue_invoice_in(tx, &payment, order, amount).await?;
        self.outbox.stage(tx, &captured.event).await?;
        Ok(EventOutcome::Moved(captured.to))
    }
}
