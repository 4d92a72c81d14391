//! Authorizing the payment of a reserved order (`ordering.order.reserved`): the fraud
//! rules, the expiry check and the provider's hold, or a failure the saga cancels the
//! order on. On the checkout's hot path: one locked read, the attempt count and row,
//! one conditional update, one ledger entry, one event.

use contracts::ordering::OrderReserved;
use platform::db::Tx;

use super::{EventOutcome, ORDERING_ACTOR, PaymentsApp, PaymentsError};
use crate::domain::{
    Action, AttemptFacts, FailureReason, FraudRules, LedgerEntry, LedgerKind, Payment,
    no_payment_for,
};
use crate::store::{self, Key};

/// The window of the velocity fraud rule.
const ATTEMPT_WINDOW_MS: i64 = 60_000;

impl PaymentsApp {
    /// Authorizes the payment an `ordering.order.reserved` event names (see
    /// [`PaymentsApp::authorize_in`]), in a transaction of its own.
    pub async fn authorize(&self, order: &OrderReserved) -> Result<EventOutcome, PaymentsError> {
        let mut tx = self.db.begin().await?;
        let outcome = self.authorize_in(&mut tx, order).await?;
        tx.commit().await?;
        self.outbox.wake();
        Ok(outcome)
    }

    /// Authorizes inside `tx` a pending payment that matches the order (same order,
    /// owner, amount and currency), after the fraud rules and the expiry check. A
    /// decline, a fraud block or a mismatch fails it and stages
    /// `payments.payment.failed` so the saga cancels the order. An unknown payment fails
    /// the order the same way. A payment already past pending (authorized by an earlier
    /// delivery, or cancelled before this event arrived) is left alone.
    #[tracing::instrument(
        skip_all,
        fields(payment_id = %order.payment_id, order_id = %order.order_id),
        err(level = "debug")
    )]
    pub async fn authorize_in(
        &self,
        tx: &mut Tx,
        order: &OrderReserved,
    ) -> Result<EventOutcome, PaymentsError> {
        let found =
            store::payment_for_update(tx, self.db.dialect(), Key::Id(&order.payment_id)).await?;
        let Some(mut payment) = found.filter(|p| p.order_id == order.order_id) else {
            // Unknown, or another order's payment: fail this order, touch nothing.
            self.outbox.stage(tx, &no_payment_for(order)).await?;
            crate::metrics::failed_without_payment(tx, FailureReason::Mismatch);
            return Ok(EventOutcome::Failed(FailureReason::Mismatch));
        };
        if !Action::Authorize.allowed_from(payment.status()) {
            return Ok(EventOutcome::Unchanged);
        }
        if !payment.pays_for(order) {
            return self
                .fail_in(
                    tx,
                    payment,
                    FailureReason::Mismatch,
                    "the payment does not match the order's owner or amount",
                )
                .await;
        }
        let now = self.clock.now_millis();
        let recent =
            store::attempts_since(tx, &payment.user_id, now - ATTEMPT_WINDOW_MS + 1).await?;
        store::insert_attempt(tx, &payment.user_id, &payment.id, now).await?;
        // Read now, not at start: an operator's new limits apply to the next attempt.
        let settings = self.settings.get();
        let rules = FraudRules {
            max_amount_minor: settings.max_amount_minor,
            max_attempts_per_minute: settings.fraud_max_attempts_per_minute,
        };
        let facts = AttemptFacts {
            amount_minor: payment.amount.amount,
            recent_attempts: u32::try_from(recent).unwrap_or(u32::MAX),
        };
        if let Err(blocked) = rules.assess(&facts) {
            return self
                .fail_in(tx, payment, FailureReason::Fraud, blocked.0)
                .await;
        }
        if payment.card.expiry.has_passed(now) {
            return self
                .fail_in(
                    tx,
                    payment,
                    FailureReason::ExpiredCard,
                    "the card has expired",
                )
                .await;
        }
        let key = format!("{}:authorize", payment.id);
        let reference = match self
            .provider
            .authorize(&payment.card.token, &payment.amount, &key)
            .await
        {
            Ok(reference) => reference,
            Err(decline) => {
                return self
                    .fail_in(tx, payment, decline.reason, &decline.detail)
                    .await;
            }
        };
        let authorized = payment.authorize(reference.as_str(), now)?;
        if !self.save_transition(tx, &payment, &authorized).await? {
            return Ok(EventOutcome::Unchanged);
        }
        let entry = LedgerEntry::new(
            platform::ids::new_id(),
            &payment,
            LedgerKind::Authorize,
            payment.amount.amount,
            reference.as_str(),
            ORDERING_ACTOR,
            now,
        );
        store::insert_ledger_entry(tx, &entry).await?;
        self.outbox.stage(tx, &authorized.event).await?;
        Ok(EventOutcome::Moved(authorized.to))
    }

    /// Fails a pending payment for `reason` and stages `payments.payment.failed`.
    async fn fail_in(
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
