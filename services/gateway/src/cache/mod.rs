//! The response cache of anonymous catalog reads (API.md "Gateway"): products, a
//! product, categories, search.
//!
//! A `GET` of one of those paths without `Authorization` or `X-API-Key` is answered
//! from the cache when a fresh entry exists, without reaching catalog (`X-Cache: hit`);
//! otherwise catalog answers, and a `200` is kept under its path and query (`X-Cache:
//! miss`). The gateway gives the answer a strong ETag (a hash of the body), so
//! `If-None-Match` gets `304` on a hit and on a miss whose fresh body matches. A
//! signed-in read is never served from nor stored in the cache: what catalog shows may
//! depend on who asks.
//!
//! Entries are dropped when catalog announces a change: the gateway tails catalog's
//! events ([`platform::bus::Bus::tail`]) and moves the cache to its next generation on
//! each, and does so too when a write to catalog passes through it (so an admin's
//! change is visible at once through that gateway). The TTL (`[gateway.cache]
//! ttl_secs`) bounds staleness when an announcement is missed or a change is not
//! announced (stock flags, categories written elsewhere). If Redis fails, reads are
//! served by catalog.

mod store;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::body::Body;
use axum::body::HttpBody as _;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use platform::bus::{Bus, OnEvent};
use platform::http::{Problem, RouteLabel};
use platform::live::LiveSection;
use platform::service::ServiceKind;
use platform::tasks::Tasks;
use prometheus::IntCounter;

use self::store::{Entry, Store};
use crate::config::GatewayConfig;
use platform::redis::{FailOpen, Redis, counter};

/// `X-Cache`: whether the gateway answered from its cache.
pub const X_CACHE: HeaderName = HeaderName::from_static("x-cache");

/// Reads answered by catalog because Redis failed.
fn backend_errors() -> &'static IntCounter {
    static CELL: OnceLock<IntCounter> = OnceLock::new();
    counter(
        &CELL,
        "gateway_cache_backend_errors_total",
        "Cache lookups, stores and drops given up because Redis failed or was late",
    )
}

/// The catalog paths whose anonymous reads are cached, by the route label their
/// metrics carry: `/api/v1/products`, `/api/v1/products/{id}` (search included),
/// `/api/v1/categories` and `/api/v1/categories/{id}`.
fn catalog_read(path: &str) -> Option<&'static str> {
    let rest = path.strip_prefix("/api/v1/")?;
    let mut segments = rest.split('/');
    let collection = match segments.next()? {
        "products" => "/api/v1/products",
        "categories" => "/api/v1/categories",
        _ => return None,
    };
    match (segments.next(), segments.next()) {
        (None, _) => Some(collection),
        (Some(one), None) if !one.is_empty() => Some(collection),
        _ => None,
    }
}

/// Whether a request to `path` is a write to catalog.
fn catalog_write(method: &Method, path: &str) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
        && ["/api/v1/products", "/api/v1/categories"]
            .iter()
            .any(|prefix| {
                path.strip_prefix(prefix)
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
            })
}

fn has_credentials(headers: &HeaderMap) -> bool {
    headers.contains_key(header::AUTHORIZATION) || headers.contains_key("x-api-key")
}

/// Whether `if_none_match` names `etag` (weak comparison, as RFC 9110 asks of
/// `If-None-Match`).
fn matches(if_none_match: Option<&HeaderValue>, etag: &str) -> bool {
    let Some(value) = if_none_match.and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let opaque = |tag: &str| tag.trim().trim_start_matches("W/").to_owned();
    let wanted = opaque(etag);
    value
        .split(',')
        .any(|candidate| candidate.trim() == "*" || opaque(candidate) == wanted)
}

/// The strong ETag of `body`.
fn etag_of(body: &[u8]) -> String {
    let digest = platform::ids::sha256_hex(body);
    format!("\"{}\"", &digest[..32])
}

/// Whether catalog's answer may be shared with every anonymous caller.
fn shareable(headers: &HeaderMap) -> bool {
    let private = headers
        .get_all(header::CACHE_CONTROL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| {
            let v = v.to_ascii_lowercase();
            v.contains("no-store") || v.contains("private") || v.contains("no-cache")
        });
    !private && !headers.contains_key(header::SET_COOKIE)
}

