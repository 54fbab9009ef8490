//! Charts of Crane's metrics rendered to SVG with [plotters]: series in, SVG text out.
//!
//! The window shows CPU, memory, requests/s, latency p95, error rate and replica count over a
//! selected time range (5 min, 1 h, 24 h). This crate turns the numbers into a self-contained SVG
//! string that the UI inlines; it does no I/O and holds no state, so it is tested with plain data.
//!
//! What a chart shows:
//! - a title and a legend (series names with colours from a fixed palette) in a header row;
//! - an x axis spanning exactly [`ChartSpec::from_ms`]..[`ChartSpec::to_ms`], labelled in **UTC**
//!   as HH:MM (HH:MM:SS for ranges of 10 minutes or less, MM-DD when ticks are days apart);
//! - a y axis with the unit on every label, fixed bounds when given, otherwise 0-based with
//!   headroom and rounded to a tick;
//! - lines (or steps for [`ChartSpec::step`]) broken where samples are missing for more than 3×
//!   the median interval; a lone sample is drawn as a dot; a single series gets a light area fill;
//! - dashed vertical [`Marker`]s (autoscaler decisions) and a dashed horizontal threshold
//!   (the autoscaling target), each with its label;
//! - "No data yet" in the middle when there is nothing to draw.
//!
//! **Architecture Invariant:** [`render_svg`] never panics and always returns a well-formed SVG
//! document whose root has the requested width and height (clamped to a sane minimum): NaN and
//! infinite values are skipped, an empty or inverted range is widened, and long series are
//! reduced to about one point per pixel so 24 h at 5 s stays small and fast.
//!
//! Several charts stack into one document ([`render_panel_svg`]) or one PNG image ([`render_png`]), as an
//! experiment's overlay is exported; [`TimeLabels::Elapsed`] labels the x axis with the time since a start (`0:30`)
//! so runs recorded at different times share one axis.
//!
//! **Architecture Invariant:** no system fonts. The SVG carries `<text>` elements and the viewer picks the font; the
//! PNG's text is drawn with the DejaVu Sans subsets embedded from `fonts/` (`ab_glyph`, pure Rust), so the crate
//! needs no fontconfig or freetype and draws the same image on every machine. Legend and label widths are estimated
//! from character counts.

mod axis;
mod bitmap;
mod downsample;
mod fonts;

pub use bitmap::{render_png, PngError};
pub use downsample::downsample;

use axis::{TimeAxis, ValueAxis, ValueInput, VALUE_LIMIT};
use downsample::{bucket, split_gaps, to_steps, Reduce};
use plotters::backend::SVGBackend;
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint};
use plotters::coord::Shift;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// One line on a chart: a named series of timestamped samples.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Series {
    /// Name shown in the legend, e.g. "web-1" or "app".
    pub name: String,
    /// Samples as (unix time in ms, value); need not be sorted; NaN and infinite values are skipped.
    pub points: Vec<(i64, f64)>,
}

/// A vertical marker at a moment, e.g. an autoscaler decision.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Marker {
    /// When it happened (unix ms); markers outside the chart's range are not drawn.
    pub at_ms: i64,
    /// Short text drawn beside the marker, e.g. "↑ 3 replicas".
    pub label: String,
}

/// Everything needed to draw one chart.
#[derive(Debug, Clone, PartialEq)]
pub struct ChartSpec {
    /// Title drawn top left, e.g. "CPU per instance".
    pub title: String,
    /// Unit appended to y labels: "%", "MiB", "req/s", "ms", "replicas" (empty for none).
    pub unit: String,
    /// Start of the selected range (unix ms); the x axis starts exactly here.
    pub from_ms: i64,
    /// End of the selected range (unix ms); the x axis ends exactly here.
    pub to_ms: i64,
    /// Width of the SVG in pixels, e.g. 640.
    pub width: u32,
    /// Height of the SVG in pixels, e.g. 240.
    pub height: u32,
    /// The series to draw, each in its own palette colour.
    pub series: Vec<Series>,
    /// Fixed lower bound of the y axis; automatic (0 or below the data) when `None`.
    pub y_min: Option<f64>,
    /// Fixed upper bound of the y axis (e.g. 100 for %); automatic (data plus headroom) when `None`.
    pub y_max: Option<f64>,
    /// Draw series as steps (each value holds until the next sample), as for replica counts.
    pub step: bool,
    /// Vertical markers, e.g. autoscaler decisions.
    pub markers: Vec<Marker>,
    /// Horizontal dashed line at a value (the autoscaling target) with its label.
    pub threshold: Option<(f64, String)>,
    /// How the x axis is labelled: times of day, or durations since a start.
    pub time: TimeLabels,
}

