//! What the catalog consumes: inventory's stock totals, which keep `in_stock` current.
//! What it emits is staged by `app`.

use async_trait::async_trait;
use contracts::inventory::StockUpdated;
use platform::bus::{Envelope, EventHandler, HandlerError};
use platform::db::Tx;
use platform::time::Clock;

use crate::store;

/// Applies inventory's stock events.
pub struct StockEvents {
    /// Time of the update.
    pub clock: Clock,
}

#[async_trait]
impl EventHandler for StockEvents {
    async fn handle(&self, tx: &mut Tx, event: &Envelope) -> Result<(), HandlerError> {
        if event.is::<StockUpdated>() {
            let stock: StockUpdated = event.decode()?;
            store::set_stock(tx, &stock.sku, stock.available, self.clock.now_millis()).await?;
        }
        Ok(())
    }

    fn handles(&self, event_type: &str) -> bool {
        event_type == <StockUpdated as contracts::Event>::TYPE
    }
}
