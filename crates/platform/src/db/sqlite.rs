//! The SQLite engine: statements run in place on in-process connections, and the one
//! writer commits transactions in groups.
//!
//! Why in place: a SQLite statement on a warm page cache takes microseconds, and the
//! usual async driver design (a thread per connection, a channel hop there and back per
//! statement) spends several times that switching threads; on a small machine those
//! switches were most of the platform's CPU time under load.
//!
//! Why group commit: a durable commit waits for an fsync, and with one writer those
//! waits queue. So every transaction runs inside a `SAVEPOINT` of one shared SQLite
//! transaction; `commit()` releases the savepoint and waits while a committer task
//! issues one `COMMIT` for everything released so far. The committer queues for the
//! writer like any transaction (the writer's lock is fair), so the transactions that were
//! already waiting join the group, and a lone transaction commits as soon as it is done.
//! A transaction that fails or is dropped rolls back to its savepoint without touching
//! the others.
//!
//! Why the fsync is the committer's, not SQLite's: with `synchronous = FULL` the `COMMIT`
//! itself waits for the WAL's fsync while holding the writer, and on a busy database the
//! next group could not even start until the disk answered. The writer runs with
//! `synchronous = NORMAL` instead (in WAL mode: no sync at commit; the WAL is still
//! synced before every checkpoint and when it is reused), and the committer syncs the WAL
//! file itself after the `COMMIT`, with the writer already free for the next group. Every
//! caller's `commit()` still returns only once the WAL holding its group is on disk, so a
//! commit that was answered survives power loss as before — and a transaction that read
//! what an earlier group wrote is answered only after that group is on disk too, since a
//! later sync covers every earlier write. What others may see before the sync is a
//! group already committed and about to be durable; the embedded bus reads a log only
//! once it is durable ([`Sqlite::durable`]), so no consumer acts on an event its
//! producer could still lose.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use rusqlite::types::ValueRef;
use tokio::sync::{Notify, OwnedMutexGuard, oneshot, watch};

use super::query::{Done, Error, Query, Row, Value};

/// Connections per reader pool kept open while idle.
const IDLE_READERS: usize = 8;
/// Prepared statements each connection keeps.
const STATEMENT_CACHE: usize = 256;

/// Opens `path` with the platform's settings.
fn open(path: &Path, query_only: bool) -> Result<rusqlite::Connection, rusqlite::Error> {
    let conn = rusqlite::Connection::open(path)?;
    if !query_only {
        // Set before anything else touches the file: a new file takes the mode only
        // before its first table.
        conn.execute_batch("PRAGMA busy_timeout = 5000;")?;
        use_incremental_vacuum(&conn, path)?;
    }
    // WAL lets readers run beside the one writer. NORMAL leaves the sync at commit to
    // the committer (see the module's comment), which makes a committed order survive
    // power loss, not only a process crash. The busy timeout covers another process
    // (a `viscount` admin command) writing the same file. Each transaction is a
    // savepoint, whose undo pages go to a statement journal: in memory, not a temporary
    // file opened, written and dropped per transaction.
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
         PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON; \
         PRAGMA temp_store = MEMORY;",
    )?;
    if query_only {
        conn.execute_batch("PRAGMA query_only = ON;")?;
    }
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(conn)
}

