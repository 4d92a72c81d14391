//! The shipment aggregate: the part of an order one warehouse sends, changed only by
//! its transitions (an operator's dispatch or delivery, a carrier's scans, the order's
//! cancellation), which follow the state machine in `status` and refuse what it does
//! not allow; the entries of its tracking history; and (`announce`) the events its
//! moves stage for others.

mod announce;
mod status;

pub use status::{ShipmentStatus, ShipmentTransitionError, path};

use super::{Money, ShippingAddress, Sku};

/// Units of one sku in a shipment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShipmentLine {
    /// The sku.
    pub sku: Sku,
    /// How many (at least one).
    pub quantity: u32,
}

/// What a shipment is, fixed when it opens: the order, the warehouse and carrier, the
/// price, the recipient and the contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShipmentFacts {
    /// Id.
    pub id: String,
    /// The order it ships.
    pub order_id: String,
    /// The order's owner.
    pub user_id: String,
    /// The warehouse it leaves from.
    pub warehouse_id: String,
    /// Carrier code.
    pub carrier: String,
    /// The carrier's tracking number.
    pub tracking_number: String,
    /// The shipping price.
    pub rate: Money,
    /// Parcel weight.
    pub weight_grams: u32,
    /// The recipient; `None` when the order carried no address.
    pub ship_to: Option<ShippingAddress>,
    /// What is in it, one line per sku, by sku.
    pub lines: Vec<ShipmentLine>,
}

/// Where a shipment stands and since when; changed only by its transitions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShipmentState {
    /// Its status.
    pub status: ShipmentStatus,
    /// Opening, epoch ms.
    pub created_at: i64,
    /// Last change, epoch ms.
    pub updated_at: i64,
    /// When it left (as reported), epoch ms.
    pub dispatched_at: Option<i64>,
    /// When it arrived (as reported), epoch ms.
    pub delivered_at: Option<i64>,
}

/// The part of an order one warehouse sends with one carrier: the facts it was opened
/// with, which never change (and which it reads as, through `Deref`), and where it
/// stands, which only its transitions change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shipment {
    facts: ShipmentFacts,
    state: ShipmentState,
}

impl std::ops::Deref for Shipment {
    type Target = ShipmentFacts;

    fn deref(&self) -> &ShipmentFacts {
        &self.facts
    }
}

/// A move a shipment made: the status it left and those it entered, oldest first
/// (two when a scan implies a dispatch nobody recorded). The store writes it as one
/// update conditional on `from`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    /// The status it left.
    pub from: ShipmentStatus,
    /// The statuses it entered, oldest first; never empty.
    pub entered: Vec<ShipmentStatus>,
}

impl Transition {
    /// The first status entered (the step a lost race is reported against).
    pub fn first(&self) -> ShipmentStatus {
        self.entered.first().copied().unwrap_or(self.from)
    }
}

/// What a carrier's scan does to a shipment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scan {
    /// The status it already has: another scan, recorded in its history only.
    Repeated,
    /// It moved along the state machine.
    Moved(Transition),
    /// A status the parcel is past or cannot reach (scans come late and out of order,
    /// and carriers resend what is refused): recorded, moves nothing.
    Stale,
}

impl Shipment {
    /// A shipment opening now with its carrier's label: `label_created` (it passed
    /// through `pending` as it opened).
    pub fn open(new: ShipmentFacts, now: i64) -> Self {
        Self::restore(
            new,
            ShipmentState {
                status: ShipmentStatus::LabelCreated,
                created_at: now,
                updated_at: now,
                dispatched_at: None,
                delivered_at: None,
            },
        )
    }

    /// A stored shipment: what it was opened with, and where it stands.
    pub fn restore(facts: ShipmentFacts, state: ShipmentState) -> Self {
        Self { facts, state }
    }

    /// Its facts and its state, taken apart (for views that take ownership).
    pub fn into_parts(self) -> (ShipmentFacts, ShipmentState) {
        (self.facts, self.state)
    }

