//! The console's use cases: signing a browser in through identity's authorization code
//! flow and out again, keeping its session (and refreshing the tokens in it), and
//! calling the API on its behalf.

pub mod api;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Deserialize;
use tokio::sync::OnceCell;

pub use api::{Answer, Api, ApiProblem, Call, FieldProblem, OnBehalf};

use crate::config::ConsoleSettings;
use crate::domain::login::{CALLBACK_PATH, CLIENT_ID};
use crate::domain::{IdTokenClaims, LoginError, LoginState, Session, SignedIn};
use crate::store::{Record, SessionStore, StoreError};

/// How often, at most, a session in use has its idle expiry pushed back (a write).
const TOUCH_EVERY_SECS: i64 = 60;

/// How long one process's claim on refreshing a session lasts: longer than the refresh
/// call may take ([`REFRESH_CALL`]), so a slow answer is never overtaken by a second use
/// of the same refresh token. Identity answers in milliseconds; a holder that died
/// blocks the session's refresh this long.
const REFRESH_CLAIM: Duration = Duration::from_secs(40);

/// Longest the refresh call to identity may take: inside the claim, so no other
/// replica can use the same refresh token while it may still be on its way.
const REFRESH_CALL: Duration = Duration::from_secs(30);

/// Longest a page waits for another replica's refresh before it answers "unavailable".
const REFRESH_WAIT: Duration = Duration::from_secs(10);

/// How often a request waiting on another replica's refresh reads the session again.
const REFRESH_POLL: Duration = Duration::from_millis(25);

/// The console: the API it calls, where sessions live, and its settings.
pub struct Console {
    /// The public API.
    pub api: Api,
    /// Sessions and sign-ins in progress.
    pub store: SessionStore,
    /// The settings.
    pub settings: ConsoleSettings,
    provider: OnceCell<Provider>,
    /// One refresh at a time per session, so two pages loading at once do not both use
    /// the refresh token (identity would take the second use for a stolen token).
    refreshing: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// What identity's discovery document tells the console.
#[derive(Debug, Clone, Deserialize)]
pub struct Provider {
    /// The issuer: the platform's public address.
    pub issuer: String,
    /// Where the browser signs in.
    pub authorization_endpoint: String,
}

/// A session loaded for a request, with the secret (cookie value) it is kept under.
#[derive(Clone)]
pub struct LoadedSession {
    /// The cookie's value.
    pub id: String,
    /// The session.
    pub session: Session,
}

impl std::fmt::Debug for LoadedSession {
    // The id is the cookie: whoever reads it is the browser.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedSession")
            .field("session", &self.session)
            .finish_non_exhaustive()
    }
}

/// The token endpoint's answer.
#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    refresh_token: Option<String>,
    expires_in: i64,
    id_token: Option<String>,
}

/// The profile the console shows and keeps.
#[derive(Deserialize)]
struct Me {
    id: String,
    email: String,
    name: String,
    #[serde(default)]
    roles: Vec<String>,
}

/// Why a sign-in could not finish.
#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    /// The round trip's checks failed.
    #[error(transparent)]
    Login(#[from] LoginError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The API refused or failed.
    #[error("the API answered {}: {}", .0.status, .0.detail)]
    Api(ApiProblem),
}

impl From<ApiProblem> for SignInError {
    fn from(problem: ApiProblem) -> Self {
        SignInError::Api(problem)
    }
}

fn now() -> i64 {
    platform::time::now_millis().div_euclid(1000)
}

impl Console {
    /// A console calling `api`, keeping sessions in `store`.
    pub fn new(api: Api, store: SessionStore, settings: ConsoleSettings) -> Self {
        Self {
            api,
            store,
            settings,
            provider: OnceCell::new(),
            refreshing: Mutex::new(HashMap::new()),
        }
    }

    /// Identity's discovery document, read once (through the gateway, like any client).
    pub async fn provider(&self, on: OnBehalf) -> Result<&Provider, ApiProblem> {
        self.provider
            .get_or_try_init(|| async {
                let answer = self
                    .api
                    .send(Call::get("/.well-known/openid-configuration"), on)
                    .await?;
                answer.json::<Provider>("discovery")
            })
            .await
    }

    fn idle_ttl(&self) -> Duration {
        Duration::from_secs(self.settings.idle_ttl_secs.max(1))
    }

