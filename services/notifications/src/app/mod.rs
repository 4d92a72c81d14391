//! Notifications' operations, one use case a file: composing the messages an event
//! causes (`compose`), an admin's direct send (`send`), reading messages
//! (`messages`), templates (`templates`), preferences (`preferences`), and keeping the
//! directory of users and orders with the events waiting for them (`directory`), and
//! merchants' webhook endpoints with their delivery log (`webhooks`).
//! The `*_in` forms run inside a transaction the caller owns (the event consumer's,
//! which also holds the inbox row). Delivery itself is the sender's.

mod compose;
mod directory;
mod messages;
mod preferences;
mod send;
mod templates;
mod webhooks;

use std::sync::Arc;
use std::time::Duration;

use platform::auth::Policy;
use platform::bus::Outbox;
use platform::db::Db;
use platform::time::Clock;
use tokio::sync::Notify;

use crate::config::NotificationsConfig;
use crate::domain::{Channel, Invalid, RetrySchedule, WebhookRetry};
use crate::templates::{Renderer, TemplateError};

pub use compose::Cause;
pub use preferences::{ChannelSettings, PreferenceChange, Preferences};
pub use send::{SendContent, SendRequest};
pub use templates::TemplateDraft;
pub use webhooks::{EndpointChange, SettledDeliveries};

/// Who may see and manage what: a user their own messages and preferences, admins
/// everything (templates, the local outbox, anyone's messages). Machine clients manage
/// nothing here; the send scope is a separate grant (`http::SCOPE_SEND`).
pub const POLICY: Policy = Policy::admin_only();

/// The template id recorded on messages whose text came with the API request.
pub const ADHOC_TEMPLATE: &str = "adhoc";

/// Why a notifications operation failed.
#[derive(Debug, thiserror::Error)]
pub enum NotificationsError {
    /// No such notification (or not the caller's).
    #[error("not found")]
    NotFound,
    /// No such template.
    #[error("no such template")]
    UnknownTemplate,
    /// The template exists but is switched off.
    #[error("the template is disabled")]
    TemplateDisabled,
    /// The recipient is not a known (live) user.
    #[error("no such user")]
    UnknownUser,
    /// The recipient has no address on the channel.
    #[error("the user has no {} address", .0.as_str())]
    NoAddress(Channel),
    /// A template edit was refused.
    #[error("the template is invalid")]
    InvalidTemplate(Vec<TemplateError>),
    /// The template could not be rendered with the request's data.
    #[error("the template cannot be rendered with this data: {0}")]
    Render(TemplateError),
    /// No such webhook endpoint.
    #[error("no such webhook endpoint")]
    NoSuchEndpoint,
    /// No such delivery of the endpoint.
    #[error("no such webhook delivery")]
    NoSuchDelivery,
    /// A webhook endpoint's settings break a rule (the field, the rule).
    #[error("{0}: {1}")]
    InvalidEndpoint(&'static str, Invalid),
    /// The delivery is still being attempted.
    #[error("the delivery is still pending")]
    DeliveryPending,
    /// The database failed.
    #[error(transparent)]
    Sql(#[from] platform::db::Error),
}

/// The notifications service's operations.
#[derive(Clone)]
pub struct NotificationsApp {
    pub(crate) db: Db,
    pub(crate) outbox: Outbox,
    pub(crate) clock: Clock,
    pub(crate) renderer: Arc<Renderer>,
    pub(crate) retry: RetrySchedule,
    /// Wakes the sender right after a commit that queued messages, so the first
    /// attempt does not wait for the next poll.
    pub(crate) wake: Arc<Notify>,
    /// When failed webhook deliveries are tried again.
    pub(crate) webhook_retry: WebhookRetry,
    /// Wakes the webhook dispatcher right after a commit that queued deliveries.
    pub(crate) webhook_wake: Arc<Notify>,
}

impl NotificationsApp {
    /// Operations on `db`, staging events in `outbox`.
    pub fn new(db: Db, outbox: Outbox, clock: Clock, config: &NotificationsConfig) -> Self {
        Self {
            db,
            outbox,
            clock,
            renderer: Arc::new(Renderer::new()),
            retry: RetrySchedule {
                max_attempts: config.max_attempts.max(1),
                base_delay: Duration::from_millis(config.retry_base_ms),
                max_delay: Duration::from_millis(config.retry_max_ms.max(config.retry_base_ms)),
            },
            wake: Arc::new(Notify::new()),
            webhook_retry: config.webhooks.retry(),
            webhook_wake: Arc::new(Notify::new()),
        }
    }

    /// The service's database.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Tells the sender that messages may be due.
    pub(crate) fn wake_sender(&self) {
        self.wake.notify_one();
    }
}
