//! The arithmetic of Viscount's own KPIs, apart from where the figures come from: rates
//! and averages over a period's totals, the time-weighted stock on hand that inventory
//! turnover divides by, the currency an answer is given in, the buckets a series is
//! drawn in, and which minutes an anomaly pass closes.
//!
//! Figures arrive per minute (a minute counts in a period when it starts inside it);
//! stock on hand arrives as a step function (the level at the period's start and each
//! change). Money stays integer minor units; only ratios and the stock average are
//! floats. No I/O.

use crate::domain::period::{DAY, HOUR, Period, minute_of};

/// One minute, ms.
pub const MINUTE: i64 = 60_000;

/// What a period added up to (money in one currency).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Totals {
    /// Orders placed.
    pub orders_created: i64,
    /// Orders cancelled.
    pub orders_cancelled: i64,
    /// Payments authorized.
    pub payments_authorized: i64,
    /// Payments that failed.
    pub payments_failed: i64,
    /// Units that left the warehouses for orders.
    pub units_sold: i64,
    /// Orders confirmed in the currency (what the average order value divides by).
    pub orders_confirmed: i64,
    /// Revenue of the confirmed orders, minor units.
    pub revenue: i64,
    /// Refunded, minor units (positive).
    pub refunds: i64,
}

/// The platform's total stock on hand over a period, as a step function: the level in
/// force at the period's start and each later change `(at, new level)`, in time order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StockLevels {
    /// The level in force at the period's start.
    pub start: i64,
    /// Each change after that: when, and the level from then on.
    pub changes: Vec<(i64, i64)>,
}

impl StockLevels {
    /// The time-weighted average level over `period`: each level weighs as long as it
    /// was in force. `None` for an empty period. Changes outside the period only move
    /// the level in force at its start (those before it) or are ignored (those after).
    pub fn time_weighted_average(&self, period: Period) -> Option<f64> {
        if period.to <= period.from {
            return None;
        }
        // Units × ms overflows i64 within a year at a billion units; i128 does not.
        let mut weighted: i128 = 0;
        let mut level = self.start;
        let mut since = period.from;
        for &(at, next) in &self.changes {
            if at >= period.to {
                break;
            }
            if at > since {
                weighted += i128::from(level) * i128::from(at - since);
                since = at;
            }
            level = next;
        }
        weighted += i128::from(level) * i128::from(period.to - since);
        Some(weighted as f64 / (period.to - period.from) as f64)
    }

    /// The level in force just before `at`: after every change strictly before it.
    pub fn level_before(&self, at: i64) -> i64 {
        self.changes
            .iter()
            .take_while(|(changed, _)| *changed < at)
            .last()
            .map_or(self.start, |(_, level)| *level)
    }
}

/// The KPIs a period's totals and stock give.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Figures {
    /// Orders placed per minute of the period (0 for an empty period).
    pub orders_per_minute: f64,
    /// Revenue over confirmed orders, minor units rounded half away from zero; none
    /// without confirmed orders.
    pub average_order_value: Option<i64>,
    /// authorized / (authorized + failed); none without payments.
    pub payment_success_rate: Option<f64>,
    /// cancelled / placed; none without orders placed. Orders cancelled in the period
    /// may have been placed before it, so it can exceed 1.
    pub cancellation_rate: Option<f64>,
    /// The time-weighted average of units on hand.
    pub average_on_hand: Option<f64>,
    /// Units sold over the average units on hand; none when nothing was on hand.
    pub inventory_turnover: Option<f64>,
}

/// The KPIs of `period` from its totals and its stock on hand.
pub fn figures(totals: &Totals, stock: &StockLevels, period: Period) -> Figures {
    let minutes = (period.to - period.from) as f64 / MINUTE as f64;
    let average_on_hand = stock.time_weighted_average(period);
    Figures {
        orders_per_minute: if minutes > 0.0 {
            totals.orders_created as f64 / minutes
        } else {
            0.0
        },
        average_order_value: rounded_average(totals.revenue, totals.orders_confirmed),
        payment_success_rate: ratio(
            totals.payments_authorized,
            totals
                .payments_authorized
                .saturating_add(totals.payments_failed),
        ),
        cancellation_rate: ratio(totals.orders_cancelled, totals.orders_created),
        average_on_hand,
        inventory_turnover: turnover(totals.units_sold, average_on_hand),
    }
}

