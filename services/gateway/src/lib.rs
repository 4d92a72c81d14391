//! The API gateway: one public address in front of every service.
//!
//! The same path table routes requests in both shapes: in the embedded shape each path
//! is served by the owning service's router in-process (no socket hop); in the
//! distributed shape it is proxied over HTTP to the service's address. Around both sit
//! the request id, CORS, the body limit, a timeout and the common middleware, and
//! `GET /health` aggregates every service's readiness.
//!
//! At the edge, before dispatch, sit the rate-limit tiers (`ratelimit`) and the
//! response cache of anonymous catalog reads (`cache`), both in memory or in Redis as
//! the [`Edge`] says; `/health*` (and `/metrics`, when `public_metrics` puts it on the
//! public listener) are outside them. The process's metrics are otherwise served on
//! their own listener ([`serve_metrics`]), apart from the API. The outermost layer
//! records the TCP peer as the request's [`platform::http::ClientIp`], so limits and
//! the services behind (in process or over HTTP) count the same client.

pub mod config;
pub mod dead_letters;
mod docs;
mod proxy;
mod routes;

mod cache;
mod ratelimit;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{HeaderValue, Method};
use platform::auth::Authenticator;
use platform::bus::Bus;
use platform::config::ConfigSource;
use platform::discovery::{BreakerSettings, Pool};
use platform::http::health::{SeedHealth, report_response};
use platform::http::{HealthReport, Readiness};
use platform::live::{LiveConfig, LiveSection};
use platform::service::ServiceKind;
use platform::tasks::Tasks;
use serde::{Deserialize, Serialize};
use tower_http::cors::{AllowOrigin, Any, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;

pub use cache::X_CACHE;
pub use config::{CacheSettings, GatewayConfig, RateLimits};
pub use ratelimit::{RATELIMIT_LIMIT, RATELIMIT_REMAINING, RATELIMIT_RESET};
pub use routes::{owner, public_paths};

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
    /// The service's instances in other processes: a fixed list (`--upstream`) or the
    /// ones coordination lists, each behind its circuit breaker.
    Remote(Pool),
}

impl Backend {
    /// `kind` at one fixed base URL, e.g. `http://127.0.0.1:8087`.
    pub fn at(kind: ServiceKind, base: &str) -> Self {
        Backend::Remote(Pool::fixed(
            kind,
            vec![base.to_owned()],
            BreakerSettings::default(),
        ))
    }
}

/// What the gateway's edge (rate limits, cache) runs on.
#[derive(Clone)]
pub struct Edge {
    /// Identifies callers for their tier (identity's, or one over identity's JWKS and
    /// API key introspection); without one every caller is anonymous.
    pub authenticator: Option<Authenticator>,
    /// The process's live configuration, whose `gateway` document lies over `config`.
    pub live: LiveConfig,
    /// Redis for counts and cache (the distributed shape); memory without it.
    pub redis_url: Option<String>,
    /// Prefix of the gateway's Redis keys (replicas of one platform share it).
    pub redis_prefix: String,
    /// The bus, to follow catalog's change announcements; without it the cache is
    /// dropped only by TTL and by writes through this gateway.
    pub bus: Option<Arc<dyn Bus>>,
    /// The process's background tasks (the event tail runs among them).
    pub tasks: Tasks,
    /// The merged configuration (its `[gateway]` section is read live).
    pub config: ConfigSource,
    /// The OpenAPI document of every service behind it, finished
    /// ([`platform::service::Declaration::openapi`]); `/openapi.json` merges them.
    pub api_documents: Vec<serde_json::Value>,
}

