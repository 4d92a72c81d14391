//! The CloudEvents 1.0 envelope (JSON structured mode) every event travels in.

use contracts::Event;
use serde::{Deserialize, Serialize};

use crate::service::kind::ServiceKind;

/// A CloudEvents 1.0 event with the `traceparent` extension.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// Always `1.0`.
    pub specversion: String,
    /// Unique event id (UUIDv7); also the NATS `Nats-Msg-Id` and the inbox key.
    pub id: String,
    /// The producing service, e.g. `/viscount/identity`.
    pub source: String,
    /// `<service>.<aggregate>.<event>.v<N>`.
    #[serde(rename = "type")]
    pub event_type: String,
    /// The aggregate id.
    pub subject: String,
    /// RFC 3339 time of the change.
    pub time: String,
    /// Always `application/json`.
    pub datacontenttype: String,
    /// W3C trace context of the work that caused the event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
    /// The payload, one of the `contracts` types.
    pub data: serde_json::Value,
}

impl Envelope {
    /// Wraps `event`, produced by `source`, in the current trace context.
    pub fn new<E: Event>(source: ServiceKind, event: &E) -> Result<Self, serde_json::Error> {
        Ok(Self {
            specversion: "1.0".into(),
            id: crate::ids::new_id(),
            source: format!("/viscount/{source}"),
            event_type: E::TYPE.into(),
            subject: event.subject(),
            time: crate::time::rfc3339(crate::time::now_millis()),
            datacontenttype: "application/json".into(),
            traceparent: Some(crate::telemetry::current_traceparent()),
            data: serde_json::to_value(event)?,
        })
    }

    /// Whether this envelope carries an `E`.
    pub fn is<E: Event>(&self) -> bool {
        self.event_type == E::TYPE
    }

    /// The payload as an `E`.
    pub fn decode<E: Event>(&self) -> Result<E, serde_json::Error> {
        E::deserialize(&self.data)
    }

    /// The NATS subject: `viscount.<service>.<aggregate>.<event>` (the type without its
    /// version), behind an optional namespace.
    pub fn nats_subject(&self, namespace: &str) -> String {
        nats_subject(&self.event_type, namespace)
    }
}

/// The NATS subject of events of `event_type` (see [`Envelope::nats_subject`]).
pub(crate) fn nats_subject(event_type: &str, namespace: &str) -> String {
    let unversioned = match event_type.rsplit_once('.') {
        Some((head, version)) if version.starts_with('v') => head,
        _ => event_type,
    };
    format!("{namespace}viscount.{unversioned}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use contracts::identity::UserDeleted;

    #[test]
    fn envelope_is_cloudevents_json_and_decodes_back() {
        let event = UserDeleted {
            user_id: "u1".into(),
        };
        let envelope = Envelope::new(ServiceKind::Identity, &event).expect("envelope");
        let json = serde_json::to_value(&envelope).expect("json");
        assert_eq!(json["specversion"], "1.0");
        assert_eq!(json["type"], "identity.user.deleted.v1");
        assert_eq!(json["source"], "/viscount/identity");
        assert_eq!(json["subject"], "u1");
        assert!(
            json["traceparent"]
                .as_str()
                .is_some_and(|t| t.starts_with("00-"))
        );
        assert!(envelope.is::<UserDeleted>());
        assert_eq!(envelope.decode::<UserDeleted>().expect("decode"), event);
        assert_eq!(envelope.nats_subject(""), "viscount.identity.user.deleted");
    }
}
