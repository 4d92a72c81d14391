//! Provider calls outside database transactions (issue 20, item 3), against a real
//! database: a call is recorded and committed before it is made, and its outcome
//! recorded after; a call whose answer was lost is settled by asking the provider,
//! and made only when the provider never saw it; two settlers record one outcome; an
//! order cancelled during its authorization releases the hold; a refund the provider
//! refuses gives its promised amount back, and one it never answered completes later.
//! The provider is the sandbox behind [`Flaky`], which counts what reaches it.

mod support;

use std::time::Duration;

use contracts::ordering::{OrderCancelled, OrderConfirmed, OrderReserved};
use payments::app::{EventOutcome, RecordedCall, Settled};
use payments::domain::PaymentStatus;
use payments::provider::{Call, Operation, PaymentProvider};
use payments::{PaymentsConfig, PaymentsError};
use support::fixture::*;
use support::flaky::Mode;

/// Calls without an answer are asked about at once.
fn eager() -> PaymentsConfig {
    PaymentsConfig {
        call_answer_wait_ms: 0,
        ..PaymentsConfig::default()
    }
}

fn confirmation(order: &str, payment: &str) -> OrderConfirmed {
    OrderConfirmed {
        order_id: order.into(),
        user_id: None,
        payment_id: Some(payment.into()),
        total: None,
        shipping_address: None,
        items: Vec::new(),
        attribution: None,
    }
}

impl Fixture {
    /// An authorized payment of `amount` for order `order`.
    async fn authorized(&self, order: &str, amount: i64) -> String {
        let id = self.pay(order, "u-1", amount, VISA).await;
        assert_eq!(
            self.reserved(order, "u-1", &id, amount).await,
            EventOutcome::Moved(PaymentStatus::Authorized)
        );
        id
    }

    /// The capture of `payment` recorded and committed, and not made: a process that
    /// died right after the commit.
    async fn capture_recorded(&self, order: &str, payment: &str) -> RecordedCall {
        let app = self.payments.app();
        let mut tx = app.db().begin().await.expect("begin");
        let step = app
            .capture_in(&mut tx, &confirmation(order, payment))
            .await
            .expect("capture recorded");
        tx.commit().await.expect("commit");
        assert_eq!(step.outcome, EventOutcome::Calling);
        step.call.expect("a call to make")
    }

    /// The (kind, provider reference) of each ledger entry of `payment`.
    async fn ledger(&self, payment: &str) -> Vec<(String, String)> {
        self.payments
            .app()
            .transactions(Some(payment), None, 100)
            .await
            .expect("ledger")
            .into_iter()
            .map(|e| (e.kind, e.provider_ref))
            .collect()
    }

    /// The kinds of `payment`'s ledger entries, in order.
    async fn kinds(&self, payment: &str) -> Vec<String> {
        self.ledger(payment)
            .await
            .into_iter()
            .map(|e| e.0)
            .collect()
    }
}

