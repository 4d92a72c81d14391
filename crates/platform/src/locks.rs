//! A client of coordination's locks: leases on named locks for work that only one
//! process of the platform may do at a time (reconciliation's daily run, notification
//! schedules, the catalog index rebuild).
//!
//! A lease carries a fencing token that only grows per name. The holder passes it to
//! whatever it writes, and a resource that remembers the highest token it has seen
//! refuses a smaller one: a holder that paused past its lease (a long GC, a stalled
//! disk) cannot overwrite the work of the one that took over. The client speaks for
//! the process itself, with the platform's service token, not for an end user.

use std::time::Duration;

use http::{Method, StatusCode};
use serde::{Deserialize, Serialize};

use crate::auth::ForwardedCredentials;
use crate::client::{CallError, Reply, ServiceClient};

/// The longest lease coordination grants, in seconds.
pub const MAX_LEASE_SECONDS: u64 = 3600;

/// The longest lock name, in characters.
pub const MAX_LOCK_NAME_LEN: usize = 128;

/// The rule of [`is_lock_name`], as said to a caller that broke it.
pub const LOCK_NAME_RULE: &str =
    "must be 1 to 128 characters of letters, digits, '.', '_', '-' or ':'";

/// The rule of [`is_lease_seconds`], as said to a caller that broke it.
pub const LEASE_SECONDS_RULE: &str = "must be between 1 and 3600 seconds";

/// Whether `name` may name a lock: 1 to [`MAX_LOCK_NAME_LEN`] characters of
/// `A-Z a-z 0-9 . _ - :`, so it travels in a URL path segment and in logs unescaped.
/// Coordination holds callers to this rule and this client checks it before sending.
pub fn is_lock_name(name: &str) -> bool {
    let fits = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':');
    !name.is_empty() && name.len() <= MAX_LOCK_NAME_LEN && name.chars().all(fits)
}

/// Whether coordination grants a lease of `seconds`: 1 to [`MAX_LEASE_SECONDS`]. A
/// lease is bounded so that a holder that died without releasing blocks the work for
/// at most that long.
pub fn is_lease_seconds(seconds: u64) -> bool {
    (1..=MAX_LEASE_SECONDS).contains(&seconds)
}

/// A lease held on a named lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The lock.
    pub name: String,
    /// Its holder.
    pub owner: String,
    /// The token to present to fenced resources; larger than any earlier lease's.
    pub fencing_token: u64,
    /// When the lease ends unless renewed, epoch ms.
    pub expires_at: i64,
}

#[derive(Serialize)]
struct LeaseAsk<'a> {
    owner: &'a str,
    ttl_seconds: u64,
}

#[derive(Deserialize)]
struct LeaseAnswer {
    name: String,
    owner: String,
    fencing_token: u64,
    expires_at: String,
}

/// Coordination's locks, called with the platform's service token.
#[derive(Clone)]
pub struct Locks {
    coordination: ServiceClient,
    credentials: ForwardedCredentials,
}

impl std::fmt::Debug for Locks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Locks").finish_non_exhaustive()
    }
}

impl Locks {
    /// The locks of the coordination service `coordination` reaches, called with
    /// `service_token`.
    pub fn new(coordination: ServiceClient, service_token: &str) -> Self {
        Self {
            coordination,
            credentials: ForwardedCredentials::bearer(service_token),
        }
    }

    /// Takes the lock `name` for `owner` for `ttl` (rounded up to whole seconds, 1 to
    /// [`MAX_LEASE_SECONDS`]); `None` while another owner holds it. When `owner`
    /// holds it already, this renews it.
    pub async fn acquire(
        &self,
        name: &str,
        owner: &str,
        ttl: Duration,
    ) -> Result<Option<Lease>, CallError> {
        let ttl_seconds = lease_seconds(ttl)?;
        let path = lock_path(name)?;
        let reply = self
            .coordination
            .send_json(
                Method::POST,
                &path,
                &self.credentials,
                None,
                Some(&LeaseAsk { owner, ttl_seconds }),
            )
            .await?;
        match reply.status {
            StatusCode::OK | StatusCode::CREATED => lease_of(&reply).map(Some),
            StatusCode::CONFLICT => Ok(None),
            _ => Err(unexpected(&reply)),
        }
    }

