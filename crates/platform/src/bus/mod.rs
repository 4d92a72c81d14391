//! The event bus: one trait, two adapters, and the outbox/inbox around them.
//!
//! A service stages events in its own database, in the same transaction as the change
//! they announce ([`Outbox::stage`]), and wakes the bus after committing. The bus moves
//! them to every subscribed consumer:
//!
//! - [`EmbeddedBus`] (one process): the producers' outbox tables are the log; a
//!   dispatcher per consumer reads each producer's outbox from a stored cursor.
//! - [`NatsBus`] (distributed): a relay publishes outbox rows to one JetStream stream per
//!   producing service with `Nats-Msg-Id` = event id, and each consuming service reads
//!   through one durable consumer per stream.
//!
//! Either way a consumer applies an event through [`consumer`], which records the event
//! as applied in the same transaction as the effect (so redelivery has no second
//! effect), retries failures with backoff and, after the last attempt, moves the event
//! to the dead-letter table. The record is the event id in the consumer's inbox; over
//! the embedded log, read in order, it is the dispatcher's cursor (see `embedded`).
//!
//! Beside those durable subscriptions, [`Bus::tail`] follows one producer's new events
//! at most once, in every process that asks: for state each process keeps of its own
//! and can rebuild, like the gateway's response cache, never for effects.

mod consumer;
mod cursor;
pub mod dead_letters;
mod embedded;
mod envelope;
mod nats;
mod outbox;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

pub use dead_letters::{DeadLetter, dead_letters, replay_dead_letter};
pub use embedded::{EmbeddedBus, deliver_without_advancing};
pub use envelope::Envelope;
pub use nats::{ConsumerBacklog, NatsBus, NatsOptions, STREAM_RETENTION};
pub use outbox::{Outbox, OutboxRow, mark_published, unpublished};

use crate::db::{Db, Tx};
use crate::service::kind::ServiceKind;
use crate::tasks::Tasks;

/// Why the bus could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// The NATS server refused or could not be reached.
    #[error("nats: {0}")]
    Nats(String),
    /// The embedded bus's producer registry is unusable (a thread panicked holding it).
    #[error("the embedded bus registry is unavailable")]
    Registry,
    /// A database operation failed.
    #[error(transparent)]
    Sql(#[from] crate::db::Error),
}

/// Why a handler could not apply an event; the event will be retried.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// The payload does not fit the expected type.
    #[error("payload does not match the event type")]
    Decode(#[from] serde_json::Error),
    /// The consumer's database failed.
    #[error("database error")]
    Sql(#[from] crate::db::Error),
    /// The handler refused the event for a domain reason.
    #[error("{0}")]
    Rejected(String),
}

/// Applies events inside the consumer's transaction.
#[async_trait]
pub trait EventHandler: Send + Sync + 'static {
    /// Applies `event`. Writes go through `tx`, which also records the event as applied
    /// (its inbox row or the embedded cursor), so the effect happens once or not at all. Events of types it does not care about are
    /// ignored by returning `Ok`.
    async fn handle(&self, tx: &mut Tx, event: &Envelope) -> Result<(), HandlerError>;

    /// Whether events of `event_type` are handled at all. Others are acknowledged
    /// without opening a transaction or writing an inbox row, which matters for busy
    /// streams a consumer reads only a few types of.
    fn handles(&self, event_type: &str) -> bool {
        let _ = event_type;
        true
    }

    /// Called after the transaction holding `event`'s effect committed (not for
    /// duplicates): the place to wake whoever waits for that effect.
    fn applied(&self, event: &Envelope) {
        let _ = event;
    }
}

/// How often and how patiently a consumer retries a failing event.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts before the event is dead-lettered (at least 1).
    pub max_attempts: u32,
    /// Delay before the second attempt; each later delay is four times longer.
    pub base_delay: Duration,
    /// Longest delay between attempts.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// The wait after failed attempt number `attempt` (1-based).
    pub fn delay_after(&self, attempt: u32) -> Duration {
        let factor = 4u32.saturating_pow(attempt.saturating_sub(1));
        self.base_delay.saturating_mul(factor).min(self.max_delay)
    }
}

/// A consuming service's subscription to the events of some producers.
#[derive(Clone)]
pub struct Subscription {
    /// The consuming service's name: its durable consumer name and its inbox scope.
    pub consumer: String,
    /// The consumer's own database (inbox, dead letters, effects).
    pub db: Db,
    /// The producers whose events it reads.
    pub streams: Vec<ServiceKind>,
    /// What it does with each event.
    pub handler: Arc<dyn EventHandler>,
    /// Retry and dead-letter policy.
    pub retry: RetryPolicy,
    /// The consuming service's own outbox, if it emits events in reaction: woken after
    /// each applied event so what the handler staged moves on at once instead of at
    /// the relay's next poll.
    pub outbox: Option<Outbox>,
}

/// Which of a producer's outbox rows every consumer has been handed: what retention
/// ([`crate::retention`]) may delete once they are old enough.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivered {
    /// The rows marked published: they are in the broker, which delivers them from
    /// there (and keeps them for its own retention); the outbox row is only history.
    Published,
    /// The rows up to this `seq`: the log is read in place, and every consumer's cursor
    /// is at or past it. `i64::MAX` when nobody reads the log.
    Through(i64),
}

/// What a [`Bus::tail`] calls with each event; it runs on the bus's task, so it must
/// be quick (hand anything slow to a task of its own).
pub type OnEvent = Arc<dyn Fn(&Envelope) + Send + Sync>;

/// The transport between producers' outboxes and consumers.
#[async_trait]
pub trait Bus: Send + Sync + 'static {
    /// Makes `producer`'s outbox flow to subscribers and returns the handle its code
    /// stages events with.
    async fn attach_producer(
        &self,
        producer: ServiceKind,
        db: Db,
        tasks: &Tasks,
    ) -> Result<Outbox, BusError>;

    /// Starts delivering the events of `subscription.streams` to its handler until
    /// shutdown.
    async fn subscribe(&self, subscription: Subscription, tasks: &Tasks) -> Result<(), BusError>;

    /// Calls `on_event` with each event `producer` publishes from now on, until
    /// shutdown. Unlike [`Bus::subscribe`] nothing is stored: every process that tails
    /// gets every event, at most once, and events published while it was not following
    /// (before the call, during a reconnect) are not delivered. For state a process
    /// keeps of its own and can rebuild (a cache to drop), never for effects.
    async fn tail(
        &self,
        producer: ServiceKind,
        tasks: &Tasks,
        on_event: OnEvent,
    ) -> Result<(), BusError>;

    /// Checks the transport is reachable (for readiness).
    async fn ping(&self) -> Result<(), BusError>;

    /// Which of `producer`'s outbox rows every consumer has been handed (for
    /// retention: a row a consumer may still need is never deleted).
    async fn delivered(&self, producer: ServiceKind) -> Result<Delivered, BusError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_by_four_and_is_capped() {
        let policy = RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
        };
        assert_eq!(policy.delay_after(1), Duration::from_millis(100));
        assert_eq!(policy.delay_after(2), Duration::from_millis(400));
        assert_eq!(policy.delay_after(3), Duration::from_secs(1));
        assert_eq!(policy.delay_after(40), Duration::from_secs(1));
    }
}
