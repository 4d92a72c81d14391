//! Identity's SQL: users, login failures, refresh tokens, signing keys and API keys.
//!
//! Reads take any executor (the read pool or an open transaction); writes take the
//! transaction the operation runs in, so each operation commits once with its events.

use platform::db::{Executor, Row, Tx};

/// A user as stored.
#[derive(Debug, Clone)]
pub struct UserRecord {
    /// Id.
    pub id: String,
    /// Normalised email.
    pub email: String,
    /// Display name.
    pub name: String,
    /// argon2id PHC string.
    pub password_hash: String,
    /// Roles.
    pub roles: Vec<String>,
    /// Preferences object.
    pub preferences: serde_json::Value,
    /// Base32 TOTP secret (pending or enabled).
    pub mfa_secret: Option<String>,
    /// Whether MFA is required at login.
    pub mfa_enabled: bool,
    /// Last TOTP step used (a code is good once).
    pub mfa_last_step: Option<i64>,
    /// Lock end, epoch ms.
    pub locked_until: Option<i64>,
    /// Creation, epoch ms.
    pub created_at: i64,
    /// Last change, epoch ms.
    pub updated_at: i64,
}

const USER_COLUMNS: &str = "id, email, name, password_hash, roles, preferences, mfa_secret, mfa_enabled, \
     mfa_last_step, locked_until, created_at, updated_at";

fn user_from(row: &Row) -> Result<UserRecord, platform::db::Error> {
    let roles: String = row.try_get("roles")?;
    let preferences: String = row.try_get("preferences")?;
    Ok(UserRecord {
        id: row.try_get("id")?,
        email: row.try_get("email")?,
        name: row.try_get("name")?,
        password_hash: row.try_get("password_hash")?,
        roles: roles
            .split(',')
            .filter(|r| !r.is_empty())
            .map(str::to_owned)
            .collect(),
        preferences: serde_json::from_str(&preferences).unwrap_or_else(|_| serde_json::json!({})),
        mfa_secret: row.try_get("mfa_secret")?,
        mfa_enabled: row.try_get::<i64, _>("mfa_enabled")? != 0,
        mfa_last_step: row.try_get("mfa_last_step")?,
        locked_until: row.try_get("locked_until")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// Inserts a user; a taken email is a unique violation.
pub async fn insert_user(tx: &mut Tx, user: &UserRecord) -> Result<(), platform::db::Error> {
    platform::db::query(
        "INSERT INTO users (id, email, name, password_hash, roles, preferences, mfa_enabled, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, 0, $7, $8)",
    )
    .bind(&user.id)
    .bind(&user.email)
    .bind(&user.name)
    .bind(&user.password_hash)
    .bind(user.roles.join(","))
    .bind(user.preferences.to_string())
    .bind(user.created_at)
    .bind(user.updated_at)
    .execute(&mut **tx)
    .await
    .map(|_| ())
}

/// A live (not deleted) user by id.
pub async fn user_by_id<'e>(
    ex: impl Executor<'e>,
    id: &str,
) -> Result<Option<UserRecord>, platform::db::Error> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1 AND deleted_at IS NULL");
    platform::db::query(&sql)
        .bind(id)
        .fetch_optional(ex)
        .await?
        .as_ref()
        .map(user_from)
        .transpose()
}

/// A live user by normalised email.
pub async fn user_by_email<'e>(
    ex: impl Executor<'e>,
    email: &str,
) -> Result<Option<UserRecord>, platform::db::Error> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE email = $1 AND deleted_at IS NULL");
    platform::db::query(&sql)
        .bind(email)
        .fetch_optional(ex)
        .await?
        .as_ref()
        .map(user_from)
        .transpose()
}

/// Whether a live user has this id.
pub async fn user_exists<'e>(ex: impl Executor<'e>, id: &str) -> Result<bool, platform::db::Error> {
    let found: Option<i64> =
        platform::db::query_scalar("SELECT 1 FROM users WHERE id = $1 AND deleted_at IS NULL")
            .bind(id)
            .fetch_optional(ex)
            .await?;
    Ok(found.is_some())
}

/// Live users whose email or name contains `needle` (case-insensitive), by id after `after`.
pub async fn search_users<'e>(
    ex: impl Executor<'e>,
    needle: &str,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<UserRecord>, platform::db::Error> {
    let sql = format!(
        "SELECT {USER_COLUMNS} FROM users WHERE deleted_at IS NULL \
         AND (LOWER(email) LIKE $1 ESCAPE '\\' OR LOWER(name) LIKE $1 ESCAPE '\\') AND id > $2 \
         ORDER BY id LIMIT $3"
    );
    let pattern = format!("%{}%", platform::db::like_escape(&needle.to_lowercase()));
    let rows = platform::db::query(&sql)
        .bind(pattern)
        .bind(after.unwrap_or(""))
        .bind(limit)
        .fetch_all(ex)
        .await?;
    rows.iter().map(user_from).collect()
}

