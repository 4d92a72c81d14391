//! The platform's own metrics, the same for every service: how far its outbox is
//! behind, the dead letters waiting for someone, how long an event takes from its
//! staging to its consumer's commit, how many transactions one SQLite group commit
//! carries, and its PostgreSQL pool's connections.
//!
//! The delivery latency and the commit groups are observed where they happen (the bus's
//! consumer after its commit, the SQLite committer). The gauges are read from the
//! service's own database by a [`Sampler`], once at start and then every
//! [`SAMPLE_EVERY`], on the process's tasks: a scrape never waits on a database, and
//! the reads are few and indexed (the outbox's unpublished index or its `seq` range,
//! the dead letters, which are few).

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use super::{GaugeVec, HistogramVec, IntGaugeVec, float_gauge_vec, gauge_vec, histogram_vec};
use crate::bus::{Bus, BusError, Delivered, Envelope};
use crate::db::{Db, query};
use crate::service::ServiceKind;
use crate::tasks::Tasks;

/// How often a [`Sampler`] refreshes its service's gauges.
pub const SAMPLE_EVERY: Duration = Duration::from_secs(10);

static DELIVERY: LazyLock<HistogramVec> = LazyLock::new(|| {
    histogram_vec(
        "bus_delivery_latency_seconds",
        "Time from an event's staging in its producer's outbox to the commit of its effect \
         by a consumer, by consuming service",
        &["consumer"],
        &[
            0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
            60.0, 300.0,
        ],
    )
});

static COMMIT_GROUPS: LazyLock<HistogramVec> = LazyLock::new(|| {
    histogram_vec(
        "sqlite_commit_group_size",
        "Transactions made durable together by one SQLite group commit (one COMMIT, one WAL \
         sync), by database file",
        &["database"],
        &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0],
    )
});

static OUTBOX_PENDING: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    gauge_vec(
        "outbox_pending_events",
        "Events in a service's outbox not yet handed on: not yet published to NATS \
         (distributed shape) or not yet read by every consumer (embedded shape)",
        &["service"],
    )
});

static OUTBOX_LAG: LazyLock<GaugeVec> = LazyLock::new(|| {
    float_gauge_vec(
        "outbox_lag_seconds",
        "Age of the oldest event in a service's outbox not yet handed on (0 when none waits)",
        &["service"],
    )
});

static DEAD_LETTERS: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    gauge_vec(
        "bus_dead_letters",
        "Events a consumer gave up on after its retries and nobody has replayed yet, by \
         consuming service",
        &["consumer"],
    )
});

static POOL_OPEN: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    gauge_vec(
        "db_pool_connections",
        "Open connections (in use and idle) of a service's PostgreSQL pool",
        &["service"],
    )
});

static POOL_IDLE: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    gauge_vec(
        "db_pool_idle_connections",
        "Idle connections of a service's PostgreSQL pool",
        &["service"],
    )
});

static POOL_MAX: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    gauge_vec(
        "db_pool_max_connections",
        "Most connections a service's PostgreSQL pool opens",
        &["service"],
    )
});

/// Records that `consumer` has just committed the effect of `event`.
pub(crate) fn delivered(consumer: &str, event: &Envelope) {
    let Some(staged) = crate::time::parse_rfc3339(&event.time) else {
        return;
    };
    let seconds = (crate::time::now_millis() - staged).max(0) as f64 / 1000.0;
    DELIVERY.with_label_values(&[consumer]).observe(seconds);
}

/// Records one SQLite group commit of `size` transactions in the file `database`.
pub(crate) fn commit_group(database: &str, size: usize) {
    COMMIT_GROUPS
        .with_label_values(&[database])
        .observe(size as f64);
}

/// Refreshes one service's gauges from its database and the bus.
pub struct Sampler {
    service: ServiceKind,
    db: Db,
    bus: Arc<dyn Bus>,
}

impl Sampler {
    /// The sampler of `service`'s database `db`, whose outbox flows through `bus`.
    pub fn new(service: ServiceKind, db: Db, bus: Arc<dyn Bus>) -> Self {
        Self { service, db, bus }
    }

