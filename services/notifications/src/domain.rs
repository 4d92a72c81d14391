//! Notifications' rules, free of I/O: channels, categories and statuses, template ids,
//! contact addresses, the preference rule (transactional always, marketing by opt-out),
//! the retry schedule, and the [`Courier`] role the channel adapters play.

use std::time::Duration;

use async_trait::async_trait;

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

/// Where a notification is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Waiting for its (next) attempt, or being attempted.
    Queued,
    /// Accepted by its channel.
    Sent,
    /// Given up on; `last_error` says why.
    Failed,
    /// Not sent because the recipient opted out of its category on its channel.
    Suppressed,
    /// Not sent because the recipient's account was deleted first.
    Cancelled,
}

impl Status {
    /// Stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Sent => "sent",
            Self::Failed => "failed",
            Self::Suppressed => "suppressed",
            Self::Cancelled => "cancelled",
        }
    }

    /// Parses a stored or wire name.
    pub fn parse(raw: &str) -> Option<Self> {
        [
            Self::Queued,
            Self::Sent,
            Self::Failed,
            Self::Suppressed,
            Self::Cancelled,
        ]
        .into_iter()
        .find(|s| s.as_str() == raw)
    }
}

/// A template's id: `<key>.<channel>`, e.g. `order_confirmed.email`. The key names what
/// the message is about (an event's template key, or an admin's own, like `promotion`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateId {
    key: String,
    channel: Channel,
}

impl TryFrom<String> for TemplateId {
    type Error = Invalid;

    fn try_from(raw: String) -> Result<Self, Self::Error> {
        let Some((key, channel)) = raw.rsplit_once('.') else {
            return Err(Invalid(
                "must be <key>.<channel>, e.g. order_confirmed.email",
            ));
        };
        let channel =
            Channel::parse(channel).ok_or(Invalid("channel must be email, sms or push"))?;
        if key.is_empty()
            || key.len() > 64
            || !key
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            return Err(Invalid("key must be 1 to 64 of a-z 0-9 _"));
        }
        Ok(Self {
            key: key.to_owned(),
            channel,
        })
    }
}

impl TemplateId {
    /// The id for `key` on `channel` (keys from code are trusted).
    pub fn new(key: &str, channel: Channel) -> Self {
        Self {
            key: key.to_owned(),
            channel,
        }
    }

    /// What the message is about.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The channel.
    pub fn channel(&self) -> Channel {
        self.channel
    }
}

impl std::fmt::Display for TemplateId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.key, self.channel.as_str())
    }
}

/// A checked contact address for a channel whose address the user registers through
/// preferences (an email address comes from the account and is not set here).
pub fn contact_address(channel: Channel, raw: &str) -> Result<String, Invalid> {
    let raw = raw.trim();
    match channel {
        Channel::Email => Err(Invalid(
            "the email address is the account's; change it through the account",
        )),
        Channel::Sms => {
            // E.164: a plus and 8 to 15 digits, the first not zero.
            let digits = raw.strip_prefix('+').unwrap_or("");
            if (8..=15).contains(&digits.len())
                && digits.bytes().all(|b| b.is_ascii_digit())
                && !digits.starts_with('0')
            {
                Ok(raw.to_owned())
            } else {
                Err(Invalid("must be an E.164 phone number, e.g. +15551234567"))
            }
        }
        Channel::Push => {
            if !raw.is_empty() && raw.len() <= 4096 && raw.bytes().all(|b| b.is_ascii_graphic()) {
                Ok(raw.to_owned())
            } else {
                Err(Invalid(
                    "must be a device token of 1 to 4096 printable characters without spaces",
                ))
            }
        }
    }
}

/// One recipient's settings for one channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelPreference {
    /// Where messages on this channel go (for SMS and push; email uses the account's).
    pub address: Option<String>,
    /// Whether marketing messages are wanted.
    pub marketing: bool,
}

impl Default for ChannelPreference {
    /// Marketing is opt-out: on until the recipient switches it off.
    fn default() -> Self {
        Self {
            address: None,
            marketing: true,
        }
    }
}

