//! The identity service: users, sign-in, sessions, MFA, API keys, and the OIDC surface.
//!
//! Rooms: `domain` (rules, no I/O), `store` (SQL), `app` (operations: one transaction
//! each, with their events), `http` (handlers), `events` (what it emits), plus `keys`
//! (the signing key ring), `passwords` (argon2id) and `active` (users recently seen to
//! exist, for the per-request token subject check).

mod active;
pub mod app;
pub mod domain;
pub mod http;
pub mod keys;
pub mod passwords;
pub mod store;

use std::sync::Arc;

use async_trait::async_trait;
use platform::auth::{ApiKeyResolver, Authenticator, KeySource, Principal, SubjectCheck};
use platform::bus::Bus;
use platform::db::{Db, Migrations};
use platform::http::{Problem, Readiness};
use platform::service::ServiceKind;
use platform::tasks::Tasks;
use platform::time::Clock;
use serde::Deserialize;

pub use app::{IdentityApp, IdentityError};
pub use keys::KeyRing;
pub use passwords::Argon2Settings;

/// Identity's migrations.
pub const MIGRATIONS: Migrations = Migrations {
    scope: "identity",
    steps: &[platform::migration!("0001_init")],
};

/// Identity's configuration (`[identity]`, `VISCOUNT_IDENTITY__*`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct IdentityConfig {
    /// Issuer (the public address of the gateway) and audience of tokens; other
    /// services read the same keys to verify them.
    #[serde(flatten)]
    pub tokens: platform::auth::remote::TokenSettings,
    /// Access-token lifetime.
    pub access_token_ttl_secs: i64,
    /// Refresh-token lifetime.
    pub refresh_token_ttl_secs: i64,
    /// Lifetime of the token that carries a sign-in through MFA.
    pub mfa_token_ttl_secs: i64,
    /// Issuer name shown by authenticator apps.
    pub mfa_issuer_name: String,
    /// Failed logins that lock an account.
    pub lockout_threshold: u32,
    /// Window the failures are counted in.
    pub lockout_window_secs: i64,
    /// How long a lock lasts.
    pub lockout_duration_secs: i64,
    /// Password hashing cost.
    pub argon2: Argon2Settings,
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
            argon2: Argon2Settings::default(),
        }
    }
}

/// Why identity could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Database.
    #[error(transparent)]
    Db(#[from] platform::db::DbError),
    /// Bus.
    #[error(transparent)]
    Bus(#[from] platform::bus::BusError),
    /// Keys.
    #[error(transparent)]
    Keys(#[from] keys::KeyError),
    /// Password hasher.
    #[error(transparent)]
    Hash(#[from] passwords::HashError),
}

/// A running identity service.
#[derive(Clone)]
pub struct Identity {
    app: IdentityApp,
    authenticator: Authenticator,
    bus: Arc<dyn Bus>,
}

impl Identity {
    /// Opens the database at `database_url`, loads or creates the signing key, and
    /// attaches the outbox to `bus`.
    pub async fn build(
        config: IdentityConfig,
        database_url: &str,
        bus: Arc<dyn Bus>,
        tasks: &Tasks,
        clock: Clock,
    ) -> Result<Self, StartError> {
        let db = Db::connect(database_url, &MIGRATIONS).await?;
        let outbox = bus
            .attach_producer(ServiceKind::Identity, db.clone(), tasks)
            .await?;
        let keys = KeyRing::load(db.clone(), clock.clone(), config.access_token_ttl_secs).await?;
        let hasher = passwords::PasswordHasher::new(config.argon2)?;
        let app = IdentityApp {
            db,
            outbox,
            keys: keys.clone(),
            hasher,
            clock: clock.clone(),
            config: config.clone(),
            active_users: Arc::default(),
        };
        let authenticator = Authenticator::new(
            Arc::new(keys),
            &config.tokens.issuer,
            &config.tokens.audience,
            clock,
        )
        .with_api_keys(Arc::new(app.clone()))
        .with_subject_check(Arc::new(app.clone()));
        Ok(Self {
            app,
            authenticator,
            bus,
        })
    }

    /// The operations (for the CLI and tests).
    pub fn app(&self) -> &IdentityApp {
        &self.app
    }

    /// The key ring (its JWKS and signing).
    pub fn keys(&self) -> &KeyRing {
        &self.app.keys
    }

    /// Verifies this identity's tokens and API keys; other in-process services use it.
    pub fn authenticator(&self) -> Authenticator {
        self.authenticator.clone()
    }

    /// The key source other in-process services verify tokens with.
    pub fn key_source(&self) -> Arc<dyn KeySource> {
        Arc::new(self.app.keys.clone())
    }

    /// The service's database.
    pub fn db(&self) -> &Db {
        &self.app.db
    }

    /// The HTTP routes (paths as in API.md), authenticated.
    pub fn router(&self) -> axum::Router {
        http::router(self.app.clone(), self.authenticator.clone())
    }

    /// Readiness checks: database and bus.
    pub fn readiness(&self) -> Readiness {
        Readiness::new(ServiceKind::Identity.as_str())
            .with("database", self.app.db.clone())
            .with("bus", self.bus.clone())
    }
}

#[async_trait]
impl ApiKeyResolver for IdentityApp {
    async fn resolve(&self, key: &str) -> Result<Option<Principal>, Problem> {
        self.resolve_api_key(key)
            .await
            .map_err(|e| Problem::unexpected(&e))
    }
}

#[async_trait]
impl SubjectCheck for IdentityApp {
    async fn is_active(&self, principal: &Principal) -> Result<bool, Problem> {
        self.subject_is_active(principal)
            .await
            .map_err(|e| Problem::unexpected(&e))
    }
}
