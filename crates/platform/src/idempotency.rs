//! `Idempotency-Key` for unsafe requests (ARCHITECTURE §5), stored per service.
//!
//! The first request with a key claims it and runs; its response (anything but a 5xx)
//! is stored and replayed to every later request with the same key and the same body.
//! The same key with another body is 422; a second request while the first is still
//! running is 409. Keys are scoped to the caller and the route, so two users cannot
//! collide. A claim left behind by a crash is taken over after [`STALE_CLAIM_MS`].
//! Keys are kept for `[retention] idempotency_hours` (24 h, as payment providers keep
//! theirs) and then deleted by the retention sweep ([`crate::retention`]): a request
//! repeated after that runs as a new one.

use std::collections::BTreeMap;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{HeaderName, HeaderValue, StatusCode};

use crate::auth::Principal;
use crate::db::Db;
use crate::http::{MAX_BODY_BYTES, Problem};

/// The request header.
pub const HEADER: &str = "idempotency-key";
/// Set on replayed responses.
pub const REPLAYED_HEADER: &str = "idempotent-replayed";
/// After this long an unfinished claim is presumed abandoned by a crashed request.
pub const STALE_CLAIM_MS: i64 = 60_000;
/// Response headers kept with the stored response.
const KEPT_HEADERS: [&str; 2] = ["content-type", "location"];

/// How one route treats `Idempotency-Key`. It holds no values, so routes can be
/// declared (and documented) before the service exists: the keys are stored in the
/// [`IdempotencyStore`] the service's router puts in every request's extensions.
#[derive(Clone, Copy, Debug)]
pub struct Idempotency {
    required: bool,
    redacted: &'static [&'static str],
}

impl Idempotency {
    /// Keys are optional: requests without one run normally.
    pub const fn optional() -> Self {
        Self {
            required: false,
            redacted: &[],
        }
    }

    /// Requests without a key are refused with 400.
    pub const fn required() -> Self {
        Self {
            required: true,
            redacted: &[],
        }
    }

    /// Leaves the JSON fields at these pointers (RFC 6901, e.g. `/payment/card_number`)
    /// out of the stored body fingerprint. For secrets such as card numbers: a hash of a
    /// body with a 16-digit number whose prefix and last four are known elsewhere could
    /// be reversed by trying the few candidates left.
    pub const fn redacting(mut self, pointers: &'static [&'static str]) -> Self {
        self.redacted = pointers;
        self
    }
}

/// Where a service keeps its idempotency keys: its own database. The service's router
/// adds it to every request (`.layer(Extension(IdempotencyStore::new(db)))`).
#[derive(Clone, Debug)]
pub struct IdempotencyStore(Db);

impl IdempotencyStore {
    /// Keys stored in `db` (its `idempotency_keys` table).
    pub fn new(db: Db) -> Self {
        Self(db)
    }
}

enum Claim {
    Claimed,
    Replay(StoredResponse),
    OtherBody,
    InFlight,
}

struct StoredResponse {
    status: u16,
    headers: BTreeMap<String, String>,
    body: String,
}

/// Middleware applying [`Idempotency`] to the routes it wraps (inside authentication):
/// `.layer(from_fn_with_state(Idempotency::required(), idempotent))`.
pub async fn idempotent(
    State(config): State<Idempotency>,
    request: Request,
    next: Next,
) -> Response {
    match run(config, request, next).await {
        Ok(response) => response,
        Err(problem) => problem.into_response(),
    }
}

async fn run(config: Idempotency, request: Request, next: Next) -> Result<Response, Problem> {
    let Some(IdempotencyStore(db)) = request.extensions().get::<IdempotencyStore>().cloned() else {
        tracing::error!("an idempotent route is served without its service's IdempotencyStore");
        return Err(Problem::internal());
    };
    let Some(key) = request.headers().get(HEADER) else {
        if config.required {
            return Err(Problem::bad_request(
                "the Idempotency-Key header is required",
            ));
        }
        return Ok(next.run(request).await);
    };
    let key = key
        .to_str()
        .ok()
        .filter(|k| !k.is_empty() && k.len() <= 255)
        .ok_or_else(|| {
            Problem::bad_request("the Idempotency-Key header must be 1 to 255 visible characters")
        })?
        .to_owned();
    let caller = request
        .extensions()
        .get::<Principal>()
        .map(|p| p.subject.clone())
        .unwrap_or_else(|| "anonymous".to_owned());
    let scope = format!("{caller} {} {}", request.method(), request.uri().path());
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|_| crate::http::extract::payload_too_large())?;
    let fingerprint = fingerprint(&bytes, config.redacted);

    match claim(&db, &scope, &key, &fingerprint)
        .await
        .map_err(|e| Problem::unexpected(&e))?
    {
        Claim::Replay(stored) => Ok(replay(stored)),
        Claim::OtherBody => Err(Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency-key-reused",
            "Idempotency key reused",
            "this Idempotency-Key was used with a different request body",
        )),
        Claim::InFlight => Err(Problem::conflict(
            "idempotency-key-in-flight",
            "a request with this Idempotency-Key is still being processed",
        )),
        Claim::Claimed => {
            let response = next
                .run(Request::from_parts(parts, Body::from(bytes)))
                .await;
            let (parts, body) = response.into_parts();
            let body = axum::body::to_bytes(body, usize::MAX)
                .await
                .unwrap_or_default();
            let outcome = if parts.status.is_server_error() {
                release(&db, &scope, &key).await
            } else {
                complete(&db, &scope, &key, &parts, &body).await
            };
            if let Err(err) = outcome {
                tracing::error!(error = %err, "cannot record idempotent response");
            }
            Ok(Response::from_parts(parts, Body::from(body)))
        }
    }
}

