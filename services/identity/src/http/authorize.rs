//! `/oauth2/authorize`: the OpenID Connect authorization endpoint with identity's own
//! sign-in page (password, then a one-time code when MFA is on), rendered on the server
//! from a template in the binary. A valid request shows the page; signing in sends the
//! browser to the client's redirect URI with a code (303). A request naming an unknown
//! client or redirect URI is answered here and never redirected (RFC 6749 4.1.2.1);
//! any other bad request goes back to the client as `error`.
//!
//! The page's errors are shown on the page with status 200: it is a form, and a status
//! of 400 or more would be rewritten into problem+json by the platform's error layer.
//! The page loads nothing (`default-src 'none'`), cannot be framed, and may post only
//! to itself and redirect only to the client's origin.

use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use platform::http::api::{ApiRouter, routes};
use platform::http::{Form, Problem};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::{ApiResult, HttpState, RequestOrigin};
use crate::app::IdentityError;
use crate::domain::oidc::{self, AuthorizationParams, AuthorizationRequest, RequestRefusal};

/// The sign-in page's template.
const SIGN_IN_PAGE: &str = include_str!("pages/sign_in.html");

/// `/oauth2/authorize`.
pub(super) fn api() -> ApiRouter<HttpState> {
    ApiRouter::new().routes(routes!(authorize_page, authorize_sign_in))
}

/// An authorization request (RFC 6749 4.1.1, OpenID Connect Core 3.1.2.1, RFC 7636).
#[derive(Debug, Clone, Default, Deserialize, IntoParams, ToSchema)]
#[into_params(parameter_in = Query)]
struct AuthorizeParams {
    /// `code`.
    response_type: Option<String>,
    /// A registered client (the console is `viscount-console`).
    client_id: Option<String>,
    /// One of the client's registered redirect URIs, exactly.
    redirect_uri: Option<String>,
    /// Space-separated; must include `openid` (`profile`, `email` are also served).
    scope: Option<String>,
    /// Returned with the code as given.
    state: Option<String>,
    /// Carried into the ID token as given.
    nonce: Option<String>,
    /// BASE64URL(SHA-256(code_verifier)).
    code_challenge: Option<String>,
    /// `S256`.
    code_challenge_method: Option<String>,
}

impl From<AuthorizeParams> for AuthorizationParams {
    fn from(p: AuthorizeParams) -> Self {
        Self {
            response_type: p.response_type,
            client_id: p.client_id,
            redirect_uri: p.redirect_uri,
            scope: p.scope,
            state: p.state,
            nonce: p.nonce,
            code_challenge: p.code_challenge,
            code_challenge_method: p.code_challenge_method,
        }
    }
}

/// The sign-in form: the request's parameters again, and the credentials (or, after
/// the password, the one-time code with the token of the pending sign-in).
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
struct SignInForm {
    #[serde(flatten)]
    request: AuthorizeParams,
    /// The account's email.
    email: Option<String>,
    /// The password.
    password: Option<String>,
    /// The pending sign-in (after the password, when MFA is on).
    mfa_token: Option<String>,
    /// The one-time code.
    totp_code: Option<String>,
}

/// The sign-in page of an authorization request.
///
/// Shown for a valid request; an unknown client or redirect URI is a 400 shown here,
/// anything else wrong is sent to the redirect URI as `error`.
#[utoipa::path(
    get,
    path = "/oauth2/authorize",
    params(AuthorizeParams),
    responses(
        (status = 200, description = "The sign-in page", content_type = "text/html", body = String),
        (status = 303, description = "Back to the client with `error` (and `state`)",
            headers(("Location" = String, description = "The client's redirect URI"))),
        (status = 400, description = "`invalid_request`: an unknown client or redirect URI, \
            never redirected to", body = Problem, content_type = "application/problem+json"),
    ),
    security(()),
)]
async fn authorize_page(
    State(s): State<HttpState>,
    Query(params): Query<AuthorizeParams>,
) -> ApiResult<Response> {
    let request = checked(&s, params.clone())?;
    Ok(match request {
        Ok(request) => page(&request, &params, &Page::default()),
        Err(refused) => refused,
    })
}

