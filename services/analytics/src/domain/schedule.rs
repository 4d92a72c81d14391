//! When a scheduled report runs: a standard cron expression, read in UTC.
//!
//! Five fields (minute, hour, day of month, month, day of week), with ranges, steps,
//! lists and names (`*/15 * * * *`, `0 6 * * MON-FRI`, `0 0 1 JAN,JUL *`), and the
//! nicknames `@yearly`, `@annually`, `@monthly`, `@weekly`, `@daily`, `@hourly`. When
//! both the day of month and the day of week are restricted, either matching is enough,
//! as in classic cron. Croner's extensions are accepted too: `L` for the last day of
//! the month, `W` for the weekday nearest a day, `#` for the nth weekday of the month
//! (`0 9 * * MON#1`, the first Monday). Refused: a seconds or years field (six or seven
//! fields: a report has no business running every second, and a year field would let a
//! schedule lapse silently), `@reboot`, and expressions that never match a date
//! (`0 0 30 2 *`).
//!
//! Parsing and matching are `croner`'s. Croner searches through its own civil date
//! types and reaches a date library through its `CronDateTime` trait, which is
//! implemented here for `time::OffsetDateTime` in UTC, so no second date library
//! enters the build and this is the only place the two meet.

use std::cmp::Ordering;

use croner::Cron;
use croner::errors::CronError;
use croner::parser::{CronParser, Seconds, Year};
use croner::time::{CivilDate, CivilDateTime, CivilTime, CronDateTime, Resolution, Weekday};
use time::{Date, Duration, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

/// A checked cron expression.
#[derive(Clone, Debug)]
pub struct CronSchedule {
    expression: String,
    cron: Cron,
}

impl CronSchedule {
    /// Parses `expr` (surrounding spaces ignored); the error says why it was refused,
    /// for a 422 naming the `cron` field.
    pub fn parse(expr: &str) -> Result<Self, String> {
        let expression = expr.trim();
        if expression.is_empty() {
            return Err("must not be empty".to_owned());
        }
        if expression.len() > 200 {
            return Err("must be at most 200 characters".to_owned());
        }
        let fields = expression.split_whitespace().count();
        if !expression.starts_with('@') && fields != 5 {
            return Err(format!(
                "must have 5 fields (minute hour day-of-month month day-of-week), not {fields}"
            ));
        }
        let cron = CronParser::builder()
            .seconds(Seconds::Disallowed)
            .year(Year::Disallowed)
            .build()
            .parse(expression)
            .map_err(|err| describe(&err))?;
        let schedule = Self {
            expression: expression.to_owned(),
            cron,
        };
        // Every five-field expression that matches at all does so within 28 years (the
        // calendar's weekday-and-leap-year cycle), so one search from any instant tells.
        if schedule.next_after(OffsetDateTime::UNIX_EPOCH).is_none() {
            return Err("never matches a date".to_owned());
        }
        Ok(schedule)
    }

    /// The expression as given (trimmed).
    pub fn expression(&self) -> &str {
        &self.expression
    }

    /// The first time the schedule matches strictly after `after` (any offset; the
    /// answer is in UTC). `None` only past the year 5000, where croner stops searching.
    pub fn next_after(&self, after: OffsetDateTime) -> Option<OffsetDateTime> {
        let start = Utc(after.to_offset(UtcOffset::UTC));
        // Croner compares whole seconds: from 06:00:00.5 a non-inclusive search would
        // find 06:00:00 again only if it were inclusive, and it is not, so 06:00:00.5
        // correctly leads to the next match after 06:00.
        let next = self.cron.find_next_occurrence(&start, false).ok()?;
        Some(next.0)
    }
}

/// Croner's error as a sentence for a person.
fn describe(err: &CronError) -> String {
    let detail = err.to_string();
    let detail = detail.trim().trim_end_matches('.');
    if detail.is_empty() {
        "is not a valid cron expression".to_owned()
    } else {
        format!("is not a valid cron expression: {detail}")
    }
}

/// A UTC instant as croner searches it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Utc(OffsetDateTime);

impl CronDateTime for Utc {
    fn to_civil(&self) -> CivilDateTime {
        let at = self.0;
        // `time` checked every part, so they are in croner's ranges.
        CivilDateTime::new(
            CivilDate::from_parts_unchecked(
                at.year(),
                u32::from(u8::from(at.month())),
                u32::from(at.day()),
            ),
            CivilTime::from_parts_unchecked(
                u32::from(at.hour()),
                u32::from(at.minute()),
                u32::from(at.second()),
            ),
        )
    }

    fn civil_weekday(&self) -> Weekday {
        Weekday::from_days_from_sunday(u32::from(self.0.weekday().number_days_from_sunday()))
    }

    fn resolve_civil(&self, civil: CivilDateTime) -> Result<Resolution<Self>, CronError> {
        // UTC has no daylight saving: every wall-clock time happens exactly once.
        let month = u8::try_from(civil.month())
            .ok()
            .and_then(|m| Month::try_from(m).ok())
            .ok_or(CronError::InvalidDate)?;
        let day = u8::try_from(civil.day()).map_err(|_| CronError::InvalidDate)?;
        let date = Date::from_calendar_date(civil.year(), month, day)
            .map_err(|_| CronError::InvalidDate)?;
        let hms = |part: u32| u8::try_from(part).map_err(|_| CronError::InvalidTime);
        let time = Time::from_hms(
            hms(civil.hour())?,
            hms(civil.minute())?,
            hms(civil.second())?,
        )
        .map_err(|_| CronError::InvalidTime)?;
        Ok(Resolution::Single(Utc(
            PrimitiveDateTime::new(date, time).assume_utc()
        )))
    }

    fn checked_add_seconds(&self, seconds: i64) -> Option<Self> {
        self.0.checked_add(Duration::seconds(seconds)).map(Utc)
    }

    fn cmp_instant(&self, other: &Self) -> Ordering {
        self.0.cmp(&other.0)
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    fn next(expr: &str, after: OffsetDateTime) -> OffsetDateTime {
        CronSchedule::parse(expr)
            .expect("valid")
            .next_after(after)
            .expect("a next time")
    }

    #[test]
    fn a_daily_time_is_today_until_it_has_passed() {
        let schedule = "0 6 * * *";
        assert_eq!(
            next(schedule, datetime!(2026-03-10 05:00 UTC)),
            datetime!(2026-03-10 06:00 UTC)
        );
        assert_eq!(
            next(schedule, datetime!(2026-03-10 06:00 UTC)),
            datetime!(2026-03-11 06:00 UTC),
            "strictly after"
        );
        assert_eq!(
            next(schedule, datetime!(2026-03-10 05:59:59.999 UTC)),
            datetime!(2026-03-10 06:00 UTC)
        );
        assert_eq!(
            next(schedule, datetime!(2026-03-10 06:00:00.5 UTC)),
            datetime!(2026-03-11 06:00 UTC)
        );
        assert_eq!(
            next(schedule, datetime!(2026-12-31 23:00 UTC)),
            datetime!(2027-01-01 06:00 UTC),
            "over the year's end"
        );
    }

    #[test]
    fn times_are_read_in_utc_whatever_the_offset_given() {
        let at = datetime!(2026-03-10 07:30 +02:00); // 05:30 UTC
        let found = next("0 6 * * *", at);
        assert_eq!(found, datetime!(2026-03-10 06:00 UTC));
        assert_eq!(found.offset(), UtcOffset::UTC);
    }

    #[test]
    fn steps_lists_names_and_nicknames() {
        let cases = [
            (
                "*/15 * * * *",
                datetime!(2026-03-10 10:07 UTC),
                datetime!(2026-03-10 10:15 UTC),
            ),
            (
                "*/15 * * * *",
                datetime!(2026-03-10 10:45 UTC),
                datetime!(2026-03-10 11:00 UTC),
            ),
            (
                "*/15 * * * *",
                datetime!(2026-03-10 23:59 UTC),
                datetime!(2026-03-11 00:00 UTC),
            ),
            // 2026-03-14 is a Saturday: the next weekday 06:00 is Monday's.
            (
                "0 6 * * MON-FRI",
                datetime!(2026-03-13 07:00 UTC),
                datetime!(2026-03-16 06:00 UTC),
            ),
            (
                "30 8 1 JAN,JUL *",
                datetime!(2026-03-10 00:00 UTC),
                datetime!(2026-07-01 08:30 UTC),
            ),
            (
                "@daily",
                datetime!(2026-03-10 10:00 UTC),
                datetime!(2026-03-11 00:00 UTC),
            ),
            (
                "@hourly",
                datetime!(2026-03-10 10:00 UTC),
                datetime!(2026-03-10 11:00 UTC),
            ),
            (
                "@weekly",
                datetime!(2026-03-10 10:00 UTC),
                datetime!(2026-03-15 00:00 UTC),
            ),
            (
                "@monthly",
                datetime!(2026-03-10 10:00 UTC),
                datetime!(2026-04-01 00:00 UTC),
            ),
            // Day of month 13 or a Friday, whichever comes first (classic cron's OR).
            (
                "0 0 13 * FRI",
                datetime!(2026-03-01 00:00 UTC),
                datetime!(2026-03-06 00:00 UTC),
            ),
            // The first Monday of the month; the last day of the month.
            (
                "0 9 * * MON#1",
                datetime!(2026-03-10 00:00 UTC),
                datetime!(2026-04-06 09:00 UTC),
            ),
            (
                "0 0 L * *",
                datetime!(2026-02-10 00:00 UTC),
                datetime!(2026-02-28 00:00 UTC),
            ),
            // 29 February, next in 2028.
            (
                "0 0 29 2 *",
                datetime!(2026-03-10 00:00 UTC),
                datetime!(2028-02-29 00:00 UTC),
            ),
        ];
        for (expr, after, want) in cases {
            assert_eq!(next(expr, after), want, "{expr} after {after}");
        }
    }

    #[test]
    fn garbage_seconds_and_impossible_dates_are_refused_with_a_reason() {
        let cases = [
            ("", "must not be empty"),
            ("   ", "must not be empty"),
            ("every day", "must have 5 fields"),
            ("0 6 * *", "must have 5 fields"),
            ("0 0 6 * * *", "must have 5 fields"),
            ("0 0 6 * * * 2026", "must have 5 fields"),
            ("61 * * * *", "is not a valid cron expression"),
            ("* 24 * * *", "is not a valid cron expression"),
            ("a b c d e", "is not a valid cron expression"),
            ("*/0 * * * *", "is not a valid cron expression"),
            ("@reboot", "is not a valid cron expression"),
            ("@sometimes", "is not a valid cron expression"),
            ("0 0 30 2 *", "never matches a date"),
        ];
        for (expr, reason) in cases {
            let err = CronSchedule::parse(expr).expect_err(expr);
            assert!(err.starts_with(reason), "{expr:?}: {err}");
        }
        let long = format!("0 0 * * {}", "1,".repeat(200));
        assert!(CronSchedule::parse(&long).is_err());
    }

    #[test]
    fn the_expression_is_kept_as_given_without_surrounding_space() {
        let schedule = CronSchedule::parse("  0 6 * * mon ").expect("valid");
        assert_eq!(schedule.expression(), "0 6 * * mon");
        assert_eq!(
            schedule.next_after(datetime!(2026-03-10 00:00 UTC)),
            Some(datetime!(2026-03-16 06:00 UTC))
        );
    }
}
