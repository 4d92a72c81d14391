//! Refunds: asked for over HTTP (an admin or a service), by ordering for returned
//! items (`ordering.refund.requested`), or as the compensation of a cancelled order.
//! Never more than captured in total, however many refunds run at once: the guard is
//! the store's one conditional update, which promises the amount (`refunding`) when
//! the refund is recorded, not the read before it. The refund itself is a recorded
//! call to the provider (see `calls`); its answer settles the promise.

use contracts::ordering::RefundRequested;
use platform::db::Tx;

use super::calls::NewCall;
use super::{EventOutcome, PaymentsApp, PaymentsError, RefundOutcome, Settled, Step};
use crate::domain::{FailureReason, Money, Payment};
use crate::provider::{Decline, Operation};
use crate::store;
use crate::store::calls::CallState;

impl PaymentsApp {
    /// Refunds `amount` of a captured payment (`None`: everything captured and not yet
    /// refunded or being refunded), recording `actor` on the ledger entry, and waits
    /// for the provider's answer; a new refund each time (see
    /// [`PaymentsApp::refund_once`]).
    pub async fn refund(
        &self,
        payment_id: &str,
        amount: Option<Money>,
        actor: &str,
    ) -> Result<RefundOutcome, PaymentsError> {
        self.refund_once(payment_id, amount, actor, None).await
    }

    /// Refunds as [`PaymentsApp::refund`] does. Never more than captured in total,
    /// however many refunds run at once. The provider not answering:
    /// [`PaymentsError::Unanswered`], and the refund completes once the provider says
    /// what became of it. With the caller's `request_key` (its `Idempotency-Key`), a
    /// refund asked again — a retry after an error or a lost answer — is the refund
    /// first recorded under it, answered as it stands, never a second one.
    #[tracing::instrument(skip_all, fields(payment_id = %payment_id), err(level = "debug"))]
    pub async fn refund_once(
        &self,
        payment_id: &str,
        amount: Option<Money>,
        actor: &str,
        request_key: Option<&str>,
    ) -> Result<RefundOutcome, PaymentsError> {
        let key = match request_key {
            Some(request) => format!("refund:{payment_id}:{actor}:{request}"),
            None => platform::ids::new_id(),
        };
        if let Some(recorded) = store::calls::call(self.db.reader(), &key).await? {
            return match recorded.state {
                CallState::Made(_) => Ok(RefundOutcome {
                    refund_id: recorded.refund_id.unwrap_or_default(),
                    amount: recorded.amount,
                    payment: self.payment(payment_id).await?,
                }),
                CallState::Refused(decline) => Err(PaymentsError::Provider(decline)),
                // Left to the reconciler, which asks the provider: never made twice.
                CallState::Pending => Err(PaymentsError::Unanswered(
                    Decline::new(
                        FailureReason::ProviderError,
                        "still waiting for the provider",
                    ),
                    "refund",
                )),
            };
        }
        let mut tx = self.db.begin().await?;
        let payment = store::payment(&mut *tx, payment_id)
            .await?
            .ok_or(PaymentsError::NotFound)?;
        let step = self
            .refund_payment_in(&mut tx, payment, amount, actor, &key)
            .await?;
        tx.commit().await?;
        let Some(call) = step.call else {
            return Err(PaymentsError::Mismatch(
                "the refund was not recorded".into(),
            ));
        };
        match self.make_call(&call).await? {
            Settled::Refunded(outcome) => Ok(*outcome),
            Settled::Refused(decline) => Err(PaymentsError::Provider(decline)),
            Settled::Unanswered(decline) => Err(PaymentsError::Unanswered(decline, "refund")),
            other => Err(PaymentsError::Mismatch(format!(
                "the refund was settled elsewhere: {:?}",
                other.outcome()
            ))),
        }
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
    ) -> Result<Step, PaymentsError> {
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
            return Ok(EventOutcome::Unchanged.into());
        }
        let money = Money {
            amount,
            currency: payment.amount.currency.clone(),
        };
        let actor = format!("ordering: {}", request.reason);
        self.refund_payment_in(tx, payment, Some(money), &actor, &request.request_id)
            .await
    }

    /// Records the refund of `payment` (as read inside `tx`), promising its amount,
    /// to be made once `tx` commits under `idempotency_key`; its answer writes the
    /// ledger entry, issues the credit note and stages `payments.refund.processed`. A
    /// refund recorded under the key already: nothing.
    pub(super) async fn refund_payment_in(
        &self,
        tx: &mut Tx,
        mut payment: Payment,
        amount: Option<Money>,
        actor: &str,
        idempotency_key: &str,
    ) -> Result<Step, PaymentsError> {
        if store::calls::call(&mut **tx, idempotency_key)
            .await?
            .is_some()
        {
            return Ok(EventOutcome::Unchanged.into());
        }
        let now = self.clock.now_millis();
        let change = payment.refund(amount.as_ref(), now)?;
        // Concurrent refunds all read the same totals; only those that still fit when
        // their update runs are promised.
        let Some(promised) = store::reserve_refund(tx, &payment, &change).await? else {
            let refundable = store::payment(&mut **tx, &payment.id)
                .await?
                .map_or(0, |p| p.refundable());
            return Err(PaymentsError::OverRefund { refundable });
        };
        let call = self
            .record_call_in(
                tx,
                NewCall {
                    payment: &promised,
                    operation: Operation::Refund,
                    amount: &change.amount,
                    actor,
                    key: idempotency_key.to_owned(),
                    refund_id: Some(platform::ids::new_id()),
                    order: None,
                },
            )
            .await?;
        // Its key was checked above; a conflict now would leave the promise with no
        // call to settle it, so the whole refund rolls back instead.
        let call = call.ok_or_else(|| {
            PaymentsError::Mismatch(format!("refund {idempotency_key} recorded twice"))
        })?;
        Ok(Step::calling(Some(call)))
    }
}
