//! Accounts: registering, the caller's own account (its profile: name, preferences,
//! phone and avatar), password and MFA enrolment, seeing and deleting users, and (for
//! admins) finding users, replacing their profile (`profiles`) and setting their roles.

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use platform::auth::Principal;
use platform::http::api::{ApiRouter, problems, routes};
use platform::http::{Fields, Json, List, PageQuery, Problem, Query, created, no_content};
use serde::{Deserialize, Serialize};
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};
use utoipa::openapi::{RefOr, Schema};
use utoipa::{IntoParams, ToSchema};

use super::profiles::{self, nullable, present};
use super::{ApiResult, HttpState, RequestOrigin, name_schema, optional_name_schema};
use crate::app::{IdentityError, POLICY, SELF_REGISTERED_ROLES};
use crate::domain::{
    AvatarUrl, Email, Password, Phone, Preferences, ProfileChange, Role, Roles, User, UserName,
    totp,
};

/// `/users/...`.
pub(super) fn api() -> ApiRouter<HttpState> {
    ApiRouter::new()
        .routes(routes!(register))
        .routes(routes!(me, update_me))
        .routes(routes!(change_password))
        .routes(routes!(mfa_enable))
        .routes(routes!(mfa_verify))
        .routes(routes!(search_users))
        .routes(routes!(get_user, delete_user, profiles::update_user))
        .routes(routes!(set_roles))
}

/// An email address's shape (see [`Email`]): a local part of up to 64 characters, `@`,
/// and a domain of dot-separated labels, without spaces or control characters.
const EMAIL_PATTERN: &str =
    r"^[^@\s\x00-\x1f\x7f-\x9f]{1,64}@[^@.\s\x00-\x1f\x7f-\x9f]+(\.[^@.\s\x00-\x1f\x7f-\x9f]+)+$";

/// The schema of a new account's email (see [`EMAIL_PATTERN`]).
pub(super) fn email_schema() -> impl Into<RefOr<Schema>> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .max_length(Some(254))
        .pattern(Some(EMAIL_PATTERN))
        .description(Some(
            "An email address no account has (case does not matter).",
        ))
}

/// The schema of a user's roles: the names of [`Role::ALL`], at least one, none twice
/// (utoipa's attributes cannot say `uniqueItems`).
fn roles_schema() -> impl Into<RefOr<Schema>> {
    ArrayBuilder::new()
        .items(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(Role::ALL.map(Role::as_str))),
        )
        .min_items(Some(1))
        .unique_items(true)
        .description(Some(
            "Roles: `customer`, `premium`, `admin`; at least one, none twice.",
        ))
}

/// 404 for a path id that cannot be a user's (ids are UUIDs), before any query: the
/// database need not see what a caller wrote there (PostgreSQL refuses a NUL in text).
pub(super) fn user_id(id: &str) -> ApiResult<()> {
    if platform::ids::is_uuid(id) {
        Ok(())
    } else {
        Err(Problem::not_found("user"))
    }
}

/// A user as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct UserView {
    /// Id.
    id: String,
    /// Email, normalised (trimmed, lowercase).
    email: String,
    /// Display name.
    name: String,
    /// Roles.
    #[schema(schema_with = roles_schema)]
    roles: Vec<String>,
    /// Free-form preferences (a JSON object of at most 16 KiB).
    #[schema(value_type = Object)]
    preferences: serde_json::Value,
    /// Phone number (E.164), or null.
    phone: Option<String>,
    /// Avatar image (`https` URL), or null.
    avatar_url: Option<String>,
    /// Whether sign-in needs a one-time code.
    mfa_enabled: bool,
    /// Creation, RFC 3339.
    created_at: String,
    /// Last change, RFC 3339.
    updated_at: String,
}

impl From<User> for UserView {
    fn from(user: User) -> Self {
        Self {
            id: user.id().to_owned(),
            email: user.email().as_str().to_owned(),
            name: user.name().as_str().to_owned(),
            roles: user.role_names(),
            preferences: user.preferences().to_value(),
            phone: user.phone().map(|p| p.as_str().to_owned()),
            avatar_url: user.avatar_url().map(|a| a.as_str().to_owned()),
            mfa_enabled: user.mfa().is_enabled(),
            created_at: platform::time::rfc3339(user.created_at()),
            updated_at: platform::time::rfc3339(user.updated_at()),
        }
    }
}

/// A new account.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email": "ann@example.com", "password": "correct horse battery", "name": "Ann"}))]
struct RegisterBody {
    /// An email address no account has (case does not matter).
    #[schema(schema_with = email_schema)]
    email: String,
    /// 10 to 256 characters.
    #[schema(min_length = 10, max_length = 256)]
    password: String,
    /// Display name.
    #[schema(schema_with = name_schema)]
    name: String,
}

