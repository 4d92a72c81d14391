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
