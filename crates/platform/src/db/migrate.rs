//! Applying a scope's migrations through refinery, which records a checksum of every
//! step it applies and refuses to go on when an applied step was edited since.
//!
//! Refinery is used without any of its drivers: [`Migrator`] implements its
//! `AsyncMigrate` over a [`Tx`] of our own [`Db`], so both engines (and the SQLite
//! writer's group commit) work as everywhere else. Each scope (the platform's tables,
//! each service's) keeps its history in its own table, `_migrations_<scope>`, and a step
//! named `0003_x` in our files is refinery's `V3__x`.
//!
//! A run is one transaction, from reading the history to recording the last step: a
//! failing step leaves the database as it was before the run, and on PostgreSQL the
//! transaction holds an advisory lock first, so replicas starting together apply each
//! step once (the second waits, then finds everything applied).
//!
//! Databases migrated by the earlier runner (one `_migrations` table with scope, name
//! and time, no checksums) are adopted once: when a scope's history table is empty and
//! `_migrations` lists steps of that scope, those steps are recorded as applied with the
//! checksum of the text in this build, at the time they were applied. `_migrations` is
//! left as it was (an older binary can still start on the database).

use refinery_core::Runner;
use refinery_core::error::Kind;
use refinery_core::traits::r#async::{AsyncMigrate, AsyncQuery, AsyncTransaction};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{Db, DbError, Dialect, Error, Migration, Migrations, Tx, query, query_scalar};

/// The advisory lock a PostgreSQL migration run holds: the number the earlier runner
/// locked too, so an old and a new replica exclude each other during a rolling upgrade.
const MIGRATION_LOCK: i64 = 7_273_012_345;

/// What a failure outside any one step (reading or writing the history) is named.
const HISTORY: &str = "history";

/// The history table of `scope`: `_migrations_<scope>`, with anything but ASCII
/// letters, digits and `_` replaced, since the name is spliced into SQL.
pub(super) fn history_table(scope: &str) -> String {
    let safe: String = scope
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("_migrations_{safe}")
}

/// Applies the steps of `migrations` that `db` has not applied yet, after checking the
/// applied ones against this build's text.
pub(super) async fn run(db: &Db, migrations: &Migrations) -> Result<(), DbError> {
    let scope = migrations.scope;
    let dialect = db.dialect();
    let table = history_table(scope);
    let steps = migrations
        .steps
        .iter()
        .map(|step| to_refinery(scope, step, dialect))
        .collect::<Result<Vec<_>, _>>()?;
    let fail = |source| DbError::Migration {
        scope,
        name: HISTORY,
        source,
    };

    let mut tx = db.begin().await.map_err(fail)?;
    if dialect == Dialect::Postgres {
        query("SELECT pg_advisory_xact_lock($1)")
            .bind(MIGRATION_LOCK)
            .execute(&mut *tx)
            .await
            .map_err(fail)?;
    }
    tx.execute_script(&Migrator::assert_migrations_table_query(&table))
        .await
        .map_err(fail)?;
    let adopted = adopt(&mut tx, dialect, scope, &table, migrations.steps, &steps)
        .await
        .map_err(fail)?;

    let mut runner = Runner::new(&steps)
        .set_abort_divergent(true)
        .set_abort_missing(true);
    runner.set_migration_table_name(&table);
    let mut migrator = Migrator {
        tx: &mut tx,
        steps: migrations.steps,
        dialect,
        failure: None,
    };
    let report = match runner.run_async(&mut migrator).await {
        Ok(report) => report,
        Err(err) => return Err(refused(scope, migrations.steps, err, migrator.failure)),
    };
    tx.commit().await.map_err(fail)?;

    if adopted > 0 {
        tracing::info!(
            scope,
            steps = adopted,
            "migration history adopted from the earlier runner"
        );
    }
    for applied in report.applied_migrations() {
        tracing::info!(scope, migration = %label(applied), "migration applied");
    }
    Ok(())
}

