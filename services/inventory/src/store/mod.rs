//! Inventory's SQL, and the only place rows become domain values and back: warehouses,
//! a sku's [`StockLevel`] (its levels with its low-stock settings), the movement
//! ledger, and [`Reservation`]s. A row that does not decode (an unknown status, a sku
//! or quantity out of its rules) is an error, never a default.
//!
//! A level changes by one conditional update whose condition is the domain's
//! ([`Level::after`]: never below zero, never over-reserved), backed by CHECK
//! constraints, with its movement row in the same transaction. A reservation changes
//! status by one update conditional on the status its [`Closing`] left.

use platform::db::{Dialect, Executor, Reader, Row, Tx, decoded};

use crate::domain::{
    Closing, LedgerEntry, Level, LowStock, MovementKind, Reservation, ReservationLine,
    ReservationStatus, Sku, StockChange, StockLevel, Totals, Warehouse, WarehouseCode,
};

fn sku_from(row: &Row, column: &str) -> Result<Sku, platform::db::Error> {
    decoded(column, Sku::try_from(row.try_get::<String, _>(column)?))
}

/// A stored reservation status; an unknown one is a decode error.
fn status_from(raw: &str) -> Result<ReservationStatus, platform::db::Error> {
    decoded("status", raw.parse::<ReservationStatus>())
}

fn warehouse_from(row: &Row) -> Result<Warehouse, platform::db::Error> {
    Ok(Warehouse {
        id: row.try_get("id")?,
        code: decoded(
            "code",
            WarehouseCode::try_from(row.try_get::<String, _>("code")?),
        )?,
        name: row.try_get("name")?,
        created_at: row.try_get("created_at")?,
    })
}

/// Inserts a warehouse; a taken code is a unique violation.
pub async fn insert_warehouse(
    tx: &mut Tx,
    warehouse: &Warehouse,
) -> Result<(), platform::db::Error> {
    platform::db::query(
        "INSERT INTO warehouses (id, code, name, created_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(&warehouse.id)
    .bind(warehouse.code.as_str())
    .bind(&warehouse.name)
    .bind(warehouse.created_at)
    .execute(&mut **tx)
    .await
    .map(|_| ())
}

/// Warehouses by id after `after`.
pub async fn list_warehouses<'e>(
    ex: impl Executor<'e>,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<Warehouse>, platform::db::Error> {
    let rows = platform::db::query(
        "SELECT id, code, name, created_at FROM warehouses WHERE id > $1 ORDER BY id LIMIT $2",
    )
    .bind(after.unwrap_or(""))
    .bind(limit)
    .fetch_all(ex)
    .await?;
    rows.iter().map(warehouse_from).collect()
}

/// A warehouse by id or code.
pub async fn warehouse<'e>(
    ex: impl Executor<'e>,
    id_or_code: &str,
) -> Result<Option<Warehouse>, platform::db::Error> {
    platform::db::query(
        "SELECT id, code, name, created_at FROM warehouses WHERE id = $1 OR code = $1",
    )
    .bind(id_or_code)
    .fetch_optional(ex)
    .await?
    .as_ref()
    .map(warehouse_from)
    .transpose()
}

fn level_from(row: &Row) -> Result<Level, platform::db::Error> {
    Ok(Level {
        warehouse_id: row.try_get("warehouse_id")?,
        on_hand: row.try_get("on_hand")?,
        reserved: row.try_get("reserved")?,
    })
}

/// The levels of `sku` in every warehouse that has a row, by warehouse (unlocked: for
/// reading, not for changing).
pub async fn levels<'e>(
    ex: impl Executor<'e>,
    sku: &Sku,
) -> Result<Vec<Level>, platform::db::Error> {
    let rows = platform::db::query("SELECT warehouse_id, on_hand, reserved FROM stock_levels WHERE sku = $1 ORDER BY warehouse_id")
        .bind(sku.as_str())
        .fetch_all(ex)
        .await?;
    rows.iter().map(level_from).collect()
}

