//! The registry's instances (`instances`).

use platform::db::{Error, Executor, Row, Tx, named, query};
use platform::service::ServiceKind;

use crate::domain::{Expiry, HealthStatus, Instance, Registration};

const COLUMNS: &str = "service, instance_id, address, version, ttl_seconds, status, last_seen, \
                       expires_at, last_checked";

fn instance_from(row: &Row) -> Result<Instance, Error> {
    let service: String = row.try_get("service")?;
    let status: String = row.try_get("status")?;
    Ok(Instance {
        service: named("service", &service, |s| s.parse().ok())?,
        instance_id: row.try_get("instance_id")?,
        address: row.try_get("address")?,
        version: row.try_get("version")?,
        ttl_seconds: row.try_get("ttl_seconds")?,
        status: named("status", &status, HealthStatus::parse)?,
        last_seen: row.try_get("last_seen")?,
        expires_at: row.try_get("expires_at")?,
        last_checked: row.try_get("last_checked")?,
    })
}

fn instances_from(rows: &[Row]) -> Result<Vec<Instance>, Error> {
    rows.iter().map(instance_from).collect()
}

/// Inserts the instance of `registration` unless it is registered already; whether it
/// was new. Of two concurrent first registrations, exactly one inserts.
pub async fn insert_new(tx: &mut Tx, registration: &Registration, now: i64) -> Result<bool, Error> {
    let done = query(
        "INSERT INTO instances (service, instance_id, address, version, ttl_seconds, status, \
         registered_at, last_seen, expires_at) \
         VALUES ($1, $2, $3, $4, $5, 'unknown', $6, $6, $7) \
         ON CONFLICT (service, instance_id) DO NOTHING",
    )
    .bind(registration.service.as_str())
    .bind(registration.instance_id.as_str())
    .bind(registration.address.as_str())
    .bind(registration.version.as_str())
    .bind(registration.ttl.seconds())
    .bind(now)
    .bind(registration.ttl.expires_at(now))
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// A heartbeat: the registered instance's address, version and TTL as given, last seen
/// now. A new address is polled afresh, so its health is unknown until then.
pub async fn heartbeat(tx: &mut Tx, registration: &Registration, now: i64) -> Result<bool, Error> {
    let done = query(
        "UPDATE instances SET version = $3, ttl_seconds = $4, last_seen = $5, expires_at = $6, \
         status = CASE WHEN address = $7 THEN status ELSE 'unknown' END, \
         last_checked = CASE WHEN address = $7 THEN last_checked ELSE NULL END, \
         address = $7 \
         WHERE service = $1 AND instance_id = $2",
    )
    .bind(registration.service.as_str())
    .bind(registration.instance_id.as_str())
    .bind(registration.version.as_str())
    .bind(registration.ttl.seconds())
    .bind(now)
    .bind(registration.ttl.expires_at(now))
    .bind(registration.address.as_str())
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// One instance.
pub async fn get<'e>(
    ex: impl Executor<'e>,
    service: ServiceKind,
    instance_id: &str,
) -> Result<Option<Instance>, Error> {
    query(&format!(
        "SELECT {COLUMNS} FROM instances WHERE service = $1 AND instance_id = $2"
    ))
    .bind(service.as_str())
    .bind(instance_id)
    .fetch_optional(ex)
    .await?
    .as_ref()
    .map(instance_from)
    .transpose()
}

/// Every instance, or those of one service, by service and id.
pub async fn list<'e>(
    ex: impl Executor<'e>,
    service: Option<ServiceKind>,
) -> Result<Vec<Instance>, Error> {
    let rows = match service {
        Some(service) => {
            query(&format!(
                "SELECT {COLUMNS} FROM instances WHERE service = $1 ORDER BY instance_id"
            ))
            .bind(service.as_str())
            .fetch_all(ex)
            .await?
        }
        None => {
            query(&format!(
                "SELECT {COLUMNS} FROM instances ORDER BY service, instance_id"
            ))
            .fetch_all(ex)
            .await?
        }
    };
    instances_from(&rows)
}

/// Deletes one instance; what was deleted, if it was there.
pub async fn delete(
    tx: &mut Tx,
    service: ServiceKind,
    instance_id: &str,
) -> Result<Option<Instance>, Error> {
    query(&format!(
        "DELETE FROM instances WHERE service = $1 AND instance_id = $2 RETURNING {COLUMNS}"
    ))
    .bind(service.as_str())
    .bind(instance_id)
    .fetch_optional(&mut **tx)
    .await?
    .as_ref()
    .map(instance_from)
    .transpose()
}

/// Whether any instance is gone by `expiry`'s rule.
pub async fn any_expired<'e>(ex: impl Executor<'e>, expiry: Expiry) -> Result<bool, Error> {
    let due: Option<i64> = platform::db::query_scalar(
        "SELECT 1 FROM instances WHERE expires_at < $1 AND ttl_seconds * 1000 < $2 LIMIT 1",
    )
    .bind(expiry.now)
    .bind(expiry.uptime_ms())
    .fetch_optional(ex)
    .await?;
    Ok(due.is_some())
}

/// Deletes up to `limit` instances that are gone by `expiry`'s rule and returns them.
/// The rule is [`Expiry::has_expired`] in SQL: the TTL has passed since the last
/// heartbeat (`expires_at < now`) and since the registry started (`ttl < uptime`).
/// It is checked again by the delete itself, so an instance that heartbeats first
/// stays, and of two sweepers only one deletes (and announces) each row.
pub async fn delete_expired(
    tx: &mut Tx,
    expiry: Expiry,
    limit: i64,
) -> Result<Vec<Instance>, Error> {
    let rows = query(&format!(
        "DELETE FROM instances WHERE expires_at < $1 AND ttl_seconds * 1000 < $2 \
         AND (service, instance_id) IN \
         (SELECT service, instance_id FROM instances \
          WHERE expires_at < $1 AND ttl_seconds * 1000 < $2 \
          ORDER BY expires_at LIMIT $3) \
         RETURNING {COLUMNS}"
    ))
    .bind(expiry.now)
    .bind(expiry.uptime_ms())
    .bind(limit)
    .fetch_all(&mut **tx)
    .await?;
    instances_from(&rows)
}

/// Records a poll of an instance: its status moves from `from` to `to` only if it still
/// is `from` (whether it moved), and the poll time is kept either way.
pub async fn record_health(
    tx: &mut Tx,
    instance: &Instance,
    to: HealthStatus,
    now: i64,
) -> Result<bool, Error> {
    let done = query(
        "UPDATE instances SET status = $4, last_checked = $5 \
         WHERE service = $1 AND instance_id = $2 AND address = $3 AND status = $6",
    )
    .bind(instance.service.as_str())
    .bind(&instance.instance_id)
    .bind(&instance.address)
    .bind(to.as_str())
    .bind(now)
    .bind(instance.status.as_str())
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}
