//! Catalog's operations: one transaction each with its events, then the search index.

use contracts::catalog::{
    PriceChanged, ProductCreated, ProductDeleted, ProductFacts, ProductUpdated,
};
use platform::bus::Outbox;
use platform::db::{Db, is_unique_violation};
use platform::time::Clock;

use crate::domain::{self, Attributes, CategoryName, Description, Money, ProductName, Sku};
use crate::search::{SearchError, SearchIndex, Searchable};
use crate::store::{self, Category, ProductFilter, ProductRecord};

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

/// A validated product body.
#[derive(Debug, Clone)]
pub struct ProductInput {
    /// Name.
    pub name: ProductName,
    /// Description.
    pub description: Description,
    /// Price.
    pub price: Money,
    /// Category.
    pub category_id: Option<String>,
    /// Attributes.
    pub attributes: Attributes,
    /// Parent product.
    pub variant_of: Option<String>,
}

/// The catalog's operations.
#[derive(Clone)]
pub struct CatalogApp {
    pub(crate) db: Db,
    pub(crate) outbox: Outbox,
    pub(crate) clock: Clock,
    pub(crate) index: SearchIndex,
}

fn facts(p: &ProductRecord) -> ProductFacts {
    ProductFacts {
        product_id: p.id.clone(),
        sku: p.sku.clone(),
        name: p.name.clone(),
        price: p.price.clone(),
        category_id: p.category_id.clone(),
        variant_of: p.variant_of.clone(),
    }
}

fn searchable(p: &ProductRecord) -> Searchable {
    let attributes =
        Attributes::try_from(p.attributes.clone()).unwrap_or_else(|_| Attributes::empty());
    Searchable {
        id: p.id.clone(),
        name: p.name.clone(),
        description: p.description.clone(),
        attributes: attributes.search_text(),
    }
}

impl CatalogApp {
    /// The service's database.
    pub fn db(&self) -> &Db {
        &self.db
    }

    async fn check_references(
        &self,
        input: &ProductInput,
        own_id: Option<&str>,
    ) -> Result<(), CatalogError> {
        if let Some(category) = &input.category_id
            && !store::category_exists(self.db.reader(), category).await?
        {
            return Err(CatalogError::UnknownCategory);
        }
        if let Some(parent) = &input.variant_of {
            let parent = store::product(self.db.reader(), parent)
                .await?
                .ok_or(CatalogError::UnknownParent)?;
            if parent.variant_of.is_some() || Some(parent.id.as_str()) == own_id {
                return Err(CatalogError::UnknownParent);
            }
        }
        Ok(())
    }

    /// Creates a product.
    pub async fn create(
        &self,
        sku: Sku,
        input: ProductInput,
    ) -> Result<ProductRecord, CatalogError> {
        self.check_references(&input, None).await?;
        let now = self.clock.now_millis();
        let mut product = ProductRecord {
            id: platform::ids::new_id(),
            sku: sku.as_str().to_owned(),
            name: input.name.as_str().to_owned(),
            description: input.description.as_str().to_owned(),
            price: input.price,
            category_id: input.category_id,
            attributes: input.attributes.as_value(),
            variant_of: input.variant_of,
            in_stock: false,
            version: 1,
            created_at: now,
            updated_at: now,
        };
        let mut tx = self.db.begin().await?;
        store::insert_product(&mut tx, &product)
            .await
            .map_err(|err| {
                if is_unique_violation(&err) {
                    CatalogError::SkuTaken
                } else {
                    err.into()
                }
            })?;
        self.outbox
            .stage(&mut tx, &ProductCreated(facts(&product)))
            .await?;
        tx.commit().await?;
        self.outbox.wake();
        // Inventory may have announced stock before the product existed.
        if let Some(stored) = store::product(self.db.reader(), &product.id).await? {
            product = stored;
        }
        self.reindex(vec![searchable(&product)], Vec::new()).await?;
        Ok(product)
    }

