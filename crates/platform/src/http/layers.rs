//! The middleware every service router and the gateway wear: request ids in and out,
//! a span and metrics per request with the matched route, the trace context, the body
//! limit, panics turned into 500s, and framework answers turned into problem+json.

use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::middleware::{Next, from_fn, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use http::{HeaderName, HeaderValue, StatusCode, header};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tracing::Instrument;

use super::extract::MAX_BODY_BYTES;
use super::metrics::metrics;
use super::problem::{PROBLEM_JSON, Problem};

/// The request id header.
pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Makes UUIDv7 request ids for requests that arrive without one.
#[derive(Clone, Copy, Default)]
struct MakeRequestIdV7;

impl MakeRequestId for MakeRequestIdV7 {
    fn make_request_id<B>(&mut self, _request: &http::Request<B>) -> Option<RequestId> {
        HeaderValue::from_str(&crate::ids::new_id())
            .ok()
            .map(RequestId::new)
    }
}

/// Adds the 404/405 problems and the common middleware to `router`, recording its
/// metrics under `service`.
pub fn with_common_layers(router: Router, service: &'static str) -> Router {
    common_layers(
        router
            .fallback(not_found)
            .method_not_allowed_fallback(method_not_allowed),
        service,
    )
}

/// The common middleware alone, for a router that brings its own fallback (the
/// gateway's dispatch).
pub fn common_layers(router: Router, service: &'static str) -> Router {
    router
        .layer(from_fn(framework_errors_as_problems))
        .layer(from_fn_with_state(service, observe))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(CatchPanicLayer::custom(panic_as_problem))
        .layer(PropagateRequestIdLayer::new(X_REQUEST_ID.clone()))
        .layer(SetRequestIdLayer::new(
            X_REQUEST_ID.clone(),
            MakeRequestIdV7,
        ))
}

async fn not_found() -> Problem {
    Problem::not_found("resource")
}

async fn method_not_allowed() -> Problem {
    Problem::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method-not-allowed",
        "Method not allowed",
        "this resource does not support the method",
    )
}

fn panic_as_problem(_panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("request handler panicked");
    Problem::internal().into_response()
}

