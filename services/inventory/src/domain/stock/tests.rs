//! Table tests of the stock rule and of every `StockLevel` change: the single source
//! of truth the store's conditional update is checked against.

use super::*;

fn level(id: &str, on_hand: i64, reserved: i64) -> Level {
    Level {
        warehouse_id: id.into(),
        on_hand,
        reserved,
    }
}

fn sku(raw: &str) -> Sku {
    Sku::try_from(raw.to_owned()).expect("sku")
}

fn stock(levels: &[(&str, i64, i64)], threshold: i64, reported_low: bool) -> StockLevel {
    StockLevel::new(
        sku("S-1"),
        levels.iter().map(|(w, o, r)| level(w, *o, *r)).collect(),
        threshold,
        reported_low,
    )
}

fn pairs(stock: &StockLevel) -> Vec<(i64, i64)> {
    stock
        .levels()
        .iter()
        .map(|l| (l.on_hand, l.reserved))
        .collect()
}

/// Every transition from one level: what it leaves, or why it is refused. The store
/// test `movements_are_refused_where_the_domain_refuses_them` runs the same kind of
/// table against the SQL.
#[test]
fn a_level_never_goes_below_zero_or_over_reserved() {
    use StockRefusal::*;
    type Case = (&'static str, StockChange, Result<(i64, i64), StockRefusal>);
    let cases: &[Case] = &[
        ("adjust in", StockChange::adjust(2), Ok((7, 3))),
        (
            "adjust out to reserved",
            StockChange::adjust(-2),
            Ok((3, 3)),
        ),
        (
            "adjust under reserved",
            StockChange::adjust(-3),
            Err(BelowReserved { reserved: 3 }),
        ),
        ("adjust under zero", StockChange::adjust(-6), Err(BelowZero)),
        (
            "adjust overflow",
            StockChange::adjust(i64::MAX),
            Err(BelowZero),
        ),
        ("reserve what is free", StockChange::reserve(2), Ok((5, 5))),
        (
            "reserve more than free",
            StockChange::reserve(3),
            Err(Insufficient { available: 2 }),
        ),
        ("release part", StockChange::release(1), Ok((5, 2))),
        ("release all", StockChange::release(3), Ok((5, 0))),
        (
            "release more than held",
            StockChange::release(4),
            Err(NotReserved { reserved: 3 }),
        ),
        ("expire", StockChange::expire(3), Ok((5, 0))),
        (
            "expire more than held",
            StockChange::expire(4),
            Err(NotReserved { reserved: 3 }),
        ),
        ("commit", StockChange::commit(3), Ok((2, 0))),
        (
            "commit more than held",
            StockChange::commit(4),
            Err(NotReserved { reserved: 3 }),
        ),
        ("restock", StockChange::restock(4), Ok((9, 3))),
    ];
    let from = level("a", 5, 3);
    for (name, change, expected) in cases {
        let got = from.after(*change).map(|l| (l.on_hand, l.reserved));
        assert_eq!(&got, expected, "{name}");
    }
    assert_eq!(
        level("a", 5, 0).after(StockChange::adjust(-6)),
        Err(BelowZero),
        "nothing reserved, still not below zero"
    );
}

#[test]
fn each_transition_is_named_in_the_ledger() {
    let kinds = [
        (
            StockChange::adjust(1),
            MovementKind::Adjust,
            "adjust",
            (1, 0),
        ),
        (
            StockChange::reserve(1),
            MovementKind::Reserve,
            "reserve",
            (0, 1),
        ),
        (
            StockChange::release(1),
            MovementKind::Release,
            "release",
            (0, -1),
        ),
        (
            StockChange::expire(1),
            MovementKind::Expire,
            "expire",
            (0, -1),
        ),
        (
            StockChange::commit(1),
            MovementKind::Commit,
            "commit",
            (-1, -1),
        ),
        (
            StockChange::restock(1),
            MovementKind::Return,
            "return",
            (1, 0),
        ),
    ];
    for (change, kind, name, deltas) in kinds {
        assert_eq!(change.kind(), kind);
        assert_eq!(kind.as_str(), name);
        assert_eq!(MovementKind::parse(name), Some(kind), "{name} reads back");
        assert_eq!(
            (change.on_hand_delta(), change.reserved_delta()),
            deltas,
            "{name}"
        );
    }
    assert_eq!(MovementKind::parse("steal"), None);
}

#[test]
fn reservations_take_most_available_first_and_span_warehouses() {
    type Case = (
        u32,
        Result<Vec<(&'static str, u32)>, StockRefusal>,
        Vec<(i64, i64)>,
    );
    let cases: Vec<Case> = vec![
        (4, Ok(vec![("b", 4)]), vec![(5, 4), (10, 6), (3, 0)]),
        (
            10,
            Ok(vec![("b", 8), ("c", 2)]),
            vec![(5, 4), (10, 10), (3, 2)],
        ),
        (
            12,
            Ok(vec![("b", 8), ("c", 3), ("a", 1)]),
            vec![(5, 5), (10, 10), (3, 3)],
        ),
        (
            13,
            Err(StockRefusal::Insufficient { available: 12 }),
            vec![(5, 4), (10, 2), (3, 0)],
        ),
    ];
    for (quantity, expected, left) in cases {
        let mut s = stock(&[("a", 5, 4), ("b", 10, 2), ("c", 3, 0)], 0, false);
        let taken = s.reserve(quantity);
        let expected = expected.map(|t| {
            t.into_iter()
                .map(|(w, q)| (w.to_owned(), q))
                .collect::<Vec<_>>()
        });
        assert_eq!(taken, expected, "reserve {quantity}");
        assert_eq!(pairs(&s), left, "levels after reserving {quantity}");
    }
    assert_eq!(
        stock(&[], 0, false).reserve(1),
        Err(StockRefusal::Insufficient { available: 0 })
    );
}

#[test]
fn stock_transitions_apply_to_their_warehouse_or_change_nothing() {
    type Op = fn(&mut StockLevel) -> Result<StockChange, StockRefusal>;
    type Case = (
        &'static str,
        Op,
        Result<StockChange, StockRefusal>,
        Vec<(i64, i64)>,
    );
    let cases: &[Case] = &[
        (
            "release",
            |s| s.release("a", 2),
            Ok(StockChange::release(2)),
            vec![(5, 1), (4, 0)],
        ),
        (
            "expire",
            |s| s.expire("a", 3),
            Ok(StockChange::expire(3)),
            vec![(5, 0), (4, 0)],
        ),
        (
            "commit",
            |s| s.commit("a", 3),
            Ok(StockChange::commit(3)),
            vec![(2, 0), (4, 0)],
        ),
        (
            "restock",
            |s| s.restock("b", 2),
            Ok(StockChange::restock(2)),
            vec![(5, 3), (6, 0)],
        ),
        (
            "adjust",
            |s| s.adjust("b", -4),
            Ok(StockChange::adjust(-4)),
            vec![(5, 3), (0, 0)],
        ),
        (
            "adjust under reserved",
            |s| s.adjust("a", -3),
            Err(StockRefusal::BelowReserved { reserved: 3 }),
            vec![(5, 3), (4, 0)],
        ),
        (
            "commit more than held",
            |s| s.commit("b", 1),
            Err(StockRefusal::NotReserved { reserved: 0 }),
            vec![(5, 3), (4, 0)],
        ),
        (
            "unknown warehouse",
            |s| s.adjust("z", 1),
            Err(StockRefusal::NoLevel),
            vec![(5, 3), (4, 0)],
        ),
    ];
    for (name, op, expected, left) in cases {
        let mut s = stock(&[("a", 5, 3), ("b", 4, 0)], 0, false);
        assert_eq!(&op(&mut s), expected, "{name}");
        assert_eq!(&pairs(&s), left, "{name}");
    }
}

#[test]
fn low_stock_is_reported_once_per_crossing() {
    // (available, threshold, reported low before, crossing, reported low after)
    let cases = [
        (5, 5, false, Some(true), true),
        (4, 5, true, None, true),
        (6, 5, true, Some(false), false),
        (6, 5, false, None, false),
        (0, 0, false, Some(true), true),
    ];
    for (available, threshold, before, crossing, after) in cases {
        let mut s = stock(&[("a", available, 0)], threshold, before);
        let got = s.note_low_stock();
        let expected = crossing.map(|low| {
            if low {
                LowStockCrossing::Fell(StockLow {
                    sku: "S-1".into(),
                    available,
                    threshold,
                })
            } else {
                LowStockCrossing::Rose
            }
        });
        assert_eq!(got, expected, "{available} against {threshold}");
        assert_eq!(s.reported_low(), after);
        assert_eq!(s.note_low_stock(), None, "reported once");
    }
}

#[test]
fn a_new_threshold_is_measured_at_the_next_note() {
    let mut s = stock(&[("a", 10, 2)], 5, false);
    s.set_threshold(8);
    assert!(s.is_low());
    assert!(matches!(
        s.note_low_stock(),
        Some(LowStockCrossing::Fell(_))
    ));
}

#[test]
fn totals_sum_the_warehouses_and_announce_them() {
    let s = stock(&[("a", 5, 3), ("b", 4, 1)], 0, false);
    assert_eq!(
        s.totals(),
        Totals {
            on_hand: 9,
            reserved: 4
        }
    );
    assert_eq!(
        s.totals().updated_event(s.sku()),
        StockUpdated {
            sku: "S-1".into(),
            on_hand: 9,
            reserved: 4,
            available: 5
        }
    );
}
