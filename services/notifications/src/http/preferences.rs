//! A user's notification preferences: read them, and change any channel's address and
//! marketing setting (fields left out keep their value). Seed 003's notification service
//! calls them `/api/v1/users/{userId}/preferences`; that path answers the same.

use axum::extract::{Path, State};
use platform::auth::Principal;
use platform::http::api::{ApiRouter, problems, routes};
use platform::http::{Fields, Json};
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;
use utoipa::openapi::schema::{Object, ObjectBuilder, SchemaType, Type};

use super::{ApiResult, owned_user, present};
use crate::app::{NotificationsApp, PreferenceChange, Preferences};
use crate::domain::{self, Channel};

/// `GET` and `PUT` a user's preferences.
pub(super) fn api() -> ApiRouter<NotificationsApp> {
    ApiRouter::new()
        .routes(routes!(get_preferences, put_preferences))
        .routes(routes!(
            get_preferences_seed_alias,
            put_preferences_seed_alias
        ))
}

/// A user's preferences: every channel's address and marketing setting.
#[utoipa::path(
    get,
    path = "/api/v1/users/{id}/notification-preferences",
    params(("id" = String, Path, description = "The user's id, or `me`")),
    responses(
        (status = 200, description = "The preferences (defaults for channels never set)", body = Preferences),
        problems::Unauthorized, problems::NotFound,
    ),
)]
#[tracing::instrument(skip_all)]
async fn get_preferences(
    State(app): State<NotificationsApp>,
    caller: Principal,
    Path(user_id): Path<String>,
) -> ApiResult<Json<Preferences>> {
    let user_id = owned_user(&caller, user_id)?;
    Ok(Json(app.preferences(&user_id).await?))
}

/// The schema of one channel's change. `to` is the channel's address where the user
/// sets one (`to`: its rule; `None` for email, whose address is the account's).
/// Written by hand because one Rust type reads all three channels, whose rules differ.
fn channel_change(channel: &str, to: Option<Object>) -> Object {
    let mut change = ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::Object, Type::Null]))
        .description(Some(format!(
            "Changes to the {channel} settings; fields left out keep their value"
        )))
        .property(
            "transactional",
            ObjectBuilder::new()
                .schema_type(SchemaType::from_iter([Type::Boolean, Type::Null]))
                .enum_values(Some([json!(true), json!(null)]))
                .description(Some(
                    "Always true: transactional messages cannot be switched off",
                )),
        )
        .property(
            "marketing",
            ObjectBuilder::new()
                .schema_type(SchemaType::from_iter([Type::Boolean, Type::Null]))
                .description(Some("Whether marketing messages are wanted")),
        )
        .additional_properties(Some(
            utoipa::openapi::schema::AdditionalProperties::FreeForm(false),
        ));
    if let Some(to) = to {
        change = change.property("to", to);
    }
    change.build()
}

/// Email: the address is the account's, so only the settings change.
fn email_change() -> Object {
    channel_change("email", None)
}

/// SMS: an E.164 number, or `null` to remove it.
fn sms_change() -> Object {
    let to = ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .pattern(Some(r"^\s*\+[1-9][0-9]{7,14}\s*$"))
        .description(Some("An E.164 number, e.g. +15551234567; null removes it"))
        .examples([json!("+15551234567")])
        .build();
    channel_change("sms", Some(to))
}

