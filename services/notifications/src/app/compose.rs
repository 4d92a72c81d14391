//! Composing the messages an event causes: one per enabled template of its key (one
//! per channel) the recipient has an address on, rendered with the event's context,
//! checked against the recipient's preferences, each recording the event behind it.
//! Files the event brings (a report) go on its email only: text messages and push
//! notifications cannot carry them.

use platform::db::Tx;
use serde_json::Value;

use super::NotificationsApp;
use crate::domain::{
    Attachment, Category, Channel, ChannelPreference, Composed, Content, Message, Origin,
    Recipient, Status,
};
use crate::store;

/// The event a message answers: its id makes a redelivery create nothing twice, and
/// its type, subject and time are recorded on the message, so the delay from an event
/// to its message leaving can be read off every row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cause {
    /// The event id.
    pub event_id: String,
    /// What the message records of it.
    pub origin: Origin,
}

impl NotificationsApp {
    /// Creates the messages of `key` for `recipient`, one per enabled template (channel)
    /// the recipient has an address on, rendered with `context`, each recording its
    /// `cause`. A second call for the same cause creates nothing. Returns how many were
    /// created.
    pub async fn notify_in(
        &self,
        tx: &mut Tx,
        cause: &Cause,
        key: &str,
        recipient: &Recipient,
        context: &Value,
    ) -> Result<usize, platform::db::Error> {
        self.notify_with_in(tx, cause, key, recipient, context, &[])
            .await
    }

    /// [`NotificationsApp::notify_in`], with `attachments` on the email.
    #[tracing::instrument(skip_all, fields(user_id = %recipient.id, key = %key), err(level = "debug"))]
    pub async fn notify_with_in(
        &self,
        tx: &mut Tx,
        cause: &Cause,
        key: &str,
        recipient: &Recipient,
        context: &Value,
        attachments: &[Attachment],
    ) -> Result<usize, platform::db::Error> {
        let found = store::templates_for_key(&mut **tx, key).await?;
        if found.is_empty() {
            tracing::debug!("no enabled template; nothing to send");
            return Ok(0);
        }
        let preferences = store::preferences(&mut **tx, &recipient.id).await?;
        let mut created = 0;
        for template in found {
            let channel = template.id.channel();
            let preference = ChannelPreference::of(&preferences, channel);
            let Some(address) = recipient.address_on(channel, &preference) else {
                continue;
            };
            let template_id = template.id.to_string();
            let message = match self.renderer.render(&template.text, context) {
                Ok(content) => {
                    let mut composed = self.composed(
                        Some(cause),
                        recipient,
                        template_id,
                        (channel, template.category),
                        address,
                        content,
                    );
                    if channel == Channel::Email {
                        composed.attachments = attachments.to_vec();
                    }
                    Message::compose(composed, &preference)
                }
                Err(err) => {
                    // An admin's template that this event's data cannot fill: keep the
                    // failure visible on the message instead of retrying an event that
                    // will never render.
                    tracing::warn!(%template_id, error = %err, "template failed to render");
                    let error = format!("template {template_id}: {err}");
                    let composed = self.composed(
                        Some(cause),
                        recipient,
                        template_id,
                        (channel, template.category),
                        address,
                        Content::default(),
                    );
                    Message::unrenderable(composed, error)
                }
            };
            if store::insert_message(tx, &message).await? {
                crate::metrics::message_created(tx, &message);
                created += 1;
                if message.status() == Status::Failed {
                    self.outbox.stage(tx, &message.failed_event()).await?;
                }
            }
        }
        Ok(created)
    }

    /// What a new message is. Its dedupe key is its cause, template and recipient, so
    /// a redelivered event creates nothing twice; a send through the API is its own
    /// cause (a retried request is caught by its `Idempotency-Key` before it gets here).
    pub(super) fn composed(
        &self,
        cause: Option<&Cause>,
        recipient: &Recipient,
        template_id: String,
        (channel, category): (Channel, Category),
        to: String,
        content: Content,
    ) -> Composed {
        let id = platform::ids::new_id();
        let dedupe_key = match cause {
            Some(cause) => format!("{}:{}:{}", cause.event_id, template_id, recipient.id),
            None => format!("send:{id}"),
        };
        Composed {
            id,
            dedupe_key,
            user_id: recipient.id.clone(),
            template_id,
            channel,
            category,
            to,
            content,
            attachments: Vec::new(),
            origin: cause.map(|c| c.origin.clone()),
            created_at: self.clock.now_millis(),
        }
    }
}
