//! A report as JSON: `{title, subtitle, columns, rows: [{column: value}]}`.
//!
//! Each row is an object keyed by column name, its keys in column order. Money is the
//! API's money shape (`{amount, currency}`, integer minor units), so a program reads
//! the same value it would from the API; counts and ratios are numbers (a ratio that is
//! not finite, and an empty cell, are `null`).

use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};

use super::{Cell, RenderError, Table};

/// `table` as JSON.
pub(super) fn render(table: &Table) -> Result<Vec<u8>, RenderError> {
    let document = Document {
        title: &table.title,
        subtitle: &table.subtitle,
        columns: &table.columns,
        rows: table
            .rows
            .iter()
            .map(|cells| Row {
                columns: &table.columns,
                cells,
            })
            .collect(),
    };
    Ok(serde_json::to_vec(&document)?)
}

#[derive(Serialize)]
struct Document<'a> {
    title: &'a str,
    subtitle: &'a str,
    columns: &'a [String],
    rows: Vec<Row<'a>>,
}

/// A row as an object whose keys keep the columns' order (a map type would sort them).
struct Row<'a> {
    columns: &'a [String],
    cells: &'a [Cell],
}

impl Serialize for Row<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.cells.len()))?;
        for (column, cell) in self.columns.iter().zip(self.cells) {
            map.serialize_entry(column, &Value(cell))?;
        }
        map.end()
    }
}

/// A cell as its JSON value.
struct Value<'a>(&'a Cell);

#[derive(Serialize)]
struct Money<'a> {
    amount: i64,
    currency: &'a str,
}

impl Serialize for Value<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Cell::Text(text) => serializer.serialize_str(text),
            Cell::Int(value) => serializer.serialize_i64(*value),
            Cell::Money { amount, currency } => Money {
                amount: *amount,
                currency,
            }
            .serialize(serializer),
            Cell::Ratio(ratio) if ratio.is_finite() => serializer.serialize_f64(*ratio),
            Cell::Ratio(_) | Cell::Empty => serializer.serialize_none(),
        }
    }
}
