//! Categories: a small tree anyone may read and admins grow.

use axum::extract::{Path, State};
use axum::response::Response;
use platform::auth::Principal;
use platform::http::api::{ApiRouter, problems, routes};
use platform::http::{Json, List, Problem, created};
use platform::ids::is_uuid;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{ApiResult, POLICY};
use crate::app::{CatalogApp, CatalogError};
use crate::domain::{Category, CategoryName};

/// The category routes.
pub(super) fn routes() -> ApiRouter<CatalogApp> {
    ApiRouter::new()
        .routes(routes!(list_categories, create_category))
        .routes(routes!(get_category))
}

/// A category as the API shows it.
#[derive(Serialize, ToSchema)]
#[schema(as = Category)]
struct CategoryView {
    /// Its id.
    id: String,
    /// Its name.
    name: String,
    /// The category it is under, if any.
    parent_id: Option<String>,
}

impl From<Category> for CategoryView {
    fn from(c: Category) -> Self {
        Self {
            id: c.id,
            name: c.name,
            parent_id: c.parent_id,
        }
    }
}

/// A new category: `POST /categories`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Camping", "parent_id": null}))]
struct CategoryBody {
    /// 1 to 100 characters, no control characters.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$"
    )]
    name: String,
    /// The category it goes under (its id); absent: a top-level one.
    #[schema(format = "uuid")]
    parent_id: Option<String>,
}

/// Creates a category, under another or at the top (admins).
#[utoipa::path(
    post,
    path = "/api/v1/categories",
    request_body = CategoryBody,
    responses(
        (status = 201, description = "Created", body = CategoryView,
            headers(("Location" = String, description = "The new category"))),
        problems::BadRequest, problems::Unauthorized, problems::Forbidden, problems::Invalid,
    ),
)]
#[tracing::instrument(skip_all)]
async fn create_category(
    State(app): State<CatalogApp>,
    caller: Principal,
    Json(body): Json<CategoryBody>,
) -> ApiResult<Response> {
    POLICY.require_manage(&caller)?;
    let name = CategoryName::try_from(body.name)
        .map_err(|e| Problem::invalid_field("name", e.to_string()))?;
    // Ids are UUIDs: anything else names no category (and never reaches the database).
    if body.parent_id.as_deref().is_some_and(|id| !is_uuid(id)) {
        return Err(Problem::invalid_field("parent_id", "no such category"));
    }
    let category = app
        .create_category(name, body.parent_id)
        .await
        .map_err(|err| match err {
            CatalogError::UnknownCategory => {
                Problem::invalid_field("parent_id", "no such category")
            }
            other => other.into(),
        })?;
    Ok(created(
        &format!("/api/v1/categories/{}", category.id),
        CategoryView::from(category),
    ))
}

/// A category.
#[utoipa::path(
    get,
    path = "/api/v1/categories/{id}",
    params(("id" = String, Path, description = "The category's id")),
    responses(
        (status = 200, description = "The category", body = CategoryView),
        problems::NotFound,
    ),
    security(()),
)]
#[tracing::instrument(skip_all)]
async fn get_category(
    State(app): State<CatalogApp>,
    Path(id): Path<String>,
) -> ApiResult<Json<CategoryView>> {
    app.categories()
        .await?
        .into_iter()
        .find(|c| c.id == id)
        .map(|c| Json(c.into()))
        .ok_or_else(|| Problem::not_found("category"))
}

/// Every category (one page: the tree is small).
#[utoipa::path(
    get,
    path = "/api/v1/categories",
    responses(
        (status = 200, description = "Every category", body = List<CategoryView>),
    ),
    security(()),
)]
#[tracing::instrument(skip_all)]
async fn list_categories(State(app): State<CatalogApp>) -> ApiResult<Json<List<CategoryView>>> {
    Ok(Json(List {
        items: app
            .categories()
            .await?
            .into_iter()
            .map(CategoryView::from)
            .collect(),
        next_cursor: None,
    }))
}
