//! Calls to the provider outside database transactions.
//!
//! A use case that moves money records the call it decided on (its idempotency key,
//! the amount, who asked) in the provider call journal, in its own transaction, and
//! commits; the call is made after the commit; its outcome — the status change, the
//! ledger entry, the invoice or credit note, the event — is recorded in a second
//! transaction ([`PaymentsApp::settle_call`]). No transaction, and no row lock, waits
//! on the provider.
//!
//! A call whose outcome was never recorded (the process died in between, or the
//! provider never answered) is found by the reconciler
//! ([`PaymentsApp::reconcile_calls`]) once it has waited `call_answer_wait_ms`: it asks
//! the provider what became of it ([`PaymentProvider::lookup`]), records that, and makes
//! the call only when the provider says it never arrived. Of the two settlers, the
//! journal's conditional update lets one act.
//!
//! While an authorization, capture or void is pending, the payment's status has not
//! moved yet: a capture or void that would cross it waits (an event handler answers
//! [`PaymentsError::CallPending`] and the event is delivered again), and an order
//! cancelled during its authorization cancels the payment at once and voids the hold
//! when the authorization lands. Refunds run side by side: each promises its amount
//! (`refunding`) when it is recorded, so together they never exceed what was captured.
//!
//! [`PaymentProvider::lookup`]: crate::provider::PaymentProvider::lookup

use contracts::ordering::OrderConfirmed;
use platform::db::Tx;
use platform::tasks::TraceContext;

use super::{EventOutcome, PaymentView, PaymentsApp, PaymentsError, RefundOutcome};
use crate::domain::{
    FailureReason, LedgerEntry, LedgerKind, Money, Payment, PaymentStatus, refund_statuses,
};
use contracts::payments::PaymentActionRequired;

use crate::provider::{Answer, Call, Decline, Lookup, Operation};
use crate::store::calls::{CallState, ProviderCall};
use crate::store::{self, Key};

/// Calls looked up per reconciler round; the next round takes the rest.
const RECONCILE_BATCH: i64 = 100;

/// A call recorded in a transaction, to be made once that transaction commits.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use = "a recorded call is made only when its caller makes it"]
pub struct RecordedCall(pub(crate) String);

/// What became of a call once its outcome was recorded.
#[derive(Debug, Clone)]
pub enum Settled {
    /// The payment moved (authorized, captured, voided).
    Moved(PaymentStatus),
    /// The authorization was refused; the payment failed for this reason.
    Failed(FailureReason),
    /// The refund was made.
    Refunded(Box<RefundOutcome>),
    /// The provider refused the call; nothing moved.
    Refused(Decline),
    /// The provider did not answer; the call stays pending for the reconciler.
    Unanswered(Decline),
    /// The provider waits for the customer to authenticate the card; the call stays
    /// pending until its notice (or the reconciler's lookup) tells how it went.
    AwaitsCustomer,
    /// Nothing changed here: another settler recorded it, or the payment had moved on.
    Unchanged,
}

impl Settled {
    /// What a settled call did, as an event handler reports it.
    pub fn outcome(&self) -> EventOutcome {
        match self {
            Self::Moved(status) => EventOutcome::Moved(*status),
            Self::Failed(reason) => EventOutcome::Failed(*reason),
            Self::Refunded(refund) => EventOutcome::Moved(refund.payment.status),
            Self::AwaitsCustomer => EventOutcome::Calling,
            Self::Refused(_) | Self::Unanswered(_) | Self::Unchanged => EventOutcome::Unchanged,
        }
    }
}

/// What a new call is.
pub(super) struct NewCall<'a> {
    /// The payment, locked in the recording transaction.
    pub payment: &'a Payment,
    /// What it does.
    pub operation: Operation,
    /// How much.
    pub amount: &'a Money,
    /// Who asked.
    pub actor: &'a str,
    /// The idempotency key.
    pub key: String,
    /// A refund's ledger entry id.
    pub refund_id: Option<String>,
    /// A capture's order.
    pub order: Option<&'a OrderConfirmed>,
}

