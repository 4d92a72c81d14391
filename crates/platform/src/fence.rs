//! Fencing for work only one process of the platform may do at a time (a daily
//! reconciliation, a schedule poller): the run holds a lease on a coordination lock, and
//! each of its writes is admitted by the service's own database only while no newer
//! lease has written.
//!
//! A lease alone is not enough: a holder that stalls past its lease (a slow disk, a
//! suspended VM, a long scheduling pause) resumes believing it still holds the job,
//! while coordination has given the lock to the next caller. Each lease carries a fencing token that only grows
//! ([`crate::locks`]). The service keeps, per job, the highest token that has written
//! (table `job_fences`, one row per job, created by each service's own migration), and
//! a run's transaction first calls [`Fence::admit`]: it raises the stored token to the
//! run's, or refuses when a higher one is stored. The row stays locked until the
//! transaction ends, so writes of two holders happen in token order and never after a
//! newer holder's.
//!
//! [`SingleHolder`] ties it together: take the lock (skip the run when another process
//! holds it, or when coordination cannot be asked: a job never runs unfenced), run with
//! its [`Fence`], release.

use std::future::Future;
use std::time::Duration;

use crate::db::Tx;
use crate::locks::Locks;
use crate::service::{ServiceContext, ServiceKind, StartError};

/// Coordination's locks as `context`'s service reaches them (in process in the embedded
/// shape, over HTTP in the distributed one), called with the platform's service token.
pub fn locks_for(context: &ServiceContext) -> Result<Locks, StartError> {
    let coordination = context.peer(ServiceKind::Coordination)?;
    let token = context.service_token().ok_or(StartError::Missing {
        service: context.kind(),
        needs: "the platform's service token (for coordination's locks)",
    })?;
    Ok(Locks::new(coordination, token))
}

/// The right of one run of `job` to write: the fencing token of the lease it runs under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    job: String,
    token: u64,
}

impl Fence {
    /// The fence of a run of `job` under the lease whose token is `token`.
    pub fn new(job: impl Into<String>, token: u64) -> Self {
        Self {
            job: job.into(),
            token,
        }
    }

    /// The job.
    pub fn job(&self) -> &str {
        &self.job
    }

    /// The lease's fencing token.
    pub fn token(&self) -> u64 {
        self.token
    }

    /// Admits this run's write in `tx`: records the run's token as the job's highest,
    /// unless a higher one is recorded (a newer lease has written: this run's lease was
    /// lost), in which case it answers false and the caller must drop `tx` unwritten.
    /// Call it first in each transaction of the run; the same token is admitted again.
    pub async fn admit(&self, tx: &mut Tx) -> Result<bool, crate::db::Error> {
        // Coordination stores tokens as BIGINT, so a larger one is not a token.
        let token = i64::try_from(self.token).map_err(|_| {
            crate::db::Error::Protocol(format!("fencing token {} is out of range", self.token))
        })?;
        // One statement for both engines: it inserts the job's first row, or raises the
        // stored token when it is not above the run's. On PostgreSQL the conflicting row
        // is locked and the condition re-read after a concurrent writer commits, so two
        // holders' transactions are serialized here, in token order.
        let done = crate::db::query(
            "INSERT INTO job_fences (job, token) VALUES ($1, $2) \
             ON CONFLICT (job) DO UPDATE SET token = excluded.token \
             WHERE job_fences.token <= excluded.token",
        )
        .bind(self.job.as_str())
        .bind(token)
        .execute(&mut **tx)
        .await?;
        let admitted = done.rows_affected() == 1;
        if !admitted {
            tracing::warn!(
                job = %self.job,
                fencing_token = self.token,
                "a newer lease has written; this run's write is refused"
            );
        }
        Ok(admitted)
    }
}

/// What became of one turn of a [`SingleHolder`] job.
#[derive(Debug, PartialEq, Eq)]
pub enum Turn<T> {
    /// This process held the lock and ran the job.
    Ran(T),
    /// Another process holds the lock: the job ran (or runs) there.
    HeldElsewhere,
    /// Coordination could not be asked: the job did not run (it never runs unfenced).
    Unavailable,
}

