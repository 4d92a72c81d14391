//! Applying one delivered event: inbox, handler, retries and dead letters.
//!
//! Both adapters hand every delivery to [`deliver`], so exactly-once effect and the
//! dead-letter rule are the same in both shapes. What an applied event leaves behind
//! as the record of it differs ([`Record`]): an inbox row, for a transport that may
//! redeliver anything at any time (NATS, a dead letter's replay); or the embedded
//! dispatcher's cursor, moved in the same transaction as the effect.

use std::time::Duration;

use serde::Serialize;

use super::{Envelope, HandlerError, Subscription};
use crate::db::Db;

/// How a consumer records, in the transaction of an effect, that the event is applied.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Record<'a> {
    /// One inbox row per event, which also refuses an event applied before.
    pub(crate) inbox: bool,
    /// The embedded dispatcher's cursor `(key, position)` over a log read in order. It
    /// moves with every effect, in its transaction, so every event at or below it was
    /// applied once and none above it was: it is the inbox of that log, one row for all
    /// of it instead of one row per event.
    pub(crate) cursor: Option<(&'a str, i64)>,
}

impl Record<'_> {
    /// Inbox rows only: for transports that may redeliver.
    pub(crate) const INBOX: Record<'static> = Record {
        inbox: true,
        cursor: None,
    };
}

/// What became of one delivery attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The effect was applied now.
    Applied,
    /// The inbox shows it was applied before; nothing was done.
    Duplicate,
    /// It failed and should be tried again after the delay.
    Retry(Duration),
    /// It failed for the last time and now sits in the dead-letter table.
    DeadLettered,
}

impl Outcome {
    /// Whether the transport can forget the message.
    pub(crate) fn is_settled(self) -> bool {
        !matches!(self, Outcome::Retry(_))
    }
}

/// Applies `event` (attempt number `attempt`, 1-based) for `subscription`, recording it
/// as `record` says; a dead letter is recorded the same way.
pub(crate) async fn deliver(
    subscription: &Subscription,
    event: &Envelope,
    attempt: u32,
    record: Record<'_>,
) -> Outcome {
    let traceparent = event
        .traceparent
        .clone()
        .unwrap_or_else(crate::telemetry::new_traceparent);
    let applying = apply_batch(subscription, std::slice::from_ref(event), record);
    let result = crate::telemetry::with_traceparent(traceparent, applying)
        .await
        .map(|applied| applied > 0);
    match result {
        Ok(true) => Outcome::Applied,
        Ok(false) => Outcome::Duplicate,
        Err(err) if attempt >= subscription.retry.max_attempts.max(1) => {
            tracing::error!(
                consumer = %subscription.consumer,
                event_id = %event.id,
                event_type = %event.event_type,
                attempt,
                error = %crate::telemetry::error_chain(&err),
                "event failed for the last time; dead-lettering it"
            );
            match store_dead_letter(subscription, event, attempt, &err, record.cursor).await {
                Ok(()) => Outcome::DeadLettered,
                Err(db_err) => {
                    tracing::error!(error = %db_err, "cannot write dead letter; will retry");
                    Outcome::Retry(subscription.retry.max_delay)
                }
            }
        }
        Err(err) => {
            tracing::warn!(
                consumer = %subscription.consumer,
                event_id = %event.id,
                event_type = %event.event_type,
                attempt,
                error = %crate::telemetry::error_chain(&err),
                "event failed; will retry"
            );
            Outcome::Retry(subscription.retry.delay_after(attempt))
        }
    }
}

/// Applies `events` in order in one transaction of the consumer, recorded as `record`
/// says (inbox rows, the cursor, or both) in the same transaction: one commit (one disk
/// flush) for the whole batch. Returns how many took effect now (the others were
/// duplicates or of types the handler does not handle). On a handler error nothing is
/// written, and the caller delivers the events one at a time with [`deliver`]
/// (retries, dead letters).
pub(crate) async fn apply_batch(
    subscription: &Subscription,
    events: &[Envelope],
    record: Record<'_>,
) -> Result<usize, HandlerError> {
    let handler = &subscription.handler;
    let cursor = record.cursor;
    if cursor.is_none() && !events.iter().any(|e| handler.handles(&e.event_type)) {
        return Ok(0);
    }
    let mut tx = subscription.db.begin().await?;
    let mut applied = Vec::with_capacity(events.len());
    for event in events {
        if !handler.handles(&event.event_type)
            || (record.inbox && !claim_in_inbox(&mut tx, subscription, event).await?)
        {
            continue;
        }
        let traceparent = event
            .traceparent
            .clone()
            .unwrap_or_else(crate::telemetry::new_traceparent);
        crate::telemetry::with_traceparent(traceparent, handler.handle(&mut tx, event)).await?;
        applied.push(event);
    }
    if applied.is_empty() && cursor.is_none() {
        tx.rollback().await?;
        return Ok(0);
    }
    if let Some((key, position)) = cursor {
        super::cursor::save_cursor_in(&mut tx, key, position).await?;
    }
    tx.commit().await?;
    if !applied.is_empty()
        && let Some(outbox) = &subscription.outbox
    {
        outbox.wake();
    }
    for event in &applied {
        handler.applied(event);
    }
    Ok(applied.len())
}

