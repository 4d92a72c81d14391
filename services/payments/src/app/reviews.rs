//! The fraud review queue: authorizations the fraud rules scored between
//! `review_score` and `block_score` wait here, their payment still `pending` and no
//! provider called, until an admin approves (the authorization proceeds exactly as an
//! unsuspicious one: provider hold, then `payments.payment.authorized` or `failed`) or
//! declines (`payments.payment.failed`, reason `fraud`, detail `fraud_review_declined`;
//! the saga cancels the order and releases its stock), or `review_timeout_secs` passes
//! (the sweep declines it: `fraud_review_expired`).
//!
//! Why the payment stays `pending` rather than gaining an `in_review` status: the
//! status is a shared contract (`contracts::payments::PaymentStatus`, matched
//! exhaustively by the money verifier), and `pending` already means what a held
//! payment is — nothing at the provider, cancellable when its order is cancelled. The
//! review row is the hold: [`PaymentsApp::authorize_in`] leaves a payment that has one
//! to its reviewer. The failure reason stays `fraud` (with the review's code as its
//! detail) for the same reason: `FailureReason` is matched exhaustively by
//! notifications. Pending payments expire after `pending_expiry_secs` (15 minutes),
//! which is longer than the review timeout, so a review always ends first.
//!
//! Every decision locks the payment, then writes the review `WHERE status = 'pending'`:
//! of two decisions (two admins, an admin and the sweep, sweeps on several replicas)
//! only the first acts; the second is told the review was decided (409) or, for the
//! sweep, finds nothing to do.

use contracts::payments::{FraudDecision, FraudSignal};
use platform::db::Tx;
use serde::Serialize;

use super::{EventOutcome, PaymentsApp, PaymentsError};
use crate::domain::review::{DECLINED_DETAIL, EXPIRED_DETAIL};
use crate::domain::{Action, Assessment, FailureReason, FraudReview, Payment, ReviewStatus};
use crate::store::{self, Key};

/// Who the sweep records as deciding an expired review.
pub const REVIEW_EXPIRY_ACTOR: &str = "expiry";

/// Reviews expired per sweep round; the next round takes the rest.
const EXPIRY_BATCH: i64 = 100;

/// A review as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FraudReviewView {
    /// Id.
    pub id: String,
    /// The payment held.
    pub payment_id: String,
    /// The order it pays.
    pub order_id: String,
    /// The payer.
    pub user_id: String,
    /// The total score.
    pub score: u32,
    /// The rules that fired.
    pub signals: Vec<FraudSignal>,
    /// `pending`, `approved`, `declined` or `expired`.
    pub status: String,
    /// Who decided (an admin's id, or `expiry`).
    pub decided_by: Option<String>,
    /// When (RFC 3339).
    pub decided_at: Option<String>,
    /// When it was held (RFC 3339).
    pub created_at: String,
}

impl From<&FraudReview> for FraudReviewView {
    fn from(r: &FraudReview) -> Self {
        Self {
            id: r.id.clone(),
            payment_id: r.payment_id.clone(),
            order_id: r.order_id.clone(),
            user_id: r.user_id.clone(),
            score: r.score,
            signals: r.signals.clone(),
            status: r.status.as_str().to_owned(),
            decided_by: r.decided_by.clone(),
            decided_at: r.decided_at.map(platform::time::rfc3339),
            created_at: platform::time::rfc3339(r.created_at),
        }
    }
}

impl PaymentsApp {
    /// Holds `payment` for review: the review row and `payments.fraud.detected`
    /// (decision `review`), in `tx`. The payment stays `pending`.
    pub(super) async fn hold_in(
        &self,
        tx: &mut Tx,
        payment: &Payment,
        assessment: &Assessment,
        now: i64,
    ) -> Result<EventOutcome, PaymentsError> {
        let review = FraudReview {
            id: platform::ids::new_id(),
            payment_id: payment.id.clone(),
            order_id: payment.order_id.clone(),
            user_id: payment.user_id.clone(),
            score: assessment.score,
            signals: assessment.contract_signals(),
            status: ReviewStatus::Pending,
            decided_by: None,
            decided_at: None,
            created_at: now,
        };
        store::reviews::insert_review(tx, &review).await?;
        let mut event = self.detected(payment, assessment);
        event.decision = FraudDecision::Review;
        event.review_timeout_secs = Some(self.settings.get().fraud.review_timeout_secs);
        self.outbox.stage(tx, &event).await?;
        Ok(EventOutcome::Held)
    }

    /// One page of the queue, newest first.
    pub async fn reviews(
        &self,
        status: Option<ReviewStatus>,
        before: Option<&str>,
        limit: i64,
    ) -> Result<Vec<FraudReviewView>, PaymentsError> {
        let reviews = store::reviews::reviews(self.db.reader(), status, before, limit).await?;
        Ok(reviews.iter().map(FraudReviewView::from).collect())
    }

    /// A review.
    pub async fn review(&self, id: &str) -> Result<FraudReviewView, PaymentsError> {
        store::reviews::review(self.db.reader(), id)
            .await?
            .map(|r| FraudReviewView::from(&r))
            .ok_or(PaymentsError::ReviewNotFound)
    }

