//! Charts as PNG images: the same drawing as the SVG, rasterized by plotters' bitmap backend into an RGB buffer and
//! encoded with the `png` crate (already built for the desktop app's icons). Text is drawn here, glyph by glyph with
//! `ab_glyph` from the embedded fonts ([`crate::fonts`]), placed as the SVG's `<text>` anchors place it.

use ab_glyph::{Font, FontRef, PxScale, ScaleFont};
use plotters::backend::BitMapBackend;
use plotters::prelude::*;
use plotters_backend::text_anchor::{HPos, VPos};
use plotters_backend::{BackendColor, BackendCoord, BackendStyle, BackendTextStyle, DrawingErrorKind};

use crate::{draw_panel, fonts, panel_layout, ChartSpec, MIN_HEIGHT};

/// The PNG could not be encoded (only a broken encoder would do that: the image is drawn in memory).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PngError(pub String);

impl std::fmt::Display for PngError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the chart could not be encoded as PNG: {}", self.0)
    }
}

impl std::error::Error for PngError {}

/// Renders charts stacked top to bottom (one chart: just it) as a PNG image of the same size as
/// [`crate::render_panel_svg`]'s document; never panics.
pub fn render_png(specs: &[ChartSpec]) -> Result<Vec<u8>, PngError> {
    let (width, heights) = panel_layout(specs);
    let height: u32 = heights.iter().sum::<u32>().max(MIN_HEIGHT);
    let mut pixels = vec![255u8; width as usize * height as usize * 3];
    {
        let backend = Text { inner: BitMapBackend::with_buffer(&mut pixels, (width, height)) };
        let root = backend.into_drawing_area();
        let _ = root.fill(&WHITE);
        draw_panel(&root, specs, width, &heights);
        let _ = root.present();
    }
    encode(&pixels, width, height)
}

/// Encodes an RGB buffer as PNG.
fn encode(pixels: &[u8], width: u32, height: u32) -> Result<Vec<u8>, PngError> {
    let failed = |e: png::EncodingError| PngError(e.to_string());
    let mut out = Vec::with_capacity(pixels.len() / 8);
    {
        let mut encoder = png::Encoder::new(&mut out, width, height);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().map_err(failed)?;
        writer.write_image_data(pixels).map_err(failed)?;
        writer.finish().map_err(failed)?;
    }
    Ok(out)
}

/// Plotters' text size for a style: the SVG writes `font-size = size / 1.24` CSS pixels (see `crate::font_size`).
fn css_px(style_size: f64) -> f32 {
    (style_size / 1.24) as f32
}

/// The scale at which a face's em is `px` pixels (ab_glyph scales by the face's ascent-to-descent height).
fn scale_for(face: &FontRef<'_>, px: f32) -> PxScale {
    let em = face.units_per_em().unwrap_or(2048.0);
    PxScale::from(px * face.height_unscaled() / em)
}

/// Width of `text` in pixels at `scale`, kerning included.
fn advance(face: &FontRef<'_>, scale: PxScale, text: &str) -> f32 {
    let scaled = face.as_scaled(scale);
    let mut width = 0.0;
    let mut previous = None;
    for c in text.chars() {
        let id = scaled.glyph_id(c);
        if let Some(p) = previous {
            width += scaled.kern(p, id);
        }
        width += scaled.h_advance(id);
        previous = Some(id);
    }
    width
}

/// The bitmap backend with text drawn by [`fonts`]: every other call goes to plotters' `BitMapBackend`.
struct Text<'a> {
    inner: BitMapBackend<'a>,
}

impl DrawingBackend for Text<'_> {
    type ErrorType = <BitMapBackend<'static> as DrawingBackend>::ErrorType;

    fn get_size(&self) -> (u32, u32) {
        self.inner.get_size()
    }

    fn ensure_prepared(&mut self) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.ensure_prepared()
    }

    fn present(&mut self) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.present()
    }

    fn draw_pixel(
        &mut self,
        point: BackendCoord,
        color: BackendColor,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.draw_pixel(point, color)
    }

    fn draw_line<S: BackendStyle>(
        &mut self,
        from: BackendCoord,
        to: BackendCoord,
        style: &S,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.draw_line(from, to, style)
    }

    fn draw_rect<S: BackendStyle>(
        &mut self,
        upper_left: BackendCoord,
        bottom_right: BackendCoord,
        style: &S,
        fill: bool,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.draw_rect(upper_left, bottom_right, style, fill)
    }

    fn blit_bitmap(
        &mut self,
        pos: BackendCoord,
        size: (u32, u32),
        src: &[u8],
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.blit_bitmap(pos, size, src)
    }

    /// Draws `text` anchored at `pos` as the SVG's `<text>` is: `start`/`middle`/`end` horizontally, and the
    /// baseline 0.76 em below a top anchor, half an x-height below a centre one and above a bottom one.
    fn draw_text<S: BackendTextStyle>(
        &mut self,
        text: &str,
        style: &S,
        pos: BackendCoord,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        let color = style.color();
        let Some(face) = fonts::face(matches!(style.style(), FontStyle::Bold)) else { return Ok(()) };
        if color.alpha == 0.0 || text.is_empty() {
            return Ok(());
        }
        let px = css_px(style.size());
        let scale = scale_for(face, px);
        let width = advance(face, scale, text);
        let anchor = style.anchor();
        let mut x = pos.0 as f32
            - match anchor.h_pos {
                HPos::Left => 0.0,
                HPos::Center => width / 2.0,
                HPos::Right => width,
            };
        // DejaVu's x-height is 0.55 em: half of it is what SVG's `0.5ex` moves a centred baseline by.
        let baseline = pos.1 as f32
            + px * match anchor.v_pos {
                VPos::Top => 0.76,
                VPos::Center => 0.27,
                VPos::Bottom => -0.27,
            };
        let scaled = face.as_scaled(scale);
        let (w, h) = self.get_size();
        let mut previous = None;
        for c in text.chars() {
            let id = scaled.glyph_id(c);
            if let Some(p) = previous {
                x += scaled.kern(p, id);
            }
            previous = Some(id);
            let glyph = id.with_scale_and_position(scale, ab_glyph::point(x, baseline));
            x += scaled.h_advance(id);
            let Some(outline) = face.outline_glyph(glyph) else { continue };
            let bounds = outline.px_bounds();
            let mut result = Ok(());
            outline.draw(|gx, gy, coverage| {
                let (px, py) = (bounds.min.x as i32 + gx as i32, bounds.min.y as i32 + gy as i32);
                if coverage > 0.0 && px >= 0 && py >= 0 && (px as u32) < w && (py as u32) < h && result.is_ok() {
                    let alpha = color.alpha * f64::from(coverage.min(1.0));
                    result = self.inner.draw_pixel((px, py), BackendColor { alpha, rgb: color.rgb });
                }
            });
            result?;
        }
        Ok(())
    }

    fn estimate_text_size<S: BackendTextStyle>(
        &self,
        text: &str,
        style: &S,
    ) -> Result<(u32, u32), DrawingErrorKind<Self::ErrorType>> {
        let Some(face) = fonts::face(matches!(style.style(), FontStyle::Bold)) else { return Ok((0, 0)) };
        let px = css_px(style.size());
        Ok((advance(face, scale_for(face, px), text).ceil() as u32, px.ceil() as u32))
    }
}
