//! The product cache: a product by id, the catalog's hottest read (every product page,
//! every cart line priced), kept in Redis in the distributed shape and in memory in the
//! embedded one (`platform::cache`). A product's every change drops its entry once it
//! has committed: the writes of `products`, and the stock flag inventory's events move.

use std::time::Duration;

use platform::cache::Cache;
use serde::{Deserialize, Serialize};

use crate::domain::{Attributes, Description, Money, Product, ProductName, Sku};

/// Most products one process keeps in memory.
const MEMORY_CAPACITY: usize = 10_000;

/// The cache of products by id, each kept `ttl` (off when zero).
pub fn product_cache(context: &platform::service::ServiceContext, ttl: Duration) -> Cache {
    context.cache("catalog.product", ttl, MEMORY_CAPACITY)
}

/// A product as the cache keeps it: its fields in their stored form.
#[derive(Serialize, Deserialize)]
pub(super) struct CachedProduct {
    id: String,
    sku: String,
    name: String,
    description: String,
    price: Money,
    category_id: Option<String>,
    attributes: serde_json::Value,
    variant_of: Option<String>,
    in_stock: bool,
    version: i64,
    created_at: i64,
    updated_at: i64,
}

impl From<Product> for CachedProduct {
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
            version: p.version,
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }
}

impl CachedProduct {
    /// The product again; `None` if a field no longer passes its rule (an entry
    /// written before a rule changed), which the caller reads from the database.
    pub(super) fn into_product(self) -> Option<Product> {
        Some(Product {
            id: self.id,
            sku: Sku::try_from(self.sku).ok()?,
            name: ProductName::try_from(self.name).ok()?,
            description: Description::try_from(self.description).ok()?,
            price: self.price,
            category_id: self.category_id,
            attributes: Attributes::try_from(self.attributes).ok()?,
            variant_of: self.variant_of,
            in_stock: self.in_stock,
            version: self.version,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}
