//! Reports as requests with a life (pending, then completed or failed) and schedules
//! that request them by cron: their states, their transitions and the rules they follow.
//! How a report looks is [`super::report`]'s; when a cron expression matches is
//! [`super::schedule`]'s. No I/O.
//!
//! A report covers whole UTC hours: the read models it is drawn from are kept per hour
//! (and per minute), so a period is widened to the hours it touches rather than
//! answered with a first and last hour that silently count only in part.
//!
//! A scheduled run covers the time since the schedule's previous run (its first run,
//! the time since the schedule was made), up to the moment it runs: consecutive reports
//! of a schedule leave no gap, however late a run is, and a `MON-FRI` schedule's Monday
//! report covers the weekend.

use time::OffsetDateTime;

use super::period::{HOUR, Period, instant};
use super::report::{Format, Template};
use super::schedule::CronSchedule;

/// The longest period one report covers, ms (a year, leap day included).
pub const MAX_SPAN: i64 = 366 * super::period::DAY;

/// A schedule's next run when its cron expression matches no later time (only past the
/// year 5000): never.
pub const NEVER: i64 = i64::MAX;

/// The tenant whose business is Viscount's own.
pub const OWN_TENANT: &str = "viscount";

/// Whether `template` reports on one tenant's revenue (any tenant), rather than on
/// Viscount's own business (stock and payments, which only Viscount's events feed).
pub fn is_per_tenant(template: Template) -> bool {
    !matches!(template, Template::Inventory | Template::Payments)
}

/// `period` widened to the whole UTC hours it touches (an empty period becomes the
/// hour it is in), at most [`MAX_SPAN`] long: a longer one keeps its end.
pub fn covering_hours(period: Period) -> Period {
    let from = period.from - period.from.rem_euclid(HOUR);
    let to = match period.to.rem_euclid(HOUR) {
        0 => period.to,
        rem => period.to.saturating_sub(rem).saturating_add(HOUR),
    };
    let to = to.max(from + HOUR);
    Period {
        from: from.max(to - MAX_SPAN),
        to,
    }
}

/// A valid email address a scheduled report goes to (surrounding blanks trimmed, case
/// kept: the local part is the receiving domain's to interpret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient(String);

impl TryFrom<&str> for Recipient {
    type Error = &'static str;

    fn try_from(raw: &str) -> Result<Self, Self::Error> {
        let address = raw.trim();
        if address.chars().count() > 254 {
            return Err("must be at most 254 characters");
        }
        let Some((local, domain)) = address.rsplit_once('@') else {
            return Err("must be an email address");
        };
        let plain = |part: &str| {
            !part.is_empty()
                && !part
                    .chars()
                    .any(|c| c.is_whitespace() || c.is_control() || c == '@')
        };
        let domain_ok = plain(domain)
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..");
        if !plain(local) || local.chars().count() > 64 || !domain_ok {
            return Err("must be an email address");
        }
        Ok(Self(address.to_owned()))
    }
}

impl Recipient {
    /// The address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Where a report is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReportState {
    /// Waiting for a worker to render it.
    Pending,
    /// Rendered; its file is stored.
    Completed {
        /// When, ms.
        at: i64,
    },
    /// It could not be rendered.
    Failed {
        /// When, ms.
        at: i64,
        /// Why, for the admin who asked.
        error: String,
    },
}

impl ReportState {
    /// The stored and shown name: `pending`, `completed` or `failed`.
    pub fn as_str(&self) -> &'static str {
        match self {
            ReportState::Pending => "pending",
            ReportState::Completed { .. } => "completed",
            ReportState::Failed { .. } => "failed",
        }
    }

    /// The state stored as `status`, `completed_at` and `error`; `None` when they do not
    /// fit together (a finished report without its time, a failure without its reason).
    pub fn from_parts(
        status: &str,
        completed_at: Option<i64>,
        error: Option<String>,
    ) -> Option<Self> {
        match (status, completed_at, error) {
            ("pending", None, None) => Some(ReportState::Pending),
            ("completed", Some(at), None) => Some(ReportState::Completed { at }),
            ("failed", Some(at), Some(error)) => Some(ReportState::Failed { at, error }),
            _ => None,
        }
    }

    /// When it finished.
    pub fn completed_at(&self) -> Option<i64> {
        match self {
            ReportState::Pending => None,
            ReportState::Completed { at } | ReportState::Failed { at, .. } => Some(*at),
        }
    }

    /// Why it failed.
    pub fn error(&self) -> Option<&str> {
        match self {
            ReportState::Failed { error, .. } => Some(error),
            _ => None,
        }
    }
}

