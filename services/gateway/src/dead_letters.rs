//! The platform's dead letters at the gateway. Every service keeps the events its
//! consumer gave up on and serves them at `/api/v1/admin/dead-letters`
//! ([`platform::bus::dead_letters`]); that public path belongs to no one service, so
//! the gateway answers it itself by asking every service it fronts, through the same
//! routers its path table dispatches to (in process, or over HTTP with their breakers),
//! with the caller's own credentials: each service decides who may see its letters.
//!
//! - The list, without `service`, merges every service's page newest first. Its cursor
//!   holds, per service, the service's own cursor after the last of its letters shown
//!   ([`DeadLetterView::cursor_after`]), and which services have shown all theirs. With
//!   `service=<name>` it is that service's page as the service answers it.
//! - A replay or a discard goes to each service in turn until one knows the id (ids are
//!   UUIDv7, unique across services).
//!
//! A service that does not answer leaves its part out and is named: in the list's
//! `unavailable`, or in a 503 when no service that answered knew the id.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Path, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{Extensions, HeaderMap, HeaderName, Method, StatusCode, header};
use platform::bus::dead_letters::{
    DeadLetterFilter, DeadLetterQuery, DeadLetterView, letter_path, list_uri,
};
use platform::http::api::{ApiRouter, problems, routes};
use platform::http::{ClientIp, List, PageQuery, Problem, Query, RouteLabel, encode_cursor};
use platform::service::ServiceKind;
use serde::{Deserialize, Serialize};
use tower::ServiceExt;
use utoipa::{IntoParams, ToSchema};

/// The most of one service's answer the gateway reads (a page of 100 letters with
/// their events).
const MAX_ANSWER_BYTES: usize = 16 * 1024 * 1024;

/// The caller's headers a service's desk needs: who calls, and the trace and request
/// they belong to.
const FORWARDED: [HeaderName; 4] = [
    header::AUTHORIZATION,
    HeaderName::from_static("x-api-key"),
    HeaderName::from_static("traceparent"),
    HeaderName::from_static("x-request-id"),
];

/// Every service the gateway fronts, as its path table reaches it.
#[derive(Clone)]
pub(crate) struct Desks {
    services: Arc<Vec<(ServiceKind, Router)>>,
}

impl Desks {
    /// The desks of `services` (each router serving that service's public paths).
    pub(crate) fn new(services: Vec<(ServiceKind, Router)>) -> Self {
        Self {
            services: Arc::new(services),
        }
    }
}

/// One page of the platform's dead letters.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DeadLetterPage {
    /// The letters, newest first.
    pub items: Vec<DeadLetterView>,
    /// Pass as `cursor` for the next page; null on the last.
    pub next_cursor: Option<String>,
    /// Services that did not answer: their letters are missing from this page.
    pub unavailable: Vec<String>,
}

/// The filters of the platform's list beside a service's own.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct PlatformQuery {
    /// Only this service's dead letters (e.g. `ordering`).
    service: Option<String>,
    #[serde(flatten)]
    #[param(ignore)]
    letters: DeadLetterQuery,
}

/// Where a merged list continues: per service, its cursor after the last of its letters
/// shown (absent: from its newest), and the services that have shown all theirs.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Position {
    #[serde(default, rename = "a")]
    after: BTreeMap<String, String>,
    #[serde(default, rename = "d")]
    done: BTreeSet<String>,
}

/// The gateway's routes for the platform's dead letters, with their documentation.
pub(crate) fn api() -> ApiRouter<Desks> {
    ApiRouter::new()
        .routes(routes!(list_dead_letters))
        .routes(routes!(replay_dead_letter))
        .routes(routes!(discard_dead_letter))
}

/// The routes on `desks`.
pub(crate) fn router(desks: Desks) -> Router {
    let (routes, _) = api().split_for_parts();
    routes.with_state(desks)
}

