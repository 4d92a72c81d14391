//! The admin at `/admin`: every page needs the `admin` role (a customer gets a 403
//! page and no data; nobody signed in is sent to sign in first).

mod catalog;
mod dashboard;
mod ingestion;
mod insights;
mod operations;
mod orders;
mod people;
mod stock;
mod templates;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};

use serde_json::Value as Json;

use crate::app::{Call, Console};
use crate::http::PageError;
use crate::http::shop::List;
use crate::http::visitor::Visitor;

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
        .route("/admin/shipments/{id}/label", get(orders::shipment_label))
        .route("/admin/templates", get(templates::list))
        .route(
            "/admin/templates/{id}",
            get(templates::edit).post(templates::save),
        )
        .route("/admin/templates/{id}/preview", post(templates::preview))
        .route("/admin/shipments", get(operations::shipments))
        .route("/admin/returns", get(operations::returns))
        .route(
            "/admin/returns/{id}/{action}",
            post(operations::return_action),
        )
        .route("/admin/dead-letters", get(operations::dead_letters))
        .route(
            "/admin/dead-letters/{id}/{action}",
            post(operations::dead_letter_action),
        )
        .route("/admin/health", get(operations::health))
        .route("/admin/users", get(people::users))
        .route("/admin/users/{id}/roles", post(people::set_roles))
        .route(
            "/admin/api-keys",
            get(people::api_keys).post(people::create_key),
        )
        .route("/admin/api-keys/{id}/delete", post(people::delete_key))
        .route(
            "/admin/tenants",
            get(ingestion::tenants).post(ingestion::create_tenant),
        )
        .route("/admin/tenants/{id}/sources", post(ingestion::set_source))
        .route(
            "/admin/dead-events/{id}/replay",
            post(ingestion::replay_dead_event),
        )
        .route("/admin/revenue", get(insights::revenue))
        .route(
            "/admin/reconciliation",
            get(insights::reconciliation).post(insights::run_reconciliation),
        )
        .route(
            "/admin/reports",
            get(insights::reports).post(insights::generate_report),
        )
        .route("/admin/reports/schedules", post(insights::schedule_report))
        .route(
            "/admin/reports/schedules/{id}/delete",
            post(insights::unschedule_report),
        )
        .route(
            "/admin/reports/{id}/download",
            get(insights::download_report),
        )
}

/// The tenants (the first hundred: a platform has a few).
async fn tenants(console: &Console, visitor: &Visitor) -> Result<Vec<Json>, PageError> {
    let list: List<Json> = visitor
        .ask(console, Call::get("/api/v1/tenants?limit=100"), "tenants")
        .await?;
    Ok(list.items)
}

/// The file at the API's `path` (a label, a report), fetched with the admin's token and
/// passed on with its type and name; never cached, as it is the shop's own data.
async fn file(
    console: &Console,
    visitor: &Visitor,
    path: String,
) -> Result<axum::response::Response, PageError> {
    use axum::response::IntoResponse;
    use http::{HeaderValue, header};
    visitor.admin()?;
    let answer = visitor
        .send(console, Call::get(path))
        .await
        .map_err(|p| visitor.failed(p))?;
    let mut response = answer.body.into_response();
    let headers = response.headers_mut();
    for name in [header::CONTENT_TYPE, header::CONTENT_DISPOSITION] {
        if let Some(value) = answer.headers.get(&name) {
            headers.insert(name, value.clone());
        }
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}
