//! The NATS JetStream bus: a relay per producer and a durable consumer per consuming
//! service.
//!
//! Each producing service owns one stream (`VISCOUNT_<SERVICE>`, subjects
//! `viscount.<service>.>`). The relay publishes its outbox in order, with `Nats-Msg-Id`
//! set to the event id so a re-publish after a crash between publish and mark-sent is
//! dropped by the server's duplicate window (and, past the window, by the consumers'
//! inbox). Each consuming service reads each stream through a durable pull consumer
//! named after itself, acknowledging explicitly after its transaction committed.
//!
//! A tail ([`Bus::tail`]) reads a stream through an ephemeral ordered consumer that
//! starts at the stream's end (`DeliverPolicy::New`): no acknowledgements, nothing
//! stored on the server past the consumer's inactivity threshold, one per process.
//!
//! Run NATS 2.10 or newer with `jetstream { sync_interval: always }` in production: with
//! the default interval an acknowledged publish can be lost on power failure.

use std::time::Duration;

use async_nats::jetstream::{self, AckKind, consumer::pull, context::Publish, stream};
use async_trait::async_trait;
use futures_util::StreamExt;

use super::consumer::{Outcome, Record, apply_batch, dead_letter_unreadable, deliver};
use super::{Bus, BusError, Delivered, Envelope, OnEvent, Outbox, Subscription, outbox};
use crate::db::Db;
use crate::service::kind::ServiceKind;
use crate::tasks::Tasks;

/// Relay batch size: publishes in a batch are pipelined, acks awaited together.
const RELAY_BATCH: i64 = 256;
/// How long a message handed to a consumer that then died waits before JetStream hands
/// it out again: the pause a crashed consumer's in-flight events see. A batch takes
/// milliseconds; an ack later than this only causes a redelivery the inbox absorbs.
const ACK_WAIT: Duration = Duration::from_secs(10);
/// Most messages a consumer applies in one transaction.
const CONSUMER_BATCH: usize = 256;
/// How often an idle relay looks at its outbox even without a wake-up.
const RELAY_POLL: Duration = Duration::from_secs(1);
/// How long JetStream drops a re-published event id.
const DUPLICATE_WINDOW: Duration = Duration::from_secs(120);
/// How long a stream keeps events (its `max_age`): a consumer can be handed an event
/// again until then, so inbox rows must be kept longer (see [`crate::retention`]).
pub const STREAM_RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);

/// Where and under what names the bus lives.
#[derive(Debug, Clone)]
pub struct NatsOptions {
    /// `nats://host:port`.
    pub url: String,
    /// Prefix for stream names and subjects, so several platforms (or tests) can share
    /// one server. Empty in production.
    pub namespace: String,
}

/// The oldest NATS server version the platform runs on.
pub const MINIMUM_SERVER_VERSION: (u64, u64) = (2, 10);

/// Whether `version` (`2.10.4`, `v2.11.0-beta`) is at least `major.minor`; an
/// unreadable version is not.
fn version_at_least(version: &str, (major, minor): (u64, u64)) -> bool {
    let mut parts = version
        .trim_start_matches('v')
        .split(['.', '-'])
        .map(|part| part.parse::<u64>());
    match (parts.next(), parts.next()) {
        (Some(Ok(found_major)), Some(Ok(found_minor))) => {
            (found_major, found_minor) >= (major, minor)
        }
        _ => false,
    }
}

/// JetStream-backed bus.
#[derive(Clone)]
pub struct NatsBus {
    client: async_nats::Client,
    jetstream: jetstream::Context,
    namespace: String,
    /// Copies of each stream the cluster keeps (1 on a single server).
    stream_replicas: usize,
}

fn nats_error(err: impl std::fmt::Display) -> BusError {
    BusError::Nats(err.to_string())
}

impl NatsBus {
    /// Connects to the server.
    pub async fn connect(options: &NatsOptions) -> Result<Self, BusError> {
        let client = async_nats::ConnectOptions::new()
            .name("viscount")
            .connect(options.url.as_str())
            .await
            .map_err(nats_error)?;
        let jetstream = jetstream::new(client.clone());
        Ok(Self {
            client,
            jetstream,
            namespace: options.namespace.clone(),
            stream_replicas: 1,
        })
    }

    /// Streams this bus creates are kept on `replicas` servers of a JetStream cluster
    /// (3 on the deploy manifests' cluster), so one server's loss loses no event and
    /// stops no stream. A stream that exists keeps its own setting.
    pub fn with_stream_replicas(mut self, replicas: usize) -> Self {
        self.stream_replicas = replicas.max(1);
        self
    }

