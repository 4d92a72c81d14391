//! Identity's HTTP surface: the Identity table of API.md, plus key rotation for admins.
//!
//! Handlers turn bodies into domain values (every invalid field named in one 422),
//! call one [`IdentityApp`] operation, and shape the answer. OAuth 2.0 endpoints answer
//! errors as problem+json that also carry RFC 6749's `error` member.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use platform::auth::remote::Introspection;
use platform::auth::{Authenticator, Principal, ROLE_CUSTOMER};
use platform::http::{Fields, Form, Json, List, PageQuery, Problem, Query, created, no_content};
use serde::{Deserialize, Serialize};

use crate::app::{IdentityApp, IdentityError, TokenPair};
use crate::domain::{Email, Password, Preferences, Scopes, UserName};
use crate::store::{ApiKeyRecord, UserRecord};

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
        .route("/api/v1/users", post(register))
        .route("/api/v1/users/me", get(me).put(update_me))
        .route("/api/v1/users/me/password", post(change_password))
        .route("/api/v1/users/me/mfa/enable", post(mfa_enable))
        .route("/api/v1/users/me/mfa/verify", post(mfa_verify))
        .route("/api/v1/users/search", get(search_users))
        .route("/api/v1/users/{id}", get(get_user).delete(delete_user))
        .route("/api/v1/auth/login", post(login))
        .route("/api/v1/auth/mfa", post(login_mfa))
        .route("/api/v1/auth/refresh", post(refresh))
        .route("/api/v1/auth/logout", post(logout))
        .route("/api/v1/api-keys", post(create_api_key).get(list_api_keys))
        .route("/api/v1/api-keys/introspect", post(introspect_api_key))
        .route("/api/v1/api-keys/{id}", delete(delete_api_key))
        .route("/api/v1/signing-keys/rotate", post(rotate_keys))
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/.well-known/jwks.json", get(jwks))
        .route("/oauth2/token", post(token))
        .route("/oauth2/revoke", post(revoke))
        .route("/oauth2/userinfo", get(userinfo).post(userinfo))
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
            IdentityError::Locked(until) => {
                let now = platform::time::now_millis();
                let wait = u64::try_from((until - now).max(0) / 1000 + 1).unwrap_or(1);
                Problem::new(
                    StatusCode::LOCKED,
                    "account-locked",
                    "Account locked",
                    "too many failed sign-in attempts; try again later",
                )
                .with("locked_until", platform::time::rfc3339(until))
                .with_retry_after(wait)
            }
            IdentityError::WrongCurrentPassword => {
                Problem::invalid_field("current_password", "is incorrect")
            }
            IdentityError::MfaAlreadyEnabled => Problem::conflict("mfa-enabled", err.to_string()),
            IdentityError::MfaNotStarted => Problem::conflict("mfa-not-started", err.to_string()),
            IdentityError::NotFound(what) => Problem::not_found(what),
            IdentityError::Forbidden(why) => Problem::forbidden(why),
            IdentityError::Hash(_) | IdentityError::Sql(_) => Problem::unexpected(&err),
        }
    }
}

type ApiResult<T> = Result<T, Problem>;

/// A user as the API shows it.
#[derive(Debug, Serialize)]
struct UserView {
    id: String,
    email: String,
    name: String,
    roles: Vec<String>,
    preferences: serde_json::Value,
    mfa_enabled: bool,
    created_at: String,
    updated_at: String,
}

impl From<UserRecord> for UserView {
    fn from(user: UserRecord) -> Self {
        Self {
            id: user.id,
            email: user.email,
            name: user.name,
            roles: user.roles,
            preferences: user.preferences,
            mfa_enabled: user.mfa_enabled,
            created_at: platform::time::rfc3339(user.created_at),
            updated_at: platform::time::rfc3339(user.updated_at),
        }
    }
}

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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RegisterBody {
    email: String,
    password: String,
    name: String,
}

