//! The cache in memory and, where `VISCOUNT_TEST_REDIS_URL` names one, in Redis: a miss
//! loads and keeps, a hit does not load, a drop makes the next read load, a load that
//! began before a drop is not kept, and Redis failing only costs the cache.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use super::*;

/// Reads `key` through `cache`, counting loads in `loads`, with `value` as the row.
async fn read(cache: &Cache, key: &str, loads: &AtomicUsize, value: &str) -> String {
    cache
        .get_or_load(key, || async {
            loads.fetch_add(1, Ordering::SeqCst);
            Ok::<_, ()>(value.to_owned())
        })
        .await
        .expect("the load does not fail")
}

/// What every store must do.
async fn behaves_as_a_cache(cache: Cache) {
    let loads = AtomicUsize::new(0);
    assert_eq!(read(&cache, "p1", &loads, "v1").await, "v1");
    assert_eq!(read(&cache, "p1", &loads, "changed").await, "v1", "a hit");
    assert_eq!(loads.load(Ordering::SeqCst), 1);
    // Another key is its own.
    assert_eq!(read(&cache, "p2", &loads, "w1").await, "w1");
    assert_eq!(loads.load(Ordering::SeqCst), 2);

    // A change drops the key: the next read loads the new row.
    cache.invalidate("p1").await;
    assert_eq!(read(&cache, "p1", &loads, "v2").await, "v2");
    assert_eq!(read(&cache, "p1", &loads, "v3").await, "v2");
    assert_eq!(loads.load(Ordering::SeqCst), 3);

    // A load that read the row before a change committed is not kept after it.
    let stale = cache
        .get_or_load("p3", || async {
            cache.invalidate("p3").await;
            Ok::<_, ()>("before the change".to_owned())
        })
        .await
        .expect("loads");
    assert_eq!(stale, "before the change");
    assert_eq!(read(&cache, "p3", &loads, "after").await, "after");
    assert_eq!(read(&cache, "p3", &loads, "later").await, "after");

    // A failed load is returned and not kept.
    let failed = cache
        .get_or_load("p4", || async { Err::<String, _>("no database") })
        .await;
    assert_eq!(failed, Err("no database"));
    assert_eq!(read(&cache, "p4", &loads, "x").await, "x");
}

#[tokio::test]
async fn memory_keeps_loads_drops_changes_and_refuses_stale_loads() {
    behaves_as_a_cache(Cache::memory("test", Duration::from_secs(60), 100)).await;
}

#[tokio::test]
async fn memory_entries_expire_and_a_full_store_starts_over() {
    let loads = AtomicUsize::new(0);
    let short = Cache::memory("short", Duration::from_millis(1), 100);
    read(&short, "k", &loads, "a").await;
    // Past the entry's millisecond of life.
    tokio::time::sleep(Duration::from_millis(5)).await;
    read(&short, "k", &loads, "b").await;
    assert_eq!(
        loads.load(Ordering::SeqCst),
        2,
        "an expired entry loads again"
    );

    let small = Cache::memory("small", Duration::from_secs(60), 2);
    let loads = AtomicUsize::new(0);
    for key in ["a", "b", "c", "a", "b"] {
        read(&small, key, &loads, key).await;
    }
    // "c" found the store full and started it over; "a" and "b" then loaded again.
    assert_eq!(loads.load(Ordering::SeqCst), 5);
    assert_eq!(read(&small, "a", &loads, "a").await, "a");
    assert_eq!(loads.load(Ordering::SeqCst), 5, "kept after the start-over");
}

#[tokio::test]
async fn off_always_loads() {
    let cache = Cache::off("off");
    let loads = AtomicUsize::new(0);
    read(&cache, "k", &loads, "a").await;
    read(&cache, "k", &loads, "a").await;
    assert_eq!(loads.load(Ordering::SeqCst), 2);
}

fn test_redis(url: &str) -> Arc<Redis> {
    Arc::new(Redis::open(url, Duration::from_millis(500)).expect("a Redis URL"))
}

#[tokio::test]
async fn redis_keeps_loads_drops_changes_and_refuses_stale_loads() {
    let Ok(url) = std::env::var("VISCOUNT_TEST_REDIS_URL") else {
        eprintln!("skipped: VISCOUNT_TEST_REDIS_URL is not set");
        return;
    };
    let prefix = format!("test:{}:", uuid::Uuid::now_v7().simple());
    let cache = Cache::redis("test", Duration::from_secs(60), test_redis(&url), &prefix);
    behaves_as_a_cache(cache.clone()).await;

    // Another replica (its own connection, the same Redis) sees the same entries and
    // drops.
    let other = Cache::redis("test", Duration::from_secs(60), test_redis(&url), &prefix);
    let loads = AtomicUsize::new(0);
    assert_eq!(read(&other, "p1", &loads, "x").await, "v2");
    other.invalidate("p1").await;
    assert_eq!(read(&cache, "p1", &loads, "v9").await, "v9");
    assert_eq!(loads.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn without_redis_every_read_loads_and_none_fails() {
    // Nothing listens on port 9 (discard) of the loopback here.
    let cache = Cache::redis(
        "gone",
        Duration::from_secs(60),
        test_redis("redis://127.0.0.1:9"),
        "test:",
    );
    let loads = AtomicUsize::new(0);
    assert_eq!(read(&cache, "k", &loads, "a").await, "a");
    cache.invalidate("k").await;
    assert_eq!(read(&cache, "k", &loads, "b").await, "b");
    assert_eq!(loads.load(Ordering::SeqCst), 2);
}
