//! The in-memory store of the embedded shape: a map with expiry, bounded so a flood of
//! new visitors cannot grow it without end.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Most records kept; past it, expired ones go first, then the ones nearest expiry.
const MAX_RECORDS: usize = 100_000;

/// Records with their expiry.
#[derive(Default)]
pub struct MemoryStore {
    records: Mutex<HashMap<String, (String, Instant)>>,
}

impl MemoryStore {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (String, Instant)>> {
        // A panic while holding the lock left a map that is still a map.
        self.records
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(super) fn get(&self, key: &str) -> Option<String> {
        let records = self.lock();
        records
            .get(key)
            .filter(|(_, until)| *until > Instant::now())
            .map(|(value, _)| value.clone())
    }

    pub(super) fn put(&self, key: String, value: String, ttl: Duration) {
        let now = Instant::now();
        let mut records = self.lock();
        if records.len() >= MAX_RECORDS && !records.contains_key(&key) {
            records.retain(|_, (_, until)| *until > now);
            if records.len() >= MAX_RECORDS {
                let mut expiries: Vec<Instant> =
                    records.values().map(|(_, until)| *until).collect();
                expiries.sort_unstable();
                let cut = expiries[expiries.len() / 10];
                records.retain(|_, (_, until)| *until > cut);
            }
        }
        records.insert(key, (value, now + ttl));
    }

    /// Puts `value` under `key` only if a live record is there; whether it did.
    pub(super) fn replace(&self, key: &str, value: String, ttl: Duration) -> bool {
        let now = Instant::now();
        match self.lock().get_mut(key).filter(|(_, until)| *until > now) {
            Some(record) => {
                *record = (value, now + ttl);
                true
            }
            None => false,
        }
    }

    /// Puts `owner` under `key` unless a live record is there; whether it did.
    pub(super) fn claim(&self, key: String, owner: &str, ttl: Duration) -> bool {
        let now = Instant::now();
        let mut records = self.lock();
        match records.get(&key) {
            Some((_, until)) if *until > now => false,
            _ => {
                records.insert(key, (owner.to_owned(), now + ttl));
                true
            }
        }
    }

    /// Removes `key` if it holds `owner`.
    pub(super) fn release(&self, key: &str, owner: &str) {
        let mut records = self.lock();
        if records.get(key).is_some_and(|(value, _)| value == owner) {
            records.remove(key);
        }
    }

    pub(super) fn touch(&self, key: &str, ttl: Duration) {
        let now = Instant::now();
        if let Some((_, until)) = self.lock().get_mut(key).filter(|(_, until)| *until > now) {
            *until = now + ttl;
        }
    }

    pub(super) fn take(&self, key: &str) -> Option<String> {
        let mut records = self.lock();
        records
            .remove(key)
            .filter(|(_, until)| *until > Instant::now())
            .map(|(value, _)| value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_expire_and_are_taken_once() {
        let store = MemoryStore::default();
        store.put("a".into(), "1".into(), Duration::from_secs(60));
        store.put("b".into(), "2".into(), Duration::ZERO);
        assert_eq!(store.get("a").as_deref(), Some("1"));
        assert_eq!(store.get("b"), None);
        assert_eq!(store.take("a").as_deref(), Some("1"));
        assert_eq!(store.take("a"), None);
        assert!(
            !store.replace("a", "3".into(), Duration::from_secs(60)),
            "not brought back"
        );
        assert_eq!(store.get("a"), None);
    }

    #[test]
    fn a_claim_is_held_once_until_it_lapses_or_its_owner_lets_go() {
        let store = MemoryStore::default();
        assert!(store.claim("c".into(), "a", Duration::from_secs(60)));
        assert!(!store.claim("c".into(), "b", Duration::from_secs(60)));
        store.release("c", "b");
        assert!(
            !store.claim("c".into(), "b", Duration::from_secs(60)),
            "not b's"
        );
        store.release("c", "a");
        assert!(store.claim("c".into(), "b", Duration::ZERO));
        assert!(
            store.claim("c".into(), "a", Duration::from_secs(60)),
            "lapsed"
        );
    }
}
