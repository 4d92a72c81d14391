//! A sku's stock: its [`Level`] in each warehouse, the [`StockChange`]s that are the only
//! ways a level moves, and the [`StockLevel`] aggregate (every warehouse's level of one
//! sku, its low-stock threshold and the low state last reported) whose transitions
//! refuse to leave a level below zero or over-reserved.
//!
//! The store applies a change as one conditional update whose condition is
//! [`Level::after`]'s, so a change refused here is refused there too, whatever
//! interleaving of transactions reaches the database.

use contracts::inventory::{StockAdjusted, StockLow, StockUpdated};

use super::Sku;

/// What a movement of stock was, as the ledger names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MovementKind {
    /// An operator counted or corrected on-hand units.
    Adjust,
    /// Units were promised to an order.
    Reserve,
    /// A promise was withdrawn (released by request or cancellation).
    Release,
    /// A promise ran out of time.
    Expire,
    /// Promised units left stock (the order was confirmed).
    Commit,
    /// Units came back on hand (a return, or an order cancelled after commit).
    Return,
}

impl MovementKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Adjust => "adjust",
            Self::Reserve => "reserve",
            Self::Release => "release",
            Self::Expire => "expire",
            Self::Commit => "commit",
            Self::Return => "return",
        }
    }
}

/// The effect of one transition on one level: how on-hand and reserved units change.
/// Built only by the constructors below, one per transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StockChange {
    kind: MovementKind,
    on_hand_delta: i64,
    reserved_delta: i64,
}

impl StockChange {
    /// On-hand units counted in (`delta > 0`) or out.
    pub fn adjust(delta: i64) -> Self {
        Self::new(MovementKind::Adjust, delta, 0)
    }

    /// `quantity` units promised to an order.
    pub fn reserve(quantity: u32) -> Self {
        Self::new(MovementKind::Reserve, 0, i64::from(quantity))
    }

    /// A promise of `quantity` units withdrawn.
    pub fn release(quantity: u32) -> Self {
        Self::new(MovementKind::Release, 0, -i64::from(quantity))
    }

    /// A promise of `quantity` units expired.
    pub fn expire(quantity: u32) -> Self {
        Self::new(MovementKind::Expire, 0, -i64::from(quantity))
    }

    /// `quantity` promised units left stock.
    pub fn commit(quantity: u32) -> Self {
        let units = i64::from(quantity);
        Self::new(MovementKind::Commit, -units, -units)
    }

    /// `quantity` units back on hand.
    pub fn restock(quantity: u32) -> Self {
        Self::new(MovementKind::Return, i64::from(quantity), 0)
    }

    fn new(kind: MovementKind, on_hand_delta: i64, reserved_delta: i64) -> Self {
        Self {
            kind,
            on_hand_delta,
            reserved_delta,
        }
    }

    /// The ledger's name for it.
    pub fn kind(&self) -> MovementKind {
        self.kind
    }

    /// Change of on-hand units.
    pub fn on_hand_delta(&self) -> i64 {
        self.on_hand_delta
    }

    /// Change of reserved units.
    pub fn reserved_delta(&self) -> i64 {
        self.reserved_delta
    }
}

/// Why a level may not change as asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StockRefusal {
    /// The sku has no level in that warehouse.
    #[error("no stock of this sku in that warehouse")]
    NoLevel,
    /// On-hand would fall below zero.
    #[error("on_hand would fall below zero")]
    BelowZero,
    /// On-hand would fall below what is reserved.
    #[error("on_hand would fall below the {reserved} units reserved")]
    BelowReserved {
        /// Units reserved there.
        reserved: i64,
    },
    /// Fewer units are free than a reservation asks for.
    #[error("only {available} units are available")]
    Insufficient {
        /// Units free to reserve.
        available: i64,
    },
    /// Fewer units are reserved than a release or commit gives back.
    #[error("only {reserved} units are reserved")]
    NotReserved {
        /// Units reserved there.
        reserved: i64,
    },
}

/// Stock of one sku in one warehouse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Level {
    /// The warehouse.
    pub warehouse_id: String,
    /// Units physically there.
    pub on_hand: i64,
    /// Units promised to open reservations.
    pub reserved: i64,
}

impl Level {
    /// Units free to reserve.
    pub fn available(&self) -> i64 {
        self.on_hand - self.reserved
    }

