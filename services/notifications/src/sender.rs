//! The sender: claims due messages and hands each to its channel's courier, several at
//! once, outside any database transaction, in the loop `due` runs (woken by the
//! consumer's `applied` hook and the send endpoint). A claim is a conditional update
//! with a lease (see `store::claim_due`).
//!
//! A sent message's `sent_at` is read the moment its courier returns (the channel took
//! it), not when the outcome is recorded, so `sent_at - event_time` measures delivery
//! and not the database. The outcome is a transition of the claimed [`Message`], and
//! is written only while the row is still in the state that transition starts from
//! with the claim's attempt count (`store::settle`).

use std::time::Duration;

use async_trait::async_trait;
use platform::tasks::Tasks;

use crate::app::NotificationsApp;
use crate::channels::Couriers;
use crate::config::NotificationsConfig;
use crate::domain::{AfterFailure, DeliveryError, Message, Status, Transition, Transport};
use crate::due::{self, DueWork, Pace};
use crate::store;

/// Longest `last_error` kept.
const MAX_ERROR_CHARS: usize = 1_000;

/// A message its channel took.
struct Accepted {
    /// How it left.
    transport: Transport,
    /// When the channel took it (the SMTP server's reply to DATA, the webhook's 2xx),
    /// epoch ms.
    at: i64,
}

/// Delivers queued messages.
pub struct Sender {
    app: NotificationsApp,
    couriers: Couriers,
}

impl Sender {
    /// Runs the delivery loop for `app`'s messages through `couriers` until shutdown.
    pub fn start(
        app: NotificationsApp,
        couriers: Couriers,
        config: &NotificationsConfig,
        tasks: &Tasks,
    ) {
        let pace = Pace::new(config.concurrency, config);
        let (wake, clock) = (app.wake.clone(), app.clock.clone());
        due::start(Self { app, couriers }, pace, wake, clock, tasks);
    }
}

#[async_trait]
impl DueWork for Sender {
    type Item = Message;

    const NAME: &'static str = "notifications";

    async fn next_due(&self) -> Result<Option<i64>, platform::db::Error> {
        store::next_due(self.app.db.reader()).await
    }

    async fn claim(
        &self,
        now: i64,
        lease_until: i64,
        limit: i64,
    ) -> Result<Vec<Message>, platform::db::Error> {
        let mut tx = self.app.db.begin().await?;
        let claimed = store::claim_due(&mut tx, now, lease_until, limit).await?;
        for (id, err) in &claimed.unreadable {
            // Never deliverable: failed at once, loudly, and one corrupt row never holds
            // up the others.
            tracing::error!(notification_id = %id, error = %err, "claimed notification cannot be read; giving up on it");
            store::give_up_unreadable(&mut tx, id, now).await?;
        }
        tx.commit().await?;
        Ok(claimed.messages)
    }

    async fn work(&self, message: Message) {
        self.deliver(message).await;
    }
}

