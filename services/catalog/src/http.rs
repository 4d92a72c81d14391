//! Catalog's HTTP surface: API.md's Catalog table. Handlers check who may call, turn
//! bodies into validated domain inputs, call the app and render what it returns.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use platform::auth::{Authenticator, Policy, Principal};
use platform::http::{
    Fields, Json, List, PageQuery, Problem, Query, created, encode_cursor, no_content,
    with_location,
};
use serde::{Deserialize, Serialize};

use crate::app::{CatalogApp, CatalogError};
use crate::domain::{
    Attributes, Category, CategoryName, Description, Money, Product, ProductFilter, ProductInput,
    ProductName, Sku,
};

/// Who manages the catalog (products and categories): admins only. Reading it is
/// open to anyone.
pub const POLICY: Policy = Policy::admin_only();

/// The routes, behind the authentication middleware.
pub fn router(app: CatalogApp, authenticator: Authenticator) -> Router {
    Router::new()
        .route("/api/v1/products", get(list_products).post(create_product))
        .route("/api/v1/products/search", get(search_products))
        .route(
            "/api/v1/products/{id}",
            get(get_product).put(update_product).delete(delete_product),
        )
        .route(
            "/api/v1/categories",
            get(list_categories).post(create_category),
        )
        .route("/api/v1/categories/{id}", get(get_category))
        .with_state(app)
        .layer(from_fn_with_state(
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

/// A product as the API shows it.
#[derive(Serialize)]
struct ProductView {
    id: String,
    sku: String,
    name: String,
    description: String,
    price: Money,
    category_id: Option<String>,
    attributes: serde_json::Value,
    variant_of: Option<String>,
    in_stock: bool,
    created_at: String,
    updated_at: String,
}

impl From<Product> for ProductView {
    fn from(p: Product) -> Self {
        Self {
            id: p.id,
            sku: p.sku.as_str().to_owned(),
            name: p.name.into_string(),
            description: p.description.as_str().to_owned(),
            price: p.price,
            category_id: p.category_id,
            attributes: p.attributes.as_value(),
            variant_of: p.variant_of,
            in_stock: p.in_stock,
            created_at: platform::time::rfc3339(p.created_at),
            updated_at: platform::time::rfc3339(p.updated_at),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MoneyBody {
    amount: i64,
    currency: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProductBody {
    sku: Option<String>,
    name: String,
    #[serde(default)]
    description: String,
    price: MoneyBody,
    category_id: Option<String>,
    attributes: Option<serde_json::Value>,
    variant_of: Option<String>,
}

/// Validates a product body, naming every invalid field.
fn product_input(body: ProductBody, fields: &mut Fields) -> Option<ProductInput> {
    let name = fields.check("name", ProductName::try_from(body.name));
    let description = fields.check("description", Description::try_from(body.description));
    let price = match Money::price(body.price.amount, &body.price.currency) {
        Ok(price) => Some(price),
        Err(err) => {
            let field = if body.price.amount < 0 || body.price.amount > 1_000_000_000_000 {
                "price.amount"
            } else {
                "price.currency"
            };
            fields.push(field, err.to_string());
            None
        }
    };
    let attributes = fields.check(
        "attributes",
        Attributes::try_from(body.attributes.unwrap_or_else(|| serde_json::json!({}))),
    );
    Some(ProductInput {
        name: name?,
        description: description?,
        price: price?,
        category_id: body.category_id,
        attributes: attributes?,
        variant_of: body.variant_of,
    })
}

fn etag(p: &Product) -> String {
    format!("W/\"{}-{}-{}\"", p.id, p.version, u8::from(p.in_stock))
}

fn product_response(status: StatusCode, p: Product) -> Response {
    let tag = etag(&p);
    let mut response = (status, Json(ProductView::from(p))).into_response();
    if let Ok(value) = HeaderValue::from_str(&tag) {
        response.headers_mut().insert(header::ETAG, value);
    }
    response
}

#[tracing::instrument(skip_all)]
async fn create_product(
    State(app): State<CatalogApp>,
    caller: Principal,
    Json(body): Json<ProductBody>,
) -> ApiResult<Response> {
    POLICY.require_manage(&caller)?;
    let mut fields = Fields::default();
    let sku = match body.sku.clone() {
        Some(sku) => fields.check("sku", Sku::try_from(sku)),
        None => {
            fields.push("sku", "is required");
            None
        }
    };
    let input = product_input(body, &mut fields);
    let (Some(sku), Some(input), true) = (sku, input, fields.is_ok()) else {
        return Err(fields.into_problem());
    };
    let product = app.create(sku, input).await?;
    let location = format!("/api/v1/products/{}", product.id);
    Ok(with_location(
        product_response(StatusCode::CREATED, product),
        &location,
    ))
}

#[tracing::instrument(skip_all)]
async fn update_product(
    State(app): State<CatalogApp>,
    caller: Principal,
    Path(id): Path<String>,
    Json(body): Json<ProductBody>,
) -> ApiResult<Response> {
    POLICY.require_manage(&caller)?;
    let mut fields = Fields::default();
    let current = app.product(&id).await?;
    if body
        .sku
        .as_ref()
        .is_some_and(|sku| sku.trim() != current.sku.as_str())
    {
        fields.push("sku", "cannot be changed; create a new product");
    }
    let input = product_input(body, &mut fields);
    let (Some(input), true) = (input, fields.is_ok()) else {
        return Err(fields.into_problem());
    };
    Ok(product_response(
        StatusCode::OK,
        app.update(&id, input).await?,
    ))
}

#[tracing::instrument(skip_all)]
async fn delete_product(
    State(app): State<CatalogApp>,
    caller: Principal,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    POLICY.require_manage(&caller)?;
    app.delete(&id).await?;
    Ok(no_content())
}

#[tracing::instrument(skip_all)]
async fn get_product(
    State(app): State<CatalogApp>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let product = app.product(&id).await?;
    let tag = etag(&product);
    let cache = [(header::CACHE_CONTROL, "public, max-age=30, must-revalidate")];
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == tag || t.trim() == "*"));
    if matches {
        let mut response = (StatusCode::NOT_MODIFIED, cache).into_response();
        if let Ok(value) = HeaderValue::from_str(&tag) {
            response.headers_mut().insert(header::ETAG, value);
        }
        return Ok(response);
    }
    let mut response = product_response(StatusCode::OK, product);
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=30, must-revalidate"),
    );
    Ok(response)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    q: Option<String>,
    category: Option<String>,
    min_price: Option<i64>,
    max_price: Option<i64>,
    in_stock: Option<bool>,
    limit: Option<u32>,
    cursor: Option<String>,
}

impl ListQuery {
    fn filter(&self) -> ApiResult<ProductFilter> {
        let mut fields = Fields::default();
        if self.min_price.is_some_and(|p| p < 0) {
            fields.push("min_price", "must not be negative");
        }
        if self.max_price.is_some_and(|p| p < 0) {
            fields.push("max_price", "must not be negative");
        }
        if let (Some(min), Some(max)) = (self.min_price, self.max_price)
            && min > max
        {
            fields.push("max_price", "must not be below min_price");
        }
        if !fields.is_ok() {
            return Err(fields.into_problem());
        }
        Ok(ProductFilter {
            categories: None,
            min_price: self.min_price,
            max_price: self.max_price,
            in_stock: self.in_stock,
            ids: None,
        })
    }
}

fn views(list: List<Product>) -> List<ProductView> {
    List {
        items: list.items.into_iter().map(ProductView::from).collect(),
        next_cursor: list.next_cursor,
    }
}

#[tracing::instrument(skip_all)]
async fn list_products(
    State(app): State<CatalogApp>,
    Query(query): Query<ListQuery>,
) -> ApiResult<Json<List<ProductView>>> {
    let filter = query.filter()?;
    let page = PageQuery {
        limit: query.limit,
        cursor: query.cursor.clone(),
    }
    .page()?;
    let rows = app
        .list(
            filter,
            query.category.as_deref(),
            page.after.as_deref(),
            page.fetch_limit(),
        )
        .await?;
    Ok(Json(views(List::from_rows(rows, &page, |p| p.id.clone()))))
}

#[tracing::instrument(skip_all)]
async fn search_products(
    State(app): State<CatalogApp>,
    Query(query): Query<ListQuery>,
) -> ApiResult<Json<List<ProductView>>> {
    let q = query.q.clone().unwrap_or_default();
    if q.trim().is_empty() || q.chars().count() > 200 {
        return Err(Problem::invalid_field("q", "must be 1 to 200 characters"));
    }
    let filter = query.filter()?;
    let page = PageQuery {
        limit: query.limit,
        cursor: query.cursor.clone(),
    }
    .page()?;
    // Search pages by rank, so the cursor is a position in the ranking.
    let offset: usize = match page.after.as_deref() {
        None => 0,
        Some(position) => position
            .parse()
            .map_err(|_| Problem::invalid_field("cursor", "is not a cursor this API issued"))?,
    };
    let limit = page.limit as usize;
    let (items, more) = app
        .search(&q, filter, query.category.as_deref(), offset, limit)
        .await?;
    let next_cursor = more.then(|| encode_cursor(&(offset + limit).to_string()));
    Ok(Json(List {
        items: items.into_iter().map(ProductView::from).collect(),
        next_cursor,
    }))
}

/// A category as the API shows it.
#[derive(Serialize)]
struct CategoryView {
    id: String,
    name: String,
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CategoryBody {
    name: String,
    parent_id: Option<String>,
}

#[tracing::instrument(skip_all)]
async fn create_category(
    State(app): State<CatalogApp>,
    caller: Principal,
    Json(body): Json<CategoryBody>,
) -> ApiResult<Response> {
    POLICY.require_manage(&caller)?;
    let name = CategoryName::try_from(body.name)
        .map_err(|e| Problem::invalid_field("name", e.to_string()))?;
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