/// `part / whole`; none when `whole` is not positive.
pub fn ratio(part: i64, whole: i64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

/// `sum / count` in integers, rounded half away from zero; none when `count` is not
/// positive.
pub fn rounded_average(sum: i64, count: i64) -> Option<i64> {
    if count <= 0 {
        return None;
    }
    let (sum, count) = (i128::from(sum), i128::from(count));
    let half_away = if sum >= 0 {
        (2 * sum + count) / (2 * count)
    } else {
        -((-2 * sum + count) / (2 * count))
    };
    // |sum / count| ≤ |sum|, which came from an i64.
    i64::try_from(half_away).ok()
}

/// Units sold over the average units on hand; none when nothing was on hand.
pub fn turnover(units_sold: i64, average_on_hand: Option<f64>) -> Option<f64> {
    average_on_hand
        .filter(|average| *average > 0.0)
        .map(|average| units_sold as f64 / average)
}

/// The currency with the most revenue (ties: the first by code); none when no currency
/// has any.
pub fn dominant_currency<'a>(revenue: impl IntoIterator<Item = (&'a str, i64)>) -> Option<&'a str> {
    revenue
        .into_iter()
        .filter(|(_, amount)| *amount > 0)
        .min_by(|(a_code, a), (b_code, b)| b.cmp(a).then_with(|| a_code.cmp(b_code)))
        .map(|(code, _)| code)
}

/// The width of a series' buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// One minute.
    Minute,
    /// One hour.
    Hour,
    /// One day.
    Day,
}

impl Step {
    /// The step that draws a period of `span` ms in a few hundred points at most:
    /// minutes up to 6 hours, hours up to 14 days, days beyond.
    pub fn for_span(span: i64) -> Self {
        if span <= 6 * HOUR {
            Step::Minute
        } else if span <= 14 * DAY {
            Step::Hour
        } else {
            Step::Day
        }
    }

    /// The API's name: `minute`, `hour` or `day`.
    pub fn as_str(self) -> &'static str {
        match self {
            Step::Minute => "minute",
            Step::Hour => "hour",
            Step::Day => "day",
        }
    }

    /// Its length, ms.
    pub fn millis(self) -> i64 {
        match self {
            Step::Minute => MINUTE,
            Step::Hour => HOUR,
            Step::Day => DAY,
        }
    }

    /// The start of the bucket holding `at` (UTC).
    pub fn start_of(self, at: i64) -> i64 {
        at - at.rem_euclid(self.millis())
    }
}

/// The first minute that starts inside `period`.
fn first_minute(period: Period) -> i64 {
    let floor = minute_of(period.from);
    if floor < period.from {
        floor + MINUTE
    } else {
        floor
    }
}

/// The starts of the `step` buckets that hold the minutes starting in `period`, in
/// order. Callers bound the period so the count stays small (a day of minutes, two
/// weeks of hours, a year of days).
pub fn bucket_starts(period: Period, step: Step) -> Vec<i64> {
    let first = first_minute(period);
    if first >= period.to {
        return Vec::new();
    }
    let mut at = step.start_of(first);
    let mut starts = Vec::new();
    while at < period.to {
        starts.push(at);
        at += step.millis();
    }
    starts
}

/// `values` (each at some instant, e.g. a minute's start) summed into every `step`
/// bucket of `period`, buckets without any at 0. Values outside the period's buckets
/// are left out.
pub fn zero_filled(period: Period, step: Step, values: &[(i64, i64)]) -> Vec<(i64, i64)> {
    let mut buckets: Vec<(i64, i64)> = bucket_starts(period, step)
        .into_iter()
        .map(|start| (start, 0))
        .collect();
    let Some(&(first, _)) = buckets.first() else {
        return buckets;
    };
    for &(at, value) in values {
        let index = (step.start_of(at) - first) / step.millis();
        if let Some(bucket) = usize::try_from(index).ok().and_then(|i| buckets.get_mut(i)) {
            bucket.1 = bucket.1.saturating_add(value);
        }
    }
    buckets
}

