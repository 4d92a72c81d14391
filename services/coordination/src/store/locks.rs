//! Named locks (`locks`): the last fencing token of each name and its holder.

use platform::db::{Dialect, Error, Executor, Row, Tx, query};

use crate::domain::{Holder, LockState};

fn state_from(row: &Row) -> Result<LockState, Error> {
    let owner: Option<String> = row.try_get("owner")?;
    let expires_at: Option<i64> = row.try_get("expires_at")?;
    let holder = match (owner, expires_at) {
        (Some(owner), Some(expires_at)) => Some(Holder { owner, expires_at }),
        (None, None) => None,
        _ => {
            return Err(Error::undecodable(
                "owner",
                "an owner without an expiry, or an expiry without an owner",
            ));
        }
    };
    Ok(LockState {
        fencing_token: row.try_get("fencing_token")?,
        holder,
    })
}

/// The lock named `name`, if it was ever taken.
pub async fn get<'e>(ex: impl Executor<'e>, name: &str) -> Result<Option<LockState>, Error> {
    query("SELECT fencing_token, owner, expires_at FROM locks WHERE name = $1")
        .bind(name)
        .fetch_optional(ex)
        .await?
        .as_ref()
        .map(state_from)
        .transpose()
}

/// The lock named `name`, with every other change of that name held off until `tx`
/// ends: on PostgreSQL an advisory lock on the name (it also covers a name with no row
/// yet, which `FOR UPDATE` could not) and the row's lock; on SQLite the single writer
/// already runs write transactions one at a time.
pub async fn lock(tx: &mut Tx, dialect: Dialect, name: &str) -> Result<Option<LockState>, Error> {
    tx.lock(&format!("coordination.lock:{name}")).await?;
    query(&format!(
        "SELECT fencing_token, owner, expires_at FROM locks WHERE name = $1{}",
        dialect.row_lock()
    ))
    .bind(name)
    .fetch_optional(&mut **tx)
    .await?
    .as_ref()
    .map(state_from)
    .transpose()
}

/// A lease on a name never taken before (token 1).
pub async fn insert(
    tx: &mut Tx,
    name: &str,
    owner: &str,
    expires_at: i64,
    now: i64,
) -> Result<(), Error> {
    query(
        "INSERT INTO locks (name, fencing_token, owner, expires_at, updated_at) \
         VALUES ($1, 1, $2, $3, $4)",
    )
    .bind(name)
    .bind(owner)
    .bind(expires_at)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A new lease on a known name with token `token`, only if the lock's last token is
/// still the one before it; whether it was taken.
pub async fn take(
    tx: &mut Tx,
    name: &str,
    owner: &str,
    token: i64,
    expires_at: i64,
    now: i64,
) -> Result<bool, Error> {
    let done = query(
        "UPDATE locks SET fencing_token = $3, owner = $2, expires_at = $4, updated_at = $5 \
         WHERE name = $1 AND fencing_token = $3 - 1",
    )
    .bind(name)
    .bind(owner)
    .bind(token)
    .bind(expires_at)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// A later end of the lease `owner` holds with `token`; whether it still held it.
pub async fn renew(
    tx: &mut Tx,
    name: &str,
    owner: &str,
    token: i64,
    expires_at: i64,
    now: i64,
) -> Result<bool, Error> {
    let done = query(
        "UPDATE locks SET expires_at = $4, updated_at = $5 \
         WHERE name = $1 AND owner = $2 AND fencing_token = $3",
    )
    .bind(name)
    .bind(owner)
    .bind(token)
    .bind(expires_at)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Frees the lock `owner` holds, keeping its token; whether it held it.
pub async fn release(tx: &mut Tx, name: &str, owner: &str, now: i64) -> Result<bool, Error> {
    let done = query(
        "UPDATE locks SET owner = NULL, expires_at = NULL, updated_at = $3 \
         WHERE name = $1 AND owner = $2",
    )
    .bind(name)
    .bind(owner)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}
