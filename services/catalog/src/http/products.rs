//! Products: reading one (with an ETag), the filtered list and full-text search for
//! anyone; creating, replacing and deleting them for admins.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use platform::auth::Principal;
use platform::http::api::{ApiRouter, problems, routes};
use platform::http::{
    Fields, Json, List, PageQuery, Problem, Query, encode_cursor, no_content, with_location,
};
use platform::ids::is_uuid;
use serde::{Deserialize, Serialize};
use utoipa::openapi::OneOfBuilder;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::{IntoParams, ToSchema};

use super::{ApiResult, POLICY};
use crate::app::{CatalogApp, CatalogError};
use crate::domain::{
    Attributes, Description, Money, Product, ProductFilter, ProductInput, ProductName, Sku,
};
use crate::search::MOST_HITS;

/// How long a cache may keep a product before asking again with its ETag.
const PRODUCT_CACHE_CONTROL: &str = "public, max-age=30, must-revalidate";

/// The product routes.
pub(super) fn routes() -> ApiRouter<CatalogApp> {
    ApiRouter::new()
        .routes(routes!(list_products, create_product))
        .routes(routes!(search_products))
        .routes(routes!(get_product, update_product, delete_product))
}

/// A product id from the path: ids are UUIDs, so anything else names no product (and
/// never reaches the database, where a NUL would fail PostgreSQL's text).
fn product_id(id: &str) -> ApiResult<&str> {
    if is_uuid(id) {
        Ok(id)
    } else {
        Err(CatalogError::NotFound.into())
    }
}

/// The schema of `attributes`, as [`Attributes`] checks it: at most 50 keys of 1 to 50
/// characters, each value a string of at most 200 characters, a number or a boolean.
fn attributes_schema() -> Schema {
    let value = OneOfBuilder::new()
        .item(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .max_length(Some(200)),
        )
        .item(ObjectBuilder::new().schema_type(Type::Number))
        .item(ObjectBuilder::new().schema_type(Type::Boolean));
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .description(Some(
            "Free-form attributes (colour, size, material…): at most 50 keys of 1 to 50 \
             characters; values are strings of at most 200 characters, numbers or booleans.",
        ))
        .max_properties(Some(50))
        .property_names(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .min_length(Some(1))
                .max_length(Some(50)),
        ))
        .additional_properties(Some(Schema::from(value)))
        .examples([serde_json::json!({"colour": "blue", "capacity_ml": 350})])
        .into()
}

/// The schema of a price's currency: the ISO 4217 codes the platform accepts (any
/// case is taken).
fn currency_schema() -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some("ISO 4217 code, e.g. `USD`."))
        .enum_values(Some(contracts::types::CURRENCIES.iter().copied()))
        .into()
}

/// A product as the API shows it.
#[derive(Serialize, ToSchema)]
#[schema(as = Product)]
struct ProductView {
    /// Its id.
    id: String,
    /// Its sku (unique, never changes).
    sku: String,
    /// Its name.
    name: String,
    /// Its description (may be empty).
    description: String,
    /// Its price.
    price: Money,
    /// Its category, if any.
    category_id: Option<String>,
    #[schema(schema_with = attributes_schema)]
    attributes: serde_json::Value,
    /// The product this is a variant of, if any.
    variant_of: Option<String>,
    /// Whether inventory holds any of it.
    in_stock: bool,
    /// RFC 3339.
    #[schema(format = DateTime)]
    created_at: String,
    /// RFC 3339.
    #[schema(format = DateTime)]
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

/// A price.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = Price)]
struct MoneyBody {
    /// Minor units (cents for USD), 0 to 10^12.
    #[schema(minimum = 0, maximum = 1_000_000_000_000_i64)]
    amount: i64,
    #[schema(schema_with = currency_schema)]
    currency: String,
}

/// A new product: `POST /products`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "sku": "MUG-1", "name": "Enamel mug", "description": "A mug for camping",
    "price": {"amount": 1299, "currency": "USD"}, "attributes": {"colour": "blue"}
}))]
struct NewProductBody {
    /// 1 to 64 of `A-Z a-z 0-9 - _ .`, unique.
    #[serde(default)]
    #[schema(required = true, value_type = String, pattern = "^[A-Za-z0-9._-]{1,64}$")]
    sku: Option<String>,
    /// 1 to 200 characters, no control characters.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$"
    )]
    name: String,
    /// Up to 5000 characters (lines and tabs allowed).
    #[serde(default)]
    #[schema(
        max_length = 5000,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    description: String,
    /// The price.
    price: MoneyBody,
    /// A category (its id).
    #[schema(format = "uuid")]
    category_id: Option<String>,
    #[schema(schema_with = attributes_schema)]
    attributes: Option<serde_json::Value>,
    /// The product this is a variant of (its id); that one may not be a variant.
    #[schema(format = "uuid")]
    variant_of: Option<String>,
}