    /// The level after `change`, or why it may not happen: on-hand and reserved never
    /// fall below zero, and never more is reserved than is on hand. The store's update
    /// (`store::apply_movement`) is guarded by exactly these three conditions.
    pub fn after(&self, change: StockChange) -> Result<Level, StockRefusal> {
        let reserved = self
            .reserved
            .checked_add(change.reserved_delta)
            .filter(|r| *r >= 0)
            .ok_or(StockRefusal::NotReserved {
                reserved: self.reserved,
            })?;
        let on_hand = self
            .on_hand
            .checked_add(change.on_hand_delta)
            .filter(|o| *o >= 0)
            .ok_or(StockRefusal::BelowZero)?;
        if reserved > on_hand {
            return Err(if change.reserved_delta > 0 {
                StockRefusal::Insufficient {
                    available: self.available(),
                }
            } else {
                StockRefusal::BelowReserved {
                    reserved: self.reserved,
                }
            });
        }
        Ok(Level {
            warehouse_id: self.warehouse_id.clone(),
            on_hand,
            reserved,
        })
    }
}

/// Units of a sku summed over warehouses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Totals {
    /// Units on hand.
    pub on_hand: i64,
    /// Units reserved.
    pub reserved: i64,
}

impl Totals {
    /// The sums of `levels`.
    pub fn of(levels: &[Level]) -> Self {
        levels.iter().fold(Self::default(), |sum, level| Self {
            on_hand: sum.on_hand + level.on_hand,
            reserved: sum.reserved + level.reserved,
        })
    }

    /// Units free to reserve.
    pub fn available(&self) -> i64 {
        self.on_hand - self.reserved
    }

    /// `inventory.stock.updated` for `sku` at these totals (catalog keeps `in_stock`
    /// from it).
    pub fn updated_event(&self, sku: &Sku) -> StockUpdated {
        StockUpdated {
            sku: sku.as_str().to_owned(),
            on_hand: self.on_hand,
            reserved: self.reserved,
            available: self.available(),
        }
    }
}

/// How a change moved a sku against its low-stock threshold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LowStockCrossing {
    /// Available units fell to or under the threshold: the alert to send.
    Fell(StockLow),
    /// Available units rose above the threshold again.
    Rose,
}

/// A sku's stock across warehouses, with its low-stock threshold and whether it was
/// last reported low. Changes go through its transitions, each of which either applies
/// to one warehouse's level and returns the [`StockChange`] for the ledger, or refuses
/// and leaves everything as it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StockLevel {
    sku: Sku,
    levels: Vec<Level>,
    threshold: i64,
    reported_low: bool,
}

impl StockLevel {
    /// A sku's stock as stored: its levels (by warehouse), its threshold and the low
    /// state last reported.
    pub fn new(sku: Sku, levels: Vec<Level>, threshold: i64, reported_low: bool) -> Self {
        Self {
            sku,
            levels,
            threshold,
            reported_low,
        }
    }

    /// The sku.
    pub fn sku(&self) -> &Sku {
        &self.sku
    }

    /// Its level in each warehouse that has one.
    pub fn levels(&self) -> &[Level] {
        &self.levels
    }

    /// Units summed over warehouses.
    pub fn totals(&self) -> Totals {
        Totals::of(&self.levels)
    }

    /// Units free to reserve, over all warehouses.
    pub fn available(&self) -> i64 {
        self.totals().available()
    }

    /// Available units at or under which the sku is low.
    pub fn threshold(&self) -> i64 {
        self.threshold
    }

    /// Whether the sku was low when last reported.
    pub fn reported_low(&self) -> bool {
        self.reported_low
    }

    /// Whether the sku is low now.
    pub fn is_low(&self) -> bool {
        self.available() <= self.threshold
    }

    /// Reserves `quantity` units, taking from the warehouse with most available first
    /// (by id among equals) and spanning warehouses as needed: the units taken per
    /// warehouse, or [`StockRefusal::Insufficient`] with nothing taken.
    pub fn reserve(&mut self, quantity: u32) -> Result<Vec<(String, u32)>, StockRefusal> {
        let available: i64 = self.levels.iter().map(|l| l.available().max(0)).sum();
        if available < i64::from(quantity) {
            return Err(StockRefusal::Insufficient { available });
        }
        let mut order: Vec<usize> = (0..self.levels.len())
            .filter(|&i| self.levels[i].available() > 0)
            .collect();
        order.sort_by(|&a, &b| {
            let (a, b) = (&self.levels[a], &self.levels[b]);
            b.available()
                .cmp(&a.available())
                .then(a.warehouse_id.cmp(&b.warehouse_id))
        });
        let mut remaining = quantity;
        let mut taken = Vec::new();
        for i in order {
            if remaining == 0 {
                break;
            }
            let level = &mut self.levels[i];
            let take = u32::try_from(level.available())
                .unwrap_or(u32::MAX)
                .min(remaining);
            *level = level.after(StockChange::reserve(take))?;
            taken.push((level.warehouse_id.clone(), take));
            remaining -= take;
        }
        Ok(taken)
    }

