//! Roles: what a user may do across the platform ([`Role`]), and the set of them an
//! admin gives a user ([`Roles`]).
//!
//! Tokens carry roles by name: `customer` and `admin` decide what a caller may see and
//! manage; `premium` puts a caller in the gateway's top rate-limit tier.

use platform::auth::{ROLE_ADMIN, ROLE_CUSTOMER, ROLE_PREMIUM};

use super::Invalid;

/// What a user may do across the platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Shops: their own carts, orders, account.
    Customer,
    /// A customer of the top rate-limit tier.
    Premium,
    /// Operates the platform: every service's resources.
    Admin,
}

impl Role {
    /// Every role, in the order a user's roles are kept and shown.
    pub const ALL: [Role; 3] = [Self::Customer, Self::Premium, Self::Admin];

    /// Stored name, and the name tokens carry.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Customer => ROLE_CUSTOMER,
            Self::Premium => ROLE_PREMIUM,
            Self::Admin => ROLE_ADMIN,
        }
    }

    /// Parses a stored name.
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == raw)
    }
}

impl TryFrom<&str> for Role {
    type Error = Invalid;

    fn try_from(raw: &str) -> Result<Self, Self::Error> {
        Self::parse(raw).ok_or(Invalid("must be one of customer, premium, admin"))
    }
}

/// The roles an admin gives a user: at least one, none twice; kept in the order of
/// [`Role::ALL`], so the same set always reads the same.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Roles(Vec<Role>);

impl TryFrom<Vec<Role>> for Roles {
    type Error = Invalid;

    fn try_from(raw: Vec<Role>) -> Result<Self, Self::Error> {
        if raw.is_empty() {
            return Err(Invalid("must list at least one role"));
        }
        let mut roles = raw;
        let given = roles.len();
        roles.sort_by_key(|role| Role::ALL.iter().position(|r| r == role));
        roles.dedup();
        if roles.len() != given {
            return Err(Invalid("must not list a role twice"));
        }
        Ok(Self(roles))
    }
}

impl Roles {
    /// The roles, in the order of [`Role::ALL`].
    pub fn as_slice(&self) -> &[Role] {
        &self.0
    }

    /// Whether `role` is among them.
    pub fn contains(&self, role: Role) -> bool {
        self.0.contains(&role)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_names_round_trip() {
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Some(role));
            assert_eq!(Role::try_from(role.as_str()), Ok(role));
        }
        assert_eq!(Role::parse("root"), None);
        assert!(Role::try_from("Admin").is_err(), "names are exact");
    }

    #[test]
    fn roles_are_non_empty_unique_and_ordered() {
        use Role::*;
        // (given, kept; `None` when refused)
        let table: [(&[Role], Option<&[Role]>); 5] = [
            (&[], None),
            (&[Admin, Customer], Some(&[Customer, Admin])),
            (&[Premium], Some(&[Premium])),
            (&[Admin, Premium, Admin], None),
            (
                &[Admin, Premium, Customer],
                Some(&[Customer, Premium, Admin]),
            ),
        ];
        for (given, want) in table {
            let got = Roles::try_from(given.to_vec()).ok();
            assert_eq!(got.as_ref().map(Roles::as_slice), want, "{given:?}");
        }
    }
}
