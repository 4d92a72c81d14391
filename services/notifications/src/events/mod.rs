//! What notifications consumes: identity's users (its own directory, and the welcome
//! message), ordering's orders (the order → owner map, confirmations, refunds),
//! payments' failures, fulfillment's shipments, inventory's low-stock alerts, payments'
//! disputes and analytics' anomalies (to every admin), and analytics' ready reports (to the address
//! their schedule names, with the file attached). Every business event is also queued
//! for the merchants' webhook endpoints subscribed to its type (`app::webhooks`). What it emits is built by the
//! `Message` aggregate and staged by `app` and the sender.
//!
//! Streams are not ordered with each other, so an event may arrive before the user or
//! order it names; `parking` sets such an event aside and replays it when that
//! arrives. This file applies one event.

mod parking;
#[cfg(test)]
mod tests;

pub use parking::PARKED_REPLAY;

use std::collections::VecDeque;

use async_trait::async_trait;
use contracts::Event;
use contracts::analytics::{AnomalyDetected, ReportReady};
use contracts::fulfillment::{ShipmentDelivered, ShipmentDispatched};
use contracts::identity::{UserCreated, UserDeleted, UserUpdated};
use contracts::inventory::StockLow;
use contracts::ordering::{OrderConfirmed, OrderCreated, OrderPartiallyRefunded, OrderRefunded};
use contracts::payments::{DisputeOpened, PaymentFailed};
use data_encoding::BASE64;
use platform::bus::{Envelope, EventHandler, HandlerError};
use platform::db::Tx;
use tracing::field::Empty;

use crate::app::{Cause, NotificationsApp};
use crate::domain::{
    Attachment, MAX_ATTACHMENT_BYTES, OrderOwner, Origin, Recipient, is_subscribable,
};
use crate::templates;

/// The event types notifications acts on.
const HANDLED: [&str; 14] = [
    UserCreated::TYPE,
    UserUpdated::TYPE,
    UserDeleted::TYPE,
    OrderCreated::TYPE,
    OrderConfirmed::TYPE,
    OrderRefunded::TYPE,
    OrderPartiallyRefunded::TYPE,
    PaymentFailed::TYPE,
    ShipmentDispatched::TYPE,
    ShipmentDelivered::TYPE,
    StockLow::TYPE,
    ReportReady::TYPE,
    AnomalyDetected::TYPE,
    DisputeOpened::TYPE,
];

/// Turns other services' events into messages.
pub struct NotificationEvents {
    /// The operations.
    pub app: NotificationsApp,
}

#[async_trait]
impl EventHandler for NotificationEvents {
    async fn handle(&self, tx: &mut Tx, event: &Envelope) -> Result<(), HandlerError> {
        // Merchants' endpoints get the event as it arrived (a parked event was queued
        // for them when it first came).
        self.app.fan_out(tx, event).await?;
        if !HANDLED.contains(&event.event_type.as_str()) {
            return Ok(());
        }
        // An event can release parked ones (a user or an order became known); they are
        // applied in the same transaction, in the order they were parked.
        let released = self.apply(tx, event).await?;
        self.apply_all(tx, VecDeque::from(released)).await
    }

    fn handles(&self, event_type: &str) -> bool {
        HANDLED.contains(&event_type) || is_subscribable(event_type)
    }

    fn applied(&self, _event: &Envelope) {
        self.app.wake_sender();
    }
}

/// The cause messages made for `event` record.
fn cause_of(event: &Envelope) -> Cause {
    let time = platform::time::parse_rfc3339(&event.time);
    if time.is_none() {
        // The message still goes out; only its delay cannot be measured.
        tracing::warn!(event_id = %event.id, time = %event.time, "event time is not RFC 3339");
    }
    Cause {
        event_id: event.id.clone(),
        origin: Origin {
            event_type: event.event_type.clone(),
            subject: event.subject.clone(),
            time,
        },
    }
}

/// Records `name = value` on the current span (declared empty by [`NotificationEvents::apply`]).
fn record(name: &str, value: &str) {
    tracing::Span::current().record(name, value);
}

impl NotificationEvents {
    /// Applies `work` and whatever it releases, in order.
    async fn apply_all(
        &self,
        tx: &mut Tx,
        mut work: VecDeque<Envelope>,
    ) -> Result<(), HandlerError> {
        while let Some(next) = work.pop_front() {
            work.extend(self.apply(tx, &next).await?);
        }
        Ok(())
    }

