//! Prometheus metrics of the process: one registry (every name prefixed `viscount_`),
//! the one way to declare a metric in it, the HTTP requests and their latency, and
//! `GET /metrics`.
//!
//! A service declares its business metrics in one place, its `metrics.rs`, as statics
//! built by [`counter`], [`counter_vec`], [`gauge_vec`] or [`histogram_vec`] (each
//! registers what it builds), and counts a change with
//! [`Tx::after_commit`](crate::db::Tx::after_commit), so that what a rolled-back
//! transaction did never counts:
//!
//! ```ignore
//! static ORDERS: LazyLock<IntCounterVec> = LazyLock::new(|| {
//!     metrics::counter_vec("orders_total", "Orders that entered each status", &["status"])
//! });
//! tx.after_commit(move || ORDERS.with_label_values(&[status.as_str()]).inc());
//! ```
//!
//! Label values come from closed sets (statuses, reasons, currencies, channels, service
//! names), never ids, emails or addresses: every value is a series Prometheus keeps.
//! Names follow Prometheus' rules, which `promtool check metrics` enforces: counters
//! end in `_total`, units are base units spelled out (`_seconds`, `_minor_units`), and
//! every metric has help text.
//!
//! The platform's own metrics of the bus and the databases (outbox lag, dead letters,
//! delivery latency, SQLite commit groups, PostgreSQL pools) are in [`runtime`].

pub mod runtime;

use std::net::SocketAddr;
use std::sync::OnceLock;

use prometheus::core::Collector;
use prometheus::{Encoder, HistogramOpts, Opts, Registry, TextEncoder};

use crate::shutdown::Shutdown;

/// The metric types the declaring functions answer, so a service needs no dependency
/// of its own on `prometheus`.
pub use prometheus::{GaugeVec, HistogramVec, IntCounter, IntCounterVec, IntGaugeVec};

/// The metrics of this process.
pub struct Metrics {
    registry: Registry,
    /// `http_requests_total{service,method,route,status}`.
    pub requests: IntCounterVec,
    /// `http_request_duration_seconds{service,method,route}`.
    pub latency: HistogramVec,
}

/// The process-wide metrics.
pub fn metrics() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(|| {
        let registry =
            Registry::new_custom(Some("viscount".into()), None).unwrap_or_else(|_| Registry::new());
        let requests = built(
            "http_requests_total",
            IntCounterVec::new(
                Opts::new("http_requests_total", "HTTP requests by route and status"),
                &["service", "method", "route", "status"],
            ),
        );
        let latency = built(
            "http_request_duration_seconds",
            HistogramVec::new(
                HistogramOpts::new("http_request_duration_seconds", "HTTP request latency")
                    .buckets(vec![
                        0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                        10.0,
                    ]),
                &["service", "method", "route"],
            ),
        );
        let metrics = Metrics {
            registry,
            requests,
            latency,
        };
        metrics.register(Box::new(metrics.requests.clone()));
        metrics.register(Box::new(metrics.latency.clone()));
        metrics
    })
}

impl Metrics {
    /// Registers a collector. Prefer the declaring functions of this module, which
    /// build and register in one step.
    pub fn register(&self, collector: Box<dyn Collector>) {
        if let Err(err) = self.registry.register(collector) {
            tracing::warn!(error = %err, "metric not registered");
        }
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut buffer = Vec::new();
        if let Err(err) = TextEncoder::new().encode(&self.registry.gather(), &mut buffer) {
            tracing::warn!(error = %err, "cannot encode metrics");
        }
        String::from_utf8(buffer).unwrap_or_default()
    }
}

/// A metric built from a fixed name and fixed labels: construction fails only on an
/// invalid name or label, a bug in its declaration that the first test to touch it
/// shows, so it is not handled at run time.
fn built<M>(name: &str, metric: prometheus::Result<M>) -> M {
    match metric {
        Ok(metric) => metric,
        Err(err) => panic!("metric {name} is declared wrongly: {err}"),
    }
}

/// Builds and registers `viscount_<name>`.
fn declare<M: Collector + Clone + 'static>(name: &str, metric: prometheus::Result<M>) -> M {
    let metric = built(name, metric);
    metrics().register(Box::new(metric.clone()));
    metric
}

/// A counter without labels, `viscount_<name>` (which must end in `_total`).
pub fn counter(name: &str, help: &str) -> IntCounter {
    declare(name, IntCounter::new(name, help))
}

/// A counter by `labels`, `viscount_<name>` (which must end in `_total`).
pub fn counter_vec(name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    declare(name, IntCounterVec::new(Opts::new(name, help), labels))
}

/// An integer gauge by `labels`, `viscount_<name>`.
pub fn gauge_vec(name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    declare(name, IntGaugeVec::new(Opts::new(name, help), labels))
}

/// A gauge of fractional values (seconds) by `labels`, `viscount_<name>`.
pub fn float_gauge_vec(name: &str, help: &str, labels: &[&str]) -> GaugeVec {
    declare(name, GaugeVec::new(Opts::new(name, help), labels))
}

/// A histogram by `labels` with these bucket bounds, `viscount_<name>`.
pub fn histogram_vec(name: &str, help: &str, labels: &[&str], buckets: &[f64]) -> HistogramVec {
    declare(
        name,
        HistogramVec::new(
            HistogramOpts::new(name, help).buckets(buckets.to_vec()),
            labels,
        ),
    )
}

/// `GET /metrics`.
pub async fn metrics_handler() -> impl axum::response::IntoResponse {
    (
        [(http::header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        metrics().render(),
    )
}

/// The router of a listener that serves `GET /metrics` alone, for Prometheus.
pub fn metrics_router() -> axum::Router {
    axum::Router::new().route("/metrics", axum::routing::get(metrics_handler))
}

/// Binds `addr` and serves [`metrics_router`] there until `shutdown`: the address for
/// scrapes that should not share the public listener. Answers where it listens (port
/// 0 picks one) and the server's task.
pub async fn serve_metrics(
    addr: &str,
    shutdown: Shutdown,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<std::io::Result<()>>)> {
    let listener = super::server::bind(addr).await?;
    let bound = listener.local_addr()?;
    tracing::info!(addr = %bound, "serving metrics");
    let server = tokio::spawn(super::server::serve(listener, metrics_router(), shutdown));
    Ok((bound, server))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_declared_metric_is_in_the_exposition_under_the_prefix_with_its_help() {
        let counter = counter_vec(
            "test_declared_total",
            "A counter declared by a test",
            &["kind"],
        );
        counter.with_label_values(&["one"]).inc_by(3);
        let text = metrics().render();
        assert!(
            text.contains("# HELP viscount_test_declared_total A counter declared by a test"),
            "{text}"
        );
        assert!(
            text.contains("viscount_test_declared_total{kind=\"one\"} 3"),
            "{text}"
        );
    }

    #[test]
    #[should_panic(expected = "declared wrongly")]
    fn a_metric_with_an_invalid_name_is_refused_at_declaration() {
        let _ = counter("not a name", "spaces are not allowed");
    }
}
