//! What the webhook path reads on every delivery, kept in memory: sources, tenants'
//! hashing keys and taxonomies. Sources and taxonomies are trusted for the configured
//! time (a change through this process replaces its entry at once; one through another
//! replica is seen when the entry expires). Hashing keys never change. Each map is
//! bounded: past [`CAPACITY`] entries it starts over, so deliveries naming made-up
//! tenants cannot grow it.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use contracts::ingestion::Provider;

use crate::domain::payload::CustomerRefKey;
use crate::domain::source::Source;
use crate::domain::taxonomy::Taxonomy;

/// Most entries of one map.
pub const CAPACITY: usize = 10_000;

/// A bounded map of values read at an instant.
struct Timed<K, V> {
    entries: Mutex<HashMap<K, (Instant, V)>>,
}

impl<K: Eq + Hash, V: Clone> Timed<K, V> {
    fn new() -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn get(&self, key: &K, ttl: Option<Duration>) -> Option<V> {
        let entries = self.entries.lock().ok()?;
        let (at, value) = entries.get(key)?;
        match ttl {
            Some(ttl) if at.elapsed() >= ttl => None,
            _ => Some(value.clone()),
        }
    }

    fn put(&self, key: K, value: V) {
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= CAPACITY {
                entries.clear();
            }
            entries.insert(key, (Instant::now(), value));
        }
    }
}

/// The webhook path's memory.
pub struct Cache {
    ttl: Duration,
    sources: Timed<(String, Provider), Option<Arc<Source>>>,
    keys: Timed<String, Arc<CustomerRefKey>>,
    taxonomies: Timed<String, Arc<Taxonomy>>,
    certificates: Timed<String, Arc<String>>,
}

impl Cache {
    /// An empty cache trusting entries for `ttl`.
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            sources: Timed::new(),
            keys: Timed::new(),
            taxonomies: Timed::new(),
            certificates: Timed::new(),
        }
    }

    /// A source read less than the TTL ago (`Some(None)`: known to be unconfigured).
    pub fn source(&self, tenant_id: &str, provider: Provider) -> Option<Option<Arc<Source>>> {
        self.sources
            .get(&(tenant_id.to_owned(), provider), Some(self.ttl))
    }

    /// Remembers a source as read (or written) now.
    pub fn put_source(&self, tenant_id: &str, provider: Provider, source: Option<Arc<Source>>) {
        self.sources.put((tenant_id.to_owned(), provider), source);
    }

    /// A tenant's hashing key.
    pub fn key(&self, tenant_id: &str) -> Option<Arc<CustomerRefKey>> {
        self.keys.get(&tenant_id.to_owned(), None)
    }

    /// Remembers a tenant's hashing key.
    pub fn put_key(&self, tenant_id: &str, key: Arc<CustomerRefKey>) {
        self.keys.put(tenant_id.to_owned(), key);
    }

    /// The taxonomy in force for a tenant, read less than the TTL ago.
    pub fn taxonomy(&self, tenant_id: &str) -> Option<Arc<Taxonomy>> {
        self.taxonomies.get(&tenant_id.to_owned(), Some(self.ttl))
    }

    /// Remembers the taxonomy in force for a tenant.
    pub fn put_taxonomy(&self, tenant_id: &str, taxonomy: Arc<Taxonomy>) {
        self.taxonomies.put(tenant_id.to_owned(), taxonomy);
    }

    /// Forgets every tenant's taxonomy (the platform's changed, and tenants without
    /// their own follow it).
    pub fn forget_taxonomies(&self) {
        if let Ok(mut entries) = self.taxonomies.entries.lock() {
            entries.clear();
        }
    }

    /// A PayPal certificate fetched from `url` within the last day.
    pub fn certificate(&self, url: &str) -> Option<Arc<String>> {
        self.certificates
            .get(&url.to_owned(), Some(Duration::from_secs(24 * 3600)))
    }

    /// Remembers a fetched certificate.
    pub fn put_certificate(&self, url: &str, pem: Arc<String>) {
        self.certificates.put(url.to_owned(), pem);
    }
}
