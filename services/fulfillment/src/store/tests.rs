//! The store on a real SQLite database: rows round-trip through the aggregates, a
//! state change is written only from the status its transition left, and a row that
//! cannot be read is an error, never a default.

use platform::db::{Db, Error};
use tempfile::TempDir;

use super::{facts, returns, shipments};
use crate::domain::{
    Money, NewReturn, Return, ReturnAllocation, ReturnDecision, ReturnStatus, Shipment,
    ShipmentFacts, ShipmentLine, ShipmentStatus, ShippingAddress, Sku, Text,
};

async fn database() -> (TempDir, Db) {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = platform::db::sqlite_url(dir.path(), "fulfillment");
    let db = Db::connect(&url, &crate::MIGRATIONS).await.expect("db");
    (dir, db)
}

fn sku(raw: &str) -> Sku {
    Sku::try_from(raw.to_owned()).expect("sku")
}

fn address() -> ShippingAddress {
    ShippingAddress {
        name: "Bo Buyer".into(),
        line1: "2 Side St".into(),
        line2: None,
        city: "Shelbyville".into(),
        postal_code: "99501".into(),
        country: "US".into(),
    }
}

fn parcel() -> Shipment {
    Shipment::open(
        ShipmentFacts {
            id: platform::ids::new_id(),
            order_id: platform::ids::new_id(),
            user_id: "u1".into(),
            warehouse_id: "wh-1".into(),
            carrier: "local".into(),
            tracking_number: "LC0001".into(),
            rate: Money {
                amount: 799,
                currency: "USD".into(),
            },
            weight_grams: 1_500,
            ship_to: Some(address()),
            lines: vec![
                ShipmentLine {
                    sku: sku("A-1"),
                    quantity: 1,
                },
                ShipmentLine {
                    sku: sku("B-1"),
                    quantity: 2,
                },
            ],
        },
        1_000,
    )
}

async fn stored(db: &Db, shipment: &Shipment) {
    let mut tx = db.begin().await.expect("tx");
    assert!(shipments::insert(&mut tx, shipment).await.expect("insert"));
    tx.commit().await.expect("commit");
}

async fn read(db: &Db, id: &str) -> Result<Option<Shipment>, Error> {
    let mut conn = db.reader().acquire().await.expect("conn");
    shipments::get(&mut conn, id).await
}

async fn corrupt(db: &Db, sql: &str, id: &str) {
    let mut tx = db.begin().await.expect("tx");
    platform::db::query(sql)
        .bind(id)
        .execute(&mut *tx)
        .await
        .expect("corrupt");
    tx.commit().await.expect("commit");
}

fn is_decode_error_of(err: &Error, wanted: &str) -> bool {
    matches!(err, Error::ColumnDecode { column, .. } if column == wanted)
}

#[test]
fn unknown_status_names_are_refused() {
    for status in ShipmentStatus::ALL {
        assert_eq!(
            shipments::shipment_status(status.as_str()).ok(),
            Some(status)
        );
    }
    for status in ReturnStatus::ALL {
        assert_eq!(returns::return_status(status.as_str()).ok(), Some(status));
    }
    for raw in ["lost", "", "Delivered", "CANCELLED"] {
        let shipment = shipments::shipment_status(raw).expect_err("unknown shipment status");
        assert!(is_decode_error_of(&shipment, "status"), "{shipment}");
        let r = returns::return_status(raw).expect_err("unknown return status");
        assert!(is_decode_error_of(&r, "status"), "{r}");
    }
}

#[tokio::test]
async fn a_shipment_moves_only_from_the_status_its_transition_left() {
    let (_dir, db) = database().await;
    let shipment = parcel();
    stored(&db, &shipment).await;
    assert_eq!(
        read(&db, &shipment.id).await.expect("read"),
        Some(shipment.clone())
    );

    let mut delivered = shipment.clone();
    let transition = delivered.deliver(5_000, 6_000).expect("deliver");
    let mut tx = db.begin().await.expect("tx");
    assert!(
        shipments::save_move(&mut tx, &delivered, transition.from)
            .await
            .expect("save")
    );
    // A writer that read the shipment before the delivery loses.
    let mut late = shipment.clone();
    let cancel = late.cancel(7_000).expect("cancel");
    assert!(
        !shipments::save_move(&mut tx, &late, cancel.from)
            .await
            .expect("save")
    );
    assert_eq!(
        shipments::due_count(&mut tx, &shipment.order_id)
            .await
            .expect("due"),
        0
    );
    tx.commit().await.expect("commit");

    let back = read(&db, &shipment.id).await.expect("read").expect("found");
    assert_eq!(back, delivered);
    assert_eq!(back.status(), ShipmentStatus::Delivered);
    assert_eq!(back.state().dispatched_at, Some(5_000));
}