on_both_databases! {
    config = eager();

    async fn a_call_made_before_the_crash_is_settled_by_asking_never_made_again(f) {
        let id = f.authorized("o-1", 4_000).await;
        let call = f.capture_recorded("o-1", &id).await;
        assert_eq!(f.status(&id).await, PaymentStatus::Authorized, "nothing moved before the answer");
        // The capture reached the provider; its answer was lost with the process.
        let intent = f.intent_of(&id).await;
        let made = f
            .provider
            .capture(&intent, &usd(4_000), &call_key(&f, &id).await)
            .await
            .expect("captured at the provider");
        assert_eq!(f.provider.made(Operation::Capture), 1);

        let settled = f.payments.app().reconcile_calls().await.expect("reconcile");
        assert_eq!(settled, 1);
        assert_eq!(f.status(&id).await, PaymentStatus::Captured);
        assert_eq!(f.provider.made(Operation::Capture), 1, "asked, not made again");
        assert!(f.provider.lookups() >= 1);
        let ledger = f.ledger(&id).await;
        assert!(ledger.contains(&("capture".to_owned(), made.0.clone())), "{ledger:?}");
        assert!(f.payments.app().ledger_agrees(&id).await.expect("ledger"));
        let documents = f.payments.app().order_documents("o-1").await.expect("read").expect("payment");
        assert_eq!(documents.documents.len(), 1, "one invoice");
        // Settled: a second round finds nothing, and the call recorded is done.
        assert_eq!(f.payments.app().reconcile_calls().await.expect("reconcile"), 0);
        assert!(matches!(f.payments.app().make_call(&call).await, Ok(Settled::Unchanged)));
        assert_eq!(f.provider.made(Operation::Capture), 1);
    }

    async fn a_call_that_never_reached_the_provider_is_made_once_by_the_reconciler(f) {
        let id = f.authorized("o-1", 2_500).await;
        let _call = f.capture_recorded("o-1", &id).await;
        assert_eq!(f.provider.made(Operation::Capture), 0);
        assert_eq!(f.payments.app().reconcile_calls().await.expect("reconcile"), 1);
        assert_eq!(f.status(&id).await, PaymentStatus::Captured);
        assert_eq!(f.provider.made(Operation::Capture), 1);
        assert_eq!(f.kinds(&id).await, ["authorize", "capture"]);
    }

    async fn two_settlers_at_once_record_one_outcome(f) {
        for round in 0..5 {
            let order = format!("o-{round}");
            let id = f.authorized(&order, 1_000).await;
            let call = f.capture_recorded(&order, &id).await;
            let app = f.payments.app().clone();
            let maker = {
                let (app, call) = (app.clone(), call.clone());
                tokio::spawn(async move { app.make_call(&call).await })
            };
            let reconciler = tokio::spawn(async move { app.reconcile_calls().await });
            maker.await.expect("maker").expect("made");
            reconciler.await.expect("reconciler").expect("reconciled");
            assert_eq!(f.status(&id).await, PaymentStatus::Captured);
            assert_eq!(f.kinds(&id).await, ["authorize", "capture"], "round {round}");
            assert!(f.payments.app().ledger_agrees(&id).await.expect("ledger"));
        }
        let captured = f.events().await.into_iter().filter(|(t, _)| t == "payments.payment.captured.v1").count();
        assert_eq!(captured, 5, "one event per capture");
    }

    async fn an_order_cancelled_during_its_authorization_releases_the_hold(f) {
        let id = f.pay("o-1", "u-1", 3_000, VISA).await;
        let app = f.payments.app();
        let mut tx = app.db().begin().await.expect("begin");
        let step = app
            .authorize_in(&mut tx, &OrderReserved {
                order_id: "o-1".into(),
                user_id: "u-1".into(),
                payment_id: id.clone(),
                amount: usd(3_000),
            })
            .await
            .expect("authorization recorded");
        tx.commit().await.expect("commit");
        let call = step.call.expect("a call");
        // The saga gave up waiting and cancelled the order before the provider answered.
        f.cancelled("o-1").await;
        assert_eq!(f.status(&id).await, PaymentStatus::Cancelled);
        assert!(matches!(app.make_call(&call).await, Ok(Settled::Unchanged)));
        // The hold is released by a void made once that answer was recorded.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while f.provider.made(Operation::Void) == 0 || f.kinds(&id).await.len() < 2 {
            assert!(std::time::Instant::now() < deadline, "the hold was never released");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let mut kinds = f.kinds(&id).await;
        kinds.sort();
        assert_eq!(kinds, ["authorize", "void"], "held once, released once");
        assert_eq!(f.provider.made(Operation::Void), 1);
        assert_eq!(f.status(&id).await, PaymentStatus::Cancelled);
        let voided = f.events().await.into_iter().filter(|(t, _)| t == "payments.payment.voided.v1").count();
        assert_eq!(voided, 0, "the order is cancelled already: no one waits for a void event");
    }

    async fn a_capture_waits_while_a_void_is_on_its_way(f) {
        let id = f.authorized("o-1", 1_500).await;
        let app = f.payments.app();
        let mut tx = app.db().begin().await.expect("begin");
        let step = app
            .cancel_in(&mut tx, &OrderCancelled { order_id: "o-1".into(), reason: "customer".into(), payment_id: None })
            .await
            .expect("void recorded");
        tx.commit().await.expect("commit");
        let mut tx = app.db().begin().await.expect("begin");
        let refused = app.capture_in(&mut tx, &confirmation("o-1", &id)).await;
        drop(tx);
        assert!(matches!(refused, Err(PaymentsError::CallPending(Operation::Void))), "{refused:?}");
        app.make_call(&step.call.expect("a call")).await.expect("voided");
        assert_eq!(f.status(&id).await, PaymentStatus::Voided);
    }

    async fn a_refused_refund_gives_its_promise_back(f) {
        let id = f.authorized("o-1", 5_000).await;
        f.confirmed("o-1", &id).await;
        let app = f.payments.app();
        f.provider.set(Operation::Refund, Mode::Refuse);
        let refused = app.refund(&id, None, "admin").await;
        assert!(matches!(&refused, Err(PaymentsError::Provider(d)) if d.detail.contains("refused")), "{refused:?}");
        let after = app.payment(&id).await.expect("payment");
        assert_eq!((after.status, after.refunded.amount), (PaymentStatus::Captured, 0));
        f.provider.set(Operation::Refund, Mode::Answer);
        let refund = app.refund(&id, None, "admin").await.expect("the whole amount again");
        assert_eq!(refund.amount, usd(5_000));
        assert_eq!(refund.payment.status, PaymentStatus::Refunded);
        assert!(app.ledger_agrees(&id).await.expect("ledger"));
    }

    async fn a_refund_the_provider_never_answered_completes_later_and_holds_its_amount(f) {
        let id = f.authorized("o-1", 5_000).await;
        f.confirmed("o-1", &id).await;
        let app = f.payments.app();
        f.provider.set(Operation::Refund, Mode::Unreachable);
        let unanswered = app.refund(&id, Some(usd(3_000)), "admin").await;
        assert!(matches!(unanswered, Err(PaymentsError::Unanswered(..))), "{unanswered:?}");
        // Promised: no second refund may take the same money meanwhile.
        let over = app.refund(&id, Some(usd(2_500)), "admin").await;
        assert!(matches!(over, Err(PaymentsError::OverRefund { refundable: 2_000 })), "{over:?}");
        assert_eq!(f.payments.app().reconcile_calls().await.expect("still unreachable"), 0);
        assert_eq!(app.payment(&id).await.expect("payment").status, PaymentStatus::Captured);

        f.provider.set(Operation::Refund, Mode::Answer);
        assert_eq!(f.payments.app().reconcile_calls().await.expect("reconcile"), 1);
        let after = app.payment(&id).await.expect("payment");
        assert_eq!((after.status, after.refunded.amount), (PaymentStatus::PartiallyRefunded, 3_000));
        assert_eq!(f.provider.made(Operation::Refund), 1);
        assert!(app.ledger_agrees(&id).await.expect("ledger"));
    }
}

