//! ID tokens (OpenID Connect Core 2) and the RSA key they are signed with: RS256,
//! the algorithm every OpenID provider must offer, so any client library verifies them.
//!
//! The key is made the first time an ID token is signed (RSA generation takes a moment,
//! and most deployments' first sign-in through the code flow is far from their first
//! start), kept in the database (PKCS#8) and shared by every replica: if two make one
//! at once, the oldest signs and both are published. Signing is ring's (constant
//! time); the `rsa` crate only generates the key.

use std::collections::HashMap;
use std::sync::Arc;

use data_encoding::BASE64URL_NOPAD;
use platform::db::Db;
use platform::time::Clock;
use ring::rand::SystemRandom;
use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use serde::Serialize;
use tokio::sync::Mutex;

use crate::store;

/// The modulus size of a new key.
const RSA_BITS: usize = 2048;

/// The claims of an ID token.
#[derive(Debug, Clone, Serialize)]
pub struct IdTokenClaims {
    /// The issuer.
    pub iss: String,
    /// The user.
    pub sub: String,
    /// The client.
    pub aud: String,
    /// The client it was issued to (one audience, but said, as Core 2 allows).
    pub azp: String,
    /// Expiry, epoch seconds.
    pub exp: i64,
    /// Issued at, epoch seconds.
    pub iat: i64,
    /// When the user signed in, epoch seconds.
    pub auth_time: i64,
    /// The client's nonce, as given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// How: `["pwd"]`, or `["pwd", "otp"]` with a one-time code (RFC 8176).
    pub amr: Vec<&'static str>,
    /// The session (refresh-token family) it belongs to.
    pub sid: String,
    /// With scope `email`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// With scope `profile`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// A published RSA verification key (RFC 7517 6.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RsaJwk {
    /// Its id.
    pub kid: String,
    /// Modulus, base64url.
    pub n: String,
    /// Public exponent, base64url.
    pub e: String,
}

struct SigningKey {
    kid: String,
    pair: RsaKeyPair,
}

/// Why an ID token could not be signed.
#[derive(Debug, thiserror::Error)]
pub enum IdTokenError {
    /// Database failure.
    #[error(transparent)]
    Sql(#[from] platform::db::Error),
    /// A stored key does not load, or a new one could not be made.
    #[error("ID-token key: {0}")]
    Key(String),
}

/// The ID-token signer, shared by every clone.
#[derive(Clone)]
pub struct IdTokenSigner {
    db: Db,
    clock: Clock,
    current: Arc<Mutex<Option<Arc<SigningKey>>>>,
    /// The public half of every key read so far, by id: the JWKS, asked by anyone,
    /// never parses a private key twice.
    published: Arc<std::sync::Mutex<HashMap<String, RsaJwk>>>,
}

impl IdTokenSigner {
    /// A signer over `db`'s keys (none made yet).
    pub fn new(db: Db, clock: Clock) -> Self {
        Self {
            db,
            clock,
            current: Arc::new(Mutex::new(None)),
            published: Arc::default(),
        }
    }

    /// `claims` signed RS256.
    pub async fn sign(&self, claims: &IdTokenClaims) -> Result<String, IdTokenError> {
        let key = self.key().await?;
        let header = serde_json::json!({"alg": "RS256", "typ": "JWT", "kid": key.kid});
        let payload = serde_json::to_vec(claims).map_err(|e| IdTokenError::Key(e.to_string()))?;
        let input = format!(
            "{}.{}",
            BASE64URL_NOPAD.encode(header.to_string().as_bytes()),
            BASE64URL_NOPAD.encode(&payload)
        );
        let mut signature = vec![0; key.pair.public().modulus_len()];
        key.pair
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                input.as_bytes(),
                &mut signature,
            )
            .map_err(|_| IdTokenError::Key("signing failed".to_owned()))?;
        Ok(format!("{input}.{}", BASE64URL_NOPAD.encode(&signature)))
    }

    /// Every key made so far, to publish (none until the first ID token).
    pub async fn jwks(&self) -> Result<Vec<RsaJwk>, IdTokenError> {
        let stored = store::id_token_keys(self.db.reader()).await?;
        let mut keys = Vec::with_capacity(stored.len());
        for record in stored {
            let known = self.published_key(&record.kid);
            let jwk = match known {
                Some(jwk) => jwk,
                None => {
                    let jwk = jwk_of(&record.kid, &load(&record.private_key)?);
                    if let Ok(mut published) = self.published.lock() {
                        published.insert(record.kid.clone(), jwk.clone());
                    }
                    jwk
                }
            };
            keys.push(jwk);
        }
        Ok(keys)
    }

    fn published_key(&self, kid: &str) -> Option<RsaJwk> {
        self.published.lock().ok()?.get(kid).cloned()
    }

    /// Makes (or loads) the signing key now, so signing does not wait for it.
    pub async fn prepare(&self) -> Result<(), IdTokenError> {
        self.key().await.map(drop)
    }

    async fn key(&self) -> Result<Arc<SigningKey>, IdTokenError> {
        let mut current = self.current.lock().await;
        if let Some(key) = current.as_ref() {
            return Ok(key.clone());
        }
        let mut stored = store::id_token_keys(self.db.reader()).await?;
        if stored.is_empty() {
            let private_key = tokio::task::spawn_blocking(generate)
                .await
                .map_err(|e| IdTokenError::Key(e.to_string()))??;
            let mut tx = self.db.begin().await?;
            store::insert_id_token_key(
                &mut tx,
                &platform::ids::new_id(),
                &private_key,
                self.clock.now_millis(),
            )
            .await?;
            tx.commit().await?;
            stored = store::id_token_keys(self.db.reader()).await?;
        }
        let record = stored
            .first()
            .ok_or_else(|| IdTokenError::Key("no key after making one".to_owned()))?;
        let key = Arc::new(SigningKey {
            kid: record.kid.clone(),
            pair: load(&record.private_key)?,
        });
        *current = Some(key.clone());
        Ok(key)
    }
}

/// A new RSA key, PKCS#8 DER as base64url.
fn generate() -> Result<String, IdTokenError> {
    use rsa::pkcs8::EncodePrivateKey;
    let key = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, RSA_BITS)
        .map_err(|e| IdTokenError::Key(e.to_string()))?;
    let der = key
        .to_pkcs8_der()
        .map_err(|e| IdTokenError::Key(e.to_string()))?;
    Ok(BASE64URL_NOPAD.encode(der.as_bytes()))
}

fn load(private_key: &str) -> Result<RsaKeyPair, IdTokenError> {
    let der = BASE64URL_NOPAD
        .decode(private_key.as_bytes())
        .map_err(|_| IdTokenError::Key("a stored key is not base64url".to_owned()))?;
    RsaKeyPair::from_pkcs8(&der).map_err(|e| IdTokenError::Key(e.to_string()))
}

fn jwk_of(kid: &str, pair: &RsaKeyPair) -> RsaJwk {
    let components: ring::rsa::PublicKeyComponents<Vec<u8>> = pair.public().into();
    RsaJwk {
        kid: kid.to_owned(),
        n: BASE64URL_NOPAD.encode(&components.n),
        e: BASE64URL_NOPAD.encode(&components.e),
    }
}
