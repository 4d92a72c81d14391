//! Notifications' configuration: the SMTP server, the SMS and push webhooks, retries,
//! concurrency, leases, how long early events wait for their recipient, and merchants'
//! outbound webhooks (their retry schedule, timeout and concurrency).

pub use platform::config::Secret;
use std::time::Duration;

use serde::Deserialize;

use crate::domain::WebhookRetry;

/// How the SMTP connection is protected.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    /// Plain text (a local relay or a test server).
    None,
    /// Plain connection upgraded with STARTTLS, required (port 587).
    #[default]
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
}

/// The SMTP server email goes through (`[notifications.smtp]`,
/// `VISCOUNT_NOTIFICATIONS__SMTP__*`). Without this section email goes to the local
/// outbox.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct SmtpConfig {
    /// Server host name (also the name its TLS certificate must carry).
    pub host: String,
    /// Port; defaults to 25, 587 or 465 by `tls`.
    pub port: Option<u16>,
    /// `none`, `starttls` (default) or `tls`.
    pub tls: TlsMode,
    /// User name, when the server wants authentication.
    pub username: Option<String>,
    /// Password for `username`.
    pub password: Option<Secret>,
    /// The sender mailbox, e.g. `Viscount <no-reply@shop.example>`.
    pub from: String,
    /// Timeout of each connection step (connect, TLS, greeting, STARTTLS, AUTH), in
    /// milliseconds; a whole delivery may take four times this.
    pub timeout_ms: u64,
    /// Name sent in EHLO (default: `localhost`).
    pub hello_name: Option<String>,
}

impl Default for SmtpConfig {
    fn default() -> Self {
        Self {
            host: String::new(),
            port: None,
            tls: TlsMode::default(),
            username: None,
            password: None,
            from: "Viscount <no-reply@viscount.local>".into(),
            timeout_ms: 10_000,
            hello_name: None,
        }
    }
}

impl SmtpConfig {
    /// The port to connect to.
    pub fn port(&self) -> u16 {
        self.port.unwrap_or(match self.tls {
            TlsMode::None => 25,
            TlsMode::Starttls => 587,
            TlsMode::Tls => 465,
        })
    }
}

/// A provider webhook for SMS or push (`[notifications.sms]`, `[notifications.push]`).
/// Without it that channel's messages go to the local outbox.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct WebhookConfig {
    /// Where messages are POSTed.
    pub url: String,
    /// Key of the `X-Viscount-Signature` HMAC, when the receiver checks one.
    pub secret: Option<Secret>,
    /// Timeout of one request, in milliseconds.
    pub timeout_ms: u64,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        Self {
            url: String::new(),
            secret: None,
            timeout_ms: 10_000,
        }
    }
}

/// Merchants' outbound webhooks (`[notifications.webhooks]`,
/// `VISCOUNT_NOTIFICATIONS__WEBHOOKS__*`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct OutboundWebhooksConfig {
    /// The waits between attempts, in seconds: after attempt `n` fails, the `n`th; once
    /// used up the delivery has failed. The default is the Standard Webhooks
    /// specification's example: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
    pub retry_delays_secs: Vec<u64>,
    /// Timeout of one attempt, in milliseconds.
    pub timeout_ms: u64,
    /// Deliveries attempted at once by one process.
    pub concurrency: usize,
    /// Days a delivered or failed delivery stays in the log after its last attempt.
    pub log_retention_days: u32,
}

impl Default for OutboundWebhooksConfig {
    fn default() -> Self {
        Self {
            retry_delays_secs: WebhookRetry::default()
                .delays
                .iter()
                .map(Duration::as_secs)
                .collect(),
            timeout_ms: 15_000,
            concurrency: 8,
            log_retention_days: 30,
        }
    }
}

impl OutboundWebhooksConfig {
    /// The retry schedule.
    pub fn retry(&self) -> WebhookRetry {
        WebhookRetry {
            delays: self
                .retry_delays_secs
                .iter()
                .map(|secs| Duration::from_secs(*secs))
                .collect(),
        }
    }
}