    /// Applies one event; returns the parked events it released.
    #[tracing::instrument(
        skip_all,
        fields(event_id = %event.id, event_type = %event.event_type, user_id = Empty, order_id = Empty),
        err
    )]
    async fn apply(&self, tx: &mut Tx, event: &Envelope) -> Result<Vec<Envelope>, HandlerError> {
        let app = &self.app;
        let cause = cause_of(event);
        if event.is::<UserCreated>() {
            let created: UserCreated = event.decode()?;
            record("user_id", &created.user_id);
            let user = Recipient::live(created.user_id, created.email, created.name, created.roles);
            app.remember_user_in(tx, &user).await?;
            // A user deleted before their creation arrived stays deleted, unwelcomed.
            if let Some(user) = app.user_in(tx, &user.id).await?.filter(|u| !u.deleted) {
                let context = templates::welcome(&user);
                app.notify_in(tx, &cause, templates::WELCOME, &user, &context)
                    .await?;
            }
            return self.release(tx, &format!("user:{}", user.id)).await;
        }
        if event.is::<UserUpdated>() {
            let updated: UserUpdated = event.decode()?;
            record("user_id", &updated.user_id);
            let user = Recipient::live(updated.user_id, updated.email, updated.name, updated.roles);
            app.remember_user_in(tx, &user).await?;
            return self.release(tx, &format!("user:{}", user.id)).await;
        }
        if event.is::<UserDeleted>() {
            let deleted: UserDeleted = event.decode()?;
            record("user_id", &deleted.user_id);
            app.forget_user_in(tx, &deleted.user_id).await?;
            return Ok(Vec::new());
        }
        if event.is::<OrderCreated>() {
            let created: OrderCreated = event.decode()?;
            record("order_id", &created.order_id);
            record("user_id", &created.user_id);
            app.remember_order_in(
                tx,
                &OrderOwner {
                    order_id: created.order_id.clone(),
                    user_id: created.user_id,
                    total: Some(created.total),
                },
            )
            .await?;
            return self
                .release(tx, &format!("order:{}", created.order_id))
                .await;
        }
        if event.is::<OrderConfirmed>() {
            let confirmed: OrderConfirmed = event.decode()?;
            record("order_id", &confirmed.order_id);
            let owner = match &confirmed.user_id {
                Some(user_id) => Some(user_id.clone()),
                None => self
                    .order(tx, event, &confirmed.order_id)
                    .await?
                    .map(|o| o.user_id),
            };
            if let Some(owner) = owner
                && let Some(user) = self.recipient(tx, event, &owner).await?
            {
                let context = templates::order_confirmed(&user, &confirmed);
                app.notify_in(tx, &cause, templates::ORDER_CONFIRMED, &user, &context)
                    .await?;
            }
        } else if event.is::<PaymentFailed>() {
            let failed: PaymentFailed = event.decode()?;
            record("order_id", &failed.order_id);
            if let Some(order) = self.order(tx, event, &failed.order_id).await?
                && let Some(user) = self.recipient(tx, event, &order.user_id).await?
            {
                let context = templates::payment_failed(&user, order.total.as_ref(), &failed);
                app.notify_in(tx, &cause, templates::PAYMENT_FAILED, &user, &context)
                    .await?;
            }
        } else if event.is::<OrderRefunded>() || event.is::<OrderPartiallyRefunded>() {
            let full = event.is::<OrderRefunded>();
            // Both carry the same facts.
            let OrderRefunded(refund) = serde::Deserialize::deserialize(&event.data)?;
            record("order_id", &refund.order_id);
            if let Some(order) = self.order(tx, event, &refund.order_id).await?
                && let Some(user) = self.recipient(tx, event, &order.user_id).await?
            {
                let context = templates::refund_processed(&user, &refund, full);
                app.notify_in(tx, &cause, templates::REFUND_PROCESSED, &user, &context)
                    .await?;
            }
        } else if event.is::<ShipmentDispatched>() {
            let shipment: ShipmentDispatched = event.decode()?;
            record("order_id", &shipment.order_id);
            if let Some(user) = self.recipient(tx, event, &shipment.user_id).await? {
                let context = templates::shipment_dispatched(&user, &shipment);
                app.notify_in(tx, &cause, templates::SHIPMENT_DISPATCHED, &user, &context)
                    .await?;
            }
        } else if event.is::<ShipmentDelivered>() {
            let shipment: ShipmentDelivered = event.decode()?;
            record("order_id", &shipment.order_id);
            if let Some(user) = self.recipient(tx, event, &shipment.user_id).await? {
                let context = templates::shipment_delivered(&user, &shipment);
                app.notify_in(tx, &cause, templates::SHIPMENT_DELIVERED, &user, &context)
                    .await?;
            }
        } else if event.is::<StockLow>() {
            let low: StockLow = event.decode()?;
            let admins = app.admins_in(tx).await?;
            if admins.is_empty() {
                tracing::warn!(sku = %low.sku, "stock is low but no admin is known to alert");
            }
            for admin in admins {
                let context = templates::stock_low(&admin, &low);
                app.notify_in(tx, &cause, templates::STOCK_LOW, &admin, &context)
                    .await?;
            }
        } else if event.is::<AnomalyDetected>() {
            let anomaly: AnomalyDetected = event.decode()?;
            let admins = app.admins_in(tx).await?;
            if admins.is_empty() {
                tracing::warn!(series = %anomaly.series, "an anomaly was detected but no admin is known to alert");
            }
            for admin in admins {
                let context = templates::anomaly_detected(&admin, &anomaly);
                app.notify_in(tx, &cause, templates::ANOMALY_DETECTED, &admin, &context)
                    .await?;
            }
        } else if event.is::<DisputeOpened>() {
            let dispute: DisputeOpened = event.decode()?;
            record("order_id", &dispute.order_id);
            // The alert goes to admins, not to the order's owner: nothing waits for the
            // order to be known, and the event is never parked.
            let admins = app.admins_in(tx).await?;
            if admins.is_empty() {
                tracing::warn!(dispute_id = %dispute.dispute_id, "a payment was disputed but no admin is known to alert");
            }
            for admin in admins {
                let context = templates::dispute_opened(&admin, &dispute);
                app.notify_in(tx, &cause, templates::DISPUTE_OPENED, &admin, &context)
                    .await?;
            }
        } else if event.is::<ReportReady>() {
            let ready: ReportReady = event.decode()?;
            // The schedule names an address, which need not be anyone's account: the
            // message goes to the address itself (see `domain::ADDRESS_PREFIX`).
            let Some(recipient) = Recipient::address(&ready.recipient) else {
                tracing::warn!(report_id = %ready.report_id, "the report's recipient is not an email address; nothing sent");
                return Ok(Vec::new());
            };
            let attachment = report_file(&ready);
            let context = templates::report_ready(&recipient, &ready, attachment.is_some());
            app.notify_with_in(
                tx,
                &cause,
                templates::REPORT_READY,
                &recipient,
                &context,
                attachment.as_slice(),
            )
            .await?;
        }
        Ok(Vec::new())
    }

    /// The recipient `user_id`; `None` when deleted (the event is dropped) or not known
    /// yet (the event is parked until they are).
    async fn recipient(
        &self,
        tx: &mut Tx,
        event: &Envelope,
        user_id: &str,
    ) -> Result<Option<Recipient>, HandlerError> {
        record("user_id", user_id);
        match self.app.user_in(tx, user_id).await? {
            Some(user) if user.deleted => {
                tracing::debug!("recipient deleted; nothing to send");
                Ok(None)
            }
            Some(user) => Ok(Some(user)),
            None => {
                self.park(tx, event, &format!("user:{user_id}")).await?;
                Ok(None)
            }
        }
    }

    /// The order `order_id`; `None` (and the event parked) when not known yet.
    async fn order(
        &self,
        tx: &mut Tx,
        event: &Envelope,
        order_id: &str,
    ) -> Result<Option<OrderOwner>, HandlerError> {
        match self.app.order_in(tx, order_id).await? {
            Some(order) => Ok(Some(order)),
            None => {
                self.park(tx, event, &format!("order:{order_id}")).await?;
                Ok(None)
            }
        }
    }
}

