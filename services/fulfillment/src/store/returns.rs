//! Returns (`returns`, `return_lines`), read into and written from [`Return`], and what
//! an order's delivered shipments still hold for returns.

use platform::db::{Conn, Error, Row, Tx};

use super::number;
use crate::domain::{
    NewReturn, Return, ReturnAllocation, ReturnState, ReturnStatus, Returnable, ShipmentStatus,
    Sku, Text,
};
use platform::db::named;

/// A return status as stored; an unknown name is a decode error.
pub fn return_status(raw: &str) -> Result<ReturnStatus, Error> {
    named("status", raw, ReturnStatus::parse)
}

fn sku(row: &Row) -> Result<Sku, Error> {
    let raw: String = row.try_get("sku")?;
    Sku::try_from(raw).map_err(|err| platform::db::Error::undecodable("sku", err))
}

// SUM over BIGINT is NUMERIC on PostgreSQL; the cast keeps one portable integer type.

/// What the delivered shipments of an order still hold for returns: each line less the
/// units of returns that still hold theirs (all but [`ReturnStatus::RELEASED`]).
pub async fn returnables(tx: &mut Tx, order_id: &str) -> Result<Vec<Returnable>, Error> {
    let rows = platform::db::query(
        "SELECT s.id AS shipment_id, s.warehouse_id AS warehouse_id, s.delivered_at AS delivered_at, \
         l.sku AS sku, l.quantity AS quantity, \
         CAST(COALESCE((SELECT SUM(rl.quantity) FROM return_lines rl JOIN returns r ON r.id = rl.return_id \
           WHERE rl.shipment_id = s.id AND rl.sku = l.sku AND r.status <> $2), 0) AS BIGINT) AS returned \
         FROM shipments s JOIN shipment_lines l ON l.shipment_id = s.id \
         WHERE s.order_id = $1 AND s.status = $3 ORDER BY s.id, l.sku",
    )
    .bind(order_id)
    .bind(ReturnStatus::RELEASED.as_str())
    .bind(ShipmentStatus::Delivered.as_str())
    .fetch_all(&mut **tx)
    .await?;
    rows.iter()
        .map(|r| {
            let quantity: i64 = r.try_get("quantity")?;
            let returned: i64 = r.try_get("returned")?;
            let delivered_at: Option<i64> = r.try_get("delivered_at")?;
            Ok(Returnable {
                shipment_id: r.try_get("shipment_id")?,
                warehouse_id: r.try_get("warehouse_id")?,
                sku: sku(r)?,
                delivered_at: delivered_at.unwrap_or(0),
                remaining: u32::try_from((quantity - returned).max(0))
                    .map_err(|err| platform::db::Error::undecodable("quantity", err))?,
            })
        })
        .collect()
}

/// Inserts a new return and its lines.
pub async fn insert(tx: &mut Tx, record: &Return) -> Result<(), Error> {
    let state = record.state();
    platform::db::query(
        "INSERT INTO returns (id, order_id, user_id, status, reason, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&record.id)
    .bind(&record.order_id)
    .bind(&record.user_id)
    .bind(state.status.as_str())
    .bind(record.reason.as_str())
    .bind(state.created_at)
    .bind(state.updated_at)
    .execute(&mut **tx)
    .await?;
    for line in &record.lines {
        platform::db::query(
            "INSERT INTO return_lines (return_id, shipment_id, warehouse_id, sku, quantity) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&record.id)
        .bind(&line.shipment_id)
        .bind(&line.warehouse_id)
        .bind(line.sku.as_str())
        .bind(i64::from(line.quantity))
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

const COLUMNS: &str = "id, order_id, user_id, status, reason, created_at, updated_at, approved_at, rejected_at, received_at";

/// A return by id, with its lines.
pub async fn get(ex: &mut Conn, id: &str) -> Result<Option<Return>, Error> {
    let Some(row) = platform::db::query(&format!("SELECT {COLUMNS} FROM returns WHERE id = $1"))
        .bind(id)
        .fetch_optional(&mut *ex)
        .await?
    else {
        return Ok(None);
    };
    let lines = lines_of(ex, id).await?;
    return_from(&row, lines).map(Some)
}

/// Returns newest first (ids are UUIDv7, so id order is creation order): `user_id`'s
/// or (with `None`) everyone's, in `status` or (with `None`) any, before the id
/// `before`, with their lines.
pub async fn list(
    ex: &mut Conn,
    user_id: Option<&str>,
    status: Option<ReturnStatus>,
    before: Option<&str>,
    limit: i64,
) -> Result<Vec<Return>, Error> {
    let rows = platform::db::query(&format!(
        "SELECT {COLUMNS} FROM returns WHERE ($1 = '' OR user_id = $1) AND ($2 = '' OR status = $2) \
         AND ($3 = '' OR id < $3) ORDER BY id DESC LIMIT $4"
    ))
    .bind(user_id.unwrap_or(""))
    .bind(status.map_or("", ReturnStatus::as_str))
    .bind(before.unwrap_or(""))
    .bind(limit)
    .fetch_all(&mut *ex)
    .await?;
    let mut returns = Vec::with_capacity(rows.len());
    for row in &rows {
        let id: String = row.try_get("id")?;
        let lines = lines_of(ex, &id).await?;
        returns.push(return_from(row, lines)?);
    }
    Ok(returns)
}

/// The lines of return `id`, by sku and shipment.
async fn lines_of(ex: &mut Conn, id: &str) -> Result<Vec<ReturnAllocation>, Error> {
    platform::db::query(
        "SELECT shipment_id, warehouse_id, sku, quantity FROM return_lines WHERE return_id = $1 ORDER BY sku, shipment_id",
    )
    .bind(id)
    .fetch_all(&mut *ex)
    .await?
    .iter()
    .map(|r| {
        Ok(ReturnAllocation {
            shipment_id: r.try_get("shipment_id")?,
            warehouse_id: r.try_get("warehouse_id")?,
            sku: sku(r)?,
            quantity: number(r, "quantity")?,
        })
    })
    .collect()
}

/// A return from its row, with `lines` read separately.
fn return_from(row: &Row, lines: Vec<ReturnAllocation>) -> Result<Return, Error> {
    let raw_status: String = row.try_get("status")?;
    let reason: String = row.try_get("reason")?;
    Ok(Return::restore(
        NewReturn {
            id: row.try_get("id")?,
            order_id: row.try_get("order_id")?,
            user_id: row.try_get("user_id")?,
            reason: Text::try_from(reason)
                .map_err(|err| platform::db::Error::undecodable("reason", err))?,
            lines,
        },
        ReturnState {
            status: return_status(&raw_status)?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
            approved_at: row.try_get("approved_at")?,
            rejected_at: row.try_get("rejected_at")?,
            received_at: row.try_get("received_at")?,
        },
    ))
}

/// Writes where `record` stands now, if it still stands where its transition left
/// (`from`); `false` when another change came first.
pub async fn save_decision(
    tx: &mut Tx,
    record: &Return,
    from: ReturnStatus,
) -> Result<bool, Error> {
    let state = record.state();
    let updated = platform::db::query(
        "UPDATE returns SET status = $1, updated_at = $2, approved_at = $3, rejected_at = $4, \
         received_at = $5 WHERE id = $6 AND status = $7",
    )
    .bind(state.status.as_str())
    .bind(state.updated_at)
    .bind(state.approved_at)
    .bind(state.rejected_at)
    .bind(state.received_at)
    .bind(&record.id)
    .bind(from.as_str())
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(updated == 1)
}
