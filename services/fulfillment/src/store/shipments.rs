//! Shipments (`shipments`, `shipment_lines`) and their tracking history
//! (`shipment_events`), read into and written from [`Shipment`] and [`TrackingEntry`].

use platform::db::{Conn, Error, Executor, Row, Tx};

use super::{json, number, to_json};
use crate::domain::{
    Money, Shipment, ShipmentFacts, ShipmentLine, ShipmentState, ShipmentStatus, Sku, TrackingEntry,
};
use platform::db::named;

const COLUMNS: &str = "id, order_id, user_id, warehouse_id, carrier, tracking_number, status, rate_amount, rate_currency, weight_grams, ship_to, created_at, updated_at, dispatched_at, delivered_at";

/// A shipment status as stored; an unknown name is a decode error.
pub fn shipment_status(raw: &str) -> Result<ShipmentStatus, Error> {
    named("status", raw, ShipmentStatus::parse)
}

/// A shipment from its row, with `lines` read separately.
fn shipment_from(row: &Row, lines: Vec<ShipmentLine>) -> Result<Shipment, Error> {
    let raw_status: String = row.try_get("status")?;
    Ok(Shipment::restore(
        ShipmentFacts {
            id: row.try_get("id")?,
            order_id: row.try_get("order_id")?,
            user_id: row.try_get("user_id")?,
            warehouse_id: row.try_get("warehouse_id")?,
            carrier: row.try_get("carrier")?,
            tracking_number: row.try_get("tracking_number")?,
            rate: Money {
                amount: row.try_get("rate_amount")?,
                currency: row.try_get("rate_currency")?,
            },
            weight_grams: number(row, "weight_grams")?,
            ship_to: json(row, "ship_to")?,
            lines,
        },
        ShipmentState {
            status: shipment_status(&raw_status)?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
            dispatched_at: row.try_get("dispatched_at")?,
            delivered_at: row.try_get("delivered_at")?,
        },
    ))
}

/// Inserts a new shipment and its lines; `false` (and nothing written) when the order
/// already has a shipment from that warehouse.
pub async fn insert(tx: &mut Tx, shipment: &Shipment) -> Result<bool, Error> {
    let state = shipment.state();
    let ship_to = shipment.ship_to.as_ref().map(to_json).transpose()?;
    let inserted = platform::db::query(&format!(
        "INSERT INTO shipments ({COLUMNS}) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) \
         ON CONFLICT (order_id, warehouse_id) DO NOTHING"
    ))
    .bind(&shipment.id)
    .bind(&shipment.order_id)
    .bind(&shipment.user_id)
    .bind(&shipment.warehouse_id)
    .bind(&shipment.carrier)
    .bind(&shipment.tracking_number)
    .bind(state.status.as_str())
    .bind(shipment.rate.amount)
    .bind(&shipment.rate.currency)
    .bind(i64::from(shipment.weight_grams))
    .bind(ship_to)
    .bind(state.created_at)
    .bind(state.updated_at)
    .bind(state.dispatched_at)
    .bind(state.delivered_at)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if inserted != 1 {
        return Ok(false);
    }
    for line in &shipment.lines {
        platform::db::query(
            "INSERT INTO shipment_lines (shipment_id, sku, quantity) VALUES ($1, $2, $3)",
        )
        .bind(&shipment.id)
        .bind(line.sku.as_str())
        .bind(i64::from(line.quantity))
        .execute(&mut **tx)
        .await?;
    }
    Ok(true)
}

async fn lines_of(ex: &mut Conn, shipment_id: &str) -> Result<Vec<ShipmentLine>, Error> {
    platform::db::query(
        "SELECT sku, quantity FROM shipment_lines WHERE shipment_id = $1 ORDER BY sku",
    )
    .bind(shipment_id)
    .fetch_all(&mut *ex)
    .await?
    .iter()
    .map(|r| {
        let sku: String = r.try_get("sku")?;
        Ok(ShipmentLine {
            sku: Sku::try_from(sku).map_err(|err| platform::db::Error::undecodable("sku", err))?,
            quantity: number(r, "quantity")?,
        })
    })
    .collect()
}

/// A shipment by id, with its lines.
pub async fn get(ex: &mut Conn, id: &str) -> Result<Option<Shipment>, Error> {
    let Some(row) = platform::db::query(&format!("SELECT {COLUMNS} FROM shipments WHERE id = $1"))
        .bind(id)
        .fetch_optional(&mut *ex)
        .await?
    else {
        return Ok(None);
    };
    let lines = lines_of(ex, id).await?;
    shipment_from(&row, lines).map(Some)
}

