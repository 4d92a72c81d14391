//! Notifications' HTTP API (API.md, Notifications): a user's messages and
//! preferences, a message's detail, the admin's send, templates and the local outbox.
//! Bodies become domain values here; the operations live in `app`.

use axum::Router;
use axum::extract::{Path, State};
use axum::handler::Handler;
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use platform::auth::{Authenticator, Principal};
use platform::http::{FieldError, Fields, Json, List, PageQuery, Problem, Query, created};
use platform::idempotency::{Idempotency, idempotent};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use crate::app::{
    NotificationsApp, NotificationsError, PreferenceChange, Preferences, SendContent, SendRequest,
    TemplateDraft,
};
use crate::domain::{self, Category, Channel, Status, TemplateId};
use crate::store::{NotificationRecord, TemplateRecord};
use crate::templates::TemplateText;

/// The scope a service client needs to send (admins hold every scope).
pub const SCOPE_SEND: &str = "notifications:send";

/// Longest ad-hoc subject.
const MAX_ADHOC_SUBJECT: usize = 200;
/// Longest ad-hoc body.
const MAX_ADHOC_BODY: usize = 10_000;

/// The routes, behind the authentication middleware. A send may carry an
/// `Idempotency-Key`, so a retried request does not message the user twice.
pub fn router(app: NotificationsApp, authenticator: Authenticator) -> Router {
    let idempotency = Idempotency::optional(app.db().clone());
    Router::new()
        .route(
            "/api/v1/notifications/send",
            post(send.layer(from_fn_with_state(idempotency, idempotent))),
        )
        .route("/api/v1/notifications/outbox", get(local_outbox))
        .route("/api/v1/notifications/templates", get(list_templates))
        .route(
            "/api/v1/notifications/templates/{id}",
            get(get_template).put(put_template),
        )
        .route("/api/v1/notifications/{id}", get(get_notification))
        .route("/api/v1/users/{id}/notifications", get(list_notifications))
        .route(
            "/api/v1/users/{id}/notification-preferences",
            get(get_preferences).put(put_preferences),
        )
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
    if caller.may_access(&user_id) {
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

/// A notification as the API shows it; `body` and `html` only on the detail.
#[derive(Debug, Serialize)]
struct NotificationView {
    id: String,
    user_id: String,
    template_id: String,
    channel: String,
    category: String,
    to: String,
    subject: Option<String>,
    status: String,
    attempts: i64,
    last_error: Option<String>,
    transport: Option<String>,
    created_at: String,
    /// When the channel accepted it.
    sent_at: Option<String>,
    /// When the next attempt is due (queued messages only).
    next_attempt_at: Option<String>,
    /// The CloudEvents type of the event that caused it (null for an admin's send).
    event_type: Option<String>,
    /// That event's subject, e.g. the order id.
    event_subject: Option<String>,
    /// That event's time: `sent_at - event_time` is the delay from event to delivery.
    event_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    body: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    html: Option<String>,
}

impl NotificationView {
    fn new(n: NotificationRecord, with_body: bool) -> Self {
        let queued = n.status == Status::Queued.as_str();
        Self {
            id: n.id,
            user_id: n.user_id,
            template_id: n.template_id,
            channel: n.channel,
            category: n.category,
            to: n.recipient,
            subject: n.subject,
            status: n.status,
            attempts: n.attempts,
            last_error: n.last_error,
            transport: n.transport,
            created_at: platform::time::rfc3339(n.created_at),
            sent_at: n.sent_at.map(platform::time::rfc3339),
            next_attempt_at: queued.then(|| platform::time::rfc3339(n.next_attempt_at)),
            event_type: n.event_type,
            event_subject: n.event_subject,
            event_time: n.event_time.map(platform::time::rfc3339),
            body: with_body.then_some(n.body),
            html: if with_body { n.html } else { None },
        }
    }
}

fn page_of(
    rows: Vec<NotificationRecord>,
    page: &platform::http::Page,
    with_body: bool,
) -> List<NotificationView> {
    let list = List::from_rows(rows, page, |n| n.id.clone());
    List {
        items: list
            .items
            .into_iter()
            .map(|n| NotificationView::new(n, with_body))
            .collect(),
        next_cursor: list.next_cursor,
    }
}

/// `status`, `limit`, `cursor`.
#[derive(Deserialize)]
struct ListQuery {
    #[serde(default)]
    status: Option<String>,
    #[serde(flatten)]
    page: PageQuery,
}

#[tracing::instrument(skip_all)]
async fn list_notifications(
    State(app): State<NotificationsApp>,
    caller: Principal,
    Path(user_id): Path<String>,
    Query(query): Query<ListQuery>,
) -> ApiResult<Json<List<NotificationView>>> {
    let user_id = owned_user(&caller, user_id)?;
    let status = match query.status.as_deref() {
        None | Some("") => None,
        Some(raw) => Some(Status::parse(raw).ok_or_else(|| {
            Problem::invalid_field(
                "status",
                "must be queued, sent, failed, suppressed or cancelled",
            )
        })?),
    };
    let page = query.page.page()?;
    let rows = app
        .notifications_of(&user_id, status, page.after.as_deref(), page.fetch_limit())
        .await?;
    Ok(Json(page_of(rows, &page, false)))
}

#[tracing::instrument(skip_all)]
async fn get_notification(
    State(app): State<NotificationsApp>,
    caller: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<NotificationView>> {
    if !platform::ids::is_uuid(&id) {
        return Err(Problem::not_found("notification"));
    }
    let notification = app.notification(&id).await?;
    // Another user's message is a 404, so ids of others do not leak.
    if !caller.may_access(&notification.user_id) {
        return Err(Problem::not_found("notification"));
    }
    Ok(Json(NotificationView::new(notification, true)))
}

#[tracing::instrument(skip_all)]
async fn local_outbox(
    State(app): State<NotificationsApp>,
    caller: Principal,
    Query(query): Query<PageQuery>,
) -> ApiResult<Json<List<NotificationView>>> {
    caller.require_admin()?;
    let page = query.page()?;
    let rows = app
        .local_outbox(page.after.as_deref(), page.fetch_limit())
        .await?;
    Ok(Json(page_of(rows, &page, true)))
}

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
        &format!("/api/v1/notifications/{}", notification.id),
        NotificationView::new(notification, true),
    ))
}

