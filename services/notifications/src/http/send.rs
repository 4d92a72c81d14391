//! The direct send, `POST /notifications/send`: a stored template or the request's own
//! text, to one user, for admins and clients holding [`SCOPE_SEND`].

use axum::Router;
use axum::extract::State;
use axum::handler::Handler;
use axum::middleware::from_fn_with_state;
use axum::response::Response;
use axum::routing::post;
use platform::auth::Principal;
use platform::http::{Fields, Json, created};
use platform::idempotency::{Idempotency, idempotent};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::messages::NotificationView;
use super::{ApiResult, SCOPE_SEND};
use crate::app::{NotificationsApp, SendContent, SendRequest};
use crate::domain::{Category, Channel, TemplateId};

/// `POST /notifications/send`, behind the optional `Idempotency-Key`.
pub(super) fn routes(idempotency: Idempotency) -> Router<NotificationsApp> {
    Router::new().route(
        "/api/v1/notifications/send",
        post(send.layer(from_fn_with_state(idempotency, idempotent))),
    )
}

/// Longest ad-hoc subject.
const MAX_ADHOC_SUBJECT: usize = 200;
/// Longest ad-hoc body.
const MAX_ADHOC_BODY: usize = 10_000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SendBody {
    user_id: String,
    #[serde(default)]
    template_id: Option<String>,
    #[serde(default)]
    channel: Option<String>,
    #[serde(default)]
    category: Option<String>,
    #[serde(default)]
    subject: Option<String>,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
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