/// The body's SHA-256, with the `redacted` JSON fields blanked first.
fn fingerprint(body: &[u8], redacted: &[&str]) -> String {
    if !redacted.is_empty()
        && let Ok(mut value) = serde_json::from_slice::<serde_json::Value>(body)
    {
        for pointer in redacted {
            if let Some(field) = value.pointer_mut(pointer) {
                *field = serde_json::Value::Null;
            }
        }
        return crate::ids::sha256_hex(value.to_string().as_bytes());
    }
    crate::ids::sha256_hex(body)
}

async fn claim(
    db: &Db,
    scope: &str,
    key: &str,
    fingerprint: &str,
) -> Result<Claim, crate::db::Error> {
    let now = crate::time::now_millis();
    // Each step is one statement committed alone: on PostgreSQL a single round trip,
    // and a claim costs the checkout no transaction of its own.
    let inserted = db
        .execute_alone(
            crate::db::query(
                "INSERT INTO idempotency_keys (scope, key, request_hash, created_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            )
            .bind(scope)
            .bind(key)
            .bind(fingerprint)
            .bind(now),
        )
        .await?
        .rows_affected();
    if inserted == 1 {
        return Ok(Claim::Claimed);
    }
    let Some(row) = crate::db::query(
        "SELECT request_hash, status, headers, body, created_at FROM idempotency_keys WHERE scope = $1 AND key = $2",
    )
    .bind(scope)
    .bind(key)
    .fetch_optional(db.reader())
    .await?
    else {
        // Another request's claim not yet visible to readers (its commit is under way),
        // or released since: in flight a moment ago either way; a retry will know.
        return Ok(Claim::InFlight);
    };
    let stored_hash: String = row.try_get("request_hash")?;
    let status: Option<i64> = row.try_get("status")?;
    let created_at: i64 = row.try_get("created_at")?;
    if stored_hash != fingerprint {
        return Ok(Claim::OtherBody);
    }
    let Some(status) = status else {
        if now - created_at < STALE_CLAIM_MS {
            return Ok(Claim::InFlight);
        }
        // The request that claimed this key died with it; take the claim over, unless
        // another retry took it over first (then that one runs, and this one is in
        // flight beside it).
        let taken = db
            .execute_alone(
                crate::db::query(
                    "UPDATE idempotency_keys SET created_at = $1 \
                     WHERE scope = $2 AND key = $3 AND status IS NULL AND created_at = $4",
                )
                .bind(now)
                .bind(scope)
                .bind(key)
                .bind(created_at),
            )
            .await?
            .rows_affected();
        return Ok(if taken == 1 {
            Claim::Claimed
        } else {
            Claim::InFlight
        });
    };
    let headers: Option<String> = row.try_get("headers")?;
    let body: Option<String> = row.try_get("body")?;
    Ok(Claim::Replay(StoredResponse {
        status: u16::try_from(status).unwrap_or(500),
        headers: headers
            .and_then(|h| serde_json::from_str(&h).ok())
            .unwrap_or_default(),
        body: body.unwrap_or_default(),
    }))
}

async fn complete(
    db: &Db,
    scope: &str,
    key: &str,
    parts: &http::response::Parts,
    body: &[u8],
) -> Result<(), crate::db::Error> {
    let headers: BTreeMap<String, String> = KEPT_HEADERS
        .iter()
        .filter_map(|name| {
            let value = parts.headers.get(*name)?.to_str().ok()?;
            Some(((*name).to_owned(), value.to_owned()))
        })
        .collect();
    let headers = serde_json::to_string(&headers).unwrap_or_default();
    db.execute_alone(
        crate::db::query(
            "UPDATE idempotency_keys SET status = $1, headers = $2, body = $3 \
             WHERE scope = $4 AND key = $5",
        )
        .bind(i64::from(parts.status.as_u16()))
        .bind(headers)
        .bind(String::from_utf8_lossy(body).into_owned())
        .bind(scope)
        .bind(key),
    )
    .await
    .map(|_| ())
}

async fn release(db: &Db, scope: &str, key: &str) -> Result<(), crate::db::Error> {
    db.execute_alone(
        crate::db::query("DELETE FROM idempotency_keys WHERE scope = $1 AND key = $2")
            .bind(scope)
            .bind(key),
    )
    .await
    .map(|_| ())
}

fn replay(stored: StoredResponse) -> Response {
    let mut response = Response::new(Body::from(stored.body));
    *response.status_mut() = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    for (name, value) in stored.headers {
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) {
            response.headers_mut().insert(name, value);
        }
    }
    response
        .headers_mut()
        .insert(REPLAYED_HEADER, HeaderValue::from_static("true"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacted_fields_do_not_reach_the_fingerprint() {
        let a = br#"{"payment": {"card_number": "4242424242424242", "cvc": "123"}, "n": 1}"#;
        let b = br#"{"payment": {"card_number": "5555555555554444", "cvc": "999"}, "n": 1}"#;
        let c = br#"{"payment": {"card_number": "4242424242424242", "cvc": "123"}, "n": 2}"#;
        let pointers = &["/payment/card_number", "/payment/cvc"];
        assert_eq!(fingerprint(a, pointers), fingerprint(b, pointers));
        assert_ne!(fingerprint(a, pointers), fingerprint(c, pointers));
        assert_ne!(fingerprint(a, &[]), fingerprint(b, &[]));
        assert_eq!(
            fingerprint(b"not json", pointers),
            crate::ids::sha256_hex(b"not json")
        );
    }
}
