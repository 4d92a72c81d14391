//! Profiles beyond the caller's own: an admin replacing a user's profile
//! (`PUT /api/v1/users/{id}`, registered with the other methods of that path in
//! `users`), and the public profile anyone may see (name and avatar, nothing that
//! reaches or identifies the person otherwise). Also the parsing the profile's
//! optional parts share with `PUT /users/me`.

use axum::extract::{Path, State};
use platform::auth::Principal;
use platform::http::api::{ApiRouter, problems, routes};
use platform::http::{Fields, Json, Problem};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;

use super::users::{UserView, email_schema, user_id};
use super::{ApiResult, HttpState, name_schema};
use crate::app::POLICY;
use crate::domain::{AvatarUrl, Email, Phone, Preferences, ProfileChange, User, UserName};

/// `/users/{id}/public`.
pub(super) fn api() -> ApiRouter<HttpState> {
    ApiRouter::new().routes(routes!(public_profile))
}

/// A field that may be absent (`None`), null (`Some(None)`) or a value: serde reads
/// an absent field as the default (`None`) and anything present through this.
pub(super) fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// A nullable field's change, checked with `parse` (its error named `field` in
/// `fields`): absent stays (`None`), null clears (`Some(None)`).
pub(super) fn nullable<T, E: std::fmt::Display>(
    fields: &mut Fields,
    field: &str,
    raw: Option<Option<String>>,
    parse: impl FnOnce(String) -> Result<T, E>,
) -> Option<Option<T>> {
    match raw {
        None => None,
        Some(None) => Some(None),
        Some(Some(value)) => fields.check(field, parse(value)).map(Some),
    }
}

/// A user's whole editable profile, as an admin sets it.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "email": "ann@example.com",
    "name": "Ann Smith",
    "phone": "+14155550123",
    "avatar_url": "https://cdn.example.com/avatars/ann.png",
    "preferences": {"newsletter": true}
}))]
pub(super) struct UpdateUserBody {
    /// The email the user signs in with; one another account has is a 409.
    #[schema(schema_with = email_schema)]
    email: String,
    /// Display name.
    #[schema(schema_with = name_schema)]
    name: String,
    /// Phone number in E.164 form (`+` and 8 to 15 digits, the first not 0); absent or
    /// null clears it.
    #[serde(default)]
    #[schema(value_type = Option<String>, pattern = r"^\+[1-9][0-9]{7,14}$")]
    phone: Option<String>,
    /// Avatar image: an `https` URL of at most 2048 characters; absent or null clears
    /// it.
    #[serde(default)]
    #[schema(value_type = Option<String>, max_length = 2048)]
    avatar_url: Option<String>,
    /// Preferences, replacing the old: a JSON object of at most 16 KiB; absent or null
    /// is none (`{}`).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    preferences: Option<serde_json::Value>,
}

impl UpdateUserBody {
    /// The whole profile as a change that sets every part, or a 422 naming every bad
    /// field.
    fn try_into_domain(self) -> ApiResult<ProfileChange> {
        let mut fields = Fields::default();
        let email = fields.check("email", Email::try_from(self.email));
        let name = fields.check("name", UserName::try_from(self.name));
        let phone = nullable(&mut fields, "phone", Some(self.phone), Phone::try_from);
        let avatar_url = nullable(
            &mut fields,
            "avatar_url",
            Some(self.avatar_url),
            AvatarUrl::try_from,
        );
        let preferences = match self.preferences {
            None => Some(Preferences::empty()),
            Some(raw) => fields.check("preferences", Preferences::try_from(raw)),
        };
        if !fields.is_ok() {
            return Err(fields.into_problem());
        }
        Ok(ProfileChange {
            email,
            name,
            preferences,
            phone,
            avatar_url,
        })
    }
}

/// Replaces a user's profile (admins): email, name, phone, avatar and preferences.
///
/// Roles have their own path (`PUT /api/v1/users/{id}/roles`). Emits
/// `identity.user.updated.v1`.
#[utoipa::path(
    put,
    path = "/api/v1/users/{id}",
    params(("id" = String, Path, description = "The user's id")),
    request_body = UpdateUserBody,
    responses(
        (status = 200, description = "The user as changed", body = UserView),
        problems::Unauthorized, problems::Forbidden, problems::NotFound,
        (status = 409, description = "Another account has this email (`email-taken`).",
            body = Problem, content_type = "application/problem+json"),
        problems::Invalid,
    ),
)]
#[tracing::instrument(skip_all)]
pub(super) async fn update_user(
    State(s): State<HttpState>,
    caller: Principal,
    Path(id): Path<String>,
    Json(body): Json<UpdateUserBody>,
) -> ApiResult<Json<UserView>> {
    // Who may replace a profile is answered before what the body says.
    POLICY.require_manage(&caller)?;
    user_id(&id)?;
    let change = body.try_into_domain()?;
    Ok(Json(s.app.update_user(&caller, &id, change).await?.into()))
}

/// What anyone may see of a user.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "01936f0e-8f5a-7cc2-b1d4-6f1a2b3c4d5e",
    "name": "Ann Smith",
    "avatar_url": "https://cdn.example.com/avatars/ann.png"
}))]
struct PublicProfileView {
    /// Id.
    id: String,
    /// Display name.
    name: String,
    /// Avatar image (`https`), if the user has one.
    avatar_url: Option<String>,
}

impl From<User> for PublicProfileView {
    fn from(user: User) -> Self {
        Self {
            id: user.id().to_owned(),
            name: user.name().as_str().to_owned(),
            avatar_url: user.avatar_url().map(|a| a.as_str().to_owned()),
        }
    }
}

/// A user's public profile: id, name and avatar only (no email, phone or roles).
///
/// Needs no token. An unknown or deleted user is a 404.
#[utoipa::path(
    get,
    path = "/api/v1/users/{id}/public",
    params(("id" = String, Path, description = "The user's id")),
    responses(
        (status = 200, description = "The public profile", body = PublicProfileView),
        problems::NotFound,
    ),
    security(()),
)]
#[tracing::instrument(skip_all)]
async fn public_profile(
    State(s): State<HttpState>,
    Path(id): Path<String>,
) -> ApiResult<Json<PublicProfileView>> {
    user_id(&id)?;
    Ok(Json(s.app.public_profile(&id).await?.into()))
}
