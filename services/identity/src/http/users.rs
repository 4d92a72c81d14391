//! Accounts: registering, the caller's own account, password and MFA enrolment,
//! seeing and deleting users, and (for admins) finding users and setting their roles.

use axum::Router;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::{get, post, put};
use platform::auth::Principal;
use platform::http::{Fields, Json, List, PageQuery, Problem, Query, created, no_content};
use serde::{Deserialize, Serialize};

use super::{ApiResult, HttpState};
use crate::app::{IdentityError, POLICY, SELF_REGISTERED_ROLES};
use crate::domain::{Email, Password, Preferences, Role, Roles, User, UserName};

/// `/users/...`.
pub(super) fn routes() -> Router<HttpState> {
    Router::new()
        .route("/api/v1/users", post(register))
        .route("/api/v1/users/me", get(me).put(update_me))
        .route("/api/v1/users/me/password", post(change_password))
        .route("/api/v1/users/me/mfa/enable", post(mfa_enable))
        .route("/api/v1/users/me/mfa/verify", post(mfa_verify))
        .route("/api/v1/users/search", get(search_users))
        .route("/api/v1/users/{id}", get(get_user).delete(delete_user))
        .route("/api/v1/users/{id}/roles", put(set_roles))
}

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

impl From<User> for UserView {
    fn from(user: User) -> Self {
        Self {
            id: user.id().to_owned(),
            email: user.email().as_str().to_owned(),
            name: user.name().as_str().to_owned(),
            roles: user.role_names(),
            preferences: user.preferences().to_value(),
            mfa_enabled: user.mfa().is_enabled(),
            created_at: platform::time::rfc3339(user.created_at()),
            updated_at: platform::time::rfc3339(user.updated_at()),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RegisterBody {
    email: String,
    password: String,
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

impl UpdateMeBody {
    /// The new name and preferences (each optional), or a 422 naming every bad field.
    fn try_into_domain(self) -> ApiResult<(Option<UserName>, Option<Preferences>)> {
        let mut fields = Fields::default();
        let name = self
            .name
            .map(|n| fields.check("name", UserName::try_from(n)));
        let preferences = self
            .preferences
            .map(|p| fields.check("preferences", Preferences::try_from(p)));
        if fields.is_ok() {
            Ok((name.flatten(), preferences.flatten()))
        } else {
            Err(fields.into_problem())
        }
    }
}

#[tracing::instrument(skip_all)]
async fn update_me(
    State(s): State<HttpState>,
    caller: Principal,
    Json(body): Json<UpdateMeBody>,
) -> ApiResult<Json<UserView>> {
    let (name, preferences) = body.try_into_domain()?;
    let user = s.app.update_me(&caller, name, preferences).await?;
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
struct RolesBody {
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

#[tracing::instrument(skip_all)]
async fn set_roles(
    State(s): State<HttpState>,
    caller: Principal,
    Path(id): Path<String>,
    Json(body): Json<RolesBody>,
) -> ApiResult<Json<UserView>> {
    // Who may change roles is answered before what the body says.
    POLICY.require_manage(&caller)?;
    let roles = body.try_into_domain()?;
    Ok(Json(s.app.set_roles(&caller, &id, roles).await?.into()))
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
    POLICY.require_manage(&caller)?;
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
