//! What notifications consumes: identity's users (its own directory, and the welcome
//! message), ordering's orders (the order → owner map, confirmations, refunds),
//! payments' failures, fulfillment's shipments and inventory's low-stock alerts (to
//! every admin). What it emits is built by the `Message` aggregate and staged by `app`
//! and the sender.
//!
//! Streams are not ordered with each other, so an event may arrive before the user or
//! order it names; `parking` sets such an event aside and replays it when that
//! arrives. This file applies one event.

mod parking;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;

use async_trait::async_trait;
use contracts::Event;
use contracts::fulfillment::{ShipmentDelivered, ShipmentDispatched};
use contracts::identity::{UserCreated, UserDeleted, UserUpdated};
use contracts::inventory::StockLow;
use contracts::ordering::{OrderConfirmed, OrderCreated, OrderPartiallyRefunded, OrderRefunded};
use contracts::payments::PaymentFailed;
use platform::bus::{Envelope, EventHandler, HandlerError};
use platform::db::Tx;
use tracing::field::Empty;

use crate::app::{Cause, NotificationsApp};
use crate::domain::{OrderOwner, Origin, Recipient};
use crate::templates;

/// The event types notifications acts on.
const HANDLED: [&str; 11] = [
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
];

/// Turns other services' events into messages.
pub struct NotificationEvents {
    /// The operations.
    pub app: NotificationsApp,
}

#[async_trait]
impl EventHandler for NotificationEvents {
    async fn handle(&self, tx: &mut Tx, event: &Envelope) -> Result<(), HandlerError> {
        // An event can release parked ones (a user or an order became known); they are
        // applied in the same transaction, in the order they were parked.
        let released = self.apply(tx, event).await?;
        self.apply_all(tx, VecDeque::from(released)).await
    }

    fn handles(&self, event_type: &str) -> bool {
        HANDLED.contains(&event_type)
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
