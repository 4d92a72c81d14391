//! Text on a page: the fonts compiled into the binary, the font each character is set
//! in, and the glyph runs krilla draws (embedding a subset of each font used).
//!
//! There is no shaping engine. Every character becomes the glyph its font's `cmap`
//! names, advanced by its `hmtx` width. For what a label or an invoice prints —
//! precomposed Latin, Greek and Cyrillic letters, kana and kanji — that is one glyph per
//! character with no contextual forms, so nothing is lost but kerning; rustybuzz would
//! cost a dependency tree for that alone.
//!
//! Each line is set in Noto Sans and falls back, character by character, to Noto Sans
//! JP for what Noto Sans lacks (kana, kanji, Japanese punctuation): Noto Sans JP alone
//! has no Polish ą ę ł ś ź ż nor accented Greek (see `assets/fonts/README.md`).

use std::ops::Range;
use std::sync::LazyLock;

use krilla::geom::Point;
use krilla::paint::{LineJoin, Stroke};
use krilla::surface::Surface;
use krilla::text::{Font, GlyphId, KrillaGlyph};
use skrifa::charmap::Charmap;
use skrifa::instance::{LocationRef, Size};
use skrifa::metrics::GlyphMetrics;
use skrifa::{FontRef, MetadataProvider};

/// Noto Sans: Latin, Greek, Cyrillic.
static SANS: &[u8] = include_bytes!("../assets/fonts/NotoSans-Regular.ttf");
/// Noto Sans Bold.
static SANS_BOLD: &[u8] = include_bytes!("../assets/fonts/NotoSans-Bold.ttf");
/// Noto Sans JP: kana, kanji (JIS X 0208 and X 0213), full-width forms.
static SANS_JP: &[u8] = include_bytes!("../assets/fonts/NotoSansJP-Regular.ttf");

/// Stroke width of the synthetic bold, as a fraction of the font size: thickens the
/// regular Japanese face about as much as the bold Latin face is heavier.
const SYNTHETIC_BOLD: f32 = 0.04;

/// The fonts, read once: krilla hashes a font's whole data when it is created (5 MB
/// for Noto Sans JP), so one `Font` is shared by every document.
static FONTS: LazyLock<Option<Fonts>> = LazyLock::new(|| {
    Some(Fonts {
        sans: Face::load(SANS)?,
        sans_bold: Face::load(SANS_BOLD)?,
        sans_jp: Face::load(SANS_JP)?,
    })
});

/// The embedded fonts.
pub struct Fonts {
    sans: Face,
    sans_bold: Face,
    sans_jp: Face,
}

/// The fonts compiled into the binary do not read: a broken build, which the unit
/// tests would have caught.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the embedded document fonts do not read")]
pub struct FontsError;

/// The embedded fonts, or an error when they do not read.
pub fn fonts() -> Result<&'static Fonts, FontsError> {
    FONTS.as_ref().ok_or(FontsError)
}

/// One font: krilla's handle (what gets subset into the PDF) and skrifa's tables (what
/// the layout reads).
struct Face {
    font: Font,
    charmap: Charmap<'static>,
    metrics: GlyphMetrics<'static>,
    units_per_em: f32,
}

impl Face {
    fn load(data: &'static [u8]) -> Option<Face> {
        let font_ref = FontRef::new(data).ok()?;
        let units_per_em = f32::from(
            font_ref
                .metrics(Size::unscaled(), LocationRef::default())
                .units_per_em,
        );
        Some(Face {
            font: Font::new(data.into(), 0)?,
            charmap: font_ref.charmap(),
            metrics: font_ref.glyph_metrics(Size::unscaled(), LocationRef::default()),
            units_per_em,
        })
    }

    /// The glyph of `c`, when the font has one (glyph 0 is `.notdef`, the empty box).
    fn glyph(&self, c: char) -> Option<u32> {
        self.charmap
            .map(c)
            .map(|id| id.to_u32())
            .filter(|id| *id != 0)
    }

    /// The advance of `glyph` in em.
    fn advance(&self, glyph: u32) -> f32 {
        self.metrics
            .advance_width(skrifa::GlyphId::new(glyph))
            .unwrap_or(0.0)
            / self.units_per_em
    }
}

/// The weight a line is set in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Weight {
    /// Noto Sans, then Noto Sans JP.
    Regular,
    /// Noto Sans Bold, then Noto Sans JP stroked as well as filled (there is no bold
    /// Japanese file: it would add another 5 MB to the binary).
    Bold,
}