/// Signs in on the authorization page.
///
/// Right credentials send the browser to the client with a code (303); wrong ones, a
/// lock, or a needed one-time code show the page again.
#[utoipa::path(
    post,
    path = "/oauth2/authorize",
    request_body(content = SignInForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "The page again: an error, or the one-time code's step",
            content_type = "text/html", body = String),
        (status = 303, description = "Back to the client with `code` and `state` (or `error`)",
            headers(("Location" = String, description = "The client's redirect URI"))),
        (status = 400, description = "`invalid_request`: an unknown client or redirect URI",
            body = Problem, content_type = "application/problem+json"),
    ),
    security(()),
)]
#[tracing::instrument(skip_all)]
async fn authorize_sign_in(
    State(s): State<HttpState>,
    RequestOrigin(origin): RequestOrigin,
    Form(form): Form<SignInForm>,
) -> ApiResult<Response> {
    let request = match checked(&s, form.request.clone())? {
        Ok(request) => request,
        Err(refused) => return Ok(refused),
    };
    let signed_in = match (&form.mfa_token, &form.totp_code) {
        (Some(token), Some(code)) => {
            s.app
                .authorize_mfa(&s.authenticator, &request, token, code.trim(), &origin)
                .await
        }
        _ => {
            let email = form.email.as_deref().unwrap_or("");
            let password = form.password.as_deref().unwrap_or("");
            s.app
                .authorize_sign_in(&request, email, password, &origin)
                .await
        }
    };
    let again = |error: String, mfa_token: Option<String>| {
        let shown = Page {
            error: Some(error),
            email: form.email.clone().unwrap_or_default(),
            mfa_token,
        };
        Ok(page(&request, &form.request, &shown))
    };
    match signed_in {
        Ok(location) => Ok(see_other(&location)),
        Err(IdentityError::MfaRequired(token)) => {
            let shown = Page {
                error: None,
                email: String::new(),
                mfa_token: Some(token),
            };
            Ok(page(&request, &form.request, &shown))
        }
        Err(IdentityError::InvalidCredentials) if form.mfa_token.is_some() => {
            again("The sign-in has expired; start again.".to_owned(), None)
        }
        Err(IdentityError::InvalidCredentials) => {
            again("The email or password is wrong.".to_owned(), None)
        }
        Err(IdentityError::InvalidMfaCode) => again(
            "The one-time code is wrong.".to_owned(),
            form.mfa_token.clone(),
        ),
        Err(IdentityError::Locked {
            retry_after_secs, ..
        })
        | Err(IdentityError::TooManyFailures { retry_after_secs }) => again(
            format!(
                "Too many failed sign-ins: try again in {} minutes.",
                retry_after_secs.div_ceil(60).max(1)
            ),
            None,
        ),
        Err(err) => Err(err.into()),
    }
}

/// The request `params` make, or the answer refusing it (`Err` of the outer result
/// for one never redirected).
fn checked(
    s: &HttpState,
    params: AuthorizeParams,
) -> Result<Result<AuthorizationRequest, Response>, Problem> {
    match AuthorizationParams::from(params).validate(&s.app.oidc_clients()) {
        Ok(request) => Ok(Ok(request)),
        Err(RequestRefusal::NoRedirect(why)) => Err(Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid-request",
            "OAuth error",
            why,
        )
        .with("error", "invalid_request")
        .with("error_description", why)),
        Err(RequestRefusal::Redirect {
            redirect_uri,
            state,
            error,
            description,
        }) => {
            let mut params = vec![("error", error), ("error_description", description)];
            if let Some(state) = &state {
                params.push(("state", state));
            }
            Ok(Err(see_other(&oidc::with_query(&redirect_uri, &params))))
        }
    }
}

/// What the page shows besides the request.
#[derive(Default)]
struct Page {
    error: Option<String>,
    email: String,
    mfa_token: Option<String>,
}

/// The sign-in page for `request` (whose parameters, as sent, ride in the form).
fn page(request: &AuthorizationRequest, sent: &AuthorizeParams, shown: &Page) -> Response {
    let fields: [(&'static str, &Option<String>); 8] = [
        ("response_type", &sent.response_type),
        ("client_id", &sent.client_id),
        ("redirect_uri", &sent.redirect_uri),
        ("scope", &sent.scope),
        ("state", &sent.state),
        ("nonce", &sent.nonce),
        ("code_challenge", &sent.code_challenge),
        ("code_challenge_method", &sent.code_challenge_method),
    ];
    let hidden: Vec<(&'static str, String)> = fields
        .into_iter()
        .filter_map(|(name, value)| value.clone().map(|v| (name, v)))
        .collect();
    let mut env = minijinja::Environment::new();
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::Html);
    let html = env.render_str(
        SIGN_IN_PAGE,
        minijinja::context! {
            action => "/oauth2/authorize",
            request => hidden,
            error => shown.error.clone(),
            email => shown.email.clone(),
            mfa_token => shown.mfa_token.clone(),
        },
    );
    let html = match html {
        Ok(html) => html,
        Err(err) => {
            tracing::error!(error = %err, "the sign-in page does not render");
            return Problem::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "Internal error",
                "the sign-in page cannot be shown",
            )
            .into_response();
        }
    };
    let client_origin = url::Url::parse(&request.redirect_uri)
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_default();
    let policy = format!(
        "default-src 'none'; form-action 'self' {client_origin}; frame-ancestors 'none'; \
         base-uri 'none'"
    );
    let mut response = (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        html,
    )
        .into_response();
    if let Ok(policy) = HeaderValue::from_str(&policy) {
        response
            .headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, policy);
    }
    response
}

/// A 303 to `location`.
fn see_other(location: &str) -> Response {
    match HeaderValue::from_str(location) {
        Ok(location) => (
            StatusCode::SEE_OTHER,
            [
                (header::LOCATION, location),
                (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            ],
        )
            .into_response(),
        Err(_) => Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid-request",
            "OAuth error",
            "the redirect URI cannot be sent",
        )
        .into_response(),
    }
}