    /// Extends `lease` by `ttl` from now; `None` when another owner has the lock now
    /// (the lease ended and was taken: stop the fenced work). A lease that had ended but
    /// that nobody took comes back with a new, larger token: work fenced with the old
    /// one must carry on with the new one.
    pub async fn renew(&self, lease: &Lease, ttl: Duration) -> Result<Option<Lease>, CallError> {
        self.acquire(&lease.name, &lease.owner, ttl).await
    }

    /// Frees the lock `owner` holds (its token stays, for the next lease); `false` when
    /// `owner` does not hold it.
    pub async fn release(&self, name: &str, owner: &str) -> Result<bool, CallError> {
        let owner: String = form_urlencoded::byte_serialize(owner.as_bytes()).collect();
        let path = format!("{}?owner={owner}", lock_path(name)?);
        let reply = self
            .coordination
            .send_json::<()>(Method::DELETE, &path, &self.credentials, None, None)
            .await?;
        match reply.status {
            StatusCode::NO_CONTENT | StatusCode::OK => Ok(true),
            StatusCode::CONFLICT => Ok(false),
            _ => Err(unexpected(&reply)),
        }
    }
}

/// `ttl` in whole seconds, rounded up, within what coordination grants.
fn lease_seconds(ttl: Duration) -> Result<u64, CallError> {
    let seconds = ttl.as_millis().div_ceil(1000);
    u64::try_from(seconds)
        .ok()
        .filter(|s| is_lease_seconds(*s))
        .ok_or_else(|| {
            CallError::Unsendable(format!(
                "a lease's length {LEASE_SECONDS_RULE}, not {ttl:?}"
            ))
        })
}

/// The path of the lock `name`, which needs no escaping once [`is_lock_name`] holds.
fn lock_path(name: &str) -> Result<String, CallError> {
    if !is_lock_name(name) {
        return Err(CallError::Unsendable(format!(
            "{name:?} is not a lock name: it {LOCK_NAME_RULE}"
        )));
    }
    Ok(format!("/api/v1/locks/{name}"))
}

fn lease_of(reply: &Reply) -> Result<Lease, CallError> {
    let answer: LeaseAnswer = reply.json()?;
    let expires_at = crate::time::parse_rfc3339(&answer.expires_at).ok_or_else(|| {
        CallError::Unreadable(format!("expires_at {:?} is not a time", answer.expires_at))
    })?;
    Ok(Lease {
        name: answer.name,
        owner: answer.owner,
        fencing_token: answer.fencing_token,
        expires_at,
    })
}

