//! Fulfillment's operations: opening shipments once an order's confirmation and stock
//! commit are both known, moving shipments along their state machine (operators and
//! carrier webhooks), labels and rates, and returns. Each runs in one transaction with
//! the events it emits; the `*_in` forms run inside the event consumer's transaction,
//! which also holds the inbox row, so a redelivered event has no second effect.

use std::collections::BTreeMap;
use std::sync::Arc;

use contracts::fulfillment::{
    ParcelLine, ReturnReceived, ReturnRequested, ReturnedLine, ShipmentCreated, ShipmentDelivered,
    ShipmentDispatched, ShipmentFailed, ShipmentReturned,
};
use contracts::inventory::Allocation;
use contracts::ordering::{OrderLine, ShippingAddress};
use platform::bus::Outbox;
use platform::db::{Db, Tx};
use platform::time::Clock;

use crate::carrier::{Carriers, signature_is_valid};
use crate::domain::{
    self, Carrier, LineRefusal, Parcel, Place, Quote, ReturnRefusal, ReturnStatus, ShipmentStatus,
    Text,
};
use crate::label::{self, Label};
use crate::store::{self, ReturnLineRecord, ReturnRecord, ShipmentRecord, TrackingEvent};
use crate::{FulfillmentConfig, ShipFrom};

/// The source recorded on events fulfillment itself writes.
const SYSTEM: &str = "fulfillment";

/// Why a fulfillment operation failed.
#[derive(Debug, thiserror::Error)]
pub enum FulfillmentError {
    /// No such shipment, return or order, or it belongs to someone else.
    #[error("not found")]
    NotFound,
    /// The shipment's state machine does not allow the change.
    #[error("a shipment that is {from} cannot become {to}")]
    ShipmentTransition {
        /// Its status now.
        from: ShipmentStatus,
        /// The status asked for.
        to: ShipmentStatus,
    },
    /// The return's state machine does not allow the change.
    #[error("a return that is {from} cannot become {to}")]
    ReturnTransition {
        /// Its status now.
        from: ReturnStatus,
        /// The status asked for.
        to: ReturnStatus,
    },
    /// The webhook's signature is missing or wrong.
    #[error("the carrier signature is missing or invalid")]
    BadSignature,
    /// The webhook names another tracking number than the shipment's.
    #[error("the tracking number does not match the shipment")]
    TrackingMismatch,
    /// Nothing of the order has been delivered, so nothing can be returned.
    #[error("the order has no delivered shipment yet; only delivered items can be returned")]
    NotDelivered,
    /// Every delivery of the order is older than the return window.
    #[error("the {days}-day return window closed at {closed_at}")]
    WindowClosed {
        /// The window's length.
        days: u32,
        /// When it closed (RFC 3339).
        closed_at: String,
    },
    /// Some lines of a return cannot be taken (index of the line, why).
    #[error("some lines cannot be returned")]
    ReturnLines(Vec<(usize, LineRefusal)>),
    /// The database failed.
    #[error(transparent)]
    Sql(#[from] platform::db::Error),
}

/// Who is asking: a user id, and whether they may act on every order.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The user id (token subject).
    pub user_id: String,
    /// Admins (and operator clients) see and act on every shipment and return.
    pub admin: bool,
}

impl Caller {
    /// Whether the caller may see what `owner` owns.
    pub fn may_see(&self, owner: &str) -> bool {
        self.admin || self.user_id == owner
    }
}

/// A shipment with its tracking history.
#[derive(Debug, Clone)]
pub struct ShipmentDetail {
    /// The shipment.
    pub shipment: ShipmentRecord,
    /// Its tracking history, oldest first.
    pub events: Vec<TrackingEvent>,
    /// Where the customer can follow it.
    pub tracking_url: Option<String>,
}

/// A carrier's tracking update, checked.
#[derive(Debug, Clone)]
pub struct CarrierUpdate {
    /// The tracking number it is about.
    pub tracking_number: String,
    /// The status it reports.
    pub status: ShipmentStatus,
    /// When it happened, epoch ms.
    pub occurred_at: i64,
    /// Where.
    pub location: Option<String>,
    /// What happened.
    pub description: Option<String>,
}