impl PaymentsApp {
    /// Records `new` in `tx`; the call to make once `tx` commits, or `None` when a
    /// call with its key is recorded already (an event delivered again).
    pub(super) async fn record_call_in(
        &self,
        tx: &mut Tx,
        new: NewCall<'_>,
    ) -> Result<Option<RecordedCall>, PaymentsError> {
        let now = self.clock.now_millis();
        let context = new
            .order
            .map(serde_json::to_string)
            .transpose()
            .map_err(|err| PaymentsError::Mismatch(format!("order does not serialize: {err}")))?;
        let call = ProviderCall {
            key: new.key,
            payment_id: new.payment.id.clone(),
            operation: new.operation,
            amount: new.amount.clone(),
            actor: new.actor.to_owned(),
            refund_id: new.refund_id,
            context,
            state: CallState::Pending,
            lookups: 0,
            created_at: now,
            updated_at: now,
        };
        let recorded = store::calls::insert_call(tx, &call).await?;
        Ok(recorded.then_some(RecordedCall(call.key)))
    }

    /// Makes `call` once `tx` commits, on a task of its own in the caller's trace (an
    /// event handler's transaction: the consumer commits it).
    pub fn make_after_commit(&self, tx: &mut Tx, call: RecordedCall) {
        let app = self.clone();
        let context = TraceContext::current();
        tx.after_commit(move || {
            let tasks = app.tasks.clone();
            tasks.spawn_in(context, async move {
                if let Err(err) = app.make_call(&call).await {
                    tracing::warn!(key = %call.0, error = %err, "provider call not settled; the reconciler will");
                }
            });
        });
    }

    /// Makes the recorded `call` now and records its outcome; when the provider did
    /// not answer, asks it once what became of the call before leaving it to the
    /// reconciler.
    #[tracing::instrument(skip_all, fields(key = %call.0), err(level = "debug"))]
    pub async fn make_call(&self, call: &RecordedCall) -> Result<Settled, PaymentsError> {
        let Some((call, payment)) = self.pending_call(&call.0).await? else {
            return Ok(Settled::Unchanged);
        };
        let intent = match self.intent_of(&call, &payment).await {
            Ok(intent) => intent,
            Err(decline) => return self.settle_call(&call, CallState::Refused(decline)).await,
        };
        let state = match self
            .call_at_provider(&call, &intent)
            .make(&*self.provider)
            .await
        {
            Ok(Answer::Done(reference)) => CallState::Made(reference.0),
            Ok(Answer::AwaitsCustomer { client_secret }) => {
                return self.await_customer(&call, &client_secret).await;
            }
            Err(decline) if decline.reason != FailureReason::ProviderError => {
                CallState::Refused(decline)
            }
            // No answer, or an answer that is no decision: what the provider
            // recorded decides.
            Err(decline) => match self
                .provider
                .lookup(&self.call_at_provider(&call, &intent))
                .await
            {
                Ok(Lookup::Made(reference)) => CallState::Made(reference.0),
                Ok(Lookup::Refused(refusal)) => CallState::Refused(refusal),
                Ok(Lookup::NotMade) if call.operation == Operation::Authorize => {
                    // The customer waits on the order: it fails now rather than after
                    // the reconciler's wait.
                    CallState::Refused(decline)
                }
                Ok(Lookup::NotMade) | Err(_) => {
                    tracing::warn!(key = %call.key, error = %decline, "the provider did not answer; the call stays pending");
                    return Ok(Settled::Unanswered(decline));
                }
            },
        };
        self.settle_call(&call, state).await
    }

    /// The provider waits for the customer to authenticate the card of the pending
    /// authorization `call`: their browser's client secret is kept with the payment
    /// (shown with it as `next_action`), and `payments.payment.action_required` tells
    /// ordering to give the order the customer's time. The call stays pending.
    async fn await_customer(
        &self,
        call: &ProviderCall,
        client_secret: &str,
    ) -> Result<Settled, PaymentsError> {
        let mut tx = self.db.begin().await?;
        let Some(payment) =
            store::payment_for_update(&mut tx, self.db.dialect(), Key::Id(&call.payment_id))
                .await?
        else {
            return Err(PaymentsError::NotFound);
        };
        if payment.status() != PaymentStatus::Pending {
            // Cancelled meanwhile: its void releases the intent.
            return Ok(Settled::Unchanged);
        }
        store::set_customer_action(&mut tx, &payment.id, Some(client_secret)).await?;
        let required = PaymentActionRequired {
            payment_id: payment.id.clone(),
            order_id: payment.order_id.clone(),
            wait_secs: self.settings.get().customer_action_wait_secs,
        };
        self.outbox.stage(&mut tx, &required).await?;
        tx.commit().await?;
        self.outbox.wake();
        tracing::info!(payment_id = %payment.id, "the provider waits for the customer to authenticate");
        Ok(Settled::AwaitsCustomer)
    }