/// The levels of each of `skus` that has any, by sku (unlocked: for reading).
pub async fn levels_of(
    reader: &Reader,
    skus: &[Sku],
) -> Result<std::collections::HashMap<String, Vec<Level>>, platform::db::Error> {
    let sql = format!(
        "SELECT sku, warehouse_id, on_hand, reserved FROM stock_levels WHERE sku IN {}",
        platform::db::in_list(1, skus.len())
    );
    let mut select = platform::db::query(&sql);
    for sku in skus {
        select = select.bind(sku.as_str());
    }
    let mut levels = std::collections::HashMap::<String, Vec<Level>>::new();
    for row in select.fetch_all(reader).await? {
        levels
            .entry(row.try_get("sku")?)
            .or_default()
            .push(level_from(&row)?);
    }
    Ok(levels)
}

/// Creates the (sku, warehouse) level at zero if it does not exist.
pub async fn ensure_level(
    tx: &mut Tx,
    sku: &Sku,
    warehouse_id: &str,
    now: i64,
) -> Result<(), platform::db::Error> {
    platform::db::query(
        "INSERT INTO stock_levels (sku, warehouse_id, on_hand, reserved, updated_at) VALUES ($1, $2, 0, 0, $3) \
         ON CONFLICT DO NOTHING",
    )
    .bind(sku.as_str())
    .bind(warehouse_id)
    .bind(now)
    .execute(&mut **tx)
    .await
    .map(|_| ())
}

/// `sku`'s stock (its levels, its threshold or `default_threshold`, and whether it was
/// last reported low) in one statement, its levels locked for the rest of `tx` on
/// PostgreSQL (SQLite's single writer holds the whole database already): what the
/// transaction then changes is known from it without reading it again. Callers lock
/// skus in sorted order, so two transactions never wait on each other in a cycle.
pub async fn stock_level_for_update(
    tx: &mut Tx,
    dialect: Dialect,
    sku: &Sku,
    default_threshold: i64,
) -> Result<StockLevel, platform::db::Error> {
    // PostgreSQL cannot lock the nullable side of the outer join: only the levels are.
    let sql = format!(
        "SELECT l.warehouse_id, l.on_hand, l.reserved, s.low_stock_threshold, s.is_low \
         FROM stock_levels l LEFT JOIN sku_settings s ON s.sku = l.sku \
         WHERE l.sku = $1 ORDER BY l.warehouse_id{}",
        dialect.row_lock_of("l")
    );
    let rows = platform::db::query(&sql)
        .bind(sku.as_str())
        .fetch_all(&mut **tx)
        .await?;
    let (threshold, reported_low) = match rows.first() {
        Some(row) => (
            row.try_get::<Option<i64>, _>("low_stock_threshold")?
                .unwrap_or(default_threshold),
            row.try_get::<Option<i64>, _>("is_low")?.unwrap_or(0) != 0,
        ),
        // No level yet: the settings may still exist (a threshold set before stock).
        None => sku_setting(tx, sku, default_threshold).await?,
    };
    let levels = rows.iter().map(level_from).collect::<Result<_, _>>()?;
    Ok(StockLevel::new(
        sku.clone(),
        levels,
        threshold,
        reported_low,
    ))
}

/// The threshold and last low state of a sku (default threshold when unset).
async fn sku_setting(
    tx: &mut Tx,
    sku: &Sku,
    default_threshold: i64,
) -> Result<(i64, bool), platform::db::Error> {
    let row =
        platform::db::query("SELECT low_stock_threshold, is_low FROM sku_settings WHERE sku = $1")
            .bind(sku.as_str())
            .fetch_optional(&mut **tx)
            .await?;
    match row {
        Some(row) => Ok((
            row.try_get("low_stock_threshold")?,
            row.try_get::<i64, _>("is_low")? != 0,
        )),
        None => Ok((default_threshold, false)),
    }
}

