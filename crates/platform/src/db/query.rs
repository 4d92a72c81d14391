//! The one query interface services write SQL against, over either engine.
//!
//! A [`Query`] is SQL text with `$1`-style placeholders and its bound [`Value`]s; it runs
//! on an [`Executor`] (a transaction's or a leased connection, or a database's read side)
//! and answers [`Row`]s whose columns decode into Rust values by name. The shape follows
//! sqlx's builder (`query(sql).bind(x).fetch_one(ex)`), so store code reads the same;
//! what differs is underneath: SQLite statements run in place on the calling task
//! against an in-process connection (a statement takes microseconds, and a hop to a
//! driver thread and back per statement cost more than the statement), PostgreSQL ones
//! go through sqlx's native PostgreSQL driver.

use std::marker::PhantomData;
use std::sync::Arc;

use sqlx::postgres::PgRow;

use super::{Conn, Reader};

/// Anything a driver or a decode reported.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A query that must answer a row answered none.
    #[error("no rows returned by a query that expected to return at least one row")]
    RowNotFound,
    /// No column of that name or position in the row.
    #[error("no column {0} in the row")]
    ColumnNotFound(String),
    /// A column's value does not fit the Rust type asked for.
    #[error("column {column}: {source}")]
    ColumnDecode {
        /// The column's name or position.
        column: String,
        /// Why it does not fit.
        #[source]
        source: BoxDynError,
    },
    /// A value could not be decoded (raised by callers turning stored text into types).
    #[error("decode: {0}")]
    Decode(#[source] BoxDynError),
    /// A value could not be encoded for storage.
    #[error("encode: {0}")]
    Encode(#[source] BoxDynError),
    /// The stored data or the conversation with the engine broke an expectation.
    #[error("{0}")]
    Protocol(String),
    /// SQLite reported an error.
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The commit this transaction was grouped into failed; nothing of it was kept.
    #[error("commit failed: {0}")]
    Commit(String),
    /// PostgreSQL (or its pool) reported an error.
    #[error(transparent)]
    Postgres(#[from] sqlx::Error),
}

/// A boxed error, as decode and encode failures carry.
pub type BoxDynError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// `parsed`, or the decode error of `column`: how a store turns a stored value into a
/// domain type. A row that does not read is an error, never a default.
pub fn decoded<T, E: Into<BoxDynError>>(column: &str, parsed: Result<T, E>) -> Result<T, Error> {
    parsed.map_err(|err| Error::undecodable(column, err))
}

/// The name stored in `column` read with `parse` (an enum's `parse`); an unknown name is
/// the column's decode error, naming it.
pub fn named<T>(
    column: &str,
    raw: &str,
    parse: impl FnOnce(&str) -> Option<T>,
) -> Result<T, Error> {
    parse(raw).ok_or_else(|| Error::unknown(column, raw))
}

impl Error {
    /// The value stored in `column` is not one its type accepts.
    pub fn undecodable(column: &str, source: impl Into<BoxDynError>) -> Self {
        Error::ColumnDecode {
            column: column.to_owned(),
            source: source.into(),
        }
    }

    /// The text stored in `column` names no value its type knows (an unknown status).
    pub fn unknown(column: &str, value: &str) -> Self {
        Self::undecodable(column, format!("unknown value {value:?}"))
    }

    /// Whether this is a unique-constraint (or primary-key) violation.
    pub fn is_unique_violation(&self) -> bool {
        match self {
            Error::Sqlite(rusqlite::Error::SqliteFailure(err, _)) => {
                err.code == rusqlite::ErrorCode::ConstraintViolation
                    && matches!(
                        err.extended_code,
                        rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                            | rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
                    )
            }
            Error::Postgres(err) => err
                .as_database_error()
                .is_some_and(|e| e.is_unique_violation()),
            _ => false,
        }
    }
}

/// The SQL type of a value, which PostgreSQL needs even for a NULL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `BOOLEAN`.
    Bool,
    /// `SMALLINT`.
    I16,
    /// `INTEGER`.
    I32,
    /// `BIGINT`.
    I64,
    /// `DOUBLE PRECISION`.
    F64,
    /// `TEXT`.
    Text,
}

/// One bound or answered value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// SQL NULL of a type.
    Null(Kind),
    /// A boolean (an integer 0/1 in SQLite).
    Bool(bool),
    /// A 16-bit integer.
    I16(i16),
    /// A 32-bit integer.
    I32(i32),
    /// A 64-bit integer (every SQLite integer reads back as this).
    I64(i64),
    /// A float.
    F64(f64),
    /// Text.
    Text(String),
}

