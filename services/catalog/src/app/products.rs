//! Products: creating, revising and deleting them (each with its event), and reading
//! one or a filtered page of them.

use platform::db::is_unique_violation;

use super::cached::CachedProduct;
use super::{CatalogApp, CatalogError};
use crate::domain::{Product, ProductFilter, ProductInput, Sku};
use crate::store;

impl CatalogApp {
    /// Checks what `input` refers to: its category exists, and its parent (for a
    /// variant) is a product that may parent `own_id`.
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
            if !parent.may_parent(own_id) {
                return Err(CatalogError::UnknownParent);
            }
        }
        Ok(())
    }

    /// Creates a product.
    #[tracing::instrument(
        skip_all,
        fields(sku = sku.as_str(), product_id = tracing::field::Empty),
        err(level = "warn")
    )]
    pub async fn create(&self, sku: Sku, input: ProductInput) -> Result<Product, CatalogError> {
        self.check_references(&input, None).await?;
        let mut product =
            Product::create(platform::ids::new_id(), sku, input, self.clock.now_millis());
        tracing::Span::current().record("product_id", product.id.as_str());
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
        self.outbox.stage(&mut tx, &product.created_event()).await?;
        tx.commit().await?;
        self.outbox.wake();
        // Inventory may have announced stock before the product existed.
        if let Some(stored) = store::product(self.db.reader(), &product.id).await? {
            product = stored;
        }
        self.reindex(vec![product.text()], Vec::new()).await?;
        Ok(product)
    }

    /// Replaces a product's fields; a new price also announces `price_changed`.
    #[tracing::instrument(skip_all, fields(product_id = %id), err(level = "warn"))]
    pub async fn update(&self, id: &str, input: ProductInput) -> Result<Product, CatalogError> {
        self.check_references(&input, Some(id)).await?;
        let mut tx = self.db.begin().await?;
        // Dropped whatever becomes of this request once the change commits, and again
        // below before the answer, so the caller's next read sees the change.
        self.products
            .invalidate_after_commit(&mut tx, id.to_owned());
        let mut product = store::product_for_update(&mut tx, self.db.dialect(), id)
            .await?
            .ok_or(CatalogError::NotFound)?;
        let revision = product.revise(input, self.clock.now_millis());
        // Read under lock, so only a delete that won the race gets here.
        if !store::update_product(&mut tx, &product).await? {
            return Err(CatalogError::NotFound);
        }
        self.outbox.stage(&mut tx, &revision.updated).await?;
        if let Some(price_changed) = &revision.price_changed {
            self.outbox.stage(&mut tx, price_changed).await?;
        }
        tx.commit().await?;
        self.outbox.wake();
        self.products.invalidate(&product.id).await;
        self.reindex(vec![product.text()], Vec::new()).await?;
        Ok(product)
    }

    /// Deletes a product without variants.
    #[tracing::instrument(skip_all, fields(product_id = %id), err(level = "warn"))]
    pub async fn delete(&self, id: &str) -> Result<(), CatalogError> {
        if store::has_variants(self.db.reader(), id).await? {
            return Err(CatalogError::HasVariants);
        }
        let mut tx = self.db.begin().await?;
        self.products
            .invalidate_after_commit(&mut tx, id.to_owned());
        let product = store::product(&mut *tx, id)
            .await?
            .ok_or(CatalogError::NotFound)?;
        if !store::delete_product(&mut tx, id).await? {
            return Err(CatalogError::NotFound);
        }
        self.outbox.stage(&mut tx, &product.deleted_event()).await?;
        tx.commit().await?;
        self.outbox.wake();
        self.products.invalidate(&product.id).await;
        self.reindex(Vec::new(), vec![product.id]).await?;
        Ok(())
    }

    /// A product, from the cache when it holds it.
    #[tracing::instrument(skip_all, fields(product_id = %id), err(level = "warn"))]
    pub async fn product(&self, id: &str) -> Result<Product, CatalogError> {
        let cached = self
            .products
            .get_or_load(id, || async {
                let product = self.product_from_database(id).await?;
                Ok::<_, CatalogError>(CachedProduct::from(product))
            })
            .await?;
        match cached.into_product() {
            Some(product) => Ok(product),
            None => self.product_from_database(id).await,
        }
    }

    async fn product_from_database(&self, id: &str) -> Result<Product, CatalogError> {
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
    ) -> Result<Vec<Product>, CatalogError> {
        if let Some(category) = category {
            filter.categories = Some(self.category_and_descendants(category).await?);
        }
        Ok(store::list_products(self.db.reader(), &filter, after, limit).await?)
    }
}
