//! Authentication and authorization for every service.
//!
//! A request carries `Authorization: Bearer <access token>` or `X-API-Key: <key>`. The
//! [`authenticate`] middleware resolves it into a [`Principal`] (or answers 401 when a
//! credential is present but not good), and handlers take the principal as an
//! extractor; what it may see and manage is decided by the service's one [`Policy`].
//!
//! Tokens are verified locally from a [`KeySource`] (identity's key ring in-process, or
//! its JWKS). API keys and the liveness of a token's subject (a deleted user's token is
//! refused) are questions only identity can answer, through [`ApiKeyResolver`] and
//! [`SubjectCheck`].

mod credentials;
pub mod jwt;
mod policy;
pub mod remote;

pub use credentials::ForwardedCredentials;
pub use policy::Policy;

use std::sync::Arc;

use async_trait::async_trait;
use axum::extract::{FromRequestParts, OptionalFromRequestParts, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use ed25519_dalek::VerifyingKey;
use http::request::Parts;

use crate::http::Problem;
use crate::time::Clock;

/// Role of shop customers (everyone who registers).
pub const ROLE_CUSTOMER: &str = "customer";
/// Role of shop operators.
pub const ROLE_ADMIN: &str = "admin";
/// Role of callers in the top rate-limit tier (the gateway's `premium` tier).
pub const ROLE_PREMIUM: &str = "premium";
/// Scope of the platform's own processes (registering with coordination, taking locks),
/// held by whoever presents the configured service token.
pub const SCOPE_SERVICE: &str = "service";

/// What kind of caller a principal is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrincipalKind {
    /// A person signed in with a user access token.
    User,
    /// A machine presenting an API key, or a token from the client-credentials grant.
    Client,
}

/// The authenticated caller of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// User id, or API key id for clients.
    pub subject: String,
    /// User or client.
    pub kind: PrincipalKind,
    /// Roles (users).
    pub roles: Vec<String>,
    /// Scopes (clients).
    pub scopes: Vec<String>,
    /// The session the access token belongs to (users).
    pub session_id: Option<String>,
    /// The tenant a tenant-bound API key acts for (clients); such a key holds no
    /// scopes and reaches only its own tenant's data.
    pub tenant: Option<String>,
}

/// Which tenants' data a call acts on (see [`Principal::tenant_scope`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TenantScope {
    /// Every tenant's (an admin who named none, where the call allows it).
    All,
    /// One tenant's.
    One(String),
}

impl TenantScope {
    /// Whether data of `tenant` is within the scope.
    pub fn allows(&self, tenant: &str) -> bool {
        match self {
            Self::All => true,
            Self::One(one) => one == tenant,
        }
    }
}

