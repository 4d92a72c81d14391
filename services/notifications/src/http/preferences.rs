//! A user's notification preferences: read them, and change any channel's address and
//! marketing setting (fields left out keep their value).

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::get;
use platform::auth::Principal;
use platform::http::{Fields, Json};
use serde::{Deserialize, Deserializer};

use super::{ApiResult, owned_user};
use crate::app::{NotificationsApp, PreferenceChange, Preferences};
use crate::domain::{self, Channel};

/// `GET` and `PUT` a user's preferences.
pub(super) fn routes() -> Router<NotificationsApp> {
    Router::new().route(
        "/api/v1/users/{id}/notification-preferences",
        get(get_preferences).put(put_preferences),
    )
}

#[tracing::instrument(skip_all)]
async fn get_preferences(
    State(app): State<NotificationsApp>,
    caller: Principal,
    Path(user_id): Path<String>,
) -> ApiResult<Json<Preferences>> {
    let user_id = owned_user(&caller, user_id)?;
    Ok(Json(app.preferences(&user_id).await?))
}

/// `Some(value)` for a present field, `null` included, so absent (keep) and `null`
/// (remove) differ.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
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
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PreferencesBody {
    #[serde(default)]
    email: Option<ChannelBody>,
    #[serde(default)]
    sms: Option<ChannelBody>,
    #[serde(default)]
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
