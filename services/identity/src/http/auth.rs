//! Signing in and sessions: email and password, the MFA step, refreshing the token
//! pair and signing out. Sign-ins name the caller's address ([`ClientIp`]), which the
//! guard against password guessing counts failures against.

use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::post;
use platform::auth::Principal;
use platform::http::{ClientIp, Json, no_content};
use serde::Deserialize;

use super::{ApiResult, HttpState, tokens};
use crate::app::IdentityError;

/// `/auth/...`.
pub(super) fn routes() -> Router<HttpState> {
    Router::new()
        .route("/api/v1/auth/login", post(login))
        .route("/api/v1/auth/mfa", post(login_mfa))
        .route("/api/v1/auth/refresh", post(refresh))
        .route("/api/v1/auth/logout", post(logout))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginBody {
    email: String,
    password: String,
    #[serde(default)]
    totp_code: Option<String>,
}

#[tracing::instrument(skip_all)]
async fn login(
    State(s): State<HttpState>,
    client: ClientIp,
    Json(body): Json<LoginBody>,
) -> ApiResult<Response> {
    if body.email.len() > 1024 || body.password.len() > 4096 {
        return Err(IdentityError::InvalidCredentials.into());
    }
    let pair = s
        .app
        .login(
            &body.email,
            &body.password,
            body.totp_code.as_deref(),
            &client.key(),
        )
        .await?;
    Ok(tokens(pair))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MfaLoginBody {
    mfa_token: String,
    code: String,
}

#[tracing::instrument(skip_all)]
async fn login_mfa(
    State(s): State<HttpState>,
    client: ClientIp,
    Json(body): Json<MfaLoginBody>,
) -> ApiResult<Response> {
    let pair = s
        .app
        .login_with_mfa_token(&s.authenticator, &body.mfa_token, &body.code, &client.key())
        .await?;
    Ok(tokens(pair))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RefreshBody {
    refresh_token: String,
}

#[tracing::instrument(skip_all)]
async fn refresh(State(s): State<HttpState>, Json(body): Json<RefreshBody>) -> ApiResult<Response> {
    Ok(tokens(s.app.refresh(&body.refresh_token).await?))
}

#[tracing::instrument(skip_all)]
async fn logout(
    State(s): State<HttpState>,
    caller: Principal,
    Json(body): Json<RefreshBody>,
) -> ApiResult<Response> {
    s.app
        .revoke_refresh(&body.refresh_token, Some(&caller.subject))
        .await?;
    Ok(no_content())
}