/// How the x axis is labelled.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TimeLabels {
    /// Times of day in UTC (the series' times are Unix ms).
    #[default]
    Clock,
    /// Minutes and seconds since a start (`0:30`, `2:00`); the series' times are ms since that start.
    Elapsed,
}

impl Default for ChartSpec {
    /// An empty 640 × 240 chart of the last five minutes before the epoch; set the fields you need.
    fn default() -> Self {
        ChartSpec {
            title: String::new(),
            unit: String::new(),
            from_ms: -5 * 60_000,
            to_ms: 0,
            width: 640,
            height: 240,
            series: Vec::new(),
            y_min: None,
            y_max: None,
            step: false,
            markers: Vec::new(),
            threshold: None,
            time: TimeLabels::Clock,
        }
    }
}

/// Smallest width an SVG is drawn at; smaller (or zero) requests are clamped up to it.
pub const MIN_WIDTH: u32 = 200;
/// Smallest height an SVG is drawn at; smaller (or zero) requests are clamped up to it.
pub const MIN_HEIGHT: u32 = 120;
/// Largest width or height an SVG is drawn at, so a bogus size cannot blow up the output.
pub const MAX_SIZE: u32 = 8_192;

/// Series colours, in order; chosen to be distinct on white and for common colour blindness.
const PALETTE: [RGBColor; 8] = [
    RGBColor(37, 99, 235),  // blue
    RGBColor(16, 185, 129), // emerald
    RGBColor(245, 158, 11), // amber
    RGBColor(139, 92, 246), // violet
    RGBColor(236, 72, 153), // pink
    RGBColor(6, 182, 212),  // cyan
    RGBColor(132, 204, 22), // lime
    RGBColor(249, 115, 22), // orange
];
/// Title text.
const TITLE_COLOR: RGBColor = RGBColor(30, 41, 59);
/// Axis labels, legend text and the empty-chart message.
const LABEL_COLOR: RGBColor = RGBColor(100, 116, 139);
/// Horizontal grid lines.
const GRID_COLOR: RGBColor = RGBColor(226, 232, 240);
/// The axis lines.
const AXIS_COLOR: RGBColor = RGBColor(203, 213, 225);
/// Marker lines.
const MARKER_COLOR: RGBColor = RGBColor(148, 163, 184);
/// Marker labels.
const MARKER_TEXT_COLOR: RGBColor = RGBColor(71, 85, 105);
/// The threshold line and its label.
const THRESHOLD_COLOR: RGBColor = RGBColor(220, 38, 38);

/// A font stack that looks native on every desktop; the viewer picks the first it has.
const FONT: &str = "system-ui, -apple-system, Segoe UI, Roboto, Helvetica, Arial, sans-serif";
/// Padding around the chart, in pixels.
const PAD: i32 = 12;
/// Title size in CSS pixels.
const TITLE_PX: f64 = 13.0;
/// Axis label and legend size in CSS pixels.
const LABEL_PX: f64 = 11.0;
/// Marker and threshold label size in CSS pixels.
const SMALL_PX: f64 = 10.0;
/// Height of one header row (title, legend).
const ROW_H: i32 = 18;
/// Height reserved under the plot for the time labels.
const X_LABEL_H: i32 = 20;
/// Legend rows at most; further series are summarised as "+N more".
const MAX_LEGEND_ROWS: usize = 2;
/// Time ticks are kept at least this many pixels apart.
const X_TICK_SPACING: i32 = 80;
/// Value ticks are kept at least this many pixels apart.
const Y_TICK_SPACING: i32 = 32;
/// Timestamps are clamped to ± this many ms (about 35 000 years) so that differences never overflow.
const TIME_LIMIT: i64 = 1 << 50;

