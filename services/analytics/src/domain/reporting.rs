//! Reports as requests with a life (pending, then completed or failed) and schedules
//! that request them by cron: their states, their transitions and the rules they follow.
//! How a report looks is [`super::report`]'s; when a cron expression matches is
//! [`super::schedule`]'s. No I/O.
//!
//! A report covers whole UTC hours: the read models it is drawn from are kept per hour
//! (and per minute), so a period is widened to the hours it touches rather than
//! answered with a first and last hour that silently count only in part.
//!
//! A scheduled run covers the time from the schedule's previous due time (its first
//! run, from when the schedule was made) to its own due time, not to the moment a poll
//! happens to see it: a daily `0 0 * * *` report covers exactly the day before, never a
//! moment of the day it runs on (whose figures are not in yet), and consecutive reports
//! of a schedule meet without gap or overlap however late a poll is. A `MON-FRI`
//! schedule's Monday report covers the weekend. Its ends are floored to the hour rather
//! than widened ([`scheduled_hours`]), so a period never reaches past its due time; a
//! schedule more frequent than hourly thus makes a report only at the runs that
//! complete an hour.

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

/// The whole UTC hours a scheduled report from one due time to the next covers: both
/// ends floored to the hour, so consecutive periods meet exactly and none reaches past
/// its due time (the first hour a due time starts late in is the earlier report's
/// end, and counts in the later one). At most [`MAX_SPAN`] long, keeping its end.
/// `None` when that holds no whole hour (two due times within one hour).
pub fn scheduled_hours(period: Period) -> Option<Period> {
    let from = period.from - period.from.rem_euclid(HOUR);
    let to = period.to - period.to.rem_euclid(HOUR);
    (from < to).then(|| Period {
        from: from.max(to - MAX_SPAN),
        to,
    })
}

/// The most missed matches one run folds in (a schedule far behind catches up over a
/// few polls rather than one long search).
const MAX_FOLDED: usize = 1_024;

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
    /// The report to render; `None` when the time since the previous due time holds no
    /// whole hour yet (a schedule more frequent than hourly, between hours). The run
    /// is recorded all the same, and that time counts in the next report.
    pub report: Option<Report>,
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

    /// The due time its last run stood for, ms: where its next report's period starts.
    pub fn last_run_at(&self) -> Option<i64> {
        self.last_run_at
    }

    /// Whether a run is due at `now`.
    pub fn is_due(&self, now: i64) -> bool {
        self.next_run_at <= now
    }

    /// Runs it at `now` if due. The run stands for the latest match of the expression
    /// at or before `now` (matches missed while nothing was polling fold into one run,
    /// not one report each); its report covers the whole hours from the previous run's
    /// due time (or the schedule's making) to that due time, and its next run is the
    /// expression's first match after it.
    pub fn run(&mut self, now: i64, report_id: String) -> Option<Run> {
        if !self.is_due(now) {
            return None;
        }
        let was_due_at = self.next_run_at;
        let mut due = was_due_at;
        let mut next = next_match(&self.cron, due);
        for _ in 0..MAX_FOLDED {
            if next > now {
                break;
            }
            due = next;
            next = next_match(&self.cron, due);
        }
        let since = self.last_run_at.unwrap_or(self.created_at).min(due);
        let report = scheduled_hours(Period {
            from: since,
            to: due,
        })
        .map(|period| Report {
            id: report_id,
            template: self.template,
            format: self.format,
            tenant: self.tenant.clone(),
            period,
            schedule_id: Some(self.id.clone()),
            recipient: Some(self.recipient.clone()),
            requested_at: now,
            state: ReportState::Pending,
        });
        // Past `now` unless more than `MAX_FOLDED` matches were missed: then the
        // schedule is still due, and the next poll folds in the rest.
        self.next_run_at = next;
        self.last_run_at = Some(due);
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
mod tests;
