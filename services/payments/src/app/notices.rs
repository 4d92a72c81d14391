//! The provider's notices (Stripe's webhooks, `POST /webhooks/stripe/payments`): what
//! happened at the provider, applied to the payment it names, once however often it is
//! delivered.
//!
//! A notice is checked against the endpoint's signing secret before its body is read
//! (`platform::webhook_signature`, shared with ingestion). Then, in one transaction
//! with the notice's id (a redelivery finds it and changes nothing):
//! - a capture (`payment_intent.succeeded`) settles payments' own capture call still
//!   waiting for its answer, or, made in the provider's dashboard, captures the
//!   payment with its ledger entry and `payments.payment.captured` (no invoice: the
//!   order's lines are ordering's, and no order confirmation carried them here);
//! - a hold (`payment_intent.amount_capturable_updated`, after the customer
//!   authenticated) or a failure (`payment_intent.payment_failed`) settles the
//!   authorization waiting for it, or fails a pending payment;
//! - refunds (`charge.refunded`) beyond what payments refunded or is refunding were made
//!   in the dashboard: they are recorded as a refund by `stripe`, with the ledger entry,
//!   credit note and `payments.refund.processed`;
//! - a dispute (`charge.dispute.created`) stages `payments.dispute.opened`, which
//!   notifications turns into a message to every admin.

use contracts::payments::DisputeOpened;
use platform::config::ExposeSecret;
use platform::db::Tx;
use platform::retention::{DAY_MS, RetentionRule};
use platform::webhook_signature::{StripeSignatureError, verify_stripe};

use super::calls::NewCall;
use super::{PaymentsApp, PaymentsError, Settled};
use crate::domain::{LedgerEntry, LedgerKind, Payment, PaymentStatus};
use crate::provider::stripe::webhook::{Unreadable, read_notice};
use crate::provider::{Change, Notice, Operation};
use crate::store::calls::CallState;
use crate::store::{self, Key};

/// The actor recorded for what was done in the provider's dashboard.
pub const PROVIDER_ACTOR: &str = "stripe";

/// How long applied notices are remembered: well past the provider's retries (Stripe
/// retries for three days).
const NOTICES_KEPT_MS: i64 = 30 * DAY_MS;

/// What became of a notice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeOutcome {
    /// It changed the payment it names.
    Applied,
    /// It was applied before (a redelivery).
    Duplicate,
    /// Nothing to do: a type payments does not act on, no payment of this shop, or
    /// nothing new.
    Ignored,
}

impl NoticeOutcome {
    /// The name the answer gives it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Applied => "applied",
            Self::Duplicate => "duplicate",
            Self::Ignored => "ignored",
        }
    }
}

