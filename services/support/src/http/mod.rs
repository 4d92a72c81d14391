//! Support's HTTP surface under `/api/v1/support`: tickets (`tickets`) and the
//! knowledge base (`articles`). Handlers check who may call, turn bodies into validated
//! domain inputs, call the app and render what it returns. Each route is declared with
//! its OpenAPI description ([`api`]).

mod articles;
mod tickets;

use axum::Router;
use axum::middleware::from_fn_with_state;
use platform::auth::Authenticator;
use platform::http::Problem;
use platform::http::api::{ApiRouter, routes};

use crate::app::{SupportApp, SupportError};
use crate::peers::PeerError;

/// The routes and their documentation, declared without values.
pub fn api() -> ApiRouter<SupportApp> {
    ApiRouter::new()
        .routes(routes!(tickets::list_tickets, tickets::open_ticket))
        .routes(routes!(tickets::get_ticket))
        .routes(routes!(tickets::reply))
        .routes(routes!(tickets::assign))
        .routes(routes!(tickets::close))
        .routes(routes!(articles::list_articles, articles::create_article))
        .routes(routes!(
            articles::get_article,
            articles::revise_article,
            articles::delete_article
        ))
}

/// The routes with the service's state, behind the authentication middleware.
pub fn router(app: SupportApp, authenticator: Authenticator) -> Router {
    let (routes, _) = api().split_for_parts();
    routes.with_state(app).layer(from_fn_with_state(
        authenticator,
        platform::auth::authenticate,
    ))
}

impl From<SupportError> for Problem {
    fn from(err: SupportError) -> Self {
        match &err {
            SupportError::TicketNotFound => Problem::not_found("ticket"),
            SupportError::ArticleNotFound => Problem::not_found("article"),
            SupportError::UnknownOrder => Problem::invalid_field("order_id", err.to_string()),
            SupportError::NotAnAdmin => Problem::invalid_field("assignee", err.to_string()),
            SupportError::Conflict(_) => Problem::conflict("ticket-closed", err.to_string()),
            SupportError::Raced => Problem::conflict("ticket-changed", err.to_string()),
            SupportError::Peer(PeerError::Unavailable(service)) => {
                Problem::unavailable(format!("{service} is unavailable; try again later"))
            }
            SupportError::Search(_) | SupportError::Sql(_) => Problem::unexpected(&err),
        }
    }
}

/// An id from the path: ids are UUIDs, so anything else is no such resource (and never
/// reaches SQL or another service's URL).
fn path_id(raw: &str, what: &str) -> Result<(), Problem> {
    if hyphenated_uuid(raw).is_some() {
        Ok(())
    } else {
        Err(Problem::not_found(what))
    }
}

/// `raw` as a lowercase hyphenated UUID, the only form of the platform's ids, or `None`
/// (so what support passes on in another service's URL is always plain).
fn hyphenated_uuid(raw: &str) -> Option<String> {
    let raw = raw.trim();
    (raw.len() == 36
        && raw.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
        && platform::ids::is_uuid(raw))
    .then(|| raw.to_ascii_lowercase())
}