/// A Rust value that can be bound to a placeholder.
pub trait Encode {
    /// Its SQL type.
    const KIND: Kind;
    /// The value to bind.
    fn to_value(&self) -> Value;
}

macro_rules! encode {
    ($($t:ty => $kind:ident, $variant:ident, |$v:ident| $make:expr;)*) => {$(
        impl Encode for $t {
            const KIND: Kind = Kind::$kind;
            fn to_value(&self) -> Value {
                let $v = self;
                Value::$variant($make)
            }
        }
    )*};
}

encode! {
    bool => Bool, Bool, |v| *v;
    i16 => I16, I16, |v| *v;
    i32 => I32, I32, |v| *v;
    i64 => I64, I64, |v| *v;
    f64 => F64, F64, |v| *v;
    str => Text, Text, |v| v.to_owned();
    String => Text, Text, |v| v.clone();
}

impl<T: Encode + ?Sized> Encode for &T {
    const KIND: Kind = T::KIND;
    fn to_value(&self) -> Value {
        (**self).to_value()
    }
}

impl<T: Encode> Encode for Option<T> {
    const KIND: Kind = T::KIND;
    fn to_value(&self) -> Value {
        match self {
            Some(v) => v.to_value(),
            None => Value::Null(T::KIND),
        }
    }
}

/// A Rust type a column can be read into.
pub trait Decode: Sized {
    /// From a value SQLite answered.
    fn from_value(value: &Value) -> Result<Self, BoxDynError>;
    /// From column `index` of a PostgreSQL row.
    fn from_pg(row: &PgRow, index: usize) -> Result<Self, sqlx::Error>;
}

fn mismatch(value: &Value, wanted: &str) -> BoxDynError {
    format!("cannot read {value:?} as {wanted}").into()
}

fn pg<'r, T>(row: &'r PgRow, index: usize) -> Result<T, sqlx::Error>
where
    T: sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>,
{
    sqlx::Row::try_get(row, index)
}

/// Integers are read leniently on PostgreSQL: an `INTEGER` or `SMALLINT` column (or a
/// `SELECT 1`) widens into an `i64`, as SQLite's single integer type always does.
fn pg_i64(row: &PgRow, index: usize) -> Result<Option<i64>, sqlx::Error> {
    pg::<Option<i64>>(row, index)
        .or_else(|_| pg::<Option<i32>>(row, index).map(|v| v.map(i64::from)))
        .or_else(|_| pg::<Option<i16>>(row, index).map(|v| v.map(i64::from)))
}

impl Decode for i64 {
    fn from_value(value: &Value) -> Result<Self, BoxDynError> {
        match value {
            Value::I64(v) => Ok(*v),
            Value::I32(v) => Ok(i64::from(*v)),
            Value::I16(v) => Ok(i64::from(*v)),
            Value::Bool(v) => Ok(i64::from(*v)),
            other => Err(mismatch(other, "an integer")),
        }
    }
    fn from_pg(row: &PgRow, index: usize) -> Result<Self, sqlx::Error> {
        pg_i64(row, index)?.ok_or_else(|| sqlx::Error::ColumnDecode {
            index: index.to_string(),
            source: "unexpected NULL".into(),
        })
    }
}