    /// Replaces a product's fields; a new price also announces `price_changed`.
    pub async fn update(
        &self,
        id: &str,
        input: ProductInput,
    ) -> Result<ProductRecord, CatalogError> {
        self.check_references(&input, Some(id)).await?;
        let mut tx = self.db.begin().await?;
        let before = store::product(&mut *tx, id)
            .await?
            .ok_or(CatalogError::NotFound)?;
        let after = ProductRecord {
            name: input.name.as_str().to_owned(),
            description: input.description.as_str().to_owned(),
            price: input.price,
            category_id: input.category_id,
            attributes: input.attributes.as_value(),
            variant_of: input.variant_of,
            version: before.version + 1,
            updated_at: self.clock.now_millis(),
            ..before.clone()
        };
        store::update_product(&mut tx, &after).await?;
        self.outbox
            .stage(&mut tx, &ProductUpdated(facts(&after)))
            .await?;
        if after.price != before.price {
            self.outbox
                .stage(
                    &mut tx,
                    &PriceChanged {
                        product_id: after.id.clone(),
                        sku: after.sku.clone(),
                        old_price: before.price.clone(),
                        new_price: after.price.clone(),
                    },
                )
                .await?;
        }
        tx.commit().await?;
        self.outbox.wake();
        self.reindex(vec![searchable(&after)], Vec::new()).await?;
        Ok(after)
    }

    /// Deletes a product without variants.
    pub async fn delete(&self, id: &str) -> Result<(), CatalogError> {
        if store::has_variants(self.db.reader(), id).await? {
            return Err(CatalogError::HasVariants);
        }
        let mut tx = self.db.begin().await?;
        let product = store::product(&mut *tx, id)
            .await?
            .ok_or(CatalogError::NotFound)?;
        if !store::delete_product(&mut tx, id).await? {
            return Err(CatalogError::NotFound);
        }
        self.outbox
            .stage(
                &mut tx,
                &ProductDeleted {
                    product_id: product.id.clone(),
                    sku: product.sku.clone(),
                },
            )
            .await?;
        tx.commit().await?;
        self.outbox.wake();
        self.reindex(Vec::new(), vec![product.id]).await?;
        Ok(())
    }

    /// A product.
    pub async fn product(&self, id: &str) -> Result<ProductRecord, CatalogError> {
        store::product(self.db.reader(), id)
            .await?
            .ok_or(CatalogError::NotFound)
    }

