//! Giving up payments no order took further in time: a `pending` payment that no order
//! had authorized is cancelled, an authorization never captured is voided at the
//! provider (ledger entry, `payments.payment.voided`), by a sweep every
//! `expiry_sweep_interval_ms` ([`PaymentsApp::expire_abandoned`]).
//!
//! How payments knows an order does not exist: a payment is created before its order
//! is stored (the order's first event names it), and the saga reaches payments with
//! `ordering.order.reserved`, which authorizes it, or `ordering.order.cancelled`, which
//! cancels it. Ordering gives each saga step `ordering.saga_step_timeout_secs` (a
//! minute) and cancels the order when one runs out, so a payment still `pending` after
//! `pending_expiry_secs` (15 minutes) belongs to an order that never came to exist (the
//! checkout stopped between creating the payment and storing the order) or whose
//! cancellation is lost: no one will authorize it. An authorized payment is captured
//! moments after its order is confirmed; one still waiting after
//! `authorization_expiry_secs` (7 days, when card networks let a hold lapse) is released
//! rather than left holding the customer's money.
//!
//! A pending payment held for fraud review is not given up here: its order exists
//! and waits for the review, which has its own timeout (`app::reviews`).
//!
//! Each payment is given up in a transaction of its own, locked and checked again
//! ([`Payment::expiry`]), so replicas sweeping at once, or a saga event arriving at the
//! same moment, act once: whichever comes second finds the payment moved on.
//!
//! [`Payment::expiry`]: crate::domain::Payment::expiry

use super::{EventOutcome, PaymentsApp, PaymentsError};
use crate::domain::{Action, PaymentExpiry};
use crate::store::{self, Key};

/// The actor recorded on the ledger entry of an authorization voided as abandoned.
pub const EXPIRY_ACTOR: &str = "expiry";

/// Payments read per page.
const BATCH: i64 = 100;
/// Pages per round; the next round takes the rest.
const PAGES: usize = 20;

impl PaymentsApp {
    /// Gives up every payment that waited too long for its order (see the module
    /// docs); how many were cancelled or voided. One payment failing (the provider
    /// unavailable) is logged and left for the next round; the others go on.
    #[tracing::instrument(skip_all, err(level = "debug"))]
    pub async fn expire_abandoned(&self) -> Result<usize, PaymentsError> {
        let expiry = self.expiry();
        let now = self.clock.now_millis();
        let mut given_up = 0;
        let mut after = None;
        for _ in 0..PAGES {
            let due = store::waiting_since(
                self.db.reader(),
                now - expiry.pending_ms,
                now - expiry.authorized_ms,
                after.as_ref(),
                BATCH,
            )
            .await?;
            let last_page = due.len() < BATCH as usize;
            for (updated_at, payment_id) in due {
                given_up += self.give_up(&payment_id, &expiry).await;
                after = Some((updated_at, payment_id));
            }
            if last_page {
                break;
            }
        }
        if given_up > 0 {
            self.outbox.wake();
        }
        Ok(given_up)
    }

    /// Gives up one payment, logging a failure (left for the next round); 1 when it
    /// was cancelled or voided.
    async fn give_up(&self, payment_id: &str, expiry: &PaymentExpiry) -> usize {
        match self.expire_one(payment_id, expiry).await {
            Ok(EventOutcome::Moved(status)) => {
                tracing::info!(
                    payment_id,
                    status = status.as_str(),
                    "abandoned payment given up"
                );
                1
            }
            Ok(_) => 0,
            Err(err) => {
                tracing::warn!(payment_id, error = %err, "cannot give up abandoned payment");
                0
            }
        }
    }

    /// The expiry settings now, in milliseconds.
    fn expiry(&self) -> PaymentExpiry {
        let settings = self.settings.get();
        let ms = |secs: u64| i64::try_from(secs.saturating_mul(1000)).unwrap_or(i64::MAX);
        PaymentExpiry {
            pending_ms: ms(settings.pending_expiry_secs),
            authorized_ms: ms(settings.authorization_expiry_secs),
        }
    }

    /// Gives up one payment, if it is still due once locked.
    async fn expire_one(
        &self,
        payment_id: &str,
        expiry: &PaymentExpiry,
    ) -> Result<EventOutcome, PaymentsError> {
        let mut tx = self.db.begin().await?;
        let Some(payment) =
            store::payment_for_update(&mut tx, self.db.dialect(), Key::Id(payment_id)).await?
        else {
            return Ok(EventOutcome::Unchanged);
        };
        let now = self.clock.now_millis();
        let outcome = match payment.expiry(now, expiry) {
            Some(Action::Cancel) if store::reviews::has_review(&mut tx, &payment.id).await? => {
                // Held for fraud review: its order exists and waits; the review's own
                // timeout (`app::reviews`) declines it, with an event the saga acts on.
                EventOutcome::Unchanged
            }
            Some(Action::Cancel) => {
                // No one is told (as when a cancelled order cancels it): the order, if
                // there is one, is cancelled already or will be when its saga step
                // times out. An authorization still on its way has the intent voided.
                let step = self
                    .cancel_pending_in(&mut tx, payment, EXPIRY_ACTOR, now)
                    .await?;
                let moved = step.call.is_some() || step.outcome != EventOutcome::Unchanged;
                self.finish(tx, step).await?;
                return Ok(if moved {
                    EventOutcome::Moved(crate::domain::PaymentStatus::Cancelled)
                } else {
                    EventOutcome::Unchanged
                });
            }
            Some(Action::Void) => match self.void_in(&mut tx, payment, EXPIRY_ACTOR).await {
                Ok(step) => return self.finish(tx, step).await,
                // A capture on its way: its answer decides, not the expiry.
                Err(PaymentsError::CallPending(_)) => EventOutcome::Unchanged,
                Err(err) => return Err(err),
            },
            _ => EventOutcome::Unchanged,
        };
        tx.commit().await?;
        Ok(outcome)
    }
}