/// Renders a chart to a standalone SVG document (`<svg width=… height=…>`); never panics.
///
/// Series are cut to the range, split at gaps, reduced to about one point per pixel (averages for
/// lines, maxima for steps, so a short scale-up stays visible) and drawn in palette order.
pub fn render_svg(spec: &ChartSpec) -> String {
    let width = spec.width.clamp(MIN_WIDTH, MAX_SIZE);
    let height = spec.height.clamp(MIN_HEIGHT, MAX_SIZE);
    let mut svg = String::with_capacity(32 * 1024);
    {
        let root = SVGBackend::with_string(&mut svg, (width, height)).into_drawing_area();
        // Drawing into a String cannot fail in practice; should plotters still report an error,
        // the document is closed when the backend drops and stays well-formed, just less complete.
        let _ = draw(&root, spec, (width as i32, height as i32));
        let _ = root.present();
    }
    decorate(svg, &spec.title)
}

/// Most charts one panel stacks; further ones are left out.
pub const MAX_PANEL_CHARTS: usize = 8;

/// The size of a panel of `specs` stacked top to bottom: the widest chart's width (each chart is drawn that wide)
/// and the sum of their heights, each clamped as for one chart and the total to [`MAX_SIZE`]; the charts drawn.
pub(crate) fn panel_layout(specs: &[ChartSpec]) -> (u32, Vec<u32>) {
    let specs = &specs[..specs.len().min(MAX_PANEL_CHARTS)];
    let width = specs.iter().map(|s| s.width.clamp(MIN_WIDTH, MAX_SIZE)).max().unwrap_or(MIN_WIDTH);
    let mut left = MAX_SIZE;
    let heights = specs
        .iter()
        .map(|s| {
            let h = s.height.clamp(MIN_HEIGHT, MAX_SIZE).min(left);
            left -= h;
            h
        })
        .take_while(|&h| h >= MIN_HEIGHT)
        .collect();
    (width, heights)
}

/// Draws `specs` stacked top to bottom on `root` (each as wide as the panel), as [`panel_layout`] sizes them.
pub(crate) fn draw_panel<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    specs: &[ChartSpec],
    width: u32,
    heights: &[u32],
) where
    DB::ErrorType: 'static,
{
    let mut rest = root.clone();
    for (spec, &h) in specs.iter().zip(heights) {
        let (area, below) = rest.split_vertically(h);
        // An error leaves that chart less complete; the others are still drawn.
        let _ = draw(&area, spec, (width as i32, h as i32));
        rest = below;
    }
}

/// Renders several charts stacked top to bottom into one SVG document (an experiment's overlay: one chart per
/// metric); never panics. The panel is as wide as the widest chart and as high as all of them together (at most
/// [`MAX_SIZE`], at most [`MAX_PANEL_CHARTS`] charts); an empty list gives an empty white panel.
pub fn render_panel_svg(specs: &[ChartSpec]) -> String {
    let (width, heights) = panel_layout(specs);
    let height: u32 = heights.iter().sum::<u32>().max(MIN_HEIGHT);
    let mut svg = String::with_capacity(64 * 1024 * heights.len().max(1));
    {
        let root = SVGBackend::with_string(&mut svg, (width, height)).into_drawing_area();
        let _ = root.fill(&WHITE);
        draw_panel(&root, specs, width, &heights);
        let _ = root.present();
    }
    let title: Vec<&str> =
        specs.iter().take(heights.len()).map(|s| s.title.as_str()).filter(|t| !t.is_empty()).collect();
    decorate(svg, &title.join(" · "))
}

/// Orders the range and widens it to at least one second; clamps absurd timestamps.
fn normalize_range(from: i64, to: i64) -> (i64, i64) {
    let (from, to) = (from.clamp(-TIME_LIMIT, TIME_LIMIT), to.clamp(-TIME_LIMIT, TIME_LIMIT));
    let (from, to) = if from > to { (to, from) } else { (from, to) };
    if to - from < 1_000 {
        (from, from + 1_000)
    } else {
        (from, to)
    }
}

