//! The instances of one service a caller spreads its requests over, each behind its
//! own circuit breaker.
//!
//! A pool takes its instances either from a fixed list (`--upstream`) or from the
//! [`Directory`](super::Directory) (coordination's registry, minus instances its health
//! poller found down). [`Pool::pick`] goes round the admitted instances in turn, so two
//! replicas share the load; the caller reports each outcome, and a run of failures
//! ejects only the failing instance. When no instance is admitted the pool says so at
//! once and the caller answers 503 without waiting on a dead address.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use prometheus::IntGaugeVec;

use super::Directory;
use super::breaker::{Admission, Breaker, BreakerSettings, BreakerState};
use crate::service::ServiceKind;

/// Where a pool's instances come from.
#[derive(Clone)]
enum Source {
    Fixed(Arc<Vec<String>>),
    Discovered(Directory),
}

/// One service's instances with their breakers; cheap to clone (clones share state).
#[derive(Clone)]
pub struct Pool {
    kind: ServiceKind,
    source: Source,
    settings: BreakerSettings,
    breakers: Arc<Mutex<HashMap<String, Breaker>>>,
    next: Arc<AtomicUsize>,
}

/// An instance chosen for one request; report how the request ended with it.
#[derive(Debug, Clone)]
pub struct Picked {
    /// The instance's base URL.
    pub address: String,
    admission: Admission,
}

/// How one request to an instance ended, for its breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// An answer below 500.
    Answered,
    /// A 5xx answer, a connect error or a timeout.
    Failed,
}

impl Pool {
    /// The instances at `addresses` (base URLs), e.g. from `--upstream`.
    pub fn fixed(kind: ServiceKind, addresses: Vec<String>, settings: BreakerSettings) -> Self {
        let addresses = addresses
            .into_iter()
            .map(|a| a.trim_end_matches('/').to_owned())
            .collect();
        Self::new(kind, Source::Fixed(Arc::new(addresses)), settings)
    }

    /// The instances coordination lists for `kind`.
    pub fn discovered(kind: ServiceKind, directory: Directory, settings: BreakerSettings) -> Self {
        Self::new(kind, Source::Discovered(directory), settings)
    }

    fn new(kind: ServiceKind, source: Source, settings: BreakerSettings) -> Self {
        Self {
            kind,
            source,
            settings,
            breakers: Arc::default(),
            next: Arc::default(),
        }
    }

    /// The service.
    pub fn kind(&self) -> ServiceKind {
        self.kind
    }

    /// The directory its instances come from; `None` for a fixed list.
    pub fn directory(&self) -> Option<&Directory> {
        match &self.source {
            Source::Fixed(_) => None,
            Source::Discovered(directory) => Some(directory),
        }
    }

    /// The base URLs requests may go to now (before breakers): the instances not found
    /// down by coordination's health poller, or all of them when every one was (a
    /// dependency's blip can fail every readiness check while the instances still
    /// serve; their breakers then decide).
    pub fn addresses(&self) -> Vec<String> {
        match &self.source {
            Source::Fixed(addresses) => addresses.as_ref().clone(),
            Source::Discovered(directory) => {
                let instances = directory.instances(self.kind);
                let up: Vec<String> = instances
                    .iter()
                    .filter(|instance| instance.status != "down")
                    .map(|instance| instance.address.trim_end_matches('/').to_owned())
                    .collect();
                if !up.is_empty() {
                    return up;
                }
                instances
                    .iter()
                    .map(|instance| instance.address.trim_end_matches('/').to_owned())
                    .collect()
            }
        }
    }

    /// The next instance, not in `tried`, whose breaker admits a request; `None` when
    /// every instance is ejected (or there is none).
    pub fn pick(&self, tried: &[String]) -> Option<Picked> {
        let addresses = self.addresses();
        if addresses.is_empty() {
            return None;
        }
        let now = Instant::now();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let mut breakers = self
            .breakers
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        breakers.retain(|address, _| {
            let kept = addresses.contains(address);
            if !kept {
                let _ = breaker_gauge().remove_label_values(&[self.kind.as_str(), address]);
            }
            kept
        });
        for offset in 0..addresses.len() {
            let address = &addresses[(start + offset) % addresses.len()];
            if tried.contains(address) {
                continue;
            }
            let breaker = breakers
                .entry(address.clone())
                .or_insert_with(|| Breaker::new(self.settings));
            let admission = breaker.admit(now);
            self.show(address, breaker.state(now));
            if let Some(admission) = admission {
                return Some(Picked {
                    address: address.clone(),
                    admission,
                });
            }
        }
        None
    }

    /// Reports how the request sent to `picked` ended.
    pub fn report(&self, picked: &Picked, outcome: Outcome) {
        let now = Instant::now();
        let mut breakers = self
            .breakers
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let Some(breaker) = breakers.get_mut(&picked.address) else {
            return;
        };
        match outcome {
            Outcome::Answered => breaker.succeeded(picked.admission),
            Outcome::Failed => {
                if breaker.failed(picked.admission, now) {
                    tracing::warn!(
                        service = %self.kind,
                        instance = %picked.address,
                        open_for_ms = self.settings.open_for_ms,
                        "circuit opened: instance ejected"
                    );
                }
            }
        }
        self.show(&picked.address, breaker.state(now));
    }

    fn show(&self, address: &str, state: BreakerState) {
        breaker_gauge()
            .with_label_values(&[self.kind.as_str(), address])
            .set(state as i64);
    }
}

/// `breaker_state{service, instance}`: 0 closed, 1 open, 2 half-open.
fn breaker_gauge() -> &'static IntGaugeVec {
    static GAUGE: OnceLock<IntGaugeVec> = OnceLock::new();
    GAUGE.get_or_init(|| {
        crate::http::metrics::gauge_vec(
            "breaker_state",
            "Circuit breaker per upstream instance: 0 closed, 1 open, 2 half-open",
            &["service", "instance"],
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(addresses: &[&str]) -> Pool {
        Pool::fixed(
            ServiceKind::Ordering,
            addresses.iter().map(|a| (*a).to_owned()).collect(),
            BreakerSettings {
                failures_to_open: 2,
                open_for_ms: 60_000,
            },
        )
    }

    #[test]
    fn requests_go_round_the_instances() {
        let pool = pool(&["http://a", "http://b"]);
        let picks: Vec<_> = (0..4)
            .filter_map(|_| pool.pick(&[]).map(|p| p.address))
            .collect();
        assert_eq!(picks.iter().filter(|p| *p == "http://a").count(), 2);
        assert_eq!(picks.iter().filter(|p| *p == "http://b").count(), 2);
    }

    #[test]
    fn only_the_failing_instance_is_ejected_and_none_left_means_none() {
        let pool = pool(&["http://a", "http://b"]);
        let fail = |address: &str| {
            let picked = (0..2)
                .filter_map(|_| pool.pick(&[]))
                .find(|p| p.address == address)
                .expect("the instance is admitted");
            pool.report(&picked, Outcome::Failed);
        };
        fail("http://a");
        fail("http://a");
        for _ in 0..4 {
            let picked = pool.pick(&[]).map(|p| p.address);
            assert_eq!(picked.as_deref(), Some("http://b"));
        }
        assert!(
            pool.pick(&["http://b".to_owned()]).is_none(),
            "a is out, b tried"
        );
        fail("http://b");
        fail("http://b");
        assert!(pool.pick(&[]).is_none());
    }
}
