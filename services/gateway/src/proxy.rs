//! Forwarding requests to a service running as its own process.

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderName, HeaderValue, Uri, header};
use platform::http::{HealthReport, Problem};
use platform::service::ServiceKind;

/// The pooled HTTP/1.1 client the gateway forwards with (the platform's).
pub use platform::client::{HttpClient as Client, http_client as client};

#[derive(Clone)]
struct Target {
    kind: ServiceKind,
    base: String,
    client: Client,
}

/// A router that forwards every request to `base`.
pub fn router(kind: ServiceKind, base: &str, client: Client) -> Router {
    let target = Target {
        kind,
        base: base.trim_end_matches('/').to_owned(),
        client,
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

async fn forward(State(target): State<Target>, request: Request) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip().to_string());
    let (mut parts, body) = request.into_parts();
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let Ok(uri) = format!("{}{path}", target.base).parse::<Uri>() else {
        return Problem::bad_request("the request path cannot be forwarded").into_response();
    };
    parts.uri = uri;
    strip_hop_by_hop(&mut parts.headers);
    parts.headers.remove(header::HOST);
    if let Some(peer) = peer {
        let forwarded = match parts
            .headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
        {
            Some(previous) => format!("{previous}, {peer}"),
            None => peer,
        };
        if let Ok(value) = HeaderValue::from_str(&forwarded) {
            parts
                .headers
                .insert(HeaderName::from_static("x-forwarded-for"), value);
        }
    }
    match target
        .client
        .request(http::Request::from_parts(parts, body))
        .await
    {
        Ok(response) => {
            let (mut parts, body) = response.into_parts();
            strip_hop_by_hop(&mut parts.headers);
            Response::from_parts(parts, Body::new(body))
        }
        Err(err) => {
            tracing::warn!(service = %target.kind, error = %err, "upstream unavailable");
            Problem::unavailable(format!("the {} service is unavailable", target.kind))
                .into_response()
        }
    }
}

/// A remote service's readiness, or a `down` report when it cannot be asked.
pub async fn remote_health(client: &Client, kind: ServiceKind, base: &str) -> HealthReport {
    let down = |error: String| HealthReport {
        status: "down".into(),
        service: kind.as_str().into(),
        version: String::new(),
        checks: [(
            "reachable".to_owned(),
            platform::http::health::CheckReport {
                status: "down".into(),
                latency_ms: 0,
                error: Some(error),
            },
        )]
        .into_iter()
        .collect(),
    };
    let Ok(uri) = format!("{}/health/ready", base.trim_end_matches('/')).parse::<Uri>() else {
        return down("bad upstream url".into());
    };
    let request = match http::Request::get(uri).body(Body::empty()) {
        Ok(r) => r,
        Err(err) => return down(err.to_string()),
    };
    let response = match tokio::time::timeout(Duration::from_secs(3), client.request(request)).await
    {
        Ok(Ok(response)) => response,
        Ok(Err(err)) => return down(err.to_string()),
        Err(_) => return down("timed out".into()),
    };
    let bytes = match http_body_util::BodyExt::collect(response.into_body()).await {
        Ok(collected) => collected.to_bytes(),
        Err(err) => return down(err.to_string()),
    };
    serde_json::from_slice(&bytes).unwrap_or_else(|_| down("unreadable health report".into()))
}
