//! Shipping labels: a one-page PDF 1.4 written by hand (no PDF crate needed for one
//! page of text and rectangles) with the addresses, the carrier, and the tracking
//! number as text and as a Code 128 (subset B) barcode.
//!
//! The PDF uses the standard Helvetica fonts (Type 1, WinAnsi encoding, nothing
//! embedded), one uncompressed content stream, and a cross-reference table of exact
//! byte offsets, so any reader opens it and text extraction finds the tracking number.

use std::fmt::Write as _;

/// Width × height of the page in points: a 4 × 6 inch thermal label.
const PAGE: (f64, f64) = (288.0, 432.0);
/// Margin around the content, in points.
const MARGIN: f64 = 18.0;
/// Quiet zone on each side of the barcode, in modules (the standard asks for 10).
const QUIET_MODULES: usize = 10;
/// Widest module drawn, in points.
const MAX_MODULE: f64 = 1.5;
/// Barcode height, in points.
const BAR_HEIGHT: f64 = 72.0;

/// Element widths (bar, space, bar, …) of the 107 Code 128 symbols; 106 is the stop
/// symbol, the only one of seven elements (13 modules instead of 11).
const CODE128_PATTERNS: [&str; 107] = [
    "212222", "222122", "222221", "121223", "121322", "131222", "122213", "122312", "132212",
    "221213", "221312", "231212", "112232", "122132", "122231", "113222", "123122", "123221",
    "223211", "221132", "221231", "213212", "223112", "312131", "311222", "321122", "321221",
    "312212", "322112", "322211", "212123", "212321", "232121", "111323", "131123", "131321",
    "112313", "132113", "132311", "211313", "231113", "231311", "112133", "112331", "132131",
    "113123", "113321", "133121", "313121", "211331", "231131", "213113", "213311", "213131",
    "311123", "311321", "331121", "312113", "312311", "332111", "314111", "221411", "431111",
    "111224", "111422", "121124", "121421", "141122", "141221", "112214", "112412", "122114",
    "122411", "142112", "142211", "241211", "221114", "413111", "241112", "134111", "111242",
    "121142", "121241", "114212", "124112", "124211", "411212", "421112", "421211", "212141",
    "214121", "412121", "111143", "111341", "131141", "114113", "114311", "411113", "411311",
    "113141", "114131", "311141", "411131", "211412", "211214", "211232", "2331112",
];
/// The Start B symbol.
const START_B: u8 = 104;
/// The stop symbol.
const STOP: u8 = 106;

/// The symbol values of `text` in Code 128 subset B: Start B, one symbol per character
/// (its ASCII code less 32), the modulo-103 checksum, Stop. `None` when a character is
/// outside subset B (printable ASCII, space to `~`).
pub fn code128b(text: &str) -> Option<Vec<u8>> {
    let mut symbols = vec![START_B];
    let mut sum = u64::from(START_B);
    for (position, c) in text.chars().enumerate() {
        if !(' '..='~').contains(&c) {
            return None;
        }
        let value = c as u8 - b' ';
        sum += (position as u64 + 1) * u64::from(value);
        symbols.push(value);
    }
    symbols.push((sum % 103) as u8);
    symbols.push(STOP);
    Some(symbols)
}

/// The bars of `symbols` as (offset, width) in modules from the first bar.
pub fn bars(symbols: &[u8]) -> Vec<(usize, usize)> {
    let mut bars = Vec::new();
    let mut x = 0;
    for symbol in symbols {
        let pattern = CODE128_PATTERNS
            .get(usize::from(*symbol))
            .copied()
            .unwrap_or("");
        for (i, width) in pattern.bytes().enumerate() {
            let width = usize::from(width - b'0');
            if i % 2 == 0 {
                bars.push((x, width));
            }
            x += width;
        }
    }
    bars
}

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

/// A PDF string literal of `text` for a WinAnsi-encoded font: `(`, `)` and `\` are
/// escaped, Latin-1 letters are written as octal escapes (WinAnsi matches Latin-1
/// from 0xA0), and anything the font cannot show becomes `?`.
pub fn pdf_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('(');
    for c in text.chars() {
        match c {
            '(' | ')' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            ' '..='~' => out.push(c),
            '\u{a0}'..='\u{ff}' => {
                let _ = write!(out, "\\{:03o}", c as u32);
            }
            c if c.is_whitespace() => out.push(' '),
            _ => out.push('?'),
        }
    }
    out.push(')');
    out
}

