//! The service registry's rules: what a registration must hold, when an instance has
//! missed its heartbeat (counting from the registry's own start too, see [`Expiry`]),
//! and how the health of a service follows from the polled health of its instances.

use std::fmt;

use platform::service::ServiceKind;

/// The longest TTL an instance may ask for: a crashed instance stays listed at most this
/// long, so the gateway never balances over a dead address for longer.
pub const MAX_TTL_SECONDS: i64 = 300;

/// A registration or heartbeat, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    /// The service the instance belongs to.
    pub service: ServiceKind,
    /// The instance.
    pub instance_id: InstanceId,
    /// Where it answers.
    pub address: Address,
    /// What it runs.
    pub version: Version,
    /// How long it stays listed without a heartbeat.
    pub ttl: Ttl,
}

/// A registered instance, as the registry holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    /// The service it belongs to.
    pub service: ServiceKind,
    /// Its id.
    pub instance_id: String,
    /// Where it answers (an http(s) URL without a trailing slash).
    pub address: String,
    /// What it runs.
    pub version: String,
    /// How long it stays listed without a heartbeat, in seconds.
    pub ttl_seconds: i64,
    /// Its polled health.
    pub status: HealthStatus,
    /// Its last registration or heartbeat, epoch ms.
    pub last_seen: i64,
    /// When it is dropped unless it heartbeats again, epoch ms.
    pub expires_at: i64,
    /// Its last health poll, epoch ms.
    pub last_checked: Option<i64>,
}

/// Text that breaks a field's rule; the message names the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub &'static str);

/// Whether `c` may appear in an identifier that travels in URL paths and logs
/// unescaped.
fn is_id_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':')
}

/// An instance's id: 1 to 128 characters of `A-Z a-z 0-9 . _ - :`, so it fits a path
/// segment unescaped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceId(String);

impl TryFrom<String> for InstanceId {
    type Error = Invalid;

    fn try_from(raw: String) -> Result<Self, Invalid> {
        if raw.is_empty() || raw.len() > 128 || !raw.chars().all(is_id_char) {
            return Err(Invalid(
                "must be 1 to 128 characters of letters, digits, '.', '_', '-' or ':'",
            ));
        }
        Ok(Self(raw))
    }
}

impl InstanceId {
    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Where an instance answers: an absolute `http` or `https` URL with a host and no
/// credentials, query or fragment, kept without a trailing slash so `{address}/path`
/// joins cleanly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address(String);

impl TryFrom<String> for Address {
    type Error = Invalid;

    fn try_from(raw: String) -> Result<Self, Invalid> {
        const RULE: &str = "must be an http(s) URL with a host, e.g. http://10.0.0.7:8084";
        let raw = raw.trim();
        if raw.len() > 2048 {
            return Err(Invalid("must be at most 2048 characters"));
        }
        let url = url::Url::parse(raw).map_err(|_| Invalid(RULE))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
            return Err(Invalid(RULE));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(Invalid("must not carry credentials"));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(Invalid("must not carry a query or a fragment"));
        }
        Ok(Self(url.as_str().trim_end_matches('/').to_owned()))
    }
}

impl Address {
    /// The URL, without a trailing slash.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The version an instance runs: 1 to 64 printable characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version(String);

impl TryFrom<String> for Version {
    type Error = Invalid;

    fn try_from(raw: String) -> Result<Self, Invalid> {
        let raw = raw.trim().to_owned();
        if raw.is_empty() || raw.chars().count() > 64 || raw.chars().any(char::is_control) {
            return Err(Invalid("must be 1 to 64 printable characters"));
        }
        Ok(Self(raw))
    }
}

impl Version {
    /// The version.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// How long an instance stays listed after its last heartbeat: 1 to
/// [`MAX_TTL_SECONDS`] seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ttl(i64);

impl TryFrom<i64> for Ttl {
    type Error = Invalid;

    fn try_from(seconds: i64) -> Result<Self, Invalid> {
        if !(1..=MAX_TTL_SECONDS).contains(&seconds) {
            return Err(Invalid("must be between 1 and 300 seconds"));
        }
        Ok(Self(seconds))
    }
}

impl Ttl {
    /// The TTL in seconds.
    pub fn seconds(self) -> i64 {
        self.0
    }

