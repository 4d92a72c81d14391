//! Calls from one service to another's public HTTP API, the same in both shapes.
//!
//! In the embedded shape the callee's `Router` runs in this process, so a call goes
//! through it directly (its handlers, authentication and errors, without a socket); in
//! the distributed shape the same request goes over HTTP to the callee's base URL. The
//! caller writes one piece of code either way. Callers forward the end user's
//! credentials ([`ForwardedCredentials`]), so the callee authorizes the user, not the
//! calling service. Each attempt is a client span of the caller's trace, whose
//! `traceparent` the request carries to the callee's server span.

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method, StatusCode, Uri};
use http_body_util::BodyExt;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tower::ServiceExt;
use tracing::Instrument;

use crate::auth::ForwardedCredentials;
use crate::discovery::{BreakerSettings, Outcome, Pool};
use crate::service::ServiceKind;

/// The pooled HTTP/1.1 client used for service-to-service calls and proxying.
pub type HttpClient = hyper_util::client::legacy::Client<HttpConnector, Body>;

/// How long a service-to-service call may take.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// A keep-alive pooled HTTP client with a short connect timeout.
pub fn http_client() -> HttpClient {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    connector.set_connect_timeout(Some(Duration::from_secs(2)));
    hyper_util::client::legacy::Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(60))
        .build(connector)
}

/// Why a call did not get an answer.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The callee could not be reached or did not answer in time.
    #[error("the service is unavailable: {0}")]
    Unavailable(String),
    /// The answer was not what the caller can read.
    #[error("unreadable answer: {0}")]
    Unreadable(String),
    /// The request could not be built from what the caller gave (a body that does not
    /// serialize, a key that is not a header value).
    #[error("cannot send the request: {0}")]
    Unsendable(String),
}

/// An answer: status and body.
#[derive(Debug, Clone)]
pub struct Reply {
    /// The status.
    pub status: StatusCode,
    /// The body.
    pub body: Bytes,
}

impl Reply {
    /// The body as JSON.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, CallError> {
        serde_json::from_slice(&self.body).map_err(|e| CallError::Unreadable(e.to_string()))
    }
}

#[derive(Clone)]
enum Target {
    InProcess(Router),
    // Boxed: a pool and a client are large beside a router, and a client is cloned
    // into every service that calls another.
    Remote(Box<(Pool, HttpClient)>),
}

/// A handle on another service's API.
#[derive(Clone)]
pub struct ServiceClient {
    target: Target,
}

impl ServiceClient {
    /// The callee runs in this process: call its router directly.
    pub fn in_process(router: Router) -> Self {
        Self {
            target: Target::InProcess(router),
        }
    }

    /// The callee, `kind`, runs at `base` (e.g. `http://127.0.0.1:8088`).
    pub fn remote(kind: ServiceKind, base: &str, client: HttpClient) -> Self {
        let pool = Pool::fixed(kind, vec![base.to_owned()], BreakerSettings::default());
        Self::pooled(pool, client)
    }

    /// The callee's instances are `pool`'s: each call goes to the next admitted one, and
    /// a call that could not connect is tried once more on another.
    pub fn pooled(pool: Pool, client: HttpClient) -> Self {
        Self {
            target: Target::Remote(Box::new((pool, client))),
        }
    }

