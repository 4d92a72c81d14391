//! The OAuth 2.0 and OIDC endpoints: discovery, the JWKS and (for admins) rotating
//! the key behind it, the token endpoint (password, refresh token and client
//! credentials grants), revocation and userinfo. The password grant is a sign-in like
//! `/api/v1/auth/login`, under the same guard of the caller's address.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use platform::auth::Principal;
use platform::auth::jwt::Jwk;
use platform::http::api::{ApiRouter, problems, routes};
use platform::http::{Form, Json, Problem};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa::openapi::schema::{ObjectBuilder, Type};

use super::{ApiResult, HttpState, RequestOrigin, tokens};
use crate::app::{CodeExchange, ExchangeError, IdentityError, POLICY, TokenPair};
use crate::id_tokens::RsaJwk;

/// The well-known documents, `/oauth2/...` and the signing-key rotation.
pub(super) fn api() -> ApiRouter<HttpState> {
    ApiRouter::new()
        .routes(routes!(rotate_keys))
        .routes(routes!(discovery))
        .routes(routes!(jwks))
        .routes(routes!(token))
        .routes(routes!(revoke))
        .routes(routes!(userinfo, userinfo_post))
}

/// The signing key now in use.
#[derive(Serialize, ToSchema)]
struct RotatedKey {
    /// Its key id (`kid` of the tokens it signs and of its JWK).
    kid: String,
}

/// Rotates the signing key (admins).
///
/// Tokens signed with the retired key still verify until they expire.
#[utoipa::path(
    post,
    path = "/api/v1/signing-keys/rotate",
    responses(
        (status = 200, description = "Rotated", body = RotatedKey),
        problems::Unauthorized, problems::Forbidden,
    ),
)]
#[tracing::instrument(skip_all)]
async fn rotate_keys(State(s): State<HttpState>, caller: Principal) -> ApiResult<Json<RotatedKey>> {
    POLICY.require_manage(&caller)?;
    let kid = s
        .app
        .rotate_signing_key()
        .await
        .map_err(|e| Problem::unexpected(&e))?;
    Ok(Json(RotatedKey { kid }))
}

/// OpenID Connect discovery metadata (OpenID Connect Discovery 1.0, RFC 8414).
#[derive(Serialize, ToSchema)]
struct Discovery {
    /// The issuer tokens name (`iss`).
    issuer: String,
    /// Where the verification keys are.
    jwks_uri: String,
    /// The authorization endpoint (code flow with PKCE).
    authorization_endpoint: String,
    /// The token endpoint.
    token_endpoint: String,
    /// The revocation endpoint (RFC 7009).
    revocation_endpoint: String,
    /// The userinfo endpoint.
    userinfo_endpoint: String,
    /// `authorization_code`, `password`, `refresh_token`, `client_credentials`.
    #[schema(value_type = Vec<String>)]
    grant_types_supported: &'static [&'static str],
    /// `code`.
    #[schema(value_type = Vec<String>)]
    response_types_supported: &'static [&'static str],
    /// `query`.
    #[schema(value_type = Vec<String>)]
    response_modes_supported: &'static [&'static str],
    /// `S256`.
    #[schema(value_type = Vec<String>)]
    code_challenge_methods_supported: &'static [&'static str],
    /// `public`.
    #[schema(value_type = Vec<String>)]
    subject_types_supported: &'static [&'static str],
    /// `none` (public clients with PKCE), `client_secret_basic`, `client_secret_post`
    /// (API keys, client credentials).
    #[schema(value_type = Vec<String>)]
    token_endpoint_auth_methods_supported: &'static [&'static str],
    /// `RS256` (which OpenID Connect requires) and `EdDSA`.
    #[schema(value_type = Vec<String>)]
    id_token_signing_alg_values_supported: &'static [&'static str],
    /// `openid`, `profile`, `email`.
    #[schema(value_type = Vec<String>)]
    scopes_supported: &'static [&'static str],
    /// The claims tokens and userinfo carry.
    #[schema(value_type = Vec<String>)]
    claims_supported: &'static [&'static str],
}

