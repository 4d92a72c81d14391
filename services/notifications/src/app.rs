//! Notifications' operations: seeding and editing templates, preferences, composing
//! messages (render, address, preference check, one row per channel, each naming the
//! event that caused it) and the admin's direct send. The `*_in` forms run inside a
//! transaction the caller owns (the event consumer's, which also holds the inbox row).
//! Delivery itself is the sender's.

use std::sync::Arc;
use std::time::Duration;

use contracts::notifications::NotificationFailed;
use platform::bus::{Envelope, Outbox};
use platform::db::{Db, Tx};
use platform::time::Clock;
use serde_json::{Map, Value};
use tokio::sync::Notify;

use crate::NotificationsConfig;
use crate::domain::{
    self, Category, Channel, ChannelPreference, RetrySchedule, Status, TemplateId,
};
use crate::store::{self, NotificationRecord, OrderRecord, TemplateRecord, UserRecord};
use crate::templates::{self, Recipient, Renderer, TemplateError, TemplateText};

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
    /// The database failed.
    #[error(transparent)]
    Sql(#[from] platform::db::Error),
}

/// What `POST /notifications/send` sends.
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

/// The event a message answers: its id makes a redelivery create nothing twice, and
/// its type, subject and time are recorded on the message, so the delay from an event
/// to its message leaving can be read off every row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cause {
    /// The event id.
    pub event_id: String,
    /// The CloudEvents type, e.g. `ordering.order.confirmed.v1`.
    pub event_type: String,
    /// The envelope's subject (the aggregate id: an order, a user, a shipment).
    pub subject: String,
    /// The envelope's time, epoch ms; `None` when it is not RFC 3339.
    pub time: Option<i64>,
}

impl From<&Envelope> for Cause {
    fn from(event: &Envelope) -> Self {
        let time = platform::time::parse_rfc3339(&event.time);
        if time.is_none() {
            // The message still goes out; only its delay cannot be measured.
            tracing::warn!(event_id = %event.id, time = %event.time, "event time is not RFC 3339");
        }
        Self {
            event_id: event.id.clone(),
            event_type: event.event_type.clone(),
            subject: event.subject.clone(),
            time,
        }
    }
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

/// A template edit.
#[derive(Debug, Clone)]
pub struct TemplateDraft {
    /// The text.
    pub text: TemplateText,
    /// Category; keeps the stored one (or transactional) when absent.
    pub category: Option<Category>,
    /// Whether messages are made from it.
    pub enabled: bool,
}

/// One channel of a user's preferences, as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ChannelSettings {
    /// Where this channel's messages go (email: the account's address).
    pub to: Option<String>,
    /// Always true: transactional messages cannot be switched off.
    pub transactional: bool,
    /// Whether marketing messages are wanted.
    pub marketing: bool,
}

/// A user's notification preferences.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Preferences {
    /// The user.
    pub user_id: String,
    /// Email.
    pub email: ChannelSettings,
    /// SMS.
    pub sms: ChannelSettings,
    /// Push.
    pub push: ChannelSettings,
}

