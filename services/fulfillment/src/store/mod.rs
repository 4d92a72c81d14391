//! Fulfillment's SQL, and the only place rows become aggregates and back: order facts
//! gathered from events ([`facts`]), shipments with their lines and tracking history
//! ([`shipments`]), and returns with the shipment each unit came from ([`returns`]).
//!
//! A row that cannot be read — an unknown status, a corrupt address, a quantity out
//! of range — is a decode error naming its column, never a default. Status changes
//! are single conditional updates (`... WHERE id = $id AND status = $from`), with
//! `$from` the status the aggregate's transition left, so two concurrent changes of
//! one shipment or return cannot both succeed.

pub mod facts;
pub mod returns;
pub mod shipments;

use platform::db::{Error, Row};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// A column whose stored value does not read as what it means.
/// An integer column read into a narrower type (a quantity, a weight).
fn number<T: TryFrom<i64>>(row: &Row, column: &str) -> Result<T, Error>
where
    T::Error: std::error::Error + Send + Sync + 'static,
{
    let wide: i64 = row.try_get(column)?;
    T::try_from(wide).map_err(|err| platform::db::Error::undecodable(column, err))
}

/// A nullable JSON column.
fn json<T: DeserializeOwned>(row: &Row, column: &str) -> Result<Option<T>, Error> {
    let raw: Option<String> = row.try_get(column)?;
    raw.map(|text| {
        serde_json::from_str(&text)
            .map_err(|err| platform::db::Error::undecodable(column, UnreadableJson::from(err)))
    })
    .transpose()
}

/// A JSON column that does not read, told without the stored text: serde's own message
/// can quote it, and a shipping address is personal data that must not reach a log.
#[derive(Debug, thiserror::Error)]
#[error("not the expected JSON ({category:?} error at line {line}, column {column})")]
struct UnreadableJson {
    category: serde_json::error::Category,
    line: usize,
    column: usize,
}

impl From<serde_json::Error> for UnreadableJson {
    fn from(err: serde_json::Error) -> Self {
        Self {
            category: err.classify(),
            line: err.line(),
            column: err.column(),
        }
    }
}

/// A value as JSON text for a column.
fn to_json<T: Serialize + ?Sized>(value: &T) -> Result<String, Error> {
    serde_json::to_string(value).map_err(|err| Error::Encode(Box::new(err)))
}

#[cfg(test)]
mod tests;
