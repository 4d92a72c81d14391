//! Authorizing the payment of a reserved order (`ordering.order.reserved`): the fraud
//! rules' score (allow, hold for review — see `reviews` — or block with
//! `payments.fraud.detected`), the expiry check and the provider's hold, or a failure
//! the saga cancels the order on. On the checkout's hot path: one locked read, the
//! fraud facts (five indexed counts/reads) and the attempt row, one conditional
//! update, one ledger entry, one event. Also the pruning of the facts once the rules'
//! windows are long past ([`FraudFactsRetention`]).

use contracts::ordering::OrderReserved;
use contracts::payments::{FraudDecision, FraudDetected};
use platform::db::Tx;
use platform::retention::{DAY_MS, RetentionRule};

use super::calls::NewCall;
use super::{EventOutcome, ORDERING_ACTOR, PaymentsApp, PaymentsError, Step};
use crate::domain::{
    Action, Assessment, AttemptFacts, FailureReason, Payment, Verdict, no_payment_for,
};
use crate::provider::Operation;
use crate::store::{self, Key};

/// The window of the per-user velocity fraud rule.
const ATTEMPT_WINDOW_MS: i64 = 60_000;
/// The window of the per-card and per-client-address velocity fraud rules.
const CARD_WINDOW_MS: i64 = 3_600_000;
/// How long the facts only the fraud rules read (attempts per user, where payments
/// came from) are kept: well past the rules' windows, then pruned — a client address
/// is personal data.
const FRAUD_FACTS_KEPT_MS: i64 = DAY_MS;

/// The retention sweep's rules for the fraud rules' own facts: authorization attempts
/// and payment origins older than a day go.
#[derive(Debug, Clone, Copy)]
pub enum FraudFactsRetention {
    /// `authorization_attempts`.
    Attempts,
    /// `payment_origins`.
    Origins,
}

#[async_trait::async_trait]
impl RetentionRule for FraudFactsRetention {
    fn table(&self) -> &'static str {
        match self {
            Self::Attempts => "authorization_attempts",
            Self::Origins => "payment_origins",
        }
    }

    async fn delete_batch(
        &self,
        tx: &mut Tx,
        now: i64,
        limit: i64,
    ) -> Result<u64, platform::db::Error> {
        let before = now.saturating_sub(FRAUD_FACTS_KEPT_MS);
        match self {
            Self::Attempts => store::origins::prune_attempts(tx, before, limit).await,
            Self::Origins => store::origins::prune_origins(tx, before, limit).await,
        }
    }
}

impl PaymentsApp {
    /// Authorizes the payment an `ordering.order.reserved` event names (see
    /// [`PaymentsApp::authorize_in`]), in a transaction of its own, and waits for the
    /// provider's answer.
    pub async fn authorize(&self, order: &OrderReserved) -> Result<EventOutcome, PaymentsError> {
        let mut tx = self.db.begin().await?;
        let step = self.authorize_in(&mut tx, order).await?;
        self.finish(tx, step).await
    }

