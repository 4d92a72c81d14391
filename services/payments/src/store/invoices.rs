//! The `invoices` table (rows ⇄ [`Invoice`], stored whole as the JSON it was issued
//! as) and the gap-free number counters of `document_counters`.

use platform::db::{Executor, Row, Tx};

use crate::domain::{DocumentKind, Invoice};

/// The next number of `kind`'s series in `year`, inside `tx`: one upsert that creates
/// the year's counter at 1 or advances it by one, and returns it.
///
/// The statement locks the counter row until `tx` ends (PostgreSQL's row lock; on
/// SQLite the transaction already holds the writer lock), so concurrent issuers take
/// numbers one after another in commit order, and a transaction that rolls back takes
/// its increment with it: no number is skipped and none is given twice.
pub async fn next_sequence(
    tx: &mut Tx,
    kind: DocumentKind,
    year: i32,
) -> Result<i64, platform::db::Error> {
    platform::db::query_scalar(
        "INSERT INTO document_counters (series, year, last_number) VALUES ($1, $2, 1) \
         ON CONFLICT (series, year) DO UPDATE SET last_number = document_counters.last_number + 1 \
         RETURNING last_number",
    )
    .bind(kind.series())
    .bind(i64::from(year))
    .fetch_one(&mut **tx)
    .await
}

/// Stores an issued document. A second invoice of a payment, or a second credit note
/// of a refund, is a unique violation.
pub async fn insert_invoice(tx: &mut Tx, invoice: &Invoice) -> Result<(), platform::db::Error> {
    let document = serde_json::to_string(invoice)
        .map_err(|err| platform::db::Error::undecodable("document", err))?;
    platform::db::query(
        "INSERT INTO invoices (id, kind, number, year, sequence, order_id, payment_id, user_id, \
         refund_id, issued_at, document) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(&invoice.id)
    .bind(invoice.kind.as_str())
    .bind(&invoice.number)
    .bind(i64::from(invoice.year))
    .bind(invoice.sequence)
    .bind(&invoice.order_id)
    .bind(&invoice.payment_id)
    .bind(&invoice.user_id)
    .bind(invoice.refund_id.as_deref())
    .bind(invoice.issued_at)
    .bind(document)
    .execute(&mut **tx)
    .await
    .map(|_| ())
}

/// A document from its row: the stored JSON, which must agree with the columns beside
/// it (a row that does not is an error, never a guess).
fn invoice_from(row: &Row) -> Result<Invoice, platform::db::Error> {
    let document: String = row.try_get("document")?;
    let invoice: Invoice = platform::db::decoded("document", serde_json::from_str(&document))?;
    let id: String = row.try_get("id")?;
    if invoice.id != id {
        return Err(platform::db::Error::undecodable(
            "document",
            format!("the document of invoice {id} names another id"),
        ));
    }
    Ok(invoice)
}

/// A document by id.
pub async fn invoice<'e>(
    ex: impl Executor<'e>,
    id: &str,
) -> Result<Option<Invoice>, platform::db::Error> {
    platform::db::query("SELECT id, document FROM invoices WHERE id = $1")
        .bind(id)
        .fetch_optional(ex)
        .await?
        .as_ref()
        .map(invoice_from)
        .transpose()
}

/// The invoice of a payment (not its credit notes).
pub async fn invoice_of_payment<'e>(
    ex: impl Executor<'e>,
    payment_id: &str,
) -> Result<Option<Invoice>, platform::db::Error> {
    platform::db::query("SELECT id, document FROM invoices WHERE payment_id = $1 AND kind = $2")
        .bind(payment_id)
        .bind(DocumentKind::Invoice.as_str())
        .fetch_optional(ex)
        .await?
        .as_ref()
        .map(invoice_from)
        .transpose()
}

/// An order's invoices and credit notes, in the order they were issued.
pub async fn invoices_of_order<'e>(
    ex: impl Executor<'e>,
    order_id: &str,
) -> Result<Vec<Invoice>, platform::db::Error> {
    platform::db::query(
        "SELECT id, document FROM invoices WHERE order_id = $1 ORDER BY issued_at, kind DESC, sequence",
    )
    .bind(order_id)
    .fetch_all(ex)
    .await?
    .iter()
    .map(invoice_from)
    .collect()
}
