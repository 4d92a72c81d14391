//! Ranked search: the index ranks, the database filters and supplies the products, so
//! results never show stale prices or stock.

use std::collections::HashMap;

use super::{CatalogApp, CatalogError};
use crate::domain::{Product, ProductFilter};
use crate::search::{FIRST_HITS, MOST_HITS, SearchError};
use crate::store;

impl CatalogApp {
    /// Ranked search, filtered; returns (products best first, whether more follow).
    pub async fn search(
        &self,
        q: &str,
        mut filter: ProductFilter,
        category: Option<&str>,
        offset: usize,
        limit: usize,
    ) -> Result<(Vec<Product>, bool), CatalogError> {
        if let Some(category) = category {
            filter.categories = Some(self.category_and_descendants(category).await?);
        }
        // Filters apply in the database, after ranking. Take hits in growing batches
        // until the filtered page is full or the index has no more, so a filter never
        // hides a match that ranks below the first batch.
        let wanted = offset + limit + 1;
        let mut batch = FIRST_HITS.max(wanted);
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
            let exhausted = hits.len() < batch || batch >= MOST_HITS;
            filter.ids = Some(hits.iter().map(|(id, _)| id.clone()).collect());
            let found = store::list_products(
                self.db.reader(),
                &filter,
                None,
                i64::try_from(hits.len()).unwrap_or(i64::MAX),
            )
            .await?;
            if found.len() >= wanted || exhausted {
                let mut by_id: HashMap<String, Product> =
                    found.into_iter().map(|p| (p.id.clone(), p)).collect();
                let ranked: Vec<Product> = hits
                    .into_iter()
                    .filter_map(|(id, _)| by_id.remove(&id))
                    .collect();
                let more = ranked.len() > offset + limit;
                return Ok((ranked.into_iter().skip(offset).take(limit).collect(), more));
            }
            batch = batch.saturating_mul(4).min(MOST_HITS);
        }
    }
}
