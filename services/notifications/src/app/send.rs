//! An admin's (or a service's) direct send, `POST /notifications/send`: one message to
//! one user now, from a stored template or from the request's own text, addressed and
//! checked against the user's preferences like an event's.

use serde_json::{Map, Value};

use super::{ADHOC_TEMPLATE, NotificationsApp, NotificationsError};
use crate::domain::{Category, Channel, ChannelPreference, Content, Message, TemplateId};
use crate::store;
use crate::templates;

/// What a direct send sends.
#[derive(Debug, Clone)]
pub enum SendContent {
    /// A stored template, rendered with the request's data.
    Template(TemplateId),
    /// Text given in the request, sent as written.
    AdHoc {
        /// The channel.
        channel: Channel,
        /// Its category.
        category: Category,
        /// Subject (required for email).
        subject: Option<String>,
        /// Body.
        body: String,
    },
}

/// A direct send.
#[derive(Debug, Clone)]
pub struct SendRequest {
    /// The recipient.
    pub user_id: String,
    /// What to send.
    pub content: SendContent,
    /// Template data (`{{ name }}` for a key `name`).
    pub data: Map<String, Value>,
}

impl NotificationsApp {
    /// Sends one message to one user now: rendered, addressed and checked against the
    /// user's preferences like an event's. A marketing message to a user who opted out
    /// is recorded as `suppressed`.
    #[tracing::instrument(skip_all, fields(user_id = %request.user_id, notification_id), err(level = "info"))]
    pub async fn send(&self, request: SendRequest) -> Result<Message, NotificationsError> {
        let mut tx = self.db.begin().await?;
        let recipient = store::user(&mut *tx, &request.user_id)
            .await?
            .filter(|u| !u.deleted)
            .ok_or(NotificationsError::UnknownUser)?;
        let (template_id, channel, category, content) = match request.content {
            SendContent::Template(id) => {
                let template = store::template(&mut *tx, &id)
                    .await?
                    .ok_or(NotificationsError::UnknownTemplate)?;
                if !template.enabled {
                    return Err(NotificationsError::TemplateDisabled);
                }
                let context = templates::custom(&recipient, &request.data);
                let content = self
                    .renderer
                    .render(&template.text, &context)
                    .map_err(NotificationsError::Render)?;
                (id.to_string(), id.channel(), template.category, content)
            }
            SendContent::AdHoc {
                channel,
                category,
                subject,
                body,
            } => (
                ADHOC_TEMPLATE.to_owned(),
                channel,
                category,
                Content {
                    subject,
                    body,
                    html: None,
                },
            ),
        };
        let preferences = store::preferences(&mut *tx, &recipient.id).await?;
        let preference = ChannelPreference::of(&preferences, channel);
        let address = recipient
            .address_on(channel, &preference)
            .ok_or(NotificationsError::NoAddress(channel))?;
        let message = Message::compose(
            self.composed(
                None,
                &recipient,
                template_id,
                (channel, category),
                address,
                content,
            ),
            &preference,
        );
        tracing::Span::current().record("notification_id", message.id());
        if store::insert_message(&mut tx, &message).await? {
            crate::metrics::message_created(&mut tx, &message);
        }
        tx.commit().await?;
        self.wake_sender();
        Ok(message)
    }
}
