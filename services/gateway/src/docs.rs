//! The API's description at the gateway: `GET /openapi.json`, the merged OpenAPI 3.1
//! document of every service behind it and of the gateway's own routes, and
//! `GET /docs`, which renders it with Swagger UI.
//!
//! Swagger UI is vendored from its npm package (`swagger-ui-dist`, see
//! `assets/swagger-ui/`) and compiled into the binary, so the page works offline. The
//! page loads nothing but these assets and the document, and its script is a file of
//! its own rather than inline, so a strict `Content-Security-Policy` holds.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use platform::http::api::{self, ApiRouter, routes};
use serde_json::Value;

/// Swagger UI's script, from `swagger-ui-dist` 5.35.0.
const SWAGGER_UI_JS: &[u8] = include_bytes!("../assets/swagger-ui/swagger-ui-bundle.js");
/// Swagger UI's style sheet, from the same package.
const SWAGGER_UI_CSS: &[u8] = include_bytes!("../assets/swagger-ui/swagger-ui.css");

/// The page: the style, the script, and the initializer that points it at the document.
const PAGE: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Viscount API</title>
<link rel="stylesheet" href="/docs/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/swagger-ui-bundle.js"></script>
<script src="/docs/init.js"></script>
</body>
</html>
"#;

/// Starts Swagger UI on `/openapi.json`; "Try it out" sends requests to this gateway.
const INIT: &str = r##"window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    // One collapsed section per service: a hundred-odd operations open at once make
    // a page too long to read (and too slow to lay out).
    docExpansion: "none",
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
  });
});
"##;

/// The gateway's own documented routes (besides the services').
fn gateway_api() -> ApiRouter<Arc<Bytes>> {
    ApiRouter::new().routes(routes!(openapi_json))
}

/// The merged document: the gateway's own routes, then every service's, in the order
/// given ([`platform::service::Declaration::openapi`] finishes each).
pub fn merged(services: Vec<Value>) -> Value {
    let own = api::document(
        "gateway",
        gateway_api()
            .into_openapi()
            .merge_from(crate::dead_letters::api().into_openapi()),
    );
    api::merge("Viscount API", std::iter::once(own).chain(services))
}

/// `/openapi.json`, `/docs` and the page's assets.
pub fn router(document: &Value) -> Router {
    let body = Arc::new(Bytes::from(
        serde_json::to_vec(document).unwrap_or_else(|_| b"{}".to_vec()),
    ));
    let (documented, _) = gateway_api().split_for_parts();
    documented
        .route(
            "/docs",
            get(|| async { page("text/html; charset=utf-8", PAGE.as_bytes()) }),
        )
        .route(
            "/docs/init.js",
            get(|| async { page("text/javascript; charset=utf-8", INIT.as_bytes()) }),
        )
        .route(
            "/docs/swagger-ui-bundle.js",
            get(|| async { asset("text/javascript; charset=utf-8", SWAGGER_UI_JS) }),
        )
        .route(
            "/docs/swagger-ui.css",
            get(|| async { asset("text/css; charset=utf-8", SWAGGER_UI_CSS) }),
        )
        .with_state(body)
}

/// The merged OpenAPI 3.1 document of every service behind the gateway.
#[utoipa::path(
    get,
    path = "/openapi.json",
    security(()),
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json", body = Object)),
)]
async fn openapi_json(State(body): State<Arc<Bytes>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        Bytes::clone(&body),
    )
        .into_response()
}

/// The page and its initializer: small, and they change with every release.
fn page(content_type: &'static str, body: &'static [u8]) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        body,
    )
        .into_response()
}

/// A vendored asset: the same bytes for the life of the binary.
fn asset(content_type: &'static str, body: &'static [u8]) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=3600"),
            ),
        ],
        body,
    )
        .into_response()
}
