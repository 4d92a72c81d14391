//! Events emitted by the identity service.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::Event;

/// A user account was created (by registration or by an admin).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, ToSchema)]
pub struct UserCreated {
    /// The new user's id.
    pub user_id: String,
    /// Their email address.
    pub email: String,
    /// Their display name.
    pub name: String,
    /// Roles granted, e.g. `["customer"]`.
    pub roles: Vec<String>,
    /// RFC 3339 creation time.
    pub created_at: String,
}

impl Event for UserCreated {
    const TYPE: &'static str = "identity.user.created.v1";
    fn subject(&self) -> String {
        self.user_id.clone()
    }
}

/// A user's profile changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, ToSchema)]
pub struct UserUpdated {
    /// The user.
    pub user_id: String,
    /// Email after the change.
    pub email: String,
    /// Name after the change.
    pub name: String,
    /// Roles after the change.
    pub roles: Vec<String>,
}

impl Event for UserUpdated {
    const TYPE: &'static str = "identity.user.updated.v1";
    fn subject(&self) -> String {
        self.user_id.clone()
    }
}

/// A user account was deleted; other services drop or anonymise what they hold of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, ToSchema)]
pub struct UserDeleted {
    /// The user.
    pub user_id: String,
}

impl Event for UserDeleted {
    const TYPE: &'static str = "identity.user.deleted.v1";
    fn subject(&self) -> String {
        self.user_id.clone()
    }
}

/// A user account was locked after repeated failed logins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, ToSchema)]
pub struct UserLocked {
    /// The user.
    pub user_id: String,
    /// RFC 3339 time the lock ends.
    pub locked_until: String,
}

impl Event for UserLocked {
    const TYPE: &'static str = "identity.user.locked.v1";
    fn subject(&self) -> String {
        self.user_id.clone()
    }
}

/// A user signed in: a session (refresh-token family) was started for them, by a
/// password alone or by a password and a one-time code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, ToSchema)]
pub struct UserAuthenticated {
    /// The user.
    pub user_id: String,
    /// How they proved who they are: `password`, or `mfa` (a password and a one-time
    /// code).
    pub method: String,
    /// The session started (its refresh-token family, the `sid` of its access tokens).
    pub session_id: String,
    /// RFC 3339 time of the sign-in.
    pub authenticated_at: String,
}

impl Event for UserAuthenticated {
    const TYPE: &'static str = "identity.user.authenticated.v1";
    fn subject(&self) -> String {
        self.user_id.clone()
    }
}

/// A tenant (a shop whose external storefront and payment data Viscount ingests) was
/// created, together with its first API key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, ToSchema)]
pub struct TenantCreated {
    /// The new tenant's id.
    pub tenant_id: String,
    /// Its name.
    pub name: String,
}

impl Event for TenantCreated {
    const TYPE: &'static str = "identity.tenant.created.v1";
    fn subject(&self) -> String {
        self.tenant_id.clone()
    }
}
