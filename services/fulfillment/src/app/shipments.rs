//! Shipments as their owner and operators see them (one, an order's, or every one for
//! operators), an operator's moves (dispatch, deliver), and how any move is written:
//! the aggregate's transition stored as one conditional update, each status entered
//! recorded in the history, and the events it implies staged with it.

use platform::auth::Principal;
use platform::db::Tx;

use super::{FulfillmentApp, FulfillmentError, POLICY};
use crate::domain::{Shipment, ShipmentStatus, ShipmentTransitionError, TrackingEntry, Transition};
use crate::store;

/// A shipment with its tracking history.
#[derive(Debug, Clone)]
pub struct ShipmentDetail {
    /// The shipment.
    pub shipment: Shipment,
    /// Its tracking history, oldest first.
    pub events: Vec<TrackingEntry>,
    /// Where the customer can follow it.
    pub tracking_url: Option<String>,
}

/// What is said about a shipment's status change in its history.
#[derive(Clone, Copy)]
pub(super) struct Report<'a> {
    /// When it happened, epoch ms.
    pub at: i64,
    /// Where.
    pub location: Option<&'a str>,
    /// What happened.
    pub description: Option<&'a str>,
    /// Who says so.
    pub source: &'a str,
}

/// An operator's move of a shipment, as the aggregate applies it.
type OperatorMove = fn(&mut Shipment, i64, i64) -> Result<Transition, ShipmentTransitionError>;

impl FulfillmentApp {
    /// A shipment `caller` may see.
    pub(super) async fn visible_shipment(
        &self,
        caller: &Principal,
        id: &str,
    ) -> Result<Shipment, FulfillmentError> {
        if !platform::ids::is_uuid(id) {
            return Err(FulfillmentError::NotFound);
        }
        let mut conn = self.db.reader().acquire().await?;
        match store::shipments::get(&mut conn, id).await? {
            Some(s) if POLICY.may_see(caller, &s.user_id) => Ok(s),
            _ => Err(FulfillmentError::NotFound),
        }
    }

    async fn detail(&self, shipment: Shipment) -> Result<ShipmentDetail, FulfillmentError> {
        let events = store::shipments::history(self.db.reader(), &shipment.id).await?;
        Ok(ShipmentDetail {
            tracking_url: self.tracking_url(&shipment),
            shipment,
            events,
        })
    }

    /// A shipment the caller may see, with its history.
    #[tracing::instrument(skip_all, fields(shipment_id = %id), err(level = "debug"))]
    pub async fn shipment(
        &self,
        caller: &Principal,
        id: &str,
    ) -> Result<ShipmentDetail, FulfillmentError> {
        let shipment = self.visible_shipment(caller, id).await?;
        self.detail(shipment).await
    }

