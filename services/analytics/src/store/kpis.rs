//! Viscount's own business per minute (counts, and money per currency) and its stock
//! on hand, as the KPIs read them.

use platform::db::{Executor, Tx};

use crate::domain::period::Period;

/// A per-minute count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Count {
    /// Orders placed.
    OrdersCreated,
    /// Orders confirmed (paid).
    OrdersConfirmed,
    /// Orders cancelled.
    OrdersCancelled,
    /// Payments authorized.
    PaymentsAuthorized,
    /// Payments that failed.
    PaymentsFailed,
    /// Units that left the warehouses for orders.
    UnitsSold,
}

impl Count {
    /// Its column in `kpi_counts`.
    pub fn column(self) -> &'static str {
        match self {
            Count::OrdersCreated => "orders_created",
            Count::OrdersConfirmed => "orders_confirmed",
            Count::OrdersCancelled => "orders_cancelled",
            Count::PaymentsAuthorized => "payments_authorized",
            Count::PaymentsFailed => "payments_failed",
            Count::UnitsSold => "units_sold",
        }
    }
}

/// Adds `by` to `count` in `minute`.
pub async fn add_count(
    tx: &mut Tx,
    minute: i64,
    count: Count,
    by: i64,
) -> Result<(), platform::db::Error> {
    let column = count.column();
    platform::db::query(&format!(
        "INSERT INTO kpi_counts (minute, {column}) VALUES ($1, $2) \
         ON CONFLICT (minute) DO UPDATE SET {column} = kpi_counts.{column} + excluded.{column}"
    ))
    .bind(minute)
    .bind(by)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Adds revenue and refunds (both positive) in `currency` to `minute`.
pub async fn add_money(
    tx: &mut Tx,
    minute: i64,
    currency: &str,
    revenue: i64,
    refunds: i64,
) -> Result<(), platform::db::Error> {
    platform::db::query(
        "INSERT INTO kpi_money (minute, currency, revenue, refunds) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (minute, currency) DO UPDATE SET revenue = kpi_money.revenue + excluded.revenue, \
         refunds = kpi_money.refunds + excluded.refunds",
    )
    .bind(minute)
    .bind(currency)
    .bind(revenue)
    .bind(refunds)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Records a sku's stock on hand at `at` (the event's time), and the platform total
/// that follows in the history. A level older than the one stored is ignored, history
/// included: it says nothing about the stock now, and inventory announces each change
/// once, so a delivery out of order must not roll a sku back.
///
/// The total is summed from the levels after the upsert rather than derived from the
/// previous history row: replicas handling different skus at once each write a total
/// of the levels they see, and the next change of any sku sums every sku's latest
/// level again, so no change is lost for good whatever order transactions commit in.
pub async fn set_stock(
    tx: &mut Tx,
    sku: &str,
    on_hand: i64,
    at: i64,
    event_id: &str,
) -> Result<(), platform::db::Error> {
    let applied = platform::db::query(
        "INSERT INTO stock_levels (sku, on_hand, updated_at) VALUES ($1, $2, $3) \
         ON CONFLICT (sku) DO UPDATE SET on_hand = excluded.on_hand, \
         updated_at = excluded.updated_at \
         WHERE stock_levels.updated_at IS NULL OR stock_levels.updated_at <= excluded.updated_at",
    )
    .bind(sku)
    .bind(on_hand)
    .bind(at)
    .execute(&mut **tx)
    .await?;
    if applied.rows_affected() == 0 {
        return Ok(());
    }
    // SUM of a BIGINT is NUMERIC on PostgreSQL; the cast keeps it an integer there.
    let total: i64 = platform::db::query_scalar(
        "SELECT CAST(COALESCE(SUM(on_hand), 0) AS BIGINT) FROM stock_levels",
    )
    .fetch_one(&mut **tx)
    .await?;
    platform::db::query(
        "INSERT INTO stock_history (at, event_id, total_on_hand) VALUES ($1, $2, $3) \
         ON CONFLICT (at, event_id) DO NOTHING",
    )
    .bind(at)
    .bind(event_id)
    .bind(total)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// One minute's counts and money.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Minute {
    /// The minute's first instant, ms.
    pub minute: i64,
    /// Orders placed.
    pub orders_created: i64,
    /// Orders confirmed.
    pub orders_confirmed: i64,
    /// Orders cancelled.
    pub orders_cancelled: i64,
    /// Payments authorized.
    pub payments_authorized: i64,
    /// Payments failed.
    pub payments_failed: i64,
    /// Units sold.
    pub units_sold: i64,
}

/// The platform's total stock on hand over `period`: the level in force at its start
/// (0 before any record) and each change in it, in order.
pub async fn stock_history<'e>(
    ex: impl Executor<'e>,
    period: Period,
) -> Result<(i64, Vec<(i64, i64)>), platform::db::Error> {
    let rows = platform::db::query(
        "SELECT at, total_on_hand FROM stock_history WHERE at < $2 AND at >= COALESCE( \
         (SELECT MAX(at) FROM stock_history WHERE at <= $1), $1) ORDER BY at, event_id",
    )
    .bind(period.from)
    .bind(period.to)
    .fetch_all(ex)
    .await?;
    let mut start = 0;
    let mut changes = Vec::new();
    for row in &rows {
        let at: i64 = row.try_get("at")?;
        let total: i64 = row.try_get("total_on_hand")?;
        if at <= period.from {
            start = total;
        } else {
            changes.push((at, total));
        }
    }
    Ok((start, changes))
}