impl<T> Turn<T> {
    /// What the job answered, when it ran here.
    pub fn ran(self) -> Option<T> {
        match self {
            Turn::Ran(value) => Some(value),
            Turn::HeldElsewhere | Turn::Unavailable => None,
        }
    }
}

/// A job that runs in one process of the platform at a time, however many replicas
/// run it on a timer: each turn takes the coordination lock named after the job under a
/// new owner name, runs with its [`Fence`], and releases the lock.
#[derive(Clone)]
pub struct SingleHolder {
    locks: Locks,
    job: String,
    owner_prefix: String,
    ttl: Duration,
}

impl SingleHolder {
    /// The job `job` (also the lock's name: letters, digits, `.`, `_`, `-`, `:`), run by
    /// `holder` (a service name, to tell holders apart in coordination's answers), with
    /// leases of `ttl`: longer than one run takes, so a live holder keeps its lease.
    pub fn new(locks: Locks, job: &str, holder: &str, ttl: Duration) -> Self {
        Self {
            locks,
            job: job.to_owned(),
            owner_prefix: holder.to_owned(),
            ttl,
        }
    }

    /// The job's name.
    pub fn job(&self) -> &str {
        &self.job
    }

    /// Runs `work` with the fence of a fresh lease, unless another process holds the
    /// lock or coordination cannot be asked. The lock is released afterwards, whatever
    /// `work` answered (a release that fails is logged; the lease ends on its own).
    pub async fn run<F, Fut, T>(&self, work: F) -> Turn<T>
    where
        F: FnOnce(Fence) -> Fut,
        Fut: Future<Output = T>,
    {
        // A new owner per turn: two turns in one process (a slow one and the next
        // timer's) are two contenders, never one renewing the other's lease.
        let owner = format!("{}:{}", self.owner_prefix, crate::ids::new_id());
        let lease = match self.locks.acquire(&self.job, &owner, self.ttl).await {
            Ok(Some(lease)) => lease,
            Ok(None) => {
                tracing::debug!(job = %self.job, "held by another process; this turn skips");
                return Turn::HeldElsewhere;
            }
            Err(err) => {
                tracing::warn!(
                    job = %self.job,
                    error = %crate::telemetry::error_chain(&err),
                    "coordination's lock could not be taken; the job does not run"
                );
                return Turn::Unavailable;
            }
        };
        let answer = work(Fence::new(self.job.clone(), lease.fencing_token)).await;
        if let Err(err) = self.locks.release(&self.job, &owner).await {
            tracing::warn!(
                job = %self.job,
                error = %crate::telemetry::error_chain(&err),
                "the lock could not be released; its lease ends on its own"
            );
        }
        Turn::Ran(answer)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use axum::Router;
    use axum::extract::{Path, RawQuery, State};
    use axum::response::IntoResponse;
    use axum::routing::post;
    use http::{Method, StatusCode};

    use super::*;
    use crate::client::ServiceClient;
    use crate::db::{Db, Migration, Migrations};

    const FENCES: Migrations = Migrations {
        scope: "fenced",
        steps: &[Migration {
            name: "0001_job_fences",
            sqlite: "CREATE TABLE job_fences (job TEXT PRIMARY KEY, token BIGINT NOT NULL);",
            postgres: "CREATE TABLE job_fences (job TEXT PRIMARY KEY, token BIGINT NOT NULL);",
        }],
    };

    async fn admitted(db: &Db, fence: &Fence) -> bool {
        let mut tx = db.begin().await.expect("begin");
        let admitted = fence.admit(&mut tx).await.expect("admit");
        if admitted {
            tx.commit().await.expect("commit");
        }
        admitted
    }

    #[tokio::test]
    async fn a_stale_token_is_refused_once_a_newer_one_has_written() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Db::connect(&crate::db::sqlite_url(dir.path(), "fenced"), &FENCES)
            .await
            .expect("db");
        let job = |token| Fence::new("daily", token);
        assert!(admitted(&db, &job(3)).await, "the first token");
        assert!(admitted(&db, &job(3)).await, "the same run writes again");
        assert!(admitted(&db, &job(5)).await, "a newer lease");
        assert!(!admitted(&db, &job(4)).await, "the paused holder's write");
        assert!(admitted(&db, &Fence::new("other", 1)).await, "jobs apart");
        let stored: Vec<(String, i64)> =
            crate::db::query("SELECT job, token FROM job_fences ORDER BY job")
                .fetch_all(db.reader())
                .await
                .expect("rows")
                .iter()
                .map(|row| {
                    (
                        row.try_get("job").expect("job"),
                        row.try_get("token").expect("token"),
                    )
                })
                .collect();
        assert_eq!(stored, [("daily".to_owned(), 5), ("other".to_owned(), 1)]);
    }