/// Records `event` in the consumer's inbox; `false` if it was there already.
async fn claim_in_inbox(
    tx: &mut crate::db::Tx,
    subscription: &Subscription,
    event: &Envelope,
) -> Result<bool, crate::db::Error> {
    let inserted = crate::db::query(
        "INSERT INTO inbox (consumer, event_id, handled_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
    )
    .bind(&subscription.consumer)
    .bind(&event.id)
    .bind(crate::time::now_millis())
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(inserted == 1)
}

/// Records a message that could not even be parsed as an envelope (and moves the
/// cursor past it, if the consumer keeps one, in the same transaction).
pub(crate) async fn dead_letter_unreadable(
    subscription: &Subscription,
    event_id: &str,
    body: &str,
    err: &serde_json::Error,
    cursor: Option<(&str, i64)>,
) {
    let letter = Letter {
        event_id,
        event_type: "unknown",
        body,
        error: &format!("unreadable envelope: {err}"),
        attempts: 1,
    };
    let result = insert_dead_letter(subscription, &letter, cursor).await;
    if let Err(db_err) = result {
        tracing::error!(error = %db_err, event_id, "cannot write dead letter for unreadable message");
    }
}

async fn store_dead_letter(
    subscription: &Subscription,
    event: &Envelope,
    attempts: u32,
    err: &HandlerError,
    cursor: Option<(&str, i64)>,
) -> Result<(), crate::db::Error> {
    let body = serde_json::to_string(event).map_err(|e| crate::db::Error::Encode(Box::new(e)))?;
    let letter = Letter {
        event_id: &event.id,
        event_type: &event.event_type,
        body: &body,
        error: &crate::telemetry::error_chain(err),
        attempts,
    };
    insert_dead_letter(subscription, &letter, cursor).await
}

/// A dead letter about to be written.
struct Letter<'a> {
    event_id: &'a str,
    event_type: &'a str,
    body: &'a str,
    error: &'a str,
    attempts: u32,
}

async fn insert_dead_letter(
    subscription: &Subscription,
    letter: &Letter<'_>,
    cursor: Option<(&str, i64)>,
) -> Result<(), crate::db::Error> {
    let mut tx = subscription.db.begin().await?;
    crate::db::query(
        "INSERT INTO dead_letters (id, consumer, event_id, event_type, body, error, attempts, failed_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(crate::ids::new_id())
    .bind(&subscription.consumer)
    .bind(letter.event_id)
    .bind(letter.event_type)
    .bind(letter.body)
    .bind(letter.error)
    .bind(i64::from(letter.attempts))
    .bind(crate::time::now_millis())
    .execute(&mut *tx)
    .await?;
    if let Some((key, position)) = cursor {
        super::cursor::save_cursor_in(&mut tx, key, position).await?;
    }
    tx.commit().await
}

/// An event a consumer gave up on.
#[derive(Debug, Clone, Serialize)]
pub struct DeadLetter {
    /// Dead-letter id.
    pub id: String,
    /// The consumer that failed.
    pub consumer: String,
    /// The event's id.
    pub event_id: String,
    /// The event's type.
    pub event_type: String,
    /// The last error.
    pub error: String,
    /// How many attempts were made.
    pub attempts: i64,
    /// When it was given up on (RFC 3339).
    pub failed_at: String,
    /// When it was replayed, if it was.
    pub replayed_at: Option<String>,
}

/// The dead letters in `db`, newest first.
pub async fn dead_letters(db: &Db, limit: i64) -> Result<Vec<DeadLetter>, crate::db::Error> {
    let rows = crate::db::query(
        "SELECT id, consumer, event_id, event_type, error, attempts, failed_at, replayed_at \
         FROM dead_letters ORDER BY failed_at DESC, id DESC LIMIT $1",
    )
    .bind(limit)
    .fetch_all(db.reader())
    .await?;
    rows.into_iter()
        .map(|row| {
            Ok(DeadLetter {
                id: row.try_get("id")?,
                consumer: row.try_get("consumer")?,
                event_id: row.try_get("event_id")?,
                event_type: row.try_get("event_type")?,
                error: row.try_get("error")?,
                attempts: row.try_get("attempts")?,
                failed_at: crate::time::rfc3339(row.try_get("failed_at")?),
                replayed_at: row
                    .try_get::<Option<i64>, _>("replayed_at")?
                    .map(crate::time::rfc3339),
            })
        })
        .collect()
}

/// Applies a dead-lettered event once more through `subscription`'s handler. Returns
/// `Ok(false)` when there is no such dead letter (or it was replayed already).
pub async fn replay_dead_letter(
    subscription: &Subscription,
    id: &str,
) -> Result<bool, HandlerError> {
    let row = crate::db::query(
        "SELECT body FROM dead_letters WHERE id = $1 AND consumer = $2 AND replayed_at IS NULL",
    )
    .bind(id)
    .bind(&subscription.consumer)
    .fetch_optional(subscription.db.reader())
    .await?;
    let Some(row) = row else {
        return Ok(false);
    };
    let body: String = row.try_get("body")?;
    let event: Envelope = serde_json::from_str(&body)?;
    apply_batch(subscription, std::slice::from_ref(&event), Record::INBOX).await?;
    let mut tx = subscription.db.begin().await?;
    crate::db::query("UPDATE dead_letters SET replayed_at = $1 WHERE id = $2")
        .bind(crate::time::now_millis())
        .bind(id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(true)
}
