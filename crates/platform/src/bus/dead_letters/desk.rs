//! The dead-letter desk every service serves to admins under
//! `/api/v1/admin/dead-letters`, built by the platform for every service
//! ([`crate::service::full_router`]), so a new service has it without writing anything.
//! The gateway answers the same paths for the whole platform by asking each service's
//! desk in turn.

use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::extract::{Path, State};
use axum::middleware::from_fn_with_state;
use axum::response::Response;
use serde::Deserialize;
use utoipa::IntoParams;

use super::{
    DeadLetterFilter, DeadLetterStatus, DeadLetterView, ReplayError, discard, is_cursor, letter,
    list, replay, why_not_waiting,
};
use crate::auth::{Authenticator, Principal};
use crate::bus::Subscription;
use crate::db::Db;
use crate::http::api::{ApiRouter, problems, routes};
use crate::http::{Json, List, PageQuery, Problem, Query, no_content};

/// What a service's desk works on: its database, and its consumer's subscription once
/// the service is launched (a service that consumes nothing never gets one: its list
/// is empty and every letter unknown).
#[derive(Clone)]
pub struct DeadLetterDesk {
    service: String,
    db: Db,
    subscription: Arc<OnceLock<Subscription>>,
}

impl DeadLetterDesk {
    /// The desk of `service` over `db`, replaying through the subscription set in
    /// `subscription` (see [`crate::service::ServiceData`]).
    pub(crate) fn new(service: &str, db: Db, subscription: Arc<OnceLock<Subscription>>) -> Self {
        Self {
            service: service.to_owned(),
            db,
            subscription,
        }
    }
}

/// The filters of a list of dead letters (paging is [`PageQuery`]'s).
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeadLetterQuery {
    /// `waiting` (not replayed yet) or `replayed`; both when absent.
    #[param(value_type = Option<DeadLetterStatus>)]
    pub status: Option<String>,
    /// Only events of this type, e.g. `inventory.stock.updated.v1`.
    pub event_type: Option<String>,
    /// Paging.
    #[serde(flatten)]
    #[param(ignore)]
    pub page: PageQuery,
}

impl DeadLetterQuery {
    /// The filter asked for (422 naming `status` when it is not a status).
    pub fn filter(&self) -> Result<DeadLetterFilter, Problem> {
        let status = match self.status.as_deref() {
            None => None,
            Some(raw) => Some(DeadLetterStatus::parse(raw).ok_or_else(|| {
                Problem::invalid_field("status", "must be `waiting` or `replayed`")
            })?),
        };
        Ok(DeadLetterFilter {
            status,
            event_type: self
                .event_type
                .as_deref()
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_owned),
        })
    }
}

/// The desk's routes and their documentation, declared without values.
pub fn api() -> ApiRouter<DeadLetterDesk> {
    ApiRouter::new()
        .routes(routes!(list_dead_letters))
        .routes(routes!(replay_dead_letter))
        .routes(routes!(discard_dead_letter))
}

/// The desk's routes on `desk`, behind `authenticator` (every route needs an admin;
/// without an authenticator every caller is anonymous and refused).
pub fn router(desk: DeadLetterDesk, authenticator: Option<Authenticator>) -> Router {
    let (routes, _) = api().split_for_parts();
    let routes = routes.with_state(desk);
    match authenticator {
        Some(authenticator) => {
            routes.layer(from_fn_with_state(authenticator, crate::auth::authenticate))
        }
        None => routes,
    }
}

impl From<ReplayError> for Problem {
    fn from(err: ReplayError) -> Self {
        match &err {
            ReplayError::NotFound => Problem::not_found("dead letter"),
            ReplayError::Replayed => Problem::conflict("dead-letter-replayed", err.to_string()),
            ReplayError::Foreign(_) => Problem::conflict("dead-letter-foreign", err.to_string()),
            ReplayError::Failed(cause) => {
                // The operator's question is why: the same chain the letter now shows.
                let error = crate::telemetry::error_chain(cause);
                Problem::conflict(
                    "dead-letter-replay-failed",
                    format!("the event failed again: {error}"),
                )
                .with("error", error)
            }
            ReplayError::Sql(_) => Problem::unexpected(&err),
        }
    }
}

/// The service's dead letters, newest first (admins).
#[utoipa::path(
    get,
    path = "/api/v1/admin/dead-letters",
    params(DeadLetterQuery, PageQuery),
    responses(
        (status = 200, description = "One page of dead letters, newest first", body = List<DeadLetterView>),
        problems::Unauthorized, problems::Forbidden, problems::Invalid,
    ),
)]
#[tracing::instrument(skip_all)]
async fn list_dead_letters(
    State(desk): State<DeadLetterDesk>,
    caller: Principal,
    Query(query): Query<DeadLetterQuery>,
) -> Result<Json<List<DeadLetterView>>, Problem> {
    caller.require_admin()?;
    let filter = query.filter()?;
    let page = query.page.page()?;
    if !is_cursor(&page) {
        return Err(Problem::invalid_field(
            "cursor",
            "is not a cursor this API issued",
        ));
    }
    let letters = list(&desk.db, &desk.service, &filter, &page)
        .await
        .map_err(|err| Problem::unexpected(&err))?;
    Ok(Json(letters))
}

/// Applies a dead letter's event once more through the service's consumer (admins).
#[utoipa::path(
    post,
    path = "/api/v1/admin/dead-letters/{id}/replay",
    params(("id" = String, Path, description = "The dead letter's id")),
    responses(
        (status = 200, description = "Replayed: the letter after it", body = DeadLetterView),
        problems::Unauthorized, problems::Forbidden, problems::NotFound,
        (status = 409, description = "Replayed already, or the event failed again (the problem's `error` says why; the letter counts the attempt)", body = Problem, content_type = "application/problem+json"),
    ),
)]
#[tracing::instrument(skip_all, fields(dead_letter = %id))]
async fn replay_dead_letter(
    State(desk): State<DeadLetterDesk>,
    caller: Principal,
    Path(id): Path<String>,
) -> Result<Json<DeadLetterView>, Problem> {
    caller.require_admin()?;
    match desk.subscription.get() {
        Some(subscription) => replay(subscription, &id).await?,
        None => {
            let why = why_not_waiting(&desk.db, &id, None)
                .await
                .map_err(|err| Problem::unexpected(&err))?;
            return Err(why.into());
        }
    }
    let replayed = letter(&desk.db, &desk.service, &id)
        .await
        .map_err(|err| Problem::unexpected(&err))?;
    replayed
        .map(Json)
        .ok_or_else(|| Problem::not_found("dead letter"))
}

/// Deletes a dead letter: the operator gave up on it (admins).
#[utoipa::path(
    delete,
    path = "/api/v1/admin/dead-letters/{id}",
    params(("id" = String, Path, description = "The dead letter's id")),
    responses(
        (status = 204, description = "Discarded"),
        problems::Unauthorized, problems::Forbidden, problems::NotFound,
    ),
)]
#[tracing::instrument(skip_all, fields(dead_letter = %id))]
async fn discard_dead_letter(
    State(desk): State<DeadLetterDesk>,
    caller: Principal,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    caller.require_admin()?;
    let deleted = discard(&desk.db, &id)
        .await
        .map_err(|err| Problem::unexpected(&err))?;
    if !deleted {
        return Err(Problem::not_found("dead letter"));
    }
    tracing::info!(service = %desk.service, dead_letter = %id, "dead letter discarded");
    Ok(no_content())
}
