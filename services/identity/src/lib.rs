//! The identity service: users, sign-in, sessions, MFA, API keys, tenants, and the OIDC
//! surface.
//!
//! Rooms: `domain` (the `User` aggregate and its transitions, which build the events
//! it emits; sessions, TOTP, API keys), `store` (the only translator between rows and
//! aggregates), `app` (one file per use case), `http` (handlers), `config`, plus `keys`
//! (the signing key ring), `passwords` (argon2id) and `events` (ordering's events,
//! which earn, spend, reverse and give back loyalty points). Whether a token's user
//! still exists is asked of a `platform::cache` cache (`app::user_cache`).

pub mod app;
pub mod config;
pub mod domain;
pub mod events;
pub mod http;
pub mod id_tokens;
pub mod keys;
pub mod passwords;
pub mod store;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use platform::auth::{ApiKeyResolver, Authenticator, Principal, SubjectCheck};
use platform::db::Migrations;
use platform::http::Problem;
use platform::service::{Consumer, Service, ServiceContext, ServiceData, ServiceKind, StartError};
use platform::tasks::Tasks;

pub use app::{IdentityApp, IdentityError};
pub use config::IdentityConfig;
pub use keys::KeyRing;
pub use passwords::Argon2Settings;

/// How often counters of failed sign-ins whose windows and locks are over are deleted.
const PRUNE_LOGIN_FAILURES_EVERY: Duration = Duration::from_secs(5 * 60);

/// How often loyalty reservations whose order never came are looked for (they wait
/// `identity.loyalty.reservation_ttl_secs`, an hour by default).
const RELEASE_STALE_LOYALTY_EVERY: Duration = Duration::from_secs(60);

/// Identity's migrations.
pub const MIGRATIONS: Migrations = Migrations {
    scope: "identity",
    steps: &[
        platform::migration!("0001_init"),
        platform::migration!("0002_tenants"),
        platform::migration!("0003_viscount_tenant"),
        platform::migration!("0004_sign_in_guard"),
        platform::migration!("0005_profile_and_auth_log"),
        platform::migration!("0006_loyalty"),
        platform::migration!("0007_loyalty_restored"),
        platform::migration!("0008_authorization_codes"),
    ],
};

/// A running identity service.
pub struct Identity {
    data: ServiceData,
    app: IdentityApp,
    authenticator: Authenticator,
}

impl Service for Identity {
    /// Opens the database and loads or creates the signing key.
    async fn build(context: &ServiceContext) -> Result<Self, StartError> {
        let mut config: IdentityConfig = context.config()?;
        config.tokens = context.config()?;
        config
            .loyalty
            .check()
            .map_err(|reason| StartError::Config {
                section: "identity",
                source: platform::config::ConfigError::invalid("identity", reason),
            })?;
        for client in &config.clients {
            client.check().map_err(|reason| StartError::Config {
                section: "identity",
                source: platform::config::ConfigError::invalid("identity", reason),
            })?;
        }
        let data = context.open(&MIGRATIONS).await?;
        data.retention()
            .add_rule(Arc::new(app::AuthLogRetention::new(
                config.auth_log_retention_days,
            )));
        data.retention()
            .add_rule(Arc::new(app::AuthorizationCodeRetention));
        let clock = context.clock().clone();
        let keys = KeyRing::load(data.db.clone(), clock.clone(), config.access_token_ttl_secs)
            .await
            .map_err(|e| context.failed(e))?;
        let hasher =
            passwords::PasswordHasher::new(config.argon2).map_err(|e| context.failed(e))?;
        let app = IdentityApp {
            db: data.db.clone(),
            outbox: data.outbox.clone(),
            keys: keys.clone(),
            hasher,
            clock: clock.clone(),
            config: config.clone(),
            users: app::user_cache(context, Duration::from_secs(config.user_cache_ttl_secs)),
            id_tokens: id_tokens::IdTokenSigner::new(data.db.clone(), clock.clone()),
        };
        let authenticator = Authenticator::new(
            Arc::new(keys),
            &config.tokens.issuer,
            &config.tokens.audience,
            clock,
        )
        .with_api_keys(Arc::new(app.clone()))
        .with_subject_check(Arc::new(app.clone()));
        // The platform's own processes (ordering giving a loyalty hold back) call
        // identity with the service token, as they call each other.
        let authenticator = match context.service_token() {
            Some(token) => authenticator.with_service_token(token),
            None => authenticator,
        };
        Ok(Self {
            data,
            app,
            authenticator,
        })
    }

    fn migrations() -> &'static Migrations {
        &MIGRATIONS
    }

    fn openapi() -> utoipa::openapi::OpenApi {
        http::api().into_openapi()
    }

    fn data(&self) -> &ServiceData {
        &self.data
    }

    fn router(&self) -> axum::Router {
        http::router(self.app.clone(), self.authenticator.clone())
    }

    /// Ordering's events, for loyalty points.
    fn consumer(&self) -> Option<Consumer> {
        Some(Consumer::new(
            vec![ServiceKind::Ordering],
            Arc::new(events::OrderEvents {
                app: self.app.clone(),
            }),
        ))
    }

    /// Prunes counters of failed sign-ins once they neither count nor refuse anything,
    /// so their tables hold the current windows only; gives back loyalty points held
    /// for orders that never came.
    fn start_background(&self, tasks: &Tasks) {
        let sweeper = self.app.clone();
        tasks.every(
            "releasing stale loyalty reservations",
            RELEASE_STALE_LOYALTY_EVERY,
            move || {
                let sweeper = sweeper.clone();
                async move { sweeper.release_stale_loyalty().await }
            },
        );
        let app = self.app.clone();
        tasks.every(
            "pruning login failures",
            PRUNE_LOGIN_FAILURES_EVERY,
            move || {
                let app = app.clone();
                async move { app.prune_login_failures().await }
            },
        );
    }

    /// Verifies this identity's tokens and API keys; the other services of the process
    /// use it.
    fn authenticator(&self) -> Option<Authenticator> {
        Some(self.authenticator.clone())
    }
}

impl Identity {
    /// The operations (for the CLI and tests).
    pub fn app(&self) -> &IdentityApp {
        &self.app
    }

    /// The key ring (its JWKS and signing).
    pub fn keys(&self) -> &KeyRing {
        &self.app.keys
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