    /// The pending call `key` with its payment; `None` when it was settled already.
    async fn pending_call(
        &self,
        key: &str,
    ) -> Result<Option<(ProviderCall, Payment)>, PaymentsError> {
        let Some(call) = store::calls::call(self.db.reader(), key).await? else {
            return Ok(None);
        };
        if call.state != CallState::Pending {
            return Ok(None);
        }
        let payment = store::payment(self.db.reader(), &call.payment_id)
            .await?
            .ok_or(PaymentsError::NotFound)?;
        Ok(Some((call, payment)))
    }

    /// The intent `call` acts on. A payment from before intents opens one (moving no
    /// money) for its authorization and keeps it; any other call on a payment
    /// without one is refused rather than sent with an empty reference.
    async fn intent_of(&self, call: &ProviderCall, payment: &Payment) -> Result<String, Decline> {
        if let Some(intent) = payment.provider_ref() {
            return Ok(intent.to_owned());
        }
        if call.operation != Operation::Authorize {
            return Err(Decline::new(
                FailureReason::ProviderError,
                "the payment has no intent at the provider",
            ));
        }
        let intent = self
            .provider
            .open(
                &payment.card.token,
                payment.card.customer.as_deref(),
                &payment.amount,
                &payment.id,
            )
            .await?;
        let kept = async {
            let mut tx = self.db.begin().await?;
            store::keep_intent(&mut tx, &payment.id, intent.as_str()).await?;
            tx.commit().await
        };
        kept.await.map_err(|err| {
            tracing::warn!(error = %err, "cannot keep the intent opened");
            Decline::new(FailureReason::ProviderError, "the intent could not be kept")
        })?;
        Ok(intent.0)
    }

    fn call_at_provider<'a>(&self, call: &'a ProviderCall, intent: &'a str) -> Call<'a> {
        Call {
            operation: call.operation,
            intent,
            amount: &call.amount,
            key: &call.key,
        }
    }

    /// Records what became of `call` in one transaction of its own (see
    /// [`PaymentsApp::settle_call_in`]).
    pub(super) async fn settle_call(
        &self,
        call: &ProviderCall,
        state: CallState,
    ) -> Result<Settled, PaymentsError> {
        let mut tx = self.db.begin().await?;
        let Some(payment) =
            store::payment_for_update(&mut tx, self.db.dialect(), Key::Id(&call.payment_id))
                .await?
        else {
            return Err(PaymentsError::NotFound);
        };
        let settled = self.settle_call_in(&mut tx, call, payment, state).await?;
        tx.commit().await?;
        self.outbox.wake();
        Ok(settled)
    }

    /// Records inside `tx` what became of `call` on `payment` (locked in `tx`): the
    /// journal, then what the outcome changes (see the module docs). `Unchanged` when
    /// another settler was first.
    pub(super) async fn settle_call_in(
        &self,
        tx: &mut Tx,
        call: &ProviderCall,
        payment: Payment,
        state: CallState,
    ) -> Result<Settled, PaymentsError> {
        let now = self.clock.now_millis();
        if !store::calls::settle_call(tx, &call.key, &state, now).await? {
            return Ok(Settled::Unchanged);
        }
        if call.operation == Operation::Authorize && payment.state().customer_action.is_some() {
            store::set_customer_action(tx, &payment.id, None).await?;
        }
        Ok(match state {
            CallState::Pending => Settled::Unchanged,
            CallState::Made(reference) => self.made_in(tx, call, payment, &reference, now).await?,
            CallState::Refused(decline) => self.refused_in(tx, call, payment, decline, now).await?,
        })
    }

