//! Tenants: created by admins together with their first API key (bound to the tenant,
//! shown once, stored hashed like every key) and the `identity.tenant.created.v1`
//! event, all in one transaction; listed by admins; seen by admins and by the tenant's
//! own keys.

use platform::auth::Principal;
use tracing::field::Empty;

use super::api_keys::store_api_key;
use super::{IdentityApp, IdentityError, NewApiKey};
use crate::domain::{Grant, Tenant, UserName};
use crate::store;

/// A new tenant with its key (shown once).
#[derive(Debug, Clone)]
pub struct NewTenant {
    /// The tenant as stored.
    pub tenant: Tenant,
    /// Its API key, bound to it.
    pub key: NewApiKey,
}

impl IdentityApp {
    /// Creates the tenant `name` and its first API key on behalf of `caller` (an admin;
    /// the handler checks).
    #[tracing::instrument(skip_all, fields(user_id = %caller.subject, tenant_id = Empty), err)]
    pub async fn create_tenant(
        &self,
        caller: &Principal,
        name: UserName,
    ) -> Result<NewTenant, IdentityError> {
        let tenant_id = platform::ids::new_id();
        tracing::Span::current().record("tenant_id", tenant_id.as_str());
        let key = self.mint_api_key(name.clone(), Grant::Tenant(tenant_id.clone()));
        let tenant = Tenant {
            id: tenant_id,
            name,
            created_at: key.record.created_at,
        };
        let mut tx = self.db.begin().await?;
        store::insert_tenant(&mut tx, &tenant, &caller.subject).await?;
        store_api_key(&mut tx, &key, caller).await?;
        self.outbox.stage(&mut tx, &tenant.created_event()).await?;
        tx.commit().await?;
        self.outbox.wake();
        Ok(NewTenant { tenant, key })
    }

    /// Tenants, by id after `after`.
    #[tracing::instrument(skip_all, err)]
    pub async fn tenants(
        &self,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<Tenant>, IdentityError> {
        Ok(store::list_tenants(self.db.reader(), after, limit).await?)
    }

    /// The tenant `id`, for an admin or the tenant's own key; for anyone else it is
    /// "not found", so a key cannot learn which other tenants exist.
    #[tracing::instrument(skip_all, fields(tenant_id = %id), err(level = "info"))]
    pub async fn tenant(&self, caller: &Principal, id: &str) -> Result<Tenant, IdentityError> {
        if !caller.may_see_tenant(id) {
            return Err(IdentityError::NotFound("tenant"));
        }
        store::tenant_by_id(self.db.reader(), id)
            .await?
            .ok_or(IdentityError::NotFound("tenant"))
    }
}
