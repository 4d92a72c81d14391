//! Attribution events: written once (a repeated provider event writes nothing: the
//! table is unique by tenant, provider and provider event id), never changed (triggers
//! refuse updates and deletes), listed by id.

use contracts::Money;
use contracts::ingestion::{Channel, ChannelFields, EventKind, LineItem, Provider};
use platform::db::{Executor, Row, Tx};

use super::guard::{self, Cell, StoreError};
use crate::domain::event::{AttributionEvent, Origin};
use crate::domain::normalize::Normalized;

/// Stores `event`; `false` when the tenant already has that provider event.
pub async fn insert_event(tx: &mut Tx, event: &AttributionEvent) -> Result<bool, StoreError> {
    let n = &event.normalized;
    let line_items = serde_json::to_string(&n.line_items)
        .map_err(|err| platform::db::Error::Encode(Box::new(err)))?;
    let topic = event.origin.as_str();
    let fields = &n.channel_fields;
    guard::insert(
        tx,
        "attribution_events",
        &[
            ("id", Cell::Text(&event.id)),
            ("tenant_id", Cell::Text(&event.tenant_id)),
            ("provider", Cell::Text(event.provider().as_str())),
            ("provider_event_id", Cell::Text(&n.provider_event_id)),
            ("topic", Cell::Text(&topic)),
            ("kind", Cell::Text(n.kind.as_str())),
            ("external_id", Cell::Text(&n.external_id)),
            ("order_ref", Cell::MaybeText(n.order_ref.as_deref())),
            ("amount", Cell::Int(n.amount.amount)),
            ("currency", Cell::Text(&n.amount.currency)),
            ("line_items", Cell::Text(&line_items)),
            ("occurred_at", Cell::Int(n.occurred_at_ms)),
            ("utm_source", Cell::MaybeText(fields.utm_source.as_deref())),
            ("utm_medium", Cell::MaybeText(fields.utm_medium.as_deref())),
            (
                "utm_campaign",
                Cell::MaybeText(fields.utm_campaign.as_deref()),
            ),
            (
                "referring_site",
                Cell::MaybeText(fields.referring_site.as_deref()),
            ),
            (
                "source_name",
                Cell::MaybeText(fields.source_name.as_deref()),
            ),
            ("channel", Cell::Text(event.channel.as_str())),
            ("customer_ref", Cell::MaybeText(n.customer_ref.as_deref())),
            ("received_at", Cell::Int(event.received_at)),
        ],
        "ON CONFLICT (tenant_id, provider, provider_event_id) DO NOTHING",
    )
    .await
}

/// The id of the tenant's stored event for a provider event, if there is one.
pub async fn event_id_for<'e>(
    ex: impl Executor<'e>,
    tenant_id: &str,
    provider: Provider,
    provider_event_id: &str,
) -> Result<Option<String>, platform::db::Error> {
    platform::db::query_scalar(
        "SELECT id FROM attribution_events \
         WHERE tenant_id = $1 AND provider = $2 AND provider_event_id = $3",
    )
    .bind(tenant_id)
    .bind(provider.as_str())
    .bind(provider_event_id)
    .fetch_optional(ex)
    .await
}

/// Events by id after `after`, of one tenant or (`None`) of all.
pub async fn list_events<'e>(
    ex: impl Executor<'e>,
    tenant_id: Option<&str>,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<AttributionEvent>, platform::db::Error> {
    let rows = super::page_by_tenant(ex, SELECT_EVENT, tenant_id, after, limit).await?;
    rows.iter().map(event_from).collect()
}

const SELECT_EVENT: &str = "SELECT id, tenant_id, provider_event_id, topic, kind, external_id, \
     order_ref, amount, currency, line_items, occurred_at, utm_source, utm_medium, \
     utm_campaign, referring_site, source_name, channel, customer_ref, received_at \
     FROM attribution_events";

fn event_from(row: &Row) -> Result<AttributionEvent, platform::db::Error> {
    let topic: String = row.try_get("topic")?;
    let kind: String = row.try_get("kind")?;
    let channel: String = row.try_get("channel")?;
    let line_items: String = row.try_get("line_items")?;
    let line_items: Vec<LineItem> =
        platform::db::decoded("line_items", serde_json::from_str(&line_items))?;
    Ok(AttributionEvent {
        id: row.try_get("id")?,
        tenant_id: row.try_get("tenant_id")?,
        origin: platform::db::named("topic", &topic, Origin::from_stored)?,
        normalized: Normalized {
            provider_event_id: row.try_get("provider_event_id")?,
            kind: platform::db::named("kind", &kind, EventKind::parse)?,
            external_id: row.try_get("external_id")?,
            order_ref: row.try_get("order_ref")?,
            amount: Money {
                amount: row.try_get("amount")?,
                currency: row.try_get("currency")?,
            },
            line_items,
            occurred_at_ms: row.try_get("occurred_at")?,
            channel_fields: ChannelFields {
                utm_source: row.try_get("utm_source")?,
                utm_medium: row.try_get("utm_medium")?,
                utm_campaign: row.try_get("utm_campaign")?,
                referring_site: row.try_get("referring_site")?,
                source_name: row.try_get("source_name")?,
            },
            customer_ref: row.try_get("customer_ref")?,
        },
        channel: platform::db::named("channel", &channel, Channel::parse)?,
        received_at: row.try_get("received_at")?,
    })
}
