//! A hold tests put on checkouts at the point where a checkout is most fragile: its
//! payment created at payments, its order not yet stored. A client that hung up there
//! used to leave a pending payment with no order; tests of cancellation safety hold
//! checkouts there, hang up, and then let them go on.
//!
//! Nothing in the platform takes the hold: a checkout passes it with one uncontended
//! read lock.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::{OwnedRwLockWriteGuard, RwLock};

use super::OrderingApp;

/// Where checkouts pass between creating their payment and storing their order.
#[derive(Default)]
pub(super) struct CheckoutGate {
    lock: Arc<RwLock<()>>,
    waiting: Arc<AtomicUsize>,
}

impl CheckoutGate {
    /// Waits while a hold is taken.
    pub(super) async fn pass(&self) {
        let _waiting = Waiting::enter(&self.waiting);
        drop(self.lock.read().await);
    }
}

/// Counts a checkout waiting at the gate for as long as it waits (or until it is
/// dropped there).
struct Waiting<'a>(&'a AtomicUsize);

impl<'a> Waiting<'a> {
    fn enter(count: &'a AtomicUsize) -> Self {
        count.fetch_add(1, Ordering::SeqCst);
        Self(count)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Checkouts held after creating their payment, until this is dropped.
pub struct CheckoutHold {
    _held: OwnedRwLockWriteGuard<()>,
    waiting: Arc<AtomicUsize>,
}

impl CheckoutHold {
    /// How many checkouts wait at the hold now (their payments are created, their
    /// orders not stored).
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::SeqCst)
    }
}

impl OrderingApp {
    /// Holds every checkout of this process after its payment is created and before its
    /// order is stored, until the returned hold is dropped. For tests of what happens
    /// when a client hangs up at that moment; nothing else calls it.
    pub async fn hold_checkouts(&self) -> CheckoutHold {
        CheckoutHold {
            _held: self.gate.lock.clone().write_owned().await,
            waiting: self.gate.waiting.clone(),
        }
    }
}
