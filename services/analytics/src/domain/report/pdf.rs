//! A report as a PDF: A4 pages in Helvetica (a standard-14 font, so nothing is
//! embedded), the title and subtitle on the first page, then the table with its header
//! row repeated at the top of every page, and "Page n of N" at the foot of each.
//!
//! Columns are as wide as their widest text (up to a cap); a table too wide for a
//! portrait page turns the page to landscape, and one too wide for that shrinks every
//! column in proportion and cuts the text that no longer fits with an ellipsis. Numbers
//! are right-aligned. Text goes out in WinAnsi (see `helvetica`): what it cannot show
//! becomes `?`, never an error. Content streams are left uncompressed: reports are
//! small next to the time compressing would cost, and plain text stays greppable.

use pdf_writer::{Content, Finish, Name, Pdf, Rect, Ref, Str, TextStr};

use super::helvetica::{encode, fit, width};
use super::{Cell, Table, minor_unit_exponent, percent};

/// A4 in points, portrait.
const A4: (f32, f32) = (595.0, 842.0);
/// Space around the page's content.
const MARGIN: f32 = 40.0;
const TITLE_SIZE: f32 = 16.0;
const SUBTITLE_SIZE: f32 = 10.0;
const CELL_SIZE: f32 = 9.0;
const FOOTER_SIZE: f32 = 8.0;
/// Height of a table row.
const ROW_HEIGHT: f32 = 14.0;
/// Space between a cell's edge and its text.
const PADDING: f32 = 3.0;
/// Widest a column grows before the table is fitted to the page, so one long text
/// column does not squeeze the others.
const MAX_COLUMN: f32 = 200.0;
/// Room kept at the foot of each page for the page number.
const FOOTER_ROOM: f32 = 24.0;
/// Baseline of a row's text above the row's bottom edge (room for descenders).
const BASELINE: f32 = 4.0;

const REGULAR: Name<'static> = Name(b"F1");
const BOLD: Name<'static> = Name(b"F2");

/// How the table sits on the pages.
struct Layout {
    /// Page width and height.
    page: (f32, f32),
    /// Each column's width.
    widths: Vec<f32>,
    /// Whether each column holds numbers (right-aligned, header included).
    numeric: Vec<bool>,
    /// The rows on each page (a page with none when the table is empty).
    pages: Vec<std::ops::Range<usize>>,
}

/// `table` as a PDF document.
pub(super) fn render(table: &Table) -> Vec<u8> {
    let layout = layout(table);
    let page_count = layout.pages.len();
    let catalog = Ref::new(1);
    let tree = Ref::new(2);
    let regular = Ref::new(3);
    let bold = Ref::new(4);
    let info = Ref::new(5);
    // Two objects per page (the page and its content) after the five above. A page
    // count past i32 would need billions of rows in memory first.
    let page_ref = |index: usize| Ref::new(6 + 2 * i32::try_from(index).unwrap_or(i32::MAX / 4));
    let content_ref = |index: usize| page_ref(index).next();

    let mut pdf = Pdf::new();
    pdf.catalog(catalog).pages(tree);
    pdf.pages(tree)
        .kids((0..page_count).map(page_ref))
        .count(i32::try_from(page_count).unwrap_or(i32::MAX));
    for (font, name) in [(regular, "Helvetica"), (bold, "Helvetica-Bold")] {
        pdf.type1_font(font)
            .base_font(Name(name.as_bytes()))
            .encoding_predefined(Name(b"WinAnsiEncoding"));
    }
    pdf.document_info(info)
        .title(TextStr(&table.title))
        .producer(TextStr("Viscount"));

    let (page_width, page_height) = layout.page;
    for (index, rows) in layout.pages.iter().enumerate() {
        let mut page = pdf.page(page_ref(index));
        page.media_box(Rect::new(0.0, 0.0, page_width, page_height))
            .parent(tree)
            .contents(content_ref(index));
        page.resources()
            .fonts()
            .pair(REGULAR, regular)
            .pair(BOLD, bold);
        page.finish();
        let content = page_content(table, &layout, index, rows.clone());
        pdf.stream(content_ref(index), &content);
    }
    pdf.finish()
}

