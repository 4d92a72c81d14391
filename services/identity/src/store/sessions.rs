//! Sessions: the sign-in attempts the guard counts (per account and client address,
//! and per address), and refresh tokens (stored as SHA-256; one family per sign-in,
//! rotation adds a token to the family and marks the old one rotated).
//!
//! An attempt is counted before its password is checked, by one conditional upsert per
//! counter that adds it only while the counter is under its limit (and, for an account,
//! not locked) and answers the new count. Concurrent attempts queue on the row
//! (PostgreSQL's row lock, which an upsert takes even when its condition refuses the
//! update; SQLite's one writer), so each sees the count the others left and no more
//! than the limit are ever counted. The statements are the same text on both engines.
//!
//! Every transaction that touches both counters of an attempt takes the address's row
//! first, then the account's, so two of them cannot deadlock.

use platform::db::Tx;

use crate::domain::{AccountFailures, FailureWindow, RefreshToken};

/// What counting an attempt came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reservation<T> {
    /// Counted, in this window (its count includes the attempt).
    Counted(FailureWindow),
    /// Not counted: the counter as it stands, at its limit.
    Declined(T),
}

/// Counts an attempt of `client` across accounts at `now` while its window holds fewer
/// than `limit` attempts, starting a new window when the current one began at or before
/// `cutoff`.
pub async fn reserve_client_attempt(
    tx: &mut Tx,
    client: &str,
    now: i64,
    cutoff: i64,
    limit: i64,
) -> Result<Reservation<FailureWindow>, platform::db::Error> {
    let counted = platform::db::query(
        "INSERT INTO client_login_failures (client_ip, window_start, failures) VALUES ($1, $2, 1) \
         ON CONFLICT (client_ip) DO UPDATE SET \
         failures = CASE WHEN client_login_failures.window_start > $3 \
                    THEN client_login_failures.failures + 1 ELSE 1 END, \
         window_start = CASE WHEN client_login_failures.window_start > $3 \
                        THEN client_login_failures.window_start ELSE $2 END \
         WHERE client_login_failures.window_start <= $3 OR client_login_failures.failures < $4 \
         RETURNING window_start, failures",
    )
    .bind(client)
    .bind(now)
    .bind(cutoff)
    .bind(limit)
    .fetch_optional(&mut **tx)
    .await?;
    if let Some(row) = counted {
        return Ok(Reservation::Counted(window(&row)?));
    }
    // Declined: the row exists, and this transaction holds it.
    let row = platform::db::query(
        "SELECT window_start, failures FROM client_login_failures WHERE client_ip = $1",
    )
    .bind(client)
    .fetch_one(&mut **tx)
    .await?;
    Ok(Reservation::Declined(window(&row)?))
}

/// Counts an attempt of `account` from `client` at `now` while the account is not
/// locked for it and its window holds fewer than `threshold` attempts, starting a new
/// window when the current one began at or before `cutoff`.
pub async fn reserve_account_attempt(
    tx: &mut Tx,
    account: &str,
    client: &str,
    now: i64,
    cutoff: i64,
    threshold: i64,
) -> Result<Reservation<AccountFailures>, platform::db::Error> {
    let counted = platform::db::query(
        "INSERT INTO account_login_failures (account, client_ip, window_start, failures) \
         VALUES ($1, $2, $3, 1) \
         ON CONFLICT (account, client_ip) DO UPDATE SET \
         failures = CASE WHEN account_login_failures.window_start > $4 \
                    THEN account_login_failures.failures + 1 ELSE 1 END, \
         window_start = CASE WHEN account_login_failures.window_start > $4 \
                        THEN account_login_failures.window_start ELSE $3 END \
         WHERE (account_login_failures.locked_until IS NULL \
                OR account_login_failures.locked_until <= $3) \
         AND (account_login_failures.window_start <= $4 OR account_login_failures.failures < $5) \
         RETURNING window_start, failures",
    )
    .bind(account)
    .bind(client)
    .bind(now)
    .bind(cutoff)
    .bind(threshold)
    .fetch_optional(&mut **tx)
    .await?;
    if let Some(row) = counted {
        return Ok(Reservation::Counted(window(&row)?));
    }
    // Declined: the row exists, and this transaction holds it.
    let row = platform::db::query(
        "SELECT window_start, failures, locked_until FROM account_login_failures \
         WHERE account = $1 AND client_ip = $2",
    )
    .bind(account)
    .bind(client)
    .fetch_one(&mut **tx)
    .await?;
    Ok(Reservation::Declined(AccountFailures {
        window: window(&row)?,
        locked_until: row.try_get("locked_until")?,
    }))
}

