//! Merchants' outbound webhooks, as the Standard Webhooks specification has them: an
//! [`Endpoint`] (a URL, the event types it subscribed to, its signing secret), each
//! event it is sent as a [`WebhookDelivery`] with its [`Attempt`]s, when a failed attempt
//! is tried again ([`WebhookRetry`]), and the signature every attempt carries
//! ([`sign`], through the specification's own `standardwebhooks` crate).
//!
//! Which events can be subscribed to is [`subscribable`]: every payload type of the
//! services whose streams notifications reads for merchants ([`EVENT_SOURCES`]), taken
//! from the contracts' schema registry, so a new event type is offered by construction.

use std::time::Duration;

use platform::config::Secret;
use platform::service::ServiceKind;
use serde_json::Value;

use super::Invalid;

/// The services whose events a merchant can subscribe to: the shop's business, not the
/// platform's own plumbing (coordination) or notifications' echo of itself.
pub const EVENT_SOURCES: [ServiceKind; 9] = [
    ServiceKind::Identity,
    ServiceKind::Ordering,
    ServiceKind::Payments,
    ServiceKind::Fulfillment,
    ServiceKind::Inventory,
    ServiceKind::Catalog,
    ServiceKind::Ingestion,
    ServiceKind::Analytics,
    ServiceKind::Support,
];

/// Prefix of a signing secret (the specification's convention).
pub const SECRET_PREFIX: &str = "whsec_";

/// Longest endpoint URL accepted.
pub const MAX_URL_CHARS: usize = 2_000;

/// Longest description accepted.
pub const MAX_DESCRIPTION_CHARS: usize = 500;

/// Most event types one endpoint may subscribe to (every type there is fits).
pub const MAX_EVENT_TYPES: usize = 100;

/// Every event type a merchant can subscribe to, sorted.
pub fn subscribable() -> Vec<&'static str> {
    let mut types: Vec<&'static str> = contracts::schema::registry()
        .into_iter()
        .map(|schema| schema.event_type)
        .filter(|event_type| is_subscribable(event_type))
        .collect();
    types.sort_unstable();
    types
}

/// Whether `event_type` comes from one of [`EVENT_SOURCES`].
pub fn is_subscribable(event_type: &str) -> bool {
    event_type.split_once('.').is_some_and(|(service, _)| {
        EVENT_SOURCES
            .iter()
            .any(|source| source.as_str() == service)
    })
}

/// A new signing secret: 32 random bytes, base64, behind [`SECRET_PREFIX`].
pub fn new_secret() -> Secret {
    Secret::from(format!(
        "{SECRET_PREFIX}{}",
        data_encoding::BASE64.encode(&platform::ids::random_bytes::<32>())
    ))
}

/// The `webhook-signature` of one attempt: `v1,<base64 HMAC-SHA256>` of
/// `<msg_id>.<timestamp>.<body>` under the secret's key.
pub fn sign(secret: &str, msg_id: &str, timestamp: i64, body: &str) -> Result<String, Invalid> {
    standardwebhooks::Webhook::new(secret)
        .and_then(|webhook| webhook.sign(msg_id, timestamp, body.as_bytes()))
        .map_err(|_| Invalid("the signing secret is not whsec_ followed by base64"))
}

/// The body every attempt of an event sends: the specification's `{type, timestamp,
/// data}` with the event's payload as `data`.
pub fn payload(event_type: &str, time: &str, data: &Value) -> String {
    serde_json::json!({ "type": event_type, "timestamp": time, "data": data }).to_string()
}

/// What an admin asks for when creating an endpoint, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointSettings {
    /// Where events are POSTed: an `http` or `https` URL.
    pub url: String,
    /// What the endpoint is for, for people.
    pub description: Option<String>,
    /// The subscribed event types: sorted, without repeats, at least one.
    pub event_types: Vec<String>,
    /// Whether events are sent to it.
    pub enabled: bool,
}

