//! Migrations through refinery, on SQLite and on PostgreSQL: each step applies once and
//! is checksummed; an edited, unknown or skipped step stops the start with an error
//! naming it; databases of the earlier runner are adopted once; replicas starting
//! together apply each step once. The PostgreSQL cases are skipped without
//! `VISCOUNT_TEST_POSTGRES_URL` (failed instead when `VISCOUNT_TEST_REQUIRE_DISTRIBUTED=1`).

use platform::db::{
    Db, DbError, Migration, Migrations, PLATFORM_MIGRATIONS, drop_postgres_database, query,
    query_scalar, sqlite_url,
};

const NOTES: Migration = Migration {
    name: "0001_notes",
    sqlite: "CREATE TABLE notes (id BIGINT PRIMARY KEY);",
    postgres: "CREATE TABLE notes (id BIGINT PRIMARY KEY);",
};

const BODIES: Migration = Migration {
    name: "0002_note_bodies",
    sqlite: "ALTER TABLE notes ADD COLUMN body TEXT;",
    postgres: "ALTER TABLE notes ADD COLUMN body TEXT;",
};

const TAGS: Migration = Migration {
    name: "0003_tags",
    sqlite: "CREATE TABLE tags (name TEXT PRIMARY KEY);",
    postgres: "CREATE TABLE tags (name TEXT PRIMARY KEY);",
};

const V1: Migrations = Migrations {
    scope: "notes",
    steps: &[NOTES],
};

const V2: Migrations = Migrations {
    scope: "notes",
    steps: &[NOTES, BODIES],
};

/// `0001_notes` edited after it was applied (a column added in place), and a new step.
const EDITED: Migrations = Migrations {
    scope: "notes",
    steps: &[
        Migration {
            name: "0001_notes",
            sqlite: "CREATE TABLE notes (id BIGINT PRIMARY KEY, pinned BOOLEAN);",
            postgres: "CREATE TABLE notes (id BIGINT PRIMARY KEY, pinned BOOLEAN);",
        },
        BODIES,
    ],
};

/// A good step, then one that fails.
const BROKEN: Migrations = Migrations {
    scope: "notes",
    steps: &[
        NOTES,
        Migration {
            name: "0002_broken",
            sqlite: "ALTER TABLE no_such_table ADD COLUMN body TEXT;",
            postgres: "ALTER TABLE no_such_table ADD COLUMN body TEXT;",
        },
    ],
};

/// A database of one test: a SQLite file in its own directory, or a PostgreSQL
/// database of its own, dropped at the end.
struct TestDb {
    url: String,
    postgres: bool,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        Self {
            url: sqlite_url(dir.path(), "notes"),
            postgres: false,
            _dir: Some(dir),
        }
    }

    fn postgres() -> Option<Self> {
        let Ok(base) = std::env::var("VISCOUNT_TEST_POSTGRES_URL") else {
            assert!(
                std::env::var("VISCOUNT_TEST_REQUIRE_DISTRIBUTED").as_deref() != Ok("1"),
                "PostgreSQL required but VISCOUNT_TEST_POSTGRES_URL is not set"
            );
            eprintln!("SKIPPED: VISCOUNT_TEST_POSTGRES_URL not set");
            return None;
        };
        let suffix = platform::ids::new_id().replace('-', "");
        Some(Self {
            url: format!(
                "{}/platform_migrations_{}",
                base.trim_end_matches('/'),
                &suffix[16..]
            ),
            postgres: true,
            _dir: None,
        })
    }

    async fn connect(&self, migrations: &Migrations) -> Result<Db, DbError> {
        Db::connect(&self.url, migrations).await
    }

    async fn finish(self) {
        if self.postgres {
            drop_postgres_database(&self.url).await.expect("drop");
        }
    }
}

/// The versions a scope's history table records, in order.
async fn history(db: &Db, scope: &str) -> Vec<i64> {
    query_scalar(&format!(
        "SELECT version FROM _migrations_{scope} ORDER BY version"
    ))
    .fetch_all(db.reader())
    .await
    .expect("history")
}

async fn table_exists(db: &Db, table: &str) -> bool {
    query(&format!("SELECT 1 FROM {table} LIMIT 1"))
        .fetch_optional(db.reader())
        .await
        .is_ok()
}

