//! Catalog's SQL, and the only place rows become domain values and back: categories,
//! and products (with their stock flag joined from `sku_stock`). A row that does not
//! decode (a sku or name out of its rules, attributes that are not the JSON object
//! they were stored as) is an error, never a default.

use platform::db::{Dialect, Executor, Row, Tx, decoded};

use crate::domain::{
    Attributes, Category, Description, Money, Product, ProductFilter, ProductName, ProductText, Sku,
};

/// Stored attributes: a JSON object within [`Attributes`]' rules.
fn attributes_from(raw: &str) -> Result<Attributes, platform::db::Error> {
    let value = decoded("attributes", serde_json::from_str::<serde_json::Value>(raw))?;
    decoded("attributes", Attributes::try_from(value))
}

const PRODUCT_SELECT: &str = "SELECT p.id, p.sku, p.name, p.description, p.price_amount, p.currency, p.category_id, \
     p.attributes, p.variant_of, p.version, p.created_at, p.updated_at, COALESCE(s.available, 0) AS available \
     FROM products p LEFT JOIN sku_stock s ON s.sku = p.sku";

fn product_from(row: &Row) -> Result<Product, platform::db::Error> {
    Ok(Product {
        id: row.try_get("id")?,
        sku: decoded("sku", Sku::try_from(row.try_get::<String, _>("sku")?))?,
        name: decoded(
            "name",
            ProductName::try_from(row.try_get::<String, _>("name")?),
        )?,
        description: decoded(
            "description",
            Description::try_from(row.try_get::<String, _>("description")?),
        )?,
        price: decoded(
            "price_amount",
            Money::price(
                row.try_get("price_amount")?,
                &row.try_get::<String, _>("currency")?,
            ),
        )?,
        category_id: row.try_get("category_id")?,
        attributes: attributes_from(&row.try_get::<String, _>("attributes")?)?,
        variant_of: row.try_get("variant_of")?,
        in_stock: row.try_get::<i64, _>("available")? > 0,
        version: row.try_get("version")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// Inserts a product; a taken sku is a unique violation.
pub async fn insert_product(tx: &mut Tx, p: &Product) -> Result<(), platform::db::Error> {
    platform::db::query(
        "INSERT INTO products (id, sku, name, description, price_amount, currency, category_id, attributes, variant_of, \
         version, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(&p.id)
    .bind(p.sku.as_str())
    .bind(p.name.as_str())
    .bind(p.description.as_str())
    .bind(p.price.amount)
    .bind(&p.price.currency)
    .bind(&p.category_id)
    .bind(p.attributes.as_value().to_string())
    .bind(&p.variant_of)
    .bind(p.version)
    .bind(p.created_at)
    .bind(p.updated_at)
    .execute(&mut **tx)
    .await
    .map(|_| ())
}

/// Writes a revised product (not its sku or id), if it still has the version it was
/// revised from (`p.version - 1`, see `Product::revise`); `false` when it does not.
pub async fn update_product(tx: &mut Tx, p: &Product) -> Result<bool, platform::db::Error> {
    let updated = platform::db::query(
        "UPDATE products SET name = $1, description = $2, price_amount = $3, currency = $4, category_id = $5, \
         attributes = $6, variant_of = $7, version = $8, updated_at = $9 WHERE id = $10 AND version = $11",
    )
    .bind(p.name.as_str())
    .bind(p.description.as_str())
    .bind(p.price.amount)
    .bind(&p.price.currency)
    .bind(&p.category_id)
    .bind(p.attributes.as_value().to_string())
    .bind(&p.variant_of)
    .bind(p.version)
    .bind(p.updated_at)
    .bind(&p.id)
    .bind(p.version - 1)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(updated == 1)
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
) -> Result<Option<Product>, platform::db::Error> {
    let sql = format!("{PRODUCT_SELECT} WHERE p.id = $1");
    platform::db::query(&sql)
        .bind(id)
        .fetch_optional(ex)
        .await?
        .as_ref()
        .map(product_from)
        .transpose()
}

/// The product selling `sku`, if the catalog has one.
pub async fn product_by_sku<'e>(
    ex: impl Executor<'e>,
    sku: &Sku,
) -> Result<Option<Product>, platform::db::Error> {
    let sql = format!("{PRODUCT_SELECT} WHERE p.sku = $1");
    platform::db::query(&sql)
        .bind(sku.as_str())
        .fetch_optional(ex)
        .await?
        .as_ref()
        .map(product_from)
        .transpose()
}

/// A product by id, locked for the rest of `tx` on PostgreSQL (SQLite's single writer
/// holds the whole database already), so two revisions of it never start from the
/// same version.
pub async fn product_for_update(
    tx: &mut Tx,
    dialect: Dialect,
    id: &str,
) -> Result<Option<Product>, platform::db::Error> {
    let sql = format!(
        "{PRODUCT_SELECT} WHERE p.id = $1{}",
        dialect.row_lock_of("p")
    );
    platform::db::query(&sql)
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?
        .as_ref()
        .map(product_from)
        .transpose()
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
) -> Result<Vec<Product>, platform::db::Error> {
    let mut clauses: Vec<String> = Vec::new();
    let mut params = Params::default();
    if let Some(categories) = &filter.categories {
        clauses.push(format!("p.category_id IN {}", params.list(categories)));
    }
    if let Some(ids) = &filter.ids {
        clauses.push(format!("p.id IN {}", params.list(ids)));
    }
    if let Some(skus) = &filter.skus {
        clauses.push(format!("p.sku IN {}", params.list(skus)));
    }
    if let Some(parent) = &filter.variant_of {
        clauses.push(format!(
            "p.variant_of = {}",
            params.push(Param::Text(parent.clone()))
        ));
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

/// Every product's searchable text, in id order after `after`.
pub async fn searchable_batch<'e>(
    ex: impl Executor<'e>,
    after: &str,
    limit: i64,
) -> Result<Vec<ProductText>, platform::db::Error> {
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
) -> Result<Vec<ProductText>, platform::db::Error> {
    let rows = platform::db::query(
        "SELECT id, name, description, attributes FROM products WHERE updated_at >= $1 ORDER BY id",
    )
    .bind(since)
    .fetch_all(ex)
    .await?;
    rows.iter().map(searchable_columns).collect()
}

/// The searchable text of a product row.
fn searchable_columns(r: &Row) -> Result<ProductText, platform::db::Error> {
    Ok(ProductText {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        description: r.try_get("description")?,
        attributes: attributes_from(&r.try_get::<String, _>("attributes")?)?,
    })
}

/// How many products exist, and the latest change of any (epoch ms; 0 without
/// products): what says which database state a search index reflects.
pub async fn product_count_and_latest<'e>(
    ex: impl Executor<'e>,
) -> Result<(i64, i64), platform::db::Error> {
    let row =
        platform::db::query("SELECT COUNT(*) AS products, MAX(updated_at) AS latest FROM products")
            .fetch_one(ex)
            .await?;
    Ok((
        row.try_get("products")?,
        row.try_get::<Option<i64>, _>("latest")?.unwrap_or(0),
    ))
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
    sku: &Sku,
    available: i64,
    now: i64,
) -> Result<bool, platform::db::Error> {
    // The flag before, read in the same transaction (the consumer applies one event of
    // a sku at a time), so the caller can announce a flip.
    let before: Option<i64> = platform::db::query("SELECT available FROM sku_stock WHERE sku = $1")
        .bind(sku.as_str())
        .fetch_optional(&mut **tx)
        .await?
        .map(|row| row.try_get::<i64, _>("available"))
        .transpose()?;
    platform::db::query(
        "INSERT INTO sku_stock (sku, available, updated_at) VALUES ($1, $2, $3) \
         ON CONFLICT (sku) DO UPDATE SET available = excluded.available, updated_at = excluded.updated_at",
    )
    .bind(sku.as_str())
    .bind(available)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok((before.unwrap_or(0) > 0) != (available > 0))
}

#[cfg(test)]
mod tests {
    use platform::db::{Db, Error};

    use super::*;
    use crate::MIGRATIONS;
    use crate::domain::ProductInput;

    async fn database() -> (tempfile::TempDir, Db) {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = Db::connect(
            &platform::db::sqlite_url(dir.path(), "catalog"),
            &MIGRATIONS,
        )
        .await
        .expect("db");
        (dir, db)
    }

    fn input(amount: i64) -> ProductInput {
        ProductInput {
            name: ProductName::try_from("Enamel mug".to_owned()).expect("name"),
            description: Description::try_from("for camping".to_owned()).expect("description"),
            price: Money::price(amount, "USD").expect("price"),
            category_id: None,
            attributes: Attributes::try_from(serde_json::json!({"colour": "blue"}))
                .expect("attributes"),
            variant_of: None,
        }
    }

    #[tokio::test]
    async fn a_product_round_trips_and_a_revision_needs_the_version_it_came_from() {
        let (_dir, db) = database().await;
        let sku = Sku::try_from("MUG-1".to_owned()).expect("sku");
        let created = Product::create("p-1".into(), sku, input(1299), 10);
        let mut tx = db.begin().await.expect("begin");
        insert_product(&mut tx, &created).await.expect("insert");
        let mut stored = product_for_update(&mut tx, Dialect::Sqlite, "p-1")
            .await
            .expect("read")
            .expect("found");
        assert_eq!(stored, created);
        let stale = stored.clone();
        stored.revise(input(1499), 20);
        assert!(update_product(&mut tx, &stored).await.expect("update"));
        assert!(
            !update_product(&mut tx, &stored).await.expect("again"),
            "the stored version is no longer the one revised from"
        );
        let mut late = stale;
        late.revise(input(999), 30);
        assert!(!update_product(&mut tx, &late).await.expect("late"));
        assert_eq!(
            product(&mut *tx, "p-1")
                .await
                .expect("read")
                .map(|p| (p.version, p.price.amount)),
            Some((2, 1499))
        );
        tx.commit().await.expect("commit");
    }

    #[tokio::test]
    async fn a_row_with_corrupt_attributes_is_a_decode_error() {
        let (_dir, db) = database().await;
        let mut tx = db.begin().await.expect("begin");
        for (id, sku, attributes) in [("p-1", "A", "not json"), ("p-2", "B", "[1, 2]")] {
            platform::db::query(
                "INSERT INTO products (id, sku, name, description, price_amount, currency, attributes, version, created_at, updated_at) \
                 VALUES ($1, $2, 'Kettle', '', 100, 'USD', $3, 1, 0, 0)",
            )
            .bind(id)
            .bind(sku)
            .bind(attributes)
            .execute(&mut *tx)
            .await
            .expect("insert");
        }
        for id in ["p-1", "p-2"] {
            let read = product(&mut *tx, id).await;
            assert!(
                matches!(&read, Err(Error::ColumnDecode { column, .. }) if column == "attributes"),
                "{id}: {read:?}"
            );
        }
        let batch = searchable_batch(&mut *tx, "", 10).await;
        assert!(batch.is_err(), "the index is never fed a default");
        tx.rollback().await.expect("rollback");
    }
}