/// A series ready to draw: its pieces between gaps, already reduced and (for steps) squared.
struct Prepared {
    /// Pieces between gaps, each sorted by time.
    pieces: Vec<Vec<(i64, f64)>>,
}

/// Prepares one series for a plot `plot_w` pixels wide showing `from..=to`.
fn prepare(series: &Series, from: i64, to: i64, plot_w: i32, step: bool) -> Prepared {
    let mut points: Vec<(i64, f64)> = series
        .points
        .iter()
        .filter(|(t, v)| v.is_finite() && (from..=to).contains(t))
        .map(|&(t, v)| (t, v.clamp(-VALUE_LIMIT, VALUE_LIMIT)))
        .collect();
    points.sort_by_key(|&(t, _)| t);

    let ms_per_px = ((to - from) / i64::from(plot_w.max(1))).max(1);
    let reduce = if step { Reduce::Max } else { Reduce::Mean };
    let pieces = split_gaps(&points, 2 * ms_per_px)
        .into_iter()
        .map(|piece| {
            let span = piece.last().map_or(0, |p| p.0) - piece.first().map_or(0, |p| p.0);
            let budget = (span / ms_per_px + 2) as usize;
            let reduced = bucket(piece, budget, reduce);
            if step {
                to_steps(&reduced)
            } else {
                reduced
            }
        })
        .filter(|piece| !piece.is_empty())
        .collect();
    Prepared { pieces }
}

/// Estimated width in pixels of `text` at `px` CSS pixels (no font metrics are available).
fn text_width(text: &str, px: f64) -> i32 {
    (text.chars().count() as f64 * px * 0.6).ceil() as i32
}

/// Plotters writes `font-size = size / 1.24` into the SVG; this is the `size` for `px` CSS pixels.
fn font_size(px: f64) -> f64 {
    px * 1.24
}

