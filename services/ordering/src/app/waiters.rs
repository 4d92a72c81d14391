//! Waiting for an order to settle (`Prefer: wait`): who waits for which order, woken
//! after a committed saga step of this replica, with a slow poll for steps run by
//! another.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::oneshot;

use super::{Caller, OrderingApp, OrderingError};
use crate::domain::OrderDetails;

/// Who waits for which order to settle.
#[derive(Default)]
pub(super) struct Waiters {
    by_order: Mutex<HashMap<String, Vec<oneshot::Sender<()>>>>,
}

impl Waiters {
    fn register(&self, order_id: &str) -> oneshot::Receiver<()> {
        let (sender, receiver) = oneshot::channel();
        if let Ok(mut map) = self.by_order.lock() {
            map.entry(order_id.to_owned()).or_default().push(sender);
        }
        receiver
    }

    fn wake(&self, order_id: &str) {
        let senders = self
            .by_order
            .lock()
            .ok()
            .and_then(|mut map| map.remove(order_id));
        for sender in senders.into_iter().flatten() {
            let _ = sender.send(());
        }
    }

    fn forget(&self, order_id: &str) {
        if let Ok(mut map) = self.by_order.lock()
            && let Some(list) = map.get_mut(order_id)
        {
            list.retain(|s| !s.is_closed());
            if list.is_empty() {
                map.remove(order_id);
            }
        }
    }
}

impl OrderingApp {
    /// Waits up to `wait` for an order to settle and returns it as it is then.
    #[tracing::instrument(skip_all, fields(order_id = %id), err(level = "debug"))]
    pub async fn wait_until_settled(
        &self,
        caller: &Caller,
        id: &str,
        wait: Duration,
    ) -> Result<OrderDetails, OrderingError> {
        let deadline = tokio::time::Instant::now() + wait;
        // Another replica may run the step that settles it, and only this replica's
        // steps wake us: look again now and then, less often the longer it takes.
        let mut poll = Duration::from_millis(250);
        loop {
            // Register before reading, so a step committed in between still wakes us.
            let woken = self.waiters.register(id);
            // The order tells whether it settled; the lines are read once, for the answer.
            let order = self.visible_order(caller, id).await?;
            if order.status().is_settled() || tokio::time::Instant::now() >= deadline {
                self.waiters.forget(id);
                let lines = self.lines_of(id).await?;
                return Ok(OrderDetails { order, lines });
            }
            let look_again = tokio::time::Instant::now() + poll;
            tokio::select! {
                _ = woken => {}
                () = tokio::time::sleep_until(look_again.min(deadline)) => {
                    poll = (poll * 2).min(Duration::from_secs(1));
                }
            }
        }
    }

    /// Wakes whoever waits for `order_id` (after a committed step).
    pub(crate) fn order_changed(&self, order_id: &str) {
        self.waiters.wake(order_id);
    }
}