    /// Withdraws a promise of `quantity` units in `warehouse_id`.
    pub fn release(
        &mut self,
        warehouse_id: &str,
        quantity: u32,
    ) -> Result<StockChange, StockRefusal> {
        self.apply(warehouse_id, StockChange::release(quantity))
    }

    /// Withdraws a promise of `quantity` units in `warehouse_id` that ran out of time.
    pub fn expire(
        &mut self,
        warehouse_id: &str,
        quantity: u32,
    ) -> Result<StockChange, StockRefusal> {
        self.apply(warehouse_id, StockChange::expire(quantity))
    }

    /// Takes `quantity` promised units in `warehouse_id` out of stock.
    pub fn commit(
        &mut self,
        warehouse_id: &str,
        quantity: u32,
    ) -> Result<StockChange, StockRefusal> {
        self.apply(warehouse_id, StockChange::commit(quantity))
    }

    /// Puts `quantity` units back on hand in `warehouse_id`.
    pub fn restock(
        &mut self,
        warehouse_id: &str,
        quantity: u32,
    ) -> Result<StockChange, StockRefusal> {
        self.apply(warehouse_id, StockChange::restock(quantity))
    }

    /// Counts `delta` on-hand units in (or out of) `warehouse_id`.
    pub fn adjust(&mut self, warehouse_id: &str, delta: i64) -> Result<StockChange, StockRefusal> {
        self.apply(warehouse_id, StockChange::adjust(delta))
    }

    fn apply(
        &mut self,
        warehouse_id: &str,
        change: StockChange,
    ) -> Result<StockChange, StockRefusal> {
        let level = self
            .levels
            .iter_mut()
            .find(|l| l.warehouse_id == warehouse_id)
            .ok_or(StockRefusal::NoLevel)?;
        *level = level.after(change)?;
        Ok(change)
    }

    /// Sets the threshold (the crossing it causes, if any, is reported by
    /// [`StockLevel::note_low_stock`]).
    pub fn set_threshold(&mut self, threshold: i64) {
        self.threshold = threshold;
    }

    /// Records whether the sku is low now; `Some` when that differs from what was last
    /// reported, so an alert goes out once per crossing, not once per change.
    pub fn note_low_stock(&mut self) -> Option<LowStockCrossing> {
        let is_low = self.is_low();
        if is_low == self.reported_low {
            return None;
        }
        self.reported_low = is_low;
        Some(if is_low {
            LowStockCrossing::Fell(StockLow {
                sku: self.sku.as_str().to_owned(),
                available: self.available(),
                threshold: self.threshold,
            })
        } else {
            LowStockCrossing::Rose
        })
    }
}

/// `inventory.stock.adjusted`: `delta` on-hand units of `sku` counted in `warehouse_id`.
pub fn adjusted_event(sku: &Sku, warehouse_id: &str, delta: i64, reason: &str) -> StockAdjusted {
    StockAdjusted {
        sku: sku.as_str().to_owned(),
        warehouse_id: warehouse_id.to_owned(),
        delta,
        reason: reason.to_owned(),
    }
}

