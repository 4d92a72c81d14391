//! API keys: created by admins with the scopes they grant (or with a tenant, see
//! `tenants`), listed, revoked, and resolved into the client principal of a request
//! that presents one.

use platform::auth::{Principal, PrincipalKind};
use platform::db::Tx;
use tracing::field::Empty;

use super::{API_KEY_PREFIX, IdentityApp, IdentityError};
use crate::domain::{ApiKey, Grant, Scopes, UserName};
use crate::store;

/// A new API key, with its secret (shown once).
#[derive(Debug, Clone)]
pub struct NewApiKey {
    /// The key as stored.
    pub record: ApiKey,
    /// The key itself.
    pub key: String,
}

impl IdentityApp {
    /// Creates an API key with `scopes` on behalf of `caller`; the key is returned once.
    #[tracing::instrument(skip_all, fields(user_id = %caller.subject, api_key_id = Empty), err)]
    pub async fn create_api_key(
        &self,
        caller: &Principal,
        name: UserName,
        scopes: Scopes,
    ) -> Result<NewApiKey, IdentityError> {
        let created = self.mint_api_key(name, Grant::Scopes(scopes));
        tracing::Span::current().record("api_key_id", created.record.id.as_str());
        let mut tx = self.db.begin().await?;
        store_api_key(&mut tx, &created, caller).await?;
        tx.commit().await?;
        Ok(created)
    }

    /// A new key granting `grant`, not stored yet.
    pub(super) fn mint_api_key(&self, name: UserName, grant: Grant) -> NewApiKey {
        NewApiKey {
            record: ApiKey {
                id: platform::ids::new_id(),
                name,
                grant,
                created_at: self.clock.now_millis(),
            },
            key: platform::ids::random_token(API_KEY_PREFIX),
        }
    }

    /// Unrevoked API keys, by id after `after`.
    #[tracing::instrument(skip_all, err)]
    pub async fn api_keys(
        &self,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<ApiKey>, IdentityError> {
        Ok(store::list_api_keys(self.db.reader(), after, limit).await?)
    }

    /// Revokes an API key.
    #[tracing::instrument(skip_all, fields(api_key_id = %id), err(level = "info"))]
    pub async fn delete_api_key(&self, id: &str) -> Result<(), IdentityError> {
        let mut tx = self.db.begin().await?;
        if !store::revoke_api_key(&mut tx, id, self.clock.now_millis()).await? {
            return Err(IdentityError::NotFound("api key"));
        }
        tx.commit().await?;
        Ok(())
    }

    /// The client principal of a valid API key.
    pub async fn resolve_api_key(&self, key: &str) -> Result<Option<Principal>, IdentityError> {
        if !key.starts_with(API_KEY_PREFIX) || key.len() > 128 {
            return Ok(None);
        }
        let record =
            store::api_key_by_hash(self.db.reader(), &platform::ids::sha256_hex(key.as_bytes()))
                .await?;
        Ok(record.map(|r| Principal {
            kind: PrincipalKind::Client,
            roles: Vec::new(),
            scopes: r.scopes().to_vec(),
            session_id: None,
            tenant: r.tenant().map(str::to_owned),
            subject: r.id,
        }))
    }
}

/// Stores a minted key by its hash (the key itself is never stored), in `tx`.
pub(super) async fn store_api_key(
    tx: &mut Tx,
    created: &NewApiKey,
    caller: &Principal,
) -> Result<(), IdentityError> {
    let hash = platform::ids::sha256_hex(created.key.as_bytes());
    store::insert_api_key(tx, &created.record, &hash, &caller.subject).await?;
    Ok(())
}
