//! Invoices and credit notes (seed 003's Invoice aggregate): the document issued for
//! each captured payment, and one for each refund that takes money back from it.
//!
//! A document is immutable once issued: everything it shows (seller, buyer, lines,
//! rate, totals) is fixed here when it is built and stored whole, so a later change of
//! the seller's address or the tax rate never rewrites an issued document.
//!
//! Numbers are `<series>-<year>-<sequence>` (`INV-2026-000001`, `CN-2026-000001`), one
//! sequence per series and calendar year (UTC) without gaps. The sequence comes from a
//! counter the store advances inside the transaction that issues the document (see
//! `store::invoices::next_sequence`), so a rolled-back capture gives its number back.
//!
//! Prices are tax-inclusive. The tax split is computed once per document on its gross
//! total, in integer minor units (see [`TaxSplit::of_inclusive`] for the rounding), so
//! net + tax = gross exactly and gross is exactly the money captured or refunded.

use contracts::ordering::{OrderConfirmed, ShippingAddress};
use serde::{Deserialize, Serialize};

use super::Money;

/// A tax rate's denominator: rates are in basis points (2000 = 20 %).
pub const BASIS_POINTS: u32 = 10_000;

/// What a document is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DocumentKind {
    /// Issued for a captured payment.
    Invoice,
    /// Issued for a refund, against the payment's invoice.
    CreditNote,
}

impl DocumentKind {
    /// Every kind.
    pub const ALL: [DocumentKind; 2] = [Self::Invoice, Self::CreditNote];

    /// The name the API and the database use.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Invoice => "invoice",
            Self::CreditNote => "credit_note",
        }
    }

    /// The kind of a name, `None` for a name that is not one.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// The number series: each kind counts on its own.
    pub fn series(self) -> &'static str {
        match self {
            Self::Invoice => "INV",
            Self::CreditNote => "CN",
        }
    }

    /// The document's number: `INV-2026-000001`. Six digits at least; a year with a
    /// millionth document gets a seventh rather than wrapping.
    pub fn number(self, year: i32, sequence: i64) -> String {
        format!("{}-{year}-{sequence:06}", self.series())
    }
}

/// The calendar year (UTC) of `millis` since the epoch: the year a number counts in.
pub fn year_of(millis: i64) -> i32 {
    time::OffsetDateTime::from_unix_timestamp(millis.div_euclid(1000)).map_or(1970, |at| at.year())
}

/// A tax-inclusive amount split into its net and tax parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaxSplit {
    /// Without tax.
    pub net: i64,
    /// The tax in it.
    pub tax: i64,
    /// With tax: what the customer paid (or got back).
    pub gross: i64,
}

impl TaxSplit {
    /// Splits the tax-inclusive `gross` at `rate_basis_points`.
    ///
    /// Rounding rule: tax = gross × rate ÷ (10 000 + rate), rounded to the nearest minor
    /// unit with halves away from zero; net = gross − tax. Only the tax is rounded and
    /// the net is what remains, so the parts always add up to the gross exactly. Computed
    /// once per document on its total (not per line and summed), so a document has one
    /// rounding, never several that drift apart.
    pub fn of_inclusive(gross: i64, rate_basis_points: u32) -> Self {
        let rate = i128::from(rate_basis_points);
        let denominator = i128::from(BASIS_POINTS) + rate;
        let numerator = i128::from(gross) * rate;
        // Round half away from zero: add half the denominator to the magnitude.
        let magnitude = (numerator.abs() * 2 + denominator) / (denominator * 2);
        let tax = i64::try_from(numerator.signum() * magnitude).unwrap_or(0);
        Self {
            net: gross - tax,
            tax,
            gross,
        }
    }
}

/// Seller or buyer as a document prints them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Party {
    /// Name.
    pub name: String,
    /// Address, one entry a printed line (without the country).
    pub address_lines: Vec<String>,
    /// ISO 3166-1 alpha-2 country.
    pub country: String,
    /// VAT identification number, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vat_id: Option<String>,
    /// The buyer's user id (the seller has none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
}

