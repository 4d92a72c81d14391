//! Payments' operations against a real database: the saga's authorize / capture /
//! void / refund paths as ordering's events drive them, the fraud rules, the ledger,
//! refunds racing each other, the expiry of payments no order took further, and fraud
//! reviews decided exactly once. Each test runs on SQLite, and on PostgreSQL too when
//! `VISCOUNT_TEST_POSTGRES_URL` is set.

mod support;

use std::time::Duration;

use contracts::Money;
use contracts::ordering::OrderConfirmed;
use contracts::payments::FailureReason;
use payments::app::EventOutcome;
use payments::app::FraudFactsRetention;
use payments::domain::{Expiry, PaymentOrigin, PaymentStatus};
use payments::{CardSource, NewPayment, PaymentSource, PaymentsConfig, PaymentsError};
use platform::retention::RetentionRule;
use platform::service::Service;
use support::fixture::*;

on_both_databases! {
    async fn the_saga_authorizes_captures_and_refunds_with_a_balanced_ledger(f) {
        let id = f.pay("o-1", "u-1", 10_000, VISA).await;
        assert_eq!(f.status(&id).await, PaymentStatus::Pending);
        assert_eq!(f.reserved("o-1", "u-1", &id, 10_000).await, EventOutcome::Moved(PaymentStatus::Authorized));
        assert_eq!(f.reserved("o-1", "u-1", &id, 10_000).await, EventOutcome::Unchanged, "redelivery");
        assert_eq!(f.confirmed("o-1", &id).await, EventOutcome::Moved(PaymentStatus::Captured));
        assert_eq!(f.confirmed("o-1", &id).await, EventOutcome::Unchanged, "redelivery");

        let app = f.payments.app();
        let part = app.refund(&id, Some(usd(2_500)), "admin-1").await.expect("refund");
        assert_eq!(part.payment.status, PaymentStatus::PartiallyRefunded);
        assert_eq!(part.payment.refunded, usd(2_500));
        assert!(matches!(
            app.refund(&id, Some(usd(7_501)), "admin-1").await,
            Err(PaymentsError::OverRefund { refundable: 7_500 })
        ));
        assert!(matches!(
            app.refund(&id, Some(Money { amount: 1, currency: "EUR".into() }), "admin-1").await,
            Err(PaymentsError::InvalidAmount(_))
        ));
        let rest = app.refund(&id, None, "admin-1").await.expect("refund the rest");
        assert_eq!(rest.amount, usd(7_500));
        assert_eq!(rest.payment.status, PaymentStatus::Refunded);
        assert!(matches!(app.refund(&id, None, "admin-1").await, Err(PaymentsError::OverRefund { refundable: 0 })));
        assert!(app.ledger_agrees(&id).await.expect("ledger"));
        assert!(app.reconcile().await.expect("reconcile").is_empty());

        let kinds: Vec<String> = app
            .transactions(Some(&id), None, 100)
            .await
            .expect("ledger")
            .into_iter()
            .map(|t| t.kind)
            .collect();
        assert_eq!(kinds, ["authorize", "capture", "refund", "refund"]);
        let events: Vec<String> = f.events().await.into_iter().map(|(t, _)| t).collect();
        assert_eq!(
            events,
            [
                "payments.payment.initiated.v1",
                "payments.payment.authorized.v1",
                "payments.payment.captured.v1",
                "payments.refund.processed.v1",
                "payments.refund.processed.v1"
            ]
        );
    }

    async fn refunds_before_capture_are_conflicts(f) {
        let id = f.pay("o-1", "u-1", 1_000, VISA).await;
        assert!(matches!(f.payments.app().refund(&id, None, "a").await, Err(PaymentsError::NothingCaptured)));
        f.reserved("o-1", "u-1", &id, 1_000).await;
        assert!(matches!(f.payments.app().refund(&id, Some(usd(1)), "a").await, Err(PaymentsError::NothingCaptured)));
        assert!(matches!(f.payments.app().refund("nope", None, "a").await, Err(PaymentsError::NotFound)));
    }

    async fn ten_concurrent_refunds_of_thirty_percent_succeed_exactly_three_times(f) {
        let id = f.pay("o-1", "u-1", 10_000, VISA).await;
        f.reserved("o-1", "u-1", &id, 10_000).await;
        f.confirmed("o-1", &id).await;
        let mut tasks = Vec::new();
        for _ in 0..10 {
            let app = f.payments.app().clone();
            let id = id.clone();
            tasks.push(tokio::spawn(async move { app.refund(&id, Some(usd(3_000)), "admin").await }));
        }
        let (mut refunded, mut refused) = (0, 0);
        for task in tasks {
            match task.await.expect("task") {
                Ok(_) => refunded += 1,
                Err(PaymentsError::OverRefund { .. }) => refused += 1,
                Err(other) => panic!("unexpected {other}"),
            }
        }
        assert_eq!((refunded, refused), (3, 7));
        let payment = f.payments.app().payment(&id).await.expect("payment");
        assert_eq!(payment.refunded, usd(9_000));
        assert_eq!(payment.status, PaymentStatus::PartiallyRefunded);
        assert!(f.payments.app().ledger_agrees(&id).await.expect("ledger"));
        let (_, ledger_refunded) = payments::store::ledger_sums(f.payments.db().reader(), &id).await.expect("sums");
        assert_eq!(ledger_refunded, 9_000);
    }

    async fn declined_cards_fail_with_the_processor_reason(f) {
        let cases = [
            ("4000000000000002", FailureReason::Declined),
            ("4000000000009995", FailureReason::InsufficientFunds),
            ("4100000000000019", FailureReason::Fraud),
        ];
        for (i, (number, reason)) in cases.into_iter().enumerate() {
            let order = format!("o-{i}");
            let id = f.pay(&order, &format!("u-{i}"), 1_000, number).await;
            assert_eq!(f.reserved(&order, &format!("u-{i}"), &id, 1_000).await, EventOutcome::Failed(reason));
            let view = f.payments.app().payment(&id).await.expect("payment");
            assert_eq!((view.status, view.failure_reason), (PaymentStatus::Failed, Some(reason)));
            assert_eq!(f.reserved(&order, &format!("u-{i}"), &id, 1_000).await, EventOutcome::Unchanged, "redelivery");
        }
        let failed = f.events().await.into_iter().filter(|(t, _)| t == "payments.payment.failed.v1").count();
        assert_eq!(failed, 3, "one failure event per payment, none for redeliveries");
    }

    async fn fraud_rules_block_bursts_and_large_amounts(f) {
        for i in 0..5 {
            let order = format!("burst-{i}");
            let id = f.pay(&order, "u-burst", 100, VISA).await;
            assert_eq!(f.reserved(&order, "u-burst", &id, 100).await, EventOutcome::Moved(PaymentStatus::Authorized));
        }
        let sixth = f.pay("burst-5", "u-burst", 100, VISA).await;
        assert_eq!(f.reserved("burst-5", "u-burst", &sixth, 100).await, EventOutcome::Failed(FailureReason::Fraud));
        let other_user = f.pay("calm-1", "u-calm", 100, VISA).await;
        assert_eq!(f.reserved("calm-1", "u-calm", &other_user, 100).await, EventOutcome::Moved(PaymentStatus::Authorized));

        f.clock.advance(Duration::from_secs(61));
        let later = f.pay("burst-6", "u-burst", 100, VISA).await;
        assert_eq!(f.reserved("burst-6", "u-burst", &later, 100).await, EventOutcome::Moved(PaymentStatus::Authorized), "a minute later the burst is over");

        let big = f.pay("big-1", "u-big", 1_000_001, VISA).await;
        assert_eq!(f.reserved("big-1", "u-big", &big, 1_000_001).await, EventOutcome::Failed(FailureReason::Fraud));
    }

    async fn events_that_do_not_match_the_payment_fail_the_order(f) {
        let id = f.pay("o-1", "u-1", 1_000, VISA).await;
        // Unknown payment: the order fails, nothing changes here.
        assert_eq!(f.reserved("o-1", "u-1", "no-such-payment", 1_000).await, EventOutcome::Failed(FailureReason::Mismatch));
        // Another order naming this payment: that order fails, this payment is untouched.
        assert_eq!(f.reserved("o-2", "u-1", &id, 1_000).await, EventOutcome::Failed(FailureReason::Mismatch));
        assert_eq!(f.status(&id).await, PaymentStatus::Pending);
        // Same order, other amount: this payment fails.
        assert_eq!(f.reserved("o-1", "u-1", &id, 999).await, EventOutcome::Failed(FailureReason::Mismatch));
        assert_eq!(f.status(&id).await, PaymentStatus::Failed);

        let other = f.pay("o-3", "u-1", 1_000, VISA).await;
        assert_eq!(f.reserved("o-3", "u-2", &other, 1_000).await, EventOutcome::Failed(FailureReason::Mismatch), "another owner");
        let events: Vec<_> = f
            .events()
            .await
            .into_iter()
            .filter(|(t, _)| t != "payments.payment.initiated.v1")
            .collect();
        assert_eq!(events.len(), 4);
        assert!(events.iter().all(|(t, _)| t == "payments.payment.failed.v1"));
    }

    async fn cancelling_compensates_by_status(f) {
        // Pending: cancelled, and a late reservation no longer authorizes it.
        let pending = f.pay("o-pending", "u-1", 1_000, VISA).await;
        assert_eq!(f.cancelled("o-pending").await, EventOutcome::Moved(PaymentStatus::Cancelled));
        assert_eq!(f.reserved("o-pending", "u-1", &pending, 1_000).await, EventOutcome::Unchanged);
        assert_eq!(f.status(&pending).await, PaymentStatus::Cancelled);

        // Authorized: voided.
        let held = f.pay("o-held", "u-1", 2_000, VISA).await;
        f.reserved("o-held", "u-1", &held, 2_000).await;
        assert_eq!(f.cancelled("o-held").await, EventOutcome::Moved(PaymentStatus::Voided));
        assert_eq!(f.cancelled("o-held").await, EventOutcome::Unchanged, "redelivery");

        // Captured and partly refunded: the rest goes back.
        let paid = f.pay("o-paid", "u-1", 3_000, VISA).await;
        f.reserved("o-paid", "u-1", &paid, 3_000).await;
        f.confirmed("o-paid", &paid).await;
        f.payments.app().refund(&paid, Some(usd(1_000)), "admin").await.expect("partial refund");
        assert_eq!(f.cancelled("o-paid").await, EventOutcome::Moved(PaymentStatus::Refunded));
        let view = f.payments.app().payment(&paid).await.expect("payment");
        assert_eq!(view.refunded, usd(3_000));
        assert_eq!(f.cancelled("o-paid").await, EventOutcome::Unchanged, "redelivery");
        assert_eq!(f.cancelled("o-unknown").await, EventOutcome::Unchanged);

        let app = f.payments.app();
        assert!(app.reconcile().await.expect("reconcile").is_empty());
        let void: Vec<(String, i64)> = app
            .transactions(Some(&held), None, 10)
            .await
            .expect("ledger")
            .into_iter()
            .map(|t| (t.kind, t.amount.amount))
            .collect();
        assert_eq!(void, [("authorize".to_owned(), 2_000), ("void".to_owned(), 2_000)]);
        let types: Vec<String> = f.events().await.into_iter().map(|(t, _)| t).collect();
        assert!(types.contains(&"payments.payment.voided.v1".to_owned()));
        assert_eq!(types.iter().filter(|t| *t == "payments.refund.processed.v1").count(), 2);
    }

    async fn a_saved_card_pays_until_it_expires(f) {
        let app = f.payments.app();
        let mut expiring = card(VISA);
        let (year, month) = payments::domain::year_month(f.clock.now_millis());
        expiring.expiry = Expiry::stored(i64::from(month), year).expect("expiry");
        let saved = app.save_card("u-1", &CardSource::Raw(expiring)).await.expect("saved");
        let pay = |order: &str, user: &str| NewPayment {
            order_id: order.into(),
            user_id: user.into(),
            amount: usd(500),
            source: PaymentSource::Saved(saved.id.clone()),
            origin: PaymentOrigin::default(),
        };
        assert!(matches!(app.create_payment(pay("o-x", "u-2")).await, Err(PaymentsError::UnknownPaymentMethod)), "another user's card");
        let id = app.create_payment(pay("o-1", "u-1")).await.expect("paid with a saved card").id;
        assert!(matches!(app.create_payment(pay("o-1", "u-1")).await, Err(PaymentsError::OrderHasPayment)));

        // The month ends before the order's stock is reserved.
        f.clock.advance(Duration::from_secs(32 * 24 * 3600));
        assert_eq!(f.reserved("o-1", "u-1", &id, 500).await, EventOutcome::Failed(FailureReason::ExpiredCard));
        assert!(matches!(app.create_payment(pay("o-2", "u-1")).await, Err(PaymentsError::PaymentMethodExpired)));
    }

    async fn saves_at_once_keep_one_customer_and_its_payments_name_it(f) {
        let app = f.payments.app();
        let saves: Vec<_> = (0..6)
            .map(|_| {
                let app = app.clone();
                tokio::spawn(async move { app.save_card("u-1", &CardSource::Raw(card(VISA))).await })
            })
            .collect();
        let mut saved = Vec::new();
        for save in saves {
            saved.push(save.await.expect("task").expect("saved"));
        }
        let other = app.save_card("u-2", &CardSource::Raw(card(VISA))).await.expect("saved");
        let db = f.payments.db().reader();
        let customer_of = |user: &'static str, id: String| async move {
            payments::store::payment_method(db, user, &id).await.expect("read").expect("kept").card.customer.expect("a customer")
        };
        let mut customers = Vec::new();
        for method in &saved {
            customers.push(customer_of("u-1", method.id.clone()).await);
        }
        customers.dedup();
        assert_eq!(customers.len(), 1, "one customer per user: {customers:?}");
        assert_eq!(payments::store::provider_customer(db, "u-1").await.expect("read"), Some(customers[0].clone()));
        assert_ne!(customer_of("u-2", other.id.clone()).await, customers[0], "another user's customer");

        let paid = app.create_payment(NewPayment {
            order_id: "o-1".into(),
            user_id: "u-1".into(),
            amount: usd(500),
            source: PaymentSource::Saved(saved[0].id.clone()),
            origin: PaymentOrigin::default(),
        }).await.expect("paid");
        let payment = payments::store::payment(db, &paid.id).await.expect("read").expect("kept");
        assert_eq!(payment.card.customer.as_deref(), Some(customers[0].as_str()));

        assert!(app.delete_payment_method("u-1", &saved[0].id).await.expect("deleted"));
        assert!(!app.delete_payment_method("u-1", &saved[0].id).await.expect("gone"));
        assert!(!app.delete_payment_method("u-2", &saved[1].id).await.expect("not theirs"));
    }

    async fn confirming_an_order_whose_payment_is_not_authorized_is_an_error(f) {
        let id = f.pay("o-1", "u-1", 1_000, VISA).await;
        let confirm = OrderConfirmed { order_id: "o-1".into(), user_id: None, payment_id: Some(id.clone()), total: None, shipping_address: None, items: Vec::new(), attribution: None };
        assert!(matches!(f.payments.app().capture(&confirm).await, Err(PaymentsError::WrongStatus(PaymentStatus::Pending))));
        f.reserved("o-1", "u-1", &id, 1_000).await;
        let too_much = OrderConfirmed { total: Some(usd(1_001)), ..confirm.clone() };
        assert!(matches!(f.payments.app().capture(&too_much).await, Err(PaymentsError::Mismatch(_))));
        let less = OrderConfirmed { total: Some(usd(800)), ..confirm };
        assert_eq!(f.payments.app().capture(&less).await.expect("capture"), EventOutcome::Moved(PaymentStatus::Captured));
        assert_eq!(f.payments.app().payment(&id).await.expect("payment").captured, usd(800));
        let no_payment = OrderConfirmed { order_id: "o-free".into(), user_id: None, payment_id: None, total: None, shipping_address: None, items: Vec::new(), attribution: None };
        assert_eq!(f.payments.app().capture(&no_payment).await.expect("nothing"), EventOutcome::Unchanged);
    }

    async fn payments_no_order_took_further_are_given_up_in_time(f) {
        let app = f.payments.app();
        // Its checkout stopped between creating the payment and storing the order.
        let orphan = f.pay("o-orphan", "u-1", 1_000, VISA).await;
        // Its order's confirmation (or cancellation) never reached payments.
        let held = f.pay("o-held", "u-1", 2_000, VISA).await;
        f.reserved("o-held", "u-1", &held, 2_000).await;
        // A checkout that went through.
        let paid = f.pay("o-paid", "u-1", 3_000, VISA).await;
        f.reserved("o-paid", "u-1", &paid, 3_000).await;
        f.confirmed("o-paid", &paid).await;
        let sweep = || async { app.expire_abandoned().await.expect("sweep") };

        assert_eq!(sweep().await, 0, "nothing is due yet");
        f.clock.advance(Duration::from_secs(15 * 60 - 5));
        assert_eq!(sweep().await, 0, "a pending payment waits its 15 minutes");
        f.clock.advance(Duration::from_secs(10));
        assert_eq!(sweep().await, 1);
        assert_eq!(f.status(&orphan).await, PaymentStatus::Cancelled);
        assert_eq!(f.reserved("o-orphan", "u-1", &orphan, 1_000).await, EventOutcome::Unchanged, "a late reservation no longer authorizes it");
        assert_eq!(f.status(&held).await, PaymentStatus::Authorized, "an authorization waits longer");

        f.clock.advance(Duration::from_secs(7 * 24 * 3600));
        assert_eq!(sweep().await, 1);
        assert_eq!(f.status(&held).await, PaymentStatus::Voided);
        assert_eq!(f.status(&paid).await, PaymentStatus::Captured, "a captured payment is never given up");
        assert_eq!(sweep().await, 0, "a second round finds nothing");

        let ledger: Vec<(String, i64, String)> = app
            .transactions(Some(&held), None, 10)
            .await
            .expect("ledger")
            .into_iter()
            .map(|t| (t.kind, t.amount.amount, t.actor))
            .collect();
        assert_eq!(
            ledger,
            [
                ("authorize".to_owned(), 2_000, "ordering".to_owned()),
                ("void".to_owned(), 2_000, payments::app::EXPIRY_ACTOR.to_owned())
            ]
        );
        let events = f.events().await;
        assert!(events.contains(&("payments.payment.voided.v1".to_owned(), held.clone())), "{events:?}");
        assert!(
            !events.iter().any(|(t, subject)| *subject == orphan && t != "payments.payment.initiated.v1"),
            "giving up a payment never authorized tells no one"
        );
        assert!(app.reconcile().await.expect("reconcile").is_empty());
    }

    async fn a_sweep_pages_past_its_first_hundred(f) {
        // More due payments than one page: every one is reached in one round, in pages
        // after the last seen (so ones that cannot be given up never hide the rest).
        let mut orphans = Vec::new();
        for i in 0..230 {
            orphans.push(f.pay(&format!("o-{i}"), &format!("u-{}", i % 7), 1_000, VISA).await);
        }
        f.clock.advance(Duration::from_secs(16 * 60));
        assert_eq!(f.payments.app().expire_abandoned().await.expect("sweep"), 230);
        for id in &orphans {
            assert_eq!(f.status(id).await, PaymentStatus::Cancelled);
        }
    }

    async fn sweeps_running_at_once_give_each_payment_up_once(f) {
        let mut held = Vec::new();
        for i in 0..6 {
            let order = format!("o-{i}");
            let user = format!("u-{i}");
            let id = f.pay(&order, &user, 1_000, VISA).await;
            if i % 2 == 0 {
                f.reserved(&order, &user, &id, 1_000).await;
                held.push(id);
            }
        }
        f.clock.advance(Duration::from_secs(8 * 24 * 3600));
        let sweeps: Vec<_> = (0..3)
            .map(|_| {
                let app = f.payments.app().clone();
                tokio::spawn(async move { app.expire_abandoned().await })
            })
            .collect();
        let mut given_up = 0;
        for sweep in sweeps {
            given_up += sweep.await.expect("task").expect("sweep");
        }
        assert_eq!(given_up, 6, "three cancelled, three voided, each by one sweep");
        for id in &held {
            let voids = f
                .payments
                .app()
                .transactions(Some(id), None, 10)
                .await
                .expect("ledger")
                .into_iter()
                .filter(|t| t.kind == "void")
                .count();
            assert_eq!(voids, 1, "one void of {id}");
        }
        let voided = f.events().await.into_iter().filter(|(t, _)| t == "payments.payment.voided.v1").count();
        assert_eq!(voided, 3);
    }
    async fn captures_issue_invoices_whose_numbers_a_rollback_gives_back(f) {
        let app = f.payments.app();
        let first = f.pay("o-1", "u-1", 1_000, VISA).await;
        let second = f.pay("o-2", "u-2", 2_000, VISA).await;
        f.reserved("o-1", "u-1", &first, 1_000).await;
        f.reserved("o-2", "u-2", &second, 2_000).await;
        let events = f.events().await;
        assert_eq!(events[0], ("payments.payment.initiated.v1".to_owned(), first.clone()), "staged with the row");

        // A capture whose recording rolls back is never made, and numbers nothing.
        let confirmed = |order: &str, payment: &str| OrderConfirmed {
            order_id: order.into(),
            user_id: None,
            payment_id: Some(payment.into()),
            total: None,
            shipping_address: None,
            items: Vec::new(),
            attribution: None,
        };
        let mut tx = app.db().begin().await.expect("begin");
        let step = app.capture_in(&mut tx, &confirmed("o-1", &first)).await.expect("capture");
        assert!(step.call.is_some(), "the capture is recorded");
        tx.rollback().await.expect("rollback");
        assert!(app.order_documents("o-1").await.expect("read").is_some_and(|d| d.documents.is_empty()));

        f.confirmed("o-2", &second).await;
        f.confirmed("o-1", &first).await;
        f.confirmed("o-1", &first).await; // a redelivery issues nothing more
        let year = payments::domain::invoice::year_of(f.clock.now_millis());
        let of = |order: &'static str| async move {
            app.order_documents(order).await.expect("read").expect("a payment").documents
        };
        let second_docs = of("o-2").await;
        assert_eq!(second_docs.len(), 1);
        assert_eq!(second_docs[0].number, format!("INV-{year}-000001"));
        assert_eq!(second_docs[0].totals.gross, 2_000);
        let first_docs = of("o-1").await;
        assert_eq!(first_docs.len(), 1);
        assert_eq!(first_docs[0].number, format!("INV-{year}-000002"), "no gap");
        assert_eq!(first_docs[0].user_id, "u-1");

        // A refund issues a credit note against the invoice, in its own series.
        app.refund(&first, Some(usd(250)), "admin-1").await.expect("refund");
        let first_docs = of("o-1").await;
        assert_eq!(first_docs.len(), 2);
        let note = &first_docs[1];
        assert_eq!(note.number, format!("CN-{year}-000001"));
        assert_eq!(note.refers_to.as_ref().map(|r| r.number.as_str()), Some(first_docs[0].number.as_str()));
        assert_eq!((note.totals.net, note.totals.tax, note.totals.gross), (250, 0, 250));
    }
}