/// Column widths, orientation and the rows on each page.
fn layout(table: &Table) -> Layout {
    let columns = table.columns.len();
    let mut natural: Vec<f32> = table
        .columns
        .iter()
        .map(|name| width(&encode(name), CELL_SIZE, true))
        .collect();
    let mut numeric = vec![false; columns];
    let mut textual = vec![false; columns];
    for row in &table.rows {
        for (column, cell) in row.iter().enumerate().take(columns) {
            let shown = width(&encode(&shown(cell)), CELL_SIZE, false);
            natural[column] = natural[column].max(shown);
            numeric[column] |= cell.is_numeric();
            textual[column] |= matches!(cell, Cell::Text(_));
        }
    }
    // A column is right-aligned when it holds numbers and no text.
    for (numeric, textual) in numeric.iter_mut().zip(textual) {
        *numeric &= !textual;
    }
    let mut widths: Vec<f32> = natural
        .iter()
        .map(|w| (w + 2.0 * PADDING).min(MAX_COLUMN))
        .collect();
    let total: f32 = widths.iter().sum();
    let portrait_room = A4.0 - 2.0 * MARGIN;
    let page = if total > portrait_room {
        (A4.1, A4.0)
    } else {
        A4
    };
    let room = page.0 - 2.0 * MARGIN;
    if total > room {
        let scale = room / total;
        for width in &mut widths {
            *width *= scale;
        }
    }

    let top = page.1 - MARGIN;
    let bottom = MARGIN + FOOTER_ROOM;
    // Rows below the header row between `table_top` and the footer; at least one, so
    // every page makes progress whatever the sizes.
    let rows_below = |table_top: f32| -> usize {
        let fit = ((table_top - ROW_HEIGHT - bottom) / ROW_HEIGHT).floor();
        if fit >= 1.0 { fit as usize } else { 1 }
    };
    let mut pages = Vec::new();
    let mut start = 0;
    let mut capacity = rows_below(first_table_top(top));
    loop {
        let end = (start + capacity).min(table.rows.len());
        pages.push(start..end);
        if end >= table.rows.len() {
            break;
        }
        start = end;
        capacity = rows_below(top);
    }
    Layout {
        page,
        widths,
        numeric,
        pages,
    }
}

/// Where the table starts on the first page, below the title and subtitle.
fn first_table_top(top: f32) -> f32 {
    top - TITLE_SIZE - 6.0 - SUBTITLE_SIZE - 14.0
}

/// The drawing of page `index` holding `rows`.
fn page_content(
    table: &Table,
    layout: &Layout,
    index: usize,
    rows: std::ops::Range<usize>,
) -> Vec<u8> {
    let (page_width, page_height) = layout.page;
    let left = MARGIN;
    let room = page_width - 2.0 * MARGIN;
    let top = page_height - MARGIN;
    let table_width: f32 = layout.widths.iter().sum();
    let mut content = Content::new();

    let mut table_top = top;
    if index == 0 {
        let title_line = top - TITLE_SIZE;
        let title = fit(&encode(&table.title), TITLE_SIZE, true, room);
        text(&mut content, BOLD, TITLE_SIZE, left, title_line, &title);
        let subtitle = fit(&encode(&table.subtitle), SUBTITLE_SIZE, false, room);
        let subtitle_line = title_line - 6.0 - SUBTITLE_SIZE;
        text(
            &mut content,
            REGULAR,
            SUBTITLE_SIZE,
            left,
            subtitle_line,
            &subtitle,
        );
        table_top = first_table_top(top);
    }

    // The header row: shaded, bold, a rule beneath.
    let header_bottom = table_top - ROW_HEIGHT;
    content
        .set_fill_gray(0.88)
        .rect(left, header_bottom, table_width, ROW_HEIGHT)
        .fill_nonzero()
        .set_fill_gray(0.0);
    let header: Vec<(Vec<u8>, bool)> = table
        .columns
        .iter()
        .zip(&layout.numeric)
        .map(|(name, numeric)| (encode(name), *numeric))
        .collect();
    row_text(&mut content, BOLD, layout, header_bottom, &header);
    content
        .set_stroke_gray(0.5)
        .set_line_width(0.5)
        .move_to(left, header_bottom)
        .line_to(left + table_width, header_bottom)
        .stroke();

    let mut row_bottom = header_bottom;
    if table.rows.is_empty() {
        row_bottom -= ROW_HEIGHT;
        let none = encode("No rows.");
        text(
            &mut content,
            REGULAR,
            CELL_SIZE,
            left + PADDING,
            row_bottom + BASELINE,
            &none,
        );
    }
    for (offset, row) in table.rows[rows].iter().enumerate() {
        row_bottom -= ROW_HEIGHT;
        if offset % 2 == 1 {
            // Every other row shaded, so a wide row can be followed by eye.
            content
                .set_fill_gray(0.96)
                .rect(left, row_bottom, table_width, ROW_HEIGHT)
                .fill_nonzero()
                .set_fill_gray(0.0);
        }
        let cells: Vec<(Vec<u8>, bool)> = row
            .iter()
            .zip(&layout.numeric)
            .map(|(cell, numeric)| (encode(&shown(cell)), *numeric))
            .collect();
        row_text(&mut content, REGULAR, layout, row_bottom, &cells);
    }

    // The foot: the title on the left, the page number on the right.
    let foot_line = MARGIN;
    let number = encode(&format!("Page {} of {}", index + 1, layout.pages.len()));
    let number_width = width(&number, FOOTER_SIZE, false);
    let title = fit(
        &encode(&table.title),
        FOOTER_SIZE,
        false,
        (room - number_width - 12.0).max(0.0),
    );
    text(&mut content, REGULAR, FOOTER_SIZE, left, foot_line, &title);
    text(
        &mut content,
        REGULAR,
        FOOTER_SIZE,
        left + room - number_width,
        foot_line,
        &number,
    );
    content.finish().into_vec()
}

