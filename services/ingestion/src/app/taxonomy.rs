//! Channel taxonomies: the ordered rules that turn an event's source fields into a
//! channel. A tenant's own rules win; without them the platform's (when an operator
//! replaced the defaults), else the built-in defaults after GA4's grouping.

use std::sync::Arc;

use super::{IngestionApp, IngestionError};
use crate::domain::taxonomy::Taxonomy;
use crate::store;

/// Where the taxonomy in force comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaxonomyOrigin {
    /// The built-in defaults.
    Default,
    /// The platform's, set by an operator.
    Platform,
    /// The tenant's own.
    Tenant,
}

impl TaxonomyOrigin {
    /// The name the API shows.
    pub fn as_str(self) -> &'static str {
        match self {
            TaxonomyOrigin::Default => "default",
            TaxonomyOrigin::Platform => "platform",
            TaxonomyOrigin::Tenant => "tenant",
        }
    }
}

/// A taxonomy as the API shows it.
#[derive(Debug, Clone)]
pub struct TaxonomyView {
    /// The tenant it is in force for (`None`: the platform's).
    pub tenant_id: Option<String>,
    /// Where it comes from.
    pub origin: TaxonomyOrigin,
    /// Its version (0 for the built-in defaults).
    pub version: i64,
    /// The rules.
    pub taxonomy: Arc<Taxonomy>,
}

impl IngestionApp {
    /// The taxonomy in force for `tenant_id` (`None`: for tenants without their own).
    pub async fn taxonomy(&self, tenant_id: Option<&str>) -> Result<TaxonomyView, IngestionError> {
        if let Some(tenant) = tenant_id
            && let Some(stored) = store::taxonomy(self.db.reader(), tenant).await?
        {
            return Ok(TaxonomyView {
                tenant_id: Some(tenant.to_owned()),
                origin: TaxonomyOrigin::Tenant,
                version: stored.version,
                taxonomy: Arc::new(stored.taxonomy),
            });
        }
        let (origin, version, taxonomy) =
            match store::taxonomy(self.db.reader(), store::PLATFORM).await? {
                Some(stored) => (TaxonomyOrigin::Platform, stored.version, stored.taxonomy),
                None => (TaxonomyOrigin::Default, 0, Taxonomy::defaults()),
            };
        Ok(TaxonomyView {
            tenant_id: tenant_id.map(str::to_owned),
            origin,
            version,
            taxonomy: Arc::new(taxonomy),
        })
    }

    /// Replaces the taxonomy of `tenant_id` (`None`: the platform's).
    #[tracing::instrument(skip_all, err(level = "info"))]
    pub async fn put_taxonomy(
        &self,
        tenant_id: Option<&str>,
        taxonomy: Taxonomy,
    ) -> Result<TaxonomyView, IngestionError> {
        let owner = tenant_id.unwrap_or(store::PLATFORM);
        let mut tx = self.db.begin().await?;
        let version =
            store::put_taxonomy(&mut tx, owner, &taxonomy, self.clock.now_millis()).await?;
        tx.commit().await?;
        let taxonomy = Arc::new(taxonomy);
        match tenant_id {
            Some(tenant) => self.cache.put_taxonomy(tenant, taxonomy.clone()),
            None => self.cache.forget_taxonomies(),
        }
        Ok(TaxonomyView {
            tenant_id: tenant_id.map(str::to_owned),
            origin: if tenant_id.is_some() {
                TaxonomyOrigin::Tenant
            } else {
                TaxonomyOrigin::Platform
            },
            version,
            taxonomy,
        })
    }

    /// The taxonomy classifying a tenant's events, from memory when read recently.
    pub(crate) async fn taxonomy_in_force(
        &self,
        tenant_id: &str,
    ) -> Result<Arc<Taxonomy>, IngestionError> {
        if let Some(taxonomy) = self.cache.taxonomy(tenant_id) {
            return Ok(taxonomy);
        }
        let view = self.taxonomy(Some(tenant_id)).await?;
        self.cache.put_taxonomy(tenant_id, view.taxonomy.clone());
        Ok(view.taxonomy)
    }
}