/// Puts the file in `auto_vacuum = INCREMENTAL` mode, so that retention can hand the
/// pages of deleted rows back to the file system (`PRAGMA incremental_vacuum`, see
/// `crate::retention`) instead of the file keeping its largest size forever. A new file
/// takes the mode as it is set; an existing file in the default mode (`NONE`) is
/// rewritten once with `VACUUM`, the only way to change it once tables exist (a file
/// in `FULL` mode switches without one).
fn use_incremental_vacuum(conn: &rusqlite::Connection, path: &Path) -> Result<(), rusqlite::Error> {
    const NONE: i64 = 0;
    const INCREMENTAL: i64 = 2;
    let mode: i64 = conn.query_row("PRAGMA auto_vacuum", [], |row| row.get(0))?;
    if mode == INCREMENTAL {
        return Ok(());
    }
    conn.execute_batch("PRAGMA auto_vacuum = INCREMENTAL;")?;
    let tables: i64 = conn.query_row("SELECT COUNT(*) FROM sqlite_master", [], |row| row.get(0))?;
    if mode == NONE && tables > 0 {
        let started = std::time::Instant::now();
        tracing::info!(path = %path.display(), "rewriting the database once for incremental vacuum");
        conn.execute_batch("VACUUM;")?;
        tracing::info!(
            path = %path.display(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "database rewritten for incremental vacuum"
        );
    }
    Ok(())
}

/// Runs `query` on `conn`, answering its rows (at most `limit`) or, with `rows: false`,
/// none; and how many rows it changed.
fn run(
    conn: &rusqlite::Connection,
    query: &Query<'_>,
    limit: Option<usize>,
) -> Result<(Vec<Row>, u64), rusqlite::Error> {
    let mut statement = conn.prepare_cached(query.sql)?;
    for index in 1..=statement.parameter_count() {
        // `$N` is a named parameter to SQLite, numbered by first appearance; bind it by
        // its number so `$2 … $1` and repeated placeholders mean what they say.
        let position = statement
            .parameter_name(index)
            .and_then(|name| name.get(1..))
            .and_then(|digits| digits.parse::<usize>().ok())
            .unwrap_or(index);
        let value = query.args.get(position - 1).ok_or_else(|| {
            rusqlite::Error::InvalidParameterName(format!("${position} has no bound value"))
        })?;
        match value {
            Value::Null(_) => statement.raw_bind_parameter(index, rusqlite::types::Null)?,
            Value::Bool(v) => statement.raw_bind_parameter(index, v)?,
            Value::I16(v) => statement.raw_bind_parameter(index, v)?,
            Value::I32(v) => statement.raw_bind_parameter(index, v)?,
            Value::I64(v) => statement.raw_bind_parameter(index, v)?,
            Value::F64(v) => statement.raw_bind_parameter(index, v)?,
            Value::Text(v) => statement.raw_bind_parameter(index, v.as_str())?,
        }
    }
    let columns: Arc<[String]> = statement
        .column_names()
        .into_iter()
        .map(str::to_owned)
        .collect();
    let width = columns.len();
    // A read can stop at the limit; a write (`… RETURNING`) must run to its end.
    let read_only = statement.readonly();
    let mut answered = Vec::new();
    let mut rows = statement.raw_query();
    while let Some(row) = rows.next()? {
        if limit.is_some_and(|limit| answered.len() >= limit) {
            if read_only {
                break;
            }
            continue;
        }
        let mut values = Vec::with_capacity(width);
        for index in 0..width {
            values.push(match row.get_ref(index)? {
                ValueRef::Null => Value::Null(super::query::Kind::Text),
                ValueRef::Integer(v) => Value::I64(v),
                ValueRef::Real(v) => Value::F64(v),
                ValueRef::Text(v) | ValueRef::Blob(v) => {
                    Value::Text(String::from_utf8_lossy(v).into_owned())
                }
            });
        }
        answered.push(Row::sqlite(columns.clone(), values));
    }
    drop(rows);
    Ok((answered, conn.changes()))
}

/// A SQLite database file: its writer and its readers.
pub(crate) struct Sqlite {
    pub(crate) readers: Arc<ReaderPool>,
    writer: Arc<Writer>,
}

impl Sqlite {
    /// Opens (creating) the file and starts its committer.
    pub(crate) fn open(path: &Path) -> Result<Self, rusqlite::Error> {
        let conn = open(path, false)?;
        let (synced, _) = watch::channel(0);
        let durability = Arc::new(Durability {
            written: AtomicU64::new(0),
            synced,
        });
        let writer = Arc::new(Writer {
            state: Arc::new(tokio::sync::Mutex::new(WriterState {
                conn,
                in_group: false,
                waiters: Vec::new(),
            })),
            commit_due: Arc::new(Notify::new()),
            durability: durability.clone(),
        });
        tokio::spawn(committer(
            Arc::downgrade(&writer.state),
            writer.commit_due.clone(),
            durability,
            wal_path(path),
            database_label(path),
        ));
        Ok(Self {
            readers: Arc::new(ReaderPool {
                path: path.to_owned(),
                idle: Mutex::new(Vec::new()),
            }),
            writer,
        })
    }

    /// Starts a transaction: a savepoint in the current commit group.
    pub(crate) async fn begin(&self) -> Result<WriteLease, Error> {
        let mut guard = self.writer.state.clone().lock_owned().await;
        let state = &mut *guard;
        if !state.in_group {
            state.conn.execute_batch("BEGIN IMMEDIATE")?;
            state.in_group = true;
        }
        if let Err(err) = state.conn.execute_batch("SAVEPOINT tx") {
            state.end_group_if_rolled_back(&err);
            return Err(err.into());
        }
        Ok(WriteLease {
            guard: Some(guard),
            commit_due: self.writer.commit_due.clone(),
            broken: false,
        })
    }

    /// Waits until every group committed so far is on disk (or its sync failed, which
    /// its members were told): what a reader sees after this, it cannot lose.
    pub(crate) async fn durable(&self) {
        let durability = &self.writer.durability;
        let target = durability.written.load(Ordering::Acquire);
        let mut synced = durability.synced.subscribe();
        // An error means the committer is gone with the database: nothing more to wait for.
        let _ = synced.wait_for(|&synced| synced >= target).await;
    }
}

/// The metrics label of the file at `path`: its name without the extension (a
/// service's file is `<service>.db`), so a process has one series per database.
fn database_label(path: &Path) -> String {
    path.file_stem()
        .map(|stem| stem.to_string_lossy().into_owned())
        .unwrap_or_else(|| "sqlite".to_owned())
}

/// The WAL file SQLite keeps beside `path`.
fn wal_path(path: &Path) -> PathBuf {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    PathBuf::from(wal)
}

struct Writer {
    state: Arc<tokio::sync::Mutex<WriterState>>,
    commit_due: Arc<Notify>,
    durability: Arc<Durability>,
}

/// How far the committed groups have reached the disk: both count groups, `written`
/// once their `COMMIT` is in the WAL, `synced` once the WAL holding them is synced.
struct Durability {
    written: AtomicU64,
    synced: watch::Sender<u64>,
}

/// A released transaction of a group, told how the group's commit ended.
type Member = oneshot::Sender<Result<(), String>>;

pub(crate) struct WriterState {
    conn: rusqlite::Connection,
    /// Whether a SQLite transaction (the commit group) is open.
    in_group: bool,
    /// The released transactions of the open group, waiting for its `COMMIT`.
    waiters: Vec<Member>,
}

impl WriterState {
    /// After an error: if SQLite rolled the whole transaction back (it does on I/O
    /// errors, a full disk and the like), the group is gone, and so is everything its
    /// released members wrote; tell them.
    fn end_group_if_rolled_back(&mut self, err: &rusqlite::Error) {
        if self.in_group && self.conn.is_autocommit() {
            self.in_group = false;
            for waiter in self.waiters.drain(..) {
                let _ = waiter.send(Err(format!("transaction group rolled back: {err}")));
            }
        }
    }

    /// Commits the open group into the WAL (not yet synced) and hands back its members
    /// with the outcome.
    fn commit_group(&mut self) -> (Result<(), String>, Vec<Member>) {
        let waiters = std::mem::take(&mut self.waiters);
        if !self.in_group {
            return (Ok(()), waiters);
        }
        let result = self.conn.execute_batch("COMMIT").map_err(|err| {
            if !self.conn.is_autocommit() {
                let _ = self.conn.execute_batch("ROLLBACK");
            }
            err.to_string()
        });
        self.in_group = false;
        (result, waiters)
    }
}

/// Commits groups when members are waiting, then syncs the WAL with the writer already
/// free for the next group, and answers the members. Both run on a blocking thread so
/// a runtime worker is not held for the disk.
async fn committer(
    state: Weak<tokio::sync::Mutex<WriterState>>,
    commit_due: Arc<Notify>,
    durability: Arc<Durability>,
    wal: PathBuf,
    label: String,
) {
    // Opened at the first sync: the WAL exists once something was committed, and stays
    // (the same file, reused from its start after checkpoints) while the writer is open.
    let mut wal_file: Option<File> = None;
    loop {
        commit_due.notified().await;
        let Some(writer) = state.upgrade() else {
            return;
        };
        let guard = writer.lock_owned().await;
        if guard.waiters.is_empty() {
            continue;
        }
        let mut file = wal_file.take();
        let wal = wal.clone();
        let label = label.clone();
        let durability_now = durability.clone();
        let done = tokio::task::spawn_blocking(move || {
            let mut guard = guard;
            // Counted before the `COMMIT` makes the group visible, so whoever sees it
            // and asks for durability waits for its sync.
            let group = durability_now.written.fetch_add(1, Ordering::AcqRel) + 1;
            let (committed, waiters) = guard.commit_group();
            drop(guard);
            crate::http::metrics::runtime::commit_group(&label, waiters.len());
            let result = committed.and_then(|()| sync_wal(&mut file, &wal));
            durability_now.synced.send_replace(group);
            for waiter in waiters {
                let _ = waiter.send(result.clone());
            }
            file
        })
        .await;
        match done {
            Ok(file) => wal_file = file,
            Err(err) => tracing::error!(error = %err, "sqlite group commit task failed"),
        }
    }
}

/// Syncs the WAL file's data to disk, opening it first if need be.
fn sync_wal(file: &mut Option<File>, wal: &Path) -> Result<(), String> {
    let opened = match file {
        Some(file) => file,
        None => file.insert(
            File::open(wal).map_err(|err| format!("cannot open {}: {err}", wal.display()))?,
        ),
    };
    opened.sync_data().map_err(|err| {
        *file = None;
        format!("cannot sync {}: {err}", wal.display())
    })
}

/// The writer, held by one transaction.
pub(crate) struct WriteLease {
    guard: Option<OwnedMutexGuard<WriterState>>,
    commit_due: Arc<Notify>,
    /// SQLite rolled the group back under this transaction: it can do nothing more.
    broken: bool,
}

impl WriteLease {
    fn conn(&mut self) -> Result<&rusqlite::Connection, Error> {
        match &self.guard {
            Some(guard) if !self.broken => Ok(&guard.conn),
            _ => Err(Error::Protocol(
                "the transaction was rolled back by an earlier error".into(),
            )),
        }
    }

    pub(crate) fn run(
        &mut self,
        query: &Query<'_>,
        limit: Option<usize>,
    ) -> Result<(Vec<Row>, u64), Error> {
        let result = run(self.conn()?, query, limit);
        if let (Err(err), Some(guard)) = (&result, self.guard.as_mut()) {
            guard.end_group_if_rolled_back(err);
            if !guard.in_group {
                self.broken = true;
            }
        }
        Ok(result?)
    }

    /// Runs a script of several statements inside the transaction (migrations).
    pub(crate) fn execute_script(&mut self, sql: &str) -> Result<(), Error> {
        Ok(self.conn()?.execute_batch(sql)?)
    }

    /// Releases the savepoint and waits for the group's commit.
    pub(crate) async fn commit(mut self) -> Result<(), Error> {
        self.conn()?;
        let Some(mut guard) = self.guard.take() else {
            return Err(Error::Protocol("transaction already finished".into()));
        };
        let state = &mut *guard;
        if let Err(err) = state.conn.execute_batch("RELEASE tx") {
            rollback_savepoint(state);
            return Err(err.into());
        }
        let (sender, answer) = oneshot::channel();
        state.waiters.push(sender);
        drop(guard);
        self.commit_due.notify_one();
        match answer.await {
            Ok(result) => result.map_err(Error::Commit),
            Err(_) => Err(Error::Commit("the database was closed".into())),
        }
    }
}

impl Drop for WriteLease {
    fn drop(&mut self) {
        if let Some(mut guard) = self.guard.take()
            && !self.broken
        {
            rollback_savepoint(&mut guard);
        }
    }
}

/// Rolls back to and releases the open savepoint; a group with no released members
/// left is ended outright, so the file's write lock is not held for nothing.
fn rollback_savepoint(state: &mut WriterState) {
    let undone = state.conn.execute_batch("ROLLBACK TO tx; RELEASE tx");
    if undone.is_err() || state.waiters.is_empty() {
        if !state.conn.is_autocommit() {
            let _ = state.conn.execute_batch("ROLLBACK");
        }
        state.in_group = false;
        for waiter in state.waiters.drain(..) {
            let _ = waiter.send(Err("transaction group rolled back".into()));
        }
    }
}

/// Read-only connections, opened on demand and reused.
pub(crate) struct ReaderPool {
    path: PathBuf,
    idle: Mutex<Vec<rusqlite::Connection>>,
}

impl ReaderPool {
    pub(crate) fn lease(self: &Arc<Self>) -> Result<ReadLease, Error> {
        let idle = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        let conn = match idle {
            Some(conn) => conn,
            None => open(&self.path, true)?,
        };
        Ok(ReadLease {
            conn: Some(conn),
            pool: self.clone(),
        })
    }

    pub(crate) fn close(&self) {
        if let Ok(mut idle) = self.idle.lock() {
            idle.clear();
        }
    }
}

/// A reader connection, back to its pool when dropped.
pub(crate) struct ReadLease {
    conn: Option<rusqlite::Connection>,
    pool: Arc<ReaderPool>,
}

impl ReadLease {
    pub(crate) fn run(
        &mut self,
        query: &Query<'_>,
        limit: Option<usize>,
    ) -> Result<(Vec<Row>, u64), Error> {
        let conn = self
            .conn
            .as_ref()
            .ok_or_else(|| Error::Protocol("reader connection already returned".into()))?;
        Ok(run(conn, query, limit)?)
    }
}

impl Drop for ReadLease {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take()
            && let Ok(mut idle) = self.pool.idle.lock()
            && idle.len() < IDLE_READERS
        {
            idle.push(conn);
        }
    }
}

