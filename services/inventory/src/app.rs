//! Inventory's operations. Each runs in one transaction with its ledger rows and events;
//! the `*_in` forms run inside a transaction the caller owns (the event consumer's,
//! which also holds the inbox row).

use contracts::fulfillment::ReturnReceived;
use contracts::inventory::{
    Allocation, ReservationFailed, StockAdjusted, StockCommitted, StockLow, StockReleased,
    StockReserved, StockUpdated,
};
use platform::bus::Outbox;
use platform::db::{Db, Tx, is_unique_violation};
use platform::time::Clock;

use crate::InventoryConfig;
use crate::domain::{
    self, AdjustRefusal, Level, Quantity, ReservationStatus, Sku, Text, WarehouseCode,
};
use crate::store::{self, Movement, ReservationRecord, Warehouse};

/// Why an inventory operation failed.
#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    /// No warehouse with that id or code.
    #[error("warehouse not found")]
    UnknownWarehouse,
    /// The warehouse code is taken.
    #[error("a warehouse with this code already exists")]
    WarehouseCodeTaken,
    /// Not enough free stock for these skus; nothing was reserved.
    #[error("insufficient stock for {}", .0.join(", "))]
    Insufficient(Vec<String>),
    /// The adjustment would take on-hand below what is reserved.
    #[error("on_hand would fall below the {0} units reserved")]
    BelowReserved(i64),
    /// The adjustment would take on-hand below zero.
    #[error("on_hand would fall below zero")]
    BelowZero,
    /// No reservation for the order.
    #[error("no reservation for this order")]
    NoReservation,
    /// The reservation is no longer active.
    #[error("the reservation is {0}")]
    ReservationClosed(String),
    /// The database failed.
    #[error(transparent)]
    Sql(#[from] platform::db::Error),
}

/// A sku's stock across warehouses.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StockView {
    /// The sku.
    pub sku: String,
    /// Units on hand.
    pub on_hand: i64,
    /// Units reserved.
    pub reserved: i64,
    /// Units free to reserve.
    pub available: i64,
    /// Per warehouse.
    pub locations: Vec<LocationView>,
}

/// Stock in one warehouse.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LocationView {
    /// The warehouse.
    pub warehouse_id: String,
    /// Units on hand.
    pub on_hand: i64,
    /// Units reserved.
    pub reserved: i64,
}

impl StockView {
    fn new(sku: &str, levels: Vec<domain::Level>) -> Self {
        let on_hand = levels.iter().map(|l| l.on_hand).sum();
        let reserved = levels.iter().map(|l| l.reserved).sum();
        Self {
            sku: sku.to_owned(),
            on_hand,
            reserved,
            available: on_hand - reserved,
            locations: levels
                .into_iter()
                .map(|l| LocationView {
                    warehouse_id: l.warehouse_id,
                    on_hand: l.on_hand,
                    reserved: l.reserved,
                })
                .collect(),
        }
    }
}

/// The inventory service's operations.
#[derive(Clone)]
pub struct InventoryApp {
    pub(crate) db: Db,
    pub(crate) outbox: Outbox,
    pub(crate) clock: Clock,
    pub(crate) config: InventoryConfig,
}