impl EndpointSettings {
    /// Checks the parts; an error names the field and the rule.
    pub fn new(
        url: &str,
        description: Option<String>,
        event_types: Vec<String>,
        enabled: bool,
    ) -> Result<Self, (&'static str, Invalid)> {
        Ok(Self {
            url: checked_url(url).map_err(|e| ("url", e))?,
            description: checked_description(description).map_err(|e| ("description", e))?,
            event_types: checked_event_types(event_types).map_err(|e| ("event_types", e))?,
            enabled,
        })
    }
}

/// Checks a URL as the API describes it (`http(s)://` and no white space, after
/// trimming; at most [`MAX_URL_CHARS`] as sent), then as a URL.
fn checked_url(raw: &str) -> Result<String, Invalid> {
    if raw.chars().count() > MAX_URL_CHARS {
        return Err(Invalid("must be at most 2000 characters"));
    }
    let url = raw.trim();
    let scheme_end = url.find("://").unwrap_or(0);
    if !matches!(
        url[..scheme_end].to_ascii_lowercase().as_str(),
        "http" | "https"
    ) {
        return Err(Invalid("must be an http or https URL"));
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(Invalid(
            "must not contain white space or control characters",
        ));
    }
    let parsed = url::Url::parse(url).map_err(|_| Invalid("must be an absolute URL"))?;
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(Invalid("must name a host"));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        // Credentials in a URL end up in every log and screen that shows it; the
        // signature is how the receiver knows the sender.
        return Err(Invalid("must not carry a user name or password"));
    }
    Ok(parsed.to_string())
}

/// Checks a description as the API describes it (at most [`MAX_DESCRIPTION_CHARS`] and
/// no control characters, as sent); blank is none.
fn checked_description(raw: Option<String>) -> Result<Option<String>, Invalid> {
    let Some(text) = raw else {
        return Ok(None);
    };
    if text.chars().count() > MAX_DESCRIPTION_CHARS {
        return Err(Invalid("must be at most 500 characters"));
    }
    if text.chars().any(char::is_control) {
        return Err(Invalid("must not contain control characters"));
    }
    let text = text.trim();
    Ok((!text.is_empty()).then(|| text.to_owned()))
}

fn checked_event_types(mut types: Vec<String>) -> Result<Vec<String>, Invalid> {
    if types.is_empty() {
        return Err(Invalid(
            "must name at least one event type (GET /api/v1/admin/webhooks/event-types lists them)",
        ));
    }
    if types.len() > MAX_EVENT_TYPES {
        return Err(Invalid("must name at most 100 event types"));
    }
    let known = subscribable();
    if types.iter().any(|t| !known.contains(&t.as_str())) {
        return Err(Invalid(
            "names an unknown event type (GET /api/v1/admin/webhooks/event-types lists them)",
        ));
    }
    types.sort_unstable();
    types.dedup();
    Ok(types)
}

/// An endpoint a merchant registered.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// Its id (UUIDv7).
    pub id: String,
    /// Its URL, subscriptions and switch.
    pub settings: EndpointSettings,
    /// The signing secret (`whsec_…`); shown to the admin only when it is made, and
    /// never printed.
    pub secret: Secret,
    /// Epoch ms.
    pub created_at: i64,
    /// Epoch ms.
    pub updated_at: i64,
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryStatus {
    /// Waiting for its first or next attempt.
    Pending,
    /// The endpoint answered 2xx.
    Delivered,
    /// Every attempt failed.
    Failed,
}

impl DeliveryStatus {
    /// Every status.
    pub const ALL: [Self; 3] = [Self::Pending, Self::Delivered, Self::Failed];

    /// Stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
        }
    }

    /// Parses a stored or wire name.
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw)
    }
}

