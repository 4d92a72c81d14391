//! Cache-aside for a service's hot reads (seed 002): a read asks the cache first, and on
//! a miss loads from the database and keeps what it loaded for a short time; a change
//! drops the key once it has committed. In the embedded shape the cache is this
//! process's memory; in the distributed shape it is Redis, shared by every replica, so
//! one replica's change is seen by all of them at once.
//!
//! A load that began before a change must never be kept as current after it: it may have
//! read the row just before the change committed. So each key has a generation. A lookup
//! reads the key's generation with its entry, a load is kept only under the generation
//! its lookup saw and only while that is still the key's current one, and dropping a key
//! moves its generation on. Redis failing or being slow never fails a read: the read
//! goes to the database (fail open, counted and logged as the gateway's are).

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use prometheus::{IntCounter, IntCounterVec};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::db::Tx;
use crate::redis::{FailOpen, Redis, counter};

/// The longest a Redis entry lives, whatever a cache asks, so a key's generation (kept
/// [`GENERATION_TTL_MS`] after each use) always outlives the entries made under it.
const MAX_TTL_MS: u64 = 3_600_000;
/// How long a key's generation is kept after it was last moved or written under. If it
/// lapses the key starts again at generation 0, whose entries are long gone by then.
const GENERATION_TTL_MS: u64 = 24 * 3_600_000;

// Redis keys: a key's generation is `<prefix>g:<key>` (KEYS[1]), its entry of generation
// N is `<prefix>v:<N>:<key>` (ARGV[1] .. N .. ARGV[2]), so no key's entry can be read as
// another key's generation. The entry's key is built inside the script (it depends on
// the generation), which a single Redis server allows and a Redis Cluster would not.

/// Reads a key's generation and its entry of that generation in one round trip.
const LOOKUP_SCRIPT: &str = r"
local generation = redis.call('GET', KEYS[1]) or '0'
local entry = redis.call('GET', ARGV[1] .. generation .. ARGV[2])
return {generation, entry}
";

/// Keeps an entry under generation ARGV[3] only while that is still the key's.
const STORE_SCRIPT: &str = r"
local generation = redis.call('GET', KEYS[1]) or '0'
if generation ~= ARGV[3] then
  return 0
end
redis.call('SET', ARGV[1] .. generation .. ARGV[2], ARGV[4], 'PX', ARGV[5])
if generation ~= '0' then
  redis.call('PEXPIRE', KEYS[1], ARGV[6])
end
return 1
";

/// Moves a key to its next generation (its entries are never read again).
const DROP_SCRIPT: &str = r"
redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1
";

/// One named cache of one service.
#[derive(Clone)]
pub struct Cache {
    name: &'static str,
    ttl: Duration,
    store: Store,
}

#[derive(Clone)]
enum Store {
    /// Caching is off: every read loads.
    Off,
    /// This process's memory.
    Memory(Arc<Memory>),
    /// Redis, under `prefix`.
    Redis { redis: Arc<Redis>, prefix: String },
}

/// What a lookup found.
enum Lookup {
    /// A cached value.
    Hit(Vec<u8>),
    /// Nothing: what is loaded may be kept under this generation.
    Miss(u64),
    /// The store could not be asked: load, and keep nothing.
    Unavailable,
}

impl Cache {
    /// A cache that never keeps anything.
    pub fn off(name: &'static str) -> Self {
        Self {
            name,
            ttl: Duration::ZERO,
            store: Store::Off,
        }
    }

    /// A cache in this process's memory, holding at most `capacity` entries, each for
    /// `ttl`.
    pub fn memory(name: &'static str, ttl: Duration, capacity: usize) -> Self {
        Self {
            name,
            ttl,
            store: Store::Memory(Arc::new(Memory::new(capacity))),
        }
    }

    /// A cache in Redis under keys that start `<prefix><name>:`, each entry kept for
    /// `ttl` (at most an hour).
    pub fn redis(name: &'static str, ttl: Duration, redis: Arc<Redis>, prefix: &str) -> Self {
        Self {
            name,
            ttl: ttl.min(Duration::from_millis(MAX_TTL_MS)),
            store: Store::Redis {
                redis,
                prefix: format!("{prefix}{name}:"),
            },
        }
    }

