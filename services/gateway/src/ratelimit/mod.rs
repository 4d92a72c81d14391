//! Rate-limit tiers (API.md "Gateway"): how many requests each caller may make per
//! fixed window, counted in memory (embedded shape) or in Redis (distributed shape, so
//! every gateway replica spends one budget).
//!
//! The caller is who its credential says, checked with identity's [`Authenticator`]: a
//! signed-in user (by user id) or an API key (by key id) is in the user tier, one with
//! the `premium` role or scope (admins hold every scope) in the premium tier, and
//! anyone else, including a credential that does not verify (the service answers 401
//! itself), is anonymous and counted by client IP, the gateway's TCP peer. Every
//! answer carries `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset`
//! (seconds to the window's end); past the limit the answer is 429 with `Retry-After`.
//!
//! Why a fixed window and not the `governor` crate: governor implements GCRA, a
//! smoothed rate with its state in one process's memory. API.md promises a budget per
//! minute whose remainder and reset time can be told to the client, and the distributed
//! shape needs the same count shared by every replica through Redis, where a fixed
//! window is one `INCR` with an expiry in one round trip. Counting the same way in both
//! shapes keeps one behaviour to document and test.

mod memory;

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderName, HeaderValue};
use platform::auth::{Authenticator, Principal, PrincipalKind, ROLE_PREMIUM};
use platform::http::{ClientIp, Problem};
use platform::live::LiveSection;
use prometheus::IntCounter;

use self::memory::MemoryWindows;
use crate::config::{GatewayConfig, RateLimits};
use platform::redis::{BackendError, FailOpen, Redis};

/// `RateLimit-Limit`: the caller's budget per window.
pub const RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("ratelimit-limit");
/// `RateLimit-Remaining`: what is left of it.
pub const RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("ratelimit-remaining");
/// `RateLimit-Reset`: seconds until the window ends and the budget is whole again.
pub const RATELIMIT_RESET: HeaderName = HeaderName::from_static("ratelimit-reset");

/// One round trip: count the hit, and give a new window's key its expiry (the end of
/// the window plus a little for clocks that disagree).
const HIT_SCRIPT: &str = r"
local hits = redis.call('INCR', KEYS[1])
if hits == 1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
return hits
";

/// Slack on a window key's expiry for replicas whose clocks differ a little.
const EXPIRY_SLACK_MS: i64 = 5_000;

/// The requests that passed unchecked because Redis was unavailable.
fn backend_errors() -> &'static IntCounter {
    static CELL: OnceLock<IntCounter> = OnceLock::new();
    platform::redis::counter(
        &CELL,
        "gateway_ratelimit_backend_errors_total",
        "Requests let through without a rate-limit check because Redis failed or was late",
    )
}

/// A caller's tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tier {
    /// No credential that verifies: counted by client IP.
    Anonymous,
    /// A signed-in user or an API key.
    User,
    /// The `premium` role or scope.
    Premium,
    /// A provider's webhook delivery, counted by sending address.
    Webhook,
}

impl Tier {
    fn limit(self, limits: &RateLimits) -> u64 {
        match self {
            Tier::Anonymous => limits.anonymous_per_minute,
            Tier::User => limits.user_per_minute,
            Tier::Premium => limits.premium_per_minute,
            Tier::Webhook => limits.webhooks_per_minute,
        }
    }
}

/// Whose budget a request spends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Caller {
    tier: Tier,
    key: String,
}

impl Caller {
    /// The caller of a request from `client` whose credential resolved to `principal`.
    pub(crate) fn of(principal: Option<&Principal>, client: ClientIp) -> Self {
        match principal {
            None => Self {
                tier: Tier::Anonymous,
                key: format!("ip:{}", client.key()),
            },
            Some(principal) => {
                let premium = principal.has_role(ROLE_PREMIUM) || principal.has_scope(ROLE_PREMIUM);
                let kind = match principal.kind {
                    PrincipalKind::User => "user",
                    PrincipalKind::Client => "key",
                };
                Self {
                    tier: if premium { Tier::Premium } else { Tier::User },
                    key: format!("{kind}:{}", principal.subject),
                }
            }
        }
    }
}