/// Why the gateway's edge could not be built.
#[derive(Debug, thiserror::Error)]
pub enum EdgeError {
    /// The `[gateway]` section does not read.
    #[error("the [gateway] configuration is invalid")]
    Config(#[from] platform::config::ConfigError),
    /// The Redis URL is not one.
    #[error("the redis url is invalid")]
    Redis(#[from] redis::RedisError),
}

/// The process's Redis of the edge, when there is one.
fn edge_redis(
    config: &GatewayConfig,
    edge: &Edge,
) -> Result<Option<Arc<platform::redis::Redis>>, EdgeError> {
    Ok(match &edge.redis_url {
        Some(url) => Some(Arc::new(platform::redis::Redis::open(
            url,
            Duration::from_millis(config.redis_timeout_ms.max(1)),
        )?)),
        None => None,
    })
}

/// The rate limits and the cache around `dispatch`, and the limiter (the console's
/// pages that write for a visitor nobody knows yet are counted by it too).
fn edge_layers(
    dispatch: Router,
    redis: Option<Arc<platform::redis::Redis>>,
    edge: Edge,
) -> Result<(Router, Arc<ratelimit::RateLimiter>), EdgeError> {
    let settings = Arc::new(LiveSection::<GatewayConfig>::new(
        &edge.config,
        &edge.live,
        ServiceKind::Gateway,
    )?);
    let shared = redis.map(|redis| (redis, edge.redis_prefix.clone()));
    let limiter = Arc::new(ratelimit::RateLimiter::new(
        settings.clone(),
        edge.authenticator,
        shared.clone(),
    ));
    let cache = Arc::new(cache::ResponseCache::new(settings, shared));
    if let Some(bus) = edge.bus {
        cache.follow_catalog(bus, &edge.tasks);
    }
    let layered = dispatch
        .layer(from_fn_with_state(cache, cache::serve))
        .layer(from_fn_with_state(limiter.clone(), ratelimit::limit));
    Ok((layered, limiter))
}

/// The console's pages in front of `api`: a path the console serves goes to it, every
/// other to the API. The console calls `api` and the gateway's `own` routes (the
/// aggregate health) as any client would; its sessions are kept where the edge keeps
/// its counts.
fn with_console(
    own: Router,
    api: Router,
    limiter: Arc<ratelimit::RateLimiter>,
    config: &GatewayConfig,
    redis: Option<Arc<platform::redis::Redis>>,
    redis_prefix: &str,
) -> Router {
    if !config.console.enabled {
        return api;
    }
    let store = match redis {
        Some(redis) => console::SessionStore::Redis {
            redis,
            prefix: format!("{redis_prefix}console:"),
        },
        None => console::SessionStore::memory(),
    };
    let pages = console::router(
        own.fallback_service(api.clone()),
        store,
        config.console.clone(),
    );
    // The pages that store something for a visitor nobody knows yet (a sign-in's
    // state, a sign-up's session) count against the caller's budget like an API call,
    // so no one address can fill the session store.
    let counted = pages
        .clone()
        .layer(from_fn_with_state(limiter, ratelimit::limit));
    Router::new().fallback_service(tower::service_fn(move |request: axum::extract::Request| {
        let path = request.uri().path();
        let target = if path == "/auth/login" || path == "/signup" {
            counted.clone()
        } else if console::serves(path) {
            pages.clone()
        } else {
            api.clone()
        };
        async move { tower::ServiceExt::oneshot(target, request).await }
    }))
}

/// Builds the gateway's router over `backends`, with `edge`'s rate limits and cache.
/// Must be called within a Tokio runtime (the cache starts following catalog's events).
pub fn router(
    backends: Vec<(ServiceKind, Backend)>,
    config: &GatewayConfig,
    edge: Edge,
) -> Result<Router, EdgeError> {
    let client = proxy::client();
    let mut table = routes::RouteTable::default();
    let mut desks = Vec::with_capacity(backends.len());
    for (kind, backend) in &backends {
        let target: Router = match backend {
            Backend::InProcess { router, .. } => {
                platform::http::with_common_layers(router.clone(), kind.as_str())
            }
            Backend::Remote(pool) => proxy::router(pool.clone(), client.clone(), config),
        };
        desks.push((*kind, target.clone()));
        table.add(*kind, target);
    }
    let health = Arc::new(HealthTargets { backends, client });
    let mut own = Router::new()
        .route("/health", get(aggregate_health))
        .route("/api/health", get(seed_health))
        // The gateway itself is ready when it routes; whether each service behind it is
        // is `/health`'s question (coordination polls this, and must not mark the
        // gateway down because one service is).
        .route("/health/ready", get(gateway_ready))
        .route("/health/live", get(gateway_ready));
    // Off, `/metrics` is just an unknown path of the public API (404).
    if config.public_metrics {
        own = own.route("/metrics", get(platform::http::metrics::metrics_handler));
    }
    let own = own.with_state(health);
    let docs = docs::router(&docs::merged(edge.api_documents.clone()));
    let redis = edge_redis(config, &edge)?;
    let redis_prefix = edge.redis_prefix.clone();
    let (api, limiter) = edge_layers(
        // The platform's dead letters belong to no one service: answered here.
        dead_letters::router(dead_letters::Desks::new(desks))
            .fallback_service(table.into_service()),
        redis.clone(),
        edge,
    )?;
    let pages = with_console(own.clone(), api, limiter, config, redis, &redis_prefix);
    let app = own
        .merge(docs)
        .fallback_service(pages)
        .layer(TimeoutLayer::with_status_code(
            http::StatusCode::GATEWAY_TIMEOUT,
            Duration::from_secs(config.request_timeout_secs),
        ))
        .layer(RequestBodyLimitLayer::new(platform::http::MAX_BODY_BYTES));
    Ok(platform::http::common_layers(app, "gateway")
        .layer(cors(config))
        .layer(from_fn(ratelimit::client_ip)))
}

/// Opens the process's metrics listener at `[gateway] metrics_listen`, if set: its
/// address and the server's task, which ends at `shutdown`.
pub async fn serve_metrics(
    config: &GatewayConfig,
    shutdown: platform::shutdown::Shutdown,
) -> std::io::Result<Option<(std::net::SocketAddr, MetricsServer)>> {
    match &config.metrics_listen {
        Some(addr) if !addr.trim().is_empty() => {
            platform::http::metrics::serve_metrics(addr.trim(), shutdown)
                .await
                .map(Some)
        }
        _ => Ok(None),
    }
}

/// The task serving the metrics listener.
pub type MetricsServer = tokio::task::JoinHandle<std::io::Result<()>>;

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
            http::header::ETAG,
            http::HeaderName::from_static("x-request-id"),
            RATELIMIT_LIMIT,
            RATELIMIT_REMAINING,
            RATELIMIT_RESET,
            X_CACHE,
        ])
        .max_age(Duration::from_secs(600))
}