impl Decode for i32 {
    fn from_value(value: &Value) -> Result<Self, BoxDynError> {
        Ok(i32::try_from(i64::from_value(value)?)?)
    }
    fn from_pg(row: &PgRow, index: usize) -> Result<Self, sqlx::Error> {
        let wide = i64::from_pg(row, index)?;
        i32::try_from(wide).map_err(|err| sqlx::Error::ColumnDecode {
            index: index.to_string(),
            source: Box::new(err),
        })
    }
}

impl Decode for bool {
    fn from_value(value: &Value) -> Result<Self, BoxDynError> {
        match value {
            Value::Bool(v) => Ok(*v),
            other => Ok(i64::from_value(other)? != 0),
        }
    }
    fn from_pg(row: &PgRow, index: usize) -> Result<Self, sqlx::Error> {
        pg(row, index)
    }
}

impl Decode for f64 {
    fn from_value(value: &Value) -> Result<Self, BoxDynError> {
        match value {
            Value::F64(v) => Ok(*v),
            #[allow(clippy::cast_precision_loss)]
            Value::I64(v) => Ok(*v as f64),
            other => Err(mismatch(other, "a number")),
        }
    }
    fn from_pg(row: &PgRow, index: usize) -> Result<Self, sqlx::Error> {
        pg(row, index)
    }
}

impl Decode for String {
    fn from_value(value: &Value) -> Result<Self, BoxDynError> {
        match value {
            Value::Text(v) => Ok(v.clone()),
            other => Err(mismatch(other, "text")),
        }
    }
    fn from_pg(row: &PgRow, index: usize) -> Result<Self, sqlx::Error> {
        pg(row, index)
    }
}

impl<T: Decode> Decode for Option<T> {
    fn from_value(value: &Value) -> Result<Self, BoxDynError> {
        match value {
            Value::Null(_) => Ok(None),
            other => T::from_value(other).map(Some),
        }
    }
    fn from_pg(row: &PgRow, index: usize) -> Result<Self, sqlx::Error> {
        let raw = sqlx::Row::try_get_raw(row, index)?;
        if sqlx::ValueRef::is_null(&raw) {
            Ok(None)
        } else {
            T::from_pg(row, index).map(Some)
        }
    }
}

/// Names a column of a [`Row`]: by name (`&str`) or position (`usize`).
pub trait ColumnIndex: std::fmt::Display {
    /// Its position among `names`.
    fn position<'a>(&self, names: impl Iterator<Item = &'a str>) -> Option<usize>;
}

impl ColumnIndex for &str {
    fn position<'a>(&self, mut names: impl Iterator<Item = &'a str>) -> Option<usize> {
        names.position(|name| name == *self)
    }
}

impl ColumnIndex for usize {
    fn position<'a>(&self, names: impl Iterator<Item = &'a str>) -> Option<usize> {
        (*self < names.count()).then_some(*self)
    }
}

/// One answered row.
#[derive(Debug)]
pub struct Row(RowKind);

#[derive(Debug)]
enum RowKind {
    Sqlite {
        columns: Arc<[String]>,
        values: Vec<Value>,
    },
    Postgres(PgRow),
}

impl Row {
    pub(crate) fn sqlite(columns: Arc<[String]>, values: Vec<Value>) -> Self {
        Self(RowKind::Sqlite { columns, values })
    }

    pub(crate) fn postgres(row: PgRow) -> Self {
        Self(RowKind::Postgres(row))
    }

    /// The names of its columns, in order.
    pub fn columns(&self) -> Vec<&str> {
        match &self.0 {
            RowKind::Sqlite { columns, .. } => columns.iter().map(String::as_str).collect(),
            RowKind::Postgres(row) => {
                use sqlx::{Column, Row as _};
                row.columns().iter().map(|c| c.name()).collect()
            }
        }
    }

