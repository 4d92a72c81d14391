//! Events emitted by the notifications service: the outcome of each message.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::Event;

/// A message was accepted by its channel (the SMTP server, the webhook receiver, or
/// the local outbox).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, ToSchema)]
pub struct NotificationSent {
    /// The notification.
    pub notification_id: String,
    /// Its recipient user, when it was for one.
    #[serde(default)]
    pub user_id: Option<String>,
    /// `email`, `sms` or `push`.
    pub channel: String,
    /// The template it was rendered from.
    pub template_id: String,
    /// Tries it took.
    pub attempts: u32,
}

impl Event for NotificationSent {
    const TYPE: &'static str = "notifications.notification.sent.v1";
    fn subject(&self) -> String {
        self.notification_id.clone()
    }
}

/// A message was given up on after its retries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, ToSchema)]
pub struct NotificationFailed {
    /// The notification.
    pub notification_id: String,
    /// Its recipient user, when it was for one.
    #[serde(default)]
    pub user_id: Option<String>,
    /// The channel.
    pub channel: String,
    /// The template it was rendered from.
    pub template_id: String,
    /// Tries it took.
    pub attempts: u32,
    /// The last error.
    pub error: String,
}

impl Event for NotificationFailed {
    const TYPE: &'static str = "notifications.notification.failed.v1";
    fn subject(&self) -> String {
        self.notification_id.clone()
    }
}

/// A message reached its recipient's side: the SMTP server accepted it, or the SMS or
/// push provider's webhook took it (2xx). Neither provider shape reports delivery to the
/// handset later, so acceptance is the last word Viscount gets. Messages kept in the
/// local outbox (no transport configured) are not delivered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, ToSchema)]
pub struct NotificationDelivered {
    /// The notification.
    pub notification_id: String,
    /// Its recipient user, when it was for one.
    #[serde(default)]
    pub user_id: Option<String>,
    /// `email`, `sms` or `push`.
    pub channel: String,
    /// The template it was rendered from.
    pub template_id: String,
    /// How it left: `smtp` or `webhook`.
    pub transport: String,
    /// RFC 3339 time the server or provider accepted it.
    pub delivered_at: String,
}

impl Event for NotificationDelivered {
    const TYPE: &'static str = "notifications.notification.delivered.v1";
    fn subject(&self) -> String {
        self.notification_id.clone()
    }
}
