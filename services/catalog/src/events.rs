//! What the catalog consumes: inventory's stock totals, which keep `in_stock` current
//! (and are announced again as a sku's availability when it flips, and as its
//! product's sell-out when it flips to zero).
//! What it emits is built by `domain` and staged by `app`.

use async_trait::async_trait;
use contracts::inventory::StockUpdated;
use platform::bus::{Envelope, EventHandler, HandlerError, Outbox};
use platform::cache::Cache;
use platform::db::Tx;
use platform::time::Clock;

use crate::app;
use crate::domain::Sku;

/// Applies inventory's stock events.
pub struct StockEvents {
    /// Time of the update.
    pub clock: Clock,
    /// Where a change of a sku's availability is announced.
    pub outbox: Outbox,
    /// The products whose cached copies a flip drops.
    pub products: Cache,
}

#[async_trait]
impl EventHandler for StockEvents {
    async fn handle(&self, tx: &mut Tx, event: &Envelope) -> Result<(), HandlerError> {
        if event.is::<StockUpdated>() {
            self.stock_updated(tx, event.decode()?).await?;
        }
        Ok(())
    }

    fn handles(&self, event_type: &str) -> bool {
        event_type == <StockUpdated as contracts::Event>::TYPE
    }
}

impl StockEvents {
    /// Records the sku's availability.
    #[tracing::instrument(skip_all, fields(sku = %stock.sku), err)]
    async fn stock_updated(&self, tx: &mut Tx, stock: StockUpdated) -> Result<(), HandlerError> {
        let sku = Sku::try_from(stock.sku.clone())
            .map_err(|e| HandlerError::Rejected(format!("sku {}: {e}", stock.sku)))?;
        app::record_stock_in(
            tx,
            &self.outbox,
            &self.products,
            self.clock.now_millis(),
            &sku,
            stock.available,
        )
        .await?;
        Ok(())
    }
}
