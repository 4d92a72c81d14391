//! What fulfillment learns of an order from two streams that arrive in any order —
//! ordering's confirmation (owner, address) and inventory's commit (which warehouse
//! ships which units) — and when those facts add up to shipments to open.

use std::collections::BTreeMap;

use super::{Invalid, ShipmentLine, ShippingAddress, Sku, merge};

/// Units of one sku a warehouse committed to an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allocation {
    /// The sku.
    pub sku: Sku,
    /// The warehouse that ships it.
    pub warehouse_id: String,
    /// How many.
    pub quantity: u32,
}

impl TryFrom<contracts::inventory::Allocation> for Allocation {
    type Error = Invalid;

    fn try_from(raw: contracts::inventory::Allocation) -> Result<Self, Self::Error> {
        Ok(Self {
            sku: Sku::try_from(raw.sku)?,
            warehouse_id: raw.warehouse_id,
            quantity: raw.quantity,
        })
    }
}

/// What fulfillment knows of an order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrderFacts {
    /// The order.
    pub order_id: String,
    /// Its owner (from the confirmation).
    pub user_id: Option<String>,
    /// Where it goes (from the confirmation; an order may carry no address).
    pub ship_to: Option<ShippingAddress>,
    /// When the confirmation arrived, epoch ms.
    pub confirmed_at: Option<i64>,
    /// Which warehouse ships what (from inventory's commit).
    pub allocations: Option<Vec<Allocation>>,
    /// When shipments were opened, epoch ms.
    pub opened_at: Option<i64>,
    /// When the order was cancelled, epoch ms.
    pub cancelled_at: Option<i64>,
}

/// An order whose shipments may open now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadyOrder {
    /// The order.
    pub order_id: String,
    /// Its owner.
    pub user_id: String,
    /// Where it goes.
    pub ship_to: Option<ShippingAddress>,
    /// One parcel per warehouse, by warehouse id: its lines, one per sku, by sku.
    pub parcels: Vec<(String, Vec<ShipmentLine>)>,
}

impl OrderFacts {
    /// The order's parcels to open, once both the confirmation and the commit are
    /// known and the order is neither opened already nor cancelled.
    pub fn ready_to_open(self) -> Option<ReadyOrder> {
        let (Some(user_id), Some(_), Some(allocations), None, None) = (
            self.user_id,
            self.confirmed_at,
            self.allocations,
            self.opened_at,
            self.cancelled_at,
        ) else {
            return None;
        };
        let mut by_warehouse: BTreeMap<String, Vec<(Sku, u32)>> = BTreeMap::new();
        for a in allocations.into_iter().filter(|a| a.quantity > 0) {
            by_warehouse
                .entry(a.warehouse_id)
                .or_default()
                .push((a.sku, a.quantity));
        }
        let parcels = by_warehouse
            .into_iter()
            .map(|(warehouse_id, lines)| {
                let lines = merge(lines)
                    .into_iter()
                    .map(|(sku, quantity)| ShipmentLine { sku, quantity })
                    .collect();
                (warehouse_id, lines)
            })
            .collect();
        Some(ReadyOrder {
            order_id: self.order_id,
            user_id,
            ship_to: self.ship_to,
            parcels,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sku(raw: &str) -> Sku {
        Sku::try_from(raw.to_owned()).expect("sku")
    }

    fn allocation(sku_: &str, warehouse_id: &str, quantity: u32) -> Allocation {
        Allocation {
            sku: sku(sku_),
            warehouse_id: warehouse_id.into(),
            quantity,
        }
    }

    fn both_halves() -> OrderFacts {
        OrderFacts {
            order_id: "o1".into(),
            user_id: Some("u1".into()),
            confirmed_at: Some(1),
            allocations: Some(vec![
                allocation("B", "wh-east", 1),
                allocation("A", "wh-west", 1),
                allocation("A", "wh-east", 1),
                allocation("B", "wh-east", 1),
                allocation("C", "wh-north", 0),
            ]),
            ..OrderFacts::default()
        }
    }

    #[test]
    fn shipments_open_once_both_halves_are_known_and_never_twice() {
        type Change = fn(&mut OrderFacts);
        let table: [(&str, Change); 5] = [
            ("no confirmation", |f| f.confirmed_at = None),
            ("no owner", |f| f.user_id = None),
            ("no commit", |f| f.allocations = None),
            ("opened already", |f| f.opened_at = Some(2)),
            ("cancelled", |f| f.cancelled_at = Some(2)),
        ];
        for (case, change) in table {
            let mut facts = both_halves();
            change(&mut facts);
            assert_eq!(facts.ready_to_open(), None, "{case}");
        }
    }

    #[test]
    fn one_parcel_per_warehouse_with_one_line_per_sku() {
        let ready = both_halves().ready_to_open().expect("ready");
        let line = |s: &str, quantity| ShipmentLine {
            sku: sku(s),
            quantity,
        };
        assert_eq!(
            ready.parcels,
            [
                ("wh-east".to_owned(), vec![line("A", 1), line("B", 2)]),
                ("wh-west".to_owned(), vec![line("A", 1)]),
            ]
        );
        assert_eq!(ready.user_id, "u1");
    }

    #[test]
    fn an_allocation_needs_a_valid_sku() {
        let raw = |sku: &str| contracts::inventory::Allocation {
            sku: sku.into(),
            warehouse_id: "wh".into(),
            quantity: 1,
        };
        assert!(Allocation::try_from(raw("A-1")).is_ok());
        assert!(Allocation::try_from(raw("not a sku")).is_err());
    }
}