/// A template as the API shows it.
#[derive(Debug, Serialize)]
struct TemplateView {
    id: String,
    key: String,
    channel: String,
    category: String,
    subject: Option<String>,
    body: String,
    html: Option<String>,
    enabled: bool,
    /// Whether an admin changed it (a default that was never edited is not).
    customized: bool,
    updated_at: String,
    updated_by: Option<String>,
}

impl From<TemplateRecord> for TemplateView {
    fn from(t: TemplateRecord) -> Self {
        Self {
            id: t.id,
            key: t.key,
            channel: t.channel,
            category: t.category,
            subject: t.subject,
            body: t.body,
            html: t.html,
            enabled: t.enabled,
            customized: t.updated_by.is_some(),
            updated_at: platform::time::rfc3339(t.updated_at),
            updated_by: t.updated_by,
        }
    }
}

fn template_id_from_path(raw: String) -> ApiResult<TemplateId> {
    TemplateId::try_from(raw).map_err(|e| Problem::invalid_field("id", e.to_string()))
}

#[tracing::instrument(skip_all)]
async fn list_templates(
    State(app): State<NotificationsApp>,
    caller: Principal,
    Query(query): Query<PageQuery>,
) -> ApiResult<Json<List<TemplateView>>> {
    caller.require_admin()?;
    let page = query.page()?;
    let rows = app
        .templates(page.after.as_deref(), page.fetch_limit())
        .await?;
    let list = List::from_rows(rows, &page, |t| t.id.clone());
    Ok(Json(List {
        items: list.items.into_iter().map(TemplateView::from).collect(),
        next_cursor: list.next_cursor,
    }))
}

#[tracing::instrument(skip_all)]
async fn get_template(
    State(app): State<NotificationsApp>,
    caller: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<TemplateView>> {
    caller.require_admin()?;
    let Ok(id) = TemplateId::try_from(id) else {
        return Err(Problem::not_found("template"));
    };
    match app.template(&id).await {
        Ok(template) => Ok(Json(template.into())),
        Err(NotificationsError::UnknownTemplate) => Err(Problem::not_found("template")),
        Err(err) => Err(err.into()),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TemplateBody {
    #[serde(default)]
    subject: Option<String>,
    body: String,
    #[serde(default)]
    html: Option<String>,
    #[serde(default)]
    category: Option<String>,
    #[serde(default)]
    enabled: Option<bool>,
}

#[tracing::instrument(skip_all)]
async fn put_template(
    State(app): State<NotificationsApp>,
    caller: Principal,
    Path(id): Path<String>,
    Json(body): Json<TemplateBody>,
) -> ApiResult<Response> {
    caller.require_admin()?;
    let id = template_id_from_path(id)?;
    let category = match body.category.as_deref() {
        None => None,
        Some(raw) => Some(Category::parse(raw).ok_or_else(|| {
            Problem::invalid_field("category", "must be transactional or marketing")
        })?),
    };
    let draft = TemplateDraft {
        text: TemplateText {
            subject: body.subject,
            body: body.body,
            html: body.html,
        },
        category,
        enabled: body.enabled.unwrap_or(true),
    };
    let (template, is_new) = app.put_template(&caller.subject, &id, draft).await?;
    let location = format!("/api/v1/notifications/templates/{}", template.id);
    let view = TemplateView::from(template);
    Ok(if is_new {
        created(&location, view)
    } else {
        Json(view).into_response()
    })
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