    /// The shipments of an order the caller may see, by id after `after`. Unknown
    /// orders are not found for customers (their owner is unknown) and empty for
    /// operators.
    #[tracing::instrument(skip_all, fields(order_id = %order_id), err(level = "debug"))]
    pub async fn order_shipments(
        &self,
        caller: &Principal,
        order_id: &str,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<ShipmentDetail>, FulfillmentError> {
        if !POLICY.may_manage(caller) {
            let owner = store::facts::owner(self.db.reader(), order_id).await?;
            if !owner.is_some_and(|o| POLICY.may_see(caller, &o)) {
                return Err(FulfillmentError::NotFound);
            }
        }
        let mut conn = self.db.reader().acquire().await?;
        let shipments = store::shipments::of_order(&mut conn, order_id, after, limit).await?;
        drop(conn);
        let mut details = Vec::with_capacity(shipments.len());
        for shipment in shipments {
            details.push(self.detail(shipment).await?);
        }
        Ok(details)
    }

    /// Every shipment newest first, in `status` or (with `None`) any, before the id
    /// `before`, with their histories: what operators see (the caller is checked by
    /// the handler, as for their moves).
    #[tracing::instrument(skip_all, fields(status = status.map(ShipmentStatus::as_str)), err(level = "debug"))]
    pub async fn shipments(
        &self,
        status: Option<ShipmentStatus>,
        before: Option<&str>,
        limit: i64,
    ) -> Result<Vec<ShipmentDetail>, FulfillmentError> {
        let mut conn = self.db.reader().acquire().await?;
        let shipments = store::shipments::list(&mut conn, status, before, limit).await?;
        drop(conn);
        let mut details = Vec::with_capacity(shipments.len());
        for shipment in shipments {
            details.push(self.detail(shipment).await?);
        }
        Ok(details)
    }

    /// An operator (`actor`) hands a shipment to its carrier.
    #[tracing::instrument(skip_all, fields(shipment_id = %id), err(level = "debug"))]
    pub async fn dispatch(
        &self,
        actor: &str,
        id: &str,
    ) -> Result<ShipmentDetail, FulfillmentError> {
        self.operate(actor, id, Shipment::dispatch).await
    }

    /// An operator (`actor`) confirms a shipment's delivery.
    #[tracing::instrument(skip_all, fields(shipment_id = %id), err(level = "debug"))]
    pub async fn deliver(&self, actor: &str, id: &str) -> Result<ShipmentDetail, FulfillmentError> {
        self.operate(actor, id, Shipment::deliver).await
    }

    async fn operate(
        &self,
        actor: &str,
        id: &str,
        act: OperatorMove,
    ) -> Result<ShipmentDetail, FulfillmentError> {
        if !platform::ids::is_uuid(id) {
            return Err(FulfillmentError::NotFound);
        }
        let now = self.clock.now_millis();
        let mut tx = self.db.begin().await?;
        let order_id = store::shipments::get(&mut tx, id)
            .await?
            .ok_or(FulfillmentError::NotFound)?
            .into_parts()
            .0
            .order_id;
        let mut shipment = self.lock_order_and_read(&mut tx, &order_id, id).await?;
        let transition = act(&mut shipment, now, now)?;
        let description = format!(
            "{} by an operator",
            shipment.status().as_str().replace('_', " ")
        );
        let report = Report {
            at: now,
            location: None,
            description: Some(&description),
            source: actor,
        };
        self.move_in(&mut tx, &shipment, &transition, &report)
            .await?;
        tx.commit().await?;
        self.outbox.wake();
        self.detail(shipment).await
    }

    /// Locks the order's facts for the rest of `tx` (PostgreSQL), then reads the
    /// shipment. Status changes of one order's shipments thus run one after the other,
    /// so the last of two parcels delivered at once sees the other delivered and
    /// announces the order delivered; and every writer takes the order before its
    /// shipments, so they never wait on each other in a cycle.
    pub(super) async fn lock_order_and_read(
        &self,
        tx: &mut Tx,
        order_id: &str,
        shipment_id: &str,
    ) -> Result<Shipment, FulfillmentError> {
        store::facts::lock(tx, self.db.dialect(), order_id).await?;
        store::shipments::get(tx, shipment_id)
            .await?
            .ok_or(FulfillmentError::NotFound)
    }

    /// Writes `shipment`'s `transition` (its new state, if it is still where the
    /// transition left it), recording each status entered in its history and staging
    /// the events each implies. The last status carries the report; earlier ones are
    /// implied by it.
    pub(super) async fn move_in(
        &self,
        tx: &mut Tx,
        shipment: &Shipment,
        transition: &Transition,
        report: &Report<'_>,
    ) -> Result<(), FulfillmentError> {
        if !store::shipments::save_move(tx, shipment, transition.from).await? {
            // Another change won the race; this one no longer applies.
            return Err(ShipmentTransitionError {
                from: transition.from,
                to: transition.first(),
            }
            .into());
        }
        let last = transition.entered.len().saturating_sub(1);
        for (i, status) in transition.entered.iter().copied().enumerate() {
            let implied = format!(
                "{} (implied by a later update)",
                status.as_str().replace('_', " ")
            );
            let step = if i == last {
                *report
            } else {
                Report {
                    at: report.at,
                    location: None,
                    description: Some(&implied),
                    source: report.source,
                }
            };
            self.record_in(tx, shipment, status, &step).await?;
            self.announce_in(tx, shipment, status, &step).await?;
        }
        Ok(())
    }

    /// Records `status` in `shipment`'s history, as `report` tells it.
    pub(super) async fn record_in(
        &self,
        tx: &mut Tx,
        shipment: &Shipment,
        status: ShipmentStatus,
        report: &Report<'_>,
    ) -> Result<(), platform::db::Error> {
        let entry = TrackingEntry {
            id: platform::ids::new_id(),
            shipment_id: shipment.id.clone(),
            status,
            occurred_at: report.at,
            location: report.location.map(str::to_owned),
            description: report.description.map(str::to_owned),
            source: report.source.to_owned(),
            recorded_at: self.clock.now_millis(),
        };
        store::shipments::insert_entry(tx, &entry).await.map(|_| ())
    }

    /// Stages the event entering `status` means for others, if any.
    async fn announce_in(
        &self,
        tx: &mut Tx,
        shipment: &Shipment,
        status: ShipmentStatus,
        report: &Report<'_>,
    ) -> Result<(), platform::db::Error> {
        match status {
            ShipmentStatus::Dispatched => {
                let event = shipment.dispatched_event(self.tracking_url(shipment), report.at);
                self.outbox.stage(tx, &event).await?;
            }
            ShipmentStatus::Delivered => {
                let order_delivered =
                    store::shipments::due_count(tx, &shipment.order_id).await? == 0;
                let event = shipment.delivered_event(report.at, order_delivered);
                self.outbox.stage(tx, &event).await?;
            }
            ShipmentStatus::FailedDelivery => {
                let reason = report
                    .description
                    .unwrap_or("the carrier could not deliver");
                self.outbox
                    .stage(tx, &shipment.failed_event(reason))
                    .await?;
            }
            ShipmentStatus::Returned => {
                self.outbox.stage(tx, &shipment.returned_event()).await?;
            }
            _ => {}
        }
        Ok(())
    }
}
