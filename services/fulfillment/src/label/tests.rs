//! Tests of the label: the fonts each script is set in, the PDF read back with lopdf
//! (text, embedded font subsets, barcode bars), and the barcode decoded by a Code 128
//! reader written here from the symbol table, independent of the encoding crate.

use std::collections::BTreeSet;

use lopdf::content::Content;
use lopdf::{Dictionary, Document, Object};
use skrifa::instance::{LocationRef, Size};
use skrifa::outline::{DrawSettings, OutlinePen};
use skrifa::raw::TableProvider as _;
use skrifa::{FontRef, MetadataProvider};

use super::barcode::{Barcode, QUIET_MODULES};
use super::{Label, render};
use documents::text::{self, Weight};

const POLISH: &str = "Zażółć gęślą jaźń, Łódź";
const GREEK: &str = "Αθήνα";
const CYRILLIC: &str = "Москва";
const JAPANESE: &str = "東京都千代田区";

fn label(to: &[&str], tracking_number: &str) -> Label {
    Label {
        from: vec![
            "Viscount Warehouse".into(),
            "1 Depot Road".into(),
            "62701 Springfield".into(),
            "US".into(),
        ],
        to: to.iter().map(|line| (*line).to_owned()).collect(),
        carrier: "Local Courier (local)".into(),
        tracking_number: tracking_number.into(),
        details: vec![
            "Order: o-1".into(),
            "Shipment: s-1".into(),
            "Weight: 0.70 kg, 1 unit".into(),
        ],
    }
}

// --- Fonts -------------------------------------------------------------------------

#[test]
fn every_script_of_the_addresses_has_real_glyphs_in_both_weights() {
    let fonts = text::fonts().expect("the embedded fonts read");
    for weight in [Weight::Regular, Weight::Bold] {
        for (text, font) in [(POLISH, 0), (GREEK, 0), (CYRILLIC, 0), (JAPANESE, 1)] {
            let line = fonts.line(weight, text);
            assert!(!line.has_notdef(), "{text} in {weight:?} has a .notdef box");
            // Noto Sans sets Latin, Greek and Cyrillic; only Japanese falls back.
            assert_eq!(line.runs(), [(font, text)], "{weight:?}");
            assert!(line.width(10.0) > 10.0, "{text} has advances");
        }
    }
}

#[test]
fn a_mixed_line_falls_back_to_the_japanese_font_per_character() {
    let fonts = text::fonts().expect("the embedded fonts read");
    let line = fonts.line(Weight::Regular, "〒100-0001 東京都千代田区 Łódź");
    assert_eq!(
        line.runs(),
        [
            (1, "〒"),
            (0, "100-0001 "),
            (1, "東京都千代田区"),
            (0, " Łódź")
        ]
    );
}

#[test]
fn unknown_characters_are_a_box_and_invisible_ones_are_dropped() {
    let fonts = text::fonts().expect("the embedded fonts read");
    // A variation selector (as in 葛󠄀, an ideographic variation sequence) and a
    // zero-width space show nothing; a tab is a space.
    let line = fonts.line(Weight::Regular, "葛\u{E0100}\u{200B}x\ty");
    assert_eq!(line.runs(), [(1, "葛"), (0, "x y")]);
    assert!(!line.has_notdef());
    // Thai is in neither font: the box says something is missing.
    let line = fonts.line(Weight::Regular, "ก");
    assert!(line.has_notdef());
    assert_eq!(line.runs(), [(0, "ก")]);
    // Such a label is still written, and its other lines still read.
    let pdf = render(&label(&["Ann Buyer", "กรุงเทพ", "서울"], "LC1")).expect("a label");
    let document = Document::load_mem(&pdf).expect("the PDF parses");
    assert!(page_text(&document).contains("Ann Buyer"));
}

#[test]
fn a_line_too_long_for_the_label_is_shrunk_to_fit() {
    // 252 points between the margins.
    assert_eq!(super::fit(12.0, 200.0), 12.0);
    assert_eq!(super::fit(12.0, 504.0), 6.0);
    assert_eq!(super::fit(12.0, 5000.0), super::MIN_SIZE);
    let fonts = text::fonts().expect("the embedded fonts read");
    let long = "Apartment 1234, Building of the Very Long Name, Floor 56";
    let width = fonts.line(Weight::Bold, long).width(12.0);
    assert!(
        width > 252.0,
        "the test line overflows at 12 points: {width}"
    );
    let pdf = render(&label(&["Ann Buyer", long], "LC1")).expect("a label");
    let document = Document::load_mem(&pdf).expect("the PDF parses");
    let page = *document.get_pages().get(&1).expect("page 1");
    let sizes: Vec<f32> = Content::decode(&document.get_page_content(page))
        .expect("content decodes")
        .operations
        .iter()
        .filter(|op| op.operator == "Tf")
        .map(|op| op.operands[1].as_float().expect("a size"))
        .collect();
    let shrunk = 12.0 * 252.0 / width;
    assert!(
        sizes.iter().any(|size| (size - shrunk).abs() < 0.01),
        "{shrunk} in {sizes:?}"
    );
    assert!(page_text(&document).contains(long));
}

