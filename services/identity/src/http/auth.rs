//! Signing in and sessions: email and password, the MFA step, refreshing the token
//! pair and signing out. Sign-ins name the caller's address and user agent
//! ([`RequestOrigin`]): the guard against password guessing counts failures against
//! the address, and the authentication log records both. The seeds' paths for the same
//! operations (`aliases`) call these handlers.

use axum::extract::State;
use axum::response::Response;
use platform::auth::Principal;
use platform::http::api::{ApiRouter, problems, routes};
use platform::http::{Json, Problem, no_content};
use serde::Deserialize;
use utoipa::ToSchema;

use super::{ApiResult, HttpState, RequestOrigin, tokens};
use crate::app::{IdentityError, TokenPair};

/// `/auth/...`.
pub(super) fn api() -> ApiRouter<HttpState> {
    ApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(login_mfa))
        .routes(routes!(refresh))
        .routes(routes!(logout))
}

/// Longest email a sign-in reads, in bytes; longer is a wrong one, answered at once.
const MAX_LOGIN_EMAIL_BYTES: usize = 1024;
/// Longest password a sign-in reads, in bytes; longer is a wrong one, answered at once
/// (argon2 over megabytes of input is a denial-of-service lever).
const MAX_LOGIN_PASSWORD_BYTES: usize = 4096;

/// Email and password, and the TOTP code when the account has MFA on.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email": "ann@example.com", "password": "correct horse battery"}))]
pub(super) struct LoginBody {
    /// The account's email (case and surrounding spaces do not matter).
    #[schema(max_length = 1024)]
    email: String,
    /// The password.
    #[schema(max_length = 4096)]
    password: String,
    /// The current code of the account's authenticator app, when MFA is on; without
    /// it such a sign-in answers 401 `mfa-required` with an `mfa_token`.
    #[serde(default)]
    totp_code: Option<String>,
}

/// Signs in with email and password: an access token and a refresh token.
#[utoipa::path(
    post,
    path = "/api/v1/auth/login",
    request_body = LoginBody,
    responses(
        (status = 200, description = "Signed in", body = TokenPair,
            headers(("Cache-Control" = String, description = "`no-store`"))),
        (status = 401, description = "Wrong email or password (`invalid-credentials`), a wrong \
            one-time code (`invalid-mfa-code`), or MFA is on and no code was given \
            (`mfa-required`, with an `mfa_token` for `POST /api/v1/auth/mfa`).",
            body = Problem, content_type = "application/problem+json"),
        problems::Invalid, problems::Locked,
        (status = 429, description = "Too many failed sign-ins from this address.",
            body = Problem, content_type = "application/problem+json",
            headers(("Retry-After" = u64, description = "Seconds until sign-ins are accepted again"))),
    ),
    security(()),
)]
#[tracing::instrument(skip_all)]
pub(super) async fn login(
    State(s): State<HttpState>,
    RequestOrigin(origin): RequestOrigin,
    Json(body): Json<LoginBody>,
) -> ApiResult<Response> {
    if body.email.len() > MAX_LOGIN_EMAIL_BYTES || body.password.len() > MAX_LOGIN_PASSWORD_BYTES {
        return Err(IdentityError::InvalidCredentials.into());
    }
    let pair = s
        .app
        .login(
            &body.email,
            &body.password,
            body.totp_code.as_deref(),
            &origin,
        )
        .await?;
    Ok(tokens(pair))
}

/// The second step of a sign-in with MFA.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"mfa_token": "eyJhbGciOiJFZERTQSIsInR5cCI6Im1mYStqd3QifQ...", "code": "123456"}))]
struct MfaLoginBody {
    /// The `mfa_token` of the `mfa-required` answer to the first step.
    mfa_token: String,
    /// The current code of the account's authenticator app.
    code: String,
}

/// Finishes a sign-in that answered `mfa-required`, with a one-time code.
#[utoipa::path(
    post,
    path = "/api/v1/auth/mfa",
    request_body = MfaLoginBody,
    responses(
        (status = 200, description = "Signed in", body = TokenPair,
            headers(("Cache-Control" = String, description = "`no-store`"))),
        (status = 401, description = "The MFA token is invalid or expired \
            (`invalid-credentials`), or the code is wrong or used (`invalid-mfa-code`).",
            body = Problem, content_type = "application/problem+json"),
        problems::Invalid, problems::Locked,
        (status = 429, description = "Too many failed sign-ins from this address.",
            body = Problem, content_type = "application/problem+json",
            headers(("Retry-After" = u64, description = "Seconds until sign-ins are accepted again"))),
    ),
    security(()),
)]
#[tracing::instrument(skip_all)]
async fn login_mfa(
    State(s): State<HttpState>,
    RequestOrigin(origin): RequestOrigin,
    Json(body): Json<MfaLoginBody>,
) -> ApiResult<Response> {
    let pair = s
        .app
        .login_with_mfa_token(&s.authenticator, &body.mfa_token, &body.code, &origin)
        .await?;
    Ok(tokens(pair))
}

/// A refresh token.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"refresh_token": "vrt_3q2-7wE..."}))]
pub(super) struct RefreshBody {
    /// The refresh token of the session's latest pair.
    refresh_token: String,
}

/// Exchanges a refresh token for a new pair.
///
/// The old refresh token is spent: presenting it again ends the whole session.
#[utoipa::path(
    post,
    path = "/api/v1/auth/refresh",
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
pub(super) async fn refresh(
    State(s): State<HttpState>,
    RequestOrigin(origin): RequestOrigin,
    Json(body): Json<RefreshBody>,
) -> ApiResult<Response> {
    Ok(tokens(s.app.refresh(&body.refresh_token, &origin).await?))
}

/// Signs out: ends the session the refresh token belongs to.
///
/// A token of someone else's, or an unknown one, changes nothing.
#[utoipa::path(
    post,
    path = "/api/v1/auth/logout",
    request_body = RefreshBody,
    responses(
        (status = 204, description = "Signed out"),
        problems::Unauthorized, problems::Invalid,
    ),
)]
#[tracing::instrument(skip_all)]
pub(super) async fn logout(
    State(s): State<HttpState>,
    caller: Principal,
    RequestOrigin(origin): RequestOrigin,
    Json(body): Json<RefreshBody>,
) -> ApiResult<Response> {
    s.app
        .revoke_refresh(&body.refresh_token, Some(&caller.subject), &origin)
        .await?;
    Ok(no_content())
}