impl RegisterBody {
    /// The account's email, password and name, or a 422 naming every bad field.
    fn try_into_domain(self) -> ApiResult<(Email, Password, UserName)> {
        let mut fields = Fields::default();
        let email = fields.check("email", Email::try_from(self.email));
        let password = fields.check("password", Password::try_from(self.password));
        let name = fields.check("name", UserName::try_from(self.name));
        match (email, password, name) {
            (Some(email), Some(password), Some(name)) => Ok((email, password, name)),
            _ => Err(fields.into_problem()),
        }
    }
}

/// Registers a customer account.
#[utoipa::path(
    post,
    path = "/api/v1/users",
    request_body = RegisterBody,
    responses(
        (status = 201, description = "Registered", body = UserView,
            headers(("Location" = String, description = "The new account"))),
        problems::Conflict, problems::Invalid,
    ),
    security(()),
)]
#[tracing::instrument(skip_all)]
async fn register(
    State(s): State<HttpState>,
    Json(body): Json<RegisterBody>,
) -> ApiResult<Response> {
    let (email, password, name) = body.try_into_domain()?;
    let user = s
        .app
        .register(email, password, name, SELF_REGISTERED_ROLES)
        .await?;
    Ok(created(
        &format!("/api/v1/users/{}", user.id()),
        UserView::from(user),
    ))
}

/// The caller's own account.
#[utoipa::path(
    get,
    path = "/api/v1/users/me",
    responses(
        (status = 200, description = "The account", body = UserView),
        problems::Unauthorized,
        (status = 404, description = "The caller is not a user (an API key).",
            body = Problem, content_type = "application/problem+json"),
    ),
)]
#[tracing::instrument(skip_all)]
async fn me(State(s): State<HttpState>, caller: Principal) -> ApiResult<Json<UserView>> {
    Ok(Json(s.app.me(&caller).await?.into()))
}

/// Changes to the caller's profile; what is absent stays, and so do a null name and
/// null preferences; a null phone or avatar clears it.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Ann Smith", "phone": "+14155550123", "preferences": {"newsletter": true, "language": "en"}}))]
struct UpdateMeBody {
    /// New display name.
    #[serde(default)]
    #[schema(schema_with = optional_name_schema)]
    name: Option<String>,
    /// New preferences, replacing the old: a JSON object of at most 16 KiB.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    preferences: Option<serde_json::Value>,
    /// New phone number in E.164 form (`+` and 8 to 15 digits, the first not 0); null
    /// clears it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, pattern = r"^\+[1-9][0-9]{7,14}$")]
    phone: Option<Option<String>>,
    /// New avatar image: an `https` URL of at most 2048 characters; null clears it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, max_length = 2048)]
    avatar_url: Option<Option<String>>,
}

impl UpdateMeBody {
    /// The change (each part optional), or a 422 naming every bad field.
    fn try_into_domain(self) -> ApiResult<ProfileChange> {
        let mut fields = Fields::default();
        let name = self
            .name
            .map(|n| fields.check("name", UserName::try_from(n)));
        let preferences = self
            .preferences
            .map(|p| fields.check("preferences", Preferences::try_from(p)));
        let phone = nullable(&mut fields, "phone", self.phone, Phone::try_from);
        let avatar_url = nullable(
            &mut fields,
            "avatar_url",
            self.avatar_url,
            AvatarUrl::try_from,
        );
        if !fields.is_ok() {
            return Err(fields.into_problem());
        }
        Ok(ProfileChange {
            email: None,
            name: name.flatten(),
            preferences: preferences.flatten(),
            phone,
            avatar_url,
        })
    }
}

/// Changes the caller's profile: name, preferences, phone and avatar.
#[utoipa::path(
    put,
    path = "/api/v1/users/me",
    request_body = UpdateMeBody,
    responses(
        (status = 200, description = "The account as changed", body = UserView),
        problems::Unauthorized,
        (status = 404, description = "The caller is not a user (an API key).",
            body = Problem, content_type = "application/problem+json"),
        problems::Invalid,
    ),
)]
#[tracing::instrument(skip_all)]
async fn update_me(
    State(s): State<HttpState>,
    caller: Principal,
    Json(body): Json<UpdateMeBody>,
) -> ApiResult<Json<UserView>> {
    let change = body.try_into_domain()?;
    let user = s.app.update_me(&caller, change).await?;
    Ok(Json(user.into()))
}

/// A password change.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"current_password": "correct horse battery", "new_password": "battery staple horse"}))]
struct ChangePasswordBody {
    /// The password now (a wrong one is a 422 naming this field).
    current_password: String,
    /// The new password: 10 to 256 characters.
    #[schema(min_length = 10, max_length = 256)]
    new_password: String,
}

