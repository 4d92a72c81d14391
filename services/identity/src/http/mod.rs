//! Identity's HTTP surface: the Identity table of API.md, plus key rotation for admins.
//! One file per idea: accounts (`users`), signing in and sessions (`auth`), API keys
//! (`api_keys`), tenants (`tenants`), and the OAuth 2.0 / OIDC endpoints (`oauth`).
//!
//! Handlers turn bodies into domain values (every invalid field named in one 422),
//! call one [`IdentityApp`] operation, and shape the answer. OAuth 2.0 endpoints answer
//! errors as problem+json that also carry RFC 6749's `error` member.

mod api_keys;
mod auth;
mod oauth;
mod tenants;
mod users;

use axum::Router;
use axum::http::{StatusCode, header};
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use platform::auth::Authenticator;
use platform::http::{Json, Problem};

use crate::app::{IdentityApp, IdentityError, TokenPair};

#[derive(Clone)]
struct HttpState {
    app: IdentityApp,
    authenticator: Authenticator,
}

/// The routes, behind the authentication middleware.
pub fn router(app: IdentityApp, authenticator: Authenticator) -> Router {
    let state = HttpState {
        app,
        authenticator: authenticator.clone(),
    };
    Router::new()
        .merge(users::routes())
        .merge(auth::routes())
        .merge(api_keys::routes())
        .merge(tenants::routes())
        .merge(oauth::routes())
        .with_state(state)
        .layer(from_fn_with_state(
            authenticator,
            platform::auth::authenticate,
        ))
}

impl From<IdentityError> for Problem {
    fn from(err: IdentityError) -> Self {
        match err {
            IdentityError::EmailTaken => Problem::conflict("email-taken", err.to_string()),
            IdentityError::InvalidCredentials | IdentityError::InvalidRefreshToken => Problem::new(
                StatusCode::UNAUTHORIZED,
                "invalid-credentials",
                "Unauthorized",
                err.to_string(),
            ),
            IdentityError::InvalidMfaCode => Problem::new(
                StatusCode::UNAUTHORIZED,
                "invalid-mfa-code",
                "Unauthorized",
                err.to_string(),
            ),
            IdentityError::InvalidClient => Problem::new(
                StatusCode::UNAUTHORIZED,
                "invalid-client",
                "Unauthorized",
                err.to_string(),
            )
            .with("error", "invalid_client"),
            IdentityError::MfaRequired(token) => Problem::new(
                StatusCode::UNAUTHORIZED,
                "mfa-required",
                "One-time code required",
                "a one-time code is required",
            )
            .with("mfa_token", token),
            IdentityError::Locked {
                until,
                retry_after_secs,
            } => Problem::new(
                StatusCode::LOCKED,
                "account-locked",
                "Account locked",
                "too many failed sign-in attempts; try again later",
            )
            .with("locked_until", platform::time::rfc3339(until))
            .with_retry_after(retry_after_secs),
            IdentityError::TooManyFailures { retry_after_secs } => Problem::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too-many-failed-sign-ins",
                "Too many failed sign-ins",
                "too many failed sign-in attempts from this address; try again later",
            )
            .with_retry_after(retry_after_secs),
            IdentityError::WrongCurrentPassword => {
                Problem::invalid_field("current_password", "is incorrect")
            }
            IdentityError::MfaAlreadyEnabled => Problem::conflict("mfa-enabled", err.to_string()),
            IdentityError::MfaNotStarted => Problem::conflict("mfa-not-started", err.to_string()),
            IdentityError::LastAdmin => Problem::conflict("last-admin", err.to_string()),
            IdentityError::NotFound(what) => Problem::not_found(what),
            IdentityError::Forbidden(why) | IdentityError::UnauthorizedClient(why) => {
                Problem::forbidden(why)
            }
            IdentityError::Hash(_) | IdentityError::Sql(_) => Problem::unexpected(&err),
        }
    }
}

type ApiResult<T> = Result<T, Problem>;

/// A token response: never cached (RFC 6749 section 5.1).
fn tokens(pair: TokenPair) -> Response {
    (
        [
            (header::CACHE_CONTROL, "no-store"),
            (header::PRAGMA, "no-cache"),
        ],
        Json(pair),
    )
        .into_response()
}