on_both_databases! {
    config = eager();

    async fn a_refund_asked_again_with_its_key_is_the_same_refund(f) {
        let id = f.authorized("o-1", 5_000).await;
        f.confirmed("o-1", &id).await;
        let app = f.payments.app();
        f.provider.set(Operation::Refund, Mode::Unreachable);
        let first = app.refund_once(&id, Some(usd(2_000)), "admin", Some("k-1")).await;
        assert!(matches!(first, Err(PaymentsError::Unanswered(..))), "{first:?}");
        f.provider.set(Operation::Refund, Mode::Answer);
        // The client retries with its key: still the first refund, left to the reconciler.
        let again = app.refund_once(&id, Some(usd(2_000)), "admin", Some("k-1")).await;
        assert!(matches!(again, Err(PaymentsError::Unanswered(..))), "{again:?}");
        assert_eq!(f.provider.made(Operation::Refund), 0);
        assert_eq!(app.reconcile_calls().await.expect("reconcile"), 1);
        let answered = app.refund_once(&id, Some(usd(2_000)), "admin", Some("k-1")).await.expect("the refund");
        assert_eq!((answered.amount.amount, answered.payment.refunded.amount), (2_000, 2_000));
        assert_eq!(f.provider.made(Operation::Refund), 1, "one refund at the provider");
        // Another key is another refund.
        let other = app.refund_once(&id, Some(usd(1_000)), "admin", Some("k-2")).await.expect("another");
        assert_eq!(other.payment.refunded.amount, 3_000);
    }
}

/// The key the capture of `payment` is recorded under.
async fn call_key(f: &Fixture, payment: &str) -> String {
    let calls = f
        .payments
        .app()
        .provider_calls(payment)
        .await
        .expect("calls");
    calls
        .into_iter()
        .find(|c| c.operation == Operation::Capture)
        .map(|c| c.key)
        .expect("a recorded capture")
}

#[tokio::test]
async fn a_lookup_of_the_sandbox_reads_its_remembered_answers() {
    let f = fixture(false, eager()).await.expect("sqlite");
    let id = f.authorized("o-1", 700).await;
    let intent = f.intent_of(&id).await;
    let amount = usd(700);
    let call = Call {
        operation: Operation::Authorize,
        intent: &intent,
        amount: &amount,
        key: &format!("{id}:authorize"),
    };
    assert!(
        matches!(f.provider.lookup(&call).await, Ok(payments::provider::Lookup::Made(r)) if r.0 == intent)
    );
    f.finish().await;
}
