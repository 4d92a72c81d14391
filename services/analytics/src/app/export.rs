//! Export of the ledger with its allocations (`GET /api/v1/export/revenue`): JSON one
//! cursor page at a time, CSV (RFC 4180, a header row) streamed page by page from the
//! database, so memory stays bounded by one page however many rows there are.

use std::collections::BTreeMap;

use bytes::Bytes;
use contracts::Money;
use futures_util::Stream;
use serde::Serialize;

use super::{AnalyticsApp, AnalyticsError};
use crate::domain::attribution::Model;
use crate::domain::ledger::{LedgerEntry, Split};
use crate::domain::period::Period;
use crate::store::ledger::{self, EntryWithSplit};

/// One channel's share of a row under a model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ExportAllocation {
    /// The channel.
    pub channel: &'static str,
    /// Minor units of the row's currency.
    pub amount: i64,
}

/// A ledger row as the export shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ExportRow {
    /// The row's id.
    pub id: String,
    /// `order`, `adjustment`, `refund` or `payment`.
    pub kind: &'static str,
    /// The provider.
    pub provider: String,
    /// The provider's id.
    pub external_id: String,
    /// The order a payment or refund names.
    pub order_ref: Option<String>,
    /// Signed.
    pub amount: Money,
    /// The row's own channel.
    pub channel: &'static str,
    /// The customer's keyed hash.
    pub customer_ref: Option<String>,
    /// When it happened (RFC 3339).
    pub occurred_at: String,
    /// Per model, the split (empty for payments).
    pub allocations: BTreeMap<&'static str, Vec<ExportAllocation>>,
}

impl ExportRow {
    fn of(entry: LedgerEntry, split: Option<Split>) -> Self {
        let allocations = split
            .map(|split| {
                split
                    .models()
                    .map(|(model, allocations)| {
                        (
                            model.as_str(),
                            allocations
                                .iter()
                                .map(|a| ExportAllocation {
                                    channel: a.channel.as_str(),
                                    amount: a.amount,
                                })
                                .collect(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        Self {
            id: entry.id,
            kind: entry.kind.as_str(),
            provider: entry.provider,
            external_id: entry.external_id,
            order_ref: entry.order_ref,
            amount: Money {
                amount: entry.amount,
                currency: entry.currency,
            },
            channel: entry.channel.as_str(),
            customer_ref: entry.customer_ref,
            occurred_at: platform::time::rfc3339(entry.occurred_at),
            allocations,
        }
    }
}

/// The CSV header's first columns: the row's fields. One column per model follows
/// (named as the model), holding its split as `channel:amount` pairs separated by `;`.
pub const CSV_FIELDS: [&str; 10] = [
    "id",
    "kind",
    "provider",
    "external_id",
    "order_ref",
    "occurred_at",
    "amount",
    "currency",
    "channel",
    "customer_ref",
];

/// A CSV export's body: chunks of bytes, one per page of rows.
pub type ExportStream = std::pin::Pin<Box<dyn Stream<Item = Result<Bytes, std::io::Error>> + Send>>;

/// Where a streaming export is.
struct Cursor {
    app: AnalyticsApp,
    tenant: String,
    period: Period,
    after: Option<(i64, String)>,
    started: bool,
    done: bool,
}

impl AnalyticsApp {
    /// A page of the export as JSON rows, after the cursor position `after`
    /// (`"<occurred_at>|<id>"`).
    pub async fn export_page(
        &self,
        tenant: &str,
        period: Period,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<(String, ExportRow)>, AnalyticsError> {
        self.require_tenant(tenant).await?;
        let after = match after {
            None => None,
            Some(position) => Some(
                position
                    .split_once('|')
                    .and_then(|(at, id)| Some((at.parse::<i64>().ok()?, id)))
                    .ok_or_else(|| {
                        AnalyticsError::invalid("cursor", "is not a cursor this API issued")
                    })?,
            ),
        };
        let rows = ledger::page(self.db.reader(), tenant, period, after, limit).await?;
        Ok(rows
            .into_iter()
            .map(|(entry, split)| {
                let position = format!("{}|{}", entry.occurred_at, entry.id);
                (position, ExportRow::of(entry, split))
            })
            .collect())
    }

    /// The whole export as a CSV stream (the tenant is checked before the first byte).
    pub async fn export_csv(
        &self,
        tenant: &str,
        period: Period,
    ) -> Result<ExportStream, AnalyticsError> {
        self.require_tenant(tenant).await?;
        let cursor = Cursor {
            app: self.clone(),
            tenant: tenant.to_owned(),
            period,
            after: None,
            started: false,
            done: false,
        };
        Ok(Box::pin(futures_util::stream::unfold(
            cursor,
            |mut cursor| async move {
                if cursor.done {
                    return None;
                }
                let chunk = next_chunk(&mut cursor).await;
                if chunk.is_err() {
                    cursor.done = true;
                }
                Some((chunk, cursor))
            },
        )))
    }
}

/// The next page of a CSV export (the header first).
async fn next_chunk(cursor: &mut Cursor) -> Result<Bytes, std::io::Error> {
    // RFC 4180 ends records with CRLF (the csv crate's default is LF).
    let mut out = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::with_capacity(256 * 1024));
    if !cursor.started {
        cursor.started = true;
        let models = Model::ALL.map(Model::as_str);
        out.write_record(CSV_FIELDS.iter().chain(models.iter()))?;
    }
    let rows = ledger::page(
        cursor.app.db.reader(),
        &cursor.tenant,
        cursor.period,
        cursor.after.as_ref().map(|(at, id)| (*at, id.as_str())),
        cursor.app.config.export_page_rows,
    )
    .await
    .map_err(std::io::Error::other)?;
    if (rows.len() as i64) < cursor.app.config.export_page_rows {
        cursor.done = true;
    }
    cursor.after = rows
        .last()
        .map(|(entry, _)| (entry.occurred_at, entry.id.clone()));
    let mut amount = itoa::Buffer::new();
    for row in &rows {
        write_csv_row(&mut out, row, &mut amount)?;
    }
    out.into_inner()
        .map(Bytes::from)
        .map_err(|err| std::io::Error::other(err.to_string()))
}

fn write_csv_row(
    out: &mut csv::Writer<Vec<u8>>,
    (entry, split): &EntryWithSplit,
    number: &mut itoa::Buffer,
) -> Result<(), std::io::Error> {
    // Field by field into the page's buffer: no record of owned strings per row.
    out.write_field(&entry.id)?;
    out.write_field(entry.kind.as_str())?;
    out.write_field(&entry.provider)?;
    out.write_field(&entry.external_id)?;
    out.write_field(entry.order_ref.as_deref().unwrap_or_default())?;
    out.write_field(platform::time::rfc3339(entry.occurred_at))?;
    out.write_field(number.format(entry.amount))?;
    out.write_field(&entry.currency)?;
    out.write_field(entry.channel.as_str())?;
    out.write_field(entry.customer_ref.as_deref().unwrap_or_default())?;
    let mut cell = String::with_capacity(64);
    for model in Model::ALL {
        cell.clear();
        if let Some(split) = split {
            for (i, allocation) in split.of(model).iter().enumerate() {
                if i > 0 {
                    cell.push(';');
                }
                cell.push_str(allocation.channel.as_str());
                cell.push(':');
                cell.push_str(number.format(allocation.amount));
            }
        }
        out.write_field(&cell)?;
    }
    out.write_record(None::<&[u8]>)?;
    Ok(())
}