    /// The server's version, after refusing one older than [`MINIMUM_SERVER_VERSION`]
    /// or one without JetStream: the platform relies on 2.10's stream and consumer
    /// semantics, and on JetStream for every event.
    pub async fn check_server(&self) -> Result<String, BusError> {
        let version = self.client.server_info().version;
        if !version_at_least(&version, MINIMUM_SERVER_VERSION) {
            let (major, minor) = MINIMUM_SERVER_VERSION;
            return Err(BusError::Nats(format!(
                "the NATS server is version {version}; the platform needs {major}.{minor} or newer"
            )));
        }
        if let Err(err) = self.jetstream.query_account().await {
            return Err(BusError::Nats(format!(
                "the NATS server (version {version}) has no JetStream ({err}): start it with \
                 `-js` or a `jetstream {{ }}` block"
            )));
        }
        Ok(version)
    }

    fn stream_name(&self, producer: ServiceKind) -> String {
        let base = format!("VISCOUNT_{}", producer.as_str().to_ascii_uppercase());
        if self.namespace.is_empty() {
            base
        } else {
            format!("{}_{base}", self.namespace.to_ascii_uppercase())
        }
    }

    fn subject_prefix(&self) -> String {
        if self.namespace.is_empty() {
            String::new()
        } else {
            format!("{}.", self.namespace)
        }
    }

    async fn ensure_stream(&self, producer: ServiceKind) -> Result<stream::Stream, BusError> {
        self.jetstream
            .get_or_create_stream(stream::Config {
                name: self.stream_name(producer),
                subjects: vec![format!("{}viscount.{}.>", self.subject_prefix(), producer)],
                storage: stream::StorageType::File,
                duplicate_window: DUPLICATE_WINDOW,
                max_age: STREAM_RETENTION,
                num_replicas: self.stream_replicas,
                ..Default::default()
            })
            .await
            .map_err(nats_error)
    }

    /// Publishes `rows` (pipelined) and returns the seqs the server acknowledged, in
    /// order, stopping at the first failure. Does not mark anything.
    pub async fn publish(&self, rows: &[outbox::OutboxRow]) -> Result<Vec<i64>, BusError> {
        let prefix = self.subject_prefix();
        let mut pending = Vec::with_capacity(rows.len());
        for row in rows {
            let subject = super::envelope::nats_subject(&row.event_type, &prefix);
            let publish = Publish::build()
                .message_id(&row.id)
                .payload(row.body.clone().into_bytes().into());
            match self.jetstream.send_publish(subject, publish).await {
                Ok(ack) => pending.push((row.seq, ack)),
                Err(err) => {
                    tracing::warn!(error = %err, "publish failed");
                    break;
                }
            }
        }
        let mut acked = Vec::with_capacity(pending.len());
        for (seq, ack) in pending {
            match ack.await {
                Ok(_) => acked.push(seq),
                Err(err) => {
                    tracing::warn!(error = %err, "publish not acknowledged");
                    break;
                }
            }
        }
        Ok(acked)
    }

    /// Publishes and marks one batch of `db`'s outbox; returns how many were sent.
    pub async fn relay_once(&self, db: &Db) -> Result<usize, BusError> {
        let rows = outbox::unpublished(db, RELAY_BATCH).await?;
        if rows.is_empty() {
            return Ok(0);
        }
        let acked = self.publish(&rows).await?;
        outbox::mark_published(db, &acked).await?;
        if acked.len() < rows.len() {
            return Err(BusError::Nats(
                "part of the batch was not acknowledged".into(),
            ));
        }
        Ok(acked.len())
    }

    async fn run_relay(self, db: Db, outbox: Outbox, shutdown: crate::shutdown::Shutdown) {
        let mut wake = outbox.subscribe();
        loop {
            wake.borrow_and_update();
            match self.relay_once(&db).await {
                Ok(sent) if sent as i64 == RELAY_BATCH => continue,
                Ok(_) => {}
                Err(err) => {
                    tracing::warn!(error = %err, "outbox relay failed; retrying");
                    if shutdown.is_cancelled() {
                        return;
                    }
                    tokio::select! {
                        () = shutdown.cancelled() => return,
                        () = tokio::time::sleep(RELAY_POLL) => continue,
                    }
                }
            }
            // After the signal, the pass above flushed what was committed before it.
            if shutdown.is_cancelled() {
                return;
            }
            tokio::select! {
                () = shutdown.cancelled() => {},
                _ = wake.changed() => {},
                () = tokio::time::sleep(RELAY_POLL) => {},
            }
        }
    }

