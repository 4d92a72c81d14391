//! Who may see and manage what: the one authorization policy of every service.
//!
//! Each service states once which scope lets a machine client operate it
//! ([`Policy::managed_by`]) or that only admins may ([`Policy::admin_only`]); handlers
//! and applications then ask the same two questions everywhere: may this caller see (or
//! act on) what `owner` owns, and may it manage the service's resources. A caller that
//! may not see a resource is answered "not found", so ids of others do not leak.

use crate::http::Problem;

use super::{Principal, PrincipalKind};

/// A service's authorization policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// The scope that lets a machine client manage the service; `None`: admins only.
    manage_scope: Option<&'static str>,
}

impl Policy {
    /// Only admins manage the service; machine clients never do.
    pub const fn admin_only() -> Self {
        Self { manage_scope: None }
    }

    /// Admins, and clients holding `scope` (e.g. `payments:write`), manage the service.
    pub const fn managed_by(scope: &'static str) -> Self {
        Self {
            manage_scope: Some(scope),
        }
    }

    /// Whether `caller` may manage the service's resources (operator actions, and
    /// seeing what any customer owns).
    pub fn may_manage(&self, caller: &Principal) -> bool {
        caller.is_admin()
            || self
                .manage_scope
                .is_some_and(|scope| caller.scopes.iter().any(|s| s == scope || s == "*"))
    }

    /// Whether `caller` may see, and act as the owner on, a resource owned by the user
    /// `owner`: that user signed in, or someone who may manage the service.
    pub fn may_see(&self, caller: &Principal, owner: &str) -> bool {
        (caller.kind == PrincipalKind::User && caller.subject == owner) || self.may_manage(caller)
    }

    /// 403 unless `caller` may manage the service.
    pub fn require_manage(&self, caller: &Principal) -> Result<(), Problem> {
        if self.may_manage(caller) {
            return Ok(());
        }
        Err(Problem::forbidden(match self.manage_scope {
            Some(scope) => format!("this action needs the `{scope}` scope"),
            None => "this action needs the admin role".to_owned(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: &str, roles: &[&str]) -> Principal {
        Principal {
            subject: id.into(),
            kind: PrincipalKind::User,
            roles: roles.iter().map(|r| (*r).to_owned()).collect(),
            scopes: Vec::new(),
            session_id: None,
            tenant: None,
        }
    }

    fn client(scopes: &[&str]) -> Principal {
        Principal {
            subject: "key-1".into(),
            kind: PrincipalKind::Client,
            roles: Vec::new(),
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
            session_id: None,
            tenant: None,
        }
    }

    #[test]
    fn owners_see_their_own_and_admins_see_all() {
        for policy in [Policy::admin_only(), Policy::managed_by("payments:write")] {
            assert!(policy.may_see(&user("u1", &["customer"]), "u1"));
            assert!(!policy.may_see(&user("u2", &["customer"]), "u1"));
            assert!(policy.may_see(&user("u2", &["admin"]), "u1"));
            assert!(policy.may_manage(&user("u2", &["admin"])));
            assert!(!policy.may_manage(&user("u1", &["customer"])));
        }
    }

    #[test]
    fn a_client_manages_only_with_the_services_scope() {
        let managed = Policy::managed_by("payments:write");
        assert!(managed.may_manage(&client(&["payments:write"])));
        assert!(managed.may_manage(&client(&["*"])));
        assert!(!managed.may_manage(&client(&["inventory:write"])));
        assert!(managed.may_see(&client(&["payments:write"]), "u1"));
        assert!(!Policy::admin_only().may_manage(&client(&["*"])));
        assert!(!Policy::admin_only().may_see(&client(&["*"]), "u1"));
    }

    #[test]
    fn a_client_is_never_the_owner_of_a_users_resource() {
        let mut key = client(&[]);
        key.subject = "u1".into();
        assert!(!Policy::admin_only().may_see(&key, "u1"));
    }

    #[test]
    fn refusal_names_what_is_needed() {
        let problem = Policy::managed_by("inventory:write")
            .require_manage(&user("u1", &["customer"]))
            .err();
        assert!(problem.is_some_and(|p| p.detail.contains("inventory:write")));
    }
}