impl Party {
    /// The buyer of an order: whom it ships to, and who paid (`user_id`). An order
    /// without an address has a buyer known only by the user id.
    pub fn buyer(address: Option<&ShippingAddress>, user_id: &str) -> Self {
        let Some(address) = address else {
            return Self {
                name: String::new(),
                address_lines: Vec::new(),
                country: String::new(),
                vat_id: None,
                user_id: Some(user_id.to_owned()),
            };
        };
        let mut lines = vec![address.line1.clone()];
        lines.extend(address.line2.clone().filter(|l| !l.trim().is_empty()));
        lines.push(format!("{} {}", address.postal_code, address.city));
        Self {
            name: address.name.clone(),
            address_lines: lines,
            country: address.country.clone(),
            vat_id: None,
            user_id: Some(user_id.to_owned()),
        }
    }
}

/// One line of a document. Amounts are minor units of the document's currency and
/// tax-inclusive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceLine {
    /// The sellable unit (`ADJUSTMENT` or `REFUND` for the lines a document adds).
    pub sku: String,
    /// What it is, for people.
    pub description: String,
    /// How many.
    pub quantity: u32,
    /// Price per unit.
    pub unit_price: i64,
    /// quantity × unit price.
    pub total: i64,
}

/// The invoice a credit note corrects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reference {
    /// The invoice's id.
    pub id: String,
    /// Its number.
    pub number: String,
}

/// An issued invoice or credit note, exactly as issued.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invoice {
    /// Id.
    pub id: String,
    /// What it is.
    pub kind: DocumentKind,
    /// `INV-2026-000001` or `CN-2026-000001`.
    pub number: String,
    /// The year its number counts in.
    pub year: i32,
    /// Its place in the year's series, from 1.
    pub sequence: i64,
    /// The order it is for.
    pub order_id: String,
    /// The payment it documents.
    pub payment_id: String,
    /// The payer.
    pub user_id: String,
    /// A credit note's refund (its ledger row).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refund_id: Option<String>,
    /// A credit note's invoice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refers_to: Option<Reference>,
    /// When it was issued, epoch ms.
    pub issued_at: i64,
    /// Who sells.
    pub seller: Party,
    /// Who buys.
    pub buyer: Party,
    /// What it bills (or credits).
    pub lines: Vec<InvoiceLine>,
    /// ISO 4217 currency of every amount.
    pub currency: String,
    /// The VAT rate, basis points.
    pub tax_rate_basis_points: u32,
    /// Net, tax and gross of the whole document.
    pub totals: TaxSplit,
}

/// What every new document needs besides its content: its identity and the issuer's
/// settings at the time of issue.
#[derive(Debug, Clone)]
pub struct Issue {
    /// The new document's id.
    pub id: String,
    /// The year its number counts in (see [`year_of`]).
    pub year: i32,
    /// Its sequence in that year's series, from the store's counter.
    pub sequence: i64,
    /// Now, epoch ms.
    pub issued_at: i64,
    /// The seller.
    pub seller: Party,
    /// The VAT rate, basis points.
    pub tax_rate_basis_points: u32,
}

impl Invoice {
    /// The invoice of a capture: the order's lines, and an `ADJUSTMENT` line for any
    /// difference between them and the amount `captured` (lines in another currency,
    /// or a capture of other than the lines' sum), so the invoice's gross is exactly
    /// the money that moved.
    pub fn for_capture(
        issue: Issue,
        order: &OrderConfirmed,
        payment_id: &str,
        user_id: &str,
        captured: &Money,
    ) -> Self {
        let mut lines: Vec<InvoiceLine> = order
            .items
            .iter()
            .filter(|item| item.unit_price.currency == captured.currency)
            .map(|item| InvoiceLine {
                sku: item.sku.clone(),
                description: item.sku.clone(),
                quantity: item.quantity,
                unit_price: item.unit_price.amount,
                total: item
                    .unit_price
                    .amount
                    .saturating_mul(i64::from(item.quantity)),
            })
            .collect();
        let billed = lines
            .iter()
            .fold(0_i64, |sum, line| sum.saturating_add(line.total));
        let difference = captured.amount.saturating_sub(billed);
        if difference != 0 || lines.is_empty() {
            lines.push(InvoiceLine {
                sku: "ADJUSTMENT".to_owned(),
                description: "Adjustment to the amount paid".to_owned(),
                quantity: 1,
                unit_price: difference,
                total: difference,
            });
        }
        let kind = DocumentKind::Invoice;
        Self {
            id: issue.id,
            kind,
            number: kind.number(issue.year, issue.sequence),
            year: issue.year,
            sequence: issue.sequence,
            order_id: order.order_id.clone(),
            payment_id: payment_id.to_owned(),
            user_id: user_id.to_owned(),
            refund_id: None,
            refers_to: None,
            issued_at: issue.issued_at,
            seller: issue.seller,
            buyer: Party::buyer(order.shipping_address.as_ref(), user_id),
            lines,
            currency: captured.currency.clone(),
            tax_rate_basis_points: issue.tax_rate_basis_points,
            totals: TaxSplit::of_inclusive(captured.amount, issue.tax_rate_basis_points),
        }
    }

