//! Reservations: holding every line of an order or none, and closing the hold by
//! commit (the units leave stock), release, expiry, or return after commit; and, some
//! days after they closed, deleting them ([`ClosedReservations`]).

use std::collections::BTreeMap;

use platform::db::{Dialect, Tx, is_unique_violation};
use platform::retention::{DAY_MS, RetentionRule};

use super::{InventoryApp, InventoryError};
use crate::domain::{
    ClosingEvent, Quantity, Reservation, ReservationError, ReservationLine, ReservationStatus,
    Shortage, Sku, StockChange,
};
use crate::store::{self, Movement};

impl InventoryApp {
    /// An order's reservation, whatever its status.
    #[tracing::instrument(skip_all, fields(order_id = %order_id), err(level = "warn"))]
    pub async fn reservation(&self, order_id: &str) -> Result<Reservation, InventoryError> {
        let mut tx = self.db.begin().await?;
        let found = store::reservation_by_order(&mut tx, order_id).await?;
        tx.rollback().await?;
        found.ok_or(InventoryError::NoReservation)
    }

    /// Reserves every line or none (HTTP). A second call for the same order returns
    /// the reservation made by the first.
    #[tracing::instrument(skip_all, fields(order_id = %order_id), err(level = "warn"))]
    pub async fn reserve(
        &self,
        actor: &str,
        order_id: &str,
        items: &[(Sku, Quantity)],
        ttl_secs: i64,
    ) -> Result<Reservation, InventoryError> {
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
    #[tracing::instrument(skip_all, fields(order_id = %order_id), err(level = "debug"))]
    pub async fn reserve_in(
        &self,
        tx: &mut Tx,
        actor: &str,
        order_id: &str,
        items: &[(Sku, Quantity)],
        ttl_secs: i64,
    ) -> Result<Result<Reservation, InventoryError>, platform::db::Error> {
        if let Some(existing) = store::reservation_by_order(tx, order_id).await? {
            return Ok(Ok(existing));
        }
        let now = self.clock.now_millis();
        // One line per sku, locked in sku order so concurrent reservations never
        // wait on each other in a cycle.
        let mut wanted: BTreeMap<&Sku, u32> = BTreeMap::new();
        for (sku, quantity) in items {
            let entry = wanted.entry(sku).or_default();
            *entry = entry.saturating_add(quantity.get());
        }
        // Each sku's stock as locked: the aggregate takes the units, so what the change
        // leaves is known without reading the levels again.
        let mut stocks = Vec::with_capacity(wanted.len());
        let mut lines = Vec::new();
        let mut short = Vec::new();
        for (sku, quantity) in wanted {
            let mut stock = self.stock_for_update(tx, sku).await?;
            match stock.reserve(quantity) {
                Ok(taken) => lines.extend(taken.into_iter().map(|(warehouse_id, quantity)| {
                    ReservationLine {
                        sku: sku.clone(),
                        warehouse_id,
                        quantity,
                    }
                })),
                Err(_) => short.push(sku.clone()),
            }
            stocks.push(stock);
        }
        if !short.is_empty() {
            let shortage = Shortage(short);
            self.outbox
                .stage(tx, &shortage.failed_event(order_id))
                .await?;
            crate::metrics::reservation(tx, "insufficient");
            return Ok(Err(InventoryError::Insufficient(shortage)));
        }
        let reservation = Reservation::hold(
            platform::ids::new_id(),
            order_id.to_owned(),
            lines,
            now + ttl_secs * 1000,
        );
        for line in reservation.lines() {
            let movement = Movement {
                sku: &line.sku,
                warehouse_id: &line.warehouse_id,
                change: StockChange::reserve(line.quantity),
                reason: "order reservation",
                actor,
                reference: Some(order_id),
            };
            if !store::apply_movement(tx, &movement, now).await? {
                // The stock was taken under lock, so this means the lock is not held
                // (a bug); refuse rather than oversell.
                return Err(platform::db::Error::Protocol(
                    "stock changed under a reservation lock".into(),
                ));
            }
        }
        store::insert_reservation(tx, &reservation, now).await?;
        self.outbox.stage(tx, &reservation.reserved_event()).await?;
        crate::metrics::reservation(tx, "reserved");
        for stock in &mut stocks {
            self.changed(tx, stock, false).await?;
        }
        Ok(Ok(reservation))
    }

    /// Releases an order's reservation (HTTP).
    #[tracing::instrument(skip_all, fields(order_id = %order_id), err(level = "warn"))]
    pub async fn release(
        &self,
        actor: &str,
        order_id: &str,
    ) -> Result<Reservation, InventoryError> {
        self.close(actor, order_id, ReservationStatus::Released)
            .await
    }

    /// Commits an order's reservation: the units leave stock (HTTP).
    #[tracing::instrument(skip_all, fields(order_id = %order_id), err(level = "warn"))]
    pub async fn commit(&self, actor: &str, order_id: &str) -> Result<Reservation, InventoryError> {
        self.close(actor, order_id, ReservationStatus::Committed)
            .await
    }

    async fn close(
        &self,
        actor: &str,
        order_id: &str,
        to: ReservationStatus,
    ) -> Result<Reservation, InventoryError> {
        let mut tx = self.db.begin().await?;
        let result = self.close_in(&mut tx, actor, order_id, to).await?;
        tx.commit().await?;
        self.outbox.wake();
        result
    }

    /// Closes an order's reservation as `to` inside `tx`, moving stock accordingly. A
    /// reservation already in `to` is answered as it is.
    #[tracing::instrument(skip_all, fields(order_id = %order_id, to = %to), err(level = "debug"))]
    pub async fn close_in(
        &self,
        tx: &mut Tx,
        actor: &str,
        order_id: &str,
        to: ReservationStatus,
    ) -> Result<Result<Reservation, InventoryError>, platform::db::Error> {
        let Some(reservation) = store::reservation_by_order(tx, order_id).await? else {
            return Ok(Err(InventoryError::NoReservation));
        };
        self.close_found(tx, actor, reservation, to).await
    }

    /// An order was cancelled, inside `tx`: stock it holds is released, and stock it
    /// had committed (cancelled after confirmation, before shipment) goes back on hand.
    #[tracing::instrument(skip_all, fields(order_id = %order_id), err(level = "debug"))]
    pub async fn cancel_in(
        &self,
        tx: &mut Tx,
        actor: &str,
        order_id: &str,
    ) -> Result<Result<Reservation, InventoryError>, platform::db::Error> {
        let Some(reservation) = store::reservation_by_order(tx, order_id).await? else {
            return Ok(Err(InventoryError::NoReservation));
        };
        let to = if reservation.status() == ReservationStatus::Committed {
            ReservationStatus::Returned
        } else {
            ReservationStatus::Released
        };
        self.close_found(tx, actor, reservation, to).await
    }

    /// Closes `reservation` as `to`: its status first, conditional on the one the
    /// transition left (a concurrent closer makes it refuse), then each line's stock,
    /// each sku's levels locked and changed by the same transition.
    async fn close_found(
        &self,
        tx: &mut Tx,
        actor: &str,
        mut reservation: Reservation,
        to: ReservationStatus,
    ) -> Result<Result<Reservation, InventoryError>, platform::db::Error> {
        let closing = match reservation.close(to) {
            Ok(Some(closing)) => closing,
            Ok(None) => return Ok(Ok(reservation)),
            Err(ReservationError(status)) => {
                return Ok(Err(InventoryError::ReservationClosed(status)));
            }
        };
        let now = self.clock.now_millis();
        if !store::close_reservation(tx, reservation.id(), &closing, now).await? {
            return Ok(Err(InventoryError::ReservationClosed(closing.from)));
        }
        crate::metrics::reservation_closed(tx, closing.to);
        let larger =
            || platform::db::Error::Protocol("reservation larger than the reserved stock".into());
        // The lines come by sku: one stock per run of lines, locked in sku order.
        let mut stocks = Vec::new();
        for lines in reservation.lines().chunk_by(|a, b| a.sku == b.sku) {
            let Some(first) = lines.first() else { continue };
            let mut stock = self.stock_for_update(tx, &first.sku).await?;
            for line in lines {
                let change = closing.apply_to(&mut stock, line).map_err(|_| larger())?;
                let movement = Movement {
                    sku: &line.sku,
                    warehouse_id: &line.warehouse_id,
                    change,
                    reason: change.kind().as_str(),
                    actor,
                    reference: Some(reservation.order_id()),
                };
                if !store::apply_movement(tx, &movement, now).await? {
                    return Err(larger());
                }
            }
            stocks.push(stock);
        }
        match closing.event(&reservation) {
            ClosingEvent::Committed(event) => self.outbox.stage(tx, &event).await?,
            ClosingEvent::Released(event) => self.outbox.stage(tx, &event).await?,
        };
        for stock in &mut stocks {
            self.changed(tx, stock, false).await?;
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
}

/// Inventory's rule for the retention sweep: closed reservations (and their lines)
/// are deleted `reservation_retention_days` after they closed, committed ones
/// `committed_reservation_retention_days` after their commit; active ones never. The
/// stock ledger keeps every movement they made, and a redelivered order event cannot
/// reserve again meanwhile: the consumer's inbox or cursor has it long before then.
pub struct ClosedReservations {
    dialect: Dialect,
    closed_days: u32,
    committed_days: u32,
}

impl ClosedReservations {
    /// The rule for `app`'s database and configuration.
    pub fn new(app: &InventoryApp) -> Self {
        Self {
            dialect: app.db.dialect(),
            closed_days: app.config.reservation_retention_days,
            committed_days: app.config.committed_reservation_retention_days,
        }
    }
}

#[async_trait::async_trait]
impl RetentionRule for ClosedReservations {
    fn table(&self) -> &'static str {
        "reservations"
    }

    async fn delete_batch(
        &self,
        tx: &mut Tx,
        now: i64,
        limit: i64,
    ) -> Result<u64, platform::db::Error> {
        let before = |days: u32| now.saturating_sub(i64::from(days).saturating_mul(DAY_MS));
        store::delete_closed_reservations(
            tx,
            self.dialect,
            before(self.closed_days),
            before(self.committed_days),
            limit,
        )
        .await
    }
}
