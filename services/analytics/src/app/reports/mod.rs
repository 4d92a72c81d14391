//! Reports: an admin asks for one (`POST /api/v1/reports/generate`) and gets its id at
//! once; a background worker renders it and stores the file; a schedule asks for one
//! on its cron expression and the finished report is announced as
//! `analytics.report.ready.v1` for notifications to mail (`schedules`). What each
//! template shows is `tables`.
//!
//! The worker of each process is woken at once by a request made in that process and
//! polls every few seconds besides, for reports other replicas stored or left behind.
//! It claims a pending report with a conditional update before rendering it, so two
//! replicas never both render one; a claim lapses after [`CLAIM_LEASE`], so a report
//! whose replica died is rendered by another. A report finishes (completed with its
//! file, or failed with the reason) in one transaction, which also stages the ready
//! event of a scheduled report: the event is sent if and only if the report is stored.

mod schedules;
mod tables;

use std::sync::Arc;
use std::time::Duration;

use contracts::analytics::ReportReady;
use platform::shutdown::Shutdown;
use platform::tasks::Tasks;
use tokio::sync::Notify;

use super::{AnalyticsApp, AnalyticsError};
use crate::domain::period::Period;
use crate::domain::report::{Format, Template, render};
use crate::domain::reporting::{OWN_TENANT, Recipient, Report, ReportState, is_per_tenant};
use crate::store::reports as store;

/// How long a worker's claim on a report holds; a claim older than this is taken over.
/// Far longer than any report takes to render.
pub const CLAIM_LEASE: i64 = 5 * 60_000;
/// How often the worker looks for pending reports without being woken.
const WORKER_POLL: Duration = Duration::from_secs(3);
/// Reports claimed per look.
const BATCH: i64 = 16;

/// Wakes this process's report worker; shared by every clone of the app.
#[derive(Clone, Debug, Default)]
pub struct ReportWake(Arc<Notify>);

impl ReportWake {
    /// Tells the worker a report is pending. A wake while the worker is busy is kept
    /// (one permit), so it looks again as soon as it is done.
    pub fn wake(&self) {
        self.0.notify_one();
    }
}

/// A report's file, or why there is none yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReportFile {
    /// The report is completed: its bytes.
    Ready(Vec<u8>),
    /// The report is pending or failed (its state says which).
    NotReady,
}

impl AnalyticsApp {
    /// Asks for a report of `template` in `format` about `tenant` over `period` (widened
    /// to whole hours); the worker renders it. Viscount's own business (inventory,
    /// payments) has no other tenant: naming one is refused, naming an unknown tenant
    /// is 404.
    pub async fn request_report(
        &self,
        template: Template,
        format: Format,
        tenant: &str,
        period: Period,
    ) -> Result<Report, AnalyticsError> {
        self.check_report_tenant(template, tenant).await?;
        let report = Report::requested(
            platform::ids::new_id(),
            template,
            format,
            tenant.to_owned(),
            period,
            self.clock.now_millis(),
        );
        let mut tx = self.db.begin().await?;
        store::insert_report(&mut tx, &report).await?;
        tx.commit().await?;
        self.reports.wake();
        tracing::info!(report_id = %report.id, template = report.template.id(), "report requested");
        Ok(report)
    }

    /// Refuses a tenant that `template` cannot be about, or that does not exist.
    async fn check_report_tenant(
        &self,
        template: Template,
        tenant: &str,
    ) -> Result<(), AnalyticsError> {
        if !is_per_tenant(template) && tenant != OWN_TENANT {
            return Err(AnalyticsError::invalid(
                "tenant",
                format!(
                    "the {} report is about Viscount's own business; leave `tenant` out or name `{OWN_TENANT}`",
                    template.id()
                ),
            ));
        }
        self.require_tenant(tenant).await
    }

    /// The report `id`.
    pub async fn report(&self, id: &str) -> Result<Report, AnalyticsError> {
        store::report(self.db.reader(), id)
            .await?
            .ok_or(AnalyticsError::NotFound("report"))
    }

    /// A page of reports (of one schedule, when named) in `order`, continuing past id
    /// `after`.
    pub async fn reports(
        &self,
        schedule: Option<&str>,
        after: Option<&str>,
        limit: i64,
        order: store::ListOrder,
    ) -> Result<Vec<Report>, AnalyticsError> {
        Ok(store::reports(self.db.reader(), schedule, after, limit, order).await?)
    }

    /// The report `id` and its file, once it is completed.
    pub async fn report_file(&self, id: &str) -> Result<(Report, ReportFile), AnalyticsError> {
        let report = self.report(id).await?;
        if !matches!(report.state(), ReportState::Completed { .. }) {
            return Ok((report, ReportFile::NotReady));
        }
        // A completed report's file is written in the transaction that completed it.
        let bytes = store::file(self.db.reader(), id)
            .await?
            .ok_or(AnalyticsError::NotFound("report file"))?;
        Ok((report, ReportFile::Ready(bytes)))
    }