    /// Starts a sign-in that lands on `return_to`: the state it is kept under and the
    /// URL of identity's sign-in page to send the browser to.
    pub async fn begin_sign_in(
        &self,
        return_to: &str,
        on: OnBehalf,
    ) -> Result<(String, String), SignInError> {
        let provider = self.provider(on).await?.clone();
        let login = LoginState::new(return_to);
        let state = platform::ids::random_token("");
        self.store
            .put(
                Record::Login,
                &state,
                &login,
                Duration::from_secs(self.settings.sign_in_ttl_secs.max(1)),
            )
            .await?;
        let redirect_uri = format!("{}{CALLBACK_PATH}", provider.issuer.trim_end_matches('/'));
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("response_type", "code")
            .append_pair("client_id", CLIENT_ID)
            .append_pair("redirect_uri", &redirect_uri)
            .append_pair("scope", "openid profile email")
            .append_pair("state", &state)
            .append_pair("nonce", &login.nonce)
            .append_pair("code_challenge", &login.challenge())
            .append_pair("code_challenge_method", "S256")
            .finish();
        Ok((
            state,
            format!("{}?{query}", provider.authorization_endpoint),
        ))
    }

    /// Finishes the sign-in `state` with identity's `code`: exchanges it, checks the ID
    /// token, and starts a session. Returns the session's id and where to land.
    pub async fn finish_sign_in(
        &self,
        state: &str,
        code: &str,
        on: OnBehalf,
    ) -> Result<(LoadedSession, String), SignInError> {
        let login: LoginState = self
            .store
            .take(Record::Login, state)
            .await?
            .ok_or(LoginError::UnknownState)?;
        let provider = self.provider(on).await?.clone();
        let redirect_uri = format!("{}{CALLBACK_PATH}", provider.issuer.trim_end_matches('/'));
        let answer = self
            .api
            .send(
                Call::new(http::Method::POST, "/oauth2/token").form(&[
                    ("grant_type", "authorization_code"),
                    ("code", code),
                    ("redirect_uri", &redirect_uri),
                    ("client_id", CLIENT_ID),
                    ("code_verifier", &login.verifier),
                ]),
                on,
            )
            .await
            .map_err(|problem| {
                tracing::info!(status = problem.status, "sign-in code not exchanged");
                LoginError::Exchange
            })?;
        let tokens: TokenAnswer = answer.json("token")?;
        let id_token = tokens
            .id_token
            .as_deref()
            .ok_or(LoginError::IdToken("absent"))?;
        let claims = IdTokenClaims::read(id_token, &provider.issuer, &login.nonce, now())?;
        let me: Me = self
            .api
            .send(
                Call::get("/api/v1/users/me").bearer(Some(&tokens.access_token)),
                on,
            )
            .await?
            .json("profile")?;
        if me.id != claims.sub {
            return Err(LoginError::IdToken("another user than the access token's").into());
        }
        let session = Session::signed_in(
            now(),
            SignedIn {
                user_id: me.id,
                email: me.email,
                name: me.name,
                roles: me.roles,
                access_token: tokens.access_token,
                access_expires_at: now() + tokens.expires_in,
                refresh_token: tokens.refresh_token,
            },
        );
        let loaded = LoadedSession {
            id: platform::ids::random_token(""),
            session,
        };
        self.save(&loaded).await?;
        Ok((loaded, login.return_to))
    }

    /// A session that has not yet signed in (for a visitor's first form).
    pub async fn start_anonymous(&self) -> Result<LoadedSession, StoreError> {
        let loaded = LoadedSession {
            id: platform::ids::random_token(""),
            session: Session::new(now()),
        };
        self.save(&loaded).await?;
        Ok(loaded)
    }

    /// Writes `loaded` back (its cart, its refreshed tokens), pushing its idle expiry back.
    pub async fn save(&self, loaded: &LoadedSession) -> Result<(), StoreError> {
        let mut session = loaded.session.clone();
        session.touched_at = now();
        self.store
            .put(Record::Session, &loaded.id, &session, self.idle_ttl())
            .await
    }

    /// Writes `loaded` back only if the session still exists: whether it did. A session
    /// signed out while a request held it stays signed out.
    async fn save_if_live(&self, loaded: &LoadedSession) -> Result<bool, StoreError> {
        let mut session = loaded.session.clone();
        session.touched_at = now();
        self.store
            .replace(Record::Session, &loaded.id, &session, self.idle_ttl())
            .await
    }