/// Whether a message of `category` may go to a recipient with `preference` on its
/// channel. Transactional messages always may: they are about the recipient's own
/// orders and account, and the recipient cannot switch them off.
pub fn allows(category: Category, preference: &ChannelPreference) -> bool {
    match category {
        Category::Transactional => true,
        Category::Marketing => preference.marketing,
    }
}

/// Checks a requested `transactional` setting: only `true` is accepted.
pub fn transactional_setting(wanted: bool) -> Result<(), Invalid> {
    if wanted {
        Ok(())
    } else {
        Err(Invalid("transactional messages cannot be switched off"))
    }
}

/// How a failed attempt failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    /// Worth trying again (connection trouble, a 4xx SMTP reply, a 5xx or 429 from a
    /// webhook).
    #[error("{0}")]
    Transient(String),
    /// Trying again cannot help (a 5xx SMTP reply such as an unknown mailbox, a bad
    /// address, a 4xx from a webhook).
    #[error("{0}")]
    Permanent(String),
}

/// When failed attempts are tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetrySchedule {
    /// Attempts before a message is given up on (at least 1).
    pub max_attempts: u32,
    /// Delay after the first failed attempt; each later delay doubles.
    pub base_delay: Duration,
    /// Longest delay between attempts.
    pub max_delay: Duration,
}

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterFailure {
    /// Try again after this long.
    RetryIn(Duration),
    /// Mark the message failed.
    GiveUp,
}

impl RetrySchedule {
    /// The wait after failed attempt number `attempt` (1-based): base, 2×base, 4×base,
    /// … capped at `max_delay`.
    pub fn delay_after(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1).min(31));
        self.base_delay.saturating_mul(factor).min(self.max_delay)
    }

    /// The decision after attempt number `attempts` failed with `error`.
    pub fn after_failure(&self, attempts: u32, error: &DeliveryError) -> AfterFailure {
        match error {
            DeliveryError::Permanent(_) => AfterFailure::GiveUp,
            DeliveryError::Transient(_) if attempts >= self.max_attempts.max(1) => {
                AfterFailure::GiveUp
            }
            DeliveryError::Transient(_) => AfterFailure::RetryIn(self.delay_after(attempts)),
        }
    }
}

/// Currencies whose minor unit is the major unit (no decimals).
const ZERO_DECIMAL: &[&str] = &["CLP", "ISK", "JPY", "KRW", "VND"];

/// An amount in minor units as people read it: `12.34 USD`, `1200 JPY`, `-0.05 EUR`.
pub fn format_money(amount: i64, currency: &str) -> String {
    if ZERO_DECIMAL.contains(&currency) {
        return format!("{amount} {currency}");
    }
    let sign = if amount < 0 { "-" } else { "" };
    let abs = amount.unsigned_abs();
    format!("{sign}{}.{:02} {currency}", abs / 100, abs % 100)
}

/// A message ready for its channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// The notification id (also the email's Message-ID and the webhook's `id`).
    pub id: String,
    /// The channel.
    pub channel: Channel,
    /// Email address, phone number or device token.
    pub to: String,
    /// Subject line or push title.
    pub subject: Option<String>,
    /// Plain-text body.
    pub body: String,
    /// HTML body (email only).
    pub html: Option<String>,
}

/// Something that hands a message to a channel: the SMTP server, a provider's webhook,
/// or the local outbox.
#[async_trait]
pub trait Courier: Send + Sync {
    /// Delivers `message`; `Ok` once the other side accepted it.
    async fn deliver(&self, message: &Outgoing) -> Result<(), DeliveryError>;

