//! The [`Message`] aggregate: one notification to one recipient on one channel, and
//! the state machine of its delivery.
//!
//! ```text
//! composed ─▶ queued       due at once
//!          ─▶ suppressed   the recipient opted out of its category (final)
//!          ─▶ failed       its template cannot be rendered with the event's data (final)
//!
//! queued ─claim───▶ queued     one more attempt, hidden from other senders for a lease
//! queued ─send────▶ sent       the channel took it
//! queued ─retry───▶ queued     the attempt failed; due again later
//! queued ─give up─▶ failed     a permanent failure, or the last attempt failed
//! queued ─cancel──▶ cancelled  the recipient's account was deleted first
//! ```
//!
//! Every transition leaves `queued`; the others are final. [`Transition`] is the table
//! the store's conditional updates are generated from, so the state machine exists
//! once: a message changes state only through its methods here, and the store writes
//! the result only where the row is still in the status the transition starts from.

use contracts::notifications::{NotificationDelivered, NotificationFailed, NotificationSent};

use super::{Attachment, Category, Channel, ChannelPreference, Outgoing, allows, is_user_id};

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
    /// Every status.
    pub const ALL: [Status; 5] = [
        Self::Queued,
        Self::Sent,
        Self::Failed,
        Self::Suppressed,
        Self::Cancelled,
    ];

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
        Self::ALL.into_iter().find(|s| s.as_str() == raw)
    }

    /// The status `transition` leads to from this one, or why it may not happen.
    pub fn after(self, transition: Transition) -> Result<Status, IllegalTransition> {
        if self == transition.from() {
            Ok(transition.to())
        } else {
            Err(IllegalTransition {
                from: self,
                transition,
            })
        }
    }
}

/// A change of a message's delivery state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// A sender takes a due message for one more attempt.
    Claim,
    /// The channel accepted it.
    Send,
    /// The attempt failed and another one is due later.
    Retry,
    /// No more attempts.
    GiveUp,
    /// The recipient was deleted before it went out.
    Cancel,
}

impl Transition {
    /// Every transition.
    pub const ALL: [Transition; 5] = [
        Self::Claim,
        Self::Send,
        Self::Retry,
        Self::GiveUp,
        Self::Cancel,
    ];

    /// Its name, for errors and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Claim => "be claimed",
            Self::Send => "be sent",
            Self::Retry => "be retried",
            Self::GiveUp => "be given up",
            Self::Cancel => "be cancelled",
        }
    }

    /// The status a message must be in for it: every transition leaves `queued`.
    pub fn from(self) -> Status {
        Status::Queued
    }

    /// The status it leads to.
    pub fn to(self) -> Status {
        match self {
            Self::Claim | Self::Retry => Status::Queued,
            Self::Send => Status::Sent,
            Self::GiveUp => Status::Failed,
            Self::Cancel => Status::Cancelled,
        }
    }
}

/// A transition asked of a message in a status it does not start from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a {} message cannot {}", from.as_str(), transition.as_str())]
pub struct IllegalTransition {
    /// The message's status.
    pub from: Status,
    /// What was asked.
    pub transition: Transition,
}

/// How a sent message left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// Over SMTP.
    Smtp,
    /// Through a provider's webhook.
    Webhook,
    /// Kept in the local outbox (the channel has no transport configured).
    Outbox,
}

impl Transport {
    /// Every transport.
    pub const ALL: [Transport; 3] = [Self::Smtp, Self::Webhook, Self::Outbox];

    /// Stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Smtp => "smtp",
            Self::Webhook => "webhook",
            Self::Outbox => "outbox",
        }
    }

    /// Parses a stored name.
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == raw)
    }
}

/// The event a message answers, recorded on it so the delay from an event to its
/// message leaving can be read off every message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// The CloudEvents type, e.g. `ordering.order.confirmed.v1`.
    pub event_type: String,
    /// The event's subject (the aggregate id: an order, a user, a shipment).
    pub subject: String,
    /// The event's time, epoch ms; `None` when it was not RFC 3339.
    pub time: Option<i64>,
}

/// A message's rendered text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Content {
    /// Subject line or push title, on one line.
    pub subject: Option<String>,
    /// Plain-text body.
    pub body: String,
    /// HTML body (email).
    pub html: Option<String>,
}

