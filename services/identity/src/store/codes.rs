//! `authorization_codes`: the codes of the OpenID Connect code flow, by their hash
//! (rows ⇄ [`StoredCode`]); and `id_token_keys`: the RSA keys ID tokens are signed with.

use platform::db::{Executor, Row, Tx};

/// An authorization code as kept: what it was issued for, and to whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCode {
    /// SHA-256 of the code, hex.
    pub code_hash: String,
    /// The client it was issued to.
    pub client_id: String,
    /// The redirect URI it was sent to; the exchange must name the same.
    pub redirect_uri: String,
    /// The user who signed in.
    pub user_id: String,
    /// The session (refresh-token family) the sign-in started.
    pub family: String,
    /// The PKCE challenge (S256).
    pub code_challenge: String,
    /// The client's nonce, for the ID token.
    pub nonce: Option<String>,
    /// The scopes granted.
    pub scope: String,
    /// How the user signed in (`password`, `mfa`).
    pub method: String,
    /// When the user signed in, epoch seconds.
    pub auth_time: i64,
    /// Until when it can be exchanged, epoch ms.
    pub expires_at: i64,
    /// When it was exchanged (or burnt by a failed exchange), epoch ms.
    pub used_at: Option<i64>,
}

const CODE_COLUMNS: &str = "code_hash, client_id, redirect_uri, user_id, family, code_challenge, \
     nonce, scope, method, auth_time, expires_at, used_at";

fn code_from(row: &Row) -> Result<StoredCode, platform::db::Error> {
    Ok(StoredCode {
        code_hash: row.try_get("code_hash")?,
        client_id: row.try_get("client_id")?,
        redirect_uri: row.try_get("redirect_uri")?,
        user_id: row.try_get("user_id")?,
        family: row.try_get("family")?,
        code_challenge: row.try_get("code_challenge")?,
        nonce: row.try_get("nonce")?,
        scope: row.try_get("scope")?,
        method: row.try_get("method")?,
        auth_time: row.try_get("auth_time")?,
        expires_at: row.try_get("expires_at")?,
        used_at: row.try_get("used_at")?,
    })
}

/// Keeps a new code.
pub async fn insert_code(tx: &mut Tx, code: &StoredCode) -> Result<(), platform::db::Error> {
    platform::db::query(&format!(
        "INSERT INTO authorization_codes ({CODE_COLUMNS}) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
    ))
    .bind(&code.code_hash)
    .bind(&code.client_id)
    .bind(&code.redirect_uri)
    .bind(&code.user_id)
    .bind(&code.family)
    .bind(&code.code_challenge)
    .bind(code.nonce.as_deref())
    .bind(&code.scope)
    .bind(&code.method)
    .bind(code.auth_time)
    .bind(code.expires_at)
    .bind(code.used_at)
    .execute(&mut **tx)
    .await
    .map(|_| ())
}

/// Marks the code of `code_hash` used at `now` and answers it as it was before: the
/// one exchange that finds `used_at` empty is the only one that ever will, however
/// many are made at once.
pub async fn use_code(
    tx: &mut Tx,
    code_hash: &str,
    now: i64,
) -> Result<Option<StoredCode>, platform::db::Error> {
    let before = platform::db::query(&format!(
        "SELECT {CODE_COLUMNS} FROM authorization_codes WHERE code_hash = $1"
    ))
    .bind(code_hash)
    .fetch_optional(&mut **tx)
    .await?
    .as_ref()
    .map(code_from)
    .transpose()?;
    let Some(mut code) = before else {
        return Ok(None);
    };
    let claimed = platform::db::query(
        "UPDATE authorization_codes SET used_at = $1 WHERE code_hash = $2 AND used_at IS NULL",
    )
    .bind(now)
    .bind(code_hash)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if claimed == 0 && code.used_at.is_none() {
        // Another exchange claimed it between the read and the update.
        code.used_at = Some(now);
    }
    Ok(Some(code))
}

/// Deletes up to `limit` codes that expired before `before`; how many went.
pub async fn prune_codes(tx: &mut Tx, before: i64, limit: i64) -> Result<u64, platform::db::Error> {
    platform::db::query(
        "DELETE FROM authorization_codes WHERE code_hash IN \
         (SELECT code_hash FROM authorization_codes WHERE expires_at < $1 LIMIT $2)",
    )
    .bind(before)
    .bind(limit)
    .execute(&mut **tx)
    .await
    .map(|done| done.rows_affected())
}

/// A stored ID-token key: its id and PKCS#8 private key (base64url).
#[derive(Debug, Clone)]
pub struct IdTokenKeyRecord {
    /// Key id.
    pub kid: String,
    /// PKCS#8, base64url.
    pub private_key: String,
}

/// Every ID-token key, oldest first (the oldest signs: replicas that made one at once
/// agree on it).
pub async fn id_token_keys<'e>(
    ex: impl Executor<'e>,
) -> Result<Vec<IdTokenKeyRecord>, platform::db::Error> {
    let rows =
        platform::db::query("SELECT kid, private_key FROM id_token_keys ORDER BY created_at, kid")
            .fetch_all(ex)
            .await?;
    rows.iter()
        .map(|row| {
            Ok(IdTokenKeyRecord {
                kid: row.try_get("kid")?,
                private_key: row.try_get("private_key")?,
            })
        })
        .collect()
}

/// Keeps a new ID-token key.
pub async fn insert_id_token_key(
    tx: &mut Tx,
    kid: &str,
    private_key: &str,
    now: i64,
) -> Result<(), platform::db::Error> {
    platform::db::query(
        "INSERT INTO id_token_keys (kid, private_key, created_at) VALUES ($1, $2, $3)",
    )
    .bind(kid)
    .bind(private_key)
    .bind(now)
    .execute(&mut **tx)
    .await
    .map(|_| ())
}
