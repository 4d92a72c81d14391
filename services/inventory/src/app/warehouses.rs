//! Warehouses: creating them and finding them by id or code.

use platform::db::is_unique_violation;

use super::{InventoryApp, InventoryError};
use crate::domain::{Text, Warehouse, WarehouseCode};
use crate::store;

impl InventoryApp {
    /// Creates a warehouse.
    #[tracing::instrument(skip_all, fields(warehouse_code = code.as_str()), err(level = "warn"))]
    pub async fn create_warehouse(
        &self,
        code: WarehouseCode,
        name: Text<100>,
    ) -> Result<Warehouse, InventoryError> {
        let warehouse = Warehouse {
            id: platform::ids::new_id(),
            code,
            name: name.into_string(),
            created_at: self.clock.now_millis(),
        };
        let mut tx = self.db.begin().await?;
        store::insert_warehouse(&mut tx, &warehouse)
            .await
            .map_err(|err| {
                if is_unique_violation(&err) {
                    InventoryError::WarehouseCodeTaken
                } else {
                    err.into()
                }
            })?;
        tx.commit().await?;
        Ok(warehouse)
    }

    /// A warehouse by id or code.
    pub async fn warehouse(&self, id_or_code: &str) -> Result<Warehouse, InventoryError> {
        store::warehouse(self.db.reader(), id_or_code)
            .await?
            .ok_or(InventoryError::UnknownWarehouse)
    }

    /// Up to `limit` warehouses by id, after `after`.
    pub async fn warehouses(
        &self,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<Warehouse>, InventoryError> {
        Ok(store::list_warehouses(self.db.reader(), after, limit).await?)
    }
}
