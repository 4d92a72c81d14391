//! Leases on named locks, for work only one process of the platform may do at a time
//! (reconciliation's daily run, notification schedules, the catalog index rebuild).
//!
//! A lease lasts its TTL unless its holder renews it; once it has passed, the next
//! caller takes the lock with the next fencing token. Tokens of one name only grow,
//! also across releases, so a resource that remembers the highest token it has seen can
//! refuse the writes of a holder that paused past its lease.
//!
//! What a lock name and a lease length may be is written once, in `platform::locks`,
//! which the platform's lock client checks before it sends; this service holds every
//! caller to the same rules.

use platform::locks::{LEASE_SECONDS_RULE, LOCK_NAME_RULE, is_lease_seconds, is_lock_name};

use super::registry::Invalid;

/// A lock's name, as [`platform::locks::is_lock_name`] allows (a path segment).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockName(String);

impl TryFrom<String> for LockName {
    type Error = Invalid;

    fn try_from(raw: String) -> Result<Self, Invalid> {
        if !is_lock_name(&raw) {
            return Err(Invalid(LOCK_NAME_RULE));
        }
        Ok(Self(raw))
    }
}

impl LockName {
    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Who holds or asks for a lease: 1 to 200 printable characters (an instance id, a
/// worker's name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner(String);

impl TryFrom<String> for Owner {
    type Error = Invalid;

    fn try_from(raw: String) -> Result<Self, Invalid> {
        if raw.trim().is_empty() || raw.chars().count() > 200 || raw.chars().any(char::is_control) {
            return Err(Invalid("must be 1 to 200 printable characters"));
        }
        Ok(Self(raw))
    }
}

impl Owner {
    /// The owner.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A request to take or renew a lease, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseRequest {
    /// Who asks.
    pub owner: Owner,
    /// How long the lease lasts, in milliseconds.
    pub ttl_ms: i64,
}

impl LeaseRequest {
    /// A request by `owner` for `ttl_seconds` (as [`platform::locks::is_lease_seconds`]
    /// allows).
    pub fn new(owner: Owner, ttl_seconds: i64) -> Result<Self, Invalid> {
        Ok(Self {
            owner,
            ttl_ms: lease_ttl_ms(ttl_seconds)?,
        })
    }
}

/// A lease's length of `ttl_seconds` (as [`platform::locks::is_lease_seconds`]
/// allows), in milliseconds.
pub fn lease_ttl_ms(ttl_seconds: i64) -> Result<i64, Invalid> {
    u64::try_from(ttl_seconds)
        .ok()
        .filter(|seconds| is_lease_seconds(*seconds))
        .and_then(|_| ttl_seconds.checked_mul(1000))
        .ok_or(Invalid(LEASE_SECONDS_RULE))
}

/// A lock as stored: its last fencing token and its holder, if it has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockState {
    /// The token of the latest lease (it stays after a release).
    pub fencing_token: i64,
    /// The holder of the latest lease, until it is released.
    pub holder: Option<Holder>,
}

/// The holder of a lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    /// Who.
    pub owner: String,
    /// When the lease ends, epoch ms.
    pub expires_at: i64,
}

impl LockState {
    /// The holder whose lease has not ended at `now`.
    pub fn active(&self, now: i64) -> Option<&Holder> {
        self.holder.as_ref().filter(|h| h.expires_at > now)
    }
}

/// A lease granted: the answer to its holder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The lock.
    pub name: String,
    /// Its holder.
    pub owner: String,
    /// The token the holder presents to fenced resources.
    pub fencing_token: i64,
    /// When the lease ends unless renewed, epoch ms.
    pub expires_at: i64,
}

/// What a lease request does to a lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseDecision {
    /// The caller takes the lock with a new token.
    Acquired {
        /// The new token: one more than the lock's last.
        fencing_token: i64,
        /// When the lease ends.
        expires_at: i64,
    },
    /// The caller holds it already: same token, later end.
    Renewed {
        /// The token it holds.
        fencing_token: i64,
        /// When the lease now ends.
        expires_at: i64,
    },
    /// Someone else holds an unexpired lease.
    Held {
        /// Until when.
        expires_at: i64,
    },
}

/// What `request` at `now` does to the lock in `state` (`None`: never taken). A lease
/// that has ended is taken by whoever comes next, its former holder included, with the
/// next token: the former holder may have paused, and a resource that saw a write by
/// the former lease must tell it apart from writes by this one.
pub fn decide(state: Option<&LockState>, request: &LeaseRequest, now: i64) -> LeaseDecision {
    let expires_at = now.saturating_add(request.ttl_ms);
    let Some(state) = state else {
        return LeaseDecision::Acquired {
            fencing_token: 1,
            expires_at,
        };
    };
    match state.active(now) {
        Some(holder) if holder.owner == request.owner.as_str() => LeaseDecision::Renewed {
            fencing_token: state.fencing_token,
            expires_at,
        },
        Some(holder) => LeaseDecision::Held {
            expires_at: holder.expires_at,
        },
        None => LeaseDecision::Acquired {
            fencing_token: state.fencing_token.saturating_add(1),
            expires_at,
        },
    }
}