/// Adds a confirmed order's total in `currency` to `minute`: its revenue, and one order
/// of that currency (what the average order value divides by).
pub async fn add_sale(
    tx: &mut Tx,
    minute: i64,
    currency: &str,
    amount: i64,
) -> Result<(), platform::db::Error> {
    platform::db::query(
        "INSERT INTO kpi_money (minute, currency, revenue, refunds, orders) VALUES ($1, $2, $3, 0, 1) \
         ON CONFLICT (minute, currency) DO UPDATE SET revenue = kpi_money.revenue + excluded.revenue, \
         orders = kpi_money.orders + 1",
    )
    .bind(minute)
    .bind(currency)
    .bind(amount)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The counts of every minute of `period` summed (PostgreSQL sums `BIGINT` into
/// `NUMERIC`, hence the casts back).
const COUNT_SUMS: &str = "CAST(COALESCE(SUM(orders_created), 0) AS BIGINT) AS orders_created, \
     CAST(COALESCE(SUM(orders_confirmed), 0) AS BIGINT) AS orders_confirmed, \
     CAST(COALESCE(SUM(orders_cancelled), 0) AS BIGINT) AS orders_cancelled, \
     CAST(COALESCE(SUM(payments_authorized), 0) AS BIGINT) AS payments_authorized, \
     CAST(COALESCE(SUM(payments_failed), 0) AS BIGINT) AS payments_failed, \
     CAST(COALESCE(SUM(units_sold), 0) AS BIGINT) AS units_sold";

/// A [`Minute`] of summed counts from a row of [`COUNT_SUMS`] and `minute`.
fn summed(row: &platform::db::Row, minute: i64) -> Result<Minute, platform::db::Error> {
    Ok(Minute {
        minute,
        orders_created: row.try_get("orders_created")?,
        orders_confirmed: row.try_get("orders_confirmed")?,
        orders_cancelled: row.try_get("orders_cancelled")?,
        payments_authorized: row.try_get("payments_authorized")?,
        payments_failed: row.try_get("payments_failed")?,
        units_sold: row.try_get("units_sold")?,
    })
}

/// The counts of the minutes in `period` added up (`minute` is the period's start).
pub async fn count_totals<'e>(
    ex: impl Executor<'e>,
    period: Period,
) -> Result<Minute, platform::db::Error> {
    let row = platform::db::query(&format!(
        "SELECT {COUNT_SUMS} FROM kpi_counts WHERE minute >= $1 AND minute < $2"
    ))
    .bind(period.from)
    .bind(period.to)
    .fetch_one(ex)
    .await?;
    summed(&row, period.from)
}

/// The counts of the minutes in `period` added up per bucket of `step` ms (`minute` is
/// the bucket's start; minutes are UTC and after the epoch, so `minute % step` is the
/// offset into the bucket on both engines). Only buckets with rows, in order.
pub async fn count_buckets<'e>(
    ex: impl Executor<'e>,
    period: Period,
    step: i64,
) -> Result<Vec<Minute>, platform::db::Error> {
    platform::db::query(&format!(
        "SELECT minute - (minute % $3) AS bucket, {COUNT_SUMS} FROM kpi_counts \
         WHERE minute >= $1 AND minute < $2 GROUP BY bucket ORDER BY bucket"
    ))
    .bind(period.from)
    .bind(period.to)
    .bind(step.max(1))
    .fetch_all(ex)
    .await?
    .iter()
    .map(|row| summed(row, row.try_get("bucket")?))
    .collect()
}

/// Money of one currency over a span.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MoneyFigures {
    /// The currency.
    pub currency: String,
    /// Revenue of confirmed orders, minor units.
    pub revenue: i64,
    /// Refunded, minor units (positive).
    pub refunds: i64,
    /// Confirmed orders in the currency.
    pub orders: i64,
}

