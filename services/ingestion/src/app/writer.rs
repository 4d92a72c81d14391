//! Stores attribution events in batches: one transaction for every event that arrived
//! while the previous one was being written.
//!
//! Why: a webhook stores one small row and its bus event, and with one transaction per
//! delivery the deliveries queue for the database's single writer (SQLite has one; on
//! PostgreSQL each transaction is a commit of its own). Handing the writer from one
//! request's task to the next through the scheduler cost more than the writes, and
//! bounded the rate at about 3,000 deliveries a second on two cores. One task owns the
//! write path instead: it takes what is waiting (up to [`MAX_BATCH`]), writes it in one
//! transaction and answers each delivery when that transaction is durable. A lone
//! delivery is written at once; nothing waits for a batch to fill.
//!
//! Each event is checked by the store's guard before anything of the batch is written,
//! so a refused row is answered alone and the others are stored.

use tokio::sync::{mpsc, oneshot};

use platform::bus::Outbox;
use platform::db::Db;
use platform::time::Clock;

use super::IngestionError;
use crate::domain::event::{AttributionEvent, Resolution};
use crate::store::{self, PersonalData, StoreError};

/// Most events written in one transaction.
pub const MAX_BATCH: usize = 128;

/// What became of one event.
#[derive(Debug)]
pub enum Written {
    /// Stored, with its bus event.
    Stored,
    /// The tenant already had this provider event; nothing was written.
    Duplicate,
    /// The guard refused the row; nothing of it was written.
    Refused(PersonalData),
}

struct Pending {
    event: AttributionEvent,
    reply: oneshot::Sender<Result<Written, IngestionError>>,
}

/// The handle deliveries store their events through.
#[derive(Clone)]
pub struct EventWriter {
    sender: mpsc::Sender<Pending>,
}

impl EventWriter {
    /// Starts the writing task; it ends when the last handle is dropped.
    pub fn start(db: Db, outbox: Outbox, clock: Clock) -> Self {
        let (sender, receiver) = mpsc::channel(MAX_BATCH * 8);
        tokio::spawn(write_batches(receiver, db, outbox, clock));
        Self { sender }
    }

    /// Stores `event` with its bus event (or says why not), once durable.
    pub async fn write(&self, event: AttributionEvent) -> Result<Written, IngestionError> {
        let (reply, answer) = oneshot::channel();
        self.sender
            .send(Pending { event, reply })
            .await
            .map_err(|_| closed())?;
        answer.await.map_err(|_| closed())?
    }
}

fn closed() -> IngestionError {
    IngestionError::Sql(platform::db::Error::Protocol(
        "the event was not written (its batch failed, or the service is stopping)".into(),
    ))
}

async fn write_batches(
    mut receiver: mpsc::Receiver<Pending>,
    db: Db,
    outbox: Outbox,
    clock: Clock,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while receiver.recv_many(&mut batch, MAX_BATCH).await > 0 {
        write_batch(&db, &outbox, &clock, std::mem::take(&mut batch)).await;
    }
}

/// Writes one batch in one transaction and answers every delivery in it.
async fn write_batch(db: &Db, outbox: &Outbox, clock: &Clock, batch: Vec<Pending>) {
    let mut answers: Vec<(Pending, Written)> = Vec::with_capacity(batch.len());
    let written = async {
        let mut tx = db.begin().await?;
        for pending in batch {
            let written = match store::insert_event(&mut tx, &pending.event).await {
                Ok(true) => {
                    let event = &pending.event;
                    outbox.stage(&mut tx, &event.to_contract()).await?;
                    store::resolve_dead_event(
                        &mut tx,
                        &event.tenant_id,
                        event.provider(),
                        &event.normalized.provider_event_id,
                        &Resolution {
                            at: clock.now_millis(),
                            event_id: event.id.clone(),
                        },
                    )
                    .await?;
                    Written::Stored
                }
                Ok(false) => Written::Duplicate,
                Err(StoreError::PersonalData(found)) => Written::Refused(found),
                Err(StoreError::Db(err)) => return Err(err),
            };
            answers.push((pending, written));
        }
        tx.commit().await
    }
    .await;
    match written {
        Ok(()) => {
            outbox.wake();
            for (pending, written) in answers {
                let _ = pending.reply.send(Ok(written));
            }
        }
        // Nothing of the batch was kept: every delivery in it is answered with the
        // error (the provider delivers again). Those not yet reached are in `batch`,
        // dropped with their senders, which their callers read as the same failure.
        Err(err) => {
            tracing::error!(error = %err, events = answers.len(), "cannot store a batch of attribution events");
            for (pending, _) in answers {
                let _ = pending
                    .reply
                    .send(Err(IngestionError::Sql(platform::db::Error::Commit(
                        "the batch it was written in failed".into(),
                    ))));
            }
        }
    }
}
