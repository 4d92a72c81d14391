//! Payments' operations, one use case per file: creating and reading payments
//! (`payments`), authorizing (`authorize`), capturing (`capture`), compensating a
//! cancelled order (`cancel`), giving up payments no order took further (`expiry`),
//! refunds (`refunds`), the fraud review queue (`reviews`), invoices and credit notes
//! (`invoices`), saved cards (`methods`), the ledger (`ledger`), the provider call
//! journal (`calls`) and the provider's webhook notices (`notices`); `views` renders
//! what the API shows.
//!
//! Each operation runs in one transaction with its ledger entries and events; the `*_in`
//! forms run inside a transaction the caller owns (the event consumer's, which also
//! holds the inbox row), so HTTP and events share one code path. The [`Payment`]
//! aggregate decides every change and the event it emits; the store writes the change as
//! one conditional update.
//!
//! Provider calls that move money never happen inside a transaction: the transaction
//! records the call and commits, the call is made, and a second transaction records
//! its outcome; a call whose outcome was lost is settled by asking the provider
//! (`calls`). A `*_in` form answers a [`Step`]: its outcome so far and the call its
//! caller makes once the transaction commits.
//!
//! [`Payment`]: crate::domain::Payment

mod authorize;
mod calls;
mod cancel;
mod capture;
mod expiry;
mod invoices;
mod ledger;
mod methods;
mod notices;
mod payments;
mod refunds;
mod reviews;
mod views;

use std::sync::Arc;

use platform::bus::Outbox;
use platform::db::{Db, Tx};
use platform::tasks::Tasks;
use platform::time::Clock;

pub use authorize::FraudFactsRetention;
pub use calls::{RecordedCall, Settled};
pub use expiry::EXPIRY_ACTOR;
pub use invoices::OrderDocuments;
pub use notices::{NoticeError, NoticeOutcome, NoticesRetention, PROVIDER_ACTOR};
pub use payments::{CardSource, NewPayment, PaymentSource};
pub use reviews::{FraudReviewView, REVIEW_EXPIRY_ACTOR};
pub use views::{PaymentMethodView, PaymentView, RefundOutcome, TransactionView};

use crate::config::PaymentsSettings;
use crate::domain::{
    FailureReason, Payment, PaymentStatus, ReviewStatus, Transition, TransitionError,
};
use crate::provider::{Decline, Operation, PaymentProvider, TokenRefusal};
use crate::store;

/// The actor recorded on ledger entries written for ordering's events.
pub const ORDERING_ACTOR: &str = "ordering";