/// A change to one channel's preferences (already validated).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PreferenceChange {
    /// `Some(None)` removes the address, `Some(Some(a))` sets it, `None` keeps it.
    pub address: Option<Option<String>>,
    /// New marketing setting, if given.
    pub marketing: Option<bool>,
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

    /// Stores the default templates that are not stored yet.
    pub async fn seed_templates(&self) -> Result<(), platform::db::Error> {
        let now = self.clock.now_millis();
        let mut tx = self.db.begin().await?;
        for template in templates::defaults() {
            let record = TemplateRecord {
                id: template.id.to_string(),
                key: template.id.key().to_owned(),
                channel: template.id.channel().as_str().to_owned(),
                category: template.category.as_str().to_owned(),
                subject: template.text.subject,
                body: template.text.body,
                html: template.text.html,
                enabled: true,
                created_at: now,
                updated_at: now,
                updated_by: None,
            };
            store::put_template(&mut tx, &record, false).await?;
        }
        tx.commit().await
    }

    /// Drops events that waited longer than `ttl` for their recipient.
    pub async fn expire_parked(&self, ttl: Duration) -> Result<usize, platform::db::Error> {
        let before = self.clock.now_millis() - i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
        let mut tx = self.db.begin().await?;
        let dropped = store::expire_parked(&mut tx, before).await?;
        tx.commit().await?;
        if dropped > 0 {
            tracing::warn!(
                dropped,
                "events dropped after waiting too long for their recipient"
            );
        }
        Ok(usize::try_from(dropped).unwrap_or(usize::MAX))
    }

    /// Records (or refreshes) a user in the directory.
    pub async fn remember_user_in(
        &self,
        tx: &mut Tx,
        user: &UserRecord,
    ) -> Result<(), platform::db::Error> {
        store::upsert_user(tx, user, self.clock.now_millis()).await
    }

    /// Forgets a deleted user (see [`store::forget_user`]).
    pub async fn forget_user_in(
        &self,
        tx: &mut Tx,
        user_id: &str,
    ) -> Result<(), platform::db::Error> {
        store::forget_user(tx, user_id, self.clock.now_millis()).await
    }

    /// Records an order's owner.
    pub async fn remember_order_in(
        &self,
        tx: &mut Tx,
        order: &OrderRecord,
    ) -> Result<(), platform::db::Error> {
        store::insert_order(tx, order, self.clock.now_millis()).await
    }

    /// Creates the messages of `key` for `recipient`, one per enabled template (channel)
    /// the recipient has an address on, rendered with `context`, each recording its
    /// `cause`. A second call for the same cause creates nothing. Returns how many were
    /// created.
    pub async fn notify_in(
        &self,
        tx: &mut Tx,
        cause: &Cause,
        key: &str,
        recipient: &UserRecord,
        context: &Value,
    ) -> Result<usize, platform::db::Error> {
        let found = store::templates_for_key(&mut **tx, key).await?;
        if found.is_empty() {
            tracing::debug!(key, "no enabled template; nothing to send");
            return Ok(0);
        }
        let preferences = store::preferences(&mut **tx, &recipient.id).await?;
        let mut created = 0;
        for template in found {
            let Some(channel) = Channel::parse(&template.channel) else {
                continue;
            };
            let preference = preference_of(&preferences, channel);
            let Some(address) = address_of(recipient, channel, &preference) else {
                continue;
            };
            let category = Category::parse(&template.category).unwrap_or(Category::Transactional);
            let text = TemplateText {
                subject: template.subject.clone(),
                body: template.body.clone(),
                html: template.html.clone(),
            };
            let mut record = self.new_record(
                format!("{}:{}:{}", cause.event_id, template.id, recipient.id),
                recipient,
                &template.id,
                channel,
                category,
                address,
            );
            record.event_type = Some(cause.event_type.clone());
            record.event_subject = Some(cause.subject.clone());
            record.event_time = cause.time;
            match self.renderer.render(&text, context) {
                Ok(rendered) => {
                    record.subject = rendered.subject;
                    record.body = rendered.body;
                    record.html = rendered.html;
                    if !domain::allows(category, &preference) {
                        record.status = Status::Suppressed.as_str().into();
                    }
                }
                Err(err) => {
                    // An admin's template that this event's data cannot fill: keep the
                    // failure visible on the message instead of retrying an event that
                    // will never render.
                    tracing::warn!(template_id = %template.id, error = %err, "template failed to render");
                    record.status = Status::Failed.as_str().into();
                    record.last_error = Some(format!("template {}: {err}", template.id));
                }
            }
            if store::insert_notification(tx, &record).await? {
                created += 1;
                if record.status == Status::Failed.as_str() {
                    self.stage_failed(tx, &record).await?;
                }
            }
        }
        Ok(created)
    }

    fn new_record(
        &self,
        dedupe_key: String,
        recipient: &UserRecord,
        template_id: &str,
        channel: Channel,
        category: Category,
        address: String,
    ) -> NotificationRecord {
        let now = self.clock.now_millis();
        NotificationRecord {
            id: platform::ids::new_id(),
            dedupe_key,
            user_id: recipient.id.clone(),
            template_id: template_id.to_owned(),
            channel: channel.as_str().into(),
            category: category.as_str().into(),
            recipient: address,
            subject: None,
            body: String::new(),
            html: None,
            status: Status::Queued.as_str().into(),
            attempts: 0,
            last_error: None,
            next_attempt_at: now,
            transport: None,
            created_at: now,
            sent_at: None,
            event_type: None,
            event_subject: None,
            event_time: None,
        }
    }

    async fn stage_failed(
        &self,
        tx: &mut Tx,
        record: &NotificationRecord,
    ) -> Result<(), platform::db::Error> {
        self.outbox
            .stage(
                tx,
                &NotificationFailed {
                    notification_id: record.id.clone(),
                    user_id: Some(record.user_id.clone()),
                    channel: record.channel.clone(),
                    template_id: record.template_id.clone(),
                    attempts: u32::try_from(record.attempts).unwrap_or(0),
                    error: record.last_error.clone().unwrap_or_default(),
                },
            )
            .await
            .map(|_| ())
    }

    /// Sends one message to one user now (an admin's send): rendered, addressed and
    /// checked against the user's preferences like an event's. A marketing message to
    /// a user who opted out is recorded as `suppressed`.
    pub async fn send(
        &self,
        request: SendRequest,
    ) -> Result<NotificationRecord, NotificationsError> {
        let mut tx = self.db.begin().await?;
        let recipient = store::user(&mut *tx, &request.user_id)
            .await?
            .filter(|u| !u.deleted)
            .ok_or(NotificationsError::UnknownUser)?;
        let (template_id, channel, category, rendered) = match &request.content {
            SendContent::Template(id) => {
                let template = store::template(&mut *tx, &id.to_string())
                    .await?
                    .ok_or(NotificationsError::UnknownTemplate)?;
                if !template.enabled {
                    return Err(NotificationsError::TemplateDisabled);
                }
                let text = TemplateText {
                    subject: template.subject,
                    body: template.body,
                    html: template.html,
                };
                let context = templates::custom(&recipient_of(&recipient), &request.data);
                let rendered = self
                    .renderer
                    .render(&text, &context)
                    .map_err(NotificationsError::Render)?;
                let category =
                    Category::parse(&template.category).unwrap_or(Category::Transactional);
                (template.id, id.channel(), category, rendered)
            }
            SendContent::AdHoc {
                channel,
                category,
                subject,
                body,
            } => (
                ADHOC_TEMPLATE.to_owned(),
                *channel,
                *category,
                templates::Rendered {
                    subject: subject.clone(),
                    body: body.clone(),
                    html: None,
                },
            ),
        };
        let preferences = store::preferences(&mut *tx, &recipient.id).await?;
        let preference = preference_of(&preferences, channel);
        let address = address_of(&recipient, channel, &preference)
            .ok_or(NotificationsError::NoAddress(channel))?;
        let mut record = self.new_record(
            String::new(),
            &recipient,
            &template_id,
            channel,
            category,
            address,
        );
        // Each request is its own cause; a retried request is caught by its
        // Idempotency-Key before it gets here.
        record.dedupe_key = format!("send:{}", record.id);
        record.subject = rendered.subject;
        record.body = rendered.body;
        record.html = rendered.html;
        if !domain::allows(category, &preference) {
            record.status = Status::Suppressed.as_str().into();
        }
        store::insert_notification(&mut tx, &record).await?;
        tx.commit().await?;
        self.wake_sender();
        Ok(record)
    }

    /// A notification by id.
    pub async fn notification(&self, id: &str) -> Result<NotificationRecord, NotificationsError> {
        store::notification(self.db.reader(), id)
            .await?
            .ok_or(NotificationsError::NotFound)
    }

    /// A user's notifications, newest first.
    pub async fn notifications_of(
        &self,
        user_id: &str,
        status: Option<Status>,
        before: Option<&str>,
        limit: i64,
    ) -> Result<Vec<NotificationRecord>, NotificationsError> {
        Ok(store::list_for_user(
            self.db.reader(),
            user_id,
            status.map(Status::as_str),
            before,
            limit,
        )
        .await?)
    }

    /// Messages kept in the local outbox, newest first.
    pub async fn local_outbox(
        &self,
        before: Option<&str>,
        limit: i64,
    ) -> Result<Vec<NotificationRecord>, NotificationsError> {
        Ok(store::list_outbox(self.db.reader(), before, limit).await?)
    }

    /// Templates by id.
    pub async fn templates(
        &self,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<TemplateRecord>, NotificationsError> {
        Ok(store::list_templates(self.db.reader(), after, limit).await?)
    }

    /// A template by id.
    pub async fn template(&self, id: &TemplateId) -> Result<TemplateRecord, NotificationsError> {
        store::template(self.db.reader(), &id.to_string())
            .await?
            .ok_or(NotificationsError::UnknownTemplate)
    }

    /// Creates or replaces template `id` after checking it renders; returns it and
    /// whether it is new. Messages already created keep the text they were rendered
    /// with; the next ones use the new text.
    pub async fn put_template(
        &self,
        actor: &str,
        id: &TemplateId,
        draft: TemplateDraft,
    ) -> Result<(TemplateRecord, bool), NotificationsError> {
        let problems = self.renderer.check(id, &draft.text);
        if !problems.is_empty() {
            return Err(NotificationsError::InvalidTemplate(problems));
        }
        let now = self.clock.now_millis();
        let mut tx = self.db.begin().await?;
        let existing = store::template(&mut *tx, &id.to_string()).await?;
        let category = draft
            .category
            .map(|c| c.as_str().to_owned())
            .or_else(|| existing.as_ref().map(|t| t.category.clone()))
            .unwrap_or_else(|| Category::Transactional.as_str().to_owned());
        let record = TemplateRecord {
            id: id.to_string(),
            key: id.key().to_owned(),
            channel: id.channel().as_str().to_owned(),
            category,
            subject: draft.text.subject,
            body: draft.text.body,
            html: draft.text.html,
            enabled: draft.enabled,
            created_at: existing.as_ref().map_or(now, |t| t.created_at),
            updated_at: now,
            updated_by: Some(actor.to_owned()),
        };
        let created = store::put_template(&mut tx, &record, true).await?;
        tx.commit().await?;
        Ok((record, created))
    }

    /// A user's preferences (defaults for channels never set).
    pub async fn preferences(&self, user_id: &str) -> Result<Preferences, NotificationsError> {
        let stored = store::preferences(self.db.reader(), user_id).await?;
        let user = store::user(self.db.reader(), user_id).await?;
        Ok(preferences_view(user_id, user.as_ref(), &stored))
    }

    /// Applies `changes` to a user's preferences and returns them.
    pub async fn set_preferences(
        &self,
        user_id: &str,
        changes: &[(Channel, PreferenceChange)],
    ) -> Result<Preferences, NotificationsError> {
        let now = self.clock.now_millis();
        let mut tx = self.db.begin().await?;
        let mut stored = store::preferences(&mut *tx, user_id).await?;
        for (channel, change) in changes {
            let mut preference = preference_of(&stored, *channel);
            if let Some(address) = &change.address {
                preference.address = address.clone();
            }
            if let Some(marketing) = change.marketing {
                preference.marketing = marketing;
            }
            store::set_preference(&mut tx, user_id, *channel, &preference, now).await?;
            stored.retain(|(c, _)| c != channel);
            stored.push((*channel, preference));
        }
        let user = store::user(&mut *tx, user_id).await?;
        tx.commit().await?;
        Ok(preferences_view(user_id, user.as_ref(), &stored))
    }
}

