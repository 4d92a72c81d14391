//! Retention: what the platform's own tables keep, and the background sweep that
//! deletes the rest, so a service's storage grows with its business data only.
//!
//! Every service database holds the platform's tables (outbox, inbox, dead letters,
//! idempotency keys), and before this sweep each checkout left about 22 KB in them for
//! good. The rules ([`RetentionConfig`] under `[retention]`, read once per service):
//!
//! - **outbox**: a row is deleted once every consumer has been handed it and it is
//!   older than `outbox_days` (kept that long for replay and inspection). "Handed" is
//!   the bus's word ([`Bus::delivered`]): with NATS, published (it is in the stream);
//!   with the embedded bus, whose outbox tables are the log itself, at or behind the
//!   cursor of every consumer of the log. A row not yet published, or one a consumer
//!   has not read, is never deleted however old.
//! - **inbox**: rows older than `inbox_days`. An inbox row is what makes a redelivered
//!   event harmless, so it must outlive every way the event can come again: from the
//!   embedded log while its outbox row exists (`outbox_days`), from a JetStream stream
//!   while the stream keeps it ([`crate::bus::STREAM_RETENTION`], 7 days). The
//!   configuration is refused unless `inbox_days` is longer than both.
//! - **idempotency keys**: older than `idempotency_hours` (24 h, as payment providers
//!   keep theirs): a client retries a request within minutes, not days.
//! - **dead letters**: replayed ones, `dead_letter_days` after their replay; a dead
//!   letter never replayed is kept until someone deals with it.
//! - a service's own history, through a [`RetentionRule`] it adds (inventory's closed
//!   reservations).
//!
//! The sweep runs every `interval_secs` in each service, in batches of `batch_size`
//! rows, each batch its own short transaction, so it never holds the writer (SQLite)
//! or row locks (PostgreSQL) for long. On PostgreSQL every batch first takes a
//! transaction-level advisory lock without waiting: the replicas of a service share
//! one database, and while one of them sweeps the others skip their turn (the deletes
//! would be harmless twice over, only wasted). On SQLite, after a sweep that deleted
//! rows, the freed pages are given back to the file system with
//! `PRAGMA incremental_vacuum` in steps of `vacuum_pages` (the files are opened with
//! `auto_vacuum = INCREMENTAL`, see `db::sqlite`). Each sweep counts what it deleted
//! in `viscount_retention_deleted_total{service,table}` and logs one debug line.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;

use crate::bus::{Bus, BusError, Delivered};
use crate::db::{Db, Dialect, Tx, query, query_scalar};
use crate::service::ServiceKind;
use crate::shutdown::Shutdown;
use crate::tasks::Tasks;
use crate::time::Clock;

/// Milliseconds in an hour.
pub const HOUR_MS: i64 = 3_600_000;
/// Milliseconds in a day.
pub const DAY_MS: i64 = 24 * HOUR_MS;

/// The advisory lock a PostgreSQL sweep batch holds, in the service's own database
/// (advisory locks are per database, so one number serves every service); seen in
/// `pg_locks` while a replica sweeps.
pub const SWEEP_LOCK: i64 = 7_273_012_346;
/// Most incremental-vacuum steps after one sweep (each frees `vacuum_pages` pages).
const MAX_VACUUM_STEPS: u32 = 4096;

/// How long the platform's tables keep their rows (`[retention]`,
/// `VISCOUNT_RETENTION__*`), read once per service at start.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct RetentionConfig {
    /// Whether the sweep runs at all.
    pub enabled: bool,
    /// Seconds between two sweeps of a service's database; the first runs one
    /// interval after start, once every service of the process has subscribed.
    pub interval_secs: u64,
    /// Rows deleted per statement (and transaction).
    pub batch_size: u32,
    /// Days a delivered outbox row is kept for replay.
    pub outbox_days: u32,
    /// Days an inbox row is kept; must be longer than `outbox_days` and than the
    /// JetStream stream's retention (7 days), or a late redelivery would apply twice.
    pub inbox_days: u32,
    /// Hours an idempotency key (and its stored response) is kept.
    pub idempotency_hours: u32,
    /// Days a replayed dead letter is kept after its replay (unreplayed ones stay).
    pub dead_letter_days: u32,
    /// Pages each `PRAGMA incremental_vacuum` step gives back (SQLite).
    pub vacuum_pages: u32,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            interval_secs: 300,
            batch_size: 1000,
            outbox_days: 7,
            inbox_days: 8,
            idempotency_hours: 24,
            dead_letter_days: 30,
            vacuum_pages: 1024,
        }
    }
}