#[tokio::test]
async fn an_unknown_shipment_status_is_a_decode_error() {
    let (_dir, db) = database().await;
    let shipment = parcel();
    stored(&db, &shipment).await;
    corrupt(
        &db,
        "UPDATE shipments SET status = 'lost' WHERE id = $1",
        &shipment.id,
    )
    .await;
    let err = read(&db, &shipment.id).await.expect_err("unknown status");
    assert!(is_decode_error_of(&err, "status"), "{err}");
}

#[tokio::test]
async fn a_corrupt_address_is_a_decode_error_not_no_address() {
    let (_dir, db) = database().await;
    let shipment = parcel();
    stored(&db, &shipment).await;
    corrupt(
        &db,
        "UPDATE shipments SET ship_to = '\"Ann Secret, 1 Main St\"' WHERE id = $1",
        &shipment.id,
    )
    .await;
    let err = read(&db, &shipment.id).await.expect_err("corrupt address");
    assert!(is_decode_error_of(&err, "ship_to"), "{err}");
    let told = platform::telemetry::error_chain(&err);
    assert!(
        !told.contains("Ann Secret") && !told.contains("line1"),
        "{told}"
    );

    let mut tx = db.begin().await.expect("tx");
    let order_id = &shipment.order_id;
    facts::record_confirmed(&mut tx, order_id, "u1", Some(&address()), &[], 1)
        .await
        .expect("confirmed");
    tx.commit().await.expect("commit");
    let facts = facts::get(db.reader(), order_id)
        .await
        .expect("facts")
        .expect("found");
    assert_eq!(facts.ship_to, Some(address()));
    corrupt(
        &db,
        "UPDATE order_facts SET ship_to = 'null,' WHERE order_id = $1",
        order_id,
    )
    .await;
    let err = facts::get(db.reader(), order_id)
        .await
        .expect_err("corrupt address");
    assert!(is_decode_error_of(&err, "ship_to"), "{err}");
}

#[tokio::test]
async fn a_return_round_trips_and_an_unknown_status_is_a_decode_error() {
    let (_dir, db) = database().await;
    let shipment = parcel();
    stored(&db, &shipment).await;
    let requested = Return::request(
        NewReturn {
            id: platform::ids::new_id(),
            order_id: shipment.order_id.clone(),
            user_id: "u1".into(),
            reason: Text::try_from("too small".to_owned()).expect("reason"),
            lines: vec![ReturnAllocation {
                shipment_id: shipment.id.clone(),
                warehouse_id: "wh-1".into(),
                sku: sku("B-1"),
                quantity: 2,
            }],
        },
        2_000,
    );
    let mut approved = requested.clone();
    let from = approved
        .decide(ReturnDecision::Approve, 3_000)
        .expect("approve");
    let mut tx = db.begin().await.expect("tx");
    returns::insert(&mut tx, &requested).await.expect("insert");
    assert!(
        returns::save_decision(&mut tx, &approved, from)
            .await
            .expect("save")
    );
    // A second decision taken from the requested return loses.
    let mut rejected = requested.clone();
    let from = rejected
        .decide(ReturnDecision::Reject, 4_000)
        .expect("reject");
    assert!(
        !returns::save_decision(&mut tx, &rejected, from)
            .await
            .expect("save")
    );
    tx.commit().await.expect("commit");

    let mut conn = db.reader().acquire().await.expect("conn");
    let back = returns::get(&mut conn, &requested.id).await.expect("read");
    assert_eq!(back, Some(approved));
    drop(conn);

    corrupt(
        &db,
        "UPDATE returns SET status = 'lost' WHERE id = $1",
        &requested.id,
    )
    .await;
    let mut conn = db.reader().acquire().await.expect("conn");
    let err = returns::get(&mut conn, &requested.id)
        .await
        .expect_err("unknown status");
    assert!(is_decode_error_of(&err, "status"), "{err}");
}