    /// Starts this process's report worker and the schedule poller (every
    /// `report_poll_secs`) on `tasks`.
    pub fn start_report_tasks(&self, tasks: &Tasks) {
        let worker = self.clone();
        let shutdown = tasks.shutdown().clone();
        tasks.spawn(async move { worker.report_worker(shutdown).await });
        let app = self.clone();
        let every = Duration::from_secs(self.config.report_poll_secs.max(1));
        tasks.every("report schedules", every, move || {
            let app = app.clone();
            async move { app.run_due_schedules().await }
        });
    }

    /// Renders pending reports whenever woken, and every [`WORKER_POLL`], until
    /// shutdown.
    async fn report_worker(self, shutdown: Shutdown) {
        loop {
            if let Err(err) = self.render_pending_reports().await {
                tracing::warn!(error = %err, "rendering pending reports failed");
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = self.reports.0.notified() => {}
                () = tokio::time::sleep(WORKER_POLL) => {}
            }
        }
    }

    /// Claims and renders the pending reports no replica holds; answers how many this
    /// call finished.
    pub async fn render_pending_reports(&self) -> Result<usize, AnalyticsError> {
        let mut finished = 0;
        loop {
            let ids = store::claimable(
                self.db.reader(),
                self.clock.now_millis() - CLAIM_LEASE,
                BATCH,
            )
            .await?;
            let mut claimed_any = false;
            for id in &ids {
                let claim = self.clock.now_millis();
                if !store::claim(&self.db, id, claim, claim - CLAIM_LEASE).await? {
                    // Another replica's since the look.
                    continue;
                }
                claimed_any = true;
                if self.render_claimed(id, claim).await? {
                    finished += 1;
                }
            }
            // A short page was the last; a page claimed entirely by others would only
            // come back the same until their claims lapse.
            if !claimed_any || (ids.len() as i64) < BATCH {
                return Ok(finished);
            }
        }
    }

    /// Renders report `id` under `claim` and stores how it ended; false when another
    /// replica finished it meanwhile.
    async fn render_claimed(&self, id: &str, claim: i64) -> Result<bool, AnalyticsError> {
        let Some(mut report) = store::report(self.db.reader(), id).await? else {
            return Ok(false);
        };
        let rendered = self.render(&report).await;
        let now = self.clock.now_millis();
        let moved = match &rendered {
            Ok(_) => report.complete(now),
            Err(reason) => report.fail(now, reason.clone()),
        };
        if moved.is_err() {
            return Ok(false);
        }
        let mut tx = self.db.begin().await?;
        if !store::finish(&mut tx, &report, claim, rendered.as_deref().ok()).await? {
            return Ok(false);
        }
        let mut staged = false;
        if let (Ok(file), Some(recipient)) = (&rendered, &report.recipient) {
            let ready = self.ready_event(&report, recipient, file, now);
            self.outbox.stage(&mut tx, &ready).await?;
            staged = true;
        }
        tx.commit().await?;
        if staged {
            self.outbox.wake();
        }
        match report.state() {
            ReportState::Failed { error, .. } => {
                tracing::warn!(report_id = %report.id, reason = %error, "report failed");
            }
            _ => tracing::info!(report_id = %report.id, staged, "report completed"),
        }
        Ok(true)
    }

    /// The report's file, or why it cannot be made (a sentence for the admin who asked;
    /// the log has the cause).
    async fn render(&self, report: &Report) -> Result<Vec<u8>, String> {
        let table = match self.report_table(report).await {
            Ok(table) => table,
            Err(err) => {
                tracing::error!(report_id = %report.id, error = %err, "report figures could not be read");
                return Err("the report's figures could not be read".to_owned());
            }
        };
        let format = report.format;
        // A long PDF takes a while to lay out: off the async workers.
        match tokio::task::spawn_blocking(move || render(&table, format)).await {
            Ok(Ok(file)) => Ok(file),
            // The render error names a row, column or currency: no internals.
            Ok(Err(err)) => Err(format!("the report could not be rendered: {err}")),
            Err(err) => {
                tracing::error!(report_id = %report.id, error = %err, "report rendering stopped");
                Err("the report could not be rendered".to_owned())
            }
        }
    }

    /// The event announcing a completed scheduled report; the file rides along when it
    /// is at most `report_attachment_limit` bytes.
    fn ready_event(
        &self,
        report: &Report,
        recipient: &Recipient,
        file: &[u8],
        now: i64,
    ) -> ReportReady {
        ReportReady {
            report_id: report.id.clone(),
            schedule_id: report.schedule_id.clone(),
            template: report.template.id().to_owned(),
            title: report.template.name().to_owned(),
            format: report.format.as_str().to_owned(),
            recipient: recipient.as_str().to_owned(),
            file_name: report.file_name(),
            content_type: report.format.content_type().to_owned(),
            attachment_base64: (file.len() <= self.config.report_attachment_limit)
                .then(|| data_encoding::BASE64.encode(file)),
            download_path: report.download_path(),
            period_from: Some(platform::time::rfc3339(report.period.from)),
            period_to: Some(platform::time::rfc3339(report.period.to)),
            generated_at: platform::time::rfc3339(now),
        }
    }
}

#[cfg(test)]
mod tests;