/// The file a ready report brings, when it brings one that can be attached. One that
/// cannot (not base64, too large, no usable name) is left off, with a warning: the
/// message then points to the download instead, so the recipient still gets the report.
fn report_file(ready: &ReportReady) -> Option<Attachment> {
    let encoded = ready.attachment_base64.as_deref()?;
    // Base64 takes 4 characters per 3 bytes (plus line breaks, when wrapped): text
    // well past that for the bound is refused without decoding it. The exact bound is
    // `Attachment::new`'s.
    if encoded.len() / 11 * 10 > MAX_ATTACHMENT_BYTES.div_ceil(3) * 4 {
        tracing::warn!(report_id = %ready.report_id, "the report is too large to attach; linking it instead");
        return None;
    }
    // Wrapped base64 (line breaks every 76 characters) is still the same file.
    let compact: Vec<u8> = encoded
        .bytes()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    let content = match BASE64.decode(&compact) {
        Ok(content) => content,
        Err(err) => {
            tracing::warn!(report_id = %ready.report_id, error = %err, "the report's attachment is not base64; linking it instead");
            return None;
        }
    };
    match Attachment::new(&ready.file_name, &ready.content_type, content) {
        Ok(file) => Some(file),
        Err(why) => {
            tracing::warn!(report_id = %ready.report_id, reason = %why, "the report cannot be attached; linking it instead");
            None
        }
    }
}