/// A transition from a state that does not allow it (a report finishes once).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the report is {0}, not pending")]
pub struct NotPending(pub &'static str);

/// A requested report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// Its id (UUIDv7).
    pub id: String,
    /// What it shows.
    pub template: Template,
    /// Its file's format.
    pub format: Format,
    /// The tenant it is about (`viscount` for Viscount's own business).
    pub tenant: String,
    /// The period it covers (whole hours).
    pub period: Period,
    /// The schedule that asked for it.
    pub schedule_id: Option<String>,
    /// Who it is mailed to once completed (a scheduled report's recipient).
    pub recipient: Option<Recipient>,
    /// When it was asked for, ms.
    pub requested_at: i64,
    state: ReportState,
}

impl Report {
    /// A new pending report `id`, asked for at `now`, over `period` widened to hours.
    pub fn requested(
        id: String,
        template: Template,
        format: Format,
        tenant: String,
        period: Period,
        now: i64,
    ) -> Self {
        Self {
            id,
            template,
            format,
            tenant,
            period: covering_hours(period),
            schedule_id: None,
            recipient: None,
            requested_at: now,
            state: ReportState::Pending,
        }
    }

    /// A report as stored.
    #[allow(clippy::too_many_arguments)]
    pub fn stored(
        id: String,
        template: Template,
        format: Format,
        tenant: String,
        period: Period,
        schedule_id: Option<String>,
        recipient: Option<Recipient>,
        requested_at: i64,
        state: ReportState,
    ) -> Self {
        Self {
            id,
            template,
            format,
            tenant,
            period,
            schedule_id,
            recipient,
            requested_at,
            state,
        }
    }

    /// Where it is.
    pub fn state(&self) -> &ReportState {
        &self.state
    }

    /// Rendered at `at`.
    pub fn complete(&mut self, at: i64) -> Result<(), NotPending> {
        self.finish(ReportState::Completed { at })
    }

    /// Could not be rendered at `at`, for `error`.
    pub fn fail(&mut self, at: i64, error: impl Into<String>) -> Result<(), NotPending> {
        self.finish(ReportState::Failed {
            at,
            error: error.into(),
        })
    }

    fn finish(&mut self, next: ReportState) -> Result<(), NotPending> {
        if self.state != ReportState::Pending {
            return Err(NotPending(self.state.as_str()));
        }
        self.state = next;
        Ok(())
    }

    /// Its file's name: the template, the last day it covers, the format's extension
    /// (`sales_summary-2026-12-05.csv`).
    pub fn file_name(&self) -> String {
        let last = instant(self.period.to.saturating_sub(1)).date();
        format!(
            "{}-{}.{}",
            self.template.id(),
            day(last),
            self.format.extension()
        )
    }

    /// Where an admin downloads it through the gateway.
    pub fn download_path(&self) -> String {
        format!("/api/v1/reports/{}/download", self.id)
    }
}

/// A date as `YYYY-MM-DD`.
fn day(date: time::Date) -> String {
    format!(
        "{:04}-{:02}-{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    )
}

/// A report requested on a cron schedule and mailed to a recipient.
#[derive(Debug, Clone)]
pub struct Schedule {
    /// Its id (UUIDv7).
    pub id: String,
    /// What its reports show.
    pub template: Template,
    /// Their format.
    pub format: Format,
    /// When they run (UTC).
    pub cron: CronSchedule,
    /// Who they are mailed to.
    pub recipient: Recipient,
    /// The tenant they are about.
    pub tenant: String,
    /// When it was made, ms.
    pub created_at: i64,
    next_run_at: i64,
    last_run_at: Option<i64>,
}

/// One run of a schedule: the report it asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    /// The schedule's next run as it stood before this one (the condition that makes a
    /// run happen once however many replicas see it due).
    pub was_due_at: i64,
    /// The report to render.
    pub report: Report,
}

impl Schedule {
    /// A new schedule `id` made at `now`; its first run is the expression's first
    /// match after `now`.
    pub fn new(
        id: String,
        template: Template,
        format: Format,
        cron: CronSchedule,
        recipient: Recipient,
        tenant: String,
        now: i64,
    ) -> Self {
        let next_run_at = next_match(&cron, now);
        Self {
            id,
            template,
            format,
            cron,
            recipient,
            tenant,
            created_at: now,
            next_run_at,
            last_run_at: None,
        }
    }

    /// A schedule as stored.
    #[allow(clippy::too_many_arguments)]
    pub fn stored(
        id: String,
        template: Template,
        format: Format,
        cron: CronSchedule,
        recipient: Recipient,
        tenant: String,
        created_at: i64,
        next_run_at: i64,
        last_run_at: Option<i64>,
    ) -> Self {
        Self {
            id,
            template,
            format,
            cron,
            recipient,
            tenant,
            created_at,
            next_run_at,
            last_run_at,
        }
    }

