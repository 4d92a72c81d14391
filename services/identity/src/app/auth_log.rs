//! The authentication log: each operation that signs a user in, refuses them, locks
//! them out, changes their credentials or ends a session appends a line in its own
//! transaction (a failed sign-in, which changes nothing else, in one of its own);
//! the user and admins read it newest first; the retention sweep prunes lines older
//! than `auth_log_retention_days` ([`AuthLogRetention`]).
//!
//! Lines carry the client's address and user agent, which are personal data: they
//! are never written to the service's own logs.

use platform::auth::Principal;
use platform::db::Tx;
use platform::retention::{DAY_MS, RetentionRule};

use super::{IdentityApp, IdentityError, POLICY};
use crate::domain::{AuthEvent, AuthEventKind, Origin};
use crate::store;

/// The retention sweep's rule for the authentication log: lines older than `days`
/// days go.
pub struct AuthLogRetention {
    days: u32,
}

impl AuthLogRetention {
    /// The rule keeping the log `days` days (at least one).
    pub fn new(days: u32) -> Self {
        Self { days: days.max(1) }
    }
}

#[async_trait::async_trait]
impl RetentionRule for AuthLogRetention {
    fn table(&self) -> &'static str {
        "auth_log"
    }

    async fn delete_batch(
        &self,
        tx: &mut Tx,
        now: i64,
        limit: i64,
    ) -> Result<u64, platform::db::Error> {
        let before = now.saturating_sub(i64::from(self.days).saturating_mul(DAY_MS));
        store::prune_auth_log(tx, before, limit).await
    }
}

impl IdentityApp {
    /// Appends `kind` to `user_id`'s log inside `tx`, from `origin` when the request
    /// has one.
    pub(super) async fn log_auth(
        &self,
        tx: &mut Tx,
        user_id: &str,
        kind: AuthEventKind,
        origin: Option<&Origin>,
    ) -> Result<(), IdentityError> {
        let event = AuthEvent::new(
            platform::ids::new_id(),
            user_id,
            kind,
            origin,
            self.clock.now_millis(),
        );
        store::insert_auth_event(tx, &event).await?;
        Ok(())
    }

    /// `user_id`'s log, newest first, after the line `before` (the previous page's
    /// last): the user's own, or any user's for admins (403 otherwise; 404 for an
    /// unknown or deleted user).
    #[tracing::instrument(skip_all, fields(user_id = %user_id), err(level = "info"))]
    pub async fn auth_log(
        &self,
        caller: &Principal,
        user_id: &str,
        before: Option<&str>,
        limit: i64,
    ) -> Result<Vec<AuthEvent>, IdentityError> {
        if !POLICY.may_see(caller, user_id) {
            return Err(IdentityError::Forbidden(
                "only the user and admins may read a user's authentication log",
            ));
        }
        if !store::user_exists(self.db.reader(), user_id).await? {
            return Err(IdentityError::NotFound("user"));
        }
        Ok(store::auth_log(self.db.reader(), user_id, before, limit).await?)
    }
}

#[cfg(test)]
mod tests {
    use platform::db::Db;

    use super::*;

    /// A line of `user_id`'s log at `at`.
    fn line(user_id: &str, kind: AuthEventKind, at: i64) -> AuthEvent {
        let origin = Origin::new(
            "198.51.100.7".into(),
            Some("198.51.100.7".into()),
            Some("agent"),
        );
        AuthEvent::new(platform::ids::new_id(), user_id, kind, Some(&origin), at)
    }

    #[tokio::test]
    async fn retention_prunes_lines_older_than_the_window_and_keeps_newer_ones() {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = platform::db::sqlite_url(dir.path(), "identity");
        let db = Db::connect(&url, &crate::MIGRATIONS).await.expect("db");
        let now = 1_000 * DAY_MS;
        let old = line("u1", AuthEventKind::LoginFailed, now - 91 * DAY_MS);
        let older = line("u2", AuthEventKind::LoginSucceeded, now - 400 * DAY_MS);
        let edge = line("u1", AuthEventKind::LockedOut, now - 90 * DAY_MS + 1);
        let new = line("u1", AuthEventKind::LoginSucceeded, now - DAY_MS);
        let mut tx = db.begin().await.expect("begin");
        for event in [&old, &older, &edge, &new] {
            store::insert_auth_event(&mut tx, event)
                .await
                .expect("insert");
        }
        tx.commit().await.expect("commit");

        let rule = AuthLogRetention::new(90);
        assert_eq!(rule.table(), "auth_log");
        let mut tx = db.begin().await.expect("begin");
        // In batches: one row, then the rest, then nothing is left to prune.
        let first = rule.delete_batch(&mut tx, now, 1).await.expect("batch");
        let rest = rule.delete_batch(&mut tx, now, 10).await.expect("batch");
        let none = rule.delete_batch(&mut tx, now, 10).await.expect("batch");
        tx.commit().await.expect("commit");
        assert_eq!((first, rest, none), (1, 1, 0));

        let kept = store::auth_log(db.reader(), "u1", None, 10)
            .await
            .expect("read");
        assert_eq!(kept, [new.clone(), edge.clone()], "newest first");
        assert!(
            store::auth_log(db.reader(), "u2", None, 10)
                .await
                .expect("read")
                .is_empty()
        );
        assert_eq!(kept[0].ip.as_deref(), Some("198.51.100.7"));
        assert_eq!(kept[0].user_agent.as_deref(), Some("agent"));
        let after_newest = store::auth_log(db.reader(), "u1", Some(&new.id), 10)
            .await
            .expect("read");
        assert_eq!(after_newest, [edge], "a page continues after its cursor");
    }
}
