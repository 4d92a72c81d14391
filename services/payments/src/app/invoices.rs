//! Invoices and credit notes: issued inside the capture's and the refund's own
//! transactions (so a capture never commits without its invoice, and a rolled-back one
//! gives its number back), and read by the payer or an admin.

use contracts::ordering::OrderConfirmed;
use platform::db::Tx;

use super::{PaymentsApp, PaymentsError};
use crate::domain::invoice::year_of;
use crate::domain::{DocumentKind, Invoice, Issue, Money, Party, Payment};
use crate::store;

/// An order's documents with the user they belong to (the payer).
#[derive(Debug, Clone)]
pub struct OrderDocuments {
    /// The payer of the order's payment: who may read them, besides admins.
    pub owner: String,
    /// Invoices and credit notes, as issued.
    pub documents: Vec<Invoice>,
}

impl PaymentsApp {
    /// What a new document of `kind` issued now needs: the next number of its series
    /// (taken inside `tx`) and the configured seller and tax rate.
    async fn issue(&self, tx: &mut Tx, kind: DocumentKind) -> Result<Issue, PaymentsError> {
        let now = self.clock.now_millis();
        let year = year_of(now);
        let sequence = store::next_sequence(tx, kind, year).await?;
        let settings = self.settings.get();
        let config = &settings.invoices;
        let seller = &config.seller;
        Ok(Issue {
            id: platform::ids::new_id(),
            year,
            sequence,
            issued_at: now,
            seller: Party {
                name: seller.name.clone(),
                address_lines: seller.address_lines.clone(),
                country: seller.country.clone(),
                vat_id: Some(seller.vat_id.trim().to_owned()).filter(|id| !id.is_empty()),
                user_id: None,
            },
            tax_rate_basis_points: config.tax_rate_basis_points,
        })
    }

    /// Issues the invoice of `payment`'s capture of `captured` for `order`, inside the
    /// capture's transaction.
    pub(super) async fn issue_invoice_in(
        &self,
        tx: &mut Tx,
        payment: &Payment,
        order: &OrderConfirmed,
        captured: &Money,
    ) -> Result<Invoice, PaymentsError> {
        let issue = self.issue(tx, DocumentKind::Invoice).await?;
        let invoice = Invoice::for_capture(issue, order, &payment.id, &payment.user_id, captured);
        store::insert_invoice(tx, &invoice).await?;
        tracing::debug!(number = %invoice.number, "invoice issued");
        Ok(invoice)
    }

    /// Issues the credit note of refund `refund_id` of `amount` against `payment`'s
    /// invoice, inside the refund's transaction. A payment captured before invoices
    /// existed has no invoice to credit: then none is issued.
    pub(super) async fn issue_credit_note_in(
        &self,
        tx: &mut Tx,
        payment: &Payment,
        refund_id: &str,
        amount: &Money,
    ) -> Result<Option<Invoice>, PaymentsError> {
        let Some(invoice) = store::invoice_of_payment(&mut **tx, &payment.id).await? else {
            tracing::warn!(payment_id = %payment.id, "refund of a payment without an invoice: no credit note");
            return Ok(None);
        };
        let issue = self.issue(tx, DocumentKind::CreditNote).await?;
        let note = invoice.credit_note(issue, refund_id, amount);
        store::insert_invoice(tx, &note).await?;
        tracing::debug!(number = %note.number, "credit note issued");
        Ok(Some(note))
    }

    /// The invoices and credit notes of an order with their owner; `None` when payments
    /// has no payment for the order.
    #[tracing::instrument(skip_all, fields(order_id = %order_id), err(level = "debug"))]
    pub async fn order_documents(
        &self,
        order_id: &str,
    ) -> Result<Option<OrderDocuments>, PaymentsError> {
        let Some(payment) = store::payment_by_order(self.db.reader(), order_id).await? else {
            return Ok(None);
        };
        let documents = store::invoices_of_order(self.db.reader(), order_id).await?;
        Ok(Some(OrderDocuments {
            owner: payment.user_id,
            documents,
        }))
    }

    /// An invoice or credit note by id.
    #[tracing::instrument(skip_all, fields(invoice_id = %id), err(level = "debug"))]
    pub async fn invoice(&self, id: &str) -> Result<Invoice, PaymentsError> {
        store::invoice(self.db.reader(), id)
            .await?
            .ok_or(PaymentsError::NotFound)
    }
}