/// Migrates `test`'s database as the runner before refinery did: one `_migrations`
/// table of (scope, name, applied_at), each step applied and recorded there, the
/// platform's first and then `service`'s.
async fn migrate_like_the_earlier_runner(test: &TestDb, service: &Migrations) {
    let mut scripts = vec![
        "CREATE TABLE IF NOT EXISTS _migrations (scope TEXT NOT NULL, name TEXT NOT NULL, \
         applied_at BIGINT NOT NULL, PRIMARY KEY (scope, name));"
            .to_owned(),
    ];
    for scope in [&PLATFORM_MIGRATIONS, service] {
        for step in scope.steps {
            scripts.push(
                if test.postgres {
                    step.postgres
                } else {
                    step.sqlite
                }
                .to_owned(),
            );
            scripts.push(format!(
                "INSERT INTO _migrations (scope, name, applied_at) \
                 VALUES ('{}', '{}', 1700000000000);",
                scope.scope, step.name
            ));
        }
    }
    scripts.push("INSERT INTO notes (id) VALUES (7);".to_owned());
    let script = scripts.join("\n");
    if test.postgres {
        use sqlx::{Connection as _, Executor as _};
        let (server, name) = test.url.rsplit_once('/').expect("a database name");
        let mut admin = sqlx::PgConnection::connect(&format!("{server}/postgres"))
            .await
            .expect("admin connection");
        admin
            .execute(format!("CREATE DATABASE \"{name}\"").as_str())
            .await
            .expect("create database");
        let mut conn = sqlx::PgConnection::connect(&test.url)
            .await
            .expect("connect");
        conn.execute(sqlx::raw_sql(&script)).await.expect("legacy");
        conn.close().await.expect("close");
    } else {
        let path = test.url.trim_start_matches("sqlite://");
        let conn = rusqlite::Connection::open(path).expect("open");
        conn.execute_batch(&script).expect("legacy");
    }
}

async fn steps_apply_once_and_each_scope_keeps_its_own_history(test: TestDb) {
    let db = test.connect(&V1).await.expect("first start");
    assert_eq!(history(&db, "notes").await, vec![1]);
    assert!(!history(&db, "platform").await.is_empty());
    db.close().await;

    let db = test.connect(&V2).await.expect("start with a new step");
    assert_eq!(history(&db, "notes").await, vec![1, 2]);
    db.execute_alone(
        query("INSERT INTO notes (id, body) VALUES ($1, $2)")
            .bind(1_i64)
            .bind("the new column"),
    )
    .await
    .expect("the second step applied");
    db.close().await;

    let db = test
        .connect(&V2)
        .await
        .expect("start with nothing to apply");
    assert_eq!(history(&db, "notes").await, vec![1, 2]);
    db.close().await;
    test.finish().await;
}

async fn an_edited_applied_migration_stops_the_start(test: TestDb) {
    let db = test.connect(&V1).await.expect("first start");
    db.close().await;

    let refused = test
        .connect(&EDITED)
        .await
        .expect_err("an edited step must stop the start");
    let message = refused.to_string();
    match &refused {
        DbError::MigrationChanged {
            scope,
            name,
            checksum,
            applied_checksum,
        } => {
            assert_eq!(*scope, "notes");
            assert_eq!(name, "0001_notes");
            assert_ne!(checksum, applied_checksum);
        }
        other => panic!("expected MigrationChanged, got {other:?}"),
    }
    assert!(message.contains("notes/0001_notes"), "{message}");
    assert!(message.contains("checksum"), "{message}");

    // Nothing of the refused run was applied.
    let db = test
        .connect(&V1)
        .await
        .expect("the unedited build still starts");
    assert_eq!(history(&db, "notes").await, vec![1]);
    assert!(
        db.execute_alone(query("INSERT INTO notes (id, body) VALUES (1, 'x')"))
            .await
            .is_err(),
        "the step after the edited one was applied"
    );
    db.close().await;
    test.finish().await;
}

