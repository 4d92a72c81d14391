//! Configuration handlers: a service's document is read with its version as `ETag`,
//! and replaced only with `If-Match` naming the current version.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use platform::auth::Principal;
use platform::http::api::{ApiRouter, problems, routes};
use platform::http::{FieldError, Json, Problem};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::{ApiResult, ServiceName, problem, require_service, service_in_path};
use crate::app::CoordinationApp;
use crate::domain::{self, Document};

/// The configuration documents' routes.
pub(super) fn routes() -> ApiRouter<CoordinationApp> {
    ApiRouter::new().routes(routes!(get_document, put_document))
}

/// A document as the API shows it.
#[derive(Serialize, ToSchema)]
struct DocumentView {
    /// The service it configures.
    #[schema(value_type = ServiceName)]
    service: &'static str,
    /// Grows by one with each accepted change; 0 before the first. Also the `ETag`.
    version: u64,
    /// Setting name to value.
    #[schema(value_type = Object)]
    values: Map<String, Value>,
    /// After a change: the changed keys the service applies at once.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    applied_live: Option<Vec<String>>,
    /// After a change: the changed keys that take effect at the service's next start.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    needs_restart: Option<Vec<String>>,
}

/// `body` with the document's version as its strong `ETag`.
fn with_etag(version: u64, body: DocumentView) -> Response {
    let mut response = Json(body).into_response();
    if let Ok(tag) = HeaderValue::from_str(&format!("\"{version}\"")) {
        response.headers_mut().insert(header::ETAG, tag);
    }
    response
}

/// A service's configuration document (the platform's processes; admins).
///
/// Its version is its `ETag`, for `If-Match` on the next write.
#[utoipa::path(
    get,
    path = "/api/v1/config/{service}",
    params(("service" = inline(ServiceName), Path, description = "The service")),
    responses(
        (status = 200, description = "The document (version 0 and no values before the first write)", body = DocumentView,
            headers(("ETag" = String, description = "The version, quoted: `\"3\"`"))),
        problems::Unauthorized, problems::Forbidden, problems::NotFound,
    ),
)]
#[tracing::instrument(skip_all)]
pub(super) async fn get_document(
    State(app): State<CoordinationApp>,
    principal: Principal,
    Path(service): Path<String>,
) -> ApiResult<Response> {
    require_service(&principal)?;
    let service = service_in_path(&service)?;
    let Document { version, values } = app.document(service).await.map_err(problem)?;
    Ok(with_etag(
        version,
        DocumentView {
            service: service.as_str(),
            version,
            values,
            applied_live: None,
            needs_restart: None,
        },
    ))
}

/// A service's new configuration document.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"values": {"log_level": "info"}}))]
pub(super) struct PutBody {
    /// Setting name to value, the whole document. Keys the service applies live must
    /// have their type; other keys are kept and take effect at its next start.
    #[schema(value_type = Object)]
    values: Value,
}

/// The version `If-Match` names: `"3"` (an entity tag) or a bare `3`. 428 without one:
/// a write that does not say which version it read could undo a change it never saw.
fn expected_version(headers: &HeaderMap) -> Result<u64, Problem> {
    let Some(raw) = headers.get(header::IF_MATCH) else {
        return Err(Problem::new(
            StatusCode::PRECONDITION_REQUIRED,
            "precondition-required",
            "Precondition required",
            "send If-Match with the version you read (its ETag)",
        ));
    };
    raw.to_str()
        .ok()
        .map(str::trim)
        .map(|tag| {
            tag.strip_prefix('"')
                .and_then(|t| t.strip_suffix('"'))
                .unwrap_or(tag)
        })
        .and_then(|version| version.parse::<u64>().ok())
        .ok_or_else(|| {
            Problem::bad_request("If-Match must name a document version, e.g. \"3\"")
                .with("header", "If-Match")
        })
}

/// Replaces a service's configuration document (admins).
///
/// Only while it is still at the version read (`If-Match`); the service applies its
/// live keys without a restart.
#[utoipa::path(
    put,
    path = "/api/v1/config/{service}",
    params(
        ("service" = inline(ServiceName), Path, description = "The service"),
        ("If-Match" = String, Header, description = "The version read: its `ETag` (`\"3\"`) or the bare number",
            pattern = r#"^\s*("[0-9]+"|[0-9]+)\s*$"#),
    ),
    request_body = PutBody,
    responses(
        (status = 200, description = "Written: the new document, with the keys it changed", body = DocumentView,
            headers(("ETag" = String, description = "The new version, quoted"))),
        problems::BadRequest, problems::Unauthorized, problems::Forbidden, problems::NotFound,
        problems::PreconditionFailed, problems::Invalid,
        (status = 428, description = "No `If-Match`", content_type = "application/problem+json", body = Problem),
    ),
)]
#[tracing::instrument(skip_all)]
pub(super) async fn put_document(
    State(app): State<CoordinationApp>,
    principal: Principal,
    Path(service): Path<String>,
    headers: HeaderMap,
    Json(body): Json<PutBody>,
) -> ApiResult<Response> {
    principal.require_admin()?;
    let service = service_in_path(&service)?;
    let expected = expected_version(&headers)?;
    let values = domain::check_values(service, body.values).map_err(|errors| {
        Problem::validation(
            errors
                .into_iter()
                .map(|(field, message)| FieldError::new(field, message))
                .collect(),
        )
    })?;
    let written = app
        .write_document(service, expected, values)
        .await
        .map_err(problem)?;
    let version = written.document.version;
    Ok(with_etag(
        version,
        DocumentView {
            service: service.as_str(),
            version,
            values: written.document.values,
            applied_live: Some(written.change.applied_live),
            needs_restart: Some(written.change.needs_restart),
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn if_match(value: Option<&'static str>) -> Result<u64, u16> {
        let mut headers = HeaderMap::new();
        if let Some(value) = value {
            headers.insert(header::IF_MATCH, HeaderValue::from_static(value));
        }
        expected_version(&headers).map_err(|p| p.status)
    }

    #[test]
    fn if_match_takes_an_entity_tag_or_a_bare_version() {
        assert_eq!(if_match(Some("\"3\"")), Ok(3));
        assert_eq!(if_match(Some(" 0 ")), Ok(0));
        assert_eq!(if_match(None), Err(428));
        assert_eq!(if_match(Some("W/\"3\"")), Err(400));
        assert_eq!(if_match(Some("*")), Err(400));
    }
}