fn window(row: &platform::db::Row) -> Result<FailureWindow, platform::db::Error> {
    Ok(FailureWindow {
        window_start: row.try_get("window_start")?,
        failures: row.try_get("failures")?,
    })
}

/// Gives back an attempt of `client` counted in the window that began at
/// `window_start` (nothing, when a new window has begun since).
pub async fn release_client_attempt(
    tx: &mut Tx,
    client: &str,
    window_start: i64,
) -> Result<(), platform::db::Error> {
    platform::db::query(
        "UPDATE client_login_failures SET failures = failures - 1 \
         WHERE client_ip = $1 AND window_start = $2 AND failures > 0",
    )
    .bind(client)
    .bind(window_start)
    .execute(&mut **tx)
    .await
    .map(|_| ())
}

/// Gives back an attempt of `account` from `client` counted in the window that began
/// at `window_start` (nothing, when a success, a lock or a new window came since).
pub async fn release_account_attempt(
    tx: &mut Tx,
    account: &str,
    client: &str,
    window_start: i64,
) -> Result<(), platform::db::Error> {
    platform::db::query(
        "UPDATE account_login_failures SET failures = failures - 1 \
         WHERE account = $1 AND client_ip = $2 AND window_start = $3 AND failures > 0",
    )
    .bind(account)
    .bind(client)
    .bind(window_start)
    .execute(&mut **tx)
    .await
    .map(|_| ())
}

/// Locks `account` for `client` until `until` after the attempt counted in the window
/// that began at `window_start` failed; its count starts over at `now`, as the lock
/// answers the attempts so far. `false` when that window is gone (a success from the
/// address forgot it meanwhile): nothing is locked.
pub async fn lock_account(
    tx: &mut Tx,
    account: &str,
    client: &str,
    window_start: i64,
    until: i64,
    now: i64,
) -> Result<bool, platform::db::Error> {
    let locked = platform::db::query(
        "UPDATE account_login_failures SET locked_until = $1, failures = 0, window_start = $2 \
         WHERE account = $3 AND client_ip = $4 AND window_start = $5",
    )
    .bind(until)
    .bind(now)
    .bind(account)
    .bind(client)
    .bind(window_start)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(locked == 1)
}

