//! The sign-in round trip: `/auth/login` sends the browser to identity's sign-in page
//! (authorization code flow, PKCE S256, state bound to this browser by a cookie),
//! `/auth/callback` takes the code back and starts a session, `/auth/logout` ends it.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use http::{HeaderValue, StatusCode, header};
use serde::Deserialize;

use super::render::{PageError, error_page_with_retry};
use super::visitor::{Visitor, console_cookie, cookie_value, session_cookie};
use crate::app::{Console, SignInError};
use crate::domain::LoginError;

/// The cookie binding a sign-in's `state` to the browser that started it, so a code
/// sent to someone else's browser (login CSRF) is not accepted.
const LOGIN_COOKIE: &str = "vc_login";

#[derive(Deserialize)]
pub(super) struct LoginQuery {
    return_to: Option<String>,
    /// Set when this browser was sent to the issuer's name already.
    moved: Option<String>,
}

fn login_cookie(state: Option<&str>, secure: bool, ttl_secs: u64) -> HeaderValue {
    let ttl = time::Duration::seconds(i64::try_from(ttl_secs).unwrap_or(600));
    console_cookie(LOGIN_COOKIE, state, "/auth/", Some(ttl), secure)
}

/// `GET /auth/login`: to identity's sign-in page. A browser at another name of this
/// host (`localhost` for `127.0.0.1`) is first sent to the issuer's: identity sends it
/// back there, and its cookies must be the ones it left with.
#[tracing::instrument(skip_all)]
pub(super) async fn login(
    State(console): State<Arc<Console>>,
    visitor: Visitor,
    headers: http::HeaderMap,
    Query(query): Query<LoginQuery>,
) -> Result<Response, PageError> {
    let return_to = query.return_to.as_deref().unwrap_or("/");
    if visitor.user().is_some() {
        return Ok(Redirect::to(crate::domain::login::local_path(return_to)).into_response());
    }
    let issuer = console
        .provider(visitor.on)
        .await
        .map_err(PageError::Api)?
        .issuer
        .clone();
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let issuer_host = issuer
        .split("://")
        .nth(1)
        .and_then(|rest| rest.split('/').next());
    // Once only: behind a proxy that rewrites `Host` the names never agree.
    if query.moved.is_none()
        && let (Some(host), Some(issuer_host)) = (host, issuer_host)
        && !host.eq_ignore_ascii_case(issuer_host)
    {
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("return_to", crate::domain::login::local_path(return_to))
            .append_pair("moved", "1")
            .finish();
        return Ok(Redirect::to(&format!(
            "{}/auth/login?{query}",
            issuer.trim_end_matches('/')
        ))
        .into_response());
    }
    let (state, url) = console
        .begin_sign_in(return_to, visitor.on)
        .await
        .map_err(sign_in_failed)?;
    let mut response = Redirect::to(&url).into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        login_cookie(
            Some(&state),
            console.secure_cookies(visitor.on).await,
            console.settings.sign_in_ttl_secs,
        ),
    );
    Ok(response)
}

#[derive(Deserialize)]
pub(super) struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

fn sign_in_failed(err: SignInError) -> PageError {
    match err {
        SignInError::Api(problem) => PageError::Api(problem),
        SignInError::Store(_) => PageError::Unavailable,
        SignInError::Login(why) => {
            tracing::info!(error = %why, "console sign-in refused");
            PageError::BadForm(why.to_string())
        }
    }
}

/// `GET /auth/callback`: identity's answer.
#[tracing::instrument(skip_all)]
pub(super) async fn callback(
    State(console): State<Arc<Console>>,
    visitor: Visitor,
    headers: http::HeaderMap,
    Query(query): Query<CallbackQuery>,
) -> Result<Response, PageError> {
    let secure = console.secure_cookies(visitor.on).await;
    let clear = login_cookie(None, secure, 0);
    if let Some(error) = query.error {
        // The page says what the code means in the console's own words: the
        // description is whatever the link carried, which anyone can write.
        let detail = match error.as_str() {
            "access_denied" => "The sign-in was cancelled.",
            "invalid_request" | "unsupported_response_type" | "invalid_scope" => {
                "The sign-in request was not accepted. Try again from the shop."
            }
            "temporarily_unavailable" | "server_error" => {
                "Signing in is not possible just now. Try again in a moment."
            }
            _ => "The sign-in did not complete. Try again from the shop.",
        };
        let mut response = error_page_with_retry(
            StatusCode::BAD_REQUEST,
            "Sign-in not completed",
            detail,
            Some("/auth/login"),
        );
        response.headers_mut().append(header::SET_COOKIE, clear);
        return Ok(response);
    }
    let (Some(code), Some(state)) = (query.code, query.state) else {
        return Err(PageError::BadForm(
            "the sign-in answer lacks its code or state".into(),
        ));
    };
    let bound = cookie_value(&headers, LOGIN_COOKIE).is_some_and(|bound| bound == state);
    if !bound {
        return Err(sign_in_failed(SignInError::Login(LoginError::UnknownState)));
    }
    let (session, return_to) = console
        .finish_sign_in(&state, &code, visitor.on)
        .await
        .map_err(sign_in_failed)?;
    // The session this browser had before (anonymous) ends with the sign-in.
    if let Some(before) = &visitor.session {
        let _ = console
            .store
            .delete(crate::store::Record::Session, &before.id)
            .await;
    }
    let mut response = Redirect::to(&return_to).into_response();
    let headers = response.headers_mut();
    headers.append(
        header::SET_COOKIE,
        session_cookie(Some(&session.id), secure),
    );
    headers.append(header::SET_COOKIE, clear);
    Ok(response)
}

/// `POST /auth/logout`.
#[tracing::instrument(skip_all)]
pub(super) async fn logout(State(console): State<Arc<Console>>, visitor: Visitor) -> Response {
    if let Some(session) = &visitor.session
        && let Err(err) = console.sign_out(session, visitor.on).await
    {
        tracing::warn!(error = %err, "console session not forgotten at sign-out");
    }
    let mut response = Redirect::to("/").into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        session_cookie(None, console.secure_cookies(visitor.on).await),
    );
    response
}
