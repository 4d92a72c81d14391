//! Sign-in rules: the guard against password guessing (a lockout per account and client
//! address, and a limit per address across accounts), and what presenting a refresh
//! token means given its stored state (rotation, and reuse detection).
//!
//! Why per address: a lockout counted per account alone lets anyone lock the owner out
//! by typing five wrong passwords (a denial of service). Counted per account and
//! address, the guesser locks only themselves, and the limit per address stops one
//! address from guessing across many accounts instead.

use contracts::identity::UserLocked;
use platform::time::rfc3339;

/// The guard's rules. A failed sign-in counts twice: against the account from the
/// client's address, where `threshold` failures within `window_ms` lock the account
/// for that address only, for `duration_ms`; and against the address across accounts,
/// where `per_client_limit` failures within the window are all the address gets: every
/// sign-in from it is refused (even a right password) until that window has passed.
#[derive(Debug, Clone, Copy)]
pub struct LockoutPolicy {
    /// Failures of one account from one address that lock it for that address.
    pub threshold: u32,
    /// How long a counting window lasts from its first failure.
    pub window_ms: i64,
    /// How long a lock lasts.
    pub duration_ms: i64,
    /// Failures one address may have across accounts within a window.
    pub per_client_limit: u32,
}

/// Failures counted since `window_start` (epoch ms). A window lasts the policy's
/// `window_ms` from its first failure; the next failure after it starts a new one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailureWindow {
    /// The window's first failure, epoch ms.
    pub window_start: i64,
    /// Failures in the window.
    pub failures: i64,
}

/// Why a sign-in is refused before its credentials are checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignInRefused {
    /// The address used up its failures across accounts; refused until `until`.
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

    /// The lock end to set after a failure, given the account's failures from this
    /// address (including this one) within the window; `None` while under the threshold.
    pub fn lock_after_failure(&self, failures_in_window: i64, now_ms: i64) -> Option<i64> {
        (failures_in_window >= i64::from(self.threshold)).then_some(now_ms + self.duration_ms)
    }

    /// Whether a sign-in may go on to check its credentials at `now_ms`, given the
    /// address's failures across accounts (`client`) and the end of the account's lock
    /// for this address, if any.
    pub fn admit(
        &self,
        client: Option<FailureWindow>,
        account_locked_until: Option<i64>,
        now_ms: i64,
    ) -> Result<(), SignInRefused> {
        // A limit of 0 would refuse every sign-in of the platform; one failure is the
        // least an address gets.
        let limit = i64::from(self.per_client_limit.max(1));
        if let Some(client) = client
            && client.window_start > self.window_cutoff(now_ms)
            && client.failures >= limit
        {
            return Err(SignInRefused::ClientLimited {
                until: client.window_start + self.window_ms,
            });
        }
        match account_locked_until {
            Some(until) if until > now_ms => Err(SignInRefused::AccountLocked { until }),
            _ => Ok(()),
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
    fn lockout_triggers_at_the_threshold() {
        assert_eq!(POLICY.lock_after_failure(4, 1000), None);
        assert_eq!(POLICY.lock_after_failure(5, 1000), Some(601_000));
    }

    #[test]
    fn sign_ins_are_admitted_unless_the_address_is_limited_or_the_account_locked() {
        let now = 10_000_000;
        let window = |started_ago: i64, failures: i64| {
            Some(FailureWindow {
                window_start: now - started_ago,
                failures,
            })
        };
        let limited_until = |started_ago: i64| {
            Err(SignInRefused::ClientLimited {
                until: now - started_ago + 900_000,
            })
        };
        // (address failures, account lock end, answer)
        let table = [
            (None, None, Ok(())),
            (window(1_000, 19), None, Ok(())),
            (window(1_000, 20), None, limited_until(1_000)),
            (window(899_999, 25), None, limited_until(899_999)),
            (window(900_000, 25), None, Ok(())),
            (
                None,
                Some(now + 1),
                Err(SignInRefused::AccountLocked { until: now + 1 }),
            ),
            (None, Some(now), Ok(())),
            (window(1_000, 20), Some(now + 1), limited_until(1_000)),
        ];
        for (client, lock, want) in table {
            assert_eq!(POLICY.admit(client, lock, now), want, "{client:?} {lock:?}");
        }
        let no_limit = LockoutPolicy {
            per_client_limit: 0,
            ..POLICY
        };
        assert_eq!(no_limit.admit(None, None, now), Ok(()), "a limit of 0 is 1");
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