/// One event on its way to one endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookDelivery {
    /// Its id, sent as `webhook-id` (the same on every attempt, so the receiver can
    /// drop a repeat).
    pub id: String,
    /// The endpoint.
    pub endpoint_id: String,
    /// The event's id.
    pub event_id: String,
    /// The event's type.
    pub event_type: String,
    /// The body every attempt sends ([`payload`]).
    pub payload: String,
    /// Where it stands.
    pub status: DeliveryStatus,
    /// Attempts made (or under way).
    pub attempts: u32,
    /// When the next attempt is due (or the current claim lapses), epoch ms.
    pub next_attempt_at: i64,
    /// The last attempt's HTTP status, when the endpoint answered.
    pub last_status_code: Option<u16>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// Epoch ms.
    pub created_at: i64,
    /// When the endpoint answered 2xx, epoch ms.
    pub delivered_at: Option<i64>,
}

/// How one attempt went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// 1-based.
    pub attempt: u32,
    /// When it started, epoch ms.
    pub at: i64,
    /// The endpoint's HTTP status, when it answered.
    pub status_code: Option<u16>,
    /// Why it failed (an error status, a timeout, a refused connection); none when it
    /// succeeded.
    pub error: Option<String>,
    /// How long it took.
    pub duration_ms: i64,
}

impl Attempt {
    /// Whether the endpoint took the event (any 2xx).
    pub fn succeeded(&self) -> bool {
        self.error.is_none() && self.status_code.is_some_and(|s| (200..300).contains(&s))
    }
}

/// When failed attempts are tried again: after attempt `n` fails, the `n`th delay; once
/// they are used up the delivery has failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookRetry {
    /// The waits between attempts.
    pub delays: Vec<Duration>,
}

impl Default for WebhookRetry {
    /// The specification's example schedule: at once, then 5 s, 5 min, 30 min, 2 h, 5 h,
    /// 10 h and 10 h (8 attempts over about a day).
    fn default() -> Self {
        Self {
            delays: [5, 300, 1_800, 7_200, 18_000, 36_000, 36_000]
                .into_iter()
                .map(Duration::from_secs)
                .collect(),
        }
    }
}

impl WebhookRetry {
    /// The wait after failed attempt number `attempts` (1-based), or none when that was
    /// the last.
    pub fn after_failure(&self, attempts: u32) -> Option<Duration> {
        let index = usize::try_from(attempts.max(1) - 1).ok()?;
        self.delays.get(index).copied()
    }
}

