//! Signing in and sessions: email and password (and a TOTP code once MFA is on), each
//! attempt counted by the guard (`guard`) of its client address before its credentials
//! are checked and settled after, the MFA step of a sign-in, and the refresh-token
//! family each sign-in starts (rotation, reuse detection, revocation). Refreshing reads
//! the user's roles from the store, so a new access token carries the roles the user
//! has now. Each sign-in, failure, reuse and sign-out is written to the user's
//! authentication log in its transaction; a session started announces
//! `identity.user.authenticated.v1` in the same one.

use contracts::identity::UserAuthenticated;
use platform::auth::jwt;
use platform::db::Tx;
use tracing::field::Empty;

use super::guard::{Account, Attempt};
use super::{IdentityApp, IdentityError, TokenPair};
use crate::domain::oidc::AuthorizationRequest;
use crate::domain::{AuthEventKind, Origin, RefreshOutcome, User};
use crate::store;

/// How a sign-in proved who the user is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SignInMethod {
    /// The password (MFA off).
    Password,
    /// The password and a one-time code.
    Mfa,
}

impl SignInMethod {
    /// The event's `method`.
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Self::Password => "password",
            Self::Mfa => "mfa",
        }
    }

    /// The log line of a session it started.
    fn logged_as(self) -> AuthEventKind {
        match self {
            Self::Password => AuthEventKind::LoginSucceeded,
            Self::Mfa => AuthEventKind::MfaChallengePassed,
        }
    }
}

/// What a sign-in is for.
#[derive(Debug, Clone)]
pub(crate) enum Grant {
    /// Tokens, answered now (the API's sign-in, the password grant).
    Tokens,
    /// A code for the client of this request (the authorization code flow).
    Code(AuthorizationRequest),
}

/// What a sign-in gave.
#[derive(Debug)]
pub(crate) enum SignedIn {
    /// Tokens.
    Tokens(TokenPair),
    /// The client's code (to send to its redirect URI).
    Code(String),
}

impl SignedIn {
    /// The tokens of a sign-in for tokens.
    fn into_tokens(self) -> Result<TokenPair, IdentityError> {
        match self {
            Self::Tokens(pair) => Ok(pair),
            Self::Code(_) => Err(IdentityError::InvalidCredentials),
        }
    }
}

/// What a new session was started with.
enum Issued {
    Refresh(String),
    Code(String),
}

/// Prefix of refresh tokens.
const REFRESH_PREFIX: &str = "vrt_";

impl IdentityApp {
    /// Signs in with email and password (and a TOTP code once MFA is on) from `origin`
    /// (whose client address the guard counts attempts against).
    pub async fn login(
        &self,
        email: &str,
        password: &str,
        totp_code: Option<&str>,
        origin: &Origin,
    ) -> Result<TokenPair, IdentityError> {
        self.sign_in(email, password, totp_code, origin, &Grant::Tokens)
            .await
            .and_then(SignedIn::into_tokens)
    }

    /// Signs in with email and password (and a TOTP code once MFA is on) from
    /// `origin`, for what `grant` says: tokens now, or a code for a client.
    #[tracing::instrument(skip_all, fields(user_id = Empty), err(level = "info"))]
    pub(super) async fn sign_in(
        &self,
        email: &str,
        password: &str,
        totp_code: Option<&str>,
        origin: &Origin,
        grant: &Grant,
    ) -> Result<SignedIn, IdentityError> {
        let email = email.trim().to_lowercase();
        if email.chars().any(char::is_control) {
            // No account's email has one (see `Email`), and PostgreSQL refuses a NUL
            // in text: such a sign-in is a wrong one, answered before any query.
            return Err(IdentityError::InvalidCredentials);
        }
        let user = store::user_by_email(self.db.reader(), &email).await?;
        let attempt = self
            .reserve(Account::of(user.as_ref(), &email), &origin.client)
            .await?;
        // Verified against a dummy hash when there is no user, so both answers take
        // the same time.
        let password_ok = self
            .hasher
            .verify(user.as_ref().map(User::password_hash), password)
            .await;
        if let Some(user) = &user {
            tracing::Span::current().record("user_id", user.id());
        }
        let Some(user) = user.filter(|_| password_ok) else {
            self.fail(attempt, AuthEventKind::LoginFailed, origin)
                .await?;
            return Err(IdentityError::InvalidCredentials);
        };
        if user.mfa().is_enabled() {
            let Some(code) = totp_code else {
                // The password was right: the code's own attempt is counted when it
                // comes, so this one is no failure.
                self.give_back(attempt).await?;
                let token = self.mfa_token(user.id()).await;
                return Err(IdentityError::MfaRequired(token));
            };
            return self
                .finish_mfa_login(user, code, attempt, origin, grant)
                .await;
        }
        self.start_session(&user, attempt, SignInMethod::Password, origin, grant)
            .await
    }