    /// When an instance last seen at `last_seen` (epoch ms) expires, unless it
    /// heartbeats again.
    pub fn expires_at(self, last_seen: i64) -> i64 {
        last_seen.saturating_add(self.0 * 1000)
    }
}

/// When the sweeper may drop an instance: once its TTL has passed since its last
/// heartbeat, and also since this registry started.
///
/// The second condition is a grace period after a restart. While coordination is down
/// no heartbeat can land, so every instance whose TTL passed meanwhile looks dead the
/// moment it comes back; dropping them would announce false departures and leave every
/// gateway with an empty list. Given one TTL from the start, a live instance heartbeats
/// again (its agent keeps trying) and only the truly gone ones are dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expiry {
    /// Now, epoch ms.
    pub now: i64,
    /// When this registry (this coordination process) started, epoch ms.
    pub started_at: i64,
}

impl Expiry {
    /// Whether an instance last seen at `last_seen` (epoch ms) with a TTL of
    /// `ttl_seconds` is gone: `now > max(last_seen, started_at) + ttl`.
    pub fn has_expired(self, last_seen: i64, ttl_seconds: i64) -> bool {
        let ttl_ms = ttl_seconds.saturating_mul(1000);
        self.now > last_seen.max(self.started_at).saturating_add(ttl_ms)
    }

    /// How long the registry has been up, in ms: only an instance with a shorter TTL
    /// can have expired. With `expires_at = last_seen + ttl`, an instance is gone when
    /// `expires_at < now` and `ttl_ms < uptime_ms()` (the store's form of
    /// [`Expiry::has_expired`]).
    pub fn uptime_ms(self) -> i64 {
        self.now.saturating_sub(self.started_at).max(0)
    }
}

/// An instance's health as last polled from its `/health/ready`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HealthStatus {
    /// Not polled yet.
    Unknown,
    /// Answered 2xx.
    Up,
    /// Answered anything else, or not in time.
    Down,
}

impl HealthStatus {
    /// Every status.
    pub const ALL: [Self; 3] = [Self::Unknown, Self::Up, Self::Down];

    /// The status of an answer: `Some(status code)`, or `None` when none came in time.
    pub fn of_answer(status: Option<u16>) -> Self {
        match status {
            Some(code) if (200..300).contains(&code) => Self::Up,
            _ => Self::Down,
        }
    }

    /// The stored and shown name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unknown => "unknown",
            Self::Up => "up",
            Self::Down => "down",
        }
    }

    /// The status a stored name means.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "unknown" => Some(Self::Unknown),
            "up" => Some(Self::Up),
            "down" => Some(Self::Down),
            _ => None,
        }
    }
}

impl fmt::Display for HealthStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The health of a service as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceHealth {
    /// Every instance is up.
    Up,
    /// Some instances are up, some are not.
    Degraded,
    /// No instance is up, or there is none.
    Down,
}

impl ServiceHealth {
    /// Every health.
    pub const ALL: [Self; 3] = [Self::Up, Self::Degraded, Self::Down];

    /// The shown name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Up => "up",
            Self::Degraded => "degraded",
            Self::Down => "down",
        }
    }
}

/// The health of a service whose instances are in `statuses` (an instance not polled
/// yet is not up).
pub fn service_health(statuses: impl IntoIterator<Item = HealthStatus>) -> ServiceHealth {
    let (mut up, mut total) = (0_usize, 0_usize);
    for status in statuses {
        total += 1;
        if status == HealthStatus::Up {
            up += 1;
        }
    }
    match (up, total) {
        (0, _) => ServiceHealth::Down,
        (up, total) if up == total => ServiceHealth::Up,
        _ => ServiceHealth::Degraded,
    }
}

