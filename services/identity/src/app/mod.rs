//! Identity's operations, one use case a file: accounts and roles (`accounts`), signing
//! in and sessions (`sessions`), the guard against password guessing (`guard`), MFA
//! enrolment (`mfa`), the authentication log (`auth_log`), API keys (`api_keys`),
//! tenants and
//! their keys (`tenants`), the OAuth and OIDC surface (`oauth`) and loyalty points
//! (`loyalty`), plus `cached` (whether users exist, for the per-request check of a
//! token's subject). Each operation
//! validates through `domain`, runs in one transaction over `store`, stages the events
//! the aggregate built in the same transaction, and wakes the bus after commit.
//! Handlers in `http` only translate.

mod accounts;
mod api_keys;
mod auth_log;
mod authorize;
mod cached;
mod guard;
mod loyalty;
mod mfa;
mod oauth;
mod sessions;
mod tenants;

use platform::auth::Policy;
use platform::auth::jwt::{Audience, Claims};
use platform::bus::Outbox;
use platform::cache::Cache;
use platform::db::Db;
use platform::time::Clock;

use crate::config::IdentityConfig;
use crate::domain::{Refused, Role};
use crate::keys::KeyRing;
use crate::passwords::{HashError, PasswordHasher};

pub use api_keys::NewApiKey;
pub use auth_log::AuthLogRetention;
pub use authorize::{AuthorizationCodeRetention, CodeExchange, CodeRefusal, ExchangeError};
pub use cached::user_cache;
pub use loyalty::{LoyaltyError, LoyaltyStatement};
pub use tenants::NewTenant;

/// Who may see and manage what: a user their own account, admins every account, the
/// API keys, the tenants and the signing keys. Machine clients manage nothing here (a
/// tenant key sees its own tenant).
pub const POLICY: Policy = Policy::admin_only();

/// Prefix of API keys, so leaked keys are recognisable by scanners.
pub const API_KEY_PREFIX: &str = "vsk_";

/// Roles a self-registered account gets.
pub const SELF_REGISTERED_ROLES: &[Role] = &[Role::Customer];

/// Why an identity operation failed.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// Registration with an email that has an account.
    #[error("an account with this email already exists")]
    EmailTaken,
    /// Wrong email or password (never says which).
    #[error("invalid email or password")]
    InvalidCredentials,
    /// Too many failures of this account from this client address: locked for it until
    /// `until` (epoch ms), `retry_after_secs` from now.
    #[error("account locked")]
    Locked {
        /// When the lock ends, epoch ms.
        until: i64,
        /// Whole seconds until then.
        retry_after_secs: u64,
    },
    /// Too many failures from this client address across accounts: every sign-in from
    /// it is refused for `retry_after_secs`.
    #[error("too many failed sign-ins from this address")]
    TooManyFailures {
        /// Whole seconds until the address may sign in again.
        retry_after_secs: u64,
    },
    /// The password was right; a TOTP code is needed (carry this MFA token).
    #[error("a one-time code is required")]
    MfaRequired(String),
    /// The TOTP code is wrong or used.
    #[error("the one-time code is invalid")]
    InvalidMfaCode,
    /// The refresh token is unknown, expired, revoked or was reused.
    #[error("the refresh token is invalid")]
    InvalidRefreshToken,
    /// The client credentials are wrong.
    #[error("invalid client credentials")]
    InvalidClient,
    /// The client may not use this grant (a tenant key asking for a token).
    #[error("{0}")]
    UnauthorizedClient(&'static str),
    /// The current password given for a change is wrong.
    #[error("the current password is incorrect")]
    WrongCurrentPassword,
    /// MFA is already on.
    #[error("multi-factor authentication is already enabled")]
    MfaAlreadyEnabled,
    /// MFA verification before enabling.
    #[error("call mfa/enable first")]
    MfaNotStarted,
    /// No such resource, or not the caller's.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// Not allowed.
    #[error("{0}")]
    Forbidden(&'static str),
    /// The change would leave the platform without an admin.
    #[error("the last admin cannot lose the admin role")]
    LastAdmin,
    /// Hashing failed.
    #[error(transparent)]
    Hash(#[from] HashError),
    /// The database failed.
    #[error(transparent)]
    Sql(#[from] platform::db::Error),
}

/// A new access/refresh pair (RFC 6749 section 5.1).
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
#[schema(example = json!({"access_token": "eyJhbGciOiJFZERTQSIsInR5cCI6ImF0K2p3dCJ9...", "refresh_token": "vrt_3q2-7wE...", "token_type": "Bearer", "expires_in": 900}))]
pub struct TokenPair {
    /// Signed access token (`at+jwt`).
    pub access_token: String,
    /// Opaque refresh token (absent for client credentials).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub refresh_token: Option<String>,
    /// Always `Bearer`.
    #[schema(value_type = String, pattern = "^Bearer$")]
    pub token_type: &'static str,
    /// Access token lifetime in seconds.
    pub expires_in: i64,
    /// Granted scopes, space-separated (client credentials, authorization code).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub scope: Option<String>,
    /// The ID token (authorization code grant): RS256, with the client's nonce.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub id_token: Option<String>,
}

impl From<Refused> for IdentityError {
    fn from(refused: Refused) -> Self {
        match refused {
            Refused::MfaAlreadyEnabled => Self::MfaAlreadyEnabled,
            Refused::MfaNotStarted => Self::MfaNotStarted,
            Refused::MfaNotEnabled | Refused::InvalidCode => Self::InvalidMfaCode,
            Refused::Deleted => Self::NotFound("user"),
            Refused::LastAdmin => Self::LastAdmin,
        }
    }
}

/// The identity service's operations.
#[derive(Clone)]
pub struct IdentityApp {
    pub(crate) db: Db,
    pub(crate) outbox: Outbox,
    pub(crate) keys: KeyRing,
    pub(crate) hasher: PasswordHasher,
    pub(crate) clock: Clock,
    pub(crate) config: IdentityConfig,
    /// Whether users exist, by user id (the per-request check of a token's subject).
    pub(crate) users: Cache,
    /// Signs ID tokens (RS256).
    pub(crate) id_tokens: crate::id_tokens::IdTokenSigner,
}

impl IdentityApp {
    /// Claims of a token for `sub` issued now.
    fn claims(
        &self,
        sub: &str,
        roles: Vec<String>,
        sid: Option<String>,
        scope: Option<String>,
        exp: i64,
    ) -> Claims {
        Claims {
            iss: self.config.tokens.issuer.clone(),
            sub: sub.to_owned(),
            aud: Audience::One(self.config.tokens.audience.clone()),
            exp,
            iat: self.clock.now_secs(),
            nbf: None,
            jti: platform::ids::new_id(),
            roles,
            scope,
            sid,
            client_id: None,
        }
    }
}