/// How long after a minute ends it is closed for anomaly detection: its events reach
/// analytics through the bus a moment after they happen, and a minute closed before its
/// stragglers arrive would be judged on part of its figures.
pub const CLOSE_AFTER: i64 = 10_000;
/// The most minutes one pass catches up on (after downtime, the older ones are skipped).
pub const CATCH_UP_MINUTES: i64 = 180;
/// How many minutes a series' first pass learns from.
pub const FIRST_RUN_MINUTES: i64 = 60;

/// The minutes an anomaly pass at `now` closes for a series whose last closed minute is
/// `last_minute` (none for a series never seen): every full minute since, ended at least
/// [`CLOSE_AFTER`] ago, from at most [`CATCH_UP_MINUTES`] back; a first pass starts
/// [`FIRST_RUN_MINUTES`] before the current minute. `None` when there is nothing to close.
pub fn minutes_to_close(last_minute: Option<i64>, now: i64) -> Option<Period> {
    let current = minute_of(now);
    // A minute m is closed once m + MINUTE + CLOSE_AFTER <= now.
    let end = minute_of(now - CLOSE_AFTER);
    let from = match last_minute {
        Some(last) => (minute_of(last) + MINUTE).max(current - CATCH_UP_MINUTES * MINUTE),
        None => current - FIRST_RUN_MINUTES * MINUTE,
    };
    (from < end).then_some(Period { from, to: end })
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 20_000 * DAY;

    fn period(from: i64, to: i64) -> Period {
        Period { from, to }
    }

    #[test]
    fn the_time_weighted_average_weighs_each_level_by_how_long_it_held() {
        // 100 units for the first quarter, 20 for the next half, 60 for the last quarter.
        let stock = StockLevels {
            start: 100,
            changes: vec![(T0 + 15 * MINUTE, 20), (T0 + 45 * MINUTE, 60)],
        };
        let hour = period(T0, T0 + HOUR);
        assert_eq!(stock.time_weighted_average(hour), Some(50.0));
        // A level that never changes is its own average; an empty period has none.
        let flat = StockLevels {
            start: 7,
            changes: vec![],
        };
        assert_eq!(flat.time_weighted_average(hour), Some(7.0));
        assert_eq!(flat.time_weighted_average(period(T0, T0)), None);
        assert_eq!(flat.time_weighted_average(period(T0, T0 - 1)), None);
    }

    #[test]
    fn changes_outside_the_period_only_set_its_opening_level_or_are_ignored() {
        let stock = StockLevels {
            start: 0,
            changes: vec![
                (T0 - MINUTE, 40),
                (T0 + 30 * MINUTE, 80),
                (T0 + HOUR, 1_000_000),
                (T0 + 2 * HOUR, 5),
            ],
        };
        assert_eq!(
            stock.time_weighted_average(period(T0, T0 + HOUR)),
            Some(60.0)
        );
        // Several changes at one instant: only the last one holds.
        let burst = StockLevels {
            start: 10,
            changes: vec![(T0 + 30 * MINUTE, 999), (T0 + 30 * MINUTE, 30)],
        };
        assert_eq!(
            burst.time_weighted_average(period(T0, T0 + HOUR)),
            Some(20.0)
        );
    }

    #[test]
    fn a_billion_units_for_a_year_does_not_overflow() {
        let stock = StockLevels {
            start: 1_000_000_000,
            changes: vec![],
        };
        let year = period(T0, T0 + 366 * DAY);
        assert_eq!(stock.time_weighted_average(year), Some(1e9));
    }

    #[test]
    fn the_level_before_an_instant_follows_the_changes_strictly_before_it() {
        let stock = StockLevels {
            start: 5,
            changes: vec![(T0 + 10, 8), (T0 + 20, 2)],
        };
        assert_eq!(stock.level_before(T0), 5);
        assert_eq!(stock.level_before(T0 + 10), 5);
        assert_eq!(stock.level_before(T0 + 11), 8);
        assert_eq!(stock.level_before(T0 + 21), 2);
    }

    #[test]
    fn the_figures_of_a_period() {
        let totals = Totals {
            orders_created: 120,
            orders_cancelled: 6,
            payments_authorized: 90,
            payments_failed: 10,
            units_sold: 150,
            orders_confirmed: 3,
            revenue: 1000,
            refunds: 250,
        };
        let stock = StockLevels {
            start: 100,
            changes: vec![(T0 + 30 * MINUTE, 50)],
        };
        let figures = figures(&totals, &stock, period(T0, T0 + HOUR));
        assert_eq!(figures.orders_per_minute, 2.0);
        // 1000 / 3 = 333.33…
        assert_eq!(figures.average_order_value, Some(333));
        assert_eq!(figures.payment_success_rate, Some(0.9));
        assert_eq!(figures.cancellation_rate, Some(0.05));
        assert_eq!(figures.average_on_hand, Some(75.0));
        assert_eq!(figures.inventory_turnover, Some(2.0));
    }

    #[test]
    fn a_quiet_period_has_no_rates_rather_than_zeros() {
        let figures = figures(
            &Totals::default(),
            &StockLevels::default(),
            period(T0, T0 + HOUR),
        );
        assert_eq!(figures.orders_per_minute, 0.0);
        assert_eq!(figures.average_order_value, None);
        assert_eq!(figures.payment_success_rate, None);
        assert_eq!(figures.cancellation_rate, None);
        assert_eq!(figures.average_on_hand, Some(0.0));
        assert_eq!(
            figures.inventory_turnover, None,
            "nothing on hand: no turnover"
        );
        let empty = super::figures(&Totals::default(), &StockLevels::default(), period(T0, T0));
        assert_eq!(empty.orders_per_minute, 0.0);
        assert_eq!(empty.average_on_hand, None);
    }

    #[test]
    fn averages_round_half_away_from_zero() {
        assert_eq!(rounded_average(10, 4), Some(3)); // 2.5
        assert_eq!(rounded_average(9, 4), Some(2)); // 2.25
        assert_eq!(rounded_average(11, 4), Some(3)); // 2.75
        assert_eq!(rounded_average(-10, 4), Some(-3));
        assert_eq!(rounded_average(i64::MAX, 1), Some(i64::MAX));
        assert_eq!(rounded_average(i64::MIN, 1), Some(i64::MIN));
        assert_eq!(rounded_average(5, 0), None);
        assert_eq!(rounded_average(5, -1), None);
    }

    #[test]
    fn turnover_needs_stock_on_hand() {
        assert_eq!(turnover(10, Some(4.0)), Some(2.5));
        assert_eq!(turnover(10, Some(0.0)), None);
        assert_eq!(turnover(10, Some(-3.0)), None);
        assert_eq!(turnover(10, None), None);
        assert_eq!(ratio(1, 0), None);
        assert_eq!(ratio(1, 4), Some(0.25));
    }

    #[test]
    fn the_dominant_currency_has_the_most_revenue() {
        assert_eq!(
            dominant_currency([("EUR", 500), ("USD", 900), ("GBP", 10)]),
            Some("USD")
        );
        assert_eq!(dominant_currency([("USD", 500), ("EUR", 500)]), Some("EUR"));
        assert_eq!(dominant_currency([("USD", 0)]), None);
        assert_eq!(dominant_currency([]), None);
    }

    #[test]
    fn steps_follow_the_span() {
        assert_eq!(Step::for_span(HOUR), Step::Minute);
        assert_eq!(Step::for_span(6 * HOUR), Step::Minute);
        assert_eq!(Step::for_span(6 * HOUR + 1), Step::Hour);
        assert_eq!(Step::for_span(14 * DAY), Step::Hour);
        assert_eq!(Step::for_span(30 * DAY), Step::Day);
        assert_eq!(Step::Hour.start_of(T0 + HOUR + 5), T0 + HOUR);
        assert_eq!(Step::Day.as_str(), "day");
    }

    #[test]
    fn buckets_cover_the_minutes_that_start_in_the_period() {
        // From mid-minute: that minute started before the period, so it is not in it.
        let p = period(T0 + 30_000, T0 + 3 * MINUTE);
        assert_eq!(
            bucket_starts(p, Step::Minute),
            vec![T0 + MINUTE, T0 + 2 * MINUTE]
        );
        // Up to mid-minute: the minute that starts inside is in.
        let p = period(T0, T0 + 90_000);
        assert_eq!(bucket_starts(p, Step::Minute), vec![T0, T0 + MINUTE]);
        // Hours and days start at their own boundaries, covering the minutes.
        let p = period(T0 + 10 * MINUTE, T0 + 2 * HOUR + 1);
        assert_eq!(
            bucket_starts(p, Step::Hour),
            vec![T0, T0 + HOUR, T0 + 2 * HOUR]
        );
        assert_eq!(bucket_starts(p, Step::Day), vec![T0]);
        assert!(bucket_starts(period(T0 + 1, T0 + 2), Step::Minute).is_empty());
        assert_eq!(
            bucket_starts(period(T0, T0 + DAY), Step::Minute).len(),
            1440
        );
    }

    #[test]
    fn zero_filling_sums_into_buckets_and_drops_strays() {
        let p = period(T0, T0 + 3 * HOUR);
        let values = [
            (T0 + MINUTE, 2),
            (T0 + 59 * MINUTE, 3),
            (T0 + 2 * HOUR + 5 * MINUTE, 7),
            (T0 - MINUTE, 100),
            (T0 + 3 * HOUR, 100),
        ];
        assert_eq!(
            zero_filled(p, Step::Hour, &values),
            vec![(T0, 5), (T0 + HOUR, 0), (T0 + 2 * HOUR, 7)]
        );
        assert!(zero_filled(period(T0, T0), Step::Hour, &values).is_empty());
    }

    #[test]
    fn an_anomaly_pass_closes_the_full_minutes_since_the_last() {
        let now = T0 + 100 * MINUTE + 30_000;
        // A first pass learns the hour before the current minute.
        assert_eq!(
            minutes_to_close(None, now),
            Some(period(T0 + 40 * MINUTE, T0 + 100 * MINUTE))
        );
        // Then every full minute since the last one closed.
        assert_eq!(
            minutes_to_close(Some(T0 + 97 * MINUTE), now),
            Some(period(T0 + 98 * MINUTE, T0 + 100 * MINUTE))
        );
        // Nothing new: nothing to do.
        assert_eq!(minutes_to_close(Some(T0 + 99 * MINUTE), now), None);
        // After a long pause only the last three hours.
        assert_eq!(
            minutes_to_close(Some(T0 - 10 * DAY), now),
            Some(period(T0 + 100 * MINUTE - 180 * MINUTE, T0 + 100 * MINUTE))
        );
    }

    #[test]
    fn a_minute_that_just_ended_waits_for_its_stragglers() {
        // 5 s into minute 100: minute 99 ended 5 s ago, so it is not closed yet.
        let now = T0 + 100 * MINUTE + 5_000;
        assert_eq!(
            minutes_to_close(Some(T0 + 97 * MINUTE), now),
            Some(period(T0 + 98 * MINUTE, T0 + 99 * MINUTE))
        );
        assert_eq!(minutes_to_close(Some(T0 + 98 * MINUTE), now), None);
        let later = T0 + 100 * MINUTE + CLOSE_AFTER;
        assert_eq!(
            minutes_to_close(Some(T0 + 98 * MINUTE), later),
            Some(period(T0 + 99 * MINUTE, T0 + 100 * MINUTE))
        );
    }
}
