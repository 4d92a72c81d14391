//! Who is asking: the browser's session, loaded once per request from its cookie, and
//! the CSRF check of every request that changes something.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{FromRequestParts, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use cookie::{Cookie, SameSite};
use http::request::Parts;
use http::{HeaderValue, Method, header};
use platform::http::ClientIp;

use super::render::{ErrorView, PageError};
use crate::app::{Console, LoadedSession, OnBehalf};
use crate::domain::SignedIn;

/// The session cookie: an opaque random key into the server's store.
pub const SESSION_COOKIE: &str = "vc_session";
/// The form field (and htmx header) carrying the CSRF token.
pub const CSRF_FIELD: &str = "csrf";
const CSRF_HEADER: &str = "x-csrf-token";
/// Largest form the console reads.
const MAX_FORM_BYTES: usize = 256 * 1024;

/// The browser a request comes from.
#[derive(Debug, Clone)]
pub struct Visitor {
    /// Its session, if it has one.
    pub session: Option<LoadedSession>,
    /// Its address, for the calls made on its behalf.
    pub on: OnBehalf,
    /// The path and query asked for (where to come back after signing in).
    pub path: String,
    /// Whether htmx asked (a fragment is answered instead of a page).
    pub htmx: bool,
}

impl Visitor {
    /// The signed-in user, if any.
    pub fn user(&self) -> Option<&SignedIn> {
        self.session.as_ref()?.session.user.as_ref()
    }

    /// The signed-in user, or the page asks them to sign in.
    pub fn signed_in(&self) -> Result<&SignedIn, PageError> {
        self.user()
            .ok_or_else(|| PageError::SignIn(self.path.clone()))
    }

    /// The signed-in admin, or a 403 page (a sign-in first, if nobody is signed in).
    pub fn admin(&self) -> Result<&SignedIn, PageError> {
        let user = self.signed_in()?;
        if user.is_admin() {
            Ok(user)
        } else {
            Err(PageError::Forbidden)
        }
    }

    /// The access token calls are made with, if signed in.
    pub fn token(&self) -> Option<&str> {
        self.user().map(|user| user.access_token.as_str())
    }

    /// The CSRF token forms carry (empty without a session: such a page has no form).
    pub fn csrf(&self) -> &str {
        self.session
            .as_ref()
            .map_or("", |loaded| loaded.session.csrf.as_str())
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Visitor {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Visitor>()
            .cloned()
            .ok_or(PageError::Internal)
    }
}

/// The session id the request's cookie names.
fn session_id(headers: &http::HeaderMap) -> Option<String> {
    cookie_value(headers, SESSION_COOKIE).filter(|id| !id.is_empty() && id.len() <= 128)
}

/// The value of the request's cookie `name`.
pub fn cookie_value(headers: &http::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|cookie| cookie.name() == name)
        .map(|cookie| cookie.value().to_owned())
}

/// A `Set-Cookie` of the console's: HttpOnly, `SameSite=Lax`, `Secure` when `secure`;
/// `value` `None` clears it, `max_age` `None` makes it last as long as the browser.
pub fn console_cookie(
    name: &'static str,
    value: Option<&str>,
    path: &'static str,
    max_age: Option<time::Duration>,
    secure: bool,
) -> HeaderValue {
    let mut cookie = Cookie::build((name, value.unwrap_or("").to_owned()))
        .path(path)
        .http_only(true)
        .secure(secure)
        .same_site(SameSite::Lax);
    match (value, max_age) {
        (None, _) => cookie = cookie.max_age(time::Duration::ZERO),
        (Some(_), Some(age)) => cookie = cookie.max_age(age),
        (Some(_), None) => {}
    }
    HeaderValue::from_str(&cookie.build().to_string()).unwrap_or(HeaderValue::from_static(""))
}

/// The path of the page of this site a form was sent from (its `Referer`), or `/`.
fn came_from(headers: &http::HeaderMap) -> String {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    headers
        .get(header::REFERER)
        .and_then(|r| r.to_str().ok())
        .and_then(|referer| {
            let rest = referer.split_once("://")?.1;
            let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
            (Some(authority) == host).then(|| format!("/{path}"))
        })
        .map(|path| crate::domain::login::local_path(&path).to_owned())
        .unwrap_or_else(|| "/".to_owned())
}

/// The `Set-Cookie` of session `id` (`None`: the cookie is cleared).
pub fn session_cookie(id: Option<&str>, secure: bool) -> HeaderValue {
    console_cookie(SESSION_COOKIE, id, "/", None, secure)
}

