//! The API gateway: one public address in front of every service.
//!
//! The same path table routes requests in both shapes: in the embedded shape each path
//! is served by the owning service's router in-process (no socket hop); in the
//! distributed shape it is proxied over HTTP to the service's address. Around both sit
//! the request id, CORS, the body limit, a timeout and the common middleware, and
//! `GET /health` aggregates every service's readiness.

pub mod config;
mod proxy;
mod routes;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use http::{HeaderValue, Method};
use platform::http::health::report_response;
use platform::http::{HealthReport, Readiness};
use platform::service::ServiceKind;
use serde::{Deserialize, Serialize};
use tower_http::cors::{AllowOrigin, Any, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;

pub use config::GatewayConfig;
pub use routes::public_paths;

/// How the gateway reaches one service.
#[derive(Clone)]
pub enum Backend {
    /// The service's router, in this process, with its readiness checks.
    InProcess {
        /// The service's routes; the gateway adds the common layers.
        router: Router,
        /// Its readiness.
        readiness: Readiness,
    },
    /// The service's base URL, e.g. `http://127.0.0.1:8087`.
    Remote(String),
}

/// Builds the gateway's router over `backends`.
pub fn router(backends: Vec<(ServiceKind, Backend)>, config: &GatewayConfig) -> Router {
    let client = proxy::client();
    let mut table = routes::RouteTable::default();
    for (kind, backend) in &backends {
        let target: Router = match backend {
            Backend::InProcess { router, .. } => {
                platform::http::with_common_layers(router.clone(), kind.as_str())
            }
            Backend::Remote(base) => proxy::router(*kind, base, client.clone()),
        };
        table.add(*kind, target);
    }
    let health = Arc::new(HealthTargets { backends, client });
    let app = Router::new()
        .route("/health", get(aggregate_health))
        .route("/health/ready", get(aggregate_health))
        .route(
            "/health/live",
            get(|| async { axum::Json(serde_json::json!({"status": "ok"})) }),
        )
        .route("/metrics", get(platform::http::metrics::metrics_handler))
        .with_state(health)
        .fallback_service(table.into_service())
        .layer(TimeoutLayer::with_status_code(
            http::StatusCode::GATEWAY_TIMEOUT,
            Duration::from_secs(config.request_timeout_secs),
        ))
        .layer(RequestBodyLimitLayer::new(platform::http::MAX_BODY_BYTES));
    platform::http::common_layers(app, "gateway").layer(cors(config))
}

fn cors(config: &GatewayConfig) -> CorsLayer {
    let origins = if config.cors_allowed_origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(
            config
                .cors_allowed_origins
                .iter()
                .filter_map(|o| HeaderValue::from_str(o).ok()),
        )
    };
    CorsLayer::new()
        .allow_origin(origins)
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::DELETE,
            Method::PATCH,
            Method::OPTIONS,
        ])
        .allow_headers(Any)
        .expose_headers([
            http::header::LOCATION,
            http::header::RETRY_AFTER,
            http::HeaderName::from_static("x-request-id"),
        ])
        .max_age(Duration::from_secs(600))
}

struct HealthTargets {
    backends: Vec<(ServiceKind, Backend)>,
    client: proxy::Client,
}

/// The gateway's aggregate health.
#[derive(Debug, Serialize, Deserialize)]
pub struct AggregateHealth {
    /// `ok` when every service is ready.
    pub status: String,
    /// Each service's report.
    pub services: std::collections::BTreeMap<String, HealthReport>,
}

async fn aggregate_health(State(targets): State<Arc<HealthTargets>>) -> Response {
    let reports = futures_util::future::join_all(targets.backends.iter().map(|(kind, backend)| {
        let client = targets.client.clone();
        async move {
            let report = match backend {
                Backend::InProcess { readiness, .. } => readiness.report().await,
                Backend::Remote(base) => proxy::remote_health(&client, *kind, base).await,
            };
            (kind.as_str().to_owned(), report)
        }
    }))
    .await;
    let ok = reports.iter().all(|(_, r)| r.is_ok());
    let body = AggregateHealth {
        status: if ok { "ok" } else { "down" }.to_owned(),
        services: reports.into_iter().collect(),
    };
    report_response(ok, &body)
}
