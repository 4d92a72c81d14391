//! Configuration handlers: a service's document is read with its version as `ETag`,
//! and replaced only with `If-Match` naming the current version.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use platform::auth::Principal;
use platform::http::{FieldError, Json, Problem};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{ApiResult, problem, require_service, service_in_path};
use crate::app::CoordinationApp;
use crate::domain::{self, Document};

/// A document as the API shows it.
#[derive(Serialize)]
struct DocumentView {
    service: &'static str,
    version: u64,
    values: Map<String, Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    applied_live: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PutBody {
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
