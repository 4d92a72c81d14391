//! Configuration documents (`config_documents`).

use platform::db::{Dialect, Error, Executor, Row, Tx, named, query};
use platform::service::ServiceKind;
use serde_json::{Map, Value};

use super::{signed, unsigned};
use crate::domain::Document;

fn document_from(row: &Row) -> Result<Document, Error> {
    let version: i64 = row.try_get("version")?;
    let text: String = row.try_get("document")?;
    let values: Map<String, Value> =
        serde_json::from_str(&text).map_err(|err| Error::undecodable("document", err))?;
    Ok(Document {
        version: unsigned("version", version)?,
        values,
    })
}

fn to_text(values: &Map<String, Value>) -> Result<String, Error> {
    serde_json::to_string(values).map_err(|err| Error::Encode(Box::new(err)))
}

/// `service`'s document, if it has one.
pub async fn get<'e>(
    ex: impl Executor<'e>,
    service: ServiceKind,
) -> Result<Option<Document>, Error> {
    query("SELECT version, document FROM config_documents WHERE service = $1")
        .bind(service.as_str())
        .fetch_optional(ex)
        .await?
        .as_ref()
        .map(document_from)
        .transpose()
}

/// `service`'s document, locked for the rest of `tx` on PostgreSQL (SQLite's single
/// writer holds the whole database already).
pub async fn lock(
    tx: &mut Tx,
    dialect: Dialect,
    service: ServiceKind,
) -> Result<Option<Document>, Error> {
    query(&format!(
        "SELECT version, document FROM config_documents WHERE service = $1{}",
        dialect.row_lock()
    ))
    .bind(service.as_str())
    .fetch_optional(&mut **tx)
    .await?
    .as_ref()
    .map(document_from)
    .transpose()
}

/// The current version of `service`'s document (0 when it has none).
pub async fn version<'e>(ex: impl Executor<'e>, service: ServiceKind) -> Result<u64, Error> {
    let version: Option<i64> =
        platform::db::query_scalar("SELECT version FROM config_documents WHERE service = $1")
            .bind(service.as_str())
            .fetch_optional(ex)
            .await?;
    version.map_or(Ok(0), |v| unsigned("version", v))
}

/// Every stored document.
pub async fn all<'e>(ex: impl Executor<'e>) -> Result<Vec<(ServiceKind, Document)>, Error> {
    let rows = query("SELECT service, version, document FROM config_documents ORDER BY service")
        .fetch_all(ex)
        .await?;
    rows.iter()
        .map(|row| {
            let service: String = row.try_get("service")?;
            let service = named("service", &service, |s| s.parse().ok())?;
            Ok((service, document_from(row)?))
        })
        .collect()
}

/// Writes `values` as the next version of `service`'s document, only if its version is
/// still `expected` (0: it has none yet); whether it was written. Of two writers that
/// read the same version, exactly one succeeds.
pub async fn replace(
    tx: &mut Tx,
    service: ServiceKind,
    expected: u64,
    values: &Map<String, Value>,
    now: i64,
) -> Result<bool, Error> {
    let text = to_text(values)?;
    let done = if expected == 0 {
        query(
            "INSERT INTO config_documents (service, version, document, updated_at) \
             VALUES ($1, 1, $2, $3) ON CONFLICT (service) DO NOTHING",
        )
        .bind(service.as_str())
        .bind(text)
        .bind(now)
        .execute(&mut **tx)
        .await?
    } else {
        query(
            "UPDATE config_documents SET version = version + 1, document = $3, updated_at = $4 \
             WHERE service = $1 AND version = $2",
        )
        .bind(service.as_str())
        .bind(signed("version", expected)?)
        .bind(text)
        .bind(now)
        .execute(&mut **tx)
        .await?
    };
    Ok(done.rows_affected() == 1)
}