/// The response cache of one gateway.
pub(crate) struct ResponseCache {
    settings: Arc<LiveSection<GatewayConfig>>,
    store: Store,
    fail_open: FailOpen,
}

impl ResponseCache {
    /// A cache by `settings`, in `redis` under `prefix` when given and in memory
    /// otherwise.
    pub(crate) fn new(
        settings: Arc<LiveSection<GatewayConfig>>,
        redis: Option<(Arc<Redis>, String)>,
    ) -> Self {
        let store = match redis {
            Some((redis, prefix)) => Store::redis(redis, prefix),
            None => Store::memory(),
        };
        Self {
            settings,
            store,
            fail_open: FailOpen::new("response cache", backend_errors()),
        }
    }

    /// Drops every entry.
    async fn drop_all(&self) {
        if let Err(err) = self.store.bump().await {
            self.fail_open.record(&err);
        }
    }

    /// Drops every entry whenever catalog announces a change, from now until shutdown.
    /// Starting to follow is retried until the bus lets it (a broker briefly away).
    pub(crate) fn follow_catalog(self: &Arc<Self>, bus: Arc<dyn Bus>, tasks: &Tasks) {
        let cache = self.clone();
        let on_event: OnEvent = Arc::new(move |_event| {
            let cache = cache.clone();
            // The bus calls this on its own task; Redis is asked on another.
            tokio::spawn(async move { cache.drop_all().await });
        });
        let shutdown = tasks.shutdown().clone();
        let follower = tasks.clone();
        tasks.spawn(async move {
            loop {
                match bus
                    .tail(ServiceKind::Catalog, &follower, on_event.clone())
                    .await
                {
                    Ok(()) => return,
                    Err(err) => {
                        tracing::warn!(error = %err, "cannot follow catalog's events; retrying");
                        tokio::select! {
                            () = shutdown.cancelled() => return,
                            () = tokio::time::sleep(Duration::from_secs(1)) => {}
                        }
                    }
                }
            }
        });
    }
}

/// The answer to a request whose entry is `entry`.
fn answer(entry: &Entry, if_none_match: Option<&HeaderValue>, route: &'static str) -> Response {
    let not_modified = matches(if_none_match, &entry.etag);
    let mut response = if not_modified {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        Response::new(Body::from(entry.body.clone()))
    };
    let headers = response.headers_mut();
    if !not_modified && let Some(value) = entry.content_type.as_deref() {
        insert(headers, header::CONTENT_TYPE, value);
    }
    if let Some(value) = entry.cache_control.as_deref() {
        insert(headers, header::CACHE_CONTROL, value);
    }
    insert(headers, header::ETAG, &entry.etag);
    headers.insert(X_CACHE, HeaderValue::from_static("hit"));
    response.extensions_mut().insert(RouteLabel(route));
    response
}

fn insert(headers: &mut HeaderMap, name: HeaderName, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        headers.insert(name, value);
    }
}