struct HealthTargets {
    backends: Vec<(ServiceKind, Backend)>,
    client: proxy::Client,
}

/// One service in the gateway's aggregate health: its readiness report and the
/// instances behind it.
#[derive(Debug, Serialize, Deserialize)]
pub struct ServiceHealth {
    /// The report (of the first ready instance, or why none is).
    #[serde(flatten)]
    pub report: HealthReport,
    /// Each instance's status.
    pub instances: Vec<proxy::InstanceHealth>,
}

/// The gateway's aggregate health.
#[derive(Debug, Serialize, Deserialize)]
pub struct AggregateHealth {
    /// `ok` when every service is ready.
    pub status: String,
    /// Each service's health.
    pub services: std::collections::BTreeMap<String, ServiceHealth>,
}

async fn gateway_ready() -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::json!({"status": "ok", "service": "gateway"}))
}

async fn aggregate_health(State(targets): State<Arc<HealthTargets>>) -> Response {
    let body = targets.aggregate().await;
    report_response(body.status == "ok", &body)
}

/// Seed 004's `GET /api/health` for the platform: each service behind the gateway is
/// one dependency, healthy when it is ready.
async fn seed_health(State(targets): State<Arc<HealthTargets>>) -> Response {
    let body = targets.aggregate().await;
    SeedHealth::new(
        "gateway",
        body.services
            .into_iter()
            .map(|(name, health)| (name, health.report.is_ok())),
    )
    .into_response()
}

impl HealthTargets {
    /// Every service's readiness, asked concurrently.
    async fn aggregate(&self) -> AggregateHealth {
        let reports =
            futures_util::future::join_all(self.backends.iter().map(|(kind, backend)| {
                let client = self.client.clone();
                async move {
                    let (report, instances) = match backend {
                        Backend::InProcess { readiness, .. } => {
                            let report = readiness.report().await;
                            let instance = proxy::InstanceHealth {
                                address: "in-process".into(),
                                status: report.status.clone(),
                            };
                            (report, vec![instance])
                        }
                        Backend::Remote(pool) => proxy::remote_health(&client, pool).await,
                    };
                    (
                        kind.as_str().to_owned(),
                        ServiceHealth { report, instances },
                    )
                }
            }))
            .await;
        let ok = reports.iter().all(|(_, health)| health.report.is_ok());
        AggregateHealth {
            status: if ok { "ok" } else { "down" }.to_owned(),
            services: reports.into_iter().collect(),
        }
    }
}
