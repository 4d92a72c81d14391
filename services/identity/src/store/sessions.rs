//! Sessions: the failed sign-ins the guard counts (per account and client address, and
//! per address), and refresh tokens (stored as SHA-256; one family per sign-in,
//! rotation adds a token to the family and marks the old one rotated).
//!
//! A failure counter changes by one upsert that adds the failure and answers the new
//! count: concurrent failures queue on the row (PostgreSQL's row lock, SQLite's one
//! writer), so none is lost and each sees a count of its own.

use platform::db::{Executor, Tx};

use crate::domain::{FailureWindow, RefreshToken};

/// The failures of `client` across accounts, if any were counted.
pub async fn client_failures<'e>(
    ex: impl Executor<'e>,
    client: &str,
) -> Result<Option<FailureWindow>, platform::db::Error> {
    let row = platform::db::query(
        "SELECT window_start, failures FROM client_login_failures WHERE client_ip = $1",
    )
    .bind(client)
    .fetch_optional(ex)
    .await?;
    row.map(|row| {
        Ok(FailureWindow {
            window_start: row.try_get("window_start")?,
            failures: row.try_get("failures")?,
        })
    })
    .transpose()
}

/// The end of `account`'s lock for `client`, if one was set (it may have passed).
pub async fn account_lock<'e>(
    ex: impl Executor<'e>,
    account: &str,
    client: &str,
) -> Result<Option<i64>, platform::db::Error> {
    let until: Option<Option<i64>> = platform::db::query_scalar(
        "SELECT locked_until FROM login_failures WHERE account = $1 AND client_ip = $2",
    )
    .bind(account)
    .bind(client)
    .fetch_optional(ex)
    .await?;
    Ok(until.flatten())
}

/// Counts a failed sign-in of `client` across accounts at `now`, starting a new window
/// when the current one began at or before `cutoff`; returns the failures in the window.
pub async fn count_client_failure(
    tx: &mut Tx,
    client: &str,
    now: i64,
    cutoff: i64,
) -> Result<i64, platform::db::Error> {
    platform::db::query_scalar(
        "INSERT INTO client_login_failures (client_ip, window_start, failures) VALUES ($1, $2, 1) \
         ON CONFLICT (client_ip) DO UPDATE SET \
         failures = CASE WHEN client_login_failures.window_start > $3 \
                    THEN client_login_failures.failures + 1 ELSE 1 END, \
         window_start = CASE WHEN client_login_failures.window_start > $3 \
                        THEN client_login_failures.window_start ELSE $2 END \
         RETURNING failures",
    )
    .bind(client)
    .bind(now)
    .bind(cutoff)
    .fetch_one(&mut **tx)
    .await
}

/// Counts a failed sign-in of `account` from `client` at `now`, starting a new window
/// when the current one began at or before `cutoff`; returns the failures in the window.
pub async fn count_account_failure(
    tx: &mut Tx,
    account: &str,
    client: &str,
    now: i64,
    cutoff: i64,
) -> Result<i64, platform::db::Error> {
    platform::db::query_scalar(
        "INSERT INTO login_failures (account, client_ip, window_start, failures) VALUES ($1, $2, $3, 1) \
         ON CONFLICT (account, client_ip) DO UPDATE SET \
         failures = CASE WHEN login_failures.window_start > $4 \
                    THEN login_failures.failures + 1 ELSE 1 END, \
         window_start = CASE WHEN login_failures.window_start > $4 \
                        THEN login_failures.window_start ELSE $3 END \
         RETURNING failures",
    )
    .bind(account)
    .bind(client)
    .bind(now)
    .bind(cutoff)
    .fetch_one(&mut **tx)
    .await
}

/// Locks `account` for `client` until `until`; its count starts over at `now`, as the
/// lock answers the failures so far.
pub async fn lock_account(
    tx: &mut Tx,
    account: &str,
    client: &str,
    until: i64,
    now: i64,
) -> Result<(), platform::db::Error> {
    platform::db::query(
        "UPDATE login_failures SET locked_until = $1, failures = 0, window_start = $2 \
         WHERE account = $3 AND client_ip = $4",
    )
    .bind(until)
    .bind(now)
    .bind(account)
    .bind(client)
    .execute(&mut **tx)
    .await
    .map(|_| ())
}

/// Forgets `account`'s failures from `client` after a sign-in succeeded, unless a
/// failure beside it locked the account meanwhile (the lock stands).
pub async fn clear_account_failures(
    tx: &mut Tx,
    account: &str,
    client: &str,
    now: i64,
) -> Result<(), platform::db::Error> {
    platform::db::query(
        "DELETE FROM login_failures WHERE account = $1 AND client_ip = $2 \
         AND (locked_until IS NULL OR locked_until <= $3)",
    )
    .bind(account)
    .bind(client)
    .bind(now)
    .execute(&mut **tx)
    .await
    .map(|_| ())
}

