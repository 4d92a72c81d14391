//! Payments' rules, free of I/O: cards ([`card`]), payable amounts ([`rules`]), the
//! fraud rules and their scores ([`fraud`]), the [`Payment`] aggregate ([`payment`])
//! and its state machine ([`status`]), saved cards ([`method`]), the ledger
//! ([`ledger`]) and fraud reviews ([`review`]).
//!
//! Nothing here knows HTTP, SQL or the bus: the store turns rows into these types and
//! back, `app` drives them, and the events they emit are `contracts` payloads.

pub mod card;
pub mod fraud;
pub mod invoice;
pub mod ledger;
pub mod method;
pub mod payment;
pub mod review;
pub mod rules;
pub mod status;

pub use card::{
    CardDetails, CardNumber, CardTokenRef, Cvc, ExpMonth, ExpYear, Expiry, StoredCard, brand_of,
    luhn_valid, year_month,
};
pub use contracts::Money;
pub use contracts::payments::{CardBrand, FailureReason, PaymentStatus};
pub use contracts::types::Country;
pub use fraud::{Assessment, AttemptFacts, FraudPolicy, PaymentOrigin, Signal, Verdict};
pub use invoice::{DocumentKind, Invoice, Issue, Party, TaxSplit};
pub use ledger::{LedgerEntry, LedgerKind};
pub use method::PaymentMethod;
pub use payment::{ClientSecret, Failure, Payment, PaymentExpiry, PaymentState, no_payment_for};
pub use review::{FraudReview, ReviewStatus};
pub use rules::payable;
pub use status::{
    Action, RefundChange, Transition, TransitionError, refund_status, refund_statuses,
};

/// Why an input was refused; the message names the rule and never repeats the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub &'static str);
