//! Fixed-window counters in this process's memory (the embedded shape).
//!
//! The map is split into shards by key so concurrent callers rarely wait on one lock;
//! each count moves under its shard's lock, so N concurrent hits on one key give the
//! counts 1..=N exactly, and exactly `limit` of them are within the limit. Each entry
//! remembers the end of its window: a hit in a later window starts the count again,
//! and a shard drops entries of past windows now and then, so memory follows the
//! callers of the current window only.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::Mutex;

/// Shards; a power of two well above the core count.
const SHARDS: usize = 64;
/// How often (ms) a shard drops entries of past windows.
const PRUNE_EVERY_MS: i64 = 10_000;

#[derive(Default)]
struct Shard {
    /// Caller key → (end of its window in epoch ms, hits in it).
    counts: HashMap<String, (i64, u64)>,
    next_prune: i64,
}

/// Per-caller hit counts of the current window.
pub(crate) struct MemoryWindows {
    shards: Vec<Mutex<Shard>>,
    hasher: RandomState,
}

impl MemoryWindows {
    /// Empty counters.
    pub(crate) fn new() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            hasher: RandomState::new(),
        }
    }

    /// Counts one hit of `key` in the window ending at `window_end` (epoch ms) and
    /// returns the hits of that window so far, this one included.
    pub(crate) fn hit(&self, key: &str, window_end: i64, now: i64) -> u64 {
        let index = (self.hasher.hash_one(key) as usize) % SHARDS;
        let mut shard = self.shards[index]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if now >= shard.next_prune {
            shard.counts.retain(|_, (end, _)| *end > now);
            shard.next_prune = now.saturating_add(PRUNE_EVERY_MS);
        }
        let entry = shard
            .counts
            .entry(key.to_owned())
            .or_insert((window_end, 0));
        if entry.0 != window_end {
            *entry = (window_end, 0);
        }
        entry.1 = entry.1.saturating_add(1);
        entry.1
    }

    /// How many callers are counted (for tests).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().map(|s| s.counts.len()).unwrap_or(0))
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn counts_per_key_and_start_again_in_the_next_window() {
        let windows = MemoryWindows::new();
        assert_eq!(windows.hit("a", 60_000, 1_000), 1);
        assert_eq!(windows.hit("a", 60_000, 2_000), 2);
        assert_eq!(windows.hit("b", 60_000, 2_000), 1);
        assert_eq!(windows.hit("a", 120_000, 61_000), 1);
    }

    #[test]
    fn past_windows_are_pruned() {
        let windows = MemoryWindows::new();
        for i in 0..200 {
            windows.hit(&format!("caller-{i}"), 60_000, 1_000);
        }
        assert_eq!(windows.len(), 200);
        // 2,000 keys of a later window, after the prune interval, reach every shard
        // (the chance that one of 64 is missed is below 1e-12).
        for i in 0..2_000 {
            windows.hit(&format!("late-{i}"), 120_000, 61_000 + PRUNE_EVERY_MS);
        }
        assert_eq!(windows.len(), 2_000);
    }

    #[test]
    fn concurrent_hits_are_counted_exactly() {
        let windows = Arc::new(MemoryWindows::new());
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let windows = windows.clone();
                std::thread::spawn(move || {
                    (0..1_000)
                        .filter(|_| windows.hit("hot", 60_000, 1_000) <= 5_000)
                        .count()
                })
            })
            .collect();
        let within: usize = threads.into_iter().map(|t| t.join().expect("thread")).sum();
        assert_eq!(within, 5_000);
        assert_eq!(windows.hit("hot", 60_000, 1_000), 8_001);
    }
}
