//! Invoices and credit notes as PDF: an A4 page (more when the lines do not fit) with
//! the seller, the document's number and date, the buyer, the lines, and net, tax and
//! gross.
//!
//! Written with krilla in the fonts and text layout fulfillment's labels use (the
//! `documents` crate), so names and addresses print in every script the Noto fonts
//! cover and the text extracts as written. The PDF is drawn from the stored document
//! each time it is asked for: the document is immutable, so the PDF says the same
//! thing every time, and no second copy of it is kept.

use documents::text::{self, Fonts, Weight};
use krilla::geom::PathBuilder;
use krilla::metadata::Metadata;
use krilla::page::PageSettings;
use krilla::paint::{Fill, Stroke};
use krilla::surface::Surface;
use krilla::{Document, SerializeSettings};

use crate::domain::{DocumentKind, Invoice, Party};

/// Width × height of an A4 page, in points.
const PAGE: (f32, f32) = (595.0, 842.0);
/// Margin around the content, in points.
const MARGIN: f32 = 48.0;
/// Smallest size a cell too long for its column is shrunk to, in points.
const MIN_SIZE: f32 = 5.0;
/// The right edges of the quantity, unit price and total columns; the item column
/// runs from the margin to before the quantity's.
const QTY_RIGHT: f32 = 380.0;
const UNIT_RIGHT: f32 = 465.0;
const TOTAL_RIGHT: f32 = PAGE.0 - MARGIN;
const ITEM_WIDTH: f32 = 260.0;

/// Why a document could not be drawn.
#[derive(Debug, thiserror::Error)]
pub enum PdfError {
    /// The fonts compiled into the binary do not read: a broken build.
    #[error(transparent)]
    Fonts(#[from] text::FontsError),
    /// krilla could not write the document.
    #[error("the invoice PDF could not be written: {0}")]
    Pdf(String),
}

/// `invoice` as a PDF document.
pub fn render(invoice: &Invoice) -> Result<Vec<u8>, PdfError> {
    let fonts = text::fonts()?;
    let mut document = Document::new_with(SerializeSettings {
        // As the labels: the information dictionary holds the title; no XMP packet,
        // no structure tree.
        xmp_metadata: false,
        enable_tagging: false,
        ..SerializeSettings::default()
    });
    document.set_metadata(
        Metadata::new()
            .title(format!("{} {}", title(invoice.kind), invoice.number))
            .producer("Viscount payments".to_owned()),
    );
    let settings = PageSettings::from_wh(PAGE.0, PAGE.1)
        .ok_or_else(|| PdfError::Pdf("invalid page size".to_owned()))?;
    let mut blocks = blocks(invoice).into_iter().peekable();
    while blocks.peek().is_some() {
        let mut page = document.start_page_with(settings.clone());
        let mut surface = page.surface();
        surface.set_fill(Some(Fill::default()));
        let mut y = MARGIN;
        // At least one block a page, so a block taller than a page cannot loop.
        let mut first = true;
        while let Some(block) = blocks.next_if(|b| first || y + b.height() <= PAGE.1 - MARGIN) {
            first = false;
            y = block.draw(&mut surface, fonts, y);
        }
        surface.finish();
        page.finish();
    }
    document
        .finish()
        .map_err(|err| PdfError::Pdf(err.to_string()))
}

fn title(kind: DocumentKind) -> &'static str {
    match kind {
        DocumentKind::Invoice => "Invoice",
        DocumentKind::CreditNote => "Credit note",
    }
}

/// Where a cell's text sits: from its `x`, or ending at it.
#[derive(Clone, Copy)]
enum Align {
    Left,
    Right,
}

/// A piece of text on a row, shrunk to `room` points when wider.
struct Cell {
    x: f32,
    align: Align,
    room: f32,
    weight: Weight,
    size: f32,
    text: String,
}

