//! The outbox/inbox guarantees of both buses, against real databases and a real NATS.
//!
//! A producer database stages events through its outbox; a consumer database applies
//! them through an inbox-guarded handler that writes one `effects` row per application.
//! Every scenario runs on SQLite + the embedded bus and on PostgreSQL + JetStream.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use contracts::identity::UserDeleted;
use platform::bus::{
    Bus, Envelope, EventHandler, HandlerError, NatsBus, Outbox, RetryPolicy, Subscription,
};
use platform::db::{Db, Migration, Migrations, Tx};
use platform::service::ServiceKind;
use platform::shutdown::Shutdown;
use platform::tasks::Tasks;
use viscount::Storage;
use viscount_tests::in_both_shapes;
use viscount_tests::{Shape, TestStorage, eventually};

const EFFECTS: Migrations = Migrations {
    scope: "test",
    steps: &[Migration {
        name: "0001_effects",
        sqlite: "CREATE TABLE effects (event_id TEXT NOT NULL, subject TEXT NOT NULL, traceparent TEXT)",
        postgres: "CREATE TABLE effects (event_id TEXT NOT NULL, subject TEXT NOT NULL, traceparent TEXT)",
    }],
};

/// Writes one effect row per event; refuses subjects named `poison` until cured.
struct RecordingHandler {
    cured: AtomicBool,
}

#[async_trait]
impl EventHandler for RecordingHandler {
    async fn handle(&self, tx: &mut Tx, event: &Envelope) -> Result<(), HandlerError> {
        let payload: UserDeleted = event.decode()?;
        if payload.user_id == "poison" && !self.cured.load(Ordering::SeqCst) {
            return Err(HandlerError::Rejected("poison".into()));
        }
        platform::db::query(
            "INSERT INTO effects (event_id, subject, traceparent) VALUES ($1, $2, $3)",
        )
        .bind(&event.id)
        .bind(&event.subject)
        .bind(&event.traceparent)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }
}

struct Rig {
    storage: TestStorage,
    bus: Arc<dyn Bus>,
    producer: Db,
    consumer: Db,
    handler: Arc<RecordingHandler>,
}

impl Rig {
    async fn new(shape: Shape) -> Option<Self> {
        let storage = TestStorage::new(shape)?;
        let bus = storage.storage.bus().await.expect("bus");
        let producer = Db::connect(&storage.extra_database_url("test_producer"), &EFFECTS)
            .await
            .expect("producer db");
        let consumer = Db::connect(&storage.extra_database_url("test_consumer"), &EFFECTS)
            .await
            .expect("consumer db");
        Some(Self {
            storage,
            bus,
            producer,
            consumer,
            handler: Arc::new(RecordingHandler {
                cured: AtomicBool::new(false),
            }),
        })
    }

    fn subscription(&self) -> Subscription {
        Subscription {
            consumer: "testsink".into(),
            db: self.consumer.clone(),
            streams: vec![ServiceKind::Identity],
            handler: self.handler.clone(),
            retry: RetryPolicy {
                max_attempts: 3,
                base_delay: Duration::from_millis(10),
                max_delay: Duration::from_millis(50),
            },
            outbox: None,
        }
    }

    async fn outbox(&self, tasks: &Tasks) -> Outbox {
        self.bus
            .attach_producer(ServiceKind::Identity, self.producer.clone(), tasks)
            .await
            .expect("attach producer")
    }

    async fn subscribe(&self) -> Tasks {
        let tasks = Tasks::new(Shutdown::new());
        self.bus
            .subscribe(self.subscription(), &tasks)
            .await
            .expect("subscribe");
        tasks
    }

    async fn stage(&self, outbox: &Outbox, subjects: &[&str]) {
        let mut tx = self.producer.begin().await.expect("begin");
        for subject in subjects {
            outbox
                .stage(
                    &mut tx,
                    &UserDeleted {
                        user_id: (*subject).to_owned(),
                    },
                )
                .await
                .expect("stage");
        }
        tx.commit().await.expect("commit");
        outbox.wake();
    }

    /// (rows, distinct event ids) in the effects table, read in one statement.
    async fn effects(&self) -> (i64, i64) {
        let row = platform::db::query(
            "SELECT COUNT(*) AS effects, COUNT(DISTINCT event_id) AS distinct_ids FROM effects",
        )
        .fetch_one(self.consumer.reader())
        .await
        .expect("count effects");
        (
            row.try_get("effects").expect("effects"),
            row.try_get("distinct_ids").expect("distinct ids"),
        )
    }

    async fn wait_for_effects(&self, expected: i64) {
        eventually(
            Duration::from_secs(20),
            &format!("{expected} effects"),
            || async {
                let (rows, distinct) = self.effects().await;
                assert_eq!(rows, distinct, "an event had two effects");
                assert!(
                    rows <= expected,
                    "more effects ({rows}) than events ({expected})"
                );
                (rows == expected).then_some(())
            },
        )
        .await;
    }