/// One line of WinAnsi `text` at (`x`, `y`).
fn text(content: &mut Content, font: Name, size: f32, x: f32, y: f32, text: &[u8]) {
    content
        .begin_text()
        .set_font(font, size)
        .set_text_matrix([1.0, 0.0, 0.0, 1.0, x, y])
        .show(Str(text))
        .end_text();
}

/// The texts of one row whose bottom edge is at `bottom`, each cut to its column and
/// right-aligned when it is a number.
fn row_text(
    content: &mut Content,
    font: Name,
    layout: &Layout,
    bottom: f32,
    cells: &[(Vec<u8>, bool)],
) {
    let bold = font == BOLD;
    content.begin_text().set_font(font, CELL_SIZE);
    let mut x = MARGIN;
    for ((cell, right), column) in cells.iter().zip(&layout.widths) {
        let shown = fit(cell, CELL_SIZE, bold, column - 2.0 * PADDING);
        let start = if *right {
            x + column - PADDING - width(&shown, CELL_SIZE, bold)
        } else {
            x + PADDING
        };
        content
            .set_text_matrix([1.0, 0.0, 0.0, 1.0, start, bottom + BASELINE])
            .show(Str(&shown));
        x += column;
    }
    content.end_text();
}

/// A cell as people read it: grouped digits, money with its currency, percentages.
fn shown(cell: &Cell) -> String {
    match cell {
        Cell::Text(text) => text.clone(),
        Cell::Int(value) => grouped(&value.to_string()),
        Cell::Money { amount, currency } => {
            let exponent = minor_unit_exponent(currency).unwrap_or(0);
            format!("{} {currency}", grouped(&super::decimal(*amount, exponent)))
        }
        Cell::Ratio(ratio) => percent(*ratio).unwrap_or_default(),
        Cell::Empty => String::new(),
    }
}

/// A decimal with its whole part in groups of three: `-1234567.5` → `-1,234,567.5`.
fn grouped(number: &str) -> String {
    let (sign, unsigned) = match number.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", number),
    };
    let (whole, fraction) = match unsigned.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (unsigned, None),
    };
    let mut out = String::with_capacity(number.len() + whole.len() / 3);
    out.push_str(sign);
    for (index, digit) in whole.chars().enumerate() {
        if index > 0 && (whole.len() - index) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    if let Some(fraction) = fraction {
        out.push('.');
        out.push_str(fraction);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_parts_are_grouped_in_threes() {
        let cases = [
            ("0", "0"),
            ("999", "999"),
            ("1000", "1,000"),
            ("-1234567.50", "-1,234,567.50"),
            ("123456", "123,456"),
            ("-0.05", "-0.05"),
        ];
        for (raw, want) in cases {
            assert_eq!(grouped(raw), want, "{raw}");
        }
    }

    #[test]
    fn cells_read_as_people_write_them() {
        assert_eq!(shown(&Cell::money(123_456, "USD")), "1,234.56 USD");
        assert_eq!(shown(&Cell::money(123_456, "JPY")), "123,456 JPY");
        assert_eq!(shown(&Cell::Int(-4200)), "-4,200");
        assert_eq!(shown(&Cell::Ratio(0.5)), "50.00%");
        assert_eq!(shown(&Cell::Ratio(f64::NAN)), "");
        assert_eq!(shown(&Cell::Empty), "");
    }
}