    /// When it runs next, ms ([`NEVER`] when the expression matches no later time).
    pub fn next_run_at(&self) -> i64 {
        self.next_run_at
    }

    /// When it last ran, ms.
    pub fn last_run_at(&self) -> Option<i64> {
        self.last_run_at
    }

    /// Whether a run is due at `now`.
    pub fn is_due(&self, now: i64) -> bool {
        self.next_run_at <= now
    }

    /// Runs it at `now` if due: the report covering the time since its previous run
    /// (or its making), widened to hours; its next run moves to the expression's first
    /// match after `now`, so runs missed while nothing was polling are made up by one
    /// report, not one per missed match.
    pub fn run(&mut self, now: i64, report_id: String) -> Option<Run> {
        if !self.is_due(now) {
            return None;
        }
        let since = self.last_run_at.unwrap_or(self.created_at).min(now);
        let mut report = Report::requested(
            report_id,
            self.template,
            self.format,
            self.tenant.clone(),
            Period {
                from: since,
                to: now,
            },
            now,
        );
        report.schedule_id = Some(self.id.clone());
        report.recipient = Some(self.recipient.clone());
        let was_due_at = self.next_run_at;
        self.next_run_at = next_match(&self.cron, now);
        self.last_run_at = Some(now);
        Some(Run { was_due_at, report })
    }
}

