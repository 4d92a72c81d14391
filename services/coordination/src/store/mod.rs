//! Coordination's SQL, and the only place rows become domain values and back: the
//! registry's instances ([`instances`]), configuration documents ([`documents`]) and
//! named locks ([`locks`]).
//!
//! Every change that two coordination replicas (or two callers) could race on is a
//! conditional statement whose row count says who won: a registration inserts only a
//! new row (`ON CONFLICT DO NOTHING`), the sweeper deletes only rows still expired, a
//! health change updates only from the status it read, a document only from the
//! version its writer read, and a lock is read under a per-name lock for the rest of
//! its transaction. A stored value that does not read is an error naming its column.

pub mod documents;
pub mod instances;
pub mod locks;

use platform::db::Error;

/// A stored non-negative count or version, read back into a `u64`.
fn unsigned(column: &str, stored: i64) -> Result<u64, Error> {
    u64::try_from(stored).map_err(|err| Error::undecodable(column, err))
}

/// A `u64` as the BIGINT it is stored as.
fn signed(column: &str, value: u64) -> Result<i64, Error> {
    i64::try_from(value).map_err(|err| Error::Encode(Box::new(OutOfRange(column.to_owned(), err))))
}

#[derive(Debug, thiserror::Error)]
#[error("{0} is out of range")]
struct OutOfRange(String, #[source] std::num::TryFromIntError);
