//! The search index kept in step with the database: updated after every write here,
//! synced with other replicas' writes every few seconds, and rebuilt whenever its
//! marker (product count and latest change) disagrees with the database's.

use super::{CatalogApp, CatalogError};
use crate::domain::ProductText;
use crate::search::Searchable;
use crate::store;

/// How far before the index's latest change a sync looks again.
const SYNC_MARGIN_MS: i64 = 5_000;

impl CatalogApp {
    /// The marker that says which database state the index reflects.
    async fn marker(&self) -> Result<String, platform::db::Error> {
        let (count, latest) = store::product_count_and_latest(self.db.reader()).await?;
        Ok(format!("{count}:{latest}"))
    }

    /// Puts products written here into the index (and takes deleted ones out).
    pub(super) async fn reindex(
        &self,
        upserts: Vec<ProductText>,
        deletes: Vec<String>,
    ) -> Result<(), CatalogError> {
        let marker = self.marker().await?;
        let upserts = upserts.into_iter().map(searchable).collect();
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
            .map(searchable)
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
            after = last.id.clone();
            all.extend(batch.into_iter().map(searchable));
        }
        tracing::info!(
            products = all.len(),
            "rebuilding the search index from the database"
        );
        self.index.rebuild(all, marker).await?;
        Ok(true)
    }
}

/// The product count of a marker (`count:latest`).
fn marker_count(marker: &str) -> Option<u64> {
    marker.split_once(':')?.0.parse().ok()
}

/// The latest change (epoch ms) of a marker (`count:latest`).
fn marker_latest(marker: &str) -> Option<i64> {
    marker.split_once(':')?.1.parse().ok()
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
