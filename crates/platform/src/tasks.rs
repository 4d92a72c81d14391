//! Background tasks of a process and their orderly end, and work a request starts that
//! must finish whether or not its client stays.
//!
//! Relays, dispatchers and sweepers are spawned through [`Tasks`], which hands them the
//! process's shutdown token and lets the process wait for them to drain.
//!
//! A request handler's future is dropped when its client disconnects (hyper drops the
//! connection's service future), so work of several remote or database steps can stop
//! between two of them: a checkout that had created its payment but not yet stored its
//! order left the payment pending with no order. [`Tasks::detached`] runs such work on
//! a task of its own, tracked with the others (shutdown waits for it), and
//! [`detach`] is the same as a middleware for whole routes. This is the one helper for
//! it: every service uses it rather than spawning by hand. Work that starts only
//! later (once a transaction commits) takes the caller's trace along with
//! [`TraceContext`] and [`Tasks::spawn_in`].

use std::future::Future;
use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use crate::shutdown::Shutdown;

/// The span and trace context of the code that makes it, to run later work in
/// ([`Tasks::spawn_in`]).
#[derive(Clone, Debug)]
pub struct TraceContext {
    span: tracing::Span,
    otel: opentelemetry::Context,
}

impl TraceContext {
    /// The current span and trace context.
    pub fn current() -> Self {
        Self {
            span: tracing::Span::current(),
            otel: opentelemetry::Context::current(),
        }
    }
}

/// The background tasks of one process.
#[derive(Clone, Debug, Default)]
pub struct Tasks {
    tracker: TaskTracker,
    shutdown: Shutdown,
    /// Detached work whose caller stopped waiting before it finished.
    callers_left: Arc<AtomicU64>,
}