/// The OpenID Connect discovery document.
#[utoipa::path(
    get,
    path = "/.well-known/openid-configuration",
    responses((status = 200, description = "The provider's metadata", body = Discovery)),
    security(()),
)]
async fn discovery(State(s): State<HttpState>) -> Json<Discovery> {
    let issuer = s.app.issuer().to_owned();
    Json(Discovery {
        jwks_uri: format!("{issuer}/.well-known/jwks.json"),
        authorization_endpoint: format!("{issuer}/oauth2/authorize"),
        token_endpoint: format!("{issuer}/oauth2/token"),
        revocation_endpoint: format!("{issuer}/oauth2/revoke"),
        userinfo_endpoint: format!("{issuer}/oauth2/userinfo"),
        issuer,
        grant_types_supported: &GRANT_TYPES,
        response_types_supported: &["code"],
        response_modes_supported: &["query"],
        code_challenge_methods_supported: &["S256"],
        subject_types_supported: &["public"],
        token_endpoint_auth_methods_supported: &[
            "none",
            "client_secret_basic",
            "client_secret_post",
        ],
        id_token_signing_alg_values_supported: &["RS256", "EdDSA"],
        scopes_supported: &["openid", "profile", "email"],
        claims_supported: &[
            "sub",
            "iss",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "nonce",
            "amr",
            "azp",
            "sid",
            "email",
            "name",
            "roles",
        ],
    })
}

/// A published verification key: an Ed25519 public key (RFC 8037) that access tokens
/// are signed with, or an RSA one (RFC 7518 6.3) that ID tokens are.
// Identity's own shape of the platform's [`Jwk`], which carries no schema.
#[derive(Serialize, ToSchema)]
struct JwkView {
    /// `OKP` or `RSA`.
    kty: String,
    /// `Ed25519` (OKP).
    #[serde(skip_serializing_if = "Option::is_none")]
    crv: Option<String>,
    /// The public key, base64url (OKP).
    #[serde(skip_serializing_if = "Option::is_none")]
    x: Option<String>,
    /// The modulus, base64url (RSA).
    #[serde(skip_serializing_if = "Option::is_none")]
    n: Option<String>,
    /// The public exponent, base64url (RSA).
    #[serde(skip_serializing_if = "Option::is_none")]
    e: Option<String>,
    /// Key id.
    kid: String,
    /// `EdDSA` or `RS256`.
    alg: String,
    /// `sig`.
    #[serde(rename = "use")]
    key_use: String,
}

impl From<Jwk> for JwkView {
    fn from(jwk: Jwk) -> Self {
        Self {
            kty: jwk.kty,
            crv: Some(jwk.crv),
            x: Some(jwk.x),
            n: None,
            e: None,
            kid: jwk.kid,
            alg: jwk.alg,
            key_use: jwk.key_use,
        }
    }
}

impl From<RsaJwk> for JwkView {
    fn from(jwk: RsaJwk) -> Self {
        Self {
            kty: "RSA".to_owned(),
            crv: None,
            x: None,
            n: Some(jwk.n),
            e: Some(jwk.e),
            kid: jwk.kid,
            alg: "RS256".to_owned(),
            key_use: "sig".to_owned(),
        }
    }
}

/// The JWK Set (RFC 7517).
#[derive(Serialize, ToSchema)]
struct Jwks {
    /// The keys tokens may be signed with now: the current one and those retired
    /// while tokens they signed are still valid.
    keys: Vec<JwkView>,
}

/// The keys tokens are verified with (JWKS).
///
/// Access tokens' Ed25519 keys first; ID tokens' RSA keys once one was made.
#[utoipa::path(
    get,
    path = "/.well-known/jwks.json",
    responses((status = 200, description = "The key set", body = Jwks,
        headers(("Cache-Control" = String, description = "`public, max-age=60`")))),
    security(()),
)]
async fn jwks(State(s): State<HttpState>) -> Response {
    let mut keys: Vec<JwkView> = s.app.jwks().await.into_iter().map(JwkView::from).collect();
    match s.app.id_token_jwks().await {
        Ok(rsa) => keys.extend(rsa.into_iter().map(JwkView::from)),
        // The access tokens' keys still verify what every service checks.
        Err(err) => tracing::warn!(error = %err, "the ID-token keys cannot be read"),
    }
    (
        [(header::CACHE_CONTROL, "public, max-age=60")],
        Json(Jwks { keys }),
    )
        .into_response()
}

/// The grants the token endpoint serves.
const GRANT_TYPES: [&str; 4] = [
    "authorization_code",
    "password",
    "refresh_token",
    "client_credentials",
];

