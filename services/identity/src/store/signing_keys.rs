//! The Ed25519 signing keys the key ring persists (see `crate::keys`): the newest
//! unretired key signs; retired keys stay published until their tokens expired.

use platform::db::{Executor, Tx};

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
