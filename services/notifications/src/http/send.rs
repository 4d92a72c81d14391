//! The direct send, `POST /notifications/send`: a stored template or the request's own
//! text, to one user, for admins and clients holding [`SCOPE_SEND`].

use axum::extract::State;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::response::Response;
use platform::auth::Principal;
use platform::http::api::{ApiRouter, UtoipaMethodRouterExt, problems, routes};
use platform::http::{Fields, Json, created};
use platform::idempotency::{Idempotency, idempotent};
use serde::Deserialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;
use utoipa::openapi::schema::Object;

use super::messages::NotificationView;
use super::{
    ApiResult, SCOPE_SEND, category_names, channel_names, names_schema, optional_text_schema,
};
use crate::app::{NotificationsApp, SendContent, SendRequest};
use crate::domain::{Category, Channel, TemplateId};

/// `POST /notifications/send`, behind the optional `Idempotency-Key` (checked only for
/// a signed-in caller).
pub(super) fn api() -> ApiRouter<NotificationsApp> {
    ApiRouter::new().routes(routes!(send).map(|route| {
        route
            .route_layer(from_fn_with_state(Idempotency::optional(), idempotent))
            .route_layer(from_fn(platform::auth::require_caller))
    }))
}

fn channel() -> Object {
    names_schema(
        "The channel: required without `template_id`, else the template's",
        channel_names(),
        true,
    )
}

fn category() -> Object {
    names_schema(
        "Without `template_id` only: transactional (the default) or marketing",
        category_names(),
        true,
    )
}

/// Longest ad-hoc subject.
const MAX_ADHOC_SUBJECT: usize = 200;
/// Longest ad-hoc body.
const MAX_ADHOC_BODY: usize = 10_000;

/// A message to one user: a stored template (`template_id`, rendered with `data`) or
/// the request's own text (`channel`, `body`, and `subject` for email).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"user_id": "0190a5e4-7c2b-7d3e-9f10-2b3c4d5e6f70", "template_id": "promotion.email", "data": {"headline": "Winter sale"}}))]
struct SendBody {
    /// The recipient.
    #[schema(min_length = 1, pattern = r"\S")]
    user_id: String,
    /// A stored template, `<key>.<channel>`; then no `subject`, `body` or `category`.
    #[serde(default)]
    #[schema(pattern = r"^[a-z0-9_]{1,64}\.(email|sms|push)$")]
    template_id: Option<String>,
    /// The channel.
    #[serde(default)]
    #[schema(schema_with = channel)]
    channel: Option<String>,
    /// The category.
    #[serde(default)]
    #[schema(schema_with = category)]
    category: Option<String>,
    /// Without `template_id`: the subject line (required for email).
    #[serde(default)]
    #[schema(schema_with = optional_text_schema::<MAX_ADHOC_SUBJECT, false>)]
    subject: Option<String>,
    /// Without `template_id`: the text.
    #[serde(default)]
    #[schema(schema_with = optional_text_schema::<MAX_ADHOC_BODY, true>)]
    body: Option<String>,
    /// Values the template is rendered with.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    data: Option<Map<String, Value>>,
}

