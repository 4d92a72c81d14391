//! Redis of the distributed shape: one reconnecting connection per process, shared by
//! its users (the gateway's rate limiter and response cache, the services' caches),
//! every call bounded by a short timeout, and the fail-open bookkeeping they all use.
//!
//! Redis protects the platform; it must never be why a request fails. So a call that
//! errs or is late is given up, the request goes on without it (counted as passed, or
//! read from the database), and the failure is counted in `/metrics` and logged at most
//! once per [`WARN_EVERY`]. After a failure the process leaves Redis alone for
//! [`REST_AFTER_FAILURE`]: while it is down, requests go on at once instead of each
//! waiting out the timeout, and the connection manager reconnects in the background.

use std::future::Future;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use prometheus::IntCounter;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

/// How long calls are skipped after one failed.
const REST_AFTER_FAILURE: Duration = Duration::from_secs(1);
/// Fewest time between two warnings of the same kind of failure.
const WARN_EVERY: Duration = Duration::from_secs(10);
/// Longest a (re)connection attempt may take; requests do not wait for it longer than
/// their own call timeout.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// Why a Redis call was given up.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// Redis answered with an error or the connection failed.
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// No answer within the call timeout.
    #[error("redis did not answer within {0:?}")]
    Timeout(Duration),
    /// Skipped: a call failed moments ago.
    #[error("redis failed moments ago; not asked")]
    Resting,
}

/// A shared, lazily connected Redis.
pub struct Redis {
    manager: ConnectionManager,
    timeout: Duration,
    /// Until when (epoch ms) calls are skipped.
    resting_until: AtomicI64,
}

impl Redis {
    /// Redis at `url` (`redis://host:port/db`). Nothing is connected yet: the first
    /// call connects, so a gateway starts while Redis is down. Must be called within a
    /// Tokio runtime.
    pub fn open(url: &str, timeout: Duration) -> Result<Self, redis::RedisError> {
        let client = redis::Client::open(url)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(timeout))
            // One quick retry inside a (re)connection; after that the request is
            // better served by failing open than by waiting.
            .set_number_of_retries(1);
        let manager = ConnectionManager::new_lazy_with_config(client, config)?;
        Ok(Self {
            manager,
            timeout,
            resting_until: AtomicI64::new(0),
        })
    }

    /// Runs `call` on the connection within the timeout.
    pub async fn call<T, F, Fut>(&self, call: F) -> Result<T, BackendError>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        let now = crate::time::now_millis();
        if now < self.resting_until.load(Ordering::Relaxed) {
            return Err(BackendError::Resting);
        }
        let outcome = match tokio::time::timeout(self.timeout, call(self.manager.clone())).await {
            Ok(Ok(value)) => return Ok(value),
            Ok(Err(err)) => BackendError::Redis(err),
            Err(_) => BackendError::Timeout(self.timeout),
        };
        let rest = i64::try_from(REST_AFTER_FAILURE.as_millis()).unwrap_or(i64::MAX);
        self.resting_until
            .store(now.saturating_add(rest), Ordering::Relaxed);
        Err(outcome)
    }
}

/// Counts and (sparingly) logs the requests that went on without Redis.
pub struct FailOpen {
    /// What failed, for the log (`rate limit`, `response cache`).
    what: &'static str,
    counter: &'static IntCounter,
    /// When (epoch ms) the last warning was logged.
    last_warning: AtomicI64,
}

impl FailOpen {
    /// Fail-open bookkeeping of `what`, counted in `counter`.
    pub fn new(what: &'static str, counter: &'static IntCounter) -> Self {
        Self {
            what,
            counter,
            last_warning: AtomicI64::new(i64::MIN),
        }
    }

    /// Records one request that went on without Redis because of `err`.
    pub fn record(&self, err: &BackendError) {
        self.counter.inc();
        let now = crate::time::now_millis();
        let every = i64::try_from(WARN_EVERY.as_millis()).unwrap_or(i64::MAX);
        let last = self.last_warning.load(Ordering::Relaxed);
        if now.saturating_sub(last) >= every
            && self
                .last_warning
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!(
                what = self.what,
                error = %err,
                failures = self.counter.get(),
                "redis unavailable; going on without it"
            );
        }
    }
}

/// A process-wide counter registered once in `/metrics`.
pub fn counter(
    cell: &'static std::sync::OnceLock<IntCounter>,
    name: &str,
    help: &str,
) -> &'static IntCounter {
    cell.get_or_init(|| crate::http::metrics::counter(name, help))
}
