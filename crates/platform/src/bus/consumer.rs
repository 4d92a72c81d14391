//! Applying one delivered event: inbox, handler, retries and dead letters.
//!
//! Both adapters hand every delivery to [`deliver`], so exactly-once effect and the
//! dead-letter rule are the same in both shapes. What an applied event leaves behind
//! as the record of it differs ([`Record`]): an inbox row, for a transport that may
//! redeliver anything at any time (NATS, a dead letter's replay); or the embedded
//! dispatcher's cursor, moved in the same transaction as the effect.
//!
//! Applying an event is a consumer span, a child of the producer span the event's
//! `traceparent` names: one per event applied in a batch, one per attempt of an event
//! delivered alone.

use std::time::Duration;

use tracing::Instrument;

pub(crate) use super::dead_letters::dead_letter_unreadable;
use super::dead_letters::store_dead_letter;
use super::{Envelope, HandlerError, Subscription};

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
    let span = consumer_span(subscription, event);
    attempt_in_span(subscription, event, attempt, record)
        .instrument(span)
        .await
}

/// [`deliver`]'s attempt, inside the event's consumer span (its logs too).
async fn attempt_in_span(
    subscription: &Subscription,
    event: &Envelope,
    attempt: u32,
    record: Record<'_>,
) -> Outcome {
    let result = apply_events(subscription, std::slice::from_ref(event), record, false)
        .await
        .map(|applied| applied > 0);
    if result.is_err() {
        tracing::Span::current().record("otel.status_code", "error");
    }
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
    apply_events(subscription, events, record, true).await
}

/// The consumer span of applying `event` for `subscription`.
fn consumer_span(subscription: &Subscription, event: &Envelope) -> tracing::Span {
    let span = tracing::info_span!(
        "consume",
        otel.kind = "consumer",
        otel.name = %format_args!("process {}", event.event_type),
        otel.status_code = tracing::field::Empty,
        consumer = %subscription.consumer,
        event_id = %event.id,
        event_type = %event.event_type,
        messaging.system = "viscount",
    );
    crate::telemetry::adopt_parent(
        &span,
        event.traceparent.as_deref(),
        subscription.consumer.parse().ok(),
    );
    span
}

/// [`apply_batch`], with a consumer span around each handled event when `traced` (a
/// caller that delivers one event in a span of its own passes `false`).
async fn apply_events(
    subscription: &Subscription,
    events: &[Envelope],
    record: Record<'_>,
    traced: bool,
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
        if traced {
            let span = consumer_span(subscription, event);
            let handled = handler
                .handle(&mut tx, event)
                .instrument(span.clone())
                .await;
            if handled.is_err() {
                span.record("otel.status_code", "error");
            }
            handled?;
        } else {
            handler.handle(&mut tx, event).await?;
        }
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
        crate::http::metrics::runtime::delivered(&subscription.consumer, event);
        handler.applied(event);
    }
    Ok(applied.len())
}

/// Records `event` in the consumer's inbox; `false` if it was there already.
pub(crate) async fn claim_in_inbox(
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