/// A sku at or under its threshold, as the low-stock listing shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LowStock {
    /// The sku.
    pub sku: Sku,
    /// Its units over all warehouses.
    pub totals: Totals,
    /// Its threshold.
    pub threshold: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn level(id: &str, on_hand: i64, reserved: i64) -> Level {
        Level {
            warehouse_id: id.into(),
            on_hand,
            reserved,
        }
    }

    fn sku(raw: &str) -> Sku {
        Sku::try_from(raw.to_owned()).expect("sku")
    }

    fn stock(levels: &[(&str, i64, i64)], threshold: i64, reported_low: bool) -> StockLevel {
        StockLevel::new(
            sku("S-1"),
            levels.iter().map(|(w, o, r)| level(w, *o, *r)).collect(),
            threshold,
            reported_low,
        )
    }

    fn pairs(stock: &StockLevel) -> Vec<(i64, i64)> {
        stock
            .levels()
            .iter()
            .map(|l| (l.on_hand, l.reserved))
            .collect()
    }

    /// Every transition from one level: what it leaves, or why it is refused. The store
    /// test `movements_are_refused_where_the_domain_refuses_them` runs the same kind of
    /// table against the SQL.
    #[test]
    fn a_level_never_goes_below_zero_or_over_reserved() {
        use StockRefusal::*;
        type Case = (&'static str, StockChange, Result<(i64, i64), StockRefusal>);
        let cases: &[Case] = &[
            ("adjust in", StockChange::adjust(2), Ok((7, 3))),
            (
                "adjust out to reserved",
                StockChange::adjust(-2),
                Ok((3, 3)),
            ),
            (
                "adjust under reserved",
                StockChange::adjust(-3),
                Err(BelowReserved { reserved: 3 }),
            ),
            ("adjust under zero", StockChange::adjust(-6), Err(BelowZero)),
            (
                "adjust overflow",
                StockChange::adjust(i64::MAX),
                Err(BelowZero),
            ),
            ("reserve what is free", StockChange::reserve(2), Ok((5, 5))),
            (
                "reserve more than free",
                StockChange::reserve(3),
                Err(Insufficient { available: 2 }),
            ),
            ("release part", StockChange::release(1), Ok((5, 2))),
            ("release all", StockChange::release(3), Ok((5, 0))),
            (
                "release more than held",
                StockChange::release(4),
                Err(NotReserved { reserved: 3 }),
            ),
            ("expire", StockChange::expire(3), Ok((5, 0))),
            (
                "expire more than held",
                StockChange::expire(4),
                Err(NotReserved { reserved: 3 }),
            ),
            ("commit", StockChange::commit(3), Ok((2, 0))),
            (
                "commit more than held",
                StockChange::commit(4),
                Err(NotReserved { reserved: 3 }),
            ),
            ("restock", StockChange::restock(4), Ok((9, 3))),
        ];
        let from = level("a", 5, 3);
        for (name, change, expected) in cases {
            let got = from.after(*change).map(|l| (l.on_hand, l.reserved));
            assert_eq!(&got, expected, "{name}");
        }
        assert_eq!(
            level("a", 5, 0).after(StockChange::adjust(-6)),
            Err(BelowZero),
            "nothing reserved, still not below zero"
        );
    }

    #[test]
    fn each_transition_is_named_in_the_ledger() {
        let kinds = [
            (
                StockChange::adjust(1),
                MovementKind::Adjust,
                "adjust",
                (1, 0),
            ),
            (
                StockChange::reserve(1),
                MovementKind::Reserve,
                "reserve",
                (0, 1),
            ),
            (
                StockChange::release(1),
                MovementKind::Release,
                "release",
                (0, -1),
            ),
            (
                StockChange::expire(1),
                MovementKind::Expire,
                "expire",
                (0, -1),
            ),
            (
                StockChange::commit(1),
                MovementKind::Commit,
                "commit",
                (-1, -1),
            ),
            (
                StockChange::restock(1),
                MovementKind::Return,
                "return",
                (1, 0),
            ),
        ];
        for (change, kind, name, deltas) in kinds {
            assert_eq!(change.kind(), kind);
            assert_eq!(kind.as_str(), name);
            assert_eq!(
                (change.on_hand_delta(), change.reserved_delta()),
                deltas,
                "{name}"
            );
        }
    }

    #[test]
    fn reservations_take_most_available_first_and_span_warehouses() {
        type Case = (
            u32,
            Result<Vec<(&'static str, u32)>, StockRefusal>,
            Vec<(i64, i64)>,
        );
        let cases: Vec<Case> = vec![
            (4, Ok(vec![("b", 4)]), vec![(5, 4), (10, 6), (3, 0)]),
            (
                10,
                Ok(vec![("b", 8), ("c", 2)]),
                vec![(5, 4), (10, 10), (3, 2)],
            ),
            (
                12,
                Ok(vec![("b", 8), ("c", 3), ("a", 1)]),
                vec![(5, 5), (10, 10), (3, 3)],
            ),
            (
                13,
                Err(StockRefusal::Insufficient { available: 12 }),
                vec![(5, 4), (10, 2), (3, 0)],
            ),
        ];
        for (quantity, expected, left) in cases {
            let mut s = stock(&[("a", 5, 4), ("b", 10, 2), ("c", 3, 0)], 0, false);
            let taken = s.reserve(quantity);
            let expected = expected.map(|t| {
                t.into_iter()
                    .map(|(w, q)| (w.to_owned(), q))
                    .collect::<Vec<_>>()
            });
            assert_eq!(taken, expected, "reserve {quantity}");
            assert_eq!(pairs(&s), left, "levels after reserving {quantity}");
        }
        assert_eq!(
            stock(&[], 0, false).reserve(1),
            Err(StockRefusal::Insufficient { available: 0 })
        );
    }

    #[test]
    fn stock_transitions_apply_to_their_warehouse_or_change_nothing() {
        type Op = fn(&mut StockLevel) -> Result<StockChange, StockRefusal>;
        type Case = (
            &'static str,
            Op,
            Result<StockChange, StockRefusal>,
            Vec<(i64, i64)>,
        );
        let cases: &[Case] = &[
            (
                "release",
                |s| s.release("a", 2),
                Ok(StockChange::release(2)),
                vec![(5, 1), (4, 0)],
            ),
            (
                "expire",
                |s| s.expire("a", 3),
                Ok(StockChange::expire(3)),
                vec![(5, 0), (4, 0)],
            ),
            (
                "commit",
                |s| s.commit("a", 3),
                Ok(StockChange::commit(3)),
                vec![(2, 0), (4, 0)],
            ),
            (
                "restock",
                |s| s.restock("b", 2),
                Ok(StockChange::restock(2)),
                vec![(5, 3), (6, 0)],
            ),
            (
                "adjust",
                |s| s.adjust("b", -4),
                Ok(StockChange::adjust(-4)),
                vec![(5, 3), (0, 0)],
            ),
            (
                "adjust under reserved",
                |s| s.adjust("a", -3),
                Err(StockRefusal::BelowReserved { reserved: 3 }),
                vec![(5, 3), (4, 0)],
            ),
            (
                "commit more than held",
                |s| s.commit("b", 1),
                Err(StockRefusal::NotReserved { reserved: 0 }),
                vec![(5, 3), (4, 0)],
            ),
            (
                "unknown warehouse",
                |s| s.adjust("z", 1),
                Err(StockRefusal::NoLevel),
                vec![(5, 3), (4, 0)],
            ),
        ];
        for (name, op, expected, left) in cases {
            let mut s = stock(&[("a", 5, 3), ("b", 4, 0)], 0, false);
            assert_eq!(&op(&mut s), expected, "{name}");
            assert_eq!(&pairs(&s), left, "{name}");
        }
    }

    #[test]
    fn low_stock_is_reported_once_per_crossing() {
        // (available, threshold, reported low before, crossing, reported low after)
        let cases = [
            (5, 5, false, Some(true), true),
            (4, 5, true, None, true),
            (6, 5, true, Some(false), false),
            (6, 5, false, None, false),
            (0, 0, false, Some(true), true),
        ];
        for (available, threshold, before, crossing, after) in cases {
            let mut s = stock(&[("a", available, 0)], threshold, before);
            let got = s.note_low_stock();
            let expected = crossing.map(|low| {
                if low {
                    LowStockCrossing::Fell(StockLow {
                        sku: "S-1".into(),
                        available,
                        threshold,
                    })
                } else {
                    LowStockCrossing::Rose
                }
            });
            assert_eq!(got, expected, "{available} against {threshold}");
            assert_eq!(s.reported_low(), after);
            assert_eq!(s.note_low_stock(), None, "reported once");
        }
    }

    #[test]
    fn a_new_threshold_is_measured_at_the_next_note() {
        let mut s = stock(&[("a", 10, 2)], 5, false);
        s.set_threshold(8);
        assert!(s.is_low());
        assert!(matches!(
            s.note_low_stock(),
            Some(LowStockCrossing::Fell(_))
        ));
    }

    #[test]
    fn totals_sum_the_warehouses_and_announce_them() {
        let s = stock(&[("a", 5, 3), ("b", 4, 1)], 0, false);
        assert_eq!(
            s.totals(),
            Totals {
                on_hand: 9,
                reserved: 4
            }
        );
        assert_eq!(
            s.totals().updated_event(s.sku()),
            StockUpdated {
                sku: "S-1".into(),
                on_hand: 9,
                reserved: 4,
                available: 5
            }
        );
    }
}
