//! One database type over SQLite and PostgreSQL, chosen by URL, and per-service migrations.
//!
//! Service code writes one portable SQL text per query (`$1` placeholders work on both
//! engines) through [`query`] against a [`Db`]'s read side, a leased [`Conn`] or a
//! [`Tx`]. The differences live here: SQLite (the embedded shape) gets WAL, a busy
//! timeout, foreign keys, statements run in place and one writer whose transactions are
//! savepoints committed in groups ([`sqlite`]); PostgreSQL (the distributed shape) gets
//! sqlx's native driver with a pool, and its database created on first use. Time is
//! stored as `BIGINT` milliseconds since the Unix epoch (UTC) so comparisons are
//! portable. Migrations run through refinery, which checks every applied step's
//! checksum ([`migrate`](self::Db::migrate)).

mod migrate;
#[cfg(test)]
mod pg_tests;
mod query;
mod sqlite;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::{Executor as _, Postgres};
use tracing::Instrument;

pub use query::{
    BoxDynError, ColumnIndex, Decode, Done, Encode, Error, Exec, Executor, Kind, Query,
    QueryScalar, Row, Value, decoded, named, query, query_scalar,
};

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
    /// already holds the whole database.
    pub fn row_lock(self) -> &'static str {
        match self {
            Dialect::Postgres => " FOR UPDATE",
            Dialect::Sqlite => "",
        }
    }

    /// Like [`Dialect::row_lock`], locking only the rows of `table` (a name or alias)
    /// in a join: PostgreSQL cannot lock the nullable side of an outer join.
    pub fn row_lock_of(self, table: &str) -> String {
        match self {
            Dialect::Postgres => format!(" FOR UPDATE OF {table}"),
            Dialect::Sqlite => String::new(),
        }
    }

    /// Like [`Dialect::row_lock`], but rows another transaction holds are left out
    /// instead of waited for (` FOR UPDATE SKIP LOCKED`): for work queues, where a
    /// busy row is taken by a later pass.
    pub fn row_lock_skip_locked(self) -> &'static str {
        match self {
            Dialect::Postgres => " FOR UPDATE SKIP LOCKED",
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
    /// [`Db::open_existing`] found no database there.
    #[error("no database at {0}")]
    Missing(String),
    /// The data directory for a SQLite file could not be created.
    #[error("cannot create the directory for the database file")]
    CreateDir(#[source] std::io::Error),
    /// A migration failed.
    #[error("migration {scope}/{name} failed")]
    Migration {
        /// The service whose migration failed.
        scope: &'static str,
        /// The failing step (`history` when reading or writing the history failed).
        name: &'static str,
        /// The cause.
        #[source]
        source: Error,
    },
    /// A migration this database already applied is not the one in this build: it was
    /// edited (or renamed) after it ran, so the schema may not be what the code expects.
    #[error(
        "migration {scope}/{name} was changed after it was applied: its checksum is \
         {checksum} but {applied_checksum} was recorded when it ran (restore it and put \
         the change in a new migration)"
    )]
    MigrationChanged {
        /// The service whose migration changed.
        scope: &'static str,
        /// The step, as its file is named (`0003_x`).
        name: String,
        /// The checksum of this build's text.
        checksum: u64,
        /// The checksum recorded when the step was applied.
        applied_checksum: u64,
    },
    /// The database records a migration this build does not have (the database was
    /// migrated by a newer build, or a step was deleted).
    #[error(
        "migration {scope}/{name} was applied to this database but this build does not \
         have it (was the database migrated by a newer version?)"
    )]
    MigrationUnknown {
        /// The service whose history holds it.
        scope: &'static str,
        /// The step, as its file would be named.
        name: String,
    },
    /// A migration of this build was never applied, yet a later one was: it was added
    /// with a number below the last applied one, and applying it now would run it out
    /// of order.
    #[error(
        "migration {scope}/{name} was never applied but a later one was (give it a \
         number after the last applied migration)"
    )]
    MigrationSkipped {
        /// The service the step belongs to.
        scope: &'static str,
        /// The step.
        name: String,
    },
    /// Anything the engine reported.
    #[error(transparent)]
    Sql(#[from] Error),
}

impl From<sqlx::Error> for DbError {
    fn from(err: sqlx::Error) -> Self {
        DbError::Sql(err.into())
    }
}

