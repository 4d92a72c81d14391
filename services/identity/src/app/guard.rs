//! The guard against password guessing. Every failed sign-in (a wrong password, or a
//! wrong one-time code) counts against the account from the client's address and
//! against the address across accounts; [`LockoutPolicy`] has the rules. A sign-in the
//! guard does not admit is refused before its credentials are checked, and a success
//! forgets the account's failures from that address only.
//!
//! An email without an account counts under a stand-in named by the email's digest, so
//! it locks and answers exactly like a real account: the guard tells no one which
//! emails have accounts.

use platform::db::Tx;

use super::{IdentityApp, IdentityError};
use crate::domain::{AccountLock, LockoutPolicy, SignInRefused, User};
use crate::store;

/// Whom a sign-in's failures count against besides its client address.
pub(super) enum Account {
    /// A user (by id).
    User(String),
    /// The stand-in of an email without an account (`unknown:` and its SHA-256).
    Unknown(String),
}

impl Account {
    /// The account a sign-in with `email` (normalised) is for: `user`'s, if it exists.
    pub(super) fn of(user: Option<&User>, email: &str) -> Self {
        match user {
            Some(user) => Self::user(user),
            None => Self::Unknown(format!(
                "unknown:{}",
                platform::ids::sha256_hex(email.as_bytes())
            )),
        }
    }

    /// `user`'s account.
    pub(super) fn user(user: &User) -> Self {
        Self::User(user.id().to_owned())
    }

    /// How the store names it.
    fn key(&self) -> &str {
        match self {
            Self::User(key) | Self::Unknown(key) => key,
        }
    }
}

impl IdentityApp {
    fn lockout(&self) -> LockoutPolicy {
        LockoutPolicy {
            threshold: self.config.lockout_threshold,
            window_ms: self.config.lockout_window_secs * 1000,
            duration_ms: self.config.lockout_duration_secs * 1000,
            per_client_limit: self.config.failed_logins_per_ip,
        }
    }

    /// Refuses a sign-in to `account` from `client` (an address, as text) while the
    /// address is over its limit (429) or the account is locked for it (423).
    pub(super) async fn admit(&self, account: &Account, client: &str) -> Result<(), IdentityError> {
        let reader = self.db.reader();
        let failures = store::client_failures(reader, client).await?;
        let lock = store::account_lock(reader, account.key(), client).await?;
        let now = self.clock.now_millis();
        self.lockout()
            .admit(failures, lock, now)
            .map_err(|refused| {
                let retry_after_secs = refused.retry_after_secs(now);
                match refused {
                    SignInRefused::ClientLimited { .. } => {
                        tracing::info!(
                            client,
                            "sign-in refused: too many failures from the address"
                        );
                        IdentityError::TooManyFailures { retry_after_secs }
                    }
                    SignInRefused::AccountLocked { until } => IdentityError::Locked {
                        until,
                        retry_after_secs,
                    },
                }
            })
    }

    /// Counts a failed sign-in to `account` from `client`, and locks the account for
    /// that address when its failures from it reach the threshold (announcing the lock
    /// of a real account).
    pub(super) async fn record_failure(
        &self,
        account: &Account,
        client: &str,
    ) -> Result<(), IdentityError> {
        let now = self.clock.now_millis();
        let policy = self.lockout();
        let cutoff = policy.window_cutoff(now);
        let mut tx = self.db.begin().await?;
        // Always the address's row first, then the account's: concurrent failures take
        // the two row locks in one order and cannot deadlock.
        store::count_client_failure(&mut tx, client, now, cutoff).await?;
        let failures =
            store::count_account_failure(&mut tx, account.key(), client, now, cutoff).await?;
        if let Some(until) = policy.lock_after_failure(failures, now) {
            store::lock_account(&mut tx, account.key(), client, until, now).await?;
            if let Account::User(user_id) = account {
                let lock = AccountLock {
                    user_id: user_id.clone(),
                    until,
                };
                self.outbox.stage(&mut tx, &lock.event()).await?;
                tracing::warn!(
                    client,
                    "account locked for an address after repeated failed logins"
                );
            }
        }
        tx.commit().await?;
        self.outbox.wake();
        Ok(())
    }

    /// Forgets `user`'s failures from `client` once a sign-in from it succeeded, in the
    /// transaction that starts the session.
    pub(super) async fn forget_failures(
        &self,
        tx: &mut Tx,
        user: &User,
        client: &str,
    ) -> Result<(), IdentityError> {
        let now = self.clock.now_millis();
        store::clear_account_failures(tx, user.id(), client, now).await?;
        Ok(())
    }

    /// Deletes the counters that no longer refuse or count anything (a sweeper runs
    /// this), so the tables hold the current windows only. Returns how many went.
    pub async fn prune_login_failures(&self) -> Result<usize, IdentityError> {
        let now = self.clock.now_millis();
        let mut tx = self.db.begin().await?;
        let pruned =
            store::prune_login_failures(&mut tx, now, self.lockout().window_cutoff(now)).await?;
        tx.commit().await?;
        Ok(usize::try_from(pruned).unwrap_or(usize::MAX))
    }
}
