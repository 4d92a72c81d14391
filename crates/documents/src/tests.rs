//! Tests of the text layout: the font each script is set in and the fallback between
//! them (the PDFs written with it are read back in fulfillment's and payments' tests).

use crate::text::{Weight, fonts};

#[test]
fn latin_greek_and_cyrillic_are_set_in_noto_sans_and_japanese_falls_back() {
    let fonts = fonts().expect("the embedded fonts read");
    for weight in [Weight::Regular, Weight::Bold] {
        for (text, font) in [
            ("Zażółć gęślą jaźń", 0),
            ("Αθήνα", 0),
            ("Москва", 0),
            ("東京都", 1),
        ] {
            let line = fonts.line(weight, text);
            assert!(!line.has_notdef(), "{text} in {weight:?} has a .notdef box");
            assert_eq!(line.runs(), [(font, text)], "{weight:?}");
        }
    }
}

#[test]
fn a_mixed_line_is_split_into_runs_and_widths_grow_with_the_size() {
    let fonts = fonts().expect("the embedded fonts read");
    let line = fonts.line(Weight::Regular, "INV-2026-000001 東京");
    assert_eq!(line.runs(), [(0, "INV-2026-000001 "), (1, "東京")]);
    let width = line.width(10.0);
    assert!(width > 50.0, "{width}");
    assert!((line.width(20.0) - 2.0 * width).abs() < 0.001);
}
