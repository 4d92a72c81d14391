//! Identity's operations. Each one validates through `domain`, runs in one transaction
//! over `store`, stages its events in the same transaction, and wakes the bus after
//! commit. Handlers in `http` only translate.

use data_encoding::BASE32_NOPAD;
use platform::auth::jwt::{self, Audience, Claims};
use platform::auth::{Principal, ROLE_ADMIN, ROLE_CUSTOMER};
use platform::bus::Outbox;
use platform::db::{Db, is_unique_violation};
use platform::time::Clock;

use crate::IdentityConfig;
use crate::active::ActiveUsers;
use crate::domain::{self, Email, LockoutPolicy, Password, RefreshOutcome, Scopes, UserName, totp};
use crate::events;
use crate::keys::KeyRing;
use crate::passwords::{HashError, PasswordHasher};
use crate::store::{self, ApiKeyRecord, UserRecord};

/// Prefix of API keys, so leaked keys are recognisable by scanners.
pub const API_KEY_PREFIX: &str = "vsk_";
/// Prefix of refresh tokens.
const REFRESH_PREFIX: &str = "vrt_";

/// Why an identity operation failed.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// Registration with an email that has an account.
    #[error("an account with this email already exists")]
    EmailTaken,
    /// Wrong email or password (never says which).
    #[error("invalid email or password")]
    InvalidCredentials,
    /// Too many failures; locked until the given time (epoch ms).
    #[error("account locked")]
    Locked(i64),
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
    /// Hashing failed.
    #[error(transparent)]
    Hash(#[from] HashError),
    /// The database failed.
    #[error(transparent)]
    Sql(#[from] platform::db::Error),
}

/// A new access/refresh pair.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TokenPair {
    /// Signed access token (`at+jwt`).
    pub access_token: String,
    /// Opaque refresh token (absent for client credentials).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Access token lifetime in seconds.
    pub expires_in: i64,
    /// Granted scopes (client credentials).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

/// A new API key, with its secret (shown once).
#[derive(Debug, Clone)]
pub struct NewApiKey {
    /// The stored record.
    pub record: ApiKeyRecord,
    /// The key itself.
    pub key: String,
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
    pub(crate) active_users: std::sync::Arc<ActiveUsers>,
}

impl IdentityApp {
    fn lockout(&self) -> LockoutPolicy {
        LockoutPolicy {
            threshold: self.config.lockout_threshold,
            window_ms: self.config.lockout_window_secs * 1000,
            duration_ms: self.config.lockout_duration_secs * 1000,
        }
    }

    /// Creates an account with `roles`.
    pub async fn register(
        &self,
        email: Email,
        password: Password,
        name: UserName,
        roles: &[&str],
    ) -> Result<UserRecord, IdentityError> {
        let now = self.clock.now_millis();
        let user = UserRecord {
            id: platform::ids::new_id(),
            email: email.as_str().to_owned(),
            name: name.as_str().to_owned(),
            password_hash: self.hasher.hash(password.expose()).await?,
            roles: roles.iter().map(|r| (*r).to_owned()).collect(),
            preferences: serde_json::json!({}),
            mfa_secret: None,
            mfa_enabled: false,
            mfa_last_step: None,
            locked_until: None,
            created_at: now,
            updated_at: now,
        };
        let mut tx = self.db.begin().await?;
        store::insert_user(&mut tx, &user).await.map_err(|err| {
            if is_unique_violation(&err) {
                IdentityError::EmailTaken
            } else {
                err.into()
            }
        })?;
        self.outbox
            .stage(&mut tx, &events::user_created(&user))
            .await?;
        tx.commit().await?;
        self.outbox.wake();
        Ok(user)
    }

    /// Creates an admin unless the email already has an account (bootstrap and CLI);
    /// returns whether one was created.
    pub async fn ensure_admin(
        &self,
        email: Email,
        password: Password,
    ) -> Result<bool, IdentityError> {
        let name = UserName::try_from("Administrator".to_owned())
            .map_err(|_| IdentityError::Forbidden("bad name"))?;
        match self.register(email, password, name, &[ROLE_ADMIN]).await {
            Ok(_) => Ok(true),
            Err(IdentityError::EmailTaken) => Ok(false),
            Err(err) => Err(err),
        }
    }

    /// Signs in with email and password (and a TOTP code once MFA is on).
    pub async fn login(
        &self,
        email: &str,
        password: &str,
        totp_code: Option<&str>,
    ) -> Result<TokenPair, IdentityError> {
        let email = email.trim().to_lowercase();
        let user = store::user_by_email(self.db.reader(), &email).await?;
        let now = self.clock.now_millis();
        if let Some(until) = user
            .as_ref()
            .and_then(|u| u.locked_until)
            .filter(|until| *until > now)
        {
            return Err(IdentityError::Locked(until));
        }
        let password_ok = self
            .hasher
            .verify(user.as_ref().map(|u| u.password_hash.as_str()), password)
            .await;
        let Some(user) = user else {
            return Err(IdentityError::InvalidCredentials);
        };
        if !password_ok {
            self.record_failure(&user.id).await?;
            return Err(IdentityError::InvalidCredentials);
        }
        if user.mfa_enabled {
            let Some(code) = totp_code else {
                let token = self.mfa_token(&user.id).await;
                return Err(IdentityError::MfaRequired(token));
            };
            return self.finish_mfa_login(&user, code).await;
        }
        self.start_session(&user).await
    }

    /// Completes a sign-in that stopped at [`IdentityError::MfaRequired`].
    pub async fn login_with_mfa_token(
        &self,
        authenticator: &platform::auth::Authenticator,
        mfa_token: &str,
        code: &str,
    ) -> Result<TokenPair, IdentityError> {
        let claims = authenticator
            .verify_token(mfa_token, jwt::TYP_MFA_PENDING)
            .await
            .map_err(|_| IdentityError::InvalidCredentials)?;
        let user = store::user_by_id(self.db.reader(), &claims.sub)
            .await?
            .ok_or(IdentityError::InvalidCredentials)?;
        if user
            .locked_until
            .is_some_and(|until| until > self.clock.now_millis())
        {
            return Err(IdentityError::Locked(user.locked_until.unwrap_or_default()));
        }
        self.finish_mfa_login(&user, code).await
    }

    async fn finish_mfa_login(
        &self,
        user: &UserRecord,
        code: &str,
    ) -> Result<TokenPair, IdentityError> {
        let secret = user
            .mfa_secret
            .as_deref()
            .and_then(|s| BASE32_NOPAD.decode(s.as_bytes()).ok())
            .unwrap_or_default();
        let step = totp::verify(&secret, code, self.clock.now_secs(), user.mfa_last_step);
        let Some(step) = step else {
            // A wrong code counts like a wrong password: six digits must not be guessable.
            self.record_failure(&user.id).await?;
            return Err(IdentityError::InvalidMfaCode);
        };
        let mut tx = self.db.begin().await?;
        if !store::use_mfa_step(&mut tx, &user.id, step).await? {
            return Err(IdentityError::InvalidMfaCode);
        }
        tx.commit().await?;
        self.start_session(user).await
    }

    async fn record_failure(&self, user_id: &str) -> Result<(), IdentityError> {
        let now = self.clock.now_millis();
        let policy = self.lockout();
        let mut tx = self.db.begin().await?;
        let failures = store::record_login_failure(&mut tx, user_id, now, policy.window_ms).await?;
        if let Some(until) = policy.lock_after_failure(failures, now) {
            store::lock_user(&mut tx, user_id, until).await?;
            store::clear_login_failures(&mut tx, user_id).await?;
            self.outbox
                .stage(&mut tx, &events::user_locked(user_id, until))
                .await?;
            tracing::warn!(user_id, "account locked after repeated failed logins");
        }
        tx.commit().await?;
        self.outbox.wake();
        Ok(())
    }

    async fn mfa_token(&self, user_id: &str) -> String {
        let now = self.clock.now_secs();
        let claims = self.claims(
            user_id,
            Vec::new(),
            None,
            None,
            now + self.config.mfa_token_ttl_secs,
        );
        self.keys.sign(&claims, jwt::TYP_MFA_PENDING).await
    }

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

    async fn access_token(&self, user: &UserRecord, session_id: &str) -> String {
        let exp = self.clock.now_secs() + self.config.access_token_ttl_secs;
        let claims = self.claims(
            &user.id,
            user.roles.clone(),
            Some(session_id.to_owned()),
            None,
            exp,
        );
        self.keys.sign(&claims, jwt::TYP_ACCESS).await
    }

    /// Starts a new session (refresh-token family) for a user whose credentials passed.
    async fn start_session(&self, user: &UserRecord) -> Result<TokenPair, IdentityError> {
        let family = platform::ids::new_id();
        let mut tx = self.db.begin().await?;
        store::clear_login_failures(&mut tx, &user.id).await?;
        let refresh = self.issue_refresh(&mut tx, &family, &user.id).await?;
        tx.commit().await?;
        Ok(self.pair(user, &family, refresh).await)
    }

    async fn issue_refresh(
        &self,
        tx: &mut platform::db::Tx,
        family: &str,
        user_id: &str,
    ) -> Result<String, platform::db::Error> {
        let now = self.clock.now_millis();
        let token = platform::ids::random_token(REFRESH_PREFIX);
        store::insert_refresh_token(
            tx,
            &platform::ids::new_id(),
            family,
            user_id,
            &platform::ids::sha256_hex(token.as_bytes()),
            now,
            now + self.config.refresh_token_ttl_secs * 1000,
        )
        .await?;
        Ok(token)
    }

    async fn pair(&self, user: &UserRecord, family: &str, refresh: String) -> TokenPair {
        TokenPair {
            access_token: self.access_token(user, family).await,
            refresh_token: Some(refresh),
            token_type: "Bearer",
            expires_in: self.config.access_token_ttl_secs,
            scope: None,
        }
    }

    /// Exchanges a refresh token for a new pair. A token already exchanged means it was
    /// stolen or replayed: the whole family is revoked.
    pub async fn refresh(&self, refresh_token: &str) -> Result<TokenPair, IdentityError> {
        let hash = platform::ids::sha256_hex(refresh_token.as_bytes());
        let now = self.clock.now_millis();
        let mut tx = self.db.begin().await?;
        let record = store::refresh_token_by_hash(&mut tx, &hash)
            .await?
            .ok_or(IdentityError::InvalidRefreshToken)?;
        match domain::refresh_outcome(
            record.rotated_at.is_some(),
            record.revoked_at.is_some(),
            record.expires_at,
            now,
        ) {
            RefreshOutcome::Refused => return Err(IdentityError::InvalidRefreshToken),
            RefreshOutcome::ReuseDetected => {
                store::revoke_family(&mut tx, &record.family_id, now).await?;
                tx.commit().await?;
                tracing::warn!(user_id = %record.user_id, family = %record.family_id, "refresh token reuse; session revoked");
                return Err(IdentityError::InvalidRefreshToken);
            }
            RefreshOutcome::Rotate => {}
        }
        let user = store::user_by_id(&mut *tx, &record.user_id)
            .await?
            .ok_or(IdentityError::InvalidRefreshToken)?;
        if !store::mark_rotated(&mut tx, &record.id, now).await? {
            return Err(IdentityError::InvalidRefreshToken);
        }
        let refresh = self
            .issue_refresh(&mut tx, &record.family_id, &user.id)
            .await?;
        tx.commit().await?;
        Ok(self.pair(&user, &record.family_id, refresh).await)
    }

    /// Ends the session a refresh token belongs to. Unknown tokens, and tokens of other
    /// users when `owner` is given, are ignored (RFC 7009: revocation always succeeds).
    pub async fn revoke_refresh(
        &self,
        refresh_token: &str,
        owner: Option<&str>,
    ) -> Result<(), IdentityError> {
        let hash = platform::ids::sha256_hex(refresh_token.as_bytes());
        let mut tx = self.db.begin().await?;
        if let Some(record) = store::refresh_token_by_hash(&mut tx, &hash).await?
            && owner.is_none_or(|o| o == record.user_id)
        {
            store::revoke_family(&mut tx, &record.family_id, self.clock.now_millis()).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The caller's own account.
    pub async fn me(&self, caller: &Principal) -> Result<UserRecord, IdentityError> {
        store::user_by_id(self.db.reader(), &caller.subject)
            .await?
            .ok_or(IdentityError::NotFound("user"))
    }

    /// Changes the caller's name and/or preferences.
    pub async fn update_me(
        &self,
        caller: &Principal,
        name: Option<UserName>,
        preferences: Option<domain::Preferences>,
    ) -> Result<UserRecord, IdentityError> {
        let mut tx = self.db.begin().await?;
        let mut user = store::user_by_id(&mut *tx, &caller.subject)
            .await?
            .ok_or(IdentityError::NotFound("user"))?;
        if let Some(name) = name {
            user.name = name.as_str().to_owned();
        }
        if let Some(preferences) = preferences {
            user.preferences = preferences.into_value();
        }
        user.updated_at = self.clock.now_millis();
        store::update_profile(
            &mut tx,
            &user.id,
            &user.name,
            &user.preferences,
            user.updated_at,
        )
        .await?;
        self.outbox
            .stage(&mut tx, &events::user_updated(&user))
            .await?;
        tx.commit().await?;
        self.outbox.wake();
        Ok(user)
    }

    /// Changes the caller's password and ends their other sessions.
    pub async fn change_password(
        &self,
        caller: &Principal,
        current: &str,
        new: Password,
    ) -> Result<(), IdentityError> {
        let user = self.me(caller).await?;
        if !self.hasher.verify(Some(&user.password_hash), current).await {
            return Err(IdentityError::WrongCurrentPassword);
        }
        let hash = self.hasher.hash(new.expose()).await?;
        let now = self.clock.now_millis();
        let mut tx = self.db.begin().await?;
        store::set_password_hash(&mut tx, &user.id, &hash, now).await?;
        store::revoke_user_sessions(&mut tx, &user.id, caller.session_id.as_deref(), now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Starts MFA enrolment: a new secret the caller adds to an authenticator app.
    pub async fn mfa_enable(&self, caller: &Principal) -> Result<(String, String), IdentityError> {
        let user = self.me(caller).await?;
        if user.mfa_enabled {
            return Err(IdentityError::MfaAlreadyEnabled);
        }
        let secret = BASE32_NOPAD.encode(&platform::ids::random_bytes::<20>());
        let mut tx = self.db.begin().await?;
        store::set_mfa_secret(&mut tx, &user.id, &secret, self.clock.now_millis()).await?;
        tx.commit().await?;
        let url = totp::otpauth_url(&self.config.mfa_issuer_name, &user.email, &secret);
        Ok((secret, url))
    }

    /// Finishes MFA enrolment with a code from the app; from now on login needs one.
    pub async fn mfa_verify(&self, caller: &Principal, code: &str) -> Result<(), IdentityError> {
        let user = self.me(caller).await?;
        if user.mfa_enabled {
            return Err(IdentityError::MfaAlreadyEnabled);
        }
        let secret = user
            .mfa_secret
            .as_deref()
            .and_then(|s| BASE32_NOPAD.decode(s.as_bytes()).ok())
            .ok_or(IdentityError::MfaNotStarted)?;
        let step = totp::verify(&secret, code, self.clock.now_secs(), None)
            .ok_or(IdentityError::InvalidMfaCode)?;
        let mut tx = self.db.begin().await?;
        store::enable_mfa(&mut tx, &user.id, step, self.clock.now_millis()).await?;
        tx.commit().await?;
        Ok(())
    }

    /// A user the caller may see (self or admin); others are "not found".
    pub async fn get_user(
        &self,
        caller: &Principal,
        id: &str,
    ) -> Result<UserRecord, IdentityError> {
        if !caller.may_access(id) {
            return Err(IdentityError::NotFound("user"));
        }
        store::user_by_id(self.db.reader(), id)
            .await?
            .ok_or(IdentityError::NotFound("user"))
    }

    /// Deletes a user (self or admin): personal data scrubbed, sessions revoked.
    pub async fn delete_user(&self, caller: &Principal, id: &str) -> Result<(), IdentityError> {
        if !caller.may_access(id) {
            return Err(IdentityError::NotFound("user"));
        }
        let now = self.clock.now_millis();
        let mut tx = self.db.begin().await?;
        if !store::delete_user(&mut tx, id, now).await? {
            return Err(IdentityError::NotFound("user"));
        }
        store::revoke_user_sessions(&mut tx, id, None, now).await?;
        self.outbox
            .stage(&mut tx, &events::user_deleted(id))
            .await?;
        tx.commit().await?;
        self.active_users.forget(id);
        self.outbox.wake();
        Ok(())
    }

    /// Creates an API key with `scopes`; the key is returned once.
    pub async fn create_api_key(
        &self,
        caller: &Principal,
        name: UserName,
        scopes: Scopes,
    ) -> Result<NewApiKey, IdentityError> {
        let key = platform::ids::random_token(API_KEY_PREFIX);
        let record = ApiKeyRecord {
            id: platform::ids::new_id(),
            name: name.as_str().to_owned(),
            scopes: scopes.as_slice().to_vec(),
            created_at: self.clock.now_millis(),
        };
        let mut tx = self.db.begin().await?;
        store::insert_api_key(
            &mut tx,
            &record,
            &platform::ids::sha256_hex(key.as_bytes()),
            &caller.subject,
        )
        .await?;
        tx.commit().await?;
        Ok(NewApiKey { record, key })
    }

    /// Revokes an API key.
    pub async fn delete_api_key(&self, id: &str) -> Result<(), IdentityError> {
        let mut tx = self.db.begin().await?;
        if !store::revoke_api_key(&mut tx, id, self.clock.now_millis()).await? {
            return Err(IdentityError::NotFound("api key"));
        }
        tx.commit().await?;
        Ok(())
    }

    /// The client principal of a valid API key.
    pub async fn resolve_api_key(&self, key: &str) -> Result<Option<Principal>, IdentityError> {
        if !key.starts_with(API_KEY_PREFIX) || key.len() > 128 {
            return Ok(None);
        }
        let record =
            store::api_key_by_hash(self.db.reader(), &platform::ids::sha256_hex(key.as_bytes()))
                .await?;
        Ok(record.map(|r| Principal {
            subject: r.id,
            kind: platform::auth::PrincipalKind::Client,
            roles: Vec::new(),
            scopes: r.scopes,
            session_id: None,
        }))
    }

    /// OAuth 2.0 client credentials: an API key id and secret exchanged for an access
    /// token carrying the key's scopes (narrowed to `requested` when given).
    pub async fn client_credentials(
        &self,
        client_id: &str,
        client_secret: &str,
        requested: Option<&str>,
    ) -> Result<TokenPair, IdentityError> {
        let principal = self
            .resolve_api_key(client_secret)
            .await?
            .filter(|p| p.subject == client_id)
            .ok_or(IdentityError::InvalidClient)?;
        let granted: Vec<String> = match requested {
            Some(requested) => {
                let wanted: Vec<&str> = requested.split_whitespace().collect();
                if !wanted
                    .iter()
                    .all(|w| principal.scopes.iter().any(|s| s == w))
                {
                    return Err(IdentityError::Forbidden(
                        "a requested scope is not granted to this client",
                    ));
                }
                wanted.into_iter().map(str::to_owned).collect()
            }
            None => principal.scopes.clone(),
        };
        let scope = granted.join(" ");
        let exp = self.clock.now_secs() + self.config.access_token_ttl_secs;
        let mut claims = self.claims(client_id, Vec::new(), None, Some(scope.clone()), exp);
        claims.client_id = Some(client_id.to_owned());
        Ok(TokenPair {
            access_token: self.keys.sign(&claims, jwt::TYP_ACCESS).await,
            refresh_token: None,
            token_type: "Bearer",
            expires_in: self.config.access_token_ttl_secs,
            scope: Some(scope),
        })
    }

    /// Whether a token's subject may still act: users must exist; API-key clients must
    /// still have an unrevoked key.
    pub async fn subject_is_active(&self, principal: &Principal) -> Result<bool, IdentityError> {
        match principal.kind {
            platform::auth::PrincipalKind::User => {
                let now = self.clock.now_millis();
                let (fresh, generation) = self.active_users.recall(&principal.subject, now);
                if fresh {
                    return Ok(true);
                }
                let exists = store::user_exists(self.db.reader(), &principal.subject).await?;
                if exists {
                    self.active_users
                        .remember(&principal.subject, now, generation);
                }
                Ok(exists)
            }
            platform::auth::PrincipalKind::Client => Ok(true),
        }
    }
}

/// Roles a self-registered account gets.
pub const SELF_REGISTERED_ROLES: &[&str] = &[ROLE_CUSTOMER];
