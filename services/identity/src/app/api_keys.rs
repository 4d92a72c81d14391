//! API keys: created by admins with the scopes they grant, listed, revoked, and
//! resolved into the client principal of a request that presents one.

use platform::auth::{Principal, PrincipalKind};
use tracing::field::Empty;

use super::{API_KEY_PREFIX, IdentityApp, IdentityError};
use crate::domain::{ApiKey, Scopes, UserName};
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
        let key = platform::ids::random_token(API_KEY_PREFIX);
        let record = ApiKey {
            id: platform::ids::new_id(),
            name,
            scopes,
            created_at: self.clock.now_millis(),
        };
        tracing::Span::current().record("api_key_id", record.id.as_str());
        let mut tx = self.db.begin().await?;
        store::insert_api_key(
            &mut tx,
            &record,
            &platform::ids::sha256_hex(key.as_bytes()),
            &caller.subject,
        )
        .await?;
        tx.commit().await?;
        Ok(NewApiKey { record, key })
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
            subject: r.id,
            kind: PrincipalKind::Client,
            roles: Vec::new(),
            scopes: r.scopes.as_slice().to_vec(),
            session_id: None,
        }))
    }
}