impl WebhookDelivery {
    /// The delivery after `attempt` ended at `now` (epoch ms) under `retry`.
    pub fn conclude(&mut self, attempt: &Attempt, retry: &WebhookRetry, now: i64) {
        self.last_status_code = attempt.status_code;
        self.last_error = attempt.error.clone();
        if attempt.succeeded() {
            self.status = DeliveryStatus::Delivered;
            self.delivered_at = Some(now);
            return;
        }
        match retry.after_failure(self.attempts) {
            Some(delay) => {
                self.status = DeliveryStatus::Pending;
                self.next_attempt_at =
                    now.saturating_add(i64::try_from(delay.as_millis()).unwrap_or(i64::MAX / 2));
            }
            None => self.status = DeliveryStatus::Failed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The specification's published example (standard-webhooks `spec/standard-webhooks.md`
    /// and every reference library's test): this secret, id, timestamp and body sign to
    /// this value.
    #[test]
    fn signing_matches_the_specifications_test_vector() {
        let signature = sign(
            "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
            "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
            1_649_367_553,
            r#"{"email":"test@example.com","username":"test_user"}"#,
        );
        assert_eq!(
            signature.as_deref(),
            Ok("v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=")
        );
        assert!(sign("whsec_!!not base64!!", "msg", 1, "{}").is_err());
    }

    #[test]
    fn a_new_secret_signs_and_verifies() {
        use platform::config::ExposeSecret;
        let secret = new_secret().expose_secret().to_owned();
        assert!(secret.starts_with(SECRET_PREFIX));
        assert_ne!(secret, new_secret().expose_secret());
        let body = payload(
            "ordering.order.created.v1",
            "2026-12-05T10:00:00Z",
            &Value::Null,
        );
        let signature = sign(&secret, "msg_1", 1_700_000_000, &body).expect("sign");
        let verifier = standardwebhooks::Webhook::new(&secret).expect("secret");
        assert_eq!(
            verifier.sign("msg_1", 1_700_000_000, body.as_bytes()).ok(),
            Some(signature)
        );
    }

    #[test]
    fn business_events_are_subscribable_and_plumbing_is_not() {
        let types = subscribable();
        assert!(types.contains(&"ordering.order.created.v1"));
        assert!(types.contains(&"payments.payment.captured.v1"));
        assert!(!types.iter().any(|t| t.starts_with("coordination.")));
        assert!(!types.iter().any(|t| t.starts_with("notifications.")));
        assert!(types.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn settings_are_checked_field_by_field() {
        let ok = EndpointSettings::new(
            " https://shop.example/hooks ",
            Some("  ERP  ".into()),
            vec![
                "ordering.order.created.v1".into(),
                "ordering.order.created.v1".into(),
            ],
            true,
        )
        .expect("valid");
        assert_eq!(ok.url, "https://shop.example/hooks");
        assert_eq!(ok.description.as_deref(), Some("ERP"));
        assert_eq!(ok.event_types, ["ordering.order.created.v1"]);
        let field = |url: &str, types: Vec<String>| {
            EndpointSettings::new(url, None, types, true)
                .err()
                .map(|(field, _)| field)
        };
        let one = || vec!["ordering.order.created.v1".to_owned()];
        assert_eq!(field("ftp://shop.example", one()), Some("url"));
        assert_eq!(field("not a url", one()), Some("url"));
        assert_eq!(field("https://user:pw@shop.example", one()), Some("url"));
        assert_eq!(field("https://shop.example", vec![]), Some("event_types"));
        assert_eq!(
            field(
                "https://shop.example",
                vec!["coordination.config.updated.v1".into()]
            ),
            Some("event_types")
        );
    }

    #[test]
    fn failures_follow_the_schedule_then_fail() {
        let retry = WebhookRetry {
            delays: vec![Duration::from_secs(5), Duration::from_secs(300)],
        };
        let mut delivery = WebhookDelivery {
            id: "d".into(),
            endpoint_id: "e".into(),
            event_id: "ev".into(),
            event_type: "t".into(),
            payload: "{}".into(),
            status: DeliveryStatus::Pending,
            attempts: 1,
            next_attempt_at: 0,
            last_status_code: None,
            last_error: None,
            created_at: 0,
            delivered_at: None,
        };
        let failed = Attempt {
            attempt: 1,
            at: 0,
            status_code: Some(500),
            error: Some("answered 500".into()),
            duration_ms: 3,
        };
        delivery.conclude(&failed, &retry, 1_000);
        assert_eq!(delivery.status, DeliveryStatus::Pending);
        assert_eq!(delivery.next_attempt_at, 6_000);
        delivery.attempts = 2;
        delivery.conclude(&failed, &retry, 10_000);
        assert_eq!(delivery.next_attempt_at, 310_000);
        delivery.attempts = 3;
        delivery.conclude(&failed, &retry, 400_000);
        assert_eq!(delivery.status, DeliveryStatus::Failed);
        assert_eq!(delivery.last_status_code, Some(500));
        let ok = Attempt {
            status_code: Some(204),
            error: None,
            ..failed
        };
        delivery.conclude(&ok, &retry, 500_000);
        assert_eq!(delivery.status, DeliveryStatus::Delivered);
        assert_eq!(delivery.delivered_at, Some(500_000));
        assert_eq!(WebhookRetry::default().delays.len(), 7, "8 attempts in all");
    }
}
