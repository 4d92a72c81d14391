//! Reconciliation runs: on demand (`POST /api/v1/reconciliation/runs`) and daily on
//! their own (each tenant's previous day, once, whichever replica gets there first).
//! A run reads the tenant's orders and payments of the period (and across its edges:
//! payments of its orders and orders of its payments, whenever they happened), matches
//! them by reference, and stores its counts and discrepancies.

use std::collections::BTreeSet;

use super::{AnalyticsApp, AnalyticsError};
use crate::domain::ledger::LedgerKind;
use crate::domain::period::{DAY, Grain, Period};
use crate::domain::reconciliation::{OrderFacts, PaymentFacts, reconcile};
use crate::store::reconciliation::{self as runs, Run, Trigger};
use crate::store::{journeys, ledger, tenants};

impl AnalyticsApp {
    /// Runs a reconciliation of `tenant` over `period` now; `None` when it is a daily
    /// run another replica already made.
    pub async fn reconcile(
        &self,
        tenant: &str,
        period: Period,
        trigger: Trigger,
    ) -> Result<Option<Run>, AnalyticsError> {
        if trigger == Trigger::Manual {
            self.require_tenant(tenant).await?;
        }
        if trigger == Trigger::Daily
            && runs::daily_run_exists(self.db.reader(), tenant, period).await?
        {
            return Ok(None);
        }
        let id = platform::ids::new_id();
        let started_at = self.clock.now_millis();
        // Matching reads first; the run is then written whole in one transaction, so
        // no run is ever left `running` by a crash, and of two replicas making the
        // same daily run the second one's insert does nothing.
        let outcome = self.match_period(tenant, period).await;
        let mut tx = self.db.begin().await?;
        if !runs::insert_run(&mut tx, &id, tenant, period, trigger, started_at).await? {
            return Ok(None);
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
            .map(Some)
            .ok_or(AnalyticsError::NotFound("run"))
    }

    async fn match_period(
        &self,
        tenant: &str,
        period: Period,
    ) -> Result<crate::domain::reconciliation::Outcome, AnalyticsError> {
        let mut reader = self.db.reader().acquire().await?;
        let mut orders = journeys::conversions_in(&mut reader, tenant, period).await?;
        orders.extend(journeys::conversions_paid_in(&mut reader, tenant, period).await?);
        let mut payments =
            ledger::rows_for_reconciliation(&mut reader, tenant, LedgerKind::Payment, period)
                .await?;
        payments.extend(ledger::payments_for_orders_in(&mut reader, tenant, period).await?);
        let mut seen = BTreeSet::new();
        let orders: Vec<OrderFacts> = orders
            .into_iter()
            .filter(|order| seen.insert(order.external_id.clone()))
            .map(|order| OrderFacts {
                external_id: order.external_id,
                amount: order.amount,
                currency: order.currency,
            })
            .collect();
        let mut seen = BTreeSet::new();
        let payments: Vec<PaymentFacts> = payments
            .into_iter()
            .filter(|payment| seen.insert(payment.id.clone()))
            .map(|payment| PaymentFacts {
                external_id: payment.external_id,
                order_ref: payment.order_ref,
                amount: payment.amount,
                currency: payment.currency,
            })
            .collect();
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

    /// A page of a run's discrepancies.
    pub async fn discrepancies(
        &self,
        run_id: &str,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<(String, crate::domain::reconciliation::Discrepancy)>, AnalyticsError> {
        Ok(runs::discrepancies(self.db.reader(), run_id, after, limit).await?)
    }

    /// The daily runs that are due: once the configured hour has passed, each
    /// tenant's previous day, once. Answers how many runs it made.
    pub async fn run_daily_reconciliations(&self) -> Result<usize, AnalyticsError> {
        if !self.config.daily_reconciliation {
            return Ok(0);
        }
        let now = self.clock.now_millis();
        let today = Grain::Day.bucket(now);
        if now - today < i64::from(self.config.reconciliation_hour) * 3_600_000 {
            return Ok(0);
        }
        let yesterday = Period {
            from: today - DAY,
            to: today,
        };
        let mut made = 0;
        for tenant in tenants::tenants(self.db.reader()).await? {
            if let Some(run) = self
                .reconcile(&tenant.id, yesterday, Trigger::Daily)
                .await?
            {
                tracing::info!(run_id = %run.id, tenant_id = %run.tenant_id, "daily reconciliation completed");
                made += 1;
            }
        }
        Ok(made)
    }
}
