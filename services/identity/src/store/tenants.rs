//! Tenants. Their keys live in `api_keys` with the tenant's id.

use platform::db::{Executor, Row, Tx};

use crate::domain::{Tenant, UserName};

const COLUMNS: &str = "id, name, created_at";

fn tenant_from(row: &Row) -> Result<Tenant, platform::db::Error> {
    let name: String = row.try_get("name")?;
    Ok(Tenant {
        id: row.try_get("id")?,
        name: platform::db::decoded("name", UserName::try_from(name))?,
        created_at: row.try_get("created_at")?,
    })
}

/// Stores a new tenant, created by `created_by`.
pub async fn insert_tenant(
    tx: &mut Tx,
    tenant: &Tenant,
    created_by: &str,
) -> Result<(), platform::db::Error> {
    platform::db::query(
        "INSERT INTO tenants (id, name, created_by, created_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(&tenant.id)
    .bind(tenant.name.as_str())
    .bind(created_by)
    .bind(tenant.created_at)
    .execute(&mut **tx)
    .await
    .map(|_| ())
}

/// The tenant `id`.
pub async fn tenant_by_id<'e>(
    ex: impl Executor<'e>,
    id: &str,
) -> Result<Option<Tenant>, platform::db::Error> {
    platform::db::query(&format!("SELECT {COLUMNS} FROM tenants WHERE id = $1"))
        .bind(id)
        .fetch_optional(ex)
        .await?
        .as_ref()
        .map(tenant_from)
        .transpose()
}

/// Tenants by id after `after`.
pub async fn list_tenants<'e>(
    ex: impl Executor<'e>,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<Tenant>, platform::db::Error> {
    let rows = platform::db::query(&format!(
        "SELECT {COLUMNS} FROM tenants WHERE id > $1 ORDER BY id LIMIT $2"
    ))
    .bind(after.unwrap_or(""))
    .bind(limit)
    .fetch_all(ex)
    .await?;
    rows.iter().map(tenant_from).collect()
}
