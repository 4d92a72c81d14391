//! The store against a real SQLite database: decoding refuses what it cannot read, and
//! the conditional updates agree with the domain's stock rule.

use platform::db::{Db, Error};

use super::*;
use crate::MIGRATIONS;

async fn database() -> (tempfile::TempDir, Db) {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = Db::connect(
        &platform::db::sqlite_url(dir.path(), "inventory"),
        &MIGRATIONS,
    )
    .await
    .expect("db");
    (dir, db)
}

fn sku(raw: &str) -> Sku {
    Sku::try_from(raw.to_owned()).expect("sku")
}

async fn insert_raw_reservation(db: &Db, order_id: &str, status: &str) {
    let mut tx = db.begin().await.expect("begin");
    platform::db::query("INSERT INTO reservations (id, order_id, status, expires_at, created_at, updated_at) VALUES ($1, $2, $3, 0, 0, 0)")
        .bind(format!("r-{order_id}"))
        .bind(order_id)
        .bind(status)
        .execute(&mut *tx)
        .await
        .expect("insert");
    tx.commit().await.expect("commit");
}

#[test]
fn an_unknown_status_does_not_decode() {
    assert!(matches!(
        status_from("active"),
        Ok(ReservationStatus::Active)
    ));
    assert!(matches!(
        status_from("on_hold"),
        Err(Error::ColumnDecode { column, .. }) if column == "status"
    ));
}

#[tokio::test]
async fn a_stored_reservation_with_an_unknown_status_is_a_decode_error() {
    let (_dir, db) = database().await;
    insert_raw_reservation(&db, "o-odd", "on_hold").await;
    insert_raw_reservation(&db, "o-fine", "expired").await;
    let mut tx = db.begin().await.expect("begin");
    let odd = reservation_by_order(&mut tx, "o-odd").await;
    assert!(
        matches!(&odd, Err(Error::ColumnDecode { column, .. }) if column == "status"),
        "{odd:?}"
    );
    let fine = reservation_by_order(&mut tx, "o-fine")
        .await
        .expect("decodes");
    assert_eq!(fine.map(|r| r.status()), Some(ReservationStatus::Expired));
}

#[tokio::test]
async fn a_reservation_round_trips_and_closes_only_from_the_status_it_left() {
    let (_dir, db) = database().await;
    let line = |s: &str, w: &str, quantity| ReservationLine {
        sku: sku(s),
        warehouse_id: w.into(),
        quantity,
    };
    let mut reservation = Reservation::hold(
        "r-1".into(),
        "o-1".into(),
        vec![line("A", "w1", 2), line("A", "w2", 1), line("B", "w1", 4)],
        1_000,
    );
    let mut tx = db.begin().await.expect("begin");
    insert_reservation(&mut tx, &reservation, 0)
        .await
        .expect("insert");
    let stored = reservation_by_order(&mut tx, "o-1").await.expect("read");
    assert_eq!(stored.as_ref(), Some(&reservation));
    let closing = reservation
        .close(ReservationStatus::Committed)
        .expect("allowed")
        .expect("moved");
    assert!(
        close_reservation(&mut tx, "r-1", &closing, 1)
            .await
            .expect("close")
    );
    assert!(
        !close_reservation(&mut tx, "r-1", &closing, 2)
            .await
            .expect("again"),
        "no longer in the status the closing left"
    );
    let stored = reservation_by_order(&mut tx, "o-1").await.expect("read");
    assert_eq!(
        stored.map(|r| r.status()),
        Some(ReservationStatus::Committed)
    );
    tx.commit().await.expect("commit");
}

/// The SQL guard of `apply_movement` against the domain's rule, case by case: the
/// update happens exactly when `Level::after` allows the change, and leaves what it
/// says.
#[tokio::test]
async fn movements_are_refused_where_the_domain_refuses_them() {
    let (_dir, db) = database().await;
    let s = sku("GUARD");
    let changes = [
        StockChange::adjust(2),
        StockChange::adjust(-2),
        StockChange::adjust(-3),
        StockChange::adjust(-6),
        StockChange::reserve(2),
        StockChange::reserve(3),
        StockChange::release(3),
        StockChange::release(4),
        StockChange::expire(4),
        StockChange::commit(3),
        StockChange::commit(4),
        StockChange::restock(1),
    ];
    let mut tx = db.begin().await.expect("begin");
    platform::db::query(
        "INSERT INTO warehouses (id, code, name, created_at) VALUES ('w', 'W', 'W', 0)",
    )
    .execute(&mut *tx)
    .await
    .expect("warehouse");
    ensure_level(&mut tx, &s, "w", 0).await.expect("level");
    for change in changes {
        let start = Level {
            warehouse_id: "w".into(),
            on_hand: 5,
            reserved: 3,
        };
        platform::db::query("UPDATE stock_levels SET on_hand = 5, reserved = 3 WHERE sku = $1")
            .bind(s.as_str())
            .execute(&mut *tx)
            .await
            .expect("reset");
        let movement = Movement {
            sku: &s,
            warehouse_id: "w",
            change,
            reason: "test",
            actor: "test",
            reference: None,
        };
        let applied = apply_movement(&mut tx, &movement, 1).await.expect("apply");
        let expected = start.after(change);
        assert_eq!(applied, expected.is_ok(), "{change:?}");
        let left = levels(&mut *tx, &s).await.expect("levels");
        assert_eq!(left, vec![expected.unwrap_or(start)], "{change:?}");
    }
    tx.rollback().await.expect("rollback");
}