impl Fonts {
    /// The fonts `weight` tries in order, each with whether to embolden it.
    fn chain(&self, weight: Weight) -> [(&Face, bool); 2] {
        match weight {
            Weight::Regular => [(&self.sans, false), (&self.sans_jp, false)],
            Weight::Bold => [(&self.sans_bold, false), (&self.sans_jp, true)],
        }
    }

    /// `text` laid out as runs of glyphs, one run per stretch of characters that take
    /// the same font. Tabs and line breaks become spaces; variation selectors and
    /// zero-width characters are dropped (they show nothing, and a glyph-less mapping
    /// only muddles the extracted text); a character no font has is the first font's
    /// `.notdef` box, so the page shows that something is missing rather than a `?`
    /// that reads as part of an address.
    pub fn line(&self, weight: Weight, text: &str) -> Line<'_> {
        let chain = self.chain(weight);
        let mut runs: Vec<Run<'_>> = Vec::new();
        for c in text.chars() {
            if invisible(c) {
                continue;
            }
            let c = if c.is_whitespace() || c.is_control() {
                ' '
            } else {
                c
            };
            let found = chain
                .iter()
                .enumerate()
                .find_map(|(i, (face, _))| face.glyph(c).map(|glyph| (i, glyph)));
            let (font, glyph) = found.unwrap_or((0, 0));
            let (face, embolden) = chain[font];
            if runs.last().is_none_or(|run| run.font != font) {
                runs.push(Run {
                    font,
                    face,
                    embolden,
                    text: String::new(),
                    glyphs: Vec::new(),
                    advance: 0.0,
                });
            }
            let Some(run) = runs.last_mut() else {
                continue;
            };
            let start = run.text.len();
            run.text.push(c);
            let advance = face.advance(glyph);
            run.glyphs.push(KrillaGlyph::new(
                GlyphId::new(glyph),
                advance,
                0.0,
                0.0,
                0.0,
                Range {
                    start,
                    end: run.text.len(),
                },
                None,
            ));
            run.advance += advance;
        }
        Line { runs }
    }
}

/// Characters that show nothing by themselves: variation selectors (ideographic
/// variation sequences in Japanese names), zero-width spaces and joiners, the BOM.
fn invisible(c: char) -> bool {
    matches!(
        c,
        '\u{200B}'..='\u{200F}' | '\u{2060}' | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}' | '\u{E0100}'..='\u{E01EF}'
    )
}

/// Glyphs of one font, with the text they show (for the PDF's ToUnicode map, so the
/// document's text can be searched and copied).
struct Run<'f> {
    /// Position of the font in the weight's chain.
    font: usize,
    face: &'f Face,
    embolden: bool,
    text: String,
    glyphs: Vec<KrillaGlyph>,
    /// Sum of the glyphs' advances, in em.
    advance: f32,
}

/// A line of text laid out in runs.
pub struct Line<'f> {
    runs: Vec<Run<'f>>,
}

impl Line<'_> {
    /// The width at `size` points.
    pub fn width(&self, size: f32) -> f32 {
        self.runs.iter().map(|run| run.advance).sum::<f32>() * size
    }

    /// Draws the line with its baseline starting at (`x`, `baseline`), in black.
    pub fn draw(&self, surface: &mut Surface<'_>, x: f32, baseline: f32, size: f32) {
        let mut x = x;
        for run in &self.runs {
            if run.embolden {
                surface.set_stroke(Some(Stroke {
                    width: size * SYNTHETIC_BOLD,
                    line_join: LineJoin::Round,
                    ..Stroke::default()
                }));
            }
            surface.draw_glyphs(
                Point::from_xy(x, baseline),
                &run.glyphs,
                run.face.font.clone(),
                &run.text,
                size,
                false,
            );
            surface.set_stroke(None);
            x += run.advance * size;
        }
    }

    /// The fonts of the runs, by position in the weight's chain (0: Noto Sans, 1: Noto
    /// Sans JP), and their text: what tests check the fallback by.
    pub fn runs(&self) -> Vec<(usize, &str)> {
        self.runs
            .iter()
            .map(|run| (run.font, run.text.as_str()))
            .collect()
    }

    /// Whether a glyph is the `.notdef` box (a character no font has).
    pub fn has_notdef(&self) -> bool {
        self.runs
            .iter()
            .flat_map(|run| &run.glyphs)
            .any(|glyph| glyph.glyph_id.to_u32() == 0)
    }
}