/// Records that `stock` crossed its threshold (its low state now), unless another
/// transaction already did: `false` then, and its alert is not to be sent again. The
/// condition reads the latest stored state, not the one read with the levels, which on
/// PostgreSQL can be older than the lock this transaction waited for; and only the low
/// state is written, so a threshold an operator set meanwhile is kept.
pub async fn record_low_state(
    tx: &mut Tx,
    stock: &StockLevel,
) -> Result<bool, platform::db::Error> {
    let written = platform::db::query(
        "INSERT INTO sku_settings (sku, low_stock_threshold, is_low) VALUES ($1, $2, $3) \
         ON CONFLICT (sku) DO UPDATE SET is_low = excluded.is_low \
         WHERE sku_settings.is_low <> excluded.is_low",
    )
    .bind(stock.sku().as_str())
    .bind(stock.threshold())
    .bind(i64::from(stock.reported_low()))
    .execute(&mut **tx)
    .await?;
    Ok(written.rows_affected() == 1)
}

/// Stores a sku's threshold (an operator's choice) and the low state last reported.
pub async fn save_sku_setting(tx: &mut Tx, stock: &StockLevel) -> Result<(), platform::db::Error> {
    platform::db::query(
        "INSERT INTO sku_settings (sku, low_stock_threshold, is_low) VALUES ($1, $2, $3) \
         ON CONFLICT (sku) DO UPDATE SET low_stock_threshold = excluded.low_stock_threshold, is_low = excluded.is_low",
    )
    .bind(stock.sku().as_str())
    .bind(stock.threshold())
    .bind(i64::from(stock.reported_low()))
    .execute(&mut **tx)
    .await
    .map(|_| ())
}

/// One change of a level, as the ledger records it.
#[derive(Debug, Clone)]
pub struct Movement<'a> {
    /// The sku.
    pub sku: &'a Sku,
    /// The warehouse.
    pub warehouse_id: &'a str,
    /// What changes (and the ledger's kind).
    pub change: StockChange,
    /// Why.
    pub reason: &'a str,
    /// Who (user or client id, or `system`).
    pub actor: &'a str,
    /// The order or return it concerns.
    pub reference: Option<&'a str>,
}

/// Applies a movement to its level and records it, if [`Level::after`] allows it on the
/// level as it is at this statement (the same three conditions, so no interleaving
/// oversells); `false` when refused.
pub async fn apply_movement(
    tx: &mut Tx,
    movement: &Movement<'_>,
    now: i64,
) -> Result<bool, platform::db::Error> {
    let change = movement.change;
    let updated = platform::db::query(
        "UPDATE stock_levels SET on_hand = on_hand + $1, reserved = reserved + $2, updated_at = $3 \
         WHERE sku = $4 AND warehouse_id = $5 AND on_hand + $1 >= 0 AND reserved + $2 >= 0 \
         AND reserved + $2 <= on_hand + $1",
    )
    .bind(change.on_hand_delta())
    .bind(change.reserved_delta())
    .bind(now)
    .bind(movement.sku.as_str())
    .bind(movement.warehouse_id)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if updated != 1 {
        return Ok(false);
    }
    platform::db::query(
        "INSERT INTO stock_movements (id, sku, warehouse_id, kind, on_hand_delta, reserved_delta, reason, actor, reference, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(platform::ids::new_id())
    .bind(movement.sku.as_str())
    .bind(movement.warehouse_id)
    .bind(change.kind().as_str())
    .bind(change.on_hand_delta())
    .bind(change.reserved_delta())
    .bind(movement.reason)
    .bind(movement.actor)
    .bind(movement.reference)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(true)
}

/// Ledger sums of a level: (on-hand, reserved) rebuilt from its movements.
pub async fn ledger_sums<'e>(
    ex: impl Executor<'e>,
    sku: &str,
    warehouse_id: &str,
) -> Result<(i64, i64), platform::db::Error> {
    let row = platform::db::query(
        "SELECT CAST(COALESCE(SUM(on_hand_delta), 0) AS BIGINT) AS on_hand, \
         CAST(COALESCE(SUM(reserved_delta), 0) AS BIGINT) AS reserved \
         FROM stock_movements WHERE sku = $1 AND warehouse_id = $2",
    )
    .bind(sku)
    .bind(warehouse_id)
    .fetch_one(ex)
    .await?;
    Ok((row.try_get("on_hand")?, row.try_get("reserved")?))
}

