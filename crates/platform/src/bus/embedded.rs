//! The embedded bus: producers' outbox tables are the durable log, and a dispatcher task
//! per (consumer, producer) delivers from a cursor kept in the consumer's database.
//!
//! A dispatcher applies everything new in the log in one transaction of the consumer,
//! with the cursor: one disk flush per batch rather than one per event, and the cursor
//! can never disagree with the effects. If a handler fails, the batch is delivered one
//! event at a time instead (retries, dead letters), each event with its cursor move.
//! The log is read in `seq` order, which is commit order because SQLite has one writer
//! at a time, and `seq` is never reused (`AUTOINCREMENT`).
//!
//! So the cursor is this consumer's inbox for the log: every event at or below it was
//! applied exactly once, in the transaction that moved it there, and none above it
//! was. An inbox row per event would record nothing more, and it was one write per
//! event per consumer, the most frequent statement of a checkout. Inbox rows are still
//! written and checked for the events already in the log when a dispatcher starts:
//! earlier versions applied some events before moving the cursor (their one-at-a-time
//! path, and cursors kept in the producer's database), and those only the inbox knows.
//!
//! A tail ([`Bus::tail`]) reads the same log from its end at the time of the call, with
//! its position in memory only, woken like a dispatcher.
//!
//! The bus also knows who reads each log: every subscription registers its consumer
//! for each producer it reads, so retention can ask how far all of them have got
//! ([`Bus::delivered`]) and delete only rows behind every one of them.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::watch;

use super::consumer::{Outcome, Record, apply_batch, dead_letter_unreadable, deliver};
use super::cursor::{cursor_key, load_cursor, load_position, save_cursor};
use super::{Bus, BusError, Delivered, Envelope, OnEvent, Outbox, Subscription, outbox};
use crate::db::Db;
use crate::service::kind::ServiceKind;
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
    /// The consumers of each producer's log, as they subscribed.
    readers: Arc<Mutex<HashMap<ServiceKind, Vec<LogReader>>>>,
}

/// One consumer of a producer's log, as retention sees it.
#[derive(Clone)]
struct LogReader {
    /// The consuming service's name.
    consumer: String,
    /// Its database, where its cursor is stored.
    db: Db,
    /// Its cursor's name there.
    cursor_key: String,
    /// How far its dispatcher has dealt with the log, in memory (0 before its first
    /// pass): ahead of the stored cursor by the events it passed over unhandled.
    reached: Arc<AtomicI64>,
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
            (db, Outbox::log(producer, wake))
        });
        let outbox = entry.1.clone();
        self.attached.notify_waiters();
        Ok(outbox)
    }

    async fn subscribe(&self, subscription: Subscription, tasks: &Tasks) -> Result<(), BusError> {
        for stream in subscription.streams.iter().copied() {
            let reader = LogReader {
                consumer: subscription.consumer.clone(),
                db: subscription.db.clone(),
                cursor_key: cursor_key(&subscription.consumer, stream),
                reached: Arc::new(AtomicI64::new(0)),
            };
            // Registered before this returns, so the producer's retention counts the
            // consumer from now on, whether or not its dispatcher has run yet.
            self.readers
                .lock()
                .map_err(|_| BusError::Registry)?
                .entry(stream)
                .or_default()
                .push(reader.clone());
            let bus = self.clone();
            let subscription = subscription.clone();
            let shutdown = tasks.shutdown().clone();
            tasks.spawn(async move {
                let Some((log, outbox)) = bus.wait_for_producer(stream, &shutdown).await else {
                    return;
                };
                let dispatcher = Dispatcher {
                    cursor_key: reader.cursor_key,
                    position: None,
                    reached: reader.reached,
                    inbox_until: 0,
                    subscription,
                    log,
                    wake: outbox.subscribe(),
                };
                dispatcher.run(shutdown).await;
            });
        }
        Ok(())
    }

    async fn tail(
        &self,
        producer: ServiceKind,
        tasks: &Tasks,
        on_event: OnEvent,
    ) -> Result<(), BusError> {
        // Events from now on: the log's end is read before returning, so whatever the
        // producer commits after the call is delivered. A producer not attached yet is
        // followed from its end when it attaches.
        let start = match self.producer(producer) {
            Some((log, _)) => Some(outbox::last_seq(&log).await?),
            None => None,
        };
        let bus = self.clone();
        let shutdown = tasks.shutdown().clone();
        tasks.spawn(async move {
            let Some((log, outbox)) = bus.wait_for_producer(producer, &shutdown).await else {
                return;
            };
            let tail = Tail {
                log,
                wake: outbox.subscribe(),
                position: start,
                on_event,
            };
            tail.run(producer, shutdown).await;
        });
        Ok(())
    }

    async fn ping(&self) -> Result<(), BusError> {
        Ok(())
    }

    /// The lowest position any consumer of `producer`'s log has reached: its stored
    /// cursor, or further where its dispatcher has passed over events it does not
    /// handle (after a restart it would read those again and pass them over again, so
    /// they are not needed either).
    async fn delivered(&self, producer: ServiceKind) -> Result<Delivered, BusError> {
        let readers = self
            .readers
            .lock()
            .map_err(|_| BusError::Registry)?
            .get(&producer)
            .cloned()
            .unwrap_or_default();
        let Some((log, _)) = self.producer(producer) else {
            // Not attached in this process: nothing of its log is known to be read.
            return Ok(Delivered::Through(0));
        };
        let mut through = i64::MAX;
        for reader in readers {
            let stored =
                load_position(&reader.db, &reader.consumer, &log, &reader.cursor_key).await?;
            let reached = reader.reached.load(Ordering::Acquire).max(stored);
            through = through.min(reached);
        }
        Ok(Delivered::Through(through))
    }
}

