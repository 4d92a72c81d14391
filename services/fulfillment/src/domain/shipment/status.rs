//! Where a shipment can be and which moves between statuses are legal: the one
//! statement of the shipment state machine, which the aggregate's transitions (and so
//! the store's conditional updates) follow.

use std::fmt;

/// Where a shipment is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ShipmentStatus {
    /// Opened; no label yet.
    Pending,
    /// The carrier issued a label and tracking number; waiting to leave the warehouse.
    LabelCreated,
    /// Handed to the carrier.
    Dispatched,
    /// Moving through the carrier's network.
    InTransit,
    /// On the vehicle for the last mile.
    OutForDelivery,
    /// Reached the recipient.
    Delivered,
    /// The carrier tried and could not deliver.
    FailedDelivery,
    /// Went back to the sender after failed delivery.
    Returned,
    /// The order was cancelled before the shipment left.
    Cancelled,
}

impl ShipmentStatus {
    /// Every status.
    pub const ALL: [ShipmentStatus; 9] = [
        Self::Pending,
        Self::LabelCreated,
        Self::Dispatched,
        Self::InTransit,
        Self::OutForDelivery,
        Self::Delivered,
        Self::FailedDelivery,
        Self::Returned,
        Self::Cancelled,
    ];

    /// The statuses in which a shipment no longer holds up its order's delivery: the
    /// order is delivered once every shipment is in one of them.
    pub const NOT_DUE: [ShipmentStatus; 2] = [Self::Delivered, Self::Cancelled];

    /// The stored and public name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::LabelCreated => "label_created",
            Self::Dispatched => "dispatched",
            Self::InTransit => "in_transit",
            Self::OutForDelivery => "out_for_delivery",
            Self::Delivered => "delivered",
            Self::FailedDelivery => "failed_delivery",
            Self::Returned => "returned",
            Self::Cancelled => "cancelled",
        }
    }

    /// Parses a stored or public name.
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw)
    }

    /// The statuses a carrier may report in a tracking update (the rest are set by
    /// fulfillment itself).
    pub fn from_carrier(raw: &str) -> Option<Self> {
        Self::parse(raw).filter(|s| {
            matches!(
                s,
                Self::Dispatched
                    | Self::InTransit
                    | Self::OutForDelivery
                    | Self::Delivered
                    | Self::FailedDelivery
                    | Self::Returned
            )
        })
    }

    /// Whether the shipment may move straight to `next`. Carriers skip scans (a parcel
    /// can be delivered without an "out for delivery" scan), so the moving states may
    /// jump forward; nothing moves backwards except a failed delivery being retried.
    pub fn can_become(self, next: ShipmentStatus) -> bool {
        use ShipmentStatus::*;
        matches!(
            (self, next),
            (Pending, LabelCreated | Cancelled)
                | (LabelCreated, Dispatched | Cancelled)
                | (Dispatched, InTransit | OutForDelivery | Delivered)
                | (InTransit, OutForDelivery | Delivered | FailedDelivery)
                | (OutForDelivery, Delivered | FailedDelivery)
                | (FailedDelivery, OutForDelivery | Returned)
        )
    }

    /// Whether the parcel has left the warehouse (it can no longer be cancelled).
    pub fn has_left(self) -> bool {
        !matches!(self, Self::Pending | Self::LabelCreated | Self::Cancelled)
    }
}

impl fmt::Display for ShipmentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The statuses a shipment passes through to reach `to` from `from`, oldest first, or
/// `None` when the state machine does not allow it. A carrier's first scan of a parcel
/// nobody marked dispatched (`label_created` → `in_transit`) implies the dispatch, so
/// the order still becomes shipped.
pub fn path(from: ShipmentStatus, to: ShipmentStatus) -> Option<Vec<ShipmentStatus>> {
    use ShipmentStatus::*;
    if from.can_become(to) {
        Some(vec![to])
    } else if from == LabelCreated && Dispatched.can_become(to) {
        Some(vec![Dispatched, to])
    } else {
        None
    }
}

/// A move the shipment state machine does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a shipment that is {from} cannot become {to}")]
pub struct ShipmentTransitionError {
    /// Its status.
    pub from: ShipmentStatus,
    /// The status asked for.
    pub to: ShipmentStatus,
}

#[cfg(test)]
mod tests {
    use super::ShipmentStatus::*;
    use super::*;

    #[test]
    fn shipments_move_only_along_the_state_machine() {
        let allowed = [
            (Pending, LabelCreated),
            (Pending, Cancelled),
            (LabelCreated, Dispatched),
            (LabelCreated, Cancelled),
            (Dispatched, InTransit),
            (Dispatched, OutForDelivery),
            (Dispatched, Delivered),
            (InTransit, OutForDelivery),
            (InTransit, Delivered),
            (InTransit, FailedDelivery),
            (OutForDelivery, Delivered),
            (OutForDelivery, FailedDelivery),
            (FailedDelivery, OutForDelivery),
            (FailedDelivery, Returned),
        ];
        for from in ShipmentStatus::ALL {
            for to in ShipmentStatus::ALL {
                assert_eq!(
                    from.can_become(to),
                    allowed.contains(&(from, to)),
                    "{from} -> {to}"
                );
            }
        }
    }

    #[test]
    fn paths_pass_through_an_implied_dispatch_only_from_a_fresh_label() {
        // (from, to, expected path)
        let table: &[(ShipmentStatus, ShipmentStatus, Option<&[ShipmentStatus]>)] = &[
            (LabelCreated, Dispatched, Some(&[Dispatched])),
            (LabelCreated, InTransit, Some(&[Dispatched, InTransit])),
            (LabelCreated, Delivered, Some(&[Dispatched, Delivered])),
            (LabelCreated, FailedDelivery, None),
            (InTransit, Delivered, Some(&[Delivered])),
            (FailedDelivery, OutForDelivery, Some(&[OutForDelivery])),
            (Delivered, InTransit, None),
            (Cancelled, Dispatched, None),
            (Pending, Dispatched, None),
            (Returned, Delivered, None),
        ];
        for (from, to, expected) in table {
            assert_eq!(path(*from, *to).as_deref(), *expected, "{from} -> {to}");
        }
    }

    #[test]
    fn carriers_report_only_movement_statuses() {
        for status in ShipmentStatus::ALL {
            assert_eq!(ShipmentStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(ShipmentStatus::parse("lost"), None);
        assert_eq!(ShipmentStatus::from_carrier("in_transit"), Some(InTransit));
        assert_eq!(ShipmentStatus::from_carrier("dispatched"), Some(Dispatched));
        assert_eq!(ShipmentStatus::from_carrier("cancelled"), None);
        assert_eq!(ShipmentStatus::from_carrier("label_created"), None);
        assert_eq!(ShipmentStatus::from_carrier("lost"), None);
        assert!(!LabelCreated.has_left() && Dispatched.has_left() && !Cancelled.has_left());
    }
}