/// Content-stream operators and their text, built top to bottom.
struct Content {
    ops: String,
    y: f64,
}

impl Content {
    fn text(&mut self, font: &str, size: f64, text: &str) {
        self.y -= size * 1.25;
        let _ = writeln!(
            self.ops,
            "BT /{font} {size} Tf {MARGIN} {:.2} Td {} Tj ET",
            self.y,
            pdf_string(text)
        );
    }

    fn gap(&mut self, points: f64) {
        self.y -= points;
    }

    fn rule(&mut self) {
        self.y -= 6.0;
        let _ = writeln!(
            self.ops,
            "0.75 w {MARGIN} {y:.2} m {right} {y:.2} l S",
            y = self.y,
            right = PAGE.0 - MARGIN
        );
        self.y -= 4.0;
    }
}

/// The label as a PDF document.
pub fn render(label: &Label) -> Vec<u8> {
    let mut content = Content {
        ops: String::new(),
        y: PAGE.1 - MARGIN,
    };
    content.text("F2", 8.0, "FROM");
    for line in &label.from {
        content.text("F1", 9.0, line);
    }
    content.rule();
    content.text("F2", 9.0, "SHIP TO");
    for line in &label.to {
        content.text("F2", 12.0, line);
    }
    content.rule();
    content.text("F1", 9.0, &format!("Carrier: {}", label.carrier));
    for line in &label.details {
        content.text("F1", 9.0, line);
    }
    content.rule();
    content.text("F2", 8.0, "TRACKING NUMBER");
    content.gap(6.0);
    draw_barcode(&mut content, &label.tracking_number);
    content.gap(4.0);
    content.text("F2", 14.0, &label.tracking_number);
    document(
        &content.ops,
        &format!("Shipping label {}", label.tracking_number),
    )
}

/// Draws the tracking number's barcode below the current line, as filled rectangles.
fn draw_barcode(content: &mut Content, text: &str) {
    // Characters outside subset B cannot be encoded; the printed number still is.
    let Some(symbols) = code128b(text) else {
        return;
    };
    let bars = bars(&symbols);
    let modules = bars.last().map(|(x, w)| x + w).unwrap_or(0) + 2 * QUIET_MODULES;
    let module = ((PAGE.0 - 2.0 * MARGIN) / modules as f64).min(MAX_MODULE);
    let left = MARGIN + QUIET_MODULES as f64 * module;
    let bottom = content.y - BAR_HEIGHT;
    let _ = writeln!(content.ops, "0 g");
    for (x, width) in bars {
        let _ = writeln!(
            content.ops,
            "{:.3} {bottom:.2} {:.3} {BAR_HEIGHT} re",
            left + x as f64 * module,
            width as f64 * module,
        );
    }
    let _ = writeln!(content.ops, "f");
    content.y = bottom;
}