/// Follows one producer's log from a position kept in memory (see [`Bus::tail`]).
struct Tail {
    log: Db,
    wake: watch::Receiver<u64>,
    /// The last event handed on; `None` until the log's end is known.
    position: Option<i64>,
    on_event: OnEvent,
}

impl Tail {
    async fn run(mut self, producer: ServiceKind, shutdown: crate::shutdown::Shutdown) {
        loop {
            if shutdown.is_cancelled() {
                return;
            }
            match self.pass().await {
                Ok(true) => continue,
                Ok(false) => {}
                Err(err) => {
                    tracing::warn!(producer = %producer, error = %err, "tail read failed; retrying");
                }
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = self.wake.changed() => {},
                () = tokio::time::sleep(POLL) => {},
            }
        }
    }

    /// Hands on one batch; `Ok(true)` when there may be more right away.
    async fn pass(&mut self) -> Result<bool, crate::db::Error> {
        // Seen before reading, so a commit during this pass wakes the next one.
        self.wake.borrow_and_update();
        let Some(position) = self.position else {
            self.position = Some(outbox::last_seq(&self.log).await?);
            return Ok(false);
        };
        let rows = outbox::after(&self.log, position, BATCH).await?;
        let Some(last) = rows.last().map(|row| row.seq) else {
            return Ok(false);
        };
        for row in &rows {
            match serde_json::from_str::<Envelope>(&row.body) {
                Ok(event) => (self.on_event)(&event),
                Err(err) => {
                    tracing::debug!(id = %row.id, error = %err, "unreadable event passed over")
                }
            }
        }
        self.position = Some(last);
        Ok(rows.len() as i64 == BATCH)
    }
}

/// Delivers one producer's log to one consumer.
struct Dispatcher {
    subscription: Subscription,
    log: Db,
    wake: watch::Receiver<u64>,
    cursor_key: String,
    /// The cursor as this dispatcher (its only writer) last moved it. It may be ahead
    /// of the stored one by events the consumer does not handle: those are not worth a
    /// commit of their own, and after a restart they are read and skipped again.
    position: Option<i64>,
    /// `position`, shared with retention ([`Bus::delivered`]).
    reached: Arc<AtomicI64>,
    /// The last event already in the log when this dispatcher started: up to it, events
    /// are also checked against and recorded in the inbox (see the module's comment).
    inbox_until: i64,
}