/// A product's new fields: `PUT /products/{id}` replaces them all.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "name": "Enamel mug", "description": "A mug for camping, now in blue",
    "price": {"amount": 1499, "currency": "USD"}, "attributes": {"colour": "blue"}
}))]
struct ProductBody {
    /// The product's own sku, if given: a sku cannot change.
    #[serde(default)]
    #[schema(pattern = "^[A-Za-z0-9._-]{1,64}$")]
    sku: Option<String>,
    /// 1 to 200 characters, no control characters.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$"
    )]
    name: String,
    /// Up to 5000 characters (lines and tabs allowed).
    #[serde(default)]
    #[schema(
        max_length = 5000,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    description: String,
    /// The price.
    price: MoneyBody,
    /// A category (its id).
    #[schema(format = "uuid")]
    category_id: Option<String>,
    #[schema(schema_with = attributes_schema)]
    attributes: Option<serde_json::Value>,
    /// The product this is a variant of (its id); that one may not be a variant.
    #[schema(format = "uuid")]
    variant_of: Option<String>,
}

impl From<NewProductBody> for ProductBody {
    fn from(body: NewProductBody) -> Self {
        Self {
            sku: body.sku,
            name: body.name,
            description: body.description,
            price: body.price,
            category_id: body.category_id,
            attributes: body.attributes,
            variant_of: body.variant_of,
        }
    }
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
    // Ids are UUIDs: anything else names nothing (and never reaches the database,
    // where a NUL would fail PostgreSQL's text).
    if body.category_id.as_deref().is_some_and(|id| !is_uuid(id)) {
        fields.push("category_id", CatalogError::UnknownCategory.to_string());
    }
    let attributes = fields.check(
        "attributes",
        Attributes::try_from(body.attributes.unwrap_or_else(|| serde_json::json!({}))),
    );
    if body.variant_of.as_deref().is_some_and(|id| !is_uuid(id)) {
        fields.push("variant_of", CatalogError::UnknownParent.to_string());
    }
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

/// Creates a product (admins); `catalog.product.created` follows.
#[utoipa::path(
    post,
    path = "/api/v1/products",
    request_body = NewProductBody,
    responses(
        (status = 201, description = "Created", body = ProductView, headers(
            ("Location" = String, description = "The new product"),
            ("ETag" = String, description = "Its version, for `If-None-Match`"),
        )),
        problems::BadRequest, problems::Unauthorized, problems::Forbidden, problems::Conflict,
        problems::Invalid,
    ),
)]
#[tracing::instrument(skip_all)]
async fn create_product(
    State(app): State<CatalogApp>,
    caller: Principal,
    Json(body): Json<NewProductBody>,
) -> ApiResult<Response> {
    POLICY.require_manage(&caller)?;
    let body = ProductBody::from(body);
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

/// Replaces a product's fields (admins); a new price also announces `price_changed`.
#[utoipa::path(
    put,
    path = "/api/v1/products/{id}",
    params(("id" = String, Path, description = "The product's id")),
    request_body = ProductBody,
    responses(
        (status = 200, description = "The product as it is now", body = ProductView,
            headers(("ETag" = String, description = "Its new version"))),
        problems::BadRequest, problems::Unauthorized, problems::Forbidden, problems::NotFound,
        problems::Invalid,
    ),
)]
#[tracing::instrument(skip_all)]
async fn update_product(
    State(app): State<CatalogApp>,
    caller: Principal,
    Path(id): Path<String>,
    Json(body): Json<ProductBody>,
) -> ApiResult<Response> {
    POLICY.require_manage(&caller)?;
    let id = product_id(&id)?;
    let mut fields = Fields::default();
    let current = app.product(id).await?;
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
        app.update(id, input).await?,
    ))
}

/// Deletes a product without variants (admins).
#[utoipa::path(
    delete,
    path = "/api/v1/products/{id}",
    params(("id" = String, Path, description = "The product's id")),
    responses(
        (status = 204, description = "Deleted"),
        problems::Unauthorized, problems::Forbidden, problems::NotFound, problems::Conflict,
    ),
)]
#[tracing::instrument(skip_all)]
async fn delete_product(
    State(app): State<CatalogApp>,
    caller: Principal,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    POLICY.require_manage(&caller)?;
    app.delete(product_id(&id)?).await?;
    Ok(no_content())
}