    /// The session under `id`, if it is live; its access token refreshed if it is about
    /// to expire (a session whose refresh fails is signed out).
    pub async fn load(
        self: &Arc<Self>,
        id: &str,
        on: OnBehalf,
    ) -> Result<Option<LoadedSession>, StoreError> {
        let Some(session) = self.store.get::<Session>(Record::Session, id).await? else {
            return Ok(None);
        };
        let now = now();
        if session.expired(now, self.settings.session_ttl_secs) {
            self.store.delete(Record::Session, id).await?;
            return Ok(None);
        }
        let mut loaded = LoadedSession {
            id: id.to_owned(),
            session,
        };
        if loaded
            .session
            .user
            .as_ref()
            .is_some_and(|user| user.needs_refresh(now))
        {
            return self.refresh(loaded, on).await;
        }
        if now - loaded.session.touched_at >= TOUCH_EVERY_SECS {
            self.store
                .touch(Record::Session, id, self.idle_ttl())
                .await?;
            loaded.session.touched_at = now;
        }
        Ok(Some(loaded))
    }

    /// Changes the stored session `id` with `change`, on its current copy (a request's
    /// own copy may be older than a refresh another request saved meanwhile).
    pub async fn update(
        &self,
        id: &str,
        change: impl FnOnce(&mut Session),
    ) -> Result<(), StoreError> {
        let Some(mut session) = self.store.get::<Session>(Record::Session, id).await? else {
            return Ok(());
        };
        change(&mut session);
        self.save_if_live(&LoadedSession {
            id: id.to_owned(),
            session,
        })
        .await
        .map(|_| ())
    }

    /// The session with fresh tokens (or signed out when identity refused), `None` when
    /// it ended meanwhile.
    async fn refresh(
        self: &Arc<Self>,
        loaded: LoadedSession,
        on: OnBehalf,
    ) -> Result<Option<LoadedSession>, StoreError> {
        let gate = {
            let mut refreshing = self
                .refreshing
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            refreshing.entry(loaded.id.clone()).or_default().clone()
        };
        // In a task of its own: once identity has rotated the refresh token, the new one
        // must be saved even if the browser's request is dropped meanwhile (the old one
        // kept would read as reuse and sign the browser out).
        let console = self.clone();
        let refreshed = tokio::spawn(async move {
            let id = loaded.id.clone();
            let _turn = gate.lock().await;
            let outcome = console.refresh_alone(loaded, on).await;
            // A request that waited at the gate finds the session refreshed in the store.
            console
                .refreshing
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .remove(&id);
            outcome
        })
        .await;
        match refreshed {
            Ok(outcome) => outcome,
            // The task panicked: the session is read again on the next request.
            Err(_) => Err(StoreError::Lost),
        }
    }

    /// Refreshes the session's tokens unless another request did meanwhile: in this
    /// process the caller holds the session's gate; across the gateway's replicas the
    /// one that claims [`Record::Refreshing`] uses the refresh token and the others
    /// wait for what it saves.
    async fn refresh_alone(
        &self,
        mut loaded: LoadedSession,
        on: OnBehalf,
    ) -> Result<Option<LoadedSession>, StoreError> {
        let owner = platform::ids::new_id();
        let started = std::time::Instant::now();
        loop {
            let claimed = self
                .store
                .claim(Record::Refreshing, &loaded.id, &owner, REFRESH_CLAIM)
                .await?;
            // Read after claiming: a refresh that another replica finished just before
            // is seen, so its spent refresh token is never used again.
            let current = self.store.get::<Session>(Record::Session, &loaded.id).await;
            let current = match current {
                Ok(current) => current,
                Err(err) => {
                    if claimed {
                        self.let_go(&loaded.id, &owner).await;
                    }
                    return Err(err);
                }
            };
            let Some(current) = current else {
                // Ended meanwhile (signed out, expired): not brought back.
                if claimed {
                    self.let_go(&loaded.id, &owner).await;
                }
                return Ok(None);
            };
            let settled = current
                .user
                .as_ref()
                .is_none_or(|user| !user.needs_refresh(now()));
            loaded.session = current;
            if claimed {
                let id = loaded.id.clone();
                let outcome = if settled {
                    Ok(Some(loaded))
                } else {
                    self.refresh_at_identity(loaded, on).await
                };
                self.let_go(&id, &owner).await;
                return outcome;
            }
            if settled {
                return Ok(Some(loaded));
            }
            // Another replica is refreshing (its claim lapses if it died). A page does not
            // wait past its own time for it: it answers "unavailable" and the next one
            // finds the session refreshed.
            if started.elapsed() > REFRESH_WAIT {
                return Err(StoreError::Lost);
            }
            tokio::time::sleep(REFRESH_POLL).await;
        }
    }

