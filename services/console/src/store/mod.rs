//! Where the console keeps its sessions and sign-ins in progress: in this process's
//! memory (the embedded shape, one gateway), or in Redis (the distributed shape), so
//! every gateway replica knows every browser.
//!
//! Keys are SHA-256 hashes of the browser's secret (its session id, a sign-in's state),
//! so what the store holds cannot be replayed as a cookie.

mod memory;

use std::sync::Arc;
use std::time::Duration;

use platform::redis::Redis;
use serde::Serialize;
use serde::de::DeserializeOwned;

pub use memory::MemoryStore;

/// The store of sessions and sign-ins in progress.
#[derive(Clone)]
pub enum SessionStore {
    /// In this process.
    Memory(Arc<MemoryStore>),
    /// In Redis, under `prefix`.
    Redis {
        /// The process's Redis.
        redis: Arc<Redis>,
        /// Prefix of the console's keys.
        prefix: String,
    },
}

/// Why the store could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Redis failed or did not answer.
    #[error(transparent)]
    Redis(#[from] platform::redis::BackendError),
    /// The work on the session stopped before it ended.
    #[error("the session's refresh stopped before it ended")]
    Lost,
}

/// The kinds of record, each its own key space.
#[derive(Debug, Clone, Copy)]
pub enum Record {
    /// A browser session, under its id.
    Session,
    /// A sign-in in progress, under its `state`.
    Login,
    /// The claim of one process on refreshing a session's tokens, under the session's
    /// id: with several gateways, the one that holds it uses the refresh token.
    Refreshing,
}

impl Record {
    fn prefix(self) -> &'static str {
        match self {
            Record::Session => "session:",
            Record::Login => "login:",
            Record::Refreshing => "refreshing:",
        }
    }
}

/// Deletes a claim only if its value is the caller's (one round trip, atomic).
static RELEASE: std::sync::LazyLock<redis::Script> = std::sync::LazyLock::new(|| {
    redis::Script::new(
        "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0",
    )
});

fn key(record: Record, secret: &str) -> String {
    format!(
        "{}{}",
        record.prefix(),
        platform::ids::sha256_hex(secret.as_bytes())
    )
}

impl SessionStore {
    /// A store in this process's memory.
    pub fn memory() -> Self {
        SessionStore::Memory(Arc::new(MemoryStore::default()))
    }

    /// The record under `secret`, if it exists and has not expired.
    pub async fn get<T: DeserializeOwned>(
        &self,
        record: Record,
        secret: &str,
    ) -> Result<Option<T>, StoreError> {
        let key = key(record, secret);
        let raw = match self {
            SessionStore::Memory(memory) => memory.get(&key),
            SessionStore::Redis { redis, prefix } => {
                let key = format!("{prefix}{key}");
                redis
                    .call(|mut conn| async move {
                        redis::cmd("GET")
                            .arg(&key)
                            .query_async::<Option<String>>(&mut conn)
                            .await
                    })
                    .await?
            }
        };
        // A record that no longer reads (written by another version) is no session.
        Ok(raw.and_then(|raw| serde_json::from_str(&raw).ok()))
    }

    /// Writes `value` under `secret` for `ttl`.
    pub async fn put<T: Serialize>(
        &self,
        record: Record,
        secret: &str,
        value: &T,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        self.write(record, secret, value, ttl, false)
            .await
            .map(|_| ())
    }

    /// Writes `value` under `secret` for `ttl` only if a live record is there: whether it
    /// was. A session signed out (deleted) meanwhile is not brought back by a request
    /// that still held it.
    pub async fn replace<T: Serialize>(
        &self,
        record: Record,
        secret: &str,
        value: &T,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        self.write(record, secret, value, ttl, true).await
    }

