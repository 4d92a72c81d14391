//! Catalog's SQL: categories, products (with their stock flag joined from `sku_stock`).

use contracts::Money;
use platform::db::{Executor, Row, Tx};

/// A product as stored.
#[derive(Debug, Clone)]
pub struct ProductRecord {
    /// Id.
    pub id: String,
    /// Unique sku.
    pub sku: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Price.
    pub price: Money,
    /// Category.
    pub category_id: Option<String>,
    /// Attributes object.
    pub attributes: serde_json::Value,
    /// The product this one is a variant of.
    pub variant_of: Option<String>,
    /// Whether inventory reports units available.
    pub in_stock: bool,
    /// Bumped on every change (the ETag).
    pub version: i64,
    /// Creation, epoch ms.
    pub created_at: i64,
    /// Last change, epoch ms.
    pub updated_at: i64,
}

const PRODUCT_SELECT: &str = "SELECT p.id, p.sku, p.name, p.description, p.price_amount, p.currency, p.category_id, \
     p.attributes, p.variant_of, p.version, p.created_at, p.updated_at, COALESCE(s.available, 0) AS available \
     FROM products p LEFT JOIN sku_stock s ON s.sku = p.sku";

fn product_from(row: &Row) -> Result<ProductRecord, platform::db::Error> {
    let attributes: String = row.try_get("attributes")?;
    Ok(ProductRecord {
        id: row.try_get("id")?,
        sku: row.try_get("sku")?,
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        price: Money {
            amount: row.try_get("price_amount")?,
            currency: row.try_get("currency")?,
        },
        category_id: row.try_get("category_id")?,
        attributes: serde_json::from_str(&attributes).unwrap_or_else(|_| serde_json::json!({})),
        variant_of: row.try_get("variant_of")?,
        in_stock: row.try_get::<i64, _>("available")? > 0,
        version: row.try_get("version")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// Inserts a product; a taken sku is a unique violation.
pub async fn insert_product(tx: &mut Tx, p: &ProductRecord) -> Result<(), platform::db::Error> {
    platform::db::query(
        "INSERT INTO products (id, sku, name, description, price_amount, currency, category_id, attributes, variant_of, \
         version, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(&p.id)
    .bind(&p.sku)
    .bind(&p.name)
    .bind(&p.description)
    .bind(p.price.amount)
    .bind(&p.price.currency)
    .bind(&p.category_id)
    .bind(p.attributes.to_string())
    .bind(&p.variant_of)
    .bind(p.version)
    .bind(p.created_at)
    .bind(p.updated_at)
    .execute(&mut **tx)
    .await
    .map(|_| ())
}

/// Replaces a product's fields (not its sku or id) and bumps its version.
pub async fn update_product(tx: &mut Tx, p: &ProductRecord) -> Result<(), platform::db::Error> {
    platform::db::query(
        "UPDATE products SET name = $1, description = $2, price_amount = $3, currency = $4, category_id = $5, \
         attributes = $6, variant_of = $7, version = $8, updated_at = $9 WHERE id = $10",
    )
    .bind(&p.name)
    .bind(&p.description)
    .bind(p.price.amount)
    .bind(&p.price.currency)
    .bind(&p.category_id)
    .bind(p.attributes.to_string())
    .bind(&p.variant_of)
    .bind(p.version)
    .bind(p.updated_at)
    .bind(&p.id)
    .execute(&mut **tx)
    .await
    .map(|_| ())
}

/// Deletes a product; `false` when there is none.
pub async fn delete_product(tx: &mut Tx, id: &str) -> Result<bool, platform::db::Error> {
    let deleted = platform::db::query("DELETE FROM products WHERE id = $1")
        .bind(id)
        .execute(&mut **tx)
        .await?
        .rows_affected();
    Ok(deleted == 1)
}

/// Whether any product is a variant of `id`.
pub async fn has_variants<'e>(
    ex: impl Executor<'e>,
    id: &str,
) -> Result<bool, platform::db::Error> {
    let found: Option<i64> =
        platform::db::query_scalar("SELECT 1 FROM products WHERE variant_of = $1 LIMIT 1")
            .bind(id)
            .fetch_optional(ex)
            .await?;
    Ok(found.is_some())
}

/// A product by id.
pub async fn product<'e>(
    ex: impl Executor<'e>,
    id: &str,
) -> Result<Option<ProductRecord>, platform::db::Error> {
    let sql = format!("{PRODUCT_SELECT} WHERE p.id = $1");
    platform::db::query(&sql)
        .bind(id)
        .fetch_optional(ex)
        .await?
        .as_ref()
        .map(product_from)
        .transpose()
}

/// List filters; every one optional.
#[derive(Debug, Clone, Default)]
pub struct ProductFilter {
    /// Only these categories (a category and its descendants).
    pub categories: Option<Vec<String>>,
    /// Lowest price (minor units).
    pub min_price: Option<i64>,
    /// Highest price (minor units).
    pub max_price: Option<i64>,
    /// Only products with (or without) stock.
    pub in_stock: Option<bool>,
    /// Only these ids (search results).
    pub ids: Option<Vec<String>>,
}

enum Param {
    Text(String),
    Int(i64),
}

/// Bind parameters of a query built from optional clauses.
#[derive(Default)]
struct Params(Vec<Param>);

impl Params {
    /// Adds a parameter and returns its placeholder.
    fn push(&mut self, param: Param) -> String {
        self.0.push(param);
        format!("${}", self.0.len())
    }

    /// `(…)` of placeholders for `values`; `(NULL)` (matching nothing) when empty.
    fn list(&mut self, values: &[String]) -> String {
        let first = self.0.len() + 1;
        self.0.extend(values.iter().cloned().map(Param::Text));
        platform::db::in_list(first, values.len())
    }
}

/// Products matching `filter`, by id after `after`.
pub async fn list_products<'e>(
    ex: impl Executor<'e>,
    filter: &ProductFilter,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<ProductRecord>, platform::db::Error> {
    let mut clauses: Vec<String> = Vec::new();
    let mut params = Params::default();
    if let Some(categories) = &filter.categories {
        clauses.push(format!("p.category_id IN {}", params.list(categories)));
    }
    if let Some(ids) = &filter.ids {
        clauses.push(format!("p.id IN {}", params.list(ids)));
    }
    if let Some(min) = filter.min_price {
        clauses.push(format!(
            "p.price_amount >= {}",
            params.push(Param::Int(min))
        ));
    }
    if let Some(max) = filter.max_price {
        clauses.push(format!(
            "p.price_amount <= {}",
            params.push(Param::Int(max))
        ));
    }
    match filter.in_stock {
        Some(true) => clauses.push("COALESCE(s.available, 0) > 0".into()),
        Some(false) => clauses.push("COALESCE(s.available, 0) <= 0".into()),
        None => {}
    }
    if let Some(after) = after {
        clauses.push(format!(
            "p.id > {}",
            params.push(Param::Text(after.to_owned()))
        ));
    }
    let limit = params.push(Param::Int(limit));
    let where_clause = if clauses.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", clauses.join(" AND "))
    };
    let sql = format!("{PRODUCT_SELECT}{where_clause} ORDER BY p.id LIMIT {limit}");
    let mut query = platform::db::query(&sql);
    for param in params.0 {
        query = match param {
            Param::Text(t) => query.bind(t),
            Param::Int(i) => query.bind(i),
        };
    }
    let rows = query.fetch_all(ex).await?;
    rows.iter().map(product_from).collect()
}

/// Every product's searchable text, in id order after `after`: (id, name, description,
/// attributes JSON).
pub async fn searchable_batch<'e>(
    ex: impl Executor<'e>,
    after: &str,
    limit: i64,
) -> Result<Vec<(String, String, String, String)>, platform::db::Error> {
    let rows = platform::db::query(
        "SELECT id, name, description, attributes FROM products WHERE id > $1 ORDER BY id LIMIT $2",
    )
    .bind(after)
    .bind(limit)
    .fetch_all(ex)
    .await?;
    rows.iter().map(searchable_columns).collect()
}

