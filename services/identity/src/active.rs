//! Which users were recently seen to exist, so the per-request "is this token's user
//! still here" check does not read the database on every request of a session.
//!
//! A user leaves only by deletion. Deleting through this process forgets the user at
//! once, and a check that read the user before that deletion committed cannot put them
//! back (the generation below). A deletion by another process (another identity
//! replica on the same database) is seen when the entry expires.

use std::collections::HashMap;
use std::sync::Mutex;

/// How long a positive answer is trusted when nothing in this process deleted the user.
const TRUSTED_FOR_MS: i64 = 5_000;
/// Most users remembered; past it the memory starts over.
const CAPACITY: usize = 16_384;

#[derive(Default)]
struct Seen {
    /// User id → when it was read as existing (epoch ms).
    users: HashMap<String, i64>,
    /// Bumped by every deletion in this process.
    generation: u64,
}

/// The remembered users.
#[derive(Default)]
pub(crate) struct ActiveUsers {
    seen: Mutex<Seen>,
}

impl ActiveUsers {
    /// Whether `user_id` was read as existing within the trust period, and the current
    /// generation, to hand back to [`ActiveUsers::remember`] after a database read.
    pub(crate) fn recall(&self, user_id: &str, now: i64) -> (bool, u64) {
        match self.seen.lock() {
            Ok(seen) => {
                let fresh = seen
                    .users
                    .get(user_id)
                    .is_some_and(|at| now.saturating_sub(*at) < TRUSTED_FOR_MS);
                (fresh, seen.generation)
            }
            Err(_) => (false, 0),
        }
    }

    /// Remembers that `user_id` existed when read at `now`, unless a deletion happened
    /// since `generation` was recalled (the read may predate it).
    pub(crate) fn remember(&self, user_id: &str, now: i64, generation: u64) {
        if let Ok(mut seen) = self.seen.lock()
            && seen.generation == generation
        {
            if seen.users.len() >= CAPACITY {
                seen.users.clear();
            }
            seen.users.insert(user_id.to_owned(), now);
        }
    }

    /// Forgets `user_id`: call after its deletion committed.
    pub(crate) fn forget(&self, user_id: &str) {
        if let Ok(mut seen) = self.seen.lock() {
            seen.generation = seen.generation.wrapping_add(1);
            seen.users.remove(user_id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_from_before_a_deletion_is_not_remembered() {
        let users = ActiveUsers::default();
        let (fresh, generation) = users.recall("u1", 1_000);
        assert!(!fresh);
        // The user is deleted while the check reads the database.
        users.forget("u1");
        users.remember("u1", 1_000, generation);
        assert!(!users.recall("u1", 1_001).0);
    }

    #[test]
    fn a_remembered_user_is_trusted_until_the_period_ends_or_deletion() {
        let users = ActiveUsers::default();
        let (_, generation) = users.recall("u1", 1_000);
        users.remember("u1", 1_000, generation);
        assert!(users.recall("u1", 1_000 + TRUSTED_FOR_MS - 1).0);
        assert!(!users.recall("u1", 1_000 + TRUSTED_FOR_MS).0);
        users.forget("u1");
        assert!(!users.recall("u1", 1_001).0);
    }
}
