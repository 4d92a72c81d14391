//! The tracking number as a Code 128 barcode. The `code128` crate picks the code sets
//! (A, B or C, switching between them where that is shorter: a run of digits goes two
//! to a symbol in set C) and adds the checksum; this module draws its bars as filled
//! rectangles.

use code128::Code128;
use krilla::geom::{PathBuilder, Rect};
use krilla::surface::Surface;

/// Modules of quiet zone on each side, as the standard asks (and `code128` counts).
#[cfg(test)]
pub(super) const QUIET_MODULES: usize = 10;

/// A Code 128 symbol, as bars on a grid of modules (one module is the narrowest bar).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Barcode {
    /// Each bar's left edge and width, in modules from the left edge of the quiet zone.
    bars: Vec<(u32, u8)>,
    /// The width in modules, both quiet zones included.
    modules: usize,
}

impl Barcode {
    /// The symbol of `text`, or `None` when `text` is empty or has a character outside
    /// printable ASCII: Code 128 can carry Latin-1 through FNC4, but scanners read that
    /// inconsistently, and no carrier's tracking number needs it.
    pub(super) fn encode(text: &str) -> Option<Barcode> {
        if text.is_empty() || !text.bytes().all(|b| (b' '..=b'~').contains(&b)) {
            return None;
        }
        let code = Code128::encode(text.as_bytes());
        Some(Barcode {
            bars: code
                .bar_coordinates()
                .map(|bar| (bar.x, bar.width))
                .collect(),
            modules: code.len(),
        })
    }

    /// The width in modules, quiet zones included.
    pub(super) fn modules(&self) -> usize {
        self.modules
    }

    /// Every module left to right, 1 for a bar and 0 for a space, quiet zones included:
    /// what a scanner reads.
    #[cfg(test)]
    pub(super) fn module_list(&self) -> Vec<u8> {
        let mut list = vec![0; self.modules];
        for (x, width) in &self.bars {
            let start = *x as usize;
            let end = (start + usize::from(*width)).min(list.len());
            if let Some(bar) = list.get_mut(start..end) {
                bar.fill(1);
            }
        }
        list
    }

    /// Draws the bars, quiet zone included, from `left` across `module` points per
    /// module and from `top` down `height` points, with the current fill.
    pub(super) fn draw(
        &self,
        surface: &mut Surface<'_>,
        left: f32,
        top: f32,
        module: f32,
        height: f32,
    ) {
        let mut path = PathBuilder::new();
        for (x, width) in &self.bars {
            let rect = Rect::from_xywh(
                left + *x as f32 * module,
                top,
                f32::from(*width) * module,
                height,
            );
            if let Some(rect) = rect {
                path.push_rect(rect);
            }
        }
        // One path of rectangles: a single fill operation in the content stream.
        if let Some(path) = path.finish() {
            surface.draw_path(&path);
        }
    }
}
