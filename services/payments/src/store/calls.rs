//! The `provider_calls` journal (rows ⇄ [`ProviderCall`]): a call that moves money
//! is inserted `pending` in the transaction that decides it, and settled `made` or
//! `refused` by one conditional update in the transaction that records its outcome,
//! so of two settlers (the caller and the reconciler) only one acts.

use platform::db::{Executor, Row, Tx};

use crate::domain::{FailureReason, Money};
use crate::provider::{Decline, Operation};

const CALL_COLUMNS: &str = "key, payment_id, operation, amount, currency, actor, refund_id, \
     context, state, reference, failure_reason, failure_detail, lookups, created_at, updated_at";

/// Where a recorded call is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallState {
    /// Recorded; its outcome is not (it may or may not have reached the provider).
    Pending,
    /// The provider made it; its reference.
    Made(String),
    /// The provider refused it.
    Refused(Decline),
}

impl CallState {
    fn as_str(&self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Made(_) => "made",
            Self::Refused(_) => "refused",
        }
    }
}

/// A call to the provider, as recorded before it is made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderCall {
    /// The idempotency key it is made with (unique: one call per key).
    pub key: String,
    /// The payment it acts on.
    pub payment_id: String,
    /// What it does.
    pub operation: Operation,
    /// How much.
    pub amount: Money,
    /// Who asked, for the ledger entry.
    pub actor: String,
    /// A refund's ledger entry id.
    pub refund_id: Option<String>,
    /// What the outcome needs besides the call, JSON (a capture: the confirmed order).
    pub context: Option<String>,
    /// Where it is.
    pub state: CallState,
    /// Times the reconciler asked the provider about it.
    pub lookups: i64,
    /// Recorded, epoch ms.
    pub created_at: i64,
    /// Last touched, epoch ms.
    pub updated_at: i64,
}

fn call_from(row: &Row) -> Result<ProviderCall, platform::db::Error> {
    let operation: String = row.try_get("operation")?;
    let state: String = row.try_get("state")?;
    let state = match state.as_str() {
        "pending" => CallState::Pending,
        "made" => CallState::Made(
            row.try_get::<Option<String>, _>("reference")?
                .unwrap_or_default(),
        ),
        "refused" => {
            let reason: Option<String> = row.try_get("failure_reason")?;
            let reason = match reason {
                Some(code) => platform::db::named("failure_reason", &code, FailureReason::parse)?,
                None => FailureReason::ProviderError,
            };
            CallState::Refused(Decline {
                reason,
                detail: row
                    .try_get::<Option<String>, _>("failure_detail")?
                    .unwrap_or_default(),
            })
        }
        other => {
            return Err(platform::db::Error::undecodable(
                "state",
                format!("unknown provider call state {other:?}"),
            ));
        }
    };
    Ok(ProviderCall {
        key: row.try_get("key")?,
        payment_id: row.try_get("payment_id")?,
        operation: platform::db::named("operation", &operation, Operation::parse)?,
        amount: Money {
            amount: row.try_get("amount")?,
            currency: row.try_get("currency")?,
        },
        actor: row.try_get("actor")?,
        refund_id: row.try_get("refund_id")?,
        context: row.try_get("context")?,
        state,
        lookups: row.try_get("lookups")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// Records `call` (pending); `false` when a call with its key is recorded already.
pub async fn insert_call(tx: &mut Tx, call: &ProviderCall) -> Result<bool, platform::db::Error> {
    let inserted = platform::db::query(&format!(
        "INSERT INTO provider_calls ({CALL_COLUMNS}) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, NULL, NULL, NULL, 0, $10, $11) \
         ON CONFLICT (key) DO NOTHING"
    ))
    .bind(&call.key)
    .bind(&call.payment_id)
    .bind(call.operation.as_str())
    .bind(call.amount.amount)
    .bind(&call.amount.currency)
    .bind(&call.actor)
    .bind(call.refund_id.as_deref())
    .bind(call.context.as_deref())
    .bind(CallState::Pending.as_str())
    .bind(call.created_at)
    .bind(call.updated_at)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(inserted == 1)
}

/// The call recorded under `key`.
pub async fn call<'e>(
    ex: impl Executor<'e>,
    key: &str,
) -> Result<Option<ProviderCall>, platform::db::Error> {
    platform::db::query(&format!(
        "SELECT {CALL_COLUMNS} FROM provider_calls WHERE key = $1"
    ))
    .bind(key)
    .fetch_optional(ex)
    .await?
    .as_ref()
    .map(call_from)
    .transpose()
}

/// The operation of a pending call on `payment_id` other than a refund (refunds run
/// side by side, each with its promised amount); `None` when there is none.
pub async fn pending_change<'e>(
    ex: impl Executor<'e>,
    payment_id: &str,
) -> Result<Option<Operation>, platform::db::Error> {
    let name: Option<String> = platform::db::query_scalar(
        "SELECT operation FROM provider_calls \
         WHERE payment_id = $1 AND state = 'pending' AND operation <> 'refund' LIMIT 1",
    )
    .bind(payment_id)
    .fetch_optional(ex)
    .await?;
    name.map(|name| platform::db::named("operation", &name, Operation::parse))
        .transpose()
}

/// Records the outcome of the pending call `key`; `false` when it is not pending (the
/// other settler got there first).
pub async fn settle_call(
    tx: &mut Tx,
    key: &str,
    state: &CallState,
    now: i64,
) -> Result<bool, platform::db::Error> {
    let (reference, failure) = match state {
        CallState::Pending => (None, None),
        CallState::Made(reference) => (Some(reference.as_str()), None),
        CallState::Refused(decline) => (None, Some(decline)),
    };
    let updated = platform::db::query(
        "UPDATE provider_calls SET state = $1, reference = $2, failure_reason = $3, \
         failure_detail = $4, updated_at = $5 WHERE key = $6 AND state = 'pending'",
    )
    .bind(state.as_str())
    .bind(reference)
    .bind(failure.map(|f| f.reason.as_str()))
    .bind(failure.map(|f| f.detail.as_str()))
    .bind(now)
    .bind(key)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(updated == 1)
}

/// Keys of calls pending since at or before `before`, oldest first, at most `limit`.
pub async fn pending_since<'e>(
    ex: impl Executor<'e>,
    before: i64,
    limit: i64,
) -> Result<Vec<String>, platform::db::Error> {
    platform::db::query_scalar(
        "SELECT key FROM provider_calls WHERE state = 'pending' AND updated_at <= $1 \
         ORDER BY updated_at, key LIMIT $2",
    )
    .bind(before)
    .bind(limit)
    .fetch_all(ex)
    .await
}