/// What the page is made of, top to bottom.
enum Block {
    /// Cells on one baseline.
    Row(Vec<Cell>),
    /// A horizontal rule across the content.
    Rule,
    /// Empty space, in points.
    Space(f32),
}

fn cell(x: f32, align: Align, room: f32, weight: Weight, size: f32, text: String) -> Cell {
    Cell {
        x,
        align,
        room,
        weight,
        size,
        text,
    }
}

/// A row of one left-aligned text.
fn line(weight: Weight, size: f32, text: impl Into<String>) -> Block {
    let room = PAGE.0 - 2.0 * MARGIN;
    Block::Row(vec![cell(
        MARGIN,
        Align::Left,
        room,
        weight,
        size,
        text.into(),
    )])
}

/// A row with a label on the left of the totals and its amount at the right edge.
fn total_row(weight: Weight, label: String, amount: String) -> Block {
    Block::Row(vec![
        cell(UNIT_RIGHT, Align::Right, 160.0, weight, 10.0, label),
        cell(TOTAL_RIGHT, Align::Right, 80.0, weight, 10.0, amount),
    ])
}

impl Block {
    fn height(&self) -> f32 {
        match self {
            Block::Row(cells) => cells.iter().map(|c| c.size).fold(0.0, f32::max) * 1.35,
            Block::Rule => 10.0,
            Block::Space(points) => *points,
        }
    }

    /// Draws the block below `y` and answers the new bottom.
    fn draw(&self, surface: &mut Surface<'_>, fonts: &Fonts, y: f32) -> f32 {
        let bottom = y + self.height();
        match self {
            Block::Row(cells) => {
                for cell in cells {
                    let laid = fonts.line(cell.weight, &cell.text);
                    let width = laid.width(cell.size);
                    let size = if width <= cell.room {
                        cell.size
                    } else {
                        (cell.size * cell.room / width).max(MIN_SIZE)
                    };
                    let x = match cell.align {
                        Align::Left => cell.x,
                        Align::Right => cell.x - laid.width(size),
                    };
                    // The baseline sits a quarter of the row above its bottom, leaving
                    // room for descenders.
                    laid.draw(surface, x, bottom - size * 0.3, size);
                }
            }
            Block::Rule => {
                let mut path = PathBuilder::new();
                path.move_to(MARGIN, y + 5.0);
                path.line_to(PAGE.0 - MARGIN, y + 5.0);
                if let Some(path) = path.finish() {
                    surface.set_fill(None);
                    surface.set_stroke(Some(Stroke {
                        width: 0.75,
                        ..Stroke::default()
                    }));
                    surface.draw_path(&path);
                    surface.set_stroke(None);
                    surface.set_fill(Some(Fill::default()));
                }
            }
            Block::Space(_) => {}
        }
        bottom
    }
}

/// An amount in major units with the currency's decimals (ISO 4217; two for a code
/// not known), without the currency: `1234.50`.
fn amount(minor: i64, currency: &str) -> String {
    let exponent = contracts::types::minor_unit_exponent(currency).unwrap_or(2);
    if exponent == 0 {
        return minor.to_string();
    }
    let sign = if minor < 0 { "-" } else { "" };
    let abs = minor.unsigned_abs();
    let scale = 10u64.pow(exponent);
    let width = exponent as usize;
    format!("{sign}{}.{:0width$}", abs / scale, abs % scale)
}

/// A rate in basis points as a percentage: `20.00 %`.
fn percent(basis_points: u32) -> String {
    format!("{}.{:02} %", basis_points / 100, basis_points % 100)
}

/// A party's printed lines after its name.
fn address(party: &Party) -> impl Iterator<Item = Block> + '_ {
    party
        .address_lines
        .iter()
        .chain(std::iter::once(&party.country).filter(|c| !c.is_empty()))
        .map(|text| line(Weight::Regular, 9.0, text.as_str()))
}

