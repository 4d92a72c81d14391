//! Leases on named locks: taken, renewed, released and read. Each change of one name
//! runs under that name's lock for its whole transaction, so two callers racing for a
//! free lock are served one after the other and exactly one gets it.

use super::{CoordinationApp, CoordinationError};
use crate::domain::lease::{self, LeaseDecision, ReleaseDecision};
use crate::domain::{Lease, LeaseRequest, LockName, Owner};
use crate::store;

/// A lease granted, and whether it is a new one (not a renewal).
#[derive(Debug, Clone)]
pub struct Granted {
    /// The lease.
    pub lease: Lease,
    /// Whether the caller took the lock now (with a new token) rather than renewed it.
    pub acquired: bool,
}

impl CoordinationApp {
    /// Takes the lock for `request.owner`, or renews the lease it holds; refused while
    /// someone else holds an unexpired lease.
    #[tracing::instrument(skip_all, fields(lock = name.as_str(), owner = request.owner.as_str()), err(level = "debug"))]
    pub async fn acquire(
        &self,
        name: &LockName,
        request: &LeaseRequest,
    ) -> Result<Granted, CoordinationError> {
        let now = self.clock.now_millis();
        let mut tx = self.db.begin().await?;
        let state = store::locks::lock(&mut tx, self.db.dialect(), name.as_str()).await?;
        let owner = request.owner.as_str();
        let (fencing_token, expires_at, acquired) =
            match lease::decide(state.as_ref(), request, now) {
                LeaseDecision::Held { expires_at } => {
                    return Err(CoordinationError::LockHeld { expires_at });
                }
                LeaseDecision::Acquired {
                    fencing_token,
                    expires_at,
                } => {
                    if state.is_none() {
                        store::locks::insert(&mut tx, name.as_str(), owner, expires_at, now)
                            .await?;
                    } else if !store::locks::take(
                        &mut tx,
                        name.as_str(),
                        owner,
                        fencing_token,
                        expires_at,
                        now,
                    )
                    .await?
                    {
                        return Err(raced());
                    }
                    (fencing_token, expires_at, true)
                }
                LeaseDecision::Renewed {
                    fencing_token,
                    expires_at,
                } => {
                    if !store::locks::renew(
                        &mut tx,
                        name.as_str(),
                        owner,
                        fencing_token,
                        expires_at,
                        now,
                    )
                    .await?
                    {
                        return Err(raced());
                    }
                    (fencing_token, expires_at, false)
                }
            };
        tx.commit().await?;
        if acquired {
            tracing::info!(fencing_token, "lock acquired");
        }
        Ok(Granted {
            lease: Lease {
                name: name.as_str().to_owned(),
                owner: owner.to_owned(),
                fencing_token,
                expires_at,
            },
            acquired,
        })
    }

    /// Frees the lock `owner` holds; its fencing token stays for the next lease.
    #[tracing::instrument(skip_all, fields(lock = name.as_str(), owner = owner.as_str()), err(level = "debug"))]
    pub async fn release(&self, name: &LockName, owner: &Owner) -> Result<(), CoordinationError> {
        let now = self.clock.now_millis();
        let mut tx = self.db.begin().await?;
        let state = store::locks::lock(&mut tx, self.db.dialect(), name.as_str()).await?;
        if lease::release(state.as_ref(), owner) == ReleaseDecision::NotHolder
            || !store::locks::release(&mut tx, name.as_str(), owner.as_str(), now).await?
        {
            return Err(CoordinationError::NotHolder);
        }
        tx.commit().await?;
        Ok(())
    }

    /// The unexpired lease on the lock.
    pub async fn holder(&self, name: &LockName) -> Result<Lease, CoordinationError> {
        let now = self.clock.now_millis();
        let state = store::locks::get(self.db.reader(), name.as_str()).await?;
        state
            .as_ref()
            .and_then(|state| {
                state.active(now).map(|holder| Lease {
                    name: name.as_str().to_owned(),
                    owner: holder.owner.clone(),
                    fencing_token: state.fencing_token,
                    expires_at: holder.expires_at,
                })
            })
            .ok_or(CoordinationError::NotFound("lock holder"))
    }
}

/// A conditional write found the lock changed although its name was locked: not
/// expected, but answered as a conflict the caller may retry rather than a lease
/// granted twice.
fn raced() -> CoordinationError {
    tracing::warn!("a lock changed under its own lock; refusing the lease");
    CoordinationError::LockHeld { expires_at: 0 }
}
