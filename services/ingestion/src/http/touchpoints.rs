//! `POST /api/v1/ingestion/touchpoints`: a tenant key's batch of visits → 202.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use platform::auth::Principal;
use platform::http::api::{ApiRouter, problems, routes};
use platform::http::{FieldError, Json, Problem, Query};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{ApiResult, one_tenant};
use crate::app::{IngestionApp, TouchpointInput};

/// `/api/v1/ingestion/touchpoints`.
pub(super) fn api() -> ApiRouter<IngestionApp> {
    ApiRouter::new().routes(routes!(record))
}

/// A batch of visits.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"items": [{"customer_ref": "ada@example.com", "occurred_at": "2026-03-01T09:30:00Z", "utm_source": "google", "utm_medium": "cpc", "utm_campaign": "spring"}]}))]
struct Batch {
    /// 1 to 1,000 visits (the configured most), all stored or none.
    #[schema(min_items = 1)]
    items: Vec<TouchpointInput>,
}

/// `POST /api/v1/ingestion/touchpoints` query.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct TenantQuery {
    /// The tenant, for an admin (a tenant key records its own).
    tenant: Option<String>,
}

/// The stored visits.
#[derive(Serialize, ToSchema)]
struct Accepted {
    /// How many.
    accepted: usize,
    /// Their ids, in the batch's order.
    ids: Vec<String>,
}

/// Records a batch of a tenant's visits.
///
/// Each with its marketing source, classified by the tenant's channel taxonomy (tenant
/// keys; admins naming the tenant).
#[utoipa::path(
    post,
    path = "/api/v1/ingestion/touchpoints",
    params(TenantQuery),
    request_body = Batch,
    responses(
        (status = 202, description = "Stored", body = Accepted),
        problems::BadRequest, problems::Unauthorized, problems::Forbidden, problems::NotFound,
        problems::Invalid, problems::Unavailable,
    ),
)]
#[tracing::instrument(skip_all)]
async fn record(
    State(app): State<IngestionApp>,
    caller: Principal,
    Query(query): Query<TenantQuery>,
    Json(batch): Json<Batch>,
) -> ApiResult<Response> {
    let tenant = one_tenant(&caller, query.tenant.as_deref())?;
    match app.record_touchpoints(&tenant, batch.items).await? {
        Ok(ids) => Ok((
            StatusCode::ACCEPTED,
            Json(Accepted {
                accepted: ids.len(),
                ids,
            }),
        )
            .into_response()),
        Err(refused) => Err(Problem::validation(
            refused
                .errors
                .into_iter()
                .map(|(field, message)| FieldError::new(field, message))
                .collect(),
        )),
    }
}
