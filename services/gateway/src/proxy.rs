//! Forwarding requests to a service running in other processes.
//!
//! Each service is a [`Pool`] of instances (fixed by `--upstream`, or found through
//! coordination), each behind its own circuit breaker. A request goes to the next
//! admitted instance; a 5xx, a connect error or a timeout counts against that instance,
//! and five in a row eject it for 30 s (then one trial). A request that could not
//! connect never left, so it is tried once more on another instance whatever its
//! method; a safe method (GET, HEAD, OPTIONS) that failed any other way is also tried
//! once more elsewhere. With every instance ejected the answer is 503 naming the
//! service at once, without touching a dead address. A safe request answered 502, 503
//! or 504 by one instance is also tried once on another.
//!
//! Not tower's `balance`/`retry`: the breaker has to see each answer's status per
//! instance and the retry has to choose a *different* instance, which p2c over a
//! `Discover` stream does not offer; the pieces here are the breaker
//! (`platform::discovery::breaker`), the round robin (`Pool`) and one loop.
//!
//! Each attempt is a client span of the request's trace (a child of the gateway's
//! server span), and the forwarded `traceparent` names it.

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderName, HeaderValue, Method, Uri, header};
use platform::discovery::{Outcome, Pool};
use platform::http::health::CheckReport;
use platform::http::{HealthReport, Problem};
use tracing::Instrument;

use crate::GatewayConfig;

/// The pooled HTTP/1.1 client the gateway forwards with (the platform's).
pub use platform::client::{HttpClient as Client, http_client as client};

#[derive(Clone)]
struct Target {
    pool: Pool,
    client: Client,
    /// Per attempt of an unsafe request (a checkout may wait for its saga).
    timeout: Duration,
    /// Per attempt of a safe one.
    safe_timeout: Duration,
}

/// A router that forwards every request to an instance of `pool`.
pub fn router(pool: Pool, client: Client, config: &GatewayConfig) -> Router {
    let target = Target {
        pool,
        client,
        timeout: Duration::from_secs(config.upstream_timeout_secs),
        safe_timeout: Duration::from_secs(config.safe_upstream_timeout_secs),
    };
    Router::new().fallback(forward).with_state(target)
}

/// Headers that describe one connection, not the request (RFC 9110 §7.6.1).
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

fn strip_hop_by_hop(headers: &mut http::HeaderMap) {
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
}

/// Whether a request may be sent twice (RFC 9110 §9.2.1), with no body to keep.
fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// How one attempt ended.
enum Attempt {
    Answered(Response),
    /// Nothing was sent: try another instance whatever the method.
    NotConnected(String),
    /// Sent, and it failed (timeout, reset): only a safe request goes again.
    Failed(String),
}

async fn forward(State(target): State<Target>, request: Request) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip().to_string());
    let (mut parts, body) = request.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    parts.headers.remove(header::HOST);
    if let Some(peer) = peer {
        append_forwarded_for(&mut parts.headers, &peer);
    }
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "/".to_owned());
    // Kept whole, so a request that never left can go to another instance. The body
    // limit layer in front bounds it.
    let body = match axum::body::to_bytes(body, platform::http::MAX_BODY_BYTES).await {
        Ok(bytes) => bytes,
        Err(_) => return platform::http::extract::payload_too_large().into_response(),
    };
    let safe = is_safe(&parts.method);
    let timeout = if safe {
        target.safe_timeout
    } else {
        target.timeout
    };
    let mut tried: Vec<String> = Vec::new();
    let mut failed_after_sending = false;
    let kind = target.pool.kind();
    loop {
        let Some(picked) = target.pool.pick(&tried) else {
            let detail = if tried.is_empty() {
                format!("the {kind} service is unavailable (no healthy instance)")
            } else {
                format!("the {kind} service is unavailable")
            };
            return Problem::unavailable(detail).into_response();
        };
        let Ok(uri) = format!("{}{path}", picked.address).parse::<Uri>() else {
            return Problem::bad_request("the request path cannot be forwarded").into_response();
        };
        let mut attempt = parts.clone();
        attempt.uri = uri;
        let span = tracing::info_span!(
            "proxy",
            otel.kind = "client",
            otel.name = %attempt.method,
            otel.status_code = tracing::field::Empty,
            http.request.method = %attempt.method,
            server.address = %picked.address,
            http.response.status_code = tracing::field::Empty,
        );
        platform::telemetry::inject_traceparent(&span, &mut attempt.headers);
        let request = http::Request::from_parts(attempt, Body::from(body.clone()));
        let outcome = send(&target, request, timeout)
            .instrument(span.clone())
            .await;
        match &outcome {
            Attempt::Answered(response) => {
                span.record("http.response.status_code", response.status().as_u16());
                if response.status().is_server_error() {
                    span.record("otel.status_code", "error");
                }
            }
            Attempt::NotConnected(_) | Attempt::Failed(_) => {
                span.record("otel.status_code", "error");
            }
        }
        match outcome {
            Attempt::Answered(response) => {
                let status = response.status();
                if !status.is_server_error() {
                    target.pool.report(&picked, Outcome::Answered);
                    return response;
                }
                target.pool.report(&picked, Outcome::Failed);
                // A gateway-class failure of a safe request is worth one more instance;
                // anything else is the service's own answer.
                let retry = safe
                    && !failed_after_sending
                    && matches!(status.as_u16(), 502..=504)
                    && tried.len() + 1 < target.pool.addresses().len();
                if !retry {
                    return response;
                }
                failed_after_sending = true;
            }
            Attempt::NotConnected(err) => {
                target.pool.report(&picked, Outcome::Failed);
                tracing::warn!(service = %kind, instance = %picked.address, error = %err, "upstream refused the connection");
            }
            Attempt::Failed(err) => {
                target.pool.report(&picked, Outcome::Failed);
                tracing::warn!(service = %kind, instance = %picked.address, error = %err, "upstream failed");
                // Sent and lost: an unsafe request may have taken effect, and a safe
                // one is tried once more, not round every instance.
                if !safe || failed_after_sending {
                    return Problem::unavailable(format!("the {kind} service is unavailable"))
                        .into_response();
                }
                failed_after_sending = true;
            }
        }
        tried.push(picked.address);
    }
}