/// Loads the visitor's session and, for a request that changes something, checks its
/// CSRF token: the form's `csrf` field or htmx's `X-CSRF-Token` header must be the
/// session's. A request without it is refused with a 403 page and nothing is done.
pub async fn visit(State(console): State<Arc<Console>>, request: Request, next: Next) -> Response {
    let (mut parts, body) = request.into_parts();
    let on = OnBehalf {
        client_ip: ClientIp::of(&parts.extensions, &parts.headers),
    };
    let session = match session_id(&parts.headers) {
        Some(id) => match console.load(&id, on).await {
            Ok(session) => session,
            Err(err) => {
                tracing::warn!(error = %err, "console session store unavailable");
                return PageError::Unavailable.into_response();
            }
        },
        None => None,
    };
    let reading = parts.method == Method::GET || parts.method == Method::HEAD;
    let visitor = Visitor {
        session,
        on,
        // Where a sign-in comes back to: this page, or for a form the page it was on
        // (its own path answers POST only).
        path: if reading {
            parts
                .uri
                .path_and_query()
                .map_or_else(|| "/".to_owned(), |pq| pq.as_str().to_owned())
        } else {
            came_from(&parts.headers)
        },
        htmx: parts.headers.contains_key("hx-request"),
    };
    let body = if reading {
        body
    } else {
        let Ok(bytes) = axum::body::to_bytes(body, MAX_FORM_BYTES).await else {
            return PageError::BadForm("the form is too large".into()).into_response();
        };
        let presented = parts
            .headers
            .get(CSRF_HEADER)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned)
            .or_else(|| {
                form_urlencoded::parse(&bytes)
                    .find(|(name, _)| name == CSRF_FIELD)
                    .map(|(_, value)| value.into_owned())
            })
            .unwrap_or_default();
        let genuine = visitor
            .session
            .as_ref()
            .is_some_and(|loaded| loaded.session.csrf_matches(&presented));
        if !genuine {
            tracing::info!(path = %parts.uri.path(), "form refused: CSRF token missing or wrong");
            return within_layout(PageError::Csrf.into_response(), &visitor);
        }
        Body::from(bytes)
    };
    parts.extensions.insert(visitor.clone());
    let response = next.run(Request::from_parts(parts, body)).await;
    within_layout(response, &visitor)
}

/// An error page rendered again within the layout of `visitor` (who is signed in, the
/// way back), keeping the answer's headers.
fn within_layout(mut response: Response, visitor: &Visitor) -> Response {
    let Some(view) = response.extensions_mut().remove::<ErrorView>() else {
        return response;
    };
    let mut again = view.render(Some(super::render::base(visitor)));
    for (name, value) in response.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            again.headers_mut().append(name.clone(), value.clone());
        }
    }
    again
}

impl Visitor {
    /// Sends `call` as this visitor (with their access token, if signed in).
    pub async fn send(
        &self,
        console: &Console,
        call: crate::app::Call<'_>,
    ) -> Result<crate::app::Answer, crate::app::ApiProblem> {
        console.api.send(call.bearer(self.token()), self.on).await
    }

    /// Sends `call` as this visitor and reads its answer as `T`; a refusal is the
    /// page's error (a 401 asks to sign in again and come back here).
    pub async fn ask<T: serde::de::DeserializeOwned>(
        &self,
        console: &Console,
        call: crate::app::Call<'_>,
        what: &str,
    ) -> Result<T, PageError> {
        let answer = self.send(console, call).await.map_err(|p| self.failed(p))?;
        answer.json(what).map_err(PageError::Api)
    }

    /// The page's error for the API's `problem`.
    pub fn failed(&self, problem: crate::app::ApiProblem) -> PageError {
        if problem.unauthorized() {
            PageError::SignIn(self.path.clone())
        } else {
            PageError::from(problem)
        }
    }
}

impl Visitor {
    /// Sends a form's `call`: its answer, or the refusal the form shows beside its
    /// fields (409 conflict, 422 invalid), or the page's error for any other.
    pub async fn submit(
        &self,
        console: &Console,
        call: crate::app::Call<'_>,
    ) -> Result<Result<crate::app::Answer, crate::app::ApiProblem>, PageError> {
        match self.send(console, call).await {
            Ok(answer) => Ok(Ok(answer)),
            Err(problem) if matches!(problem.status, 409 | 422) => Ok(Err(problem)),
            Err(problem) => Err(self.failed(problem)),
        }
    }
}
