//! The transactional outbox: events staged with the change they announce.
//!
//! Staging an event is the producer span of its trace: the event's `traceparent` names
//! that span, and the consumer span that applies the event is its child.

use tokio::sync::watch;
use tracing::Instrument;

use super::Envelope;
use crate::db::{Db, Tx};
use crate::service::kind::ServiceKind;

/// A producer's handle for staging events; cheap to clone.
#[derive(Clone, Debug)]
pub struct Outbox {
    producer: ServiceKind,
    wake: watch::Sender<u64>,
    /// The rows are the log itself (the embedded bus): committed is published, and no
    /// relay ever looks for unpublished rows, so they are stored as published at once
    /// and stay out of the relay's index of unpublished rows.
    is_log: bool,
}

impl Outbox {
    /// A handle for rows a relay publishes.
    pub(crate) fn relayed(producer: ServiceKind, wake: watch::Sender<u64>) -> Self {
        Self {
            producer,
            wake,
            is_log: false,
        }
    }

    /// A handle for rows that are read in place as the log.
    pub(crate) fn log(producer: ServiceKind, wake: watch::Sender<u64>) -> Self {
        Self {
            producer,
            wake,
            is_log: true,
        }
    }

    /// A handle for a tool that writes a service's SQLite database while the service
    /// is not running (a loader): what it stages is read in place as the log, as the
    /// embedded shape reads its outboxes, once the platform runs.
    pub fn offline(producer: ServiceKind) -> Self {
        Self::log(producer, watch::channel(0).0)
    }

    /// Writes `event` into the outbox inside `tx`. It is delivered only if `tx` commits.
    pub async fn stage<E: contracts::Event>(
        &self,
        tx: &mut Tx,
        event: &E,
    ) -> Result<Envelope, crate::db::Error> {
        let span = tracing::info_span!(
            "publish",
            otel.kind = "producer",
            otel.name = %format_args!("publish {}", E::TYPE),
            messaging.system = "viscount",
            messaging.destination.name = E::TYPE,
            messaging.message.id = tracing::field::Empty,
        );
        crate::telemetry::adopt_current(&span, self.producer);
        // Made inside the span, so the envelope's `traceparent` names it.
        let envelope = span
            .in_scope(|| Envelope::new(self.producer, event))
            .map_err(|err| crate::db::Error::Encode(Box::new(err)))?;
        span.record("messaging.message.id", envelope.id.as_str());
        let body = serde_json::to_string(&envelope)
            .map_err(|err| crate::db::Error::Encode(Box::new(err)))?;
        let now = crate::time::now_millis();
        crate::db::query(
            "INSERT INTO outbox (id, event_type, subject, body, created_at, published_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&envelope.id)
        .bind(&envelope.event_type)
        .bind(&envelope.subject)
        .bind(body)
        .bind(now)
        .bind(self.is_log.then_some(now))
        .execute(&mut **tx)
        .instrument(span)
        .await?;
        Ok(envelope)
    }

    /// Tells the relay or dispatcher that new events were committed. Call after commit;
    /// a missed wake only delays delivery until the next poll.
    pub fn wake(&self) {
        self.wake.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// A receiver that sees every later [`Outbox::wake`].
    pub(crate) fn subscribe(&self) -> watch::Receiver<u64> {
        self.wake.subscribe()
    }
}

/// One staged event as the relay reads it.
#[derive(Debug, Clone)]
pub struct OutboxRow {
    /// Position in the outbox.
    pub seq: i64,
    /// Event id.
    pub id: String,
    /// The event's type, so a reader can pass over types it does not want without
    /// parsing the body.
    pub event_type: String,
    /// The CloudEvent JSON.
    pub body: String,
}

/// Up to `limit` events not yet published, oldest first.
pub async fn unpublished(db: &Db, limit: i64) -> Result<Vec<OutboxRow>, crate::db::Error> {
    rows_from(
        crate::db::query(
            "SELECT seq, id, event_type, body FROM outbox WHERE published_at IS NULL ORDER BY seq LIMIT $1",
        )
        .bind(limit)
        .fetch_all(db.reader())
        .await?,
    )
}

/// Up to `limit` events after position `after`, in order (the embedded log read). Only
/// events already on disk: a consumer must not act on one its producer could lose.
pub(crate) async fn after(
    db: &Db,
    after: i64,
    limit: i64,
) -> Result<Vec<OutboxRow>, crate::db::Error> {
    db.durable().await;
    rows_from(
        crate::db::query(
            "SELECT seq, id, event_type, body FROM outbox WHERE seq > $1 ORDER BY seq LIMIT $2",
        )
        .bind(after)
        .bind(limit)
        .fetch_all(db.reader())
        .await?,
    )
}

/// The `seq` of the last event in the log, 0 for an empty one.
pub(crate) async fn last_seq(db: &Db) -> Result<i64, crate::db::Error> {
    crate::db::query_scalar::<i64>("SELECT COALESCE(MAX(seq), 0) FROM outbox")
        .fetch_one(db.reader())
        .await
}

fn rows_from(rows: Vec<crate::db::Row>) -> Result<Vec<OutboxRow>, crate::db::Error> {
    rows.into_iter()
        .map(|row| {
            Ok(OutboxRow {
                seq: row.try_get("seq")?,
                id: row.try_get("id")?,
                event_type: row.try_get("event_type")?,
                body: row.try_get("body")?,
            })
        })
        .collect()
}

/// Marks the given events as published.
pub async fn mark_published(db: &Db, seqs: &[i64]) -> Result<(), crate::db::Error> {
    if seqs.is_empty() {
        return Ok(());
    }
    // One statement for the batch: a round trip per row was most of a relay pass.
    let sql = format!(
        "UPDATE outbox SET published_at = $1 WHERE seq IN {}",
        crate::db::in_list(2, seqs.len())
    );
    let mut query = crate::db::query(&sql).bind(crate::time::now_millis());
    for seq in seqs {
        query = query.bind(*seq);
    }
    let mut tx = db.begin().await?;
    query.execute(&mut *tx).await?;
    tx.commit().await
}