async fn send(target: &Target, request: http::Request<Body>, timeout: Duration) -> Attempt {
    match tokio::time::timeout(timeout, target.client.request(request)).await {
        Ok(Ok(response)) => {
            let (mut parts, body) = response.into_parts();
            strip_hop_by_hop(&mut parts.headers);
            Attempt::Answered(Response::from_parts(parts, Body::new(body)))
        }
        Ok(Err(err)) if err.is_connect() => Attempt::NotConnected(err.to_string()),
        Ok(Err(err)) => Attempt::Failed(err.to_string()),
        Err(_) => Attempt::Failed("timed out".into()),
    }
}

fn append_forwarded_for(headers: &mut http::HeaderMap, peer: &str) {
    let forwarded = match headers
        .get(platform::http::client_ip::FORWARDED_FOR)
        .and_then(|v| v.to_str().ok())
    {
        Some(previous) => format!("{previous}, {peer}"),
        None => peer.to_owned(),
    };
    if let Ok(value) = HeaderValue::from_str(&forwarded) {
        headers.insert(
            HeaderName::from_static(platform::http::client_ip::FORWARDED_FOR),
            value,
        );
    }
}

/// One instance's readiness as the gateway found it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct InstanceHealth {
    /// Its base URL (`in-process` in the embedded shape).
    pub address: String,
    /// `ok` or `down`.
    pub status: String,
}

/// A remote service's readiness over its instances: `ok` when at least one instance is
/// ready (requests can be served), with each instance's own status. For instances
/// found through coordination it is coordination's aggregate (its poller asks every
/// instance; the gateway does not ask again); for a fixed list the gateway asks each
/// instance, and the checks are those of the first ready one, or why none is.
pub async fn remote_health(client: &Client, pool: &Pool) -> (HealthReport, Vec<InstanceHealth>) {
    if let Some(directory) = pool.directory() {
        return match directory.service_health(pool.kind()).await {
            Ok(health) => from_coordination(pool, &health),
            Err(err) => (down(pool, err), Vec::new()),
        };
    }
    let addresses = pool.addresses();
    let reports = futures_util::future::join_all(
        addresses
            .iter()
            .map(|address| instance_health(client, pool, address)),
    )
    .await;
    let instances = addresses
        .iter()
        .zip(&reports)
        .map(|(address, report)| InstanceHealth {
            address: address.clone(),
            status: report.status.clone(),
        })
        .collect();
    let report = reports
        .iter()
        .find(|report| report.is_ok())
        .or(reports.first())
        .cloned()
        .unwrap_or_else(|| down(pool, "no instance is registered".into()));
    (report, instances)
}

/// Coordination's `{status: up|degraded|down, instances: [...]}` of one service as the
/// gateway reports it.
fn from_coordination(
    pool: &Pool,
    health: &serde_json::Value,
) -> (HealthReport, Vec<InstanceHealth>) {
    let instances: Vec<InstanceHealth> = health["instances"]
        .as_array()
        .map(|all| {
            all.iter()
                .map(|instance| InstanceHealth {
                    address: instance["address"].as_str().unwrap_or_default().to_owned(),
                    status: match instance["status"].as_str() {
                        Some("up") => "ok".to_owned(),
                        Some(other) => other.to_owned(),
                        None => "unknown".to_owned(),
                    },
                })
                .collect()
        })
        .unwrap_or_default();
    let serving = matches!(health["status"].as_str(), Some("up" | "degraded"));
    let report = if serving {
        HealthReport {
            status: "ok".into(),
            service: pool.kind().as_str().into(),
            version: String::new(),
            checks: [(
                "instances".to_owned(),
                CheckReport {
                    status: "ok".into(),
                    latency_ms: 0,
                    error: None,
                },
            )]
            .into_iter()
            .collect(),
        }
    } else {
        down(pool, "no instance is up".into())
    };
    (report, instances)
}

fn down(pool: &Pool, error: String) -> HealthReport {
    HealthReport {
        status: "down".into(),
        service: pool.kind().as_str().into(),
        version: String::new(),
        checks: [(
            "reachable".to_owned(),
            CheckReport {
                status: "down".into(),
                latency_ms: 0,
                error: Some(error),
            },
        )]
        .into_iter()
        .collect(),
    }
}

async fn instance_health(client: &Client, pool: &Pool, address: &str) -> HealthReport {
    let Ok(uri) = format!("{address}/health/ready").parse::<Uri>() else {
        return down(pool, "bad upstream url".into());
    };
    let request = match http::Request::get(uri).body(Body::empty()) {
        Ok(r) => r,
        Err(err) => return down(pool, err.to_string()),
    };
    let response = match tokio::time::timeout(Duration::from_secs(3), client.request(request)).await
    {
        Ok(Ok(response)) => response,
        Ok(Err(err)) => return down(pool, err.to_string()),
        Err(_) => return down(pool, "timed out".into()),
    };
    let bytes = match http_body_util::BodyExt::collect(response.into_body()).await {
        Ok(collected) => collected.to_bytes(),
        Err(err) => return down(pool, err.to_string()),
    };
    serde_json::from_slice(&bytes).unwrap_or_else(|_| down(pool, "unreadable health report".into()))
}
