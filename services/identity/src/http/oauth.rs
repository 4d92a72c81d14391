//! The OAuth 2.0 and OIDC endpoints: discovery, the JWKS and (for admins) rotating
//! the key behind it, the token endpoint (password, refresh token and client
//! credentials grants), revocation and userinfo. The password grant is a sign-in like
//! `/api/v1/auth/login`, under the same guard of the caller's address.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use platform::auth::Principal;
use platform::http::{ClientIp, Form, Json, Problem};
use serde::Deserialize;

use super::{ApiResult, HttpState, tokens};
use crate::app::{IdentityError, POLICY};

/// The well-known documents, `/oauth2/...` and the signing-key rotation.
pub(super) fn routes() -> Router<HttpState> {
    Router::new()
        .route("/api/v1/signing-keys/rotate", post(rotate_keys))
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/.well-known/jwks.json", get(jwks))
        .route("/oauth2/token", post(token))
        .route("/oauth2/revoke", post(revoke))
        .route("/oauth2/userinfo", get(userinfo).post(userinfo))
}

#[tracing::instrument(skip_all)]
async fn rotate_keys(
    State(s): State<HttpState>,
    caller: Principal,
) -> ApiResult<Json<serde_json::Value>> {
    POLICY.require_manage(&caller)?;
    let kid = s
        .app
        .rotate_signing_key()
        .await
        .map_err(|e| Problem::unexpected(&e))?;
    Ok(Json(serde_json::json!({ "kid": kid })))
}

async fn discovery(State(s): State<HttpState>) -> Json<serde_json::Value> {
    let issuer = s.app.issuer().to_owned();
    Json(serde_json::json!({
        "issuer": issuer,
        "jwks_uri": format!("{issuer}/.well-known/jwks.json"),
        "token_endpoint": format!("{issuer}/oauth2/token"),
        "revocation_endpoint": format!("{issuer}/oauth2/revoke"),
        "userinfo_endpoint": format!("{issuer}/oauth2/userinfo"),
        "grant_types_supported": ["password", "refresh_token", "client_credentials"],
        "response_types_supported": ["token"],
        "subject_types_supported": ["public"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "id_token_signing_alg_values_supported": ["EdDSA"],
        "scopes_supported": ["openid", "profile", "email"],
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "email", "name", "roles"],
    }))
}

async fn jwks(State(s): State<HttpState>) -> Response {
    (
        [(header::CACHE_CONTROL, "public, max-age=60")],
        Json(serde_json::json!({ "keys": s.app.jwks().await })),
    )
        .into_response()
}

/// RFC 6749 token request (form-encoded).
#[derive(Deserialize)]
struct TokenForm {
    grant_type: String,
    username: Option<String>,
    password: Option<String>,
    totp_code: Option<String>,
    refresh_token: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    scope: Option<String>,
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Problem {
    Problem::new(status, &error.replace('_', "-"), "OAuth error", description)
        .with("error", error)
        .with("error_description", description)
}

fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = data_encoding::BASE64
        .decode(encoded.trim().as_bytes())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    Some((id.to_owned(), secret.to_owned()))
}

#[tracing::instrument(skip_all)]
async fn token(
    State(s): State<HttpState>,
    client: ClientIp,
    headers: HeaderMap,
    Form(form): Form<TokenForm>,
) -> ApiResult<Response> {
    let missing = |field: &str| {
        oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            &format!("`{field}` is required"),
        )
    };
    let result = match form.grant_type.as_str() {
        "password" => {
            let username = form.username.ok_or_else(|| missing("username"))?;
            let password = form.password.ok_or_else(|| missing("password"))?;
            s.app
                .login(
                    &username,
                    &password,
                    form.totp_code.as_deref(),
                    &client.key(),
                )
                .await
        }
        "refresh_token" => {
            let token = form.refresh_token.ok_or_else(|| missing("refresh_token"))?;
            s.app.refresh(&token).await
        }
        "client_credentials" => {
            let (id, secret) = match (form.client_id, form.client_secret) {
                (Some(id), Some(secret)) => (id, secret),
                _ => basic_credentials(&headers).ok_or_else(|| {
                    oauth_error(
                        StatusCode::UNAUTHORIZED,
                        "invalid_client",
                        "client authentication is required",
                    )
                })?,
            };
            s.app
                .client_credentials(&id, &secret, form.scope.as_deref())
                .await
        }
        _ => {
            return Err(oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "grant_type must be password, refresh_token or client_credentials",
            ));
        }
    };
    match result {
        Ok(pair) => Ok(tokens(pair)),
        Err(
            IdentityError::InvalidCredentials
            | IdentityError::InvalidRefreshToken
            | IdentityError::InvalidMfaCode,
        ) => Err(oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "the grant is invalid, expired or revoked",
        )),
        Err(IdentityError::Forbidden(why)) => {
            Err(oauth_error(StatusCode::BAD_REQUEST, "invalid_scope", why))
        }
        Err(IdentityError::UnauthorizedClient(why)) => Err(oauth_error(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            why,
        )),
        Err(IdentityError::MfaRequired(token)) => Err(oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "a one-time code is required (totp_code)",
        )
        .with("mfa_token", token)),
        Err(err) => Err(err.into()),
    }
}

#[derive(Deserialize)]
struct RevokeForm {
    token: String,
}

#[tracing::instrument(skip_all)]
async fn revoke(State(s): State<HttpState>, Form(form): Form<RevokeForm>) -> ApiResult<StatusCode> {
    // Access tokens are short-lived and self-contained; revoking one is a no-op, which
    // RFC 7009 allows. Refresh tokens end their whole session.
    s.app.revoke_refresh(&form.token, None).await?;
    Ok(StatusCode::OK)
}

#[tracing::instrument(skip_all)]
async fn userinfo(
    State(s): State<HttpState>,
    caller: Principal,
) -> ApiResult<Json<serde_json::Value>> {
    let user = s
        .app
        .me(&caller)
        .await
        .map_err(|_| Problem::unauthorized("the token does not belong to a user"))?;
    Ok(Json(serde_json::json!({
        "sub": user.id(),
        "email": user.email().as_str(),
        "email_verified": false,
        "name": user.name().as_str(),
        "roles": user.role_names(),
    })))
}
