//! Tenants' sources: an admin sets the credentials a provider's deliveries are
//! verified with. The tenant must exist in identity; ingestion makes its own record of
//! the tenant (its hashing key) with the first source. The built-in
//! [`VISCOUNT_TENANT`] never has one: its revenue is Viscount's own orders, taken from
//! the bus, so a storefront's webhook must not be able to add to it.

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

/// Whether `id` can be a tenant that takes webhooks: any tenant id but the built-in
/// [`VISCOUNT_TENANT`], whose events come from Viscount's own ordering and payments
/// only. Should a source for it ever be stored, this still keeps its deliveries out.
pub fn takes_webhooks(id: &str) -> bool {
    id != VISCOUNT_TENANT && is_tenant_id(id)
}

/// Refuses a source for the built-in [`VISCOUNT_TENANT`] (422 naming `tenant`).
pub fn check_source_tenant(tenant_id: &str) -> Result<(), IngestionError> {
    if tenant_id == VISCOUNT_TENANT {
        return Err(IngestionError::Invalid {
            field: "tenant".into(),
            message: "is the built-in tenant `viscount`, whose revenue is Viscount's own \
                      orders: it takes no webhooks, so it has no sources"
                .into(),
        });
    }
    Ok(())
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
        check_source_tenant(tenant_id)?;
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

    #[test]
    fn the_built_in_tenant_takes_no_webhooks_and_has_no_sources() {
        assert!(takes_webhooks("0190a000-0000-7000-8000-000000000002"));
        assert!(!takes_webhooks(VISCOUNT_TENANT));
        assert!(!takes_webhooks("acme"));
        assert!(check_source_tenant("0190a000-0000-7000-8000-000000000002").is_ok());
        let refused = check_source_tenant(VISCOUNT_TENANT);
        assert!(
            matches!(&refused, Err(IngestionError::Invalid { field, message })
                if field == "tenant" && message.contains("own orders")),
            "{refused:?}"
        );
    }
}
