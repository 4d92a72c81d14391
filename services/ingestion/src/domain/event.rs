//! What ingestion stores: attribution events (normalized, classified, never changed),
//! dead events (signed deliveries that could not be normalized, kept stripped until a
//! replay stores them) and touchpoints (customers' visits).

use contracts::ingestion::{Channel, ChannelFields, EventReceived, Provider, TouchpointRecorded};

use super::Topic;
use super::normalize::Normalized;
use super::payload::StrippedPayload;

/// A stored attribution event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttributionEvent {
    /// Id (time-ordered, so lists page by it).
    pub id: String,
    /// The tenant.
    pub tenant_id: String,
    /// The webhook topic it came by.
    pub topic: Topic,
    /// What it says.
    pub normalized: Normalized,
    /// The channel the tenant's taxonomy gave it.
    pub channel: Channel,
    /// When it was stored, epoch ms.
    pub received_at: i64,
}

impl AttributionEvent {
    /// The provider it came from.
    pub fn provider(&self) -> Provider {
        self.topic.provider()
    }

    /// The event analytics consumes.
    pub fn to_contract(&self) -> EventReceived {
        let n = &self.normalized;
        EventReceived {
            id: self.id.clone(),
            tenant_id: self.tenant_id.clone(),
            provider: self.provider(),
            provider_event_id: n.provider_event_id.clone(),
            topic: self.topic.provider_name().to_owned(),
            kind: n.kind,
            external_id: n.external_id.clone(),
            order_ref: n.order_ref.clone(),
            amount: n.amount.clone(),
            line_items: n.line_items.clone(),
            occurred_at: platform::time::rfc3339(n.occurred_at_ms),
            channel_fields: n.channel_fields.clone(),
            channel: self.channel,
            customer_ref: n.customer_ref.clone(),
            received_at: platform::time::rfc3339(self.received_at),
        }
    }
}

/// A signed delivery that could not be normalized.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadEvent {
    /// Id.
    pub id: String,
    /// The tenant.
    pub tenant_id: String,
    /// The topic it came by.
    pub topic: Topic,
    /// The provider's id of the delivery or event.
    pub provider_event_id: String,
    /// The stripped payload; `None` when the body was not readable JSON (nothing of it
    /// could be kept safely).
    pub payload: Option<serde_json::Value>,
    /// Why it could not be normalized (names fields, never quotes values).
    pub reason: String,
    /// How many times it was delivered.
    pub deliveries: i64,
    /// First received, epoch ms.
    pub received_at: i64,
    /// When a replay or a later delivery stored it, and the event it became.
    pub resolution: Option<Resolution>,
}

/// How a dead event was resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolution {
    /// When, epoch ms.
    pub at: i64,
    /// The attribution event it became.
    pub event_id: String,
}

impl DeadEvent {
    /// The stripped payload to normalize again, if one was kept.
    pub fn replayable(&self) -> Option<StrippedPayload> {
        Some(StrippedPayload {
            topic: self.topic,
            event_id: self.provider_event_id.clone(),
            body: self.payload.clone()?,
        })
    }
}

/// A customer's visit, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Touchpoint {
    /// Id.
    pub id: String,
    /// The tenant.
    pub tenant_id: String,
    /// The keyed hash of the customer's email or the shop's customer id.
    pub customer_ref: String,
    /// When the visit happened, epoch ms.
    pub occurred_at: i64,
    /// Where it came from.
    pub channel_fields: ChannelFields,
    /// Its channel.
    pub channel: Channel,
    /// When it was stored, epoch ms.
    pub received_at: i64,
}

impl Touchpoint {
    /// The event analytics consumes.
    pub fn to_contract(&self) -> TouchpointRecorded {
        TouchpointRecorded {
            id: self.id.clone(),
            tenant_id: self.tenant_id.clone(),
            customer_ref: self.customer_ref.clone(),
            occurred_at: platform::time::rfc3339(self.occurred_at),
            channel_fields: self.channel_fields.clone(),
            channel: self.channel,
        }
    }
}
