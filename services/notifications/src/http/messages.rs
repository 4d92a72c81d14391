//! A user's messages, one message's detail, and the local outbox.

use axum::extract::{Path, State};
use platform::auth::Principal;
use platform::http::api::{ApiRouter, problems, routes};
use platform::http::{Json, List, PageQuery, Problem, Query};
use serde::{Deserialize, Serialize};
use utoipa::openapi::schema::Object;
use utoipa::{IntoParams, ToSchema};

use super::{ApiResult, category_names, channel_names, names_schema, owned_user};
use crate::app::{NotificationsApp, POLICY};
use crate::domain::{Message, Status, Transport};

/// `GET` a user's messages, one message, and the local outbox.
pub(super) fn api() -> ApiRouter<NotificationsApp> {
    ApiRouter::new()
        .routes(routes!(local_outbox))
        .routes(routes!(get_notification))
        .routes(routes!(list_notifications))
}

fn channel() -> Object {
    names_schema("The channel", channel_names(), false)
}

fn category() -> Object {
    names_schema(
        "Transactional (always sent) or marketing (unless opted out)",
        category_names(),
        false,
    )
}

fn status() -> Object {
    names_schema(
        "Where its delivery is",
        Status::ALL.into_iter().map(Status::as_str),
        false,
    )
}

fn transport() -> Object {
    names_schema(
        "What carried it (null before the first attempt)",
        Transport::ALL.into_iter().map(Transport::as_str),
        true,
    )
}

/// The `status` filter: a status, or empty for every status.
fn status_filter() -> Object {
    names_schema(
        "Only messages in this status (empty: every status)",
        Status::ALL.into_iter().map(Status::as_str).chain([""]),
        false,
    )
}

/// A notification as the API shows it; `body` and `html` only on the detail.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct NotificationView {
    /// Id.
    id: String,
    /// The recipient.
    user_id: String,
    /// The template it was rendered from (`adhoc` for a send with its own text).
    template_id: String,
    /// The channel.
    #[schema(schema_with = channel)]
    channel: String,
    /// The category.
    #[schema(schema_with = category)]
    category: String,
    /// The address it goes to.
    to: String,
    /// Subject line (email) or title (push).
    subject: Option<String>,
    /// Where its delivery is.
    #[schema(schema_with = status)]
    status: String,
    /// Delivery attempts so far.
    attempts: i64,
    /// Why the last attempt failed.
    last_error: Option<String>,
    /// What carried it.
    #[schema(schema_with = transport)]
    transport: Option<String>,
    /// Creation, RFC 3339.
    #[schema(format = DateTime)]
    created_at: String,
    /// When the channel accepted it.
    #[schema(format = DateTime)]
    sent_at: Option<String>,
    /// When the next attempt is due (queued messages only).
    #[schema(format = DateTime)]
    next_attempt_at: Option<String>,
    /// The CloudEvents type of the event that caused it (null for an admin's send).
    event_type: Option<String>,
    /// That event's subject, e.g. the order id.
    event_subject: Option<String>,
    /// That event's time: `sent_at - event_time` is the delay from event to delivery.
    #[schema(format = DateTime)]
    event_time: Option<String>,
    /// The plain-text body (the detail only).
    #[serde(skip_serializing_if = "Option::is_none")]
    body: Option<String>,
    /// The HTML body (the detail of an email with one).
    #[serde(skip_serializing_if = "Option::is_none")]
    html: Option<String>,
    /// The files the email carries (their bytes are not shown).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    attachments: Vec<AttachmentView>,
}

/// A file an email carries, as the API describes it.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct AttachmentView {
    /// Its file name.
    file_name: String,
    /// Its media type.
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

/// `status`, `limit`, `cursor`. The paging fields are spelled out rather than a
/// flattened [`PageQuery`] so the description lists them.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// Only messages in this status.
    #[serde(default)]
    #[param(schema_with = status_filter)]
    status: Option<String>,
    /// Items per page, 1 to 100 (20 when absent).
    #[serde(default)]
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
    /// Where the previous page ended (its `next_cursor`).
    #[serde(default)]
    cursor: Option<String>,
}

/// A user's messages, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/users/{id}/notifications",
    params(("id" = String, Path, description = "The user's id, or `me`"), ListQuery),
    responses(
        (status = 200, description = "One page of the user's messages (without their bodies)", body = List<NotificationView>),
        problems::Unauthorized, problems::NotFound, problems::Invalid,
    ),
)]
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
    let page = PageQuery {
        limit: query.limit,
        cursor: query.cursor,
    }
    .page()?;
    let rows = app
        .notifications_of(&user_id, status, page.after.as_deref(), page.fetch_limit())
        .await?;
    Ok(Json(page_of(rows, &page, false)))
}

/// One message with its text: the recipient's, or any for admins.
#[utoipa::path(
    get,
    path = "/api/v1/notifications/{id}",
    params(("id" = String, Path, description = "The message's id")),
    responses(
        (status = 200, description = "The message", body = NotificationView),
        problems::Unauthorized, problems::NotFound,
    ),
)]
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

/// The local outbox, newest first, with the messages' text (admins).
///
/// Messages land here when their channel has no transport configured.
#[utoipa::path(
    get,
    path = "/api/v1/notifications/outbox",
    params(PageQuery),
    responses(
        (status = 200, description = "One page of the local outbox", body = List<NotificationView>),
        problems::Unauthorized, problems::Forbidden, problems::Invalid,
    ),
)]
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