    /// Approves a pending review by `admin`: the held authorization proceeds now.
    /// A payment no longer pending (its order was cancelled meanwhile) cannot be
    /// approved (409); the sweep closes its review later.
    #[tracing::instrument(skip_all, fields(review_id = %id), err(level = "debug"))]
    pub async fn approve_review(
        &self,
        id: &str,
        admin: &str,
    ) -> Result<FraudReviewView, PaymentsError> {
        self.decide_review(id, ReviewStatus::Approved, admin).await
    }

    /// Declines a pending review by `admin`: the payment fails (`fraud`,
    /// `fraud_review_declined`) and the saga cancels the order.
    #[tracing::instrument(skip_all, fields(review_id = %id), err(level = "debug"))]
    pub async fn decline_review(
        &self,
        id: &str,
        admin: &str,
    ) -> Result<FraudReviewView, PaymentsError> {
        self.decide_review(id, ReviewStatus::Declined, admin).await
    }

    async fn decide_review(
        &self,
        id: &str,
        to: ReviewStatus,
        by: &str,
    ) -> Result<FraudReviewView, PaymentsError> {
        let mut tx = self.db.begin().await?;
        let review = store::reviews::review(&mut *tx, id)
            .await?
            .ok_or(PaymentsError::ReviewNotFound)?;
        if review.status != ReviewStatus::Pending {
            return Err(PaymentsError::AlreadyDecided(review.status));
        }
        let payment = self.payment_for_review(&mut tx, &review).await?;
        // Read again under the payment's lock: a decision that held it before us has
        // committed by now, and is what the caller must be told (not the status it
        // left the payment in).
        let review = store::reviews::review(&mut *tx, id)
            .await?
            .ok_or(PaymentsError::ReviewNotFound)?;
        if review.status != ReviewStatus::Pending {
            return Err(PaymentsError::AlreadyDecided(review.status));
        }
        if to == ReviewStatus::Approved && !Action::Authorize.allowed_from(payment.status()) {
            return Err(PaymentsError::WrongStatus(payment.status()));
        }
        let now = self.clock.now_millis();
        if !store::reviews::decide(&mut tx, id, to, by, now).await? {
            // Another decision committed between the read and the lock.
            let now_status = store::reviews::review(&mut *tx, id)
                .await?
                .map_or(ReviewStatus::Expired, |r| r.status);
            return Err(PaymentsError::AlreadyDecided(now_status));
        }
        let step = match to {
            ReviewStatus::Approved => self.proceed_in(&mut tx, payment, by, now).await?,
            _ => self
                .fail_held(&mut tx, payment, DECLINED_DETAIL)
                .await?
                .into(),
        };
        let decided = store::reviews::review(&mut *tx, id)
            .await?
            .ok_or(PaymentsError::ReviewNotFound)?;
        let outcome = self.finish(tx, step).await?;
        tracing::info!(
            review_id = id,
            decision = to.as_str(),
            ?outcome,
            "fraud review decided"
        );
        Ok(FraudReviewView::from(&decided))
    }

    /// The held payment, locked.
    async fn payment_for_review(
        &self,
        tx: &mut Tx,
        review: &FraudReview,
    ) -> Result<Payment, PaymentsError> {
        store::payment_for_update(tx, self.db.dialect(), Key::Id(&review.payment_id))
            .await?
            .ok_or_else(|| {
                PaymentsError::Mismatch(format!("review {} names no payment", review.id))
            })
    }

    /// Fails a held payment still pending (one cancelled with its order is left alone).
    async fn fail_held(
        &self,
        tx: &mut Tx,
        payment: Payment,
        detail: &str,
    ) -> Result<EventOutcome, PaymentsError> {
        if !Action::Fail.allowed_from(payment.status()) {
            return Ok(EventOutcome::Unchanged);
        }
        self.fail_in(tx, payment, FailureReason::Fraud, detail)
            .await
    }

    /// Declines every review pending longer than `payments.fraud.review_timeout_secs`;
    /// how many. Each in a transaction of its own; one failing is logged and left for
    /// the next round.
    #[tracing::instrument(skip_all, err(level = "debug"))]
    pub async fn expire_reviews(&self) -> Result<usize, PaymentsError> {
        let timeout_ms = i64::try_from(
            self.settings
                .get()
                .fraud
                .review_timeout_secs
                .saturating_mul(1000),
        )
        .unwrap_or(i64::MAX);
        let now = self.clock.now_millis();
        let due = store::reviews::pending_before(
            self.db.reader(),
            now.saturating_sub(timeout_ms),
            EXPIRY_BATCH,
        )
        .await?;
        let mut expired = 0;
        for id in due {
            match self.expire_review(&id).await {
                Ok(true) => expired += 1,
                Ok(false) => {}
                Err(err) => tracing::warn!(review_id = id, error = %err, "cannot expire review"),
            }
        }
        if expired > 0 {
            self.outbox.wake();
        }
        Ok(expired)
    }

    /// Expires one review if it is still pending once its payment is locked.
    async fn expire_review(&self, id: &str) -> Result<bool, PaymentsError> {
        let mut tx = self.db.begin().await?;
        let Some(review) = store::reviews::review(&mut *tx, id).await? else {
            return Ok(false);
        };
        let payment = self.payment_for_review(&mut tx, &review).await?;
        let now = self.clock.now_millis();
        if !store::reviews::decide(&mut tx, id, ReviewStatus::Expired, REVIEW_EXPIRY_ACTOR, now)
            .await?
        {
            return Ok(false);
        }
        self.fail_held(&mut tx, payment, EXPIRED_DETAIL).await?;
        tx.commit().await?;
        Ok(true)
    }
}
