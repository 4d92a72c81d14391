//! Dead events: kept stripped, one per provider event (a repeated delivery counts, it
//! does not add a row), resolved when a replay or a later delivery stores the event.

use contracts::ingestion::Provider;
use platform::db::{Executor, Row, Tx};

use super::guard::{self, Cell, StoreError};
use crate::domain::Topic;
use crate::domain::event::{DeadEvent, Resolution};

/// Stores `dead`, or counts one more delivery of a dead event already stored (keeping
/// the latest reason and payload, so a delivery after a code fix shows why it still
/// fails). Answers the stored dead event's id.
pub async fn upsert_dead_event(tx: &mut Tx, dead: &DeadEvent) -> Result<String, StoreError> {
    let payload = dead
        .payload
        .as_ref()
        .map(serde_json::to_string)
        .transpose()
        .map_err(|err| platform::db::Error::Encode(Box::new(err)))?;
    let topic = dead.topic.as_str();
    guard::insert(
        tx,
        "dead_events",
        &[
            ("id", Cell::Text(&dead.id)),
            ("tenant_id", Cell::Text(&dead.tenant_id)),
            ("provider", Cell::Text(dead.topic.provider().as_str())),
            ("provider_event_id", Cell::Text(&dead.provider_event_id)),
            ("topic", Cell::Text(&topic)),
            ("payload", Cell::MaybeText(payload.as_deref())),
            ("reason", Cell::Text(&dead.reason)),
            ("deliveries", Cell::Int(1)),
            ("received_at", Cell::Int(dead.received_at)),
        ],
        "ON CONFLICT (tenant_id, provider, provider_event_id) DO UPDATE SET \
         deliveries = dead_events.deliveries + 1, payload = excluded.payload, \
         reason = excluded.reason",
    )
    .await?;
    let id: String = platform::db::query_scalar(
        "SELECT id FROM dead_events WHERE tenant_id = $1 AND provider = $2 AND provider_event_id = $3",
    )
    .bind(&dead.tenant_id)
    .bind(dead.topic.provider().as_str())
    .bind(&dead.provider_event_id)
    .fetch_one(&mut **tx)
    .await?;
    Ok(id)
}

/// Marks the tenant's dead event for a provider event resolved by `event_id`, if there
/// is an unresolved one.
pub async fn resolve_dead_event(
    tx: &mut Tx,
    tenant_id: &str,
    provider: Provider,
    provider_event_id: &str,
    resolution: &Resolution,
) -> Result<(), platform::db::Error> {
    platform::db::query(
        "UPDATE dead_events SET resolved_at = $1, event_id = $2 \
         WHERE tenant_id = $3 AND provider = $4 AND provider_event_id = $5 AND resolved_at IS NULL",
    )
    .bind(resolution.at)
    .bind(&resolution.event_id)
    .bind(tenant_id)
    .bind(provider.as_str())
    .bind(provider_event_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// One dead event.
pub async fn dead_event<'e>(
    ex: impl Executor<'e>,
    id: &str,
) -> Result<Option<DeadEvent>, platform::db::Error> {
    platform::db::query(&format!("{SELECT_DEAD} WHERE id = $1"))
        .bind(id)
        .fetch_optional(ex)
        .await?
        .as_ref()
        .map(dead_from)
        .transpose()
}

/// Dead events by id after `after`, of one tenant or (`None`) of all.
pub async fn list_dead_events<'e>(
    ex: impl Executor<'e>,
    tenant_id: Option<&str>,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<DeadEvent>, platform::db::Error> {
    let rows = super::page_by_tenant(ex, SELECT_DEAD, tenant_id, after, limit).await?;
    rows.iter().map(dead_from).collect()
}

const SELECT_DEAD: &str = "SELECT id, tenant_id, provider_event_id, topic, payload, reason, \
     deliveries, received_at, resolved_at, event_id FROM dead_events";

fn dead_from(row: &Row) -> Result<DeadEvent, platform::db::Error> {
    let topic: String = row.try_get("topic")?;
    let payload: Option<String> = row.try_get("payload")?;
    let payload = payload
        .map(|text| platform::db::decoded("payload", serde_json::from_str(&text)))
        .transpose()?;
    let resolved_at: Option<i64> = row.try_get("resolved_at")?;
    let event_id: Option<String> = row.try_get("event_id")?;
    Ok(DeadEvent {
        id: row.try_get("id")?,
        tenant_id: row.try_get("tenant_id")?,
        topic: platform::db::named("topic", &topic, Topic::from_stored)?,
        provider_event_id: row.try_get("provider_event_id")?,
        payload,
        reason: row.try_get("reason")?,
        deliveries: row.try_get("deliveries")?,
        received_at: row.try_get("received_at")?,
        resolution: match (resolved_at, event_id) {
            (Some(at), Some(event_id)) => Some(Resolution { at, event_id }),
            _ => None,
        },
    })
}
