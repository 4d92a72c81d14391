//! Helvetica as the PDF uses it: text encoded in WinAnsi (the standard-14 fonts'
//! single-byte encoding every reader has), and glyph widths to measure it, so columns
//! can be sized and over-long text cut without embedding a font.
//!
//! Widths are Adobe's AFM metrics for Helvetica and Helvetica-Bold, in thousandths of
//! the font size. Printable ASCII is exact; the Latin-1 letters take their base
//! letter's width, and the remaining symbols a full em, which may overestimate (text is
//! cut a little early) but never underestimates (text never overflows its column).

/// Widths of `' '..='~'` in Helvetica.
const REGULAR: [u16; 95] = [
    278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278, // ' '../
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556, // 0..?
    1015, 667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722, 778, // @..O
    667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469, 556, // P.._
    333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556, // `..o
    556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584, // p..~
];

/// Widths of `' '..='~'` in Helvetica-Bold.
const BOLD: [u16; 95] = [
    278, 333, 474, 556, 556, 889, 722, 238, 333, 333, 389, 584, 278, 333, 278, 278, // ' '../
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 333, 333, 584, 584, 584, 611, // 0..?
    975, 722, 722, 722, 722, 667, 611, 778, 722, 278, 556, 722, 611, 833, 722, 778, // @..O
    667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 333, 278, 333, 584, 556, // P.._
    333, 556, 611, 556, 611, 556, 333, 611, 611, 278, 278, 556, 278, 889, 611, 611, // `..o
    611, 611, 389, 556, 333, 611, 556, 778, 556, 556, 500, 389, 280, 389, 584, // p..~
];

/// The byte WinAnsi gives the characters it places in 0x80..=0x9F (the rest of
/// 0xA0..=0xFF is Latin-1 as it is).
const WIN_ANSI_HIGH: [(char, u8); 27] = [
    ('€', 0x80),
    ('‚', 0x82),
    ('ƒ', 0x83),
    ('„', 0x84),
    ('…', 0x85),
    ('†', 0x86),
    ('‡', 0x87),
    ('ˆ', 0x88),
    ('‰', 0x89),
    ('Š', 0x8A),
    ('‹', 0x8B),
    ('Œ', 0x8C),
    ('Ž', 0x8E),
    ('‘', 0x91),
    ('’', 0x92),
    ('“', 0x93),
    ('”', 0x94),
    ('•', 0x95),
    ('–', 0x96),
    ('—', 0x97),
    ('˜', 0x98),
    ('™', 0x99),
    ('š', 0x9A),
    ('›', 0x9B),
    ('œ', 0x9C),
    ('ž', 0x9E),
    ('Ÿ', 0x9F),
];

/// The WinAnsi byte of the ellipsis, which marks text cut to fit.
pub(super) const ELLIPSIS: u8 = 0x85;

/// `text` in WinAnsi, one line: tabs and line breaks become spaces, and a character
/// WinAnsi cannot represent becomes `?`.
pub(super) fn encode(text: &str) -> Vec<u8> {
    text.chars()
        .map(|c| match c {
            ' '..='~' => c as u8,
            '\t' | '\n' | '\r' => b' ',
            '\u{A0}'..='\u{FF}' => c as u8,
            _ => WIN_ANSI_HIGH
                .iter()
                .find(|(known, _)| *known == c)
                .map_or(b'?', |(_, byte)| *byte),
        })
        .collect()
}

/// The width of `byte` in thousandths of the font size.
fn glyph(byte: u8, bold: bool) -> u16 {
    let table = if bold { &BOLD } else { &REGULAR };
    let ascii = |c: u8| table[usize::from(c - b' ')];
    match byte {
        b' '..=b'~' => ascii(byte),
        // Accented Latin-1 letters: their base letter (the accents sit above it).
        0xC0..=0xC5 => ascii(b'A'),
        0xC7 => ascii(b'C'),
        0xC8..=0xCB => ascii(b'E'),
        0xCC..=0xCF | 0xEC..=0xEF => 278,
        0xD1 => ascii(b'N'),
        0xD2..=0xD6 | 0xD8 => ascii(b'O'),
        0xD9..=0xDC => ascii(b'U'),
        0xDD => ascii(b'Y'),
        0xE0..=0xE5 => ascii(b'a'),
        0xE7 => ascii(b'c'),
        0xE8..=0xEB => ascii(b'e'),
        0xF1 => ascii(b'n'),
        0xF2..=0xF6 | 0xF8 => ascii(b'o').max(611),
        0xF9..=0xFC => ascii(b'u'),
        0xFD | 0xFF => ascii(b'y'),
        // Anything else (symbols, Æ, æ, ß, control bytes): a full em, at least as wide
        // as any of them.
        _ => 1000,
    }
}

/// The width of WinAnsi `text` at `size` points.
pub(super) fn width(text: &[u8], size: f32, bold: bool) -> f32 {
    let units: u32 = text.iter().map(|b| u32::from(glyph(*b, bold))).sum();
    // Realistic widths stay far below f32's exact-integer range.
    units as f32 * size / 1000.0
}

/// `text` cut to fit `available` points at `size`, with an ellipsis where it was cut;
/// empty when not even the ellipsis fits.
pub(super) fn fit(text: &[u8], size: f32, bold: bool, available: f32) -> Vec<u8> {
    if width(text, size, bold) <= available {
        return text.to_vec();
    }
    let room = available - width(&[ELLIPSIS], size, bold);
    if room < 0.0 {
        return Vec::new();
    }
    let mut used = 0.0;
    let mut kept = Vec::new();
    for &byte in text {
        let next = used + width(&[byte], size, bold);
        if next > room {
            break;
        }
        used = next;
        kept.push(byte);
    }
    kept.push(ELLIPSIS);
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_encoded_in_win_ansi_and_the_rest_becomes_a_question_mark() {
        assert_eq!(encode("Café €5"), b"Caf\xE9 \x805".to_vec());
        assert_eq!(encode("a\tb\nc"), b"a b c".to_vec());
        assert_eq!(encode("日本 ✓ \u{0}"), b"?? ? ?".to_vec());
        assert_eq!(
            encode("“quoted” — done…"),
            b"\x93quoted\x94 \x97 done\x85".to_vec()
        );
    }

    #[test]
    fn widths_follow_the_font_metrics() {
        // "Hi" in Helvetica: H 722 + i 222 = 944 thousandths.
        assert!((width(b"Hi", 10.0, false) - 9.44).abs() < 1e-4);
        assert!((width(b"Hi", 10.0, true) - 10.0).abs() < 1e-4);
        assert!(width(b"W", 10.0, false) > width(b"i", 10.0, false));
    }

    #[test]
    fn text_too_wide_is_cut_with_an_ellipsis() {
        let text = encode("Revenue by channel");
        assert_eq!(fit(&text, 9.0, false, 1_000.0), text);
        let cut = fit(&text, 9.0, false, 40.0);
        assert_eq!(cut.last(), Some(&ELLIPSIS));
        assert!(width(&cut, 9.0, false) <= 40.0);
        assert!(cut.len() > 2, "{cut:?}");
        assert_eq!(fit(&text, 9.0, false, 2.0), Vec::<u8>::new());
    }
}