/// The fixed window `now` falls in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Window {
    /// Its length in seconds.
    secs: u64,
    /// Its end, epoch ms.
    end: i64,
}

impl Window {
    /// Windows are aligned to the epoch, so every replica agrees on them.
    fn at(now: i64, secs: u64) -> Self {
        let secs = secs.max(1);
        let length = i64::try_from(secs.saturating_mul(1_000)).unwrap_or(i64::MAX);
        let end = now
            .div_euclid(length)
            .saturating_add(1)
            .saturating_mul(length);
        Self { secs, end }
    }

    /// Whole seconds until it ends (at least 1).
    fn reset_secs(&self, now: i64) -> u64 {
        let left = self.end.saturating_sub(now).max(1);
        u64::try_from((left + 999) / 1_000).unwrap_or(1)
    }
}

/// Where counts are kept.
enum Counter {
    Memory(MemoryWindows),
    Redis {
        redis: Arc<Redis>,
        prefix: String,
        script: ::redis::Script,
    },
}

impl Counter {
    /// Counts a hit of `caller` in `window`; the window's hits so far.
    async fn hit(&self, caller: &Caller, window: Window, now: i64) -> Result<u64, BackendError> {
        match self {
            Counter::Memory(windows) => Ok(windows.hit(&caller.key, window.end, now)),
            Counter::Redis {
                redis,
                prefix,
                script,
            } => {
                let key = format!("{prefix}rl:{}:{}:{}", window.secs, window.end, caller.key);
                let expiry = window
                    .end
                    .saturating_sub(now)
                    .saturating_add(EXPIRY_SLACK_MS);
                redis
                    .call(|mut connection| async move {
                        script
                            .key(&key)
                            .arg(expiry)
                            .invoke_async::<u64>(&mut connection)
                            .await
                    })
                    .await
            }
        }
    }
}

/// The rate limiter of one gateway.
pub(crate) struct RateLimiter {
    settings: Arc<LiveSection<GatewayConfig>>,
    authenticator: Option<Authenticator>,
    counter: Counter,
    fail_open: FailOpen,
}

impl RateLimiter {
    /// Limits by `settings`, identifying callers with `authenticator` (without one,
    /// every caller is anonymous), counting in `redis` under `prefix` when given and in
    /// memory otherwise.
    pub(crate) fn new(
        settings: Arc<LiveSection<GatewayConfig>>,
        authenticator: Option<Authenticator>,
        redis: Option<(Arc<Redis>, String)>,
    ) -> Self {
        let counter = match redis {
            Some((redis, prefix)) => Counter::Redis {
                redis,
                prefix,
                script: ::redis::Script::new(HIT_SCRIPT),
            },
            None => Counter::Memory(MemoryWindows::new()),
        };
        Self {
            settings,
            authenticator,
            counter,
            fail_open: FailOpen::new("rate limit", backend_errors()),
        }
    }

    /// Whose budget a request to `path` with `headers` from `client` spends.
    async fn caller(
        &self,
        path: &str,
        extensions: &http::Extensions,
        headers: &HeaderMap,
    ) -> Caller {
        let client = ClientIp::of(extensions, headers);
        // A delivery is signed, not authenticated: its budget is its sender's address.
        if path == "/webhooks" || path.starts_with("/webhooks/") {
            return Caller {
                tier: Tier::Webhook,
                key: format!("hook:{}", client.key()),
            };
        }
        let principal = match &self.authenticator {
            // A credential that does not verify is anonymous here; the service itself
            // answers it with 401.
            Some(authenticator) => authenticator.authenticate(headers).await.ok().flatten(),
            None => None,
        };
        Caller::of(principal.as_ref(), client)
    }
}

/// What is left of a caller's budget, as the `RateLimit-*` headers tell it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Quota {
    limit: u64,
    remaining: u64,
    reset_secs: u64,
    exceeded: bool,
}

impl Quota {
    fn write(&self, headers: &mut HeaderMap) {
        headers.insert(RATELIMIT_LIMIT, HeaderValue::from(self.limit));
        headers.insert(RATELIMIT_REMAINING, HeaderValue::from(self.remaining));
        headers.insert(RATELIMIT_RESET, HeaderValue::from(self.reset_secs));
    }
}