// --- The PDF -----------------------------------------------------------------------

/// The page's text as lopdf extracts it (through each font's ToUnicode map).
fn page_text(document: &Document) -> String {
    assert_eq!(document.get_pages().len(), 1);
    document.extract_text(&[1]).expect("page text")
}

/// The page's fonts: (base font name, the embedded font program).
fn embedded_fonts(document: &Document) -> Vec<(String, Vec<u8>)> {
    let page = *document.get_pages().get(&1).expect("page 1");
    let fonts = document.get_page_fonts(page).expect("page fonts");
    fonts
        .values()
        .map(|font| {
            assert_eq!(
                font.get(b"Subtype").and_then(Object::as_name).ok(),
                Some(&b"Type0"[..])
            );
            // `DescendantFonts` is an array of one CID font.
            let descendant =
                deref_dict(document, font.get(b"DescendantFonts")).expect("a descendant CID font");
            let descriptor =
                deref_dict(document, descendant.get(b"FontDescriptor")).expect("a font descriptor");
            let program = descriptor
                .get(b"FontFile2")
                .and_then(Object::as_reference)
                .and_then(|id| document.get_object(id))
                .and_then(Object::as_stream)
                .expect("an embedded TrueType program");
            let data = program
                .decompressed_content()
                .unwrap_or_else(|_| program.content.clone());
            let name = font
                .get(b"BaseFont")
                .and_then(Object::as_name)
                .map(|name| String::from_utf8_lossy(name).into_owned())
                .expect("a base font name");
            (name, data)
        })
        .collect()
}

fn deref_dict<'a>(
    document: &'a Document,
    object: Result<&'a Object, lopdf::Error>,
) -> Option<&'a Dictionary> {
    let object = object.ok()?;
    let object = match object {
        Object::Array(array) => array.first()?,
        other => other,
    };
    document.dereference(object).ok()?.1.as_dict().ok()
}

/// Counts the segments of an outline.
#[derive(Default)]
struct Segments(usize);

impl OutlinePen for Segments {
    fn move_to(&mut self, _: f32, _: f32) {}
    fn line_to(&mut self, _: f32, _: f32) {
        self.0 += 1;
    }
    fn quad_to(&mut self, _: f32, _: f32, _: f32, _: f32) {
        self.0 += 1;
    }
    fn curve_to(&mut self, _: f32, _: f32, _: f32, _: f32, _: f32, _: f32) {
        self.0 += 1;
    }
    fn close(&mut self) {}
}

/// How many glyphs of the font program draw something.
fn glyphs_with_outlines(program: &[u8]) -> usize {
    let font = FontRef::new(program).expect("the embedded program is a font");
    let outlines = font.outline_glyphs();
    let count = font.maxp().map(|maxp| maxp.num_glyphs()).expect("maxp");
    (0..u32::from(count))
        .filter(|id| {
            let Some(glyph) = outlines.get(skrifa::GlyphId::new(*id)) else {
                return false;
            };
            let mut pen = Segments::default();
            let settings = DrawSettings::unhinted(Size::unscaled(), LocationRef::default());
            glyph.draw(settings, &mut pen).is_ok() && pen.0 > 0
        })
        .count()
}