/// What a message is, fixed when it is composed: who it is for, where it goes, what it
/// says and why it exists. Only a deleted recipient's redaction changes it after
/// that, and that happens in storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Composed {
    /// The notification id.
    pub id: String,
    /// Makes a redelivered cause create nothing twice.
    pub dedupe_key: String,
    /// The recipient user, or `mailto:<address>` for an address that is no user's
    /// (see [`super::ADDRESS_PREFIX`]).
    pub user_id: String,
    /// The template it was rendered from (`adhoc` for the API's own text).
    pub template_id: String,
    /// The channel.
    pub channel: Channel,
    /// Its category.
    pub category: Category,
    /// Email address, phone number or device token.
    pub to: String,
    /// The rendered text.
    pub content: Content,
    /// Files it carries (emails only), in order.
    pub attachments: Vec<Attachment>,
    /// The event behind it (none for an admin's send).
    pub origin: Option<Origin>,
    /// Creation, epoch ms.
    pub created_at: i64,
}

/// Where a message's delivery stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The status.
    pub status: Status,
    /// Attempts so far.
    pub attempts: u32,
    /// The last failure.
    pub last_error: Option<String>,
    /// When it is due (or its claim lapses), epoch ms.
    pub next_attempt_at: i64,
    /// How it left, once sent.
    pub transport: Option<Transport>,
    /// When the channel accepted it (the SMTP server's reply to DATA, the webhook's
    /// 2xx), epoch ms: `sent_at - origin.time` is the delay from event to delivery.
    pub sent_at: Option<i64>,
}

/// One notification to one recipient on one channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    composed: Composed,
    delivery: Delivery,
}

impl Message {
    fn new(composed: Composed, status: Status, last_error: Option<String>) -> Self {
        let delivery = Delivery {
            status,
            attempts: 0,
            last_error,
            next_attempt_at: composed.created_at,
            transport: None,
            sent_at: None,
        };
        Self { composed, delivery }
    }

    /// A new message, queued and due at once.
    pub fn queue(composed: Composed) -> Self {
        Self::new(composed, Status::Queued, None)
    }

    /// A new message for a recipient whose preference on its channel is `preference`:
    /// queued, or suppressed when they do not want its category.
    pub fn compose(composed: Composed, preference: &ChannelPreference) -> Self {
        if allows(composed.category, preference) {
            Self::queue(composed)
        } else {
            Self::suppressed(composed)
        }
    }

    /// A new message that does not go out: the recipient opted out of its category on
    /// its channel. It is kept, so the recipient's list shows what was held back.
    pub fn suppressed(composed: Composed) -> Self {
        Self::new(composed, Status::Suppressed, None)
    }

    /// A new message whose template could not be rendered (an admin's template the
    /// event's data cannot fill): failed at once with `error`, instead of retrying an
    /// event that will never render.
    pub fn unrenderable(composed: Composed, error: String) -> Self {
        Self::new(composed, Status::Failed, Some(error))
    }

    /// A message as stored (for the store, which read both parts from one row).
    pub fn restore(composed: Composed, delivery: Delivery) -> Self {
        Self { composed, delivery }
    }

    /// What it is.
    pub fn composed(&self) -> &Composed {
        &self.composed
    }

    /// Where its delivery stands.
    pub fn delivery(&self) -> &Delivery {
        &self.delivery
    }

    /// The notification id.
    pub fn id(&self) -> &str {
        &self.composed.id
    }

    /// The status.
    pub fn status(&self) -> Status {
        self.delivery.status
    }

    /// Moves to the status `transition` leads to, if it may.
    fn apply(&mut self, transition: Transition) -> Result<Transition, IllegalTransition> {
        self.delivery.status = self.delivery.status.after(transition)?;
        Ok(transition)
    }

    /// No more attempts, because of `error`.
    pub fn give_up(&mut self, error: String) -> Result<Transition, IllegalTransition> {
        let transition = self.apply(Transition::GiveUp)?;
        self.delivery.last_error = Some(error);
        Ok(transition)
    }

    /// The attempt failed with `error`; the next one is due at `at` (epoch ms).
    pub fn retry(&mut self, error: String, at: i64) -> Result<Transition, IllegalTransition> {
        let transition = self.apply(Transition::Retry)?;
        self.delivery.last_error = Some(error);
        self.delivery.next_attempt_at = at;
        Ok(transition)
    }

    /// The channel took it through `transport` at `at` (epoch ms).
    pub fn mark_sent(
        &mut self,
        transport: Transport,
        at: i64,
    ) -> Result<Transition, IllegalTransition> {
        let transition = self.apply(Transition::Send)?;
        self.delivery.transport = Some(transport);
        self.delivery.sent_at = Some(at);
        Ok(transition)
    }