/// The first match of `cron` strictly after `now`, ms.
fn next_match(cron: &CronSchedule, now: i64) -> i64 {
    cron.next_after(instant(now))
        .and_then(|at: OffsetDateTime| i64::try_from(at.unix_timestamp_nanos() / 1_000_000).ok())
        .unwrap_or(NEVER)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::period::DAY;

    /// 2026-03-10T00:00:00Z.
    const T0: i64 = 1_773_100_800_000;
    const MINUTE: i64 = 60_000;

    fn schedule(expr: &str, now: i64) -> Schedule {
        Schedule::new(
            "s1".into(),
            Template::SalesSummary,
            Format::Csv,
            CronSchedule::parse(expr).expect("cron"),
            Recipient::try_from("ops@example.com").expect("address"),
            OWN_TENANT.into(),
            now,
        )
    }

    #[test]
    fn the_test_instant_is_midnight() {
        assert_eq!(instant(T0), time::macros::datetime!(2026-03-10 00:00 UTC));
    }

    #[test]
    fn periods_widen_to_whole_hours_and_at_most_a_year() {
        let cases = [
            // (from, to) → (from, to)
            ((T0, T0 + 3 * HOUR), (T0, T0 + 3 * HOUR)),
            ((T0 + 5 * MINUTE, T0 + 6 * MINUTE), (T0, T0 + HOUR)),
            ((T0 + 59 * MINUTE, T0 + HOUR + 1), (T0, T0 + 2 * HOUR)),
            ((T0 + HOUR, T0 + HOUR), (T0 + HOUR, T0 + 2 * HOUR)),
            ((T0 - 400 * DAY, T0), (T0 - MAX_SPAN, T0)),
        ];
        for ((from, to), (want_from, want_to)) in cases {
            assert_eq!(
                covering_hours(Period { from, to }),
                Period {
                    from: want_from,
                    to: want_to
                },
                "{from}..{to}"
            );
        }
    }

    #[test]
    fn recipients_must_be_addresses() {
        for good in ["ops@example.com", " Ops.Team+x@mail.example.org "] {
            let recipient = Recipient::try_from(good).expect(good);
            assert_eq!(recipient.as_str(), good.trim());
        }
        let long = format!("{}@example.com", "a".repeat(250));
        for bad in [
            "",
            "ops",
            "@example.com",
            "ops@",
            "ops@localhost",
            "ops@.example.com",
            "ops@example.com.",
            "ops@exa..mple.com",
            "o ps@example.com",
            "ops@exa mple.com",
            "a@b@example.com",
            long.as_str(),
        ] {
            assert!(Recipient::try_from(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_report_finishes_once() {
        let period = Period {
            from: T0,
            to: T0 + DAY,
        };
        let mut report = Report::requested(
            "r1".into(),
            Template::Payments,
            Format::Pdf,
            OWN_TENANT.into(),
            period,
            T0 + DAY,
        );
        assert_eq!(report.state().as_str(), "pending");
        report.complete(T0 + DAY + 5).expect("pending completes");
        assert_eq!(report.state(), &ReportState::Completed { at: T0 + DAY + 5 });
        assert_eq!(report.complete(T0 + DAY + 6), Err(NotPending("completed")));
        assert_eq!(
            report.fail(T0 + DAY + 6, "late"),
            Err(NotPending("completed"))
        );

        let mut failing = Report::requested(
            "r1".into(),
            Template::Payments,
            Format::Pdf,
            OWN_TENANT.into(),
            period,
            T0,
        );
        failing.fail(T0 + 1, "no data").expect("pending fails");
        assert_eq!(failing.state().error(), Some("no data"));
        assert_eq!(failing.state().completed_at(), Some(T0 + 1));
        assert_eq!(failing.complete(T0 + 2), Err(NotPending("failed")));
    }

    #[test]
    fn stored_states_must_be_whole() {
        assert_eq!(
            ReportState::from_parts("pending", None, None),
            Some(ReportState::Pending)
        );
        assert_eq!(
            ReportState::from_parts("completed", Some(7), None),
            Some(ReportState::Completed { at: 7 })
        );
        assert_eq!(
            ReportState::from_parts("failed", Some(7), Some("why".into())),
            Some(ReportState::Failed {
                at: 7,
                error: "why".into()
            })
        );
        assert_eq!(ReportState::from_parts("completed", None, None), None);
        assert_eq!(ReportState::from_parts("failed", Some(7), None), None);
        assert_eq!(ReportState::from_parts("pending", Some(7), None), None);
        assert_eq!(ReportState::from_parts("running", None, None), None);
    }

    #[test]
    fn file_names_carry_the_last_day_covered() {
        let report = Report::requested(
            "r1".into(),
            Template::SalesSummary,
            Format::Csv,
            OWN_TENANT.into(),
            Period {
                from: T0 - DAY,
                to: T0,
            },
            T0,
        );
        assert_eq!(report.file_name(), "sales_summary-2026-03-09.csv");
        assert_eq!(
            report.download_path(),
            format!("/api/v1/reports/{}/download", report.id)
        );
    }

    #[test]
    fn a_schedule_runs_when_due_over_the_time_since_its_last_run() {
        // Made at 05:30 with a daily 06:00 run.
        let made = T0 + 5 * HOUR + 30 * MINUTE;
        let mut daily = schedule("0 6 * * *", made);
        assert_eq!(daily.next_run_at(), T0 + 6 * HOUR);
        assert!(
            daily.run(T0 + 6 * HOUR - 1, "r".into()).is_none(),
            "not due yet"
        );

        // The poll sees it 10 s late: the first report covers the time since it was
        // made, in whole hours.
        let first = daily.run(T0 + 6 * HOUR + 10_000, "r".into()).expect("due");
        assert_eq!(first.was_due_at, T0 + 6 * HOUR);
        assert_eq!(
            first.report.period,
            Period {
                from: T0 + 5 * HOUR,
                to: T0 + 7 * HOUR
            }
        );
        assert_eq!(first.report.schedule_id.as_deref(), Some(daily.id.as_str()));
        assert_eq!(
            first.report.recipient.as_ref().map(Recipient::as_str),
            Some("ops@example.com")
        );
        assert_eq!(daily.next_run_at(), T0 + DAY + 6 * HOUR);
        assert_eq!(daily.last_run_at(), Some(T0 + 6 * HOUR + 10_000));
        assert!(daily.run(T0 + 7 * HOUR, "r".into()).is_none(), "ran once");

        // Nothing polled for three days: one report covers them all.
        let late = daily.run(T0 + 4 * DAY + 6 * HOUR, "r".into()).expect("due");
        assert_eq!(late.was_due_at, T0 + DAY + 6 * HOUR);
        assert_eq!(
            late.report.period,
            Period {
                from: T0 + 6 * HOUR,
                to: T0 + 4 * DAY + 6 * HOUR
            }
        );
        assert_eq!(daily.next_run_at(), T0 + 5 * DAY + 6 * HOUR);
    }

    #[test]
    fn every_minute_runs_at_the_next_minute() {
        let mut minutely = schedule("* * * * *", T0 + 10_000);
        assert_eq!(minutely.next_run_at(), T0 + MINUTE);
        let run = minutely.run(T0 + MINUTE, "r".into()).expect("due");
        assert_eq!(
            run.report.period,
            Period {
                from: T0,
                to: T0 + HOUR
            }
        );
        assert_eq!(minutely.next_run_at(), T0 + 2 * MINUTE);
    }

    #[test]
    fn own_business_templates_are_not_per_tenant() {
        let per_tenant: Vec<&str> = Template::ALL
            .into_iter()
            .filter(|t| is_per_tenant(*t))
            .map(Template::id)
            .collect();
        assert_eq!(
            per_tenant,
            [
                "sales_summary",
                "revenue_by_channel",
                "attribution_by_model",
                "reconciliation"
            ]
        );
    }
}
