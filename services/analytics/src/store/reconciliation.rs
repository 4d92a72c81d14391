//! Reconciliation runs and the discrepancies they found.

use platform::db::{Executor, Row, Tx, named};

use crate::domain::period::Period;
use crate::domain::reconciliation::{Category, Discrepancy, Tally};

/// How a run was started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// Asked for through the API.
    Manual,
    /// The daily run of the previous day.
    Daily,
}

impl Trigger {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Manual => "manual",
            Trigger::Daily => "daily",
        }
    }

    fn parse(name: &str) -> Option<Self> {
        match name {
            "manual" => Some(Trigger::Manual),
            "daily" => Some(Trigger::Daily),
            _ => None,
        }
    }
}

/// Where a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunStatus {
    /// Matching.
    Running,
    /// Done; its counts and discrepancies are stored.
    Completed,
    /// It could not finish (its error says why).
    Failed,
}

impl RunStatus {
    /// The stored and shown name.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Completed => "completed",
            RunStatus::Failed => "failed",
        }
    }

    fn parse(name: &str) -> Option<Self> {
        [RunStatus::Running, RunStatus::Completed, RunStatus::Failed]
            .into_iter()
            .find(|s| s.as_str() == name)
    }
}

/// A reconciliation run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    /// Its id.
    pub id: String,
    /// The tenant reconciled.
    pub tenant_id: String,
    /// The period.
    pub period: Period,
    /// How it started.
    pub trigger: Trigger,
    /// Where it is.
    pub status: RunStatus,
    /// Orders whose payments sum to their amount.
    pub matched: i64,
    /// Orders paid with another amount.
    pub amount_mismatch: i64,
    /// Orders without payment.
    pub missing_payment: i64,
    /// Payments without order.
    pub missing_order: i64,
    /// Why it failed.
    pub error: Option<String>,
    /// When it started, ms.
    pub started_at: i64,
    /// When it finished, ms.
    pub finished_at: Option<i64>,
}

const RUN: &str = "SELECT id, tenant_id, period_from, period_to, trigger_kind, status, matched, \
     amount_mismatch, missing_payment, missing_order, error, started_at, finished_at \
     FROM reconciliation_runs";

/// Starts a run; false when a daily run of that tenant and day already exists.
pub async fn insert_run(
    tx: &mut Tx,
    id: &str,
    tenant: &str,
    period: Period,
    trigger: Trigger,
    now: i64,
) -> Result<bool, platform::db::Error> {
    let done = platform::db::query(
        "INSERT INTO reconciliation_runs (id, tenant_id, period_from, period_to, trigger_kind, \
         status, started_at) VALUES ($1, $2, $3, $4, $5, 'running', $6) ON CONFLICT DO NOTHING",
    )
    .bind(id)
    .bind(tenant)
    .bind(period.from)
    .bind(period.to)
    .bind(trigger.as_str())
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// Whether some tenant has no daily run for `period` yet.
pub async fn daily_run_missing<'e>(
    ex: impl Executor<'e>,
    period: Period,
) -> Result<bool, platform::db::Error> {
    Ok(platform::db::query_scalar::<i64>(
        "SELECT 1 FROM tenants t WHERE NOT EXISTS (SELECT 1 FROM reconciliation_runs r \
         WHERE r.tenant_id = t.id AND r.period_from = $1 AND r.trigger_kind = 'daily') LIMIT 1",
    )
    .bind(period.from)
    .fetch_optional(ex)
    .await?
    .is_some())
}

/// Whether the daily run of `tenant` for `period` exists already.
pub async fn daily_run_exists<'e>(
    ex: impl Executor<'e>,
    tenant: &str,
    period: Period,
) -> Result<bool, platform::db::Error> {
    Ok(platform::db::query_scalar::<i64>(
        "SELECT 1 FROM reconciliation_runs WHERE tenant_id = $1 AND period_from = $2 \
         AND trigger_kind = 'daily'",
    )
    .bind(tenant)
    .bind(period.from)
    .fetch_optional(ex)
    .await?
    .is_some())
}

/// Discrepancies written per statement (8 values each: well under both databases'
/// limits on bound values).
const DISCREPANCIES_PER_INSERT: usize = 200;

