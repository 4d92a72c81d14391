//! Reports as files: the built-in report templates, a [`Table`] of typed cells, and
//! [`render`] turning it into CSV (RFC 4180), JSON or a paginated A4 PDF.
//!
//! Pure: bytes in memory, no I/O, no clock. Which rows a template selects is the
//! caller's business; this module owns only how a table looks in each format, so the
//! three formats of one report always carry the same figures. A table renders in every
//! format or in none: the checks that could refuse it (a row of the wrong width, money
//! in a currency whose minor unit is unknown) run before any format is written.

mod csv;
mod helvetica;
mod json;
mod pdf;
#[cfg(test)]
mod tests;

use contracts::types::minor_unit_exponent;

/// A report file's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// Comma-separated values (RFC 4180), a header row first.
    Csv,
    /// `{title, subtitle, columns, rows: [{column: value}]}`.
    Json,
    /// A4 pages with the table, its header row repeated on each page.
    Pdf,
}

impl Format {
    /// Every format.
    pub const ALL: [Format; 3] = [Format::Csv, Format::Json, Format::Pdf];

    /// Parses the wire name: `csv`, `json` or `pdf`.
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.as_str() == raw)
    }

    /// The wire and stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Json => "json",
            Format::Pdf => "pdf",
        }
    }

    /// The media type a download is served with.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Csv => "text/csv; charset=utf-8",
            Format::Json => "application/json",
            Format::Pdf => "application/pdf",
        }
    }

    /// The file name extension, without the dot.
    pub fn extension(self) -> &'static str {
        self.as_str()
    }
}

/// A built-in report template.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Template {
    /// Orders, revenue, refunds and average order value over the period.
    SalesSummary,
    /// Revenue and conversions per marketing channel.
    RevenueByChannel,
    /// Revenue per channel under each attribution model, side by side.
    AttributionByModel,
    /// The latest reconciliation runs and their discrepancies.
    Reconciliation,
    /// Units sold and on hand, and turnover.
    Inventory,
    /// Payment attempts, successes, failures and refunds.
    Payments,
}

impl Template {
    /// Every template, in the order they are listed.
    pub const ALL: [Template; 6] = [
        Template::SalesSummary,
        Template::RevenueByChannel,
        Template::AttributionByModel,
        Template::Reconciliation,
        Template::Inventory,
        Template::Payments,
    ];

    /// The wire and stored id, e.g. `sales_summary`.
    pub fn id(self) -> &'static str {
        match self {
            Template::SalesSummary => "sales_summary",
            Template::RevenueByChannel => "revenue_by_channel",
            Template::AttributionByModel => "attribution_by_model",
            Template::Reconciliation => "reconciliation",
            Template::Inventory => "inventory",
            Template::Payments => "payments",
        }
    }

    /// Parses an id.
    pub fn parse(id: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.id() == id)
    }

    /// Its name for people, used as the report's title.
    pub fn name(self) -> &'static str {
        match self {
            Template::SalesSummary => "Sales summary",
            Template::RevenueByChannel => "Revenue by channel",
            Template::AttributionByModel => "Attribution by model",
            Template::Reconciliation => "Reconciliation",
            Template::Inventory => "Inventory",
            Template::Payments => "Payments",
        }
    }

    /// What it shows, one sentence.
    pub fn description(self) -> &'static str {
        match self {
            Template::SalesSummary => {
                "Orders, revenue, refunds, cancellations and average order value per day."
            }
            Template::RevenueByChannel => {
                "Revenue, conversions, average order value and refunds per marketing channel."
            }
            Template::AttributionByModel => {
                "Revenue per channel under each attribution model, side by side."
            }
            Template::Reconciliation => {
                "Reconciliation runs with their matched orders and each discrepancy."
            }
            Template::Inventory => "Units sold, average units on hand and turnover per SKU.",
            Template::Payments => {
                "Payment attempts, successes, failures, success rate and refunds per day."
            }
        }
    }
}

/// One value of a report.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// Text, as given.
    Text(String),
    /// A count or other whole number.
    Int(i64),
    /// Money in minor units of an ISO 4217 currency: a decimal in major units in CSV
    /// and PDF, `{amount, currency}` in JSON.
    Money {
        /// Minor units (cents for USD).
        amount: i64,
        /// The ISO 4217 code; its minor unit must be known.
        currency: String,
    },
    /// A ratio (0.25 is a quarter): a percentage with two decimals in CSV and PDF, the
    /// number itself in JSON. A ratio that is not finite (0/0) shows as nothing.
    Ratio(f64),
    /// No value.
    Empty,
}

