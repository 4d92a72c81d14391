//! Fulfillment's rules, free of I/O: the [`Shipment`] and [`Return`] aggregates with
//! their state machines, what an order's facts must hold before its shipments open,
//! which delivered items a return may take back within its window, and the carrier
//! port (quotes, tracking numbers, webhook secrets).
//!
//! Aggregates change only through their transition methods, which refuse illegal
//! moves with a typed error; the store writes each change conditional on the status
//! the transition left, so the state machine exists here only.

mod orders;
mod parcel;
mod returnable;
mod returns;
mod shipment;

use std::collections::BTreeMap;

pub use contracts::ordering::ShippingAddress;
pub use contracts::types::{Country, Invalid, Text};
pub use contracts::{Money, Sku};
pub use orders::{Allocation, OrderFacts, ReadyOrder};
pub use parcel::{Carrier, Parcel, Place, Quote};
pub use returnable::{
    LineRefusal, MAX_RETURN_LINES, MAX_RETURN_QUANTITY, ReturnAllocation, ReturnRefusal,
    Returnable, plan_return, return_quantity,
};
pub use returns::{
    NewReturn, Return, ReturnDecision, ReturnState, ReturnStatus, ReturnTransitionError,
};
pub use shipment::{
    Scan, Shipment, ShipmentFacts, ShipmentLine, ShipmentState, ShipmentStatus,
    ShipmentTransitionError, TrackingEntry, Transition, path,
};

/// One day, in milliseconds.
pub const DAY_MS: i64 = 24 * 3600 * 1000;

/// Adds up `(key, quantity)` pairs per key, in key order (event lines name each sku,
/// or each sku and warehouse, once).
pub fn merge<K: Ord + Clone>(lines: impl IntoIterator<Item = (K, u32)>) -> Vec<(K, u32)> {
    let mut merged: BTreeMap<K, u32> = BTreeMap::new();
    for (key, quantity) in lines {
        let entry = merged.entry(key).or_default();
        *entry = entry.saturating_add(quantity);
    }
    merged.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merging_adds_quantities_per_key() {
        assert_eq!(
            merge([("b", 1), ("a", 2), ("b", 3)]),
            vec![("a", 2), ("b", 4)]
        );
    }
}
