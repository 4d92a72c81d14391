//! The authentication log over HTTP: the caller's own, and any user's for admins
//! (another user's is a 403 for everyone else), newest first, a page at a time.

use axum::extract::{Path, State};
use platform::auth::Principal;
use platform::http::api::{ApiRouter, problems, routes};
use platform::http::{Json, List, PageQuery, Query};
use serde::Serialize;
use utoipa::ToSchema;

use super::users::user_id;
use super::{ApiResult, HttpState};
use crate::domain::{AuthEvent, AuthEventKind};

/// `/users/{me,id}/auth-log`.
pub(super) fn api() -> ApiRouter<HttpState> {
    ApiRouter::new()
        .routes(routes!(my_auth_log))
        .routes(routes!(user_auth_log))
}

/// One line of the log.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "01936f0e-8f5a-7cc2-b1d4-6f1a2b3c4d5e",
    "kind": "login_failed",
    "ip": "203.0.113.9",
    "user_agent": "Mozilla/5.0 (X11; Linux x86_64)",
    "at": "2026-12-05T14:03:11.512Z"
}))]
struct AuthEventView {
    /// Id.
    id: String,
    /// What happened.
    #[schema(value_type = String, example = "login_failed", pattern = "^(login_succeeded|login_failed|locked_out|mfa_challenge_passed|mfa_challenge_failed|mfa_enabled|refresh_reuse_detected|password_changed|logout)$")]
    kind: &'static str,
    /// The client's address, or null when the request had none.
    ip: Option<String>,
    /// The client's `User-Agent` (at most 512 characters), or null.
    user_agent: Option<String>,
    /// When, RFC 3339.
    at: String,
}

impl From<AuthEvent> for AuthEventView {
    fn from(event: AuthEvent) -> Self {
        Self {
            id: event.id,
            kind: AuthEventKind::as_str(event.kind),
            ip: event.ip,
            user_agent: event.user_agent,
            at: platform::time::rfc3339(event.at),
        }
    }
}

/// Reads one page of `id`'s log for `caller`.
async fn page_of(
    s: &HttpState,
    caller: &Principal,
    id: &str,
    query: PageQuery,
) -> ApiResult<Json<List<AuthEventView>>> {
    let page = query.page()?;
    let rows = s
        .app
        .auth_log(caller, id, page.after.as_deref(), page.fetch_limit())
        .await?;
    let list = List::from_rows(rows, &page, |e| e.id.clone());
    Ok(Json(List {
        items: list.items.into_iter().map(AuthEventView::from).collect(),
        next_cursor: list.next_cursor,
    }))
}

/// The caller's authentication log, newest first: sign-ins and their failures,
/// lockouts, MFA, refresh-token reuse, password changes and sign-outs, each with the
/// client's address and user agent (kept 90 days by default).
#[utoipa::path(
    get,
    path = "/api/v1/users/me/auth-log",
    params(PageQuery),
    responses(
        (status = 200, description = "One page of the log, newest first", body = List<AuthEventView>),
        problems::Unauthorized, problems::Forbidden, problems::NotFound, problems::Invalid,
    ),
)]
#[tracing::instrument(skip_all)]
async fn my_auth_log(
    State(s): State<HttpState>,
    caller: Principal,
    Query(query): Query<PageQuery>,
) -> ApiResult<Json<List<AuthEventView>>> {
    let id = caller.subject.clone();
    page_of(&s, &caller, &id, query).await
}

/// A user's authentication log, newest first: the caller's own, or any for admins.
#[utoipa::path(
    get,
    path = "/api/v1/users/{id}/auth-log",
    params(("id" = String, Path, description = "The user's id"), PageQuery),
    responses(
        (status = 200, description = "One page of the log, newest first", body = List<AuthEventView>),
        problems::Unauthorized, problems::Forbidden, problems::NotFound, problems::Invalid,
    ),
)]
#[tracing::instrument(skip_all)]
async fn user_auth_log(
    State(s): State<HttpState>,
    caller: Principal,
    Path(id): Path<String>,
    Query(query): Query<PageQuery>,
) -> ApiResult<Json<List<AuthEventView>>> {
    user_id(&id)?;
    page_of(&s, &caller, &id, query).await
}