impl Cell {
    /// A text cell.
    pub fn text(text: impl Into<String>) -> Self {
        Cell::Text(text.into())
    }

    /// A money cell.
    pub fn money(amount: i64, currency: impl Into<String>) -> Self {
        Cell::Money {
            amount,
            currency: currency.into(),
        }
    }

    /// Whether it is a number (right-aligned in the PDF).
    fn is_numeric(&self) -> bool {
        matches!(self, Cell::Int(_) | Cell::Money { .. } | Cell::Ratio(_))
    }
}

/// What a report shows: a titled table.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    /// The report's title, e.g. the template's name.
    pub title: String,
    /// A line under the title: the period and the tenant.
    pub subtitle: String,
    /// The column names, in order.
    pub columns: Vec<String>,
    /// The rows, each with one cell per column.
    pub rows: Vec<Vec<Cell>>,
}

/// Why a table could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// A row does not have one cell per column.
    #[error("row {row} has {found} cells for {expected} columns")]
    RowWidth {
        /// The row's index (0-based).
        row: usize,
        /// The number of columns.
        expected: usize,
        /// The number of cells in the row.
        found: usize,
    },
    /// A money cell's currency has no known minor unit, so its major units cannot be
    /// written (guessing two decimals could be a hundred times off).
    #[error("row {row}, column {column:?}: unknown currency {currency:?}")]
    UnknownCurrency {
        /// The row's index (0-based).
        row: usize,
        /// The column's name.
        column: String,
        /// The currency as given.
        currency: String,
    },
    /// The CSV writer failed.
    #[error("the csv could not be written")]
    Csv(#[from] ::csv::Error),
    /// The JSON encoder failed.
    #[error("the json could not be written")]
    Json(#[from] serde_json::Error),
}

/// `table` as a file in `format`.
pub fn render(table: &Table, format: Format) -> Result<Vec<u8>, RenderError> {
    check(table)?;
    match format {
        Format::Csv => csv::render(table),
        Format::Json => json::render(table),
        Format::Pdf => Ok(pdf::render(table)),
    }
}

/// Refuses what no format can show: a row of the wrong width, money of an unknown
/// currency.
fn check(table: &Table) -> Result<(), RenderError> {
    let expected = table.columns.len();
    for (row, cells) in table.rows.iter().enumerate() {
        if cells.len() != expected {
            return Err(RenderError::RowWidth {
                row,
                expected,
                found: cells.len(),
            });
        }
        for (column, cell) in table.columns.iter().zip(cells) {
            if let Cell::Money { currency, .. } = cell
                && minor_unit_exponent(currency).is_none()
            {
                return Err(RenderError::UnknownCurrency {
                    row,
                    column: column.clone(),
                    currency: currency.clone(),
                });
            }
        }
    }
    Ok(())
}

/// `amount` minor units as a decimal in major units with `exponent` decimals:
/// `(1234, 2)` → `12.34`, `(-5, 2)` → `-0.05`, `(1234, 0)` → `1234`.
fn decimal(amount: i64, exponent: u32) -> String {
    let sign = if amount < 0 { "-" } else { "" };
    // Unsigned, so i64::MIN has an absolute value too.
    let abs = amount.unsigned_abs();
    if exponent == 0 {
        return format!("{sign}{abs}");
    }
    let scale = 10u64.pow(exponent);
    let width = exponent as usize;
    format!("{sign}{}.{:0width$}", abs / scale, abs % scale)
}

/// A money cell's amount in major units (the currency was checked by [`check`]).
fn major_units(amount: i64, currency: &str) -> String {
    decimal(amount, minor_unit_exponent(currency).unwrap_or(0))
}

/// A ratio as a percentage with two decimals (`0.1234` → `12.34%`); `None` when it is
/// not finite.
fn percent(ratio: f64) -> Option<String> {
    if !ratio.is_finite() {
        return None;
    }
    let shown = format!("{:.2}%", ratio * 100.0);
    // A tiny negative ratio rounds to zero; "-0.00%" would read as a loss.
    Some(if shown == "-0.00%" {
        "0.00%".to_owned()
    } else {
        shown
    })
}
