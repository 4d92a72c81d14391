//! Ingestion's SQL, and the only translator between rows and the domain: tenants'
//! hashing keys ([`tenants`]), sources and their credentials ([`sources`]), attribution
//! events ([`events`]), dead events ([`dead`]), touchpoints ([`touchpoints`]) and channel
//! taxonomies ([`taxonomies`]).
//!
//! Every row is written through [`guard::insert`], the second layer of personal-data
//! stripping: it refuses a row with an email address, a phone number, a card number or
//! an IP address in any text column. A row that does not decode is the column's decode
//! error, never a default.

pub mod dead;
pub mod events;
pub mod guard;
pub mod sources;
pub mod taxonomies;
pub mod tenants;
pub mod touchpoints;

pub use dead::{dead_event, list_dead_events, resolve_dead_event, upsert_dead_event};
pub use events::{event_id_for, insert_event, list_events};
pub use guard::{PersonalData, StoreError};
pub use sources::{put_source, source};
pub use taxonomies::{PLATFORM, StoredTaxonomy, put_taxonomy, taxonomy};
pub use tenants::{ensure_tenant, tenant_key};
pub use touchpoints::insert_touchpoint;

/// Rows of `select` (a `SELECT ... FROM` of a table with `id` and `tenant_id`) by id
/// after `after`, of one tenant or (`None`) of all.
async fn page_by_tenant<'e>(
    ex: impl platform::db::Executor<'e>,
    select: &str,
    tenant_id: Option<&str>,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<platform::db::Row>, platform::db::Error> {
    let after = after.unwrap_or("");
    match tenant_id {
        Some(tenant) => {
            platform::db::query(&format!(
                "{select} WHERE tenant_id = $1 AND id > $2 ORDER BY id LIMIT $3"
            ))
            .bind(tenant)
            .bind(after)
            .bind(limit)
            .fetch_all(ex)
            .await
        }
        None => {
            platform::db::query(&format!("{select} WHERE id > $1 ORDER BY id LIMIT $2"))
                .bind(after)
                .bind(limit)
                .fetch_all(ex)
                .await
        }
    }
}
