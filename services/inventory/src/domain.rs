//! Inventory's rules, free of I/O: validated inputs, allocation of an order across
//! warehouses, and the low-stock crossing rule.

/// Why an input was refused; the message names the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub &'static str);

pub use contracts::Sku;
pub use contracts::types::Text;

/// A positive number of units (1 to 1,000,000).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quantity(u32);

impl TryFrom<i64> for Quantity {
    type Error = Invalid;

    fn try_from(raw: i64) -> Result<Self, Self::Error> {
        if !(1..=1_000_000).contains(&raw) {
            return Err(Invalid("must be between 1 and 1000000"));
        }
        Ok(Self(raw as u32))
    }
}

impl Quantity {
    /// The count.
    pub fn get(self) -> u32 {
        self.0
    }
}

/// A warehouse code: 1 to 32 of `A-Z 0-9 - _`, stored uppercase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WarehouseCode(String);

impl TryFrom<String> for WarehouseCode {
    type Error = Invalid;

    fn try_from(raw: String) -> Result<Self, Self::Error> {
        let code = raw.trim().to_ascii_uppercase();
        if code.is_empty()
            || code.len() > 32
            || !code
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b))
        {
            return Err(Invalid("must be 1 to 32 of A-Z 0-9 - _"));
        }
        Ok(Self(code))
    }
}

impl WarehouseCode {
    /// The code.
    pub fn as_str(&self) -> &str {
        &self.0
    }
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
}

/// Takes `quantity` units from `levels`, most available warehouse first; `None` when
/// all warehouses together hold fewer than `quantity` free units.
pub fn allocate(levels: &[Level], quantity: u32) -> Option<Vec<(String, u32)>> {
    let mut by_available: Vec<&Level> = levels.iter().filter(|l| l.available() > 0).collect();
    by_available.sort_by(|a, b| {
        b.available()
            .cmp(&a.available())
            .then(a.warehouse_id.cmp(&b.warehouse_id))
    });
    let mut remaining = i64::from(quantity);
    let mut taken = Vec::new();
    for level in by_available {
        if remaining == 0 {
            break;
        }
        let take = remaining.min(level.available());
        taken.push((level.warehouse_id.clone(), take as u32));
        remaining -= take;
    }
    (remaining == 0).then_some(taken)
}

/// What an adjustment of `delta` does to a level: the new on-hand, or why it is refused.
pub fn adjust(level: &Level, delta: i64) -> Result<i64, AdjustRefusal> {
    let on_hand = level
        .on_hand
        .checked_add(delta)
        .ok_or(AdjustRefusal::BelowZero)?;
    if on_hand < 0 {
        Err(AdjustRefusal::BelowZero)
    } else if on_hand < level.reserved {
        Err(AdjustRefusal::BelowReserved)
    } else {
        Ok(on_hand)
    }
}

/// Why an adjustment is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdjustRefusal {
    /// On-hand would be negative.
    BelowZero,
    /// On-hand would be under what is reserved.
    BelowReserved,
}

/// Whether the low-stock state changes: `Some(true)` when `available` just fell to or
/// under `threshold`, `Some(false)` when it rose above it, `None` otherwise.
pub fn low_stock_crossing(was_low: bool, available: i64, threshold: i64) -> Option<bool> {
    let is_low = available <= threshold;
    (is_low != was_low).then_some(is_low)
}

/// The state of a reservation.
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
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Released => "released",
            Self::Expired => "expired",
            Self::Committed => "committed",
            Self::Returned => "returned",
        }
    }

    /// Parses a stored name.
    pub fn parse(raw: &str) -> Option<Self> {
        [
            Self::Active,
            Self::Released,
            Self::Expired,
            Self::Committed,
            Self::Returned,
        ]
        .into_iter()
        .find(|s| s.as_str() == raw)
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

    #[test]
    fn only_active_reservations_end_and_only_committed_ones_return() {
        use ReservationStatus::*;
        let all = [Active, Released, Expired, Committed, Returned];
        for from in all {
            for to in all {
                let allowed = matches!(
                    (from, to),
                    (Active, Released | Expired | Committed) | (Committed, Returned)
                );
                assert_eq!(from.can_become(to), allowed, "{from:?} -> {to:?}");
            }
        }
    }

    #[test]
    fn allocation_takes_most_available_first_and_spans_warehouses() {
        let levels = [level("a", 5, 4), level("b", 10, 2), level("c", 3, 0)];
        assert_eq!(allocate(&levels, 4), Some(vec![("b".into(), 4)]));
        assert_eq!(
            allocate(&levels, 10),
            Some(vec![("b".into(), 8), ("c".into(), 2)])
        );
        assert_eq!(
            allocate(&levels, 12),
            Some(vec![("b".into(), 8), ("c".into(), 3), ("a".into(), 1)])
        );
        assert_eq!(allocate(&levels, 13), None);
        assert_eq!(allocate(&[], 1), None);
    }

    #[test]
    fn adjustments_never_go_below_zero_or_reserved() {
        let l = level("a", 5, 3);
        assert_eq!(adjust(&l, 2), Ok(7));
        assert_eq!(adjust(&l, -2), Ok(3));
        assert_eq!(adjust(&l, -3), Err(AdjustRefusal::BelowReserved));
        assert_eq!(adjust(&level("a", 5, 0), -6), Err(AdjustRefusal::BelowZero));
        assert_eq!(adjust(&l, i64::MAX), Err(AdjustRefusal::BelowZero));
    }

    #[test]
    fn low_stock_is_reported_on_crossing_only() {
        assert_eq!(low_stock_crossing(false, 5, 5), Some(true));
        assert_eq!(low_stock_crossing(true, 4, 5), None);
        assert_eq!(low_stock_crossing(true, 6, 5), Some(false));
        assert_eq!(low_stock_crossing(false, 6, 5), None);
    }

    #[test]
    fn only_active_reservations_move() {
        use ReservationStatus::*;
        assert!(Active.can_become(Committed));
        assert!(Active.can_become(Expired));
        assert!(!Committed.can_become(Released));
        assert!(!Released.can_become(Committed));
        assert_eq!(ReservationStatus::parse("expired"), Some(Expired));
    }

    #[test]
    fn inputs_are_checked() {
        assert!(Quantity::try_from(0).is_err());
        assert!(Quantity::try_from(1_000_001).is_err());
        assert_eq!(
            WarehouseCode::try_from("east-1".to_owned()).map(|c| c.0),
            Ok("EAST-1".to_owned())
        );
        assert!(Text::<10>::try_from("  ".to_owned()).is_err());
    }
}
