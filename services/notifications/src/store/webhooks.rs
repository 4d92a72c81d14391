//! Merchants' webhook endpoints with their subscriptions, the deliveries queued for
//! them, the dispatcher's claim, and every attempt's record.
//!
//! Claiming due deliveries is the same conditional `UPDATE … RETURNING` the sender uses
//! for messages (see `messages`): it moves `next_attempt_at` past a lease and counts the
//! attempt, so two replicas never send the same row at once, and an outcome is written
//! only while the row is still the claim's (`pending`, with the claim's attempt count).
//! Deliveries of a disabled endpoint wait: they are not claimed until it is enabled.

use platform::config::{ExposeSecret, Secret};
use platform::db::{Dialect, Executor, Reader, Row, Tx, in_list};

use super::parsed;
use crate::domain::{Attempt, DeliveryStatus, Endpoint, EndpointSettings, WebhookDelivery};

const ENDPOINT_COLUMNS: &str = "id, url, description, secret, enabled, created_at, updated_at";

const DELIVERY_COLUMNS: &str = "id, endpoint_id, event_id, event_type, payload, status, \
     attempts, next_attempt_at, last_status_code, last_error, created_at, delivered_at";

/// `endpoint` from its row and its subscribed event types.
fn endpoint_from(row: &Row, event_types: Vec<String>) -> Result<Endpoint, platform::db::Error> {
    Ok(Endpoint {
        id: row.try_get("id")?,
        settings: EndpointSettings {
            url: row.try_get("url")?,
            description: row.try_get("description")?,
            event_types,
            enabled: row.try_get::<i64, _>("enabled")? != 0,
        },
        secret: Secret::from(row.try_get::<String, _>("secret")?),
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn status_code(row: &Row, column: &str) -> Result<Option<u16>, platform::db::Error> {
    row.try_get::<Option<i64>, _>(column)?
        .map(|code| platform::db::decoded(column, u16::try_from(code)))
        .transpose()
}

fn delivery_from(row: &Row) -> Result<WebhookDelivery, platform::db::Error> {
    let attempts: i64 = row.try_get("attempts")?;
    Ok(WebhookDelivery {
        id: row.try_get("id")?,
        endpoint_id: row.try_get("endpoint_id")?,
        event_id: row.try_get("event_id")?,
        event_type: row.try_get("event_type")?,
        payload: row.try_get("payload")?,
        status: parsed(row, "status", DeliveryStatus::parse)?,
        attempts: platform::db::decoded("attempts", u32::try_from(attempts))?,
        next_attempt_at: row.try_get("next_attempt_at")?,
        last_status_code: status_code(row, "last_status_code")?,
        last_error: row.try_get("last_error")?,
        created_at: row.try_get("created_at")?,
        delivered_at: row.try_get("delivered_at")?,
    })
}

fn attempt_from(row: &Row) -> Result<Attempt, platform::db::Error> {
    let attempt: i64 = row.try_get("attempt")?;
    Ok(Attempt {
        attempt: platform::db::decoded("attempt", u32::try_from(attempt))?,
        at: row.try_get("at")?,
        status_code: status_code(row, "status_code")?,
        error: row.try_get("error")?,
        duration_ms: row.try_get("duration_ms")?,
    })
}

/// The event types each of `ids` subscribed to, sorted.
async fn subscriptions_of<'e>(
    ex: impl Executor<'e>,
    ids: &[String],
) -> Result<std::collections::HashMap<String, Vec<String>>, platform::db::Error> {
    let sql = format!(
        "SELECT endpoint_id, event_type FROM webhook_subscriptions WHERE endpoint_id IN {} \
         ORDER BY event_type",
        in_list(1, ids.len())
    );
    let mut query = platform::db::query(&sql);
    for id in ids {
        query = query.bind(id);
    }
    let mut types = std::collections::HashMap::<String, Vec<String>>::new();
    for row in query.fetch_all(ex).await? {
        types
            .entry(row.try_get("endpoint_id")?)
            .or_default()
            .push(row.try_get("event_type")?);
    }
    Ok(types)
}

async fn endpoints_on(reader: &Reader, rows: &[Row]) -> Result<Vec<Endpoint>, platform::db::Error> {
    let ids = rows
        .iter()
        .map(|row| row.try_get::<String, _>("id"))
        .collect::<Result<Vec<_>, _>>()?;
    let mut types = subscriptions_of(reader, &ids).await?;
    rows.iter()
        .zip(&ids)
        .map(|(row, id)| endpoint_from(row, types.remove(id).unwrap_or_default()))
        .collect()
}

async fn subscribe(tx: &mut Tx, endpoint: &Endpoint) -> Result<(), platform::db::Error> {
    for event_type in &endpoint.settings.event_types {
        platform::db::query(
            "INSERT INTO webhook_subscriptions (event_type, endpoint_id) VALUES ($1, $2)",
        )
        .bind(event_type)
        .bind(&endpoint.id)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// Stores a new endpoint with its subscriptions.
pub async fn insert_endpoint(tx: &mut Tx, endpoint: &Endpoint) -> Result<(), platform::db::Error> {
    let settings = &endpoint.settings;
    platform::db::query(&format!(
        "INSERT INTO webhook_endpoints ({ENDPOINT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"
    ))
    .bind(&endpoint.id)
    .bind(&settings.url)
    .bind(&settings.description)
    .bind(endpoint.secret.expose_secret())
    .bind(i64::from(settings.enabled))
    .bind(endpoint.created_at)
    .bind(endpoint.updated_at)
    .execute(&mut **tx)
    .await?;
    subscribe(tx, endpoint).await
}

/// Replaces a stored endpoint's settings, secret and subscriptions; whether it existed.
pub async fn update_endpoint(
    tx: &mut Tx,
    endpoint: &Endpoint,
) -> Result<bool, platform::db::Error> {
    let settings = &endpoint.settings;
    let updated = platform::db::query(
        "UPDATE webhook_endpoints SET url = $2, description = $3, secret = $4, enabled = $5, \
         updated_at = $6 WHERE id = $1",
    )
    .bind(&endpoint.id)
    .bind(&settings.url)
    .bind(&settings.description)
    .bind(endpoint.secret.expose_secret())
    .bind(i64::from(settings.enabled))
    .bind(endpoint.updated_at)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if updated == 0 {
        return Ok(false);
    }
    platform::db::query("DELETE FROM webhook_subscriptions WHERE endpoint_id = $1")
        .bind(&endpoint.id)
        .execute(&mut **tx)
        .await?;
    subscribe(tx, endpoint).await?;
    Ok(true)
}

/// Deletes an endpoint with its subscriptions and its whole delivery log (queued
/// deliveries are never sent); whether it existed.
pub async fn delete_endpoint(tx: &mut Tx, id: &str) -> Result<bool, platform::db::Error> {
    platform::db::query(
        "DELETE FROM webhook_attempts WHERE delivery_id IN \
         (SELECT id FROM webhook_deliveries WHERE endpoint_id = $1)",
    )
    .bind(id)
    .execute(&mut **tx)
    .await?;
    for table in ["webhook_deliveries", "webhook_subscriptions"] {
        platform::db::query(&format!("DELETE FROM {table} WHERE endpoint_id = $1"))
            .bind(id)
            .execute(&mut **tx)
            .await?;
    }
    let deleted = platform::db::query("DELETE FROM webhook_endpoints WHERE id = $1")
        .bind(id)
        .execute(&mut **tx)
        .await?
        .rows_affected();
    Ok(deleted == 1)
}

/// An endpoint by id.
pub async fn endpoint(reader: &Reader, id: &str) -> Result<Option<Endpoint>, platform::db::Error> {
    let rows = platform::db::query(&format!(
        "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE id = $1"
    ))
    .bind(id)
    .fetch_all(reader)
    .await?;
    Ok(endpoints_on(reader, &rows).await?.into_iter().next())
}

/// An endpoint by id, read in `tx` (before changing it).
pub async fn endpoint_in(tx: &mut Tx, id: &str) -> Result<Option<Endpoint>, platform::db::Error> {
    let Some(row) = platform::db::query(&format!(
        "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(&mut **tx)
    .await?
    else {
        return Ok(None);
    };
    let mut types = subscriptions_of(&mut **tx, &[id.to_owned()]).await?;
    endpoint_from(&row, types.remove(id).unwrap_or_default()).map(Some)
}

/// Endpoints by id, after id `after`, at most `limit`.
pub async fn endpoints(
    reader: &Reader,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<Endpoint>, platform::db::Error> {
    let rows = platform::db::query(&format!(
        "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE id > $1 ORDER BY id LIMIT $2"
    ))
    .bind(after.unwrap_or(""))
    .bind(limit)
    .fetch_all(reader)
    .await?;
    endpoints_on(reader, &rows).await
}

/// The endpoints subscribed to `event_type`, switched on or not (a switched-off one
/// keeps its deliveries until it is on again).
pub async fn subscribers(
    tx: &mut Tx,
    event_type: &str,
) -> Result<Vec<String>, platform::db::Error> {
    platform::db::query_scalar(
        "SELECT endpoint_id FROM webhook_subscriptions WHERE event_type = $1 ORDER BY endpoint_id",
    )
    .bind(event_type)
    .fetch_all(&mut **tx)
    .await
}

/// Queues `delivery`, unless its event was already queued for its endpoint (a
/// redelivered event); whether it was new.
pub async fn insert_delivery(
    tx: &mut Tx,
    delivery: &WebhookDelivery,
) -> Result<bool, platform::db::Error> {
    let inserted = platform::db::query(&format!(
        "INSERT INTO webhook_deliveries ({DELIVERY_COLUMNS}, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $11) ON CONFLICT DO NOTHING"
    ))
    .bind(&delivery.id)
    .bind(&delivery.endpoint_id)
    .bind(&delivery.event_id)
    .bind(&delivery.event_type)
    .bind(&delivery.payload)
    .bind(delivery.status.as_str())
    .bind(i64::from(delivery.attempts))
    .bind(delivery.next_attempt_at)
    .bind(delivery.last_status_code.map(i64::from))
    .bind(&delivery.last_error)
    .bind(delivery.created_at)
    .bind(delivery.delivered_at)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(inserted == 1)
}

/// The condition a claimable delivery meets: pending, for an enabled endpoint.
const CLAIMABLE: &str = "status = 'pending' AND endpoint_id IN \
     (SELECT id FROM webhook_endpoints WHERE enabled = 1)";

/// When the earliest claimable delivery is due (or its claim lapses), epoch ms.
pub async fn next_due<'e>(ex: impl Executor<'e>) -> Result<Option<i64>, platform::db::Error> {
    platform::db::query_scalar(&format!(
        "SELECT MIN(next_attempt_at) FROM webhook_deliveries WHERE {CLAIMABLE}"
    ))
    .fetch_one(ex)
    .await
}

/// A claimed delivery with where it goes and the key it is signed with.
#[derive(Debug)]
pub struct ClaimedDelivery {
    /// The delivery, with its new attempt count.
    pub delivery: WebhookDelivery,
    /// The endpoint's URL.
    pub url: String,
    /// The endpoint's signing secret.
    pub secret: Secret,
}

/// Claims up to `limit` due deliveries: each gets one more attempt and is hidden from
/// other dispatchers until `lease_until`.
pub async fn claim_due(
    tx: &mut Tx,
    now: i64,
    lease_until: i64,
    limit: i64,
) -> Result<Vec<ClaimedDelivery>, platform::db::Error> {
    let rows = platform::db::query(&format!(
        "UPDATE webhook_deliveries SET next_attempt_at = $1, attempts = attempts + 1, \
         updated_at = $2 WHERE {CLAIMABLE} AND next_attempt_at <= $2 AND id IN (\
           SELECT id FROM webhook_deliveries WHERE {CLAIMABLE} AND next_attempt_at <= $2 \
           ORDER BY next_attempt_at, id LIMIT $3) \
         RETURNING {DELIVERY_COLUMNS}"
    ))
    .bind(lease_until)
    .bind(now)
    .bind(limit)
    .fetch_all(&mut **tx)
    .await?;
    let mut claimed = Vec::with_capacity(rows.len());
    for row in &rows {
        let delivery = delivery_from(row)?;
        let endpoint =
            platform::db::query("SELECT url, secret FROM webhook_endpoints WHERE id = $1")
                .bind(&delivery.endpoint_id)
                .fetch_one(&mut **tx)
                .await?;
        claimed.push(ClaimedDelivery {
            url: endpoint.try_get("url")?,
            secret: Secret::from(endpoint.try_get::<String, _>("secret")?),
            delivery,
        });
    }
    Ok(claimed)
}

/// Records `attempt` and the delivery it concluded, if the claim is still this
/// dispatcher's (the row is pending with the attempt count of the claim); whether it was.
pub async fn settle(
    tx: &mut Tx,
    delivery: &WebhookDelivery,
    attempt: &Attempt,
    now: i64,
) -> Result<bool, platform::db::Error> {
    let updated = platform::db::query(
        "UPDATE webhook_deliveries SET status = $1, next_attempt_at = $2, last_status_code = $3, \
         last_error = $4, delivered_at = $5, updated_at = $6 \
         WHERE id = $7 AND attempts = $8 AND status = 'pending'",
    )
    .bind(delivery.status.as_str())
    .bind(delivery.next_attempt_at)
    .bind(delivery.last_status_code.map(i64::from))
    .bind(&delivery.last_error)
    .bind(delivery.delivered_at)
    .bind(now)
    .bind(&delivery.id)
    .bind(i64::from(delivery.attempts))
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if updated != 1 {
        return Ok(false);
    }
    platform::db::query(
        "INSERT INTO webhook_attempts (delivery_id, attempt, at, status_code, error, duration_ms) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
    )
    .bind(&delivery.id)
    .bind(i64::from(attempt.attempt))
    .bind(attempt.at)
    .bind(attempt.status_code.map(i64::from))
    .bind(&attempt.error)
    .bind(attempt.duration_ms)
    .execute(&mut **tx)
    .await?;
    Ok(true)
}

/// An endpoint's deliveries, newest first, before id `before`, optionally of one status.
pub async fn deliveries(
    reader: &Reader,
    endpoint_id: &str,
    status: Option<DeliveryStatus>,
    before: Option<&str>,
    limit: i64,
) -> Result<Vec<WebhookDelivery>, platform::db::Error> {
    let rows = platform::db::query(&format!(
        "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE endpoint_id = $1 \
         AND ($2 = '' OR status = $2) AND id < $3 ORDER BY id DESC LIMIT $4"
    ))
    .bind(endpoint_id)
    .bind(status.map_or("", DeliveryStatus::as_str))
    .bind(before.unwrap_or("~"))
    .bind(limit)
    .fetch_all(reader)
    .await?;
    rows.iter().map(delivery_from).collect()
}

/// One of an endpoint's deliveries with its attempts, oldest first.
pub async fn delivery(
    reader: &Reader,
    endpoint_id: &str,
    id: &str,
) -> Result<Option<(WebhookDelivery, Vec<Attempt>)>, platform::db::Error> {
    let Some(row) = platform::db::query(&format!(
        "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE id = $1 AND endpoint_id = $2"
    ))
    .bind(id)
    .bind(endpoint_id)
    .fetch_optional(reader)
    .await?
    else {
        return Ok(None);
    };
    let attempts = platform::db::query(
        "SELECT attempt, at, status_code, error, duration_ms FROM webhook_attempts \
         WHERE delivery_id = $1 ORDER BY attempt",
    )
    .bind(id)
    .fetch_all(reader)
    .await?
    .iter()
    .map(attempt_from)
    .collect::<Result<Vec<_>, _>>()?;
    Ok(Some((delivery_from(&row)?, attempts)))
}

/// Deletes up to `limit` delivered or failed deliveries last changed before `before`
/// (epoch ms), with their attempts; how many. Pending ones stay, whatever their age.
pub async fn delete_settled_deliveries(
    tx: &mut Tx,
    dialect: Dialect,
    before: i64,
    limit: i64,
) -> Result<u64, platform::db::Error> {
    let ids: Vec<String> = platform::db::query_scalar(&format!(
        "SELECT id FROM webhook_deliveries WHERE status <> 'pending' AND updated_at < $1 \
         LIMIT $2{}",
        dialect.row_lock_skip_locked()
    ))
    .bind(before)
    .bind(limit)
    .fetch_all(&mut **tx)
    .await?;
    if ids.is_empty() {
        return Ok(0);
    }
    let list = in_list(1, ids.len());
    // Attempts first: they belong to their delivery.
    for table in [
        "webhook_attempts WHERE delivery_id",
        "webhook_deliveries WHERE id",
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

/// Makes a delivered or failed delivery due again at `now` (an operator's resend);
/// whether it was one. A pending one is left alone: it is already on its way.
pub async fn requeue(
    tx: &mut Tx,
    endpoint_id: &str,
    id: &str,
    now: i64,
) -> Result<bool, platform::db::Error> {
    let updated = platform::db::query(
        "UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = $3, updated_at = $3 \
         WHERE id = $1 AND endpoint_id = $2 AND status <> 'pending'",
    )
    .bind(id)
    .bind(endpoint_id)
    .bind(now)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(updated == 1)
}