impl Principal {
    /// Whether the caller holds `role`.
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }

    /// Whether the caller is an admin.
    pub fn is_admin(&self) -> bool {
        self.has_role(ROLE_ADMIN)
    }

    /// Whether the caller holds `scope` (admins hold every scope).
    pub fn has_scope(&self, scope: &str) -> bool {
        self.is_admin() || self.scopes.iter().any(|s| s == scope || s == "*")
    }

    /// 403 unless the caller is an admin.
    pub fn require_admin(&self) -> Result<(), Problem> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(Problem::forbidden("this action needs the admin role"))
        }
    }

    /// 403 unless the caller is an admin or holds `scope`.
    pub fn require_scope(&self, scope: &str) -> Result<(), Problem> {
        if self.has_scope(scope) {
            Ok(())
        } else {
            Err(Problem::forbidden(format!(
                "this action needs the `{scope}` scope"
            )))
        }
    }

    /// Whether the caller may see `tenant`'s data: an admin, or that tenant's own key.
    pub fn may_see_tenant(&self, tenant: &str) -> bool {
        self.is_admin() || self.tenant.as_deref() == Some(tenant)
    }

    /// Which tenant's data the caller may act on, given the tenant it names (a path
    /// segment or a `tenant` filter): an admin names one, or none for all (where the
    /// call allows it); a tenant key acts on its own only, and naming another tenant is
    /// answered 404 "tenant not found", so a key cannot learn which tenants exist.
    /// Anyone else is refused with 403.
    pub fn tenant_scope(&self, requested: Option<&str>) -> Result<TenantScope, Problem> {
        if self.is_admin() {
            return Ok(requested.map_or(TenantScope::All, |t| TenantScope::One(t.to_owned())));
        }
        match (self.tenant.as_deref(), requested) {
            (Some(own), None) => Ok(TenantScope::One(own.to_owned())),
            (Some(own), Some(named)) if own == named => Ok(TenantScope::One(own.to_owned())),
            (Some(_), Some(_)) => Err(Problem::not_found("tenant")),
            (None, _) => Err(Problem::forbidden(
                "this action needs the admin role or a tenant key",
            )),
        }
    }

    /// A user principal from verified claims.
    pub fn from_claims(claims: &jwt::Claims) -> Self {
        let scopes: Vec<String> = claims
            .scope
            .as_deref()
            .map(|s| s.split_whitespace().map(str::to_owned).collect())
            .unwrap_or_default();
        Self {
            subject: claims.sub.clone(),
            kind: if claims.client_id.is_some() {
                PrincipalKind::Client
            } else {
                PrincipalKind::User
            },
            roles: claims.roles.clone(),
            scopes,
            session_id: claims.sid.clone(),
            tenant: None,
        }
    }
}

impl Principal {
    /// The platform's own process (see [`Authenticator::with_service_token`]).
    pub fn service() -> Self {
        Self {
            subject: "service".into(),
            kind: PrincipalKind::Client,
            roles: Vec::new(),
            scopes: vec![SCOPE_SERVICE.into()],
            session_id: None,
            tenant: None,
        }
    }
}

fn digest(token: &str) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(token.as_bytes()).into()
}

/// Where token-verifying keys come from.
#[async_trait]
pub trait KeySource: Send + Sync {
    /// The public key named `kid`, if it is current; [`KeysUnavailable`] when the keys
    /// could not be read to tell (a token is then neither good nor bad yet).
    async fn verifying_key(&self, kid: &str) -> Result<Option<VerifyingKey>, KeysUnavailable>;
}

/// The verifying keys could not be read (identity unreachable): callers are answered
/// 503, not told their token is invalid.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the token-verifying keys cannot be read")]
pub struct KeysUnavailable;

/// Resolves an API key (identity owns them).
#[async_trait]
pub trait ApiKeyResolver: Send + Sync {
    /// The client principal of a valid, unrevoked key.
    async fn resolve(&self, key: &str) -> Result<Option<Principal>, Problem>;
}

/// Tells whether a token's subject still exists (identity owns users).
#[async_trait]
pub trait SubjectCheck: Send + Sync {
    /// Whether `principal` may still act (not deleted).
    async fn is_active(&self, principal: &Principal) -> Result<bool, Problem>;
}

/// Turns request credentials into a principal.
#[derive(Clone)]
pub struct Authenticator {
    keys: Arc<dyn KeySource>,
    issuer: String,
    audience: String,
    clock: Clock,
    api_keys: Option<Arc<dyn ApiKeyResolver>>,
    subjects: Option<Arc<dyn SubjectCheck>>,
    service_token: Option<Arc<[u8; 32]>>,
    verified: Arc<VerifiedTokens>,
}

/// Tokens whose signature this process has verified. A client presents the same access
/// token on every request of a session; checking its Ed25519 signature once instead of
/// on each request saves the most expensive step of authentication. An entry is used
/// only while the key that verified it is still the one its `kid` names (a withdrawn
/// key ends it) and for the type it was verified as; expiry is checked on every use.
#[derive(Default)]
struct VerifiedTokens {
    entries: std::sync::Mutex<std::collections::HashMap<String, VerifiedToken>>,
}

