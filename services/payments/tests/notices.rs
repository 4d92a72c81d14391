//! Stripe's webhook notices applied to payments (issue 20, item 4), against a real
//! database: a capture or a refund made in Stripe's dashboard shows in payments with
//! its ledger entry (and the refund its credit note), a notice settles the call of
//! payments' own that waits for it, a failure or a hold settles an authorization, a
//! dispute stages `payments.dispute.opened`, a redelivered notice changes nothing,
//! and only a body signed with the endpoint's secret is read. Notices are signed here
//! with the scheme's own signer (`platform::webhook_signature`).

mod support;

use payments::PaymentsConfig;
use payments::app::{EventOutcome, NoticeError, NoticeOutcome, PROVIDER_ACTOR};
use payments::config::StripeConfig;
use payments::domain::{FailureReason, PaymentStatus};
use payments::provider::Operation;
use platform::config::Secret;
use platform::service::Service;
use platform::webhook_signature::{StripeSignatureError, sign_stripe};
use serde_json::{Value, json};
use support::fixture::*;

const SECRET: &str = "whsec_notices_test";

fn with_webhooks() -> PaymentsConfig {
    PaymentsConfig {
        stripe: StripeConfig {
            webhook_secret: Some(Secret::from(SECRET)),
            ..StripeConfig::default()
        },
        ..PaymentsConfig::default()
    }
}

/// A Stripe event `id` of `kind` about `object`.
fn event(id: &str, kind: &str, object: Value) -> Vec<u8> {
    json!({"id": id, "object": "event", "type": kind, "api_version": "2024-06-20",
           "data": {"object": object}})
    .to_string()
    .into_bytes()
}

impl Fixture {
    /// Delivers `body` signed with the endpoint's secret now.
    async fn deliver(&self, body: &[u8]) -> Result<NoticeOutcome, NoticeError> {
        let now = self.clock.now_millis() / 1000;
        let signature = sign_stripe(SECRET.as_bytes(), now, body);
        self.payments
            .app()
            .receive_stripe_notice(Some(&signature), body)
            .await
    }

    /// `payment`'s ledger as (kind, amount, provider reference, actor).
    async fn entries(&self, payment: &str) -> Vec<(String, i64, String, String)> {
        self.payments
            .app()
            .transactions(Some(payment), None, 100)
            .await
            .expect("ledger")
            .into_iter()
            .map(|e| (e.kind, e.amount.amount, e.provider_ref, e.actor))
            .collect()
    }

    async fn count_events(&self, kind: &str) -> usize {
        self.events()
            .await
            .into_iter()
            .filter(|(t, _)| t == kind)
            .count()
    }
}

fn intent_object(id: &str, status: &str, amount: i64, received: i64, charge: &str) -> Value {
    json!({"id": id, "object": "payment_intent", "status": status, "amount": amount,
           "amount_received": received, "currency": "usd", "latest_charge": charge})
}

