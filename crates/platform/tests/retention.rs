//! Retention against real databases: rows past their window are deleted, rows a
//! consumer may still need are kept, in both shapes (SQLite with the embedded bus;
//! PostgreSQL with NATS JetStream), and SQLite files give the space back.
//!
//! PostgreSQL tests run when `VISCOUNT_TEST_POSTGRES_URL` is set (with NATS too, when
//! `VISCOUNT_TEST_NATS_URL` is); without them they say they are skipped, unless
//! `VISCOUNT_TEST_REQUIRE_DISTRIBUTED=1`, where they fail. Time moves through the
//! platform [`Clock`], never by sleeping.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use contracts::identity::UserDeleted;
use platform::bus::{
    Bus, Delivered, EmbeddedBus, Envelope, EventHandler, HandlerError, NatsBus, NatsOptions,
    Outbox, RetryPolicy, Subscription,
};
use platform::config::ConfigSource;
use platform::db::{Db, Migrations, Tx, query, query_scalar};
use platform::retention::{Retention, RetentionConfig, SWEEP_LOCK, freelist_count};
use platform::service::{ServiceContext, ServiceKind, StartError};
use platform::shutdown::Shutdown;
use platform::tasks::Tasks;
use platform::time::Clock;

/// The databases here hold only the platform's tables.
const PLATFORM_ONLY: Migrations = Migrations {
    scope: "retention_test",
    steps: &[],
};

const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(24 * 3600);

fn require_distributed() -> bool {
    std::env::var("VISCOUNT_TEST_REQUIRE_DISTRIBUTED").is_ok_and(|v| v == "1")
}

/// `VISCOUNT_TEST_POSTGRES_URL`, or `None` with a notice (a failure where required).
fn postgres_base() -> Option<String> {
    match std::env::var("VISCOUNT_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                !require_distributed(),
                "distributed shape required but VISCOUNT_TEST_POSTGRES_URL is not set"
            );
            eprintln!("SKIPPED: VISCOUNT_TEST_POSTGRES_URL not set");
            None
        }
    }
}

/// `VISCOUNT_TEST_NATS_URL`, or `None` with a notice (a failure where required).
fn nats_base() -> Option<String> {
    match std::env::var("VISCOUNT_TEST_NATS_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                !require_distributed(),
                "distributed shape required but VISCOUNT_TEST_NATS_URL is not set"
            );
            eprintln!("SKIPPED: VISCOUNT_TEST_NATS_URL not set");
            None
        }
    }
}

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}{}",
        &platform::ids::new_id().replace('-', "")[16..]
    )
}

/// A PostgreSQL database of this test's own, dropped by [`PgDb::drop`].
struct PgDb {
    db: Db,
    url: String,
}

impl PgDb {
    async fn new(base: &str) -> Self {
        let url = format!("{}/{}", base.trim_end_matches('/'), unique("retention_t"));
        let db = Db::connect(&url, &PLATFORM_ONLY)
            .await
            .expect("postgres db");
        Self { db, url }
    }

    async fn drop(self) {
        self.db.close().await;
        platform::db::drop_postgres_database(&self.url)
            .await
            .expect("drop database");
    }
}

async fn sqlite_db(dir: &tempfile::TempDir, name: &str) -> Db {
    Db::connect(&platform::db::sqlite_url(dir.path(), name), &PLATFORM_ONLY)
        .await
        .expect("sqlite db")
}

/// Small batches, so every sweep below runs several.
fn config() -> RetentionConfig {
    RetentionConfig {
        batch_size: 2,
        ..RetentionConfig::default()
    }
}

async fn count(db: &Db, sql: &str) -> i64 {
    query_scalar(sql)
        .fetch_one(db.reader())
        .await
        .expect("count")
}

async fn outbox_seqs(db: &Db) -> Vec<i64> {
    query_scalar("SELECT seq FROM outbox ORDER BY seq")
        .fetch_all(db.reader())
        .await
        .expect("seqs")
}

