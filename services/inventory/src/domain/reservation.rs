//! Reservations: stock held for one order, all lines or none, until the order commits
//! it, someone releases it, or it expires. [`ReservationStatus::can_become`] is the
//! state machine; [`Reservation::close`] is the only way out of `active` (and out of
//! `committed`, back to stock), and the store's conditional update takes its
//! `status = $from` from the [`Closing`] it returns.

use std::fmt;
use std::str::FromStr;

use contracts::inventory::{
    Allocation, ReservationFailed, StockCommitted, StockReleased, StockReserved,
};

use super::{Sku, StockChange, StockLevel, StockRefusal};

/// Where a reservation is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReservationStatus {
    /// Holding stock.
    Active,
    /// Released by request or cancellation.
    Released,
    /// Released by its expiry.
    Expired,
    /// Committed: the units left stock.
    Committed,
    /// Returned after commit (the order was cancelled before shipment): the units are
    /// back on hand.
    Returned,
}

impl ReservationStatus {
    /// Every status.
    pub const ALL: [Self; 5] = [
        Self::Active,
        Self::Released,
        Self::Expired,
        Self::Committed,
        Self::Returned,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Released => "released",
            Self::Expired => "expired",
            Self::Committed => "committed",
            Self::Returned => "returned",
        }
    }

    /// Whether a reservation may move to `next`: an active one to any end, and a
    /// committed one back to stock.
    pub fn can_become(self, next: ReservationStatus) -> bool {
        match self {
            Self::Active => !matches!(next, Self::Active | Self::Returned),
            Self::Committed => next == Self::Returned,
            Self::Released | Self::Expired | Self::Returned => false,
        }
    }
}

impl fmt::Display for ReservationStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A stored status that names none of [`ReservationStatus`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown reservation status `{0}`")]
pub struct UnknownStatus(pub String);

impl FromStr for ReservationStatus {
    type Err = UnknownStatus;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str() == raw)
            .ok_or_else(|| UnknownStatus(raw.to_owned()))
    }
}

/// Units of one sku held in one warehouse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReservationLine {
    /// The sku.
    pub sku: Sku,
    /// The warehouse holding them.
    pub warehouse_id: String,
    /// How many.
    pub quantity: u32,
}

/// A reservation cannot make the move asked for: it is already closed otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the reservation is {0}")]
pub struct ReservationError(pub ReservationStatus);

/// Stock held for one order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    id: String,
    order_id: String,
    status: ReservationStatus,
    expires_at: i64,
    lines: Vec<ReservationLine>,
}

impl Reservation {
    /// A new, active reservation of `lines` for `order_id`, releasing itself at
    /// `expires_at` (epoch ms) unless closed before.
    pub fn hold(
        id: String,
        order_id: String,
        lines: Vec<ReservationLine>,
        expires_at: i64,
    ) -> Self {
        Self::restore(id, order_id, ReservationStatus::Active, expires_at, lines)
    }

    /// A reservation as stored (for the store, which decoded `status`).
    pub fn restore(
        id: String,
        order_id: String,
        status: ReservationStatus,
        expires_at: i64,
        lines: Vec<ReservationLine>,
    ) -> Self {
        Self {
            id,
            order_id,
            status,
            expires_at,
            lines,
        }
    }

    /// Id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The order it holds stock for.
    pub fn order_id(&self) -> &str {
        &self.order_id
    }

    /// Where it is in its life.
    pub fn status(&self) -> ReservationStatus {
        self.status
    }

    /// When it releases itself unless committed, epoch ms.
    pub fn expires_at(&self) -> i64 {
        self.expires_at
    }

    /// What it holds, by sku and warehouse.
    pub fn lines(&self) -> &[ReservationLine] {
        &self.lines
    }

    /// Closes the reservation as `to` (released, expired, committed, or returned after
    /// commit). `Ok(None)` when it already is `to` (a repeated request changes nothing);
    /// an error when the state machine forbids the move.
    pub fn close(&mut self, to: ReservationStatus) -> Result<Option<Closing>, ReservationError> {
        if self.status == to {
            return Ok(None);
        }
        if !self.status.can_become(to) {
            return Err(ReservationError(self.status));
        }
        let from = std::mem::replace(&mut self.status, to);
        Ok(Some(Closing { from, to }))
    }

