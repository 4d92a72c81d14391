//! Fulfillment's SQL: order facts gathered from events, shipments with their lines and
//! tracking history, and returns with the shipment each unit came from.
//!
//! Status changes are conditional updates (`... WHERE status = $from`), so two
//! concurrent changes of one shipment or return cannot both succeed.

use platform::db::{Dialect, Executor, Row, Tx};

use crate::domain::{ReturnStatus, Returnable, ShipmentStatus};

/// What fulfillment knows of an order.
#[derive(Debug, Clone, Default)]
pub struct OrderFacts {
    /// The order.
    pub order_id: String,
    /// Its owner (from the confirmation).
    pub user_id: Option<String>,
    /// The shipping address as JSON (from the confirmation).
    pub ship_to: Option<String>,
    /// When the confirmation arrived, epoch ms.
    pub confirmed_at: Option<i64>,
    /// The committed allocations as JSON (from inventory).
    pub allocations: Option<String>,
    /// When shipments were opened, epoch ms.
    pub opened_at: Option<i64>,
    /// When the order was cancelled, epoch ms.
    pub cancelled_at: Option<i64>,
}

const FACTS: &str = "SELECT order_id, user_id, ship_to, confirmed_at, allocations, opened_at, cancelled_at FROM order_facts WHERE order_id = $1";

fn facts_from(row: &Row) -> Result<OrderFacts, platform::db::Error> {
    Ok(OrderFacts {
        order_id: row.try_get("order_id")?,
        user_id: row.try_get("user_id")?,
        ship_to: row.try_get("ship_to")?,
        confirmed_at: row.try_get("confirmed_at")?,
        allocations: row.try_get("allocations")?,
        opened_at: row.try_get("opened_at")?,
        cancelled_at: row.try_get("cancelled_at")?,
    })
}

/// The facts of an order, if any event about it arrived.
pub async fn order_facts<'e>(
    ex: impl Executor<'e>,
    order_id: &str,
) -> Result<Option<OrderFacts>, platform::db::Error> {
    platform::db::query(FACTS)
        .bind(order_id)
        .fetch_optional(ex)
        .await?
        .as_ref()
        .map(facts_from)
        .transpose()
}

/// The facts of an order, locked for the rest of `tx` on PostgreSQL (SQLite's single
/// writer holds the whole database already), so two returns of one order are planned
/// one after the other.
pub async fn order_facts_for_update(
    tx: &mut Tx,
    dialect: Dialect,
    order_id: &str,
) -> Result<Option<OrderFacts>, platform::db::Error> {
    platform::db::query(&format!("{FACTS}{}", dialect.row_lock()))
        .bind(order_id)
        .fetch_optional(&mut **tx)
        .await?
        .as_ref()
        .map(facts_from)
        .transpose()
}

/// Records ordering's confirmation of an order. The upsert takes the row's lock on
/// PostgreSQL, so of two transactions bringing the two halves, the later one waits and
/// then sees both.
pub async fn record_confirmed(
    tx: &mut Tx,
    order_id: &str,
    user_id: &str,
    ship_to: Option<&str>,
    items: &str,
    now: i64,
) -> Result<(), platform::db::Error> {
    platform::db::query(
        "INSERT INTO order_facts (order_id, user_id, ship_to, items, confirmed_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $5) \
         ON CONFLICT (order_id) DO UPDATE SET user_id = excluded.user_id, ship_to = excluded.ship_to, \
         items = excluded.items, confirmed_at = excluded.confirmed_at, updated_at = excluded.updated_at",
    )
    .bind(order_id)
    .bind(user_id)
    .bind(ship_to)
    .bind(items)
    .bind(now)
    .execute(&mut **tx)
    .await
    .map(|_| ())
}

/// Records inventory's commit of an order's stock (which warehouse ships what).
pub async fn record_committed(
    tx: &mut Tx,
    order_id: &str,
    allocations: &str,
    now: i64,
) -> Result<(), platform::db::Error> {
    platform::db::query(
        "INSERT INTO order_facts (order_id, allocations, committed_at, updated_at) VALUES ($1, $2, $3, $3) \
         ON CONFLICT (order_id) DO UPDATE SET allocations = excluded.allocations, \
         committed_at = excluded.committed_at, updated_at = excluded.updated_at",
    )
    .bind(order_id)
    .bind(allocations)
    .bind(now)
    .execute(&mut **tx)
    .await
    .map(|_| ())
}