on_both_databases! {
    config = with_webhooks();

    async fn a_capture_made_in_stripes_dashboard_shows_once(f) {
        let id = f.pay("o-1", "u-1", 5_000, VISA).await;
        f.reserved("o-1", "u-1", &id, 5_000).await;
        let intent = f.intent_of(&id).await;
        let body = event("evt_cap", "payment_intent.succeeded", intent_object(&intent, "succeeded", 5_000, 4_000, "ch_dash"));
        assert_eq!(f.deliver(&body).await.expect("taken"), NoticeOutcome::Applied);
        let payment = f.payments.app().payment(&id).await.expect("payment");
        assert_eq!((payment.status, payment.captured.amount), (PaymentStatus::Captured, 4_000));
        let capture = ("capture".to_owned(), 4_000, "ch_dash".to_owned(), PROVIDER_ACTOR.to_owned());
        assert!(f.entries(&id).await.contains(&capture), "{:?}", f.entries(&id).await);
        // Stripe delivers it again: nothing more.
        assert_eq!(f.deliver(&body).await.expect("taken"), NoticeOutcome::Duplicate);
        assert_eq!(f.count_events("payments.payment.captured.v1").await, 1);
        assert!(f.payments.app().ledger_agrees(&id).await.expect("ledger"));
        assert_eq!(f.provider.made(Operation::Capture), 0, "payments captured nothing itself");
    }

    async fn a_notice_settles_the_call_that_waits_for_its_answer(f) {
        let id = f.pay("o-1", "u-1", 2_000, VISA).await;
        f.reserved("o-1", "u-1", &id, 2_000).await;
        // payments' capture is recorded, and its answer is lost with the process…
        let app = f.payments.app();
        let mut tx = app.db().begin().await.expect("begin");
        let step = app
            .capture_in(&mut tx, &contracts::ordering::OrderConfirmed {
                order_id: "o-1".into(), user_id: None, payment_id: Some(id.clone()), total: None,
                shipping_address: None, items: Vec::new(), attribution: None,
            })
            .await
            .expect("recorded");
        tx.commit().await.expect("commit");
        // …and Stripe's notice of it arrives first.
        let intent = f.intent_of(&id).await;
        let body = event("evt_own", "payment_intent.succeeded", intent_object(&intent, "succeeded", 2_000, 2_000, "ch_own"));
        assert_eq!(f.deliver(&body).await.expect("taken"), NoticeOutcome::Applied);
        assert_eq!(f.payments.app().payment(&id).await.expect("payment").status, PaymentStatus::Captured);
        let documents = app.order_documents("o-1").await.expect("read").expect("payment").documents;
        assert_eq!(documents.len(), 1, "its own capture issues the invoice");
        let call = step.call.expect("a call");
        assert!(matches!(app.make_call(&call).await, Ok(payments::app::Settled::Unchanged)));
        assert_eq!(f.provider.made(Operation::Capture), 0);
        assert_eq!(f.count_events("payments.payment.captured.v1").await, 1);
    }

    async fn failures_and_holds_settle_the_authorization_waiting_for_them(f) {
        let app = f.payments.app();
        let mut outcomes = Vec::new();
        for (order, kind, object_status, error) in [
            ("o-1", "payment_intent.payment_failed", "requires_payment_method",
                json!({"type": "card_error", "code": "card_declined", "decline_code": "insufficient_funds"})),
            ("o-2", "payment_intent.amount_capturable_updated", "requires_capture", Value::Null),
        ] {
            let id = f.pay(order, "u-1", 1_200, VISA).await;
            let mut tx = app.db().begin().await.expect("begin");
            let step = app
                .authorize_in(&mut tx, &contracts::ordering::OrderReserved {
                    order_id: order.into(), user_id: "u-1".into(), payment_id: id.clone(),
                    amount: usd(1_200),
                })
                .await
                .expect("recorded");
            tx.commit().await.expect("commit");
            assert_eq!(step.outcome, EventOutcome::Calling);
            let intent = f.intent_of(&id).await;
            let mut object = intent_object(&intent, object_status, 1_200, 0, "ch_x");
            object["last_payment_error"] = error;
            object["amount_capturable"] = json!(if object_status == "requires_capture" { 1_200 } else { 0 });
            let body = event(&format!("evt_{order}"), kind, object);
            assert_eq!(f.deliver(&body).await.expect("taken"), NoticeOutcome::Applied);
            outcomes.push(app.payment(&id).await.expect("payment"));
        }
        assert_eq!(outcomes[0].status, PaymentStatus::Failed);
        assert_eq!(outcomes[0].failure_reason, Some(FailureReason::InsufficientFunds));
        assert_eq!(outcomes[1].status, PaymentStatus::Authorized);
        assert_eq!(f.provider.made(Operation::Authorize), 0, "settled by the notices alone");
    }

    async fn refunds_made_in_stripe_beyond_ours_are_recorded_with_a_credit_note(f) {
        let id = f.pay("o-1", "u-1", 5_000, VISA).await;
        f.reserved("o-1", "u-1", &id, 5_000).await;
        f.confirmed("o-1", &id).await;
        let app = f.payments.app();
        app.refund(&id, Some(usd(1_000)), "admin").await.expect("our refund");
        let charge = |refunded: i64| json!({"id": "ch_1", "object": "charge", "payment_intent": "pi_unknown",
            "amount": 5_000, "amount_refunded": refunded, "currency": "usd"});
        // The notice of our own refund: nothing new. (It names another intent: the
        // charge finds the payment.)
        let capture_ref = f.entries(&id).await.into_iter().find(|e| e.0 == "capture").expect("capture").2;
        let mut ours = charge(1_000);
        ours["id"] = json!(capture_ref);
        assert_eq!(f.deliver(&event("evt_r1", "charge.refunded", ours)).await.expect("taken"), NoticeOutcome::Ignored);
        let mut dashboard = charge(3_500);
        dashboard["id"] = json!(capture_ref);
        let body = event("evt_r2", "charge.refunded", dashboard);
        assert_eq!(f.deliver(&body).await.expect("taken"), NoticeOutcome::Applied);
        assert_eq!(f.deliver(&body).await.expect("taken"), NoticeOutcome::Duplicate);
        let payment = app.payment(&id).await.expect("payment");
        assert_eq!((payment.status, payment.refunded.amount), (PaymentStatus::PartiallyRefunded, 3_500));
        let by_stripe: Vec<_> = f.entries(&id).await.into_iter().filter(|e| e.0 == "refund" && e.3 == PROVIDER_ACTOR).collect();
        assert_eq!(by_stripe.len(), 1);
        assert_eq!(by_stripe[0].1, 2_500);
        let documents = app.order_documents("o-1").await.expect("read").expect("payment").documents;
        assert_eq!(documents.len(), 3, "the invoice and a credit note per refund");
        assert_eq!(f.count_events("payments.refund.processed.v1").await, 2);
        assert!(app.ledger_agrees(&id).await.expect("ledger"));
        // Refunded in Stripe beyond what was captured cannot be: never more than captured.
        let mut over = charge(9_000);
        over["id"] = json!(capture_ref);
        f.deliver(&event("evt_r3", "charge.refunded", over)).await.expect("taken");
        let payment = app.payment(&id).await.expect("payment");
        assert_eq!((payment.status, payment.refunded.amount), (PaymentStatus::Refunded, 5_000));
    }

    async fn a_dispute_stages_its_event_for_the_admins(f) {
        let id = f.pay("o-1", "u-1", 5_000, VISA).await;
        f.reserved("o-1", "u-1", &id, 5_000).await;
        f.confirmed("o-1", &id).await;
        let charge = f.entries(&id).await.into_iter().find(|e| e.0 == "capture").expect("capture").2;
        let body = event("evt_dp", "charge.dispute.created", json!({"id": "dp_1", "object": "dispute",
            "charge": charge, "amount": 5_000, "currency": "usd", "reason": "fraudulent",
            "status": "needs_response", "evidence_details": {"due_by": 1_900_000_000}}));
        assert_eq!(f.deliver(&body).await.expect("taken"), NoticeOutcome::Applied);
        assert_eq!(f.deliver(&body).await.expect("taken"), NoticeOutcome::Duplicate);
        let disputes: Vec<_> = f.events().await.into_iter().filter(|(t, _)| t == "payments.dispute.opened.v1").collect();
        assert_eq!(disputes, [("payments.dispute.opened.v1".to_owned(), id.clone())]);
        let body: String = platform::db::query_scalar("SELECT body FROM outbox WHERE event_type = 'payments.dispute.opened.v1'")
            .fetch_one(f.payments.db().reader())
            .await
            .expect("body");
        let body: Value = serde_json::from_str(&body).expect("json");
        let payload = &body["data"];
        assert_eq!(payload["order_id"], "o-1");
        assert_eq!(payload["reason"], "fraudulent");
        assert_eq!(payload["evidence_due_by"], "2030-03-17T17:46:40Z");
    }

    async fn only_bodies_signed_with_the_endpoints_secret_are_read(f) {
        let app = f.payments.app();
        let body = event("evt_sig", "payment_intent.succeeded", intent_object("pi_x", "succeeded", 100, 100, "ch_x"));
        let now = f.clock.now_millis() / 1000;
        let cases = [
            (None, StripeSignatureError::Missing),
            (Some(sign_stripe(b"whsec_other", now, &body)), StripeSignatureError::Mismatch),
            (Some(sign_stripe(SECRET.as_bytes(), now - 301, &body)), StripeSignatureError::Stale),
            (Some("t=abc,v1=00".to_owned()), StripeSignatureError::Malformed),
        ];
        for (signature, expected) in cases {
            let refused = app.receive_stripe_notice(signature.as_deref(), &body).await;
            assert!(matches!(&refused, Err(NoticeError::Signature(e)) if *e == expected), "{signature:?}: {refused:?}");
        }
        let mut tampered = body.clone();
        tampered.extend_from_slice(b" ");
        let signature = sign_stripe(SECRET.as_bytes(), now, &body);
        assert!(matches!(app.receive_stripe_notice(Some(&signature), &tampered).await, Err(NoticeError::Signature(StripeSignatureError::Mismatch))));
        let unreadable = b"{\"id\": \"evt_bad\"}";
        let signature = sign_stripe(SECRET.as_bytes(), now, unreadable);
        assert!(matches!(app.receive_stripe_notice(Some(&signature), unreadable).await, Err(NoticeError::Unreadable(_))));
        // A payment of another shop, or a type payments does not act on: taken, ignored.
        assert_eq!(f.deliver(&body).await.expect("taken"), NoticeOutcome::Ignored);
        assert_eq!(f.deliver(&event("evt_cus", "customer.created", json!({"id": "cus_1"}))).await.expect("taken"), NoticeOutcome::Ignored);
    }
}

#[tokio::test]
async fn without_a_signing_secret_no_notice_is_taken() {
    let f = fixture(false, PaymentsConfig::default())
        .await
        .expect("sqlite");
    let body = event(
        "evt_1",
        "payment_intent.succeeded",
        intent_object("pi_x", "succeeded", 100, 100, "ch_x"),
    );
    let signature = sign_stripe(b"", f.clock.now_millis() / 1000, &body);
    let refused = f
        .payments
        .app()
        .receive_stripe_notice(Some(&signature), &body)
        .await;
    assert!(
        matches!(refused, Err(NoticeError::NotConfigured)),
        "{refused:?}"
    );
    f.finish().await;
}
