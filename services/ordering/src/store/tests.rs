//! The store against its decoding rules and a real SQLite database: rows read back as
//! the aggregates that were written, an unreadable row is an error, and a status change
//! is a conditional update.

use platform::db::{Db, Error};

use super::orders::{
    OrderFilter, for_update, head, history, insert, lines, list, overdue, record_refund,
    save_change,
};
use super::{line_quantity, quantity, sku};
use crate::domain::testing::{line, order_in};
use crate::domain::{Order, OrderLine, OrderStatus};

#[test]
fn invalid_skus_and_quantities_are_decode_errors() {
    assert!(sku("A-1".into()).is_ok());
    assert!(matches!(sku("a b".into()), Err(Error::ColumnDecode { .. })));
    assert!(quantity(3).is_ok());
    assert!(matches!(quantity(0), Err(Error::ColumnDecode { .. })));
    assert_eq!(line_quantity(2000).ok(), Some(2000));
    assert!(matches!(line_quantity(-1), Err(Error::ColumnDecode { .. })));
    assert!(matches!(
        line_quantity(i64::MAX),
        Err(Error::ColumnDecode { .. })
    ));
}

async fn database() -> (tempfile::TempDir, Db) {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = platform::db::sqlite_url(dir.path(), "ordering");
    let db = Db::connect(&url, &crate::MIGRATIONS).await.expect("db");
    (dir, db)
}

async fn placed(db: &Db, order: &Order, lines: &[OrderLine]) {
    let mut tx = db.begin().await.expect("begin");
    insert(&mut tx, order, lines, "order placed", None)
        .await
        .expect("insert");
    tx.commit().await.expect("commit");
}

#[tokio::test]
async fn an_order_reads_back_as_written_and_an_unknown_status_is_a_decode_error() {
    let (_dir, db) = database().await;
    let order = order_in(OrderStatus::Pending);
    let written = [line("A", 1250, 2), line("B", 300, 1)];
    placed(&db, &order, &written).await;
    assert_eq!(head(db.reader(), "o1").await.expect("read"), Some(order));
    let mut read = lines(db.reader(), &["o1"]).await.expect("lines");
    assert_eq!(read.remove("o1"), Some(written.to_vec()));

    let mut tx = db.begin().await.expect("begin");
    platform::db::query("UPDATE orders SET status = 'lost' WHERE id = 'o1'")
        .execute(&mut *tx)
        .await
        .expect("corrupt");
    tx.commit().await.expect("commit");
    let err = head(db.reader(), "o1").await.expect_err("undecodable");
    assert!(
        matches!(err, Error::ColumnDecode { ref column, .. } if column == "status"),
        "{err}"
    );
    let listed = list(db.reader(), &OrderFilter::default(), None, 10).await;
    assert!(listed.is_err(), "a list with an unreadable order fails too");
}

#[tokio::test]
async fn an_orders_attribution_reads_back_and_an_unreadable_one_is_a_decode_error() {
    let (_dir, db) = database().await;
    let mut order = order_in(OrderStatus::Pending);
    order.facts.attribution = Some(crate::domain::Attribution {
        utm_source: Some("newsletter".into()),
        utm_medium: Some("email".into()),
        utm_campaign: Some("spring".into()),
        referrer: Some("https://news.example/a".into()),
    });
    placed(&db, &order, &[line("A", 1250, 2)]).await;
    assert_eq!(head(db.reader(), "o1").await.expect("read"), Some(order));

    let mut tx = db.begin().await.expect("begin");
    platform::db::query("UPDATE orders SET attribution = '{\"utm_source\": 7}' WHERE id = 'o1'")
        .execute(&mut *tx)
        .await
        .expect("corrupt");
    tx.commit().await.expect("commit");
    let err = head(db.reader(), "o1").await.expect_err("undecodable");
    assert!(
        matches!(err, Error::ColumnDecode { ref column, .. } if column == "attribution"),
        "{err}"
    );
}

#[tokio::test]
async fn a_status_change_applies_only_from_the_status_it_left() {
    let (_dir, db) = database().await;
    let order = order_in(OrderStatus::Pending);
    placed(&db, &order, &[line("A", 1250, 2)]).await;
    let mut cancelled = order.clone();
    let change = cancelled.cancel("changed my mind", 5).expect("cancels");

    let mut tx = db.begin().await.expect("begin");
    assert!(
        save_change(&mut tx, &cancelled, &change)
            .await
            .expect("save")
    );
    // The row left `pending`: the same change again finds nothing to move.
    assert!(
        !save_change(&mut tx, &cancelled, &change)
            .await
            .expect("save")
    );
    tx.commit().await.expect("commit");

    // What the store wrote is what the aggregate became.
    assert_eq!(
        head(db.reader(), "o1").await.expect("read"),
        Some(cancelled)
    );
    let entries: Vec<(OrderStatus, Option<String>)> = history(db.reader(), "o1")
        .await
        .expect("history")
        .into_iter()
        .map(|e| (e.status, e.reason))
        .collect();
    assert_eq!(
        entries,
        [
            (OrderStatus::Pending, Some("order placed".to_owned())),
            (OrderStatus::Cancelled, Some("changed my mind".to_owned())),
        ]
    );
}

#[tokio::test]
async fn a_saga_step_writes_the_deadline_its_transition_computed() {
    let (_dir, db) = database().await;
    let order = order_in(OrderStatus::Pending);
    placed(&db, &order, &[line("A", 1250, 2)]).await;
    let mut reserved = order.clone();
    let step = reserved
        .advance(&crate::domain::SagaEvent::StockReserved, 50, 700)
        .expect("applies");
    let mut tx = db.begin().await.expect("begin");
    let locked = for_update(&mut tx, db.dialect(), "o1")
        .await
        .expect("lock")
        .expect("found");
    assert_eq!(locked, order);
    for change in &step.changes {
        assert!(save_change(&mut tx, &reserved, change).await.expect("save"));
    }
    tx.commit().await.expect("commit");
    let read = head(db.reader(), "o1").await.expect("read").expect("found");
    assert_eq!(read.state().deadline_at, Some(700));
    assert_eq!(read, reserved);
    assert_eq!(
        overdue(db.reader(), 699, 10).await.expect("due"),
        Vec::<String>::new()
    );
    assert_eq!(overdue(db.reader(), 700, 10).await.expect("due"), ["o1"]);
}

#[tokio::test]
async fn a_refund_counts_once() {
    let (_dir, db) = database().await;
    let order = order_in(OrderStatus::Confirmed);
    placed(&db, &order, &[line("A", 1250, 2)]).await;
    let mut tx = db.begin().await.expect("begin");
    assert!(
        record_refund(&mut tx, &order, "r1", 500, 500, 5)
            .await
            .expect("first")
    );
    assert!(
        !record_refund(&mut tx, &order, "r1", 500, 500, 6)
            .await
            .expect("again")
    );
    // An older running total never moves the order's backwards.
    assert!(
        record_refund(&mut tx, &order, "r0", 100, 100, 7)
            .await
            .expect("older")
    );
    tx.commit().await.expect("commit");
    let read = head(db.reader(), "o1").await.expect("read").expect("found");
    assert_eq!(read.state().refunded, 500);
}