/// Records an order's cancellation (kept even before anything else is known, so a late
/// commit opens nothing).
pub async fn record_cancelled(
    tx: &mut Tx,
    order_id: &str,
    now: i64,
) -> Result<(), platform::db::Error> {
    platform::db::query(
        "INSERT INTO order_facts (order_id, cancelled_at, updated_at) VALUES ($1, $2, $2) \
         ON CONFLICT (order_id) DO UPDATE SET cancelled_at = COALESCE(order_facts.cancelled_at, excluded.cancelled_at), \
         updated_at = excluded.updated_at",
    )
    .bind(order_id)
    .bind(now)
    .execute(&mut **tx)
    .await
    .map(|_| ())
}

/// Marks an order's shipments as opened.
pub async fn mark_opened(tx: &mut Tx, order_id: &str, now: i64) -> Result<(), platform::db::Error> {
    platform::db::query(
        "UPDATE order_facts SET opened_at = $1, updated_at = $1 WHERE order_id = $2",
    )
    .bind(now)
    .bind(order_id)
    .execute(&mut **tx)
    .await
    .map(|_| ())
}

/// A stored shipment with its lines.
#[derive(Debug, Clone)]
pub struct ShipmentRecord {
    /// Id.
    pub id: String,
    /// The order it ships.
    pub order_id: String,
    /// The order's owner.
    pub user_id: String,
    /// The warehouse it leaves from.
    pub warehouse_id: String,
    /// Carrier code.
    pub carrier: String,
    /// The carrier's tracking number.
    pub tracking_number: String,
    /// Status name.
    pub status: String,
    /// Shipping price, minor units.
    pub rate_amount: i64,
    /// Its currency.
    pub rate_currency: String,
    /// Parcel weight.
    pub weight_grams: i64,
    /// Recipient address as JSON.
    pub ship_to: Option<String>,
    /// Creation, epoch ms.
    pub created_at: i64,
    /// Last change, epoch ms.
    pub updated_at: i64,
    /// When it left, epoch ms.
    pub dispatched_at: Option<i64>,
    /// When it arrived, epoch ms.
    pub delivered_at: Option<i64>,
    /// (sku, quantity).
    pub lines: Vec<(String, i64)>,
}

impl ShipmentRecord {
    /// The status, parsed (an unknown stored name reads as cancelled, which allows
    /// nothing).
    pub fn status(&self) -> ShipmentStatus {
        ShipmentStatus::parse(&self.status).unwrap_or(ShipmentStatus::Cancelled)
    }
}

const SHIPMENT_COLUMNS: &str = "id, order_id, user_id, warehouse_id, carrier, tracking_number, status, rate_amount, rate_currency, weight_grams, ship_to, created_at, updated_at, dispatched_at, delivered_at";

fn shipment_from(row: &Row) -> Result<ShipmentRecord, platform::db::Error> {
    Ok(ShipmentRecord {
        id: row.try_get("id")?,
        order_id: row.try_get("order_id")?,
        user_id: row.try_get("user_id")?,
        warehouse_id: row.try_get("warehouse_id")?,
        carrier: row.try_get("carrier")?,
        tracking_number: row.try_get("tracking_number")?,
        status: row.try_get("status")?,
        rate_amount: row.try_get("rate_amount")?,
        rate_currency: row.try_get("rate_currency")?,
        weight_grams: row.try_get("weight_grams")?,
        ship_to: row.try_get("ship_to")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        dispatched_at: row.try_get("dispatched_at")?,
        delivered_at: row.try_get("delivered_at")?,
        lines: Vec::new(),
    })
}