struct VerifiedToken {
    key: VerifyingKey,
    typ: String,
    claims: jwt::Claims,
}

impl VerifiedTokens {
    /// At most this many tokens are remembered; past that the memory starts over.
    const CAPACITY: usize = 16_384;

    fn claims(&self, token: &str, key: &VerifyingKey, typ: &str) -> Option<jwt::Claims> {
        let entries = self.entries.lock().ok()?;
        let entry = entries.get(token)?;
        (entry.key == *key && entry.typ == typ).then(|| entry.claims.clone())
    }

    fn remember(&self, token: &str, key: VerifyingKey, typ: &str, claims: &jwt::Claims) {
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= Self::CAPACITY {
                entries.clear();
            }
            entries.insert(
                token.to_owned(),
                VerifiedToken {
                    key,
                    typ: typ.to_owned(),
                    claims: claims.clone(),
                },
            );
        }
    }
}

impl Authenticator {
    /// Verifies tokens from `keys` issued by `issuer` for `audience`.
    pub fn new(keys: Arc<dyn KeySource>, issuer: &str, audience: &str, clock: Clock) -> Self {
        Self {
            keys,
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            clock,
            api_keys: None,
            subjects: None,
            service_token: None,
            verified: Arc::default(),
        }
    }

    /// Also accepts API keys resolved by `resolver`.
    pub fn with_api_keys(mut self, resolver: Arc<dyn ApiKeyResolver>) -> Self {
        self.api_keys = Some(resolver);
        self
    }

    /// Also refuses tokens whose subject `check` says is gone.
    pub fn with_subject_check(mut self, check: Arc<dyn SubjectCheck>) -> Self {
        self.subjects = Some(check);
        self
    }

    /// Also accepts `token` as a bearer credential of the platform's own processes: its
    /// holder is the client `service` with the [`SCOPE_SERVICE`] scope. Only a digest
    /// is kept, and presented tokens are compared by digest.
    pub fn with_service_token(mut self, token: &str) -> Self {
        if !token.is_empty() {
            self.service_token = Some(Arc::new(digest(token)));
        }
        self
    }

    /// Verifies a token of type `typ` and returns its claims.
    pub async fn verify_token(
        &self,
        token: &str,
        typ: &str,
    ) -> Result<jwt::Claims, jwt::TokenError> {
        let kid = jwt::kid_of(token)?;
        let key = self
            .keys
            .verifying_key(&kid)
            .await
            .map_err(|KeysUnavailable| jwt::TokenError::KeysUnavailable)?
            .ok_or(jwt::TokenError::UnknownKey)?;
        let now = self.clock.now_secs();
        if let Some(claims) = self.verified.claims(token, &key, typ) {
            jwt::check_validity(&claims, now)?;
            return Ok(claims);
        }
        let claims = jwt::verify(
            token,
            &key,
            &jwt::Expectations {
                typ,
                issuer: &self.issuer,
                audience: &self.audience,
                now,
            },
        )?;
        self.verified.remember(token, key, typ, &claims);
        Ok(claims)
    }

