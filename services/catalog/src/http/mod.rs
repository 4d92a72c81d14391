//! Catalog's HTTP surface: API.md's Catalog table. Handlers check who may call, turn
//! bodies into validated domain inputs, call the app and render what it returns.
//! Reading the catalog is open to anyone (`products`, `categories`); changing it is for
//! admins.

mod categories;
mod products;

use axum::Router;
use axum::middleware::from_fn_with_state;
use platform::auth::{Authenticator, Policy};
use platform::http::Problem;
use platform::http::api::ApiRouter;

use crate::app::{CatalogApp, CatalogError};

/// Who manages the catalog (products and categories): admins only. Reading it is
/// open to anyone.
pub const POLICY: Policy = Policy::admin_only();

/// The routes and their documentation, declared without values.
pub fn api() -> ApiRouter<CatalogApp> {
    products::routes().merge(categories::routes())
}

/// The routes with the service's state, behind the authentication middleware.
pub fn router(app: CatalogApp, authenticator: Authenticator) -> Router {
    let (routes, _) = api().split_for_parts();
    routes.with_state(app).layer(from_fn_with_state(
        authenticator,
        platform::auth::authenticate,
    ))
}

impl From<CatalogError> for Problem {
    fn from(err: CatalogError) -> Self {
        match &err {
            CatalogError::SkuTaken => Problem::conflict("sku-taken", err.to_string()),
            CatalogError::NotFound => Problem::not_found("product"),
            CatalogError::UnknownCategory => Problem::invalid_field("category_id", err.to_string()),
            CatalogError::UnknownParent => Problem::invalid_field("variant_of", err.to_string()),
            CatalogError::HasVariants => Problem::conflict("has-variants", err.to_string()),
            CatalogError::Search(_) | CatalogError::Sql(_) => Problem::unexpected(&err),
        }
    }
}

type ApiResult<T> = Result<T, Problem>;