async fn a_database_of_the_earlier_runner_is_adopted_once(test: TestDb) {
    migrate_like_the_earlier_runner(&test, &V1).await;

    let db = test.connect(&V2).await.expect("start on a legacy database");
    assert_eq!(
        history(&db, "notes").await,
        vec![1, 2],
        "adopted, then applied"
    );
    let platform_steps = PLATFORM_MIGRATIONS.steps.len();
    assert_eq!(history(&db, "platform").await.len(), platform_steps);
    let kept: Vec<i64> = query_scalar("SELECT id FROM notes")
        .fetch_all(db.reader())
        .await
        .expect("notes");
    assert_eq!(kept, vec![7], "the data of the legacy database is kept");
    let legacy: i64 = query_scalar("SELECT COUNT(*) FROM _migrations")
        .fetch_one(db.reader())
        .await
        .expect("legacy rows");
    assert_eq!(legacy, i64::try_from(platform_steps + 1).expect("small"));
    db.close().await;

    // Adopted once: a later start neither records the steps again nor re-applies them.
    let db = test.connect(&V2).await.expect("second start");
    assert_eq!(history(&db, "notes").await, vec![1, 2]);
    db.close().await;

    // The adopted step carries this build's checksum, so an edit is caught.
    let refused = test
        .connect(&EDITED)
        .await
        .expect_err("edited after adoption");
    assert!(
        matches!(&refused, DbError::MigrationChanged { name, .. } if name == "0001_notes"),
        "{refused:?}"
    );
    test.finish().await;
}

async fn a_step_the_build_lacks_stops_the_start(test: TestDb) {
    test.connect(&V2).await.expect("newer build").close().await;
    let refused = test.connect(&V1).await.expect_err("older build");
    assert!(
        matches!(&refused, DbError::MigrationUnknown { scope: "notes", name } if name == "0002_note_bodies"),
        "{refused:?}"
    );
    assert!(refused.to_string().contains("notes/0002_note_bodies"));
    test.finish().await;
}

async fn a_step_numbered_below_the_last_applied_stops_the_start(test: TestDb) {
    let without = Migrations {
        scope: "notes",
        steps: &[NOTES, TAGS],
    };
    test.connect(&without)
        .await
        .expect("first start")
        .close()
        .await;
    let with = Migrations {
        scope: "notes",
        steps: &[NOTES, BODIES, TAGS],
    };
    let refused = test
        .connect(&with)
        .await
        .expect_err("a step slipped in below");
    assert!(
        matches!(&refused, DbError::MigrationSkipped { scope: "notes", name } if name == "0002_note_bodies"),
        "{refused:?}"
    );
    test.finish().await;
}

async fn a_failing_step_undoes_the_whole_run(test: TestDb) {
    let refused = test.connect(&BROKEN).await.expect_err("a broken step");
    assert!(
        matches!(
            &refused,
            DbError::Migration {
                scope: "notes",
                name: "0002_broken",
                ..
            }
        ),
        "{refused:?}"
    );
    let db = test.connect(&V1).await.expect("a good build starts");
    assert_eq!(history(&db, "notes").await, vec![1]);
    assert!(table_exists(&db, "notes").await);
    db.close().await;
    test.finish().await;
}

/// Runs each case on SQLite and, when configured, on PostgreSQL.
macro_rules! on_both_databases {
    ($($case:ident),* $(,)?) => {
        $(
            mod $case {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$case(super::TestDb::sqlite()).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    if let Some(test) = super::TestDb::postgres() {
                        super::$case(test).await;
                    }
                }
            }
        )*
    };
}

on_both_databases!(
    steps_apply_once_and_each_scope_keeps_its_own_history,
    an_edited_applied_migration_stops_the_start,
    a_database_of_the_earlier_runner_is_adopted_once,
    a_step_the_build_lacks_stops_the_start,
    a_step_numbered_below_the_last_applied_stops_the_start,
    a_failing_step_undoes_the_whole_run,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_starting_together_on_postgres_apply_each_step_once() {
    let Some(test) = TestDb::postgres() else {
        return;
    };
    // The database exists before the race, as it does when a deployment starts replicas.
    test.connect(&Migrations {
        scope: "empty",
        steps: &[],
    })
    .await
    .expect("create")
    .close()
    .await;
    let starts = (0..4).map(|_| test.connect(&V2));
    let dbs = futures_util::future::join_all(starts).await;
    for db in dbs {
        let db = db.expect("every replica starts");
        assert_eq!(history(&db, "notes").await, vec![1, 2]);
        db.close().await;
    }
    test.finish().await;
}
