//! Tenants' sources: an admin sets the credentials a provider's deliveries are
//! verified with. The tenant must exist in identity; ingestion makes its own record of
//! the tenant (its hashing key) with the first source.

use std::sync::Arc;

use contracts::ingestion::{Provider, VISCOUNT_TENANT};
use platform::auth::ForwardedCredentials;

use super::{IngestionApp, IngestionError};
use crate::domain::source::{Credentials, Source};
use crate::store;

/// Whether `id` can be a tenant id: identity's ids are UUIDs, plus the built-in
/// [`VISCOUNT_TENANT`] (Viscount's own orders); anything else is refused before a
/// lookup.
pub fn is_tenant_id(id: &str) -> bool {
    id == VISCOUNT_TENANT || (id.len() <= 64 && platform::ids::is_uuid(id))
}

impl IngestionApp {
    /// Stores the tenant's `credentials` for `provider`, replacing earlier ones.
    #[tracing::instrument(skip_all, fields(tenant_id = %tenant_id, provider = provider.as_str()), err(level = "info"))]
    pub async fn put_source(
        &self,
        credentials: &ForwardedCredentials,
        tenant_id: &str,
        provider: Provider,
        source_credentials: Credentials,
    ) -> Result<(), IngestionError> {
        if !source_credentials.fits(provider) {
            return Err(IngestionError::Invalid {
                field: "secret".into(),
                message: "does not fit the provider".into(),
            });
        }
        if !is_tenant_id(tenant_id) || !self.tenants.tenant_exists(credentials, tenant_id).await? {
            return Err(IngestionError::NotFound("tenant"));
        }
        // The hashing key first: a delivery verified with the new source must find it.
        self.ref_key(tenant_id).await?;
        let source = Source {
            tenant_id: tenant_id.to_owned(),
            provider,
            credentials: source_credentials,
        };
        let mut tx = self.db.begin().await?;
        store::put_source(&mut tx, &source, self.clock.now_millis()).await?;
        tx.commit().await?;
        self.cache
            .put_source(tenant_id, provider, Some(Arc::new(source)));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_ids_are_uuids_or_the_built_in_tenant() {
        assert!(is_tenant_id("0190a000-0000-7000-8000-000000000002"));
        assert!(is_tenant_id("viscount"));
        for not_one in ["", "*", "Viscount", "viscount ", "acme", "../viscount"] {
            assert!(!is_tenant_id(not_one), "{not_one:?}");
        }
    }
}
