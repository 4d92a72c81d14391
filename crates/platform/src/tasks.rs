//! Background tasks of a process and their orderly end.
//!
//! Relays, dispatchers and sweepers are spawned through [`Tasks`], which hands them the
//! process's shutdown token and lets the process wait for them to drain.

use std::future::Future;
use std::time::Duration;

use tokio_util::task::TaskTracker;

use crate::shutdown::Shutdown;

/// The background tasks of one process.
#[derive(Clone, Debug, Default)]
pub struct Tasks {
    tracker: TaskTracker,
    shutdown: Shutdown,
}

impl Tasks {
    /// A task set stopped by `shutdown`.
    pub fn new(shutdown: Shutdown) -> Self {
        Self {
            tracker: TaskTracker::new(),
            shutdown,
        }
    }

    /// The token every task watches.
    pub fn shutdown(&self) -> &Shutdown {
        &self.shutdown
    }

    /// Spawns a task that must watch [`Tasks::shutdown`] and return when it fires.
    pub fn spawn<F>(&self, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.tracker.spawn(task);
    }

    /// Runs `work` every `interval` until shutdown (a sweeper). Its failures are logged
    /// as `what` and the next round runs as usual.
    pub fn every<F, Fut, E>(&self, what: &'static str, interval: Duration, mut work: F)
    where
        F: FnMut() -> Fut + Send + 'static,
        Fut: Future<Output = Result<usize, E>> + Send,
        E: std::fmt::Display,
    {
        let shutdown = self.shutdown.clone();
        self.spawn(async move {
            loop {
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep(interval) => {}
                }
                if let Err(err) = work().await {
                    tracing::warn!(error = %err, "{what} failed");
                }
            }
        });
    }

    /// Signals shutdown and waits up to `grace` for every task to return.
    pub async fn stop(&self, grace: Duration) {
        self.shutdown.cancel();
        self.tracker.close();
        if tokio::time::timeout(grace, self.tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                grace_ms = grace.as_millis() as u64,
                "background tasks did not drain in time"
            );
        }
    }
}
