//! The loop the sender (messages) and the dispatcher (merchants' webhooks) both run:
//! claim what is due under a lease, work each claimed item outside any transaction,
//! several at once, and sleep until something may be due again.
//!
//! The loop wakes when a commit queued work (the `wake` it is given), when an item
//! finished (a permit is free again), when the earliest retry comes due, or at the poll
//! interval (work queued by another replica). A claim is a conditional update with a
//! lease (each [`DueWork`] says how), so replicas never take the same row at once, and
//! a process that dies mid-item leaves it due again after the lease. Each item holds one
//! of `concurrency` permits, so a slow or failing recipient occupies one slot and never
//! holds up the rest. This is not a `Tasks::every` sweeper because it must also wake on
//! demand.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use platform::tasks::Tasks;
use platform::time::Clock;
use tokio::sync::{Notify, Semaphore};

use crate::config::NotificationsConfig;

/// Work that comes due and is claimed under a lease.
#[async_trait]
pub trait DueWork: Send + Sync + 'static {
    /// One claimed item.
    type Item: Send + 'static;

    /// What the loop's warning calls it ("notifications", "webhook deliveries").
    const NAME: &'static str;

    /// When the earliest claimable item is due (or its claim lapses), epoch ms.
    async fn next_due(&self) -> Result<Option<i64>, platform::db::Error>;

    /// Claims up to `limit` items due at `now`, hiding them from other claims until
    /// `lease_until`.
    async fn claim(
        &self,
        now: i64,
        lease_until: i64,
        limit: i64,
    ) -> Result<Vec<Self::Item>, platform::db::Error>;

    /// Works one claimed item and records its outcome.
    async fn work(&self, item: Self::Item);
}

/// How the loop paces itself.
#[derive(Debug, Clone)]
pub struct Pace {
    /// Items worked at once by one process.
    pub concurrency: usize,
    /// The longest sleep between passes.
    pub poll: Duration,
    /// How long a claim hides an item.
    pub lease: Duration,
}

impl Pace {
    /// `concurrency` at once, with `config`'s poll interval and lease.
    pub fn new(concurrency: usize, config: &NotificationsConfig) -> Self {
        Self {
            concurrency,
            poll: Duration::from_millis(config.poll_interval_ms.max(10)),
            lease: Duration::from_secs(config.lease_secs.max(1)),
        }
    }
}

/// Runs `work` until shutdown, woken early by `wake`.
pub fn start<W: DueWork>(work: W, pace: Pace, wake: Arc<Notify>, clock: Clock, tasks: &Tasks) {
    let looper = Arc::new(Looper {
        work: Arc::new(work),
        permits: Arc::new(Semaphore::new(pace.concurrency.max(1))),
        pace,
        wake,
        clock,
    });
    let spawner = tasks.clone();
    tasks.spawn(async move { looper.run(spawner).await });
}

struct Looper<W> {
    work: Arc<W>,
    permits: Arc<Semaphore>,
    pace: Pace,
    wake: Arc<Notify>,
    clock: Clock,
}

impl<W: DueWork> Looper<W> {
    async fn run(self: Arc<Self>, tasks: Tasks) {
        let shutdown = tasks.shutdown().clone();
        loop {
            if shutdown.is_cancelled() {
                return;
            }
            let wait = match self.pass(&tasks).await {
                Ok(wait) => wait,
                Err(err) => {
                    tracing::warn!(error = %err, "claiming due {} failed", W::NAME);
                    self.pace.poll
                }
            };
            if wait.is_zero() {
                continue;
            }
            // `notify_one` keeps a permit when nobody waits, so a wake-up that came
            // during the pass ends this wait at once.
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = self.wake.notified() => {}
                () = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// Claims what is due (as many as there are free permits) and starts working it;
    /// returns how long to wait before the next pass.
    async fn pass(self: &Arc<Self>, tasks: &Tasks) -> Result<Duration, platform::db::Error> {
        let poll = self.pace.poll;
        let free = self.permits.available_permits();
        if free == 0 {
            // A finishing item wakes the loop.
            return Ok(poll);
        }
        let now = self.clock.now_millis();
        match self.work.next_due().await? {
            None => return Ok(poll),
            Some(at) if at > now => {
                let until = Duration::from_millis(u64::try_from(at - now).unwrap_or(0));
                return Ok(until.min(poll));
            }
            Some(_) => {}
        }
        let lease = i64::try_from(self.pace.lease.as_millis()).unwrap_or(i64::MAX / 2);
        let claimed = self
            .work
            .claim(now, now + lease, i64::try_from(free).unwrap_or(i64::MAX))
            .await?;
        let full = claimed.len() == free;
        for item in claimed {
            // Only this loop takes permits, so one is free for each claimed item.
            let permit = self.permits.clone().try_acquire_owned().ok();
            let looper = self.clone();
            tasks.spawn(async move {
                looper.work.work(item).await;
                drop(permit);
                looper.wake.notify_one();
            });
        }
        Ok(if full { Duration::ZERO } else { poll })
    }
}
