//! API keys, stored as SHA-256 (the key itself is shown once at creation). A key's
//! grant is its `scopes` (space-separated) or its `tenant_id` with no scopes; a row
//! with both or neither does not read.

use platform::db::{Executor, Row, Tx};

use crate::domain::{ApiKey, Grant, Scopes, UserName};

/// The columns [`api_key_from`] reads.
const COLUMNS: &str = "id, name, scopes, tenant_id, created_at";

fn api_key_from(row: &Row) -> Result<ApiKey, platform::db::Error> {
    let name: String = row.try_get("name")?;
    let scopes: String = row.try_get("scopes")?;
    let scopes: Vec<String> = scopes
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    let tenant: Option<String> = row.try_get("tenant_id")?;
    let grant = match tenant {
        None => Grant::Scopes(platform::db::decoded("scopes", Scopes::try_from(scopes))?),
        Some(tenant) if scopes.is_empty() => Grant::Tenant(tenant),
        Some(_) => {
            return Err(platform::db::Error::undecodable(
                "scopes",
                "a tenant key holds no scopes",
            ));
        }
    };
    Ok(ApiKey {
        id: row.try_get("id")?,
        name: platform::db::decoded("name", UserName::try_from(name))?,
        grant,
        created_at: row.try_get("created_at")?,
    })
}

/// Stores an API key by hash.
pub async fn insert_api_key(
    tx: &mut Tx,
    key: &ApiKey,
    key_hash: &str,
    created_by: &str,
) -> Result<(), platform::db::Error> {
    platform::db::query(
        "INSERT INTO api_keys (id, name, key_hash, scopes, tenant_id, created_by, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&key.id)
    .bind(key.name.as_str())
    .bind(key_hash)
    .bind(key.scopes().join(" "))
    .bind(key.tenant())
    .bind(created_by)
    .bind(key.created_at)
    .execute(&mut **tx)
    .await
    .map(|_| ())
}

/// The unrevoked API key with this hash.
pub async fn api_key_by_hash<'e>(
    ex: impl Executor<'e>,
    key_hash: &str,
) -> Result<Option<ApiKey>, platform::db::Error> {
    platform::db::query(&format!(
        "SELECT {COLUMNS} FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL"
    ))
    .bind(key_hash)
    .fetch_optional(ex)
    .await?
    .as_ref()
    .map(api_key_from)
    .transpose()
}

/// Unrevoked API keys, by id after `after`.
pub async fn list_api_keys<'e>(
    ex: impl Executor<'e>,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<ApiKey>, platform::db::Error> {
    let rows = platform::db::query(&format!(
        "SELECT {COLUMNS} FROM api_keys WHERE revoked_at IS NULL AND id > $1 ORDER BY id LIMIT $2"
    ))
    .bind(after.unwrap_or(""))
    .bind(limit)
    .fetch_all(ex)
    .await?;
    rows.iter().map(api_key_from).collect()
}

/// Revokes an API key; `false` when there is no such unrevoked key.
pub async fn revoke_api_key(tx: &mut Tx, id: &str, now: i64) -> Result<bool, platform::db::Error> {
    let updated = platform::db::query(
        "UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
    )
    .bind(now)
    .bind(id)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(updated == 1)
}
