//! One pool type over SQLite and PostgreSQL, chosen by URL, and per-service migrations.
//!
//! Service code writes one portable SQL text per query (`$1` placeholders work on both
//! engines) against [`Db`]. The differences live here: SQLite gets WAL, a busy timeout,
//! foreign keys and a single writer connection whose transactions start with
//! `BEGIN IMMEDIATE`, so a read-then-write transaction can never fail to upgrade its
//! lock; PostgreSQL gets its database created on first use. Time is stored as `BIGINT`
//! milliseconds since the Unix epoch (UTC) so comparisons are portable.

use std::str::FromStr;
use std::time::Duration;

use sqlx::any::AnyPoolOptions;
use sqlx::{AnyPool, Executor};

/// A transaction on a service's database.
pub type Tx = sqlx::Transaction<'static, sqlx::Any>;

/// The SQL engine behind a [`Db`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// One SQLite file per service (the embedded shape).
    Sqlite,
    /// One PostgreSQL database per service (the distributed shape).
    Postgres,
}

impl Dialect {
    /// The clause that ends a `SELECT` to lock its rows for the rest of the
    /// transaction: ` FOR UPDATE` on PostgreSQL; nothing on SQLite, whose single writer
    /// (`BEGIN IMMEDIATE`) already holds the whole database.
    pub fn row_lock(self) -> &'static str {
        match self {
            Dialect::Postgres => " FOR UPDATE",
            Dialect::Sqlite => "",
        }
    }
}

/// Why the database could not be opened or migrated.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The URL is neither `sqlite:` nor `postgres:`.
    #[error("unsupported database url scheme (use sqlite:// or postgres://)")]
    UnsupportedUrl,
    /// The data directory for a SQLite file could not be created.
    #[error("cannot create the directory for the database file")]
    CreateDir(#[source] std::io::Error),
    /// A migration failed.
    #[error("migration {scope}/{name} failed")]
    Migration {
        /// The service whose migration failed.
        scope: &'static str,
        /// The failing step.
        name: &'static str,
        /// The cause.
        #[source]
        source: sqlx::Error,
    },
    /// Anything the driver reported.
    #[error(transparent)]
    Sql(#[from] sqlx::Error),
}

/// One migration step, written once per dialect.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// Ordering key and name, e.g. `0001_init`.
    pub name: &'static str,
    /// DDL for SQLite.
    pub sqlite: &'static str,
    /// DDL for PostgreSQL.
    pub postgres: &'static str,
}

/// The ordered migrations of one scope (a service, or the platform's own tables).
#[derive(Debug, Clone, Copy)]
pub struct Migrations {
    /// Scope name recorded in `_migrations`.
    pub scope: &'static str,
    /// Steps in the order they apply.
    pub steps: &'static [Migration],
}

/// Declares a migration step from `migrations/sqlite/<name>.sql` and
/// `migrations/postgres/<name>.sql` in the calling crate.
#[macro_export]
macro_rules! migration {
    ($name:literal) => {
        $crate::db::Migration {
            name: $name,
            sqlite: include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/migrations/sqlite/",
                $name,
                ".sql"
            )),
            postgres: include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/migrations/postgres/",
                $name,
                ".sql"
            )),
        }
    };
}

/// The platform's own tables (outbox, inbox, dead letters, idempotency keys, bus
/// cursors), present in every service database.
pub const PLATFORM_MIGRATIONS: Migrations = Migrations {
    scope: "platform",
    steps: &[migration!("0001_platform")],
};

/// A service's database: a read pool and a write pool (the same pool on PostgreSQL).
#[derive(Clone)]
pub struct Db {
    dialect: Dialect,
    read: AnyPool,
    write: AnyPool,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("dialect", &self.dialect)
            .finish()
    }
}

impl Db {
    /// Opens the database at `url`, creating it when missing, and applies the platform's
    /// and then the service's migrations.
    pub async fn connect(url: &str, migrations: &Migrations) -> Result<Self, DbError> {
        sqlx::any::install_default_drivers();
        let db = match Dialect::of_url(url)? {
            Dialect::Sqlite => Self::open_sqlite(url).await?,
            Dialect::Postgres => Self::open_postgres(url).await?,
        };
        db.migrate(&PLATFORM_MIGRATIONS).await?;
        db.migrate(migrations).await?;
        Ok(db)
    }

