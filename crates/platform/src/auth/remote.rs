//! Identity as seen from another process: its JWKS for token verification and its API
//! key introspection, over HTTP, cached.
//!
//! Keys are fetched when a token names a `kid` not yet known (at most once a second),
//! so identity's key rotation is picked up without restarts. API key answers are cached
//! for [`API_KEY_CACHE`]; a revoked key keeps working that long in other processes. A
//! deleted user's access token keeps working in other processes until it expires (at
//! most the access-token lifetime); identity itself refuses it at once.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use ed25519_dalek::VerifyingKey;
use http::Method;
use tokio::sync::Mutex;

use super::jwt::Jwk;
use super::{
    ApiKeyResolver, ForwardedCredentials, KeySource, KeysUnavailable, Principal, PrincipalKind,
};
use crate::client::{ServiceClient, http_client};
use crate::http::Problem;
use crate::service::ServiceKind;

/// How long an API key lookup is trusted.
pub const API_KEY_CACHE: Duration = Duration::from_secs(30);
/// Fewest time between JWKS fetches.
const JWKS_REFRESH: Duration = Duration::from_secs(1);
/// After a fetch failed, how long unknown keys are answered "unavailable" without
/// asking again (so a down identity is not asked once per request).
const JWKS_RETRY: Duration = Duration::from_millis(250);

/// Identity's answer to an API key introspection.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Introspection {
    /// Whether the key is valid and unrevoked.
    pub active: bool,
    /// The key id (the client).
    #[serde(default)]
    pub id: Option<String>,
    /// Its scopes.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// The tenant a tenant-bound key acts for.
    #[serde(default)]
    pub tenant: Option<String>,
}

#[derive(Default)]
struct Cache {
    keys: HashMap<String, VerifyingKey>,
    fetched_at: Option<Instant>,
    failed_at: Option<Instant>,
    api_keys: HashMap<String, (Instant, Option<Principal>)>,
}

/// A remote identity service.
#[derive(Clone)]
pub struct RemoteIdentity {
    identity: ServiceClient,
    cache: Arc<Mutex<Cache>>,
}

impl RemoteIdentity {
    /// Identity at `base`, e.g. `http://127.0.0.1:8087`.
    pub fn new(base: &str) -> Self {
        Self::over(ServiceClient::remote(
            ServiceKind::Identity,
            base,
            http_client(),
        ))
    }

    /// Identity reached through `identity` (its instances found by discovery).
    pub fn over(identity: ServiceClient) -> Self {
        Self {
            identity,
            cache: Arc::new(Mutex::new(Cache::default())),
        }
    }

    /// The body of a successful answer to `method path`, or `None`.
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Option<Bytes> {
        let reply = self
            .identity
            .send_json(method, path, &ForwardedCredentials::default(), None, body)
            .await
            .ok()?;
        reply.status.is_success().then_some(reply.body)
    }

    async fn fetch_keys(&self) -> Option<HashMap<String, VerifyingKey>> {
        let body = self
            .call(Method::GET, "/.well-known/jwks.json", None)
            .await?;
        #[derive(serde::Deserialize)]
        struct Jwks {
            keys: Vec<serde_json::Value>,
        }
        let jwks: Jwks = serde_json::from_slice(&body).ok()?;
        // The set also holds keys of other types (identity's RSA key for ID tokens,
        // which services never verify): those are skipped, not a failed fetch.
        Some(
            jwks.keys
                .into_iter()
                .filter_map(|key| serde_json::from_value::<Jwk>(key).ok())
                .filter_map(|jwk| Some((jwk.kid.clone(), jwk.verifying_key()?)))
                .collect(),
        )
    }
}

