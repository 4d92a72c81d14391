//! Schema handlers: every event type's JSON Schema, one schema, and the compatibility
//! check of a proposed one. Open to anyone: schemas describe the platform's public
//! event contracts.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, header};
use platform::http::api::{ApiRouter, problems, routes};
use platform::http::{Json, Problem};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::{ApiResult, problem};
use crate::app::CoordinationApp;

/// Media type of a JSON Schema document.
const SCHEMA_JSON: &str = "application/schema+json";

/// The schema registry's routes.
pub(super) fn routes() -> ApiRouter<CoordinationApp> {
    ApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(check))
        .routes(routes!(get_schema))
}

/// One event type's schema.
#[derive(Serialize, ToSchema)]
struct SchemaItem<'a> {
    /// The event type (`<service>.<aggregate>.<event>.v<N>`).
    event_type: &'static str,
    /// The JSON Schema of its payload.
    #[schema(value_type = Object)]
    schema: &'a Value,
}

/// Every event type's schema.
#[derive(Serialize, ToSchema)]
struct SchemaList<'a> {
    /// By event type.
    items: Vec<SchemaItem<'a>>,
}

/// The JSON Schema of every event type's payload (anyone).
#[utoipa::path(
    get,
    path = "/api/v1/schemas",
    operation_id = "list_schemas",
    responses(
        (status = 200, description = "Every event type's schema, by event type", body = SchemaList),
    ),
    security(()),
)]
#[tracing::instrument(skip_all)]
pub(super) async fn list(State(app): State<CoordinationApp>) -> Response {
    let items = app
        .schemas()
        .iter()
        .map(|(event_type, schema)| SchemaItem { event_type, schema })
        .collect();
    Json(SchemaList { items }).into_response()
}

/// The JSON Schema of one event type's payload (anyone).
#[utoipa::path(
    get,
    path = "/api/v1/schemas/{event_type}",
    params(("event_type" = String, Path, description = "The event type, e.g. `ordering.order.created.v1`")),
    responses(
        (status = 200, description = "The schema", content_type = "application/schema+json", body = Object),
        problems::NotFound,
    ),
    security(()),
)]
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

/// A proposed new schema for a registered event type.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"event_type": "ordering.order.created.v1", "schema": {"type": "object", "properties": {"order_id": {"type": "string"}}}}))]
pub(super) struct CheckBody {
    /// The registered event type it would replace the schema of.
    event_type: String,
    /// The proposed JSON Schema.
    #[schema(value_type = Object)]
    schema: Value,
}

/// The answer of a compatible schema.
#[derive(Serialize, ToSchema)]
pub(super) struct CheckAnswer {
    /// Always true (an incompatible schema is answered 409).
    compatible: bool,
}

/// Checks a proposed schema's backward compatibility with the registered one (anyone).
///
/// Compatible: no property removed or retyped, none newly required.
#[utoipa::path(
    post,
    path = "/api/v1/schemas/check",
    request_body = CheckBody,
    responses(
        (status = 200, description = "Compatible", body = CheckAnswer),
        problems::BadRequest, problems::NotFound,
        (status = 409, description = "Not backward compatible: `errors` names each incompatible field",
            content_type = "application/problem+json", body = Problem),
        problems::Invalid,
    ),
    security(()),
)]
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