    /// A coordination with one lock table: a lease is granted while no other owner
    /// holds the name (tokens grow by one per grant), freed by its owner's release.
    /// `down` answers 503 to everything.
    fn coordination(down: bool) -> Locks {
        type Held = Arc<Mutex<(u64, Option<String>)>>;
        #[derive(serde::Deserialize)]
        struct Ask {
            owner: String,
        }
        async fn answer(
            State((held, down)): State<(Held, bool)>,
            method: Method,
            Path(name): Path<String>,
            RawQuery(query): RawQuery,
            body: String,
        ) -> axum::response::Response {
            if down {
                return StatusCode::SERVICE_UNAVAILABLE.into_response();
            }
            let mut held = held.lock().unwrap_or_else(|p| p.into_inner());
            if method == Method::DELETE {
                let query = query.unwrap_or_default();
                let owner = form_urlencoded::parse(query.as_bytes())
                    .find(|(key, _)| key == "owner")
                    .map(|(_, owner)| owner.into_owned())
                    .unwrap_or_default();
                return if held.1.as_deref() == Some(owner.as_str()) {
                    held.1 = None;
                    StatusCode::NO_CONTENT.into_response()
                } else {
                    StatusCode::CONFLICT.into_response()
                };
            }
            let Ok(ask) = serde_json::from_str::<Ask>(&body) else {
                return StatusCode::BAD_REQUEST.into_response();
            };
            if held.1.is_some() {
                return StatusCode::CONFLICT.into_response();
            }
            held.0 += 1;
            held.1 = Some(ask.owner.clone());
            let lease = serde_json::json!({"name": name, "owner": ask.owner,
                "fencing_token": held.0, "expires_at": "2030-01-01T00:00:00Z"});
            (StatusCode::CREATED, axum::Json(lease)).into_response()
        }
        let router = Router::new()
            .route("/api/v1/locks/{name}", post(answer).delete(answer))
            .with_state((Held::default(), down));
        Locks::new(ServiceClient::in_process(router), "tok")
    }

    #[tokio::test]
    async fn of_two_contenders_one_runs_and_the_lock_is_free_again_after() {
        let locks = coordination(false);
        let job = SingleHolder::new(
            locks,
            "analytics.daily",
            "analytics",
            Duration::from_secs(60),
        );
        let (entered, wait) = tokio::sync::oneshot::channel::<()>();
        let (go, proceed) = tokio::sync::oneshot::channel::<()>();
        let first = job.run(|fence| async move {
            let _ = entered.send(());
            let _ = proceed.await;
            fence.token()
        });
        let second = async {
            let _ = wait.await;
            let turn = job.run(|fence| async move { fence.token() }).await;
            let _ = go.send(());
            turn
        };
        let (first, second) = tokio::join!(first, second);
        assert_eq!(first, Turn::Ran(1));
        assert_eq!(second, Turn::HeldElsewhere);
        assert_eq!(
            job.run(|fence| async move { fence.token() }).await,
            Turn::Ran(2),
            "released after the run; the next lease has the next token"
        );
    }

    #[tokio::test]
    async fn without_coordination_the_job_does_not_run() {
        let job = SingleHolder::new(
            coordination(true),
            "x",
            "analytics",
            Duration::from_secs(60),
        );
        let mut ran = false;
        let turn = job.run(|_| async { ran = true }).await;
        assert_eq!(turn, Turn::Unavailable);
        assert!(!ran);
    }
}