    fn nats(&self) -> Option<platform::bus::NatsOptions> {
        match &self.storage.storage {
            Storage::Distributed { nats, .. } => Some(nats.clone()),
            Storage::Embedded { .. } => None,
        }
    }
}

in_both_shapes!(
    relay_killed_between_publish_and_mark_sent_still_gives_one_effect_per_event,
    a_consumer_that_was_down_catches_up_and_loses_nothing,
    a_poison_message_is_dead_lettered_after_its_retries_and_does_not_block_others,
    a_consumer_stopped_while_retrying_resumes_where_it_stopped,
    events_carry_the_cloudevents_envelope_and_the_trace_context,
);

async fn relay_killed_between_publish_and_mark_sent_still_gives_one_effect_per_event(shape: Shape) {
    let Some(rig) = Rig::new(shape).await else {
        return;
    };
    // A producer whose relay is gone before anything is staged.
    let dead = Tasks::new(Shutdown::new());
    let outbox = rig.outbox(&dead).await;
    dead.stop(Duration::from_secs(5)).await;
    rig.stage(&outbox, &["a", "b", "c", "d", "e"]).await;

    match rig.nats() {
        Some(options) => {
            // The crash: published, never marked sent.
            let nats = NatsBus::connect(&options).await.expect("nats");
            let rows = platform::bus::unpublished(&rig.producer, 100)
                .await
                .expect("unpublished");
            assert_eq!(rows.len(), 5);
            let acked = nats.publish(&rows).await.expect("publish");
            assert_eq!(acked.len(), 5);
            assert_eq!(
                platform::bus::unpublished(&rig.producer, 100)
                    .await
                    .expect("unpublished")
                    .len(),
                5,
                "not marked"
            );
        }
        None => {
            // The crash: applied by the consumer, cursor never moved.
            let applied = platform::bus::deliver_without_advancing(
                &rig.producer,
                ServiceKind::Identity,
                &rig.subscription(),
            )
            .await
            .expect("deliver");
            assert_eq!(applied, 5);
        }
    }
    // Restart: a new relay re-publishes (or the dispatcher re-reads) everything.
    let restarted = Tasks::new(Shutdown::new());
    let outbox = rig.outbox(&restarted).await;
    let _consumer = rig.subscribe().await;
    outbox.wake();
    rig.wait_for_effects(5).await;
    // One more event proves the consumer has moved past the redelivered ones.
    rig.stage(&outbox, &["f"]).await;
    rig.wait_for_effects(6).await;
    if rig.nats().is_some() {
        eventually(Duration::from_secs(10), "outbox marked sent", || async {
            platform::bus::unpublished(&rig.producer, 100)
                .await
                .ok()
                .filter(Vec::is_empty)
                .map(|_| ())
        })
        .await;
    }
}

async fn a_consumer_that_was_down_catches_up_and_loses_nothing(shape: Shape) {
    let Some(rig) = Rig::new(shape).await else {
        return;
    };
    let producer_tasks = Tasks::new(Shutdown::new());
    let outbox = rig.outbox(&producer_tasks).await;
    let consumer = rig.subscribe().await;
    let first: Vec<String> = (0..10).map(|i| format!("first-{i}")).collect();
    rig.stage(
        &outbox,
        &first.iter().map(String::as_str).collect::<Vec<_>>(),
    )
    .await;
    rig.wait_for_effects(10).await;

    consumer.stop(Duration::from_secs(10)).await;
    let second: Vec<String> = (0..20).map(|i| format!("second-{i}")).collect();
    for chunk in second.chunks(5) {
        rig.stage(
            &outbox,
            &chunk.iter().map(String::as_str).collect::<Vec<_>>(),
        )
        .await;
    }
    assert_eq!(
        rig.effects().await,
        (10, 10),
        "nothing applied while the consumer is down"
    );

    let _consumer = rig.subscribe().await;
    rig.wait_for_effects(30).await;
}