/// One migration step, written once per dialect. Once applied, its text must not
/// change: the database keeps its checksum, and a changed step stops the start.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// Number and name, e.g. `0001_init` (refinery's `V1__init`): digits, `_`, then
    /// ASCII letters, digits and `_`.
    pub name: &'static str,
    /// DDL for SQLite.
    pub sqlite: &'static str,
    /// DDL for PostgreSQL.
    pub postgres: &'static str,
}

/// The ordered migrations of one scope (a service, or the platform's own tables).
#[derive(Debug, Clone, Copy)]
pub struct Migrations {
    /// Scope name; its history is the table `_migrations_<scope>`.
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
    steps: &[
        migration!("0001_platform"),
        migration!("0002_retention"),
        migration!("0003_dead_letter_desk"),
    ],
};

/// The connections of a PostgreSQL pool at one moment ([`Db::pool_usage`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolUsage {
    /// Open connections, in use or idle.
    pub size: u32,
    /// Idle ones.
    pub idle: usize,
    /// The most it opens.
    pub max: u32,
}

/// A service's database. Cheap to clone.
#[derive(Clone)]
pub struct Db {
    dialect: Dialect,
    reader: Reader,
    engine: Engine,
}

#[derive(Clone)]
enum Engine {
    Sqlite(Arc<sqlite::Sqlite>),
    Postgres(PgPool),
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("dialect", &self.dialect)
            .finish()
    }
}

/// The read side of a [`Db`]: each query on it leases a connection for itself; see
/// [`Reader::acquire`] to keep one for several.
#[derive(Clone)]
pub struct Reader(ReaderKind);

#[derive(Clone)]
enum ReaderKind {
    Sqlite(Arc<sqlite::ReaderPool>),
    Postgres(PgPool),
}

impl Reader {
    /// A connection for several reads in a row.
    pub async fn acquire(&self) -> Result<Conn, Error> {
        match &self.0 {
            ReaderKind::Sqlite(pool) => Ok(Conn(ConnKind::SqliteRead(pool.lease()?))),
            ReaderKind::Postgres(pool) => Ok(Conn(ConnKind::PostgresPooled(pool.acquire().await?))),
        }
    }
}

/// A connection held by its user: a transaction's, or one leased from a [`Reader`].
pub struct Conn(ConnKind);

enum ConnKind {
    SqliteWrite(sqlite::WriteLease),
    SqliteRead(sqlite::ReadLease),
    PostgresTx(sqlx::Transaction<'static, Postgres>),
    PostgresPooled(sqlx::pool::PoolConnection<Postgres>),
}

impl Conn {
    async fn execute(&mut self, query: Query<'_>) -> Result<Done, Error> {
        let span = statement_span(self.system(), query.sql);
        async {
            match &mut self.0 {
                ConnKind::SqliteWrite(lease) => lease.run(&query, Some(0)).map(sqlite::done),
                ConnKind::SqliteRead(lease) => lease.run(&query, Some(0)).map(sqlite::done),
                ConnKind::PostgresTx(tx) => postgres_execute(tx, query).await,
                ConnKind::PostgresPooled(conn) => postgres_execute(conn, query).await,
            }
        }
        .instrument(span)
        .await
    }

    async fn fetch(&mut self, query: Query<'_>, limit: Option<usize>) -> Result<Vec<Row>, Error> {
        let span = statement_span(self.system(), query.sql);
        async {
            match &mut self.0 {
                ConnKind::SqliteWrite(lease) => lease.run(&query, limit).map(|(rows, _)| rows),
                ConnKind::SqliteRead(lease) => lease.run(&query, limit).map(|(rows, _)| rows),
                ConnKind::PostgresTx(tx) => postgres_fetch(tx, query, limit).await,
                ConnKind::PostgresPooled(conn) => postgres_fetch(conn, query, limit).await,
            }
        }
        .instrument(span)
        .await
    }

    /// The engine's name as traces know it.
    fn system(&self) -> &'static str {
        match self.0 {
            ConnKind::SqliteWrite(_) | ConnKind::SqliteRead(_) => "sqlite",
            ConnKind::PostgresTx(_) | ConnKind::PostgresPooled(_) => "postgresql",
        }
    }
}

/// A `trace`-level span around one statement, so a trace can show where a request spent
/// its time in the database. Off unless `VISCOUNT_LOG` enables `trace` for
/// `platform::db`, and made only inside other traced work: each statement of the
/// pollers would be a trace of its own.
fn statement_span(system: &'static str, sql: &str) -> tracing::Span {
    if tracing::span_enabled!(tracing::Level::TRACE) && !tracing::Span::current().is_none() {
        tracing::trace_span!(
            "db",
            otel.kind = "client",
            otel.name = sql.split_whitespace().next().unwrap_or("SQL"),
            db.system.name = system,
            db.query.text = sql,
        )
    } else {
        tracing::Span::none()
    }
}