/// The platform's dead letters, every service's merged newest first (admins).
#[utoipa::path(
    get,
    path = "/api/v1/admin/dead-letters",
    params(PlatformQuery, DeadLetterQuery, PageQuery),
    responses(
        (status = 200, description = "One page of dead letters, newest first; services that did not answer are named in `unavailable`", body = DeadLetterPage),
        problems::Unauthorized, problems::Forbidden, problems::Invalid, problems::Unavailable,
    ),
)]
#[tracing::instrument(skip_all)]
async fn list_dead_letters(
    State(desks): State<Desks>,
    headers: HeaderMap,
    extensions: Extensions,
    Query(query): Query<PlatformQuery>,
) -> Response {
    let caller = Caller::of(&headers, &extensions);
    labelled(LIST_ROUTE, list(&desks, &caller, query).await)
}

/// The routes' labels in the gateway's metrics (they are served outside its router's
/// own routes, like the path table's prefixes).
const LIST_ROUTE: &str = "/api/v1/admin/dead-letters";
const REPLAY_ROUTE: &str = "/api/v1/admin/dead-letters/{id}/replay";
const LETTER_ROUTE: &str = "/api/v1/admin/dead-letters/{id}";

fn labelled(route: &'static str, mut response: Response) -> Response {
    response.extensions_mut().insert(RouteLabel(route));
    response
}

async fn list(desks: &Desks, caller: &Caller, query: PlatformQuery) -> Response {
    let (filter, page) = match query.letters.filter().and_then(|filter| {
        let page = query.letters.page.page()?;
        Ok((filter, page))
    }) {
        Ok(checked) => checked,
        Err(problem) => return problem.into_response(),
    };
    match query.service.as_deref().map(str::trim) {
        Some(name) => {
            let Some((kind, router)) = desks
                .services
                .iter()
                .find(|(kind, _)| kind.as_str() == name)
            else {
                let known: Vec<&str> = desks.services.iter().map(|(k, _)| k.as_str()).collect();
                return Problem::invalid_field(
                    "service",
                    format!("must be one of {}", known.join(", ")),
                )
                .into_response();
            };
            // The service's own cursor, as it issued it.
            let uri = list_uri(&filter, page.limit, query.letters.page.cursor.as_deref());
            one_service(*kind, caller.ask(router, Method::GET, &uri).await)
        }
        None => {
            let position = match page.after.as_deref() {
                None => Position::default(),
                Some(text) => match serde_json::from_str(text) {
                    Ok(position) => position,
                    Err(_) => {
                        return Problem::invalid_field("cursor", "is not a cursor this API issued")
                            .into_response();
                    }
                },
            };
            merged(desks, caller, &filter, page.limit, position).await
        }
    }
}

/// One service's page as it answered it, or its refusal.
fn one_service(kind: ServiceKind, answer: Answer) -> Response {
    match answer {
        Answer::Answered(status, body) if status.is_success() => {
            match serde_json::from_slice::<List<DeadLetterView>>(&body) {
                Ok(list) => axum::Json(DeadLetterPage {
                    items: list.items,
                    next_cursor: list.next_cursor,
                    unavailable: Vec::new(),
                })
                .into_response(),
                Err(_) => unavailable_problem(&[kind]),
            }
        }
        Answer::Answered(status, body) if is_the_callers(status) => pass_on(status, body),
        _ => unavailable_problem(&[kind]),
    }
}

