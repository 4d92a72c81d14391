//! The search index kept in step with the database: updated after every write here,
//! synced with other replicas' writes every few seconds, and rebuilt whenever its
//! marker (product count and latest change, the `fulltext` engine's [`Marker`])
//! disagrees with the database's.

use fulltext::Marker;

use super::{CatalogApp, CatalogError};
use crate::domain::ProductText;
use crate::search::Searchable;
use crate::store;

/// How far before the index's latest change a sync looks again.
const SYNC_MARGIN_MS: i64 = 5_000;

impl CatalogApp {
    /// The marker that says which database state the index reflects.
    async fn marker(&self) -> Result<Marker, platform::db::Error> {
        let (count, latest) = store::product_count_and_latest(self.db.reader()).await?;
        Ok(Marker {
            count: platform::db::decoded("products", u64::try_from(count))?,
            latest,
        })
    }

    /// Puts products written here into the index (and takes deleted ones out).
    pub(super) async fn reindex(
        &self,
        upserts: Vec<ProductText>,
        deletes: Vec<String>,
    ) -> Result<(), CatalogError> {
        let marker = self.marker().await?;
        let upserts = upserts.into_iter().map(searchable).collect();
        self.index
            .apply(upserts, deletes, marker.to_string())
            .await?;
        Ok(())
    }

    /// Brings the index up to date with writes it did not see (another replica's, in
    /// the distributed shape): the products changed since the index's last change are
    /// replaced, and when the counts still differ (a delete) the index is rebuilt.
    /// Returns whether anything changed.
    pub async fn sync_index(&self) -> Result<bool, CatalogError> {
        let marker = self.marker().await?;
        let Some(indexed) = self.index.marker().as_deref().and_then(Marker::parse) else {
            return self.ensure_index().await;
        };
        if indexed == marker {
            return Ok(false);
        }
        let (db_count, since) = (marker.count, indexed.latest);
        // A margin for replicas' clocks and for a transaction that committed after a
        // later one: re-indexing a product twice is harmless.
        let changed = store::searchable_changed_since(self.db.reader(), since - SYNC_MARGIN_MS)
            .await?
            .into_iter()
            .map(searchable)
            .collect::<Vec<_>>();
        self.index
            .apply(changed, Vec::new(), marker.to_string())
            .await?;
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
        if self.index.marker().as_deref().and_then(Marker::parse) == Some(marker) {
            return Ok(false);
        }
        let mut all = Vec::new();
        let mut after = String::new();
        loop {
            let batch = store::searchable_batch(self.db.reader(), &after, 1000).await?;
            let Some(last) = batch.last() else { break };
            after = last.id.clone();
            all.extend(batch.into_iter().map(searchable));
        }
        tracing::info!(
            products = all.len(),
            "rebuilding the search index from the database"
        );
        self.index.rebuild(all, marker.to_string()).await?;
        Ok(true)
    }
}

/// What the index holds of a product.
fn searchable(text: ProductText) -> Searchable {
    Searchable {
        attributes: text.attributes.search_text(),
        id: text.id,
        name: text.name,
        description: text.description,
    }
}
