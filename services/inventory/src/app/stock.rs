//! Stock levels: reading a sku's stock (or many skus' totals), operators' adjustments
//! and thresholds, and returned goods coming back on hand.

use platform::db::Tx;

use super::{Availability, InventoryApp, InventoryError, StockView};
use crate::domain::{Restock, Sku, StockLevel, StockRefusal, Text, Totals, adjusted_event};
use crate::store::{self, Movement};

impl InventoryApp {
    /// A sku's stock now (zero everywhere for a sku never adjusted).
    #[tracing::instrument(skip_all, fields(sku = sku.as_str()), err(level = "debug"))]
    pub async fn stock(&self, sku: &Sku) -> Result<StockView, InventoryError> {
        let levels = store::levels(self.db.reader(), sku).await?;
        Ok(StockView::new(sku, &levels))
    }

    /// The totals of each of `skus`, in the order asked and once each (zero for a sku
    /// never adjusted).
    #[tracing::instrument(skip_all, fields(skus = skus.len()), err(level = "debug"))]
    pub async fn availability(&self, skus: &[Sku]) -> Result<Vec<Availability>, InventoryError> {
        let mut asked: Vec<Sku> = Vec::with_capacity(skus.len());
        for sku in skus {
            if !asked.contains(sku) {
                asked.push(sku.clone());
            }
        }
        let mut levels = store::levels_of(self.db.reader(), &asked).await?;
        Ok(asked
            .into_iter()
            .map(|sku| {
                let totals = Totals::of(&levels.remove(sku.as_str()).unwrap_or_default());
                Availability {
                    available: totals.available(),
                    on_hand: totals.on_hand,
                    reserved: totals.reserved,
                    sku,
                }
            })
            .collect())
    }

    /// Adds or removes on-hand units in one warehouse (by id or code).
    #[tracing::instrument(skip_all, fields(sku = sku.as_str(), warehouse = warehouse), err(level = "warn"))]
    pub async fn adjust(
        &self,
        actor: &str,
        sku: &Sku,
        warehouse: &str,
        delta: i64,
        reason: &Text<200>,
    ) -> Result<StockView, InventoryError> {
        let now = self.clock.now_millis();
        let mut tx = self.db.begin().await?;
        let warehouse = store::warehouse(&mut *tx, warehouse)
            .await?
            .ok_or(InventoryError::UnknownWarehouse)?;
        store::ensure_level(&mut tx, sku, &warehouse.id, now).await?;
        let mut stock = self.stock_for_update(&mut tx, sku).await?;
        let change = stock
            .adjust(&warehouse.id, delta)
            .map_err(|refusal| match refusal {
                StockRefusal::NoLevel => InventoryError::UnknownWarehouse,
                StockRefusal::BelowReserved { reserved } => InventoryError::BelowReserved(reserved),
                StockRefusal::BelowZero
                | StockRefusal::Insufficient { .. }
                | StockRefusal::NotReserved { .. } => InventoryError::BelowZero,
            })?;
        let movement = Movement {
            sku,
            warehouse_id: &warehouse.id,
            change,
            reason: reason.as_str(),
            actor,
            reference: None,
        };
        if !store::apply_movement(&mut tx, &movement, now).await? {
            // Refused under the lock the level was read with: only a concurrent change
            // that did not take the lock gets here; refuse rather than go below.
            let reserved = stock
                .levels()
                .iter()
                .find(|l| l.warehouse_id == warehouse.id)
                .map_or(0, |l| l.reserved);
            return Err(InventoryError::BelowReserved(reserved));
        }
        self.outbox
            .stage(
                &mut tx,
                &adjusted_event(sku, &warehouse.id, delta, reason.as_str()),
            )
            .await?;
        let view = self.changed(&mut tx, &mut stock, false).await?;
        tx.commit().await?;
        self.outbox.wake();
        Ok(view)
    }

    /// Sets a sku's low-stock threshold.
    #[tracing::instrument(skip_all, fields(sku = sku.as_str()), err(level = "debug"))]
    pub async fn set_threshold(
        &self,
        sku: &Sku,
        threshold: i64,
    ) -> Result<StockView, InventoryError> {
        let mut tx = self.db.begin().await?;
        let mut stock = self.stock_for_update(&mut tx, sku).await?;
        stock.set_threshold(threshold);
        let view = self.changed(&mut tx, &mut stock, true).await?;
        tx.commit().await?;
        self.outbox.wake();
        Ok(view)
    }

    /// Puts returned units back on hand in the warehouses they shipped from, inside the
    /// consumer's transaction (with its inbox row, so a redelivery restocks nothing
    /// twice). Each line is a `return` ledger row referencing the return.
    #[tracing::instrument(skip_all, fields(return_id = %restock.return_id), err(level = "debug"))]
    pub async fn restock_return_in(
        &self,
        tx: &mut Tx,
        actor: &str,
        restock: &Restock,
    ) -> Result<Result<(), InventoryError>, platform::db::Error> {
        let now = self.clock.now_millis();
        let reason = format!("returned ({})", restock.return_id);
        let mut targets = Vec::with_capacity(restock.lines.len());
        for line in &restock.lines {
            let Some(warehouse) = store::warehouse(&mut **tx, &line.warehouse).await? else {
                return Ok(Err(InventoryError::UnknownWarehouse));
            };
            store::ensure_level(tx, &line.sku, &warehouse.id, now).await?;
            targets.push((line, warehouse.id));
        }
        // Each sku's stock under lock, in sku order like every other change.
        let mut skus: Vec<&Sku> = targets.iter().map(|(line, _)| &line.sku).collect();
        skus.sort();
        skus.dedup();
        let mut stocks = Vec::with_capacity(skus.len());
        for sku in skus {
            stocks.push(self.stock_for_update(tx, sku).await?);
        }
        for (line, warehouse_id) in &targets {
            let refused =
                || platform::db::Error::Protocol("a return could not be restocked".into());
            let stock = stocks
                .iter_mut()
                .find(|s| s.sku() == &line.sku)
                .ok_or_else(refused)?;
            let change = stock
                .restock(warehouse_id, line.quantity)
                .map_err(|_| refused())?;
            let movement = Movement {
                sku: &line.sku,
                warehouse_id,
                change,
                reason: &reason,
                actor,
                reference: Some(&restock.return_id),
            };
            if !store::apply_movement(tx, &movement, now).await? {
                return Err(refused());
            }
            self.outbox
                .stage(
                    tx,
                    &adjusted_event(&line.sku, warehouse_id, change.on_hand_delta(), &reason),
                )
                .await?;
        }
        for stock in &mut stocks {
            self.changed(tx, stock, false).await?;
        }
        Ok(Ok(()))
    }

    /// `sku`'s stock, its levels locked for the rest of `tx`.
    pub(super) async fn stock_for_update(
        &self,
        tx: &mut Tx,
        sku: &Sku,
    ) -> Result<StockLevel, platform::db::Error> {
        store::stock_level_for_update(
            tx,
            self.db.dialect(),
            sku,
            self.default_low_stock_threshold(),
        )
        .await
    }
}