#[test]
fn addresses_in_every_script_are_embedded_and_extract_as_written() {
    let pdf = render(&label(
        &["Ann Buyer", POLISH, GREEK, CYRILLIC, JAPANESE],
        "LC000000000042",
    ))
    .expect("a label");
    assert!(pdf.starts_with(b"%PDF-"));
    let document = Document::load_mem(&pdf).expect("the PDF parses");

    let text = page_text(&document);
    for expected in [
        "Ann Buyer",
        POLISH,
        GREEK,
        CYRILLIC,
        JAPANESE,
        "LC000000000042",
        "Local Courier (local)",
        "SHIP TO",
    ] {
        assert!(text.contains(expected), "{expected} in {text:?}");
    }
    assert!(!text.contains('?'), "nothing was replaced: {text:?}");

    let fonts = embedded_fonts(&document);
    let names: BTreeSet<String> = fonts
        .iter()
        .map(|(name, _)| {
            name.split_once('+')
                .map_or(name.as_str(), |(_, n)| n)
                .to_owned()
        })
        .collect();
    assert_eq!(
        names,
        BTreeSet::from([
            "NotoSans-Bold".to_owned(),
            "NotoSans-Regular".to_owned(),
            "NotoSansJP-Regular".to_owned()
        ])
    );
    for (name, program) in &fonts {
        // A subset: `ABCDEF+` before the name, and a few kilobytes, not megabytes.
        assert_eq!(name.find('+'), Some(6), "{name}");
        assert!(program.len() < 64 * 1024, "{name}: {} bytes", program.len());
        if name.ends_with("NotoSansJP-Regular") {
            // 東 京 都 千 代 田 区 (regular and, in the bold recipient block, stroked).
            assert!(glyphs_with_outlines(program) >= 7, "{name}");
        }
    }
    let (_, bold) = fonts
        .iter()
        .find(|(name, _)| name.ends_with("NotoSans-Bold"))
        .expect("the bold font");
    let distinct: BTreeSet<char> = [POLISH, GREEK, CYRILLIC, "Ann Buyer"]
        .concat()
        .chars()
        .filter(|c| c.is_alphabetic())
        .collect();
    assert!(
        glyphs_with_outlines(bold) >= distinct.len(),
        "every letter of the recipient block has an outline"
    );
    assert!(pdf.len() < 64 * 1024, "{} bytes", pdf.len());
}

#[test]
fn the_label_keeps_its_content_and_metadata() {
    let pdf = render(&label(&["Ann Buyer", "1 Main St"], "LC000000000042")).expect("a label");
    let document = Document::load_mem(&pdf).expect("the PDF parses");
    let text = page_text(&document);
    for expected in [
        "FROM",
        "Viscount Warehouse",
        "SHIP TO",
        "Ann Buyer",
        "1 Main St",
        "Carrier: Local Courier (local)",
        "Order: o-1",
        "Shipment: s-1",
        "Weight: 0.70 kg, 1 unit",
        "TRACKING NUMBER",
        "LC000000000042",
    ] {
        assert!(text.contains(expected), "{expected} in {text:?}");
    }
    let info = document
        .trailer
        .get(b"Info")
        .and_then(Object::as_reference)
        .and_then(|id| document.get_dictionary(id))
        .expect("an information dictionary");
    let title = info
        .get(b"Title")
        .and_then(Object::as_str)
        .expect("a title");
    assert_eq!(title, b"Shipping label LC000000000042");
    // The page is 4 × 6 inches.
    let page = *document.get_pages().get(&1).expect("page 1");
    let media_box = document
        .get_dictionary(page)
        .and_then(|page| page.get(b"MediaBox"))
        .and_then(Object::as_array)
        .expect("a media box")
        .iter()
        .map(|n| n.as_float().expect("a number"))
        .collect::<Vec<f32>>();
    assert_eq!(media_box, [0.0, 0.0, 288.0, 432.0]);
    // Rendering is deterministic: the same label, the same bytes.
    assert_eq!(
        render(&label(&["Ann Buyer", "1 Main St"], "LC000000000042")).expect("a label"),
        pdf
    );
}

/// The closed four-corner subpaths of the page (krilla writes a rectangle as `m l l l
/// h`), as [left, top, width, height] in krilla's top-down coordinates.
fn rectangles(document: &Document) -> Vec<[f32; 4]> {
    let page = *document.get_pages().get(&1).expect("page 1");
    let content = document.get_page_content(page);
    let operations = Content::decode(&content)
        .expect("content decodes")
        .operations;
    let mut rectangles = Vec::new();
    let mut points: Vec<(f32, f32)> = Vec::new();
    for op in &operations {
        let point = || {
            let n: Vec<f32> = op
                .operands
                .iter()
                .map(|o| o.as_float().expect("a number"))
                .collect();
            (n[0], n[1])
        };
        match op.operator.as_str() {
            "m" => points = vec![point()],
            "l" => points.push(point()),
            "h" if points.len() == 4 => {
                let xs = points.iter().map(|p| p.0);
                let ys = points.iter().map(|p| p.1);
                let (left, right) = (
                    xs.clone().fold(f32::MAX, f32::min),
                    xs.fold(f32::MIN, f32::max),
                );
                let (top, bottom) = (
                    ys.clone().fold(f32::MAX, f32::min),
                    ys.fold(f32::MIN, f32::max),
                );
                rectangles.push([left, top, right - left, bottom - top]);
            }
            _ => {}
        }
    }
    rectangles
}