/// Push: a device token, or `null` to remove it.
fn push_change() -> Object {
    let to = ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .pattern(Some(r"^\s*[!-~]{1,4096}\s*$"))
        .description(Some(
            "A device token of 1 to 4096 printable characters without spaces; null removes it",
        ))
        .build();
    channel_change("push", Some(to))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChannelBody {
    /// SMS number or push token; `null` removes it.
    #[serde(default, deserialize_with = "present")]
    to: Option<Option<String>>,
    #[serde(default)]
    transactional: Option<bool>,
    #[serde(default)]
    marketing: Option<bool>,
}

/// `{"email": {"marketing": false}, "sms": {"to": "+15551234567", "marketing": true}}`:
/// channels left out keep their settings, and so do fields left out.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email": {"marketing": false}, "sms": {"to": "+15551234567", "marketing": true}}))]
struct PreferencesBody {
    /// Email settings.
    #[serde(default, deserialize_with = "platform::http::extract::object_or_null")]
    #[schema(schema_with = email_change)]
    email: Option<ChannelBody>,
    /// SMS settings.
    #[serde(default, deserialize_with = "platform::http::extract::object_or_null")]
    #[schema(schema_with = sms_change)]
    sms: Option<ChannelBody>,
    /// Push settings.
    #[serde(default, deserialize_with = "platform::http::extract::object_or_null")]
    #[schema(schema_with = push_change)]
    push: Option<ChannelBody>,
}

impl PreferencesBody {
    fn try_into_domain(self) -> ApiResult<Vec<(Channel, PreferenceChange)>> {
        let mut fields = Fields::default();
        let mut changes = Vec::new();
        for (channel, body) in [
            (Channel::Email, self.email),
            (Channel::Sms, self.sms),
            (Channel::Push, self.push),
        ] {
            let Some(body) = body else {
                continue;
            };
            let name = channel.as_str();
            if let Some(wanted) = body.transactional {
                fields.check(
                    &format!("{name}.transactional"),
                    domain::transactional_setting(wanted),
                );
            }
            let address = match body.to {
                None => None,
                Some(None) if channel == Channel::Email => {
                    fields.push(
                        &format!("{name}.to"),
                        "the email address is the account's; change it through the account",
                    );
                    None
                }
                Some(None) => Some(None),
                Some(Some(raw)) => fields
                    .check(
                        &format!("{name}.to"),
                        domain::contact_address(channel, &raw),
                    )
                    .map(Some),
            };
            changes.push((
                channel,
                PreferenceChange {
                    address,
                    marketing: body.marketing,
                },
            ));
        }
        if fields.is_ok() {
            Ok(changes)
        } else {
            Err(fields.into_problem())
        }
    }
}

/// Changes a user's preferences: channels and fields left out keep their value.
#[utoipa::path(
    put,
    path = "/api/v1/users/{id}/notification-preferences",
    params(("id" = String, Path, description = "The user's id, or `me`")),
    request_body = PreferencesBody,
    responses(
        (status = 200, description = "The preferences after the change", body = Preferences),
        problems::BadRequest, problems::Unauthorized, problems::NotFound, problems::Invalid,
    ),
)]
#[tracing::instrument(skip_all)]
async fn put_preferences(
    State(app): State<NotificationsApp>,
    caller: Principal,
    Path(user_id): Path<String>,
    Json(body): Json<PreferencesBody>,
) -> ApiResult<Json<Preferences>> {
    let user_id = owned_user(&caller, user_id)?;
    let changes = body.try_into_domain()?;
    Ok(Json(app.set_preferences(&user_id, &changes).await?))
}

/// A user's preferences (seed 003's path).
///
/// The same as `GET /api/v1/users/{id}/notification-preferences`.
#[utoipa::path(
    get,
    path = "/api/v1/users/{id}/preferences",
    params(("id" = String, Path, description = "The user's id, or `me`")),
    responses(
        (status = 200, description = "The preferences (defaults for channels never set)", body = Preferences),
        problems::Unauthorized, problems::NotFound,
    ),
)]
async fn get_preferences_seed_alias(
    state: State<NotificationsApp>,
    caller: Principal,
    user_id: Path<String>,
) -> ApiResult<Json<Preferences>> {
    get_preferences(state, caller, user_id).await
}

/// Changes a user's preferences (seed 003's path).
///
/// The same as `PUT /api/v1/users/{id}/notification-preferences`.
#[utoipa::path(
    put,
    path = "/api/v1/users/{id}/preferences",
    params(("id" = String, Path, description = "The user's id, or `me`")),
    request_body = PreferencesBody,
    responses(
        (status = 200, description = "The preferences after the change", body = Preferences),
        problems::BadRequest, problems::Unauthorized, problems::NotFound, problems::Invalid,
    ),
)]
async fn put_preferences_seed_alias(
    state: State<NotificationsApp>,
    caller: Principal,
    user_id: Path<String>,
    body: Json<PreferencesBody>,
) -> ApiResult<Json<Preferences>> {
    put_preferences(state, caller, user_id, body).await
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;

    fn preferences(json: Value) -> Result<Vec<(Channel, PreferenceChange)>, Vec<String>> {
        let body: PreferencesBody = serde_json::from_value(json).expect("shape");
        body.try_into_domain()
            .map_err(|p| p.errors.into_iter().map(|e| e.field).collect())
    }

    #[test]
    fn preference_changes_name_every_bad_field() {
        assert_eq!(
            preferences(
                serde_json::json!({"email": {"transactional": false}, "sms": {"to": "555"}})
            ),
            Err(vec!["email.transactional".to_owned(), "sms.to".to_owned()])
        );
        assert_eq!(
            preferences(serde_json::json!({"email": {"to": "x@example.com"}})),
            Err(vec!["email.to".to_owned()])
        );
        let changes = preferences(serde_json::json!({
            "email": {"marketing": false, "transactional": true},
            "sms": {"to": "+15551234567"},
            "push": {"to": null},
        }))
        .expect("valid");
        assert_eq!(
            changes,
            vec![
                (
                    Channel::Email,
                    PreferenceChange {
                        address: None,
                        marketing: Some(false)
                    }
                ),
                (
                    Channel::Sms,
                    PreferenceChange {
                        address: Some(Some("+15551234567".into())),
                        marketing: None
                    }
                ),
                (
                    Channel::Push,
                    PreferenceChange {
                        address: Some(None),
                        marketing: None
                    }
                ),
            ]
        );
    }
}
