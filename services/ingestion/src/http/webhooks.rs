//! `POST /webhooks/{provider}/{topic...}?tenant={id}`: a provider's delivery, taken as
//! raw bytes (the signature is over them) and handed to the app untouched. The answer
//! is 200 for a stored or repeated event, 202 for a dead one, 401 for anything not from
//! a configured source with a good signature.

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use contracts::ingestion::Provider;
use platform::http::Problem;
use serde::Deserialize;
use serde_json::json;

use super::ApiResult;
use crate::app::{IngestionApp, Receipt};
use crate::domain::Topic;
use crate::domain::signature::Headers;

/// `/webhooks/...`.
pub(super) fn routes() -> Router<IngestionApp> {
    Router::new().route("/webhooks/{provider}/{*topic}", post(receive))
}

#[derive(Deserialize)]
struct WebhookQuery {
    tenant: Option<String>,
}

/// A request's headers as the domain reads them.
struct RequestHeaders<'a>(&'a HeaderMap);

impl Headers for RequestHeaders<'_> {
    fn header(&self, name: &str) -> Option<&str> {
        self.0.get(name)?.to_str().ok()
    }
}

#[tracing::instrument(skip_all)]
async fn receive(
    State(app): State<IngestionApp>,
    Path((provider, topic)): Path<(String, String)>,
    query: Result<Query<WebhookQuery>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let topic = Provider::parse(&provider)
        .and_then(|provider| Topic::parse(provider, &topic))
        .ok_or_else(|| Problem::not_found("webhook topic"))?;
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            platform::http::extract::payload_too_large()
        } else {
            Problem::bad_request("the request body could not be read")
        }
    })?;
    let tenant = query.ok().and_then(|Query(q)| q.tenant);
    let receipt = app
        .receive_webhook(topic, tenant.as_deref(), &RequestHeaders(&headers), &body)
        .await?;
    Ok(match receipt {
        Receipt::Stored(id) => (
            StatusCode::OK,
            axum::Json(json!({"status": "stored", "id": id})),
        )
            .into_response(),
        Receipt::Duplicate(id) => (
            StatusCode::OK,
            axum::Json(json!({"status": "duplicate", "id": id})),
        )
            .into_response(),
        Receipt::Dead { id, reason } => (
            StatusCode::ACCEPTED,
            axum::Json(json!({"status": "dead", "id": id, "reason": reason})),
        )
            .into_response(),
    })
}