fn ledger_entry_from(row: &Row) -> Result<LedgerEntry, platform::db::Error> {
    let kind: String = row.try_get("kind")?;
    Ok(LedgerEntry {
        id: row.try_get("id")?,
        sku: sku_from(row, "sku")?,
        warehouse_id: row.try_get("warehouse_id")?,
        kind: platform::db::named("kind", &kind, MovementKind::parse)?,
        on_hand_delta: row.try_get("on_hand_delta")?,
        reserved_delta: row.try_get("reserved_delta")?,
        reason: row.try_get("reason")?,
        actor: row.try_get("actor")?,
        reference: row.try_get("reference")?,
        at: row.try_get("created_at")?,
    })
}

/// The ledger of `sku`, newest first (ids are UUIDv7, so id order is the order they
/// were recorded in), in one warehouse or (with `None`) all, before the id `before`.
pub async fn ledger<'e>(
    ex: impl Executor<'e>,
    sku: &Sku,
    warehouse_id: Option<&str>,
    before: Option<&str>,
    limit: i64,
) -> Result<Vec<LedgerEntry>, platform::db::Error> {
    let rows = platform::db::query(
        "SELECT id, sku, warehouse_id, kind, on_hand_delta, reserved_delta, reason, actor, \
         reference, created_at FROM stock_movements \
         WHERE sku = $1 AND ($2 = '' OR warehouse_id = $2) AND ($3 = '' OR id < $3) \
         ORDER BY id DESC LIMIT $4",
    )
    .bind(sku.as_str())
    .bind(warehouse_id.unwrap_or(""))
    .bind(before.unwrap_or(""))
    .bind(limit)
    .fetch_all(ex)
    .await?;
    rows.iter().map(ledger_entry_from).collect()
}

/// Marks `sku`'s totals as changed, to be announced. The upsert (rather than
/// `DO NOTHING`) takes the mark's row lock on PostgreSQL, so the announcer cannot take
/// and clear this sku's mark between this change and its commit and announce totals
/// without it.
pub async fn mark_totals_changed(tx: &mut Tx, sku: &Sku) -> Result<(), platform::db::Error> {
    platform::db::query(
        "INSERT INTO stock_changes (sku) VALUES ($1) ON CONFLICT (sku) DO UPDATE SET sku = excluded.sku",
    )
    .bind(sku.as_str())
    .execute(&mut **tx)
    .await
    .map(|_| ())
}

/// Whether any sku's totals wait to be announced (a read, so an idle announcer never
/// takes the writer).
pub async fn any_totals_changed<'e>(ex: impl Executor<'e>) -> Result<bool, platform::db::Error> {
    Ok(
        platform::db::query_scalar::<String>("SELECT sku FROM stock_changes LIMIT 1")
            .fetch_optional(ex)
            .await?
            .is_some(),
    )
}