impl Dispatcher {
    /// Records that every event up to `position` is dealt with.
    fn moved_to(&mut self, position: i64) {
        self.position = Some(position);
        self.reached.store(position, Ordering::Release);
    }

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
    async fn pass(
        &mut self,
        shutdown: &crate::shutdown::Shutdown,
    ) -> Result<bool, crate::db::Error> {
        // Mark the current wake-up as seen before reading, so a commit that lands
        // during this pass wakes the next one.
        self.wake.borrow_and_update();
        let cursor = match self.position {
            Some(position) => position,
            None => {
                self.inbox_until = outbox::last_seq(&self.log).await?;
                load_cursor(&self.subscription, &self.log, &self.cursor_key).await?
            }
        };
        let rows = outbox::after(&self.log, cursor, BATCH).await?;
        let Some(last) = rows.last().map(|r| r.seq) else {
            return Ok(false);
        };
        let full = rows.len() as i64 == BATCH;
        // Types this consumer does not handle are passed over unparsed.
        let handler = &self.subscription.handler;
        let rows: Vec<outbox::OutboxRow> = rows
            .into_iter()
            .filter(|row| handler.handles(&row.event_type))
            .collect();
        if rows.is_empty() {
            self.moved_to(last);
            return Ok(full);
        }
        let inbox = rows.first().is_some_and(|row| row.seq <= self.inbox_until);
        let record = |position| Record {
            inbox,
            cursor: Some((self.cursor_key.as_str(), position)),
        };
        // The fast path: the whole batch in one transaction.
        let events: Result<Vec<Envelope>, _> = rows
            .iter()
            .map(|row| serde_json::from_str::<Envelope>(&row.body))
            .collect();
        if let Ok(events) = events {
            match apply_batch(&self.subscription, &events, record(last)).await {
                Ok(_) => {
                    self.moved_to(last);
                    return Ok(full);
                }
                Err(err) => tracing::debug!(
                    consumer = %self.subscription.consumer,
                    error = %err,
                    "batch failed; delivering its events one at a time"
                ),
            }
        }
        let mut reached = cursor;
        for row in &rows {
            match serde_json::from_str::<Envelope>(&row.body) {
                Ok(event) => {
                    let mut attempt = 1;
                    loop {
                        match deliver(&self.subscription, &event, attempt, record(row.seq)).await {
                            Outcome::Retry(delay) => {
                                tokio::select! {
                                    () = shutdown.cancelled() => {
                                        save_cursor(&self.subscription.db, &self.cursor_key, reached).await?;
                                        self.moved_to(reached);
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
                    dead_letter_unreadable(
                        &self.subscription,
                        &row.id,
                        &row.body,
                        &err,
                        record(row.seq).cursor,
                    )
                    .await
                }
            }
            reached = row.seq;
        }
        // Every row up to `last` is dealt with, the passed-over ones included.
        save_cursor(&self.subscription.db, &self.cursor_key, last).await?;
        self.moved_to(last);
        Ok(full)
    }
}

/// Delivers everything in `log` after the consumer's cursor once, recording each event
/// in the inbox without moving the cursor: what a dispatcher of an earlier version
/// could leave behind when it crashed. For crash tests.
#[doc(hidden)]
pub async fn deliver_without_advancing(
    log: &Db,
    producer: ServiceKind,
    subscription: &Subscription,
) -> Result<usize, crate::db::Error> {
    let key = cursor_key(&subscription.consumer, producer);
    let cursor = load_cursor(subscription, log, &key).await?;
    let rows = outbox::after(log, cursor, BATCH).await?;
    let mut applied = 0;
    for row in rows {
        if let Ok(event) = serde_json::from_str::<Envelope>(&row.body)
            && deliver(subscription, &event, 1, Record::INBOX).await == Outcome::Applied
        {
            applied += 1;
        }
    }
    Ok(applied)
}
