//! Tenants as analytics knows them (identity's tenants, learned from its events, and
//! the built-in `viscount`).

use platform::db::{Executor, Tx};

/// A tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
}

/// Records a tenant identity announced (its name wins over a placeholder).
pub async fn put_tenant(
    tx: &mut Tx,
    id: &str,
    name: &str,
    now: i64,
) -> Result<(), platform::db::Error> {
    platform::db::query(
        "INSERT INTO tenants (id, name, created_at) VALUES ($1, $2, $3)
         ON CONFLICT (id) DO UPDATE SET name = excluded.name",
    )
    .bind(id)
    .bind(name)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Records a tenant an event named before identity's announcement arrived (streams
/// are not ordered with each other); its name is its id until then.
pub async fn ensure_tenant(tx: &mut Tx, id: &str, now: i64) -> Result<(), platform::db::Error> {
    platform::db::query(
        "INSERT INTO tenants (id, name, created_at) VALUES ($1, $1, $2) ON CONFLICT (id) DO NOTHING",
    )
    .bind(id)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Whether `id` is a known tenant.
pub async fn tenant_exists<'e>(
    ex: impl Executor<'e>,
    id: &str,
) -> Result<bool, platform::db::Error> {
    Ok(
        platform::db::query_scalar::<i64>("SELECT 1 FROM tenants WHERE id = $1")
            .bind(id)
            .fetch_optional(ex)
            .await?
            .is_some(),
    )
}

/// Every tenant, by id.
pub async fn tenants<'e>(ex: impl Executor<'e>) -> Result<Vec<Tenant>, platform::db::Error> {
    platform::db::query("SELECT id, name FROM tenants ORDER BY id")
        .fetch_all(ex)
        .await?
        .iter()
        .map(|row| {
            Ok(Tenant {
                id: row.try_get("id")?,
                name: row.try_get("name")?,
            })
        })
        .collect()
}
