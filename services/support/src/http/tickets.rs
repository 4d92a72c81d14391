//! Tickets: open (201), list (own, or all with filters for admins), read, reply (201),
//! assign (admins), close.

use axum::extract::{Path, State};
use axum::response::Response;
use platform::auth::{ForwardedCredentials, Principal};
use platform::http::api::problems;
use platform::http::{Fields, Json, List, PageQuery, Problem, Query, created};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{hyphenated_uuid, path_id};
use crate::app::{SupportApp, TicketRequest};
use crate::domain::{Body, Message, Subject, Ticket, TicketFilter, TicketStatus};

type ApiResult<T> = Result<T, Problem>;

/// A ticket's status.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(super) enum StatusName {
    /// Waiting for an agent.
    Open,
    /// Waiting for the customer.
    Pending,
    /// Done.
    Closed,
}

/// One message of a ticket's conversation.
#[derive(Serialize, ToSchema)]
pub(super) struct MessageView {
    /// Id.
    id: String,
    /// Who wrote it.
    author_id: String,
    /// `customer` (the ticket's owner) or `agent`.
    #[schema(pattern = "^(customer|agent)$")]
    author_role: String,
    /// The text.
    body: String,
    /// When, RFC 3339.
    created_at: String,
}

impl From<Message> for MessageView {
    fn from(m: Message) -> Self {
        Self {
            id: m.id,
            author_id: m.author_id,
            author_role: m.author_role.as_str().to_owned(),
            body: m.body,
            created_at: platform::time::rfc3339(m.created_at),
        }
    }
}

/// A support ticket.
#[derive(Serialize, ToSchema)]
pub(super) struct TicketView {
    /// Id.
    id: String,
    /// The customer it belongs to.
    user_id: String,
    /// Subject line.
    subject: String,
    /// `open` (waiting for an agent), `pending` (waiting for the customer) or `closed`.
    #[schema(value_type = StatusName)]
    status: String,
    /// The order it is about.
    order_id: Option<String>,
    /// The admin working on it.
    assignee: Option<String>,
    /// Opened, RFC 3339.
    created_at: String,
    /// Last change, RFC 3339.
    updated_at: String,
    /// Closed, RFC 3339.
    closed_at: Option<String>,
    /// The conversation, oldest first (left out of lists).
    #[serde(skip_serializing_if = "Option::is_none")]
    messages: Option<Vec<MessageView>>,
}

impl TicketView {
    fn summary(t: Ticket) -> Self {
        Self {
            id: t.id,
            user_id: t.user_id,
            subject: t.subject,
            status: t.status.as_str().to_owned(),
            order_id: t.order_id,
            assignee: t.assignee,
            created_at: platform::time::rfc3339(t.created_at),
            updated_at: platform::time::rfc3339(t.updated_at),
            closed_at: t.closed_at.map(platform::time::rfc3339),
            messages: None,
        }
    }

    fn full(mut t: Ticket) -> Self {
        let messages = std::mem::take(&mut t.messages)
            .into_iter()
            .map(MessageView::from)
            .collect();
        Self {
            messages: Some(messages),
            ..Self::summary(t)
        }
    }
}

/// A new ticket.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"subject": "Parcel not arrived", "body": "It has been ten days.", "order_id": null}))]
pub(super) struct TicketBody {
    /// Subject: 1 to 200 characters, one line.
    #[schema(min_length = 1, max_length = 200)]
    subject: String,
    /// The question: 1 to 10 000 characters.
    #[schema(min_length = 1, max_length = 10000)]
    body: String,
    /// One of the caller's orders the ticket is about.
    #[serde(default)]
    order_id: Option<String>,
}

/// Opens a ticket for the caller; `order_id`, when given, must be one of the caller's
/// orders (checked with ordering).
#[utoipa::path(
    post,
    path = "/api/v1/support/tickets",
    request_body = TicketBody,
    responses(
        (status = 201, description = "Opened", body = TicketView,
            headers(("Location" = String, description = "The new ticket"))),
        problems::BadRequest, problems::Unauthorized, problems::Invalid, problems::Unavailable,
    ),
)]
#[tracing::instrument(skip_all)]
pub(super) async fn open_ticket(
    State(app): State<SupportApp>,
    caller: Principal,
    credentials: ForwardedCredentials,
    Json(body): Json<TicketBody>,
) -> ApiResult<Response> {
    let mut fields = Fields::default();
    let subject = fields.check("subject", Subject::try_from(body.subject));
    let text = fields.check("body", Body::try_from(body.body));
    let order_id = match body.order_id {
        None => None,
        Some(raw) => {
            let id = hyphenated_uuid(&raw);
            if id.is_none() {
                fields.push("order_id", "must be an order id");
            }
            id
        }
    };
    let (Some(subject), Some(body), true) = (subject, text, fields.is_ok()) else {
        return Err(fields.into_problem());
    };
    let request = TicketRequest {
        subject,
        body,
        order_id,
    };
    let ticket = app.open_ticket(&caller, &credentials, request).await?;
    Ok(created(
        &format!("/api/v1/support/tickets/{}", ticket.id),
        TicketView::full(ticket),
    ))
}

/// Ticket list filters (admins; a customer always sees their own).
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct TicketQuery {
    /// Only tickets in this status.
    #[serde(default)]
    #[param(value_type = Option<StatusName>)]
    status: Option<String>,
    /// Only tickets assigned to this admin (admins).
    #[serde(default)]
    assignee: Option<String>,
    #[serde(flatten)]
    #[param(ignore)]
    page: PageQuery,
}