/// A product, with an ETag for conditional reads.
#[utoipa::path(
    get,
    path = "/api/v1/products/{id}",
    params(
        ("id" = String, Path, description = "The product's id"),
        ("If-None-Match" = Option<String>, Header,
            description = "ETags held (or `*`): 304 when the product still has one of them."),
    ),
    responses(
        (status = 200, description = "The product", body = ProductView, headers(
            ("ETag" = String, description = "Its version (and stock flag)"),
            ("Cache-Control" = String, description = "`public, max-age=30, must-revalidate`"),
        )),
        (status = 304, description = "Unchanged since the `If-None-Match` ETag", headers(
            ("ETag" = String, description = "Its version (and stock flag)"),
            ("Cache-Control" = String, description = "`public, max-age=30, must-revalidate`"),
        )),
        problems::NotFound,
    ),
    security(()),
)]
#[tracing::instrument(skip_all)]
async fn get_product(
    State(app): State<CatalogApp>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let product = app.product(product_id(&id)?).await?;
    let tag = etag(&product);
    let cache = [(header::CACHE_CONTROL, PRODUCT_CACHE_CONTROL)];
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
        HeaderValue::from_static(PRODUCT_CACHE_CONTROL),
    );
    Ok(response)
}

/// Product filters and paging, for the list and for search.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// The search's words (documented on search; the list takes and ignores it).
    #[param(ignore)]
    q: Option<String>,
    /// Only products in this category or one under it.
    category: Option<String>,
    /// Lowest price, in minor units.
    #[param(minimum = 0)]
    min_price: Option<i64>,
    /// Highest price, in minor units (not below `min_price`).
    #[param(minimum = 0)]
    max_price: Option<i64>,
    /// Only products inventory holds (or only those it does not).
    in_stock: Option<bool>,
    /// Only the variants of this product (its id).
    variant_of: Option<String>,
    /// Only the products of these skus, comma-separated (at most 100).
    sku: Option<String>,
    /// Items per page, 1 to 100 (20 when absent).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
    /// Where the previous page ended (its `next_cursor`).
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
        let skus: Option<Vec<String>> = self.sku.as_deref().map(|skus| {
            skus.split(',')
                .map(str::trim)
                .filter(|sku| !sku.is_empty())
                .map(str::to_owned)
                .collect()
        });
        if skus
            .as_ref()
            .is_some_and(|skus| skus.is_empty() || skus.len() > 100)
        {
            fields.push("sku", "must name 1 to 100 skus, comma-separated");
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
            variant_of: self.variant_of.clone(),
            skus,
        })
    }
}

fn views(list: List<Product>) -> List<ProductView> {
    List {
        items: list.items.into_iter().map(ProductView::from).collect(),
        next_cursor: list.next_cursor,
    }
}

/// Products, filtered, in a stable order.
#[utoipa::path(
    get,
    path = "/api/v1/products",
    params(ListQuery),
    responses(
        (status = 200, description = "One page of products", body = List<ProductView>),
        problems::Invalid,
    ),
    security(()),
)]
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
    // Product ids are UUIDs: a cursor holding anything else was not issued here.
    if page.after.as_deref().is_some_and(|after| !is_uuid(after)) {
        return Err(Problem::invalid_field(
            "cursor",
            "is not a cursor this API issued",
        ));
    }
    if query.category.as_deref().is_some_and(|c| !is_uuid(c)) {
        return Ok(Json(List {
            items: Vec::new(),
            next_cursor: None,
        }));
    }
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

/// Full-text search over names, descriptions and attributes, best match first; typos
/// are tolerated.
#[utoipa::path(
    get,
    path = "/api/v1/products/search",
    params(
        ("q" = String, Query, min_length = 1, max_length = 200, pattern = r"\S",
            description = "The words to look for (1 to 200 characters, not blank)."),
        ListQuery,
    ),
    responses(
        (status = 200, description = "One page of matches, best first", body = List<ProductView>),
        problems::Invalid,
    ),
    security(()),
)]
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
    // Search pages by rank, so the cursor is a position in the ranking. A search ranks
    // at most MOST_HITS products, so a position past them was not issued here (and would
    // ask the index for that many hits).
    let offset = match page.after.as_deref() {
        None => 0,
        Some(position) => position
            .parse::<usize>()
            .ok()
            .filter(|offset| *offset <= MOST_HITS)
            .ok_or_else(|| Problem::invalid_field("cursor", "is not a cursor this API issued"))?,
    };
    if query.category.as_deref().is_some_and(|c| !is_uuid(c)) {
        return Ok(Json(List {
            items: Vec::new(),
            next_cursor: None,
        }));
    }
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
