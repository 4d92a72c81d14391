//! A user's messages, one message's detail, and the local outbox.

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::get;
use platform::auth::Principal;
use platform::http::{Json, List, PageQuery, Problem, Query};
use serde::{Deserialize, Serialize};

use super::{ApiResult, owned_user};
use crate::app::{NotificationsApp, POLICY};
use crate::domain::{Message, Status};

/// `GET` a user's messages, one message, and the local outbox.
pub(super) fn routes() -> Router<NotificationsApp> {
    Router::new()
        .route("/api/v1/notifications/outbox", get(local_outbox))
        .route("/api/v1/notifications/{id}", get(get_notification))
        .route("/api/v1/users/{id}/notifications", get(list_notifications))
}

/// A notification as the API shows it; `body` and `html` only on the detail.
#[derive(Debug, Serialize)]
pub(super) struct NotificationView {
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
    /// The files the email carries (their bytes are not shown).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    attachments: Vec<AttachmentView>,
}

/// A file an email carries, as the API describes it.
#[derive(Debug, Serialize)]
pub(super) struct AttachmentView {
    file_name: String,
    content_type: String,
    /// Bytes.
    size: usize,
}

impl NotificationView {
    /// The view of `message`, with its text when `with_body`.
    pub(super) fn new(message: Message, with_body: bool) -> Self {
        let queued = message.status() == Status::Queued;
        let delivery = message.delivery().clone();
        let m = message.composed().clone();
        let (event_type, event_subject, event_time) = match m.origin {
            Some(origin) => (Some(origin.event_type), Some(origin.subject), origin.time),
            None => (None, None, None),
        };
        Self {
            id: m.id,
            user_id: m.user_id,
            template_id: m.template_id,
            channel: m.channel.as_str().to_owned(),
            category: m.category.as_str().to_owned(),
            to: m.to,
            subject: m.content.subject,
            status: delivery.status.as_str().to_owned(),
            attempts: i64::from(delivery.attempts),
            last_error: delivery.last_error,
            transport: delivery.transport.map(|t| t.as_str().to_owned()),
            created_at: platform::time::rfc3339(m.created_at),
            sent_at: delivery.sent_at.map(platform::time::rfc3339),
            next_attempt_at: queued.then(|| platform::time::rfc3339(delivery.next_attempt_at)),
            event_type,
            event_subject,
            event_time: event_time.map(platform::time::rfc3339),
            body: with_body.then_some(m.content.body),
            html: if with_body { m.content.html } else { None },
            attachments: m
                .attachments
                .iter()
                .map(|file| AttachmentView {
                    file_name: file.file_name().to_owned(),
                    content_type: file.content_type().to_owned(),
                    size: file.content().len(),
                })
                .collect(),
        }
    }
}

fn page_of(
    rows: Vec<Message>,
    page: &platform::http::Page,
    with_body: bool,
) -> List<NotificationView> {
    let list = List::from_rows(rows, page, |m| m.id().to_owned());
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
    if !POLICY.may_see(&caller, &notification.composed().user_id) {
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
    POLICY.require_manage(&caller)?;
    let page = query.page()?;
    let rows = app
        .local_outbox(page.after.as_deref(), page.fetch_limit())
        .await?;
    Ok(Json(page_of(rows, &page, true)))
}