/// Inserts a shipment and its lines; `false` (and nothing written) when the order
/// already has a shipment from that warehouse.
pub async fn insert_shipment(
    tx: &mut Tx,
    shipment: &ShipmentRecord,
) -> Result<bool, platform::db::Error> {
    let inserted = platform::db::query(&format!(
        "INSERT INTO shipments ({SHIPMENT_COLUMNS}) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) \
         ON CONFLICT (order_id, warehouse_id) DO NOTHING"
    ))
    .bind(&shipment.id)
    .bind(&shipment.order_id)
    .bind(&shipment.user_id)
    .bind(&shipment.warehouse_id)
    .bind(&shipment.carrier)
    .bind(&shipment.tracking_number)
    .bind(&shipment.status)
    .bind(shipment.rate_amount)
    .bind(&shipment.rate_currency)
    .bind(shipment.weight_grams)
    .bind(shipment.ship_to.as_deref())
    .bind(shipment.created_at)
    .bind(shipment.updated_at)
    .bind(shipment.dispatched_at)
    .bind(shipment.delivered_at)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if inserted != 1 {
        return Ok(false);
    }
    for (sku, quantity) in &shipment.lines {
        platform::db::query(
            "INSERT INTO shipment_lines (shipment_id, sku, quantity) VALUES ($1, $2, $3)",
        )
        .bind(&shipment.id)
        .bind(sku)
        .bind(quantity)
        .execute(&mut **tx)
        .await?;
    }
    Ok(true)
}

async fn with_lines(
    ex: &mut platform::db::Conn,
    mut shipments: Vec<ShipmentRecord>,
) -> Result<Vec<ShipmentRecord>, platform::db::Error> {
    for shipment in &mut shipments {
        shipment.lines = platform::db::query(
            "SELECT sku, quantity FROM shipment_lines WHERE shipment_id = $1 ORDER BY sku",
        )
        .bind(&shipment.id)
        .fetch_all(&mut *ex)
        .await?
        .iter()
        .map(|r| Ok((r.try_get("sku")?, r.try_get("quantity")?)))
        .collect::<Result<_, platform::db::Error>>()?;
    }
    Ok(shipments)
}

/// A shipment by id, with its lines.
pub async fn shipment(
    ex: &mut platform::db::Conn,
    id: &str,
) -> Result<Option<ShipmentRecord>, platform::db::Error> {
    let found = platform::db::query(&format!(
        "SELECT {SHIPMENT_COLUMNS} FROM shipments WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(&mut *ex)
    .await?
    .as_ref()
    .map(shipment_from)
    .transpose()?;
    Ok(with_lines(ex, found.into_iter().collect()).await?.pop())
}

/// The shipments of an order by id after `after`, with their lines.
pub async fn shipments_of_order(
    ex: &mut platform::db::Conn,
    order_id: &str,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<ShipmentRecord>, platform::db::Error> {
    let rows = platform::db::query(&format!(
        "SELECT {SHIPMENT_COLUMNS} FROM shipments WHERE order_id = $1 AND id > $2 ORDER BY id LIMIT $3"
    ))
    .bind(order_id)
    .bind(after.unwrap_or(""))
    .bind(limit)
    .fetch_all(&mut *ex)
    .await?;
    let shipments = rows.iter().map(shipment_from).collect::<Result<_, _>>()?;
    with_lines(ex, shipments).await
}

/// Moves a shipment from `from` to `to`, stamping `dispatched_at` or `delivered_at`
/// when it enters those statuses; `false` if it was not in `from`.
pub async fn set_shipment_status(
    tx: &mut Tx,
    id: &str,
    from: ShipmentStatus,
    to: ShipmentStatus,
    at: i64,
    now: i64,
) -> Result<bool, platform::db::Error> {
    let dispatched_at = (to == ShipmentStatus::Dispatched).then_some(at);
    let delivered_at = (to == ShipmentStatus::Delivered).then_some(at);
    let updated = platform::db::query(
        "UPDATE shipments SET status = $1, updated_at = $2, \
         dispatched_at = COALESCE($3, dispatched_at), delivered_at = COALESCE($4, delivered_at) \
         WHERE id = $5 AND status = $6",
    )
    .bind(to.as_str())
    .bind(now)
    .bind(dispatched_at)
    .bind(delivered_at)
    .bind(id)
    .bind(from.as_str())
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(updated == 1)
}

/// How many shipments of an order are neither delivered nor cancelled.
pub async fn undelivered_count(tx: &mut Tx, order_id: &str) -> Result<i64, platform::db::Error> {
    platform::db::query_scalar(
        "SELECT COUNT(*) FROM shipments WHERE order_id = $1 AND status NOT IN ('delivered', 'cancelled')",
    )
    .bind(order_id)
    .fetch_one(&mut **tx)
    .await
}

/// One entry of a shipment's tracking history.
#[derive(Debug, Clone)]
pub struct TrackingEvent {
    /// Id.
    pub id: String,
    /// The shipment.
    pub shipment_id: String,
    /// The status it reports.
    pub status: String,
    /// When it happened, epoch ms.
    pub occurred_at: i64,
    /// Where (carrier scans).
    pub location: Option<String>,
    /// What happened.
    pub description: Option<String>,
    /// Who reported it: the carrier's code, `fulfillment`, or an operator's id.
    pub source: String,
    /// When it was recorded, epoch ms.
    pub recorded_at: i64,
}

/// Records a tracking event; `false` when the same status at the same time is there.
pub async fn insert_event(tx: &mut Tx, event: &TrackingEvent) -> Result<bool, platform::db::Error> {
    let inserted = platform::db::query(
        "INSERT INTO shipment_events (id, shipment_id, status, occurred_at, location, description, source, recorded_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (shipment_id, status, occurred_at) DO NOTHING",
    )
    .bind(&event.id)
    .bind(&event.shipment_id)
    .bind(&event.status)
    .bind(event.occurred_at)
    .bind(event.location.as_deref())
    .bind(event.description.as_deref())
    .bind(&event.source)
    .bind(event.recorded_at)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(inserted == 1)
}

/// Whether the same status at the same time is recorded for the shipment.
pub async fn event_exists(
    tx: &mut Tx,
    shipment_id: &str,
    status: &str,
    occurred_at: i64,
) -> Result<bool, platform::db::Error> {
    let found: Option<String> = platform::db::query_scalar(
        "SELECT id FROM shipment_events WHERE shipment_id = $1 AND status = $2 AND occurred_at = $3",
    )
    .bind(shipment_id)
    .bind(status)
    .bind(occurred_at)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(found.is_some())
}

/// A shipment's tracking history, oldest first.
pub async fn events<'e>(
    ex: impl Executor<'e>,
    shipment_id: &str,
) -> Result<Vec<TrackingEvent>, platform::db::Error> {
    let rows = platform::db::query(
        "SELECT id, shipment_id, status, occurred_at, location, description, source, recorded_at \
         FROM shipment_events WHERE shipment_id = $1 ORDER BY occurred_at, recorded_at, id",
    )
    .bind(shipment_id)
    .fetch_all(ex)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(TrackingEvent {
                id: r.try_get("id")?,
                shipment_id: r.try_get("shipment_id")?,
                status: r.try_get("status")?,
                occurred_at: r.try_get("occurred_at")?,
                location: r.try_get("location")?,
                description: r.try_get("description")?,
                source: r.try_get("source")?,
                recorded_at: r.try_get("recorded_at")?,
            })
        })
        .collect()
}