/// The whole document as blocks, top to bottom.
fn blocks(invoice: &Invoice) -> Vec<Block> {
    let currency = invoice.currency.as_str();
    let seller = &invoice.seller;
    let buyer = &invoice.buyer;
    let date = platform::time::rfc3339(invoice.issued_at);
    let mut blocks = vec![Block::Row(vec![
        cell(
            MARGIN,
            Align::Left,
            300.0,
            Weight::Bold,
            14.0,
            seller.name.clone(),
        ),
        cell(
            TOTAL_RIGHT,
            Align::Right,
            180.0,
            Weight::Bold,
            18.0,
            title(invoice.kind).to_uppercase(),
        ),
    ])];
    blocks.extend(address(seller));
    if let Some(vat_id) = &seller.vat_id {
        blocks.push(line(Weight::Regular, 9.0, format!("VAT ID: {vat_id}")));
    }
    blocks.push(Block::Space(14.0));
    blocks.push(line(
        Weight::Bold,
        11.0,
        format!("Number: {}", invoice.number),
    ));
    blocks.push(line(
        Weight::Regular,
        10.0,
        format!("Date: {}", date.get(..10).unwrap_or(date.as_str())),
    ));
    if let Some(reference) = &invoice.refers_to {
        blocks.push(line(
            Weight::Regular,
            10.0,
            format!("Credits invoice: {}", reference.number),
        ));
    }
    blocks.push(line(
        Weight::Regular,
        10.0,
        format!("Order: {}", invoice.order_id),
    ));
    blocks.push(line(
        Weight::Regular,
        10.0,
        format!("Payment: {}", invoice.payment_id),
    ));
    blocks.push(Block::Space(14.0));
    blocks.push(line(Weight::Bold, 9.0, "BILL TO"));
    if !buyer.name.is_empty() {
        blocks.push(line(Weight::Bold, 11.0, buyer.name.as_str()));
    }
    blocks.extend(address(buyer));
    if let Some(user_id) = &buyer.user_id {
        blocks.push(line(Weight::Regular, 9.0, format!("Customer: {user_id}")));
    }
    blocks.push(Block::Space(18.0));
    blocks.push(Block::Row(vec![
        cell(
            MARGIN,
            Align::Left,
            ITEM_WIDTH,
            Weight::Bold,
            9.0,
            "Item".into(),
        ),
        cell(
            QTY_RIGHT,
            Align::Right,
            60.0,
            Weight::Bold,
            9.0,
            "Qty".into(),
        ),
        cell(
            UNIT_RIGHT,
            Align::Right,
            80.0,
            Weight::Bold,
            9.0,
            "Unit price".into(),
        ),
        cell(
            TOTAL_RIGHT,
            Align::Right,
            80.0,
            Weight::Bold,
            9.0,
            "Total".into(),
        ),
    ]));
    blocks.push(Block::Rule);
    for item in &invoice.lines {
        let name = if item.description == item.sku {
            item.sku.clone()
        } else {
            format!("{} ({})", item.description, item.sku)
        };
        blocks.push(Block::Row(vec![
            cell(MARGIN, Align::Left, ITEM_WIDTH, Weight::Regular, 10.0, name),
            cell(
                QTY_RIGHT,
                Align::Right,
                60.0,
                Weight::Regular,
                10.0,
                item.quantity.to_string(),
            ),
            cell(
                UNIT_RIGHT,
                Align::Right,
                80.0,
                Weight::Regular,
                10.0,
                amount(item.unit_price, currency),
            ),
            cell(
                TOTAL_RIGHT,
                Align::Right,
                80.0,
                Weight::Regular,
                10.0,
                amount(item.total, currency),
            ),
        ]));
    }
    blocks.push(Block::Rule);
    let totals = invoice.totals;
    blocks.push(total_row(
        Weight::Regular,
        "Net".into(),
        amount(totals.net, currency),
    ));
    blocks.push(total_row(
        Weight::Regular,
        format!("VAT {}", percent(invoice.tax_rate_basis_points)),
        amount(totals.tax, currency),
    ));
    let gross_label = match invoice.kind {
        DocumentKind::Invoice => "Total",
        DocumentKind::CreditNote => "Total credited",
    };
    blocks.push(total_row(
        Weight::Bold,
        gross_label.into(),
        format!("{} {currency}", amount(totals.gross, currency)),
    ));
    blocks.push(Block::Space(18.0));
    blocks.push(line(
        Weight::Regular,
        8.0,
        format!("Prices include VAT. Amounts in {currency}."),
    ));
    blocks
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::invoice::{InvoiceLine, Reference, TaxSplit};

    fn document(lines: usize) -> Invoice {
        Invoice {
            id: "doc-1".into(),
            kind: DocumentKind::CreditNote,
            number: "CN-2026-000042".into(),
            year: 2026,
            sequence: 42,
            order_id: "o-1".into(),
            payment_id: "p-1".into(),
            user_id: "u-1".into(),
            refund_id: Some("r-1".into()),
            refers_to: Some(Reference {
                id: "doc-0".into(),
                number: "INV-2026-000007".into(),
            }),
            issued_at: 1_780_000_000_000,
            seller: Party {
                name: "Viscount Demo Shop".into(),
                address_lines: vec!["1 Depot Road".into()],
                country: "US".into(),
                vat_id: Some("US-VAT-1".into()),
                user_id: None,
            },
            buyer: Party {
                name: "山田 太郎".into(),
                address_lines: vec!["Zażółć 1".into(), "100-0001 東京都".into()],
                country: "JP".into(),
                vat_id: None,
                user_id: Some("u-1".into()),
            },
            lines: (0..lines)
                .map(|i| InvoiceLine {
                    sku: format!("SKU-{i}"),
                    description: format!("SKU-{i}"),
                    quantity: 1,
                    unit_price: 100,
                    total: 100,
                })
                .collect(),
            currency: "USD".into(),
            tax_rate_basis_points: 2_000,
            totals: TaxSplit::of_inclusive(100 * lines as i64, 2_000),
        }
    }

    fn text_of(pdf: &[u8]) -> (usize, String) {
        let document = lopdf::Document::load_mem(pdf).expect("the PDF parses");
        let pages: Vec<u32> = document.get_pages().keys().copied().collect();
        let text = document.extract_text(&pages).expect("text");
        (pages.len(), text)
    }

    #[test]
    fn a_credit_note_prints_its_number_reference_parties_and_totals() {
        let pdf = render(&document(2)).expect("a PDF");
        let (pages, text) = text_of(&pdf);
        assert_eq!(pages, 1);
        for expected in [
            "CREDIT NOTE",
            "CN-2026-000042",
            "Credits invoice: INV-2026-000007",
            "VAT ID: US-VAT-1",
            // Each run of a font extracts as a text of its own.
            "山田",
            "太郎",
            "東京都",
            "Zażółć 1",
            "SKU-1",
            "VAT 20.00 %",
            "0.33",
            "1.67",
            "2.00 USD",
        ] {
            assert!(text.contains(expected), "{expected} in {text}");
        }
    }

    #[test]
    fn lines_that_do_not_fit_a_page_continue_on_the_next() {
        let pdf = render(&document(120)).expect("a PDF");
        let (pages, text) = text_of(&pdf);
        assert!(pages >= 3, "{pages} pages");
        assert!(text.contains("SKU-0") && text.contains("SKU-119"));
        assert!(text.contains("120.00 USD"));
    }

    #[test]
    fn amounts_print_with_the_currency_decimals() {
        assert_eq!(amount(123_450, "USD"), "1234.50");
        assert_eq!(amount(-5, "EUR"), "-0.05");
        assert_eq!(amount(1_200, "JPY"), "1200");
        assert_eq!(percent(2_000), "20.00 %");
        assert_eq!(percent(755), "7.55 %");
    }
}