    /// Writes `value`, only over a live record when `existing`; whether it wrote.
    async fn write<T: Serialize>(
        &self,
        record: Record,
        secret: &str,
        value: &T,
        ttl: Duration,
        existing: bool,
    ) -> Result<bool, StoreError> {
        let key = key(record, secret);
        let raw = serde_json::to_string(value).unwrap_or_default();
        match self {
            SessionStore::Memory(memory) if existing => Ok(memory.replace(&key, raw, ttl)),
            SessionStore::Memory(memory) => {
                memory.put(key, raw, ttl);
                Ok(true)
            }
            SessionStore::Redis { redis, prefix } => {
                let key = format!("{prefix}{key}");
                let secs = ttl.as_secs().max(1);
                let set = redis
                    .call(|mut conn| async move {
                        let mut set = redis::cmd("SET");
                        set.arg(&key).arg(&raw).arg("EX").arg(secs);
                        if existing {
                            set.arg("XX");
                        }
                        set.query_async::<Option<String>>(&mut conn).await
                    })
                    .await?;
                Ok(set.is_some())
            }
        }
    }

    /// Removes the record under `secret` and returns it: a sign-in's state is used once,
    /// even when two callbacks race.
    pub async fn take<T: DeserializeOwned>(
        &self,
        record: Record,
        secret: &str,
    ) -> Result<Option<T>, StoreError> {
        let key = key(record, secret);
        let raw = match self {
            SessionStore::Memory(memory) => memory.take(&key),
            SessionStore::Redis { redis, prefix } => {
                let key = format!("{prefix}{key}");
                redis
                    .call(|mut conn| async move {
                        redis::cmd("GETDEL")
                            .arg(&key)
                            .query_async::<Option<String>>(&mut conn)
                            .await
                    })
                    .await?
            }
        };
        Ok(raw.and_then(|raw| serde_json::from_str(&raw).ok()))
    }

    /// Pushes the expiry of the record under `secret` to `ttl` from now, without
    /// rewriting it (a request holding an older copy must not put it back).
    pub async fn touch(
        &self,
        record: Record,
        secret: &str,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let key = key(record, secret);
        match self {
            SessionStore::Memory(memory) => {
                memory.touch(&key, ttl);
                Ok(())
            }
            SessionStore::Redis { redis, prefix } => {
                let key = format!("{prefix}{key}");
                let secs = ttl.as_secs().max(1);
                redis
                    .call(|mut conn| async move {
                        redis::cmd("EXPIRE")
                            .arg(&key)
                            .arg(secs)
                            .query_async::<i64>(&mut conn)
                            .await
                    })
                    .await?;
                Ok(())
            }
        }
    }

    /// Writes `owner` under `secret` for `ttl` unless a claim is there: whether this
    /// caller now holds it. The claim lapses by itself if its holder dies.
    pub async fn claim(
        &self,
        record: Record,
        secret: &str,
        owner: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let key = key(record, secret);
        match self {
            SessionStore::Memory(memory) => Ok(memory.claim(key, owner, ttl)),
            SessionStore::Redis { redis, prefix } => {
                let key = format!("{prefix}{key}");
                let millis = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
                let set = redis
                    .call(|mut conn| async move {
                        redis::cmd("SET")
                            .arg(&key)
                            .arg(owner)
                            .arg("NX")
                            .arg("PX")
                            .arg(millis)
                            .query_async::<Option<String>>(&mut conn)
                            .await
                    })
                    .await?;
                Ok(set.is_some())
            }
        }
    }

    /// Removes the claim under `secret` if `owner` still holds it: a holder that
    /// outlived its claim does not remove the next holder's.
    pub async fn release(
        &self,
        record: Record,
        secret: &str,
        owner: &str,
    ) -> Result<(), StoreError> {
        let key = key(record, secret);
        match self {
            SessionStore::Memory(memory) => {
                memory.release(&key, owner);
                Ok(())
            }
            SessionStore::Redis { redis, prefix } => {
                let key = format!("{prefix}{key}");
                redis
                    .call(|mut conn| async move {
                        RELEASE
                            .key(&key)
                            .arg(owner)
                            .invoke_async::<i64>(&mut conn)
                            .await
                    })
                    .await?;
                Ok(())
            }
        }
    }

    /// Removes the record under `secret`.
    pub async fn delete(&self, record: Record, secret: &str) -> Result<(), StoreError> {
        self.take::<serde_json::Value>(record, secret)
            .await
            .map(|_| ())
    }
}