/// Completes a running run with what it found.
pub async fn complete_run(
    tx: &mut Tx,
    id: &str,
    outcome: &Tally,
    now: i64,
) -> Result<(), platform::db::Error> {
    for (chunk_index, chunk) in outcome.kept.chunks(DISCREPANCIES_PER_INSERT).enumerate() {
        let rows: Vec<String> = (0..chunk.len())
            .map(|i| {
                let placeholders: Vec<String> =
                    (1..=8).map(|k| format!("${}", i * 8 + k)).collect();
                format!("({})", placeholders.join(", "))
            })
            .collect();
        let sql = format!(
            "INSERT INTO reconciliation_discrepancies (run_id, id, category, reference, \
             order_amount, payment_amount, currency, payment_ids) VALUES {}",
            rows.join(", ")
        );
        let mut insert = platform::db::query(&sql);
        for (offset, found) in chunk.iter().enumerate() {
            let index = chunk_index * DISCREPANCIES_PER_INSERT + offset;
            insert = insert
                .bind(id)
                .bind(format!("{index:08}"))
                .bind(found.category.as_str())
                .bind(&found.reference)
                .bind(found.order_amount)
                .bind(found.payment_amount)
                .bind(&found.currency)
                .bind(found.payment_ids.join(","));
        }
        insert.execute(&mut **tx).await?;
    }
    let count = |category| i64::try_from(outcome.count(category)).unwrap_or(i64::MAX);
    platform::db::query(
        "UPDATE reconciliation_runs SET status = 'completed', matched = $2, amount_mismatch = $3, \
         missing_payment = $4, missing_order = $5, finished_at = $6 \
         WHERE id = $1 AND status = 'running'",
    )
    .bind(id)
    .bind(i64::try_from(outcome.matched).unwrap_or(i64::MAX))
    .bind(count(Category::AmountMismatch))
    .bind(count(Category::MissingPayment))
    .bind(count(Category::MissingOrder))
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Marks a running run failed.
pub async fn fail_run(
    tx: &mut Tx,
    id: &str,
    error: &str,
    now: i64,
) -> Result<(), platform::db::Error> {
    platform::db::query(
        "UPDATE reconciliation_runs SET status = 'failed', error = $2, finished_at = $3 \
         WHERE id = $1 AND status = 'running'",
    )
    .bind(id)
    .bind(error)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The run `id`.
pub async fn run<'e>(ex: impl Executor<'e>, id: &str) -> Result<Option<Run>, platform::db::Error> {
    platform::db::query(&format!("{RUN} WHERE id = $1"))
        .bind(id)
        .fetch_optional(ex)
        .await?
        .as_ref()
        .map(run_of)
        .transpose()
}

/// The latest run of each tenant (of `tenant` only, when named).
pub async fn latest_runs<'e>(
    ex: impl Executor<'e>,
    tenant: Option<&str>,
) -> Result<Vec<Run>, platform::db::Error> {
    platform::db::query(&format!(
        "{RUN} r WHERE ($1 = '' OR tenant_id = $1) AND NOT EXISTS (SELECT 1 FROM reconciliation_runs n \
         WHERE n.tenant_id = r.tenant_id AND (n.started_at > r.started_at \
         OR (n.started_at = r.started_at AND n.id > r.id))) ORDER BY tenant_id"
    ))
    .bind(tenant.unwrap_or(""))
    .fetch_all(ex)
    .await?
    .iter()
    .map(run_of)
    .collect()
}

/// A page of runs, newest first (by id, which grows with time), of `tenant` only unless
/// it is empty, starting below id `before`.
pub async fn runs<'e>(
    ex: impl Executor<'e>,
    tenant: &str,
    before: Option<&str>,
    limit: i64,
) -> Result<Vec<Run>, platform::db::Error> {
    platform::db::query(&format!(
        "{RUN} WHERE ($1 = '' OR tenant_id = $1) AND ($2 = '' OR id < $2) \
         ORDER BY id DESC LIMIT $3"
    ))
    .bind(tenant)
    .bind(before.unwrap_or(""))
    .bind(limit)
    .fetch_all(ex)
    .await?
    .iter()
    .map(run_of)
    .collect()
}

/// A page of a run's discrepancies after position `after`.
pub async fn discrepancies<'e>(
    ex: impl Executor<'e>,
    run_id: &str,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<(String, Discrepancy)>, platform::db::Error> {
    platform::db::query(
        "SELECT id, category, reference, order_amount, payment_amount, currency, payment_ids \
         FROM reconciliation_discrepancies WHERE run_id = $1 AND id > $2 ORDER BY id LIMIT $3",
    )
    .bind(run_id)
    .bind(after.unwrap_or(""))
    .bind(limit)
    .fetch_all(ex)
    .await?
    .iter()
    .map(|row| {
        let category: String = row.try_get("category")?;
        let payment_ids: String = row.try_get("payment_ids")?;
        Ok((
            row.try_get("id")?,
            Discrepancy {
                category: named("category", &category, Category::parse)?,
                reference: row.try_get("reference")?,
                order_amount: row.try_get("order_amount")?,
                payment_amount: row.try_get("payment_amount")?,
                currency: row.try_get("currency")?,
                payment_ids: payment_ids
                    .split(',')
                    .filter(|id| !id.is_empty())
                    .map(str::to_owned)
                    .collect(),
            },
        ))
    })
    .collect()
}

fn run_of(row: &Row) -> Result<Run, platform::db::Error> {
    let trigger: String = row.try_get("trigger_kind")?;
    let status: String = row.try_get("status")?;
    Ok(Run {
        id: row.try_get("id")?,
        tenant_id: row.try_get("tenant_id")?,
        period: Period {
            from: row.try_get("period_from")?,
            to: row.try_get("period_to")?,
        },
        trigger: named("trigger_kind", &trigger, Trigger::parse)?,
        status: named("status", &status, RunStatus::parse)?,
        matched: row.try_get("matched")?,
        amount_mismatch: row.try_get("amount_mismatch")?,
        missing_payment: row.try_get("missing_payment")?,
        missing_order: row.try_get("missing_order")?,
        error: row.try_get("error")?,
        started_at: row.try_get("started_at")?,
        finished_at: row.try_get("finished_at")?,
    })
}