/// Every service's page after `position`, merged: the newest `limit` letters of all.
async fn merged(
    desks: &Desks,
    caller: &Caller,
    filter: &DeadLetterFilter,
    limit: u32,
    mut position: Position,
) -> Response {
    let asked: Vec<_> = desks
        .services
        .iter()
        .filter(|(kind, _)| !position.done.contains(kind.as_str()))
        .map(|(kind, router)| {
            let uri = list_uri(
                filter,
                limit,
                position.after.get(kind.as_str()).map(String::as_str),
            );
            async move { (*kind, caller.ask(router, Method::GET, &uri).await) }
        })
        .collect();
    let answers = futures_util::future::join_all(asked).await;
    let mut unavailable = Vec::new();
    let mut pages: Vec<(ServiceKind, List<DeadLetterView>)> = Vec::new();
    for (kind, answer) in answers {
        match answer {
            Answer::Answered(status, body) if status.is_success() => {
                match serde_json::from_slice::<List<DeadLetterView>>(&body) {
                    Ok(list) => pages.push((kind, list)),
                    Err(err) => {
                        tracing::warn!(service = %kind, error = %err, "unreadable dead-letter page");
                        unavailable.push(kind.as_str().to_owned());
                    }
                }
            }
            // Who may see dead letters is each service's to say, and they agree: the
            // first refusal is the answer.
            Answer::Answered(status, body) if is_the_callers(status) => {
                return pass_on(status, body);
            }
            _ => unavailable.push(kind.as_str().to_owned()),
        }
    }
    let mut items: Vec<(ServiceKind, DeadLetterView)> = pages
        .iter()
        .flat_map(|(kind, list)| list.items.iter().map(move |item| (*kind, item.clone())))
        .collect();
    items.sort_by(|(_, a), (_, b)| DeadLetterView::newest_first(a, b));
    items.truncate(limit as usize);
    let mut more = false;
    for (kind, list) in &pages {
        let shown: Vec<&DeadLetterView> = items
            .iter()
            .filter(|(from, _)| from == kind)
            .map(|(_, item)| item)
            .collect();
        // A service's letters shown are the newest of its page, so it continues after
        // the last of them; with all of its last page shown it is done.
        if let Some(last) = shown.last() {
            position
                .after
                .insert(kind.as_str().to_owned(), last.cursor_after());
        }
        if shown.len() == list.items.len() && list.next_cursor.is_none() {
            position.done.insert(kind.as_str().to_owned());
        } else {
            more = true;
        }
    }
    // A service that did not answer does not keep the list going: a caller following
    // `next_cursor` would otherwise ask for ever while it is down.
    let next_cursor = more
        .then(|| serde_json::to_string(&position).ok())
        .flatten()
        .map(|text| encode_cursor(&text));
    axum::Json(DeadLetterPage {
        items: items.into_iter().map(|(_, item)| item).collect(),
        next_cursor,
        unavailable,
    })
    .into_response()
}

/// Applies a dead letter's event once more, in the service that holds it (admins).
#[utoipa::path(
    post,
    path = "/api/v1/admin/dead-letters/{id}/replay",
    params(("id" = String, Path, description = "The dead letter's id")),
    responses(
        (status = 200, description = "Replayed: the letter after it", body = DeadLetterView),
        problems::Unauthorized, problems::Forbidden, problems::NotFound,
        (status = 409, description = "Replayed already, or the event failed again (the problem's `error` says why; the letter counts the attempt)", body = Problem, content_type = "application/problem+json"),
        problems::Unavailable,
    ),
)]
#[tracing::instrument(skip_all, fields(dead_letter = %id))]
async fn replay_dead_letter(
    State(desks): State<Desks>,
    headers: HeaderMap,
    extensions: Extensions,
    Path(id): Path<String>,
) -> Response {
    let caller = Caller::of(&headers, &extensions);
    let uri = letter_path(&id, "/replay");
    let answer = first_that_knows(&desks, &caller, Method::POST, &uri).await;
    labelled(REPLAY_ROUTE, answer)
}

/// Deletes a dead letter, in the service that holds it: the operator gave up on it
/// (admins).
#[utoipa::path(
    delete,
    path = "/api/v1/admin/dead-letters/{id}",
    params(("id" = String, Path, description = "The dead letter's id")),
    responses(
        (status = 204, description = "Discarded"),
        problems::Unauthorized, problems::Forbidden, problems::NotFound, problems::Unavailable,
    ),
)]
#[tracing::instrument(skip_all, fields(dead_letter = %id))]
async fn discard_dead_letter(
    State(desks): State<Desks>,
    headers: HeaderMap,
    extensions: Extensions,
    Path(id): Path<String>,
) -> Response {
    let caller = Caller::of(&headers, &extensions);
    let uri = letter_path(&id, "");
    let answer = first_that_knows(&desks, &caller, Method::DELETE, &uri).await;
    labelled(LETTER_ROUTE, answer)
}

