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
    /// Every kind, in the order of a level's life.
    pub const ALL: [MovementKind; 6] = [
        Self::Adjust,
        Self::Reserve,
        Self::Release,
        Self::Expire,
        Self::Commit,
        Self::Return,
    ];

    /// The kind stored as `raw`, if it names one.
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == raw)
    }

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

/// One recorded movement of a level, as the ledger keeps it: what changed, by how
/// much, why and on whose word. Entries are only ever added ([`StockChange`]s applied
/// by the store), so this is a read-only record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerEntry {
    /// Id (UUIDv7: id order is the order they were recorded in).
    pub id: String,
    /// The sku.
    pub sku: Sku,
    /// The warehouse whose level moved.
    pub warehouse_id: String,
    /// Which transition it was.
    pub kind: MovementKind,
    /// Change of on-hand units.
    pub on_hand_delta: i64,
    /// Change of reserved units.
    pub reserved_delta: i64,
    /// Why (an operator's reason, or what the system did).
    pub reason: String,
    /// Who (user or client id, or `system`).
    pub actor: String,
    /// The order or return it concerns, if any.
    pub reference: Option<String>,
    /// When, epoch ms.
    pub at: i64,
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
mod tests;
