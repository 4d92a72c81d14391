//! The OpenID Connect authorization code flow: a sign-in on identity's own page (under
//! the same guard as the API's) that ends in a single-use, short-lived code for the
//! client's redirect URI, and the exchange of that code, with its PKCE verifier, for
//! tokens and an ID token. A code presented a second time revokes the session its
//! first exchange started (RFC 6749 4.1.2).

use platform::db::Tx;
use platform::retention::RetentionRule;

use super::sessions::{Grant, SignedIn};
use super::{IdentityApp, IdentityError, TokenPair};
use crate::domain::oidc::{self, AuthorizationRequest, OidcClient};
use crate::domain::{AuthEventKind, Origin};
use crate::id_tokens::IdTokenClaims;
use crate::store::{self, StoredCode};

/// Prefix of authorization codes.
const CODE_PREFIX: &str = "vac_";

/// Why a code exchange is refused: RFC 6749's `invalid_grant` in every case, told
/// apart for the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeRefusal {
    /// No such code.
    Unknown,
    /// Exchanged before: the session it started is revoked.
    Reused,
    /// Past its lifetime.
    Expired,
    /// Issued to another client or redirect URI.
    Mismatch,
    /// The PKCE verifier is missing or wrong.
    Verifier,
}

/// A code exchange (RFC 6749 4.1.3 with RFC 7636 4.5).
#[derive(Debug, Clone)]
pub struct CodeExchange<'a> {
    /// The code.
    pub code: &'a str,
    /// The client presenting it.
    pub client_id: &'a str,
    /// The redirect URI it was sent to.
    pub redirect_uri: &'a str,
    /// The PKCE verifier.
    pub code_verifier: &'a str,
}

impl IdentityApp {
    /// The clients that may ask for codes: the console (its callback under the issuer)
    /// and those configured.
    pub fn oidc_clients(&self) -> Vec<OidcClient> {
        let mut clients = vec![OidcClient::console(self.issuer())];
        clients.extend(self.config.clients.iter().cloned());
        clients
    }

    /// Signs in for `request`'s client: where to send the browser (the redirect URI
    /// with the code and state).
    pub async fn authorize_sign_in(
        &self,
        request: &AuthorizationRequest,
        email: &str,
        password: &str,
        origin: &Origin,
    ) -> Result<String, IdentityError> {
        let grant = Grant::Code(request.clone());
        let signed_in = self.sign_in(email, password, None, origin, &grant).await?;
        Ok(code_redirect(request, signed_in))
    }

    /// Completes a sign-in for `request`'s client that stopped for a one-time code.
    pub async fn authorize_mfa(
        &self,
        authenticator: &platform::auth::Authenticator,
        request: &AuthorizationRequest,
        mfa_token: &str,
        code: &str,
        origin: &Origin,
    ) -> Result<String, IdentityError> {
        let grant = Grant::Code(request.clone());
        let signed_in = self
            .sign_in_with_mfa_token(authenticator, mfa_token, code, origin, &grant)
            .await?;
        Ok(code_redirect(request, signed_in))
    }

    /// A new code for `request`, kept (by its hash) in `tx` for the session `family`
    /// of `user_id`, signed in by `method`.
    pub(super) async fn issue_code(
        &self,
        tx: &mut Tx,
        request: &AuthorizationRequest,
        user_id: &str,
        family: &str,
        method: &str,
    ) -> Result<String, platform::db::Error> {
        let code = platform::ids::random_token(CODE_PREFIX);
        let now = self.clock.now_millis();
        let stored = StoredCode {
            code_hash: platform::ids::sha256_hex(code.as_bytes()),
            client_id: request.client_id.clone(),
            redirect_uri: request.redirect_uri.clone(),
            user_id: user_id.to_owned(),
            family: family.to_owned(),
            code_challenge: request.code_challenge.clone(),
            nonce: request.nonce.clone(),
            scope: request.scope.clone(),
            method: method.to_owned(),
            auth_time: self.clock.now_secs(),
            expires_at: now + self.config.authorization_code_ttl_secs * 1000,
            used_at: None,
        };
        store::insert_code(tx, &stored).await?;
        Ok(code)
    }

