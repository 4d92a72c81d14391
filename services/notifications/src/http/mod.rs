//! Notifications' HTTP API (API.md, Notifications): a user's messages and their
//! detail (`messages`), the admin's send (`send`), templates (`templates`) and a
//! user's preferences (`preferences`). Bodies become domain values here; the
//! operations live in `app`, and who may do what is [`POLICY`]'s.

mod messages;
mod preferences;
mod send;
mod templates;

use axum::Router;
use axum::middleware::from_fn_with_state;
use platform::auth::{Authenticator, Principal};
use platform::http::{FieldError, Problem};
use platform::idempotency::Idempotency;

use crate::app::{NotificationsApp, NotificationsError, POLICY};

/// The scope a service client needs to send (admins hold every scope).
pub const SCOPE_SEND: &str = "notifications:send";

/// The routes, behind the authentication middleware. A send may carry an
/// `Idempotency-Key`, so a retried request does not message the user twice.
pub fn router(app: NotificationsApp, authenticator: Authenticator) -> Router {
    let idempotency = Idempotency::optional(app.db().clone());
    Router::new()
        .merge(send::routes(idempotency))
        .merge(messages::routes())
        .merge(templates::routes())
        .merge(preferences::routes())
        .with_state(app)
        .layer(from_fn_with_state(
            authenticator,
            platform::auth::authenticate,
        ))
}

/// The user a `/users/{id}/...` path names (`me` is the caller, as in identity's
/// paths), when the caller may act for them; 404 otherwise, so others' ids stay hidden.
fn owned_user(caller: &Principal, user_id: String) -> Result<String, Problem> {
    let user_id = if user_id == "me" {
        caller.subject.clone()
    } else {
        user_id
    };
    if POLICY.may_see(caller, &user_id) {
        Ok(user_id)
    } else {
        Err(Problem::not_found("user"))
    }
}

type ApiResult<T> = Result<T, Problem>;

impl From<NotificationsError> for Problem {
    fn from(err: NotificationsError) -> Self {
        match err {
            NotificationsError::NotFound => Problem::not_found("notification"),
            NotificationsError::UnknownTemplate => {
                Problem::invalid_field("template_id", "no such template")
            }
            NotificationsError::TemplateDisabled => {
                Problem::invalid_field("template_id", "the template is disabled")
            }
            NotificationsError::UnknownUser => Problem::invalid_field("user_id", "no such user"),
            NotificationsError::NoAddress(channel) => Problem::invalid_field(
                "channel",
                format!(
                    "the user has no {} address (users register one in their notification preferences)",
                    channel.as_str()
                ),
            ),
            NotificationsError::InvalidTemplate(problems) => Problem::validation(
                problems
                    .into_iter()
                    .map(|p| FieldError::new(p.field, p.message))
                    .collect(),
            ),
            NotificationsError::Render(problem) => Problem::invalid_field(
                "data",
                format!("the template cannot be rendered with it: {problem}"),
            ),
            NotificationsError::Sql(_) => Problem::unexpected(&err),
        }
    }
}
