//! A report as CSV: RFC 4180 (CRLF line ends, fields quoted only when they need it), a
//! header row of the column names, then one record per row.
//!
//! Money is a plain decimal in major units (`12.34`, `1234` for JPY) so a spreadsheet
//! reads it as a number; which currency it is belongs in a column of its own, which is
//! the caller's. Text that a spreadsheet would run as a formula (it starts with `=`,
//! `+`, `-`, `@`, a tab or a carriage return) gets a leading `'`: report text includes
//! campaign names and sources that shops' visitors typed, and an admin opening the file
//! must not execute them (OWASP's advice for CSV injection).

use super::{Cell, RenderError, Table, major_units, percent};

/// The first characters that make a spreadsheet treat a cell as a formula.
const FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// `table` as CSV.
pub(super) fn render(table: &Table) -> Result<Vec<u8>, RenderError> {
    let mut writer = ::csv::WriterBuilder::new()
        .terminator(::csv::Terminator::CRLF)
        .from_writer(Vec::new());
    writer.write_record(table.columns.iter().map(|c| defused(c)))?;
    let mut record: Vec<String> = Vec::with_capacity(table.columns.len());
    for row in &table.rows {
        record.clear();
        record.extend(row.iter().map(field));
        writer.write_record(&record)?;
    }
    writer
        .into_inner()
        .map_err(|err| RenderError::Csv(err.into_error().into()))
}

/// One cell as a CSV field.
fn field(cell: &Cell) -> String {
    match cell {
        Cell::Text(text) => defused(text),
        Cell::Int(value) => value.to_string(),
        Cell::Money { amount, currency } => major_units(*amount, currency),
        Cell::Ratio(ratio) => percent(*ratio).unwrap_or_default(),
        Cell::Empty => String::new(),
    }
}

/// `text`, with a leading `'` when a spreadsheet would take it for a formula.
fn defused(text: &str) -> String {
    if text.starts_with(FORMULA_STARTS) {
        format!("'{text}")
    } else {
        text.to_owned()
    }
}