    /// The credit note of refund `refund_id` of `amount` against this invoice: one
    /// `REFUND` line, the invoice's buyer, and the invoice's tax rate (the refund
    /// takes back tax at the rate it was charged at, whatever the rate is now). The
    /// seller is the one of `issue`: who issues the credit note now.
    pub fn credit_note(&self, issue: Issue, refund_id: &str, amount: &Money) -> Self {
        let kind = DocumentKind::CreditNote;
        Self {
            id: issue.id,
            kind,
            number: kind.number(issue.year, issue.sequence),
            year: issue.year,
            sequence: issue.sequence,
            order_id: self.order_id.clone(),
            payment_id: self.payment_id.clone(),
            user_id: self.user_id.clone(),
            refund_id: Some(refund_id.to_owned()),
            refers_to: Some(Reference {
                id: self.id.clone(),
                number: self.number.clone(),
            }),
            issued_at: issue.issued_at,
            seller: issue.seller,
            buyer: self.buyer.clone(),
            lines: vec![InvoiceLine {
                sku: "REFUND".to_owned(),
                description: format!("Refund against invoice {}", self.number),
                quantity: 1,
                unit_price: amount.amount,
                total: amount.amount,
            }],
            currency: amount.currency.clone(),
            tax_rate_basis_points: self.tax_rate_basis_points,
            totals: TaxSplit::of_inclusive(amount.amount, self.tax_rate_basis_points),
        }
    }
}

#[cfg(test)]
mod tests {
    use contracts::ordering::OrderLine;

    use super::*;

    fn usd(amount: i64) -> Money {
        Money {
            amount,
            currency: "USD".into(),
        }
    }

    fn issue(sequence: i64, rate: u32) -> Issue {
        Issue {
            id: format!("doc-{sequence}"),
            year: 2026,
            sequence,
            issued_at: 1_780_000_000_000,
            seller: Party {
                name: "Shop".into(),
                address_lines: vec!["1 Road".into()],
                country: "US".into(),
                vat_id: Some("US123".into()),
                user_id: None,
            },
            tax_rate_basis_points: rate,
        }
    }

    fn order(items: Vec<OrderLine>) -> OrderConfirmed {
        OrderConfirmed {
            order_id: "o-1".into(),
            user_id: Some("u-1".into()),
            payment_id: Some("p-1".into()),
            total: None,
            shipping_address: Some(ShippingAddress {
                name: "Ann Buyer".into(),
                line1: "1 Main St".into(),
                line2: None,
                city: "Springfield".into(),
                postal_code: "12345".into(),
                country: "US".into(),
            }),
            items,
            attribution: None,
        }
    }