/// Middleware: answers cacheable reads from the cache, fills it on a miss, and drops it
/// after a write to catalog.
pub(crate) async fn serve(
    State(cache): State<Arc<ResponseCache>>,
    request: Request,
    next: Next,
) -> Response {
    let settings = cache.settings.get();
    let config = &settings.cache;
    if !config.enabled {
        return next.run(request).await;
    }
    let path = request.uri().path();
    if catalog_write(request.method(), path) {
        let response = next.run(request).await;
        if response.status().is_success() {
            cache.drop_all().await;
        }
        return response;
    }
    let route = match catalog_read(path) {
        Some(route) if request.method() == Method::GET && !has_credentials(request.headers()) => {
            route
        }
        _ => return next.run(request).await,
    };
    let key = request
        .uri()
        .path_and_query()
        .map_or_else(|| path.to_owned(), |p| p.as_str().to_owned());
    let ttl_ms = config.ttl_secs.saturating_mul(1_000);
    let if_none_match = request.headers().get(header::IF_NONE_MATCH).cloned();
    let generation = match cache
        .store
        .lookup(&key, ttl_ms, platform::time::now_millis())
        .await
    {
        Ok(found) => match found.entry {
            Some(entry) => return answer(&entry, if_none_match.as_ref(), route),
            None => Some(found.generation),
        },
        Err(err) => {
            cache.fail_open.record(&err);
            None
        }
    };

    // A miss: catalog answers in full (the client's validators are the gateway's ETags,
    // which catalog does not know), and the gateway compares them itself.
    let (mut parts, body) = request.into_parts();
    parts.headers.remove(header::IF_NONE_MATCH);
    parts.headers.remove(header::IF_MODIFIED_SINCE);
    let response = next.run(Request::from_parts(parts, body)).await;
    let small_enough = response
        .body()
        .size_hint()
        .upper()
        .is_some_and(|size| size <= config.max_body_bytes as u64);
    if response.status() != StatusCode::OK || !shareable(response.headers()) || !small_enough {
        return missed(response);
    }
    let (mut parts, body) = response.into_parts();
    let body: Bytes = match axum::body::to_bytes(body, config.max_body_bytes).await {
        Ok(body) => body,
        Err(err) => {
            tracing::warn!(error = %err, "catalog's answer could not be read");
            return Problem::new(
                StatusCode::BAD_GATEWAY,
                "bad-gateway",
                "Bad gateway",
                "the catalog service's answer could not be read",
            )
            .into_response();
        }
    };
    let entry = Entry {
        content_type: text(&parts.headers, header::CONTENT_TYPE),
        cache_control: text(&parts.headers, header::CACHE_CONTROL),
        etag: etag_of(&body),
        body,
    };
    if let Some(generation) = generation
        && let Err(err) = cache
            .store
            .store(
                &key,
                generation,
                entry.clone(),
                ttl_ms,
                config.max_entries,
                platform::time::now_millis(),
            )
            .await
    {
        cache.fail_open.record(&err);
    }
    insert(&mut parts.headers, header::ETAG, &entry.etag);
    parts
        .headers
        .insert(X_CACHE, HeaderValue::from_static("miss"));
    if matches(if_none_match.as_ref(), &entry.etag) {
        parts.status = StatusCode::NOT_MODIFIED;
        parts.headers.remove(header::CONTENT_TYPE);
        parts.headers.remove(header::CONTENT_LENGTH);
        return Response::from_parts(parts, Body::empty());
    }
    Response::from_parts(parts, Body::from(entry.body))
}

/// A cacheable read answered by catalog without being stored.
fn missed(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(X_CACHE, HeaderValue::from_static("miss"));
    response
}

fn text(headers: &HeaderMap, name: HeaderName) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_catalog_reads_are_cacheable() {
        assert_eq!(catalog_read("/api/v1/products"), Some("/api/v1/products"));
        assert_eq!(
            catalog_read("/api/v1/products/p1"),
            Some("/api/v1/products")
        );
        assert_eq!(
            catalog_read("/api/v1/products/search"),
            Some("/api/v1/products")
        );
        assert_eq!(
            catalog_read("/api/v1/categories/c1"),
            Some("/api/v1/categories")
        );
        assert_eq!(catalog_read("/api/v1/products/p1/extra"), None);
        assert_eq!(catalog_read("/api/v1/products/"), None);
        assert_eq!(catalog_read("/api/v1/productsx"), None);
        assert_eq!(catalog_read("/api/v1/orders"), None);
        assert!(catalog_write(&Method::PUT, "/api/v1/products/p1"));
        assert!(catalog_write(&Method::POST, "/api/v1/categories"));
        assert!(!catalog_write(&Method::GET, "/api/v1/products"));
        assert!(!catalog_write(&Method::POST, "/api/v1/productsx"));
    }

    #[test]
    fn if_none_match_compares_weakly_and_takes_lists_and_stars() {
        let tag = etag_of(b"body");
        let header = |v: &str| HeaderValue::from_str(v).expect("header");
        assert!(matches(Some(&header(&tag)), &tag));
        assert!(matches(Some(&header(&format!("\"x\", W/{tag}"))), &tag));
        assert!(matches(Some(&header("*")), &tag));
        assert!(!matches(Some(&header("\"other\"")), &tag));
        assert!(!matches(None, &tag));
        assert_ne!(etag_of(b"body"), etag_of(b"other body"));
    }

    #[test]
    fn private_answers_are_not_shared() {
        let mut headers = HeaderMap::new();
        assert!(shareable(&headers));
        headers.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=30"),
        );
        assert!(shareable(&headers));
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("private"));
        assert!(!shareable(&headers));
    }
}