/// Stages `n` events, each in its own transaction; answers their seqs.
async fn stage(db: &Db, outbox: &Outbox, n: usize) -> Vec<i64> {
    let mut ids = Vec::with_capacity(n);
    for _ in 0..n {
        let mut tx = db.begin().await.expect("begin");
        let event = UserDeleted {
            user_id: platform::ids::new_id(),
        };
        let envelope = outbox.stage(&mut tx, &event).await.expect("stage");
        tx.commit().await.expect("commit");
        ids.push(envelope.id);
    }
    outbox.wake();
    let mut seqs = Vec::with_capacity(n);
    for id in ids {
        let seq: i64 = query_scalar("SELECT seq FROM outbox WHERE id = $1")
            .bind(id)
            .fetch_one(db.reader())
            .await
            .expect("seq");
        seqs.push(seq);
    }
    seqs
}

/// Polls `check` until it holds or the deadline passes.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(20);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn cursor(db: &Db, key: &str) -> i64 {
    query_scalar::<i64>("SELECT position FROM bus_cursors WHERE consumer = $1")
        .bind(key)
        .fetch_optional(db.reader())
        .await
        .expect("cursor")
        .unwrap_or(0)
}

async fn set_cursor(db: &Db, key: &str, position: i64) {
    let mut tx = db.begin().await.expect("begin");
    query(
        "INSERT INTO bus_cursors (consumer, position) VALUES ($1, $2) \
         ON CONFLICT (consumer) DO UPDATE SET position = excluded.position",
    )
    .bind(key)
    .bind(position)
    .execute(&mut *tx)
    .await
    .expect("cursor");
    tx.commit().await.expect("commit");
}

/// Applies the events of the types it is given, doing nothing with them.
struct Accepts(&'static [&'static str]);

#[async_trait]
impl EventHandler for Accepts {
    async fn handle(&self, _tx: &mut Tx, _event: &Envelope) -> Result<(), HandlerError> {
        Ok(())
    }

    fn handles(&self, event_type: &str) -> bool {
        self.0.contains(&event_type)
    }
}

fn subscription(consumer: &str, db: &Db, handles: &'static [&'static str]) -> Subscription {
    Subscription {
        consumer: consumer.into(),
        db: db.clone(),
        streams: vec![ServiceKind::Identity],
        handler: Arc::new(Accepts(handles)),
        retry: RetryPolicy::default(),
        outbox: None,
    }
}

