//! Inventory's rules, free of I/O: the validated inputs of its operations, a sku's
//! stock across warehouses ([`StockLevel`], in `stock`), and reservations
//! ([`Reservation`], in `reservation`). The aggregates change only through their own
//! transitions, and what inventory emits about them is built here too.

mod reservation;
mod stock;

pub use contracts::Sku;
pub use contracts::types::Text;
pub use reservation::{
    Closing, ClosingEvent, Reservation, ReservationError, ReservationLine, ReservationStatus,
    Shortage, UnknownStatus,
};
pub use stock::{
    LedgerEntry, Level, LowStock, LowStockCrossing, MovementKind, StockChange, StockLevel,
    StockRefusal, Totals, adjusted_event,
};

/// Why an input was refused; the message names the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub &'static str);

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

/// A place that holds stock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warehouse {
    /// Id.
    pub id: String,
    /// Short unique code.
    pub code: WarehouseCode,
    /// Name.
    pub name: String,
    /// Creation, epoch ms.
    pub created_at: i64,
}

/// Units of returned goods to put back on hand, as fulfillment reported them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restock {
    /// The return they came back with (the ledger's reference).
    pub return_id: String,
    /// What came back, and to which warehouse (id or code).
    pub lines: Vec<RestockLine>,
}

/// One returned sku in one warehouse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestockLine {
    /// The sku.
    pub sku: Sku,
    /// The warehouse they went back to (the one they shipped from).
    pub warehouse: String,
    /// How many units.
    pub quantity: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_are_checked() {
        assert!(Quantity::try_from(0).is_err());
        assert!(Quantity::try_from(1_000_001).is_err());
        assert_eq!(
            Quantity::try_from(1_000_000).map(Quantity::get),
            Ok(1_000_000)
        );
        assert_eq!(
            WarehouseCode::try_from("east-1".to_owned()).map(|c| c.0),
            Ok("EAST-1".to_owned())
        );
        assert!(WarehouseCode::try_from("no spaces".to_owned()).is_err());
        assert!(Text::<10>::try_from("  ".to_owned()).is_err());
    }
}