impl Tasks {
    /// A task set stopped by `shutdown`.
    pub fn new(shutdown: Shutdown) -> Self {
        Self {
            tracker: TaskTracker::new(),
            shutdown,
            callers_left: Arc::default(),
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

    /// Runs `work` to its end on a task of its own and answers what it returns.
    ///
    /// For what a request starts that must not stop halfway (several remote calls or
    /// transactions, money moved at a provider): awaiting the answer may be abandoned at
    /// any point — the client left, the handler's future was dropped — and the work goes
    /// on regardless, in the caller's span and trace context, tracked with the other
    /// tasks so that [`Tasks::stop`] waits for it. It does not watch the shutdown token:
    /// it is finished, not interrupted. A panic inside is resumed in the caller.
    pub async fn detached<F>(&self, work: F) -> F::Output
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        // The caller's span, and its trace context even where that is not a span's.
        let work = opentelemetry::context::FutureExt::with_context(
            work,
            opentelemetry::Context::current(),
        )
        .instrument(tracing::Span::current());
        let handle = self.tracker.spawn(work);
        let watch = CallerWatch {
            left: Some(self.callers_left.clone()),
        };
        let outcome = handle.await;
        watch.stayed();
        match outcome {
            Ok(output) => output,
            Err(err) => match err.try_into_panic() {
                Ok(panic) => std::panic::resume_unwind(panic),
                // Only a runtime shutting down cancels a tracked task, and that drops
                // this caller as well: there is no one left to answer.
                Err(_) => std::future::pending().await,
            },
        }
    }

    /// Spawns `work` on a task of its own, in `context` (the span and trace of whoever
    /// started it): for short work a request or an event leaves behind to run later —
    /// a provider call made once its transaction committed — whose spans, and the
    /// events it stages, belong to the caller's trace. Tracked with the other tasks, so
    /// [`Tasks::stop`] waits for it; it does not watch the shutdown token.
    pub fn spawn_in<F>(&self, context: TraceContext, work: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let work = opentelemetry::context::FutureExt::with_context(work, context.otel)
            .instrument(context.span);
        self.tracker.spawn(work);
    }

    /// How many callers of [`Tasks::detached`] stopped waiting before their work
    /// finished (clients that left mid-request), since this task set was made.
    pub fn callers_left(&self) -> u64 {
        self.callers_left.load(Ordering::Relaxed)
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

/// Counts a caller of [`Tasks::detached`] that is dropped before its work answered.
struct CallerWatch {
    left: Option<Arc<AtomicU64>>,
}

impl CallerWatch {
    /// The caller got its answer.
    fn stayed(mut self) {
        self.left = None;
    }
}

impl Drop for CallerWatch {
    fn drop(&mut self) {
        if let Some(left) = self.left.take() {
            left.fetch_add(1, Ordering::Relaxed);
            callers_left_metric().inc();
            tracing::debug!("caller left before its detached work finished; the work goes on");
        }
    }
}

/// `viscount_detached_callers_left_total`: how often a client left while work it
/// started went on without it (a rising rate is clients timing out on slow requests).
fn callers_left_metric() -> &'static prometheus::IntCounter {
    static COUNTER: OnceLock<prometheus::IntCounter> = OnceLock::new();
    COUNTER.get_or_init(|| {
        crate::http::metrics::counter(
            "detached_callers_left_total",
            "Requests whose client left while the work they started went on",
        )
    })
}

/// Middleware that runs the rest of a request — the inner layers and the handler — with
/// [`Tasks::detached`], so a client that disconnects does not cut it short:
/// `.layer(from_fn(platform::tasks::detach))` on one handler or a route. The tasks are
/// the service's, which its router puts in every request's extensions
/// (`.layer(Extension(tasks))`), so routes can be declared before the service exists.
/// Put it outside an idempotency layer, so the key's stored answer is written even when
/// the client that claimed it is gone (its retry then replays it instead of running the
/// work again).
pub async fn detach(request: Request, next: Next) -> Response {
    let Some(tasks) = request.extensions().get::<Tasks>().cloned() else {
        tracing::error!("a detached route is served without its service's Tasks");
        return crate::http::Problem::internal().into_response();
    };
    tasks.detached(next.run(request)).await
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;

    use axum::Router;
    use axum::body::Body;
    use axum::routing::post;
    use futures_util::FutureExt;
    use tokio::sync::oneshot;
    use tower::ServiceExt;

    use super::*;

    #[tokio::test]
    async fn detached_work_finishes_after_its_caller_is_dropped() {
        let tasks = Tasks::new(Shutdown::new());
        let (release, released) = oneshot::channel::<()>();
        let (finished, done) = oneshot::channel::<u32>();
        let mut caller = Box::pin(tasks.detached(async move {
            let _ = released.await;
            let _ = finished.send(7);
            7
        }));
        // The caller gives up before the work can finish, as a handler whose client left.
        assert!((&mut caller).now_or_never().is_none());
        drop(caller);
        assert_eq!(tasks.callers_left(), 1);
        release.send(()).expect("the work still waits");
        assert_eq!(done.await, Ok(7), "the work ran to its end");
    }

    #[tokio::test]
    async fn a_caller_that_waits_gets_the_answer_and_is_not_counted_as_left() {
        let tasks = Tasks::new(Shutdown::new());
        assert_eq!(tasks.detached(async { 40 + 2 }).await, 42);
        assert_eq!(tasks.callers_left(), 0);
    }

    #[tokio::test]
    async fn stopping_waits_for_detached_work() {
        let tasks = Tasks::new(Shutdown::new());
        let finished = Arc::new(AtomicBool::new(false));
        let flag = finished.clone();
        let mut caller = Box::pin(tasks.detached(async move {
            for _ in 0..50 {
                tokio::task::yield_now().await;
            }
            flag.store(true, Ordering::SeqCst);
        }));
        let _ = (&mut caller).now_or_never();
        drop(caller);
        tasks.stop(Duration::from_secs(5)).await;
        assert!(
            finished.load(Ordering::SeqCst),
            "stop drained the detached work"
        );
    }

    #[tokio::test]
    async fn a_panic_in_detached_work_reaches_its_caller() {
        let tasks = Tasks::new(Shutdown::new());
        let outcome = tokio::spawn(async move {
            tasks
                .detached(async {
                    if std::hint::black_box(true) {
                        panic!("boom");
                    }
                })
                .await;
        })
        .await;
        assert!(outcome.is_err_and(|e| e.is_panic()));
    }

    #[tokio::test]
    async fn a_detached_route_runs_its_handler_to_the_end_after_the_client_left() {
        let tasks = Tasks::new(Shutdown::new());
        let (started_tx, started) = oneshot::channel::<()>();
        let (release, released) = oneshot::channel::<()>();
        let (finished, done) = oneshot::channel::<()>();
        let steps = Arc::new(std::sync::Mutex::new(Some((
            started_tx, released, finished,
        ))));
        let router = Router::new()
            .route(
                "/work",
                post(move || {
                    let steps = steps.lock().ok().and_then(|mut s| s.take());
                    async move {
                        let Some((started, released, finished)) = steps else {
                            return "again";
                        };
                        let _ = started.send(());
                        let _ = released.await;
                        let _ = finished.send(());
                        "done"
                    }
                }),
            )
            .route_layer(axum::middleware::from_fn(detach))
            .layer(axum::Extension(tasks.clone()));
        let request = Request::post("/work").body(Body::empty()).expect("request");
        let mut client = Box::pin(router.oneshot(request));
        // Drive the request until the handler runs, then drop it as hyper does when the
        // connection closes.
        let mut started = Box::pin(started);
        loop {
            assert!((&mut client).now_or_never().is_none(), "the handler waits");
            if let Some(outcome) = (&mut started).now_or_never() {
                outcome.expect("the handler started");
                break;
            }
            tokio::task::yield_now().await;
        }
        drop(client);
        assert_eq!(tasks.callers_left(), 1);
        release.send(()).expect("the handler still waits");
        assert_eq!(
            done.await,
            Ok(()),
            "the handler finished without its client"
        );
    }
}
