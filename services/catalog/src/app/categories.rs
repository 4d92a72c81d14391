//! Categories: creating them under an optional parent, and reading the tree.

use super::{CatalogApp, CatalogError};
use crate::domain::{self, Category, CategoryName};
use crate::store;

impl CatalogApp {
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
            name: name.into_string(),
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

    /// `category` and every category under it.
    pub(super) async fn category_and_descendants(
        &self,
        category: &str,
    ) -> Result<Vec<String>, CatalogError> {
        let tree: Vec<(String, Option<String>)> = store::categories(self.db.reader())
            .await?
            .into_iter()
            .map(|c| (c.id, c.parent_id))
            .collect();
        Ok(domain::with_descendants(category, &tree))
    }
}
