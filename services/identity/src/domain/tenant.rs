//! Tenants: the shops whose external storefront and payment data Viscount ingests.
//! Identity owns them and their keys; a tenant is created with its first API key, bound
//! to it. What a tenant's data is (its sources, events, revenue) lives in the services
//! that hold it.

use contracts::identity::TenantCreated;

use super::UserName;

/// A tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    /// Id.
    pub id: String,
    /// Display name.
    pub name: UserName,
    /// Creation, epoch ms.
    pub created_at: i64,
}

impl Tenant {
    /// `identity.tenant.created.v1`, announcing the new tenant.
    pub fn created_event(&self) -> TenantCreated {
        TenantCreated {
            tenant_id: self.id.clone(),
            name: self.name.as_str().to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_created_event_names_the_tenant() {
        let tenant = Tenant {
            id: "t1".into(),
            name: UserName::try_from(" Acme Shop ".to_owned()).expect("name"),
            created_at: 0,
        };
        assert_eq!(
            tenant.created_event(),
            TenantCreated {
                tenant_id: "t1".into(),
                name: "Acme Shop".into(),
            }
        );
    }
}
