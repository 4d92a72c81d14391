//! The notifications service: templates per (message, channel) rendered with MiniJinja,
//! email over SMTP, SMS and push through provider webhooks, a local outbox when a
//! channel has no transport configured, per-user preferences (transactional always,
//! marketing by opt-out), and delivery with retries and status.
//!
//! Messages are created by the event consumer (or `POST /notifications/send`) in the
//! same transaction as the inbox row, so a redelivered event creates nothing twice. A
//! sender task then claims due messages and delivers them outside any transaction,
//! several at once, retrying transient failures with exponential backoff and emitting
//! `notifications.notification.sent` / `failed`.
//!
//! Every message records the event that caused it (type, subject, time), and `sent_at`
//! is when its channel accepted it, so `sent_at - event_time` is the delay from the
//! event to the message leaving.
//!
//! Rooms: `domain` (rules), `templates` (rendering, contexts, defaults), `store` (SQL),
//! `app` (operations), `sender` (the delivery loop), `channels` (SMTP, webhook, local
//! outbox), `smtp` (the SMTP connection pool), `http` (handlers), `events` (what it
//! consumes).

pub mod app;
pub mod channels;
pub mod domain;
pub mod events;
pub mod http;
pub mod sender;
pub mod smtp;
pub mod store;
pub mod templates;

use std::sync::Arc;
use std::time::Duration;

use platform::auth::Authenticator;
use platform::bus::{Bus, RetryPolicy, Subscription};
pub use platform::config::Secret;
use platform::db::{Db, Migrations};
use platform::http::Readiness;
use platform::service::ServiceKind;
use platform::tasks::Tasks;
use platform::time::Clock;
use serde::Deserialize;

pub use app::{NotificationsApp, NotificationsError};

/// Notifications's migrations.
pub const MIGRATIONS: Migrations = Migrations {
    scope: "notifications",
    steps: &[platform::migration!("0001_init")],
};

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

/// Notifications's configuration (`[notifications]`, `VISCOUNT_NOTIFICATIONS__*`).
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
        }
    }
}

/// Why notifications could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Database.
    #[error(transparent)]
    Db(#[from] platform::db::DbError),
    /// Bus.
    #[error(transparent)]
    Bus(#[from] platform::bus::BusError),
    /// A channel's configuration is unusable.
    #[error(transparent)]
    Config(#[from] channels::ChannelConfigError),
    /// The default templates could not be stored.
    #[error("cannot seed the default templates")]
    Seed(#[source] platform::db::Error),
}

/// A running notifications service.
#[derive(Clone)]
pub struct Notifications {
    app: NotificationsApp,
    authenticator: Authenticator,
    bus: Arc<dyn Bus>,
}

impl Notifications {
    /// Opens the database, seeds the default templates, attaches the outbox, subscribes
    /// to identity's, ordering's, payments', fulfillment's and inventory's events, and
    /// starts the sender.
    pub async fn build(
        config: NotificationsConfig,
        database_url: &str,
        bus: Arc<dyn Bus>,
        authenticator: Authenticator,
        tasks: &Tasks,
        clock: Clock,
    ) -> Result<Self, StartError> {
        // A delivery that outlived its lease would be taken over and sent twice.
        let longest_delivery_ms = [
            config.smtp.as_ref().map(|c| c.timeout_ms.saturating_mul(4)),
            config.sms.as_ref().map(|c| c.timeout_ms),
            config.push.as_ref().map(|c| c.timeout_ms),
        ]
        .into_iter()
        .flatten()
        .max()
        .unwrap_or(0);
        if config.lease_secs.saturating_mul(1000) <= longest_delivery_ms.saturating_add(5_000) {
            return Err(StartError::Config(channels::ChannelConfigError(format!(
                "lease_secs ({}) must outlast the longest delivery ({longest_delivery_ms} ms) by 5 s",
                config.lease_secs
            ))));
        }
        let couriers = channels::Couriers::from_config(
            config.smtp.as_ref(),
            config.sms.as_ref(),
            config.push.as_ref(),
            config.concurrency,
        )?;
        let db = Db::connect(database_url, &MIGRATIONS).await?;
        let outbox = bus
            .attach_producer(ServiceKind::Notifications, db.clone(), tasks)
            .await?;
        let app = NotificationsApp::new(db.clone(), outbox.clone(), clock, &config);
        app.seed_templates().await.map_err(StartError::Seed)?;
        let handler = Arc::new(events::NotificationEvents { app: app.clone() });
        bus.subscribe(
            Subscription {
                consumer: ServiceKind::Notifications.as_str().into(),
                db,
                streams: vec![
                    ServiceKind::Identity,
                    ServiceKind::Ordering,
                    ServiceKind::Payments,
                    ServiceKind::Fulfillment,
                    ServiceKind::Inventory,
                ],
                handler: handler.clone(),
                retry: RetryPolicy::default(),
                outbox: Some(outbox),
            },
            tasks,
        )
        .await?;
        sender::Sender::new(app.clone(), couriers, &config).start(tasks);
        tasks.every("parked event replay", Duration::from_secs(5), move || {
            let handler = handler.clone();
            async move { handler.replay_released().await }
        });
        let sweeper = app.clone();
        let parked_ttl = Duration::from_secs(config.parked_ttl_secs.max(1));
        tasks.every(
            "parked event expiry",
            parked_ttl.min(Duration::from_secs(600)),
            move || {
                let sweeper = sweeper.clone();
                async move { sweeper.expire_parked(parked_ttl).await }
            },
        );
        Ok(Self {
            app,
            authenticator,
            bus,
        })
    }

    /// The operations.
    pub fn app(&self) -> &NotificationsApp {
        &self.app
    }

    /// The service's database.
    pub fn db(&self) -> &Db {
        self.app.db()
    }

    /// The HTTP routes (paths as in API.md), authenticated.
    pub fn router(&self) -> axum::Router {
        http::router(self.app.clone(), self.authenticator.clone())
    }

    /// Readiness checks: database and bus.
    pub fn readiness(&self) -> Readiness {
        Readiness::new(ServiceKind::Notifications.as_str())
            .with("database", self.app.db().clone())
            .with("bus", self.bus.clone())
    }
}

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
}