/// Changes name and preferences.
pub async fn update_profile(
    tx: &mut Tx,
    id: &str,
    name: &str,
    preferences: &serde_json::Value,
    now: i64,
) -> Result<(), platform::db::Error> {
    platform::db::query(
        "UPDATE users SET name = $1, preferences = $2, updated_at = $3 WHERE id = $4",
    )
    .bind(name)
    .bind(preferences.to_string())
    .bind(now)
    .bind(id)
    .execute(&mut **tx)
    .await
    .map(|_| ())
}

/// Replaces the password hash.
pub async fn set_password_hash(
    tx: &mut Tx,
    id: &str,
    hash: &str,
    now: i64,
) -> Result<(), platform::db::Error> {
    platform::db::query("UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3")
        .bind(hash)
        .bind(now)
        .bind(id)
        .execute(&mut **tx)
        .await
        .map(|_| ())
}

/// Stores a pending TOTP secret (MFA is not required until verified).
pub async fn set_mfa_secret(
    tx: &mut Tx,
    id: &str,
    secret: &str,
    now: i64,
) -> Result<(), platform::db::Error> {
    platform::db::query(
        "UPDATE users SET mfa_secret = $1, updated_at = $2 WHERE id = $3 AND mfa_enabled = 0",
    )
    .bind(secret)
    .bind(now)
    .bind(id)
    .execute(&mut **tx)
    .await
    .map(|_| ())
}

/// Marks MFA as required and records the step of the code that proved it.
pub async fn enable_mfa(
    tx: &mut Tx,
    id: &str,
    step: i64,
    now: i64,
) -> Result<(), platform::db::Error> {
    platform::db::query(
        "UPDATE users SET mfa_enabled = 1, mfa_last_step = $1, updated_at = $2 WHERE id = $3",
    )
    .bind(step)
    .bind(now)
    .bind(id)
    .execute(&mut **tx)
    .await
    .map(|_| ())
}

/// Records the TOTP step just used, if it is later than the last one; `false` when
/// another request used this step (or a later one) first.
pub async fn use_mfa_step(tx: &mut Tx, id: &str, step: i64) -> Result<bool, platform::db::Error> {
    let updated = platform::db::query(
        "UPDATE users SET mfa_last_step = $1 WHERE id = $2 AND (mfa_last_step IS NULL OR mfa_last_step < $1)",
    )
    .bind(step)
    .bind(id)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(updated == 1)
}

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

/// Locks the account until `until`.
pub async fn lock_user(tx: &mut Tx, user_id: &str, until: i64) -> Result<(), platform::db::Error> {
    platform::db::query("UPDATE users SET locked_until = $1 WHERE id = $2")
        .bind(until)
        .bind(user_id)
        .execute(&mut **tx)
        .await
        .map(|_| ())
}

/// Deletes a user: the row stays (its id is never reused) with personal data scrubbed,
/// which also frees the email for a new account.
pub async fn delete_user(tx: &mut Tx, id: &str, now: i64) -> Result<bool, platform::db::Error> {
    let updated = platform::db::query(
        "UPDATE users SET email = $1, name = '', password_hash = '', preferences = '{}', mfa_secret = NULL, \
         mfa_enabled = 0, deleted_at = $2, updated_at = $2 WHERE id = $3 AND deleted_at IS NULL",
    )
    .bind(format!("deleted+{id}@invalid"))
    .bind(now)
    .bind(id)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(updated == 1)
}