    /// Exchanges a code for the session's first tokens and an ID token, or refuses it
    /// (and, for a code used before, revokes the session, logged with `origin`).
    #[tracing::instrument(skip_all, err(level = "info"))]
    pub async fn exchange_code(
        &self,
        exchange: &CodeExchange<'_>,
        origin: &Origin,
    ) -> Result<TokenPair, ExchangeError> {
        // The signing key is ready before the code is claimed: its first making takes
        // a moment, and a failure must not burn the code.
        self.id_tokens
            .prepare()
            .await
            .map_err(|err| ExchangeError::Signing(err.to_string()))?;
        let now = self.clock.now_millis();
        let hash = platform::ids::sha256_hex(exchange.code.as_bytes());
        let mut tx = self.db.begin().await.map_err(IdentityError::from)?;
        let Some(code) = store::use_code(&mut tx, &hash, now)
            .await
            .map_err(IdentityError::from)?
        else {
            return Err(ExchangeError::Refused(CodeRefusal::Unknown));
        };
        let refusal = if code.used_at.is_some() {
            Some(CodeRefusal::Reused)
        } else if code.expires_at <= now {
            Some(CodeRefusal::Expired)
        } else if code.client_id != exchange.client_id || code.redirect_uri != exchange.redirect_uri
        {
            Some(CodeRefusal::Mismatch)
        } else if !oidc::verifier_matches(exchange.code_verifier, &code.code_challenge) {
            Some(CodeRefusal::Verifier)
        } else {
            None
        };
        if let Some(refusal) = refusal {
            if refusal == CodeRefusal::Reused {
                store::revoke_family(&mut tx, &code.family, now)
                    .await
                    .map_err(IdentityError::from)?;
                self.log_auth(
                    &mut tx,
                    &code.user_id,
                    AuthEventKind::RefreshReuseDetected,
                    Some(origin),
                )
                .await?;
            }
            // A refused exchange burns the code too (`use_code` marked it).
            tx.commit().await.map_err(IdentityError::from)?;
            return Err(ExchangeError::Refused(refusal));
        }
        let user = store::user_by_id(&mut *tx, &code.user_id)
            .await
            .map_err(IdentityError::from)?
            .ok_or(ExchangeError::Refused(CodeRefusal::Unknown))?;
        // Signed before the commit: a code is used only by an exchange that answers.
        let id_token = self
            .id_token(&code, user.email().as_str(), user.name().as_str())
            .await?;
        let refresh = self
            .issue_refresh(&mut tx, &code.family, user.id())
            .await
            .map_err(IdentityError::from)?;
        tx.commit().await.map_err(IdentityError::from)?;
        let mut pair = self.pair(&user, &code.family, refresh).await;
        pair.scope = Some(code.scope);
        pair.id_token = Some(id_token);
        Ok(pair)
    }

    async fn id_token(
        &self,
        code: &StoredCode,
        email: &str,
        name: &str,
    ) -> Result<String, ExchangeError> {
        let now = self.clock.now_secs();
        let scopes: Vec<&str> = code.scope.split(' ').collect();
        let claims = IdTokenClaims {
            // As discovery names it: clients compare the two exactly.
            iss: self.issuer().to_owned(),
            sub: code.user_id.clone(),
            aud: code.client_id.clone(),
            azp: code.client_id.clone(),
            exp: now + self.config.access_token_ttl_secs,
            iat: now,
            auth_time: code.auth_time,
            nonce: code.nonce.clone(),
            amr: if code.method == "mfa" {
                vec!["pwd", "otp"]
            } else {
                vec!["pwd"]
            },
            sid: code.family.clone(),
            email: scopes.contains(&"email").then(|| email.to_owned()),
            name: scopes.contains(&"profile").then(|| name.to_owned()),
        };
        self.id_tokens
            .sign(&claims)
            .await
            .map_err(|err| ExchangeError::Signing(err.to_string()))
    }
}

/// Why an exchange gave no tokens.
#[derive(Debug, thiserror::Error)]
pub enum ExchangeError {
    /// The code is refused (`invalid_grant`).
    #[error("the code is refused: {0:?}")]
    Refused(CodeRefusal),
    /// The ID token could not be signed.
    #[error("the ID token could not be signed: {0}")]
    Signing(String),
    /// Anything else.
    #[error(transparent)]
    Identity(#[from] IdentityError),
}

/// The redirect URI of `request` with the code a sign-in gave and the state.
fn code_redirect(request: &AuthorizationRequest, signed_in: SignedIn) -> String {
    let code = match signed_in {
        SignedIn::Code(code) => code,
        // A sign-in for a code gives a code.
        SignedIn::Tokens(_) => String::new(),
    };
    let mut params = vec![("code", code.as_str())];
    if let Some(state) = &request.state {
        params.push(("state", state));
    }
    oidc::with_query(&request.redirect_uri, &params)
}

/// The retention sweep's rule for authorization codes: gone a day after they expired
/// (kept that long so a late second use is still told apart from a code never issued).
pub struct AuthorizationCodeRetention;

#[async_trait::async_trait]
impl RetentionRule for AuthorizationCodeRetention {
    fn table(&self) -> &'static str {
        "authorization_codes"
    }

    async fn delete_batch(
        &self,
        tx: &mut Tx,
        now: i64,
        limit: i64,
    ) -> Result<u64, platform::db::Error> {
        store::prune_codes(tx, now.saturating_sub(24 * 3600 * 1000), limit).await
    }
}
