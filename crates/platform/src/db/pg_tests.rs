//! PostgreSQL's pool under cancellation: a `begin()` dropped at any point never leaves
//! its connection inside a transaction for the next user. Skipped without
//! `VISCOUNT_TEST_POSTGRES_URL` (failed instead when `VISCOUNT_TEST_REQUIRE_DISTRIBUTED=1`).

use std::time::Duration;

use sqlx::Row as _;

use super::*;

/// A fresh database's URL on the test server, or `None` (skipped).
fn test_database(purpose: &str) -> Option<String> {
    let Ok(base) = std::env::var("VISCOUNT_TEST_POSTGRES_URL") else {
        assert!(
            std::env::var("VISCOUNT_TEST_REQUIRE_DISTRIBUTED").as_deref() != Ok("1"),
            "PostgreSQL required but VISCOUNT_TEST_POSTGRES_URL is not set"
        );
        eprintln!("SKIPPED: VISCOUNT_TEST_POSTGRES_URL not set");
        return None;
    };
    let suffix = crate::ids::new_id().replace('-', "");
    Some(format!(
        "{}/platform_{purpose}_{}",
        base.trim_end_matches('/'),
        &suffix[16..]
    ))
}

const EMPTY: Migrations = Migrations {
    scope: "empty",
    steps: &[],
};

/// Whether the connection the pool hands out next is outside any transaction: in a
/// statement of its own (the simple protocol, one message), the transaction's start
/// is the statement's start; inside a transaction left open, it is earlier.
async fn next_user_is_outside_a_transaction(db: &Db) -> bool {
    let mut conn = db.reader().acquire().await.expect("acquire");
    let ConnKind::PostgresPooled(conn) = &mut conn.0 else {
        panic!("a PostgreSQL reader leases pooled connections");
    };
    let row = conn
        .fetch_one(sqlx::raw_sql("SELECT now() = statement_timestamp()"))
        .await
        .expect("check");
    row.try_get::<bool, _>(0).expect("a boolean")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_begin_never_leaves_the_next_user_in_a_transaction() {
    let Some(url) = test_database("begin") else {
        return;
    };
    let db = Db::open_postgres_with(&url, 1).await.expect("open");
    db.migrate(&EMPTY).await.expect("migrate");
    let mut cancelled = 0;
    for round in 0..200_u64 {
        // Cut `begin()` off after its first poll (an immediately ready branch wins),
        // then at later and later points: before the lease, after `BEGIN` was sent,
        // while its answer is on the way.
        let begun = if round % 2 == 0 {
            tokio::select! {
                biased;
                tx = db.begin() => Some(tx),
                () = std::future::ready(()) => None,
            }
        } else {
            tokio::time::timeout(Duration::from_micros(round * 10), db.begin())
                .await
                .ok()
        };
        match begun {
            None => cancelled += 1,
            Some(tx) => drop(tx.expect("begin")),
        }
        assert!(
            next_user_is_outside_a_transaction(&db).await,
            "round {round}: the next user of the connection is inside a transaction"
        );
    }
    assert!(
        cancelled > 0,
        "no begin was cancelled: the test proved nothing"
    );

    // And the server agrees: no session of this database is left in a transaction.
    let idle_in_transaction: i64 = query_scalar(
        "SELECT COUNT(*) FROM pg_stat_activity \
         WHERE datname = current_database() AND state LIKE 'idle in transaction%'",
    )
    .fetch_one(db.reader())
    .await
    .expect("activity");
    assert_eq!(idle_in_transaction, 0);
    db.close().await;
    drop_postgres_database(&url).await.expect("drop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_after_cancelled_ones_commits_what_it_wrote() {
    let Some(url) = test_database("begin_commit") else {
        return;
    };
    let db = Db::open_postgres_with(&url, 1).await.expect("open");
    db.migrate(&EMPTY).await.expect("migrate");
    db.execute_alone(query("CREATE TABLE notes (id BIGINT PRIMARY KEY)"))
        .await
        .expect("create");
    for id in 0..50_i64 {
        let _ = tokio::time::timeout(Duration::ZERO, db.begin()).await;
        // A write in autocommit on the same connection is visible to everyone else
        // only if it did not land inside a transaction left open.
        db.execute_alone(query("INSERT INTO notes (id) VALUES ($1)").bind(id))
            .await
            .expect("insert");
    }
    let other = Db::open_postgres_with(&url, 1).await.expect("second pool");
    let seen: i64 = query_scalar("SELECT COUNT(*) FROM notes")
        .fetch_one(other.reader())
        .await
        .expect("count");
    assert_eq!(
        seen, 50,
        "writes after a cancelled begin were not committed"
    );
    other.close().await;
    db.close().await;
    drop_postgres_database(&url).await.expect("drop");
}