/// Why a notice was not taken.
#[derive(Debug, thiserror::Error)]
pub enum NoticeError {
    /// No signing secret is configured (`payments.stripe.webhook_secret`).
    #[error("stripe webhooks are not configured: payments.stripe.webhook_secret is not set")]
    NotConfigured,
    /// Not signed by the provider (or not now).
    #[error(transparent)]
    Signature(#[from] StripeSignatureError),
    /// Signed, but not an event payments can read.
    #[error(transparent)]
    Unreadable(#[from] Unreadable),
    /// Applying it failed (the database); the provider delivers it again.
    #[error(transparent)]
    Payments(#[from] PaymentsError),
}

/// The retention sweep's rule for notices: applied ones are forgotten after 30 days.
#[derive(Debug, Clone, Copy)]
pub struct NoticesRetention;

#[async_trait::async_trait]
impl RetentionRule for NoticesRetention {
    fn table(&self) -> &'static str {
        "provider_notices"
    }

    async fn delete_batch(
        &self,
        tx: &mut Tx,
        now: i64,
        limit: i64,
    ) -> Result<u64, platform::db::Error> {
        store::notices::prune_notices(tx, now.saturating_sub(NOTICES_KEPT_MS), limit).await
    }
}

impl PaymentsApp {
    /// Takes a Stripe webhook delivery: `signature` (the `Stripe-Signature` header)
    /// checked over the raw `body`, then the event applied once.
    #[tracing::instrument(skip_all, fields(notice), err(level = "info"))]
    pub async fn receive_stripe_notice(
        &self,
        signature: Option<&str>,
        body: &[u8],
    ) -> Result<NoticeOutcome, NoticeError> {
        // Unsigned is refused first, whether or not this endpoint is configured.
        let Some(signature) = signature.filter(|s| !s.trim().is_empty()) else {
            return Err(StripeSignatureError::Missing.into());
        };
        let settings = self.settings.get();
        let Some(secret) = settings
            .stripe
            .webhook_secret
            .as_ref()
            .filter(|s| !s.expose_secret().is_empty())
        else {
            return Err(NoticeError::NotConfigured);
        };
        let now_secs = self.clock.now_millis().div_euclid(1000);
        verify_stripe(
            secret.expose_secret().as_bytes(),
            Some(signature),
            body,
            now_secs,
        )?;
        let notice = read_notice(body)?;
        tracing::Span::current().record("notice", notice.id.as_str());
        Ok(self.apply_notice(&notice).await?)
    }

    /// Applies `notice` to the payment it names, once (see the module docs).
    #[tracing::instrument(skip_all, fields(notice = %notice.id, kind = %notice.kind), err(level = "debug"))]
    pub async fn apply_notice(&self, notice: &Notice) -> Result<NoticeOutcome, PaymentsError> {
        let mut tx = self.db.begin().await?;
        let payment = self.payment_named(&mut tx, &notice.change).await?;
        let now = self.clock.now_millis();
        let payment_id = payment.as_ref().map(|p| p.id.clone());
        if !store::notices::record_notice(
            &mut tx,
            &notice.id,
            &notice.kind,
            payment_id.as_deref(),
            now,
        )
        .await?
        {
            return Ok(NoticeOutcome::Duplicate);
        }
        let outcome = match payment {
            None => {
                if notice.change != Change::Ignored {
                    tracing::info!("the notice names no payment of this shop");
                }
                NoticeOutcome::Ignored
            }
            Some(payment) => self.change_in(&mut tx, notice, payment, now).await?,
        };
        tx.commit().await?;
        self.outbox.wake();
        tracing::info!(outcome = outcome.as_str(), "provider notice taken");
        Ok(outcome)
    }

    /// The payment `change` names, locked: by its intent, or by the charge its capture
    /// made.
    async fn payment_named(
        &self,
        tx: &mut Tx,
        change: &Change,
    ) -> Result<Option<Payment>, PaymentsError> {
        let (intent, charge) = match change {
            Change::Captured { intent, .. }
            | Change::Held { intent }
            | Change::Failed { intent, .. } => (Some(intent), None),
            Change::Refunded { intent, charge, .. } | Change::Disputed { intent, charge, .. } => {
                (intent.as_ref(), Some(charge))
            }
            Change::Ignored => (None, None),
        };
        let dialect = self.db.dialect();
        if let Some(intent) = intent
            && let Some(payment) =
                store::payment_for_update(tx, dialect, Key::Intent(intent)).await?
        {
            return Ok(Some(payment));
        }
        let Some(charge) = charge else {
            return Ok(None);
        };
        let Some(id) = store::notices::payment_of_charge(&mut **tx, charge).await? else {
            return Ok(None);
        };
        Ok(store::payment_for_update(tx, dialect, Key::Id(&id)).await?)
    }

    /// Applies `notice` to `payment` inside `tx`.
    async fn change_in(
        &self,
        tx: &mut Tx,
        notice: &Notice,
        payment: Payment,
        now: i64,
    ) -> Result<NoticeOutcome, PaymentsError> {
        let settled = match &notice.change {
            Change::Captured {
                intent,
                charge,
                amount,
            } => {
                if payment.was_captured() {
                    return Ok(NoticeOutcome::Ignored);
                }
                let reference = charge.clone().unwrap_or_else(|| intent.clone());
                match store::calls::pending_call_of(tx, &payment.id, Operation::Capture).await? {
                    Some(call) => {
                        self.settle_call_in(tx, &call, payment, CallState::Made(reference))
                            .await?
                    }
                    None if payment.status() == PaymentStatus::Authorized => {
                        return self
                            .captured_outside_in(tx, payment, amount, &reference, now)
                            .await;
                    }
                    None => Settled::Unchanged,
                }
            }
            Change::Held { intent } => {
                self.authorization_answered_in(tx, payment, CallState::Made(intent.clone()))
                    .await?
            }
            Change::Failed { decline, .. } => {
                self.authorization_answered_in(tx, payment, CallState::Refused(decline.clone()))
                    .await?
            }
            Change::Refunded { charge, total, .. } => {
                return self
                    .refunded_outside_in(tx, notice, payment, charge, total)
                    .await;
            }
            Change::Disputed {
                dispute,
                amount,
                reason,
                evidence_due_by,
                ..
            } => {
                tracing::warn!(payment_id = %payment.id, dispute, reason, "a payment is disputed");
                let opened = DisputeOpened {
                    dispute_id: dispute.clone(),
                    payment_id: payment.id.clone(),
                    order_id: payment.order_id.clone(),
                    amount: amount.clone(),
                    reason: reason.clone(),
                    evidence_due_by: evidence_due_by
                        .map(|secs| platform::time::rfc3339(secs.saturating_mul(1000))),
                };
                self.outbox.stage(tx, &opened).await?;
                return Ok(NoticeOutcome::Applied);
            }
            Change::Ignored => Settled::Unchanged,
        };
        Ok(match settled {
            Settled::Unchanged | Settled::Unanswered(_) => NoticeOutcome::Ignored,
            _ => NoticeOutcome::Applied,
        })
    }

    /// Settles the authorization of a pending `payment` waiting for the provider (the
    /// customer authenticating) with `state`; a pending payment without one fails on a
    /// refusal.
    async fn authorization_answered_in(
        &self,
        tx: &mut Tx,
        payment: Payment,
        state: CallState,
    ) -> Result<Settled, PaymentsError> {
        if payment.status() != PaymentStatus::Pending {
            if matches!(state, CallState::Made(_))
                && matches!(
                    payment.status(),
                    PaymentStatus::Failed | PaymentStatus::Cancelled
                )
            {
                // A hold that landed after the payment was given up: released.
                self.release_intent_in(tx, &payment, PROVIDER_ACTOR).await?;
            }
            return Ok(Settled::Unchanged);
        }
        match (
            store::calls::pending_call_of(tx, &payment.id, Operation::Authorize).await?,
            state,
        ) {
            (Some(call), state) => self.settle_call_in(tx, &call, payment, state).await,
            (None, CallState::Refused(decline)) => {
                let reason = decline.reason;
                self.fail_in(tx, payment, reason, &decline.detail).await?;
                Ok(Settled::Failed(reason))
            }
            (None, _) => Ok(Settled::Unchanged),
        }
    }

    /// Captures an authorized `payment` whose capture was made at the provider, not by
    /// payments: its ledger entry by the provider and `payments.payment.captured`.
    async fn captured_outside_in(
        &self,
        tx: &mut Tx,
        mut payment: Payment,
        amount: &contracts::Money,
        reference: &str,
        now: i64,
    ) -> Result<NoticeOutcome, PaymentsError> {
        let captured = payment.capture(Some(amount), now)?;
        if !self.save_transition(tx, &payment, &captured).await? {
            return Ok(NoticeOutcome::Ignored);
        }
        let entry = LedgerEntry::new(
            platform::ids::new_id(),
            &payment,
            LedgerKind::Capture,
            amount.amount,
            reference,
            PROVIDER_ACTOR,
            now,
        );
        store::insert_ledger_entry(tx, &entry).await?;
        self.outbox.stage(tx, &captured.event).await?;
        tracing::warn!(payment_id = %payment.id, "captured at the provider, outside payments: no invoice issued");
        Ok(NoticeOutcome::Applied)
    }

    /// Records what the provider refunded of `payment` beyond what payments refunded
    /// or is refunding (refunds made in its dashboard) as one refund by the provider.
    async fn refunded_outside_in(
        &self,
        tx: &mut Tx,
        notice: &Notice,
        mut payment: Payment,
        charge: &str,
        total: &contracts::Money,
    ) -> Result<NoticeOutcome, PaymentsError> {
        let state = payment.state();
        let outside = total.amount - state.refunded - state.refunding;
        if total.currency != payment.amount.currency || outside <= 0 {
            return Ok(NoticeOutcome::Ignored);
        }
        let amount = contracts::Money {
            amount: outside.min(payment.refundable()),
            currency: total.currency.clone(),
        };
        let change = payment.refund(Some(&amount), self.clock.now_millis())?;
        let Some(promised) = store::reserve_refund(tx, &payment, &change).await? else {
            return Ok(NoticeOutcome::Ignored);
        };
        let key = format!("notice:{}", notice.id);
        let recorded = self
            .record_call_in(
                tx,
                NewCall {
                    payment: &promised,
                    operation: Operation::Refund,
                    amount: &change.amount,
                    actor: PROVIDER_ACTOR,
                    key: key.clone(),
                    refund_id: Some(platform::ids::new_id()),
                    order: None,
                },
            )
            .await?;
        let Some(call) = recorded.and(store::calls::call(&mut **tx, &key).await?) else {
            // Unreachable (the notice's own key); refused so the promise rolls back.
            return Err(PaymentsError::Mismatch(format!(
                "refund {key} recorded twice"
            )));
        };
        self.settle_call_in(tx, &call, promised, CallState::Made(charge.to_owned()))
            .await?;
        Ok(NoticeOutcome::Applied)
    }
}