#[test]
fn the_page_draws_the_barcode_bars_as_filled_rectangles() {
    let pdf = render(&label(&["Ann Buyer"], "LC000000000042")).expect("a label");
    let document = Document::load_mem(&pdf).expect("the PDF parses");
    let rectangles = rectangles(&document);
    let code = Barcode::encode("LC000000000042").expect("encodable");
    let modules = code.module_list();
    let bars = modules.windows(2).filter(|pair| pair == &[0, 1]).count();
    assert_eq!(rectangles.len(), bars, "one rectangle a bar");
    // The narrowest bar is one module; every bar starts where the module list says.
    let module = rectangles.iter().map(|r| r[2]).fold(f32::MAX, f32::min);
    let origin = rectangles[0][0] - module * QUIET_MODULES as f32;
    let drawn: Vec<u8> = (0..modules.len())
        .map(|i| {
            let x = origin + (i as f32 + 0.5) * module;
            u8::from(rectangles.iter().any(|r| r[0] < x && x < r[0] + r[2]))
        })
        .collect();
    assert_eq!(drawn, modules, "the bars drawn are the symbol's");
    assert_eq!(decode(&drawn).as_deref(), Ok("LC000000000042"));
    // Inside the margins with their quiet zones, 72 points tall, on one line.
    assert!(origin >= 18.0 - 0.01, "{origin}");
    assert!(origin + modules.len() as f32 * module <= 288.0 - 18.0 + 0.01);
    assert!(
        rectangles
            .iter()
            .all(|r| (r[3] - 72.0).abs() < 0.01 && r[1] == rectangles[0][1])
    );
}

#[test]
fn a_tracking_number_outside_ascii_is_printed_without_a_barcode() {
    assert_eq!(Barcode::encode("LC-é1"), None);
    assert_eq!(Barcode::encode(""), None);
    let pdf = render(&label(&["Ann Buyer"], "LC-é1")).expect("a label");
    let document = Document::load_mem(&pdf).expect("the PDF parses");
    assert!(page_text(&document).contains("LC-é1"));
    assert!(rectangles(&document).is_empty(), "no bars");
}

// --- The barcode -------------------------------------------------------------------