/// Changes the caller's password and ends their other sessions.
#[utoipa::path(
    post,
    path = "/api/v1/users/me/password",
    request_body = ChangePasswordBody,
    responses(
        (status = 204, description = "Changed"),
        problems::Unauthorized,
        (status = 404, description = "The caller is not a user (an API key).",
            body = Problem, content_type = "application/problem+json"),
        problems::Invalid,
    ),
)]
#[tracing::instrument(skip_all)]
async fn change_password(
    State(s): State<HttpState>,
    caller: Principal,
    RequestOrigin(origin): RequestOrigin,
    Json(body): Json<ChangePasswordBody>,
) -> ApiResult<Response> {
    let new = Password::try_from(body.new_password)
        .map_err(|e| Problem::invalid_field("new_password", e.to_string()))?;
    s.app
        .change_password(&caller, &body.current_password, new, &origin)
        .await?;
    Ok(no_content())
}

/// A started MFA enrolment: the secret for the authenticator app.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "secret": "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP",
    "otpauth_url": "otpauth://totp/Viscount:ann%40example.com?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=Viscount&algorithm=SHA1&digits=6&period=30",
    "qr_svg": "<?xml version=\"1.0\" standalone=\"yes\"?><svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"245\" height=\"245\" viewBox=\"0 0 245 245\" shape-rendering=\"crispEdges\"><rect x=\"0\" y=\"0\" width=\"245\" height=\"245\" fill=\"#fff\"/><path fill=\"#000\" d=\"M20 20h35v5H20V20...\"/></svg>"
}))]
pub(super) struct MfaEnrolment {
    /// The TOTP secret, base32 (shown this once).
    secret: String,
    /// The same as an `otpauth://totp/...` URL (for a QR code).
    otpauth_url: String,
    /// `otpauth_url` as a QR code to scan: an SVG document (`image/svg+xml`), about
    /// 200px square with its quiet zone, error correction level M.
    qr_svg: String,
}

/// Starts MFA enrolment (again, until verified): a new TOTP secret, as text, as an
/// `otpauth://` URL and as a QR code of that URL.
#[utoipa::path(
    post,
    path = "/api/v1/users/me/mfa/enable",
    responses(
        (status = 200, description = "The secret to add to an authenticator app (typed, or scanned from `qr_svg`)", body = MfaEnrolment,
            headers(("Cache-Control" = String, description = "`no-store`"))),
        problems::Unauthorized,
        (status = 404, description = "The caller is not a user (an API key).",
            body = Problem, content_type = "application/problem+json"),
        problems::Conflict,
    ),
)]
#[tracing::instrument(skip_all)]
pub(super) async fn mfa_enable(
    State(s): State<HttpState>,
    caller: Principal,
) -> ApiResult<Response> {
    let (secret, otpauth_url) = s.app.mfa_enable(&caller).await?;
    // Only a URL past a QR code's capacity (over 2,000 bytes) fails: no real email
    // and issuer name come near it.
    let qr_svg = totp::otpauth_qr_svg(&otpauth_url).map_err(|e| Problem::unexpected(&e))?;
    // The secret is shown this once; no cache along the way may keep it.
    Ok((
        [(header::CACHE_CONTROL, "no-store")],
        Json(MfaEnrolment {
            secret,
            otpauth_url,
            qr_svg,
        }),
    )
        .into_response())
}

/// A one-time code from the authenticator app.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"code": "123456"}))]
struct CodeBody {
    /// The app's current code.
    code: String,
}

/// Finishes MFA enrolment with a code of the new secret; from then on sign-in needs one.
#[utoipa::path(
    post,
    path = "/api/v1/users/me/mfa/verify",
    request_body = CodeBody,
    responses(
        (status = 204, description = "MFA is on"),
        problems::Unauthorized,
        (status = 404, description = "The caller is not a user (an API key).",
            body = Problem, content_type = "application/problem+json"),
        problems::Conflict, problems::Invalid,
    ),
)]
#[tracing::instrument(skip_all)]
async fn mfa_verify(
    State(s): State<HttpState>,
    caller: Principal,
    RequestOrigin(origin): RequestOrigin,
    Json(body): Json<CodeBody>,
) -> ApiResult<Response> {
    match s.app.mfa_verify(&caller, &body.code, &origin).await {
        Ok(()) => Ok(no_content()),
        Err(IdentityError::InvalidMfaCode) => {
            Err(Problem::invalid_field("code", "is not the current code"))
        }
        Err(err) => Err(err.into()),
    }
}

