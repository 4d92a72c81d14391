//! Where cached answers live: this process's memory (embedded shape) or Redis
//! (distributed shape, shared by every gateway replica).
//!
//! Both stores key entries by a generation: dropping everything is moving to the next
//! generation (an atomic here, `INCR` of one key in Redis), after which older entries
//! are never served and age out. A request reads the generation with its lookup and
//! stores what it fetched under that one, so an answer fetched before a change was
//! announced can never be stored as current after it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use bytes::Bytes;

use platform::redis::{BackendError, Redis};

/// Longest an entry lives in Redis whatever the configured TTL, so the generation key
/// (which lives [`GENERATION_EXPIRY_MS`]) always outlives the entries made under it.
const MAX_REDIS_TTL_MS: u64 = 3600 * 1000;
/// How long the generation key lives after its last change. If it expires, the
/// generation starts again at 0, when every entry of that earlier generation 0 is long
/// gone.
const GENERATION_EXPIRY_MS: u64 = 24 * 3600 * 1000;

/// Reads the generation and the entry of that generation in one round trip. The entry's
/// key is built inside the script (it depends on the generation), which a single Redis
/// server allows and a Redis Cluster would not.
const LOOKUP_SCRIPT: &str = r"
local generation = redis.call('GET', KEYS[1]) or '0'
local entry = redis.call('GET', ARGV[1] .. generation .. ':' .. ARGV[2])
return {generation, entry}
";

/// Moves to the next generation and keeps the key alive.
const BUMP_SCRIPT: &str = r"
local generation = redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return generation
";

/// A cached `200` answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    /// `Content-Type` of the answer.
    pub content_type: Option<String>,
    /// `Cache-Control` of the answer.
    pub cache_control: Option<String>,
    /// The strong ETag of the body.
    pub etag: String,
    /// The body.
    pub body: Bytes,
}

impl Entry {
    /// The bytes stored in Redis: the three header lines, then the body.
    fn encode(&self) -> Vec<u8> {
        let head = format!(
            "v1\n{}\n{}\n{}\n",
            self.content_type.as_deref().unwrap_or(""),
            self.cache_control.as_deref().unwrap_or(""),
            self.etag
        );
        let mut bytes = Vec::with_capacity(head.len() + self.body.len());
        bytes.extend_from_slice(head.as_bytes());
        bytes.extend_from_slice(&self.body);
        bytes
    }

    /// The entry of [`Entry::encode`]'s bytes; `None` for anything else (an entry
    /// another version wrote), which is then a miss. Header values cannot hold a line
    /// break, so the lines are unambiguous.
    fn decode(bytes: &[u8]) -> Option<Self> {
        let mut parts = bytes.splitn(5, |b| *b == b'\n');
        if parts.next()? != b"v1" {
            return None;
        }
        let mut line = || -> Option<String> {
            let text = std::str::from_utf8(parts.next()?).ok()?;
            Some(text.to_owned())
        };
        let content_type = line().filter(|t| !t.is_empty());
        let cache_control = line().filter(|t| !t.is_empty());
        let etag = line()?;
        let body = Bytes::copy_from_slice(parts.next()?);
        Some(Self {
            content_type,
            cache_control,
            etag,
            body,
        })
    }
}

/// What a lookup found.
pub(crate) struct Lookup {
    /// The generation now; what the caller fetches is stored under it.
    pub generation: u64,
    /// The current entry, if fresh.
    pub entry: Option<Arc<Entry>>,
}

/// The two stores.
pub(crate) enum Store {
    Memory(MemoryEntries),
    Redis {
        redis: Arc<Redis>,
        prefix: String,
        lookup: redis::Script,
        bump: redis::Script,
    },
}

impl Store {
    /// Entries in this process.
    pub(crate) fn memory() -> Self {
        Store::Memory(MemoryEntries::default())
    }

    /// Entries in `redis` under `prefix`.
    pub(crate) fn redis(redis: Arc<Redis>, prefix: String) -> Self {
        Store::Redis {
            redis,
            prefix,
            lookup: redis::Script::new(LOOKUP_SCRIPT),
            bump: redis::Script::new(BUMP_SCRIPT),
        }
    }

    /// The current generation and `key`'s entry in it, if younger than `ttl_ms`.
    pub(crate) async fn lookup(
        &self,
        key: &str,
        ttl_ms: u64,
        now: i64,
    ) -> Result<Lookup, BackendError> {
        match self {
            Store::Memory(entries) => Ok(entries.lookup(key, ttl_ms, now)),
            Store::Redis {
                redis,
                prefix,
                lookup,
                ..
            } => {
                let generation_key = format!("{prefix}cache:generation");
                let entry_prefix = format!("{prefix}cache:");
                let (generation, entry): (String, Option<Vec<u8>>) = redis
                    .call(|mut connection| async move {
                        lookup
                            .key(&generation_key)
                            .arg(&entry_prefix)
                            .arg(key)
                            .invoke_async(&mut connection)
                            .await
                    })
                    .await?;
                Ok(Lookup {
                    generation: generation.parse().unwrap_or(0),
                    entry: entry.as_deref().and_then(Entry::decode).map(Arc::new),
                })
            }
        }
    }

