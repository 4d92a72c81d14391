//! Schema handlers: every event type's JSON Schema, one schema, and the compatibility
//! check of a proposed one. Open to anyone: schemas describe the platform's public
//! event contracts.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, header};
use platform::http::{Json, Problem};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{ApiResult, problem};
use crate::app::CoordinationApp;

/// Media type of a JSON Schema document.
const SCHEMA_JSON: &str = "application/schema+json";

#[derive(Serialize)]
struct SchemaItem<'a> {
    event_type: &'static str,
    schema: &'a Value,
}

#[derive(Serialize)]
struct SchemaList<'a> {
    items: Vec<SchemaItem<'a>>,
}

#[tracing::instrument(skip_all)]
pub(super) async fn list(State(app): State<CoordinationApp>) -> Response {
    let items = app
        .schemas()
        .iter()
        .map(|(event_type, schema)| SchemaItem { event_type, schema })
        .collect();
    Json(SchemaList { items }).into_response()
}

#[tracing::instrument(skip_all)]
pub(super) async fn get_schema(
    State(app): State<CoordinationApp>,
    Path(event_type): Path<String>,
) -> ApiResult<Response> {
    let schema = app
        .schemas()
        .get(&event_type)
        .ok_or_else(|| Problem::not_found("event type"))?;
    let mut response = Json(schema).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(SCHEMA_JSON));
    Ok(response)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CheckBody {
    event_type: String,
    schema: Value,
}

#[derive(Serialize)]
pub(super) struct CheckAnswer {
    compatible: bool,
}

#[tracing::instrument(skip_all)]
pub(super) async fn check(
    State(app): State<CoordinationApp>,
    Json(body): Json<CheckBody>,
) -> ApiResult<Json<CheckAnswer>> {
    if !body.schema.is_object() {
        return Err(Problem::invalid_field(
            "schema",
            "must be a JSON Schema object",
        ));
    }
    app.check_schema(&body.event_type, &body.schema)
        .map_err(problem)?;
    Ok(Json(CheckAnswer { compatible: true }))
}