    /// Its status.
    pub fn status(&self) -> ShipmentStatus {
        self.state.status
    }

    /// Where it stands and since when.
    pub fn state(&self) -> ShipmentState {
        self.state
    }

    /// Units in it.
    pub fn units(&self) -> u64 {
        self.lines.iter().map(|l| u64::from(l.quantity)).sum()
    }

    /// An operator hands it to the carrier at `at`.
    pub fn dispatch(&mut self, at: i64, now: i64) -> Result<Transition, ShipmentTransitionError> {
        self.advance(ShipmentStatus::Dispatched, at, now)
    }

    /// An operator confirms delivery at `at` (implying the dispatch of a parcel still
    /// at the warehouse).
    pub fn deliver(&mut self, at: i64, now: i64) -> Result<Transition, ShipmentTransitionError> {
        self.advance(ShipmentStatus::Delivered, at, now)
    }

    /// Its order was cancelled: only a shipment that has not left stops.
    pub fn cancel(&mut self, now: i64) -> Result<Transition, ShipmentTransitionError> {
        self.advance(ShipmentStatus::Cancelled, now, now)
    }

    /// A carrier reports `reported` at `at`: moving on (in transit, out for delivery,
    /// delivered, failed, returned to sender) when the state machine allows it.
    pub fn track(&mut self, reported: ShipmentStatus, at: i64, now: i64) -> Scan {
        if reported == self.state.status {
            return Scan::Repeated;
        }
        match self.advance(reported, at, now) {
            Ok(transition) => Scan::Moved(transition),
            Err(_) => Scan::Stale,
        }
    }

    fn advance(
        &mut self,
        to: ShipmentStatus,
        at: i64,
        now: i64,
    ) -> Result<Transition, ShipmentTransitionError> {
        let from = self.state.status;
        let entered = path(from, to).ok_or(ShipmentTransitionError { from, to })?;
        for status in &entered {
            match status {
                ShipmentStatus::Dispatched => self.state.dispatched_at = Some(at),
                ShipmentStatus::Delivered => self.state.delivered_at = Some(at),
                _ => {}
            }
        }
        self.state.status = to;
        self.state.updated_at = now;
        Ok(Transition { from, entered })
    }
}

/// One entry of a shipment's tracking history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackingEntry {
    /// Id.
    pub id: String,
    /// The shipment.
    pub shipment_id: String,
    /// The status it reports.
    pub status: ShipmentStatus,
    /// When it happened, epoch ms.
    pub occurred_at: i64,
    /// Where (carrier scans).
    pub location: Option<String>,
    /// What happened.
    pub description: Option<String>,
    /// Who reported it: the carrier's code, `fulfillment`, or an operator's id.
    pub source: String,
    /// When it was recorded, epoch ms.
    pub recorded_at: i64,
}

#[cfg(test)]
mod tests {
    use super::ShipmentStatus::*;
    use super::*;

    /// A shipment of two units of `A-1` in `status`.
    pub(super) fn shipment_in(status: ShipmentStatus) -> Shipment {
        let mut shipment = Shipment::open(
            ShipmentFacts {
                id: "s1".into(),
                order_id: "o1".into(),
                user_id: "u1".into(),
                warehouse_id: "wh-1".into(),
                carrier: "local".into(),
                tracking_number: "LC1".into(),
                rate: Money {
                    amount: 499,
                    currency: "USD".into(),
                },
                weight_grams: 1_000,
                ship_to: None,
                lines: vec![ShipmentLine {
                    sku: Sku::try_from("A-1".to_owned()).expect("sku"),
                    quantity: 2,
                }],
            },
            0,
        );
        shipment.state.status = status;
        shipment
    }

    fn moved(from: ShipmentStatus, entered: &[ShipmentStatus]) -> Transition {
        Transition {
            from,
            entered: entered.to_vec(),
        }
    }

