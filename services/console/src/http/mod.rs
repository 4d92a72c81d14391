//! The console's pages: the storefront at `/`, the admin at `/admin`, and the sign-in
//! round trip at `/auth`. Every page is rendered on the server; forms post back here
//! and the console calls the API for them.
//!
//! Around every page: the visitor's session is loaded once ([`visit`]), an unsafe
//! request must carry the session's CSRF token, and the answer carries a strict
//! Content-Security-Policy (scripts and styles from this origin only, no inline ones).

mod account;
mod admin;
mod assets;
mod auth;
mod cart;
mod forms;
mod orders;
mod render;
mod shop;
mod visitor;

use std::sync::Arc;

use axum::Router;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::routing::{get, post};

use crate::app::Console;

pub use assets::script_bytes;
pub use render::{PageError, PageResult, templates_parse};
pub use visitor::Visitor;

/// The console's routes, over `console`.
pub fn router(console: Arc<Console>) -> Router {
    let pages = Router::new()
        .route("/", get(shop::home))
        .route("/search", get(shop::search))
        .route("/products/{id}", get(shop::product))
        .route("/cart", get(cart::show))
        .route("/cart/items", post(cart::add))
        .route("/cart/items/{sku}", post(cart::set_quantity))
        .route("/checkout", get(cart::checkout_form).post(cart::checkout))
        .route("/orders", get(orders::list))
        .route("/orders/{id}", get(orders::detail))
        .route("/orders/{id}/cancel", post(orders::cancel))
        .route("/orders/{id}/return", post(orders::request_return))
        .route("/signup", get(account::signup_form).post(account::signup))
        .route("/account", get(account::show))
        .route("/account/profile", post(account::update_profile))
        .route("/account/password", post(account::change_password))
        .route("/account/mfa", post(account::enrol_mfa))
        .route("/account/mfa/verify", post(account::verify_mfa))
        .route(
            "/account/notifications",
            post(account::notification_preferences),
        )
        .route("/auth/login", get(auth::login))
        .route("/auth/callback", get(auth::callback))
        .route("/auth/logout", post(auth::logout))
        .merge(admin::router())
        .fallback(render::not_found)
        .layer(from_fn_with_state(console.clone(), visitor::visit))
        .layer(from_fn(render::security_headers))
        .with_state(console);
    pages.merge(assets::router())
}

/// The paths the console answers (every other is the API's); the gateway routes them
/// here.
pub fn serves(path: &str) -> bool {
    const PREFIXES: [&str; 9] = [
        "/search",
        "/products/",
        "/cart",
        "/checkout",
        "/orders",
        "/signup",
        "/account",
        "/auth/",
        "/admin",
    ];
    path == "/" || path.starts_with("/assets/") || PREFIXES.iter().any(|p| path.starts_with(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_routes_do_not_conflict() {
        let console = Console::new(
            crate::app::Api::new(Router::new()),
            crate::store::SessionStore::memory(),
            crate::config::ConsoleSettings::default(),
        );
        let _ = router(Arc::new(console));
    }

    #[test]
    fn the_console_owns_its_pages_and_leaves_the_api_alone() {
        for page in [
            "/",
            "/search",
            "/products/1",
            "/cart",
            "/admin",
            "/admin/orders",
            "/auth/login",
            "/assets/console.css",
        ] {
            assert!(serves(page), "{page}");
        }
        for api in [
            "/api/v1/products",
            "/oauth2/authorize",
            "/.well-known/jwks.json",
            "/health",
            "/docs",
            "/openapi.json",
            "/webhooks/stripe/charge/succeeded",
        ] {
            assert!(!serves(api), "{api}");
        }
    }
}
