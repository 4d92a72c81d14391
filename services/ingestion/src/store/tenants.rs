//! Tenants as ingestion knows them: the per-tenant key customers' emails and ids are
//! hashed with. A tenant's row is made the first time ingestion acts for it.

use platform::db::{Executor, Tx};

use super::guard::{self, Cell, StoreError};
use crate::domain::payload::CustomerRefKey;

/// The tenant's hashing key, creating the tenant with `fresh` when it is new (two
/// callers racing both read the one that was stored).
pub async fn ensure_tenant(
    tx: &mut Tx,
    tenant_id: &str,
    fresh: &CustomerRefKey,
    now: i64,
) -> Result<CustomerRefKey, StoreError> {
    let encoded = data_encoding::HEXLOWER.encode(fresh.as_bytes());
    guard::insert(
        tx,
        "tenants",
        &[
            ("id", Cell::Text(tenant_id)),
            ("ref_key", Cell::Text(&encoded)),
            ("created_at", Cell::Int(now)),
        ],
        "ON CONFLICT (id) DO NOTHING",
    )
    .await?;
    tenant_key(&mut **tx, tenant_id)
        .await?
        .ok_or(StoreError::Db(platform::db::Error::RowNotFound))
}

/// The tenant's hashing key, if ingestion knows the tenant.
pub async fn tenant_key<'e>(
    ex: impl Executor<'e>,
    tenant_id: &str,
) -> Result<Option<CustomerRefKey>, platform::db::Error> {
    let stored: Option<String> =
        platform::db::query_scalar("SELECT ref_key FROM tenants WHERE id = $1")
            .bind(tenant_id)
            .fetch_optional(ex)
            .await?;
    stored
        .map(|hex| {
            let bytes =
                platform::db::decoded("ref_key", data_encoding::HEXLOWER.decode(hex.as_bytes()))?;
            let bytes: [u8; 32] = platform::db::decoded(
                "ref_key",
                <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| "not 32 bytes"),
            )?;
            Ok(CustomerRefKey::from_bytes(bytes))
        })
        .transpose()
}
