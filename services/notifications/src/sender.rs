//! The delivery loop: claims due messages and hands each to its channel's courier,
//! several at once, outside any database transaction.
//!
//! The loop wakes when a commit queued messages (the consumer's `applied` hook, the
//! send endpoint), when a delivery finished (a permit is free again), when the
//! earliest retry comes due, or at the poll interval (messages queued by another
//! replica). A claim is a conditional update with a lease (see `store::claim_due`), so
//! replicas never send the same row at once, and a sender that dies mid-delivery
//! leaves its rows due again after the lease. Each delivery holds one of `concurrency`
//! permits, so a slow or failing recipient occupies one slot and never holds up the
//! rest. This is not a `Tasks::every` sweeper because it must also wake on demand.
//!
//! A sent message's `sent_at` is read the moment its courier returns (the channel took
//! it), not when the outcome is recorded, so `sent_at - event_time` measures delivery
//! and not the database. The outcome is a transition of the claimed [`Message`], and
//! is written only while the row is still in the state that transition starts from
//! with the claim's attempt count (`store::settle`).

use std::sync::Arc;
use std::time::Duration;

use platform::tasks::Tasks;
use tokio::sync::Semaphore;

use crate::app::NotificationsApp;
use crate::channels::Couriers;
use crate::config::NotificationsConfig;
use crate::domain::{AfterFailure, DeliveryError, Message, Status, Transition, Transport};
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
    permits: Arc<Semaphore>,
    poll: Duration,
    lease: Duration,
}

impl Sender {
    /// A sender for `app`'s messages through `couriers`.
    pub fn new(app: NotificationsApp, couriers: Couriers, config: &NotificationsConfig) -> Self {
        Self {
            app,
            couriers,
            permits: Arc::new(Semaphore::new(config.concurrency.max(1))),
            poll: Duration::from_millis(config.poll_interval_ms.max(10)),
            lease: Duration::from_secs(config.lease_secs.max(1)),
        }
    }

    /// Runs the loop until shutdown.
    pub fn start(self, tasks: &Tasks) {
        let sender = Arc::new(self);
        let spawner = tasks.clone();
        tasks.spawn(async move { sender.run(spawner).await });
    }

    async fn run(self: Arc<Self>, tasks: Tasks) {
        let shutdown = tasks.shutdown().clone();
        loop {
            if shutdown.is_cancelled() {
                return;
            }
            let wait = match self.pass(&tasks).await {
                Ok(wait) => wait,
                Err(err) => {
                    tracing::warn!(error = %err, "claiming due notifications failed");
                    self.poll
                }
            };
            if wait.is_zero() {
                continue;
            }
            // `notify_one` keeps a permit when nobody waits, so a wake-up that came
            // during the pass ends this wait at once.
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = self.app.wake.notified() => {}
                () = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// Claims what is due (as many as there are free permits) and starts delivering it;
    /// returns how long to wait before the next pass.
    async fn pass(self: &Arc<Self>, tasks: &Tasks) -> Result<Duration, platform::db::Error> {
        let free = self.permits.available_permits();
        if free == 0 {
            // A finishing delivery wakes the loop.
            return Ok(self.poll);
        }
        let now = self.app.clock.now_millis();
        let next_due = store::next_due(self.app.db.reader()).await?;
        match next_due {
            None => return Ok(self.poll),
            Some(at) if at > now => {
                let until = Duration::from_millis(u64::try_from(at - now).unwrap_or(0));
                return Ok(until.min(self.poll));
            }
            Some(_) => {}
        }
        let lease_until = now + i64::try_from(self.lease.as_millis()).unwrap_or(i64::MAX / 2);
        let mut tx = self.app.db.begin().await?;
        let claimed = store::claim_due(
            &mut tx,
            now,
            lease_until,
            i64::try_from(free).unwrap_or(i64::MAX),
        )
        .await?;
        for (id, err) in &claimed.unreadable {
            // Never deliverable: failed at once, loudly, and one corrupt row never holds
            // up the others.
            tracing::error!(notification_id = %id, error = %err, "claimed notification cannot be read; giving up on it");
            store::give_up_unreadable(&mut tx, id, now).await?;
        }
        tx.commit().await?;
        let full = claimed.messages.len() + claimed.unreadable.len() == free;
        for message in claimed.messages {
            // Only this loop takes permits, so one is free for each claimed row.
            let permit = self.permits.clone().try_acquire_owned().ok();
            let sender = self.clone();
            tasks.spawn(async move {
                sender.deliver(message).await;
                drop(permit);
                sender.app.wake_sender();
            });
        }
        Ok(if full { Duration::ZERO } else { self.poll })
    }

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

    /// Records `message` after `transition`, with its event when it was sent or given
    /// up on, if the claim is still this sender's.
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

fn clip(text: &str) -> String {
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