impl InventoryApp {
    /// The service's database.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Creates a warehouse.
    pub async fn create_warehouse(
        &self,
        code: WarehouseCode,
        name: Text<100>,
    ) -> Result<Warehouse, InventoryError> {
        let warehouse = Warehouse {
            id: platform::ids::new_id(),
            code: code.as_str().to_owned(),
            name: name.as_str().to_owned(),
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

    /// An order's reservation, whatever its status.
    pub async fn reservation(&self, order_id: &str) -> Result<ReservationRecord, InventoryError> {
        let mut tx = self.db.begin().await?;
        let found = store::reservation_by_order(&mut tx, order_id).await?;
        tx.rollback().await?;
        found.ok_or(InventoryError::NoReservation)
    }

    /// A sku's stock now (zero everywhere for a sku never adjusted).
    pub async fn stock(&self, sku: &Sku) -> Result<StockView, InventoryError> {
        Ok(StockView::new(
            sku.as_str(),
            store::levels(self.db.reader(), sku.as_str()).await?,
        ))
    }

    /// Adds or removes on-hand units in one warehouse.
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
        store::ensure_level(&mut tx, sku.as_str(), &warehouse.id, now).await?;
        let levels = store::levels_for_update(&mut tx, self.db.dialect(), sku.as_str()).await?;
        let level = levels
            .iter()
            .find(|l| l.warehouse_id == warehouse.id)
            .ok_or(InventoryError::UnknownWarehouse)?;
        domain::adjust(level, delta).map_err(|refusal| match refusal {
            AdjustRefusal::BelowZero => InventoryError::BelowZero,
            AdjustRefusal::BelowReserved => InventoryError::BelowReserved(level.reserved),
        })?;
        let movement = Movement {
            sku: sku.as_str(),
            warehouse_id: &warehouse.id,
            kind: "adjust",
            on_hand_delta: delta,
            reserved_delta: 0,
            reason: reason.as_str(),
            actor,
            reference: None,
        };
        if !store::apply_movement(&mut tx, &movement, now).await? {
            return Err(InventoryError::BelowReserved(level.reserved));
        }
        self.outbox
            .stage(
                &mut tx,
                &StockAdjusted {
                    sku: sku.as_str().to_owned(),
                    warehouse_id: warehouse.id.clone(),
                    delta,
                    reason: reason.as_str().to_owned(),
                },
            )
            .await?;
        let view = self.after_change(&mut tx, sku.as_str()).await?;
        tx.commit().await?;
        self.outbox.wake();
        Ok(view)
    }

    /// Puts returned units back on hand in the warehouses they shipped from, inside the
    /// consumer's transaction (with its inbox row, so a redelivery restocks nothing
    /// twice). Each line is a `return` ledger row referencing the return.
    pub async fn restock_return_in(
        &self,
        tx: &mut Tx,
        actor: &str,
        returned: &ReturnReceived,
    ) -> Result<Result<(), InventoryError>, platform::db::Error> {
        let now = self.clock.now_millis();
        let reason = format!("returned ({})", returned.return_id);
        let mut skus: Vec<&str> = Vec::new();
        for line in &returned.lines {
            let Some(warehouse) = store::warehouse(&mut **tx, &line.warehouse_id).await? else {
                return Ok(Err(InventoryError::UnknownWarehouse));
            };
            store::ensure_level(tx, &line.sku, &warehouse.id, now).await?;
            let delta = i64::from(line.quantity);
            let movement = Movement {
                sku: &line.sku,
                warehouse_id: &warehouse.id,
                kind: "return",
                on_hand_delta: delta,
                reserved_delta: 0,
                reason: &reason,
                actor,
                reference: Some(&returned.return_id),
            };
            if !store::apply_movement(tx, &movement, now).await? {
                return Err(platform::db::Error::Protocol(
                    "a return could not be restocked".into(),
                ));
            }
            self.outbox
                .stage(
                    tx,
                    &StockAdjusted {
                        sku: line.sku.clone(),
                        warehouse_id: warehouse.id.clone(),
                        delta,
                        reason: reason.clone(),
                    },
                )
                .await?;
            if !skus.contains(&line.sku.as_str()) {
                skus.push(&line.sku);
            }
        }
        for sku in skus {
            self.after_change(tx, sku).await?;
        }
        Ok(Ok(()))
    }

    /// Sets a sku's low-stock threshold.
    pub async fn set_threshold(
        &self,
        sku: &Sku,
        threshold: i64,
    ) -> Result<StockView, InventoryError> {
        let mut tx = self.db.begin().await?;
        let (_, was_low) = store::sku_setting(
            &mut tx,
            sku.as_str(),
            self.config.default_low_stock_threshold,
        )
        .await?;
        store::save_sku_setting(&mut tx, sku.as_str(), threshold, was_low).await?;
        let view = self.after_change(&mut tx, sku.as_str()).await?;
        tx.commit().await?;
        self.outbox.wake();
        Ok(view)
    }

    /// Reserves every line or none (HTTP). A second call for the same order returns
    /// the reservation made by the first.
    pub async fn reserve(
        &self,
        actor: &str,
        order_id: &str,
        items: &[(Sku, Quantity)],
        ttl_secs: i64,
    ) -> Result<ReservationRecord, InventoryError> {
        let mut tx = self.db.begin().await?;
        let result = match self
            .reserve_in(&mut tx, actor, order_id, items, ttl_secs)
            .await
        {
            Ok(result) => result,
            // A concurrent call for the same order won the race to insert it (PostgreSQL
            // checks the unique order id at insert, after this call's own lookup); its
            // reservation is the answer, as for any repeated call.
            Err(err) if is_unique_violation(&err) => {
                tx.rollback().await?;
                let mut tx = self.db.begin().await?;
                let existing = store::reservation_by_order(&mut tx, order_id).await?;
                tx.rollback().await?;
                return existing.ok_or(InventoryError::NoReservation);
            }
            Err(err) => return Err(err.into()),
        };
        tx.commit().await?;
        self.outbox.wake();
        result
    }

    /// Reserves inside `tx`. The outer `Result` is the database; the inner one is the
    /// business outcome, whose failure event is staged too, so the caller commits both.
    pub async fn reserve_in(
        &self,
        tx: &mut Tx,
        actor: &str,
        order_id: &str,
        items: &[(Sku, Quantity)],
        ttl_secs: i64,
    ) -> Result<Result<ReservationRecord, InventoryError>, platform::db::Error> {
        if let Some(existing) = store::reservation_by_order(tx, order_id).await? {
            return Ok(Ok(existing));
        }
        let now = self.clock.now_millis();
        // One line per sku, locked in sku order so concurrent reservations never
        // wait on each other in a cycle.
        let mut wanted: std::collections::BTreeMap<&str, u32> = std::collections::BTreeMap::new();
        for (sku, quantity) in items {
            let entry = wanted.entry(sku.as_str()).or_default();
            *entry = entry.saturating_add(quantity.get());
        }
        let mut plan = Vec::new();
        let mut short = Vec::new();
        // Each sku's levels as locked, with its low-stock settings: what the change
        // leaves is known from them and the plan, without reading them again.
        let mut before = Vec::with_capacity(wanted.len());
        let lock = self.db.dialect().row_lock_of("l");
        let default_threshold = self.config.default_low_stock_threshold;
        for (sku, quantity) in &wanted {
            let (levels, threshold, was_low) =
                store::levels_and_setting(tx, sku, default_threshold, &lock).await?;
            match domain::allocate(&levels, *quantity) {
                Some(taken) => {
                    plan.extend(taken.into_iter().map(|(w, q)| ((*sku).to_owned(), w, q)))
                }
                None => short.push((*sku).to_owned()),
            }
            before.push((*sku, levels, threshold, was_low));
        }
        if !short.is_empty() {
            let failure = InventoryError::Insufficient(short.clone());
            self.outbox
                .stage(
                    tx,
                    &ReservationFailed {
                        order_id: order_id.to_owned(),
                        reason: failure.to_string(),
                        short_skus: short,
                    },
                )
                .await?;
            return Ok(Err(failure));
        }
        let reservation = ReservationRecord {
            id: platform::ids::new_id(),
            order_id: order_id.to_owned(),
            status: ReservationStatus::Active.as_str().to_owned(),
            expires_at: now + ttl_secs * 1000,
            lines: plan
                .iter()
                .map(|(s, w, q)| (s.clone(), w.clone(), i64::from(*q)))
                .collect(),
        };
        for (sku, warehouse_id, quantity) in &plan {
            let movement = Movement {
                sku,
                warehouse_id,
                kind: "reserve",
                on_hand_delta: 0,
                reserved_delta: i64::from(*quantity),
                reason: "order reservation",
                actor,
                reference: Some(order_id),
            };
            if !store::apply_movement(tx, &movement, now).await? {
                // The plan was made under lock, so this means the lock is not held
                // (a bug); refuse rather than oversell.
                return Err(platform::db::Error::Protocol(
                    "stock changed under a reservation lock".into(),
                ));
            }
        }
        store::insert_reservation(tx, &reservation, now).await?;
        self.outbox
            .stage(
                tx,
                &StockReserved {
                    order_id: order_id.to_owned(),
                    reservation_id: reservation.id.clone(),
                    allocations: allocations(&reservation),
                    expires_at: platform::time::rfc3339(reservation.expires_at),
                },
            )
            .await?;
        for (sku, mut levels, threshold, was_low) in before {
            for level in &mut levels {
                level.reserved += plan
                    .iter()
                    .filter(|(s, w, _)| s == sku && *w == level.warehouse_id)
                    .map(|(_, _, q)| i64::from(*q))
                    .sum::<i64>();
            }
            self.changed(tx, sku, levels, threshold, was_low).await?;
        }
        Ok(Ok(reservation))
    }

    /// Releases an order's reservation (HTTP).
    pub async fn release(
        &self,
        actor: &str,
        order_id: &str,
    ) -> Result<ReservationRecord, InventoryError> {
        let mut tx = self.db.begin().await?;
        let result = self
            .release_in(&mut tx, actor, order_id, ReservationStatus::Released)
            .await?;
        tx.commit().await?;
        self.outbox.wake();
        result
    }

    /// Releases inside `tx`, as `Released` or `Expired`.
    pub async fn release_in(
        &self,
        tx: &mut Tx,
        actor: &str,
        order_id: &str,
        as_status: ReservationStatus,
    ) -> Result<Result<ReservationRecord, InventoryError>, platform::db::Error> {
        self.close_in(tx, actor, order_id, as_status).await
    }

    /// Commits an order's reservation: the units leave stock (HTTP).
    pub async fn commit(
        &self,
        actor: &str,
        order_id: &str,
    ) -> Result<ReservationRecord, InventoryError> {
        let mut tx = self.db.begin().await?;
        let result = self
            .close_in(&mut tx, actor, order_id, ReservationStatus::Committed)
            .await?;
        tx.commit().await?;
        self.outbox.wake();
        result
    }

    /// Closes an active reservation as `status`, moving stock accordingly.
    pub async fn close_in(
        &self,
        tx: &mut Tx,
        actor: &str,
        order_id: &str,
        status: ReservationStatus,
    ) -> Result<Result<ReservationRecord, InventoryError>, platform::db::Error> {
        let Some(mut reservation) = store::reservation_by_order(tx, order_id).await? else {
            return Ok(Err(InventoryError::NoReservation));
        };
        let current =
            ReservationStatus::parse(&reservation.status).unwrap_or(ReservationStatus::Released);
        if current == status {
            return Ok(Ok(reservation));
        }
        if !current.can_become(status) {
            return Ok(Err(InventoryError::ReservationClosed(reservation.status)));
        }
        let now = self.clock.now_millis();
        if !store::close_reservation(tx, &reservation.id, current.as_str(), status.as_str(), now)
            .await?
        {
            return Ok(Err(InventoryError::ReservationClosed(reservation.status)));
        }
        // (ledger kind, on-hand change, reserved change) per unit.
        let (kind, on_hand_sign, reserved_sign) = match status {
            ReservationStatus::Committed => ("commit", -1, -1),
            ReservationStatus::Returned => ("return", 1, 0),
            ReservationStatus::Expired => ("expire", 0, -1),
            _ => ("release", 0, -1),
        };
        let commits = status == ReservationStatus::Committed;
        let mut skus: Vec<String> = Vec::new();
        for (sku, warehouse_id, quantity) in &reservation.lines {
            let movement = Movement {
                sku,
                warehouse_id,
                kind,
                on_hand_delta: on_hand_sign * quantity,
                reserved_delta: reserved_sign * quantity,
                reason: kind,
                actor,
                reference: Some(order_id),
            };
            if !store::apply_movement(tx, &movement, now).await? {
                return Err(platform::db::Error::Protocol(
                    "reservation larger than the reserved stock".into(),
                ));
            }
            if !skus.contains(sku) {
                skus.push(sku.clone());
            }
        }
        reservation.status = status.as_str().to_owned();
        if commits {
            self.outbox
                .stage(
                    tx,
                    &StockCommitted {
                        order_id: order_id.to_owned(),
                        reservation_id: reservation.id.clone(),
                        allocations: allocations(&reservation),
                    },
                )
                .await?;
        } else {
            self.outbox
                .stage(
                    tx,
                    &StockReleased {
                        order_id: order_id.to_owned(),
                        reservation_id: reservation.id.clone(),
                        reason: status.as_str().to_owned(),
                    },
                )
                .await?;
        }
        for sku in &skus {
            self.after_change(tx, sku).await?;
        }
        Ok(Ok(reservation))
    }

    /// Releases every active reservation past its expiry; returns how many.
    pub async fn expire_due(&self) -> Result<usize, InventoryError> {
        let due =
            store::expired_reservations(self.db.reader(), self.clock.now_millis(), 100).await?;
        let mut expired = 0;
        for order_id in due {
            // One reservation that cannot be expired must not hold back the others.
            match self.expire_one(&order_id).await {
                Ok(true) => expired += 1,
                Ok(false) => {}
                Err(err) => {
                    tracing::warn!(order_id = %order_id, error = %err, "cannot expire reservation")
                }
            }
        }
        if expired > 0 {
            self.outbox.wake();
        }
        Ok(expired)
    }

    async fn expire_one(&self, order_id: &str) -> Result<bool, platform::db::Error> {
        let mut tx = self.db.begin().await?;
        let closed = self
            .close_in(&mut tx, "system", order_id, ReservationStatus::Expired)
            .await?
            .is_ok();
        tx.commit().await?;
        Ok(closed)
    }

    /// After any change of a sku: mark its totals for the announcer, and announce a
    /// low-stock crossing at once.
    async fn after_change(&self, tx: &mut Tx, sku: &str) -> Result<StockView, platform::db::Error> {
        let (levels, threshold, was_low) =
            store::levels_and_setting(tx, sku, self.config.default_low_stock_threshold, "").await?;
        self.changed(tx, sku, levels, threshold, was_low).await
    }

    /// What follows a change of `sku` that left it at `levels` (its threshold and
    /// whether it was low before): the low-stock crossing, and the mark for the totals
    /// announcer.
    async fn changed(
        &self,
        tx: &mut Tx,
        sku: &str,
        levels: Vec<Level>,
        threshold: i64,
        was_low: bool,
    ) -> Result<StockView, platform::db::Error> {
        let view = StockView::new(sku, levels);
        if let Some(is_low) = domain::low_stock_crossing(was_low, view.available, threshold) {
            store::save_sku_setting(tx, sku, threshold, is_low).await?;
            if is_low {
                self.outbox
                    .stage(
                        tx,
                        &StockLow {
                            sku: sku.to_owned(),
                            available: view.available,
                            threshold,
                        },
                    )
                    .await?;
            }
        }
        store::mark_totals_changed(tx, sku).await?;
        Ok(view)
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
            let view = StockView::new(sku, store::levels(&mut *tx, sku).await?);
            self.outbox
                .stage(
                    &mut tx,
                    &StockUpdated {
                        sku: view.sku,
                        on_hand: view.on_hand,
                        reserved: view.reserved,
                        available: view.available,
                    },
                )
                .await?;
        }
        tx.commit().await?;
        if !skus.is_empty() {
            self.outbox.wake();
        }
        Ok(skus.len())
    }
}

fn allocations(reservation: &ReservationRecord) -> Vec<Allocation> {
    reservation
        .lines
        .iter()
        .map(|(sku, warehouse_id, quantity)| Allocation {
            sku: sku.clone(),
            warehouse_id: warehouse_id.clone(),
            quantity: u32::try_from(*quantity).unwrap_or(u32::MAX),
        })
        .collect()
}