    /// Completes a sign-in that stopped at [`IdentityError::MfaRequired`], from
    /// `origin`.
    pub async fn login_with_mfa_token(
        &self,
        authenticator: &platform::auth::Authenticator,
        mfa_token: &str,
        code: &str,
        origin: &Origin,
    ) -> Result<TokenPair, IdentityError> {
        self.sign_in_with_mfa_token(authenticator, mfa_token, code, origin, &Grant::Tokens)
            .await
            .and_then(SignedIn::into_tokens)
    }

    /// Completes a sign-in that stopped at [`IdentityError::MfaRequired`], from
    /// `origin`, for what `grant` says.
    #[tracing::instrument(skip_all, fields(user_id = Empty), err(level = "info"))]
    pub(super) async fn sign_in_with_mfa_token(
        &self,
        authenticator: &platform::auth::Authenticator,
        mfa_token: &str,
        code: &str,
        origin: &Origin,
        grant: &Grant,
    ) -> Result<SignedIn, IdentityError> {
        let claims = authenticator
            .verify_token(mfa_token, jwt::TYP_MFA_PENDING)
            .await
            .map_err(|_| IdentityError::InvalidCredentials)?;
        tracing::Span::current().record("user_id", claims.sub.as_str());
        let user = store::user_by_id(self.db.reader(), &claims.sub)
            .await?
            .ok_or(IdentityError::InvalidCredentials)?;
        let attempt = self.reserve(Account::user(&user), &origin.client).await?;
        self.finish_mfa_login(user, code, attempt, origin, grant)
            .await
    }