// SUM over BIGINT is NUMERIC on PostgreSQL; the cast keeps one portable integer type.

/// What the delivered shipments of an order still hold for returns: each line less the
/// units of returns that were not rejected.
pub async fn returnables(
    tx: &mut Tx,
    order_id: &str,
) -> Result<Vec<Returnable>, platform::db::Error> {
    let rows = platform::db::query(
        "SELECT s.id AS shipment_id, s.warehouse_id AS warehouse_id, s.delivered_at AS delivered_at, \
         l.sku AS sku, l.quantity AS quantity, \
         CAST(COALESCE((SELECT SUM(rl.quantity) FROM return_lines rl JOIN returns r ON r.id = rl.return_id \
           WHERE rl.shipment_id = s.id AND rl.sku = l.sku AND r.status <> 'rejected'), 0) AS BIGINT) AS returned \
         FROM shipments s JOIN shipment_lines l ON l.shipment_id = s.id \
         WHERE s.order_id = $1 AND s.status = 'delivered' ORDER BY s.id, l.sku",
    )
    .bind(order_id)
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
                sku: r.try_get("sku")?,
                delivered_at: delivered_at.unwrap_or(0),
                remaining: u32::try_from((quantity - returned).max(0)).unwrap_or(0),
            })
        })
        .collect()
}