    /// Column `index` read as `T`.
    pub fn try_get<T: Decode, I: ColumnIndex>(&self, index: I) -> Result<T, Error> {
        match &self.0 {
            RowKind::Sqlite { columns, values } => {
                let position = index
                    .position(columns.iter().map(String::as_str))
                    .ok_or_else(|| Error::ColumnNotFound(index.to_string()))?;
                T::from_value(&values[position]).map_err(|source| Error::ColumnDecode {
                    column: index.to_string(),
                    source,
                })
            }
            RowKind::Postgres(row) => {
                use sqlx::{Column, Row as _};
                let position = index
                    .position(row.columns().iter().map(|c| c.name()))
                    .ok_or_else(|| Error::ColumnNotFound(index.to_string()))?;
                T::from_pg(row, position).map_err(Error::from)
            }
        }
    }
}

/// What a statement that answers no rows did.
#[derive(Debug, Clone, Copy)]
pub struct Done {
    pub(crate) rows_affected: u64,
}

impl Done {
    /// How many rows it inserted, updated or deleted.
    pub fn rows_affected(&self) -> u64 {
        self.rows_affected
    }
}

/// Where a query runs: on a connection (a transaction's or a leased one) or on a
/// database's read side (a connection is leased for the one statement).
pub enum Exec<'c> {
    /// A connection the caller holds.
    Conn(&'c mut Conn),
    /// The read side of a database.
    Reader(&'c Reader),
}

/// Something a query can run on; see [`Exec`].
pub trait Executor<'c>: Send {
    /// Where the query runs.
    fn into_exec(self) -> Exec<'c>;
}

impl<'c> Executor<'c> for &'c mut Conn {
    fn into_exec(self) -> Exec<'c> {
        Exec::Conn(self)
    }
}

impl<'c> Executor<'c> for &'c Reader {
    fn into_exec(self) -> Exec<'c> {
        Exec::Reader(self)
    }
}

/// SQL text and its bound values.
#[must_use = "a query does nothing until it is executed or fetched"]
#[derive(Debug, Clone)]
pub struct Query<'q> {
    pub(crate) sql: &'q str,
    pub(crate) args: Vec<Value>,
}

/// A query over `sql`; bind its `$1, $2, …` in order with [`Query::bind`].
pub fn query(sql: &str) -> Query<'_> {
    Query {
        sql,
        args: Vec::new(),
    }
}

impl<'q> Query<'q> {
    /// Binds the next placeholder.
    pub fn bind<T: Encode>(mut self, value: T) -> Self {
        self.args.push(value.to_value());
        self
    }

    /// Runs a statement, answering how many rows it changed.
    pub async fn execute<'c>(self, ex: impl Executor<'c>) -> Result<Done, Error> {
        match ex.into_exec() {
            Exec::Conn(conn) => conn.execute(self).await,
            Exec::Reader(reader) => reader.acquire().await?.execute(self).await,
        }
    }

    /// Every row it answers.
    pub async fn fetch_all<'c>(self, ex: impl Executor<'c>) -> Result<Vec<Row>, Error> {
        match ex.into_exec() {
            Exec::Conn(conn) => conn.fetch(self, None).await,
            Exec::Reader(reader) => reader.acquire().await?.fetch(self, None).await,
        }
    }

    /// Its first row, if any.
    pub async fn fetch_optional<'c>(self, ex: impl Executor<'c>) -> Result<Option<Row>, Error> {
        let rows = match ex.into_exec() {
            Exec::Conn(conn) => conn.fetch(self, Some(1)).await?,
            Exec::Reader(reader) => reader.acquire().await?.fetch(self, Some(1)).await?,
        };
        Ok(rows.into_iter().next())
    }

    /// Its first row; [`Error::RowNotFound`] when there is none.
    pub async fn fetch_one<'c>(self, ex: impl Executor<'c>) -> Result<Row, Error> {
        self.fetch_optional(ex).await?.ok_or(Error::RowNotFound)
    }
}