/// The schema of `grant_type`: one of [`GRANT_TYPES`].
fn grant_type_schema() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(GRANT_TYPES))
        .description(Some(
            "`authorization_code` (with `code`, `redirect_uri`, `client_id` and \
             `code_verifier`), `password` (with `username`, `password`, and `totp_code` when MFA is on), \
             `refresh_token` (with `refresh_token`) or `client_credentials` (an API key's id \
             and key as `client_id` and `client_secret`, or in HTTP Basic authentication).",
        ))
}

/// RFC 6749 token request (form-encoded); parameters the grant does not use are ignored.
#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"grant_type": "password", "username": "ann@example.com", "password": "correct horse battery"}))]
struct TokenForm {
    /// The grant; absent is RFC 6749's `invalid_request`, not a form error.
    #[schema(schema_with = grant_type_schema, required = true)]
    grant_type: Option<String>,
    /// The account's email (`password`).
    #[schema(nullable = false)]
    username: Option<String>,
    /// The password (`password`).
    #[schema(nullable = false)]
    password: Option<String>,
    /// The one-time code, when the account has MFA on (`password`).
    #[schema(nullable = false)]
    totp_code: Option<String>,
    /// The refresh token (`refresh_token`).
    #[schema(nullable = false)]
    refresh_token: Option<String>,
    /// The code (`authorization_code`).
    #[schema(nullable = false)]
    code: Option<String>,
    /// The redirect URI the code was sent to (`authorization_code`).
    #[schema(nullable = false)]
    redirect_uri: Option<String>,
    /// The PKCE verifier (`authorization_code`).
    #[schema(nullable = false)]
    code_verifier: Option<String>,
    /// The API key's id (`client_credentials`, unless HTTP Basic is used).
    #[schema(nullable = false)]
    client_id: Option<String>,
    /// The API key (`client_credentials`, unless HTTP Basic is used).
    #[schema(nullable = false)]
    client_secret: Option<String>,
    /// Space-separated scopes to narrow the token to (`client_credentials`).
    #[schema(nullable = false)]
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

/// The OAuth 2.0 token endpoint.
///
/// Grants: password, refresh token and client credentials.
#[utoipa::path(
    post,
    path = "/oauth2/token",
    request_body(content = TokenForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Tokens (client credentials: no refresh token, and the \
            granted `scope`)", body = TokenPair,
            headers(("Cache-Control" = String, description = "`no-store`"),
                ("Pragma" = String, description = "`no-cache`"))),
        (status = 400, description = "An RFC 6749 error, named in `error`: `invalid_request` \
            (a parameter is missing), `unsupported_grant_type`, `invalid_grant` (wrong \
            credentials, a bad refresh token, or a one-time code is needed: then with an \
            `mfa_token`), `invalid_scope` or `unauthorized_client`.",
            body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`invalid_client`: the client credentials are missing or \
            wrong.", body = Problem, content_type = "application/problem+json"),
        problems::Invalid, problems::Locked,
        (status = 429, description = "Too many failed sign-ins from this address.",
            body = Problem, content_type = "application/problem+json",
            headers(("Retry-After" = u64, description = "Seconds until sign-ins are accepted again"))),
    ),
    security(()),
)]
#[tracing::instrument(skip_all)]
async fn token(
    State(s): State<HttpState>,
    RequestOrigin(origin): RequestOrigin,
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
    let grant_type = form.grant_type.ok_or_else(|| missing("grant_type"))?;
    let result = match grant_type.as_str() {
        "authorization_code" => {
            let client_id = form
                .client_id
                .or_else(|| basic_credentials(&headers).map(|(id, _)| id))
                .ok_or_else(|| missing("client_id"))?;
            let exchange = CodeExchange {
                code: form.code.as_deref().ok_or_else(|| missing("code"))?,
                client_id: &client_id,
                redirect_uri: form
                    .redirect_uri
                    .as_deref()
                    .ok_or_else(|| missing("redirect_uri"))?,
                // Absent is a wrong verifier (RFC 7636 4.6): `invalid_grant`.
                code_verifier: form.code_verifier.as_deref().unwrap_or(""),
            };
            return match s.app.exchange_code(&exchange, &origin).await {
                Ok(pair) => Ok(tokens(pair)),
                Err(ExchangeError::Refused(why)) => {
                    tracing::info!(refusal = ?why, "authorization code refused");
                    Err(oauth_error(
                        StatusCode::BAD_REQUEST,
                        "invalid_grant",
                        "the code is invalid, expired, used, or not this client's, or the \
                         code_verifier does not match",
                    ))
                }
                Err(ExchangeError::Signing(why)) => {
                    tracing::error!(error = %why, "cannot sign an ID token");
                    Err(Problem::unavailable("ID tokens cannot be signed now"))
                }
                Err(ExchangeError::Identity(err)) => Err(err.into()),
            };
        }
        "password" => {
            let username = form.username.ok_or_else(|| missing("username"))?;
            let password = form.password.ok_or_else(|| missing("password"))?;
            s.app
                .login(&username, &password, form.totp_code.as_deref(), &origin)
                .await
        }
        "refresh_token" => {
            let token = form.refresh_token.ok_or_else(|| missing("refresh_token"))?;
            s.app.refresh(&token, &origin).await
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
                "grant_type must be authorization_code, password, refresh_token or \
                 client_credentials",
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

/// RFC 7009 revocation request (form-encoded); `token_type_hint` is ignored.
#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"token": "vrt_3q2-7wE..."}))]
struct RevokeForm {
    /// The token to revoke; absent is RFC 6749's `invalid_request`, not a form error.
    #[schema(value_type = String, required = true)]
    token: Option<String>,
}

/// Revokes a token (RFC 7009).
///
/// A refresh token ends its session; anything else is accepted and changes nothing.
#[utoipa::path(
    post,
    path = "/oauth2/revoke",
    request_body(content = RevokeForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Revoked, or nothing to revoke (always, RFC 7009)"),
        (status = 400, description = "`invalid_request`: no `token`.",
            body = Problem, content_type = "application/problem+json"),
        problems::Invalid,
    ),
    security(()),
)]
#[tracing::instrument(skip_all)]
async fn revoke(
    State(s): State<HttpState>,
    RequestOrigin(origin): RequestOrigin,
    Form(form): Form<RevokeForm>,
) -> ApiResult<StatusCode> {
    let token = form.token.ok_or_else(|| {
        oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "`token` is required",
        )
    })?;
    // Access tokens are short-lived and self-contained; revoking one is a no-op, which
    // RFC 7009 allows. Refresh tokens end their whole session.
    s.app.revoke_refresh(&token, None, &origin).await?;
    Ok(StatusCode::OK)
}