    /// The principal of the request's credentials: `Ok(None)` when it carries none,
    /// 401 when they are not good.
    pub async fn authenticate(
        &self,
        headers: &http::HeaderMap,
    ) -> Result<Option<Principal>, Problem> {
        // Other schemes (HTTP Basic at the OAuth token endpoint) are for the handler.
        let bearer = headers
            .get(http::header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| {
                let (scheme, token) = value.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
            });
        if let Some(token) = bearer {
            if let Some(expected) = &self.service_token
                && digest(token) == **expected
            {
                return Ok(Some(Principal::service()));
            }
            let claims =
                self.verify_token(token, jwt::TYP_ACCESS)
                    .await
                    .map_err(|err| match err {
                        jwt::TokenError::KeysUnavailable => Problem::unavailable(
                            "tokens cannot be verified now: identity is unavailable",
                        ),
                        err => {
                            tracing::debug!(reason = %err, "access token refused");
                            Problem::unauthorized("the access token is invalid or expired")
                        }
                    })?;
            let principal = Principal::from_claims(&claims);
            if let Some(subjects) = &self.subjects
                && !subjects.is_active(&principal).await?
            {
                return Err(Problem::unauthorized(
                    "the access token is invalid or expired",
                ));
            }
            return Ok(Some(principal));
        }
        if let Some(value) = headers.get("x-api-key") {
            let resolver = self
                .api_keys
                .as_ref()
                .ok_or_else(|| Problem::unauthorized("API keys are not accepted here"))?;
            let key = value
                .to_str()
                .map_err(|_| Problem::unauthorized("the API key is invalid"))?;
            return match resolver.resolve(key).await? {
                Some(principal) => Ok(Some(principal)),
                None => Err(Problem::unauthorized("the API key is invalid or revoked")),
            };
        }
        Ok(None)
    }
}

/// Middleware: resolves credentials into a [`Principal`] request extension, or answers
/// 401 when credentials are present but bad. Requests without credentials pass through;
/// handlers that need a caller take [`Principal`] and get 401 then.
pub async fn authenticate(
    State(authenticator): State<Authenticator>,
    mut request: Request,
    next: Next,
) -> Response {
    match authenticator.authenticate(request.headers()).await {
        Ok(Some(principal)) => {
            request.extensions_mut().insert(principal);
            next.run(request).await
        }
        Ok(None) => next.run(request).await,
        Err(problem) => problem.into_response(),
    }
}

/// Middleware: 401 for a request without a signed-in caller, before the layers inside
/// it run — so an idempotency key is never claimed (nor anything stored) for an
/// anonymous request. `.route_layer(from_fn(platform::auth::require_caller))`, inside
/// [`authenticate`].
pub async fn require_caller(request: Request, next: Next) -> Response {
    if request.extensions().get::<Principal>().is_none() {
        return Problem::unauthorized("authentication required").into_response();
    }
    next.run(request).await
}

