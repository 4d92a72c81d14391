//! Invoices and credit notes over HTTP: an order's documents, one document as JSON,
//! and one as PDF. The payer and those who manage payments read them; anyone else is
//! told the order or document does not exist (404, as for a foreign order elsewhere),
//! so nobody learns which orders or documents exist.

use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use platform::auth::Principal;
use platform::http::api::{ApiRouter, problems, routes};
use platform::http::{Json, Problem};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa::openapi::schema::{ObjectBuilder, Type};

use super::{ApiResult, POLICY, foreign_id};
use crate::app::PaymentsApp;
use crate::domain::invoice::{InvoiceLine, Reference};
use crate::domain::{DocumentKind, Invoice, Money, Party};

/// The invoice routes.
pub(super) fn api() -> ApiRouter<PaymentsApp> {
    ApiRouter::new()
        .routes(routes!(order_invoices))
        .routes(routes!(get_invoice))
        .routes(routes!(get_invoice_pdf))
}

/// What a document is.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
enum InvoiceKindView {
    /// For a captured payment.
    Invoice,
    /// For a refund, against the payment's invoice.
    CreditNote,
}

impl From<DocumentKind> for InvoiceKindView {
    fn from(kind: DocumentKind) -> Self {
        match kind {
            DocumentKind::Invoice => Self::Invoice,
            DocumentKind::CreditNote => Self::CreditNote,
        }
    }
}

/// Seller or buyer.
#[derive(Debug, Clone, Serialize, ToSchema)]
struct InvoicePartyView {
    /// Name.
    name: String,
    /// Address lines, without the country.
    address_lines: Vec<String>,
    /// ISO 3166-1 alpha-2 country.
    country: String,
    /// VAT identification number, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    vat_id: Option<String>,
    /// The buyer's user id.
    #[serde(skip_serializing_if = "Option::is_none")]
    user_id: Option<String>,
}

impl From<&Party> for InvoicePartyView {
    fn from(p: &Party) -> Self {
        Self {
            name: p.name.clone(),
            address_lines: p.address_lines.clone(),
            country: p.country.clone(),
            vat_id: p.vat_id.clone(),
            user_id: p.user_id.clone(),
        }
    }
}

/// One line; amounts are tax-inclusive.
#[derive(Debug, Clone, Serialize, ToSchema)]
struct InvoiceLineView {
    /// The sellable unit (`ADJUSTMENT` for a difference between the lines and the
    /// amount paid, `REFUND` on a credit note).
    sku: String,
    /// What it is.
    description: String,
    /// How many.
    quantity: u32,
    /// Price per unit.
    unit_price: Money,
    /// quantity × unit price.
    total: Money,
}

/// The invoice a credit note corrects.
#[derive(Debug, Clone, Serialize, ToSchema)]
struct InvoiceReferenceView {
    /// The invoice's id.
    id: String,
    /// Its number.
    number: String,
}

impl From<&Reference> for InvoiceReferenceView {
    fn from(r: &Reference) -> Self {
        Self {
            id: r.id.clone(),
            number: r.number.clone(),
        }
    }
}

/// An invoice or credit note as issued. Prices include tax: `gross` is what was paid
/// (or refunded), `tax` the part of it the rate stands for (rounded half away from
/// zero to the minor unit), `net` the rest; `net + tax = gross` exactly.
#[derive(Debug, Clone, Serialize, ToSchema)]
struct InvoiceView {
    /// Id.
    id: String,
    /// `INV-<year>-<000001>` or `CN-<year>-<000001>`: one gap-free sequence per kind and
    /// calendar year (UTC).
    number: String,
    /// Invoice or credit note.
    kind: InvoiceKindView,
    /// When it was issued, RFC 3339.
    #[schema(format = DateTime)]
    issued_at: String,
    /// The order.
    order_id: String,
    /// The payment it documents.
    payment_id: String,
    /// A credit note's refund.
    #[serde(skip_serializing_if = "Option::is_none")]
    refund_id: Option<String>,
    /// A credit note's invoice.
    #[serde(skip_serializing_if = "Option::is_none")]
    refers_to: Option<InvoiceReferenceView>,
    /// Who sells.
    seller: InvoicePartyView,
    /// Who buys.
    buyer: InvoicePartyView,
    /// What it bills or credits.
    lines: Vec<InvoiceLineView>,
    /// ISO 4217 currency of every amount.
    currency: String,
    /// The VAT rate in basis points (2000 = 20 %).
    tax_rate_basis_points: u32,
    /// Without tax.
    net: Money,
    /// The tax.
    tax: Money,
    /// With tax.
    gross: Money,
    /// The document as JSON.
    url: String,
    /// The document as PDF.
    pdf_url: String,
}