#[async_trait]
impl KeySource for RemoteIdentity {
    async fn verifying_key(&self, kid: &str) -> Result<Option<VerifyingKey>, KeysUnavailable> {
        let mut cache = self.cache.lock().await;
        if let Some(key) = cache.keys.get(kid) {
            return Ok(Some(*key));
        }
        // A fetch that succeeded without the key holds the next one back a second; one
        // that failed only briefly, and the token is then neither good nor bad.
        if cache
            .fetched_at
            .is_some_and(|at| at.elapsed() < JWKS_REFRESH)
        {
            return Ok(None);
        }
        if cache.failed_at.is_some_and(|at| at.elapsed() < JWKS_RETRY) {
            return Err(KeysUnavailable);
        }
        match self.fetch_keys().await {
            Some(keys) => {
                cache.keys = keys;
                cache.fetched_at = Some(Instant::now());
                cache.failed_at = None;
                Ok(cache.keys.get(kid).copied())
            }
            None => {
                tracing::warn!("cannot fetch identity's JWKS");
                cache.failed_at = Some(Instant::now());
                Err(KeysUnavailable)
            }
        }
    }
}

#[async_trait]
impl ApiKeyResolver for RemoteIdentity {
    async fn resolve(&self, key: &str) -> Result<Option<Principal>, Problem> {
        let fingerprint = crate::ids::sha256_hex(key.as_bytes());
        if let Some((at, principal)) = self.cache.lock().await.api_keys.get(&fingerprint)
            && at.elapsed() < API_KEY_CACHE
        {
            return Ok(principal.clone());
        }
        let body = serde_json::json!({ "key": key });
        let answer = self
            .call(Method::POST, "/api/v1/api-keys/introspect", Some(&body))
            .await
            .ok_or_else(|| Problem::unavailable("identity is unavailable"))?;
        let introspection: Introspection = serde_json::from_slice(&answer)
            .map_err(|_| Problem::unavailable("identity answered unreadably"))?;
        let principal = match (introspection.active, introspection.id) {
            (true, Some(id)) => Some(Principal {
                subject: id,
                kind: PrincipalKind::Client,
                roles: Vec::new(),
                scopes: introspection.scopes,
                session_id: None,
                tenant: introspection.tenant,
            }),
            _ => None,
        };
        let mut cache = self.cache.lock().await;
        if cache.api_keys.len() > 10_000 {
            cache.api_keys.clear();
        }
        cache
            .api_keys
            .insert(fingerprint, (Instant::now(), principal.clone()));
        Ok(principal)
    }
}

/// Issuer and audience tokens must carry (read from the `[identity]` section, so every
/// service agrees with identity).
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(default)]
pub struct TokenSettings {
    /// Issuer URL.
    pub issuer: String,
    /// Audience.
    pub audience: String,
}

impl Default for TokenSettings {
    fn default() -> Self {
        Self {
            issuer: "http://127.0.0.1:8080".into(),
            audience: "viscount".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_introspection_without_a_tenant_reads_as_none() {
        let older: Introspection =
            serde_json::from_str(r#"{"active":true,"id":"k1","scopes":["a:read"]}"#)
                .expect("reads");
        assert_eq!(older.tenant, None);
        let tenant: Introspection =
            serde_json::from_str(r#"{"active":true,"id":"k2","scopes":[],"tenant":"t1"}"#)
                .expect("reads");
        assert_eq!(tenant.tenant.as_deref(), Some("t1"));
    }

    #[tokio::test]
    async fn an_unreachable_identity_makes_keys_unavailable_not_unknown() {
        // A port nothing listens on: connections are refused at once.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("port")
            .port();
        let identity = RemoteIdentity::new(&format!("http://127.0.0.1:{port}"));
        assert!(matches!(
            identity.verifying_key("k1").await,
            Err(KeysUnavailable)
        ));
        // And again within the retry pause, without asking.
        assert!(matches!(
            identity.verifying_key("k1").await,
            Err(KeysUnavailable)
        ));
        let authenticator = super::super::Authenticator::new(
            Arc::new(identity),
            "https://id.example",
            "viscount",
            crate::time::Clock::system(),
        );
        let mut headers = http::HeaderMap::new();
        // A well-formed EdDSA token header naming key k1, so the key lookup is reached.
        let header =
            data_encoding::BASE64URL_NOPAD.encode(br#"{"alg":"EdDSA","typ":"at+jwt","kid":"k1"}"#);
        let token = format!("{header}.e30.c2ln");
        headers.insert(
            http::header::AUTHORIZATION,
            format!("Bearer {token}").parse().expect("header"),
        );
        let refused = authenticator
            .authenticate(&headers)
            .await
            .expect_err("not verified");
        assert_eq!(refused.status, 503);
    }
}
