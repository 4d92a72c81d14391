//! The signing key ring: Ed25519 keys generated on first start, persisted, rotated.
//!
//! The newest unretired key signs. A retired key stays in the JWKS (and keeps verifying)
//! until every access token it signed has expired, so rotation never logs anyone out.
//! Replicas share the keys through the database; a replica that meets an unknown `kid`
//! reloads (at most once a second) to pick up another replica's rotation.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use data_encoding::BASE64URL_NOPAD;
use ed25519_dalek::{SigningKey, VerifyingKey};
use platform::auth::KeySource;
use platform::auth::jwt::{self, Jwk};
use platform::db::Db;
use platform::time::Clock;
use tokio::sync::RwLock;

use crate::store;

/// Fewest seconds between reloads triggered by unknown key ids.
const RELOAD_INTERVAL: Duration = Duration::from_secs(1);

struct Loaded {
    signing: (String, SigningKey),
    /// (kid, key, retired_at ms)
    published: Vec<(String, VerifyingKey, Option<i64>)>,
    loaded_at: Instant,
}

/// Identity's keys, shared by every clone.
#[derive(Clone)]
pub struct KeyRing {
    db: Db,
    clock: Clock,
    /// How long a retired key keeps verifying: the access-token lifetime.
    retired_grace_ms: i64,
    loaded: Arc<RwLock<Loaded>>,
}

/// Why keys could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Database failure.
    #[error(transparent)]
    Sql(#[from] platform::db::Error),
    /// A stored key is not a valid Ed25519 seed.
    #[error("stored signing key {0} is corrupt")]
    Corrupt(String),
}

impl KeyRing {
    /// Loads the keys, generating the first one if there is none.
    pub async fn load(db: Db, clock: Clock, access_token_ttl_secs: i64) -> Result<Self, KeyError> {
        if !store::signing_keys(db.reader())
            .await?
            .iter()
            .any(|k| k.retired_at.is_none())
        {
            let mut tx = db.begin().await?;
            // Checked again inside the write transaction: another replica may have won.
            if !store::signing_keys(&mut *tx)
                .await?
                .iter()
                .any(|k| k.retired_at.is_none())
            {
                insert_new_key(&mut tx, clock.now_millis()).await?;
            }
            tx.commit().await?;
        }
        let loaded = read_keys(&db).await?;
        Ok(Self {
            db,
            clock,
            retired_grace_ms: access_token_ttl_secs.saturating_mul(1000),
            loaded: Arc::new(RwLock::new(loaded)),
        })
    }

    /// Signs `claims` as a token of type `typ` with the current key.
    pub async fn sign<C: serde::Serialize>(&self, claims: &C, typ: &str) -> String {
        let loaded = self.loaded.read().await;
        let (kid, key) = &loaded.signing;
        jwt::sign(claims, typ, kid, key)
    }

    /// The kid of the current signing key.
    pub async fn current_kid(&self) -> String {
        self.loaded.read().await.signing.0.clone()
    }

    /// Retires the current key and starts signing with a new one; returns the new kid.
    pub async fn rotate(&self) -> Result<String, KeyError> {
        let now = self.clock.now_millis();
        let mut tx = self.db.begin().await?;
        store::retire_signing_keys(&mut tx, now).await?;
        let kid = insert_new_key(&mut tx, now).await?;
        tx.commit().await?;
        *self.loaded.write().await = read_keys(&self.db).await?;
        Ok(kid)
    }

    /// The public keys that verify tokens now: the current one and retired ones whose
    /// tokens may still be valid.
    pub async fn jwks(&self) -> Vec<Jwk> {
        let now = self.clock.now_millis();
        let loaded = self.loaded.read().await;
        loaded
            .published
            .iter()
            .filter(|(_, _, retired)| self.still_verifies(*retired, now))
            .map(|(kid, key, _)| Jwk::ed25519(kid, key))
            .collect()
    }

    fn still_verifies(&self, retired_at: Option<i64>, now: i64) -> bool {
        retired_at.is_none_or(|at| at + self.retired_grace_ms > now)
    }

    async fn find(&self, kid: &str) -> Option<VerifyingKey> {
        let now = self.clock.now_millis();
        let loaded = self.loaded.read().await;
        loaded
            .published
            .iter()
            .find(|(k, _, retired)| k == kid && self.still_verifies(*retired, now))
            .map(|(_, key, _)| *key)
    }
}

#[async_trait]
impl KeySource for KeyRing {
    async fn verifying_key(
        &self,
        kid: &str,
    ) -> Result<Option<VerifyingKey>, platform::auth::KeysUnavailable> {
        if let Some(key) = self.find(kid).await {
            return Ok(Some(key));
        }
        let stale = self.loaded.read().await.loaded_at.elapsed() >= RELOAD_INTERVAL;
        if stale {
            match read_keys(&self.db).await {
                Ok(fresh) => *self.loaded.write().await = fresh,
                Err(err) => {
                    tracing::warn!(error = %err, "cannot reload signing keys");
                    return Err(platform::auth::KeysUnavailable);
                }
            }
            return Ok(self.find(kid).await);
        }
        Ok(None)
    }
}

async fn insert_new_key(
    tx: &mut platform::db::Tx,
    now: i64,
) -> Result<String, platform::db::Error> {
    let seed: [u8; 32] = platform::ids::random_bytes();
    let key = SigningKey::from_bytes(&seed);
    let kid = platform::ids::new_id();
    store::insert_signing_key(
        tx,
        &kid,
        &BASE64URL_NOPAD.encode(&seed),
        &BASE64URL_NOPAD.encode(key.verifying_key().as_bytes()),
        now,
    )
    .await?;
    Ok(kid)
}

async fn read_keys(db: &Db) -> Result<Loaded, KeyError> {
    let records = store::signing_keys(db.reader()).await?;
    let mut published = Vec::with_capacity(records.len());
    let mut signing = None;
    for record in records {
        let seed: [u8; 32] = BASE64URL_NOPAD
            .decode(record.private_key.as_bytes())
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| KeyError::Corrupt(record.kid.clone()))?;
        let key = SigningKey::from_bytes(&seed);
        published.push((record.kid.clone(), key.verifying_key(), record.retired_at));
        if record.retired_at.is_none() {
            // Ordered oldest first, so the last unretired key is the newest.
            signing = Some((record.kid, key));
        }
    }
    let signing = signing.ok_or_else(|| KeyError::Corrupt("no active key".into()))?;
    Ok(Loaded {
        signing,
        published,
        loaded_at: Instant::now(),
    })
}
