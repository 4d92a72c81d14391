//! Anomaly baselines, one row per watched series: the learned [`Baseline`] (JSON), the
//! last minute it has seen, and the side of the band the series is outside of since its
//! last alert. Rows move on only from the minute their writer read, so of two passes
//! (two replicas) over the same minutes exactly one stores its result — and stages its
//! alerts.

use platform::db::{Executor, Tx};

use crate::domain::anomaly::{Baseline, Direction};

/// A series' stored state.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredBaseline {
    /// What the series has learned.
    pub baseline: Baseline,
    /// The start of the last minute it has seen (ms).
    pub last_minute: i64,
    /// The side of the band the series has been outside of since its last alert; none
    /// while it is inside.
    pub excursion: Option<Direction>,
}

/// The stored state of `series`, if it has any.
pub async fn baseline<'e>(
    ex: impl Executor<'e>,
    series: &str,
) -> Result<Option<StoredBaseline>, platform::db::Error> {
    let Some(row) = platform::db::query(
        "SELECT state, last_minute, excursion FROM baselines WHERE series = $1",
    )
    .bind(series)
    .fetch_optional(ex)
    .await?
    else {
        return Ok(None);
    };
    let state: String = row.try_get("state")?;
    let excursion: Option<String> = row.try_get("excursion")?;
    Ok(Some(StoredBaseline {
        baseline: platform::db::decoded("state", serde_json::from_str(&state))?,
        last_minute: row.try_get("last_minute")?,
        excursion: excursion
            .map(|side| platform::db::named("excursion", &side, direction))
            .transpose()?,
    }))
}

/// The direction stored as `name`.
fn direction(name: &str) -> Option<Direction> {
    [Direction::Above, Direction::Below]
        .into_iter()
        .find(|direction| direction.as_str() == name)
}

/// The baseline as stored.
fn state_text(stored: &StoredBaseline) -> Result<String, platform::db::Error> {
    serde_json::to_string(&stored.baseline)
        .map_err(|err| platform::db::Error::Encode(Box::new(err)))
}

/// Stores the first state of `series`; false when another pass stored one first.
pub async fn insert(
    tx: &mut Tx,
    series: &str,
    stored: &StoredBaseline,
) -> Result<bool, platform::db::Error> {
    let done = platform::db::query(
        "INSERT INTO baselines (series, state, last_minute, excursion) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (series) DO NOTHING",
    )
    .bind(series)
    .bind(state_text(stored)?)
    .bind(stored.last_minute)
    .bind(stored.excursion.map(Direction::as_str))
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Moves `series` on to `stored` from the state whose last minute was `read_at`; false
/// when another pass moved it first (its row no longer ends at `read_at`).
pub async fn advance(
    tx: &mut Tx,
    series: &str,
    stored: &StoredBaseline,
    read_at: i64,
) -> Result<bool, platform::db::Error> {
    let done = platform::db::query(
        "UPDATE baselines SET state = $2, last_minute = $3, excursion = $4 \
         WHERE series = $1 AND last_minute = $5",
    )
    .bind(series)
    .bind(state_text(stored)?)
    .bind(stored.last_minute)
    .bind(stored.excursion.map(Direction::as_str))
    .bind(read_at)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}