/// A user: the caller's own account, or any for admins.
#[utoipa::path(
    get,
    path = "/api/v1/users/{id}",
    params(("id" = String, Path, description = "The user's id")),
    responses(
        (status = 200, description = "The user", body = UserView),
        problems::Unauthorized, problems::NotFound,
    ),
)]
#[tracing::instrument(skip_all)]
async fn get_user(
    State(s): State<HttpState>,
    caller: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<UserView>> {
    user_id(&id)?;
    Ok(Json(s.app.get_user(&caller, &id).await?.into()))
}

/// Deletes a user: the caller's own account, or any for admins.
///
/// The account's personal data is scrubbed and its sessions end.
#[utoipa::path(
    delete,
    path = "/api/v1/users/{id}",
    params(("id" = String, Path, description = "The user's id")),
    responses(
        (status = 204, description = "Deleted"),
        problems::Unauthorized, problems::NotFound,
    ),
)]
#[tracing::instrument(skip_all)]
async fn delete_user(
    State(s): State<HttpState>,
    caller: Principal,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    user_id(&id)?;
    s.app.delete_user(&caller, &id).await?;
    Ok(no_content())
}

/// A user's new roles.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"roles": ["customer", "premium"]}))]
struct RolesBody {
    /// The roles, replacing the old.
    #[schema(schema_with = roles_schema)]
    roles: Vec<String>,
}

impl RolesBody {
    /// The roles, or a 422 naming each unknown one (`roles[i]`), or `roles` when the
    /// list is empty or repeats one.
    fn try_into_domain(self) -> ApiResult<Roles> {
        let mut fields = Fields::default();
        let parsed: Vec<Option<Role>> = self
            .roles
            .iter()
            .enumerate()
            .map(|(i, name)| fields.check(&format!("roles[{i}]"), Role::try_from(name.as_str())))
            .collect();
        if !fields.is_ok() {
            return Err(fields.into_problem());
        }
        Roles::try_from(parsed.into_iter().flatten().collect::<Vec<_>>())
            .map_err(|e| Problem::invalid_field("roles", e.to_string()))
    }
}

/// Sets a user's roles (admins); the last admin cannot lose `admin`.
#[utoipa::path(
    put,
    path = "/api/v1/users/{id}/roles",
    params(("id" = String, Path, description = "The user's id")),
    request_body = RolesBody,
    responses(
        (status = 200, description = "The user with the new roles", body = UserView),
        problems::Unauthorized, problems::Forbidden, problems::NotFound, problems::Conflict,
        problems::Invalid,
    ),
)]
#[tracing::instrument(skip_all)]
async fn set_roles(
    State(s): State<HttpState>,
    caller: Principal,
    Path(id): Path<String>,
    Json(body): Json<RolesBody>,
) -> ApiResult<Json<UserView>> {
    // Who may change roles is answered before what the body says.
    POLICY.require_manage(&caller)?;
    user_id(&id)?;
    let roles = body.try_into_domain()?;
    Ok(Json(s.app.set_roles(&caller, &id, roles).await?.into()))
}

/// `GET /api/v1/users/search` query: the text to find plus paging.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct SearchQuery {
    /// Text the email or the name contains (all users when empty or absent).
    #[serde(default)]
    #[param(max_length = 200, pattern = r"^[^\x00-\x1f\x7f-\x9f]*$")]
    q: String,
    /// Items per page, 1 to 100 (20 when absent).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
    /// Where the previous page ended (its `next_cursor`).
    cursor: Option<String>,
}

/// Finds users by email or name (admins).
#[utoipa::path(
    get,
    path = "/api/v1/users/search",
    params(SearchQuery),
    responses(
        (status = 200, description = "One page of users", body = List<UserView>),
        problems::Unauthorized, problems::Forbidden, problems::Invalid,
    ),
)]
#[tracing::instrument(skip_all)]
async fn search_users(
    State(s): State<HttpState>,
    caller: Principal,
    Query(query): Query<SearchQuery>,
) -> ApiResult<Json<List<UserView>>> {
    POLICY.require_manage(&caller)?;
    if query.q.chars().count() > 200 {
        return Err(Problem::invalid_field(
            "q",
            "must be at most 200 characters",
        ));
    }
    if query.q.chars().any(char::is_control) {
        // No email or name holds one, and PostgreSQL refuses a NUL in text.
        return Err(Problem::invalid_field(
            "q",
            "must not contain control characters",
        ));
    }
    let page = PageQuery {
        limit: query.limit,
        cursor: query.cursor,
    }
    .page()?;
    let rows = s
        .app
        .search_users(query.q.trim(), page.after.as_deref(), page.fetch_limit())
        .await?;
    let list = List::from_rows(rows, &page, |u| u.id().to_owned());
    Ok(Json(List {
        items: list.items.into_iter().map(UserView::from).collect(),
        next_cursor: list.next_cursor,
    }))
}
