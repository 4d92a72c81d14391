//! The seeds' paths for operations we serve under our own (issue 21): each is an alias,
//! documented as one, whose handler is the canonical path's, so its behaviour, body,
//! answers and errors are the same by construction.
//!
//! - `POST /api/v1/users/authenticate` (seeds 002/003) = `POST /api/v1/auth/login`
//! - `POST /api/auth/login`, `/api/auth/refresh`, `/api/auth/logout` (seed 004) =
//!   `POST /api/v1/auth/login`, `/refresh`, `/logout`
//! - `POST /api/v1/users/{id}/mfa/enable` (seeds 002/003) =
//!   `POST /api/v1/users/me/mfa/enable`, for the caller's own id (or `me`) only: the
//!   secret is for the user's own authenticator app.

use axum::extract::{Path, State};
use axum::response::Response;
use platform::auth::Principal;
use platform::http::api::{ApiRouter, problems, routes};
use platform::http::{Json, Problem};

use super::auth::{self, LoginBody, RefreshBody};
use super::users::{self, MfaEnrolment};
use super::{ApiResult, HttpState, RequestOrigin};
use crate::app::TokenPair;

/// The aliases.
pub(super) fn api() -> ApiRouter<HttpState> {
    ApiRouter::new()
        .routes(routes!(authenticate))
        .routes(routes!(seed_login))
        .routes(routes!(seed_refresh))
        .routes(routes!(seed_logout))
        .routes(routes!(mfa_enable_for_user))
}

/// Signs in: an alias of `POST /api/v1/auth/login` (seeds 002/003).
///
/// Same body, answers, errors and lockout as `POST /api/v1/auth/login`.
#[utoipa::path(
    post,
    path = "/api/v1/users/authenticate",
    request_body = LoginBody,
    responses(
        (status = 200, description = "Signed in", body = TokenPair,
            headers(("Cache-Control" = String, description = "`no-store`"))),
        (status = 401, description = "As `POST /api/v1/auth/login`: `invalid-credentials`, \
            `invalid-mfa-code` or `mfa-required` (with an `mfa_token`).",
            body = Problem, content_type = "application/problem+json"),
        problems::Invalid, problems::Locked,
        (status = 429, description = "Too many failed sign-ins from this address.",
            body = Problem, content_type = "application/problem+json",
            headers(("Retry-After" = u64, description = "Seconds until sign-ins are accepted again"))),
    ),
    security(()),
)]
#[tracing::instrument(skip_all)]
async fn authenticate(
    state: State<HttpState>,
    origin: RequestOrigin,
    body: Json<LoginBody>,
) -> ApiResult<Response> {
    auth::login(state, origin, body).await
}

/// Signs in: an alias of `POST /api/v1/auth/login` (seed 004).
///
/// Same body, answers, errors and lockout as `POST /api/v1/auth/login`.
#[utoipa::path(
    post,
    path = "/api/auth/login",
    request_body = LoginBody,
    responses(
        (status = 200, description = "Signed in", body = TokenPair,
            headers(("Cache-Control" = String, description = "`no-store`"))),
        (status = 401, description = "As `POST /api/v1/auth/login`: `invalid-credentials`, \
            `invalid-mfa-code` or `mfa-required` (with an `mfa_token`).",
            body = Problem, content_type = "application/problem+json"),
        problems::Invalid, problems::Locked,
        (status = 429, description = "Too many failed sign-ins from this address.",
            body = Problem, content_type = "application/problem+json",
            headers(("Retry-After" = u64, description = "Seconds until sign-ins are accepted again"))),
    ),
    security(()),
)]
#[tracing::instrument(skip_all)]
async fn seed_login(
    state: State<HttpState>,
    origin: RequestOrigin,
    body: Json<LoginBody>,
) -> ApiResult<Response> {
    auth::login(state, origin, body).await
}

/// Exchanges a refresh token for a new pair: an alias of `POST /api/v1/auth/refresh`
/// (seed 004).
///
/// The old refresh token is spent: presenting it again ends the whole session.
#[utoipa::path(
    post,
    path = "/api/auth/refresh",
    request_body = RefreshBody,
    responses(
        (status = 200, description = "A new pair", body = TokenPair,
            headers(("Cache-Control" = String, description = "`no-store`"))),
        (status = 401, description = "The refresh token is unknown, expired, revoked or \
            was used already (`invalid-credentials`).",
            body = Problem, content_type = "application/problem+json"),
        problems::Invalid,
    ),
    security(()),
)]
#[tracing::instrument(skip_all)]
async fn seed_refresh(
    state: State<HttpState>,
    origin: RequestOrigin,
    body: Json<RefreshBody>,
) -> ApiResult<Response> {
    auth::refresh(state, origin, body).await
}

/// Signs out: an alias of `POST /api/v1/auth/logout` (seed 004).
///
/// A token of someone else's, or an unknown one, changes nothing.
#[utoipa::path(
    post,
    path = "/api/auth/logout",
    request_body = RefreshBody,
    responses(
        (status = 204, description = "Signed out"),
        problems::Unauthorized, problems::Invalid,
    ),
)]
#[tracing::instrument(skip_all)]
async fn seed_logout(
    state: State<HttpState>,
    caller: Principal,
    origin: RequestOrigin,
    body: Json<RefreshBody>,
) -> ApiResult<Response> {
    auth::logout(state, caller, origin, body).await
}

/// Starts MFA enrolment: an alias of `POST /api/v1/users/me/mfa/enable` (seeds
/// 002/003) for the caller's own id.
///
/// `{id}` is the caller's own id or `me`; another user's is a 403 (the secret is for
/// the user's own authenticator app, so not even an admin starts it for someone else).
#[utoipa::path(
    post,
    path = "/api/v1/users/{id}/mfa/enable",
    params(("id" = String, Path, description = "The caller's own user id, or `me`")),
    responses(
        (status = 200, description = "The secret to add to an authenticator app (typed, or scanned from `qr_svg`)", body = MfaEnrolment,
            headers(("Cache-Control" = String, description = "`no-store`"))),
        problems::Unauthorized, problems::Forbidden,
        (status = 404, description = "The caller is not a user (an API key).",
            body = Problem, content_type = "application/problem+json"),
        problems::Conflict,
    ),
)]
#[tracing::instrument(skip_all)]
async fn mfa_enable_for_user(
    state: State<HttpState>,
    caller: Principal,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    if id != "me" && id != caller.subject {
        return Err(Problem::forbidden(
            "MFA can be enabled for the caller's own account only",
        ));
    }
    users::mfa_enable(state, caller).await
}