/// A stored return with its lines.
#[derive(Debug, Clone)]
pub struct ReturnRecord {
    /// Id.
    pub id: String,
    /// The order.
    pub order_id: String,
    /// The customer.
    pub user_id: String,
    /// Status name.
    pub status: String,
    /// The customer's reason.
    pub reason: String,
    /// Creation, epoch ms.
    pub created_at: i64,
    /// Last change, epoch ms.
    pub updated_at: i64,
    /// Approval, epoch ms.
    pub approved_at: Option<i64>,
    /// Rejection, epoch ms.
    pub rejected_at: Option<i64>,
    /// Arrival, epoch ms.
    pub received_at: Option<i64>,
    /// (shipment, warehouse, sku, quantity).
    pub lines: Vec<ReturnLineRecord>,
}

/// Units of one sku from one shipment in a return.
#[derive(Debug, Clone)]
pub struct ReturnLineRecord {
    /// The shipment they came in.
    pub shipment_id: String,
    /// The warehouse they go back to.
    pub warehouse_id: String,
    /// The sku.
    pub sku: String,
    /// How many.
    pub quantity: i64,
}

impl ReturnRecord {
    /// The status, parsed (an unknown stored name reads as rejected, which allows
    /// nothing).
    pub fn status(&self) -> ReturnStatus {
        ReturnStatus::parse(&self.status).unwrap_or(ReturnStatus::Rejected)
    }
}

/// Inserts a return and its lines.
pub async fn insert_return(tx: &mut Tx, record: &ReturnRecord) -> Result<(), platform::db::Error> {
    platform::db::query(
        "INSERT INTO returns (id, order_id, user_id, status, reason, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $6)",
    )
    .bind(&record.id)
    .bind(&record.order_id)
    .bind(&record.user_id)
    .bind(&record.status)
    .bind(&record.reason)
    .bind(record.created_at)
    .execute(&mut **tx)
    .await?;
    for line in &record.lines {
        platform::db::query(
            "INSERT INTO return_lines (return_id, shipment_id, warehouse_id, sku, quantity) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&record.id)
        .bind(&line.shipment_id)
        .bind(&line.warehouse_id)
        .bind(&line.sku)
        .bind(line.quantity)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// A return by id, with its lines.
pub async fn return_by_id(
    ex: &mut platform::db::Conn,
    id: &str,
) -> Result<Option<ReturnRecord>, platform::db::Error> {
    let Some(row) = platform::db::query(
        "SELECT id, order_id, user_id, status, reason, created_at, updated_at, approved_at, rejected_at, received_at \
         FROM returns WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&mut *ex)
    .await?
    else {
        return Ok(None);
    };
    let lines = platform::db::query(
        "SELECT shipment_id, warehouse_id, sku, quantity FROM return_lines WHERE return_id = $1 ORDER BY sku, shipment_id",
    )
    .bind(id)
    .fetch_all(&mut *ex)
    .await?
    .iter()
    .map(|r| {
        Ok(ReturnLineRecord {
            shipment_id: r.try_get("shipment_id")?,
            warehouse_id: r.try_get("warehouse_id")?,
            sku: r.try_get("sku")?,
            quantity: r.try_get("quantity")?,
        })
    })
    .collect::<Result<_, platform::db::Error>>()?;
    Ok(Some(ReturnRecord {
        id: row.try_get("id")?,
        order_id: row.try_get("order_id")?,
        user_id: row.try_get("user_id")?,
        status: row.try_get("status")?,
        reason: row.try_get("reason")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        approved_at: row.try_get("approved_at")?,
        rejected_at: row.try_get("rejected_at")?,
        received_at: row.try_get("received_at")?,
        lines,
    }))
}

/// Moves a return from `from` to `to`, stamping the time of the new status; `false` if
/// it was not in `from`.
pub async fn set_return_status(
    tx: &mut Tx,
    id: &str,
    from: ReturnStatus,
    to: ReturnStatus,
    now: i64,
) -> Result<bool, platform::db::Error> {
    // The column is chosen from a fixed list, never from input.
    let stamp = match to {
        ReturnStatus::Approved => "approved_at",
        ReturnStatus::Rejected => "rejected_at",
        ReturnStatus::Received => "received_at",
        ReturnStatus::Requested => "updated_at",
    };
    let updated = platform::db::query(&format!(
        "UPDATE returns SET status = $1, updated_at = $2, {stamp} = $2 WHERE id = $3 AND status = $4"
    ))
    .bind(to.as_str())
    .bind(now)
    .bind(id)
    .bind(from.as_str())
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(updated == 1)
}