/// What a tracking update did.
#[derive(Debug, Clone)]
pub struct TrackingOutcome {
    /// The shipment's status after it.
    pub status: ShipmentStatus,
    /// The same update had been applied before; nothing changed.
    pub duplicate: bool,
    /// The update moved (or confirmed) the shipment's status; `false` for a scan the
    /// parcel is already past, which is only recorded.
    pub applied: bool,
}

/// A new return, checked.
#[derive(Debug, Clone)]
pub struct NewReturn {
    /// The order the items came with.
    pub order_id: String,
    /// (sku, quantity) as asked, in order.
    pub lines: Vec<(String, u32)>,
    /// The customer's reason.
    pub reason: Text<500, true>,
}

/// What is said about a shipment's status change in its history.
struct Report<'a> {
    at: i64,
    location: Option<&'a str>,
    description: Option<&'a str>,
    source: &'a str,
}

/// The fulfillment service's operations.
#[derive(Clone)]
pub struct FulfillmentApp {
    pub(crate) db: Db,
    pub(crate) outbox: Outbox,
    pub(crate) clock: Clock,
    pub(crate) config: Arc<FulfillmentConfig>,
    pub(crate) carriers: Carriers,
}

impl FulfillmentApp {
    /// The service's database.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// The service's configuration.
    pub fn config(&self) -> &FulfillmentConfig {
        &self.config
    }

    // ---- opening shipments (event consumer) ----

    /// Keeps what ordering's confirmation tells of an order and opens its shipments if
    /// the stock commit is known too.
    pub async fn confirmed_in(
        &self,
        tx: &mut Tx,
        order_id: &str,
        user_id: &str,
        ship_to: Option<&ShippingAddress>,
        items: &[OrderLine],
    ) -> Result<usize, platform::db::Error> {
        let ship_to = ship_to
            .map(serde_json::to_string)
            .transpose()
            .map_err(encode)?;
        let items = serde_json::to_string(items).map_err(encode)?;
        store::record_confirmed(
            tx,
            order_id,
            user_id,
            ship_to.as_deref(),
            &items,
            self.clock.now_millis(),
        )
        .await?;
        self.open_if_ready_in(tx, order_id).await
    }

    /// Keeps inventory's allocations of an order and opens its shipments if the
    /// confirmation is known too.
    pub async fn committed_in(
        &self,
        tx: &mut Tx,
        order_id: &str,
        allocations: &[Allocation],
    ) -> Result<usize, platform::db::Error> {
        let allocations = serde_json::to_string(allocations).map_err(encode)?;
        store::record_committed(tx, order_id, &allocations, self.clock.now_millis()).await?;
        self.open_if_ready_in(tx, order_id).await
    }

