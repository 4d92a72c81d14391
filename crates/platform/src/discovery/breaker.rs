//! The circuit breaker of one instance: closed while it answers, open (ejected) after
//! a run of failures, then one trial request decides whether it comes back.
//!
//! The rule is API.md's: after `failures_to_open` consecutive failures (a 5xx answer, a
//! connect error or a timeout) the instance is ejected for `open_for`; then exactly one
//! request is let through as a trial; its success closes the breaker, its failure opens
//! it for another `open_for`. Time is passed in, so the rule is tested without waiting.
//!
//! Each admission carries the breaker's generation, which moves at every change of
//! state; an outcome reported under an older generation is stale (a request admitted
//! before the breaker opened, answering late) and changes nothing. A trial whose
//! outcome never comes (its caller gave up and dropped it) is replaced by a new trial
//! once `open_for` has passed again, so a breaker cannot stay shut for good.

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
    /// When the trial in flight was let through.
    trial_since: Option<Instant>,
    generation: u64,
}

/// A request let through, to report its outcome with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admission {
    generation: u64,
}

impl Breaker {
    /// A closed breaker.
    pub fn new(settings: BreakerSettings) -> Self {
        Self {
            settings,
            consecutive_failures: 0,
            open_until: None,
            trial_since: None,
            generation: 0,
        }
    }

    fn open_for(&self) -> Duration {
        Duration::from_millis(self.settings.open_for_ms)
    }

    /// Its state at `now`.
    pub fn state(&self, now: Instant) -> BreakerState {
        match self.open_until {
            None => BreakerState::Closed,
            Some(until) if now < until => BreakerState::Open,
            Some(_) => BreakerState::HalfOpen,
        }
    }

    /// Lets a request go to the instance at `now`, or not; a half-open breaker admits
    /// one trial and refuses the rest until the trial is reported (or is given up on).
    pub fn admit(&mut self, now: Instant) -> Option<Admission> {
        match self.state(now) {
            BreakerState::Closed => Some(Admission {
                generation: self.generation,
            }),
            BreakerState::Open => None,
            BreakerState::HalfOpen => {
                let trial_pending = self
                    .trial_since
                    .is_some_and(|since| now < since + self.open_for());
                if trial_pending {
                    return None;
                }
                self.generation += 1;
                self.trial_since = Some(now);
                Some(Admission {
                    generation: self.generation,
                })
            }
        }
    }

    /// The request admitted with `admission` was answered.
    pub fn succeeded(&mut self, admission: Admission) {
        if admission.generation != self.generation {
            return;
        }
        if self.open_until.is_some() {
            self.generation += 1;
        }
        self.consecutive_failures = 0;
        self.open_until = None;
        self.trial_since = None;
    }

    /// The request admitted with `admission` failed at `now`. Returns whether this
    /// failure opened the breaker.
    pub fn failed(&mut self, admission: Admission, now: Instant) -> bool {
        if admission.generation != self.generation {
            return false;
        }
        let was_trial = self.trial_since.take().is_some();
        self.consecutive_failures = self.consecutive_failures.saturating_add(1);
        let opens = was_trial
            || (self.open_until.is_none()
                && self.consecutive_failures >= self.settings.failures_to_open);
        if opens {
            self.open_until = Some(now + self.open_for());
            self.generation += 1;
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

    fn fail(b: &mut Breaker, now: Instant) -> bool {
        let admission = b.admit(now).expect("admitted");
        b.failed(admission, now)
    }

    #[test]
    fn five_consecutive_failures_open_it_and_a_success_in_between_resets_the_run() {
        let now = Instant::now();
        let mut b = breaker();
        for _ in 0..4 {
            assert!(!fail(&mut b, now));
        }
        let admission = b.admit(now).expect("closed");
        b.succeeded(admission);
        for _ in 0..4 {
            assert!(!fail(&mut b, now));
        }
        assert_eq!(b.state(now), BreakerState::Closed);
        assert!(fail(&mut b, now));
        assert_eq!(b.state(now), BreakerState::Open);
        assert!(b.admit(now + Duration::from_secs(29)).is_none());
    }

    #[test]
    fn after_the_open_time_one_trial_decides() {
        let now = Instant::now();
        let mut b = breaker();
        for _ in 0..5 {
            fail(&mut b, now);
        }
        let later = now + Duration::from_secs(30);
        assert_eq!(b.state(later), BreakerState::HalfOpen);
        let trial = b.admit(later).expect("the trial goes through");
        assert!(b.admit(later).is_none(), "only one trial at a time");
        assert!(b.failed(trial, later), "a failed trial opens it again");
        assert_eq!(b.state(later + Duration::from_secs(1)), BreakerState::Open);

        let again = later + Duration::from_secs(30);
        let trial = b.admit(again).expect("the next trial");
        b.succeeded(trial);
        assert_eq!(b.state(again), BreakerState::Closed);
        assert!(b.admit(again).is_some() && b.admit(again).is_some());
    }

    #[test]
    fn a_late_answer_from_before_the_opening_changes_nothing() {
        let now = Instant::now();
        let mut b = breaker();
        let slow = b.admit(now).expect("closed");
        for _ in 0..5 {
            fail(&mut b, now);
        }
        b.succeeded(slow);
        assert_eq!(b.state(now), BreakerState::Open, "still ejected");
        assert!(!b.failed(slow, now), "nor does a late failure count");
    }

    #[test]
    fn a_trial_never_reported_is_replaced_after_the_open_time() {
        let now = Instant::now();
        let mut b = breaker();
        for _ in 0..5 {
            fail(&mut b, now);
        }
        let later = now + Duration::from_secs(30);
        let lost = b.admit(later).expect("trial");
        assert!(b.admit(later + Duration::from_secs(29)).is_none());
        let next = b
            .admit(later + Duration::from_secs(30))
            .expect("a new trial once the first is given up on");
        b.succeeded(lost);
        assert_eq!(
            b.state(later + Duration::from_secs(30)),
            BreakerState::HalfOpen,
            "the lost trial's late answer is stale"
        );
        b.succeeded(next);
        assert_eq!(
            b.state(later + Duration::from_secs(30)),
            BreakerState::Closed
        );
    }
}
