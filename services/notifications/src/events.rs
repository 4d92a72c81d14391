//! What notifications consumes: identity's users (its own directory, and the welcome
//! message), ordering's orders (the order → owner map, confirmations, refunds),
//! payments' failures, fulfillment's shipments and inventory's low-stock alerts (to
//! every admin). What it emits is staged by `app` and the sender.
//!
//! Streams are not ordered with each other, so an event may arrive before the user or
//! order it names (a payment failure before the order's creation). Such an event is
//! parked, in the consumer's transaction, under what it waits for (`user:<id>` or
//! `order:<id>`) and replayed when that arrives, instead of being retried until it
//! lands in the dead-letter table.

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

use crate::app::{Cause, NotificationsApp, recipient_of};
use crate::store::{self, OrderRecord, UserRecord};
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
        self.apply_all(tx, VecDeque::from([event.clone()])).await
    }

    fn handles(&self, event_type: &str) -> bool {
        HANDLED.contains(&event_type)
    }

    fn applied(&self, _event: &Envelope) {
        self.app.wake_sender();
    }
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

    /// Applies the parked events whose user or order has become known without
    /// releasing them (see [`store::parked_now_known`]); returns how many waits ended.
    pub async fn replay_released(&self) -> Result<usize, HandlerError> {
        let mut tx = self.app.db.begin().await?;
        let known = store::parked_now_known(&mut tx).await?;
        for waits_for in &known {
            let released = release(&mut tx, waits_for).await?;
            self.apply_all(&mut tx, released.into()).await?;
        }
        tx.commit().await?;
        if !known.is_empty() {
            tracing::info!(count = known.len(), "parked events replayed by the sweeper");
            self.app.wake_sender();
        }
        Ok(known.len())
    }

    /// Applies one event; returns the parked events it released.
    async fn apply(&self, tx: &mut Tx, event: &Envelope) -> Result<Vec<Envelope>, HandlerError> {
        let app = &self.app;
        let cause = Cause::from(event);
        if event.is::<UserCreated>() {
            let created: UserCreated = event.decode()?;
            let user = UserRecord {
                id: created.user_id,
                email: created.email,
                name: created.name,
                roles: created.roles,
                deleted: false,
            };
            app.remember_user_in(tx, &user).await?;
            // A user deleted before their creation arrived stays deleted, unwelcomed.
            if let Some(user) = self.live_user(tx, &user.id).await? {
                let context = templates::welcome(&recipient_of(&user));
                app.notify_in(tx, &cause, templates::WELCOME, &user, &context)
                    .await?;
            }
            return release(tx, &format!("user:{}", user.id)).await;
        }
        if event.is::<UserUpdated>() {
            let updated: UserUpdated = event.decode()?;
            let user = UserRecord {
                id: updated.user_id,
                email: updated.email,
                name: updated.name,
                roles: updated.roles,
                deleted: false,
            };
            app.remember_user_in(tx, &user).await?;
            return release(tx, &format!("user:{}", user.id)).await;
        }
        if event.is::<UserDeleted>() {
            let deleted: UserDeleted = event.decode()?;
            app.forget_user_in(tx, &deleted.user_id).await?;
            return Ok(Vec::new());
        }
        if event.is::<OrderCreated>() {
            let created: OrderCreated = event.decode()?;
            app.remember_order_in(
                tx,
                &OrderRecord {
                    order_id: created.order_id.clone(),
                    user_id: created.user_id,
                    total: Some(created.total),
                },
            )
            .await?;
            return release(tx, &format!("order:{}", created.order_id)).await;
        }
        if event.is::<OrderConfirmed>() {
            let confirmed: OrderConfirmed = event.decode()?;
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
                let context = templates::order_confirmed(&recipient_of(&user), &confirmed);
                app.notify_in(tx, &cause, templates::ORDER_CONFIRMED, &user, &context)
                    .await?;
            }
        } else if event.is::<PaymentFailed>() {
            let failed: PaymentFailed = event.decode()?;
            if let Some(order) = self.order(tx, event, &failed.order_id).await?
                && let Some(user) = self.recipient(tx, event, &order.user_id).await?
            {
                let context =
                    templates::payment_failed(&recipient_of(&user), order.total.as_ref(), &failed);
                app.notify_in(tx, &cause, templates::PAYMENT_FAILED, &user, &context)
                    .await?;
            }
        } else if event.is::<OrderRefunded>() || event.is::<OrderPartiallyRefunded>() {
            let full = event.is::<OrderRefunded>();
            // Both carry the same facts.
            let OrderRefunded(refund) = serde::Deserialize::deserialize(&event.data)?;
            if let Some(order) = self.order(tx, event, &refund.order_id).await?
                && let Some(user) = self.recipient(tx, event, &order.user_id).await?
            {
                let context = templates::refund_processed(&recipient_of(&user), &refund, full);
                app.notify_in(tx, &cause, templates::REFUND_PROCESSED, &user, &context)
                    .await?;
            }
        } else if event.is::<ShipmentDispatched>() {
            let shipment: ShipmentDispatched = event.decode()?;
            if let Some(user) = self.recipient(tx, event, &shipment.user_id).await? {
                let context = templates::shipment_dispatched(&recipient_of(&user), &shipment);
                app.notify_in(tx, &cause, templates::SHIPMENT_DISPATCHED, &user, &context)
                    .await?;
            }
        } else if event.is::<ShipmentDelivered>() {
            let shipment: ShipmentDelivered = event.decode()?;
            if let Some(user) = self.recipient(tx, event, &shipment.user_id).await? {
                let context = templates::shipment_delivered(&recipient_of(&user), &shipment);
                app.notify_in(tx, &cause, templates::SHIPMENT_DELIVERED, &user, &context)
                    .await?;
            }
        } else if event.is::<StockLow>() {
            let low: StockLow = event.decode()?;
            let admins = store::admins(&mut **tx).await?;
            if admins.is_empty() {
                tracing::warn!(sku = %low.sku, "stock is low but no admin is known to alert");
            }
            for admin in admins {
                let context = templates::stock_low(&recipient_of(&admin), &low);
                app.notify_in(tx, &cause, templates::STOCK_LOW, &admin, &context)
                    .await?;
            }
        }
        Ok(Vec::new())
    }

    /// A live user, or `None` when deleted or unknown.
    async fn live_user(
        &self,
        tx: &mut Tx,
        user_id: &str,
    ) -> Result<Option<UserRecord>, platform::db::Error> {
        Ok(store::user(&mut **tx, user_id)
            .await?
            .filter(|u| !u.deleted))
    }

    /// The recipient `user_id`; `None` when deleted (the event is dropped) or not known
    /// yet (the event is parked until they are).
    async fn recipient(
        &self,
        tx: &mut Tx,
        event: &Envelope,
        user_id: &str,
    ) -> Result<Option<UserRecord>, HandlerError> {
        match store::user(&mut **tx, user_id).await? {
            Some(user) if user.deleted => {
                tracing::debug!(event_id = %event.id, user_id, "recipient deleted; nothing to send");
                Ok(None)
            }
            Some(user) => Ok(Some(user)),
            None => {
                park(
                    tx,
                    event,
                    &format!("user:{user_id}"),
                    self.app.clock.now_millis(),
                )
                .await?;
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
    ) -> Result<Option<OrderRecord>, HandlerError> {
        match store::order(&mut **tx, order_id).await? {
            Some(order) => Ok(Some(order)),
            None => {
                park(
                    tx,
                    event,
                    &format!("order:{order_id}"),
                    self.app.clock.now_millis(),
                )
                .await?;
                Ok(None)
            }
        }
    }
}

async fn park(
    tx: &mut Tx,
    event: &Envelope,
    waits_for: &str,
    now: i64,
) -> Result<(), HandlerError> {
    tracing::info!(event_id = %event.id, event_type = %event.event_type, waits_for, "recipient not known yet; event parked");
    let body = serde_json::to_string(event)?;
    store::park(tx, &event.id, waits_for, &event.event_type, &body, now).await?;
    Ok(())
}

/// The events parked for `waits_for`, taken out of the parking table.
async fn release(tx: &mut Tx, waits_for: &str) -> Result<Vec<Envelope>, HandlerError> {
    let bodies = store::take_parked(tx, waits_for).await?;
    let mut released = Vec::with_capacity(bodies.len());
    for body in bodies {
        match serde_json::from_str::<Envelope>(&body) {
            Ok(event) => released.push(event),
            Err(err) => tracing::error!(waits_for, error = %err, "unreadable parked event dropped"),
        }
    }
    Ok(released)
}

#[cfg(test)]
mod tests {
    use contracts::Money;
    use contracts::payments::FailureReason;
    use platform::bus::{Bus, EmbeddedBus};
    use platform::db::Db;
    use platform::service::ServiceKind;
    use platform::tasks::Tasks;
    use platform::time::Clock;

    use super::*;
    use crate::app::{PreferenceChange, SendContent, SendRequest};
    use crate::domain::{Channel, Status, TemplateId};
    use crate::store::NotificationRecord;
    use crate::{MIGRATIONS, NotificationsConfig};

    struct Fixture {
        _dir: tempfile::TempDir,
        handler: NotificationEvents,
    }

    async fn fixture() -> Fixture {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = platform::db::sqlite_url(dir.path(), "notifications");
        let db = Db::connect(&url, &MIGRATIONS).await.expect("db");
        let outbox = EmbeddedBus::new()
            .attach_producer(ServiceKind::Notifications, db.clone(), &Tasks::default())
            .await
            .expect("outbox");
        let app =
            NotificationsApp::new(db, outbox, Clock::system(), &NotificationsConfig::default());
        app.seed_templates().await.expect("seed");
        Fixture {
            _dir: dir,
            handler: NotificationEvents { app },
        }
    }

    impl Fixture {
        fn app(&self) -> &NotificationsApp {
            &self.handler.app
        }

        async fn deliver_envelope(&self, envelope: &Envelope) {
            let mut tx = self.app().db().begin().await.expect("begin");
            self.handler
                .handle(&mut tx, envelope)
                .await
                .expect("handled");
            tx.commit().await.expect("commit");
        }

        async fn deliver<E: Event>(&self, source: ServiceKind, event: &E) -> Envelope {
            let envelope = Envelope::new(source, event).expect("envelope");
            self.deliver_envelope(&envelope).await;
            envelope
        }

        async fn messages(&self, user_id: &str) -> Vec<NotificationRecord> {
            let mut found =
                store::list_for_user(self.app().db().reader(), user_id, None, None, 100)
                    .await
                    .expect("list");
            found.sort_by(|a, b| a.template_id.cmp(&b.template_id));
            found
        }

        async fn user(&self, id: &str, roles: &[&str]) {
            self.deliver(
                ServiceKind::Identity,
                &UserCreated {
                    user_id: id.into(),
                    email: format!("{id}@example.com"),
                    name: format!("User {id}"),
                    roles: roles.iter().map(|r| (*r).to_owned()).collect(),
                    created_at: "2026-01-01T00:00:00Z".into(),
                },
            )
            .await;
        }
    }

    fn usd(amount: i64) -> Money {
        Money {
            amount,
            currency: "USD".into(),
        }
    }

    fn templates_of(messages: &[NotificationRecord]) -> Vec<&str> {
        messages.iter().map(|m| m.template_id.as_str()).collect()
    }

    #[tokio::test]
    async fn the_sweeper_replays_an_event_parked_beside_its_users_arrival() {
        let f = fixture().await;
        f.deliver(
            ServiceKind::Ordering,
            &OrderCreated {
                order_id: "o2".into(),
                user_id: "u2".into(),
                items: Vec::new(),
                total: usd(500),
                payment_id: Some("p2".into()),
            },
        )
        .await;
        // The payment failure parks for the unknown user...
        f.deliver(
            ServiceKind::Payments,
            &PaymentFailed {
                payment_id: "p2".into(),
                order_id: "o2".into(),
                reason: FailureReason::Declined,
                detail: "the card was declined".into(),
            },
        )
        .await;
        // ...and the user arrives in a transaction that did not see the parked row (as
        // under PostgreSQL's read committed): remembered, nothing released.
        let mut tx = f.app().db().begin().await.expect("begin");
        f.app()
            .remember_user_in(
                &mut tx,
                &UserRecord {
                    id: "u2".into(),
                    email: "u2@example.com".into(),
                    name: "User u2".into(),
                    roles: vec!["customer".into()],
                    deleted: false,
                },
            )
            .await
            .expect("remembered");
        tx.commit().await.expect("commit");
        assert!(f.messages("u2").await.is_empty());
        assert_eq!(f.handler.replay_released().await.expect("replayed"), 1);
        assert_eq!(
            templates_of(&f.messages("u2").await),
            ["payment_failed.email"]
        );
        assert_eq!(
            f.handler.replay_released().await.expect("replayed"),
            0,
            "released once"
        );
    }

    #[tokio::test]
    async fn an_event_that_arrives_before_its_order_and_user_waits_for_them() {
        let f = fixture().await;
        let failed = f
            .deliver(
                ServiceKind::Payments,
                &PaymentFailed {
                    payment_id: "p1".into(),
                    order_id: "o1".into(),
                    reason: FailureReason::Declined,
                    detail: "the card was declined".into(),
                },
            )
            .await;
        f.deliver(
            ServiceKind::Ordering,
            &OrderCreated {
                order_id: "o1".into(),
                user_id: "u1".into(),
                items: Vec::new(),
                total: usd(1999),
                payment_id: Some("p1".into()),
            },
        )
        .await;
        assert!(
            f.messages("u1").await.is_empty(),
            "the user is not known yet"
        );

        f.user("u1", &["customer"]).await;
        let messages = f.messages("u1").await;
        assert_eq!(
            templates_of(&messages),
            ["payment_failed.email", "welcome.email"]
        );
        let payment = &messages[0];
        assert_eq!(payment.recipient, "u1@example.com");
        assert!(
            payment
                .body
                .contains("o1 of 19.99 USD did not go through: the card was declined"),
            "{}",
            payment.body
        );
        assert_eq!(payment.status, Status::Queued.as_str());
        // The message names the event behind it, even one replayed from the parking.
        let failed_at = platform::time::parse_rfc3339(&failed.time).expect("rfc 3339");
        assert_eq!(payment.event_type.as_deref(), Some(PaymentFailed::TYPE));
        assert_eq!(
            payment.event_subject.as_deref(),
            Some(failed.subject.as_str())
        );
        assert_eq!(payment.event_time, Some(failed_at));

        // A redelivery creates nothing twice.
        f.deliver_envelope(&failed).await;
        assert_eq!(f.messages("u1").await.len(), 2);
    }

    #[tokio::test]
    async fn messages_go_to_every_channel_with_an_address_and_marketing_follows_the_opt_out() {
        let f = fixture().await;
        f.user("u2", &["customer"]).await;
        f.user("boss", &["customer", "admin"]).await;
        f.app()
            .set_preferences(
                "u2",
                &[
                    (
                        Channel::Sms,
                        PreferenceChange {
                            address: Some(Some("+15551234567".into())),
                            marketing: Some(false),
                        },
                    ),
                    (
                        Channel::Push,
                        PreferenceChange {
                            address: Some(Some("device-1".into())),
                            marketing: None,
                        },
                    ),
                ],
            )
            .await
            .expect("preferences");
        f.deliver(
            ServiceKind::Fulfillment,
            &ShipmentDispatched {
                shipment_id: "s1".into(),
                order_id: "o2".into(),
                user_id: "u2".into(),
                carrier: "sandbox".into(),
                tracking_number: "TRACK-42".into(),
                tracking_url: None,
                dispatched_at: "2026-01-01T00:00:00Z".into(),
            },
        )
        .await;
        let shipped: Vec<NotificationRecord> = f
            .messages("u2")
            .await
            .into_iter()
            .filter(|m| m.template_id.starts_with("shipment_dispatched"))
            .collect();
        let channels: Vec<(&str, &str)> = shipped
            .iter()
            .map(|m| (m.channel.as_str(), m.recipient.as_str()))
            .collect();
        assert_eq!(
            channels,
            [
                ("email", "u2@example.com"),
                ("push", "device-1"),
                ("sms", "+15551234567")
            ]
        );
        assert!(shipped.iter().all(|m| m.body.contains("TRACK-42")));

        f.deliver(
            ServiceKind::Inventory,
            &StockLow {
                sku: "SKU-9".into(),
                available: 2,
                threshold: 5,
            },
        )
        .await;
        assert!(templates_of(&f.messages("boss").await).contains(&"stock_low.email"));
        assert!(!templates_of(&f.messages("u2").await).contains(&"stock_low.email"));

        let promotion = |channel| SendRequest {
            user_id: "u2".into(),
            content: SendContent::Template(TemplateId::new("promotion", channel)),
            data: serde_json::json!({"headline": "Sale", "message": "All half price"})
                .as_object()
                .cloned()
                .unwrap_or_default(),
        };
        let sms = f.app().send(promotion(Channel::Sms)).await.expect("sent");
        assert_eq!(sms.status, Status::Suppressed.as_str(), "opted out on sms");
        let email = f.app().send(promotion(Channel::Email)).await.expect("sent");
        assert_eq!(
            email.status,
            Status::Queued.as_str(),
            "marketing is opt-out"
        );
        assert_eq!(
            (email.event_type, email.event_subject, email.event_time),
            (None, None, None),
            "an admin's send has no event behind it"
        );
        assert_eq!(email.subject.as_deref(), Some("Sale"));
    }

    #[tokio::test]
    async fn a_deleted_user_gets_nothing_more_and_their_queue_is_cancelled() {
        let f = fixture().await;
        f.user("u3", &["customer"]).await;
        f.deliver(
            ServiceKind::Identity,
            &UserDeleted {
                user_id: "u3".into(),
            },
        )
        .await;
        let messages = f.messages("u3").await;
        assert_eq!(templates_of(&messages), ["welcome.email"]);
        assert_eq!(messages[0].status, Status::Cancelled.as_str());
        assert_eq!(messages[0].recipient, "", "the address is redacted");
        f.deliver(
            ServiceKind::Ordering,
            &OrderConfirmed {
                order_id: "o3".into(),
                user_id: Some("u3".into()),
                payment_id: None,
                total: Some(usd(100)),
                shipping_address: None,
                items: Vec::new(),
            },
        )
        .await;
        assert_eq!(
            f.messages("u3").await.len(),
            1,
            "nothing for a deleted user"
        );
        let parked: i64 = platform::db::query_scalar("SELECT COUNT(*) FROM parked_events")
            .fetch_one(f.app().db().reader())
            .await
            .expect("count");
        assert_eq!(parked, 0, "and nothing waits for them");
    }
}