    /// Decides inside `tx` the authorization of a pending payment that matches the
    /// order (same order, owner, amount and currency), after the fraud rules and the
    /// expiry check: the provider's hold is recorded, to be made once `tx` commits. A
    /// score in the review band holds it (still `pending`) in the review queue. A
    /// fraud block or a mismatch fails it and stages `payments.payment.failed` so the
    /// saga cancels the order (as a decline does once the provider answers). An unknown
    /// payment fails the order the same way. A payment already past pending (authorized
    /// by an earlier delivery, or cancelled before this event arrived) is left alone.
    #[tracing::instrument(
        skip_all,
        fields(payment_id = %order.payment_id, order_id = %order.order_id),
        err(level = "debug")
    )]
    pub async fn authorize_in(
        &self,
        tx: &mut Tx,
        order: &OrderReserved,
    ) -> Result<Step, PaymentsError> {
        let found =
            store::payment_for_update(tx, self.db.dialect(), Key::Id(&order.payment_id)).await?;
        let Some(payment) = found.filter(|p| p.order_id == order.order_id) else {
            // Unknown, or another order's payment: fail this order, touch nothing.
            self.outbox.stage(tx, &no_payment_for(order)).await?;
            crate::metrics::failed_without_payment(tx, FailureReason::Mismatch);
            return Ok(EventOutcome::Failed(FailureReason::Mismatch).into());
        };
        if !Action::Authorize.allowed_from(payment.status()) {
            return Ok(EventOutcome::Unchanged.into());
        }
        if !payment.pays_for(order) {
            return Ok(self
                .fail_in(
                    tx,
                    payment,
                    FailureReason::Mismatch,
                    "the payment does not match the order's owner or amount",
                )
                .await?
                .into());
        }
        if store::reviews::has_review(tx, &payment.id).await? {
            // Held for review (or decided there): only the reviewer moves it on.
            return Ok(EventOutcome::Unchanged.into());
        }
        let now = self.clock.now_millis();
        let assessment = self.assess(tx, &payment, now).await?;
        crate::metrics::fraud_decided(tx, assessment.verdict);
        match assessment.verdict {
            Verdict::Allow => self.proceed_in(tx, payment, ORDERING_ACTOR, now).await,
            Verdict::Block => {
                self.outbox
                    .stage(tx, &self.detected(&payment, &assessment))
                    .await?;
                Ok(self
                    .fail_in(tx, payment, FailureReason::Fraud, &assessment.detail())
                    .await?
                    .into())
            }
            Verdict::Review => Ok(self.hold_in(tx, &payment, &assessment, now).await?.into()),
        }
    }

    /// Scores an attempt to authorize `payment` by the fraud rules as configured now,
    /// and records the attempt for the next one's velocity.
    async fn assess(
        &self,
        tx: &mut Tx,
        payment: &Payment,
        now: i64,
    ) -> Result<Assessment, PaymentsError> {
        // Read now, not at start: an operator's new limits apply to the next attempt.
        let settings = self.settings.get();
        let recent =
            store::attempts_since(tx, &payment.user_id, now - ATTEMPT_WINDOW_MS + 1).await?;
        store::insert_attempt(tx, &payment.user_id, &payment.id, now).await?;
        let card = store::reviews::card_payments_since(
            tx,
            &payment.card,
            &payment.id,
            now - CARD_WINDOW_MS + 1,
        )
        .await?;
        let history = store::reviews::captured_amounts(
            tx,
            &payment.user_id,
            &payment.amount.currency,
            i64::from(settings.fraud.usual_history),
        )
        .await?;
        let origin = store::origins::origin_of(tx, &payment.id).await?;
        let client = match &origin.client {
            Some(client) => {
                store::origins::client_payments_since(
                    tx,
                    client,
                    &payment.id,
                    now - CARD_WINDOW_MS + 1,
                )
                .await?
            }
            None => 0,
        };
        let facts = AttemptFacts {
            amount_minor: payment.amount.amount,
            recent_attempts: u32::try_from(recent).unwrap_or(u32::MAX),
            card_attempts: u32::try_from(card).unwrap_or(u32::MAX),
            client_attempts: u32::try_from(client).unwrap_or(u32::MAX),
            billing_country: origin.billing_country,
            shipping_country: origin.shipping_country,
            captured_history: history,
        };
        Ok(settings.fraud_policy().assess(&facts))
    }

    /// What `payments.fraud.detected` says of `payment` scored as `assessment`.
    pub(super) fn detected(&self, payment: &Payment, assessment: &Assessment) -> FraudDetected {
        FraudDetected {
            payment_id: payment.id.clone(),
            order_id: payment.order_id.clone(),
            user_id: payment.user_id.clone(),
            score: assessment.score,
            decision: assessment.decision().unwrap_or(FraudDecision::Review),
            signals: assessment.contract_signals(),
            review_timeout_secs: None,
        }
    }

    /// Asks the provider to hold a pending payment that passed the fraud rules (or a
    /// reviewer): after the expiry check, the hold is recorded as a call by `actor`,
    /// made once `tx` commits; its answer authorizes the payment (ledger entry,
    /// `payments.payment.authorized`) or fails it for the saga to cancel the order.
    pub(super) async fn proceed_in(
        &self,
        tx: &mut Tx,
        payment: Payment,
        actor: &str,
        now: i64,
    ) -> Result<Step, PaymentsError> {
        if payment.card.expiry.has_passed(now) {
            return Ok(self
                .fail_in(
                    tx,
                    payment,
                    FailureReason::ExpiredCard,
                    "the card has expired",
                )
                .await?
                .into());
        }
        let call = self
            .record_call_in(
                tx,
                NewCall {
                    payment: &payment,
                    operation: Operation::Authorize,
                    amount: &payment.amount,
                    actor,
                    key: format!("{}:authorize", payment.id),
                    refund_id: None,
                    order: None,
                },
            )
            .await?;
        Ok(Step::calling(call))
    }

    /// Fails a pending payment for `reason` and stages `payments.payment.failed`.
    pub(super) async fn fail_in(
        &self,
        tx: &mut Tx,
        mut payment: Payment,
        reason: FailureReason,
        detail: &str,
    ) -> Result<EventOutcome, PaymentsError> {
        let failed = payment.fail(reason, detail, self.clock.now_millis())?;
        if !self.save_transition(tx, &payment, &failed).await? {
            return Ok(EventOutcome::Unchanged);
        }
        self.outbox.stage(tx, &failed.event).await?;
        Ok(EventOutcome::Failed(reason))
    }
}