    /// Opens one shipment per warehouse of the order's allocations, once both halves
    /// are known and the order is neither opened already nor cancelled; returns how
    /// many were opened.
    async fn open_if_ready_in(
        &self,
        tx: &mut Tx,
        order_id: &str,
    ) -> Result<usize, platform::db::Error> {
        let Some(facts) = store::order_facts(&mut **tx, order_id).await? else {
            return Ok(0);
        };
        let (Some(user_id), Some(_), Some(allocations), None, None) = (
            facts.user_id,
            facts.confirmed_at,
            facts.allocations,
            facts.opened_at,
            facts.cancelled_at,
        ) else {
            return Ok(0);
        };
        let allocations: Vec<Allocation> = serde_json::from_str(&allocations).map_err(decode)?;
        let ship_to: Option<ShippingAddress> = facts
            .ship_to
            .as_deref()
            .and_then(|s| serde_json::from_str(s).ok());
        let mut by_warehouse: BTreeMap<String, Vec<(String, u32)>> = BTreeMap::new();
        for a in allocations.into_iter().filter(|a| a.quantity > 0) {
            by_warehouse
                .entry(a.warehouse_id)
                .or_default()
                .push((a.sku, a.quantity));
        }
        let carrier = self
            .carriers
            .default_carrier()
            .ok_or_else(|| platform::db::Error::Protocol("no carrier configured".into()))?;
        let now = self.clock.now_millis();
        let mut opened = 0;
        for (warehouse_id, lines) in by_warehouse {
            let lines = domain::merge(lines);
            let units: u64 = lines.iter().map(|(_, q)| u64::from(*q)).sum();
            let weight = units.saturating_mul(u64::from(self.config.unit_weight_grams));
            let weight_grams = u32::try_from(weight).unwrap_or(u32::MAX);
            let quote = carrier.quote(&self.parcel(&warehouse_id, weight_grams, ship_to.as_ref()));
            let shipment = ShipmentRecord {
                id: platform::ids::new_id(),
                order_id: order_id.to_owned(),
                user_id: user_id.clone(),
                warehouse_id: warehouse_id.clone(),
                carrier: carrier.code().to_owned(),
                tracking_number: carrier.new_tracking_number(),
                status: ShipmentStatus::LabelCreated.as_str().to_owned(),
                rate_amount: quote.rate.amount,
                rate_currency: quote.rate.currency.clone(),
                weight_grams: i64::from(weight_grams),
                ship_to: facts.ship_to.clone(),
                created_at: now,
                updated_at: now,
                dispatched_at: None,
                delivered_at: None,
                lines: lines
                    .iter()
                    .map(|(sku, q)| (sku.clone(), i64::from(*q)))
                    .collect(),
            };
            // The unique (order, warehouse) key is the last guard against a second
            // opening; the order's `opened_at` is the first.
            if !store::insert_shipment(tx, &shipment).await? {
                continue;
            }
            for (status, description) in [
                (ShipmentStatus::Pending, "shipment opened".to_owned()),
                (
                    ShipmentStatus::LabelCreated,
                    format!("label created with {}", carrier.name()),
                ),
            ] {
                store::insert_event(
                    tx,
                    &TrackingEvent {
                        id: platform::ids::new_id(),
                        shipment_id: shipment.id.clone(),
                        status: status.as_str().to_owned(),
                        occurred_at: now,
                        location: None,
                        description: Some(description),
                        source: SYSTEM.to_owned(),
                        recorded_at: now,
                    },
                )
                .await?;
            }
            self.outbox
                .stage(
                    tx,
                    &ShipmentCreated {
                        shipment_id: shipment.id.clone(),
                        order_id: order_id.to_owned(),
                        user_id: user_id.clone(),
                        warehouse_id,
                        carrier: shipment.carrier.clone(),
                        tracking_number: shipment.tracking_number.clone(),
                        lines: parcel_lines(&lines),
                    },
                )
                .await?;
            opened += 1;
        }
        store::mark_opened(tx, order_id, now).await?;
        Ok(opened)
    }

    /// Cancels an order's shipments that have not left yet (the order was cancelled);
    /// returns how many. Those already on their way go on, and are logged.
    pub async fn cancelled_in(
        &self,
        tx: &mut Tx,
        order_id: &str,
        reason: &str,
    ) -> Result<usize, platform::db::Error> {
        let now = self.clock.now_millis();
        store::record_cancelled(tx, order_id, now).await?;
        let shipments = store::shipments_of_order(tx, order_id, None, 1_000).await?;
        let mut cancelled = 0;
        for shipment in shipments {
            let status = shipment.status();
            if status.has_left() {
                tracing::warn!(
                    order_id,
                    shipment_id = %shipment.id,
                    status = %status,
                    "order cancelled after its shipment left; the shipment goes on"
                );
                continue;
            }
            if !status.can_become(ShipmentStatus::Cancelled) {
                continue;
            }
            let description = format!("order cancelled: {reason}");
            let report = Report {
                at: now,
                location: None,
                description: Some(&description),
                source: SYSTEM,
            };
            match self
                .enter_in(tx, &shipment, &[ShipmentStatus::Cancelled], &report)
                .await
            {
                Ok(_) => cancelled += 1,
                Err(FulfillmentError::Sql(err)) => return Err(err),
                // Changed under us; it is whatever the other change made it.
                Err(_) => {}
            }
        }
        Ok(cancelled)
    }

    // ---- shipments ----