/// Element widths (bar, space, bar, …) of the 107 Code 128 symbols, from the symbol
/// table of ISO/IEC 15417; 106 is the stop symbol, the only one of seven elements.
const PATTERNS: [&str; 107] = [
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

/// The symbol values of a module list (1 bar, 0 space), quiet zones checked and
/// removed, the checksum verified and kept.
fn symbols(modules: &[u8]) -> Result<Vec<u8>, String> {
    let first = modules.iter().position(|m| *m == 1).ok_or("no bars")?;
    let last = modules.iter().rposition(|m| *m == 1).ok_or("no bars")?;
    if first < QUIET_MODULES || modules.len() - 1 - last < QUIET_MODULES {
        return Err("quiet zone too narrow".into());
    }
    // Run lengths: the elements, alternately bar and space.
    let mut elements: Vec<u8> = Vec::new();
    let mut previous = None;
    for module in &modules[first..=last] {
        if previous == Some(*module) {
            *elements.last_mut().ok_or("empty")? += 1;
        } else {
            elements.push(1);
            previous = Some(*module);
        }
    }
    if elements.len() < 7 || !(elements.len() - 7).is_multiple_of(6) {
        return Err(format!("{} elements", elements.len()));
    }
    let widths: String = elements.iter().map(|w| char::from(b'0' + w)).collect();
    let (data, stop) = widths.split_at(widths.len() - 7);
    if stop != PATTERNS[106] {
        return Err(format!("no stop symbol: {stop}"));
    }
    let mut values = Vec::new();
    for chunk in data.as_bytes().chunks(6) {
        let pattern = std::str::from_utf8(chunk).map_err(|e| e.to_string())?;
        let value = PATTERNS[..106]
            .iter()
            .position(|p| *p == pattern)
            .ok_or(format!("unknown symbol {pattern}"))?;
        values.push(value as u8);
    }
    let (checksum, body) = values.split_last().ok_or("no symbols")?;
    let sum: u64 = body
        .iter()
        .enumerate()
        .map(|(i, v)| (i as u64).max(1) * u64::from(*v))
        .sum();
    if sum % 103 != u64::from(*checksum) {
        return Err(format!("checksum {checksum}, expected {}", sum % 103));
    }
    values.push(106);
    Ok(values)
}

/// The text of a module list: the symbols read through code sets A, B and C.
fn decode(modules: &[u8]) -> Result<String, String> {
    #[derive(Clone, Copy, PartialEq)]
    enum Set {
        A,
        B,
        C,
    }
    let values = symbols(modules)?;
    let (start, rest) = values.split_first().ok_or("empty")?;
    let mut set = match start {
        103 => Set::A,
        104 => Set::B,
        105 => Set::C,
        other => return Err(format!("no start symbol: {other}")),
    };
    let mut text = String::new();
    // Everything between the start symbol and the checksum.
    let data = &rest[..rest.len().saturating_sub(2)];
    let mut shift = false;
    for value in data {
        let current = if shift {
            shift = false;
            if set == Set::A { Set::B } else { Set::A }
        } else {
            set
        };
        match (current, *value) {
            (Set::C, v @ 0..=99) => text.push_str(&format!("{v:02}")),
            (Set::A, v @ 0..=63) | (Set::B, v @ 0..=95) => text.push(char::from(v + 32)),
            (Set::A, v @ 64..=95) => text.push(char::from(v - 64)),
            (Set::A | Set::B, 98) => shift = true,
            (Set::A | Set::B, 99) => set = Set::C,
            (Set::A | Set::C, 100) => set = Set::B,
            (Set::B | Set::C, 101) => set = Set::A,
            (_, v) => return Err(format!("unexpected symbol {v}")),
        }
    }
    Ok(text)
}

#[test]
fn the_reader_reads_the_stop_symbol_and_a_known_symbol() {
    // Every pattern is 11 modules, the stop 13: the table is the standard's.
    for (value, pattern) in PATTERNS.iter().enumerate() {
        let modules: u32 = pattern.bytes().map(|b| u32::from(b - b'0')).sum();
        assert_eq!(modules, if value == 106 { 13 } else { 11 }, "{value}");
    }
    let corrupted = {
        let mut modules = Barcode::encode("LC1").expect("encodable").module_list();
        // Widen the first bar of the second symbol: a symbol no table has, or another
        // one that fails the checksum.
        let at = QUIET_MODULES + 11 + 1;
        modules[at] = 1 - modules[at];
        modules
    };
    assert!(decode(&corrupted).is_err());
}

#[test]
fn the_barcode_decodes_back_to_its_text() {
    for text in [
        "LC000000000042",
        "VS123456789",
        "1234",
        "12345",
        "ab12345cd",
        "PJJ123C",
        "x",
        "Track #7 (a-b) ~ ok",
    ] {
        let code = Barcode::encode(text).expect("encodable");
        let modules = code.module_list();
        assert_eq!(modules.len(), code.modules());
        assert_eq!(decode(&modules).as_deref(), Ok(text), "{text}");
    }
}

#[test]
fn digit_runs_are_packed_two_to_a_symbol_in_code_set_c() {
    // "VS123456789", as the crate's rule-based encoder (ISO/IEC 15417's) writes it:
    // Start B, V S, Code C, 12 34 56 78, Code B, 9, the checksum, Stop. The checksum,
    // worked by hand: 104 + 54·1 + 51·2 + 99·3 + 12·4 + 34·5 + 56·6 + 78·7 + 100·8
    // + 25·9 = 2682 ≡ 4 (mod 103). (One symbol longer than the shortest, which sends
    // the odd digit in set B first; a carrier tracking number has an even run.)
    let values = symbols(
        &Barcode::encode("VS123456789")
            .expect("encodable")
            .module_list(),
    )
    .expect("a valid symbol");
    assert_eq!(values, [104, 54, 51, 99, 12, 34, 56, 78, 100, 25, 4, 106]);
    // A tracking number of twelve digits after the carrier code: the digits take six
    // symbols, not twelve.
    let values = symbols(
        &Barcode::encode("LC000000000042")
            .expect("encodable")
            .module_list(),
    )
    .expect("a valid symbol");
    assert_eq!(values[1..=9], [44, 35, 99, 0, 0, 0, 0, 0, 42], "{values:?}");
    assert_eq!(values.len(), 12, "{values:?}");
}
