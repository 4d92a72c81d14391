//! The payment state machine: which [`Action`] may leave which [`PaymentStatus`] and
//! where it goes, and what a change hands the store to write.
//!
//! `pending → authorized → captured → partially_refunded → refunded`, with
//! `pending → failed`, `pending → cancelled`, `authorized → voided`, and
//! `captured → refunded` for a refund of everything at once.
//!
//! The [`Payment`](super::Payment) aggregate consults this table in every transition;
//! the store binds the statuses a [`Transition`] or [`RefundChange`] names, so the state
//! machine exists here and nowhere else.

use super::{Money, PaymentStatus};

/// What can happen to a payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// The provider holds the amount.
    Authorize,
    /// Authorization was refused (decline, fraud, expiry, mismatch).
    Fail,
    /// The order was cancelled before authorization.
    Cancel,
    /// The held money moves.
    Capture,
    /// The hold is released without capture.
    Void,
    /// Captured money goes back.
    Refund,
}

impl Action {
    /// Every action.
    pub const ALL: [Action; 6] = [
        Self::Authorize,
        Self::Fail,
        Self::Cancel,
        Self::Capture,
        Self::Void,
        Self::Refund,
    ];

    /// The statuses a payment may be in for this action: the state machine's table.
    pub const fn from(self) -> &'static [PaymentStatus] {
        use PaymentStatus::*;
        match self {
            Self::Authorize | Self::Fail | Self::Cancel => &[Pending],
            Self::Capture | Self::Void => &[Authorized],
            Self::Refund => &[Captured, PartiallyRefunded],
        }
    }

    /// Where the action takes a payment. A refund goes to `refunded` when the refunded
    /// total reaches the captured one, to `partially_refunded` otherwise.
    pub const fn to(self) -> &'static [PaymentStatus] {
        use PaymentStatus::*;
        match self {
            Self::Authorize => &[Authorized],
            Self::Fail => &[Failed],
            Self::Cancel => &[Cancelled],
            Self::Capture => &[Captured],
            Self::Void => &[Voided],
            Self::Refund => &[PartiallyRefunded, Refunded],
        }
    }

    /// Whether a payment in `status` may take this action.
    pub fn allowed_from(self, status: PaymentStatus) -> bool {
        self.from().contains(&status)
    }
}

/// Why a payment refused a change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    /// The payment's status does not allow the change.
    #[error("the payment is {}", .0.as_str())]
    WrongStatus(PaymentStatus),
    /// Nothing of the payment was captured, so nothing can be refunded.
    #[error("nothing was captured, so nothing can be refunded")]
    NothingCaptured,
    /// The refund would take the refunded total above the captured total.
    #[error("the refund exceeds what remains refundable ({refundable} minor units)")]
    OverRefund {
        /// What could still be refunded.
        refundable: i64,
    },
    /// The refund amount is not usable for this payment (currency, sign).
    #[error("{0}")]
    InvalidAmount(&'static str),
    /// A capture's total is not within the payment (currency, sign, above the amount).
    #[error("the order total does not fit payment {0}")]
    TotalDoesNotFit(String),
}

/// A status change a payment made, with the event it emits. The store writes it only
/// while the stored payment is still in `from`; `false` from the store means another
/// delivery got there first.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct Transition<E> {
    /// The status the payment left.
    pub from: PaymentStatus,
    /// The status it is in now.
    pub to: PaymentStatus,
    /// What it emits once the change is stored.
    pub event: E,
}

/// A refund a payment accepted. The store adds `amount` to the refunded total in one
/// conditional update, guarded by the totals as they are when it runs (concurrent
/// refunds all read the same totals; only those that still fit succeed), and picks
/// `settled` or `partial` by the same rule as [`Payment::refund`](super::Payment::refund).
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct RefundChange {
    /// This refund.
    pub amount: Money,
    /// The statuses a refund may leave.
    pub from: &'static [PaymentStatus],
    /// The status when the refunded total reaches the captured one.
    pub settled: PaymentStatus,
    /// The status otherwise.
    pub partial: PaymentStatus,
}

/// Where a refund the provider made takes a payment: (the refunded total reached the
/// captured one, it did not).
pub const fn refund_statuses() -> (PaymentStatus, PaymentStatus) {
    (PaymentStatus::Refunded, PaymentStatus::PartiallyRefunded)
}

/// The status after a refund leaves `refunded` of `captured` refunded in total.
pub fn refund_status(captured: i64, refunded: i64) -> PaymentStatus {
    if refunded >= captured {
        PaymentStatus::Refunded
    } else {
        PaymentStatus::PartiallyRefunded
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use PaymentStatus::*;

    #[test]
    fn the_table_allows_only_the_documented_transitions() {
        let documented = [
            (Pending, Authorized),
            (Pending, Failed),
            (Pending, Cancelled),
            (Authorized, Captured),
            (Authorized, Voided),
            (Captured, PartiallyRefunded),
            (Captured, Refunded),
            (PartiallyRefunded, PartiallyRefunded),
            (PartiallyRefunded, Refunded),
        ];
        for from in PaymentStatus::ALL {
            for to in PaymentStatus::ALL {
                let allowed = Action::ALL
                    .iter()
                    .any(|a| a.allowed_from(from) && a.to().contains(&to));
                assert_eq!(
                    allowed,
                    documented.contains(&(from, to)),
                    "{from:?} -> {to:?}"
                );
            }
        }
    }

    #[test]
    fn a_refund_settles_when_everything_captured_went_back() {
        assert_eq!(refund_status(100, 30), PartiallyRefunded);
        assert_eq!(refund_status(100, 100), Refunded);
    }
}
