//! `stock_balanced`: every stock level equals the sum of its movement ledger (received
//! − sold + returned ± adjustments), is never negative or over-reserved, holds exactly
//! what its active reservations hold, and no settled order still holds stock.

use std::collections::BTreeMap;

use anyhow::Context;
use inventory::domain::ReservationStatus;
use ordering::domain::OrderStatus;
use platform::db::{Db, query};

use super::Check;
use super::data::{Orders, Reservations};

/// (sku, warehouse).
type Place = (String, String);

/// On-hand and reserved units.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Units {
    on_hand: i64,
    reserved: i64,
}

pub(super) async fn balanced(
    db: &Db,
    orders: &Orders,
    reservations: &Reservations,
) -> anyhow::Result<Check> {
    let mut check = Check::new("stock_balanced");
    let levels = units(
        db,
        "SELECT sku, warehouse_id, on_hand, reserved FROM stock_levels",
    )
    .await
    .context("cannot read stock levels")?;
    // SUM over BIGINT is NUMERIC on PostgreSQL; the casts keep one integer type.
    let ledger = units(
        db,
        "SELECT sku, warehouse_id, CAST(SUM(on_hand_delta) AS BIGINT) AS on_hand, \
         CAST(SUM(reserved_delta) AS BIGINT) AS reserved \
         FROM stock_movements GROUP BY sku, warehouse_id",
    )
    .await
    .context("cannot read stock movements")?;
    let mut held: BTreeMap<Place, i64> = BTreeMap::new();
    for reservation in reservations.by_order.values() {
        if reservation.status() == Some(ReservationStatus::Active) {
            for ((warehouse, sku), quantity) in &reservation.lines {
                *held.entry((sku.clone(), warehouse.clone())).or_default() += quantity;
            }
        }
    }

    for ((sku, warehouse), level) in &levels {
        check.examined();
        let at = format!("sku {sku} at warehouse {warehouse}");
        let sums = ledger
            .get(&(sku.clone(), warehouse.clone()))
            .copied()
            .unwrap_or_default();
        if level.on_hand != sums.on_hand {
            check.violation(format!(
                "{at}: on_hand {} but its movements sum to {}",
                level.on_hand, sums.on_hand
            ));
        }
        if level.reserved != sums.reserved {
            check.violation(format!(
                "{at}: reserved {} but its movements sum to {}",
                level.reserved, sums.reserved
            ));
        }
        if level.on_hand < 0 {
            check.violation(format!("{at}: on_hand is negative ({})", level.on_hand));
        }
        if level.reserved < 0 {
            check.violation(format!("{at}: reserved is negative ({})", level.reserved));
        }
        if level.reserved > level.on_hand {
            check.violation(format!(
                "{at}: reserved {} exceeds on_hand {}",
                level.reserved, level.on_hand
            ));
        }
        let holding = held
            .get(&(sku.clone(), warehouse.clone()))
            .copied()
            .unwrap_or(0);
        if level.reserved != holding {
            check.violation(format!(
                "{at}: reserved {} but its active reservations hold {holding}",
                level.reserved
            ));
        }
    }
    for ((sku, warehouse), sums) in &ledger {
        if !levels.contains_key(&(sku.clone(), warehouse.clone())) && *sums != Units::default() {
            check.violation(format!(
                "sku {sku} at warehouse {warehouse} has movements (on_hand {}, reserved {}) but no stock level",
                sums.on_hand, sums.reserved
            ));
        }
    }
    for (sku, warehouse) in held.keys() {
        if !levels.contains_key(&(sku.clone(), warehouse.clone())) {
            check.violation(format!(
                "sku {sku} at warehouse {warehouse} is held by a reservation but has no stock level"
            ));
        }
    }

    // A settled order holds nothing: a sold one's units left stock (committed), a
    // cancelled one's went back (released, expired or returned).
    for (order_id, reservation) in &reservations.by_order {
        check.examined();
        let Some(order) = orders.by_id.get(order_id) else {
            // Ordering stores an order before announcing it, so a hold for an order it
            // does not have is stock locked away until the hold expires.
            if reservation.status() == Some(ReservationStatus::Active) {
                check.violation(format!(
                    "reservation {} holds stock for order {order_id}, which does not exist",
                    reservation.id
                ));
            }
            continue;
        };
        let Some(status) = reservation.status() else {
            check.violation(format!(
                "reservation {} of order {order_id} has an unknown status {:?}",
                reservation.id, reservation.status
            ));
            continue;
        };
        let fits = match order.status() {
            Some(OrderStatus::Cancelled) => !matches!(
                status,
                ReservationStatus::Active | ReservationStatus::Committed
            ),
            Some(_) if order.is_sold() => status == ReservationStatus::Committed,
            // Unsettled orders are orders_settled's to report.
            _ => true,
        };
        if !fits {
            check.violation(format!(
                "reservation {} of {} order {order_id} is {status}",
                reservation.id, order.status
            ));
        }
    }
    Ok(check)
}

/// On-hand and reserved units per (sku, warehouse) as `sql` answers them.
async fn units(db: &Db, sql: &str) -> Result<BTreeMap<Place, Units>, platform::db::Error> {
    let mut units = BTreeMap::new();
    for row in query(sql).fetch_all(db.reader()).await? {
        units.insert(
            (row.try_get("sku")?, row.try_get("warehouse_id")?),
            Units {
                on_hand: row.try_get("on_hand")?,
                reserved: row.try_get("reserved")?,
            },
        );
    }
    Ok(units)
}
