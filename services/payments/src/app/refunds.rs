//! Refunds: asked for over HTTP (an admin or a service), by ordering for returned
//! items (`ordering.refund.requested`), or as the compensation of a cancelled order.
//! Never more than captured in total, however many refunds run at once: the guard is
//! the store's one conditional update, not the read before it.

use contracts::ordering::RefundRequested;
use platform::db::Tx;

use super::{EventOutcome, PaymentView, PaymentsApp, PaymentsError, RefundOutcome};
use crate::domain::{LedgerEntry, LedgerKind, Money, Payment};
use crate::store;

impl PaymentsApp {
    /// Refunds `amount` of a captured payment (`None`: everything captured and not yet
    /// refunded), recording `actor` on the ledger entry. Never more than captured in
    /// total, however many refunds run at once.
    #[tracing::instrument(skip_all, fields(payment_id = %payment_id), err(level = "debug"))]
    pub async fn refund(
        &self,
        payment_id: &str,
        amount: Option<Money>,
        actor: &str,
    ) -> Result<RefundOutcome, PaymentsError> {
        let mut tx = self.db.begin().await?;
        let payment = store::payment(&mut *tx, payment_id)
            .await?
            .ok_or(PaymentsError::NotFound)?;
        // A refund asked for over HTTP is new each time (the Idempotency-Key middleware
        // answers repeats of the request before they get here).
        let key = platform::ids::new_id();
        let outcome = self
            .refund_payment_in(&mut tx, payment, amount, actor, &key)
            .await?;
        tx.commit().await?;
        self.outbox.wake();
        Ok(outcome)
    }

    /// Refunds what ordering asked for (returned items), inside the consumer's
    /// transaction: at most what is still refundable — an admin may have refunded part
    /// of the payment already — and nothing when nothing is left. The request's id
    /// names the refund at the provider.
    #[tracing::instrument(
        skip_all,
        fields(payment_id = %request.payment_id, order_id = %request.order_id, request_id = %request.request_id),
        err(level = "debug")
    )]
    pub async fn refund_requested_in(
        &self,
        tx: &mut Tx,
        request: &RefundRequested,
    ) -> Result<EventOutcome, PaymentsError> {
        let Some(payment) = store::payment(&mut **tx, &request.payment_id).await? else {
            return Err(PaymentsError::Mismatch(format!(
                "refund requested for unknown payment {}",
                request.payment_id
            )));
        };
        if payment.order_id != request.order_id
            || payment.amount.currency != request.amount.currency
        {
            return Err(PaymentsError::Mismatch(format!(
                "refund request {} does not match payment {}",
                request.request_id, payment.id
            )));
        }
        let amount = request.amount.amount.min(payment.refundable());
        if amount <= 0 {
            tracing::warn!("refund requested with nothing left to refund");
            return Ok(EventOutcome::Unchanged);
        }
        let money = Money {
            amount,
            currency: payment.amount.currency.clone(),
        };
        let actor = format!("ordering: {}", request.reason);
        let outcome = self
            .refund_payment_in(tx, payment, Some(money), &actor, &request.request_id)
            .await?;
        Ok(EventOutcome::Moved(outcome.payment.status))
    }

    /// Refunds `payment` (as read inside `tx`), issues its credit note and stages
    /// `payments.refund.processed`.
    /// `idempotency_key` names the refund at the provider, so a rolled-back attempt
    /// repeated with the same key does not refund twice.
    pub(super) async fn refund_payment_in(
        &self,
        tx: &mut Tx,
        mut payment: Payment,
        amount: Option<Money>,
        actor: &str,
        idempotency_key: &str,
    ) -> Result<RefundOutcome, PaymentsError> {
        let now = self.clock.now_millis();
        let change = payment.refund(amount.as_ref(), now)?;
        // Concurrent refunds all read the same totals; only those that still fit when
        // their update runs succeed, and the update answers the totals it left.
        let Some(after) = store::apply_refund(tx, &payment, &change).await? else {
            let refundable = store::payment(&mut **tx, &payment.id)
                .await?
                .map_or(0, |p| p.refundable());
            return Err(PaymentsError::OverRefund { refundable });
        };
        crate::metrics::refunded(tx, &after, &change.amount);
        let reference = self
            .provider
            .refund(payment.provider_ref(), &change.amount, idempotency_key)
            .await?;
        let entry = LedgerEntry::new(
            platform::ids::new_id(),
            &after,
            LedgerKind::Refund,
            change.amount.amount,
            reference.as_str(),
            actor,
            now,
        );
        store::insert_ledger_entry(tx, &entry).await?;
        self.issue_credit_note_in(tx, &after, &entry.id, &change.amount)
            .await?;
        self.outbox
            .stage(tx, &after.refund_processed(&entry.id, &change.amount))
            .await?;
        Ok(RefundOutcome {
            refund_id: entry.id,
            amount: change.amount,
            payment: PaymentView::from(&after),
        })
    }
}