impl Sender {
    #[tracing::instrument(
        skip_all,
        fields(
            notification_id = %message.id(),
            user_id = %message.composed().user_id,
            channel = message.composed().channel.as_str(),
            attempt = message.delivery().attempts,
        )
    )]
    async fn deliver(&self, mut message: Message) {
        let courier = self.couriers.of(message.composed().channel);
        let outcome = courier
            .deliver(&message.outgoing())
            .await
            .map(|()| Accepted {
                transport: courier.transport(),
                // Read now, not when the outcome is recorded: `sent_at` is when the
                // channel took the message, whatever the database does next.
                at: self.app.clock.now_millis(),
            });
        let Some((transition, label)) = self.conclude(&mut message, &outcome) else {
            return;
        };
        // The message went out (or not) whatever the database does next; keep trying
        // to record it briefly, or the lease makes it due again (a duplicate beats a
        // silent loss).
        for attempt in 1..=3u32 {
            match self
                .record(&message, transition, label, outcome.as_ref().ok())
                .await
            {
                Ok(()) => return,
                Err(err) => {
                    tracing::error!(error = %err, attempt, "cannot record the delivery outcome");
                    tokio::time::sleep(Duration::from_millis(100 * u64::from(attempt))).await;
                }
            }
        }
    }

    /// Moves the claimed `message` through the transition `outcome` calls for; returns
    /// it with the outcome's metric label, or `None` when the message refused it.
    fn conclude(
        &self,
        message: &mut Message,
        outcome: &Result<Accepted, DeliveryError>,
    ) -> Option<(Transition, &'static str)> {
        let moved = match outcome {
            Ok(accepted) => message
                .mark_sent(accepted.transport, accepted.at)
                .map(|t| (t, "sent")),
            Err(err) => {
                let error = clip(&err.to_string());
                match self
                    .app
                    .retry
                    .after_failure(message.delivery().attempts, err)
                {
                    AfterFailure::RetryIn(delay) => {
                        let now = self.app.clock.now_millis();
                        let at = now + i64::try_from(delay.as_millis()).unwrap_or(i64::MAX / 2);
                        tracing::warn!(error = %error, retry_in_ms = delay.as_millis() as u64, "delivery failed; will retry");
                        message.retry(error, at).map(|t| (t, "retry"))
                    }
                    AfterFailure::GiveUp => {
                        tracing::warn!(error = %error, "delivery failed for good");
                        message.give_up(error).map(|t| (t, "failed"))
                    }
                }
            }
        };
        match moved {
            Ok(concluded) => Some(concluded),
            Err(err) => {
                // A claim only returns queued messages, from which every outcome is
                // legal; this is a bug, and the lease makes the message due again.
                tracing::error!(error = %err, "delivery outcome refused by the message");
                None
            }
        }
    }

    /// Records `message` after `transition`, with its events when it was sent (and
    /// delivered) or given up on, if the claim is still this sender's.
    async fn record(
        &self,
        message: &Message,
        transition: Transition,
        label: &'static str,
        accepted: Option<&Accepted>,
    ) -> Result<(), platform::db::Error> {
        let app = &self.app;
        let mut tx = app.db.begin().await?;
        let changed = store::settle(&mut tx, message, transition, app.clock.now_millis()).await?;
        if changed {
            match message.status() {
                Status::Sent => {
                    app.outbox.stage(&mut tx, &message.sent_event()).await?;
                    // Accepted by the SMTP server or the provider: delivered, as far
                    // as anyone tells Viscount (see `Message::delivered_event`).
                    if let Some(delivered) = message.delivered_event() {
                        app.outbox.stage(&mut tx, &delivered).await?;
                    }
                }
                Status::Failed => {
                    app.outbox.stage(&mut tx, &message.failed_event()).await?;
                }
                _ => {}
            }
        }
        tx.commit().await?;
        if !changed {
            // The lease ran out and another sender took the row over; its outcome wins.
            tracing::warn!("delivery outcome not recorded: the claim had lapsed");
            return Ok(());
        }
        let channel = message.composed().channel.as_str();
        if let Some(accepted) = accepted {
            let seconds = (accepted.at - message.composed().created_at).max(0) as f64 / 1000.0;
            crate::metrics::delivered_after(channel, seconds);
            tracing::info!(transport = accepted.transport.as_str(), "notification sent");
        }
        app.outbox.wake();
        crate::metrics::delivery(channel, label);
        Ok(())
    }
}

/// `text`, cut to [`MAX_ERROR_CHARS`] characters (an error kept for people to read).
pub(crate) fn clip(text: &str) -> String {
    match text.char_indices().nth(MAX_ERROR_CHARS) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_errors_are_clipped() {
        assert_eq!(clip("short"), "short");
        let long = "é".repeat(MAX_ERROR_CHARS + 5);
        assert_eq!(clip(&long).chars().count(), MAX_ERROR_CHARS + 1);
    }
}