impl RetentionConfig {
    /// Why these settings would lose something or never finish, if they would.
    pub fn validate(&self) -> Result<(), String> {
        let stream_days = crate::bus::STREAM_RETENTION.as_secs().div_ceil(86_400);
        let redelivery_days = u64::from(self.outbox_days).max(stream_days);
        if u64::from(self.inbox_days) <= redelivery_days {
            return Err(format!(
                "inbox_days ({}) must be more than outbox_days ({}) and the event streams' \
                 {stream_days} days: an event can be delivered again until then, and its inbox \
                 row is what makes that harmless",
                self.inbox_days, self.outbox_days
            ));
        }
        if self.idempotency_hours == 0 {
            return Err("idempotency_hours must be at least 1".into());
        }
        if self.batch_size == 0 || self.interval_secs == 0 || self.vacuum_pages == 0 {
            return Err("batch_size, interval_secs and vacuum_pages must be at least 1".into());
        }
        Ok(())
    }
}

/// Why a sweep stopped.
#[derive(Debug, thiserror::Error)]
pub enum RetentionError {
    /// The database failed.
    #[error(transparent)]
    Sql(#[from] crate::db::Error),
    /// The bus could not say what its consumers have read.
    #[error(transparent)]
    Bus(#[from] BusError),
}

/// A service's own rows with a lifetime, swept with the platform's tables.
#[async_trait]
pub trait RetentionRule: Send + Sync + 'static {
    /// The table its deletions are counted under (the metric's `table` label).
    fn table(&self) -> &'static str;

    /// Deletes up to `limit` rows past their retention at `now` (epoch ms) inside
    /// `tx`, and answers how many. Called until it answers fewer than `limit`.
    async fn delete_batch(
        &self,
        tx: &mut Tx,
        now: i64,
        limit: i64,
    ) -> Result<u64, crate::db::Error>;
}

/// What one sweep did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Swept {
    /// Rows deleted per table, in sweep order (tables with none included).
    pub deleted: Vec<(&'static str, u64)>,
    /// SQLite pages given back to the file system.
    pub reclaimed_pages: u64,
    /// Another replica held the sweep (PostgreSQL); this one stopped.
    pub busy: bool,
}

impl Swept {
    /// Rows deleted from `table`.
    pub fn deleted_from(&self, table: &str) -> u64 {
        self.deleted
            .iter()
            .filter(|(name, _)| *name == table)
            .map(|(_, n)| n)
            .sum()
    }

    /// Rows deleted in all.
    pub fn total(&self) -> u64 {
        self.deleted.iter().map(|(_, n)| n).sum()
    }
}

/// The retention sweep of one service's database; cheap to clone.
#[derive(Clone)]
pub struct Retention {
    inner: Arc<Inner>,
}

struct Inner {
    service: ServiceKind,
    db: Db,
    bus: Arc<dyn Bus>,
    clock: Clock,
    config: RetentionConfig,
    rules: Mutex<Vec<Arc<dyn RetentionRule>>>,
}

impl std::fmt::Debug for Retention {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Retention")
            .field("service", &self.inner.service)
            .field("config", &self.inner.config)
            .finish()
    }
}

