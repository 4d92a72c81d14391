//! Catalog's operations, one file per idea: `products` (creating, revising, deleting
//! and reading them), `cached` (products by id in the cache), `categories`, `search`
//! (ranked queries), `index` (keeping the search index in step with the database) and
//! `stock` (the stock flag kept from inventory). A write is one transaction with its
//! events, then the cache and the search index.

mod cached;
mod categories;
mod index;
mod products;
mod search;
mod stock;

use platform::bus::Outbox;
use platform::cache::Cache;
use platform::db::Db;
use platform::time::Clock;

pub use crate::domain::ProductInput;
use crate::search::{SearchError, SearchIndex};
pub use cached::product_cache;
pub use stock::record_stock_in;

/// Why a catalog operation failed.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// The sku belongs to another product.
    #[error("a product with this sku already exists")]
    SkuTaken,
    /// No such product.
    #[error("product not found")]
    NotFound,
    /// The category does not exist.
    #[error("no such category")]
    UnknownCategory,
    /// The parent product of a variant does not exist (or is itself a variant).
    #[error("variant_of must name a product that is not itself a variant")]
    UnknownParent,
    /// The product has variants and cannot be deleted.
    #[error("delete the product's variants first")]
    HasVariants,
    /// Search failed.
    #[error(transparent)]
    Search(#[from] SearchError),
    /// The database failed.
    #[error(transparent)]
    Sql(#[from] platform::db::Error),
}

/// The catalog's operations.
#[derive(Clone)]
pub struct CatalogApp {
    pub(crate) db: Db,
    pub(crate) outbox: Outbox,
    pub(crate) clock: Clock,
    pub(crate) index: SearchIndex,
    /// Products by id.
    pub(crate) products: Cache,
}

impl CatalogApp {
    /// The service's database.
    pub fn db(&self) -> &Db {
        &self.db
    }
}
