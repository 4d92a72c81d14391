//! Notifications' HTTP API (API.md, Notifications): a user's messages and their
//! detail (`messages`), the admin's send (`send`), templates (`templates`), a user's
//! preferences (`preferences`) and merchants' webhook endpoints (`webhooks`). Bodies
//! become domain values here; the operations live in `app`, and who may do what is
//! [`POLICY`]'s.

mod messages;
mod preferences;
mod send;
mod templates;
mod webhooks;

use axum::middleware::from_fn_with_state;
use axum::{Extension, Router};
use platform::auth::{Authenticator, Principal};
use platform::http::api::ApiRouter;
use platform::http::{FieldError, Problem};
use platform::idempotency::IdempotencyStore;
use serde::{Deserialize, Deserializer};
use serde_json::Value;
use utoipa::openapi::schema::{Object, ObjectBuilder, SchemaType, Type};

use crate::app::{NotificationsApp, NotificationsError, POLICY};
use crate::domain::{Category, Channel};

/// The scope a service client needs to send (admins hold every scope).
pub const SCOPE_SEND: &str = "notifications:send";

/// The routes and their documentation, declared without values. A send may carry an
/// `Idempotency-Key`, so a retried request does not message the user twice.
pub fn api() -> ApiRouter<NotificationsApp> {
    ApiRouter::new()
        .merge(send::api())
        .merge(messages::api())
        .merge(templates::api())
        .merge(preferences::api())
        .merge(webhooks::api())
}

/// The routes with the service's state, behind the authentication middleware.
pub fn router(app: NotificationsApp, authenticator: Authenticator) -> Router {
    let idempotency = IdempotencyStore::new(app.db().clone());
    let (routes, _) = api().split_for_parts();
    routes
        .with_state(app)
        .layer(Extension(idempotency))
        .layer(from_fn_with_state(
            authenticator,
            platform::auth::authenticate,
        ))
}

/// The schema of a text field holding one of `names` (the public names of a domain
/// enum, so the description cannot drift from the code); `null` too when `nullable`.
fn names_schema<'a>(
    description: &str,
    names: impl IntoIterator<Item = &'a str>,
    nullable: bool,
) -> Object {
    let mut values: Vec<Value> = names.into_iter().map(Value::from).collect();
    let kind = if nullable {
        values.push(Value::Null);
        SchemaType::from_iter([Type::String, Type::Null])
    } else {
        SchemaType::new(Type::String)
    };
    ObjectBuilder::new()
        .schema_type(kind)
        .description(Some(description))
        .enum_values(Some(values))
        .build()
}

/// The channels, by name.
fn channel_names() -> impl Iterator<Item = &'static str> {
    Channel::ALL.into_iter().map(Channel::as_str)
}

/// The categories, by name.
fn category_names() -> impl Iterator<Item = &'static str> {
    [Category::Transactional, Category::Marketing]
        .into_iter()
        .map(Category::as_str)
}

/// The schema of an optional [`contracts::types::Text`] field: `null`, or 1 to `MAX`
/// characters with something besides white space and no control characters (Rust's
/// `char::is_control`, U+0000 to U+001F and U+007F to U+009F), except newline and tab
/// where `MULTILINE`.
fn optional_text_schema<const MAX: usize, const MULTILINE: bool>() -> Object {
    let (allowed, kind) = if MULTILINE {
        (r"[^\x00-\x08\x0b-\x1f\x7f-\x9f]", "lines")
    } else {
        (r"[^\x00-\x1f\x7f-\x9f]", "a line")
    };
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .description(Some(format!(
            "{kind} of 1 to {MAX} characters, not blank, without control characters"
        )))
        .min_length(Some(1))
        .max_length(Some(MAX))
        .pattern(Some(format!(
            r"^{allowed}*[^\s\x00-\x1f\x7f-\x9f]{allowed}*$"
        )))
        .build()
}

/// `Some(value)` for a present field, `null` included, so absent (keep) and `null`
/// (clear) differ.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
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
            NotificationsError::NoSuchEndpoint => Problem::not_found("webhook endpoint"),
            NotificationsError::NoSuchDelivery => Problem::not_found("webhook delivery"),
            NotificationsError::InvalidEndpoint(field, why) => {
                Problem::invalid_field(field, why.to_string())
            }
            NotificationsError::DeliveryPending => Problem::conflict(
                "delivery-pending",
                "the delivery is still pending: an attempt is already on its way",
            ),
            NotificationsError::Sql(_) => Problem::unexpected(&err),
        }
    }
}
