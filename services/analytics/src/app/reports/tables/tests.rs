//! Tests of the six report templates' tables.

use super::*;
use crate::domain::period::{DAY, HOUR};

/// 2026-03-10T00:00:00Z.
const T0: i64 = 1_773_100_800_000;

fn totals(day: i64, currency: &str, orders: i64, revenue: i64, refunds: i64) -> DayTotals {
    DayTotals {
        day,
        currency: currency.into(),
        orders,
        revenue,
        refunds,
    }
}

#[test]
fn sales_rows_are_per_day_and_currency_with_cancellations_once_a_day() {
    let rows = sales_rows(
        &[
            totals(T0, "EUR", 1, 900, 100),
            totals(T0, "USD", 3, 10_000, 0),
            totals(T0 + DAY, "USD", 0, -500, 500),
        ],
        Some(&BTreeMap::from([(T0, 2), (T0 + 2 * DAY, 1)])),
    );
    assert_eq!(
        rows,
        vec![
            vec![
                Cell::text("2026-03-10"),
                Cell::text("EUR"),
                Cell::Int(1),
                Cell::money(900, "EUR"),
                Cell::money(100, "EUR"),
                // 900 net + 100 refunded over one order.
                Cell::money(1000, "EUR"),
                Cell::Int(2),
            ],
            vec![
                Cell::text("2026-03-10"),
                Cell::text("USD"),
                Cell::Int(3),
                Cell::money(10_000, "USD"),
                Cell::money(0, "USD"),
                // 3333.33… rounds to 3333.
                Cell::money(3333, "USD"),
                Cell::Empty,
            ],
            vec![
                Cell::text("2026-03-11"),
                Cell::text("USD"),
                Cell::Int(0),
                Cell::money(-500, "USD"),
                Cell::money(500, "USD"),
                Cell::Empty,
                Cell::Int(0),
            ],
            vec![
                Cell::text("2026-03-12"),
                Cell::Empty,
                Cell::Int(0),
                Cell::Empty,
                Cell::Empty,
                Cell::Empty,
                Cell::Int(1),
            ],
        ]
    );
    let tenant_rows = sales_rows(&[totals(T0, "USD", 1, 100, 0)], None);
    assert_eq!(
        tenant_rows[0][6],
        Cell::Empty,
        "no cancellations of a tenant's shop"
    );
}

#[test]
fn payment_rows_put_counts_once_and_each_refund_currency_on_its_own_row() {
    let counts = [
        DayCounts {
            day: T0,
            payments_authorized: 3,
            payments_failed: 1,
            ..DayCounts::default()
        },
        DayCounts {
            day: T0 + DAY,
            orders_cancelled: 4,
            ..DayCounts::default()
        },
    ];
    let refunds = [
        (T0, "EUR".to_owned(), 50),
        (T0, "USD".to_owned(), 70),
        (T0 + 2 * DAY, "USD".to_owned(), 5),
    ];
    let rows = payment_rows(&counts, &refunds);
    assert_eq!(
        rows,
        vec![
            vec![
                Cell::text("2026-03-10"),
                Cell::Int(3),
                Cell::Int(1),
                Cell::Ratio(0.75),
                Cell::money(50, "EUR"),
                Cell::text("EUR"),
            ],
            vec![
                Cell::text("2026-03-10"),
                Cell::Empty,
                Cell::Empty,
                Cell::Empty,
                Cell::money(70, "USD"),
                Cell::text("USD"),
            ],
            // The day with cancellations only has no payment row.
            vec![
                Cell::text("2026-03-12"),
                Cell::Int(0),
                Cell::Int(0),
                Cell::Empty,
                Cell::money(5, "USD"),
                Cell::text("USD"),
            ],
        ]
    );
}

#[test]
fn inventory_ends_with_the_period_total_and_turnover() {
    let period = Period {
        from: T0,
        to: T0 + 2 * HOUR,
    };
    // 100 on hand for the first hour, 50 for the second: 75 on average.
    let stock = StockLevels {
        start: 100,
        changes: vec![(T0 + HOUR, 50)],
    };
    let rows = inventory_rows(&[("A".into(), 20), ("B".into(), 30)], 150, &stock, period);
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0][..2], [Cell::text("A"), Cell::Int(20)]);
    assert_eq!(
        rows[2],
        vec![
            Cell::text("All SKUs"),
            Cell::Int(50),
            Cell::Int(150),
            Cell::Int(75),
            Cell::Ratio(2.0),
        ]
    );
    let empty = inventory_rows(&[], 0, &StockLevels::default(), period);
    assert_eq!(
        empty,
        vec![vec![
            Cell::text("All SKUs"),
            Cell::Int(0),
            Cell::Int(0),
            Cell::Int(0),
            Cell::Empty
        ]]
    );
}

#[test]
fn channel_rows_skip_empty_days_and_average_per_conversion() {
    let day = |channel: &str, revenue, conversions| DayChannel {
        day: T0,
        channel: channel.into(),
        currency: "USD".into(),
        revenue,
        refunds: 0,
        conversions,
    };
    let rows = channel_rows(&[day("email", 1000, 3), day("direct", 0, 0)]);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0][5], Cell::money(333, "USD"));
}

#[test]
fn every_row_is_as_wide_as_its_columns() {
    let run = reconciliation::Run {
        id: "run".into(),
        tenant_id: "t".into(),
        period: Period {
            from: T0,
            to: T0 + DAY,
        },
        trigger: reconciliation::Trigger::Manual,
        status: reconciliation::RunStatus::Completed,
        matched: 1,
        amount_mismatch: 0,
        missing_payment: 0,
        missing_order: 1,
        error: None,
        started_at: T0 + DAY,
        finished_at: Some(T0 + DAY),
    };
    assert_eq!(run_row(&run).len(), RECONCILIATION_COLUMNS.len());
    let found = crate::domain::reconciliation::Discrepancy {
        category: crate::domain::reconciliation::Category::MissingOrder,
        reference: "pay_1".into(),
        order_amount: None,
        payment_amount: Some(100),
        currency: None,
        payment_ids: vec!["pay_1".into()],
    };
    let row = discrepancy_row("run", &found);
    assert_eq!(row.len(), RECONCILIATION_COLUMNS.len());
    assert_eq!(row[12], Cell::Int(100), "no currency: the bare number");
    assert_eq!(
        sales_rows(&[totals(T0, "USD", 1, 1, 0)], None)[0].len(),
        SALES_COLUMNS.len()
    );
    assert_eq!(
        payment_rows(&[], &[(T0, "USD".into(), 1)])[0].len(),
        PAYMENT_COLUMNS.len()
    );
    assert_eq!(
        inventory_rows(&[], 0, &StockLevels::default(), run.period)[0].len(),
        INVENTORY_COLUMNS.len()
    );
    assert_eq!(
        channel_rows(&[DayChannel {
            day: T0,
            channel: "email".into(),
            currency: "USD".into(),
            revenue: 1,
            refunds: 0,
            conversions: 1
        }])[0]
            .len(),
        CHANNEL_COLUMNS.len()
    );
    assert_eq!(minute_text(T0 + 90 * 60_000), "2026-03-10 01:30");
}