    #[test]
    fn the_tax_split_rounds_the_tax_half_away_from_zero_and_adds_up() {
        // (gross, rate bp) → (net, tax)
        let cases = [
            (1_000, 0, 1_000, 0),
            (1_000, 2_000, 833, 167), // 166.67 → 167
            (1_200, 2_000, 1_000, 200),
            (1, 2_000, 1, 0),           // 0.17 → 0
            (3, 2_000, 2, 1),           // 0.5 → 1 (half away from zero)
            (3, 10_000, 1, 2),          // 1.5 → 2
            (2, 10_000, 1, 1),          // exactly 1
            (999, 700, 934, 65),        // 65.35 → 65
            (1_999, 1_900, 1_680, 319), // 319.18 → 319
            (-3, 2_000, -2, -1),        // a negative adjustment rounds symmetrically
            (
                i64::MAX,
                2_000,
                i64::MAX - 1_537_228_672_809_129_301,
                1_537_228_672_809_129_301,
            ),
        ];
        for (gross, rate, net, tax) in cases {
            let split = TaxSplit::of_inclusive(gross, rate);
            assert_eq!((split.net, split.tax), (net, tax), "{gross} at {rate}");
            assert_eq!(split.net + split.tax, gross);
            assert_eq!(split.gross, gross);
        }
    }

    #[test]
    fn numbers_count_per_series_and_year_with_six_digits() {
        assert_eq!(DocumentKind::Invoice.number(2026, 1), "INV-2026-000001");
        assert_eq!(DocumentKind::CreditNote.number(2027, 42), "CN-2027-000042");
        assert_eq!(
            DocumentKind::Invoice.number(2026, 1_234_567),
            "INV-2026-1234567"
        );
        assert_eq!(year_of(0), 1970);
        // 2026-12-31T23:59:59.999Z and a millisecond later.
        assert_eq!(year_of(1_798_761_599_999), 2026);
        assert_eq!(year_of(1_798_761_600_000), 2027);
        for kind in DocumentKind::ALL {
            assert_eq!(DocumentKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(DocumentKind::parse("receipt"), None);
    }

    #[test]
    fn an_invoice_bills_the_lines_and_adjusts_to_the_amount_captured() {
        let lines = vec![
            OrderLine {
                sku: "A".into(),
                quantity: 2,
                unit_price: usd(1_250),
            },
            OrderLine {
                sku: "B".into(),
                quantity: 1,
                unit_price: usd(499),
            },
        ];
        let invoice = Invoice::for_capture(
            issue(7, 2_000),
            &order(lines.clone()),
            "p-1",
            "u-1",
            &usd(2_999),
        );
        assert_eq!(invoice.number, "INV-2026-000007");
        assert_eq!(invoice.lines.len(), 2);
        assert_eq!(invoice.lines[0].total, 2_500);
        assert_eq!(
            invoice.totals,
            TaxSplit {
                net: 2_499,
                tax: 500,
                gross: 2_999
            }
        );
        assert_eq!(invoice.buyer.name, "Ann Buyer");
        assert_eq!(
            invoice.buyer.address_lines,
            ["1 Main St", "12345 Springfield"]
        );
        assert_eq!(invoice.buyer.user_id.as_deref(), Some("u-1"));

        // Captured less than the lines: the difference is a line of its own.
        let short = Invoice::for_capture(issue(8, 0), &order(lines), "p-1", "u-1", &usd(2_900));
        let adjustment = short.lines.last().expect("an adjustment");
        assert_eq!(
            (adjustment.sku.as_str(), adjustment.total),
            ("ADJUSTMENT", -99)
        );
        assert_eq!(short.lines.iter().map(|l| l.total).sum::<i64>(), 2_900);
        assert_eq!(short.totals.gross, 2_900);
    }

    #[test]
    fn a_credit_note_refers_to_its_invoice_at_the_invoice_rate() {
        let invoice = Invoice::for_capture(
            issue(1, 2_000),
            &order(Vec::new()),
            "p-1",
            "u-1",
            &usd(1_000),
        );
        let note = invoice.credit_note(issue(3, 0), "r-1", &usd(300));
        assert_eq!(note.kind, DocumentKind::CreditNote);
        assert_eq!(note.number, "CN-2026-000003");
        assert_eq!(
            note.refers_to.as_ref().map(|r| r.number.as_str()),
            Some("INV-2026-000001")
        );
        assert_eq!(note.refund_id.as_deref(), Some("r-1"));
        assert_eq!(note.tax_rate_basis_points, 2_000);
        assert_eq!(
            note.totals,
            TaxSplit {
                net: 250,
                tax: 50,
                gross: 300
            }
        );
        assert_eq!(note.buyer, invoice.buyer);
    }
}
