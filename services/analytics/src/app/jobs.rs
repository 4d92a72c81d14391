//! The jobs only one analytics replica may run at a time, however many run the timers:
//! the daily reconciliation and the report-schedule poller. Each turn takes the job's
//! coordination lock (skipped while another replica holds it, or while coordination
//! cannot be asked: a job never runs unfenced), runs under the lease's fencing token,
//! and releases the lock. The work itself is `run_daily_reconciliations_under` and
//! `run_due_schedules_under`, whose writes the fence admits.

use std::time::Duration;

use platform::fence::{SingleHolder, Turn};
use platform::locks::Locks;

use super::{AnalyticsApp, AnalyticsError};

/// The daily reconciliation's lock.
pub const DAILY_RECONCILIATION: &str = "analytics.daily-reconciliation";
/// The report-schedule poller's lock.
pub const REPORT_SCHEDULES: &str = "analytics.report-schedules";

/// A daily pass reconciles every tenant's day: minutes at most, far under this. A
/// holder that dies keeps the next pass waiting this long at worst (the runs are made
/// later that day, never twice).
const DAILY_LEASE: Duration = Duration::from_secs(30 * 60);
/// A schedule pass stores at most a page of pending reports: seconds.
const SCHEDULES_LEASE: Duration = Duration::from_secs(5 * 60);

/// The leases the single-holder jobs run under.
#[derive(Clone)]
pub struct Jobs {
    daily_reconciliation: SingleHolder,
    report_schedules: SingleHolder,
}

impl Jobs {
    /// The jobs' leases, taken from `locks`.
    pub fn new(locks: Locks) -> Self {
        let holder = platform::service::ServiceKind::Analytics.as_str();
        Self {
            daily_reconciliation: SingleHolder::new(
                locks.clone(),
                DAILY_RECONCILIATION,
                holder,
                DAILY_LEASE,
            ),
            report_schedules: SingleHolder::new(locks, REPORT_SCHEDULES, holder, SCHEDULES_LEASE),
        }
    }
}

/// The count a turn made: none when it ran elsewhere or not at all.
fn made(turn: Turn<Result<usize, AnalyticsError>>) -> Result<usize, AnalyticsError> {
    turn.ran().unwrap_or(Ok(0))
}

impl AnalyticsApp {
    /// The app with its single-holder jobs run under `jobs`' leases.
    pub fn with_jobs(mut self, jobs: Jobs) -> Self {
        self.jobs = Some(jobs);
        self
    }

    /// The daily reconciliation's turn in this replica: when a day is due, takes the
    /// job's lease and makes each tenant's run of the previous day that no replica has
    /// made. Answers how many runs it made (0 when another replica holds the job).
    pub async fn run_daily_reconciliations(&self) -> Result<usize, AnalyticsError> {
        // Not due, or every tenant's day is done: no call to coordination every minute.
        let Some(period) = self.daily_period() else {
            return Ok(0);
        };
        if !crate::store::reconciliation::daily_run_missing(self.db.reader(), period).await? {
            return Ok(0);
        }
        let Some(jobs) = &self.jobs else {
            tracing::warn!(
                job = DAILY_RECONCILIATION,
                "no coordination locks; the job does not run"
            );
            return Ok(0);
        };
        made(
            jobs.daily_reconciliation
                .run(|fence| async move { self.run_daily_reconciliations_under(&fence).await })
                .await,
        )
    }

    /// The report-schedule poller's turn in this replica: under the job's lease, runs
    /// the schedules that are due. Answers how many reports it made (0 when another
    /// replica holds the job).
    pub async fn run_due_schedules(&self) -> Result<usize, AnalyticsError> {
        // Nothing due: no call to coordination every poll.
        let now = self.clock.now_millis();
        if crate::store::reports::due_schedules(self.db.reader(), now, 1)
            .await?
            .is_empty()
        {
            return Ok(0);
        }
        let Some(jobs) = &self.jobs else {
            tracing::warn!(
                job = REPORT_SCHEDULES,
                "no coordination locks; the job does not run"
            );
            return Ok(0);
        };
        made(
            jobs.report_schedules
                .run(|fence| async move { self.run_due_schedules_under(&fence).await })
                .await,
        )
    }
}
