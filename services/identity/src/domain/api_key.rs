//! API keys: a machine client's credential with what it was granted — scopes over the
//! shop's services, or one tenant's data (a tenant key). The key itself is shown once
//! and kept only as a hash; its id is also the OAuth `client_id`.

use super::{Scopes, UserName};

/// An API key (without its secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    /// Id (also the OAuth `client_id`).
    pub id: String,
    /// Label.
    pub name: UserName,
    /// What the key may do.
    pub grant: Grant,
    /// Creation, epoch ms.
    pub created_at: i64,
}

/// What an API key grants: either scopes or a tenant, never both, so a tenant key can
/// never manage the shop's own resources.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grant {
    /// Scopes over the shop's services (`inventory:write`, ...).
    Scopes(Scopes),
    /// The data of this tenant only (in ingestion and analytics).
    Tenant(String),
}

impl ApiKey {
    /// The granted scopes (none for a tenant key).
    pub fn scopes(&self) -> &[String] {
        match &self.grant {
            Grant::Scopes(scopes) => scopes.as_slice(),
            Grant::Tenant(_) => &[],
        }
    }

    /// The tenant a tenant key is bound to.
    pub fn tenant(&self) -> Option<&str> {
        match &self.grant {
            Grant::Scopes(_) => None,
            Grant::Tenant(tenant) => Some(tenant),
        }
    }
}
