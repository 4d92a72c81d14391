//! The fraud review queue over HTTP (admins only): the queue by status, one review,
//! and the two decisions. A decision on a review decided already is 409
//! (`review-decided`), so two admins acting at once cannot both decide.

use axum::extract::{Path, State};
use axum::middleware::from_fn;
use platform::auth::Principal;
use platform::http::api::{ApiRouter, UtoipaMethodRouterExt, problems, routes};
use platform::http::{Json, List, PageQuery, Problem, Query};
use serde::Deserialize;
use utoipa::IntoParams;

use super::ApiResult;
use crate::app::{FraudReviewView, PaymentsApp};
use crate::domain::ReviewStatus;

/// The review queue's routes. A decision runs to its end whatever its client does
/// (`detach`): an approval calls the provider, and a hold made there must be recorded.
pub(super) fn api() -> ApiRouter<PaymentsApp> {
    ApiRouter::new()
        .routes(routes!(list_reviews))
        .routes(routes!(get_review))
        .routes(routes!(approve_review).map(|route| route.layer(from_fn(platform::tasks::detach))))
        .routes(routes!(decline_review).map(|route| route.layer(from_fn(platform::tasks::detach))))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ReviewsQuery {
    /// Only reviews in this status: `pending`, `approved`, `declined` or `expired`.
    status: Option<String>,
    /// Items per page, 1 to 100 (20 when absent).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
    /// Where the previous page ended (its `next_cursor`).
    cursor: Option<String>,
}

/// A review id from the path; anything else names no review.
fn review_id(id: &str) -> ApiResult<&str> {
    if platform::ids::is_uuid(id) {
        Ok(id)
    } else {
        Err(Problem::not_found("fraud review"))
    }
}

/// The fraud review queue, newest first (admins).
#[utoipa::path(
    get,
    path = "/api/v1/fraud/reviews",
    params(ReviewsQuery),
    responses(
        (status = 200, description = "One page of reviews", body = List<FraudReviewView>),
        problems::Unauthorized, problems::Forbidden, problems::Invalid,
    ),
)]
#[tracing::instrument(skip_all)]
async fn list_reviews(
    State(app): State<PaymentsApp>,
    caller: Principal,
    Query(query): Query<ReviewsQuery>,
) -> ApiResult<Json<List<FraudReviewView>>> {
    caller.require_admin()?;
    let status = match query.status.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(name) => Some(ReviewStatus::parse(name).ok_or_else(|| {
            Problem::invalid_field("status", "must be pending, approved, declined or expired")
        })?),
    };
    let page = PageQuery {
        limit: query.limit,
        cursor: query.cursor,
    }
    .page()?;
    let rows = app
        .reviews(status, page.after.as_deref(), page.fetch_limit())
        .await?;
    Ok(Json(List::from_rows(rows, &page, |r| r.id.clone())))
}

/// One fraud review (admins).
#[utoipa::path(
    get,
    path = "/api/v1/fraud/reviews/{id}",
    params(("id" = String, Path, description = "The review's id")),
    responses(
        (status = 200, description = "The review", body = FraudReviewView),
        problems::Unauthorized, problems::Forbidden, problems::NotFound,
    ),
)]
#[tracing::instrument(skip_all)]
async fn get_review(
    State(app): State<PaymentsApp>,
    caller: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<FraudReviewView>> {
    caller.require_admin()?;
    Ok(Json(app.review(review_id(&id)?).await?))
}

/// Approves a held authorization: it proceeds to the provider now, and the order's
/// saga goes on as for any authorization (admins).
#[utoipa::path(
    post,
    path = "/api/v1/fraud/reviews/{id}/approve",
    params(("id" = String, Path, description = "The review's id")),
    responses(
        (status = 200, description = "Approved", body = FraudReviewView),
        problems::Unauthorized, problems::Forbidden, problems::NotFound, problems::Conflict,
    ),
)]
#[tracing::instrument(skip_all)]
async fn approve_review(
    State(app): State<PaymentsApp>,
    caller: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<FraudReviewView>> {
    caller.require_admin()?;
    Ok(Json(
        app.approve_review(review_id(&id)?, &caller.subject).await?,
    ))
}

/// Declines a held authorization: the payment fails (`fraud`,
/// `fraud_review_declined`) and the order is cancelled (admins).
#[utoipa::path(
    post,
    path = "/api/v1/fraud/reviews/{id}/decline",
    params(("id" = String, Path, description = "The review's id")),
    responses(
        (status = 200, description = "Declined", body = FraudReviewView),
        problems::Unauthorized, problems::Forbidden, problems::NotFound, problems::Conflict,
    ),
)]
#[tracing::instrument(skip_all)]
async fn decline_review(
    State(app): State<PaymentsApp>,
    caller: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<FraudReviewView>> {
    caller.require_admin()?;
    Ok(Json(
        app.decline_review(review_id(&id)?, &caller.subject).await?,
    ))
}