/// Claims the pending call `key` for a lookup, as last touched at `seen`: counts the
/// lookup and moves it to the back of the queue. `false` when another reconciler (or
/// the settler) touched it since: that one asks.
pub async fn claim_lookup(
    tx: &mut Tx,
    key: &str,
    seen: i64,
    now: i64,
) -> Result<bool, platform::db::Error> {
    let claimed = platform::db::query(
        "UPDATE provider_calls SET lookups = lookups + 1, updated_at = $1 \
         WHERE key = $2 AND state = 'pending' AND updated_at = $3",
    )
    .bind(now)
    .bind(key)
    .bind(seen)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(claimed == 1)
}

/// The calls recorded for `payment_id`, oldest first.
pub async fn calls_of<'e>(
    ex: impl Executor<'e>,
    payment_id: &str,
) -> Result<Vec<ProviderCall>, platform::db::Error> {
    let rows = platform::db::query(&format!(
        "SELECT {CALL_COLUMNS} FROM provider_calls WHERE payment_id = $1 ORDER BY created_at, key"
    ))
    .bind(payment_id)
    .fetch_all(ex)
    .await?;
    rows.iter().map(call_from).collect()
}

/// The pending call of `operation` on `payment_id`, if there is one.
pub async fn pending_call_of(
    tx: &mut Tx,
    payment_id: &str,
    operation: Operation,
) -> Result<Option<ProviderCall>, platform::db::Error> {
    platform::db::query(&format!(
        "SELECT {CALL_COLUMNS} FROM provider_calls \
         WHERE payment_id = $1 AND operation = $2 AND state = 'pending' ORDER BY created_at LIMIT 1"
    ))
    .bind(payment_id)
    .bind(operation.as_str())
    .fetch_optional(&mut **tx)
    .await?
    .as_ref()
    .map(call_from)
    .transpose()
}