/// A second payment on one card within the hour is held for review.
fn reviewing() -> PaymentsConfig {
    let mut config = PaymentsConfig::default();
    config.fraud.card_attempts_per_hour = 1;
    // Shorter than the review timeout: a held payment is left to its review.
    config.pending_expiry_secs = 60;
    config
}

/// A held payment waits (pending, no provider call) with `payments.fraud.detected`;
/// two decisions at once act once; reviews left undecided expire once however many
/// sweeps run together.
async fn held_payments_are_decided_exactly_once(postgres: bool) {
    let Some(f) = fixture(postgres, reviewing()).await else {
        eprintln!("SKIPPED: VISCOUNT_TEST_POSTGRES_URL not set");
        return;
    };
    let app = f.payments.app();
    let first = f.pay("o-1", "u-1", 1_000, VISA).await;
    assert_eq!(
        f.reserved("o-1", "u-1", &first, 1_000).await,
        EventOutcome::Moved(PaymentStatus::Authorized)
    );
    let held = f.pay("o-2", "u-2", 1_000, VISA).await;
    assert_eq!(
        f.reserved("o-2", "u-2", &held, 1_000).await,
        EventOutcome::Held
    );
    assert_eq!(
        f.reserved("o-2", "u-2", &held, 1_000).await,
        EventOutcome::Unchanged,
        "redelivery holds nothing twice"
    );
    assert_eq!(f.status(&held).await, PaymentStatus::Pending);
    assert!(
        f.events()
            .await
            .contains(&("payments.fraud.detected.v1".to_owned(), held.clone()))
    );
    let queue = app.reviews(None, None, 10).await.expect("queue");
    assert_eq!(queue.len(), 1);
    let review = queue[0].id.clone();

    // An approval and a decline at once: one decides, the other is told.
    let (approve, decline) = tokio::join!(
        app.approve_review(&review, "admin-1"),
        app.decline_review(&review, "admin-2")
    );
    let decided = [approve.is_ok(), decline.is_ok()];
    assert_eq!(decided.iter().filter(|ok| **ok).count(), 1, "{decided:?}");
    assert!(matches!(
        if approve.is_ok() { decline } else { approve },
        Err(PaymentsError::AlreadyDecided(_))
    ));
    let after = f.status(&held).await;
    assert!(
        [PaymentStatus::Authorized, PaymentStatus::Failed].contains(&after),
        "{after:?}"
    );

    // Undecided past the timeout: three sweeps at once (replicas) expire it once.
    let late = f.pay("o-3", "u-3", 1_000, VISA).await;
    assert_eq!(
        f.reserved("o-3", "u-3", &late, 1_000).await,
        EventOutcome::Held
    );
    assert_eq!(app.expire_reviews().await.expect("sweep"), 0, "not due yet");
    f.clock.advance(Duration::from_secs(601));
    assert_eq!(app.expire_abandoned().await.expect("abandoned sweep"), 0);
    assert_eq!(
        f.status(&late).await,
        PaymentStatus::Pending,
        "left to its review"
    );
    let (a, b, c) = tokio::join!(
        app.expire_reviews(),
        app.expire_reviews(),
        app.expire_reviews()
    );
    assert_eq!(a.expect("a") + b.expect("b") + c.expect("c"), 1);
    let payment = app.payment(&late).await.expect("payment");
    assert_eq!(
        (payment.status, payment.failure_reason),
        (PaymentStatus::Failed, Some(FailureReason::Fraud))
    );
    let failed = f
        .events()
        .await
        .iter()
        .filter(|(t, s)| t == "payments.payment.failed.v1" && *s == late)
        .count();
    assert_eq!(failed, 1);
    f.finish().await;
}