/// A text style at `px` CSS pixels in one of our colours, anchored as given.
fn text_style(px: f64, color: &'static RGBColor, h: HPos, v: VPos) -> TextStyle<'static> {
    TextStyle::from((FONT, font_size(px)).into_font()).color(color).pos(Pos::new(h, v))
}

/// One legend entry placed in the header.
struct LegendItem {
    /// Text of the entry.
    text: String,
    /// Colour of its swatch, if it names a series.
    color: Option<RGBColor>,
    /// Left edge in pixels.
    x: i32,
    /// Row, 0-based.
    row: usize,
}

/// Lays the legend out after the title, wrapping to more rows and summarising what does not fit.
fn layout_legend(spec: &ChartSpec, width: i32) -> (Vec<LegendItem>, usize) {
    const SWATCH: i32 = 14;
    const GAP: i32 = 14;
    let right = width - PAD;
    let title_end = if spec.title.is_empty() { PAD } else { PAD + text_width(&spec.title, TITLE_PX) + 2 * GAP };
    let item_w = |name: &str| SWATCH + text_width(name, LABEL_PX);
    let total: i32 = spec.series.iter().map(|s| item_w(&s.name) + GAP).sum::<i32>() - GAP;

    let mut items = Vec::new();
    if spec.series.is_empty() {
        return (items, 1);
    }
    // Everything fits beside the title: right-align it there, as dashboards usually do.
    if title_end + total <= right {
        let mut x = right - total;
        for (i, s) in spec.series.iter().enumerate() {
            items.push(LegendItem { text: xml_safe(&s.name), color: Some(PALETTE[i % PALETTE.len()]), x, row: 0 });
            x += item_w(&s.name) + GAP;
        }
        return (items, 1);
    }
    // Otherwise flow from the left under the title.
    let first_row = if spec.title.is_empty() { 0 } else { 1 };
    let (mut row, mut x) = (first_row, PAD);
    for (i, s) in spec.series.iter().enumerate() {
        let w = item_w(&s.name);
        if x > PAD && x + w > right {
            row += 1;
            x = PAD;
        }
        if row >= first_row + MAX_LEGEND_ROWS {
            let rest = spec.series.len() - i;
            let last_row = first_row + MAX_LEGEND_ROWS - 1;
            let x = items.iter().filter(|it| it.row == last_row).map(|it| it.x + item_w(&it.text) + GAP).max();
            items.push(LegendItem { text: format!("+{rest} more"), color: None, x: x.unwrap_or(PAD), row: last_row });
            return (items, last_row + 1);
        }
        items.push(LegendItem { text: xml_safe(&s.name), color: Some(PALETTE[i % PALETTE.len()]), x, row });
        x += w + GAP;
    }
    (items, row + 1)
}

/// Draws the whole chart onto `root`, an area `width` × `height` pixels.
fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    spec: &ChartSpec,
    (width, height): (i32, i32),
) -> Result<(), Box<dyn std::error::Error>>
where
    DB::ErrorType: 'static,
{
    let (from, to) = normalize_range(spec.from_ms, spec.to_ms);
    root.fill(&WHITE)?;

    // Header: the title, then the legend beside or below it.
    let (legend, rows) = layout_legend(spec, width);
    if !spec.title.is_empty() {
        root.draw(&Text::new(
            xml_safe(&spec.title),
            (PAD, PAD + ROW_H / 2),
            TextStyle::from((FONT, font_size(TITLE_PX), FontStyle::Bold).into_font())
                .color(&TITLE_COLOR)
                .pos(Pos::new(HPos::Left, VPos::Center)),
        ))?;
    }
    for item in &legend {
        let y = PAD + ROW_H / 2 + item.row as i32 * ROW_H;
        let mut x = item.x;
        if let Some(color) = item.color {
            root.draw(&Circle::new((x + 4, y), 4, color.filled()))?;
            x += 14;
        }
        root.draw(&Text::new(item.text.clone(), (x, y), text_style(LABEL_PX, &LABEL_COLOR, HPos::Left, VPos::Center)))?;
    }
    let header_h = PAD + rows as i32 * ROW_H + 10;

    // Plot geometry, before plotters computes it, to size ticks and the reduction.
    let plot_h = (height - header_h - PAD - X_LABEL_H).max(10);
    let integer = spec.step || spec.unit == "replicas";
    let x_ticks_max = ((width - 2 * PAD) / X_TICK_SPACING).max(2) as usize;
    let y_intervals = (plot_h / Y_TICK_SPACING).clamp(2, 6) as usize;

    // The y axis depends on the reduced data, its label width on the y axis, and the plot width
    // (which sets the reduction) on that label width. Breaking the cycle, the reduction assumes
    // 60 px of labels: a few points more or less per pixel column make no visible difference.
    let rough_plot_w = (width - 2 * PAD - 60).max(10);
    let prepared: Vec<Prepared> = spec.series.iter().map(|s| prepare(s, from, to, rough_plot_w, spec.step)).collect();
    let mut data: Option<(f64, f64)> = None;
    let mut include = |v: f64| {
        data = Some(data.map_or((v, v), |(lo, hi)| (lo.min(v), hi.max(v))));
    };
    prepared.iter().flat_map(|p| p.pieces.iter().flatten()).for_each(|&(_, v)| include(v));
    if let Some((v, _)) = &spec.threshold {
        if v.is_finite() {
            include(v.clamp(-VALUE_LIMIT, VALUE_LIMIT));
        }
    }
    let y_axis = ValueAxis::new(
        ValueInput { data, fixed_lo: spec.y_min, fixed_hi: spec.y_max, integer, max_intervals: y_intervals },
        &xml_safe(&spec.unit),
    );
    let x_axis = TimeAxis::new(from, to, x_ticks_max, spec.time == TimeLabels::Elapsed);
    let y_label_w = y_axis.ticks.iter().map(|&v| text_width(&y_axis.label(v), LABEL_PX)).max().unwrap_or(0).max(20) + 8;

    // The last time label is centred on the right edge of the plot: leave room for its half.
    let right_margin = x_axis.ticks.last().map_or(0, |&t| text_width(&x_axis.label(t), LABEL_PX) / 2 + 2).max(PAD);
    let body = root.margin(header_h, PAD, PAD, right_margin);
    let mut chart =
        ChartBuilder::on(&body).x_label_area_size(X_LABEL_H).y_label_area_size(y_label_w).build_cartesian_2d(
            (from..to).with_key_points(x_axis.ticks.clone()),
            ValueCoord { lo: y_axis.lo, hi: y_axis.hi, ticks: y_axis.ticks.clone() },
        )?;
    let x_fmt = |t: &i64| x_axis.label(*t);
    let y_fmt = |v: &f64| y_axis.label(*v);
    chart
        .configure_mesh()
        .disable_x_mesh()
        .bold_line_style(GRID_COLOR.stroke_width(1))
        .light_line_style(TRANSPARENT)
        .axis_style(AXIS_COLOR.stroke_width(1))
        .set_all_tick_mark_size(3)
        .x_label_style(text_style(LABEL_PX, &LABEL_COLOR, HPos::Center, VPos::Top))
        .y_label_style(text_style(LABEL_PX, &LABEL_COLOR, HPos::Right, VPos::Center))
        .x_label_formatter(&x_fmt)
        .y_label_formatter(&y_fmt)
        .draw()?;

    // Pixel ranges and `backend_coord` are the backend's (absolute) pixels; labels are drawn on `root`, which may be
    // one chart of a panel, below others: shift them into `root`'s own pixels.
    let (base_x, base_y) = root.get_base_pixel();
    let (px_range, py_range) = chart.plotting_area().get_pixel_range();
    let (px_range, py_range) =
        (px_range.start - base_x..px_range.end - base_x, py_range.start - base_y..py_range.end - base_y);
    let (lo, hi) = (y_axis.lo, y_axis.hi);
    // `max`/`min` rather than `clamp`, which panics on a NaN bound; the axis guarantees none, but
    // this is the one place a panic could come from.
    let clamp_y = |v: f64| v.max(lo).min(hi);

    // Threshold and markers go under the data so the lines stay readable.
    let threshold = spec.threshold.as_ref().filter(|(v, _)| v.is_finite() && (lo..=hi).contains(v));
    if let Some((v, _)) = threshold {
        chart.draw_series(std::iter::once(DashedPathElement::new(
            vec![(from, *v), (to, *v)],
            6,
            4,
            THRESHOLD_COLOR.mix(0.8).stroke_width(1),
        )))?;
    }
    let markers: Vec<&Marker> = spec.markers.iter().filter(|m| (from..=to).contains(&m.at_ms)).collect();
    for m in &markers {
        chart.draw_series(std::iter::once(DashedPathElement::new(
            vec![(m.at_ms, lo), (m.at_ms, hi)],
            4,
            3,
            MARKER_COLOR.stroke_width(1),
        )))?;
    }

    // The data: an area under a lone series, then lines, then dots for lone samples.
    let base = clamp_y(0.0);
    let single = prepared.len() == 1;
    let mut drawn = 0usize;
    for (i, series) in prepared.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        for piece in &series.pieces {
            let piece: Vec<(i64, f64)> = piece.iter().map(|&(t, v)| (t, clamp_y(v))).collect();
            drawn += piece.len();
            if piece.len() == 1 {
                chart.draw_series(std::iter::once(Circle::new(piece[0], 3, color.filled())))?;
                continue;
            }
            if single {
                let mut area = piece.clone();
                area.push((piece[piece.len() - 1].0, base));
                area.push((piece[0].0, base));
                chart.draw_series(std::iter::once(Polygon::new(area, color.mix(0.10).filled())))?;
            }
            chart.draw_series(std::iter::once(PathElement::new(piece, color.stroke_width(2))))?;
        }
    }

    // Labels last, on top of everything.
    if let Some((v, label)) = threshold {
        if !label.is_empty() {
            let y = chart.backend_coord(&(to, *v)).1 - base_y;
            // Below the line when it runs along the top edge, above it otherwise.
            let (dy, vpos) = if y - py_range.start < 14 { (3, VPos::Top) } else { (-3, VPos::Bottom) };
            root.draw(&Text::new(
                xml_safe(label),
                (px_range.end - 4, y + dy),
                text_style(SMALL_PX, &THRESHOLD_COLOR, HPos::Right, vpos),
            ))?;
        }
    }
    // Marker labels take the first of three rows where they do not overlap an earlier label.
    let mut row_ends = [i32::MIN; 3];
    for m in &markers {
        if m.label.is_empty() {
            continue;
        }
        let x = chart.backend_coord(&(m.at_ms, hi)).0 - base_x;
        let w = text_width(&m.label, SMALL_PX);
        let (left, hpos, tx) =
            if x + 4 + w <= px_range.end { (x + 3, HPos::Left, x + 3) } else { (x - 3 - w, HPos::Right, x - 3) };
        if let Some(row) = row_ends.iter().position(|&end| end < left) {
            row_ends[row] = left + w + 4;
            root.draw(&Text::new(
                xml_safe(&m.label),
                (tx, py_range.start + 2 + row as i32 * 12),
                text_style(SMALL_PX, &MARKER_TEXT_COLOR, hpos, VPos::Top),
            ))?;
        }
    }

    if drawn == 0 {
        root.draw(&Text::new(
            "No data yet",
            ((px_range.start + px_range.end) / 2, (py_range.start + py_range.end) / 2),
            text_style(13.0, &LABEL_COLOR, HPos::Center, VPos::Center),
        ))?;
    }
    Ok(())
}