/// Searchable text of the products changed at or after `since` (epoch ms).
pub async fn searchable_changed_since<'e>(
    ex: impl Executor<'e>,
    since: i64,
) -> Result<Vec<(String, String, String, String)>, platform::db::Error> {
    let rows = platform::db::query(
        "SELECT id, name, description, attributes FROM products WHERE updated_at >= $1 ORDER BY id",
    )
    .bind(since)
    .fetch_all(ex)
    .await?;
    rows.iter().map(searchable_columns).collect()
}

/// (id, name, description, attributes JSON) of a product row.
fn searchable_columns(r: &Row) -> Result<(String, String, String, String), platform::db::Error> {
    Ok((
        r.try_get("id")?,
        r.try_get("name")?,
        r.try_get("description")?,
        r.try_get("attributes")?,
    ))
}

/// How many products exist.
pub async fn product_count<'e>(ex: impl Executor<'e>) -> Result<i64, platform::db::Error> {
    platform::db::query_scalar("SELECT COUNT(*) FROM products")
        .fetch_one(ex)
        .await
}

/// A category.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Category {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Parent, for sub-categories.
    pub parent_id: Option<String>,
}

/// Inserts a category.
pub async fn insert_category(
    tx: &mut Tx,
    category: &Category,
    now: i64,
) -> Result<(), platform::db::Error> {
    platform::db::query(
        "INSERT INTO categories (id, name, parent_id, created_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(&category.id)
    .bind(&category.name)
    .bind(&category.parent_id)
    .bind(now)
    .execute(&mut **tx)
    .await
    .map(|_| ())
}

/// Every category, by id.
pub async fn categories<'e>(ex: impl Executor<'e>) -> Result<Vec<Category>, platform::db::Error> {
    let rows = platform::db::query("SELECT id, name, parent_id FROM categories ORDER BY id")
        .fetch_all(ex)
        .await?;
    rows.iter()
        .map(|r| {
            Ok(Category {
                id: r.try_get("id")?,
                name: r.try_get("name")?,
                parent_id: r.try_get("parent_id")?,
            })
        })
        .collect()
}

/// Whether a category exists.
pub async fn category_exists<'e>(
    ex: impl Executor<'e>,
    id: &str,
) -> Result<bool, platform::db::Error> {
    let found: Option<i64> = platform::db::query_scalar("SELECT 1 FROM categories WHERE id = $1")
        .bind(id)
        .fetch_optional(ex)
        .await?;
    Ok(found.is_some())
}

/// Records inventory's latest availability of a sku.
pub async fn set_stock(
    tx: &mut Tx,
    sku: &str,
    available: i64,
    now: i64,
) -> Result<(), platform::db::Error> {
    platform::db::query(
        "INSERT INTO sku_stock (sku, available, updated_at) VALUES ($1, $2, $3) \
         ON CONFLICT (sku) DO UPDATE SET available = excluded.available, updated_at = excluded.updated_at",
    )
    .bind(sku)
    .bind(available)
    .bind(now)
    .execute(&mut **tx)
    .await
    .map(|_| ())
}
