//! The embedded bus: producers' outbox tables are the durable log, and a dispatcher task
//! per (consumer, producer) delivers from a cursor stored beside that log.
//!
//! The cursor moves only after the consumer's transaction committed, so a crash in
//! between redelivers and the consumer's inbox absorbs the duplicate. The log is read
//! in `seq` order, which is commit order because SQLite has one writer at a time.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::watch;

use super::consumer::{Outcome, dead_letter_unreadable, deliver};
use super::{Bus, BusError, Envelope, Outbox, Subscription, outbox};
use crate::db::Db;
use crate::service::ServiceKind;
use crate::tasks::Tasks;

/// How many log entries a dispatcher reads at a time.
const BATCH: i64 = 256;
/// How often an idle dispatcher looks at the log even without a wake-up.
const POLL: Duration = Duration::from_secs(1);

/// In-process bus over the producers' outbox tables.
#[derive(Clone, Default)]
pub struct EmbeddedBus {
    producers: Arc<Mutex<HashMap<ServiceKind, (Db, Outbox)>>>,
    /// Woken whenever a producer attaches, for dispatchers waiting on one.
    attached: Arc<tokio::sync::Notify>,
}

impl EmbeddedBus {
    /// An empty bus; producers attach as their services start.
    pub fn new() -> Self {
        Self::default()
    }

    fn producer(&self, kind: ServiceKind) -> Option<(Db, Outbox)> {
        self.producers.lock().ok()?.get(&kind).cloned()
    }

    /// The producer's log, once it has attached (services may start in any order, and a
    /// producer may not run in this process yet).
    async fn wait_for_producer(
        &self,
        kind: ServiceKind,
        shutdown: &crate::shutdown::Shutdown,
    ) -> Option<(Db, Outbox)> {
        loop {
            let attached = self.attached.notified();
            if let Some(found) = self.producer(kind) {
                return Some(found);
            }
            tokio::select! {
                () = shutdown.cancelled() => return None,
                () = attached => {},
                () = tokio::time::sleep(POLL) => {},
            }
        }
    }
}

#[async_trait]
impl Bus for EmbeddedBus {
    async fn attach_producer(
        &self,
        producer: ServiceKind,
        db: Db,
        _tasks: &Tasks,
    ) -> Result<Outbox, BusError> {
        let mut producers = self.producers.lock().map_err(|_| BusError::Registry)?;
        let entry = producers.entry(producer).or_insert_with(|| {
            let (wake, _) = watch::channel(0);
            (db, Outbox::new(producer, wake))
        });
        let outbox = entry.1.clone();
        self.attached.notify_waiters();
        Ok(outbox)
    }

    async fn subscribe(&self, subscription: Subscription, tasks: &Tasks) -> Result<(), BusError> {
        for stream in subscription.streams.iter().copied() {
            let bus = self.clone();
            let subscription = subscription.clone();
            let shutdown = tasks.shutdown().clone();
            tasks.spawn(async move {
                let Some((log, outbox)) = bus.wait_for_producer(stream, &shutdown).await else {
                    return;
                };
                let dispatcher = Dispatcher {
                    subscription,
                    log,
                    wake: outbox.subscribe(),
                };
                dispatcher.run(shutdown).await;
            });
        }
        Ok(())
    }

    async fn ping(&self) -> Result<(), BusError> {
        Ok(())
    }
}

/// Delivers one producer's log to one consumer.
struct Dispatcher {
    subscription: Subscription,
    log: Db,
    wake: watch::Receiver<u64>,
}

impl Dispatcher {
    async fn run(mut self, shutdown: crate::shutdown::Shutdown) {
        let consumer = self.subscription.consumer.clone();
        loop {
            if shutdown.is_cancelled() {
                return;
            }
            match self.pass(&shutdown).await {
                Ok(true) => continue,
                Ok(false) => {}
                Err(err) => {
                    tracing::warn!(consumer = %consumer, error = %err, "embedded dispatch failed; retrying");
                }
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = self.wake.changed() => {},
                () = tokio::time::sleep(POLL) => {},
            }
        }
    }

    /// Delivers one batch; `Ok(true)` when there may be more right away.
    async fn pass(&mut self, shutdown: &crate::shutdown::Shutdown) -> Result<bool, sqlx::Error> {
        // Mark the current wake-up as seen before reading, so a commit that lands
        // during this pass wakes the next one.
        self.wake.borrow_and_update();
        let cursor = load_cursor(&self.log, &self.subscription.consumer).await?;
        let rows = outbox::after(&self.log, cursor, BATCH).await?;
        let Some(last) = rows.last().map(|r| r.seq) else {
            return Ok(false);
        };
        let mut reached = cursor;
        for row in &rows {
            match serde_json::from_str::<Envelope>(&row.body) {
                Ok(event) => {
                    let mut attempt = 1;
                    loop {
                        match deliver(&self.subscription, &event, attempt).await {
                            Outcome::Retry(delay) => {
                                tokio::select! {
                                    () = shutdown.cancelled() => {
                                        save_cursor(&self.log, &self.subscription.consumer, reached).await?;
                                        return Ok(false);
                                    }
                                    () = tokio::time::sleep(delay) => {}
                                }
                                attempt += 1;
                            }
                            outcome => {
                                debug_assert!(outcome.is_settled());
                                break;
                            }
                        }
                    }
                }
                Err(err) => {
                    dead_letter_unreadable(&self.subscription, &row.id, &row.body, &err).await
                }
            }
            reached = row.seq;
        }
        save_cursor(&self.log, &self.subscription.consumer, reached).await?;
        Ok(last == reached && rows.len() as i64 == BATCH)
    }
}

async fn load_cursor(log: &Db, consumer: &str) -> Result<i64, sqlx::Error> {
    let position: Option<i64> =
        sqlx::query_scalar("SELECT position FROM bus_cursors WHERE consumer = $1")
            .bind(consumer)
            .fetch_optional(log.reader())
            .await?;
    Ok(position.unwrap_or(0))
}

async fn save_cursor(log: &Db, consumer: &str, position: i64) -> Result<(), sqlx::Error> {
    let mut tx = log.begin().await?;
    sqlx::query(
        "INSERT INTO bus_cursors (consumer, position) VALUES ($1, $2) \
         ON CONFLICT (consumer) DO UPDATE SET position = excluded.position",
    )
    .bind(consumer)
    .bind(position)
    .execute(&mut *tx)
    .await?;
    tx.commit().await
}

/// Delivers everything in `log` after the consumer's cursor once, without moving the
/// cursor: what a dispatcher does before it crashes. For crash tests.
#[doc(hidden)]
pub async fn deliver_without_advancing(
    log: &Db,
    subscription: &Subscription,
) -> Result<usize, sqlx::Error> {
    let cursor = load_cursor(log, &subscription.consumer).await?;
    let rows = outbox::after(log, cursor, BATCH).await?;
    let mut applied = 0;
    for row in rows {
        if let Ok(event) = serde_json::from_str::<Envelope>(&row.body)
            && deliver(subscription, &event, 1).await == Outcome::Applied
        {
            applied += 1;
        }
    }
    Ok(applied)
}