/// A stored refresh token.
#[derive(Debug, Clone)]
pub struct RefreshRecord {
    /// Id.
    pub id: String,
    /// Its sign-in family.
    pub family_id: String,
    /// Owner.
    pub user_id: String,
    /// Expiry, epoch ms.
    pub expires_at: i64,
    /// Set once it was exchanged.
    pub rotated_at: Option<i64>,
    /// Set once revoked.
    pub revoked_at: Option<i64>,
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
) -> Result<Option<RefreshRecord>, platform::db::Error> {
    let row = platform::db::query(
        "SELECT id, family_id, user_id, expires_at, rotated_at, revoked_at FROM refresh_tokens WHERE token_hash = $1",
    )
    .bind(token_hash)
    .fetch_optional(&mut **tx)
    .await?;
    row.map(|row| {
        Ok(RefreshRecord {
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

/// A stored signing key.
#[derive(Debug, Clone)]
pub struct SigningKeyRecord {
    /// Key id.
    pub kid: String,
    /// Ed25519 seed, base64url.
    pub private_key: String,
    /// Creation, epoch ms.
    pub created_at: i64,
    /// When it stopped signing, epoch ms.
    pub retired_at: Option<i64>,
}

/// Every signing key, oldest first.
pub async fn signing_keys<'e>(
    ex: impl Executor<'e>,
) -> Result<Vec<SigningKeyRecord>, platform::db::Error> {
    let rows = platform::db::query("SELECT kid, private_key, created_at, retired_at FROM signing_keys ORDER BY created_at, kid")
        .fetch_all(ex)
        .await?;
    rows.iter()
        .map(|row| {
            Ok(SigningKeyRecord {
                kid: row.try_get("kid")?,
                private_key: row.try_get("private_key")?,
                created_at: row.try_get("created_at")?,
                retired_at: row.try_get("retired_at")?,
            })
        })
        .collect()
}

/// Retires the signing keys still active.
pub async fn retire_signing_keys(tx: &mut Tx, now: i64) -> Result<(), platform::db::Error> {
    platform::db::query("UPDATE signing_keys SET retired_at = $1 WHERE retired_at IS NULL")
        .bind(now)
        .execute(&mut **tx)
        .await
        .map(|_| ())
}

/// Stores a signing key.
pub async fn insert_signing_key(
    tx: &mut Tx,
    kid: &str,
    private_key: &str,
    public_key: &str,
    now: i64,
) -> Result<(), platform::db::Error> {
    platform::db::query("INSERT INTO signing_keys (kid, private_key, public_key, created_at) VALUES ($1, $2, $3, $4)")
        .bind(kid)
        .bind(private_key)
        .bind(public_key)
        .bind(now)
        .execute(&mut **tx)
        .await
        .map(|_| ())
}

/// A stored API key (without its secret).
#[derive(Debug, Clone)]
pub struct ApiKeyRecord {
    /// Id (also the OAuth `client_id`).
    pub id: String,
    /// Label.
    pub name: String,
    /// Granted scopes.
    pub scopes: Vec<String>,
    /// Creation, epoch ms.
    pub created_at: i64,
}

fn api_key_from(row: &Row) -> Result<ApiKeyRecord, platform::db::Error> {
    let scopes: String = row.try_get("scopes")?;
    Ok(ApiKeyRecord {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        scopes: scopes
            .split(' ')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        created_at: row.try_get("created_at")?,
    })
}

/// Stores an API key by hash.
pub async fn insert_api_key(
    tx: &mut Tx,
    key: &ApiKeyRecord,
    key_hash: &str,
    created_by: &str,
) -> Result<(), platform::db::Error> {
    platform::db::query(
        "INSERT INTO api_keys (id, name, key_hash, scopes, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&key.id)
    .bind(&key.name)
    .bind(key_hash)
    .bind(key.scopes.join(" "))
    .bind(created_by)
    .bind(key.created_at)
    .execute(&mut **tx)
    .await
    .map(|_| ())
}

/// The unrevoked API key with this hash.
pub async fn api_key_by_hash<'e>(
    ex: impl Executor<'e>,
    key_hash: &str,
) -> Result<Option<ApiKeyRecord>, platform::db::Error> {
    platform::db::query("SELECT id, name, scopes, created_at FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL")
        .bind(key_hash)
        .fetch_optional(ex)
        .await?
        .as_ref()
        .map(api_key_from)
        .transpose()
}

/// Unrevoked API keys, by id after `after`.
pub async fn list_api_keys<'e>(
    ex: impl Executor<'e>,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<ApiKeyRecord>, platform::db::Error> {
    let rows = platform::db::query(
        "SELECT id, name, scopes, created_at FROM api_keys WHERE revoked_at IS NULL AND id > $1 ORDER BY id LIMIT $2",
    )
    .bind(after.unwrap_or(""))
    .bind(limit)
    .fetch_all(ex)
    .await?;
    rows.iter().map(api_key_from).collect()
}

/// Revokes an API key; `false` when there is no such unrevoked key.
pub async fn revoke_api_key(tx: &mut Tx, id: &str, now: i64) -> Result<bool, platform::db::Error> {
    let updated = platform::db::query(
        "UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
    )
    .bind(now)
    .bind(id)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(updated == 1)
}