    fn parcel(
        &self,
        warehouse_id: &str,
        weight_grams: u32,
        to: Option<&ShippingAddress>,
    ) -> Parcel {
        let from = self.config.ship_from(warehouse_id);
        Parcel {
            weight_grams,
            from: Place {
                country: from.country.clone(),
                postal_code: from.postal_code.clone(),
            },
            to: to.map(|a| Place {
                country: a.country.clone(),
                postal_code: a.postal_code.clone(),
            }),
        }
    }

    async fn visible_shipment(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Result<ShipmentRecord, FulfillmentError> {
        if !platform::ids::is_uuid(id) {
            return Err(FulfillmentError::NotFound);
        }
        let mut conn = self.db.reader().acquire().await?;
        match store::shipment(&mut conn, id).await? {
            Some(s) if caller.may_see(&s.user_id) => Ok(s),
            _ => Err(FulfillmentError::NotFound),
        }
    }

    fn tracking_url(&self, shipment: &ShipmentRecord) -> Option<String> {
        self.carriers
            .get(&shipment.carrier)
            .and_then(|c| c.tracking_url(&shipment.tracking_number))
    }

    async fn detail(&self, shipment: ShipmentRecord) -> Result<ShipmentDetail, FulfillmentError> {
        let events = store::events(self.db.reader(), &shipment.id).await?;
        Ok(ShipmentDetail {
            tracking_url: self.tracking_url(&shipment),
            shipment,
            events,
        })
    }

    /// A shipment the caller may see, with its history.
    pub async fn shipment(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Result<ShipmentDetail, FulfillmentError> {
        let shipment = self.visible_shipment(caller, id).await?;
        self.detail(shipment).await
    }

    /// The shipments of an order the caller may see, by id after `after`. Unknown
    /// orders are not found for customers (their owner is unknown) and empty for
    /// admins.
    pub async fn order_shipments(
        &self,
        caller: &Caller,
        order_id: &str,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<ShipmentDetail>, FulfillmentError> {
        if !caller.admin {
            let facts = store::order_facts(self.db.reader(), order_id).await?;
            let owner = facts.and_then(|f| f.user_id);
            if !owner.is_some_and(|o| caller.may_see(&o)) {
                return Err(FulfillmentError::NotFound);
            }
        }
        let mut conn = self.db.reader().acquire().await?;
        let shipments = store::shipments_of_order(&mut conn, order_id, after, limit).await?;
        drop(conn);
        let mut details = Vec::with_capacity(shipments.len());
        for shipment in shipments {
            details.push(self.detail(shipment).await?);
        }
        Ok(details)
    }

    /// Moves a shipment to `to` on an operator's word (dispatch, deliver).
    pub async fn advance(
        &self,
        actor: &str,
        id: &str,
        to: ShipmentStatus,
    ) -> Result<ShipmentDetail, FulfillmentError> {
        if !platform::ids::is_uuid(id) {
            return Err(FulfillmentError::NotFound);
        }
        let now = self.clock.now_millis();
        let mut tx = self.db.begin().await?;
        let order_id = store::shipment(&mut tx, id)
            .await?
            .ok_or(FulfillmentError::NotFound)?
            .order_id;
        let current = self.lock_order_and_read(&mut tx, &order_id, id).await?;
        let from = current.status();
        let steps =
            domain::path(from, to).ok_or(FulfillmentError::ShipmentTransition { from, to })?;
        let description = format!("{} by an operator", to.as_str().replace('_', " "));
        let report = Report {
            at: now,
            location: None,
            description: Some(&description),
            source: actor,
        };
        let updated = self.enter_in(&mut tx, &current, &steps, &report).await?;
        tx.commit().await?;
        self.outbox.wake();
        self.detail(updated).await
    }

    /// Checks a carrier webhook's signature over the raw `body` and returns the
    /// shipment it is for. The secret is the shipment's carrier's; for an unknown
    /// shipment the answer is 401 unless some carrier signed the body, so unsigned
    /// callers learn nothing about which shipments exist.
    pub async fn authenticate_webhook(
        &self,
        id: &str,
        body: &[u8],
        signature: Option<&str>,
    ) -> Result<ShipmentRecord, FulfillmentError> {
        let shipment = if platform::ids::is_uuid(id) {
            let mut conn = self.db.reader().acquire().await?;
            store::shipment(&mut conn, id).await?
        } else {
            None
        };
        let signed = |carrier: &Arc<dyn Carrier>| {
            signature_is_valid(carrier.webhook_secret(), body, signature)
        };
        match shipment {
            Some(shipment) => match self.carriers.get(&shipment.carrier) {
                Some(carrier) if signed(carrier) => Ok(shipment),
                _ => Err(FulfillmentError::BadSignature),
            },
            None if self.carriers.all().iter().any(signed) => Err(FulfillmentError::NotFound),
            None => Err(FulfillmentError::BadSignature),
        }
    }

    /// Applies a carrier's (authenticated) tracking update: the same update again
    /// changes nothing, the current status again adds a history entry (another scan),
    /// and any other status moves the shipment along the state machine.
    pub async fn apply_tracking(
        &self,
        shipment: &ShipmentRecord,
        update: &CarrierUpdate,
    ) -> Result<TrackingOutcome, FulfillmentError> {
        if update.tracking_number != shipment.tracking_number {
            return Err(FulfillmentError::TrackingMismatch);
        }
        let mut tx = self.db.begin().await?;
        let current = self
            .lock_order_and_read(&mut tx, &shipment.order_id, &shipment.id)
            .await?;
        let from = current.status();
        if store::event_exists(
            &mut tx,
            &current.id,
            update.status.as_str(),
            update.occurred_at,
        )
        .await?
        {
            tx.rollback().await?;
            return Ok(TrackingOutcome {
                status: from,
                duplicate: true,
                applied: false,
            });
        }
        let report = Report {
            at: update.occurred_at,
            location: update.location.as_deref(),
            description: update.description.as_deref(),
            source: &current.carrier,
        };
        let (status, applied) = if from == update.status {
            self.record_in(&mut tx, &current, from, &report).await?;
            (from, true)
        } else if let Some(steps) = domain::path(from, update.status) {
            let entered = self.enter_in(&mut tx, &current, &steps, &report).await?;
            (entered.status(), true)
        } else {
            // Carriers send scans late and out of order, and resend what is refused:
            // a scan the parcel is already past is kept in its history, acknowledged,
            // and moves nothing.
            self.record_in(&mut tx, &current, update.status, &report)
                .await?;
            (from, false)
        };
        tx.commit().await?;
        self.outbox.wake();
        Ok(TrackingOutcome {
            status,
            duplicate: false,
            applied,
        })
    }

    /// Locks the order's facts for the rest of `tx` (PostgreSQL), then reads the
    /// shipment. Status changes of one order's shipments thus run one after the other,
    /// so the last of two parcels delivered at once sees the other delivered and
    /// announces the order delivered; and every writer takes the order before its
    /// shipments, so they never wait on each other in a cycle.
    async fn lock_order_and_read(
        &self,
        tx: &mut Tx,
        order_id: &str,
        shipment_id: &str,
    ) -> Result<ShipmentRecord, FulfillmentError> {
        store::order_facts_for_update(tx, self.db.dialect(), order_id).await?;
        store::shipment(tx, shipment_id)
            .await?
            .ok_or(FulfillmentError::NotFound)
    }

    /// Moves `shipment` through `steps` (checked against the state machine by the
    /// caller), recording each in its history and staging the events each implies.
    /// The last step carries the report; earlier ones are implied by it.
    async fn enter_in(
        &self,
        tx: &mut Tx,
        shipment: &ShipmentRecord,
        steps: &[ShipmentStatus],
        report: &Report<'_>,
    ) -> Result<ShipmentRecord, FulfillmentError> {
        let now = self.clock.now_millis();
        let mut from = shipment.status();
        for (i, to) in steps.iter().copied().enumerate() {
            if !store::set_shipment_status(tx, &shipment.id, from, to, report.at, now).await? {
                // Another change won the race; this one no longer applies.
                return Err(FulfillmentError::ShipmentTransition { from, to });
            }
            let last = i + 1 == steps.len();
            let implied = format!(
                "{} (implied by a later update)",
                to.as_str().replace('_', " ")
            );
            let step_report = Report {
                at: report.at,
                location: if last { report.location } else { None },
                description: if last {
                    report.description
                } else {
                    Some(&implied)
                },
                source: report.source,
            };
            self.record_in(tx, shipment, to, &step_report).await?;
            self.announce_in(tx, shipment, to, &step_report).await?;
            from = to;
        }
        store::shipment(tx, &shipment.id)
            .await?
            .ok_or(FulfillmentError::NotFound)
    }

    async fn record_in(
        &self,
        tx: &mut Tx,
        shipment: &ShipmentRecord,
        status: ShipmentStatus,
        report: &Report<'_>,
    ) -> Result<(), platform::db::Error> {
        store::insert_event(
            tx,
            &TrackingEvent {
                id: platform::ids::new_id(),
                shipment_id: shipment.id.clone(),
                status: status.as_str().to_owned(),
                occurred_at: report.at,
                location: report.location.map(str::to_owned),
                description: report.description.map(str::to_owned),
                source: report.source.to_owned(),
                recorded_at: self.clock.now_millis(),
            },
        )
        .await
        .map(|_| ())
    }

    /// Stages the event entering `status` means for others, if any.
    async fn announce_in(
        &self,
        tx: &mut Tx,
        shipment: &ShipmentRecord,
        status: ShipmentStatus,
        report: &Report<'_>,
    ) -> Result<(), platform::db::Error> {
        match status {
            ShipmentStatus::Dispatched => {
                self.outbox
                    .stage(
                        tx,
                        &ShipmentDispatched {
                            shipment_id: shipment.id.clone(),
                            order_id: shipment.order_id.clone(),
                            user_id: shipment.user_id.clone(),
                            carrier: shipment.carrier.clone(),
                            tracking_number: shipment.tracking_number.clone(),
                            tracking_url: self.tracking_url(shipment),
                            dispatched_at: platform::time::rfc3339(report.at),
                        },
                    )
                    .await?;
            }
            ShipmentStatus::Delivered => {
                let order_delivered = store::undelivered_count(tx, &shipment.order_id).await? == 0;
                self.outbox
                    .stage(
                        tx,
                        &ShipmentDelivered {
                            shipment_id: shipment.id.clone(),
                            order_id: shipment.order_id.clone(),
                            user_id: shipment.user_id.clone(),
                            tracking_number: shipment.tracking_number.clone(),
                            delivered_at: platform::time::rfc3339(report.at),
                            order_delivered,
                        },
                    )
                    .await?;
            }
            ShipmentStatus::FailedDelivery => {
                self.outbox
                    .stage(
                        tx,
                        &ShipmentFailed {
                            shipment_id: shipment.id.clone(),
                            order_id: shipment.order_id.clone(),
                            user_id: shipment.user_id.clone(),
                            tracking_number: shipment.tracking_number.clone(),
                            reason: report
                                .description
                                .unwrap_or("the carrier could not deliver")
                                .to_owned(),
                        },
                    )
                    .await?;
            }
            ShipmentStatus::Returned => {
                let lines = shipment
                    .lines
                    .iter()
                    .map(|(sku, quantity)| ReturnedLine {
                        sku: sku.clone(),
                        warehouse_id: shipment.warehouse_id.clone(),
                        quantity: u32::try_from(*quantity).unwrap_or(0),
                    })
                    .filter(|line| line.quantity > 0)
                    .collect();
                self.outbox
                    .stage(
                        tx,
                        &ShipmentReturned {
                            shipment_id: shipment.id.clone(),
                            order_id: shipment.order_id.clone(),
                            user_id: shipment.user_id.clone(),
                            lines,
                        },
                    )
                    .await?;
            }
            _ => {}
        }
        Ok(())
    }

    /// The shipping label of a shipment the caller may see, as a PDF.
    pub async fn label(&self, caller: &Caller, id: &str) -> Result<Vec<u8>, FulfillmentError> {
        let shipment = self.visible_shipment(caller, id).await?;
        let from = self.config.ship_from(&shipment.warehouse_id);
        let to: Option<ShippingAddress> = shipment
            .ship_to
            .as_deref()
            .and_then(|s| serde_json::from_str(s).ok());
        let carrier = self
            .carriers
            .get(&shipment.carrier)
            .map(|c| format!("{} ({})", c.name(), c.code()))
            .unwrap_or_else(|| shipment.carrier.clone());
        let units: i64 = shipment.lines.iter().map(|(_, q)| q).sum();
        Ok(label::render(&Label {
            from: sender_lines(from),
            to: to
                .map(|a| recipient_lines(&a))
                .unwrap_or_else(|| vec!["(no address given)".into()]),
            carrier,
            tracking_number: shipment.tracking_number.clone(),
            details: vec![
                format!("Order: {}", shipment.order_id),
                format!("Shipment: {}", shipment.id),
                format!(
                    "Weight: {:.2} kg, {units} unit{}",
                    shipment.weight_grams as f64 / 1000.0,
                    if units == 1 { "" } else { "s" }
                ),
            ],
        }))
    }

    /// What every carrier would charge for a shipment the caller may see.
    pub async fn rates(&self, caller: &Caller, id: &str) -> Result<Vec<Quote>, FulfillmentError> {
        let shipment = self.visible_shipment(caller, id).await?;
        let to: Option<ShippingAddress> = shipment
            .ship_to
            .as_deref()
            .and_then(|s| serde_json::from_str(s).ok());
        let weight = u32::try_from(shipment.weight_grams).unwrap_or(u32::MAX);
        Ok(self.quotes(&self.parcel(&shipment.warehouse_id, weight, to.as_ref())))
    }

    /// What every carrier would charge for `units` units to `to`, from `warehouse_id`
    /// (or the default sender).
    pub fn quote(&self, warehouse_id: Option<&str>, units: u32, to: Place) -> Vec<Quote> {
        let weight = units.saturating_mul(self.config.unit_weight_grams);
        let mut parcel = self.parcel(warehouse_id.unwrap_or(""), weight, None);
        parcel.to = Some(to);
        self.quotes(&parcel)
    }

    fn quotes(&self, parcel: &Parcel) -> Vec<Quote> {
        self.carriers
            .all()
            .iter()
            .map(|c| c.quote(parcel))
            .collect()
    }

    // ---- returns ----

    /// Opens a return of delivered items of an order the caller owns (or any, for an
    /// admin), within the return window; nothing is written when any rule fails.
    pub async fn create_return(
        &self,
        caller: &Caller,
        request: NewReturn,
    ) -> Result<ReturnRecord, FulfillmentError> {
        let now = self.clock.now_millis();
        let mut tx = self.db.begin().await?;
        let facts =
            store::order_facts_for_update(&mut tx, self.db.dialect(), &request.order_id).await?;
        let Some(owner) = facts.and_then(|f| f.user_id).filter(|o| caller.may_see(o)) else {
            return Err(FulfillmentError::NotFound);
        };
        let returnable = store::returnables(&mut tx, &request.order_id).await?;
        let days = self.config.return_window_days;
        let plan =
            domain::plan_return(&request.lines, &returnable, now, days).map_err(|refusal| {
                match refusal {
                    ReturnRefusal::NotDelivered => FulfillmentError::NotDelivered,
                    ReturnRefusal::WindowClosed { closed_at } => FulfillmentError::WindowClosed {
                        days,
                        closed_at: platform::time::rfc3339(closed_at),
                    },
                    ReturnRefusal::Lines(lines) => FulfillmentError::ReturnLines(lines),
                }
            })?;
        let record = ReturnRecord {
            id: platform::ids::new_id(),
            order_id: request.order_id.clone(),
            user_id: owner,
            status: ReturnStatus::Requested.as_str().to_owned(),
            reason: request.reason.into_string(),
            created_at: now,
            updated_at: now,
            approved_at: None,
            rejected_at: None,
            received_at: None,
            lines: plan
                .into_iter()
                .map(|a| ReturnLineRecord {
                    shipment_id: a.shipment_id,
                    warehouse_id: a.warehouse_id,
                    sku: a.sku,
                    quantity: i64::from(a.quantity),
                })
                .collect(),
        };
        store::insert_return(&mut tx, &record).await?;
        self.outbox
            .stage(
                &mut tx,
                &ReturnRequested {
                    return_id: record.id.clone(),
                    order_id: record.order_id.clone(),
                    user_id: record.user_id.clone(),
                    lines: parcel_lines(&return_skus(&record)),
                    reason: record.reason.clone(),
                },
            )
            .await?;
        tx.commit().await?;
        self.outbox.wake();
        Ok(record)
    }

    /// A return the caller may see.
    pub async fn return_of(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Result<ReturnRecord, FulfillmentError> {
        if !platform::ids::is_uuid(id) {
            return Err(FulfillmentError::NotFound);
        }
        let mut conn = self.db.reader().acquire().await?;
        match store::return_by_id(&mut conn, id).await? {
            Some(r) if caller.may_see(&r.user_id) => Ok(r),
            _ => Err(FulfillmentError::NotFound),
        }
    }

    /// Moves a return to `to` (approve, reject, receive); receiving announces the
    /// returned units, per warehouse, for restocking and refunding.
    pub async fn decide_return(
        &self,
        id: &str,
        to: ReturnStatus,
    ) -> Result<ReturnRecord, FulfillmentError> {
        if !platform::ids::is_uuid(id) {
            return Err(FulfillmentError::NotFound);
        }
        let now = self.clock.now_millis();
        let mut tx = self.db.begin().await?;
        let mut record = store::return_by_id(&mut tx, id)
            .await?
            .ok_or(FulfillmentError::NotFound)?;
        let from = record.status();
        if !from.can_become(to) || !store::set_return_status(&mut tx, id, from, to, now).await? {
            return Err(FulfillmentError::ReturnTransition { from, to });
        }
        if to == ReturnStatus::Received {
            let lines = domain::merge(record.lines.iter().map(|l| {
                (
                    (l.sku.clone(), l.warehouse_id.clone()),
                    u32::try_from(l.quantity).unwrap_or(0),
                )
            }));
            self.outbox
                .stage(
                    &mut tx,
                    &ReturnReceived {
                        return_id: record.id.clone(),
                        order_id: record.order_id.clone(),
                        user_id: record.user_id.clone(),
                        lines: lines
                            .into_iter()
                            .map(|((sku, warehouse_id), quantity)| ReturnedLine {
                                sku,
                                warehouse_id,
                                quantity,
                            })
                            .collect(),
                    },
                )
                .await?;
        }
        tx.commit().await?;
        self.outbox.wake();
        record.status = to.as_str().to_owned();
        record.updated_at = now;
        match to {
            ReturnStatus::Approved => record.approved_at = Some(now),
            ReturnStatus::Rejected => record.rejected_at = Some(now),
            ReturnStatus::Received => record.received_at = Some(now),
            ReturnStatus::Requested => {}
        }
        Ok(record)
    }
}

/// A return's units per sku.
pub fn return_skus(record: &ReturnRecord) -> Vec<(String, u32)> {
    domain::merge(
        record
            .lines
            .iter()
            .map(|l| (l.sku.clone(), u32::try_from(l.quantity).unwrap_or(0))),
    )
}

fn parcel_lines(lines: &[(String, u32)]) -> Vec<ParcelLine> {
    lines
        .iter()
        .map(|(sku, quantity)| ParcelLine {
            sku: sku.clone(),
            quantity: *quantity,
        })
        .collect()
}

fn sender_lines(from: &ShipFrom) -> Vec<String> {
    vec![
        from.name.clone(),
        from.line1.clone(),
        format!("{} {}", from.postal_code, from.city),
        from.country.clone(),
    ]
}

fn recipient_lines(to: &ShippingAddress) -> Vec<String> {
    let mut lines = vec![to.name.clone(), to.line1.clone()];
    lines.extend(to.line2.clone());
    lines.push(format!("{} {}", to.postal_code, to.city));
    lines.push(to.country.clone());
    lines
}

fn encode(err: serde_json::Error) -> platform::db::Error {
    platform::db::Error::Encode(Box::new(err))
}

fn decode(err: serde_json::Error) -> platform::db::Error {
    platform::db::Error::Decode(Box::new(err))
}