impl SendBody {
    /// The request as domain values, or a 422 naming every bad field.
    fn try_into_domain(self) -> ApiResult<SendRequest> {
        let mut fields = Fields::default();
        if self.user_id.trim().is_empty() {
            fields.push("user_id", "must not be empty");
        }
        let channel = self.channel.as_deref().and_then(|raw| {
            let parsed = Channel::parse(raw);
            if parsed.is_none() {
                fields.push("channel", "must be email, sms or push");
            }
            parsed
        });
        let category = self.category.as_deref().and_then(|raw| {
            let parsed = Category::parse(raw);
            if parsed.is_none() {
                fields.push("category", "must be transactional or marketing");
            }
            parsed
        });
        let content = match self.template_id {
            Some(raw) => {
                for (field, given) in [
                    ("subject", self.subject.is_some()),
                    ("body", self.body.is_some()),
                    ("category", self.category.is_some()),
                ] {
                    if given {
                        fields.push(
                            field,
                            "comes from the template; leave it out with template_id",
                        );
                    }
                }
                let id = fields.check("template_id", TemplateId::try_from(raw));
                if let (Some(id), Some(channel)) = (&id, channel)
                    && id.channel() != channel
                {
                    fields.push("channel", "must be the template's channel");
                }
                id.map(SendContent::Template)
            }
            None => {
                if self.channel.is_none() {
                    fields.push("channel", "is required without template_id");
                }
                let body = match self.body {
                    Some(body) => fields.check(
                        "body",
                        contracts::types::Text::<MAX_ADHOC_BODY, true>::try_from(body),
                    ),
                    None => {
                        fields.push("body", "is required without template_id");
                        None
                    }
                };
                let subject = match self.subject {
                    Some(subject) => fields
                        .check(
                            "subject",
                            contracts::types::Text::<MAX_ADHOC_SUBJECT>::try_from(subject),
                        )
                        .map(|s| Some(s.into_string())),
                    None if channel.is_some_and(Channel::needs_subject) => {
                        fields.push("subject", "is required for email");
                        None
                    }
                    None => Some(None),
                };
                match (channel, body, subject) {
                    (Some(channel), Some(body), Some(subject)) => Some(SendContent::AdHoc {
                        channel,
                        category: category.unwrap_or(Category::Transactional),
                        subject,
                        body: body.into_string(),
                    }),
                    _ => None,
                }
            }
        };
        match content {
            Some(content) if fields.is_ok() => Ok(SendRequest {
                user_id: self.user_id.trim().to_owned(),
                content,
                data: self.data.unwrap_or_default(),
            }),
            _ => Err(fields.into_problem()),
        }
    }
}

/// Sends one message to a user now (admins and clients holding `notifications:send`).
#[utoipa::path(
    post,
    path = "/api/v1/notifications/send",
    request_body = SendBody,
    params(("Idempotency-Key" = Option<String>, Header, nullable = false, pattern = "^[ -~\t]{1,255}$",
        description = "Optional: a repeat with the same body gets the stored answer.")),
    responses(
        (status = 201, description = "Queued (or suppressed by the user's preferences: see `status`)", body = NotificationView,
            headers(("Location" = String, description = "The new message"))),
        problems::BadRequest, problems::Unauthorized, problems::Forbidden, problems::Conflict,
        problems::Invalid,
    ),
)]
#[tracing::instrument(skip_all)]
async fn send(
    State(app): State<NotificationsApp>,
    caller: Principal,
    Json(body): Json<SendBody>,
) -> ApiResult<Response> {
    caller.require_scope(SCOPE_SEND)?;
    let request = body.try_into_domain()?;
    let notification = app.send(request).await?;
    Ok(created(
        &format!("/api/v1/notifications/{}", notification.id()),
        NotificationView::new(notification, true),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sends_need_a_template_or_their_own_text() {
        let fields = |json: Value| -> Vec<String> {
            let body: SendBody = serde_json::from_value(json).expect("shape");
            match body.try_into_domain() {
                Ok(_) => Vec::new(),
                Err(problem) => problem.errors.into_iter().map(|e| e.field).collect(),
            }
        };
        assert!(
            fields(serde_json::json!({"user_id": "u", "template_id": "promotion.email"}))
                .is_empty()
        );
        assert!(
            fields(serde_json::json!({"user_id": "u", "channel": "sms", "body": "hi"})).is_empty()
        );
        assert_eq!(
            fields(serde_json::json!({"user_id": "u", "channel": "email", "body": "hi"})),
            vec!["subject"]
        );
        assert_eq!(
            fields(serde_json::json!({"user_id": "u"})),
            vec!["channel", "body"]
        );
        assert_eq!(
            fields(
                serde_json::json!({"user_id": "u", "template_id": "promotion.email", "channel": "sms", "body": "x"})
            ),
            vec!["body", "channel"]
        );
        assert_eq!(
            fields(serde_json::json!({"user_id": "u", "template_id": "nope"})),
            vec!["template_id"]
        );
        assert_eq!(
            fields(serde_json::json!({"user_id": "u", "channel": "fax", "body": "x"})),
            vec!["channel"]
        );
    }
}
