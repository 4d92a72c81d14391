//! The events identity emits, built from its records. Identity consumes none.

use contracts::identity::{UserCreated, UserDeleted, UserLocked, UserUpdated};
use platform::time::rfc3339;

use crate::store::UserRecord;

/// `identity.user.created.v1` for a new user.
pub fn user_created(user: &UserRecord) -> UserCreated {
    UserCreated {
        user_id: user.id.clone(),
        email: user.email.clone(),
        name: user.name.clone(),
        roles: user.roles.clone(),
        created_at: rfc3339(user.created_at),
    }
}

/// `identity.user.updated.v1` after a profile change.
pub fn user_updated(user: &UserRecord) -> UserUpdated {
    UserUpdated {
        user_id: user.id.clone(),
        email: user.email.clone(),
        name: user.name.clone(),
        roles: user.roles.clone(),
    }
}

/// `identity.user.deleted.v1`.
pub fn user_deleted(user_id: &str) -> UserDeleted {
    UserDeleted {
        user_id: user_id.to_owned(),
    }
}

/// `identity.user.locked.v1`.
pub fn user_locked(user_id: &str, until_ms: i64) -> UserLocked {
    UserLocked {
        user_id: user_id.to_owned(),
        locked_until: rfc3339(until_ms),
    }
}