/// Why a payments operation failed.
#[derive(Debug, thiserror::Error)]
pub enum PaymentsError {
    /// No such payment (or not the caller's).
    #[error("payment not found")]
    NotFound,
    /// The order already has a payment.
    #[error("the order already has a payment")]
    OrderHasPayment,
    /// No such saved card for this user.
    #[error("no such saved card")]
    UnknownPaymentMethod,
    /// The saved card has expired.
    #[error("the saved card has expired")]
    PaymentMethodExpired,
    /// The provider issued no such card token.
    #[error("is not a card token the payment provider knows")]
    UnknownCardToken,
    /// Card numbers may not be sent with this provider.
    #[error("{RAW_CARDS_REFUSED}")]
    RawCardRefused,
    /// Nothing of the payment was captured, so nothing can be refunded.
    #[error("nothing was captured, so nothing can be refunded")]
    NothingCaptured,
    /// The refund would take the refunded total above the captured total.
    #[error("the refund exceeds what remains refundable ({refundable} minor units)")]
    OverRefund {
        /// What could still be refunded when the refund was refused.
        refundable: i64,
    },
    /// The refund amount is not usable for this payment (currency, sign).
    #[error("{0}")]
    InvalidAmount(&'static str),
    /// An event does not fit the payment it names (a saga bug, kept visible).
    #[error("{0}")]
    Mismatch(String),
    /// No such fraud review.
    #[error("fraud review not found")]
    ReviewNotFound,
    /// The fraud review was decided already.
    #[error("the fraud review is {}", .0.as_str())]
    AlreadyDecided(ReviewStatus),
    /// The payment is not in a status that allows the change.
    #[error("the payment is {}", .0.as_str())]
    WrongStatus(PaymentStatus),
    /// The provider refused or could not answer.
    #[error("the payment provider refused: {0}")]
    Provider(#[from] Decline),
    /// The provider did not answer a call that is recorded: it is completed once the
    /// provider says what became of it.
    #[error(
        "the payment provider did not answer ({0}); the {1} is recorded and completes once the provider confirms it"
    )]
    Unanswered(Decline, &'static str),
    /// Another call on the payment waits for the provider's answer.
    #[error("the payment's {} is waiting for the provider's answer", .0.as_str())]
    CallPending(Operation),
    /// The database failed (or holds a row that does not decode).
    #[error(transparent)]
    Sql(#[from] platform::db::Error),
}

impl From<TransitionError> for PaymentsError {
    fn from(err: TransitionError) -> Self {
        match err {
            TransitionError::WrongStatus(status) => Self::WrongStatus(status),
            TransitionError::NothingCaptured => Self::NothingCaptured,
            TransitionError::OverRefund { refundable } => Self::OverRefund { refundable },
            TransitionError::InvalidAmount(message) => Self::InvalidAmount(message),
            TransitionError::TotalDoesNotFit(_) => Self::Mismatch(err.to_string()),
        }
    }
}

/// Why raw card fields are refused when the provider does not take them.
pub const RAW_CARDS_REFUSED: &str = "card numbers are not accepted with this payment provider: \
     tokenize the card in the browser with the provider's script (Stripe.js) and send \
     its `token` instead; Viscount never handles card numbers with Stripe";

impl From<TokenRefusal> for PaymentsError {
    fn from(refusal: TokenRefusal) -> Self {
        match refusal {
            TokenRefusal::Unknown => Self::UnknownCardToken,
            TokenRefusal::Provider(decline) => Self::Provider(decline),
        }
    }
}

/// What an ordering event did to a payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventOutcome {
    /// The payment moved to this status (its event is staged).
    Moved(PaymentStatus),
    /// The payment could not be authorized (or the event did not match it);
    /// `payments.payment.failed` is staged.
    Failed(FailureReason),
    /// Held for fraud review (the payment stays `pending`; `payments.fraud.detected` is
    /// staged).
    Held,
    /// A call to the provider is recorded; it is made once the transaction commits,
    /// and its outcome moves the payment.
    Calling,
    /// Nothing to do: already done, not applicable, or no payment.
    Unchanged,
}

/// What an operation inside its caller's transaction did: the outcome so far, and the
/// provider call the caller makes once that transaction commits
/// ([`PaymentsApp::make_after_commit`] for an event handler, [`PaymentsApp::make_call`]
/// for a caller that waits).
#[derive(Debug)]
#[must_use = "a recorded call is made only when its caller makes it"]
pub struct Step {
    /// What happened so far.
    pub outcome: EventOutcome,
    /// The call to make, if one was recorded.
    pub call: Option<RecordedCall>,
}

impl From<EventOutcome> for Step {
    fn from(outcome: EventOutcome) -> Self {
        Self {
            outcome,
            call: None,
        }
    }
}

impl Step {
    /// A step that recorded `call` (or found it recorded already: nothing to make).
    fn calling(call: Option<RecordedCall>) -> Self {
        match call {
            Some(call) => Self {
                outcome: EventOutcome::Calling,
                call: Some(call),
            },
            None => EventOutcome::Unchanged.into(),
        }
    }
}

/// The payments service's operations.
#[derive(Clone)]
pub struct PaymentsApp {
    pub(crate) db: Db,
    pub(crate) outbox: Outbox,
    pub(crate) clock: Clock,
    /// Read per use: the fraud limits change while the service runs.
    pub(crate) settings: PaymentsSettings,
    pub(crate) provider: Arc<dyn PaymentProvider>,
    /// Where calls made after a commit run, so shutdown waits for them.
    pub(crate) tasks: Tasks,
}

impl PaymentsApp {
    /// Operations over `db`, staging events in `outbox`, with cards at `provider`, under
    /// `settings` (a fixed [`crate::PaymentsConfig`] or the live ones).
    pub fn new(
        db: Db,
        outbox: Outbox,
        clock: Clock,
        settings: impl Into<PaymentsSettings>,
        provider: Arc<dyn PaymentProvider>,
        tasks: Tasks,
    ) -> Self {
        Self {
            db,
            outbox,
            clock,
            settings: settings.into(),
            provider,
            tasks,
        }
    }

    /// Commits `tx`, then makes the call `step` recorded (if any) and answers what the
    /// operation did in the end: the form of a `*_in` operation that runs in a
    /// transaction of its own and waits for the provider.
    async fn finish(&self, tx: Tx, step: Step) -> Result<EventOutcome, PaymentsError> {
        tx.commit().await?;
        self.outbox.wake();
        match step.call {
            Some(call) => Ok(self.make_call(&call).await?.outcome()),
            None => Ok(step.outcome),
        }
    }

    /// The service's database.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Whether card numbers may be sent (the sandbox); with a live provider cards
    /// come tokenized from the browser.
    pub fn takes_raw_cards(&self) -> bool {
        self.provider.takes_raw_cards()
    }

    /// The clock the rules read (expiry, the fraud window).
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// Writes `transition` of `payment` inside `tx` (see [`store::save_transition`]:
    /// `false` when another delivery moved it first), and counts it in the metrics once
    /// `tx` commits.
    async fn save_transition<E: Sync>(
        &self,
        tx: &mut Tx,
        payment: &Payment,
        transition: &Transition<E>,
    ) -> Result<bool, platform::db::Error> {
        let saved = store::save_transition(tx, payment, transition).await?;
        if saved {
            crate::metrics::payment_entered(tx, payment, transition.to);
        }
        Ok(saved)
    }
}