const USER_DELETED: &[&str] = &["identity.user.deleted.v1"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_outbox_rows_go_only_once_every_consumer_read_them_and_they_are_old() {
    let dir = tempfile::tempdir().expect("tempdir");
    let producer = sqlite_db(&dir, "identity").await;
    let reading = sqlite_db(&dir, "catalog").await;
    let stopped = sqlite_db(&dir, "analytics").await;
    let bus = EmbeddedBus::new();
    let tasks = Tasks::new(Shutdown::new());
    let outbox = bus
        .attach_producer(ServiceKind::Identity, producer.clone(), &tasks)
        .await
        .expect("attach");
    bus.subscribe(subscription("catalog", &reading, USER_DELETED), &tasks)
        .await
        .expect("subscribe");
    // A consumer that subscribed but does not run (its process stopped at once): it
    // reads nothing until its cursor is moved by hand.
    let halted = Tasks::new(Shutdown::new());
    halted.shutdown().cancel();
    bus.subscribe(subscription("analytics", &stopped, USER_DELETED), &halted)
        .await
        .expect("subscribe");

    let seqs = stage(&producer, &outbox, 6).await;
    let last = *seqs.last().expect("staged");
    eventually("the running consumer to read everything", || async {
        cursor(&reading, "catalog<-identity").await == last
    })
    .await;

    let clock = Clock::system();
    let retention = Retention::new(
        ServiceKind::Identity,
        producer.clone(),
        Arc::new(bus.clone()),
        clock.clone(),
        config(),
    );
    let young = retention.sweep().await.expect("sweep");
    assert_eq!(
        young.deleted_from("outbox"),
        0,
        "young rows are kept for replay"
    );

    clock.advance(7 * DAY + HOUR);
    let unread = retention.sweep().await.expect("sweep");
    assert_eq!(
        unread.deleted_from("outbox"),
        0,
        "a consumer has read none of them"
    );
    assert_eq!(outbox_seqs(&producer).await, seqs);

    set_cursor(&stopped, "analytics<-identity", seqs[2]).await;
    let partly = retention.sweep().await.expect("sweep");
    assert_eq!(partly.deleted_from("outbox"), 3);
    assert_eq!(outbox_seqs(&producer).await, seqs[3..].to_vec());

    set_cursor(&stopped, "analytics<-identity", last).await;
    let fresh = stage(&producer, &outbox, 1).await;
    let all_read = retention.sweep().await.expect("sweep");
    assert_eq!(all_read.deleted_from("outbox"), 3);
    assert_eq!(
        outbox_seqs(&producer).await,
        fresh,
        "the event staged now is younger than the window"
    );
    tasks.stop(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_passing_over_events_it_does_not_handle_does_not_hold_the_log_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let producer = sqlite_db(&dir, "identity").await;
    let consumer = sqlite_db(&dir, "payments").await;
    let bus = EmbeddedBus::new();
    let tasks = Tasks::new(Shutdown::new());
    let outbox = bus
        .attach_producer(ServiceKind::Identity, producer.clone(), &tasks)
        .await
        .expect("attach");
    bus.subscribe(
        subscription("payments", &consumer, &["identity.user.created.v1"]),
        &tasks,
    )
    .await
    .expect("subscribe");
    let seqs = stage(&producer, &outbox, 4).await;
    let last = *seqs.last().expect("staged");
    eventually("the dispatcher to pass over the events", || async {
        bus.delivered(ServiceKind::Identity)
            .await
            .expect("delivered")
            == Delivered::Through(last)
    })
    .await;
    assert_eq!(
        cursor(&consumer, "payments<-identity").await,
        0,
        "passing over costs no commit"
    );
    let clock = Clock::system();
    clock.advance(7 * DAY + HOUR);
    let retention = Retention::new(
        ServiceKind::Identity,
        producer.clone(),
        Arc::new(bus.clone()),
        clock,
        config(),
    );
    let swept = retention.sweep().await.expect("sweep");
    assert_eq!(swept.deleted_from("outbox"), 4);
    assert!(outbox_seqs(&producer).await.is_empty());
    tasks.stop(Duration::from_secs(5)).await;
}

/// Inbox rows, idempotency keys and dead letters, each by its own window.
async fn platform_tables_age_out_by_their_own_windows(db: &Db) {
    let now = platform::time::now_millis();
    let mut tx = db.begin().await.expect("begin");
    for n in 0..3 {
        query("INSERT INTO inbox (consumer, event_id, handled_at) VALUES ($1, $2, $3)")
            .bind("catalog")
            .bind(format!("e-{n}"))
            .bind(now)
            .execute(&mut *tx)
            .await
            .expect("inbox");
        query(
            "INSERT INTO idempotency_keys (scope, key, request_hash, status, body, created_at) \
             VALUES ($1, $2, 'h', 201, '{}', $3)",
        )
        .bind("u-1 POST /api/v1/orders")
        .bind(format!("k-{n}"))
        .bind(now)
        .execute(&mut *tx)
        .await
        .expect("idempotency key");
    }
    for (id, replayed_at) in [("replayed", Some(now)), ("waiting", None)] {
        query(
            "INSERT INTO dead_letters (id, consumer, event_id, event_type, body, error, attempts, \
             failed_at, replayed_at) VALUES ($1, 'catalog', $1, 't', '{}', 'boom', 5, $2, $3)",
        )
        .bind(id)
        .bind(now)
        .bind(replayed_at)
        .execute(&mut *tx)
        .await
        .expect("dead letter");
    }
    tx.commit().await.expect("commit");

    let clock = Clock::system();
    // An embedded bus this database's outbox is not attached to: no outbox row is
    // known to be read, so none goes; the other tables do not depend on the bus.
    let retention = Retention::new(
        ServiceKind::Catalog,
        db.clone(),
        Arc::new(EmbeddedBus::new()),
        clock.clone(),
        config(),
    );
    let inbox = "SELECT COUNT(*) FROM inbox";
    let keys = "SELECT COUNT(*) FROM idempotency_keys";
    let letters = "SELECT id FROM dead_letters ORDER BY id";
    let letters_left = || async {
        query_scalar::<String>(letters)
            .fetch_all(db.reader())
            .await
            .expect("letters")
    };

    let at_once = retention.sweep().await.expect("sweep");
    assert_eq!(at_once.total(), 0, "nothing is old yet: {at_once:?}");

    clock.advance(25 * HOUR);
    let day = retention.sweep().await.expect("sweep");
    assert_eq!(day.deleted_from("idempotency_keys"), 3);
    assert_eq!(count(db, keys).await, 0);
    assert_eq!(
        count(db, inbox).await,
        3,
        "inbox rows outlive the outbox window"
    );

    clock.advance(7 * DAY);
    retention.sweep().await.expect("sweep");
    assert_eq!(count(db, inbox).await, 0, "gone after eight days");
    assert_eq!(letters_left().await, ["replayed", "waiting"]);

    clock.advance(30 * DAY);
    let month = retention.sweep().await.expect("sweep");
    assert_eq!(month.deleted_from("dead_letters"), 1);
    assert_eq!(
        letters_left().await,
        ["waiting"],
        "a dead letter nobody replayed stays"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inbox_keys_and_dead_letters_age_out_on_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = sqlite_db(&dir, "catalog").await;
    platform_tables_age_out_by_their_own_windows(&db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inbox_keys_and_dead_letters_age_out_on_postgres() {
    let Some(base) = postgres_base() else { return };
    let pg = PgDb::new(&base).await;
    platform_tables_age_out_by_their_own_windows(&pg.db).await;
    pg.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn published_outbox_rows_go_after_their_age_and_unpublished_ones_stay() {
    let (Some(pg_base), Some(nats_url)) = (postgres_base(), nats_base()) else {
        return;
    };
    let pg = PgDb::new(&pg_base).await;
    let bus = NatsBus::connect(&NatsOptions {
        url: nats_url,
        namespace: unique("rt"),
    })
    .await
    .expect("nats");
    let relay = Tasks::new(Shutdown::new());
    let outbox = bus
        .attach_producer(ServiceKind::Identity, pg.db.clone(), &relay)
        .await
        .expect("attach");
    stage(&pg.db, &outbox, 5).await;
    eventually("the relay to publish every row", || async {
        count(
            &pg.db,
            "SELECT COUNT(*) FROM outbox WHERE published_at IS NULL",
        )
        .await
            == 0
    })
    .await;
    // With the relay stopped, a row that is as old as can be but not published.
    relay.stop(Duration::from_secs(5)).await;
    pg.db
        .execute_alone(query(
            "INSERT INTO outbox (id, event_type, subject, body, created_at) \
             VALUES ('unpublished', 'identity.user.deleted.v1', 'u', '{}', 0)",
        ))
        .await
        .expect("unpublished row");

    let clock = Clock::system();
    let retention = Retention::new(
        ServiceKind::Identity,
        pg.db.clone(),
        Arc::new(bus.clone()),
        clock.clone(),
        config(),
    );
    let young = retention.sweep().await.expect("sweep");
    assert_eq!(young.deleted_from("outbox"), 0);
    assert_eq!(count(&pg.db, "SELECT COUNT(*) FROM outbox").await, 6);

    clock.advance(7 * DAY + HOUR);
    let old = retention.sweep().await.expect("sweep");
    assert_eq!(old.deleted_from("outbox"), 5);
    let left: Vec<String> = query_scalar("SELECT id FROM outbox")
        .fetch_all(pg.db.reader())
        .await
        .expect("left");
    assert_eq!(left, ["unpublished"], "an unpublished row is never deleted");

    bus.delete_namespace().await.expect("clean up streams");
    pg.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_skips_its_sweep_while_another_holds_it() {
    let Some(base) = postgres_base() else { return };
    let pg = PgDb::new(&base).await;
    pg.db
        .execute_alone(
            query(
                "INSERT INTO idempotency_keys (scope, key, request_hash, created_at) \
                 VALUES ('s', 'k', 'h', $1)",
            )
            .bind(platform::time::now_millis()),
        )
        .await
        .expect("key");
    let clock = Clock::system();
    clock.advance(2 * DAY);
    let retention = Retention::new(
        ServiceKind::Payments,
        pg.db.clone(),
        Arc::new(EmbeddedBus::new()),
        clock,
        config(),
    );

    // The other replica, mid-sweep.
    let mut other = <sqlx::PgConnection as sqlx::Connection>::connect(&pg.url)
        .await
        .expect("connect");
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(SWEEP_LOCK)
        .execute(&mut other)
        .await
        .expect("lock");
    let skipped = retention.sweep().await.expect("sweep");
    assert!(skipped.busy, "{skipped:?}");
    assert_eq!(skipped.total(), 0);
    assert_eq!(
        count(&pg.db, "SELECT COUNT(*) FROM idempotency_keys").await,
        1
    );

    sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(SWEEP_LOCK)
        .execute(&mut other)
        .await
        .expect("unlock");
    let swept = retention.sweep().await.expect("sweep");
    assert!(!swept.busy);
    assert_eq!(swept.deleted_from("idempotency_keys"), 1);
    drop(other);
    pg.drop().await;
}

async fn page_count(db: &Db) -> i64 {
    count(db, "PRAGMA page_count").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sweep_gives_the_pages_it_freed_back_to_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = sqlite_db(&dir, "payments").await;
    assert_eq!(
        count(&db, "PRAGMA auto_vacuum").await,
        2,
        "new files are incremental"
    );
    let body = "x".repeat(2048);
    let now = platform::time::now_millis();
    for chunk in 0..10 {
        let mut tx = db.begin().await.expect("begin");
        for n in 0..200 {
            query(
                "INSERT INTO idempotency_keys (scope, key, request_hash, body, created_at) \
                 VALUES ('s', $1, 'h', $2, $3)",
            )
            .bind(format!("k-{chunk}-{n}"))
            .bind(&body)
            .bind(now)
            .execute(&mut *tx)
            .await
            .expect("key");
        }
        tx.commit().await.expect("commit");
    }
    let full = page_count(&db).await;
    assert!(full > 1000, "{full} pages");

    let clock = Clock::system();
    clock.advance(25 * HOUR);
    let config = RetentionConfig {
        batch_size: 500,
        vacuum_pages: 100,
        ..RetentionConfig::default()
    };
    let retention = Retention::new(
        ServiceKind::Payments,
        db.clone(),
        Arc::new(EmbeddedBus::new()),
        clock,
        config,
    );
    let swept = retention.sweep().await.expect("sweep");
    assert_eq!(swept.deleted_from("idempotency_keys"), 2000);
    assert!(swept.reclaimed_pages > 900, "{swept:?}");
    assert_eq!(freelist_count(&db).await.expect("freelist"), 0);
    let after = page_count(&db).await;
    assert!(after * 4 < full, "{full} pages before, {after} after");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn freed_pages_are_reclaimed_step_by_step() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = sqlite_db(&dir, "notifications").await;
    let mut tx = db.begin().await.expect("begin");
    for n in 0..300 {
        query("INSERT INTO inbox (consumer, event_id, handled_at) VALUES ($1, $2, 0)")
            .bind("x".repeat(1000))
            .bind(format!("e-{n}"))
            .execute(&mut *tx)
            .await
            .expect("inbox");
    }
    tx.commit().await.expect("commit");
    let mut tx = db.begin().await.expect("begin");
    query("DELETE FROM inbox")
        .execute(&mut *tx)
        .await
        .expect("delete");
    tx.commit().await.expect("commit");
    let free = freelist_count(&db).await.expect("freelist");
    assert!(free > 50, "{free} free pages after the delete");
    let reclaimed = platform::retention::reclaim_space(&db, 16, &Shutdown::new())
        .await
        .expect("reclaim");
    assert_eq!(reclaimed, u64::try_from(free).expect("count"));
    assert_eq!(freelist_count(&db).await.expect("freelist"), 0);
}

#[tokio::test]
async fn an_existing_file_without_auto_vacuum_is_rewritten_once_when_opened() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("ordering.db");
    {
        let conn = rusqlite::Connection::open(&path).expect("open");
        conn.execute_batch(
            "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT); \
             INSERT INTO notes (body) VALUES ('kept');",
        )
        .expect("old file");
        let mode: i64 = conn
            .query_row("PRAGMA auto_vacuum", [], |row| row.get(0))
            .expect("mode");
        assert_eq!(mode, 0, "SQLite's default");
    }
    let db = sqlite_db(&dir, "ordering").await;
    assert_eq!(count(&db, "PRAGMA auto_vacuum").await, 2);
    let body: String = query_scalar("SELECT body FROM notes")
        .fetch_one(db.reader())
        .await
        .expect("row");
    assert_eq!(body, "kept");
}

fn context(dir: &tempfile::TempDir, toml: &str, clock: &Clock, tasks: &Tasks) -> ServiceContext {
    ServiceContext::new(
        ServiceKind::Fulfillment,
        platform::db::sqlite_url(dir.path(), "fulfillment"),
        Arc::new(EmbeddedBus::new()),
        ConfigSource::from_parts(toml, std::iter::empty::<(String, String)>()).expect("config"),
        clock.clone(),
        tasks.clone(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_service_sweeps_its_database_in_the_background() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Clock::system();
    let tasks = Tasks::new(Shutdown::new());
    let context = context(&dir, "[retention]\ninterval_secs = 1\n", &clock, &tasks);
    let data = context.open(&PLATFORM_ONLY).await.expect("open");
    assert_eq!(data.retention().config().interval_secs, 1);
    data.db
        .execute_alone(
            query(
                "INSERT INTO idempotency_keys (scope, key, request_hash, created_at) \
                 VALUES ('s', 'k', 'h', $1)",
            )
            .bind(platform::time::now_millis()),
        )
        .await
        .expect("key");
    clock.advance(2 * DAY);
    eventually("the background sweep to delete the key", || async {
        count(&data.db, "SELECT COUNT(*) FROM idempotency_keys").await == 0
    })
    .await;
    // The deletion is counted once its transaction has committed, which the row's
    // absence can show a moment before the count is added.
    let counted =
        "viscount_retention_deleted_total{service=\"fulfillment\",table=\"idempotency_keys\"}";
    eventually("the sweep's deletion to be counted", || async {
        platform::http::metrics::metrics()
            .render()
            .contains(counted)
    })
    .await;
    tasks.stop(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn a_retention_section_that_would_lose_redeliveries_is_refused_at_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Clock::system();
    let tasks = Tasks::new(Shutdown::new());
    let context = context(&dir, "[retention]\ninbox_days = 3\n", &clock, &tasks);
    let refused = context.open(&PLATFORM_ONLY).await.err();
    assert!(
        matches!(
            refused,
            Some(StartError::Config {
                section: "retention",
                ..
            })
        ),
        "{refused:?}"
    );
}
