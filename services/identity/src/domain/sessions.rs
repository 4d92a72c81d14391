//! Sign-in rules: the lockout after repeated failures, and what presenting a refresh
//! token means given its stored state (rotation, and reuse detection).

/// The lockout rule: `threshold` failures within `window_ms` lock for `duration_ms`.
#[derive(Debug, Clone, Copy)]
pub struct LockoutPolicy {
    /// Failures that lock the account.
    pub threshold: u32,
    /// How far back failures count.
    pub window_ms: i64,
    /// How long the lock lasts.
    pub duration_ms: i64,
}

impl LockoutPolicy {
    /// The lock end to set after a failure, given the failures (including this one)
    /// within the window; `None` while under the threshold.
    pub fn lock_after_failure(&self, failures_in_window: i64, now_ms: i64) -> Option<i64> {
        (failures_in_window >= i64::from(self.threshold)).then_some(now_ms + self.duration_ms)
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

    #[test]
    fn lockout_triggers_at_the_threshold() {
        let policy = LockoutPolicy {
            threshold: 5,
            window_ms: 900_000,
            duration_ms: 900_000,
        };
        assert_eq!(policy.lock_after_failure(4, 1000), None);
        assert_eq!(policy.lock_after_failure(5, 1000), Some(901_000));
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