/// `query` as sqlx's PostgreSQL query, each value bound with its SQL type.
fn postgres_query<'q>(
    query: Query<'q>,
) -> sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments> {
    let mut built = sqlx::query(query.sql);
    for value in query.args {
        built = match value {
            Value::Null(Kind::Bool) => built.bind(None::<bool>),
            Value::Null(Kind::I16) => built.bind(None::<i16>),
            Value::Null(Kind::I32) => built.bind(None::<i32>),
            Value::Null(Kind::I64) => built.bind(None::<i64>),
            Value::Null(Kind::F64) => built.bind(None::<f64>),
            Value::Null(Kind::Text) => built.bind(None::<String>),
            Value::Bool(v) => built.bind(v),
            Value::I16(v) => built.bind(v),
            Value::I32(v) => built.bind(v),
            Value::I64(v) => built.bind(v),
            Value::F64(v) => built.bind(v),
            Value::Text(v) => built.bind(v),
        };
    }
    built
}

async fn postgres_execute(conn: &mut sqlx::PgConnection, query: Query<'_>) -> Result<Done, Error> {
    let done = postgres_query(query).execute(conn).await?;
    Ok(Done {
        rows_affected: done.rows_affected(),
    })
}

/// Runs a script of several statements (the simple query protocol). Through the
/// executor's boxed future, not `RawSql::execute`, whose `async fn` the compiler cannot
/// prove `Send` inside other `Send`-bound futures (refinery's).
async fn postgres_script(conn: &mut sqlx::PgConnection, sql: &str) -> Result<(), Error> {
    conn.execute(sqlx::raw_sql(sql)).await?;
    Ok(())
}

async fn postgres_fetch(
    conn: &mut sqlx::PgConnection,
    query: Query<'_>,
    limit: Option<usize>,
) -> Result<Vec<Row>, Error> {
    let rows = match limit {
        Some(_) => postgres_query(query)
            .fetch_optional(conn)
            .await?
            .into_iter()
            .collect(),
        None => postgres_query(query).fetch_all(conn).await?,
    };
    Ok(rows.into_iter().map(Row::postgres).collect())
}

/// A write transaction. Queries run on `&mut *tx` (or `&mut **tx` through a
/// `&mut Tx`); nothing is kept unless [`Tx::commit`] succeeds.
pub struct Tx {
    conn: Conn,
    /// What runs once the commit succeeded ([`Tx::after_commit`]).
    committed: Vec<Box<dyn FnOnce() + Send + Sync>>,
}

impl std::ops::Deref for Tx {
    type Target = Conn;
    fn deref(&self) -> &Conn {
        &self.conn
    }
}

impl std::ops::DerefMut for Tx {
    fn deref_mut(&mut self) -> &mut Conn {
        &mut self.conn
    }
}

impl Tx {
    fn new(conn: Conn) -> Self {
        Self {
            conn,
            committed: Vec::new(),
        }
    }

    /// Runs `then` once this transaction has committed, and never when it does not
    /// (rolled back, dropped, or its commit failed): for what must count only changes
    /// that were kept, such as a business metric of the change. It runs after the
    /// commit returned, on the committing task, so it must be quick and cannot fail.
    pub fn after_commit(&mut self, then: impl FnOnce() + Send + Sync + 'static) {
        self.committed.push(Box::new(then));
    }

    /// Makes everything the transaction wrote durable; on SQLite, together with the
    /// transactions committing beside it.
    pub async fn commit(self) -> Result<(), Error> {
        match self.conn.0 {
            ConnKind::SqliteWrite(lease) => lease.commit().await?,
            ConnKind::PostgresTx(tx) => tx.commit().await?,
            ConnKind::SqliteRead(_) | ConnKind::PostgresPooled(_) => {
                return Err(Error::Protocol("not a transaction".into()));
            }
        }
        for then in self.committed {
            then();
        }
        Ok(())
    }

    /// Undoes everything the transaction wrote (dropping it does the same).
    pub async fn rollback(self) -> Result<(), Error> {
        match self.conn.0 {
            ConnKind::SqliteWrite(lease) => {
                drop(lease);
                Ok(())
            }
            ConnKind::PostgresTx(tx) => Ok(tx.rollback().await?),
            ConnKind::SqliteRead(_) | ConnKind::PostgresPooled(_) => Ok(()),
        }
    }

