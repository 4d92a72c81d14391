//! The notifications service: templates per (message, channel) rendered with MiniJinja,
//! email over SMTP, SMS and push through provider webhooks, a local outbox when a
//! channel has no transport configured, per-user preferences (transactional always,
//! marketing by opt-out), delivery with retries and status, and files attached to
//! emails (scheduled reports, sent to the address their schedule names).
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
//! Merchants' outbound webhooks live here too: an admin registers endpoints for event
//! types, the consumer queues each such event for them in its inbox transaction, and
//! the `dispatcher` sends it signed as Standard Webhooks asks, with retries and a
//! delivery log.
//!
//! Rooms: `domain` (the `Message` aggregate and its delivery state machine, recipients,
//! templates, merchants' webhook endpoints and deliveries), `templates` (rendering,
//! contexts, defaults), `store` (the only translator between rows and aggregates), `app`
//! (one file per use case), `sender` (delivers messages), `dispatcher` (sends merchants'
//! webhooks), `due` (the leased loop both run), `channels` (SMTP, webhook, local
//! outbox), `smtp` (the SMTP connection pool), `http` (handlers), `events` (what it
//! consumes), `config`.

pub mod app;
pub mod channels;
pub mod config;
pub mod dispatcher;
pub mod domain;
mod due;
pub mod events;
pub mod http;
mod metrics;
pub mod sender;
pub mod smtp;
pub mod store;
pub mod templates;

use std::sync::Arc;
use std::time::Duration;

use platform::auth::Authenticator;
use platform::db::Migrations;
use platform::fence::SingleHolder;
use platform::service::{Consumer, Service, ServiceContext, ServiceData, ServiceKind, StartError};
use platform::tasks::Tasks;

pub use app::{NotificationsApp, NotificationsError};
pub use config::{NotificationsConfig, Secret, SmtpConfig, TlsMode, WebhookConfig};

/// Notifications' migrations.
pub const MIGRATIONS: Migrations = Migrations {
    scope: "notifications",
    steps: &[
        platform::migration!("0001_init"),
        platform::migration!("0002_attachments"),
        platform::migration!("0003_job_fences"),
        platform::migration!("0004_webhooks"),
    ],
};

/// A running notifications service.
pub struct Notifications {
    data: ServiceData,
    app: NotificationsApp,
    authenticator: Authenticator,
    config: NotificationsConfig,
    couriers: channels::Couriers,
    /// The client merchants' webhooks are sent through.
    webhook_client: reqwest::Client,
    /// The lease the parked-event replay runs under (it sends messages: one replica at
    /// a time).
    parked_replay: SingleHolder,
}

/// One replay pass is one transaction: seconds at most.
const PARKED_REPLAY_LEASE: Duration = Duration::from_secs(60);

impl Service for Notifications {
    /// Checks the configuration, sets up the channels, opens the database and seeds the
    /// default templates.
    async fn build(context: &ServiceContext) -> Result<Self, StartError> {
        let config: NotificationsConfig = context.config()?;
        config.check().map_err(|e| context.failed(e))?;
        let couriers = channels::Couriers::from_config(
            config.smtp.as_ref(),
            config.sms.as_ref(),
            config.push.as_ref(),
            config.concurrency,
        )
        .map_err(|e| context.failed(e))?;
        let webhook_client =
            dispatcher::Dispatcher::client(&config).map_err(|e| context.failed(e))?;
        let parked_replay = SingleHolder::new(
            platform::fence::locks_for(context)?,
            events::PARKED_REPLAY,
            ServiceKind::Notifications.as_str(),
            PARKED_REPLAY_LEASE,
        );
        let data = context.open(&MIGRATIONS).await?;
        let app = NotificationsApp::new(
            data.db.clone(),
            data.outbox.clone(),
            context.clock().clone(),
            &config,
        );
        app.seed_templates().await.map_err(|e| context.failed(e))?;
        data.retention()
            .add_rule(Arc::new(app::SettledDeliveries::new(
                &app,
                config.webhooks.log_retention_days.max(1),
            )));
        Ok(Self {
            data,
            app,
            authenticator: context.authenticator()?,
            config,
            couriers,
            webhook_client,
            parked_replay,
        })
    }

    fn migrations() -> &'static Migrations {
        &MIGRATIONS
    }

    fn openapi() -> utoipa::openapi::OpenApi {
        http::api().into_openapi()
    }

    fn data(&self) -> &ServiceData {
        &self.data
    }

    fn router(&self) -> axum::Router {
        http::router(self.app.clone(), self.authenticator.clone())
    }

    /// Users from identity, and what happens to their orders, payments, parcels and the
    /// shop's stock; payments' disputes; analytics' ready reports and anomalies; and every business event a
    /// merchant's webhook endpoint can subscribe to (catalog's and ingestion's too).
    fn consumer(&self) -> Option<Consumer> {
        Some(Consumer::new(
            domain::EVENT_SOURCES.to_vec(),
            Arc::new(self.events()),
        ))
    }

    /// The sender, the webhook dispatcher, the replay of parked events whose recipient
    /// arrived (one replica at a time, fenced), and the expiry of those whose recipient
    /// never did.
    fn start_background(&self, tasks: &Tasks) {
        sender::Sender::start(self.app.clone(), self.couriers.clone(), &self.config, tasks);
        dispatcher::Dispatcher::start(
            self.app.clone(),
            self.webhook_client.clone(),
            &self.config,
            tasks,
        );
        let handler = Arc::new(self.events());
        let job = self.parked_replay.clone();
        tasks.every("parked event replay", Duration::from_secs(5), move || {
            let (handler, job) = (handler.clone(), job.clone());
            async move { replay_parked(&handler, &job).await }
        });
        let sweeper = self.app.clone();
        let parked_ttl = Duration::from_secs(self.config.parked_ttl_secs.max(1));
        tasks.every(
            "parked event expiry",
            parked_ttl.min(Duration::from_secs(600)),
            move || {
                let sweeper = sweeper.clone();
                async move { sweeper.expire_parked(parked_ttl).await }
            },
        );
    }
}

/// One turn of the parked-event replay: under the job's lease when anything is parked
/// (no call to coordination otherwise); nothing when another replica holds it or
/// coordination cannot be asked.
async fn replay_parked(
    handler: &events::NotificationEvents,
    job: &SingleHolder,
) -> Result<usize, platform::bus::HandlerError> {
    if !handler.app.any_parked().await? {
        return Ok(0);
    }
    job.run(|fence| async move { handler.replay_released(&fence).await })
        .await
        .ran()
        .unwrap_or(Ok(0))
}

impl Notifications {
    /// The operations.
    pub fn app(&self) -> &NotificationsApp {
        &self.app
    }

    fn events(&self) -> events::NotificationEvents {
        events::NotificationEvents {
            app: self.app.clone(),
        }
    }
}