    /// Where each unit is held, as events report it.
    pub fn allocations(&self) -> Vec<Allocation> {
        self.lines
            .iter()
            .map(|line| Allocation {
                sku: line.sku.as_str().to_owned(),
                warehouse_id: line.warehouse_id.clone(),
                quantity: line.quantity,
            })
            .collect()
    }

    /// `inventory.stock.reserved`: every line of the order is held.
    pub fn reserved_event(&self) -> StockReserved {
        StockReserved {
            order_id: self.order_id.clone(),
            reservation_id: self.id.clone(),
            allocations: self.allocations(),
            expires_at: platform::time::rfc3339(self.expires_at),
        }
    }
}

/// A move out of a status, as [`Reservation::close`] made it: what the store's
/// conditional update expects to find (`from`) and writes (`to`), what it does to
/// stock and what it announces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Closing {
    /// The status it left.
    pub from: ReservationStatus,
    /// The status it entered.
    pub to: ReservationStatus,
}

/// What a closing announces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClosingEvent {
    /// The units left stock.
    Committed(StockCommitted),
    /// The units are free again (released, expired, or returned after commit).
    Released(StockReleased),
}

impl Closing {
    /// Applies the closing to the stock of `line` (`stock` is that sku's): the change
    /// for the ledger, or why stock refuses it (it holds less than the line, a bug).
    pub fn apply_to(
        &self,
        stock: &mut StockLevel,
        line: &ReservationLine,
    ) -> Result<StockChange, StockRefusal> {
        let (warehouse, quantity) = (line.warehouse_id.as_str(), line.quantity);
        match self.to {
            ReservationStatus::Committed => stock.commit(warehouse, quantity),
            ReservationStatus::Returned => stock.restock(warehouse, quantity),
            ReservationStatus::Expired => stock.expire(warehouse, quantity),
            ReservationStatus::Released | ReservationStatus::Active => {
                stock.release(warehouse, quantity)
            }
        }
    }

    /// The event announcing the closing of `reservation`.
    pub fn event(&self, reservation: &Reservation) -> ClosingEvent {
        if self.to == ReservationStatus::Committed {
            ClosingEvent::Committed(StockCommitted {
                order_id: reservation.order_id.clone(),
                reservation_id: reservation.id.clone(),
                allocations: reservation.allocations(),
            })
        } else {
            ClosingEvent::Released(StockReleased {
                order_id: reservation.order_id.clone(),
                reservation_id: reservation.id.clone(),
                reason: self.to.as_str().to_owned(),
            })
        }
    }
}

/// The skus an order could not get enough of; nothing was held.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("insufficient stock for {}", self.names().join(", "))]
pub struct Shortage(pub Vec<Sku>);

impl Shortage {
    /// The short skus' names.
    pub fn names(&self) -> Vec<String> {
        self.0.iter().map(|sku| sku.as_str().to_owned()).collect()
    }