/// Tickets, newest first: the caller's own; every customer's for admins, who may filter
/// by `status` and `assignee`.
#[utoipa::path(
    get,
    path = "/api/v1/support/tickets",
    params(TicketQuery, PageQuery),
    responses(
        (status = 200, description = "One page of tickets (without their conversations)",
            body = List<TicketView>),
        problems::Unauthorized, problems::Invalid,
    ),
)]
#[tracing::instrument(skip_all)]
pub(super) async fn list_tickets(
    State(app): State<SupportApp>,
    caller: Principal,
    Query(query): Query<TicketQuery>,
) -> ApiResult<Json<List<TicketView>>> {
    let page = query.page.page()?;
    let status =
        match query.status.as_deref() {
            None | Some("") => None,
            Some(raw) => Some(TicketStatus::parse(raw).ok_or_else(|| {
                Problem::invalid_field("status", "must be open, pending or closed")
            })?),
        };
    let assignee = query.assignee.filter(|a| !a.is_empty());
    let filter = TicketFilter {
        user_id: None,
        status,
        assignee,
    };
    let rows = app
        .tickets(&caller, filter, page.after.as_deref(), page.fetch_limit())
        .await?;
    let list = List::from_rows(rows, &page, |t| t.id.clone());
    Ok(Json(List {
        items: list.items.into_iter().map(TicketView::summary).collect(),
        next_cursor: list.next_cursor,
    }))
}

/// A ticket with its conversation (its owner, or admins).
#[utoipa::path(
    get,
    path = "/api/v1/support/tickets/{id}",
    params(("id" = String, Path, description = "The ticket")),
    responses(
        (status = 200, description = "The ticket", body = TicketView),
        problems::Unauthorized, problems::NotFound,
    ),
)]
#[tracing::instrument(skip_all)]
pub(super) async fn get_ticket(
    State(app): State<SupportApp>,
    caller: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<TicketView>> {
    path_id(&id, "ticket")?;
    Ok(Json(TicketView::full(app.ticket(&caller, &id).await?)))
}

/// A reply.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"body": "Thanks, it arrived today."}))]
pub(super) struct ReplyBody {
    /// The text: 1 to 10 000 characters.
    #[schema(min_length = 1, max_length = 10000)]
    body: String,
}

/// Replies on a ticket (its owner, or admins as agents). A customer's reply sets it
/// `open`, an agent's `pending`; a closed ticket takes no reply (409).
#[utoipa::path(
    post,
    path = "/api/v1/support/tickets/{id}/replies",
    params(("id" = String, Path, description = "The ticket")),
    request_body = ReplyBody,
    responses(
        (status = 201, description = "The ticket with the new message last", body = TicketView,
            headers(("Location" = String, description = "The ticket"))),
        problems::BadRequest, problems::Unauthorized, problems::NotFound, problems::Conflict,
        problems::Invalid,
    ),
)]
#[tracing::instrument(skip_all)]
pub(super) async fn reply(
    State(app): State<SupportApp>,
    caller: Principal,
    Path(id): Path<String>,
    Json(body): Json<ReplyBody>,
) -> ApiResult<Response> {
    path_id(&id, "ticket")?;
    let text = Body::try_from(body.body).map_err(|e| Problem::invalid_field("body", e.0))?;
    let ticket = app.reply(&caller, &id, text).await?;
    Ok(created(
        &format!("/api/v1/support/tickets/{}", ticket.id),
        TicketView::full(ticket),
    ))
}

/// Who works on a ticket.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct AssignBody {
    /// The id of an admin user.
    assignee: String,
}

/// Assigns a ticket to an admin (admins). A closed ticket is not reassigned (409).
#[utoipa::path(
    post,
    path = "/api/v1/support/tickets/{id}/assign",
    params(("id" = String, Path, description = "The ticket")),
    request_body = AssignBody,
    responses(
        (status = 200, description = "The ticket", body = TicketView),
        problems::BadRequest, problems::Unauthorized, problems::Forbidden, problems::NotFound,
        problems::Conflict, problems::Invalid, problems::Unavailable,
    ),
)]
#[tracing::instrument(skip_all)]
pub(super) async fn assign(
    State(app): State<SupportApp>,
    caller: Principal,
    credentials: ForwardedCredentials,
    Path(id): Path<String>,
    Json(body): Json<AssignBody>,
) -> ApiResult<Json<TicketView>> {
    caller.require_admin()?;
    path_id(&id, "ticket")?;
    let assignee = hyphenated_uuid(&body.assignee)
        .ok_or_else(|| Problem::invalid_field("assignee", "must be the id of an admin"))?;
    let ticket = app.assign(&caller, &credentials, &id, assignee).await?;
    Ok(Json(TicketView::full(ticket)))
}

/// Closes a ticket (its owner, or admins); closing a closed ticket is 409.
#[utoipa::path(
    post,
    path = "/api/v1/support/tickets/{id}/close",
    params(("id" = String, Path, description = "The ticket")),
    responses(
        (status = 200, description = "The closed ticket", body = TicketView),
        problems::Unauthorized, problems::NotFound, problems::Conflict,
    ),
)]
#[tracing::instrument(skip_all)]
pub(super) async fn close(
    State(app): State<SupportApp>,
    caller: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<TicketView>> {
    path_id(&id, "ticket")?;
    Ok(Json(TicketView::full(app.close(&caller, &id).await?)))
}