mod held_payments {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::held_payments_are_decided_exactly_once(false).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::held_payments_are_decided_exactly_once(true).await;
    }
}

/// From two payments an hour from one client address, the third is held; a billing
/// country other than the shipping country blocks (both as configured here); the
/// facts go once a day has passed.
async fn origins_feed_the_client_and_country_rules_and_are_pruned(postgres: bool) {
    let mut config = PaymentsConfig::default();
    config.fraud.ip_attempts_per_hour = 2;
    config.fraud.country_mismatch_score = 95;
    let Some(f) = fixture(postgres, config).await else {
        eprintln!("SKIPPED: VISCOUNT_TEST_POSTGRES_URL not set");
        return;
    };
    let from = |client: &str, billing: Option<&str>, shipping: Option<&str>| PaymentOrigin {
        client: Some(client.to_owned()),
        billing_country: billing.map(str::to_owned),
        shipping_country: shipping.map(str::to_owned),
    };
    // Different users, one address: the address is what is counted.
    for (n, user) in ["u-1", "u-2"].iter().enumerate() {
        let order = format!("o-{n}");
        let id = f
            .pay_from(&order, user, from("198.51.100.7", None, Some("US")))
            .await;
        assert_eq!(
            f.reserved(&order, user, &id, 1_000).await,
            EventOutcome::Moved(PaymentStatus::Authorized),
            "payment {n} from the address"
        );
    }
    let third = f
        .pay_from("o-3", "u-3", from("198.51.100.7", Some("US"), Some("US")))
        .await;
    assert_eq!(
        f.reserved("o-3", "u-3", &third, 1_000).await,
        EventOutcome::Held
    );
    let review = f
        .payments
        .app()
        .reviews(None, None, 10)
        .await
        .expect("queue");
    assert_eq!(review.len(), 1);
    assert_eq!(review[0].signals[0].rule, "ip_velocity");
    // Another address is not counted with it.
    let other = f
        .pay_from("o-4", "u-3", from("203.0.113.1", Some("US"), Some("US")))
        .await;
    assert_eq!(
        f.reserved("o-4", "u-3", &other, 1_000).await,
        EventOutcome::Moved(PaymentStatus::Authorized)
    );
    // Billing in Germany, shipping to the United States: blocked at 95.
    let abroad = f
        .pay_from("o-5", "u-4", from("203.0.113.2", Some("DE"), Some("US")))
        .await;
    assert_eq!(
        f.reserved("o-5", "u-4", &abroad, 1_000).await,
        EventOutcome::Failed(FailureReason::Fraud)
    );
    let payment = f.payments.app().payment(&abroad).await.expect("payment");
    assert_eq!(payment.failure_reason, Some(FailureReason::Fraud));
    assert!(
        f.events()
            .await
            .contains(&("payments.fraud.detected.v1".to_owned(), abroad.clone()))
    );

    // A day later the facts are pruned; nothing newer is touched.
    let later = f.clock.now_millis() + platform::retention::DAY_MS + 1;
    let mut tx = f.payments.db().begin().await.expect("tx");
    let attempts = FraudFactsRetention::Attempts
        .delete_batch(&mut tx, later, 100)
        .await
        .expect("attempts pruned");
    let origins = FraudFactsRetention::Origins
        .delete_batch(&mut tx, later, 100)
        .await
        .expect("origins pruned");
    let kept = FraudFactsRetention::Origins
        .delete_batch(&mut tx, later, 100)
        .await
        .expect("nothing left");
    tx.commit().await.expect("commit");
    assert_eq!((attempts, origins, kept), (5, 5, 0));
    f.finish().await;
}

mod origins {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::origins_feed_the_client_and_country_rules_and_are_pruned(false).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::origins_feed_the_client_and_country_rules_and_are_pruned(true).await;
    }
}