/// The OpenID Connect claims of the signed-in user.
#[derive(Serialize, ToSchema)]
struct UserInfo {
    /// The user's id.
    sub: String,
    /// Email.
    email: String,
    /// Always false: emails are not verified yet.
    email_verified: bool,
    /// Display name.
    name: String,
    /// Roles.
    roles: Vec<String>,
}

/// The signed-in user's claims (OpenID Connect userinfo).
#[utoipa::path(
    get,
    path = "/oauth2/userinfo",
    responses(
        (status = 200, description = "The claims", body = UserInfo),
        problems::Unauthorized,
    ),
    security(("bearer" = [])),
)]
#[tracing::instrument(skip_all)]
async fn userinfo(State(s): State<HttpState>, caller: Principal) -> ApiResult<Json<UserInfo>> {
    user_info(&s, &caller).await
}

/// The signed-in user's claims (OpenID Connect userinfo, by POST).
#[utoipa::path(
    post,
    path = "/oauth2/userinfo",
    responses(
        (status = 200, description = "The claims", body = UserInfo),
        problems::Unauthorized,
    ),
    security(("bearer" = [])),
)]
#[tracing::instrument(skip_all)]
async fn userinfo_post(State(s): State<HttpState>, caller: Principal) -> ApiResult<Json<UserInfo>> {
    user_info(&s, &caller).await
}

/// The claims of `caller`, who must be a user (an API key's client is 401 here).
async fn user_info(s: &HttpState, caller: &Principal) -> ApiResult<Json<UserInfo>> {
    let user = match s.app.me(caller).await {
        Ok(user) => user,
        Err(IdentityError::NotFound(_)) => {
            return Err(Problem::unauthorized("the token does not belong to a user"));
        }
        Err(err) => return Err(err.into()),
    };
    Ok(Json(UserInfo {
        sub: user.id().to_owned(),
        email: user.email().as_str().to_owned(),
        email_verified: false,
        name: user.name().as_str().to_owned(),
        roles: user.role_names(),
    }))
}