    /// Sends `body` as JSON to `path` on behalf of the caller who presented
    /// `credentials`, with an `Idempotency-Key` when given, and returns the answer,
    /// whatever its status.
    pub async fn send_json<T: Serialize>(
        &self,
        method: Method,
        path: &str,
        credentials: &ForwardedCredentials,
        idempotency_key: Option<&str>,
        body: Option<&T>,
    ) -> Result<Reply, CallError> {
        let mut headers = credentials.to_headers();
        if let Some(key) = idempotency_key {
            let key = HeaderValue::from_str(key).map_err(|_| {
                CallError::Unsendable("the idempotency key is not a header value".into())
            })?;
            headers.insert(HeaderName::from_static(crate::idempotency::HEADER), key);
        }
        let bytes = Bytes::from(match body {
            Some(body) => {
                serde_json::to_vec(body).map_err(|e| CallError::Unsendable(e.to_string()))?
            }
            None => Vec::new(),
        });
        if body.is_some() {
            headers.insert(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
        }
        let build = |uri: String| -> Result<http::Request<Body>, CallError> {
            let uri: Uri = uri
                .parse()
                .map_err(|_| CallError::Unsendable(format!("bad url for {path}")))?;
            let mut request = http::Request::builder()
                .method(method.clone())
                .uri(uri)
                .body(Body::from(bytes.clone()))
                .map_err(|e| CallError::Unsendable(e.to_string()))?;
            *request.headers_mut() = headers.clone();
            Ok(request)
        };
        match &self.target {
            Target::InProcess(router) => {
                let span = client_span(&method, path);
                let call = async {
                    let mut request = build(path.to_owned())?;
                    // No socket in process: the caller's address goes as the extension
                    // a socket's peer would otherwise give (`ClientIp::of` reads it first).
                    if let Some(client_ip) = credentials.client_ip() {
                        request.extensions_mut().insert(client_ip);
                    }
                    crate::telemetry::inject_traceparent(&span, request.headers_mut());
                    let response = router
                        .clone()
                        .oneshot(request)
                        .await
                        .map_err(|e| CallError::Unavailable(e.to_string()))?;
                    record_status(&span, response.status());
                    read_reply(response).await
                };
                tokio::time::timeout(CALL_TIMEOUT, call)
                    .instrument(span.clone())
                    .await
                    .map_err(|_| CallError::Unavailable("timed out".into()))?
            }
            Target::Remote(remote) => remote_call(&remote.0, &remote.1, path, &build).await,
        }
    }
}

/// The client span of one attempt of a call; none outside traced work (a background
/// task's heartbeat is no trace's part).
fn client_span(method: &Method, path: &str) -> tracing::Span {
    if !crate::telemetry::in_trace() {
        return tracing::Span::none();
    }
    tracing::info_span!(
        "call",
        otel.kind = "client",
        otel.name = %method,
        otel.status_code = tracing::field::Empty,
        http.request.method = %method,
        url.path = %path.split('?').next().unwrap_or(path),
        http.response.status_code = tracing::field::Empty,
    )
}

/// Records the callee's answer on the client span of its call.
fn record_status(span: &tracing::Span, status: StatusCode) {
    span.record("http.response.status_code", status.as_u16());
    if status.is_server_error() {
        span.record("otel.status_code", "error");
    }
}

async fn read_reply(response: http::Response<Body>) -> Result<Reply, CallError> {
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| CallError::Unavailable(e.to_string()))?
        .to_bytes();
    Ok(Reply { status, body })
}

/// Sends the request built by `build` to an instance of `pool`, each attempt bounded by
/// [`CALL_TIMEOUT`] and reported to the instance's breaker (a timeout is a failure);
/// one that refuses the connection (the request never left) is reported and the next
/// instance is tried.
async fn remote_call(
    pool: &Pool,
    client: &HttpClient,
    path: &str,
    build: &(dyn Fn(String) -> Result<http::Request<Body>, CallError> + Sync),
) -> Result<Reply, CallError> {
    let mut tried = Vec::new();
    loop {
        let Some(picked) = pool.pick(&tried) else {
            return Err(CallError::Unavailable(format!(
                "no instance of {} is available",
                pool.kind()
            )));
        };
        let mut request = build(format!("{}{path}", picked.address))?;
        let span = client_span(request.method(), path);
        crate::telemetry::inject_traceparent(&span, request.headers_mut());
        let attempt = async {
            let response = client.request(request).await?;
            Ok::<_, hyper_util::client::legacy::Error>(response.map(Body::new))
        };
        let outcome = tokio::time::timeout(CALL_TIMEOUT, attempt)
            .instrument(span.clone())
            .await;
        match &outcome {
            Ok(Ok(response)) => record_status(&span, response.status()),
            _ => {
                span.record("otel.status_code", "error");
            }
        }
        match outcome {
            Ok(Ok(response)) => {
                let outcome = if response.status().is_server_error() {
                    Outcome::Failed
                } else {
                    Outcome::Answered
                };
                pool.report(&picked, outcome);
                return tokio::time::timeout(CALL_TIMEOUT, read_reply(response))
                    .await
                    .map_err(|_| CallError::Unavailable("timed out".into()))?;
            }
            Ok(Err(err)) => {
                pool.report(&picked, Outcome::Failed);
                if !err.is_connect() {
                    return Err(CallError::Unavailable(err.to_string()));
                }
                tried.push(picked.address);
            }
            Err(_) => {
                pool.report(&picked, Outcome::Failed);
                return Err(CallError::Unavailable("timed out".into()));
            }
        }
    }
}