    async fn run_consumer(
        subscription: Subscription,
        consumer: jetstream::consumer::Consumer<pull::Config>,
        shutdown: crate::shutdown::Shutdown,
    ) {
        loop {
            let messages = match consumer.messages().await {
                Ok(messages) => messages,
                Err(err) => {
                    tracing::warn!(error = %err, "cannot open consumer; retrying");
                    tokio::select! {
                        () = shutdown.cancelled() => return,
                        () = tokio::time::sleep(RELAY_POLL) => continue,
                    }
                }
            };
            // Messages that have already arrived are applied together (one transaction,
            // one flush); under load that batches naturally, and alone a message goes at
            // once.
            let mut chunks = messages.ready_chunks(CONSUMER_BATCH);
            loop {
                let chunk = tokio::select! {
                    () = shutdown.cancelled() => return,
                    chunk = chunks.next() => chunk,
                };
                let Some(chunk) = chunk else { break };
                let mut batch = Vec::with_capacity(chunk.len());
                for next in chunk {
                    match next {
                        Ok(message) => match serde_json::from_slice::<Envelope>(&message.payload) {
                            Ok(event) => batch.push((message, event)),
                            Err(err) => {
                                let body = String::from_utf8_lossy(&message.payload).into_owned();
                                let id = message
                                    .headers
                                    .as_ref()
                                    .and_then(|h| h.get(async_nats::header::NATS_MESSAGE_ID))
                                    .map(|v| v.to_string())
                                    .unwrap_or_default();
                                dead_letter_unreadable(&subscription, &id, &body, &err, None).await;
                                acknowledge(&message, AckKind::Ack).await;
                            }
                        },
                        Err(err) => tracing::warn!(error = %err, "consumer stream error"),
                    }
                }
                if batch.is_empty() {
                    continue;
                }
                let events: Vec<Envelope> = batch.iter().map(|(_, e)| e.clone()).collect();
                if apply_batch(&subscription, &events, Record::INBOX)
                    .await
                    .is_ok()
                {
                    for (message, _) in &batch {
                        acknowledge(message, AckKind::Ack).await;
                    }
                    continue;
                }
                // Something in the batch failed: one at a time, with retries.
                for (message, event) in &batch {
                    let attempt = message
                        .info()
                        .map(|info| u32::try_from(info.delivered).unwrap_or(u32::MAX))
                        .unwrap_or(1);
                    let ack = match deliver(&subscription, event, attempt, Record::INBOX).await {
                        Outcome::Retry(delay) => AckKind::Nak(Some(delay)),
                        _ => AckKind::Ack,
                    };
                    acknowledge(message, ack).await;
                }
            }
        }
    }

    /// An ordered consumer of `producer`'s stream from its end, as a message stream.
    async fn tail_messages(&self, producer: ServiceKind) -> Result<pull::Ordered, BusError> {
        let stream = self.ensure_stream(producer).await?;
        let consumer = stream
            .create_consumer(pull::OrderedConfig {
                deliver_policy: jetstream::consumer::DeliverPolicy::New,
                ..Default::default()
            })
            .await
            .map_err(nats_error)?;
        consumer.messages().await.map_err(nats_error)
    }

    async fn run_tail(
        self,
        producer: ServiceKind,
        mut messages: pull::Ordered,
        on_event: OnEvent,
        shutdown: crate::shutdown::Shutdown,
    ) {
        loop {
            let next = tokio::select! {
                () = shutdown.cancelled() => return,
                next = messages.next() => next,
            };
            match next {
                Some(Ok(message)) => match serde_json::from_slice::<Envelope>(&message.payload) {
                    Ok(event) => on_event(&event),
                    Err(err) => tracing::debug!(error = %err, "unreadable event passed over"),
                },
                // The ordered consumer recreates itself after a gap; this is what it
                // could not mend.
                Some(Err(err)) => {
                    tracing::warn!(producer = %producer, error = %err, "tail stream error");
                }
                None => {
                    // Ended (the server forgot the consumer): follow again from the
                    // end; what was published in between is not delivered.
                    loop {
                        tokio::select! {
                            () = shutdown.cancelled() => return,
                            () = tokio::time::sleep(RELAY_POLL) => {}
                        }
                        match self.tail_messages(producer).await {
                            Ok(resumed) => {
                                messages = resumed;
                                break;
                            }
                            Err(err) => {
                                tracing::warn!(producer = %producer, error = %err, "cannot resume tail; retrying");
                            }
                        }
                    }
                }
            }
        }
    }

    /// Deletes every stream under this bus's namespace (test cleanup).
    pub async fn delete_namespace(&self) -> Result<(), BusError> {
        if self.namespace.is_empty() {
            return Ok(());
        }
        let prefix = format!("{}_", self.namespace.to_ascii_uppercase());
        let names: Vec<String> = self
            .jetstream
            .stream_names()
            .filter_map(|n| async move { n.ok() })
            .collect()
            .await;
        for name in names.into_iter().filter(|n| n.starts_with(&prefix)) {
            self.jetstream
                .delete_stream(&name)
                .await
                .map_err(nats_error)?;
        }
        Ok(())
    }