/// Turns a run's answer into what an `execute` answers.
pub(crate) fn done((_, changed): (Vec<Row>, u64)) -> Done {
    Done {
        rows_affected: changed,
    }
}

#[cfg(test)]
mod tests {
    //! The committer answers a transaction only after the WAL holding its group is
    //! synced, and `durable` waits for every group committed before it was called.

    use super::*;
    use crate::db::query::query;

    fn synced(sqlite: &Sqlite) -> u64 {
        *sqlite.writer.durability.synced.borrow()
    }

    fn written(sqlite: &Sqlite) -> u64 {
        sqlite.writer.durability.written.load(Ordering::Acquire)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_commit_is_answered_only_after_its_group_is_synced() {
        let dir = tempfile::tempdir().expect("tempdir");
        let sqlite = Arc::new(Sqlite::open(&dir.path().join("notes.db")).expect("open"));
        let mut setup = sqlite.begin().await.expect("begin");
        setup
            .execute_script("CREATE TABLE notes (id BIGINT PRIMARY KEY)")
            .expect("create");
        setup.commit().await.expect("commit");

        let mut tasks = Vec::new();
        for id in 0..64_i64 {
            let sqlite = sqlite.clone();
            tasks.push(tokio::spawn(async move {
                let mut tx = sqlite.begin().await.expect("begin");
                let insert = query("INSERT INTO notes (id) VALUES ($1)").bind(id);
                tx.run(&insert, Some(0)).expect("insert");
                // Its group is counted only once the `COMMIT` starts, after this.
                let before = written(&sqlite);
                tx.commit().await.expect("commit");
                assert!(
                    synced(&sqlite) > before,
                    "answered before its group's sync (synced {}, written before {before})",
                    synced(&sqlite)
                );
            }));
        }
        for task in tasks {
            task.await.expect("task");
        }
        sqlite.durable().await;
        assert_eq!(synced(&sqlite), written(&sqlite));
        assert!(
            dir.path().join("notes.db-wal").exists(),
            "the WAL that was synced"
        );
    }
}
