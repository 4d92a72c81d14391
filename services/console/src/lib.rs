//! The web console: the storefront (`/`) and the admin (`/admin`) in the browser,
//! served by the gateway in both shapes.
//!
//! A backend-for-frontend: pages are rendered on the server from templates compiled
//! into the binary (minijinja), with htmx (vendored) for the few partial updates; no
//! Node toolchain builds or runs it. It signs browsers in through identity's OpenID
//! Connect authorization code flow as the built-in client `viscount-console`, keeps
//! their tokens on the server behind an HttpOnly, SameSite session cookie (in memory,
//! or in Redis so every gateway replica shares them), checks a per-session CSRF token
//! on every form, and calls the public API through the gateway's own edge like any
//! other client.

pub mod app;
pub mod config;
pub mod domain;
pub mod http;
pub mod store;

use std::sync::Arc;

use axum::Router;

pub use app::{Api, Console};
pub use config::ConsoleSettings;
pub use store::SessionStore;

/// The console's pages over `api` (the gateway's edge and routes), keeping sessions in
/// `store`.
pub fn router(api: Router, store: SessionStore, settings: ConsoleSettings) -> Router {
    http::router(Arc::new(Console::new(Api::new(api), store, settings)))
}

pub use http::serves;

/// Whether every template parses (the binary's templates are checked by its tests).
pub fn templates_parse() -> Result<(), String> {
    http::templates_parse()
}

/// Bytes of script every page may load.
pub fn script_bytes() -> usize {
    http::script_bytes()
}