/// The y coordinate: a linear f64 range whose grid lines and labels sit exactly on our ticks.
///
/// Plotters' `with_key_points` would do, but it loses default formatting for `f64`, which its mesh
/// drawing insists on even when a label formatter is given.
struct ValueCoord {
    /// Bottom of the axis.
    lo: f64,
    /// Top of the axis.
    hi: f64,
    /// Where grid lines and labels go.
    ticks: Vec<f64>,
}

impl Ranged for ValueCoord {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, v: &f64, limit: (i32, i32)) -> i32 {
        let span = self.hi - self.lo;
        let frac = if span > 0.0 { (v - self.lo) / span } else { 0.5 };
        // Values were clamped to the axis before drawing; the clamp here only guards the cast.
        let px = f64::from(limit.0) + f64::from(limit.1 - limit.0) * frac.clamp(-1.0, 2.0);
        px.round() as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        // Light (minor) grid lines are not drawn; bold ones go at the ticks.
        if hint.weight().allow_light_points() || hint.max_num_points() == 0 {
            Vec::new()
        } else {
            self.ticks.clone()
        }
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.lo..self.hi
    }
}

/// Styles plotters cannot express: round line joins, and a white halo behind text so that
/// labels stay readable where they cross a line.
const STYLE: &str = "<style>polyline{stroke-linejoin:round;stroke-linecap:round}\
text{paint-order:stroke;stroke:#fff;stroke-width:3px;stroke-linejoin:round}</style>";