impl Retention {
    /// The sweep of `service`'s `db`, whose outbox flows through `bus`.
    pub fn new(
        service: ServiceKind,
        db: Db,
        bus: Arc<dyn Bus>,
        clock: Clock,
        config: RetentionConfig,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                service,
                db,
                bus,
                clock,
                config,
                rules: Mutex::new(Vec::new()),
            }),
        }
    }

    /// The settings it sweeps by.
    pub fn config(&self) -> &RetentionConfig {
        &self.inner.config
    }

    /// Sweeps `rule`'s rows too, from the next sweep on.
    pub fn add_rule(&self, rule: Arc<dyn RetentionRule>) {
        if let Ok(mut rules) = self.inner.rules.lock() {
            rules.push(rule);
        }
    }

    /// Sweeps every `interval_secs` until shutdown (nothing when disabled).
    pub fn start(&self, tasks: &Tasks) {
        if !self.inner.config.enabled {
            return;
        }
        let retention = self.clone();
        let shutdown = tasks.shutdown().clone();
        let interval = Duration::from_secs(self.inner.config.interval_secs.max(1));
        tasks.spawn(async move {
            loop {
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep(interval) => {}
                }
                if let Err(err) = retention.sweep_until(&shutdown).await {
                    tracing::warn!(
                        service = %retention.inner.service,
                        error = %crate::telemetry::error_chain(&err),
                        "retention sweep failed"
                    );
                }
            }
        });
    }

    /// Runs one sweep to its end now.
    pub async fn sweep(&self) -> Result<Swept, RetentionError> {
        self.sweep_until(&Shutdown::new()).await
    }

    /// Runs one sweep, stopping between batches once `shutdown` fires.
    async fn sweep_until(&self, shutdown: &Shutdown) -> Result<Swept, RetentionError> {
        let inner = &self.inner;
        let config = &inner.config;
        let now = inner.clock.now_millis();
        let days = |n: u32| now.saturating_sub(i64::from(n).saturating_mul(DAY_MS));
        let delivered = inner.bus.delivered(inner.service).await?;
        let mut rules: Vec<Arc<dyn RetentionRule>> = vec![
            Arc::new(OutboxRule {
                delivered,
                cutoff: days(config.outbox_days),
            }),
            Arc::new(AgedRows {
                table: "inbox",
                key: "consumer, event_id",
                age_column: "handled_at",
                cutoff: days(config.inbox_days),
            }),
            Arc::new(AgedRows {
                table: "idempotency_keys",
                key: "scope, key",
                age_column: "created_at",
                cutoff: now
                    .saturating_sub(i64::from(config.idempotency_hours).saturating_mul(HOUR_MS)),
            }),
            Arc::new(AgedRows {
                table: "dead_letters",
                key: "id",
                age_column: "replayed_at",
                cutoff: days(config.dead_letter_days),
            }),
        ];
        if let Ok(own) = inner.rules.lock() {
            rules.extend(own.iter().cloned());
        }
        let mut swept = Swept::default();
        for rule in &rules {
            let (deleted, busy) = self.drain(rule.as_ref(), now, shutdown).await?;
            swept.deleted.push((rule.table(), deleted));
            if deleted > 0 {
                deleted_counter()
                    .with_label_values(&[inner.service.as_str(), rule.table()])
                    .inc_by(deleted);
            }
            if busy {
                swept.busy = true;
                break;
            }
        }
        if swept.total() > 0 && !shutdown.is_cancelled() {
            swept.reclaimed_pages = reclaim_space(&inner.db, config.vacuum_pages, shutdown).await?;
        }
        tracing::debug!(
            service = %inner.service,
            deleted = ?swept.deleted,
            reclaimed_pages = swept.reclaimed_pages,
            busy = swept.busy,
            "retention sweep"
        );
        Ok(swept)
    }

    /// Deletes `rule`'s rows batch by batch; answers how many, and whether another
    /// replica holds the sweep.
    async fn drain(
        &self,
        rule: &dyn RetentionRule,
        now: i64,
        shutdown: &Shutdown,
    ) -> Result<(u64, bool), RetentionError> {
        let db = &self.inner.db;
        let limit = i64::from(self.inner.config.batch_size.max(1));
        let mut total = 0;
        while !shutdown.is_cancelled() {
            let mut tx = db.begin().await?;
            if db.dialect() == Dialect::Postgres {
                let held: bool = query_scalar("SELECT pg_try_advisory_xact_lock($1)")
                    .bind(SWEEP_LOCK)
                    .fetch_one(&mut *tx)
                    .await?;
                if !held {
                    tx.rollback().await?;
                    return Ok((total, true));
                }
            }
            let deleted = rule.delete_batch(&mut tx, now, limit).await?;
            tx.commit().await?;
            total += deleted;
            if deleted < u64::try_from(limit).unwrap_or(u64::MAX) {
                break;
            }
            // Let the service's own writes in between two batches.
            tokio::task::yield_now().await;
        }
        Ok((total, false))
    }
}

/// Gives a SQLite file's free pages back to the file system, `pages` at a time, each
/// step its own short transaction; answers how many. Nothing to do on PostgreSQL,
/// whose own vacuum makes the space reusable.
pub async fn reclaim_space(
    db: &Db,
    pages: u32,
    shutdown: &Shutdown,
) -> Result<u64, crate::db::Error> {
    if db.dialect() != Dialect::Sqlite {
        return Ok(0);
    }
    let step = format!("PRAGMA incremental_vacuum({})", pages.max(1));
    let mut reclaimed = 0;
    for _ in 0..MAX_VACUUM_STEPS {
        let free = freelist_count(db).await?;
        if free <= 0 || shutdown.is_cancelled() {
            break;
        }
        let mut tx = db.begin().await?;
        query(&step).execute(&mut *tx).await?;
        tx.commit().await?;
        let left = freelist_count(db).await?;
        if left >= free {
            // The file is not in incremental mode (opened elsewhere without it):
            // nothing more will come of trying.
            break;
        }
        reclaimed += u64::try_from(free - left).unwrap_or(0);
    }
    Ok(reclaimed)
}

/// Free pages in a SQLite file (`PRAGMA freelist_count`).
pub async fn freelist_count(db: &Db) -> Result<i64, crate::db::Error> {
    query_scalar("PRAGMA freelist_count")
        .fetch_one(db.reader())
        .await
}