/// Sends the request to each service in turn until one answers anything but 404, and
/// passes that answer on.
async fn first_that_knows(desks: &Desks, caller: &Caller, method: Method, uri: &str) -> Response {
    let mut unavailable = Vec::new();
    for (kind, router) in desks.services.iter() {
        match caller.ask(router, method.clone(), uri).await {
            Answer::Answered(StatusCode::NOT_FOUND, _) => {}
            Answer::Answered(status, body) if !status.is_server_error() => {
                return pass_on(status, body);
            }
            _ => unavailable.push(*kind),
        }
    }
    if unavailable.is_empty() {
        Problem::not_found("dead letter").into_response()
    } else {
        unavailable_problem(&unavailable)
    }
}

/// What one service answered.
enum Answer {
    /// Its status and body.
    Answered(StatusCode, Bytes),
    /// Nothing usable (it failed before answering, or its body could not be read).
    Silent,
}

/// Statuses that are about the caller's request (credentials, filters, the letter's
/// state), which every service would answer alike: passed on as they are.
fn is_the_callers(status: StatusCode) -> bool {
    status.is_client_error() && status != StatusCode::NOT_FOUND
}

/// A service's answer, passed on as JSON (a problem keeps its media type).
fn pass_on(status: StatusCode, body: Bytes) -> Response {
    let problem = status.is_client_error() || status.is_server_error();
    let content_type = if problem {
        platform::http::problem::PROBLEM_JSON
    } else {
        "application/json"
    };
    if body.is_empty() {
        return status.into_response();
    }
    (status, [(header::CONTENT_TYPE, content_type)], body).into_response()
}

/// 503 naming the services that did not answer.
fn unavailable_problem(kinds: &[ServiceKind]) -> Response {
    let names: Vec<&str> = kinds.iter().map(|kind| kind.as_str()).collect();
    Problem::unavailable(format!(
        "no service that answered knows it; not answering: {}",
        names.join(", ")
    ))
    .with("unavailable", names)
    .into_response()
}

/// The caller as each service sees it: the forwarded headers, and its address.
struct Caller {
    headers: HeaderMap,
    client_ip: Option<ClientIp>,
    connect_info: Option<ConnectInfo<SocketAddr>>,
}

impl Caller {
    fn of(headers: &HeaderMap, extensions: &Extensions) -> Self {
        let mut forwarded = HeaderMap::new();
        for name in FORWARDED {
            for value in headers.get_all(&name) {
                forwarded.append(name.clone(), value.clone());
            }
        }
        Self {
            headers: forwarded,
            client_ip: extensions.get::<ClientIp>().copied(),
            connect_info: extensions.get::<ConnectInfo<SocketAddr>>().copied(),
        }
    }

    /// `method uri` (a path and query) to one service's `router`.
    async fn ask(&self, router: &Router, method: Method, uri: &str) -> Answer {
        let mut request = match http::Request::builder()
            .method(method)
            .uri(uri)
            .body(Body::empty())
        {
            Ok(request) => request,
            Err(err) => {
                tracing::warn!(error = %err, "cannot build a dead-letter request");
                return Answer::Silent;
            }
        };
        request.headers_mut().extend(self.headers.clone());
        if let Some(ip) = self.client_ip {
            request.extensions_mut().insert(ip);
        }
        if let Some(info) = self.connect_info {
            request.extensions_mut().insert(info);
        }
        let Ok(response) = router.clone().oneshot(request).await;
        let status = response.status();
        match axum::body::to_bytes(response.into_body(), MAX_ANSWER_BYTES).await {
            Ok(body) => Answer::Answered(status, body),
            Err(err) => {
                tracing::warn!(error = %err, "unreadable dead-letter answer");
                Answer::Silent
            }
        }
    }
}