    #[test]
    fn operators_dispatch_deliver_and_orders_cancel_only_where_the_machine_allows() {
        type Act = fn(&mut Shipment) -> Result<Transition, ShipmentTransitionError>;
        let dispatch: Act = |s| s.dispatch(5, 9);
        let deliver: Act = |s| s.deliver(5, 9);
        let cancel: Act = |s| s.cancel(9);
        // (status, act, what it enters; `None`: refused)
        let table: &[(ShipmentStatus, Act, Option<&[ShipmentStatus]>)] = &[
            (LabelCreated, dispatch, Some(&[Dispatched])),
            (Dispatched, dispatch, None),
            (Cancelled, dispatch, None),
            (LabelCreated, deliver, Some(&[Dispatched, Delivered])),
            (Dispatched, deliver, Some(&[Delivered])),
            (OutForDelivery, deliver, Some(&[Delivered])),
            (FailedDelivery, deliver, None),
            (Delivered, deliver, None),
            (Pending, cancel, Some(&[Cancelled])),
            (LabelCreated, cancel, Some(&[Cancelled])),
            (Dispatched, cancel, None),
            (Cancelled, cancel, None),
        ];
        for (status, act, expected) in table {
            let mut shipment = shipment_in(*status);
            let result = act(&mut shipment);
            match expected {
                Some(entered) => {
                    assert_eq!(result, Ok(moved(*status, entered)), "from {status}");
                    assert_eq!(shipment.status(), *entered.last().expect("a step"));
                    assert_eq!(shipment.state().updated_at, 9);
                }
                None => {
                    let to = result.expect_err("refused").to;
                    assert_eq!(
                        shipment,
                        shipment_in(*status),
                        "{status} -> {to} changed it"
                    );
                }
            }
        }
    }

    #[test]
    fn carrier_scans_move_repeat_or_are_kept_as_stale() {
        // (status, reported, what the scan does)
        let table: &[(ShipmentStatus, ShipmentStatus, Scan)] = &[
            (InTransit, InTransit, Scan::Repeated),
            (
                LabelCreated,
                InTransit,
                Scan::Moved(moved(LabelCreated, &[Dispatched, InTransit])),
            ),
            (
                Dispatched,
                OutForDelivery,
                Scan::Moved(moved(Dispatched, &[OutForDelivery])),
            ),
            (
                InTransit,
                FailedDelivery,
                Scan::Moved(moved(InTransit, &[FailedDelivery])),
            ),
            (
                FailedDelivery,
                OutForDelivery,
                Scan::Moved(moved(FailedDelivery, &[OutForDelivery])),
            ),
            (
                FailedDelivery,
                Returned,
                Scan::Moved(moved(FailedDelivery, &[Returned])),
            ),
            (Delivered, InTransit, Scan::Stale),
            (OutForDelivery, Dispatched, Scan::Stale),
            (Cancelled, Dispatched, Scan::Stale),
            (LabelCreated, FailedDelivery, Scan::Stale),
        ];
        for (status, reported, expected) in table {
            let mut shipment = shipment_in(*status);
            let scan = shipment.track(*reported, 5, 9);
            assert_eq!(&scan, expected, "{status} scanned {reported}");
            let now = if matches!(scan, Scan::Moved(_)) {
                *reported
            } else {
                *status
            };
            assert_eq!(shipment.status(), now);
        }
    }

    #[test]
    fn entering_dispatch_and_delivery_stamps_when_they_happened() {
        let mut shipment = shipment_in(LabelCreated);
        shipment.track(InTransit, 5, 6);
        assert_eq!(shipment.state().dispatched_at, Some(5));
        assert_eq!(shipment.state().delivered_at, None);
        shipment.track(Delivered, 7, 8);
        let state = shipment.state();
        assert_eq!(
            (state.dispatched_at, state.delivered_at),
            (Some(5), Some(7))
        );
        assert_eq!((state.created_at, state.updated_at), (0, 8));
    }
}
