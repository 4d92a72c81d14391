//! Report schedules: made and removed by admins, run by the poller. The poller runs in
//! one replica at a time, under the report-schedules job's lease (see `jobs`), and each
//! run's transaction is fenced by that lease's token. A run records the schedule's next
//! run and stores the pending report in one transaction, conditional on the next run it
//! was computed from as well, so each due run makes exactly one report; the worker then
//! renders it and stages its ready event. A run stores the due time it stood for (not
//! the poll's time) as the schedule's last run, where the next report's period starts.

use platform::fence::Fence;

use super::{AnalyticsApp, AnalyticsError};
use crate::domain::report::{Format, Template};
use crate::domain::reporting::{Recipient, Schedule};
use crate::domain::schedule::CronSchedule;
use crate::store::reports as store;

/// Due schedules run per poll; the rest wait for the next poll.
const DUE_PAGE: i64 = 100;

impl AnalyticsApp {
    /// Makes a schedule: a report of `template` in `format` about `tenant`, on `cron`,
    /// mailed to `recipient`.
    pub async fn create_schedule(
        &self,
        template: Template,
        format: Format,
        cron: CronSchedule,
        recipient: Recipient,
        tenant: &str,
    ) -> Result<Schedule, AnalyticsError> {
        self.check_report_tenant(template, tenant).await?;
        let schedule = Schedule::new(
            platform::ids::new_id(),
            template,
            format,
            cron,
            recipient,
            tenant.to_owned(),
            self.clock.now_millis(),
        );
        let mut tx = self.db.begin().await?;
        store::insert_schedule(&mut tx, &schedule).await?;
        tx.commit().await?;
        tracing::info!(schedule_id = %schedule.id, cron = schedule.cron.expression(), "report schedule made");
        Ok(schedule)
    }

    /// The schedule `id`.
    pub async fn schedule(&self, id: &str) -> Result<Schedule, AnalyticsError> {
        store::schedule(self.db.reader(), id)
            .await?
            .ok_or(AnalyticsError::NotFound("schedule"))
    }

    /// A page of schedules after id `after`, oldest first.
    pub async fn schedules(
        &self,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<Schedule>, AnalyticsError> {
        Ok(store::schedules(self.db.reader(), after, limit).await?)
    }

    /// Removes schedule `id` (the reports it made stay, and one being rendered is
    /// still delivered).
    pub async fn delete_schedule(&self, id: &str) -> Result<(), AnalyticsError> {
        if store::delete_schedule(&self.db, id).await? {
            tracing::info!(schedule_id = %id, "report schedule removed");
            Ok(())
        } else {
            Err(AnalyticsError::NotFound("schedule"))
        }
    }

    /// Runs the schedules that are due, under `fence` (the report-schedules job's
    /// lease; see `AnalyticsApp::run_due_schedules`): each makes one pending report and
    /// moves to its next run. Answers how many reports this call made; a run the fence
    /// refuses ends the pass (the lease is lost: the new holder carries on).
    pub async fn run_due_schedules_under(&self, fence: &Fence) -> Result<usize, AnalyticsError> {
        let now = self.clock.now_millis();
        let mut made = 0;
        for mut schedule in store::due_schedules(self.db.reader(), now, DUE_PAGE).await? {
            let Some(run) = schedule.run(now, platform::ids::new_id()) else {
                continue;
            };
            let mut tx = self.db.begin().await?;
            if !fence.admit(&mut tx).await? {
                break;
            }
            if !store::record_run(&mut tx, &schedule, run.was_due_at).await? {
                // Another replica ran it since the look (dropping the transaction
                // writes nothing).
                continue;
            }
            // A run with no whole hour to report is still recorded: its next run
            // moves on, and the time since the last due time waits for a later report.
            if let Some(report) = &run.report {
                store::insert_report(&mut tx, report).await?;
            }
            tx.commit().await?;
            match &run.report {
                Some(report) => {
                    tracing::info!(schedule_id = %schedule.id, report_id = %report.id, "scheduled report requested");
                    made += 1;
                }
                None => {
                    tracing::debug!(schedule_id = %schedule.id, "scheduled run with no whole hour to report");
                }
            }
        }
        if made > 0 {
            self.reports.wake();
        }
        Ok(made)
    }
}