    /// The transport's name as recorded on sent messages (`smtp`, `webhook`, `outbox`).
    fn transport(&self) -> &'static str;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_ids_name_a_key_and_a_channel() {
        let cases: &[(&str, Option<(&str, Channel)>)] = &[
            (
                "order_confirmed.email",
                Some(("order_confirmed", Channel::Email)),
            ),
            ("promo_2.sms", Some(("promo_2", Channel::Sms))),
            ("welcome.push", Some(("welcome", Channel::Push))),
            ("welcome", None),
            ("welcome.fax", None),
            (".email", None),
            ("Welcome.email", None),
            ("a-b.email", None),
            ("a.b.email", None),
        ];
        for (raw, want) in cases {
            let got = TemplateId::try_from((*raw).to_owned())
                .ok()
                .map(|id| (id.key().to_owned(), id.channel()));
            assert_eq!(got, want.map(|(k, c)| (k.to_owned(), c)), "{raw}");
        }
        assert_eq!(
            TemplateId::new("welcome", Channel::Email).to_string(),
            "welcome.email"
        );
    }

    #[test]
    fn names_round_trip() {
        for channel in Channel::ALL {
            assert_eq!(Channel::parse(channel.as_str()), Some(channel));
        }
        for status in [
            Status::Queued,
            Status::Sent,
            Status::Failed,
            Status::Suppressed,
            Status::Cancelled,
        ] {
            assert_eq!(Status::parse(status.as_str()), Some(status));
        }
        assert_eq!(Category::parse("marketing"), Some(Category::Marketing));
        assert_eq!(Category::parse("spam"), None);
    }

    #[test]
    fn transactional_messages_always_go_and_marketing_follows_the_opt_out() {
        let opted_in = ChannelPreference::default();
        let opted_out = ChannelPreference {
            address: None,
            marketing: false,
        };
        let cases = [
            (Category::Transactional, &opted_in, true),
            (Category::Transactional, &opted_out, true),
            (Category::Marketing, &opted_in, true),
            (Category::Marketing, &opted_out, false),
        ];
        for (category, preference, want) in cases {
            assert_eq!(
                allows(category, preference),
                want,
                "{category:?} {preference:?}"
            );
        }
        assert!(transactional_setting(true).is_ok());
        assert!(transactional_setting(false).is_err());
    }

    #[test]
    fn contact_addresses_are_checked_per_channel() {
        let cases = [
            (Channel::Sms, "+15551234567", true),
            (Channel::Sms, " +4915112345678 ", true),
            (Channel::Sms, "15551234567", false),
            (Channel::Sms, "+0555123456", false),
            (Channel::Sms, "+1555", false),
            (Channel::Sms, "+1555123456789012", false),
            (Channel::Push, "device-token:abc", true),
            (Channel::Push, "has space", false),
            (Channel::Push, "", false),
            (Channel::Email, "a@example.com", false),
        ];
        for (channel, raw, ok) in cases {
            assert_eq!(
                contact_address(channel, raw).is_ok(),
                ok,
                "{channel:?} {raw}"
            );
        }
    }

    #[test]
    fn retries_double_until_capped_and_stop_at_the_last_attempt_or_a_permanent_error() {
        let schedule = RetrySchedule {
            max_attempts: 5,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(5),
        };
        let delays: Vec<u64> = (1..=6).map(|a| schedule.delay_after(a).as_secs()).collect();
        assert_eq!(delays, vec![1, 2, 4, 5, 5, 5]);
        assert_eq!(schedule.delay_after(200), Duration::from_secs(5));
        let transient = DeliveryError::Transient("451 try later".into());
        let permanent = DeliveryError::Permanent("550 no such mailbox".into());
        let cases = [
            (1, &transient, AfterFailure::RetryIn(Duration::from_secs(1))),
            (4, &transient, AfterFailure::RetryIn(Duration::from_secs(5))),
            (5, &transient, AfterFailure::GiveUp),
            (9, &transient, AfterFailure::GiveUp),
            (1, &permanent, AfterFailure::GiveUp),
        ];
        for (attempts, error, want) in cases {
            assert_eq!(
                schedule.after_failure(attempts, error),
                want,
                "{attempts} {error:?}"
            );
        }
        let once = RetrySchedule {
            max_attempts: 0,
            ..schedule
        };
        assert_eq!(once.after_failure(1, &transient), AfterFailure::GiveUp);
    }

    #[test]
    fn money_reads_in_major_units() {
        let cases = [
            (1234, "USD", "12.34 USD"),
            (5, "EUR", "0.05 EUR"),
            (-5, "EUR", "-0.05 EUR"),
            (1200, "JPY", "1200 JPY"),
            (0, "GBP", "0.00 GBP"),
        ];
        for (amount, currency, want) in cases {
            assert_eq!(format_money(amount, currency), want);
        }
    }
}
