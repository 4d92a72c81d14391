//! The authentication log's rows: appended in the transaction of what they record,
//! read newest first per user, deleted with the account and by the retention sweep
//! once older than the window.

use platform::db::{Executor, Row, Tx};

use crate::domain::{AuthEvent, AuthEventKind};

const COLUMNS: &str = "id, user_id, kind, ip, user_agent, at";

fn event_from(row: &Row) -> Result<AuthEvent, platform::db::Error> {
    let kind: String = row.try_get("kind")?;
    Ok(AuthEvent {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        kind: platform::db::decoded("kind", AuthEventKind::try_from(kind.as_str()))?,
        ip: row.try_get("ip")?,
        user_agent: row.try_get("user_agent")?,
        at: row.try_get("at")?,
    })
}

/// Appends `event` to its user's log.
pub async fn insert_auth_event(tx: &mut Tx, event: &AuthEvent) -> Result<(), platform::db::Error> {
    platform::db::query(
        "INSERT INTO auth_log (id, user_id, kind, ip, user_agent, at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&event.id)
    .bind(&event.user_id)
    .bind(event.kind.as_str())
    .bind(event.ip.as_deref())
    .bind(event.user_agent.as_deref())
    .bind(event.at)
    .execute(&mut **tx)
    .await
    .map(|_| ())
}

/// `user_id`'s log, newest first, from before the id `before` (the previous page's
/// last) on.
pub async fn auth_log<'e>(
    ex: impl Executor<'e>,
    user_id: &str,
    before: Option<&str>,
    limit: i64,
) -> Result<Vec<AuthEvent>, platform::db::Error> {
    let rows = match before {
        Some(before) => {
            platform::db::query(&format!(
                "SELECT {COLUMNS} FROM auth_log WHERE user_id = $1 AND id < $2 \
                 ORDER BY id DESC LIMIT $3"
            ))
            .bind(user_id)
            .bind(before)
            .bind(limit)
            .fetch_all(ex)
            .await?
        }
        None => {
            platform::db::query(&format!(
                "SELECT {COLUMNS} FROM auth_log WHERE user_id = $1 ORDER BY id DESC LIMIT $2"
            ))
            .bind(user_id)
            .bind(limit)
            .fetch_all(ex)
            .await?
        }
    };
    rows.iter().map(event_from).collect()
}

/// Deletes `user_id`'s whole log (with the account: it is personal data).
pub async fn delete_user_auth_log(tx: &mut Tx, user_id: &str) -> Result<u64, platform::db::Error> {
    Ok(
        platform::db::query("DELETE FROM auth_log WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut **tx)
            .await?
            .rows_affected(),
    )
}

/// Deletes up to `limit` rows from before `before` (epoch ms); answers how many.
pub async fn prune_auth_log(
    tx: &mut Tx,
    before: i64,
    limit: i64,
) -> Result<u64, platform::db::Error> {
    Ok(platform::db::query(
        "DELETE FROM auth_log WHERE id IN (SELECT id FROM auth_log WHERE at < $1 LIMIT $2)",
    )
    .bind(before)
    .bind(limit)
    .execute(&mut **tx)
    .await?
    .rows_affected())
}
