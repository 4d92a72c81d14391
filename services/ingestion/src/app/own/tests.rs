//! Own events through the consumer on a real SQLite database: stored once with their
//! announcement in the consumer's transaction, hashed with the tenant's one key, and
//! skipped (nothing written) when they lack what is needed.

use std::sync::Arc;

use async_trait::async_trait;
use contracts::Money;
use contracts::ingestion::{EventKind, Provider, VISCOUNT_TENANT};
use contracts::ordering::{Attribution, OrderConfirmed};
use contracts::payments::PaymentCaptured;
use platform::auth::ForwardedCredentials;
use platform::bus::{Bus, EmbeddedBus, Envelope, EventHandler};
use platform::db::Db;
use platform::service::ServiceKind;
use platform::tasks::Tasks;
use platform::time::Clock;

use super::OwnRecorded;
use crate::app::IngestionApp;
use crate::config::IngestionConfig;
use crate::domain::own::OwnEvent;
use crate::domain::ports::{CertificateSource, PortError, TenantDirectory};
use crate::events::OwnEvents;
use crate::store;

/// Own events never ask identity or PayPal anything.
struct Nobody;

#[async_trait]
impl TenantDirectory for Nobody {
    async fn tenant_exists(&self, _: &ForwardedCredentials, _: &str) -> Result<bool, PortError> {
        Err(PortError::Unavailable("identity"))
    }
}

#[async_trait]
impl CertificateSource for Nobody {
    async fn certificate(&self, _: &str) -> Result<String, PortError> {
        Err(PortError::Unavailable("paypal"))
    }
}

async fn app() -> (tempfile::TempDir, IngestionApp) {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = platform::db::sqlite_url(dir.path(), "ingestion");
    let db = Db::connect(&url, &crate::MIGRATIONS).await.expect("db");
    let outbox = EmbeddedBus::new()
        .attach_producer(ServiceKind::Ingestion, db.clone(), &Tasks::default())
        .await
        .expect("outbox");
    let app = IngestionApp::new(
        db,
        outbox,
        Clock::system(),
        IngestionConfig::default(),
        Arc::new(Nobody),
        Arc::new(Nobody),
    );
    (dir, app)
}

fn usd(amount: i64) -> Money {
    Money {
        amount,
        currency: "USD".into(),
    }
}

fn confirmed(total: Option<Money>) -> OrderConfirmed {
    OrderConfirmed {
        order_id: "o-1".into(),
        user_id: Some("u-1".into()),
        payment_id: Some("p-1".into()),
        total,
        shipping_address: None,
        items: Vec::new(),
        attribution: Some(Attribution {
            utm_source: Some("newsletter".into()),
            utm_medium: Some("email".into()),
            ..Attribution::default()
        }),
    }
}

/// Hands `envelope` to the consumer in a transaction of its own, as the bus does.
async fn deliver(app: &IngestionApp, envelope: &Envelope) {
    let handler = OwnEvents { app: app.clone() };
    let mut tx = app.db().begin().await.expect("begin");
    handler.handle(&mut tx, envelope).await.expect("handled");
    tx.commit().await.expect("commit");
}

/// The types staged in the outbox, in order.
async fn announced(app: &IngestionApp) -> Vec<String> {
    platform::db::query_scalar("SELECT event_type FROM outbox ORDER BY seq")
        .fetch_all(app.db().reader())
        .await
        .expect("outbox")
}

#[tokio::test]
async fn a_confirmed_order_is_stored_and_announced_once_however_often_it_arrives() {
    let (_dir, app) = app().await;
    let envelope =
        Envelope::new(ServiceKind::Ordering, &confirmed(Some(usd(2500)))).expect("envelope");
    deliver(&app, &envelope).await;
    deliver(&app, &envelope).await;

    let events = app
        .events(Some(VISCOUNT_TENANT), None, 10)
        .await
        .expect("events");
    assert_eq!(events.len(), 1, "one event for one envelope");
    let event = &events[0];
    assert_eq!(
        (event.provider, event.kind, event.external_id.as_str()),
        (Provider::Viscount, EventKind::Order, "o-1")
    );
    assert_eq!(event.provider_event_id, envelope.id);
    assert_eq!(event.amount, usd(2500));
    assert_eq!(event.channel.as_str(), "email");
    assert_eq!(announced(&app).await, ["ingestion.event.received.v1"]);

    // The owner is hashed with the tenant's one stored key, the one touchpoints use.
    let key = store::tenant_key(app.db().reader(), VISCOUNT_TENANT)
        .await
        .expect("read")
        .expect("the tenant's key was made with its first event");
    assert_eq!(event.customer_ref, Some(key.customer_ref("u-1")));
    assert_eq!(
        app.ref_key(VISCOUNT_TENANT).await.expect("key").as_bytes(),
        key.as_bytes()
    );

    // The same order's payment is another event of the same tenant.
    let captured = PaymentCaptured {
        payment_id: "p-1".into(),
        order_id: "o-1".into(),
        amount: usd(2500),
    };
    deliver(
        &app,
        &Envelope::new(ServiceKind::Payments, &captured).expect("envelope"),
    )
    .await;
    let events = app
        .events(Some(VISCOUNT_TENANT), None, 10)
        .await
        .expect("events");
    let kinds: Vec<EventKind> = events.iter().map(|e| e.kind).collect();
    assert_eq!(kinds, [EventKind::Order, EventKind::Payment]);
    assert_eq!(events[1].order_ref.as_deref(), Some("o-1"));
    assert_eq!(announced(&app).await.len(), 2);
}

#[tokio::test]
async fn an_order_without_a_total_is_skipped_and_nothing_is_written() {
    let (_dir, app) = app().await;
    let mut tx = app.db().begin().await.expect("begin");
    let recorded = app
        .record_own(
            &mut tx,
            "env-1",
            "2026-03-01T12:00:00Z",
            &OwnEvent::OrderConfirmed(confirmed(None)),
        )
        .await
        .expect("recorded");
    tx.commit().await.expect("commit");
    assert_eq!(recorded, OwnRecorded::Skipped("`total` is missing".into()));
    assert!(app.events(None, None, 10).await.expect("events").is_empty());
    assert!(announced(&app).await.is_empty());
}

#[tokio::test]
async fn a_rolled_back_event_leaves_no_key_behind_in_memory() {
    let (_dir, app) = app().await;
    let envelope =
        Envelope::new(ServiceKind::Ordering, &confirmed(Some(usd(100)))).expect("envelope");
    let handler = OwnEvents { app: app.clone() };
    let mut tx = app.db().begin().await.expect("begin");
    handler.handle(&mut tx, &envelope).await.expect("handled");
    tx.rollback().await.expect("rollback");
    // Nothing of it was kept, and the key made in it is not remembered: the next
    // delivery makes (and stores) the key its events are hashed with.
    assert!(
        store::tenant_key(app.db().reader(), VISCOUNT_TENANT)
            .await
            .expect("read")
            .is_none()
    );
    deliver(&app, &envelope).await;
    let key = store::tenant_key(app.db().reader(), VISCOUNT_TENANT)
        .await
        .expect("read")
        .expect("stored");
    let events = app
        .events(Some(VISCOUNT_TENANT), None, 10)
        .await
        .expect("events");
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].customer_ref, Some(key.customer_ref("u-1")));
}
