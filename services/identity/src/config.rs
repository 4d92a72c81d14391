//! Identity's configuration (`[identity]`, `VISCOUNT_IDENTITY__*`): token lifetimes,
//! the sign-in guard (lockout per account and client address, limit per address), MFA,
//! password hashing, how long the authentication log is kept, loyalty points
//! (`[identity.loyalty]`), and how long the per-request "does this user exist" answer
//! is cached.

use serde::Deserialize;

pub use crate::domain::loyalty::{LoyaltyConfig, LoyaltyRate};
pub use crate::domain::oidc::OidcClient;
use crate::passwords::Argon2Settings;

/// Identity's settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct IdentityConfig {
    /// Issuer (the public address of the gateway) and audience of tokens; other
    /// services read the same keys to verify them. Read as its own struct from the same
    /// section (not flattened: a flattened struct would hide mistyped keys of the
    /// section from the configuration check).
    #[serde(skip)]
    pub tokens: platform::auth::remote::TokenSettings,
    /// Access-token lifetime.
    pub access_token_ttl_secs: i64,
    /// Refresh-token lifetime.
    pub refresh_token_ttl_secs: i64,
    /// Lifetime of the token that carries a sign-in through MFA.
    pub mfa_token_ttl_secs: i64,
    /// Issuer name shown by authenticator apps.
    pub mfa_issuer_name: String,
    /// Failed logins of one account from one client address that lock the account for
    /// that address.
    pub lockout_threshold: u32,
    /// Window the failures are counted in (from the first failure of a window).
    pub lockout_window_secs: i64,
    /// How long a lock lasts.
    pub lockout_duration_secs: i64,
    /// Failed logins one client address may have across accounts within the window;
    /// after them every sign-in from it is refused (429) until the window passes.
    pub failed_logins_per_ip: u32,
    /// Password hashing cost.
    pub argon2: Argon2Settings,
    /// Days the authentication log keeps a line (the retention sweep deletes older
    /// ones).
    pub auth_log_retention_days: u32,
    /// Loyalty points: whether on, the rates per currency, how long a reservation
    /// waits for its order.
    pub loyalty: LoyaltyConfig,
    /// How long the answer to "does this token's user still exist", asked on every
    /// request with an access token, is kept in the cache (Redis in the distributed
    /// shape, shared by every replica; memory in the embedded one); 0 turns the cache
    /// off. A deletion drops the user's entry once it committed, so this bounds how
    /// long a deleted user's token can still be honoured only when that drop failed
    /// (Redis unreachable at that moment).
    pub user_cache_ttl_secs: u64,
    /// The OpenID Connect clients besides the console (built in): each a `client_id`
    /// and the `redirect_uris` it may name, compared exactly (`[[identity.clients]]`).
    pub clients: Vec<OidcClient>,
    /// How long an authorization code can be exchanged (RFC 6749 advises at most ten
    /// minutes; the flow takes a second).
    pub authorization_code_ttl_secs: i64,
}

impl Default for IdentityConfig {
    fn default() -> Self {
        Self {
            tokens: platform::auth::remote::TokenSettings::default(),
            access_token_ttl_secs: 15 * 60,
            refresh_token_ttl_secs: 30 * 24 * 3600,
            mfa_token_ttl_secs: 5 * 60,
            mfa_issuer_name: "Viscount".into(),
            lockout_threshold: 5,
            lockout_window_secs: 15 * 60,
            lockout_duration_secs: 15 * 60,
            failed_logins_per_ip: 20,
            argon2: Argon2Settings::default(),
            auth_log_retention_days: 90,
            loyalty: LoyaltyConfig::default(),
            user_cache_ttl_secs: 60,
            clients: Vec::new(),
            authorization_code_ttl_secs: 60,
        }
    }
}
