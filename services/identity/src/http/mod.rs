//! Identity's HTTP surface: the Identity table of API.md, plus key rotation for admins.
//! One file per idea: accounts (`users`), profiles an admin replaces and anyone sees
//! (`profiles`), signing in and sessions (`auth`), the authentication log
//! (`auth_log`), the seeds' paths served beside ours (`aliases`), API keys
//! (`api_keys`), tenants (`tenants`), loyalty points (`loyalty`), and the OAuth 2.0 /
//! OIDC endpoints (`oauth`).
//!
//! Handlers turn bodies into domain values (every invalid field named in one 422),
//! call one [`IdentityApp`] operation, and shape the answer. OAuth 2.0 endpoints answer
//! errors as problem+json that also carry RFC 6749's `error` member.

mod aliases;
mod api_keys;
mod auth;
mod auth_log;
mod authorize;
mod loyalty;
mod oauth;
mod profiles;
mod tenants;
mod users;

use std::convert::Infallible;
use std::net::IpAddr;

use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use platform::auth::Authenticator;
use platform::http::api::ApiRouter;
use platform::http::{ClientIp, Json, Problem};
use utoipa::openapi::schema::{ObjectBuilder, SchemaType, Type};

use crate::app::{IdentityApp, IdentityError, TokenPair};
use crate::domain::Origin;

/// What identity's handlers share: its operations, and the authenticator that checks
/// the MFA token of a sign-in's second step.
#[derive(Clone)]
pub struct HttpState {
    app: IdentityApp,
    authenticator: Authenticator,
}

/// The routes and their documentation, declared without values.
pub fn api() -> ApiRouter<HttpState> {
    ApiRouter::new()
        .merge(users::api())
        .merge(profiles::api())
        .merge(auth::api())
        .merge(auth_log::api())
        .merge(loyalty::api())
        .merge(aliases::api())
        .merge(api_keys::api())
        .merge(tenants::api())
        .merge(oauth::api())
        .merge(authorize::api())
}

/// The routes with the service's state, behind the authentication middleware.
pub fn router(app: IdentityApp, authenticator: Authenticator) -> Router {
    let state = HttpState {
        app,
        authenticator: authenticator.clone(),
    };
    let (routes, _) = api().split_for_parts();
    routes.with_state(state).layer(from_fn_with_state(
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

/// A display name's shape (of a user, an API key or a tenant; see
/// [`crate::domain::UserName`]): at least one character that is not a space, none a
/// control character (Unicode `Cc`, which is what the rule refuses).
const NAME_PATTERN: &str = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$";

/// The schema of a display name: 1 to 100 characters of [`NAME_PATTERN`].
fn name_builder() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(100))
        .pattern(Some(NAME_PATTERN))
        .description(Some(
            "1 to 100 characters, not only spaces, no control characters.",
        ))
}

/// A required display name (see [`name_builder`]).
fn name_schema() -> ObjectBuilder {
    name_builder()
}

/// An optional display name: null leaves the name as it is.
fn optional_name_schema() -> ObjectBuilder {
    name_builder().schema_type(SchemaType::from_iter([Type::String, Type::Null]))
}

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

/// Where a request came from: the client address ([`ClientIp`], which trusts a
/// forwarded address only from the gateway inside the cluster), as the guard's key and
/// as the authentication log records it, and the `User-Agent`.
pub(crate) struct RequestOrigin(pub(crate) Origin);

impl<S: Send + Sync> FromRequestParts<S> for RequestOrigin {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let client = ClientIp::of(&parts.extensions, &parts.headers);
        // An IPv4 client reached over IPv6 is shown as the IPv4 address it is.
        let ip = client.0.map(|ip| match ip {
            IpAddr::V6(v6) => v6
                .to_ipv4_mapped()
                .map_or_else(|| v6.to_string(), |v4| v4.to_string()),
            IpAddr::V4(v4) => v4.to_string(),
        });
        let user_agent = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|value| value.to_str().ok());
        Ok(Self(Origin::new(client.key(), ip, user_agent)))
    }
}