#[tokio::test]
async fn a_stock_level_reads_its_settings_with_or_without_levels() {
    let (_dir, db) = database().await;
    let s = sku("SET");
    let mut tx = db.begin().await.expect("begin");
    let fresh = stock_level_for_update(&mut tx, Dialect::Sqlite, &s, 5)
        .await
        .expect("read");
    assert_eq!(fresh, StockLevel::new(s.clone(), Vec::new(), 5, false));
    let mut changed = fresh.clone();
    changed.set_threshold(9);
    assert!(changed.note_low_stock().is_some());
    save_sku_setting(&mut tx, &changed).await.expect("save");
    assert_eq!(
        stock_level_for_update(&mut tx, Dialect::Sqlite, &s, 5)
            .await
            .expect("read"),
        changed,
        "settings without levels"
    );
    platform::db::query(
        "INSERT INTO warehouses (id, code, name, created_at) VALUES ('w', 'W', 'W', 0)",
    )
    .execute(&mut *tx)
    .await
    .expect("warehouse");
    ensure_level(&mut tx, &s, "w", 0).await.expect("level");
    let stocked = stock_level_for_update(&mut tx, Dialect::Sqlite, &s, 5)
        .await
        .expect("read");
    assert_eq!((stocked.threshold(), stocked.reported_low()), (9, true));
    assert_eq!(stocked.levels().len(), 1);
    tx.rollback().await.expect("rollback");
}

#[tokio::test]
async fn a_low_stock_crossing_is_recorded_once_and_keeps_an_operators_threshold() {
    let (_dir, db) = database().await;
    let s = sku("LOW");
    let mut tx = db.begin().await.expect("begin");
    // Two transactions that read the sku before either recorded the crossing.
    let read = stock_level_for_update(&mut tx, Dialect::Sqlite, &s, 5)
        .await
        .expect("read");
    let (mut first, mut second) = (read.clone(), read);
    assert!(first.note_low_stock().is_some() && second.note_low_stock().is_some());
    assert!(record_low_state(&mut tx, &first).await.expect("first"));
    // Meanwhile an operator sets a threshold of their own.
    let mut operator = stock_level_for_update(&mut tx, Dialect::Sqlite, &s, 5)
        .await
        .expect("read");
    operator.set_threshold(2);
    save_sku_setting(&mut tx, &operator).await.expect("save");
    assert!(
        !record_low_state(&mut tx, &second).await.expect("second"),
        "the second crossing is not recorded, so not alerted, again"
    );
    let now = stock_level_for_update(&mut tx, Dialect::Sqlite, &s, 5)
        .await
        .expect("read");
    assert_eq!((now.threshold(), now.reported_low()), (2, true));
    tx.rollback().await.expect("rollback");
}

#[tokio::test]
async fn the_ledger_reads_newest_first_by_warehouse_and_refuses_an_unknown_kind() {
    let (_dir, db) = database().await;
    let s = sku("LEDGER");
    let mut tx = db.begin().await.expect("begin");
    for w in ["w1", "w2"] {
        platform::db::query(
            "INSERT INTO warehouses (id, code, name, created_at) VALUES ($1, $1, $1, 0)",
        )
        .bind(w)
        .execute(&mut *tx)
        .await
        .expect("warehouse");
        ensure_level(&mut tx, &s, w, 0).await.expect("level");
    }
    let order = "o-1".to_owned();
    let moves = [
        ("w1", StockChange::adjust(5), None),
        ("w2", StockChange::adjust(3), None),
        ("w1", StockChange::reserve(2), Some(order.as_str())),
    ];
    for (i, (w, change, reference)) in moves.into_iter().enumerate() {
        let movement = Movement {
            sku: &s,
            warehouse_id: w,
            change,
            reason: "count",
            actor: "admin",
            reference,
        };
        assert!(
            apply_movement(&mut tx, &movement, i as i64)
                .await
                .expect("apply")
        );
    }
    let all = ledger(&mut *tx, &s, None, None, 10).await.expect("ledger");
    let seen: Vec<(&str, MovementKind, i64, i64, Option<&str>)> = all
        .iter()
        .map(|e| {
            (
                e.warehouse_id.as_str(),
                e.kind,
                e.on_hand_delta,
                e.reserved_delta,
                e.reference.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        vec![
            ("w1", MovementKind::Reserve, 0, 2, Some("o-1")),
            ("w2", MovementKind::Adjust, 3, 0, None),
            ("w1", MovementKind::Adjust, 5, 0, None),
        ]
    );
    assert_eq!(all[0].at, 2);
    let older = ledger(&mut *tx, &s, None, Some(&all[0].id), 10)
        .await
        .expect("older");
    assert_eq!(
        older,
        all[1..].to_vec(),
        "a page continues before its cursor"
    );
    let w2 = ledger(&mut *tx, &s, Some("w2"), None, 10)
        .await
        .expect("w2");
    assert_eq!(w2, vec![all[1].clone()]);
    assert!(
        ledger(&mut *tx, &sku("OTHER"), None, None, 10)
            .await
            .expect("other")
            .is_empty()
    );

    platform::db::query("UPDATE stock_movements SET kind = 'steal' WHERE reference = 'o-1'")
        .execute(&mut *tx)
        .await
        .expect("corrupt");
    let odd = ledger(&mut *tx, &s, None, None, 10).await;
    assert!(
        matches!(&odd, Err(Error::ColumnDecode { column, .. }) if column == "kind"),
        "{odd:?}"
    );
    tx.rollback().await.expect("rollback");
}
