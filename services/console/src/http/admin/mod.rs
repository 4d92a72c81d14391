//! The admin at `/admin`: every page needs the `admin` role (a customer gets a 403
//! page and no data; nobody signed in is sent to sign in first).

mod catalog;
mod dashboard;
mod orders;
mod stock;
mod templates;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};

use crate::app::Console;

/// The admin's routes.
pub(super) fn router() -> Router<Arc<Console>> {
    Router::new()
        .route("/admin", get(dashboard::show))
        .route("/admin/products", get(catalog::list).post(catalog::create))
        .route("/admin/products/new", get(catalog::new_form))
        .route(
            "/admin/products/{id}",
            get(catalog::edit).post(catalog::update),
        )
        .route("/admin/products/{id}/variants", post(catalog::add_variant))
        .route("/admin/products/{id}/delete", post(catalog::delete))
        .route("/admin/categories", post(catalog::create_category))
        .route("/admin/stock", get(stock::show))
        .route("/admin/stock/adjust", post(stock::adjust))
        .route("/admin/orders", get(orders::list))
        .route("/admin/orders/{id}", get(orders::detail))
        .route("/admin/orders/{id}/refund", post(orders::refund))
        .route("/admin/orders/{id}/cancel", post(orders::cancel))
        .route("/admin/orders/{id}/status", post(orders::set_status))
        .route(
            "/admin/shipments/{id}/{action}",
            post(orders::shipment_action),
        )
        .route("/admin/templates", get(templates::list))
        .route(
            "/admin/templates/{id}",
            get(templates::edit).post(templates::save),
        )
        .route("/admin/templates/{id}/preview", post(templates::preview))
}
