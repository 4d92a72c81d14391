//! What follows any change of stock: a low-stock alert when a sku crosses its
//! threshold, and the sku's totals announced (batched) for the catalog's `in_stock`.

use platform::db::Tx;

use super::{InventoryApp, InventoryError, StockView};
use crate::domain::{LowStock, LowStockCrossing, StockLevel, Totals};
use crate::store;

impl InventoryApp {
    /// What follows a change that left `stock` as it is: the low-stock crossing, alerted
    /// once by the transaction that records it (an operator's new settings are saved
    /// whole when `settings_changed`), and the mark for the totals announcer.
    pub(super) async fn changed(
        &self,
        tx: &mut Tx,
        stock: &mut StockLevel,
        settings_changed: bool,
    ) -> Result<StockView, platform::db::Error> {
        let crossing = stock.note_low_stock();
        let recorded = if settings_changed {
            store::save_sku_setting(tx, stock).await?;
            true
        } else if crossing.is_some() {
            store::record_low_state(tx, stock).await?
        } else {
            false
        };
        // A crossing another transaction recorded first was announced by it.
        if let (Some(LowStockCrossing::Fell(alert)), true) = (crossing, recorded) {
            self.outbox.stage(tx, &alert).await?;
            crate::metrics::low_stock(tx);
        }
        store::mark_totals_changed(tx, stock.sku()).await?;
        Ok(StockView::from(&*stock))
    }

    /// Skus at or under their threshold, by sku after `after`, at most `limit`.
    pub async fn low_stock(
        &self,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<LowStock>, InventoryError> {
        Ok(store::low_stock(
            self.db.reader(),
            self.default_low_stock_threshold(),
            after,
            limit,
        )
        .await?)
    }

    /// Announces the totals of every sku changed since the last pass: one
    /// `inventory.stock.updated` per sku with its totals now, however many changes it
    /// had. Under load that is one event per busy sku per pass instead of one per
    /// reservation and commit; alone, a change is announced within a pass interval.
    pub async fn announce_changed_totals(&self) -> Result<usize, platform::db::Error> {
        /// Skus per transaction; more wait for the next pass.
        const PER_PASS: i64 = 500;
        if !store::any_totals_changed(self.db.reader()).await? {
            return Ok(0);
        }
        let mut tx = self.db.begin().await?;
        let skus = store::take_changed_totals(&mut tx, self.db.dialect(), PER_PASS).await?;
        for sku in &skus {
            let levels = store::levels(&mut *tx, sku).await?;
            self.outbox
                .stage(&mut tx, &Totals::of(&levels).updated_event(sku))
                .await?;
        }
        tx.commit().await?;
        if !skus.is_empty() {
            self.outbox.wake();
        }
        Ok(skus.len())
    }
}