/// Takes up to `limit` changed skus for announcement: locked for the rest of `tx` on
/// PostgreSQL, skipping those a change still holds (they are taken by a later pass,
/// after that change committed), and cleared when `tx` commits.
pub async fn take_changed_totals(
    tx: &mut Tx,
    dialect: Dialect,
    limit: i64,
) -> Result<Vec<Sku>, platform::db::Error> {
    let sql = format!(
        "SELECT sku FROM stock_changes ORDER BY sku LIMIT $1{}",
        dialect.row_lock_skip_locked()
    );
    let rows = platform::db::query(&sql)
        .bind(limit)
        .fetch_all(&mut **tx)
        .await?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "DELETE FROM stock_changes WHERE sku IN {}",
        platform::db::in_list(1, rows.len())
    );
    let mut clear = platform::db::query(&sql);
    let mut skus = Vec::with_capacity(rows.len());
    for row in &rows {
        let raw: String = row.try_get("sku")?;
        skus.push(decoded("sku", Sku::try_from(raw.clone()))?);
        clear = clear.bind(raw);
    }
    clear.execute(&mut **tx).await?;
    Ok(skus)
}

// SUM over BIGINT is NUMERIC on PostgreSQL; the casts keep one portable integer type.

/// Totals per sku at or under their threshold, by sku after `after`.
pub async fn low_stock<'e>(
    ex: impl Executor<'e>,
    default_threshold: i64,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<LowStock>, platform::db::Error> {
    let rows = platform::db::query(
        "SELECT l.sku AS sku, CAST(SUM(l.on_hand) AS BIGINT) AS on_hand, CAST(SUM(l.reserved) AS BIGINT) AS reserved, \
         COALESCE(MAX(s.low_stock_threshold), $1) AS threshold \
         FROM stock_levels l LEFT JOIN sku_settings s ON s.sku = l.sku \
         WHERE l.sku > $2 GROUP BY l.sku \
         HAVING SUM(l.on_hand) - SUM(l.reserved) <= COALESCE(MAX(s.low_stock_threshold), $1) \
         ORDER BY l.sku LIMIT $3",
    )
    .bind(default_threshold)
    .bind(after.unwrap_or(""))
    .bind(limit)
    .fetch_all(ex)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(LowStock {
                sku: sku_from(r, "sku")?,
                totals: Totals {
                    on_hand: r.try_get("on_hand")?,
                    reserved: r.try_get("reserved")?,
                },
                threshold: r.try_get("threshold")?,
            })
        })
        .collect()
}