    /// Records a call the provider made.
    async fn made_in(
        &self,
        tx: &mut Tx,
        call: &ProviderCall,
        mut payment: Payment,
        reference: &str,
        now: i64,
    ) -> Result<Settled, PaymentsError> {
        let entry = |payment: &Payment, kind| {
            LedgerEntry::new(
                call.refund_id.clone().unwrap_or_else(platform::ids::new_id),
                payment,
                kind,
                call.amount.amount,
                reference,
                &call.actor,
                now,
            )
        };
        match call.operation {
            Operation::Authorize => {
                if payment.status() != PaymentStatus::Pending {
                    // Cancelled while the authorization was on its way: the hold is
                    // recorded and released.
                    store::insert_ledger_entry(tx, &entry(&payment, LedgerKind::Authorize)).await?;
                    self.release_intent_in(tx, &payment, &call.actor).await?;
                    return Ok(Settled::Unchanged);
                }
                let authorized = payment.authorize(reference, now)?;
                if !self.save_transition(tx, &payment, &authorized).await? {
                    return Ok(Settled::Unchanged);
                }
                store::insert_ledger_entry(tx, &entry(&payment, LedgerKind::Authorize)).await?;
                self.outbox.stage(tx, &authorized.event).await?;
                Ok(Settled::Moved(authorized.to))
            }
            Operation::Capture => {
                let order = call
                    .context
                    .as_deref()
                    .map(serde_json::from_str::<OrderConfirmed>)
                    .transpose()
                    .map_err(|err| PaymentsError::Mismatch(format!("capture context: {err}")))?
                    .ok_or_else(|| PaymentsError::Mismatch("a capture without its order".into()))?;
                let captured = payment.capture(Some(&call.amount), now)?;
                if !self.save_transition(tx, &payment, &captured).await? {
                    return Ok(Settled::Unchanged);
                }
                store::insert_ledger_entry(tx, &entry(&payment, LedgerKind::Capture)).await?;
                self.issue_invoice_in(tx, &payment, &order, &call.amount)
                    .await?;
                self.outbox.stage(tx, &captured.event).await?;
                Ok(Settled::Moved(captured.to))
            }
            Operation::Void => {
                store::insert_ledger_entry(tx, &entry(&payment, LedgerKind::Void)).await?;
                if payment.status() != PaymentStatus::Authorized {
                    // The hold of a payment cancelled during its authorization.
                    return Ok(Settled::Unchanged);
                }
                let voided = payment.void(now)?;
                if !self.save_transition(tx, &payment, &voided).await? {
                    return Ok(Settled::Unchanged);
                }
                self.outbox.stage(tx, &voided.event).await?;
                Ok(Settled::Moved(voided.to))
            }
            Operation::Refund => {
                let after = store::settle_refund(
                    tx,
                    &payment.id,
                    call.amount.amount,
                    Some(refund_statuses()),
                    now,
                )
                .await?
                .ok_or_else(|| {
                    PaymentsError::Mismatch(format!("refund {} was not promised", call.key))
                })?;
                crate::metrics::refunded(tx, &after, &call.amount);
                let entry = entry(&after, LedgerKind::Refund);
                store::insert_ledger_entry(tx, &entry).await?;
                self.issue_credit_note_in(tx, &after, &entry.id, &call.amount)
                    .await?;
                self.outbox
                    .stage(tx, &after.refund_processed(&entry.id, &call.amount))
                    .await?;
                Ok(Settled::Refunded(Box::new(RefundOutcome {
                    refund_id: entry.id,
                    amount: call.amount.clone(),
                    payment: PaymentView::from(&after),
                })))
            }
        }
    }

    /// Records the void of `payment`'s intent (once: its key is the payment's), made
    /// once `tx` commits: for a hold that must not outlive a payment given up.
    pub(super) async fn release_intent_in(
        &self,
        tx: &mut Tx,
        payment: &Payment,
        actor: &str,
    ) -> Result<(), PaymentsError> {
        let void = self
            .record_call_in(
                tx,
                NewCall {
                    payment,
                    operation: Operation::Void,
                    amount: &payment.amount,
                    actor,
                    key: format!("{}:void", payment.id),
                    refund_id: None,
                    order: None,
                },
            )
            .await?;
        if let Some(void) = void {
            self.make_after_commit(tx, void);
        }
        Ok(())
    }