/// Notifications' settings (`[notifications]`, `VISCOUNT_NOTIFICATIONS__*`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct NotificationsConfig {
    /// The SMTP server; none = email goes to the local outbox.
    pub smtp: Option<SmtpConfig>,
    /// The SMS provider's webhook; none = local outbox.
    pub sms: Option<WebhookConfig>,
    /// The push provider's webhook; none = local outbox.
    pub push: Option<WebhookConfig>,
    /// Attempts before a message is given up on.
    pub max_attempts: u32,
    /// Delay after the first failed attempt, in milliseconds; it doubles each time.
    pub retry_base_ms: u64,
    /// Longest delay between attempts, in milliseconds.
    pub retry_max_ms: u64,
    /// Messages delivered at once by one process.
    pub concurrency: usize,
    /// How often the sender looks for due messages besides being woken, in
    /// milliseconds (other replicas' messages, retries coming due).
    pub poll_interval_ms: u64,
    /// How long a claimed message is hidden from other senders, in seconds; a sender
    /// that dies mid-delivery leaves it due again after this.
    pub lease_secs: u64,
    /// How long an event waits for its unknown recipient before it is dropped, in
    /// seconds.
    pub parked_ttl_secs: u64,
    /// Merchants' outbound webhooks.
    pub webhooks: OutboundWebhooksConfig,
}

impl Default for NotificationsConfig {
    fn default() -> Self {
        Self {
            smtp: None,
            sms: None,
            push: None,
            max_attempts: 5,
            retry_base_ms: 1_000,
            retry_max_ms: 15 * 60 * 1_000,
            concurrency: 8,
            poll_interval_ms: 500,
            lease_secs: 120,
            parked_ttl_secs: 7 * 24 * 3600,
            webhooks: OutboundWebhooksConfig::default(),
        }
    }
}

impl NotificationsConfig {
    /// Checks the rules the settings must follow: a delivery that outlived its lease
    /// would be taken over by another sender and sent twice.
    pub fn check(&self) -> Result<(), InvalidConfig> {
        let longest_delivery_ms = [
            self.smtp.as_ref().map(|c| c.timeout_ms.saturating_mul(4)),
            self.sms.as_ref().map(|c| c.timeout_ms),
            self.push.as_ref().map(|c| c.timeout_ms),
            Some(self.webhooks.timeout_ms),
        ]
        .into_iter()
        .flatten()
        .max()
        .unwrap_or(0);
        if self.lease_secs.saturating_mul(1000) <= longest_delivery_ms.saturating_add(5_000) {
            return Err(InvalidConfig(format!(
                "lease_secs ({}) must outlast the longest delivery ({longest_delivery_ms} ms) by 5 s",
                self.lease_secs
            )));
        }
        Ok(())
    }
}

/// The `[notifications]` configuration breaks a rule.
#[derive(Debug, thiserror::Error)]
#[error("invalid notifications configuration: {0}")]
pub struct InvalidConfig(pub String);

#[cfg(test)]
mod tests {
    use super::*;
    use platform::config::ConfigSource;

    #[test]
    fn smtp_is_configured_from_nested_environment_variables() {
        let source = ConfigSource::from_parts(
            "[notifications]\nmax_attempts = 3\n",
            [
                ("VISCOUNT_NOTIFICATIONS__SMTP__HOST", "127.0.0.1"),
                ("VISCOUNT_NOTIFICATIONS__SMTP__PORT", "2525"),
                ("VISCOUNT_NOTIFICATIONS__SMTP__TLS", "none"),
                ("VISCOUNT_NOTIFICATIONS__SMTP__PASSWORD", "hunter2"),
                ("VISCOUNT_NOTIFICATIONS__SMS__URL", "http://127.0.0.1:9/sms"),
            ]
            .map(|(k, v)| (k.to_owned(), v.to_owned())),
        )
        .expect("source");
        let config: NotificationsConfig = source.section("notifications").expect("section");
        let smtp = config.smtp.as_ref().expect("smtp");
        assert_eq!(smtp.host, "127.0.0.1");
        assert_eq!(smtp.port(), 2525);
        assert_eq!(smtp.tls, TlsMode::None);
        assert_eq!(config.max_attempts, 3);
        assert!(config.sms.is_some() && config.push.is_none());
        assert!(!format!("{config:?}").contains("hunter2"));
    }

    #[test]
    fn without_configuration_every_channel_is_the_local_outbox() {
        let config: NotificationsConfig = ConfigSource::default()
            .section("notifications")
            .expect("section");
        assert!(config.smtp.is_none() && config.sms.is_none() && config.push.is_none());
        assert_eq!(SmtpConfig::default().port(), 587);
    }

    #[test]
    fn a_lease_shorter_than_a_delivery_is_refused() {
        let config = NotificationsConfig {
            smtp: Some(SmtpConfig::default()),
            lease_secs: 30,
            ..NotificationsConfig::default()
        };
        let refused = config
            .check()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(refused.contains("lease_secs (30)"), "{refused}");
        assert!(NotificationsConfig::default().check().is_ok());
    }
}