/// `step` as refinery's migration: `0003_x` becomes `V3__x`, with the text for `dialect`.
fn to_refinery(
    scope: &'static str,
    step: &Migration,
    dialect: Dialect,
) -> Result<refinery_core::Migration, DbError> {
    let invalid = |why: &str| DbError::Migration {
        scope,
        name: step.name,
        source: Error::Protocol(format!("invalid migration name: {why}")),
    };
    let (number, words) = step
        .name
        .split_once('_')
        .ok_or_else(|| invalid("expected <number>_<words>"))?;
    let version: i32 = number
        .parse()
        .map_err(|_| invalid("it does not start with a number"))?;
    // Refinery reads the name up to the first character that is not a word character:
    // a longer name would be cut short silently.
    if words.is_empty() || !words.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(invalid(
            "after the number, only ASCII letters, digits and _",
        ));
    }
    refinery_core::Migration::unapplied(&format!("V{version}__{words}"), text_for(step, dialect))
        .map_err(|err| invalid(&err.to_string()))
}

fn text_for(step: &Migration, dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Sqlite => step.sqlite,
        Dialect::Postgres => step.postgres,
    }
}

/// A refinery migration under the name our files give it (`0003_x`).
fn label(migration: &refinery_core::Migration) -> String {
    format!("{:04}_{}", migration.version(), migration.name())
}

/// Why refinery refused or failed, as a [`DbError`] naming the scope and the step.
fn refused(
    scope: &'static str,
    steps: &'static [Migration],
    err: refinery_core::Error,
    failure: Option<(&'static str, Error)>,
) -> DbError {
    match err.kind() {
        Kind::DivergentVersion(applied, ours) => DbError::MigrationChanged {
            scope,
            name: label(ours),
            checksum: ours.checksum(),
            applied_checksum: applied.checksum(),
        },
        // An applied step this build lacks comes from the database (it has a time);
        // one of ours never applied, though numbered below the last applied, does not.
        Kind::MissingVersion(missing) if missing.applied_on().is_some() => {
            DbError::MigrationUnknown {
                scope,
                name: label(missing),
            }
        }
        Kind::MissingVersion(missing) => DbError::MigrationSkipped {
            scope,
            name: label(missing),
        },
        Kind::RepeatedVersion(repeated) => DbError::Migration {
            scope,
            name: steps
                .iter()
                .find(|step| {
                    step.name
                        .split_once('_')
                        .and_then(|(number, _)| number.parse::<i32>().ok())
                        == Some(repeated.version())
                })
                .map_or(HISTORY, |step| step.name),
            source: Error::Protocol(format!("two steps have the number {}", repeated.version())),
        },
        _ => match failure {
            Some((name, source)) => DbError::Migration {
                scope,
                name,
                source,
            },
            None => DbError::Migration {
                scope,
                name: HISTORY,
                source: Error::Protocol(err.to_string()),
            },
        },
    }
}

/// Records the steps the earlier runner applied (rows of `_migrations` for `scope`) in
/// the scope's empty history table, with this build's checksums. Answers how many.
async fn adopt(
    tx: &mut Tx,
    dialect: Dialect,
    scope: &str,
    table: &str,
    steps: &[Migration],
    migrations: &[refinery_core::Migration],
) -> Result<usize, Error> {
    let recorded: i64 = query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
        .fetch_one(&mut **tx)
        .await?;
    if recorded > 0 {
        return Ok(0);
    }
    let legacy = match dialect {
        Dialect::Sqlite => {
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '_migrations'"
        }
        Dialect::Postgres => {
            "SELECT COUNT(*) FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_name = '_migrations'"
        }
    };
    if query_scalar::<i64>(legacy).fetch_one(&mut **tx).await? == 0 {
        return Ok(0);
    }
    let rows = query("SELECT name, applied_at FROM _migrations WHERE scope = $1")
        .bind(scope)
        .fetch_all(&mut **tx)
        .await?;
    let insert = format!(
        "INSERT INTO {table} (version, name, applied_on, checksum) VALUES ($1, $2, $3, $4)"
    );
    let mut adopted = 0;
    for row in rows {
        let name: String = row.try_get("name")?;
        let applied_at: i64 = row.try_get("applied_at")?;
        let Some(migration) = steps
            .iter()
            .position(|step| step.name == name)
            .and_then(|index| migrations.get(index))
        else {
            // A step this build no longer has: there is no text to record a checksum
            // of. Refinery judges only what its own history holds.
            tracing::warn!(scope, migration = %name, "the earlier runner applied a step this build does not have");
            continue;
        };
        let applied_on =
            OffsetDateTime::from_unix_timestamp_nanos(i128::from(applied_at) * 1_000_000)
                .map_err(|err| Error::undecodable("applied_at", err))?
                .format(&Rfc3339)
                .map_err(|err| Error::Encode(Box::new(err)))?;
        query(&insert)
            .bind(migration.version())
            .bind(migration.name())
            .bind(applied_on)
            .bind(migration.checksum().to_string())
            .execute(&mut **tx)
            .await?;
        adopted += 1;
    }
    Ok(adopted)
}

/// Refinery's view of one migration run: everything it reads and writes goes through
/// the run's transaction.
struct Migrator<'t> {
    tx: &'t mut Tx,
    steps: &'static [Migration],
    dialect: Dialect,
    /// The step whose SQL failed and the engine's error, which refinery only sees as
    /// text.
    failure: Option<(&'static str, Error)>,
}

impl AsyncTransaction for Migrator<'_> {
    type Error = Error;

    /// Runs `queries` (a step and its history row) in the run's transaction; the run
    /// commits at its end, so there is nothing to commit per call.
    async fn execute<'a, T: Iterator<Item = &'a str> + Send + 'a>(
        &mut self,
        queries: T,
    ) -> Result<usize, Error> {
        let mut count = 0;
        for sql in queries {
            if let Err(err) = self.tx.execute_script(sql).await {
                let step = self
                    .steps
                    .iter()
                    .find(|step| text_for(step, self.dialect) == sql)
                    .map_or(HISTORY, |step| step.name);
                let summary = Error::Protocol(err.to_string());
                self.failure = Some((step, err));
                return Err(summary);
            }
            count += 1;
        }
        Ok(count)
    }
}

