//! The consumer against a real (SQLite) database: parking and replaying early events,
//! fan-out over channels, preferences, admins' alerts and deleted users (analytics' events
//! in `reports`, payments' disputes in `disputes`).

use contracts::Money;
use contracts::payments::FailureReason;
use platform::bus::{Bus, EmbeddedBus};
use platform::db::Db;
use platform::service::ServiceKind;
use platform::tasks::Tasks;
use platform::time::Clock;

mod disputes;
mod reports;

use super::*;
use crate::MIGRATIONS;
use crate::app::{PreferenceChange, SendContent, SendRequest};
use crate::config::NotificationsConfig;
use crate::domain::{Channel, Message, Origin, Status, TemplateId};
use crate::store;

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
    let app = NotificationsApp::new(db, outbox, Clock::system(), &NotificationsConfig::default());
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

    async fn messages(&self, user_id: &str) -> Vec<Message> {
        let mut found = store::list_for_user(self.app().db().reader(), user_id, None, None, 100)
            .await
            .expect("list");
        found.sort_by(|a, b| a.composed().template_id.cmp(&b.composed().template_id));
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

fn templates_of(messages: &[Message]) -> Vec<&str> {
    messages
        .iter()
        .map(|m| m.composed().template_id.as_str())
        .collect()
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
            attribution: None,
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
            &Recipient::live(
                "u2".into(),
                "u2@example.com".into(),
                "User u2".into(),
                vec!["customer".into()],
            ),
        )
        .await
        .expect("remembered");
    tx.commit().await.expect("commit");
    assert!(f.messages("u2").await.is_empty());
    assert_eq!(
        f.handler
            .replay_released(&platform::fence::Fence::new(super::PARKED_REPLAY, 1))
            .await
            .expect("replayed"),
        1
    );
    assert_eq!(
        templates_of(&f.messages("u2").await),
        ["payment_failed.email"]
    );
    assert_eq!(
        f.handler
            .replay_released(&platform::fence::Fence::new(super::PARKED_REPLAY, 1))
            .await
            .expect("replayed"),
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
            attribution: None,
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
    let payment = messages[0].composed();
    assert_eq!(payment.to, "u1@example.com");
    assert!(
        payment
            .content
            .body
            .contains("o1 of 19.99 USD did not go through: the card was declined"),
        "{}",
        payment.content.body
    );
    assert_eq!(messages[0].status(), Status::Queued);
    // The message names the event behind it, even one replayed from the parking.
    let failed_at = platform::time::parse_rfc3339(&failed.time).expect("rfc 3339");
    assert_eq!(
        payment.origin,
        Some(Origin {
            event_type: PaymentFailed::TYPE.to_owned(),
            subject: failed.subject.clone(),
            time: Some(failed_at),
        })
    );

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
    let shipped: Vec<Message> = f
        .messages("u2")
        .await
        .into_iter()
        .filter(|m| m.composed().template_id.starts_with("shipment_dispatched"))
        .collect();
    let channels: Vec<(&str, &str)> = shipped
        .iter()
        .map(|m| (m.composed().channel.as_str(), m.composed().to.as_str()))
        .collect();
    assert_eq!(
        channels,
        [
            ("email", "u2@example.com"),
            ("push", "device-1"),
            ("sms", "+15551234567")
        ]
    );
    assert!(
        shipped
            .iter()
            .all(|m| m.composed().content.body.contains("TRACK-42"))
    );

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
    assert_eq!(sms.status(), Status::Suppressed, "opted out on sms");
    let email = f.app().send(promotion(Channel::Email)).await.expect("sent");
    assert_eq!(email.status(), Status::Queued, "marketing is opt-out");
    assert_eq!(
        email.composed().origin,
        None,
        "an admin's send has no event behind it"
    );
    assert_eq!(email.composed().content.subject.as_deref(), Some("Sale"));
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
    assert_eq!(messages[0].status(), Status::Cancelled);
    assert_eq!(messages[0].composed().to, "", "the address is redacted");
    f.deliver(
        ServiceKind::Ordering,
        &OrderConfirmed {
            order_id: "o3".into(),
            user_id: Some("u3".into()),
            payment_id: None,
            total: Some(usd(100)),
            shipping_address: None,
            items: Vec::new(),
            attribution: None,
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

#[tokio::test]
async fn an_event_is_queued_once_per_subscribed_endpoint_and_settled_ones_are_pruned() {
    use platform::retention::{DAY_MS, RetentionRule};

    use crate::app::SettledDeliveries;
    use crate::domain::{Attempt, DeliveryStatus, EndpointSettings, WebhookRetry};
    use crate::store::webhooks;

    let f = fixture().await;
    let app = f.app();
    let settings = |types: &[&str]| {
        EndpointSettings::new(
            "https://erp.example/hooks",
            None,
            types.iter().map(|t| (*t).to_owned()).collect(),
            true,
        )
        .expect("settings")
    };
    let orders = app
        .create_endpoint(settings(&[OrderCreated::TYPE]))
        .await
        .expect("endpoint");
    let other = app
        .create_endpoint(settings(&[PaymentFailed::TYPE]))
        .await
        .expect("endpoint");
    let created = OrderCreated {
        order_id: "o-hook".into(),
        user_id: "u-hook".into(),
        items: Vec::new(),
        total: usd(700),
        payment_id: None,
        attribution: None,
    };
    // Delivered twice by the bus, queued once, and only for its subscriber.
    let envelope = f.deliver(ServiceKind::Ordering, &created).await;
    f.deliver_envelope(&envelope).await;
    let reader = app.db().reader();
    let queued = webhooks::deliveries(reader, &orders.id, None, None, 10)
        .await
        .expect("deliveries");
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].event_id, envelope.id);
    assert_eq!(queued[0].status, DeliveryStatus::Pending);
    let body: serde_json::Value = serde_json::from_str(&queued[0].payload).expect("json");
    assert_eq!(body["type"], OrderCreated::TYPE);
    assert_eq!(body["data"]["order_id"], "o-hook");
    let none = webhooks::deliveries(reader, &other.id, None, None, 10)
        .await
        .expect("deliveries");
    assert!(none.is_empty());

    // Claimed and failed for good (a schedule without retries), it is pruned once old;
    // a pending one is not.
    let now = app.clock.now_millis();
    let mut tx = app.db().begin().await.expect("begin");
    let mut claimed = webhooks::claim_due(&mut tx, now, now + 60_000, 10)
        .await
        .expect("claim");
    assert_eq!(claimed.len(), 1);
    let mut delivery = claimed.remove(0).delivery;
    let attempt = Attempt {
        attempt: delivery.attempts,
        at: now,
        status_code: Some(500),
        error: Some("the endpoint answered 500".into()),
        duration_ms: 3,
    };
    delivery.conclude(&attempt, &WebhookRetry { delays: Vec::new() }, now);
    assert!(
        webhooks::settle(&mut tx, &delivery, &attempt, now)
            .await
            .expect("settle")
    );
    tx.commit().await.expect("commit");
    let second = OrderCreated {
        order_id: "o-hook-2".into(),
        ..created
    };
    f.deliver(ServiceKind::Ordering, &second).await;

    let rule = SettledDeliveries::new(app, 30);
    let mut tx = app.db().begin().await.expect("begin");
    let early = rule.delete_batch(&mut tx, now + DAY_MS, 100).await;
    let late = rule.delete_batch(&mut tx, now + 31 * DAY_MS, 100).await;
    tx.commit().await.expect("commit");
    assert_eq!((early.ok(), late.ok()), (Some(0), Some(1)));
    let left = webhooks::deliveries(reader, &orders.id, None, None, 10)
        .await
        .expect("deliveries");
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].status, DeliveryStatus::Pending);
    let detail = webhooks::delivery(reader, &orders.id, &delivery.id)
        .await
        .expect("read");
    assert!(
        detail.is_none(),
        "the failed delivery and its attempts are gone"
    );
}
