//! What an order's transitions return (the changes the store writes and the events to
//! emit) and what they refuse.

use super::{HistoryEntry, RefundEvent};
use crate::domain::{OrderStatus, SagaCommand, ShipmentProgress};

/// A status change an order made: the store moves the row from `from` to `to` only if
/// it is still in `from`, and records the entry in its history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusChange {
    /// The status it left (the condition of the update).
    pub from: OrderStatus,
    /// The status it entered.
    pub to: OrderStatus,
    /// Why (kept in the history, and as the cancel reason of a cancellation).
    pub reason: String,
    /// When, epoch ms.
    pub at: i64,
    /// The saga deadline it has afterwards.
    pub deadline_at: Option<i64>,
}

impl StatusChange {
    /// The reason to keep as the order's cancel reason: this one's, if it cancels.
    pub fn cancel_reason(&self) -> Option<&str> {
        (self.to == OrderStatus::Cancelled).then_some(self.reason.as_str())
    }

    /// When the order was delivered, if this change delivered it (the store keeps it:
    /// the return window runs from there).
    pub fn delivered_at(&self) -> Option<i64> {
        (self.to == OrderStatus::Delivered).then_some(self.at)
    }

    /// The history entry it adds.
    pub fn entry(&self) -> HistoryEntry {
        HistoryEntry {
            status: self.to,
            reason: Some(self.reason.clone()),
            at: self.at,
        }
    }
}

/// A transition the order's state machine does not allow; nothing changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IllegalTransition {
    /// A saga participant's answer that does not apply (late, duplicated, or after the
    /// order ended).
    #[error("{event} does not apply to a {from} order")]
    Saga {
        /// The order's status.
        from: OrderStatus,
        /// The answer.
        event: &'static str,
    },
    /// A status change the tables do not allow.
    #[error("a {from} order cannot become {to}")]
    Status {
        /// The order's status.
        from: OrderStatus,
        /// The status asked for.
        to: OrderStatus,
    },
    /// The order cannot complete (not delivered, window still open, a return open).
    #[error("a {from} order cannot complete: {why}")]
    Completion {
        /// The order's status.
        from: OrderStatus,
        /// Why not.
        why: &'static str,
    },
    /// Parcel progress that does not move the order (already there, or ended).
    #[error("a {from} order does not follow {progress:?} parcels")]
    Shipment {
        /// The order's status.
        from: OrderStatus,
        /// The progress.
        progress: ShipmentProgress,
    },
}

impl IllegalTransition {
    /// The status the order is (still) in.
    pub fn from(&self) -> OrderStatus {
        match self {
            Self::Saga { from, .. }
            | Self::Status { from, .. }
            | Self::Completion { from, .. }
            | Self::Shipment { from, .. } => *from,
        }
    }
}

/// A saga step the order took: the changes, oldest first, and what to emit next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SagaMove {
    /// Status changes, oldest first.
    pub changes: Vec<StatusChange>,
    /// What ordering emits for the next participant.
    pub command: SagaCommand,
}

/// How a refund shows in the history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    /// The order moved to `refunded` or `partially_refunded`.
    Moved(StatusChange),
    /// The order stays where it is (already there, or cancelled); a note says why.
    Noted(HistoryEntry),
}

/// A refund applied to an order: its history entry and the event to emit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundRecorded {
    /// The history entry.
    pub recorded: Recorded,
    /// `refunded` or `partially_refunded`.
    pub event: RefundEvent,
}

/// Why an order cannot be refunded as asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RefundRefused {
    /// Nothing captured is left to refund, or there is no payment.
    #[error("the order is {0}")]
    Status(OrderStatus),
    /// The refund is in another currency than the order.
    #[error("the refund must be in {0}")]
    Currency(String),
}

/// Why a received return cannot be refunded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReturnRefused {
    /// The order has no payment to refund.
    #[error("the order is {0} and has no payment")]
    NoPayment(OrderStatus),
    /// Nothing returned is on the order.
    #[error("nothing returned is on the order")]
    NothingOfTheOrder,
}
