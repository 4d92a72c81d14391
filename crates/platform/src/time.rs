//! Time as the platform sees it: UTC milliseconds, and a clock services can be given.
//!
//! Rules that depend on time (token expiry, lockouts, reservation expiry) read a
//! [`Clock`] instead of the system time, so tests can move time forward instead of
//! sleeping.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

/// Milliseconds since the Unix epoch, now.
pub fn now_millis() -> i64 {
    let now = time::OffsetDateTime::now_utc();
    (now.unix_timestamp_nanos() / 1_000_000) as i64
}

/// Formats epoch milliseconds as RFC 3339 UTC, e.g. `2026-11-22T10:00:00.123Z`.
pub fn rfc3339(millis: i64) -> String {
    let at = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Milliseconds since the epoch of an RFC 3339 time (surrounding blanks ignored);
/// `None` when it is not one.
pub fn parse_rfc3339(raw: &str) -> Option<i64> {
    let at =
        time::OffsetDateTime::parse(raw.trim(), &time::format_description::well_known::Rfc3339)
            .ok()?;
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).ok()
}

/// A source of the current time.
#[derive(Clone, Debug, Default)]
pub struct Clock {
    /// Offset added to the system time, moved forward by tests.
    skew: Arc<AtomicI64>,
}

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Self::default()
    }

    /// Now, in epoch milliseconds.
    pub fn now_millis(&self) -> i64 {
        now_millis() + self.skew.load(Ordering::Relaxed)
    }

    /// Now, in epoch seconds.
    pub fn now_secs(&self) -> i64 {
        self.now_millis().div_euclid(1000)
    }

    /// Moves this clock (and every clone of it) forward. For tests.
    pub fn advance(&self, by: std::time::Duration) {
        self.skew.fetch_add(
            i64::try_from(by.as_millis()).unwrap_or(i64::MAX),
            Ordering::Relaxed,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advancing_a_clone_moves_every_clone() {
        let clock = Clock::system();
        let other = clock.clone();
        let before = clock.now_millis();
        other.advance(std::time::Duration::from_secs(3600));
        assert!(clock.now_millis() - before >= 3_600_000);
    }

    #[test]
    fn rfc3339_is_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_500), "1970-01-01T00:00:01.5Z");
    }
}
