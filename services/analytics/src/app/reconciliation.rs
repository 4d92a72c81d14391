//! Reconciliation runs: on demand (`POST /api/v1/reconciliation/runs`) and daily on
//! their own (each tenant's previous day, once, by the replica that holds the daily
//! job's lock; see `jobs`: each daily run's write is fenced by that lease's token).
//! A run reads the tenant's orders and payments of the period (and across its edges:
//! payments of its orders and orders of its payments, whenever they happened), matches
//! them by reference, and stores its counts and (the first 10,000 of) its
//! discrepancies, reading a page at a time.

use std::collections::BTreeSet;

use platform::fence::Fence;

use super::{AnalyticsApp, AnalyticsError};
use crate::domain::ledger::LedgerEntry;
use crate::domain::period::{DAY, Grain, Period};
use crate::domain::reconciliation::{OrderFacts, Outcome, PaymentFacts, Tally, reconcile};
use crate::store::journeys::Conversion;
use crate::store::reconciliation::{self as runs, Run, Trigger};
use crate::store::{journeys, ledger, tenants};

/// Orders (or payments) matched per page.
const PAGE: i64 = 1_000;
/// Discrepancies a run keeps (its counts are exact however many there are).
pub const KEPT_DISCREPANCIES: usize = 10_000;

/// What one reconciliation came to.
enum Made {
    /// The run, stored.
    Run(Run),
    /// The daily run of that tenant and day exists already.
    Exists,
    /// The daily run's fence refused it: a newer lease has written.
    Fenced,
}

/// A payment as reconciliation sees it.
fn payment_facts(payment: LedgerEntry) -> PaymentFacts {
    PaymentFacts {
        external_id: payment.external_id,
        order_ref: payment.order_ref,
        amount: payment.amount,
        currency: payment.currency,
    }
}

impl AnalyticsApp {
    /// Runs a reconciliation of `tenant` over `period` now, as an admin asked.
    pub async fn reconcile(&self, tenant: &str, period: Period) -> Result<Run, AnalyticsError> {
        self.require_tenant(tenant).await?;
        match self.reconcile_as(tenant, period, None).await? {
            Made::Run(run) => Ok(run),
            // Only a daily run can exist already or be fenced off.
            Made::Exists | Made::Fenced => Err(AnalyticsError::Internal(
                "a manual reconciliation run was not stored".into(),
            )),
        }
    }

    /// Runs a reconciliation of `tenant` over `period` now: an admin's (`daily` is
    /// `None`), or the daily one under `daily`'s fence.
    async fn reconcile_as(
        &self,
        tenant: &str,
        period: Period,
        daily: Option<&Fence>,
    ) -> Result<Made, AnalyticsError> {
        let trigger = if daily.is_some() {
            Trigger::Daily
        } else {
            Trigger::Manual
        };
        if daily.is_some() && runs::daily_run_exists(self.db.reader(), tenant, period).await? {
            return Ok(Made::Exists);
        }
        let id = platform::ids::new_id();
        let started_at = self.clock.now_millis();
        // Matching reads first; the run is then written whole in one transaction, so
        // no run is ever left `running` by a crash, and of two replicas making the
        // same daily run the second one's insert does nothing.
        let outcome = self.match_period(tenant, period).await;
        let mut tx = self.db.begin().await?;
        // The fence first: its row stays locked to the end of the transaction, so a
        // holder whose lease was taken over writes nothing after the new holder.
        if let Some(fence) = daily
            && !fence.admit(&mut tx).await?
        {
            return Ok(Made::Fenced);
        }
        if !runs::insert_run(&mut tx, &id, tenant, period, trigger, started_at).await? {
            return Ok(Made::Exists);
        }
        let now = self.clock.now_millis();
        match &outcome {
            Ok(outcome) => runs::complete_run(&mut tx, &id, outcome, now).await?,
            Err(err) => {
                tracing::error!(run_id = %id, error = %err, "reconciliation failed");
                runs::fail_run(&mut tx, &id, "the run could not read the ledger", now).await?;
            }
        }
        tx.commit().await?;
        runs::run(self.db.reader(), &id)
            .await?
            .map(Made::Run)
            .ok_or(AnalyticsError::NotFound("run"))
    }

