//! Channel taxonomies: a tenant's own ordered rules, or the platform's (stored under
//! [`PLATFORM`]) when an operator replaced the built-in defaults. Each write bumps the
//! version.

use platform::db::{Executor, Tx};

use super::guard::{self, Cell, StoreError};
use crate::domain::taxonomy::Taxonomy;

/// The tenant id the platform-wide taxonomy is stored under.
pub const PLATFORM: &str = "*";

/// A stored taxonomy and its version.
#[derive(Debug, Clone)]
pub struct StoredTaxonomy {
    /// The rules.
    pub taxonomy: Taxonomy,
    /// Its version (1 for the first write).
    pub version: i64,
    /// When it was written, epoch ms.
    pub updated_at: i64,
}

/// The taxonomy stored for `owner` (a tenant id or [`PLATFORM`]).
pub async fn taxonomy<'e>(
    ex: impl Executor<'e>,
    owner: &str,
) -> Result<Option<StoredTaxonomy>, platform::db::Error> {
    let Some(row) = platform::db::query(
        "SELECT rules, version, updated_at FROM channel_taxonomies WHERE tenant_id = $1",
    )
    .bind(owner)
    .fetch_optional(ex)
    .await?
    else {
        return Ok(None);
    };
    let rules: String = row.try_get("rules")?;
    let value: serde_json::Value = platform::db::decoded("rules", serde_json::from_str(&rules))?;
    let taxonomy = Taxonomy::from_json(&value).map_err(|errors| {
        platform::db::Error::undecodable(
            "rules",
            errors
                .into_iter()
                .map(|(field, message)| format!("{field} {message}"))
                .collect::<Vec<_>>()
                .join("; "),
        )
    })?;
    Ok(Some(StoredTaxonomy {
        taxonomy,
        version: row.try_get("version")?,
        updated_at: row.try_get("updated_at")?,
    }))
}

/// Stores `taxonomy` for `owner`; answers its new version.
pub async fn put_taxonomy(
    tx: &mut Tx,
    owner: &str,
    taxonomy: &Taxonomy,
    now: i64,
) -> Result<i64, StoreError> {
    let rules = taxonomy.to_json().to_string();
    guard::insert(
        tx,
        "channel_taxonomies",
        &[
            ("tenant_id", Cell::Text(owner)),
            ("rules", Cell::Text(&rules)),
            ("version", Cell::Int(1)),
            ("updated_at", Cell::Int(now)),
        ],
        "ON CONFLICT (tenant_id) DO UPDATE SET rules = excluded.rules, \
         version = channel_taxonomies.version + 1, updated_at = excluded.updated_at",
    )
    .await?;
    let version: i64 =
        platform::db::query_scalar("SELECT version FROM channel_taxonomies WHERE tenant_id = $1")
            .bind(owner)
            .fetch_one(&mut **tx)
            .await?;
    Ok(version)
}