    async fn open_sqlite(url: &str) -> Result<Self, DbError> {
        let path = sqlite_path(url);
        if let Some(parent) = std::path::Path::new(path).parent()
            && !parent.as_os_str().is_empty()
        {
            std::fs::create_dir_all(parent).map_err(DbError::CreateDir)?;
        }
        let url = if url.contains('?') {
            url.to_owned()
        } else {
            format!("{url}?mode=rwc")
        };
        let options = || {
            AnyPoolOptions::new().after_connect(|conn, _meta| {
                Box::pin(async move {
                    // WAL lets readers run beside the one writer; FULL makes a committed
                    // order survive power loss, not only a process crash.
                    conn.execute(
                        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
                         PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON;",
                    )
                    .await?;
                    Ok(())
                })
            })
        };
        // A single writer connection makes writers queue fairly inside the process
        // instead of spinning in SQLite's busy handler.
        let write = options()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(30))
            .connect(&url)
            .await?;
        let read = options()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(30))
            .connect(&url)
            .await?;
        Ok(Self {
            dialect: Dialect::Sqlite,
            read,
            write,
        })
    }

    async fn open_postgres(url: &str) -> Result<Self, DbError> {
        create_postgres_database_if_missing(url).await?;
        let pool = AnyPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(30))
            .connect(url)
            .await?;
        Ok(Self {
            dialect: Dialect::Postgres,
            read: pool.clone(),
            write: pool,
        })
    }

    /// The engine behind this database.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// The pool for reads outside a transaction.
    pub fn reader(&self) -> &AnyPool {
        &self.read
    }

    /// Starts a write transaction (`BEGIN IMMEDIATE` on SQLite).
    pub async fn begin(&self) -> Result<Tx, sqlx::Error> {
        match self.dialect {
            Dialect::Sqlite => self.write.begin_with("BEGIN IMMEDIATE").await,
            Dialect::Postgres => self.write.begin().await,
        }
    }

    /// Checks the database answers (for readiness).
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT 1")
            .execute(&self.read)
            .await
            .map(|_| ())
    }

    /// Closes both pools, waiting for connections to return.
    pub async fn close(&self) {
        self.read.close().await;
        self.write.close().await;
    }

    /// Applies the steps of `migrations` not applied yet, each in its own transaction.
    pub async fn migrate(&self, migrations: &Migrations) -> Result<(), DbError> {
        self.write
            .execute(
                "CREATE TABLE IF NOT EXISTS _migrations (scope TEXT NOT NULL, name TEXT NOT NULL, \
                 applied_at BIGINT NOT NULL, PRIMARY KEY (scope, name))",
            )
            .await?;
        for step in migrations.steps {
            let fail = |source| DbError::Migration {
                scope: migrations.scope,
                name: step.name,
                source,
            };
            let mut tx = self.begin().await.map_err(fail)?;
            if self.dialect == Dialect::Postgres {
                // Replicas starting together must not apply the same step twice.
                sqlx::query("SELECT pg_advisory_xact_lock(7273012345)")
                    .execute(&mut *tx)
                    .await
                    .map_err(fail)?;
            }
            let applied: Option<i64> = sqlx::query_scalar(
                "SELECT applied_at FROM _migrations WHERE scope = $1 AND name = $2",
            )
            .bind(migrations.scope)
            .bind(step.name)
            .fetch_optional(&mut *tx)
            .await
            .map_err(fail)?;
            if applied.is_some() {
                continue;
            }
            let sql = match self.dialect {
                Dialect::Sqlite => step.sqlite,
                Dialect::Postgres => step.postgres,
            };
            sqlx::raw_sql(sql).execute(&mut *tx).await.map_err(fail)?;
            sqlx::query("INSERT INTO _migrations (scope, name, applied_at) VALUES ($1, $2, $3)")
                .bind(migrations.scope)
                .bind(step.name)
                .bind(crate::time::now_millis())
                .execute(&mut *tx)
                .await
                .map_err(fail)?;
            tx.commit().await.map_err(fail)?;
        }
        Ok(())
    }
}

impl Dialect {
    /// The dialect a database URL names.
    pub fn of_url(url: &str) -> Result<Self, DbError> {
        if url.starts_with("sqlite:") {
            Ok(Self::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self::Postgres)
        } else {
            Err(DbError::UnsupportedUrl)
        }
    }
}