    /// Every durable consumer of this platform's streams with what it has not finished
    /// (for `viscount verify`: after a run, every one should be at zero). Streams not
    /// created yet are left out; tails (ephemeral consumers) too.
    pub async fn backlogs(&self) -> Result<Vec<ConsumerBacklog>, BusError> {
        use futures_util::TryStreamExt;
        let names: Vec<String> = self
            .jetstream
            .stream_names()
            .try_collect()
            .await
            .map_err(nats_error)?;
        let mut backlogs = Vec::new();
        for producer in ServiceKind::all().iter().copied() {
            let stream = self.stream_name(producer);
            if !names.contains(&stream) {
                continue;
            }
            let infos: Vec<jetstream::consumer::Info> = self
                .jetstream
                .get_stream(&stream)
                .await
                .map_err(nats_error)?
                .consumers()
                .try_collect()
                .await
                .map_err(nats_error)?;
            for info in infos {
                if info.config.durable_name.is_none() {
                    continue;
                }
                backlogs.push(ConsumerBacklog {
                    producer,
                    stream: stream.clone(),
                    consumer: info.name,
                    pending: info.num_pending,
                    ack_pending: info.num_ack_pending as u64,
                });
            }
        }
        Ok(backlogs)
    }
}

/// What one durable consumer has not finished of one producer's stream
/// ([`NatsBus::backlogs`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerBacklog {
    /// The producing service whose stream it reads.
    pub producer: ServiceKind,
    /// The stream's name.
    pub stream: String,
    /// The consumer's name (the consuming service).
    pub consumer: String,
    /// Messages not yet delivered to it.
    pub pending: u64,
    /// Messages delivered to it and not yet acknowledged.
    pub ack_pending: u64,
}

#[async_trait]
impl Bus for NatsBus {
    async fn attach_producer(
        &self,
        producer: ServiceKind,
        db: Db,
        tasks: &Tasks,
    ) -> Result<Outbox, BusError> {
        self.ensure_stream(producer).await?;
        let (wake, _) = tokio::sync::watch::channel(0);
        let outbox = Outbox::relayed(producer, wake);
        let relay = self.clone();
        let handle = outbox.clone();
        let shutdown = tasks.shutdown().clone();
        tasks.spawn(async move { relay.run_relay(db, handle, shutdown).await });
        Ok(outbox)
    }

    async fn subscribe(&self, subscription: Subscription, tasks: &Tasks) -> Result<(), BusError> {
        for producer in &subscription.streams {
            let stream = self.ensure_stream(*producer).await?;
            let consumer = stream
                .get_or_create_consumer(
                    &subscription.consumer,
                    pull::Config {
                        durable_name: Some(subscription.consumer.clone()),
                        ack_policy: jetstream::consumer::AckPolicy::Explicit,
                        ack_wait: ACK_WAIT,
                        deliver_policy: jetstream::consumer::DeliverPolicy::All,
                        ..Default::default()
                    },
                )
                .await
                .map_err(nats_error)?;
            let shutdown = tasks.shutdown().clone();
            let subscription = subscription.clone();
            tasks.spawn(async move { Self::run_consumer(subscription, consumer, shutdown).await });
        }
        Ok(())
    }

    async fn tail(
        &self,
        producer: ServiceKind,
        tasks: &Tasks,
        on_event: OnEvent,
    ) -> Result<(), BusError> {
        let messages = self.tail_messages(producer).await?;
        let bus = self.clone();
        let shutdown = tasks.shutdown().clone();
        tasks.spawn(async move { bus.run_tail(producer, messages, on_event, shutdown).await });
        Ok(())
    }

    /// What was published is in the stream: JetStream delivers it from there.
    async fn delivered(&self, _producer: ServiceKind) -> Result<Delivered, BusError> {
        Ok(Delivered::Published)
    }

    async fn ping(&self) -> Result<(), BusError> {
        match self.client.connection_state() {
            async_nats::connection::State::Connected => Ok(()),
            state => Err(BusError::Nats(format!("connection {state:?}"))),
        }
    }
}

/// Acknowledges (or naks) a message; a lost ack only means a redelivery, which the
/// inbox absorbs.
async fn acknowledge(message: &jetstream::Message, kind: AckKind) {
    if let Err(err) = message.ack_with(kind).await {
        tracing::warn!(error = %err, "cannot acknowledge message");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_versions_are_compared_by_major_and_minor() {
        assert!(version_at_least("2.10.0", (2, 10)));
        assert!(version_at_least("2.15.1", (2, 10)));
        assert!(version_at_least("v3.0.0-beta.1", (2, 10)));
        assert!(!version_at_least("2.9.10", (2, 10)));
        assert!(!version_at_least("1.99.0", (2, 10)));
        assert!(!version_at_least("", (2, 10)));
        assert!(!version_at_least("two.ten", (2, 10)));
    }
}
