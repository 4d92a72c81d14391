//! Catalog's configuration (`[catalog]`, `VISCOUNT_CATALOG__*`).

use serde::Deserialize;

/// Catalog's settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct CatalogConfig {
    /// How often a replica looks for writes its search index has not seen (another
    /// replica's writes reach its index within this).
    pub index_sync_interval_ms: u64,
    /// How long a product read by id is kept in the cache (Redis in the distributed
    /// shape, memory in the embedded one); 0 turns the cache off. Every change drops
    /// the product's entry once it committed, so this bounds how long an entry can
    /// outlive a change only when that drop failed (Redis unreachable at that moment).
    pub product_cache_ttl_secs: u64,
}

impl Default for CatalogConfig {
    fn default() -> Self {
        Self {
            index_sync_interval_ms: 2000,
            product_cache_ttl_secs: 60,
        }
    }
}