    /// Holds, until the transaction ends, the lock named `key`, so transactions that
    /// change what `key` names (a customer's journey, an order) run one after another
    /// across replicas: a PostgreSQL advisory lock on the key's 64-bit hash; nothing on
    /// SQLite, whose single writer already runs write transactions one at a time.
    pub async fn lock(&mut self, key: &str) -> Result<(), Error> {
        if matches!(self.conn.0, ConnKind::PostgresTx(_)) {
            query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
                .bind(key)
                .execute(&mut **self)
                .await?;
        }
        Ok(())
    }

    /// Runs a script of several statements (migrations).
    async fn execute_script(&mut self, sql: &str) -> Result<(), Error> {
        match &mut self.conn.0 {
            ConnKind::SqliteWrite(lease) => lease.execute_script(sql),
            ConnKind::PostgresTx(tx) => postgres_script(tx, sql).await,
            ConnKind::SqliteRead(_) | ConnKind::PostgresPooled(_) => {
                Err(Error::Protocol("not a transaction".into()))
            }
        }
    }
}

impl Db {
    /// Opens the database at `url`, creating it when missing, and applies the platform's
    /// and then the service's migrations.
    pub async fn connect(url: &str, migrations: &Migrations) -> Result<Self, DbError> {
        let db = match Dialect::of_url(url)? {
            Dialect::Sqlite => Self::open_sqlite(url)?,
            Dialect::Postgres => Self::open_postgres(url).await?,
        };
        db.migrate(&PLATFORM_MIGRATIONS).await?;
        db.migrate(migrations).await?;
        Ok(db)
    }

    /// Opens a database that exists, without creating it or applying migrations: for
    /// tools that read a platform's data (`viscount verify`), which must neither write
    /// to it nor report on an empty database made by a mistyped name.
    pub async fn open_existing(url: &str) -> Result<Self, DbError> {
        match Dialect::of_url(url)? {
            Dialect::Sqlite => {
                let path = sqlite_path(url);
                if !std::path::Path::new(path).exists() {
                    return Err(DbError::Missing(path.to_owned()));
                }
                Self::open_sqlite(url)
            }
            Dialect::Postgres => Self::postgres_pool(url, 4).await,
        }
    }

    fn open_sqlite(url: &str) -> Result<Self, DbError> {
        let path = std::path::Path::new(sqlite_path(url));
        if let Some(parent) = path.parent()
            && !parent.as_os_str().is_empty()
        {
            std::fs::create_dir_all(parent).map_err(DbError::CreateDir)?;
        }
        let engine = Arc::new(sqlite::Sqlite::open(path).map_err(Error::from)?);
        Ok(Self {
            dialect: Dialect::Sqlite,
            reader: Reader(ReaderKind::Sqlite(engine.readers.clone())),
            engine: Engine::Sqlite(engine),
        })
    }

    async fn open_postgres(url: &str) -> Result<Self, DbError> {
        Self::open_postgres_with(url, 16).await
    }

    /// [`Db::open_postgres`] with a pool of at most `max_connections` (tests make it one,
    /// so the next user of a connection is known).
    async fn open_postgres_with(url: &str, max_connections: u32) -> Result<Self, DbError> {
        create_postgres_database_if_missing(url).await?;
        Self::postgres_pool(url, max_connections).await
    }

    /// A pool on an existing PostgreSQL database.
    async fn postgres_pool(url: &str, max_connections: u32) -> Result<Self, DbError> {
        // No ping before each lease: it doubled the round trips of a one-statement
        // read. A connection the server dropped fails its next statement and is
        // discarded by the pool, and idle ones are retired before servers or proxies
        // time them out.
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .test_before_acquire(false)
            .idle_timeout(Duration::from_secs(60))
            .acquire_timeout(Duration::from_secs(30))
            .connect(url)
            .await?;
        Ok(Self {
            dialect: Dialect::Postgres,
            reader: Reader(ReaderKind::Postgres(pool.clone())),
            engine: Engine::Postgres(pool),
        })
    }

    /// The engine behind this database.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// The read side, for reads outside a transaction.
    pub fn reader(&self) -> &Reader {
        &self.reader
    }