    /// Matches the period page by page, so memory stays bounded by a page (and the
    /// discrepancies kept) however large the tenant: the period's orders with every
    /// payment that names them; orders placed before or after the period that its
    /// payments name; then its payments that name no known order.
    async fn match_period(&self, tenant: &str, period: Period) -> Result<Tally, AnalyticsError> {
        let mut reader = self.db.reader().acquire().await?;
        let mut tally = Tally::new(KEPT_DISCREPANCIES);
        let mut after: Option<(i64, String)> = None;
        loop {
            let orders = journeys::conversions_page(
                &mut reader,
                tenant,
                period,
                after.as_ref().map(|(at, id)| (*at, id.as_str())),
                PAGE,
            )
            .await?;
            after = orders.last().map(|o| (o.occurred_at, o.id.clone()));
            tally.absorb(self.match_orders(&mut reader, tenant, &orders).await?);
            if (orders.len() as i64) < PAGE {
                break;
            }
        }
        let mut seen = BTreeSet::new();
        let mut after: Option<(i64, String)> = None;
        loop {
            let page = journeys::conversions_paid_from_outside(
                &mut reader,
                tenant,
                period,
                after.as_ref().map(|(at, id)| (*at, id.as_str())),
                PAGE,
            )
            .await?;
            let full = page.len() as i64 == PAGE;
            after = page.last().map(|(position, _)| position.clone());
            // An order paid twice in the period comes twice: matched once.
            let orders: Vec<Conversion> = page
                .into_iter()
                .map(|(_, order)| order)
                .filter(|order| seen.insert(order.id.clone()))
                .collect();
            tally.absorb(self.match_orders(&mut reader, tenant, &orders).await?);
            if !full {
                break;
            }
        }
        let mut after: Option<(i64, String)> = None;
        loop {
            let payments = ledger::payments_without_order(
                &mut reader,
                tenant,
                period,
                after.as_ref().map(|(at, id)| (*at, id.as_str())),
                PAGE,
            )
            .await?;
            after = payments.last().map(|p| (p.occurred_at, p.id.clone()));
            let full = payments.len() as i64 == PAGE;
            tally.absorb(reconcile(
                &[],
                &payments.into_iter().map(payment_facts).collect::<Vec<_>>(),
            ));
            if !full {
                break;
            }
        }
        Ok(tally)
    }

    /// `orders` matched with every payment that names one of them.
    async fn match_orders(
        &self,
        reader: &mut platform::db::Conn,
        tenant: &str,
        orders: &[Conversion],
    ) -> Result<Outcome, AnalyticsError> {
        let references: Vec<&str> = orders.iter().map(|o| o.external_id.as_str()).collect();
        let payments = ledger::payments_referring(&mut *reader, tenant, &references).await?;
        let orders: Vec<OrderFacts> = orders
            .iter()
            .map(|order| OrderFacts {
                external_id: order.external_id.clone(),
                amount: order.amount,
                currency: order.currency.clone(),
            })
            .collect();
        let payments: Vec<PaymentFacts> = payments.into_iter().map(payment_facts).collect();
        Ok(reconcile(&orders, &payments))
    }

    /// The run `id`.
    pub async fn reconciliation_run(&self, id: &str) -> Result<Run, AnalyticsError> {
        runs::run(self.db.reader(), id)
            .await?
            .ok_or(AnalyticsError::NotFound("run"))
    }

    /// The latest run of each tenant (or of `tenant`).
    pub async fn reconciliation_status(
        &self,
        tenant: Option<&str>,
    ) -> Result<Vec<Run>, AnalyticsError> {
        Ok(runs::latest_runs(self.db.reader(), tenant).await?)
    }

    /// A page of runs, newest first, of `tenant` only unless it is empty, starting below
    /// id `before`.
    pub async fn reconciliation_runs(
        &self,
        tenant: &str,
        before: Option<&str>,
        limit: i64,
    ) -> Result<Vec<Run>, AnalyticsError> {
        Ok(runs::runs(self.db.reader(), tenant, before, limit).await?)
    }

    /// A page of a run's discrepancies.
    pub async fn discrepancies(
        &self,
        run_id: &str,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<(String, crate::domain::reconciliation::Discrepancy)>, AnalyticsError> {
        Ok(runs::discrepancies(self.db.reader(), run_id, after, limit).await?)
    }

    /// The day the daily run reconciles now: yesterday, once the configured hour of
    /// today has passed (`None` before it, or when daily runs are off).
    pub(crate) fn daily_period(&self) -> Option<Period> {
        if !self.config.daily_reconciliation {
            return None;
        }
        let now = self.clock.now_millis();
        let today = Grain::Day.bucket(now);
        if now - today < i64::from(self.config.reconciliation_hour) * 3_600_000 {
            return None;
        }
        Some(Period {
            from: today - DAY,
            to: today,
        })
    }

    /// The daily runs that are due, under `fence` (the daily job's lease; see
    /// `AnalyticsApp::run_daily_reconciliations`): once the configured hour has passed,
    /// each tenant's previous day, once. Answers how many runs it made; a run refused
    /// by the fence ends the pass (the lease is lost: the new holder carries on).
    pub async fn run_daily_reconciliations_under(
        &self,
        fence: &Fence,
    ) -> Result<usize, AnalyticsError> {
        let Some(yesterday) = self.daily_period() else {
            return Ok(0);
        };
        let mut made = 0;
        for tenant in tenants::tenants(self.db.reader()).await? {
            match self
                .reconcile_as(&tenant.id, yesterday, Some(fence))
                .await?
            {
                Made::Run(run) => {
                    tracing::info!(run_id = %run.id, tenant_id = %run.tenant_id, "daily reconciliation completed");
                    made += 1;
                }
                Made::Exists => {}
                // The lease is lost: the holder that took over makes the rest.
                Made::Fenced => break,
            }
        }
        Ok(made)
    }
}
