//! The second layer of personal-data stripping: the one path every row ingestion
//! writes goes through. [`insert`] builds the statement from its cells, and before
//! anything reaches the database it looks into every text cell (JSON columns included)
//! with the detectors of [`crate::domain::pii`]; a cell holding an email address, a
//! phone number, a card number or an IP address refuses the whole row. The first
//! layer (the allow-list in `domain::payload`) should never let one through; this guard
//! is what holds if it does.
//!
//! No other module of the store writes `INSERT` statements, so a new table cannot
//! skip the guard by accident.

use platform::db::Tx;

use crate::domain::pii::{self, PiiKind};

/// One value of a row.
#[derive(Debug, Clone, Copy)]
pub enum Cell<'a> {
    /// Text (looked into).
    Text(&'a str),
    /// Text or NULL (looked into).
    MaybeText(Option<&'a str>),
    /// An integer.
    Int(i64),
    /// An integer or NULL.
    MaybeInt(Option<i64>),
    /// A credential an operator set (a webhook secret, a certificate) or NULL: not
    /// customer data, and an operator's secret may be any string, so it is not looked
    /// into.
    Credential(Option<&'a str>),
}

/// A row the guard refused: where the personal data was, and of which kind (never the
/// value itself).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("refused to store personal data ({}) in {table}.{column}", .kind.as_str())]
pub struct PersonalData {
    /// The table.
    pub table: &'static str,
    /// The column.
    pub column: &'static str,
    /// What was found.
    pub kind: PiiKind,
}

/// Why a write failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The guard refused the row.
    #[error(transparent)]
    PersonalData(#[from] PersonalData),
    /// The database failed.
    #[error(transparent)]
    Db(#[from] platform::db::Error),
}

/// Refuses the row when any text cell holds personal data.
pub fn check(table: &'static str, cells: &[(&'static str, Cell<'_>)]) -> Result<(), PersonalData> {
    for (column, cell) in cells {
        let text = match cell {
            Cell::Text(text) | Cell::MaybeText(Some(text)) => text,
            _ => continue,
        };
        if let Some(kind) = pii::find(text) {
            return Err(PersonalData {
                table,
                column,
                kind,
            });
        }
    }
    Ok(())
}

/// Inserts one row into `table` after [`check`]ing it; `conflict` is the statement's
/// `ON CONFLICT ...` clause (empty for none). Answers whether a row was written (an
/// `ON CONFLICT DO NOTHING` that met an existing row writes none).
pub async fn insert(
    tx: &mut Tx,
    table: &'static str,
    cells: &[(&'static str, Cell<'_>)],
    conflict: &str,
) -> Result<bool, StoreError> {
    check(table, cells)?;
    let columns: Vec<&str> = cells.iter().map(|(column, _)| *column).collect();
    let placeholders: Vec<String> = (1..=cells.len()).map(|i| format!("${i}")).collect();
    let sql = format!(
        "INSERT INTO {table} ({}) VALUES ({}) {conflict}",
        columns.join(", "),
        placeholders.join(", ")
    );
    let mut query = platform::db::query(&sql);
    for (_, cell) in cells {
        query = match *cell {
            Cell::Text(text) => query.bind(text),
            Cell::MaybeText(text) | Cell::Credential(text) => query.bind(text),
            Cell::Int(number) => query.bind(number),
            Cell::MaybeInt(number) => query.bind(number),
        };
    }
    Ok(query.execute(&mut **tx).await?.rows_affected() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_with_personal_data_in_any_text_cell_is_refused_and_named() {
        let refused = check(
            "attribution_events",
            &[
                ("id", Cell::Text("01J0")),
                ("amount", Cell::Int(5900)),
                (
                    "utm_campaign",
                    Cell::MaybeText(Some("spring jane@example.com")),
                ),
            ],
        );
        assert_eq!(
            refused,
            Err(PersonalData {
                table: "attribution_events",
                column: "utm_campaign",
                kind: PiiKind::Email,
            })
        );
        assert!(
            check(
                "attribution_events",
                &[
                    ("utm_campaign", Cell::MaybeText(Some("spring-sale"))),
                    ("x", Cell::MaybeText(None))
                ]
            )
            .is_ok()
        );
    }
}
