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

#[cfg(test)]
mod tests {
    use platform::db::Db;

    use super::*;

    #[tokio::test]
    async fn the_built_in_viscount_tenant_exists_from_the_migrations() {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = platform::db::sqlite_url(dir.path(), "identity");
        let db = Db::connect(&url, &crate::MIGRATIONS).await.expect("db");
        let viscount = tenant_by_id(db.reader(), contracts::ingestion::VISCOUNT_TENANT)
            .await
            .expect("read")
            .expect("the built-in tenant");
        assert_eq!(viscount.name.as_str(), "Viscount");
        assert!(viscount.created_at > 0, "made when the migration ran");
        let listed = list_tenants(db.reader(), None, 10).await.expect("list");
        assert_eq!(listed, [viscount]);
        // Ids page as text, so the fixed id pages among UUIDs like any other.
        assert!(
            list_tenants(db.reader(), Some("viscount"), 10)
                .await
                .expect("list")
                .is_empty()
        );
        let keys: i64 = platform::db::query_scalar(
            "SELECT COUNT(*) FROM api_keys WHERE tenant_id = 'viscount'",
        )
        .fetch_one(db.reader())
        .await
        .expect("count");
        assert_eq!(keys, 0, "the built-in tenant has no key");
    }
}
