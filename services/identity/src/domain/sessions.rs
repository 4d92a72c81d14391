//! Sign-in rules: the guard against password guessing (a lockout per account and client
//! address, and a limit per address across accounts, both counted before a password is
//! checked), and what presenting a refresh token means given its stored state
//! (rotation, and reuse detection).
//!
//! Why per address: a lockout counted per account alone lets anyone lock the owner out
//! by typing five wrong passwords (a denial of service). Counted per account and
//! address, the guesser locks only themselves, and the limit per address stops one
//! address from guessing across many accounts instead.

use contracts::identity::UserLocked;
use platform::time::rfc3339;

/// The guard's rules. A sign-in attempt is counted twice before its credentials are
/// checked: against the account from the client's address, where `threshold` attempts
/// within `window_ms` are all the account gets from it, and against the address across
/// accounts, where `per_client_limit` attempts within the window are all the address
/// gets. An attempt over either is refused unchecked. An attempt that fails stays
/// counted, and the one counted at the threshold locks the account for that address
/// only, for `duration_ms`. A success forgets the account's attempts from that address
/// and gives its own back to the address; a right password still waiting for its
/// one-time code gives its attempt back to both.
///
/// Counting before checking is what makes the numbers hold under concurrency: attempts
/// sent together queue on the counter, so no more than the threshold (or the limit) of
/// them ever reach the password check, however many arrive at once. The store counts
/// with one conditional statement per counter that applies these rules; this type gives
/// it the numbers and says why an attempt it did not count is refused.
#[derive(Debug, Clone, Copy)]
pub struct LockoutPolicy {
    /// Attempts of one account from one address that may fail before it is locked for
    /// that address.
    pub threshold: u32,
    /// How long a counting window lasts from its first attempt.
    pub window_ms: i64,
    /// How long a lock lasts.
    pub duration_ms: i64,
    /// Attempts one address may have counted across accounts within a window.
    pub per_client_limit: u32,
}

/// Attempts counted since `window_start` (epoch ms). A window lasts the policy's
/// `window_ms` from its first attempt; the next attempt after it starts a new one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailureWindow {
    /// The window's first attempt, epoch ms.
    pub window_start: i64,
    /// Attempts counted in the window (failed, or still being checked).
    pub failures: i64,
}

/// The counter of one account from one client address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountFailures {
    /// Attempts in the current window.
    pub window: FailureWindow,
    /// When the account's lock for the address ends (it may have passed), epoch ms.
    pub locked_until: Option<i64>,
}

/// Why a sign-in is refused before its credentials are checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignInRefused {
    /// The address used up its attempts across accounts; refused until `until`.
    ClientLimited {
        /// When the window ends, epoch ms.
        until: i64,
    },
    /// The account is locked for this address until `until`.
    AccountLocked {
        /// When the lock ends, epoch ms.
        until: i64,
    },
}

impl SignInRefused {
    /// Whole seconds until the refusal ends at `now` (at least 1), for `Retry-After`.
    pub fn retry_after_secs(&self, now_ms: i64) -> u64 {
        let (Self::ClientLimited { until } | Self::AccountLocked { until }) = *self;
        let wait_ms = u64::try_from(until.saturating_sub(now_ms)).unwrap_or(0);
        wait_ms.div_ceil(1000).max(1)
    }
}

impl LockoutPolicy {
    /// Windows that started at or before this have ended at `now_ms`.
    pub fn window_cutoff(&self, now_ms: i64) -> i64 {
        now_ms - self.window_ms
    }

    /// Attempts an address may have counted in a window. A limit of 0 would refuse
    /// every sign-in of the platform; one attempt is the least an address gets.
    pub fn client_limit(&self) -> i64 {
        i64::from(self.per_client_limit.max(1))
    }

    /// Attempts an account may have counted from one address in a window. A threshold
    /// of 0 locks at the first failure, as 1 does.
    pub fn account_threshold(&self) -> i64 {
        i64::from(self.threshold.max(1))
    }

    /// The lock end to set after a failed attempt, given the account's count from this
    /// address when the attempt was counted; `None` while under the threshold.
    pub fn lock_after_failure(&self, counted_as: i64, now_ms: i64) -> Option<i64> {
        (counted_as >= self.account_threshold()).then_some(now_ms + self.duration_ms)
    }

    /// Why an address's attempt was not counted (its window at `now_ms` holds
    /// [`Self::client_limit`] attempts already): refused until the window ends.
    pub fn client_refusal(&self, client: FailureWindow) -> SignInRefused {
        SignInRefused::ClientLimited {
            until: client.window_start + self.window_ms,
        }
    }