    /// Records a call the provider refused.
    async fn refused_in(
        &self,
        tx: &mut Tx,
        call: &ProviderCall,
        payment: Payment,
        decline: Decline,
        now: i64,
    ) -> Result<Settled, PaymentsError> {
        match call.operation {
            Operation::Authorize if payment.status() == PaymentStatus::Pending => {
                let reason = decline.reason;
                if reason == FailureReason::ProviderError {
                    // No answer the provider stands by (a confirmation may still be on
                    // its way there): its intent is cancelled, so no hold outlives the
                    // failed payment.
                    self.release_intent_in(tx, &payment, &call.actor).await?;
                }
                self.fail_in(tx, payment, reason, &decline.detail).await?;
                return Ok(Settled::Failed(reason));
            }
            Operation::Refund => {
                store::settle_refund(tx, &payment.id, call.amount.amount, None, now).await?;
            }
            Operation::Capture | Operation::Void => {
                // The order was confirmed (or cancelled) and the provider will not
                // move the money: a person has to look.
                tracing::error!(
                    payment_id = %payment.id,
                    operation = call.operation.as_str(),
                    error = %decline,
                    "the provider refused a call the order needs"
                );
            }
            Operation::Authorize => {}
        }
        Ok(Settled::Refused(decline))
    }

    /// Settles every call pending longer than `call_answer_wait_ms` by asking the
    /// provider what became of it; how many were settled. One failing (the provider
    /// still not answering) is left for the next round.
    #[tracing::instrument(skip_all, err(level = "debug"))]
    pub async fn reconcile_calls(&self) -> Result<usize, PaymentsError> {
        let wait = i64::try_from(self.settings.get().call_answer_wait_ms).unwrap_or(i64::MAX);
        let now = self.clock.now_millis();
        let due = store::calls::pending_since(
            self.db.reader(),
            now.saturating_sub(wait),
            RECONCILE_BATCH,
        )
        .await?;
        let mut settled = 0;
        for key in due {
            match self.reconcile_call(&key).await {
                Ok(Settled::Unanswered(_) | Settled::Unchanged) => {}
                Ok(Settled::AwaitsCustomer) => {}
                Ok(_) => settled += 1,
                Err(err) => tracing::warn!(key, error = %err, "cannot reconcile provider call"),
            }
        }
        Ok(settled)
    }

    /// Settles the pending call `key` by what the provider recorded of it.
    #[tracing::instrument(skip_all, fields(key), err(level = "debug"))]
    pub async fn reconcile_call(&self, key: &str) -> Result<Settled, PaymentsError> {
        let Some((call, payment)) = self.pending_call(key).await? else {
            return Ok(Settled::Unchanged);
        };
        // Claimed first: of several reconcilers (one per replica) one asks, and a
        // provider that hangs on the question moves the call to the back of the queue
        // rather than being asked about it every round.
        let mut tx = self.db.begin().await?;
        let now = self.clock.now_millis().max(call.updated_at + 1);
        if !store::calls::claim_lookup(&mut tx, key, call.updated_at, now).await? {
            return Ok(Settled::Unchanged);
        }
        tx.commit().await?;
        let Some(intent) = payment.provider_ref().map(str::to_owned) else {
            // No intent was ever kept: the call cannot have been made.
            return self.make_call(&RecordedCall(call.key)).await;
        };
        match self
            .provider
            .lookup(&self.call_at_provider(&call, &intent))
            .await
        {
            Ok(Lookup::Made(reference)) => {
                tracing::info!(
                    key,
                    operation = call.operation.as_str(),
                    "provider call found made"
                );
                self.settle_call(&call, CallState::Made(reference.0)).await
            }
            Ok(Lookup::Refused(decline)) => {
                self.settle_call(&call, CallState::Refused(decline)).await
            }
            Ok(Lookup::NotMade) => {
                tracing::info!(
                    key,
                    operation = call.operation.as_str(),
                    "provider call never arrived; making it"
                );
                self.make_call(&RecordedCall(call.key)).await
            }
            Err(decline) => Ok(Settled::Unanswered(decline)),
        }
    }

    /// The provider calls recorded for payment `id`, oldest first (operations).
    pub async fn provider_calls(&self, id: &str) -> Result<Vec<ProviderCall>, PaymentsError> {
        Ok(store::calls::calls_of(self.db.reader(), id).await?)
    }
}