/// Inserts a new reservation and its lines.
pub async fn insert_reservation(
    tx: &mut Tx,
    reservation: &Reservation,
    now: i64,
) -> Result<(), platform::db::Error> {
    platform::db::query("INSERT INTO reservations (id, order_id, status, expires_at, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5)")
        .bind(reservation.id())
        .bind(reservation.order_id())
        .bind(reservation.status().as_str())
        .bind(reservation.expires_at())
        .bind(now)
        .execute(&mut **tx)
        .await?;
    for line in reservation.lines() {
        platform::db::query("INSERT INTO reservation_lines (reservation_id, sku, warehouse_id, quantity) VALUES ($1, $2, $3, $4)")
            .bind(reservation.id())
            .bind(line.sku.as_str())
            .bind(&line.warehouse_id)
            .bind(i64::from(line.quantity))
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

fn line_from(row: &Row) -> Result<ReservationLine, platform::db::Error> {
    Ok(ReservationLine {
        sku: sku_from(row, "sku")?,
        warehouse_id: row.try_get("warehouse_id")?,
        quantity: decoded(
            "quantity",
            u32::try_from(row.try_get::<i64, _>("quantity")?),
        )?,
    })
}

/// The reservation of an order, with its lines by sku and warehouse.
pub async fn reservation_by_order(
    tx: &mut Tx,
    order_id: &str,
) -> Result<Option<Reservation>, platform::db::Error> {
    let Some(row) = platform::db::query(
        "SELECT id, order_id, status, expires_at FROM reservations WHERE order_id = $1",
    )
    .bind(order_id)
    .fetch_optional(&mut **tx)
    .await?
    else {
        return Ok(None);
    };
    let id: String = row.try_get("id")?;
    let status = status_from(&row.try_get::<String, _>("status")?)?;
    let lines = platform::db::query("SELECT sku, warehouse_id, quantity FROM reservation_lines WHERE reservation_id = $1 ORDER BY sku, warehouse_id")
        .bind(&id)
        .fetch_all(&mut **tx)
        .await?
        .iter()
        .map(line_from)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some(Reservation::restore(
        id,
        row.try_get("order_id")?,
        status,
        row.try_get("expires_at")?,
        lines,
    )))
}

/// Writes `closing` of reservation `id`: its new status, if it is still in the one the
/// closing left; `false` when another transaction moved it first.
pub async fn close_reservation(
    tx: &mut Tx,
    id: &str,
    closing: &Closing,
    now: i64,
) -> Result<bool, platform::db::Error> {
    let updated = platform::db::query(
        "UPDATE reservations SET status = $1, updated_at = $2 WHERE id = $3 AND status = $4",
    )
    .bind(closing.to.as_str())
    .bind(now)
    .bind(id)
    .bind(closing.from.as_str())
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(updated == 1)
}

/// Deletes up to `limit` closed reservations, with their lines: released, expired or
/// returned ones last changed before `closed_before`, committed ones before
/// `committed_before` (epoch ms); an active one never. Answers how many. On PostgreSQL
/// the reservations are locked first and those another transaction holds (one being
/// returned right now) are left for a later sweep.
pub async fn delete_closed_reservations(
    tx: &mut Tx,
    dialect: Dialect,
    closed_before: i64,
    committed_before: i64,
    limit: i64,
) -> Result<u64, platform::db::Error> {
    // Statuses go into the text so both engines use the (status, updated_at) index.
    let closed = format!(
        "SELECT id FROM reservations WHERE status IN ('{}', '{}', '{}') AND updated_at < $1 \
         LIMIT $2{}",
        ReservationStatus::Released.as_str(),
        ReservationStatus::Expired.as_str(),
        ReservationStatus::Returned.as_str(),
        dialect.row_lock_skip_locked()
    );
    let mut ids: Vec<String> = platform::db::query_scalar(&closed)
        .bind(closed_before)
        .bind(limit)
        .fetch_all(&mut **tx)
        .await?;
    let room = limit - ids.len() as i64;
    if room > 0 {
        let committed = format!(
            "SELECT id FROM reservations WHERE status = '{}' AND updated_at < $1 LIMIT $2{}",
            ReservationStatus::Committed.as_str(),
            dialect.row_lock_skip_locked()
        );
        let more: Vec<String> = platform::db::query_scalar(&committed)
            .bind(committed_before)
            .bind(room)
            .fetch_all(&mut **tx)
            .await?;
        ids.extend(more);
    }
    if ids.is_empty() {
        return Ok(0);
    }
    let list = platform::db::in_list(1, ids.len());
    // Lines first: they reference their reservation.
    for table in [
        "reservation_lines WHERE reservation_id",
        "reservations WHERE id",
    ] {
        let sql = format!("DELETE FROM {table} IN {list}");
        let mut delete = platform::db::query(&sql);
        for id in &ids {
            delete = delete.bind(id);
        }
        delete.execute(&mut **tx).await?;
    }
    Ok(ids.len() as u64)
}

/// Orders of up to `limit` active reservations past their expiry.
pub async fn expired_reservations<'e>(
    ex: impl Executor<'e>,
    now: i64,
    limit: i64,
) -> Result<Vec<String>, platform::db::Error> {
    // Only an active reservation expires. Its status goes into the text rather than a
    // parameter so both engines can prove the partial index `reservations_active_expiry`
    // (`WHERE status = 'active'`) covers the query.
    let sql = format!(
        "SELECT order_id FROM reservations WHERE status = '{}' AND expires_at <= $1 \
         ORDER BY expires_at LIMIT $2",
        ReservationStatus::Active.as_str()
    );
    platform::db::query_scalar(&sql)
        .bind(now)
        .bind(limit)
        .fetch_all(ex)
        .await
}

#[cfg(test)]
mod tests;