    /// Lets go of this process's claim on refreshing session `id`. A claim not let go
    /// lapses by itself, so a failure here only delays the session's next refresh.
    async fn let_go(&self, id: &str, owner: &str) {
        if let Err(err) = self.store.release(Record::Refreshing, id, owner).await {
            tracing::warn!(error = %err, "console refresh claim not let go; it lapses");
        }
    }

    /// Trades the session's refresh token for new tokens and saves them into the
    /// session as it is by then (a cart chosen meanwhile is kept; a session signed out
    /// meanwhile stays out: `None`). A refusal, or an answer that may have come after
    /// identity used the token, signs the session out; only a call the gateway turned
    /// away before sending it (429) leaves the session as it was, to try again.
    async fn refresh_at_identity(
        &self,
        loaded: LoadedSession,
        on: OnBehalf,
    ) -> Result<Option<LoadedSession>, StoreError> {
        let token = loaded
            .session
            .user
            .as_ref()
            .and_then(|user| user.refresh_token.clone());
        let answer = match token {
            Some(token) => {
                let call = self.api.send(
                    Call::new(http::Method::POST, "/oauth2/token").form(&[
                        ("grant_type", "refresh_token"),
                        ("refresh_token", &token),
                        ("client_id", CLIENT_ID),
                    ]),
                    on,
                );
                // Bounded inside the claim, whatever the gateway's own timeout is.
                match tokio::time::timeout(REFRESH_CALL, call).await {
                    Ok(answer) => Some(answer),
                    Err(_) => {
                        tracing::warn!("console token refresh timed out");
                        None
                    }
                }
            }
            None => None,
        };
        if let Some(Err(problem)) = &answer
            && problem.status == 429
        {
            tracing::warn!("console token refresh turned away by the rate limit");
            return Ok(Some(loaded));
        }
        let tokens = answer.and_then(|answer| {
            answer
                .and_then(|answer| answer.json::<TokenAnswer>("token"))
                .ok()
        });
        let Some(mut current) = self
            .store
            .get::<Session>(Record::Session, &loaded.id)
            .await?
        else {
            return Ok(None);
        };
        match (tokens, current.user.as_mut()) {
            (Some(tokens), Some(user)) => {
                user.access_token = tokens.access_token;
                user.access_expires_at = now() + tokens.expires_in;
                if tokens.refresh_token.is_some() {
                    user.refresh_token = tokens.refresh_token;
                }
            }
            // Revoked, expired, refused or unknown: the browser signs in again.
            _ => current = Session::new(now()),
        }
        let refreshed = LoadedSession {
            id: loaded.id,
            session: current,
        };
        Ok(self.save_if_live(&refreshed).await?.then_some(refreshed))
    }

    /// Signs the session out: its refresh token is revoked at identity and the session
    /// forgotten.
    pub async fn sign_out(&self, loaded: &LoadedSession, on: OnBehalf) -> Result<(), StoreError> {
        if let Some(user) = &loaded.session.user
            && let Some(refresh_token) = &user.refresh_token
        {
            let revoked = self
                .api
                .send(
                    Call::post(
                        "/api/v1/auth/logout",
                        &serde_json::json!({ "refresh_token": refresh_token }),
                    )
                    .bearer(Some(&user.access_token)),
                    on,
                )
                .await;
            if let Err(problem) = revoked {
                tracing::info!(
                    status = problem.status,
                    "refresh token not revoked at sign-out"
                );
            }
        }
        self.store.delete(Record::Session, &loaded.id).await
    }
}

impl Console {
    /// Whether cookies are marked `Secure`: when the platform's issuer is HTTPS (read
    /// from discovery first, so the first cookie of a process is marked as the rest).
    pub async fn secure_cookies(&self, on: OnBehalf) -> bool {
        self.provider(on)
            .await
            .is_ok_and(|provider| provider.issuer.starts_with("https://"))
    }
}