/// The stored preference of `channel`, or the default.
fn preference_of(stored: &[(Channel, ChannelPreference)], channel: Channel) -> ChannelPreference {
    stored
        .iter()
        .find(|(c, _)| *c == channel)
        .map(|(_, p)| p.clone())
        .unwrap_or_default()
}

/// Where `recipient`'s messages on `channel` go: the account's email, or the SMS or push
/// address they registered.
fn address_of(
    recipient: &UserRecord,
    channel: Channel,
    preference: &ChannelPreference,
) -> Option<String> {
    match channel {
        Channel::Email => Some(recipient.email.clone()).filter(|e| !e.is_empty()),
        Channel::Sms | Channel::Push => preference.address.clone(),
    }
}

/// The directory entry as templates see it.
pub fn recipient_of(user: &UserRecord) -> Recipient {
    Recipient {
        id: user.id.clone(),
        name: user.name.clone(),
        email: user.email.clone(),
    }
}

fn preferences_view(
    user_id: &str,
    user: Option<&UserRecord>,
    stored: &[(Channel, ChannelPreference)],
) -> Preferences {
    let settings = |channel: Channel| {
        let preference = preference_of(stored, channel);
        ChannelSettings {
            to: match channel {
                Channel::Email => user.map(|u| u.email.clone()).filter(|e| !e.is_empty()),
                Channel::Sms | Channel::Push => preference.address,
            },
            transactional: true,
            marketing: preference.marketing,
        }
    };
    Preferences {
        user_id: user_id.to_owned(),
        email: settings(Channel::Email),
        sms: settings(Channel::Sms),
        push: settings(Channel::Push),
    }
}
