//! Shipping labels: a one-page 4 × 6 inch PDF with the sender, the recipient, the
//! carrier and shipment details, and the tracking number as a Code 128 barcode with
//! the number printed under it.
//!
//! Written with krilla, which embeds a subset of each font used (only the glyphs the
//! label shows), so addresses print in any script the fonts cover — Latin with every
//! European accent, Greek, Cyrillic, Japanese — and the PDF's ToUnicode maps keep the
//! text searchable and extractable. The fonts and the choice among them are shared
//! with payments' invoices (the `documents` crate's `text`); the barcode is in `barcode`.

mod barcode;

#[cfg(test)]
mod tests;

use krilla::geom::PathBuilder;
use krilla::metadata::Metadata;
use krilla::page::PageSettings;
use krilla::paint::{Fill, Stroke};
use krilla::surface::Surface;
use krilla::{Document, SerializeSettings};

use barcode::Barcode;
use documents::text::{self, Fonts, Weight};

/// Width × height of the page in points: a 4 × 6 inch thermal label.
const PAGE: (f32, f32) = (288.0, 432.0);
/// Margin around the content, in points.
const MARGIN: f32 = 18.0;
/// Widest module drawn, in points.
const MAX_MODULE: f32 = 1.5;
/// Barcode height, in points.
const BAR_HEIGHT: f32 = 72.0;
/// Smallest size a line too long for the label is shrunk to, in points; a longer line
/// runs past the margin rather than becoming unreadable.
const MIN_SIZE: f32 = 5.0;

/// What a label shows.
#[derive(Debug, Clone)]
pub struct Label {
    /// Sender address lines (the warehouse).
    pub from: Vec<String>,
    /// Recipient address lines.
    pub to: Vec<String>,
    /// Carrier name and code, e.g. `Local Courier (local)`.
    pub carrier: String,
    /// The tracking number.
    pub tracking_number: String,
    /// Further lines (order, shipment, weight).
    pub details: Vec<String>,
}

/// Why a label could not be written.
#[derive(Debug, thiserror::Error)]
pub enum LabelError {
    /// The fonts compiled into the binary do not read: a broken build.
    #[error("the embedded label fonts do not read")]
    Fonts(#[from] text::FontsError),
    /// krilla could not write the document (for example, a font it could not subset).
    #[error("the label PDF could not be written: {0}")]
    Pdf(String),
}

/// The label as a PDF document.
pub fn render(label: &Label) -> Result<Vec<u8>, LabelError> {
    let fonts = text::fonts()?;
    let mut document = Document::new_with(SerializeSettings {
        // The title and producer go in the document information dictionary; an XMP
        // packet would repeat them in a kilobyte of XML, and a label has no structure
        // tree for tagging to describe.
        xmp_metadata: false,
        enable_tagging: false,
        ..SerializeSettings::default()
    });
    document.set_metadata(
        Metadata::new()
            .title(format!("Shipping label {}", label.tracking_number))
            .producer("Viscount fulfillment".to_owned()),
    );
    let settings = PageSettings::from_wh(PAGE.0, PAGE.1)
        .ok_or_else(|| LabelError::Pdf("invalid page size".to_owned()))?;
    let mut page = document.start_page_with(settings);
    let mut surface = page.surface();
    surface.set_fill(Some(Fill::default()));
    Writer {
        surface: &mut surface,
        fonts,
        y: MARGIN,
    }
    .label(label);
    surface.finish();
    page.finish();
    document
        .finish()
        .map_err(|err| LabelError::Pdf(err.to_string()))
}

/// Draws the label top to bottom; `y` is the bottom of what is drawn so far, in
/// points from the top of the page (krilla's coordinates grow downwards).
struct Writer<'w, 's> {
    surface: &'w mut Surface<'s>,
    fonts: &'static Fonts,
    y: f32,
}

impl Writer<'_, '_> {
    fn label(&mut self, label: &Label) {
        self.text(Weight::Bold, 8.0, "FROM");
        for line in &label.from {
            self.text(Weight::Regular, 9.0, line);
        }
        self.rule();
        self.text(Weight::Bold, 9.0, "SHIP TO");
        for line in &label.to {
            self.text(Weight::Bold, 12.0, line);
        }
        self.rule();
        self.text(Weight::Regular, 9.0, &format!("Carrier: {}", label.carrier));
        for line in &label.details {
            self.text(Weight::Regular, 9.0, line);
        }
        self.rule();
        self.text(Weight::Bold, 8.0, "TRACKING NUMBER");
        self.y += 6.0;
        if let Some(code) = Barcode::encode(&label.tracking_number) {
            self.barcode(&code);
            self.y += 4.0;
        }
        // The number is printed whether or not it could be encoded, so a courier can
        // always key it in.
        self.centered(Weight::Bold, 14.0, &label.tracking_number);
    }

    /// A line at the left margin, shrunk to fit the width when it is too long.
    fn text(&mut self, weight: Weight, size: f32, text: &str) {
        let line = self.fonts.line(weight, text);
        let fitted = fit(size, line.width(size));
        self.y += size * 1.25;
        line.draw(self.surface, MARGIN, self.y, fitted);
    }

    /// A line centred on the page, shrunk to fit the width when it is too long.
    fn centered(&mut self, weight: Weight, size: f32, text: &str) {
        let line = self.fonts.line(weight, text);
        let fitted = fit(size, line.width(size));
        let width = line.width(fitted);
        self.y += size * 1.25;
        line.draw(
            self.surface,
            ((PAGE.0 - width) / 2.0).max(MARGIN),
            self.y,
            fitted,
        );
    }

    /// A horizontal rule across the content width.
    fn rule(&mut self) {
        self.y += 6.0;
        let mut path = PathBuilder::new();
        path.move_to(MARGIN, self.y);
        path.line_to(PAGE.0 - MARGIN, self.y);
        if let Some(path) = path.finish() {
            self.surface.set_fill(None);
            self.surface.set_stroke(Some(Stroke {
                width: 0.75,
                ..Stroke::default()
            }));
            self.surface.draw_path(&path);
            self.surface.set_stroke(None);
            self.surface.set_fill(Some(Fill::default()));
        }
        self.y += 4.0;
    }

    /// The barcode centred below the current line, as wide as the content allows up
    /// to `MAX_MODULE` points a module.
    fn barcode(&mut self, code: &Barcode) {
        let modules = code.modules() as f32;
        let module = ((PAGE.0 - 2.0 * MARGIN) / modules).min(MAX_MODULE);
        let left = (PAGE.0 - modules * module) / 2.0;
        code.draw(self.surface, left, self.y, module, BAR_HEIGHT);
        self.y += BAR_HEIGHT;
    }
}

/// The size at which a line `width` points wide at `size` fits between the margins.
fn fit(size: f32, width: f32) -> f32 {
    let room = PAGE.0 - 2.0 * MARGIN;
    if width <= room {
        size
    } else {
        (size * room / width).max(MIN_SIZE)
    }
}