/// The money columns of `kpi_money` summed.
const MONEY_SUMS: &str = "CAST(COALESCE(SUM(revenue), 0) AS BIGINT) AS revenue, \
     CAST(COALESCE(SUM(refunds), 0) AS BIGINT) AS refunds, \
     CAST(COALESCE(SUM(orders), 0) AS BIGINT) AS orders";

/// The money of the minutes in `period` per currency (currencies in order).
pub async fn money_totals<'e>(
    ex: impl Executor<'e>,
    period: Period,
) -> Result<Vec<MoneyFigures>, platform::db::Error> {
    platform::db::query(&format!(
        "SELECT currency, {MONEY_SUMS} FROM kpi_money WHERE minute >= $1 AND minute < $2 \
         GROUP BY currency ORDER BY currency"
    ))
    .bind(period.from)
    .bind(period.to)
    .fetch_all(ex)
    .await?
    .iter()
    .map(|row| {
        Ok(MoneyFigures {
            currency: row.try_get("currency")?,
            revenue: row.try_get("revenue")?,
            refunds: row.try_get("refunds")?,
            orders: row.try_get("orders")?,
        })
    })
    .collect()
}

/// `currency`'s money of the minutes in `period` per bucket of `step` ms, with each
/// bucket's start (see [`count_buckets`]). Only buckets with rows, in order.
pub async fn money_buckets<'e>(
    ex: impl Executor<'e>,
    period: Period,
    currency: &str,
    step: i64,
) -> Result<Vec<(i64, MoneyFigures)>, platform::db::Error> {
    platform::db::query(&format!(
        "SELECT minute - (minute % $4) AS bucket, {MONEY_SUMS} FROM kpi_money \
         WHERE minute >= $1 AND minute < $2 AND currency = $3 \
         GROUP BY bucket ORDER BY bucket"
    ))
    .bind(period.from)
    .bind(period.to)
    .bind(currency)
    .bind(step.max(1))
    .fetch_all(ex)
    .await?
    .iter()
    .map(|row| {
        Ok((
            row.try_get("bucket")?,
            MoneyFigures {
                currency: currency.to_owned(),
                revenue: row.try_get("revenue")?,
                refunds: row.try_get("refunds")?,
                orders: row.try_get("orders")?,
            },
        ))
    })
    .collect()
}

#[cfg(test)]
mod tests {

    use platform::db::Db;

    use super::*;

    async fn stock(db: &Db, sku: &str, on_hand: i64, at: i64, event_id: &str) {
        let mut tx = db.begin().await.expect("begin");
        set_stock(&mut tx, sku, on_hand, at, event_id)
            .await
            .expect("stock");
        tx.commit().await.expect("commit");
    }

    async fn history(db: &Db) -> Vec<(i64, i64)> {
        let (start, changes) = stock_history(db.reader(), Period { from: 0, to: 1_000 })
            .await
            .expect("history");
        assert_eq!(start, 0);
        changes
    }

    async fn level(db: &Db, sku: &str) -> Option<i64> {
        platform::db::query_scalar("SELECT on_hand FROM stock_levels WHERE sku = $1")
            .bind(sku)
            .fetch_optional(db.reader())
            .await
            .expect("level")
    }

    #[tokio::test]
    async fn the_total_is_every_skus_level_whatever_order_changes_arrive_in() {
        let s = crate::testing::test_db().await;
        // Replicas commit in another order than the events' times: A at 20, then B's
        // older event at 10, then B again (unchanged) at 30.
        stock(&s.db, "A", 5, 20, "e1").await;
        stock(&s.db, "B", 7, 10, "e2").await;
        stock(&s.db, "B", 7, 30, "e3").await;
        let changes = history(&s.db).await;
        assert_eq!(changes.last(), Some(&(30, 12)), "{changes:?}");
        stock(&s.db, "A", 1, 40, "e4").await;
        assert_eq!(history(&s.db).await.last(), Some(&(40, 8)));
    }

    #[tokio::test]
    async fn a_stale_level_does_not_overwrite_a_newer_one() {
        let s = crate::testing::test_db().await;
        stock(&s.db, "A", 5, 20, "e1").await;
        stock(&s.db, "B", 2, 25, "e2").await;
        // A's level at 10 arrives late.
        stock(&s.db, "A", 3, 10, "e0").await;
        assert_eq!(level(&s.db, "A").await, Some(5));
        assert_eq!(history(&s.db).await, [(20, 5), (25, 7)], "no stale total");
        // The same event again changes nothing; a newer one for A applies.
        stock(&s.db, "A", 5, 20, "e1").await;
        stock(&s.db, "A", 9, 30, "e3").await;
        assert_eq!(level(&s.db, "A").await, Some(9));
        assert_eq!(history(&s.db).await, [(20, 5), (25, 7), (30, 11)]);
    }
}