/// An answer the client has no meaning for: coordination failing is "unavailable",
/// anything else (refused credentials, a rule broken) is unreadable to the caller.
fn unexpected(reply: &Reply) -> CallError {
    if reply.status.is_server_error() {
        CallError::Unavailable(format!("coordination answered {}", reply.status))
    } else {
        CallError::Unreadable(format!("coordination answered {}", reply.status))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use axum::Router;
    use axum::extract::{Path, RawQuery, State};
    use axum::response::IntoResponse;
    use axum::routing::post;
    use http::HeaderMap;

    use super::*;

    /// What the fake coordination was asked: (method, path and query, body).
    type Seen = Arc<Mutex<Vec<(String, String, String)>>>;

    /// A coordination that answers every lock call with `status` (and a lease body),
    /// refusing calls without the service token `tok`.
    fn coordination(status: StatusCode) -> (Locks, Seen) {
        let seen: Seen = Arc::default();
        async fn answer(
            State((status, seen)): State<(StatusCode, Seen)>,
            method: Method,
            Path(name): Path<String>,
            RawQuery(query): RawQuery,
            headers: HeaderMap,
            body: String,
        ) -> axum::response::Response {
            let bearer = headers.get("authorization").and_then(|v| v.to_str().ok());
            if bearer != Some("Bearer tok") {
                return StatusCode::UNAUTHORIZED.into_response();
            }
            let target = match query {
                Some(query) => format!("{name}?{query}"),
                None => name.clone(),
            };
            if let Ok(mut seen) = seen.lock() {
                seen.push((method.to_string(), target, body));
            }
            let lease = serde_json::json!({
                "name": name,
                "owner": "w1",
                "fencing_token": 7,
                "expires_at": "2030-01-01T00:00:00Z",
            });
            (status, axum::Json(lease)).into_response()
        }
        let router = Router::new()
            .route("/api/v1/locks/{name}", post(answer).delete(answer))
            .with_state((status, seen.clone()));
        (Locks::new(ServiceClient::in_process(router), "tok"), seen)
    }

    #[tokio::test]
    async fn a_granted_lease_is_read_with_its_token_and_expiry() {
        let (locks, seen) = coordination(StatusCode::CREATED);
        let lease = locks
            .acquire("reports.schedule", "w1", Duration::from_millis(1500))
            .await
            .expect("call")
            .expect("lease");
        assert_eq!(lease.fencing_token, 7);
        assert_eq!(lease.name, "reports.schedule");
        assert_eq!(
            lease.expires_at,
            crate::time::parse_rfc3339("2030-01-01T00:00:00Z").expect("time")
        );
        let renewed = locks
            .renew(&lease, Duration::from_secs(5))
            .await
            .expect("call");
        assert!(renewed.is_some());
        let seen = seen.lock().expect("seen").clone();
        assert_eq!(seen[0].0, "POST");
        let body: serde_json::Value = serde_json::from_str(&seen[0].2).expect("json");
        assert_eq!(body, serde_json::json!({"owner": "w1", "ttl_seconds": 2}));
        let body: serde_json::Value = serde_json::from_str(&seen[1].2).expect("json");
        assert_eq!(body["ttl_seconds"], 5);
    }

    #[tokio::test]
    async fn a_held_lock_is_none_and_a_release_by_another_is_false() {
        let (locks, seen) = coordination(StatusCode::CONFLICT);
        let taken = locks
            .acquire("reports.schedule", "w2", Duration::from_secs(10))
            .await
            .expect("call");
        assert_eq!(taken, None);
        assert!(
            !locks
                .release("reports.schedule", "w 2&x")
                .await
                .expect("call")
        );
        let seen = seen.lock().expect("seen").clone();
        assert_eq!(seen[1].0, "DELETE");
        assert_eq!(seen[1].1, "reports.schedule?owner=w+2%26x");
    }

    #[tokio::test]
    async fn a_release_by_the_holder_is_true() {
        let (locks, _) = coordination(StatusCode::NO_CONTENT);
        assert!(locks.release("reports.schedule", "w1").await.expect("call"));
    }

    #[tokio::test]
    async fn failures_of_coordination_are_errors_not_answers() {
        let (locks, _) = coordination(StatusCode::SERVICE_UNAVAILABLE);
        assert!(matches!(
            locks.acquire("a", "w1", Duration::from_secs(1)).await,
            Err(CallError::Unavailable(_))
        ));
        let wrong_token = Locks {
            credentials: ForwardedCredentials::bearer("other"),
            ..locks
        };
        assert!(matches!(
            wrong_token.acquire("a", "w1", Duration::from_secs(1)).await,
            Err(CallError::Unreadable(_))
        ));
    }

    #[test]
    fn lock_names_and_lease_lengths_have_one_rule() {
        assert!(is_lock_name("analytics.reconciliation:daily"));
        assert!(is_lock_name(&"x".repeat(MAX_LOCK_NAME_LEN)));
        for bad in ["", "a/b", "a b", "é", &"x".repeat(MAX_LOCK_NAME_LEN + 1)] {
            assert!(!is_lock_name(bad), "{bad:?}");
        }
        assert!(is_lease_seconds(1));
        assert!(is_lease_seconds(MAX_LEASE_SECONDS));
        assert!(!is_lease_seconds(0));
        assert!(!is_lease_seconds(MAX_LEASE_SECONDS + 1));
        // The rules as said to callers name the same bounds.
        assert!(LEASE_SECONDS_RULE.contains(&MAX_LEASE_SECONDS.to_string()));
        assert!(LOCK_NAME_RULE.contains(&MAX_LOCK_NAME_LEN.to_string()));
    }

    #[tokio::test]
    async fn bad_names_and_ttls_are_refused_before_sending() {
        let (locks, seen) = coordination(StatusCode::CREATED);
        for (name, ttl) in [
            ("a/b", Duration::from_secs(1)),
            ("", Duration::from_secs(1)),
            ("ok", Duration::ZERO),
            ("ok", Duration::from_secs(MAX_LEASE_SECONDS + 1)),
        ] {
            assert!(
                matches!(
                    locks.acquire(name, "w1", ttl).await,
                    Err(CallError::Unsendable(_))
                ),
                "{name:?} {ttl:?}"
            );
        }
        assert!(seen.lock().expect("seen").is_empty());
    }
}
