//! A touchpoint as a tenant sends it, checked field by field: the customer's email or
//! the shop's customer id (hashed on arrival with the tenant's key, exactly like an
//! order's email, so one customer's visits and orders meet), when, and where the visit
//! came from. Of a referrer only the host is kept, of a landing URL only its UTM
//! parameters.

use contracts::ingestion::ChannelFields;

use super::payload::{self, CustomerRefKey};
use super::pii;

/// Longest customer identifier accepted (an email address is at most 320).
pub const MAX_CUSTOMER_LEN: usize = 320;
/// Longest UTM value accepted.
pub const MAX_UTM_LEN: usize = 200;
/// Longest URL accepted.
pub const MAX_URL_LEN: usize = 2048;
/// How far in the future a visit may claim to be (clocks disagree a little).
pub const FUTURE_TOLERANCE_MS: i64 = 5 * 60 * 1000;

/// One item of a batch, as sent. Every field is read as optional so that
/// [`TouchpointInput::check`] names each missing or bad one; the schema says what is
/// required.
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TouchpointInput {
    /// The customer's email or the shop's own customer id (hashed on arrival).
    #[schema(value_type = String, required = true, min_length = 1, max_length = 320)]
    pub customer_ref: Option<String>,
    /// When the visit happened (RFC 3339), not in the future.
    #[schema(value_type = String, required = true, format = DateTime)]
    pub occurred_at: Option<String>,
    /// `utm_source`.
    #[schema(max_length = 200)]
    pub utm_source: Option<String>,
    /// `utm_medium`.
    #[schema(max_length = 200)]
    pub utm_medium: Option<String>,
    /// `utm_campaign`.
    #[schema(max_length = 200)]
    pub utm_campaign: Option<String>,
    /// The referring URL (only its host is kept).
    #[schema(max_length = 2048)]
    pub referrer: Option<String>,
    /// The URL the visit landed on (only its UTM parameters are kept).
    #[schema(max_length = 2048)]
    pub landing_url: Option<String>,
}

/// A checked touchpoint, ready to classify and store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedTouchpoint {
    /// The keyed hash of the customer's identifier.
    pub customer_ref: String,
    /// When, epoch ms.
    pub occurred_at: i64,
    /// Where from.
    pub channel_fields: ChannelFields,
}

impl TouchpointInput {
    /// Checks every field; the errors name each bad one (`customer_ref`,
    /// `utm_campaign`, ...) and never quote a value.
    pub fn check(
        self,
        key: &CustomerRefKey,
        now_ms: i64,
    ) -> Result<CheckedTouchpoint, Vec<(&'static str, String)>> {
        let mut errors = Vec::new();
        let customer = match self.customer_ref.as_deref().map(str::trim) {
            None | Some("") => {
                errors.push(("customer_ref", "is required".to_owned()));
                None
            }
            Some(text) if text.chars().count() > MAX_CUSTOMER_LEN => {
                errors.push(("customer_ref", "is too long".to_owned()));
                None
            }
            Some(text) if text.chars().any(char::is_control) => {
                errors.push((
                    "customer_ref",
                    "must not contain control characters".to_owned(),
                ));
                None
            }
            Some(text) => Some(key.customer_ref(text)),
        };
        let occurred_at = match self.occurred_at.as_deref() {
            None => {
                errors.push(("occurred_at", "is required".to_owned()));
                None
            }
            Some(text) => match platform::time::parse_rfc3339(text) {
                None => {
                    errors.push(("occurred_at", "must be an RFC 3339 date-time".to_owned()));
                    None
                }
                Some(at) if at > now_ms + FUTURE_TOLERANCE_MS => {
                    errors.push(("occurred_at", "must not be in the future".to_owned()));
                    None
                }
                Some(at) => Some(at),
            },
        };
        let mut utm = |field: &'static str, value: Option<String>| -> Option<String> {
            let value = value?.trim().to_owned();
            if value.is_empty() {
                return None;
            }
            if value.chars().count() > MAX_UTM_LEN {
                errors.push((field, "is too long".to_owned()));
            } else if value.chars().any(char::is_control) {
                errors.push((field, "must not contain control characters".to_owned()));
            } else if let Some(kind) = pii::find(&value) {
                errors.push((
                    field,
                    format!("must not hold personal data ({})", kind.as_str()),
                ));
            } else {
                return Some(value);
            }
            None
        };
        let explicit = ChannelFields {
            utm_source: utm("utm_source", self.utm_source),
            utm_medium: utm("utm_medium", self.utm_medium),
            utm_campaign: utm("utm_campaign", self.utm_campaign),
            referring_site: None,
            source_name: None,
        };
        let landing = match self.landing_url.as_deref() {
            None => ChannelFields::default(),
            Some(url) if url.len() > MAX_URL_LEN => {
                errors.push(("landing_url", "is too long".to_owned()));
                ChannelFields::default()
            }
            Some(url) => payload::landing_fields(url),
        };
        let referring_site = match self.referrer.as_deref() {
            None => None,
            Some(url) if url.len() > MAX_URL_LEN => {
                errors.push(("referrer", "is too long".to_owned()));
                None
            }
            Some(url) => payload::referring_host(url),
        };
        match (customer, occurred_at) {
            (Some(customer_ref), Some(occurred_at)) if errors.is_empty() => Ok(CheckedTouchpoint {
                customer_ref,
                occurred_at,
                channel_fields: ChannelFields {
                    utm_source: explicit.utm_source.or(landing.utm_source),
                    utm_medium: explicit.utm_medium.or(landing.utm_medium),
                    utm_campaign: explicit.utm_campaign.or(landing.utm_campaign),
                    referring_site,
                    source_name: None,
                },
            }),
            _ => Err(errors),
        }
    }
}