    /// The value of `key`: the cached one, or what `load` reads (then kept, unless the
    /// key was dropped while it loaded). An error of `load` is returned and not kept.
    pub async fn get_or_load<T, E, F, Fut>(&self, key: &str, load: F) -> Result<T, E>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let generation = match self.lookup(key).await {
            Lookup::Hit(bytes) => match serde_json::from_slice(&bytes) {
                Ok(value) => {
                    self.count("hit");
                    return Ok(value);
                }
                // Written by another version of the type: load it again, keep nothing.
                Err(_) => None,
            },
            Lookup::Miss(generation) => Some(generation),
            Lookup::Unavailable => None,
        };
        self.count("miss");
        let value = load().await?;
        if let Some(generation) = generation
            && let Ok(bytes) = serde_json::to_vec(&value)
        {
            self.keep(key, generation, bytes).await;
        }
        Ok(value)
    }

    /// Drops `key`: a read after this loads again, and a load that began before it is
    /// not kept. Call it after the change committed.
    pub async fn invalidate(&self, key: &str) {
        match &self.store {
            Store::Off => {}
            Store::Memory(memory) => memory.drop_key(key),
            Store::Redis { redis, prefix } => {
                let generation_key = format!("{prefix}g:{key}");
                let dropped = redis
                    .call(|mut conn| async move {
                        redis::Script::new(DROP_SCRIPT)
                            .key(generation_key)
                            .arg(GENERATION_TTL_MS)
                            .invoke_async::<i64>(&mut conn)
                            .await
                    })
                    .await;
                // Not dropped: the entry lives out its short TTL.
                if let Err(err) = dropped {
                    fail_open().record(&err);
                }
            }
        }
    }

    /// Drops `key` once `tx` commits (nothing if it does not): for a change made in a
    /// transaction the caller does not commit itself, such as an event handler's.
    pub fn invalidate_after_commit(&self, tx: &mut Tx, key: String) {
        if matches!(self.store, Store::Off) {
            return;
        }
        let cache = self.clone();
        tx.after_commit(move || {
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(async move { cache.invalidate(&key).await });
            }
        });
    }

    async fn lookup(&self, key: &str) -> Lookup {
        match &self.store {
            Store::Off => Lookup::Unavailable,
            Store::Memory(memory) => memory.lookup(key),
            Store::Redis { redis, prefix } => {
                let generation_key = format!("{prefix}g:{key}");
                let (entry_head, entry_tail) = (format!("{prefix}v:"), format!(":{key}"));
                let found = redis
                    .call(|mut conn| async move {
                        redis::Script::new(LOOKUP_SCRIPT)
                            .key(generation_key)
                            .arg(entry_head)
                            .arg(entry_tail)
                            .invoke_async::<(String, Option<Vec<u8>>)>(&mut conn)
                            .await
                    })
                    .await;
                match found {
                    Ok((_, Some(entry))) => Lookup::Hit(entry),
                    Ok((generation, None)) => match generation.parse() {
                        Ok(generation) => Lookup::Miss(generation),
                        Err(_) => Lookup::Unavailable,
                    },
                    Err(err) => {
                        fail_open().record(&err);
                        Lookup::Unavailable
                    }
                }
            }
        }
    }

    async fn keep(&self, key: &str, generation: u64, bytes: Vec<u8>) {
        match &self.store {
            Store::Off => {}
            Store::Memory(memory) => memory.keep(key, generation, bytes, self.ttl),
            Store::Redis { redis, prefix } => {
                let generation_key = format!("{prefix}g:{key}");
                let (entry_head, entry_tail) = (format!("{prefix}v:"), format!(":{key}"));
                let ttl_ms = u64::try_from(self.ttl.as_millis())
                    .unwrap_or(MAX_TTL_MS)
                    .max(1);
                let kept = redis
                    .call(|mut conn| async move {
                        redis::Script::new(STORE_SCRIPT)
                            .key(generation_key)
                            .arg(entry_head)
                            .arg(entry_tail)
                            .arg(generation)
                            .arg(bytes)
                            .arg(ttl_ms)
                            .arg(GENERATION_TTL_MS)
                            .invoke_async::<i64>(&mut conn)
                            .await
                    })
                    .await;
                if let Err(err) = kept {
                    fail_open().record(&err);
                }
            }
        }
    }

    fn count(&self, result: &str) {
        requests().with_label_values(&[self.name, result]).inc();
    }
}

