//! The gateway's configuration (`[gateway]`, `VISCOUNT_GATEWAY__*`).
//!
//! `rate_limits` and `cache` are also read live (coordination's `gateway` document laid
//! over them, see `platform::live`) and apply to the next request after a change; the
//! others (CORS, timeouts, breakers, where Redis is, where metrics are served) at the
//! next start.

use serde::Deserialize;

/// The gateway's settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct GatewayConfig {
    /// Origins allowed by CORS; `["*"]` allows any (without credentials).
    pub cors_allowed_origins: Vec<String>,
    /// Longest a request may take end to end (checkout may wait up to 30 s).
    pub request_timeout_secs: u64,
    /// Rate-limit tiers (live).
    pub rate_limits: RateLimits,
    /// The response cache of anonymous catalog reads (live).
    pub cache: CacheSettings,
    /// Prefix of every Redis key the gateway writes, so several platforms can share
    /// one server.
    pub redis_prefix: String,
    /// Longest one Redis call may take before the gateway goes on without it.
    pub redis_timeout_ms: u64,
    /// Longest one attempt at an upstream instance may take before it counts as a
    /// failure (distributed shape; a checkout may wait up to 30 s).
    pub upstream_timeout_secs: u64,
    /// The same for a safe request (GET, HEAD, OPTIONS), which never waits on a saga.
    pub safe_upstream_timeout_secs: u64,
    /// The circuit breaker of each upstream instance (distributed shape).
    pub breaker: platform::discovery::BreakerSettings,
    /// Serve `GET /metrics` on the gateway's public listener too. Off by default: the
    /// process's metrics (every service's, in the embedded shape) are for operators,
    /// not for whoever reaches the API; scrape them at [`metrics_listen`] instead.
    ///
    /// [`metrics_listen`]: GatewayConfig::metrics_listen
    pub public_metrics: bool,
    /// An address (`127.0.0.1:9464`, `0.0.0.0:9464` in a container) where the gateway's
    /// process serves `GET /metrics` alone, for Prometheus; unset, none is opened. The
    /// services' own listeners of the distributed shape always serve `/metrics`.
    pub metrics_listen: Option<String>,
    /// The web console (`[gateway.console]`): the storefront and the admin.
    pub console: console::ConsoleSettings,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            cors_allowed_origins: vec!["*".into()],
            request_timeout_secs: 35,
            rate_limits: RateLimits::default(),
            cache: CacheSettings::default(),
            redis_prefix: "viscount:".into(),
            redis_timeout_ms: 100,
            upstream_timeout_secs: 32,
            safe_upstream_timeout_secs: 10,
            breaker: platform::discovery::BreakerSettings::default(),
            public_metrics: false,
            metrics_listen: None,
            console: console::ConsoleSettings::default(),
        }
    }
}

/// `[gateway.rate_limits]`: requests per caller per window, by tier (API.md: anonymous
/// by client IP, a signed-in user or API key, `premium` role or scope).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct RateLimits {
    /// Off: no counting and no `RateLimit-*` headers.
    pub enabled: bool,
    /// Callers without a credential that verifies, per client IP, per window.
    pub anonymous_per_minute: u64,
    /// Signed-in users (per user) and API keys (per key), per window.
    pub user_per_minute: u64,
    /// Callers with the `premium` role or scope, per window.
    pub premium_per_minute: u64,
    /// Deliveries to `/webhooks/...` per sending address, per window: storefronts and
    /// payment providers send many from few addresses, signed rather than
    /// authenticated, so they are neither anonymous browsers nor users.
    pub webhooks_per_minute: u64,
    /// The fixed window, in seconds (a minute unless set otherwise; the limits above
    /// are per window).
    pub window_secs: u64,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            enabled: true,
            anonymous_per_minute: 100,
            user_per_minute: 1_000,
            premium_per_minute: 10_000,
            webhooks_per_minute: 6_000,
            window_secs: 60,
        }
    }
}

/// `[gateway.cache]`: the response cache of anonymous catalog reads.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct CacheSettings {
    /// Off: every read reaches catalog and no `X-Cache` header is sent.
    pub enabled: bool,
    /// Longest an entry is served, in seconds: the bound on staleness when a change
    /// announcement is missed (or a change is not announced at all). At most an hour
    /// in Redis.
    pub ttl_secs: u64,
    /// Most entries kept in memory (the embedded shape); past it, the oldest
    /// generation and expired entries go first, then everything.
    pub max_entries: usize,
    /// Larger answers are passed on without being cached.
    pub max_body_bytes: usize,
}

impl Default for CacheSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            ttl_secs: 60,
            max_entries: 10_000,
            max_body_bytes: 1024 * 1024,
        }
    }
}