impl<S: Send + Sync> FromRequestParts<S> for Principal {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Principal>()
            .cloned()
            .ok_or_else(|| Problem::unauthorized("authentication required"))
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for Principal {
    type Rejection = Problem;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(parts.extensions.get::<Principal>().cloned())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use ed25519_dalek::SigningKey;

    use super::*;

    /// One key id whose key the test can swap.
    struct SwappableKey(Mutex<VerifyingKey>);

    #[async_trait]
    impl KeySource for SwappableKey {
        async fn verifying_key(&self, kid: &str) -> Result<Option<VerifyingKey>, KeysUnavailable> {
            Ok((kid == "k1").then(|| *self.0.lock().expect("key")))
        }
    }

    fn token(key: &SigningKey, typ: &str, now: i64) -> String {
        let claims = jwt::Claims {
            iss: "https://id.example".into(),
            sub: "u1".into(),
            aud: jwt::Audience::One("viscount".into()),
            exp: now + 60,
            iat: now,
            nbf: None,
            jti: "j1".into(),
            roles: vec!["customer".into()],
            scope: None,
            sid: None,
            client_id: None,
        };
        jwt::sign(&claims, typ, "k1", key)
    }

    fn caller(
        kind: PrincipalKind,
        roles: &[&str],
        scopes: &[&str],
        tenant: Option<&str>,
    ) -> Principal {
        Principal {
            subject: "caller".into(),
            kind,
            roles: roles.iter().map(|r| (*r).to_owned()).collect(),
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
            session_id: None,
            tenant: tenant.map(str::to_owned),
        }
    }

    #[test]
    fn a_tenant_key_reaches_its_own_tenant_only_and_admins_any() {
        use PrincipalKind::{Client, User};
        let admin = caller(User, &[ROLE_ADMIN], &[], None);
        let customer = caller(User, &[ROLE_CUSTOMER], &[], None);
        let tenant_key = caller(Client, &[], &[], Some("t1"));
        let scoped_key = caller(Client, &[], &["*"], None);
        let one = |t: &str| Ok(TenantScope::One(t.to_owned()));
        let cases: [(&Principal, Option<&str>, Result<TenantScope, u16>); 10] = [
            (&admin, None, Ok(TenantScope::All)),
            (&admin, Some("t1"), one("t1")),
            (&admin, Some("t2"), one("t2")),
            (&tenant_key, None, one("t1")),
            (&tenant_key, Some("t1"), one("t1")),
            (&tenant_key, Some("t2"), Err(404)),
            (&customer, None, Err(403)),
            (&customer, Some("t1"), Err(403)),
            (&scoped_key, None, Err(403)),
            (&scoped_key, Some("t1"), Err(403)),
        ];
        for (who, requested, expected) in cases {
            let got = who.tenant_scope(requested).map_err(|p| p.status);
            assert_eq!(got, expected, "{who:?} naming {requested:?}");
        }
        let hidden = tenant_key.tenant_scope(Some("t2")).err();
        assert!(hidden.is_some_and(|p| p.detail == "tenant not found"));
        assert!(TenantScope::All.allows("t9"));
        assert!(TenantScope::One("t1".into()).allows("t1"));
        assert!(!TenantScope::One("t1".into()).allows("t2"));
    }

    #[test]
    fn a_tenant_key_holds_no_scope_and_no_role() {
        let tenant_key = caller(PrincipalKind::Client, &[], &[], Some("t1"));
        assert!(!tenant_key.is_admin());
        assert!(!tenant_key.has_scope("ingestion:write"));
        assert!(tenant_key.require_admin().is_err());
        assert!(tenant_key.may_see_tenant("t1"));
        assert!(!tenant_key.may_see_tenant("t2"));
        let admin = caller(PrincipalKind::User, &[ROLE_ADMIN], &[], None);
        assert!(admin.may_see_tenant("t2"));
        let customer = caller(PrincipalKind::User, &[ROLE_CUSTOMER], &[], None);
        assert!(!customer.may_see_tenant("t1"));
    }

    #[tokio::test]
    async fn a_remembered_token_still_expires_and_ends_with_its_key() {
        let first = SigningKey::from_bytes(&[1u8; 32]);
        let keys = Arc::new(SwappableKey(Mutex::new(first.verifying_key())));
        let clock = Clock::system();
        let auth = Authenticator::new(
            keys.clone(),
            "https://id.example",
            "viscount",
            clock.clone(),
        );
        let access = token(&first, jwt::TYP_ACCESS, clock.now_secs());

        // Verified, then answered from memory the same.
        let verified = auth.verify_token(&access, jwt::TYP_ACCESS).await;
        assert_eq!(verified.as_ref().map(|c| c.sub.as_str()), Ok("u1"));
        assert_eq!(auth.verify_token(&access, jwt::TYP_ACCESS).await, verified);
        // Not as another type than it was verified as.
        assert_eq!(
            auth.verify_token(&access, jwt::TYP_MFA_PENDING).await,
            Err(jwt::TokenError::Type)
        );

        // Once its kid names another key, the remembered verification no longer counts.
        *keys.0.lock().expect("key") = SigningKey::from_bytes(&[2u8; 32]).verifying_key();
        assert_eq!(
            auth.verify_token(&access, jwt::TYP_ACCESS).await,
            Err(jwt::TokenError::Signature)
        );
        *keys.0.lock().expect("key") = first.verifying_key();
        assert!(auth.verify_token(&access, jwt::TYP_ACCESS).await.is_ok());

        // And it expires on time.
        clock.advance(std::time::Duration::from_secs(61));
        assert_eq!(
            auth.verify_token(&access, jwt::TYP_ACCESS).await,
            Err(jwt::TokenError::Expired)
        );
    }
}