/// Deletes counters whose window began at or before `cutoff` and whose lock (if any)
/// ended by `now`: they no longer refuse or count anything. Returns how many.
pub async fn prune_login_failures(
    tx: &mut Tx,
    now: i64,
    cutoff: i64,
) -> Result<u64, platform::db::Error> {
    let accounts = platform::db::query(
        "DELETE FROM login_failures WHERE window_start <= $1 \
         AND (locked_until IS NULL OR locked_until <= $2)",
    )
    .bind(cutoff)
    .bind(now)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    let clients = platform::db::query("DELETE FROM client_login_failures WHERE window_start <= $1")
        .bind(cutoff)
        .execute(&mut **tx)
        .await?
        .rows_affected();
    Ok(accounts + clients)
}

/// Stores a new refresh token (by hash).
pub async fn insert_refresh_token(
    tx: &mut Tx,
    id: &str,
    family_id: &str,
    user_id: &str,
    token_hash: &str,
    now: i64,
    expires_at: i64,
) -> Result<(), platform::db::Error> {
    platform::db::query(
        "INSERT INTO refresh_tokens (id, family_id, user_id, token_hash, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(id)
    .bind(family_id)
    .bind(user_id)
    .bind(token_hash)
    .bind(now)
    .bind(expires_at)
    .execute(&mut **tx)
    .await
    .map(|_| ())
}

/// The refresh token with this hash.
pub async fn refresh_token_by_hash(
    tx: &mut Tx,
    token_hash: &str,
) -> Result<Option<RefreshToken>, platform::db::Error> {
    let row = platform::db::query(
        "SELECT id, family_id, user_id, expires_at, rotated_at, revoked_at FROM refresh_tokens WHERE token_hash = $1",
    )
    .bind(token_hash)
    .fetch_optional(&mut **tx)
    .await?;
    row.map(|row| {
        Ok(RefreshToken {
            id: row.try_get("id")?,
            family_id: row.try_get("family_id")?,
            user_id: row.try_get("user_id")?,
            expires_at: row.try_get("expires_at")?,
            rotated_at: row.try_get("rotated_at")?,
            revoked_at: row.try_get("revoked_at")?,
        })
    })
    .transpose()
}

/// Marks a token rotated; `false` if a concurrent request rotated it first.
pub async fn mark_rotated(tx: &mut Tx, id: &str, now: i64) -> Result<bool, platform::db::Error> {
    let updated = platform::db::query(
        "UPDATE refresh_tokens SET rotated_at = $1 WHERE id = $2 AND rotated_at IS NULL",
    )
    .bind(now)
    .bind(id)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(updated == 1)
}

/// Revokes every token of a family.
pub async fn revoke_family(
    tx: &mut Tx,
    family_id: &str,
    now: i64,
) -> Result<(), platform::db::Error> {
    platform::db::query(
        "UPDATE refresh_tokens SET revoked_at = $1 WHERE family_id = $2 AND revoked_at IS NULL",
    )
    .bind(now)
    .bind(family_id)
    .execute(&mut **tx)
    .await
    .map(|_| ())
}

/// Revokes every session of a user except `keep_family`.
pub async fn revoke_user_sessions(
    tx: &mut Tx,
    user_id: &str,
    keep_family: Option<&str>,
    now: i64,
) -> Result<(), platform::db::Error> {
    platform::db::query(
        "UPDATE refresh_tokens SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL AND family_id <> $3",
    )
    .bind(now)
    .bind(user_id)
    .bind(keep_family.unwrap_or(""))
    .execute(&mut **tx)
    .await
    .map(|_| ())
}

#[cfg(test)]
mod tests {
    use platform::db::Db;

    use super::*;
    use crate::MIGRATIONS;

    async fn db() -> (tempfile::TempDir, Db) {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = platform::db::sqlite_url(dir.path(), "identity");
        let db = Db::connect(&url, &MIGRATIONS).await.expect("db");
        (dir, db)
    }

    /// Counts one failure of `account` from `client` at `now` with a 1000 ms window, in a
    /// transaction of its own; returns (the account's count, the address's count).
    async fn fail(db: &Db, account: &str, client: &str, now: i64) -> (i64, i64) {
        let mut tx = db.begin().await.expect("begin");
        let by_client = count_client_failure(&mut tx, client, now, now - 1000)
            .await
            .expect("count client");
        let by_account = count_account_failure(&mut tx, account, client, now, now - 1000)
            .await
            .expect("count account");
        tx.commit().await.expect("commit");
        (by_account, by_client)
    }

    #[tokio::test]
    async fn failures_count_per_account_and_address_and_start_over_after_the_window() {
        let (_dir, db) = db().await;
        assert_eq!(fail(&db, "u1", "10.0.0.1", 10_000).await, (1, 1));
        assert_eq!(fail(&db, "u1", "10.0.0.1", 10_500).await, (2, 2));
        assert_eq!(fail(&db, "u2", "10.0.0.1", 10_600).await, (1, 3));
        assert_eq!(fail(&db, "u1", "10.0.0.2", 10_700).await, (1, 1));
        // 10_000's window ends at 11_000: the next failure starts a new one.
        assert_eq!(fail(&db, "u1", "10.0.0.1", 11_000).await, (1, 1));
        assert_eq!(
            client_failures(db.reader(), "10.0.0.1")
                .await
                .expect("read"),
            Some(FailureWindow {
                window_start: 11_000,
                failures: 1
            })
        );
        assert_eq!(
            client_failures(db.reader(), "10.0.0.9")
                .await
                .expect("read"),
            None
        );
    }

    #[tokio::test]
    async fn concurrent_failures_are_all_counted() {
        let (_dir, db) = db().await;
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let db = db.clone();
                tokio::spawn(async move { fail(&db, "u1", "10.0.0.1", 10_000).await })
            })
            .collect();
        let mut counts = Vec::new();
        for task in tasks {
            counts.push(task.await.expect("task"));
        }
        let mut by_account: Vec<i64> = counts.iter().map(|c| c.0).collect();
        by_account.sort_unstable();
        assert_eq!(
            by_account,
            (1..=20).collect::<Vec<_>>(),
            "each saw a count of its own"
        );
        let window = client_failures(db.reader(), "10.0.0.1")
            .await
            .expect("read");
        assert_eq!(window.map(|w| w.failures), Some(20));
    }

    #[tokio::test]
    async fn a_lock_holds_for_its_address_and_a_success_does_not_lift_it() {
        let (_dir, db) = db().await;
        fail(&db, "u1", "10.0.0.1", 10_000).await;
        fail(&db, "u1", "10.0.0.2", 10_000).await;
        let mut tx = db.begin().await.expect("begin");
        lock_account(&mut tx, "u1", "10.0.0.1", 20_000, 10_100)
            .await
            .expect("lock");
        clear_account_failures(&mut tx, "u1", "10.0.0.1", 10_200)
            .await
            .expect("clear");
        clear_account_failures(&mut tx, "u1", "10.0.0.2", 10_200)
            .await
            .expect("clear");
        tx.commit().await.expect("commit");
        assert_eq!(
            account_lock(db.reader(), "u1", "10.0.0.1")
                .await
                .expect("read"),
            Some(20_000)
        );
        assert_eq!(
            account_lock(db.reader(), "u1", "10.0.0.2")
                .await
                .expect("read"),
            None
        );
        assert_eq!(
            fail(&db, "u1", "10.0.0.2", 10_300).await.0,
            1,
            "the success from 10.0.0.2 forgot its failures"
        );
        assert_eq!(
            fail(&db, "u1", "10.0.0.1", 10_300).await.0,
            1,
            "the lock's count started over"
        );
    }

    #[tokio::test]
    async fn pruning_keeps_current_windows_and_running_locks() {
        let (_dir, db) = db().await;
        fail(&db, "old", "10.0.0.1", 1_000).await;
        fail(&db, "locked", "10.0.0.2", 1_000).await;
        fail(&db, "current", "10.0.0.3", 9_500).await;
        let mut tx = db.begin().await.expect("begin");
        lock_account(&mut tx, "locked", "10.0.0.2", 50_000, 1_000)
            .await
            .expect("lock");
        // At 10_000 with a 1000 ms window: windows that began at or before 9_000 are over.
        let pruned = prune_login_failures(&mut tx, 10_000, 9_000)
            .await
            .expect("prune");
        tx.commit().await.expect("commit");
        // The account row of `old`, and the address rows of 10.0.0.1 and 10.0.0.2.
        assert_eq!(pruned, 3);
        assert_eq!(
            account_lock(db.reader(), "locked", "10.0.0.2")
                .await
                .expect("read"),
            Some(50_000)
        );
        assert!(
            client_failures(db.reader(), "10.0.0.3")
                .await
                .expect("read")
                .is_some()
        );
        assert!(
            client_failures(db.reader(), "10.0.0.1")
                .await
                .expect("read")
                .is_none()
        );
    }
}
