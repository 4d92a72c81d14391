//! What the customer sees of a sale: `shipments_unique` (one parcel per order and
//! warehouse, every sold order's units in its parcels) and `confirmations_unique` (one
//! order-confirmation message per confirmed order, none for any other).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use anyhow::Context;
use contracts::Event as _;
use inventory::domain::ReservationStatus;
use platform::db::{Db, query};

use super::Check;
use super::data::{Orders, Reservations};

/// At most one shipment per (order, warehouse); every sold order has a shipment from
/// each warehouse its committed reservation took units from (when inventory still
/// keeps the reservation), and its shipments carry exactly the units it ordered.
pub(super) async fn shipments(
    db: &Db,
    orders: &Orders,
    reservations: &Reservations,
) -> anyhow::Result<Check> {
    let mut check = Check::new("shipments_unique");
    // (order, warehouse) → shipment ids.
    let mut parcels: BTreeMap<String, BTreeMap<String, Vec<String>>> = BTreeMap::new();
    for row in query("SELECT id, order_id, warehouse_id FROM shipments ORDER BY id")
        .fetch_all(db.reader())
        .await
        .context("cannot read shipments")?
    {
        parcels
            .entry(row.try_get("order_id")?)
            .or_default()
            .entry(row.try_get("warehouse_id")?)
            .or_default()
            .push(row.try_get("id")?);
    }
    let mut shipped: HashMap<String, BTreeMap<String, i64>> = HashMap::new();
    for row in query(
        "SELECT s.order_id, l.sku, CAST(SUM(l.quantity) AS BIGINT) AS quantity \
         FROM shipment_lines l JOIN shipments s ON s.id = l.shipment_id \
         GROUP BY s.order_id, l.sku",
    )
    .fetch_all(db.reader())
    .await
    .context("cannot read shipment lines")?
    {
        shipped
            .entry(row.try_get("order_id")?)
            .or_default()
            .insert(row.try_get("sku")?, row.try_get("quantity")?);
    }

    for (order_id, by_warehouse) in &parcels {
        check.examined();
        for (warehouse, ids) in by_warehouse {
            if ids.len() > 1 {
                check.violation(format!(
                    "order {order_id} has {} shipments from warehouse {warehouse}: {ids:?}",
                    ids.len()
                ));
            }
        }
        match orders.by_id.get(order_id) {
            None => check.violation(format!(
                "shipments {:?} are for order {order_id}, which does not exist",
                by_warehouse.values().flatten().collect::<Vec<_>>()
            )),
            Some(order) if !orders.was_confirmed(order_id, order) => check.violation(format!(
                "order {order_id} was never confirmed ({}) yet has shipments",
                order.status
            )),
            Some(_) => {}
        }
    }

    let no_parcels = BTreeMap::new();
    let no_units = BTreeMap::new();
    for (order_id, order) in &orders.by_id {
        if !order.is_sold() {
            continue;
        }
        check.examined();
        let from = parcels.get(order_id).unwrap_or(&no_parcels);
        if from.is_empty() {
            check.violation(format!("{} order {order_id} has no shipment", order.status));
            continue;
        }
        if let Some(reservation) = reservations.by_order.get(order_id)
            && reservation.status() == Some(ReservationStatus::Committed)
        {
            let expected: BTreeSet<&String> = reservation.lines.keys().map(|(w, _)| w).collect();
            for warehouse in &expected {
                if !from.contains_key(*warehouse) {
                    check.violation(format!(
                        "{} order {order_id} has no shipment from warehouse {warehouse}",
                        order.status
                    ));
                }
            }
            for warehouse in from.keys() {
                if !expected.contains(warehouse) {
                    check.violation(format!(
                        "order {order_id} has a shipment from warehouse {warehouse}, which holds none of its units"
                    ));
                }
            }
        }
        let ordered = orders.items.get(order_id).unwrap_or(&no_units);
        let in_parcels = shipped.get(order_id).unwrap_or(&no_units);
        if ordered != in_parcels {
            check.violation(format!(
                "order {order_id} ordered {ordered:?} but its shipments carry {in_parcels:?}"
            ));
        }
    }
    Ok(check)
}

/// Exactly one order-confirmation message per confirmed order on each channel it went
/// to (and at least one), none for an order never confirmed. A customer deleted since
/// gets none (notifications drops messages for tombstones).
pub(super) async fn confirmations(db: &Db, orders: &Orders) -> anyhow::Result<Check> {
    let mut check = Check::new("confirmations_unique");
    let template = format!(
        "{}.%",
        platform::db::like_escape(notifications::templates::ORDER_CONFIRMED)
    );
    // order → channel → messages.
    let mut sent: BTreeMap<String, BTreeMap<String, i64>> = BTreeMap::new();
    for row in query(
        "SELECT event_subject, channel, COUNT(*) AS messages FROM notifications \
         WHERE event_type = $1 AND template_id LIKE $2 ESCAPE '\\' AND event_subject IS NOT NULL \
         GROUP BY event_subject, channel",
    )
    .bind(contracts::ordering::OrderConfirmed::TYPE)
    .bind(template)
    .fetch_all(db.reader())
    .await
    .context("cannot read notifications")?
    {
        sent.entry(row.try_get("event_subject")?)
            .or_default()
            .insert(row.try_get("channel")?, row.try_get("messages")?);
    }
    let gone: HashSet<String> =
        platform::db::query_scalar("SELECT user_id FROM users WHERE deleted_at IS NOT NULL")
            .fetch_all(db.reader())
            .await
            .context("cannot read notifications' users")?
            .into_iter()
            .collect();

    for (order_id, order) in &orders.by_id {
        check.examined();
        let channels = sent.get(order_id);
        if orders.was_confirmed(order_id, order) {
            match channels {
                None if gone.contains(&order.user_id) => {}
                None => check.violation(format!(
                    "{} order {order_id} has no confirmation message",
                    order.status
                )),
                Some(channels) => {
                    for (channel, messages) in channels {
                        if *messages > 1 {
                            check.violation(format!(
                                "order {order_id} has {messages} confirmation messages on {channel}"
                            ));
                        }
                    }
                }
            }
        } else if let Some(channels) = channels {
            check.violation(format!(
                "order {order_id} was never confirmed ({}) yet has confirmation messages on {:?}",
                order.status,
                channels.keys().collect::<Vec<_>>()
            ));
        }
    }
    for order_id in sent.keys() {
        if !orders.by_id.contains_key(order_id) {
            check.violation(format!(
                "a confirmation message names order {order_id}, which does not exist"
            ));
        }
    }
    Ok(check)
}