    /// It as its channel's courier takes it.
    pub fn outgoing(&self) -> Outgoing {
        let composed = &self.composed;
        Outgoing {
            id: composed.id.clone(),
            channel: composed.channel,
            to: composed.to.clone(),
            subject: composed.content.subject.clone(),
            body: composed.content.body.clone(),
            html: composed.content.html.clone(),
            attachments: composed.attachments.clone(),
        }
    }

    /// The recipient user, unless the message went to an address that is no user's.
    fn recipient_user(&self) -> Option<String> {
        Some(self.composed.user_id.clone()).filter(|id| is_user_id(id))
    }

    /// `notifications.notification.sent`, announcing it was sent.
    pub fn sent_event(&self) -> NotificationSent {
        NotificationSent {
            notification_id: self.composed.id.clone(),
            user_id: self.recipient_user(),
            channel: self.composed.channel.as_str().to_owned(),
            template_id: self.composed.template_id.clone(),
            attempts: self.delivery.attempts,
        }
    }

    /// `notifications.notification.delivered`, once a sent message reached a server or
    /// provider outside Viscount: the SMTP server accepted it, or the SMS or push
    /// provider's webhook answered 2xx. Neither provider shape calls back with a later
    /// delivery receipt, so acceptance is the delivery Viscount can know of. A message
    /// kept in the local outbox (no transport configured) went nowhere: `None`.
    pub fn delivered_event(&self) -> Option<NotificationDelivered> {
        let transport = self.delivery.transport?;
        let at = self.delivery.sent_at?;
        if self.delivery.status != Status::Sent || transport == Transport::Outbox {
            return None;
        }
        Some(NotificationDelivered {
            notification_id: self.composed.id.clone(),
            user_id: self.recipient_user(),
            channel: self.composed.channel.as_str().to_owned(),
            template_id: self.composed.template_id.clone(),
            transport: transport.as_str().to_owned(),
            delivered_at: platform::time::rfc3339(at),
        })
    }