/// What a release asks of a lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReleaseDecision {
    /// `owner` holds it (or held it last and nobody took it since): it is freed.
    Release,
    /// `owner` does not hold it.
    NotHolder,
}

/// Whether `owner` may release the lock in `state`.
pub fn release(state: Option<&LockState>, owner: &Owner) -> ReleaseDecision {
    match state.and_then(|s| s.holder.as_ref()) {
        Some(holder) if holder.owner == owner.as_str() => ReleaseDecision::Release,
        _ => ReleaseDecision::NotHolder,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(owner: &str, ttl_seconds: i64) -> LeaseRequest {
        LeaseRequest::new(
            Owner::try_from(owner.to_owned()).expect("owner"),
            ttl_seconds,
        )
        .expect("request")
    }

    fn held(owner: &str, token: i64, expires_at: i64) -> LockState {
        LockState {
            fencing_token: token,
            holder: Some(Holder {
                owner: owner.into(),
                expires_at,
            }),
        }
    }

    #[test]
    fn leases_are_taken_renewed_refused_and_taken_over_after_they_end() {
        let a = request("a", 10);
        let b = request("b", 10);
        let cases: &[(Option<LockState>, &LeaseRequest, i64, LeaseDecision)] = &[
            // Never taken: token 1.
            (
                None,
                &a,
                0,
                LeaseDecision::Acquired {
                    fencing_token: 1,
                    expires_at: 10_000,
                },
            ),
            // Held by the caller: renewed with the same token.
            (
                Some(held("a", 4, 5_000)),
                &a,
                1_000,
                LeaseDecision::Renewed {
                    fencing_token: 4,
                    expires_at: 11_000,
                },
            ),
            // Held by another: refused.
            (
                Some(held("a", 4, 5_000)),
                &b,
                1_000,
                LeaseDecision::Held { expires_at: 5_000 },
            ),
            // Ended: the next caller takes it with the next token.
            (
                Some(held("a", 4, 5_000)),
                &b,
                5_000,
                LeaseDecision::Acquired {
                    fencing_token: 5,
                    expires_at: 15_000,
                },
            ),
            // Ended, asked again by its former holder: a new lease, a new token.
            (
                Some(held("a", 4, 5_000)),
                &a,
                6_000,
                LeaseDecision::Acquired {
                    fencing_token: 5,
                    expires_at: 16_000,
                },
            ),
            // Released: the token keeps growing.
            (
                Some(LockState {
                    fencing_token: 9,
                    holder: None,
                }),
                &b,
                0,
                LeaseDecision::Acquired {
                    fencing_token: 10,
                    expires_at: 10_000,
                },
            ),
        ];
        for (state, request, now, want) in cases {
            assert_eq!(
                decide(state.as_ref(), request, *now),
                *want,
                "{state:?} {request:?} at {now}"
            );
        }
    }

    #[test]
    fn only_the_holder_releases() {
        let a = Owner::try_from("a".to_owned()).expect("owner");
        let b = Owner::try_from("b".to_owned()).expect("owner");
        assert_eq!(
            release(Some(&held("a", 1, 10)), &a),
            ReleaseDecision::Release
        );
        assert_eq!(
            release(Some(&held("a", 1, 10)), &b),
            ReleaseDecision::NotHolder
        );
        assert_eq!(release(None, &a), ReleaseDecision::NotHolder);
        let free = LockState {
            fencing_token: 3,
            holder: None,
        };
        assert_eq!(release(Some(&free), &a), ReleaseDecision::NotHolder);
    }

    #[test]
    fn names_owners_and_ttls_have_rules() {
        assert!(LockName::try_from("analytics.reconciliation:daily".to_owned()).is_ok());
        assert!(LockName::try_from("a/b".to_owned()).is_err());
        assert!(Owner::try_from(" ".to_owned()).is_err());
        let owner = Owner::try_from("w1".to_owned()).expect("owner");
        assert!(LeaseRequest::new(owner.clone(), 0).is_err());
        assert!(LeaseRequest::new(owner.clone(), -1).is_err());
        assert!(LeaseRequest::new(owner.clone(), 3601).is_err());
        assert_eq!(
            LeaseRequest::new(owner, 3600).map(|r| r.ttl_ms),
            Ok(3_600_000)
        );
    }
}