#[tracing::instrument(skip_all)]
async fn register(
    State(s): State<HttpState>,
    Json(body): Json<RegisterBody>,
) -> ApiResult<Response> {
    let mut fields = Fields::default();
    let email = fields.check("email", Email::try_from(body.email));
    let password = fields.check("password", Password::try_from(body.password));
    let name = fields.check("name", UserName::try_from(body.name));
    let (Some(email), Some(password), Some(name)) = (email, password, name) else {
        return Err(fields.into_problem());
    };
    let user = s
        .app
        .register(email, password, name, &[ROLE_CUSTOMER])
        .await?;
    Ok(created(
        &format!("/api/v1/users/{}", user.id),
        UserView::from(user),
    ))
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
async fn login(State(s): State<HttpState>, Json(body): Json<LoginBody>) -> ApiResult<Response> {
    if body.email.len() > 1024 || body.password.len() > 4096 {
        return Err(IdentityError::InvalidCredentials.into());
    }
    let pair = s
        .app
        .login(&body.email, &body.password, body.totp_code.as_deref())
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
    Json(body): Json<MfaLoginBody>,
) -> ApiResult<Response> {
    let pair = s
        .app
        .login_with_mfa_token(&s.authenticator, &body.mfa_token, &body.code)
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

#[tracing::instrument(skip_all)]
async fn me(State(s): State<HttpState>, caller: Principal) -> ApiResult<Json<UserView>> {
    Ok(Json(s.app.me(&caller).await?.into()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateMeBody {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    preferences: Option<serde_json::Value>,
}

#[tracing::instrument(skip_all)]
async fn update_me(
    State(s): State<HttpState>,
    caller: Principal,
    Json(body): Json<UpdateMeBody>,
) -> ApiResult<Json<UserView>> {
    let mut fields = Fields::default();
    let name = body
        .name
        .map(|n| fields.check("name", UserName::try_from(n)));
    let preferences = body
        .preferences
        .map(|p| fields.check("preferences", Preferences::try_from(p)));
    if !fields.is_ok() {
        return Err(fields.into_problem());
    }
    let user = s
        .app
        .update_me(&caller, name.flatten(), preferences.flatten())
        .await?;
    Ok(Json(user.into()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChangePasswordBody {
    current_password: String,
    new_password: String,
}

#[tracing::instrument(skip_all)]
async fn change_password(
    State(s): State<HttpState>,
    caller: Principal,
    Json(body): Json<ChangePasswordBody>,
) -> ApiResult<Response> {
    let new = Password::try_from(body.new_password)
        .map_err(|e| Problem::invalid_field("new_password", e.to_string()))?;
    s.app
        .change_password(&caller, &body.current_password, new)
        .await?;
    Ok(no_content())
}

#[derive(Serialize)]
struct MfaEnrolment {
    secret: String,
    otpauth_url: String,
}

#[tracing::instrument(skip_all)]
async fn mfa_enable(
    State(s): State<HttpState>,
    caller: Principal,
) -> ApiResult<Json<MfaEnrolment>> {
    let (secret, otpauth_url) = s.app.mfa_enable(&caller).await?;
    Ok(Json(MfaEnrolment {
        secret,
        otpauth_url,
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CodeBody {
    code: String,
}

#[tracing::instrument(skip_all)]
async fn mfa_verify(
    State(s): State<HttpState>,
    caller: Principal,
    Json(body): Json<CodeBody>,
) -> ApiResult<Response> {
    match s.app.mfa_verify(&caller, &body.code).await {
        Ok(()) => Ok(no_content()),
        Err(IdentityError::InvalidMfaCode) => {
            Err(Problem::invalid_field("code", "is not the current code"))
        }
        Err(err) => Err(err.into()),
    }
}

#[tracing::instrument(skip_all)]
async fn get_user(
    State(s): State<HttpState>,
    caller: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<UserView>> {
    Ok(Json(s.app.get_user(&caller, &id).await?.into()))
}

#[tracing::instrument(skip_all)]
async fn delete_user(
    State(s): State<HttpState>,
    caller: Principal,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    s.app.delete_user(&caller, &id).await?;
    Ok(no_content())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SearchQuery {
    #[serde(default)]
    q: String,
    limit: Option<u32>,
    cursor: Option<String>,
}

#[tracing::instrument(skip_all)]
async fn search_users(
    State(s): State<HttpState>,
    caller: Principal,
    Query(query): Query<SearchQuery>,
) -> ApiResult<Json<List<UserView>>> {
    caller.require_admin()?;
    if query.q.chars().count() > 200 {
        return Err(Problem::invalid_field(
            "q",
            "must be at most 200 characters",
        ));
    }
    let page = PageQuery {
        limit: query.limit,
        cursor: query.cursor,
    }
    .page()?;
    let rows = crate::store::search_users(
        s.app.db.reader(),
        query.q.trim(),
        page.after.as_deref(),
        page.fetch_limit(),
    )
    .await
    .map_err(|e| Problem::unexpected(&e))?;
    let list = List::from_rows(rows, &page, |u| u.id.clone());
    Ok(Json(List {
        items: list.items.into_iter().map(UserView::from).collect(),
        next_cursor: list.next_cursor,
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ApiKeyBody {
    name: String,
    scopes: Vec<String>,
}

#[derive(Serialize)]
struct ApiKeyView {
    id: String,
    name: String,
    scopes: Vec<String>,
    created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<String>,
}

impl ApiKeyView {
    fn new(record: ApiKeyRecord, key: Option<String>) -> Self {
        Self {
            id: record.id,
            name: record.name,
            scopes: record.scopes,
            created_at: platform::time::rfc3339(record.created_at),
            key,
        }
    }
}

#[tracing::instrument(skip_all)]
async fn create_api_key(
    State(s): State<HttpState>,
    caller: Principal,
    Json(body): Json<ApiKeyBody>,
) -> ApiResult<Response> {
    caller.require_admin()?;
    let mut fields = Fields::default();
    let name = fields.check("name", UserName::try_from(body.name));
    let scopes = fields.check("scopes", Scopes::try_from(body.scopes));
    let (Some(name), Some(scopes)) = (name, scopes) else {
        return Err(fields.into_problem());
    };
    let created_key = s.app.create_api_key(&caller, name, scopes).await?;
    let location = format!("/api/v1/api-keys/{}", created_key.record.id);
    let mut response = created(
        &location,
        ApiKeyView::new(created_key.record, Some(created_key.key)),
    );
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

#[tracing::instrument(skip_all)]
async fn list_api_keys(
    State(s): State<HttpState>,
    caller: Principal,
    Query(query): Query<PageQuery>,
) -> ApiResult<Json<List<ApiKeyView>>> {
    caller.require_admin()?;
    let page = query.page()?;
    let rows =
        crate::store::list_api_keys(s.app.db.reader(), page.after.as_deref(), page.fetch_limit())
            .await
            .map_err(|e| Problem::unexpected(&e))?;
    let list = List::from_rows(rows, &page, |k| k.id.clone());
    Ok(Json(List {
        items: list
            .items
            .into_iter()
            .map(|k| ApiKeyView::new(k, None))
            .collect(),
        next_cursor: list.next_cursor,
    }))
}

#[tracing::instrument(skip_all)]
async fn delete_api_key(
    State(s): State<HttpState>,
    caller: Principal,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    caller.require_admin()?;
    s.app.delete_api_key(&id).await?;
    Ok(no_content())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IntrospectBody {
    key: String,
}

/// Lets other services check an API key they were shown. Holding the key is the
/// authority to learn what it grants, so the call needs no other credential.
#[tracing::instrument(skip_all)]
async fn introspect_api_key(
    State(s): State<HttpState>,
    Json(body): Json<IntrospectBody>,
) -> ApiResult<Json<Introspection>> {
    let principal = s.app.resolve_api_key(&body.key).await?;
    Ok(Json(match principal {
        Some(p) => Introspection {
            active: true,
            id: Some(p.subject),
            scopes: p.scopes,
        },
        None => Introspection {
            active: false,
            id: None,
            scopes: Vec::new(),
        },
    }))
}

#[tracing::instrument(skip_all)]
async fn rotate_keys(
    State(s): State<HttpState>,
    caller: Principal,
) -> ApiResult<Json<serde_json::Value>> {
    caller.require_admin()?;
    let kid = s
        .app
        .keys
        .rotate()
        .await
        .map_err(|e| Problem::unexpected(&e))?;
    Ok(Json(serde_json::json!({ "kid": kid })))
}

async fn discovery(State(s): State<HttpState>) -> Json<serde_json::Value> {
    let issuer = s.app.config.tokens.issuer.trim_end_matches('/').to_owned();
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
        Json(serde_json::json!({ "keys": s.app.keys.jwks().await })),
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
                .login(&username, &password, form.totp_code.as_deref())
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
        "sub": user.id,
        "email": user.email,
        "email_verified": false,
        "name": user.name,
        "roles": user.roles,
    })))
}