    /// Keeps `entry` as `key`'s answer of `generation` for `ttl_ms`; nothing when the
    /// generation has moved on meanwhile.
    pub(crate) async fn store(
        &self,
        key: &str,
        generation: u64,
        entry: Entry,
        ttl_ms: u64,
        max_entries: usize,
        now: i64,
    ) -> Result<(), BackendError> {
        match self {
            Store::Memory(entries) => {
                entries.store(key, generation, entry, ttl_ms, max_entries, now);
                Ok(())
            }
            Store::Redis { redis, prefix, .. } => {
                let entry_key = format!("{prefix}cache:{generation}:{key}");
                let bytes = entry.encode();
                let ttl = ttl_ms.clamp(1, MAX_REDIS_TTL_MS);
                redis
                    .call(|mut connection| async move {
                        redis::cmd("SET")
                            .arg(&entry_key)
                            .arg(bytes)
                            .arg("PX")
                            .arg(ttl)
                            .query_async::<()>(&mut connection)
                            .await
                    })
                    .await
            }
        }
    }

    /// Drops every entry: moves to the next generation.
    pub(crate) async fn bump(&self) -> Result<(), BackendError> {
        match self {
            Store::Memory(entries) => {
                entries.generation.fetch_add(1, Ordering::AcqRel);
                Ok(())
            }
            Store::Redis {
                redis,
                prefix,
                bump,
                ..
            } => {
                let generation_key = format!("{prefix}cache:generation");
                redis
                    .call(|mut connection| async move {
                        bump.key(&generation_key)
                            .arg(GENERATION_EXPIRY_MS)
                            .invoke_async::<u64>(&mut connection)
                            .await
                    })
                    .await
                    .map(|_| ())
            }
        }
    }
}

/// Entries in this process's memory.
#[derive(Default)]
pub(crate) struct MemoryEntries {
    generation: AtomicU64,
    entries: RwLock<HashMap<String, Stored>>,
}

/// One entry in memory.
struct Stored {
    /// The generation it was made in.
    generation: u64,
    /// When it was stored, epoch ms.
    at: i64,
    entry: Arc<Entry>,
}

impl Stored {
    fn is_current(&self, generation: u64, ttl_ms: u64, now: i64) -> bool {
        let ttl = i64::try_from(ttl_ms).unwrap_or(i64::MAX);
        self.generation == generation && now.saturating_sub(self.at) < ttl
    }
}

impl MemoryEntries {
    fn lookup(&self, key: &str, ttl_ms: u64, now: i64) -> Lookup {
        let generation = self.generation.load(Ordering::Acquire);
        let entry = self.entries.read().ok().and_then(|entries| {
            entries
                .get(key)
                .filter(|stored| stored.is_current(generation, ttl_ms, now))
                .map(|stored| stored.entry.clone())
        });
        Lookup { generation, entry }
    }

    fn store(
        &self,
        key: &str,
        generation: u64,
        entry: Entry,
        ttl_ms: u64,
        max_entries: usize,
        now: i64,
    ) {
        let mut entries = self
            .entries
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        // Checked under the lock: a bump between this request's lookup and now means
        // what it fetched may predate the change.
        let current = self.generation.load(Ordering::Acquire);
        if generation != current {
            return;
        }
        if entries.len() >= max_entries && !entries.contains_key(key) {
            entries.retain(|_, stored| stored.is_current(current, ttl_ms, now));
            if entries.len() >= max_entries {
                entries.clear();
            }
        }
        entries.insert(
            key.to_owned(),
            Stored {
                generation,
                at: now,
                entry: Arc::new(entry),
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(body: &'static str) -> Entry {
        Entry {
            content_type: Some("application/json".into()),
            cache_control: None,
            etag: "\"abc\"".into(),
            body: Bytes::from_static(body.as_bytes()),
        }
    }

    #[test]
    fn an_entry_reads_back_from_its_redis_bytes() {
        let original = entry("{\"name\":\"line\\nbreak\"}\n");
        assert_eq!(Entry::decode(&original.encode()), Some(original));
        assert_eq!(Entry::decode(b"v0\nx\ny\nz\nbody"), None);
        assert_eq!(Entry::decode(b"v1\ntruncated"), None);
    }

    #[tokio::test]
    async fn entries_expire_and_a_bump_drops_them_all() {
        let store = Store::memory();
        let found = store.lookup("/a", 1_000, 0).await.expect("lookup");
        assert!(found.entry.is_none());
        store
            .store("/a", found.generation, entry("a"), 1_000, 10, 0)
            .await
            .expect("store");
        let hit = store.lookup("/a", 1_000, 999).await.expect("lookup");
        assert_eq!(hit.entry.map(|e| e.body.clone()), Some(Bytes::from("a")));
        assert!(
            store
                .lookup("/a", 1_000, 1_000)
                .await
                .expect("lookup")
                .entry
                .is_none()
        );

        store.bump().await.expect("bump");
        let after = store.lookup("/a", 1_000, 10).await.expect("lookup");
        assert!(after.entry.is_none());
        assert_eq!(after.generation, found.generation + 1);
        // What was fetched before the bump is not stored as current.
        store
            .store("/a", found.generation, entry("old"), 1_000, 10, 10)
            .await
            .expect("store");
        assert!(
            store
                .lookup("/a", 1_000, 10)
                .await
                .expect("lookup")
                .entry
                .is_none()
        );
    }

    #[tokio::test]
    async fn the_memory_store_stays_within_its_bound() {
        let store = Store::memory();
        for i in 0..25 {
            store
                .store(&format!("/k{i}"), 0, entry("x"), 60_000, 10, 0)
                .await
                .expect("store");
        }
        let Store::Memory(entries) = &store else {
            panic!("memory store");
        };
        let kept = entries.entries.read().map(|e| e.len()).unwrap_or(0);
        assert!(kept <= 10, "{kept} entries kept");
    }
}