    /// Products matching `filter` (a category filter includes its sub-categories).
    pub async fn list(
        &self,
        mut filter: ProductFilter,
        category: Option<&str>,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<ProductRecord>, CatalogError> {
        if let Some(category) = category {
            filter.categories = Some(self.category_and_descendants(category).await?);
        }
        Ok(store::list_products(self.db.reader(), &filter, after, limit).await?)
    }

    /// Ranked search, filtered; returns (products best first, whether more follow).
    pub async fn search(
        &self,
        q: &str,
        mut filter: ProductFilter,
        category: Option<&str>,
        offset: usize,
        limit: usize,
    ) -> Result<(Vec<ProductRecord>, bool), CatalogError> {
        if let Some(category) = category {
            filter.categories = Some(self.category_and_descendants(category).await?);
        }
        // Filters apply in the database, after ranking. Take hits in growing batches
        // until the filtered page is full or the index has no more, so a filter never
        // hides a match that ranks below the first batch.
        let wanted = offset + limit + 1;
        let mut batch = crate::search::FIRST_HITS.max(wanted);
        loop {
            let index = self.index.clone();
            let query = q.to_owned();
            let hits = tokio::task::spawn_blocking(move || index.search(&query, batch))
                .await
                .map_err(|_| SearchError::Worker)??;
            if hits.is_empty() {
                return Ok((Vec::new(), false));
            }
            // The last round is bounded by how many ids one SQL statement may bind.
            let exhausted = hits.len() < batch || batch >= crate::search::MOST_HITS;
            filter.ids = Some(hits.iter().map(|(id, _)| id.clone()).collect());
            let found = store::list_products(
                self.db.reader(),
                &filter,
                None,
                i64::try_from(hits.len()).unwrap_or(i64::MAX),
            )
            .await?;
            if found.len() >= wanted || exhausted {
                let mut by_id: std::collections::HashMap<String, ProductRecord> =
                    found.into_iter().map(|p| (p.id.clone(), p)).collect();
                let ranked: Vec<ProductRecord> = hits
                    .into_iter()
                    .filter_map(|(id, _)| by_id.remove(&id))
                    .collect();
                let more = ranked.len() > offset + limit;
                return Ok((ranked.into_iter().skip(offset).take(limit).collect(), more));
            }
            batch = batch.saturating_mul(4).min(crate::search::MOST_HITS);
        }
    }

    async fn category_and_descendants(&self, category: &str) -> Result<Vec<String>, CatalogError> {
        let tree: Vec<(String, Option<String>)> = store::categories(self.db.reader())
            .await?
            .into_iter()
            .map(|c| (c.id, c.parent_id))
            .collect();
        Ok(domain::with_descendants(category, &tree))
    }

    /// Creates a category under an optional parent.
    pub async fn create_category(
        &self,
        name: CategoryName,
        parent_id: Option<String>,
    ) -> Result<Category, CatalogError> {
        if let Some(parent) = &parent_id
            && !store::category_exists(self.db.reader(), parent).await?
        {
            return Err(CatalogError::UnknownCategory);
        }
        let category = Category {
            id: platform::ids::new_id(),
            name: name.as_str().to_owned(),
            parent_id,
        };
        let mut tx = self.db.begin().await?;
        store::insert_category(&mut tx, &category, self.clock.now_millis()).await?;
        tx.commit().await?;
        Ok(category)
    }

    /// Every category.
    pub async fn categories(&self) -> Result<Vec<Category>, CatalogError> {
        Ok(store::categories(self.db.reader()).await?)
    }

    /// The marker that says which database state the index reflects.
    async fn marker(&self) -> Result<String, platform::db::Error> {
        let count = store::product_count(self.db.reader()).await?;
        let latest: Option<i64> =
            platform::db::query_scalar("SELECT MAX(updated_at) FROM products")
                .fetch_one(self.db.reader())
                .await?;
        Ok(format!("{count}:{}", latest.unwrap_or(0)))
    }

    async fn reindex(
        &self,
        upserts: Vec<Searchable>,
        deletes: Vec<String>,
    ) -> Result<(), CatalogError> {
        let marker = self.marker().await?;
        self.index.apply(upserts, deletes, marker).await?;
        Ok(())
    }

    /// Brings the index up to date with writes it did not see (another replica's, in
    /// the distributed shape): the products changed since the index's last change are
    /// replaced, and when the counts still differ (a delete) the index is rebuilt.
    /// Returns whether anything changed.
    pub async fn sync_index(&self) -> Result<bool, CatalogError> {
        let marker = self.marker().await?;
        let Some(indexed) = self.index.marker() else {
            return self.ensure_index().await;
        };
        if indexed == marker {
            return Ok(false);
        }
        let (Some(db_count), Some(since)) = (marker_count(&marker), marker_latest(&indexed)) else {
            return self.ensure_index().await;
        };
        // A margin for replicas' clocks and for a transaction that committed after a
        // later one: re-indexing a product twice is harmless.
        let changed = store::searchable_changed_since(self.db.reader(), since - SYNC_MARGIN_MS)
            .await?
            .into_iter()
            .map(searchable_row)
            .collect::<Vec<_>>();
        self.index.apply(changed, Vec::new(), marker).await?;
        // Counts that still differ (a delete elsewhere, or a write older than the
        // margin) mean a rebuild.
        if self.index.product_count() != db_count {
            return self.ensure_index().await;
        }
        Ok(true)
    }

    /// Rebuilds the index from the database when it does not match it.
    pub async fn ensure_index(&self) -> Result<bool, CatalogError> {
        let marker = self.marker().await?;
        if self.index.marker().as_deref() == Some(marker.as_str()) {
            return Ok(false);
        }
        let mut all = Vec::new();
        let mut after = String::new();
        loop {
            let batch = store::searchable_batch(self.db.reader(), &after, 1000).await?;
            let Some(last) = batch.last() else { break };
            after = last.0.clone();
            all.extend(batch.into_iter().map(searchable_row));
        }
        tracing::info!(
            products = all.len(),
            "rebuilding the search index from the database"
        );
        self.index.rebuild(all, marker).await?;
        Ok(true)
    }
}

/// How far before the index's latest change a sync looks again.
const SYNC_MARGIN_MS: i64 = 5_000;

/// The product count of a marker (`count:latest`).
fn marker_count(marker: &str) -> Option<u64> {
    marker.split_once(':')?.0.parse().ok()
}

/// The latest change (epoch ms) of a marker (`count:latest`).
fn marker_latest(marker: &str) -> Option<i64> {
    marker.split_once(':')?.1.parse().ok()
}

/// A product's searchable text from its stored columns.
fn searchable_row(
    (id, name, description, attributes): (String, String, String, String),
) -> Searchable {
    let attributes = serde_json::from_str::<serde_json::Value>(&attributes)
        .ok()
        .and_then(|v| Attributes::try_from(v).ok())
        .unwrap_or_else(Attributes::empty);
    Searchable {
        id,
        name,
        description,
        attributes: attributes.search_text(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_read_back() {
        assert_eq!(marker_count("12:1700"), Some(12));
        assert_eq!(marker_latest("12:1700"), Some(1700));
        assert_eq!(marker_count("junk"), None);
    }
}
