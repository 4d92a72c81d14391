//! Prometheus metrics of the process: HTTP requests by route and status, latency, and a
//! registry services add their business counters to.

use std::sync::OnceLock;

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry, TextEncoder,
};

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
        // These names and labels are fixed and valid, so construction cannot fail.
        #[allow(clippy::expect_used)]
        let requests = IntCounterVec::new(
            Opts::new("http_requests_total", "HTTP requests by route and status"),
            &["service", "method", "route", "status"],
        )
        .expect("valid metric");
        #[allow(clippy::expect_used)]
        let latency = HistogramVec::new(
            HistogramOpts::new("http_request_duration_seconds", "HTTP request latency").buckets(
                vec![
                    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                ],
            ),
            &["service", "method", "route"],
        )
        .expect("valid metric");
        let _ = registry.register(Box::new(requests.clone()));
        let _ = registry.register(Box::new(latency.clone()));
        Metrics {
            registry,
            requests,
            latency,
        }
    })
}

impl Metrics {
    /// Registers a service's own collector (e.g. a business counter).
    pub fn register(&self, collector: Box<dyn prometheus::core::Collector>) {
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

/// `GET /metrics`.
pub async fn metrics_handler() -> impl axum::response::IntoResponse {
    (
        [(http::header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        metrics().render(),
    )
}
