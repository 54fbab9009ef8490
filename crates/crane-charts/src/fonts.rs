//! The fonts the PNG export draws text with: DejaVu Sans subsets embedded from `fonts/` (see its `subset.sh` and
//! `LICENSE`), parsed once. The SVG keeps writing a font stack the viewer resolves; the PNG is rasterized with these
//! glyphs, so an exported PNG looks the same on every machine, with no fontconfig or system font involved.

use std::sync::OnceLock;

use ab_glyph::FontRef;

/// DejaVu Sans, cut to the characters charts print.
const REGULAR: &[u8] = include_bytes!("../fonts/DejaVuSans-subset.ttf");
/// DejaVu Sans Bold, cut the same way (titles).
const BOLD: &[u8] = include_bytes!("../fonts/DejaVuSans-Bold-subset.ttf");

/// The regular or the bold face; `None` only if an embedded file did not parse (a test keeps both parsing), and
/// then text is not drawn rather than anything panicking.
pub(crate) fn face(bold: bool) -> Option<&'static FontRef<'static>> {
    static FACES: OnceLock<(Option<FontRef<'static>>, Option<FontRef<'static>>)> = OnceLock::new();
    let (regular, bold_face) =
        FACES.get_or_init(|| (FontRef::try_from_slice(REGULAR).ok(), FontRef::try_from_slice(BOLD).ok()));
    if bold {
        bold_face.as_ref().or(regular.as_ref())
    } else {
        regular.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use ab_glyph::Font;

    /// Both embedded faces parse and have a glyph for every character charts print (ASCII, the arrows of marker
    /// labels, the dashes and "…" of legends, "≤" of settings).
    #[test]
    fn the_embedded_faces_cover_what_charts_print() {
        for bold in [false, true] {
            let face = super::face(bold).expect("the embedded font parses");
            let text: String = (' '..='~').chain("→↑↓…–—·≤≥−µ°×".chars()).collect();
            for c in text.chars() {
                assert_ne!(face.glyph_id(c).0, 0, "no glyph for {c:?} (bold: {bold})");
            }
        }
    }
}