    async fn finish_mfa_login(
        &self,
        mut user: User,
        code: &str,
        attempt: Attempt,
        origin: &Origin,
        grant: &Grant,
    ) -> Result<SignedIn, IdentityError> {
        if user.use_code(code, self.clock.now_secs()).is_err() {
            // A wrong code counts like a wrong password: six digits must not be guessable.
            self.fail(attempt, AuthEventKind::MfaChallengeFailed, origin)
                .await?;
            return Err(IdentityError::InvalidMfaCode);
        }
        let mut tx = self.db.begin().await?;
        if !store::use_mfa_step(&mut tx, &user).await? {
            // Another sign-in used this code first: a replayed code is a wrong one.
            drop(tx);
            self.fail(attempt, AuthEventKind::MfaChallengeFailed, origin)
                .await?;
            return Err(IdentityError::InvalidMfaCode);
        }
        tx.commit().await?;
        self.start_session(&user, attempt, SignInMethod::Mfa, origin, grant)
            .await
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

    async fn access_token(&self, user: &User, session_id: &str) -> String {
        let exp = self.clock.now_secs() + self.config.access_token_ttl_secs;
        let claims = self.claims(
            user.id(),
            user.role_names(),
            Some(session_id.to_owned()),
            None,
            exp,
        );
        self.keys.sign(&claims, jwt::TYP_ACCESS).await
    }

    /// Starts a new session (refresh-token family) for a user whose credentials passed
    /// in `attempt` by `method`, from `origin`: logged and announced in its transaction.
    /// Its first tokens are issued now, or, for a client's code, when the code is
    /// exchanged.
    async fn start_session(
        &self,
        user: &User,
        attempt: Attempt,
        method: SignInMethod,
        origin: &Origin,
        grant: &Grant,
    ) -> Result<SignedIn, IdentityError> {
        let family = platform::ids::new_id();
        let mut tx = self.db.begin().await?;
        self.succeed(&mut tx, attempt).await?;
        let issued = match grant {
            Grant::Tokens => {
                Issued::Refresh(self.issue_refresh(&mut tx, &family, user.id()).await?)
            }
            Grant::Code(request) => Issued::Code(
                self.issue_code(&mut tx, request, user.id(), &family, method.as_str())
                    .await?,
            ),
        };
        self.log_auth(&mut tx, user.id(), method.logged_as(), Some(origin))
            .await?;
        let authenticated = UserAuthenticated {
            user_id: user.id().to_owned(),
            method: method.as_str().to_owned(),
            session_id: family.clone(),
            authenticated_at: platform::time::rfc3339(self.clock.now_millis()),
        };
        self.outbox.stage(&mut tx, &authenticated).await?;
        tx.commit().await?;
        self.outbox.wake();
        Ok(match issued {
            Issued::Refresh(refresh) => SignedIn::Tokens(self.pair(user, &family, refresh).await),
            Issued::Code(code) => SignedIn::Code(code),
        })
    }

    pub(super) async fn issue_refresh(
        &self,
        tx: &mut Tx,
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

    pub(super) async fn pair(&self, user: &User, family: &str, refresh: String) -> TokenPair {
        TokenPair {
            access_token: self.access_token(user, family).await,
            refresh_token: Some(refresh),
            token_type: "Bearer",
            expires_in: self.config.access_token_ttl_secs,
            scope: None,
            id_token: None,
        }
    }

    /// Exchanges a refresh token for a new pair. A token already exchanged means it was
    /// stolen or replayed: the whole family is revoked (and the reuse logged, with
    /// `origin`).
    #[tracing::instrument(skip_all, fields(user_id = Empty), err(level = "info"))]
    pub async fn refresh(
        &self,
        refresh_token: &str,
        origin: &Origin,
    ) -> Result<TokenPair, IdentityError> {
        let hash = platform::ids::sha256_hex(refresh_token.as_bytes());
        let now = self.clock.now_millis();
        let mut tx = self.db.begin().await?;
        let token = store::refresh_token_by_hash(&mut tx, &hash)
            .await?
            .ok_or(IdentityError::InvalidRefreshToken)?;
        tracing::Span::current().record("user_id", token.user_id.as_str());
        match token.outcome(now) {
            RefreshOutcome::Refused => return Err(IdentityError::InvalidRefreshToken),
            RefreshOutcome::ReuseDetected => {
                store::revoke_family(&mut tx, &token.family_id, now).await?;
                self.log_auth(
                    &mut tx,
                    &token.user_id,
                    AuthEventKind::RefreshReuseDetected,
                    Some(origin),
                )
                .await?;
                tx.commit().await?;
                tracing::warn!(family = %token.family_id, "refresh token reuse; session revoked");
                return Err(IdentityError::InvalidRefreshToken);
            }
            RefreshOutcome::Rotate => {}
        }
        let user = store::user_by_id(&mut *tx, &token.user_id)
            .await?
            .ok_or(IdentityError::InvalidRefreshToken)?;
        if !store::mark_rotated(&mut tx, &token.id, now).await? {
            return Err(IdentityError::InvalidRefreshToken);
        }
        let refresh = self
            .issue_refresh(&mut tx, &token.family_id, user.id())
            .await?;
        tx.commit().await?;
        Ok(self.pair(&user, &token.family_id, refresh).await)
    }

    /// Ends the session a refresh token belongs to (logged as a sign-out from `origin`
    /// while it was live). Unknown tokens, and tokens of other users when `owner` is
    /// given, are ignored (RFC 7009: revocation always succeeds).
    #[tracing::instrument(skip_all, fields(user_id = owner), err)]
    pub async fn revoke_refresh(
        &self,
        refresh_token: &str,
        owner: Option<&str>,
        origin: &Origin,
    ) -> Result<(), IdentityError> {
        let hash = platform::ids::sha256_hex(refresh_token.as_bytes());
        let mut tx = self.db.begin().await?;
        if let Some(token) = store::refresh_token_by_hash(&mut tx, &hash).await?
            && owner.is_none_or(|o| o == token.user_id)
        {
            store::revoke_family(&mut tx, &token.family_id, self.clock.now_millis()).await?;
            if token.revoked_at.is_none() {
                self.log_auth(&mut tx, &token.user_id, AuthEventKind::Logout, Some(origin))
                    .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }
}
