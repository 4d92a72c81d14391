//! The console's static files, compiled into the binary: htmx (vendored, 2.0.11), the
//! style sheet, and the few lines of script the pages share. Nothing else is loaded.

use axum::Router;
use axum::extract::Path;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{HeaderValue, StatusCode, header};

/// `(name, media type, content)` of each file.
const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "htmx.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/htmx.min.js"),
    ),
    (
        "console.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/console.js"),
    ),
    (
        "console.css",
        "text/css; charset=utf-8",
        include_bytes!("../../assets/console.css"),
    ),
];

/// `GET /assets/{name}`.
pub fn router() -> Router {
    Router::new().route("/assets/{name}", get(asset))
}

async fn asset(Path(name): Path<String>) -> Response {
    match ASSETS.iter().find(|(known, _, _)| *known == name) {
        Some((_, media_type, content)) => (
            [
                (header::CONTENT_TYPE, HeaderValue::from_static(media_type)),
                // Pages name them with the binary's version, so an hour is safe.
                (
                    header::CACHE_CONTROL,
                    HeaderValue::from_static("public, max-age=3600"),
                ),
                (
                    header::X_CONTENT_TYPE_OPTIONS,
                    HeaderValue::from_static("nosniff"),
                ),
            ],
            *content,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such file").into_response(),
    }
}

/// Bytes of script a page loads (every script file), for the test of the budget.
pub fn script_bytes() -> usize {
    ASSETS
        .iter()
        .filter(|(_, media_type, _)| media_type.starts_with("text/javascript"))
        .map(|(_, _, content)| content.len())
        .sum()
}