/// A one-page PDF 1.4 around `ops`, with the two Helvetica fonts as `F1` and `F2`.
fn document(ops: &str, title: &str) -> Vec<u8> {
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_owned(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_owned(),
        format!(
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {} {}] \
             /Resources << /Font << /F1 4 0 R /F2 5 0 R >> >> /Contents 6 0 R >>",
            PAGE.0, PAGE.1
        ),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"
            .to_owned(),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>"
            .to_owned(),
        format!("<< /Length {} >>\nstream\n{ops}endstream", ops.len()),
        format!(
            "<< /Title {} /Producer (Viscount fulfillment) >>",
            pdf_string(title)
        ),
    ];
    // The binary comment tells transfer tools the file is not plain text.
    let mut pdf: Vec<u8> = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n".to_vec();
    let mut offsets = Vec::with_capacity(objects.len());
    for (i, body) in objects.iter().enumerate() {
        offsets.push(pdf.len());
        pdf.extend_from_slice(format!("{} 0 obj\n{body}\nendobj\n", i + 1).as_bytes());
    }
    let xref_at = pdf.len();
    // Each cross-reference entry is exactly 20 bytes, its end of line included.
    let mut xref = format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1);
    for offset in offsets {
        // The space before the newline is part of the entry.
        let _ = writeln!(xref, "{offset:010} 00000 n ");
    }
    let _ = write!(
        xref,
        "trailer\n<< /Size {} /Root 1 0 R /Info {} 0 R >>\nstartxref\n{xref_at}\n%%EOF\n",
        objects.len() + 1,
        objects.len()
    );
    pdf.extend_from_slice(xref.as_bytes());
    pdf
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code128b_adds_the_weighted_modulo_103_checksum() {
        // Start B 104 + P 48×1 + J 42×2 + J 42×3 + 1 17×4 + 2 18×5 + 3 19×6 + C 35×7
        // = 879, and 879 mod 103 = 55 (the symbol `W`).
        assert_eq!(
            code128b("PJJ123C"),
            Some(vec![104, 48, 42, 42, 17, 18, 19, 35, 55, 106])
        );
        // Start B 104 + L 44×1 + C 35×2 + `0` 16×(3 + 4 + … + 14) = 1850, and
        // 1850 mod 103 = 99.
        assert_eq!(code128b("LC000000000000").map(|s| s[s.len() - 2]), Some(99));
        assert_eq!(code128b(""), Some(vec![104, 1, 106]), "104 mod 103");
        assert_eq!(code128b("é"), None);
        assert_eq!(code128b("a\nb"), None);
    }

    #[test]
    fn every_symbol_is_eleven_modules_and_the_stop_thirteen() {
        for (value, pattern) in CODE128_PATTERNS.iter().enumerate() {
            let modules: u32 = pattern.bytes().map(|b| u32::from(b - b'0')).sum();
            let expected = if value == usize::from(STOP) { 13 } else { 11 };
            assert_eq!(modules, expected, "symbol {value}");
        }
        // Start B is bar 2, space 1, bar 1, space 2, bar 1, space 4.
        assert_eq!(bars(&[START_B]), vec![(0, 2), (3, 1), (6, 1)]);
        let symbols = code128b("LC1").expect("encodable");
        let last = bars(&symbols).last().copied().expect("bars");
        // 1 start + 3 characters + 1 checksum symbols of 11 modules, then the stop,
        // which ends on a 2-module bar.
        assert_eq!(last.0 + last.1, 5 * 11 + 13);
    }

    #[test]
    fn pdf_strings_escape_delimiters_and_replace_what_winansi_lacks() {
        assert_eq!(pdf_string(r"a(b)c\d"), r"(a\(b\)c\\d)");
        assert_eq!(pdf_string("Zoë Müller"), r"(Zo\353 M\374ller)");
        assert_eq!(pdf_string("東京\tx"), "(?? x)");
    }

    #[test]
    fn the_document_has_a_correct_cross_reference_table() {
        let pdf = render(&Label {
            from: vec!["Warehouse (Main)".into()],
            to: vec!["Ann Buyer".into(), "1 Main St".into()],
            carrier: "Local Courier (local)".into(),
            tracking_number: "LC000000000042".into(),
            details: vec!["Order: o-1".into()],
        });
        assert!(pdf.starts_with(b"%PDF-1.4\n"));
        assert!(pdf.ends_with(b"%%EOF\n"));
        let text = String::from_utf8_lossy(&pdf).into_owned();
        let startxref: usize = text
            .rsplit("startxref\n")
            .next()
            .and_then(|t| t.lines().next())
            .and_then(|n| n.parse().ok())
            .expect("startxref");
        assert!(pdf[startxref..].starts_with(b"xref\n0 8\n"));
        let entries: Vec<&str> = text[..]
            .split("xref\n0 8\n")
            .nth(1)
            .expect("table")
            .split_inclusive('\n')
            .take(8)
            .collect();
        assert!(entries.iter().all(|e| e.len() == 20), "{entries:?}");
        for (number, entry) in entries.iter().enumerate().skip(1) {
            let offset: usize = entry[..10].parse().expect("offset");
            let header = format!("{number} 0 obj\n");
            assert!(
                pdf[offset..].starts_with(header.as_bytes()),
                "object {number}"
            );
        }
        let stream_len: usize = text
            .split("/Length ")
            .nth(1)
            .and_then(|t| t.split(' ').next())
            .and_then(|n| n.parse().ok())
            .expect("length");
        let start = text.find("stream\n").expect("stream") + "stream\n".len();
        assert_eq!(
            &text[start + stream_len..start + stream_len + 9],
            "endstream"
        );
        assert!(text.contains("(LC000000000042) Tj"));
        assert!(text.contains(" re\n") && text.contains("\nf\n"));
    }
}