    /// Starts a write transaction.
    pub async fn begin(&self) -> Result<Tx, Error> {
        match &self.engine {
            Engine::Sqlite(sqlite) => {
                Ok(Tx::new(Conn(ConnKind::SqliteWrite(sqlite.begin().await?))))
            }
            Engine::Postgres(pool) => {
                // sqlx-postgres 0.8.6 counts a transaction only once `BEGIN` is answered:
                // a `begin()` dropped while waiting for that answer queues no `ROLLBACK`,
                // and the connection goes back to the pool inside the transaction the
                // server opened ("idle in transaction", later statements of other users
                // never committed). So the connection is leased here (dropping that wait
                // is harmless) and `BEGIN` runs as a task of its own, which always
                // completes: when the caller has gone, the task drops a whole
                // transaction, which sqlx rolls back before the connection is reused.
                let conn = pool.acquire().await?;
                let begun = tokio::spawn(sqlx::Transaction::<'static, Postgres>::begin(conn, None))
                    .await
                    .map_err(|err| Error::Protocol(format!("begin task failed: {err}")))??;
                Ok(Tx::new(Conn(ConnKind::PostgresTx(begun))))
            }
        }
    }

    /// Runs one write statement as a transaction of its own and commits it. On
    /// PostgreSQL it runs in autocommit: one round trip instead of three (`BEGIN`, the
    /// statement, `COMMIT`), as durable as any commit. On SQLite it is a transaction of
    /// the commit group like any other.
    pub async fn execute_alone(&self, query: Query<'_>) -> Result<Done, Error> {
        match &self.engine {
            Engine::Postgres(pool) => postgres_execute(&mut *pool.acquire().await?, query).await,
            Engine::Sqlite(_) => {
                let mut tx = self.begin().await?;
                let done = tx.execute(query).await?;
                tx.commit().await?;
                Ok(done)
            }
        }
    }

    /// Waits until everything committed so far is on disk. A SQLite commit becomes
    /// visible a moment before its sync ends (the writer is not held for the disk); a
    /// PostgreSQL one only once its WAL is flushed, so there is nothing to wait for.
    pub async fn durable(&self) {
        if let Engine::Sqlite(sqlite) = &self.engine {
            sqlite.durable().await;
        }
    }

    /// Checks the database answers (for readiness).
    pub async fn ping(&self) -> Result<(), Error> {
        query("SELECT 1").execute(self.reader()).await.map(|_| ())
    }

    /// The connections of a PostgreSQL pool (for metrics); `None` on SQLite, whose one
    /// writer and leased readers are not a pool to size.
    pub fn pool_usage(&self) -> Option<PoolUsage> {
        match &self.engine {
            Engine::Postgres(pool) => Some(PoolUsage {
                size: pool.size(),
                idle: pool.num_idle(),
                max: pool.options().get_max_connections(),
            }),
            Engine::Sqlite(_) => None,
        }
    }

    /// Closes the database: idle connections now, the rest as they are returned.
    pub async fn close(&self) {
        match &self.engine {
            Engine::Sqlite(sqlite) => sqlite.readers.close(),
            Engine::Postgres(pool) => pool.close().await,
        }
    }

    /// Applies the steps of `migrations` not applied yet, in one transaction, after
    /// checking that every applied one is unchanged (its checksum): an edited, renamed
    /// or unknown applied step is an error naming it, and nothing is applied. Replicas
    /// migrating one PostgreSQL database together take turns.
    pub async fn migrate(&self, migrations: &Migrations) -> Result<(), DbError> {
        migrate::run(self, migrations).await
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

/// Whether an error is a unique-constraint violation (mapped to 409 by callers).
pub fn is_unique_violation(err: &Error) -> bool {
    err.is_unique_violation()
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

#[cfg(test)]
mod engine_tests {
    //! The SQLite engine's transactions: grouped commits keep exactly what committed.

    use super::*;

    const NOTES: Migrations = Migrations {
        scope: "notes",
        steps: &[Migration {
            name: "0001_notes",
            sqlite: "CREATE TABLE notes (id BIGINT PRIMARY KEY, body TEXT NOT NULL);",
            postgres: "CREATE TABLE notes (id BIGINT PRIMARY KEY, body TEXT NOT NULL);",
        }],
    };

    async fn notes_db(dir: &tempfile::TempDir) -> Db {
        Db::connect(&sqlite_url(dir.path(), "notes"), &NOTES)
            .await
            .expect("open notes")
    }

    async fn ids(db: &Db) -> Vec<i64> {
        query_scalar("SELECT id FROM notes ORDER BY id")
            .fetch_all(db.reader())
            .await
            .expect("ids")
    }

    async fn insert(tx: &mut Tx, id: i64) -> Result<Done, Error> {
        query("INSERT INTO notes (id, body) VALUES ($1, $2)")
            .bind(id)
            .bind(format!("note {id}"))
            .execute(&mut **tx)
            .await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_transactions_keep_exactly_what_committed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = notes_db(&dir).await;
        let mut tasks = Vec::new();
        for id in 0..120_i64 {
            let db = db.clone();
            tasks.push(tokio::spawn(async move {
                let mut tx = db.begin().await.expect("begin");
                insert(&mut tx, id).await.expect("insert");
                match id % 4 {
                    // Committed.
                    0 | 1 => tx.commit().await.map(|()| Some(id)),
                    // Rolled back explicitly.
                    2 => tx.rollback().await.map(|()| None),
                    // Dropped without a word, after a failed statement (a duplicate).
                    _ => {
                        let duplicate = insert(&mut tx, id).await;
                        assert!(duplicate.as_ref().is_err_and(Error::is_unique_violation));
                        Ok(None)
                    }
                }
            }));
        }
        let mut committed = Vec::new();
        for task in tasks {
            if let Some(id) = task.await.expect("task").expect("transaction") {
                committed.push(id);
            }
        }
        committed.sort_unstable();
        assert_eq!(committed.len(), 60);
        assert_eq!(ids(&db).await, committed);
        // And they are in the file, not only in the writer's open transaction.
        let reopened = notes_db(&dir).await;
        assert_eq!(ids(&reopened).await, committed);
    }

    #[tokio::test]
    async fn what_runs_after_commit_runs_only_for_a_transaction_that_committed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = notes_db(&dir).await;
        let counted = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let count = |tx: &mut Tx| {
            let counted = counted.clone();
            tx.after_commit(move || {
                counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            });
        };
        let mut rolled_back = db.begin().await.expect("begin");
        count(&mut rolled_back);
        rolled_back.rollback().await.expect("rollback");
        let mut dropped = db.begin().await.expect("begin");
        count(&mut dropped);
        drop(dropped);
        let mut committed = db.begin().await.expect("begin");
        insert(&mut committed, 1).await.expect("insert");
        count(&mut committed);
        count(&mut committed);
        assert_eq!(counted.load(std::sync::atomic::Ordering::SeqCst), 0);
        committed.commit().await.expect("commit");
        assert_eq!(counted.load(std::sync::atomic::Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_transaction_sees_its_own_writes_and_readers_only_committed_ones() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = notes_db(&dir).await;
        let mut tx = db.begin().await.expect("begin");
        insert(&mut tx, 1).await.expect("insert");
        let inside: i64 = query_scalar("SELECT COUNT(*) FROM notes")
            .fetch_one(&mut *tx)
            .await
            .expect("count inside");
        assert_eq!(inside, 1);
        assert!(ids(&db).await.is_empty(), "a reader saw an uncommitted row");
        tx.commit().await.expect("commit");
        assert_eq!(ids(&db).await, vec![1]);
    }

    #[tokio::test]
    async fn placeholders_bind_by_number_and_nulls_and_limits_work() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = notes_db(&dir).await;
        let mut tx = db.begin().await.expect("begin");
        // `$2` before `$1`, and `$1` twice.
        query("INSERT INTO notes (body, id) VALUES ($2 || '/' || $1, $1)")
            .bind(7_i64)
            .bind("seven")
            .execute(&mut *tx)
            .await
            .expect("insert");
        insert(&mut tx, 8).await.expect("insert");
        tx.commit().await.expect("commit");
        let body: String = query_scalar("SELECT body FROM notes WHERE id = $1")
            .bind(7_i64)
            .fetch_one(db.reader())
            .await
            .expect("body");
        assert_eq!(body, "seven/7");
        let nothing: Option<String> = query_scalar("SELECT NULL")
            .fetch_one(db.reader())
            .await
            .expect("null");
        assert_eq!(nothing, None);
        let first = query("SELECT id FROM notes ORDER BY id")
            .fetch_optional(db.reader())
            .await
            .expect("first")
            .map(|row| row.try_get::<i64, _>("id").expect("id"));
        assert_eq!(first, Some(7));
        let missing = query("SELECT id FROM notes WHERE id = $1")
            .bind(99_i64)
            .fetch_one(db.reader())
            .await;
        assert!(matches!(missing, Err(Error::RowNotFound)));
        let unbound = query("SELECT id FROM notes WHERE id = $1")
            .fetch_all(db.reader())
            .await;
        assert!(unbound.is_err(), "a missing bind must be refused");
    }
}