/// The route label of a response produced outside a router's own routes (the
/// gateway's prefix dispatch), for metrics.
#[derive(Clone, Copy, Debug)]
pub struct RouteLabel(pub &'static str);

/// Marks a response whose request was logged already.
#[derive(Clone, Copy)]
struct Logged;

/// One span per request (request id, method, matched route), the trace context for
/// everything inside, and the request's metrics.
///
/// The span is the server span of the service's trace: a child of the caller's span
/// named by the `traceparent` header (a new trace without one), and the request goes on
/// with the header naming this span, so an inner router served in the same process
/// (the embedded gateway's services) makes its span a child of this one.
async fn observe(
    State(service): State<&'static str>,
    mut request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let matched = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned());
    let route = matched.clone().unwrap_or_else(|| "unmatched".to_owned());
    let request_id = request
        .headers()
        .get(&X_REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let span = tracing::info_span!(
        "request",
        service,
        request_id = %request_id,
        method = %method,
        route = %route,
        otel.kind = "server",
        otel.name = %format_args!("{method} {route}"),
        otel.status_code = tracing::field::Empty,
        http.response.status_code = tracing::field::Empty,
    );
    let caller = request
        .headers()
        .get("traceparent")
        .and_then(|v| v.to_str().ok());
    if caller.is_none() && is_machine_chatter(&route) {
        crate::telemetry::untraced(&span);
    } else {
        crate::telemetry::adopt_parent(&span, caller, service.parse().ok());
    }
    crate::telemetry::inject_traceparent(&span, request.headers_mut());
    let mut response = next.run(request).instrument(span.clone()).await;
    // An inner service router already logged this request (embedded gateway).
    let logged_inside = response.extensions_mut().insert(Logged).is_some();
    let status = response.status();
    let elapsed = started.elapsed();
    // Requests the gateway dispatches by prefix are labelled with that prefix.
    let route = match (matched, response.extensions().get::<RouteLabel>()) {
        (None, Some(label)) => {
            crate::telemetry::rename_span(&span, format!("{method} {}", label.0));
            label.0.to_owned()
        }
        _ => route,
    };
    span.record("http.response.status_code", status.as_u16());
    if status.is_server_error() {
        span.record("otel.status_code", "error");
    }
    let m = metrics();
    m.requests
        .with_label_values(&[service, method.as_str(), &route, status.as_str()])
        .inc();
    m.latency
        .with_label_values(&[service, method.as_str(), &route])
        .observe(elapsed.as_secs_f64());
    if logged_inside {
        return response;
    }
    span.in_scope(|| {
        let latency_us = elapsed.as_micros() as u64;
        if status.is_server_error() {
            tracing::error!(status = status.as_u16(), latency_us, "request failed");
        } else if is_machine_chatter(&route) {
            // Probes and heartbeats come every second from every instance: at info
            // they would drown the requests people make.
            tracing::debug!(status = status.as_u16(), latency_us, "request");
        } else {
            tracing::info!(status = status.as_u16(), latency_us, "request");
        }
    });
    response
}

/// Routes the platform's own machinery calls on a schedule: health probes, metrics
/// scrapes, discovery's heartbeats and lookups.
fn is_machine_chatter(route: &str) -> bool {
    route.starts_with("/health")
        || route == "/metrics"
        || route == "/api/v1/services/register"
        || route == "/api/v1/services"
        || route == "/.well-known/jwks.json"
}

/// Rewrites error answers that are not problem+json (the framework's own rejections,
/// timeouts, limits) into problems with the same status. JSON answers are a handler's
/// own (a 503 health report) and pass unchanged.
async fn framework_errors_as_problems(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    if status.as_u16() < 400 {
        return response;
    }
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            // A page's own error page (the console's 403, 404) is already what its
            // reader needs; the framework itself never answers in HTML.
            v.starts_with(PROBLEM_JSON)
                || v.starts_with("application/json")
                || v.starts_with("text/html")
        });
    if is_json {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 4096)
        .await
        .ok()
        .and_then(|b| String::from_utf8(b.to_vec()).ok())
        .filter(|t| !t.trim().is_empty() && status.is_client_error())
        .unwrap_or_else(|| {
            status
                .canonical_reason()
                .unwrap_or("error")
                .to_ascii_lowercase()
        });
    let title = status.canonical_reason().unwrap_or("Error");
    let slug = title.to_ascii_lowercase().replace(' ', "-");
    let mut problem = Problem::new(status, &slug, title, text).into_response();
    for (name, value) in parts.headers.iter() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            problem.headers_mut().insert(name.clone(), value.clone());
        }
    }
    problem
}

/// `201 Created` with `body` and a `Location` header naming where it can be read.
pub fn created<T: serde::Serialize>(location: &str, body: T) -> Response {
    with_location(
        (StatusCode::CREATED, axum::Json(body)).into_response(),
        location,
    )
}

/// `response` with a `Location` header (left out if `location` is not a valid header).
pub fn with_location(mut response: Response, location: &str) -> Response {
    if let Ok(value) = header::HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// A response with an empty body and the given status (used by 204 handlers).
pub fn no_content() -> Response {
    (StatusCode::NO_CONTENT, Body::empty()).into_response()
}

/// A service's whole app when it runs as its own process: its API, `/health/*`,
/// `/metrics`, and the common layers.
pub fn standalone_app(service: &'static str, api: Router, readiness: super::Readiness) -> Router {
    let app = api.merge(readiness.routes()).route(
        "/metrics",
        axum::routing::get(super::metrics::metrics_handler),
    );
    with_common_layers(app, service)
}
