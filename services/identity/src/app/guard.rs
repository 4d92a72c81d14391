//! The guard against password guessing. Every sign-in attempt (a password, or a
//! one-time code) is counted against the account from the client's address and against
//! the address across accounts *before* its credentials are checked; [`LockoutPolicy`]
//! has the rules. An attempt the guard does not count is refused unchecked. Once
//! checked, the attempt is settled: a failure stays counted (and the one counted at the
//! threshold locks the account for that address), a success forgets the account's
//! failures from that address and gives its own count back to the address, and a right
//! password still waiting for its one-time code gives its attempt back to both.
//!
//! Counting first is what holds under concurrency: had the guard checked the counters,
//! verified the password (~100 ms of argon2) and only then counted, every one of many
//! guesses sent at once would pass the check before any was counted.
//!
//! An email without an account counts under a stand-in named by the email's digest, so
//! it locks and answers exactly like a real account: the guard tells no one which
//! emails have accounts.
//!
//! Nothing here logs the client address: it is personal data.

use platform::db::Tx;

use super::{IdentityApp, IdentityError};
use crate::domain::{AccountLock, AuthEventKind, LockoutPolicy, Origin, SignInRefused, User};
use crate::store::{self, Reservation};

/// Whom a sign-in's attempts count against besides its client address.
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

/// A sign-in attempt the guard counted, waiting to be settled by [`IdentityApp::fail`],
/// [`IdentityApp::give_back`] or [`IdentityApp::succeed`]. One never settled (the
/// request was dropped, or the database failed after counting) stays counted as a
/// failure: the guard errs on the side of the account.
#[must_use = "a counted attempt is settled as failed, given back or succeeded"]
pub(super) struct Attempt {
    account: Account,
    client: String,
    /// Start of the address's window it was counted in.
    client_window: i64,
    /// Start of the account's window it was counted in.
    account_window: i64,
    /// The account's count from the address with it.
    counted_as: i64,
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

    /// Counts a sign-in attempt to `account` from `client` (an address, as text) before
    /// its credentials are checked, or refuses it unchecked while the address is at its
    /// limit (429) or the account is locked for it or at its threshold (423).
    pub(super) async fn reserve(
        &self,
        account: Account,
        client: &str,
    ) -> Result<Attempt, IdentityError> {
        let now = self.clock.now_millis();
        let policy = self.lockout();
        let cutoff = policy.window_cutoff(now);
        // One transaction over both counters, so an attempt the account refuses is not
        // counted against the address either (dropping `tx` undoes it). The address's
        // row first, as everywhere (see `store::sessions`).
        let mut tx = self.db.begin().await?;
        let client_window = match store::reserve_client_attempt(
            &mut tx,
            client,
            now,
            cutoff,
            policy.client_limit(),
        )
        .await?
        {
            Reservation::Counted(window) => window,
            Reservation::Declined(window) => {
                tracing::info!("sign-in refused: too many failures from the address");
                return Err(refused(policy.client_refusal(window), now));
            }
        };
        let account_window = match store::reserve_account_attempt(
            &mut tx,
            account.key(),
            client,
            now,
            cutoff,
            policy.account_threshold(),
        )
        .await?
        {
            Reservation::Counted(window) => window,
            Reservation::Declined(row) => {
                return Err(refused(policy.account_refusal(row, now), now));
            }
        };
        tx.commit().await?;
        Ok(Attempt {
            account,
            client: client.to_owned(),
            client_window: client_window.window_start,
            account_window: account_window.window_start,
            counted_as: account_window.failures,
        })
    }

    /// Settles an attempt whose credentials were wrong: it stays counted, and the one
    /// counted at the threshold locks the account for its address (announcing the lock
    /// of a real account). A real account's log records the failure as `kind` (and the
    /// lock), from `origin`.
    pub(super) async fn fail(
        &self,
        attempt: Attempt,
        kind: AuthEventKind,
        origin: &Origin,
    ) -> Result<(), IdentityError> {
        let now = self.clock.now_millis();
        let lock_until = self.lockout().lock_after_failure(attempt.counted_as, now);
        let user_id = match &attempt.account {
            Account::User(user_id) => Some(user_id.as_str()),
            Account::Unknown(_) => None,
        };
        if lock_until.is_none() && user_id.is_none() {
            return Ok(());
        }
        let mut tx = self.db.begin().await?;
        if let Some(user_id) = user_id {
            self.log_auth(&mut tx, user_id, kind, Some(origin)).await?;
        }
        if let Some(until) = lock_until {
            let locked = store::lock_account(
                &mut tx,
                attempt.account.key(),
                &attempt.client,
                attempt.account_window,
                until,
                now,
            )
            .await?;
            if locked && let Some(user_id) = user_id {
                let lock = AccountLock {
                    user_id: user_id.to_owned(),
                    until,
                };
                self.outbox.stage(&mut tx, &lock.event()).await?;
                self.log_auth(&mut tx, user_id, AuthEventKind::LockedOut, Some(origin))
                    .await?;
                tracing::warn!("account locked for an address after repeated failed logins");
            }
        }
        tx.commit().await?;
        self.outbox.wake();
        Ok(())
    }

    /// Settles an attempt that neither failed nor signed in (a right password waiting
    /// for its one-time code): it is given back to the account and the address.
    pub(super) async fn give_back(&self, attempt: Attempt) -> Result<(), IdentityError> {
        let mut tx = self.db.begin().await?;
        store::release_client_attempt(&mut tx, &attempt.client, attempt.client_window).await?;
        store::release_account_attempt(
            &mut tx,
            attempt.account.key(),
            &attempt.client,
            attempt.account_window,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Settles a successful attempt in the transaction that starts the session: the
    /// address gets it back, and the account's failures from that address are
    /// forgotten (unless a failure beside it locked the account meanwhile).
    pub(super) async fn succeed(&self, tx: &mut Tx, attempt: Attempt) -> Result<(), IdentityError> {
        let now = self.clock.now_millis();
        store::release_client_attempt(tx, &attempt.client, attempt.client_window).await?;
        store::clear_account_failures(tx, attempt.account.key(), &attempt.client, now).await?;
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

/// The error of a sign-in the guard refused at `now_ms`.
fn refused(refusal: SignInRefused, now_ms: i64) -> IdentityError {
    let retry_after_secs = refusal.retry_after_secs(now_ms);
    match refusal {
        SignInRefused::ClientLimited { .. } => IdentityError::TooManyFailures { retry_after_secs },
        SignInRefused::AccountLocked { until } => IdentityError::Locked {
            until,
            retry_after_secs,
        },
    }
}