    /// Samples now, then every [`SAMPLE_EVERY`] until shutdown.
    pub fn start(self, tasks: &Tasks) {
        let shutdown = tasks.shutdown().clone();
        tasks.spawn(async move {
            loop {
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    sampled = self.sample() => {
                        if let Err(err) = sampled {
                            tracing::debug!(service = %self.service, error = %err, "cannot sample metrics");
                        }
                    }
                }
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep(SAMPLE_EVERY) => {}
                }
            }
        });
    }

    /// Reads the gauges once.
    pub async fn sample(&self) -> Result<(), BusError> {
        let service = self.service.as_str();
        // What is handed on differs by bus: published rows, or rows every reader of
        // the embedded log has passed.
        let pending = match self.bus.delivered(self.service).await? {
            Delivered::Published => query(
                "SELECT COUNT(*) AS pending, MIN(created_at) AS oldest FROM outbox \
                 WHERE published_at IS NULL",
            ),
            Delivered::Through(seq) => query(
                "SELECT COUNT(*) AS pending, MIN(created_at) AS oldest FROM outbox \
                 WHERE seq > $1",
            )
            .bind(seq),
        }
        .fetch_one(self.db.reader())
        .await?;
        let count: i64 = pending.try_get("pending")?;
        let oldest: Option<i64> = pending.try_get("oldest")?;
        OUTBOX_PENDING.with_label_values(&[service]).set(count);
        let lag = oldest.map_or(0.0, |at| {
            (crate::time::now_millis() - at).max(0) as f64 / 1000.0
        });
        OUTBOX_LAG.with_label_values(&[service]).set(lag);

        // Only the service's own consumer writes dead letters into its database; its
        // gauge reads 0 when none waits, rather than keeping the last count.
        DEAD_LETTERS.with_label_values(&[service]).set(0);
        let waiting = query(
            "SELECT consumer, COUNT(*) AS waiting FROM dead_letters \
             WHERE replayed_at IS NULL GROUP BY consumer",
        )
        .fetch_all(self.db.reader())
        .await?;
        for row in waiting {
            let consumer: String = row.try_get("consumer")?;
            let count: i64 = row.try_get("waiting")?;
            DEAD_LETTERS.with_label_values(&[&consumer]).set(count);
        }

        if let Some(pool) = self.db.pool_usage() {
            POOL_OPEN
                .with_label_values(&[service])
                .set(i64::from(pool.size));
            POOL_IDLE
                .with_label_values(&[service])
                .set(i64::try_from(pool.idle).unwrap_or(i64::MAX));
            POOL_MAX
                .with_label_values(&[service])
                .set(i64::from(pool.max));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bus::EmbeddedBus;
    use crate::db::Migrations;

    fn sample_of(text: &str, line_start: &str) -> Option<f64> {
        text.lines()
            .find(|line| line.starts_with(line_start))
            .and_then(|line| line.rsplit(' ').next()?.parse().ok())
    }

    #[tokio::test]
    async fn the_sampler_reports_dead_letters_waiting_and_an_empty_outbox() {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = crate::db::sqlite_url(dir.path(), "sampled");
        let db = Db::connect(
            &url,
            &Migrations {
                scope: "sampled",
                steps: &[],
            },
        )
        .await
        .expect("database");
        let bus: Arc<dyn Bus> = Arc::new(EmbeddedBus::new());
        let tasks = Tasks::default();
        bus.attach_producer(ServiceKind::Analytics, db.clone(), &tasks)
            .await
            .expect("producer");
        let mut tx = db.begin().await.expect("tx");
        for (id, replayed) in [("d1", None), ("d2", None), ("d3", Some(5_i64))] {
            query(
                "INSERT INTO dead_letters (id, consumer, event_id, event_type, body, error, \
                 attempts, failed_at, replayed_at) VALUES ($1, 'analytics', $1, 't', '{}', 'e', 5, 1, $2)",
            )
            .bind(id)
            .bind(replayed)
            .execute(&mut *tx)
            .await
            .expect("dead letter");
        }
        tx.commit().await.expect("commit");

        Sampler::new(ServiceKind::Analytics, db.clone(), bus)
            .sample()
            .await
            .expect("sampled");
        let text = super::super::metrics().render();
        assert_eq!(
            sample_of(&text, "viscount_bus_dead_letters{consumer=\"analytics\"}"),
            Some(2.0),
            "{text}"
        );
        assert_eq!(
            sample_of(
                &text,
                "viscount_outbox_pending_events{service=\"analytics\"}"
            ),
            Some(0.0),
            "{text}"
        );
        assert_eq!(
            sample_of(&text, "viscount_outbox_lag_seconds{service=\"analytics\"}"),
            Some(0.0),
            "{text}"
        );
        assert!(
            sample_of(
                &text,
                "viscount_sqlite_commit_group_size_count{database=\"sampled\"}"
            )
            .is_some_and(|groups| groups >= 1.0),
            "the commit of the dead letters was one group:\n{text}"
        );
        db.close().await;
    }
}