/// Adds what plotters cannot express: the [`STYLE`] sheet, a `<title>` for screen readers, and
/// font sizes without float noise (`size / 1.24` prints 13 as 13.000000000000002).
fn decorate(svg: String, title: &str) -> String {
    let mut out = String::with_capacity(svg.len() + 256);
    let mut rest = svg.as_str();
    const ATTR: &str = "font-size=\"";
    while let Some(i) = rest.find(ATTR) {
        let value_start = i + ATTR.len();
        out.push_str(&rest[..value_start]);
        rest = &rest[value_start..];
        let value_end = rest.find('"').unwrap_or(rest.len());
        match rest[..value_end].parse::<f64>() {
            Ok(size) => {
                let rounded = format!("{:.2}", size);
                out.push_str(rounded.trim_end_matches('0').trim_end_matches('.'));
            }
            Err(_) => out.push_str(&rest[..value_end]),
        }
        rest = &rest[value_end..];
    }
    out.push_str(rest);

    let Some(start) = out.find("<svg") else { return out };
    let Some(end) = out[start..].find('>').map(|i| start + i + 1) else { return out };
    let mut extra = format!("\n{STYLE}");
    if !title.is_empty() {
        extra.push_str("\n<title>");
        escape_into(&mut extra, &xml_safe(title));
        extra.push_str("</title>");
    }
    out.insert_str(end, &extra);
    out
}

/// Removes characters XML 1.0 does not allow in a document (control characters other than tab and
/// line breaks), which plotters would otherwise copy into `<text>` and make the SVG unparsable.
fn xml_safe(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\t' | '\n' | '\r' => c,
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => ' ',
            c => c,
        })
        .collect()
}

/// Appends `text` with XML's special characters escaped.
fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
}