/// The shipments of an order by id after `after`, with their lines.
pub async fn of_order(
    ex: &mut Conn,
    order_id: &str,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<Shipment>, Error> {
    let rows = platform::db::query(&format!(
        "SELECT {COLUMNS} FROM shipments WHERE order_id = $1 AND id > $2 ORDER BY id LIMIT $3"
    ))
    .bind(order_id)
    .bind(after.unwrap_or(""))
    .bind(limit)
    .fetch_all(&mut *ex)
    .await?;
    let mut shipments = Vec::with_capacity(rows.len());
    for row in &rows {
        let id: String = row.try_get("id")?;
        let lines = lines_of(ex, &id).await?;
        shipments.push(shipment_from(row, lines)?);
    }
    Ok(shipments)
}

/// Shipments newest first (ids are UUIDv7, so id order is creation order), in
/// `status` or (with `None`) any, before the id `before`, with their lines.
pub async fn list(
    ex: &mut Conn,
    status: Option<ShipmentStatus>,
    before: Option<&str>,
    limit: i64,
) -> Result<Vec<Shipment>, Error> {
    let rows = platform::db::query(&format!(
        "SELECT {COLUMNS} FROM shipments WHERE ($1 = '' OR status = $1) AND ($2 = '' OR id < $2) \
         ORDER BY id DESC LIMIT $3"
    ))
    .bind(status.map_or("", ShipmentStatus::as_str))
    .bind(before.unwrap_or(""))
    .bind(limit)
    .fetch_all(&mut *ex)
    .await?;
    let mut shipments = Vec::with_capacity(rows.len());
    for row in &rows {
        let id: String = row.try_get("id")?;
        let lines = lines_of(ex, &id).await?;
        shipments.push(shipment_from(row, lines)?);
    }
    Ok(shipments)
}

/// Writes where `shipment` stands now, if it still stands where its transition left
/// (`from`); `false` when another change came first.
pub async fn save_move(
    tx: &mut Tx,
    shipment: &Shipment,
    from: ShipmentStatus,
) -> Result<bool, Error> {
    let state = shipment.state();
    let updated = platform::db::query(
        "UPDATE shipments SET status = $1, updated_at = $2, dispatched_at = $3, delivered_at = $4 \
         WHERE id = $5 AND status = $6",
    )
    .bind(state.status.as_str())
    .bind(state.updated_at)
    .bind(state.dispatched_at)
    .bind(state.delivered_at)
    .bind(&shipment.id)
    .bind(from.as_str())
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(updated == 1)
}

/// How many shipments of an order are still due (in no status of
/// [`ShipmentStatus::NOT_DUE`]).
pub async fn due_count(tx: &mut Tx, order_id: &str) -> Result<i64, Error> {
    let [done, cancelled] = ShipmentStatus::NOT_DUE;
    platform::db::query_scalar(
        "SELECT COUNT(*) FROM shipments WHERE order_id = $1 AND status NOT IN ($2, $3)",
    )
    .bind(order_id)
    .bind(done.as_str())
    .bind(cancelled.as_str())
    .fetch_one(&mut **tx)
    .await
}

/// Records a tracking entry; `false` when the same status at the same time is there.
pub async fn insert_entry(tx: &mut Tx, entry: &TrackingEntry) -> Result<bool, Error> {
    let inserted = platform::db::query(
        "INSERT INTO shipment_events (id, shipment_id, status, occurred_at, location, description, source, recorded_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (shipment_id, status, occurred_at) DO NOTHING",
    )
    .bind(&entry.id)
    .bind(&entry.shipment_id)
    .bind(entry.status.as_str())
    .bind(entry.occurred_at)
    .bind(entry.location.as_deref())
    .bind(entry.description.as_deref())
    .bind(&entry.source)
    .bind(entry.recorded_at)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(inserted == 1)
}

/// Whether the same status at the same time is recorded for the shipment.
pub async fn entry_exists(
    tx: &mut Tx,
    shipment_id: &str,
    status: ShipmentStatus,
    occurred_at: i64,
) -> Result<bool, Error> {
    let found: Option<String> = platform::db::query_scalar(
        "SELECT id FROM shipment_events WHERE shipment_id = $1 AND status = $2 AND occurred_at = $3",
    )
    .bind(shipment_id)
    .bind(status.as_str())
    .bind(occurred_at)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(found.is_some())
}

/// A shipment's tracking history, oldest first.
pub async fn history<'e>(
    ex: impl Executor<'e>,
    shipment_id: &str,
) -> Result<Vec<TrackingEntry>, Error> {
    let rows = platform::db::query(
        "SELECT id, shipment_id, status, occurred_at, location, description, source, recorded_at \
         FROM shipment_events WHERE shipment_id = $1 ORDER BY occurred_at, recorded_at, id",
    )
    .bind(shipment_id)
    .fetch_all(ex)
    .await?;
    rows.iter()
        .map(|r| {
            let raw_status: String = r.try_get("status")?;
            Ok(TrackingEntry {
                id: r.try_get("id")?,
                shipment_id: r.try_get("shipment_id")?,
                status: shipment_status(&raw_status)?,
                occurred_at: r.try_get("occurred_at")?,
                location: r.try_get("location")?,
                description: r.try_get("description")?,
                source: r.try_get("source")?,
                recorded_at: r.try_get("recorded_at")?,
            })
        })
        .collect()
}
