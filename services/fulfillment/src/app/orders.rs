//! Opening and cancelling shipments as ordering's and inventory's events arrive (run
//! inside the event consumer's transaction): an order's shipments open, one per
//! warehouse, once both its confirmation and its stock commit are known; a cancelled
//! order stops those that have not left.

use contracts::ordering::OrderLine;
use platform::db::Tx;

use super::shipments::Report;
use super::{FulfillmentApp, FulfillmentError, SYSTEM};
use crate::domain::{Allocation, Shipment, ShipmentFacts, ShipmentStatus, ShippingAddress};
use crate::store;

impl FulfillmentApp {
    /// Keeps what ordering's confirmation tells of an order and opens its shipments if
    /// the stock commit is known too; returns how many opened.
    #[tracing::instrument(skip_all, fields(order_id = %order_id), err(level = "debug"))]
    pub async fn confirmed_in(
        &self,
        tx: &mut Tx,
        order_id: &str,
        user_id: &str,
        ship_to: Option<&ShippingAddress>,
        items: &[OrderLine],
    ) -> Result<usize, platform::db::Error> {
        let now = self.clock.now_millis();
        store::facts::record_confirmed(tx, order_id, user_id, ship_to, items, now).await?;
        self.open_if_ready_in(tx, order_id).await
    }

    /// Keeps inventory's allocations of an order and opens its shipments if the
    /// confirmation is known too; returns how many opened.
    #[tracing::instrument(skip_all, fields(order_id = %order_id), err(level = "debug"))]
    pub async fn committed_in(
        &self,
        tx: &mut Tx,
        order_id: &str,
        allocations: &[Allocation],
    ) -> Result<usize, platform::db::Error> {
        let now = self.clock.now_millis();
        store::facts::record_committed(tx, order_id, allocations, now).await?;
        self.open_if_ready_in(tx, order_id).await
    }

    /// Opens one shipment per warehouse of the order's allocations, once the order is
    /// ready (see [`crate::domain::OrderFacts::ready_to_open`]); returns how many
    /// opened.
    async fn open_if_ready_in(
        &self,
        tx: &mut Tx,
        order_id: &str,
    ) -> Result<usize, platform::db::Error> {
        let Some(order) = store::facts::get(&mut **tx, order_id)
            .await?
            .and_then(|facts| facts.ready_to_open())
        else {
            return Ok(0);
        };
        let carrier = self
            .carriers
            .default_carrier()
            .ok_or_else(|| platform::db::Error::Protocol("no carrier configured".into()))?;
        let now = self.clock.now_millis();
        let mut opened = 0;
        for (warehouse_id, lines) in order.parcels {
            let units: u64 = lines.iter().map(|l| u64::from(l.quantity)).sum();
            let weight = units.saturating_mul(u64::from(self.config.unit_weight_grams));
            let weight_grams = u32::try_from(weight).unwrap_or(u32::MAX);
            let parcel = self.parcel(&warehouse_id, weight_grams, order.ship_to.as_ref());
            let shipment = Shipment::open(
                ShipmentFacts {
                    id: platform::ids::new_id(),
                    order_id: order.order_id.clone(),
                    user_id: order.user_id.clone(),
                    warehouse_id,
                    carrier: carrier.code().to_owned(),
                    tracking_number: carrier.new_tracking_number(),
                    rate: carrier.quote(&parcel).rate,
                    weight_grams,
                    ship_to: order.ship_to.clone(),
                    lines,
                },
                now,
            );
            // The unique (order, warehouse) key is the last guard against a second
            // opening; the order's `opened_at` is the first.
            if !store::shipments::insert(tx, &shipment).await? {
                continue;
            }
            let label = format!("label created with {}", carrier.name());
            for (status, description) in [
                (ShipmentStatus::Pending, "shipment opened"),
                (ShipmentStatus::LabelCreated, label.as_str()),
            ] {
                let report = Report {
                    at: now,
                    location: None,
                    description: Some(description),
                    source: SYSTEM,
                };
                self.record_in(tx, &shipment, status, &report).await?;
            }
            self.outbox.stage(tx, &shipment.created_event()).await?;
            opened += 1;
        }
        store::facts::mark_opened(tx, order_id, now).await?;
        Ok(opened)
    }

    /// Cancels an order's shipments that have not left yet (the order was cancelled);
    /// returns how many. Those already on their way go on, and are logged.
    #[tracing::instrument(skip_all, fields(order_id = %order_id), err(level = "debug"))]
    pub async fn cancelled_in(
        &self,
        tx: &mut Tx,
        order_id: &str,
        reason: &str,
    ) -> Result<usize, platform::db::Error> {
        let now = self.clock.now_millis();
        store::facts::record_cancelled(tx, order_id, now).await?;
        let shipments = store::shipments::of_order(tx, order_id, None, 1_000).await?;
        let description = format!("order cancelled: {reason}");
        let report = Report {
            at: now,
            location: None,
            description: Some(&description),
            source: SYSTEM,
        };
        let mut cancelled = 0;
        for mut shipment in shipments {
            let status = shipment.status();
            if status.has_left() {
                tracing::warn!(
                    shipment_id = %shipment.id,
                    status = %status,
                    "order cancelled after its shipment left; the shipment goes on"
                );
                continue;
            }
            let Ok(transition) = shipment.cancel(now) else {
                continue;
            };
            match self.move_in(tx, &shipment, &transition, &report).await {
                Ok(()) => cancelled += 1,
                Err(FulfillmentError::Sql(err)) => return Err(err),
                // Changed under us; it is whatever the other change made it.
                Err(_) => {}
            }
        }
        Ok(cancelled)
    }
}