/// `viscount_cache_requests_total{cache, result}` (the registry adds `viscount_`): the
/// hits and misses of each cache.
fn requests() -> &'static IntCounterVec {
    static REQUESTS: OnceLock<IntCounterVec> = OnceLock::new();
    REQUESTS.get_or_init(|| {
        crate::http::metrics::counter_vec(
            "cache_requests_total",
            "Reads of the services' caches, by cache and result (hit or miss).",
            &["cache", "result"],
        )
    })
}

/// The bookkeeping of reads that went to the database because Redis failed.
fn fail_open() -> &'static FailOpen {
    static ERRORS: OnceLock<IntCounter> = OnceLock::new();
    static FAIL_OPEN: OnceLock<FailOpen> = OnceLock::new();
    FAIL_OPEN.get_or_init(|| {
        FailOpen::new(
            "cache",
            counter(
                &ERRORS,
                "cache_backend_errors_total",
                "Cache calls given up because Redis failed or was slow (the read went to the database).",
            ),
        )
    })
}

/// The memory store: entries with their expiry, and when each key was last dropped.
///
/// A generation here is a ticket of one process-wide counter: a lookup takes the
/// current ticket, and a load is kept only if its key was not dropped after that ticket
/// was taken. When the store is full it starts over, and counts everything as dropped
/// at that moment, so a load that began before cannot come back.
struct Memory {
    capacity: usize,
    tickets: AtomicU64,
    state: Mutex<MemoryState>,
}

#[derive(Default)]
struct MemoryState {
    /// Key → (value, expiry in ms since the epoch).
    entries: HashMap<String, (Vec<u8>, i64)>,
    /// Key → the ticket of its last drop.
    dropped: HashMap<String, u64>,
    /// Every key counts as dropped at this ticket (the last start-over).
    floor: u64,
}

impl Memory {
    fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            tickets: AtomicU64::new(1),
            state: Mutex::new(MemoryState::default()),
        }
    }

    fn lookup(&self, key: &str) -> Lookup {
        let Ok(state) = self.state.lock() else {
            return Lookup::Unavailable;
        };
        let now = crate::time::now_millis();
        match state.entries.get(key) {
            Some((value, expires)) if *expires > now => Lookup::Hit(value.clone()),
            _ => Lookup::Miss(self.tickets.fetch_add(1, Ordering::Relaxed)),
        }
    }

    fn keep(&self, key: &str, ticket: u64, value: Vec<u8>, ttl: Duration) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        let dropped_since = state.floor >= ticket
            || state
                .dropped
                .get(key)
                .is_some_and(|dropped| *dropped >= ticket);
        if dropped_since {
            return;
        }
        if state.entries.len() >= self.capacity && !state.entries.contains_key(key) {
            state.entries.clear();
            state.dropped.clear();
            state.floor = self.tickets.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
        let expires = crate::time::now_millis().saturating_add(ttl_ms);
        state.entries.insert(key.to_owned(), (value, expires));
    }

    fn drop_key(&self, key: &str) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        state.entries.remove(key);
        let ticket = self.tickets.fetch_add(1, Ordering::Relaxed);
        if state.dropped.len() >= self.capacity {
            state.dropped.clear();
            state.floor = ticket;
        } else {
            state.dropped.insert(key.to_owned(), ticket);
        }
    }
}

#[cfg(test)]
mod tests;