    /// Why an account's attempt from an address was not counted at `now_ms`: its lock
    /// for the address runs, or its window holds [`Self::account_threshold`] attempts
    /// already. In the second case the attempt that reached the threshold is still
    /// being checked: if it fails it locks the account for `duration_ms` from about
    /// now, which is what the refusal says (if it succeeds, the refusal ends at once).
    pub fn account_refusal(&self, account: AccountFailures, now_ms: i64) -> SignInRefused {
        match account.locked_until {
            Some(until) if until > now_ms => SignInRefused::AccountLocked { until },
            _ => SignInRefused::AccountLocked {
                until: now_ms + self.duration_ms,
            },
        }
    }
}

/// An account locked for one client address, announced as `identity.user.locked.v1`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountLock {
    /// The account.
    pub user_id: String,
    /// When the lock ends, epoch ms.
    pub until: i64,
}

impl AccountLock {
    /// `identity.user.locked.v1`.
    pub fn event(&self) -> UserLocked {
        UserLocked {
            user_id: self.user_id.clone(),
            locked_until: rfc3339(self.until),
        }
    }
}

/// What presenting a refresh token means, given its stored state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshOutcome {
    /// Valid: rotate it.
    Rotate,
    /// Already rotated: someone replayed it; revoke the family.
    ReuseDetected,
    /// Revoked or expired.
    Refused,
}

/// Classifies a stored refresh token presented at `now_ms`.
pub fn refresh_outcome(
    rotated: bool,
    revoked: bool,
    expires_at_ms: i64,
    now_ms: i64,
) -> RefreshOutcome {
    if revoked {
        RefreshOutcome::Refused
    } else if rotated {
        RefreshOutcome::ReuseDetected
    } else if expires_at_ms <= now_ms {
        RefreshOutcome::Refused
    } else {
        RefreshOutcome::Rotate
    }
}

/// A stored refresh token (its secret is only ever kept as a hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshToken {
    /// Id.
    pub id: String,
    /// Its sign-in family (one per session).
    pub family_id: String,
    /// Owner.
    pub user_id: String,
    /// Expiry, epoch ms.
    pub expires_at: i64,
    /// Set once it was exchanged.
    pub rotated_at: Option<i64>,
    /// Set once revoked.
    pub revoked_at: Option<i64>,
}

impl RefreshToken {
    /// What presenting it at `now_ms` means.
    pub fn outcome(&self, now_ms: i64) -> RefreshOutcome {
        refresh_outcome(
            self.rotated_at.is_some(),
            self.revoked_at.is_some(),
            self.expires_at,
            now_ms,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: LockoutPolicy = LockoutPolicy {
        threshold: 5,
        window_ms: 900_000,
        duration_ms: 600_000,
        per_client_limit: 20,
    };

    #[test]
    fn the_attempt_counted_at_the_threshold_locks_when_it_fails() {
        assert_eq!(POLICY.lock_after_failure(4, 1000), None);
        assert_eq!(POLICY.lock_after_failure(5, 1000), Some(601_000));
        let zero = LockoutPolicy {
            threshold: 0,
            ..POLICY
        };
        assert_eq!(zero.lock_after_failure(1, 1000), Some(601_000), "0 is 1");
    }

    #[test]
    fn refusals_last_until_the_window_ends_or_the_lock_does() {
        let now = 10_000_000;
        let window = FailureWindow {
            window_start: now - 1_000,
            failures: 20,
        };
        assert_eq!(
            POLICY.client_refusal(window),
            SignInRefused::ClientLimited {
                until: now + 899_000
            }
        );
        let locked = |locked_until| AccountFailures {
            window,
            locked_until,
        };
        let until = |until| SignInRefused::AccountLocked { until };
        assert_eq!(
            POLICY.account_refusal(locked(Some(now + 1)), now),
            until(now + 1)
        );
        // No lock running: the attempt at the threshold is still being checked.
        assert_eq!(
            POLICY.account_refusal(locked(None), now),
            until(now + 600_000)
        );
        assert_eq!(
            POLICY.account_refusal(locked(Some(now)), now),
            until(now + 600_000)
        );
    }

    #[test]
    fn limits_of_0_are_1() {
        let zero = LockoutPolicy {
            threshold: 0,
            per_client_limit: 0,
            ..POLICY
        };
        assert_eq!((zero.client_limit(), zero.account_threshold()), (1, 1));
        assert_eq!((POLICY.client_limit(), POLICY.account_threshold()), (20, 5));
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        let refused = SignInRefused::AccountLocked { until: 5_001 };
        assert_eq!(refused.retry_after_secs(0), 6);
        assert_eq!(refused.retry_after_secs(4_001), 1);
        assert_eq!(refused.retry_after_secs(9_000), 1, "never 0");
    }

    #[test]
    fn refresh_outcomes_follow_the_table() {
        use RefreshOutcome::*;
        let table = [
            (false, false, 2000, 1000, Rotate),
            (true, false, 2000, 1000, ReuseDetected),
            (true, true, 2000, 1000, Refused),
            (false, true, 2000, 1000, Refused),
            (false, false, 1000, 1000, Refused),
        ];
        for (rotated, revoked, expires, now, want) in table {
            assert_eq!(refresh_outcome(rotated, revoked, expires, now), want);
        }
    }
}