/// Forgets `account`'s attempts from `client` after a sign-in succeeded, unless a
/// failure beside it locked the account meanwhile (the lock stands).
pub async fn clear_account_failures(
    tx: &mut Tx,
    account: &str,
    client: &str,
    now: i64,
) -> Result<(), platform::db::Error> {
    platform::db::query(
        "DELETE FROM account_login_failures WHERE account = $1 AND client_ip = $2 \
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
    // Addresses first, like every transaction over both counters (see the module doc).
    let clients = platform::db::query("DELETE FROM client_login_failures WHERE window_start <= $1")
        .bind(cutoff)
        .execute(&mut **tx)
        .await?
        .rows_affected();
    let accounts = platform::db::query(
        "DELETE FROM account_login_failures WHERE window_start <= $1 \
         AND (locked_until IS NULL OR locked_until <= $2)",
    )
    .bind(cutoff)
    .bind(now)
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

/// Revokes every session of a user except `keep_family`, and burns the authorization
/// codes not yet exchanged (each would start a session).
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
    .await?;
    platform::db::query(
        "UPDATE authorization_codes SET used_at = $1 WHERE user_id = $2 AND used_at IS NULL",
    )
    .bind(now)
    .bind(user_id)
    .execute(&mut **tx)
    .await
    .map(|_| ())
}

#[cfg(test)]
mod tests {
    use platform::db::Db;

    use super::*;
    use crate::MIGRATIONS;

    /// Windows of 1000 ms.
    const WINDOW: i64 = 1000;

    async fn db() -> (tempfile::TempDir, Db) {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = platform::db::sqlite_url(dir.path(), "identity");
        let db = Db::connect(&url, &MIGRATIONS).await.expect("db");
        (dir, db)
    }

    /// Counts an attempt of `client` at `now` (limit 3) in a transaction of its own.
    async fn client_attempt(db: &Db, client: &str, now: i64) -> Reservation<FailureWindow> {
        let mut tx = db.begin().await.expect("begin");
        let reserved = reserve_client_attempt(&mut tx, client, now, now - WINDOW, 3)
            .await
            .expect("count client");
        tx.commit().await.expect("commit");
        reserved
    }

    /// Counts an attempt of `account` from `client` at `now` (threshold 3) in a
    /// transaction of its own.
    async fn account_attempt(
        db: &Db,
        account: &str,
        client: &str,
        now: i64,
    ) -> Reservation<AccountFailures> {
        let mut tx = db.begin().await.expect("begin");
        let reserved = reserve_account_attempt(&mut tx, account, client, now, now - WINDOW, 3)
            .await
            .expect("count account");
        tx.commit().await.expect("commit");
        reserved
    }

    fn counted(window_start: i64, failures: i64) -> FailureWindow {
        FailureWindow {
            window_start,
            failures,
        }
    }

    #[tokio::test]
    async fn an_address_is_counted_up_to_its_limit_and_starts_over_after_the_window() {
        let (_dir, db) = db().await;
        for (now, count) in [(10_000, 1), (10_100, 2), (10_200, 3)] {
            assert_eq!(
                client_attempt(&db, "10.0.0.1", now).await,
                Reservation::Counted(counted(10_000, count))
            );
        }
        assert_eq!(
            client_attempt(&db, "10.0.0.1", 10_999).await,
            Reservation::Declined(counted(10_000, 3)),
            "the limit is reached for the rest of the window"
        );
        assert_eq!(
            client_attempt(&db, "10.0.0.2", 10_999).await,
            Reservation::Counted(counted(10_999, 1)),
            "another address has its own count"
        );
        assert_eq!(
            client_attempt(&db, "10.0.0.1", 11_000).await,
            Reservation::Counted(counted(11_000, 1)),
            "the window ended"
        );
    }

    #[tokio::test]
    async fn an_account_is_counted_up_to_its_threshold_per_address() {
        let (_dir, db) = db().await;
        for count in 1..=3 {
            assert_eq!(
                account_attempt(&db, "u1", "10.0.0.1", 10_000).await,
                Reservation::Counted(counted(10_000, count))
            );
        }
        assert_eq!(
            account_attempt(&db, "u1", "10.0.0.1", 10_500).await,
            Reservation::Declined(AccountFailures {
                window: counted(10_000, 3),
                locked_until: None
            })
        );
        assert_eq!(
            account_attempt(&db, "u1", "10.0.0.2", 10_500).await,
            Reservation::Counted(counted(10_500, 1)),
            "another address has its own count"
        );
        assert_eq!(
            account_attempt(&db, "u2", "10.0.0.1", 10_500).await,
            Reservation::Counted(counted(10_500, 1)),
            "another account has its own count"
        );
        assert_eq!(
            account_attempt(&db, "u1", "10.0.0.1", 11_000).await,
            Reservation::Counted(counted(11_000, 1)),
            "the window ended"
        );
    }

    #[tokio::test]
    async fn concurrent_attempts_never_count_past_the_limits() {
        let (_dir, db) = db().await;
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let db = db.clone();
                tokio::spawn(async move {
                    (
                        client_attempt(&db, "10.0.0.1", 10_000).await,
                        account_attempt(&db, "u1", "10.0.0.2", 10_000).await,
                    )
                })
            })
            .collect();
        let mut by_client = Vec::new();
        let mut by_account = Vec::new();
        for task in tasks {
            let (client, account) = task.await.expect("task");
            by_client.push(client);
            by_account.push(account);
        }
        fn counts<T>(reservations: &[Reservation<T>]) -> Vec<i64> {
            let mut counts: Vec<i64> = reservations
                .iter()
                .filter_map(|r| match r {
                    Reservation::Counted(window) => Some(window.failures),
                    Reservation::Declined(_) => None,
                })
                .collect();
            counts.sort_unstable();
            counts
        }
        assert_eq!(counts(&by_client), [1, 2, 3], "each a count of its own");
        assert_eq!(counts(&by_account), [1, 2, 3], "each a count of its own");
    }

    #[tokio::test]
    async fn a_lock_refuses_until_it_ends_and_a_success_does_not_lift_it() {
        let (_dir, db) = db().await;
        account_attempt(&db, "u1", "10.0.0.1", 10_000).await;
        account_attempt(&db, "u1", "10.0.0.2", 10_000).await;
        let mut tx = db.begin().await.expect("begin");
        assert!(
            lock_account(&mut tx, "u1", "10.0.0.1", 10_000, 20_000, 10_100)
                .await
                .expect("lock")
        );
        clear_account_failures(&mut tx, "u1", "10.0.0.1", 10_200)
            .await
            .expect("clear");
        clear_account_failures(&mut tx, "u1", "10.0.0.2", 10_200)
            .await
            .expect("clear");
        tx.commit().await.expect("commit");
        assert_eq!(
            account_attempt(&db, "u1", "10.0.0.1", 19_999).await,
            Reservation::Declined(AccountFailures {
                window: counted(10_100, 0),
                locked_until: Some(20_000)
            }),
            "the lock stands"
        );
        assert_eq!(
            account_attempt(&db, "u1", "10.0.0.2", 10_300).await,
            Reservation::Counted(counted(10_300, 1)),
            "the success from 10.0.0.2 forgot its attempts"
        );
        assert_eq!(
            account_attempt(&db, "u1", "10.0.0.1", 20_000).await,
            Reservation::Counted(counted(20_000, 1)),
            "the lock ended; its count started over"
        );
    }

    #[tokio::test]
    async fn attempts_are_given_back_and_locks_set_in_their_own_window_only() {
        let (_dir, db) = db().await;
        client_attempt(&db, "10.0.0.1", 10_000).await;
        client_attempt(&db, "10.0.0.1", 10_000).await;
        account_attempt(&db, "u1", "10.0.0.1", 10_000).await;
        account_attempt(&db, "u1", "10.0.0.1", 10_000).await;
        let mut tx = db.begin().await.expect("begin");
        release_client_attempt(&mut tx, "10.0.0.1", 10_000)
            .await
            .expect("release");
        release_account_attempt(&mut tx, "u1", "10.0.0.1", 10_000)
            .await
            .expect("release");
        // Attempts of windows that are gone change nothing.
        release_client_attempt(&mut tx, "10.0.0.1", 9_000)
            .await
            .expect("release");
        release_account_attempt(&mut tx, "u1", "10.0.0.1", 9_000)
            .await
            .expect("release");
        let stale = lock_account(&mut tx, "u1", "10.0.0.1", 9_000, 20_000, 10_100)
            .await
            .expect("lock");
        assert!(!stale, "a lock for a window that is gone");
        tx.commit().await.expect("commit");
        assert_eq!(
            client_attempt(&db, "10.0.0.1", 10_200).await,
            Reservation::Counted(counted(10_000, 2))
        );
        assert_eq!(
            account_attempt(&db, "u1", "10.0.0.1", 10_200).await,
            Reservation::Counted(counted(10_000, 2))
        );
    }

    #[tokio::test]
    async fn pruning_keeps_current_windows_and_running_locks() {
        let (_dir, db) = db().await;
        account_attempt(&db, "old", "10.0.0.1", 1_000).await;
        client_attempt(&db, "10.0.0.1", 1_000).await;
        account_attempt(&db, "locked", "10.0.0.2", 1_000).await;
        client_attempt(&db, "10.0.0.2", 1_000).await;
        account_attempt(&db, "current", "10.0.0.3", 9_500).await;
        client_attempt(&db, "10.0.0.3", 9_500).await;
        let mut tx = db.begin().await.expect("begin");
        lock_account(&mut tx, "locked", "10.0.0.2", 1_000, 50_000, 1_000)
            .await
            .expect("lock");
        // At 10_000 with a 1000 ms window: windows that began at or before 9_000 are over.
        let pruned = prune_login_failures(&mut tx, 10_000, 9_000)
            .await
            .expect("prune");
        tx.commit().await.expect("commit");
        // The account row of `old`, and the address rows of 10.0.0.1 and 10.0.0.2.
        assert_eq!(pruned, 3);
        assert!(
            matches!(
                account_attempt(&db, "locked", "10.0.0.2", 10_000).await,
                Reservation::Declined(AccountFailures {
                    locked_until: Some(50_000),
                    ..
                })
            ),
            "the running lock was kept"
        );
        assert_eq!(
            client_attempt(&db, "10.0.0.3", 10_000).await,
            Reservation::Counted(counted(9_500, 2)),
            "the current window was kept"
        );
    }
}