impl From<&Invoice> for InvoiceView {
    fn from(i: &Invoice) -> Self {
        let money = |amount| Money {
            amount,
            currency: i.currency.clone(),
        };
        let line = |l: &InvoiceLine| InvoiceLineView {
            sku: l.sku.clone(),
            description: l.description.clone(),
            quantity: l.quantity,
            unit_price: money(l.unit_price),
            total: money(l.total),
        };
        Self {
            id: i.id.clone(),
            number: i.number.clone(),
            kind: i.kind.into(),
            issued_at: platform::time::rfc3339(i.issued_at),
            order_id: i.order_id.clone(),
            payment_id: i.payment_id.clone(),
            refund_id: i.refund_id.clone(),
            refers_to: i.refers_to.as_ref().map(InvoiceReferenceView::from),
            seller: InvoicePartyView::from(&i.seller),
            buyer: InvoicePartyView::from(&i.buyer),
            lines: i.lines.iter().map(line).collect(),
            currency: i.currency.clone(),
            tax_rate_basis_points: i.tax_rate_basis_points,
            net: money(i.totals.net),
            tax: money(i.totals.tax),
            gross: money(i.totals.gross),
            url: format!("/api/v1/invoices/{}", i.id),
            pdf_url: format!("/api/v1/invoices/{}/pdf", i.id),
        }
    }
}

/// An order's documents.
#[derive(Debug, Clone, Serialize, ToSchema)]
struct InvoiceList {
    /// Invoices and credit notes in the order they were issued.
    items: Vec<InvoiceView>,
}

/// A document as PDF: its bytes.
struct InvoicePdf;

impl utoipa::PartialSchema for InvoicePdf {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .content_media_type("application/pdf")
            .description(Some("A PDF document (the invoice or credit note)"))
            .into()
    }
}

impl ToSchema for InvoicePdf {}

/// The invoices and credit notes of an order (its payer's, or any for admins).
#[utoipa::path(
    get,
    path = "/api/v1/orders/{id}/invoices",
    params(("id" = String, Path, description = "The order's id")),
    responses(
        (status = 200, description = "The order's invoices and credit notes", body = InvoiceList),
        problems::Unauthorized, problems::NotFound,
    ),
)]
#[tracing::instrument(skip_all)]
async fn order_invoices(
    State(app): State<PaymentsApp>,
    caller: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<InvoiceList>> {
    let Ok(order_id) = foreign_id(&id) else {
        return Err(Problem::not_found("order"));
    };
    match app.order_documents(&order_id).await? {
        Some(found) if POLICY.may_see(&caller, &found.owner) => Ok(Json(InvoiceList {
            items: found.documents.iter().map(InvoiceView::from).collect(),
        })),
        _ => Err(Problem::not_found("order")),
    }
}

/// The document `id` if `caller` may read it, else 404.
async fn readable(app: &PaymentsApp, caller: &Principal, id: &str) -> ApiResult<Invoice> {
    if !platform::ids::is_uuid(id) {
        return Err(Problem::not_found("invoice"));
    }
    match app.invoice(id).await {
        Ok(invoice) if POLICY.may_see(caller, &invoice.user_id) => Ok(invoice),
        Ok(_) | Err(crate::PaymentsError::NotFound) => Err(Problem::not_found("invoice")),
        Err(err) => Err(err.into()),
    }
}

/// An invoice or credit note as JSON.
#[utoipa::path(
    get,
    path = "/api/v1/invoices/{id}",
    params(("id" = String, Path, description = "The document's id")),
    responses(
        (status = 200, description = "The document", body = InvoiceView),
        problems::Unauthorized, problems::NotFound,
    ),
)]
#[tracing::instrument(skip_all)]
async fn get_invoice(
    State(app): State<PaymentsApp>,
    caller: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<InvoiceView>> {
    let invoice = readable(&app, &caller, &id).await?;
    Ok(Json(InvoiceView::from(&invoice)))
}

/// An invoice or credit note as PDF.
#[utoipa::path(
    get,
    path = "/api/v1/invoices/{id}/pdf",
    params(("id" = String, Path, description = "The document's id")),
    responses(
        (status = 200, description = "The document", content_type = "application/pdf", body = InvoicePdf,
            headers(("Content-Disposition" = String, description = "`inline` with the file name `<number>.pdf`"))),
        problems::Unauthorized, problems::NotFound,
    ),
)]
#[tracing::instrument(skip_all)]
async fn get_invoice_pdf(
    State(app): State<PaymentsApp>,
    caller: Principal,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let invoice = readable(&app, &caller, &id).await?;
    let disposition =
        HeaderValue::from_str(&format!("inline; filename=\"{}.pdf\"", invoice.number))
            .unwrap_or_else(|_| HeaderValue::from_static("inline"));
    // A few milliseconds of CPU (font subsetting, compression): off the async workers.
    let pdf = tokio::task::spawn_blocking(move || crate::pdf::render(&invoice))
        .await
        .map_err(|err| Problem::unexpected(&err))?
        .map_err(|err| Problem::unexpected(&err))?;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/pdf"),
            ),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        pdf,
    )
        .into_response())
}
