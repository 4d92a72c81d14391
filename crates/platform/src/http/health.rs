//! Liveness and readiness: `/health/live` says the process runs, `/health/ready` checks
//! each dependency (database, bus) and answers 503 when one is down. `/api/health` is
//! seed 004's form of the same readiness ([`SeedHealth`]).

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::StatusCode;
use serde::{Deserialize, Serialize};

use crate::bus::Bus;
use crate::db::Db;

/// One dependency a service needs to serve.
#[async_trait]
pub trait HealthCheck: Send + Sync {
    /// `Err` with a short reason when the dependency is not usable.
    async fn check(&self) -> Result<(), String>;
}

#[async_trait]
impl HealthCheck for Db {
    async fn check(&self) -> Result<(), String> {
        self.ping()
            .await
            .map_err(|_| "database unreachable".to_owned())
    }
}

#[async_trait]
impl HealthCheck for Arc<dyn Bus> {
    async fn check(&self) -> Result<(), String> {
        self.ping().await.map_err(|err| err.to_string())
    }
}

/// The state of one check.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckReport {
    /// `ok` or `down`.
    pub status: String,
    /// How long the check took.
    pub latency_ms: u64,
    /// Why it is down.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A service's readiness.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HealthReport {
    /// `ok` or `down`.
    pub status: String,
    /// The service name.
    pub service: String,
    /// The running version.
    pub version: String,
    /// Each dependency by name.
    pub checks: std::collections::BTreeMap<String, CheckReport>,
}

impl HealthReport {
    /// Whether every check passed.
    pub fn is_ok(&self) -> bool {
        self.status == "ok"
    }
}

/// The named checks of one service.
#[derive(Clone, Default)]
pub struct Readiness {
    service: String,
    checks: Vec<(String, Arc<dyn HealthCheck>)>,
}

impl Readiness {
    /// No checks yet.
    pub fn new(service: impl Into<String>) -> Self {
        Self {
            service: service.into(),
            checks: Vec::new(),
        }
    }

    /// Adds a check.
    pub fn with(mut self, name: &str, check: impl HealthCheck + 'static) -> Self {
        self.checks.push((name.to_owned(), Arc::new(check)));
        self
    }

    /// Runs every check concurrently.
    pub async fn report(&self) -> HealthReport {
        let results =
            futures_util::future::join_all(self.checks.iter().map(|(name, check)| async move {
                let started = Instant::now();
                let result = check.check().await;
                let report = CheckReport {
                    status: if result.is_ok() { "ok" } else { "down" }.to_owned(),
                    latency_ms: started.elapsed().as_millis() as u64,
                    error: result.err(),
                };
                (name.clone(), report)
            }))
            .await;
        let ok = results.iter().all(|(_, r)| r.status == "ok");
        HealthReport {
            status: if ok { "ok" } else { "down" }.to_owned(),
            service: self.service.clone(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            checks: results.into_iter().collect(),
        }
    }

    /// `/health/live` and `/health/ready` for this service, and `/health` (its
    /// readiness, as the gateway's `/health` is the platform's) and seed 004's
    /// `/api/health`.
    pub fn routes(self) -> Router {
        Router::new()
            .route("/health", get(ready))
            .route("/api/health", get(seed_health))
            .route("/health/live", get(live))
            .route("/health/ready", get(ready))
            .with_state(Arc::new(self))
    }
}

/// The JSON answer for a report: 200 when ready, 503 otherwise.
pub fn report_response<T: Serialize>(ok: bool, body: &T) -> Response {
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, axum::Json(body)).into_response()
}

async fn live() -> Response {
    axum::Json(serde_json::json!({ "status": "ok" })).into_response()
}

async fn ready(State(readiness): State<Arc<Readiness>>) -> Response {
    let report = readiness.report().await;
    report_response(report.is_ok(), &report)
}

async fn seed_health(State(readiness): State<Arc<Readiness>>) -> Response {
    let report = readiness.report().await;
    SeedHealth::of(&report).into_response()
}

/// Readiness in seed 004's health contract (`GET /api/health`):
/// `{status, service, version, dependencies: {name: healthy|unhealthy}}`, 200 when
/// healthy and 503 otherwise, like `/health/ready`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SeedHealth {
    /// `healthy` when every dependency is.
    pub status: String,
    /// The service (or `gateway`, for the platform).
    pub service: String,
    /// The running version.
    pub version: String,
    /// Each dependency: `healthy` or `unhealthy`.
    pub dependencies: std::collections::BTreeMap<String, String>,
}

impl SeedHealth {
    /// `service`'s health from whether each named dependency is ready.
    pub fn new(service: &str, dependencies: impl IntoIterator<Item = (String, bool)>) -> Self {
        let dependencies: std::collections::BTreeMap<String, String> = dependencies
            .into_iter()
            .map(|(name, ok)| (name, Self::word(ok).to_owned()))
            .collect();
        let ok = dependencies.values().all(|state| state == Self::word(true));
        Self {
            status: Self::word(ok).to_owned(),
            service: service.to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            dependencies,
        }
    }

    /// A service's readiness report in the seed's words.
    pub fn of(report: &HealthReport) -> Self {
        Self::new(
            &report.service,
            report
                .checks
                .iter()
                .map(|(name, check)| (name.clone(), check.status == "ok")),
        )
    }

    fn word(ok: bool) -> &'static str {
        if ok { "healthy" } else { "unhealthy" }
    }

    /// Whether every dependency is healthy.
    pub fn is_healthy(&self) -> bool {
        self.status == Self::word(true)
    }
}

impl IntoResponse for SeedHealth {
    fn into_response(self) -> Response {
        report_response(self.is_healthy(), &self)
    }
}