    /// `inventory.stock.reservation_failed` for `order_id`.
    pub fn failed_event(&self, order_id: &str) -> ReservationFailed {
        ReservationFailed {
            order_id: order_id.to_owned(),
            reason: self.to_string(),
            short_skus: self.names(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::Level;
    use super::*;
    use ReservationStatus::*;

    fn sku(raw: &str) -> Sku {
        Sku::try_from(raw.to_owned()).expect("sku")
    }

    fn reservation(status: ReservationStatus) -> Reservation {
        Reservation::restore(
            "r-1".into(),
            "o-1".into(),
            status,
            60_000,
            vec![
                ReservationLine {
                    sku: sku("A"),
                    warehouse_id: "w1".into(),
                    quantity: 2,
                },
                ReservationLine {
                    sku: sku("B"),
                    warehouse_id: "w1".into(),
                    quantity: 1,
                },
            ],
        )
    }

    /// The state machine, whole: which moves a reservation makes, which it refuses and
    /// which are no-ops.
    #[test]
    fn only_active_reservations_end_and_only_committed_ones_return() {
        for from in ReservationStatus::ALL {
            for to in ReservationStatus::ALL {
                let allowed = matches!(
                    (from, to),
                    (Active, Released | Expired | Committed) | (Committed, Returned)
                );
                assert_eq!(from.can_become(to), allowed, "{from} -> {to}");
                let mut r = reservation(from);
                let expected = if from == to {
                    Ok(None)
                } else if allowed {
                    Ok(Some(Closing { from, to }))
                } else {
                    Err(ReservationError(from))
                };
                assert_eq!(r.close(to), expected, "close {from} as {to}");
                let now = if allowed { to } else { from };
                assert_eq!(r.status(), now, "{from} after closing as {to}");
            }
        }
    }

    #[test]
    fn statuses_round_trip_and_unknown_ones_are_refused() {
        for status in ReservationStatus::ALL {
            assert_eq!(status.as_str().parse(), Ok(status));
        }
        assert_eq!(
            "on_hold".parse::<ReservationStatus>(),
            Err(UnknownStatus("on_hold".into()))
        );
        assert!(
            "Active".parse::<ReservationStatus>().is_err(),
            "names are exact"
        );
    }

    #[test]
    fn a_closing_moves_the_stock_of_each_line_by_its_kind() {
        // (closing as, on hand and reserved left of 5 on hand with 3 reserved)
        let cases = [(Committed, (3, 1)), (Released, (5, 1)), (Expired, (5, 1))];
        for (to, left) in cases {
            let mut r = reservation(Active);
            let closing = r.close(to).expect("allowed").expect("moved");
            let mut stock = StockLevel::new(
                sku("A"),
                vec![Level {
                    warehouse_id: "w1".into(),
                    on_hand: 5,
                    reserved: 3,
                }],
                0,
                false,
            );
            let change = closing
                .apply_to(&mut stock, &r.lines()[0])
                .expect("applies");
            let l = &stock.levels()[0];
            assert_eq!((l.on_hand, l.reserved), left, "{to}");
            assert_eq!(
                change.kind().as_str(),
                match to {
                    Committed => "commit",
                    Expired => "expire",
                    _ => "release",
                }
            );
        }
        let mut r = reservation(Committed);
        let closing = r.close(Returned).expect("allowed").expect("moved");
        let mut stock = StockLevel::new(
            sku("A"),
            vec![Level {
                warehouse_id: "w1".into(),
                on_hand: 0,
                reserved: 0,
            }],
            0,
            false,
        );
        assert_eq!(
            closing.apply_to(&mut stock, &r.lines()[0]),
            Ok(StockChange::restock(2))
        );
        assert_eq!(stock.levels()[0].on_hand, 2);
    }

    #[test]
    fn a_closing_of_more_than_is_reserved_is_refused() {
        let mut r = reservation(Active);
        let closing = r.close(Committed).expect("allowed").expect("moved");
        let mut stock = StockLevel::new(
            sku("A"),
            vec![Level {
                warehouse_id: "w1".into(),
                on_hand: 5,
                reserved: 1,
            }],
            0,
            false,
        );
        assert_eq!(
            closing.apply_to(&mut stock, &r.lines()[0]),
            Err(StockRefusal::NotReserved { reserved: 1 })
        );
    }

    #[test]
    fn closings_announce_a_commit_or_a_release_with_its_reason() {
        for to in [Committed, Released, Expired] {
            let mut r = reservation(Active);
            let closing = r.close(to).expect("allowed").expect("moved");
            match (to, closing.event(&r)) {
                (Committed, ClosingEvent::Committed(event)) => {
                    assert_eq!(event.allocations.len(), 2);
                    assert_eq!(event.allocations[0].quantity, 2);
                }
                (_, ClosingEvent::Released(event)) => assert_eq!(event.reason, to.as_str()),
                (to, other) => panic!("{to} announced {other:?}"),
            }
        }
        let mut r = reservation(Committed);
        let closing = r.close(Returned).expect("allowed").expect("moved");
        assert!(matches!(closing.event(&r), ClosingEvent::Released(e) if e.reason == "returned"));
    }

    #[test]
    fn a_shortage_names_every_short_sku() {
        let short = Shortage(vec![sku("A"), sku("B")]);
        assert_eq!(short.to_string(), "insufficient stock for A, B");
        let event = short.failed_event("o-1");
        assert_eq!(event.short_skus, vec!["A", "B"]);
        assert_eq!(event.reason, "insufficient stock for A, B");
    }
}
