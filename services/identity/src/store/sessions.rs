//! Sessions: the failed sign-ins counted for the lockout, and refresh tokens (stored
//! as SHA-256; one family per sign-in, rotation adds a token to the family and marks
//! the old one rotated).

use platform::db::Tx;

use crate::domain::RefreshToken;

/// Records a failed password check and returns the failures within the window.
pub async fn record_login_failure(
    tx: &mut Tx,
    user_id: &str,
    now: i64,
    window_ms: i64,
) -> Result<i64, platform::db::Error> {
    platform::db::query("INSERT INTO login_failures (user_id, at) VALUES ($1, $2)")
        .bind(user_id)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    platform::db::query_scalar("SELECT COUNT(*) FROM login_failures WHERE user_id = $1 AND at > $2")
        .bind(user_id)
        .bind(now - window_ms)
        .fetch_one(&mut **tx)
        .await
}

/// Forgets a user's failures (after a success or a lock).
pub async fn clear_login_failures(tx: &mut Tx, user_id: &str) -> Result<(), platform::db::Error> {
    platform::db::query("DELETE FROM login_failures WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut **tx)
        .await
        .map(|_| ())
}

/// Stores a new refresh token (by hash).
pub async fn insert_refresh_token(
    tx: &mut Tx,
    id: &str,
    family_id: &str,
    user_id: &str,
    token_hash: &str,
    now: i64,
    expires_at: i64,
) -> Result<(), platform::db::Error> {
    platform::db::query(
        "INSERT INTO refresh_tokens (id, family_id, user_id, token_hash, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(id)
    .bind(family_id)
    .bind(user_id)
    .bind(token_hash)
    .bind(now)
    .bind(expires_at)
    .execute(&mut **tx)
    .await
    .map(|_| ())
}

/// The refresh token with this hash.
pub async fn refresh_token_by_hash(
    tx: &mut Tx,
    token_hash: &str,
) -> Result<Option<RefreshToken>, platform::db::Error> {
    let row = platform::db::query(
        "SELECT id, family_id, user_id, expires_at, rotated_at, revoked_at FROM refresh_tokens WHERE token_hash = $1",
    )
    .bind(token_hash)
    .fetch_optional(&mut **tx)
    .await?;
    row.map(|row| {
        Ok(RefreshToken {
            id: row.try_get("id")?,
            family_id: row.try_get("family_id")?,
            user_id: row.try_get("user_id")?,
            expires_at: row.try_get("expires_at")?,
            rotated_at: row.try_get("rotated_at")?,
            revoked_at: row.try_get("revoked_at")?,
        })
    })
    .transpose()
}

/// Marks a token rotated; `false` if a concurrent request rotated it first.
pub async fn mark_rotated(tx: &mut Tx, id: &str, now: i64) -> Result<bool, platform::db::Error> {
    let updated = platform::db::query(
        "UPDATE refresh_tokens SET rotated_at = $1 WHERE id = $2 AND rotated_at IS NULL",
    )
    .bind(now)
    .bind(id)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(updated == 1)
}

/// Revokes every token of a family.
pub async fn revoke_family(
    tx: &mut Tx,
    family_id: &str,
    now: i64,
) -> Result<(), platform::db::Error> {
    platform::db::query(
        "UPDATE refresh_tokens SET revoked_at = $1 WHERE family_id = $2 AND revoked_at IS NULL",
    )
    .bind(now)
    .bind(family_id)
    .execute(&mut **tx)
    .await
    .map(|_| ())
}

/// Revokes every session of a user except `keep_family`.
pub async fn revoke_user_sessions(
    tx: &mut Tx,
    user_id: &str,
    keep_family: Option<&str>,
    now: i64,
) -> Result<(), platform::db::Error> {
    platform::db::query(
        "UPDATE refresh_tokens SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL AND family_id <> $3",
    )
    .bind(now)
    .bind(user_id)
    .bind(keep_family.unwrap_or(""))
    .execute(&mut **tx)
    .await
    .map(|_| ())
}
