//! `POST /api/v1/ingestion/touchpoints`: a tenant key's batch of visits → 202.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use platform::auth::Principal;
use platform::http::{FieldError, Json, Problem, Query};
use serde::Deserialize;
use serde_json::json;

use super::{ApiResult, one_tenant};
use crate::app::{IngestionApp, TouchpointInput};

pub(super) fn routes() -> Router<IngestionApp> {
    Router::new().route("/api/v1/ingestion/touchpoints", post(record))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Batch {
    items: Vec<TouchpointInput>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TenantQuery {
    tenant: Option<String>,
}

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
            axum::Json(json!({"accepted": ids.len(), "ids": ids})),
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