/// A query whose rows are read as their first column.
#[must_use = "a query does nothing until it is fetched"]
#[derive(Debug, Clone)]
pub struct QueryScalar<'q, T> {
    query: Query<'q>,
    output: PhantomData<fn() -> T>,
}

/// A query over `sql` answering the first column of each row as a `T`.
pub fn query_scalar<T: Decode>(sql: &str) -> QueryScalar<'_, T> {
    QueryScalar {
        query: query(sql),
        output: PhantomData,
    }
}

impl<'q, T: Decode> QueryScalar<'q, T> {
    /// Binds the next placeholder.
    pub fn bind<V: Encode>(mut self, value: V) -> Self {
        self.query = self.query.bind(value);
        self
    }

    /// The first column of every row.
    pub async fn fetch_all<'c>(self, ex: impl Executor<'c>) -> Result<Vec<T>, Error> {
        self.query
            .fetch_all(ex)
            .await?
            .iter()
            .map(|row| row.try_get(0usize))
            .collect()
    }

    /// The first column of the first row, if any.
    pub async fn fetch_optional<'c>(self, ex: impl Executor<'c>) -> Result<Option<T>, Error> {
        self.query
            .fetch_optional(ex)
            .await?
            .map(|row| row.try_get(0usize))
            .transpose()
    }

    /// The first column of the first row; [`Error::RowNotFound`] when there is none.
    pub async fn fetch_one<'c>(self, ex: impl Executor<'c>) -> Result<T, Error> {
        self.fetch_optional(ex).await?.ok_or(Error::RowNotFound)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_name_reads_with_its_parser_or_is_the_columns_decode_error() {
        let parse = |raw: &str| (raw == "captured").then_some(1);
        assert_eq!(named("status", "captured", parse).ok(), Some(1));
        let unknown = named("status", "settled", parse).err();
        assert!(
            matches!(&unknown, Some(Error::ColumnDecode { column, .. }) if column == "status"),
            "{unknown:?}"
        );
        assert!(unknown.is_some_and(|e| e.to_string().contains("\"settled\"")));
        let refused = decoded("quantity", u32::try_from(-1i64)).err();
        assert!(
            matches!(refused, Some(Error::ColumnDecode { column, .. }) if column == "quantity")
        );
    }

    #[test]
    fn options_bind_typed_nulls() {
        assert_eq!(None::<i64>.to_value(), Value::Null(Kind::I64));
        assert_eq!(Some("a").to_value(), Value::Text("a".into()));
        assert_eq!((&&5i32).to_value(), Value::I32(5));
    }

    #[test]
    fn sqlite_values_decode_leniently_and_refuse_what_does_not_fit() {
        assert_eq!(i64::from_value(&Value::I64(7)).ok(), Some(7));
        assert_eq!(bool::from_value(&Value::I64(1)).ok(), Some(true));
        assert_eq!(
            Option::<String>::from_value(&Value::Null(Kind::Text)).ok(),
            Some(None)
        );
        assert!(String::from_value(&Value::I64(1)).is_err());
        assert!(i32::from_value(&Value::I64(i64::MAX)).is_err());
    }

    #[test]
    fn rows_read_columns_by_name_or_position() {
        let row = Row::sqlite(
            Arc::from(vec!["id".to_owned(), "n".to_owned()]),
            vec![Value::Text("x".into()), Value::I64(2)],
        );
        assert_eq!(row.try_get::<String, _>("id").ok(), Some("x".to_owned()));
        assert_eq!(row.try_get::<i64, _>(1usize).ok(), Some(2));
        assert!(matches!(
            row.try_get::<i64, _>("missing"),
            Err(Error::ColumnNotFound(_))
        ));
        assert!(row.try_get::<i64, _>("id").is_err());
    }
}