/// `viscount_retention_deleted_total{service,table}`.
fn deleted_counter() -> &'static prometheus::IntCounterVec {
    static COUNTER: OnceLock<prometheus::IntCounterVec> = OnceLock::new();
    COUNTER.get_or_init(|| {
        crate::http::metrics::counter_vec(
            "retention_deleted_total",
            "Rows deleted by the retention sweep, by service and table",
            &["service", "table"],
        )
    })
}

/// Delivered outbox rows older than the cutoff.
struct OutboxRule {
    delivered: Delivered,
    cutoff: i64,
}

#[async_trait]
impl RetentionRule for OutboxRule {
    fn table(&self) -> &'static str {
        "outbox"
    }

    async fn delete_batch(
        &self,
        tx: &mut Tx,
        _now: i64,
        limit: i64,
    ) -> Result<u64, crate::db::Error> {
        let done = match self.delivered {
            // The unary `+` keeps SQLite from scanning the primary key up to the
            // bound (the whole log, when every consumer is current) instead of the
            // `created_at` index over the old rows only.
            Delivered::Through(through) => {
                query(
                    "DELETE FROM outbox WHERE seq IN (SELECT seq FROM outbox \
                     WHERE created_at < $1 AND +seq <= $2 LIMIT $3)",
                )
                .bind(self.cutoff)
                .bind(through)
                .bind(limit)
                .execute(&mut **tx)
                .await?
            }
            Delivered::Published => {
                query(
                    "DELETE FROM outbox WHERE seq IN (SELECT seq FROM outbox \
                     WHERE created_at < $1 AND published_at IS NOT NULL LIMIT $2)",
                )
                .bind(self.cutoff)
                .bind(limit)
                .execute(&mut **tx)
                .await?
            }
        };
        Ok(done.rows_affected)
    }
}

/// Rows of `table` whose `age_column` is set and older than the cutoff, deleted by
/// their key: inbox rows, idempotency keys, replayed dead letters.
struct AgedRows {
    table: &'static str,
    /// The key columns, as a row value (`consumer, event_id`).
    key: &'static str,
    /// When the row stopped being needed (`handled_at`, `created_at`, `replayed_at`).
    age_column: &'static str,
    cutoff: i64,
}

#[async_trait]
impl RetentionRule for AgedRows {
    fn table(&self) -> &'static str {
        self.table
    }

    async fn delete_batch(
        &self,
        tx: &mut Tx,
        _now: i64,
        limit: i64,
    ) -> Result<u64, crate::db::Error> {
        let Self {
            table,
            key,
            age_column,
            ..
        } = self;
        // An unset age (a dead letter never replayed) is never old.
        let done = query(&format!(
            "DELETE FROM {table} WHERE ({key}) IN (SELECT {key} FROM {table} \
             WHERE {age_column} IS NOT NULL AND {age_column} < $1 LIMIT $2)"
        ))
        .bind(self.cutoff)
        .bind(limit)
        .execute(&mut **tx)
        .await?;
        Ok(done.rows_affected)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_valid_and_keep_inbox_rows_past_every_redelivery() {
        let defaults = RetentionConfig::default();
        assert_eq!(defaults.validate(), Ok(()));
        assert!(defaults.inbox_days > defaults.outbox_days);
        assert_eq!(defaults.idempotency_hours, 24);
    }

    #[test]
    fn an_inbox_window_a_redelivery_could_outlive_is_refused() {
        let shorter_than_outbox = RetentionConfig {
            outbox_days: 10,
            inbox_days: 10,
            ..RetentionConfig::default()
        };
        let refused = shorter_than_outbox.validate().expect_err("refused");
        assert!(refused.contains("inbox_days (10)"), "{refused}");
        let shorter_than_stream = RetentionConfig {
            outbox_days: 1,
            inbox_days: 7,
            ..RetentionConfig::default()
        };
        assert!(shorter_than_stream.validate().is_err());
        let no_batches = RetentionConfig {
            batch_size: 0,
            ..RetentionConfig::default()
        };
        assert!(no_batches.validate().is_err());
    }

    #[test]
    fn a_section_reads_with_defaults_for_what_it_leaves_out() {
        let source = crate::config::ConfigSource::from_parts(
            "[retention]\noutbox_days = 3\n",
            [(
                "VISCOUNT_RETENTION__IDEMPOTENCY_HOURS".to_owned(),
                "48".to_owned(),
            )],
        )
        .expect("source");
        let config: RetentionConfig = source.section("retention").expect("section");
        assert_eq!(config.outbox_days, 3);
        assert_eq!(config.idempotency_hours, 48);
        assert_eq!(config.inbox_days, RetentionConfig::default().inbox_days);
    }
}