/// Outermost middleware: the gateway is the edge, so its TCP peer is the client,
/// whatever `X-Forwarded-For` the client wrote. Recorded as the [`ClientIp`] extension,
/// which the limits here and every in-process service read first (the HTTP proxy hands
/// the same address on as the last `X-Forwarded-For` entry).
pub(crate) async fn client_ip(mut request: Request, next: Next) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0.ip());
    if let Some(peer) = peer {
        request.extensions_mut().insert(ClientIp(Some(peer)));
    }
    next.run(request).await
}

/// Middleware: counts the request against its caller's budget and answers 429 past it.
pub(crate) async fn limit(
    State(limiter): State<Arc<RateLimiter>>,
    request: Request,
    next: Next,
) -> Response {
    let settings = limiter.settings.get();
    let limits = &settings.rate_limits;
    if !limits.enabled {
        return next.run(request).await;
    }
    let caller = limiter
        .caller(
            request.uri().path(),
            request.extensions(),
            request.headers(),
        )
        .await;
    let limit = caller.tier.limit(limits);
    let now = platform::time::now_millis();
    let window = Window::at(now, limits.window_secs);
    let reset_secs = window.reset_secs(now);
    let quota = match limiter.counter.hit(&caller, window, now).await {
        Ok(hits) => Quota {
            limit,
            remaining: limit.saturating_sub(hits),
            reset_secs,
            exceeded: hits > limit,
        },
        Err(err) => {
            // Fail open: the count is unknown, so the request passes as if it were the
            // window's first.
            limiter.fail_open.record(&err);
            Quota {
                limit,
                remaining: limit,
                reset_secs,
                exceeded: false,
            }
        }
    };
    let mut response = if quota.exceeded {
        tracing::debug!(tier = ?caller.tier, "rate limited");
        Problem::too_many_requests(reset_secs).into_response()
    } else {
        next.run(request).await
    };
    quota.write(response.headers_mut());
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(kind: PrincipalKind, roles: &[&str], scopes: &[&str]) -> Principal {
        Principal {
            subject: "s1".into(),
            kind,
            roles: roles.iter().map(|r| (*r).to_owned()).collect(),
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
            session_id: None,
            tenant: None,
        }
    }

    #[test]
    fn callers_fall_into_their_tiers() {
        let ip = ClientIp(Some("203.0.113.9".parse().expect("ip")));
        let cases = [
            (None, Tier::Anonymous, "ip:203.0.113.9"),
            (
                Some(principal(PrincipalKind::User, &["customer"], &[])),
                Tier::User,
                "user:s1",
            ),
            (
                Some(principal(
                    PrincipalKind::User,
                    &["customer", "premium"],
                    &[],
                )),
                Tier::Premium,
                "user:s1",
            ),
            (
                Some(principal(PrincipalKind::Client, &[], &["catalog:read"])),
                Tier::User,
                "key:s1",
            ),
            (
                Some(principal(PrincipalKind::Client, &[], &["premium"])),
                Tier::Premium,
                "key:s1",
            ),
            (
                Some(principal(PrincipalKind::User, &["admin"], &[])),
                Tier::Premium,
                "user:s1",
            ),
        ];
        for (who, tier, key) in cases {
            let caller = Caller::of(who.as_ref(), ip);
            assert_eq!((caller.tier, caller.key.as_str()), (tier, key), "{who:?}");
        }
        let limits = RateLimits::default();
        assert_eq!(Tier::Anonymous.limit(&limits), 100);
        assert_eq!(Tier::User.limit(&limits), 1_000);
        assert_eq!(Tier::Premium.limit(&limits), 10_000);
    }

    #[test]
    fn windows_are_aligned_and_reset_counts_whole_seconds() {
        let window = Window::at(125_500, 60);
        assert_eq!(window.end, 180_000);
        assert_eq!(window.reset_secs(125_500), 55);
        assert_eq!(window.reset_secs(179_999), 1);
        assert_eq!(Window::at(180_000, 60).end, 240_000);
        // A zero window is read as one second rather than dividing by zero.
        assert_eq!(Window::at(1_500, 0).end, 2_000);
    }
}