impl AsyncQuery<Vec<refinery_core::Migration>> for Migrator<'_> {
    /// The history rows `sql` (refinery's) selects, as applied migrations.
    async fn query(&mut self, sql: &str) -> Result<Vec<refinery_core::Migration>, Error> {
        let sql = sql.trim().trim_end_matches(';');
        let rows = query(sql).fetch_all(&mut **self.tx).await?;
        rows.iter()
            .map(|row| {
                let version: i32 = row.try_get("version")?;
                let name: String = row.try_get("name")?;
                let applied_on: String = row.try_get("applied_on")?;
                let checksum: String = row.try_get("checksum")?;
                Ok(refinery_core::Migration::applied(
                    version,
                    name,
                    OffsetDateTime::parse(&applied_on, &Rfc3339)
                        .map_err(|err| Error::undecodable("applied_on", err))?,
                    checksum
                        .parse()
                        .map_err(|err| Error::undecodable("checksum", err))?,
                ))
            })
            .collect()
    }
}

impl AsyncMigrate for Migrator<'_> {}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(name: &'static str) -> Migration {
        Migration {
            name,
            sqlite: "SELECT 1",
            postgres: "SELECT 1",
        }
    }

    #[test]
    fn our_step_names_become_refinerys_and_back() {
        let migration =
            to_refinery("notes", &step("0012_add_notes"), Dialect::Sqlite).expect("a valid name");
        assert_eq!(migration.to_string(), "V12__add_notes");
        assert_eq!(label(&migration), "0012_add_notes");
    }

    #[test]
    fn a_step_name_refinery_would_misread_is_refused() {
        for name in ["init", "x1_init", "0001_", "0001_add-notes"] {
            let refused = to_refinery("notes", &step(name), Dialect::Sqlite);
            assert!(
                matches!(refused, Err(DbError::Migration { name: n, .. }) if n == name),
                "{name} was accepted"
            );
        }
    }

    #[test]
    fn history_tables_are_named_by_scope_and_safe_to_splice() {
        assert_eq!(history_table("platform"), "_migrations_platform");
        assert_eq!(history_table("Odd-scope; x"), "_migrations_odd_scope__x");
    }
}
