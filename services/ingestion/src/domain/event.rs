//! What ingestion stores: attribution events (normalized, classified, never changed),
//! dead events (signed deliveries that could not be normalized, kept stripped until a
//! replay stores them) and touchpoints (customers' visits).

use contracts::ingestion::{Channel, ChannelFields, EventReceived, Provider, TouchpointRecorded};

use super::Topic;
use super::normalize::Normalized;
use super::own::OwnTopic;
use super::payload::StrippedPayload;

/// Where an attribution event came from: a provider's webhook, or one of Viscount's own
/// events (the built-in tenant's, from the bus).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Origin {
    /// A webhook of this topic.
    Webhook(Topic),
    /// Viscount's own event of this type.
    Own(OwnTopic),
}

impl Origin {
    /// The provider it came from.
    pub fn provider(self) -> Provider {
        match self {
            Origin::Webhook(topic) => topic.provider(),
            Origin::Own(_) => Provider::Viscount,
        }
    }

    /// The provider's name of what it delivered (the event's `topic`): a webhook's
    /// topic as the provider names it, or the CloudEvents type of an own event.
    pub fn provider_name(self) -> &'static str {
        match self {
            Origin::Webhook(topic) => topic.provider_name(),
            Origin::Own(own) => own.event_type(),
        }
    }

    /// The stored name, `{provider}:{webhook path}` or `viscount:{event type}`.
    pub fn as_str(self) -> String {
        match self {
            Origin::Webhook(topic) => topic.as_str(),
            Origin::Own(own) => format!("{}:{}", Provider::Viscount.as_str(), own.event_type()),
        }
    }

    /// The origin stored as `name` ([`Origin::as_str`]).
    pub fn from_stored(name: &str) -> Option<Self> {
        match name.split_once(':') {
            Some((provider, event_type)) if provider == Provider::Viscount.as_str() => {
                OwnTopic::parse(event_type).map(Origin::Own)
            }
            _ => Topic::from_stored(name).map(Origin::Webhook),
        }
    }
}

/// A stored attribution event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttributionEvent {
    /// Id (time-ordered, so lists page by it).
    pub id: String,
    /// The tenant.
    pub tenant_id: String,
    /// Where it came from.
    pub origin: Origin,
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
        self.origin.provider()
    }

    /// The event analytics consumes.
    pub fn to_contract(&self) -> EventReceived {
        let n = &self.normalized;
        EventReceived {
            id: self.id.clone(),
            tenant_id: self.tenant_id.clone(),
            provider: self.provider(),
            provider_event_id: n.provider_event_id.clone(),
            topic: self.origin.provider_name().to_owned(),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_origin_round_trips_through_its_stored_name() {
        let origins = Topic::ALL
            .into_iter()
            .map(Origin::Webhook)
            .chain(OwnTopic::ALL.into_iter().map(Origin::Own));
        for origin in origins {
            assert_eq!(Origin::from_stored(&origin.as_str()), Some(origin));
        }
        let own = Origin::Own(OwnTopic::OrderConfirmed);
        assert_eq!(own.as_str(), "viscount:ordering.order.confirmed.v1");
        assert_eq!(own.provider(), Provider::Viscount);
        assert_eq!(own.provider_name(), "ordering.order.confirmed.v1");
        assert_eq!(Origin::from_stored("viscount:orders/create"), None);
        assert_eq!(
            Origin::from_stored("shopify:ordering.order.confirmed.v1"),
            None
        );
    }
}