/// The file path inside a `sqlite:` URL.
fn sqlite_path(url: &str) -> &str {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    rest.split('?').next().unwrap_or(rest)
}

/// The `sqlite://` URL of a service's file under a data directory.
pub fn sqlite_url(data_dir: &std::path::Path, service: &str) -> String {
    format!(
        "sqlite://{}",
        data_dir.join(format!("{service}.db")).display()
    )
}

/// Splits a PostgreSQL URL into (URL of the `postgres` maintenance database, database name).
fn split_postgres_url(url: &str) -> Option<(String, String)> {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://")? + 3;
    let slash = base[scheme_end..].find('/')? + scheme_end;
    let name = base[slash + 1..].to_owned();
    if name.is_empty() {
        return None;
    }
    let mut admin = format!("{}/postgres", &base[..slash]);
    if let Some(q) = query {
        admin.push('?');
        admin.push_str(q);
    }
    Some((admin, name))
}

async fn create_postgres_database_if_missing(url: &str) -> Result<(), DbError> {
    let Some((admin_url, name)) = split_postgres_url(url) else {
        return Ok(());
    };
    let options = sqlx::postgres::PgConnectOptions::from_str(&admin_url)?;
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect_with(&options).await?;
    let exists: Option<i32> = sqlx::query_scalar("SELECT 1 FROM pg_database WHERE datname = $1")
        .bind(&name)
        .fetch_optional(&mut conn)
        .await?;
    if exists.is_none() {
        let create = format!("CREATE DATABASE \"{}\"", name.replace('"', "\"\""));
        if let Err(err) = conn.execute(create.as_str()).await {
            // Another process created it between our check and our CREATE.
            let raced = err
                .as_database_error()
                .and_then(|e| e.code())
                .is_some_and(|code| code == "42P04" || code == "23505");
            if !raced {
                return Err(err.into());
            }
        }
    }
    Ok(())
}

/// Drops a PostgreSQL database, disconnecting its sessions (test and tooling support).
pub async fn drop_postgres_database(url: &str) -> Result<(), DbError> {
    let Some((admin_url, name)) = split_postgres_url(url) else {
        return Ok(());
    };
    let options = sqlx::postgres::PgConnectOptions::from_str(&admin_url)?;
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect_with(&options).await?;
    let drop = format!(
        "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
        name.replace('"', "\"\"")
    );
    conn.execute(drop.as_str()).await?;
    Ok(())
}

/// Whether a driver error is a unique-constraint violation (mapped to 409 by callers).
pub fn is_unique_violation(err: &sqlx::Error) -> bool {
    err.as_database_error()
        .is_some_and(|e| e.is_unique_violation())
}

/// The placeholders `($first, $first+1, …)` of an `IN` list of `count` values, or
/// `(NULL)` (which matches nothing) when there are none.
pub fn in_list(first: usize, count: usize) -> String {
    if count == 0 {
        return "(NULL)".to_owned();
    }
    let names: Vec<String> = (first..first + count).map(|i| format!("${i}")).collect();
    format!("({})", names.join(", "))
}

/// Escapes `%`, `_` and `\` for a `LIKE ... ESCAPE '\'` pattern.
pub fn like_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_url_splits_into_admin_url_and_name() {
        assert_eq!(
            split_postgres_url(
                "postgres://postgres@127.0.0.1:5432/viscount_identity?sslmode=disable"
            ),
            Some((
                "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable".to_owned(),
                "viscount_identity".to_owned()
            ))
        );
        assert_eq!(split_postgres_url("postgres://127.0.0.1:5432"), None);
    }

    #[test]
    fn in_lists_number_their_placeholders_and_match_nothing_when_empty() {
        assert_eq!(in_list(3, 2), "($3, $4)");
        assert_eq!(in_list(1, 0), "(NULL)");
    }

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(like_escape(r"100%_a\b"), r"100\%\_a\\b");
    }

    #[test]
    fn sqlite_path_ignores_scheme_and_query() {
        assert_eq!(
            sqlite_path("sqlite://data/identity.db?mode=rwc"),
            "data/identity.db"
        );
        assert_eq!(sqlite_path("sqlite:x.db"), "x.db");
    }
}
