//! Notifications' rules, free of I/O: channels and categories, the [`Message`]
//! aggregate and its delivery state machine, the files an email carries, templates,
//! recipients (users, or bare addresses) and their preferences, the retry schedule, the
//! [`Courier`] role the channel adapters play, and merchants' outbound webhooks
//! (`webhook`: endpoints, deliveries, their signature and retry schedule).
//!
//! Nothing here knows SQL, HTTP or the bus: `store` turns rows into these types (and
//! refuses rows it cannot read), `app` composes messages from them, and the sender
//! moves a message through its transitions.

mod attachment;
mod delivery;
mod message;
mod recipient;
mod template;
mod webhook;

pub use attachment::{Attachment, MAX_ATTACHMENT_BYTES, OCTET_STREAM};
pub use delivery::{AfterFailure, Courier, DeliveryError, Outgoing, RetrySchedule};
pub use message::{
    Composed, Content, Delivery, IllegalTransition, Message, Origin, Status, Transition, Transport,
};
pub use recipient::{
    ADDRESS_PREFIX, ChannelPreference, OrderOwner, Recipient, allows, contact_address, is_user_id,
    transactional_setting,
};
pub use template::{Template, TemplateId, TemplateText};
pub use webhook::{
    Attempt, DeliveryStatus, EVENT_SOURCES, Endpoint, EndpointSettings, MAX_DESCRIPTION_CHARS,
    MAX_EVENT_TYPES, MAX_URL_CHARS, WebhookDelivery, WebhookRetry, is_subscribable, new_secret,
    payload, sign, subscribable,
};

/// Why an input was refused; the message names the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub &'static str);

/// Where a message goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Channel {
    /// An email, over SMTP (or into the local outbox).
    Email,
    /// A text message, through the SMS provider's webhook.
    Sms,
    /// A push notification, through the push provider's webhook.
    Push,
}

impl Channel {
    /// Every channel, in the order messages fan out.
    pub const ALL: [Channel; 3] = [Channel::Email, Channel::Sms, Channel::Push];

    /// Stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::Sms => "sms",
            Self::Push => "push",
        }
    }

    /// Parses a stored or wire name.
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == raw)
    }

    /// Whether its messages carry a subject line (emails must; push may use it as the
    /// title; text messages have none).
    pub fn needs_subject(self) -> bool {
        self == Self::Email
    }
}

/// What kind of message, which decides whether a recipient may switch it off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Category {
    /// About the recipient's own account, orders and shipments; always delivered.
    Transactional,
    /// Promotions and news; delivered unless the recipient opted out.
    Marketing,
}

impl Category {
    /// Stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Transactional => "transactional",
            Self::Marketing => "marketing",
        }
    }

    /// Parses a stored or wire name.
    pub fn parse(raw: &str) -> Option<Self> {
        [Self::Transactional, Self::Marketing]
            .into_iter()
            .find(|c| c.as_str() == raw)
    }
}

/// An amount in minor units as people read it: `12.34 USD`, `1200 JPY`, `-0.05 EUR`,
/// `1.234 KWD`, with as many decimals as the currency's minor unit has (ISO 4217; two
/// for a code the platform does not know, the common case).
pub fn format_money(amount: i64, currency: &str) -> String {
    let exponent = contracts::types::minor_unit_exponent(currency).unwrap_or(2);
    if exponent == 0 {
        return format!("{amount} {currency}");
    }
    let sign = if amount < 0 { "-" } else { "" };
    let abs = amount.unsigned_abs();
    let scale = 10u64.pow(exponent);
    let width = exponent as usize;
    format!("{sign}{}.{:0width$} {currency}", abs / scale, abs % scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for channel in Channel::ALL {
            assert_eq!(Channel::parse(channel.as_str()), Some(channel));
        }
        assert_eq!(Channel::parse("fax"), None);
        assert_eq!(Category::parse("marketing"), Some(Category::Marketing));
        assert_eq!(Category::parse("spam"), None);
    }

    #[test]
    fn money_reads_in_major_units() {
        let cases = [
            (1234, "USD", "12.34 USD"),
            (5, "EUR", "0.05 EUR"),
            (-5, "EUR", "-0.05 EUR"),
            (1200, "JPY", "1200 JPY"),
            (0, "GBP", "0.00 GBP"),
            (1234, "KWD", "1.234 KWD"),
            (-5, "BHD", "-0.005 BHD"),
            (1234, "XYZ", "12.34 XYZ"),
        ];
        for (amount, currency, want) in cases {
            assert_eq!(format_money(amount, currency), want);
        }
    }
}
