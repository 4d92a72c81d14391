//! The circuit breaker of one instance: closed while it answers, open (ejected) after
//! a run of failures, then one trial request decides whether it comes back.
//!
//! The rule is API.md's: after `failures_to_open` consecutive failures (a 5xx answer, a
//! connect error or a timeout) the instance is ejected for `open_for`; then exactly one
//! request is let through as a trial; its success closes the breaker, its failure opens
//! it for another `open_for`. Time is passed in, so the rule is tested without waiting.

use std::time::{Duration, Instant};

use serde::Deserialize;

/// The breaker's settings (`[gateway.breaker]` and the service clients').
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(default)]
pub struct BreakerSettings {
    /// Consecutive failures that eject an instance.
    pub failures_to_open: u32,
    /// How long an ejected instance stays out before its trial request.
    pub open_for_ms: u64,
}

impl Default for BreakerSettings {
    fn default() -> Self {
        Self {
            failures_to_open: 5,
            open_for_ms: 30_000,
        }
    }
}

/// Where a breaker stands, as the `breaker_state` gauge reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Requests flow.
    Closed = 0,
    /// Ejected: no requests until the time is up.
    Open = 1,
    /// The time is up: one trial request is (or may be) in flight.
    HalfOpen = 2,
}

/// One instance's breaker.
#[derive(Debug, Clone)]
pub struct Breaker {
    settings: BreakerSettings,
    consecutive_failures: u32,
    open_until: Option<Instant>,
    trial_in_flight: bool,
}

impl Breaker {
    /// A closed breaker.
    pub fn new(settings: BreakerSettings) -> Self {
        Self {
            settings,
            consecutive_failures: 0,
            open_until: None,
            trial_in_flight: false,
        }
    }

    /// Its state at `now`.
    pub fn state(&self, now: Instant) -> BreakerState {
        match self.open_until {
            None => BreakerState::Closed,
            Some(until) if now < until => BreakerState::Open,
            Some(_) => BreakerState::HalfOpen,
        }
    }

    /// Whether a request may go to the instance at `now`; a half-open breaker admits
    /// one trial and refuses the rest until the trial is reported.
    pub fn admit(&mut self, now: Instant) -> bool {
        match self.state(now) {
            BreakerState::Closed => true,
            BreakerState::Open => false,
            BreakerState::HalfOpen if self.trial_in_flight => false,
            BreakerState::HalfOpen => {
                self.trial_in_flight = true;
                true
            }
        }
    }

    /// A request admitted earlier succeeded.
    pub fn succeeded(&mut self) {
        self.consecutive_failures = 0;
        self.open_until = None;
        self.trial_in_flight = false;
    }

    /// A request admitted earlier failed at `now`. Returns whether this failure opened
    /// the breaker.
    pub fn failed(&mut self, now: Instant) -> bool {
        let was_trial = self.trial_in_flight;
        self.trial_in_flight = false;
        self.consecutive_failures = self.consecutive_failures.saturating_add(1);
        let opens = was_trial
            || (self.open_until.is_none()
                && self.consecutive_failures >= self.settings.failures_to_open);
        if opens {
            self.open_until = Some(now + Duration::from_millis(self.settings.open_for_ms));
        }
        opens
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker() -> Breaker {
        Breaker::new(BreakerSettings {
            failures_to_open: 5,
            open_for_ms: 30_000,
        })
    }

    #[test]
    fn five_consecutive_failures_open_it_and_a_success_in_between_resets_the_run() {
        let now = Instant::now();
        let mut b = breaker();
        for _ in 0..4 {
            assert!(b.admit(now));
            assert!(!b.failed(now));
        }
        b.succeeded();
        for _ in 0..4 {
            assert!(!b.failed(now));
        }
        assert_eq!(b.state(now), BreakerState::Closed);
        assert!(b.failed(now));
        assert_eq!(b.state(now), BreakerState::Open);
        assert!(!b.admit(now + Duration::from_secs(29)));
    }

    #[test]
    fn after_the_open_time_one_trial_decides() {
        let now = Instant::now();
        let mut b = breaker();
        for _ in 0..5 {
            b.failed(now);
        }
        let later = now + Duration::from_secs(30);
        assert_eq!(b.state(later), BreakerState::HalfOpen);
        assert!(b.admit(later), "the trial goes through");
        assert!(!b.admit(later), "only one trial at a time");
        assert!(b.failed(later), "a failed trial opens it again");
        assert_eq!(b.state(later + Duration::from_secs(1)), BreakerState::Open);

        let again = later + Duration::from_secs(30);
        assert!(b.admit(again));
        b.succeeded();
        assert_eq!(b.state(again), BreakerState::Closed);
        assert!(b.admit(again) && b.admit(again));
    }
}
