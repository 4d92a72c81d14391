//! The movement ledger as operators read it: a sku's movements newest first, in one
//! warehouse (named by id or code, as an adjustment names it) or all.

use super::{InventoryApp, InventoryError};
use crate::domain::{LedgerEntry, Sku};
use crate::store;

impl InventoryApp {
    /// Up to `limit` movements of `sku`, newest first, before the id `before`; only
    /// those of `warehouse` (an id or code) when one is named. A sku never moved has
    /// an empty ledger; an unknown warehouse is [`InventoryError::UnknownWarehouse`].
    #[tracing::instrument(skip_all, fields(sku = sku.as_str(), warehouse = warehouse), err(level = "debug"))]
    pub async fn ledger(
        &self,
        sku: &Sku,
        warehouse: Option<&str>,
        before: Option<&str>,
        limit: i64,
    ) -> Result<Vec<LedgerEntry>, InventoryError> {
        let warehouse_id = match warehouse {
            None => None,
            Some(id_or_code) => Some(self.warehouse(id_or_code).await?.id),
        };
        Ok(store::ledger(
            self.db.reader(),
            sku,
            warehouse_id.as_deref(),
            before,
            limit,
        )
        .await?)
    }
}