    /// `notifications.notification.failed`, announcing it was given up on.
    pub fn failed_event(&self) -> NotificationFailed {
        NotificationFailed {
            notification_id: self.composed.id.clone(),
            user_id: self.recipient_user(),
            channel: self.composed.channel.as_str().to_owned(),
            template_id: self.composed.template_id.clone(),
            attempts: self.delivery.attempts,
            error: self.delivery.last_error.clone().unwrap_or_default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queued() -> Message {
        Message::queue(Composed {
            id: "n1".into(),
            dedupe_key: "e1:welcome.email:u1".into(),
            user_id: "u1".into(),
            template_id: "welcome.email".into(),
            channel: Channel::Email,
            category: Category::Transactional,
            to: "u1@example.com".into(),
            content: Content {
                subject: Some("Hi".into()),
                body: "Hello".into(),
                html: None,
            },
            attachments: Vec::new(),
            origin: None,
            created_at: 1_000,
        })
    }

    fn in_status(status: Status) -> Message {
        let mut message = queued();
        message.delivery.status = status;
        message
    }

    #[test]
    fn every_transition_leaves_queued_and_nothing_leaves_a_final_status() {
        use Status::*;
        use Transition::*;
        let table = [
            (Queued, Claim, Some(Queued)),
            (Queued, Send, Some(Sent)),
            (Queued, Retry, Some(Queued)),
            (Queued, GiveUp, Some(Failed)),
            (Queued, Cancel, Some(Cancelled)),
        ];
        for status in Status::ALL {
            for transition in Transition::ALL {
                let want = table
                    .iter()
                    .find(|(s, t, _)| *s == status && *t == transition)
                    .and_then(|(_, _, to)| *to);
                let got = status.after(transition);
                match want {
                    Some(to) => assert_eq!(got, Ok(to), "{status:?} {transition:?}"),
                    None => assert_eq!(
                        got,
                        Err(IllegalTransition {
                            from: status,
                            transition
                        }),
                        "{status:?} {transition:?}"
                    ),
                }
                assert_eq!(transition.from(), Queued, "the store conditions on it");
            }
        }
    }

    #[test]
    fn a_new_message_is_queued_and_due_at_once() {
        let message = queued();
        assert_eq!(message.status(), Status::Queued);
        assert_eq!(message.delivery().attempts, 0);
        assert_eq!(message.delivery().next_attempt_at, 1_000);
    }

    #[test]
    fn transitions_record_what_happened() {
        let mut sent = queued();
        assert_eq!(sent.mark_sent(Transport::Smtp, 2_000), Ok(Transition::Send));
        assert_eq!(
            (
                sent.status(),
                sent.delivery().transport,
                sent.delivery().sent_at
            ),
            (Status::Sent, Some(Transport::Smtp), Some(2_000))
        );

        let mut retried = queued();
        assert_eq!(
            retried.retry("451 try later".into(), 5_000),
            Ok(Transition::Retry)
        );
        assert_eq!(retried.status(), Status::Queued);
        assert_eq!(retried.delivery().next_attempt_at, 5_000);
        assert_eq!(
            retried.delivery().last_error.as_deref(),
            Some("451 try later")
        );

        let mut failed = queued();
        assert_eq!(
            failed.give_up("550 no such mailbox".into()),
            Ok(Transition::GiveUp)
        );
        assert_eq!(failed.status(), Status::Failed);
        assert_eq!(failed.failed_event().error, "550 no such mailbox");

        let composed = queued().composed().clone();
        let opted_out = ChannelPreference {
            address: None,
            marketing: false,
        };
        assert_eq!(
            Message::compose(composed.clone(), &opted_out).status(),
            Status::Queued,
            "transactional messages always go"
        );
        let marketing = Composed {
            category: Category::Marketing,
            ..composed.clone()
        };
        assert_eq!(
            Message::compose(marketing.clone(), &opted_out).status(),
            Status::Suppressed
        );
        assert_eq!(
            Message::compose(marketing, &ChannelPreference::default()).status(),
            Status::Queued,
            "marketing is opt-out"
        );
        let unrenderable = Message::unrenderable(composed, "template x: undefined".into());
        assert_eq!(unrenderable.status(), Status::Failed);
        assert_eq!(unrenderable.failed_event().attempts, 0);
    }

    #[test]
    fn a_refused_transition_changes_nothing() {
        for status in [
            Status::Sent,
            Status::Failed,
            Status::Suppressed,
            Status::Cancelled,
        ] {
            let mut message = in_status(status);
            let before = message.clone();
            assert!(message.mark_sent(Transport::Outbox, 2_000).is_err());
            assert!(message.retry("x".into(), 3_000).is_err());
            assert!(message.give_up("x".into()).is_err());
            assert_eq!(message, before, "{status:?}");
        }
        let err = in_status(Status::Sent).give_up("x".into());
        assert_eq!(
            err.map_err(|e| e.to_string()),
            Err("a sent message cannot be given up".to_owned())
        );
    }

    #[test]
    fn events_name_the_message_and_its_attempts() {
        let mut message = queued();
        message.delivery.attempts = 2;
        message
            .mark_sent(Transport::Webhook, 2_000)
            .expect("queued");
        let sent = message.sent_event();
        assert_eq!(
            (
                sent.notification_id.as_str(),
                sent.user_id.as_deref(),
                sent.channel.as_str(),
                sent.template_id.as_str(),
                sent.attempts
            ),
            ("n1", Some("u1"), "email", "welcome.email", 2)
        );
        assert_eq!(message.outgoing().to, "u1@example.com");
    }

    #[test]
    fn only_a_message_a_server_or_provider_took_is_delivered() {
        assert_eq!(queued().delivered_event(), None, "not sent yet");
        for (transport, delivered) in [
            (Transport::Smtp, true),
            (Transport::Webhook, true),
            (Transport::Outbox, false),
        ] {
            let mut message = queued();
            message.mark_sent(transport, 2_000).expect("queued");
            let event = message.delivered_event();
            assert_eq!(event.is_some(), delivered, "{transport:?}");
            if let Some(event) = event {
                assert_eq!(event.notification_id, "n1");
                assert_eq!(event.user_id.as_deref(), Some("u1"));
                assert_eq!(event.transport, transport.as_str());
                assert_eq!(event.delivered_at, platform::time::rfc3339(2_000));
            }
        }
    }

    #[test]
    fn names_round_trip() {
        for status in Status::ALL {
            assert_eq!(Status::parse(status.as_str()), Some(status));
        }
        for transport in Transport::ALL {
            assert_eq!(Transport::parse(transport.as_str()), Some(transport));
        }
        assert_eq!(Status::parse("leased"), None);
        assert_eq!(Transport::parse("pigeon"), None);
    }
}