async fn a_poison_message_is_dead_lettered_after_its_retries_and_does_not_block_others(
    shape: Shape,
) {
    let Some(rig) = Rig::new(shape).await else {
        return;
    };
    let producer_tasks = Tasks::new(Shutdown::new());
    let outbox = rig.outbox(&producer_tasks).await;
    let _consumer = rig.subscribe().await;
    rig.stage(&outbox, &["poison", "good-1", "good-2", "good-3"])
        .await;
    rig.wait_for_effects(3).await;
    let dead = eventually(Duration::from_secs(20), "a dead letter", || async {
        platform::bus::dead_letters(&rig.consumer, 10)
            .await
            .ok()
            .filter(|d| !d.is_empty())
    })
    .await;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].attempts, 3);
    assert_eq!(dead[0].event_type, "identity.user.deleted.v1");
    assert_eq!(dead[0].consumer, "testsink");
    assert!(dead[0].error.contains("poison"));
    assert!(dead[0].replayed_at.is_none());

    rig.handler.cured.store(true, Ordering::SeqCst);
    let replayed = platform::bus::replay_dead_letter(&rig.subscription(), &dead[0].id)
        .await
        .expect("replay");
    assert!(replayed);
    assert_eq!(rig.effects().await, (4, 4));
    let after = platform::bus::dead_letters(&rig.consumer, 10)
        .await
        .expect("dead letters");
    assert!(after[0].replayed_at.is_some());
    let again = platform::bus::replay_dead_letter(&rig.subscription(), &dead[0].id)
        .await
        .expect("replay");
    assert!(!again, "a dead letter is replayed once");
    assert_eq!(rig.effects().await, (4, 4));
}

/// A consumer stopped while an event keeps failing resumes after the last event it
/// applied: nothing twice, nothing skipped. The embedded dispatcher records what it
/// applied by its cursor alone (no inbox rows), so an event applied one at a time must
/// move the cursor in its own transaction, or a crash would apply it again.
async fn a_consumer_stopped_while_retrying_resumes_where_it_stopped(shape: Shape) {
    let Some(rig) = Rig::new(shape).await else {
        return;
    };
    let producer_tasks = Tasks::new(Shutdown::new());
    let outbox = rig.outbox(&producer_tasks).await;
    // Retries that outlast the test, so the consumer is stopped mid-retry.
    let patient = Subscription {
        retry: RetryPolicy {
            max_attempts: 1_000_000,
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(20),
        },
        ..rig.subscription()
    };
    let retrying = Tasks::new(Shutdown::new());
    rig.bus
        .subscribe(patient, &retrying)
        .await
        .expect("subscribe");
    rig.stage(&outbox, &["before", "poison"]).await;
    // The batch fails on the poison; the event before it is applied on its own.
    rig.wait_for_effects(1).await;
    if rig.nats().is_none() {
        // Committed with that effect, while the poison is still being retried.
        let before: i64 = platform::db::query_scalar("SELECT seq FROM outbox WHERE subject = $1")
            .bind("before")
            .fetch_one(rig.producer.reader())
            .await
            .expect("seq of before");
        let cursor: i64 =
            platform::db::query_scalar("SELECT position FROM bus_cursors WHERE consumer = $1")
                .bind("testsink<-identity")
                .fetch_one(rig.consumer.reader())
                .await
                .expect("cursor");
        assert_eq!(cursor, before, "the cursor moved with the applied event");
    }
    retrying.stop(Duration::from_secs(10)).await;
    assert_eq!(rig.effects().await, (1, 1), "the poison is not applied");

    rig.handler.cured.store(true, Ordering::SeqCst);
    let _consumer = rig.subscribe().await;
    rig.wait_for_effects(2).await;
    // One more event proves the restarted consumer has moved past the others.
    rig.stage(&outbox, &["after"]).await;
    rig.wait_for_effects(3).await;
    assert_eq!(rig.effects().await, (3, 3), "each event applied once");
}

async fn events_carry_the_cloudevents_envelope_and_the_trace_context(shape: Shape) {
    let Some(rig) = Rig::new(shape).await else {
        return;
    };
    let producer_tasks = Tasks::new(Shutdown::new());
    let outbox = rig.outbox(&producer_tasks).await;
    let _consumer = rig.subscribe().await;
    let traceparent = platform::telemetry::new_traceparent();
    let staged = platform::telemetry::with_traceparent(traceparent.clone(), async {
        let mut tx = rig.producer.begin().await.expect("begin");
        let envelope = outbox
            .stage(
                &mut tx,
                &UserDeleted {
                    user_id: "traced".into(),
                },
            )
            .await
            .expect("stage");
        tx.commit().await.expect("commit");
        outbox.wake();
        envelope
    })
    .await;
    assert_eq!(staged.specversion, "1.0");
    assert_eq!(staged.source, "/viscount/identity");
    assert_eq!(staged.event_type, "identity.user.deleted.v1");
    assert_eq!(staged.subject, "traced");
    rig.wait_for_effects(1).await;
    let effect =
        platform::db::query("SELECT event_id, traceparent FROM effects WHERE subject = 'traced'")
            .fetch_one(rig.consumer.reader())
            .await
            .expect("effect");
    let event_id: String = effect.try_get("event_id").expect("event id");
    let received: Option<String> = effect.try_get("traceparent").expect("traceparent");
    assert_eq!(event_id, staged.id);
    assert_eq!(received.as_deref(), Some(traceparent.as_str()));
}
