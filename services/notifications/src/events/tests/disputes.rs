//! Payments' disputes: a chargeback alerts every admin once (order, payment, amount,
//! reason and evidence deadline in the message), whether or not the order is known,
//! and with no admin known it sends nothing and parks nothing.

use contracts::payments::DisputeOpened;
use platform::service::ServiceKind;

use super::{fixture, usd};
use crate::domain::Message;

const ALERT: &str = "dispute_opened.email";

fn dispute() -> DisputeOpened {
    DisputeOpened {
        dispute_id: "dp_123".into(),
        payment_id: "p-77".into(),
        order_id: "o-77".into(),
        amount: usd(4_250),
        reason: "fraudulent".into(),
        evidence_due_by: Some("2026-12-20T23:59:59Z".into()),
    }
}

async fn count(f: &super::Fixture, sql: &str) -> i64 {
    platform::db::query_scalar(sql)
        .fetch_one(f.app().db().reader())
        .await
        .expect("count")
}

#[tokio::test]
async fn a_dispute_alerts_every_admin_once() {
    let f = fixture().await;
    f.user("boss", &["customer", "admin"]).await;
    f.user("ops", &["admin"]).await;
    f.user("shopper", &["customer"]).await;
    // The order o-77 was never seen: the alert is for admins and does not wait for it.
    let event = f.deliver(ServiceKind::Payments, &dispute()).await;
    f.deliver_envelope(&event).await;

    for admin in ["boss", "ops"] {
        let alerts: Vec<Message> = f
            .messages(admin)
            .await
            .into_iter()
            .filter(|m| m.composed().template_id == ALERT)
            .collect();
        assert_eq!(alerts.len(), 1, "{admin}");
        let composed = alerts[0].composed();
        assert_eq!(composed.to, format!("{admin}@example.com"));
        assert_eq!(
            composed.content.subject.as_deref(),
            Some("Payment disputed: 42.50 USD on order o-77, answer by 2026-12-20 23:59 UTC")
        );
        for part in [
            "Hello User ",
            "the cardholder disputed the payment p-77 of order o-77",
            "Amount disputed: 42.50 USD\n",
            "Reason: fraudulent\n",
            "Dispute: dp_123\n",
            "Evidence due by: 2026-12-20 23:59 UTC\n",
            "at the payment provider before 2026-12-20 23:59 UTC",
        ] {
            assert!(
                composed.content.body.contains(part),
                "{part:?} in {}",
                composed.content.body
            );
        }
        assert_eq!(
            composed
                .origin
                .as_ref()
                .map(|o| (o.event_type.as_str(), o.subject.as_str())),
            Some(("payments.dispute.opened.v1", "p-77"))
        );
    }
    assert!(
        f.messages("shopper")
            .await
            .iter()
            .all(|m| m.composed().template_id != ALERT),
        "customers are not alerted"
    );
    assert_eq!(count(&f, "SELECT COUNT(*) FROM parked_events").await, 0);
}

#[tokio::test]
async fn a_dispute_with_no_admin_known_sends_nothing_and_parks_nothing() {
    let f = fixture().await;
    f.user("shopper", &["customer"]).await;
    // Handled without error (a warning is logged), so the event is not retried.
    f.deliver(ServiceKind::Payments, &dispute()).await;
    assert_eq!(
        count(
            &f,
            "SELECT COUNT(*) FROM notifications WHERE template_id = 'dispute_opened.email'"
        )
        .await,
        0
    );
    assert_eq!(count(&f, "SELECT COUNT(*) FROM parked_events").await, 0);
}