#[tokio::test]
async fn shipments_and_returns_list_newest_first_by_status_and_owner() {
    let (_dir, db) = database().await;
    // Three parcels (ids in creation order), the oldest delivered.
    let mut parcels = Vec::new();
    for i in 0..3 {
        let (mut facts, state) = parcel().into_parts();
        facts.tracking_number = format!("LC-LIST-{i}");
        facts.user_id = if i == 1 { "u2".into() } else { "u1".into() };
        parcels.push(Shipment::restore(facts, state));
    }
    for shipment in &parcels {
        stored(&db, shipment).await;
    }
    let mut delivered = parcels[0].clone();
    let transition = delivered.deliver(5_000, 6_000).expect("deliver");
    let mut tx = db.begin().await.expect("tx");
    assert!(
        shipments::save_move(&mut tx, &delivered, transition.from)
            .await
            .expect("save")
    );
    tx.commit().await.expect("commit");

    let mut conn = db.reader().acquire().await.expect("conn");
    let ids = |list: &[Shipment]| list.iter().map(|s| s.id.clone()).collect::<Vec<_>>();
    let all = shipments::list(&mut conn, None, None, 10)
        .await
        .expect("list");
    assert_eq!(
        ids(&all),
        [&parcels[2].id, &parcels[1].id, &parcels[0].id].map(String::clone)
    );
    assert_eq!(all[2], delivered, "whole, with its lines");
    let older = shipments::list(&mut conn, None, Some(&parcels[2].id), 1)
        .await
        .expect("page");
    assert_eq!(ids(&older), [parcels[1].id.clone()]);
    let only = shipments::list(&mut conn, Some(ShipmentStatus::Delivered), None, 10)
        .await
        .expect("delivered");
    assert_eq!(ids(&only), [parcels[0].id.clone()]);
    drop(conn);

    // A return per parcel, by its owner; the newest rejected.
    let mut stored_returns = Vec::new();
    let mut tx = db.begin().await.expect("tx");
    for shipment in &parcels {
        let record = Return::request(
            NewReturn {
                id: platform::ids::new_id(),
                order_id: shipment.order_id.clone(),
                user_id: shipment.user_id.clone(),
                reason: Text::try_from("too small".to_owned()).expect("reason"),
                lines: vec![ReturnAllocation {
                    shipment_id: shipment.id.clone(),
                    warehouse_id: "wh-1".into(),
                    sku: sku("A-1"),
                    quantity: 1,
                }],
            },
            2_000,
        );
        returns::insert(&mut tx, &record).await.expect("insert");
        stored_returns.push(record);
    }
    let mut rejected = stored_returns[2].clone();
    let from = rejected
        .decide(ReturnDecision::Reject, 3_000)
        .expect("reject");
    assert!(
        returns::save_decision(&mut tx, &rejected, from)
            .await
            .expect("save")
    );
    tx.commit().await.expect("commit");

    let mut conn = db.reader().acquire().await.expect("conn");
    let ids = |list: &[Return]| list.iter().map(|r| r.id.clone()).collect::<Vec<_>>();
    let [first, second, third] = [0, 1, 2].map(|i| stored_returns[i].id.clone());
    let every = returns::list(&mut conn, None, None, None, 10)
        .await
        .expect("list");
    assert_eq!(ids(&every), [&third, &second, &first].map(String::clone));
    assert_eq!(every[0], rejected, "whole, with its lines");
    let own = returns::list(&mut conn, Some("u1"), None, None, 10)
        .await
        .expect("own");
    assert_eq!(ids(&own), [&third, &first].map(String::clone));
    let own_after = returns::list(&mut conn, Some("u1"), None, Some(&third), 10)
        .await
        .expect("own page");
    assert_eq!(ids(&own_after), [&first].map(String::clone));
    let requested = returns::list(
        &mut conn,
        Some("u1"),
        Some(ReturnStatus::Requested),
        None,
        10,
    )
    .await
    .expect("requested");
    assert_eq!(ids(&requested), [first]);
    let none = returns::list(
        &mut conn,
        Some("u2"),
        Some(ReturnStatus::Rejected),
        None,
        10,
    )
    .await
    .expect("none");
    assert!(none.is_empty());
}