/// The health of the platform over the health of each registered service: the same
/// rule one level up (a degraded service is not up, but not down either).
pub fn platform_health(services: impl IntoIterator<Item = ServiceHealth>) -> ServiceHealth {
    let (mut up, mut down, mut total) = (0_usize, 0_usize, 0_usize);
    for health in services {
        total += 1;
        match health {
            ServiceHealth::Up => up += 1,
            ServiceHealth::Down => down += 1,
            ServiceHealth::Degraded => {}
        }
    }
    if total == 0 || down == total {
        ServiceHealth::Down
    } else if up == total {
        ServiceHealth::Up
    } else {
        ServiceHealth::Degraded
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_http_urls_with_a_host_kept_without_a_trailing_slash() {
        let ok = |raw: &str| Address::try_from(raw.to_owned()).map(|a| a.as_str().to_owned());
        assert_eq!(
            ok("http://10.0.0.7:8084/").as_deref(),
            Ok("http://10.0.0.7:8084")
        );
        assert_eq!(
            ok("https://orders.internal").as_deref(),
            Ok("https://orders.internal")
        );
        for bad in [
            "",
            "10.0.0.7:8084",
            "ftp://host",
            "http://",
            "http://user:pw@host",
            "http://host/?a=1",
            "http://host/#top",
        ] {
            assert!(ok(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn ttls_are_between_one_second_and_five_minutes() {
        assert!(Ttl::try_from(0).is_err());
        assert!(Ttl::try_from(301).is_err());
        let ttl = Ttl::try_from(10).expect("ttl");
        assert_eq!(ttl.expires_at(1_000), 11_000);
        assert!(Ttl::try_from(300).is_ok());
    }

    #[test]
    fn an_instance_expires_one_ttl_after_its_last_heartbeat_or_the_registry_start() {
        // (last_seen, ttl s, started_at, now, expired)
        let cases: &[(i64, i64, i64, i64, bool)] = &[
            // Running long: one TTL after the last heartbeat, not at it.
            (10_000, 5, 0, 15_000, false),
            (10_000, 5, 0, 15_001, true),
            // Restarted after the TTL passed: not before one TTL from the start.
            (10_000, 5, 60_000, 60_001, false),
            (10_000, 5, 60_000, 65_000, false),
            (10_000, 5, 60_000, 65_001, true),
            // A heartbeat after the start counts from itself.
            (62_000, 5, 60_000, 66_000, false),
            (62_000, 5, 60_000, 67_001, true),
            // A long TTL outlasts a short restart either way.
            (10_000, 300, 60_000, 300_000, false),
            (10_000, 300, 60_000, 360_001, true),
        ];
        for &(last_seen, ttl, started_at, now, want) in cases {
            let expiry = Expiry { now, started_at };
            assert_eq!(
                expiry.has_expired(last_seen, ttl),
                want,
                "last_seen {last_seen} ttl {ttl} started {started_at} now {now}"
            );
            // The store's form of the same rule.
            let expires_at = Ttl::try_from(ttl).expect("ttl").expires_at(last_seen);
            assert_eq!(
                expires_at < now && ttl * 1000 < expiry.uptime_ms(),
                want,
                "store form at {now}"
            );
        }
    }

    #[test]
    fn instance_ids_fit_a_path_segment() {
        assert!(InstanceId::try_from("ordering-7f:8084".to_owned()).is_ok());
        for bad in ["", "a/b", "a b", &"x".repeat(129)] {
            assert!(InstanceId::try_from(bad.to_owned()).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn service_health_follows_its_instances() {
        use HealthStatus::*;
        let cases: &[(&[HealthStatus], ServiceHealth)] = &[
            (&[], ServiceHealth::Down),
            (&[Up], ServiceHealth::Up),
            (&[Up, Up], ServiceHealth::Up),
            (&[Up, Down], ServiceHealth::Degraded),
            (&[Up, Unknown], ServiceHealth::Degraded),
            (&[Down, Unknown], ServiceHealth::Down),
            (&[Unknown], ServiceHealth::Down),
        ];
        for (statuses, want) in cases {
            assert_eq!(
                service_health(statuses.iter().copied()),
                *want,
                "{statuses:?}"
            );
        }
    }

    #[test]
    fn platform_health_is_up_only_when_every_service_is() {
        use ServiceHealth::*;
        assert_eq!(platform_health([]), Down);
        assert_eq!(platform_health([Up, Up]), Up);
        assert_eq!(platform_health([Up, Degraded]), Degraded);
        assert_eq!(platform_health([Up, Down]), Degraded);
        assert_eq!(platform_health([Down, Down]), Down);
    }

    #[test]
    fn an_answer_is_up_only_when_2xx() {
        assert_eq!(HealthStatus::of_answer(Some(204)), HealthStatus::Up);
        assert_eq!(HealthStatus::of_answer(Some(503)), HealthStatus::Down);
        assert_eq!(HealthStatus::of_answer(Some(301)), HealthStatus::Down);
        assert_eq!(HealthStatus::of_answer(None), HealthStatus::Down);
        for status in [HealthStatus::Unknown, HealthStatus::Up, HealthStatus::Down] {
            assert_eq!(HealthStatus::parse(status.as_str()), Some(status));
        }
    }
}
