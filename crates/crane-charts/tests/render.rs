//! Rendering tests: every chart must be a well-formed SVG document of the requested size, whatever
//! the data looks like.

use crane_charts::{render_panel_svg, render_png, render_svg, ChartSpec, Marker, Series, TimeLabels};

/// 2024-01-01T00:00:00Z, a round start so ticks are predictable.
const T0: i64 = 1_704_067_200_000;
const MIN: i64 = 60_000;
const HOUR: i64 = 60 * MIN;

/// Parses `svg` and checks the root element and its size; returns the document text for further checks.
fn check_svg(svg: &str, width: u32, height: u32) -> roxmltree::Document<'_> {
    let doc = roxmltree::Document::parse(svg).unwrap_or_else(|e| panic!("invalid SVG ({e}):\n{svg}"));
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "svg");
    assert_eq!(root.attribute("width"), Some(width.to_string().as_str()));
    assert_eq!(root.attribute("height"), Some(height.to_string().as_str()));
    doc
}

/// All text content of `<text>` elements, trimmed (plotters puts the text on its own line).
fn texts(doc: &roxmltree::Document<'_>) -> Vec<String> {
    doc.descendants().filter(|n| n.has_tag_name("text")).map(|n| n.text().unwrap_or("").trim().to_string()).collect()
}

/// How many elements of a kind the document has.
fn count(doc: &roxmltree::Document<'_>, tag: &str) -> usize {
    doc.descendants().filter(|n| n.has_tag_name(tag)).count()
}

/// The data lines: polylines two pixels wide (axes and ticks are one pixel wide).
fn lines<'a>(doc: &'a roxmltree::Document<'a>) -> Vec<roxmltree::Node<'a, 'a>> {
    doc.descendants().filter(|n| n.has_tag_name("polyline") && n.attribute("stroke-width") == Some("2")).collect()
}

/// A five-minute CPU chart with the given series.
fn cpu(series: Vec<Series>) -> ChartSpec {
    ChartSpec {
        title: "CPU per instance".into(),
        unit: "%".into(),
        from_ms: T0,
        to_ms: T0 + 5 * MIN,
        width: 640,
        height: 240,
        series,
        y_min: Some(0.0),
        y_max: Some(100.0),
        ..ChartSpec::default()
    }
}

/// A series sampled every `every_ms` over `from..to` with a wavy value.
fn wave(name: &str, from: i64, to: i64, every_ms: i64, phase: f64) -> Series {
    let points = (0..)
        .map(|i| from + i * every_ms)
        .take_while(|&t| t <= to)
        .map(|t| (t, 50.0 + 40.0 * (((t - from) as f64 / 600_000.0) + phase).sin()))
        .collect();
    Series { name: name.into(), points }
}

#[test]
fn empty_chart_says_no_data() {
    for series in [vec![], vec![Series { name: "web-1".into(), points: vec![] }]] {
        let svg = render_svg(&cpu(series));
        let doc = check_svg(&svg, 640, 240);
        let texts = texts(&doc);
        assert!(texts.iter().any(|t| t == "No data yet"), "{texts:?}");
        assert!(texts.iter().any(|t| t == "CPU per instance"));
        // The axes are still there: time labels and unit labels.
        assert!(texts.iter().any(|t| t == "00:01:00"), "{texts:?}");
        assert!(texts.iter().any(|t| t == "100%"), "{texts:?}");
    }
}

#[test]
fn single_point_is_a_dot() {
    let series = vec![Series { name: "web-1".into(), points: vec![(T0 + 2 * MIN, 42.0)] }];
    let svg = render_svg(&cpu(series));
    let doc = check_svg(&svg, 640, 240);
    assert!(!texts(&doc).iter().any(|t| t == "No data yet"));
    // One dot for the sample, one for the legend swatch.
    assert_eq!(count(&doc, "circle"), 2, "{svg}");
}

#[test]
fn two_series_have_legend_and_lines() {
    let series = vec![wave("web-1", T0, T0 + 5 * MIN, 5_000, 0.0), wave("web-2", T0, T0 + 5 * MIN, 5_000, 1.0)];
    let svg = render_svg(&cpu(series));
    let doc = check_svg(&svg, 640, 240);
    let texts = texts(&doc);
    assert!(texts.iter().any(|t| t == "web-1") && texts.iter().any(|t| t == "web-2"), "{texts:?}");
    assert_eq!(lines(&doc).len(), 2);
    // Two different palette colours.
    let strokes: Vec<&str> = lines(&doc).iter().filter_map(|n| n.attribute("stroke")).collect();
    assert_eq!(strokes.len(), 2);
    assert_ne!(strokes[0], strokes[1]);
}

#[test]
fn day_at_five_seconds_stays_small() {
    let (from, to) = (T0, T0 + 24 * HOUR);
    let series = (0..4).map(|i| wave(&format!("web-{i}"), from, to, 5_000, f64::from(i))).collect::<Vec<_>>();
    assert_eq!(series[0].points.len(), 17_281);
    let spec = ChartSpec { from_ms: from, to_ms: to, ..cpu(series) };
    let svg = render_svg(&spec);
    let doc = check_svg(&svg, 640, 240);
    assert!(svg.len() < 300 * 1024, "{} bytes", svg.len());
    assert_eq!(lines(&doc).len(), 4);
    // A day is labelled in hours and minutes.
    let texts = texts(&doc);
    assert!(texts.iter().any(|t| t == "06:00"), "{texts:?}");
}

#[test]
fn step_series_draws_steps() {
    let points = vec![(T0, 1.0), (T0 + MIN, 2.0), (T0 + 2 * MIN, 3.0), (T0 + 3 * MIN, 3.0), (T0 + 4 * MIN, 2.0)];
    let spec = ChartSpec {
        title: "Replicas".into(),
        unit: "replicas".into(),
        step: true,
        y_min: None,
        y_max: None,
        ..cpu(vec![Series { name: "web".into(), points }])
    };
    let svg = render_svg(&spec);
    let doc = check_svg(&svg, 640, 240);
    let line = lines(&doc).into_iter().next().expect("a line");
    let corners: Vec<&str> = line.attribute("points").unwrap_or("").split_whitespace().collect();
    // Five samples make 2 × 5 − 1 corners; each horizontal run keeps its y.
    assert_eq!(corners.len(), 9, "{corners:?}");
    let y = |s: &str| s.split(',').nth(1).map(str::to_string);
    assert_eq!(y(corners[0]), y(corners[1]));
    // Replica labels are whole numbers.
    let texts = texts(&doc);
    assert!(texts.iter().any(|t| t == "3 replicas"), "{texts:?}");
    assert!(!texts.iter().any(|t| t.contains('.')), "{texts:?}");
}

#[test]
fn markers_and_threshold_are_drawn_with_labels() {
    let mut spec = cpu(vec![wave("web-1", T0, T0 + 5 * MIN, 5_000, 0.0)]);
    spec.markers = vec![
        Marker { at_ms: T0 + 2 * MIN, label: "scale 2 → 3".into() },
        Marker { at_ms: T0 + 2 * MIN + 5_000, label: "scale 3 → 4".into() },
        Marker { at_ms: T0 - HOUR, label: "outside".into() },
    ];
    spec.threshold = Some((70.0, "target 70%".into()));
    let svg = render_svg(&spec);
    let doc = check_svg(&svg, 640, 240);
    let texts = texts(&doc);
    for label in ["scale 2 → 3", "scale 3 → 4", "target 70%"] {
        assert!(texts.iter().any(|t| t == label), "{label} missing from {texts:?}");
    }
    assert!(!texts.iter().any(|t| t == "outside"));
    // The threshold colour appears on dashes.
    assert!(svg.contains("#DC2626"), "threshold line missing");
}

#[test]
fn nan_and_infinite_values_are_skipped() {
    let mut series = wave("web-1", T0, T0 + 5 * MIN, 5_000, 0.0);
    for (i, p) in series.points.iter_mut().enumerate() {
        p.1 = match i % 3 {
            0 => f64::NAN,
            1 => f64::INFINITY,
            _ => p.1,
        };
    }
    let only_nan = Series { name: "web-2".into(), points: vec![(T0, f64::NAN), (T0 + MIN, f64::NEG_INFINITY)] };
    let mut spec = cpu(vec![series, only_nan]);
    spec.y_min = None;
    spec.y_max = Some(f64::NAN);
    spec.threshold = Some((f64::NAN, "nan".into()));
    let svg = render_svg(&spec);
    let doc = check_svg(&svg, 640, 240);
    assert!(!svg.contains("NaN") && !svg.contains("inf"), "{svg}");
    assert_eq!(lines(&doc).len(), 1);
}

#[test]
fn inverted_empty_and_absurd_ranges() {
    let series = vec![wave("web-1", T0, T0 + 5 * MIN, 5_000, 0.0)];
    let cases = [(T0 + 5 * MIN, T0), (T0, T0), (i64::MIN, i64::MAX), (i64::MAX, i64::MIN)];
    for (from_ms, to_ms) in cases {
        let spec = ChartSpec { from_ms, to_ms, ..cpu(series.clone()) };
        check_svg(&render_svg(&spec), 640, 240);
    }
    // An inverted range shows the same data as the ordered one.
    let inverted = render_svg(&ChartSpec { from_ms: T0 + 5 * MIN, to_ms: T0, ..cpu(series.clone()) });
    assert_eq!(inverted, render_svg(&cpu(series)));
}

#[test]
fn tiny_sizes_are_clamped() {
    let svg = render_svg(&ChartSpec { width: 0, height: 0, ..cpu(vec![]) });
    check_svg(&svg, crane_charts::MIN_WIDTH, crane_charts::MIN_HEIGHT);
    let many = (0..30).map(|i| wave(&format!("instance-{i}"), T0, T0 + 5 * MIN, 5_000, 0.0)).collect();
    let svg = render_svg(&ChartSpec { width: 1, height: 1, ..cpu(many) });
    let doc = check_svg(&svg, crane_charts::MIN_WIDTH, crane_charts::MIN_HEIGHT);
    assert!(texts(&doc).iter().any(|t| t.ends_with("more")));
}

#[test]
fn gaps_break_the_line() {
    let mut series = wave("web-1", T0, T0 + MIN, 5_000, 0.0);
    series.points.extend(wave("web-1", T0 + 3 * MIN, T0 + 5 * MIN, 5_000, 0.0).points);
    let svg = render_svg(&cpu(vec![series]));
    let doc = check_svg(&svg, 640, 240);
    assert_eq!(lines(&doc).len(), 2);
}

#[test]
fn text_is_escaped() {
    let mut spec = cpu(vec![Series { name: "a<b>&\"c'\u{1}".into(), points: vec![(T0, 1.0), (T0 + MIN, 2.0)] }]);
    spec.title = "<script>alert(1)</script>".into();
    spec.unit = "&".into();
    spec.markers = vec![Marker { at_ms: T0 + MIN, label: "</text>".into() }];
    let svg = render_svg(&spec);
    let doc = check_svg(&svg, 640, 240);
    assert!(!svg.contains("<script>"));
    assert!(texts(&doc).iter().any(|t| t == "a<b>&\"c'"));
    assert_eq!(
        doc.descendants().find(|n| n.has_tag_name("title")).and_then(|n| n.text()),
        Some("<script>alert(1)</script>")
    );
}

#[test]
fn auto_range_covers_data_and_threshold() {
    let series =
        vec![Series { name: "app".into(), points: vec![(T0, 120.0), (T0 + MIN, 180.0), (T0 + 2 * MIN, 150.0)] }];
    let mut spec = ChartSpec { unit: "req/s".into(), y_min: None, y_max: None, ..cpu(series) };
    spec.threshold = Some((300.0, "target 300 req/s".into()));
    let svg = render_svg(&spec);
    let doc = check_svg(&svg, 640, 240);
    let texts = texts(&doc);
    assert!(texts.iter().any(|t| t == "0 req/s"), "{texts:?}");
    assert!(texts.iter().any(|t| t == "target 300 req/s"), "{texts:?}");
}

#[test]
fn odd_inputs_never_break_the_document() {
    // A small deterministic generator: no extra dependency, same cases every run.
    let mut seed: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let specials = [0.0, -0.0, 1e-300, -1e300, 1e300, f64::MAX, f64::MIN, f64::NAN, f64::INFINITY, 42.0, -7.5];
    let times = [i64::MIN, -1, 0, 1, T0, T0 + 1, T0 + 5 * MIN, i64::MAX];
    for case in 0..200 {
        let pick_t = |r: u64| times[(r % times.len() as u64) as usize];
        let pick_v = |r: u64| specials[(r % specials.len() as u64) as usize];
        let from_ms = pick_t(next());
        let to_ms = pick_t(next());
        let series = (0..next() % 4)
            .map(|i| Series {
                name: format!("s{i}"),
                points: (0..next() % 50)
                    .map(|_| {
                        let t = if next() % 2 == 0 { pick_t(next()) } else { T0 + (next() % 300_000) as i64 };
                        let v = if next() % 2 == 0 { pick_v(next()) } else { (next() % 1_000) as f64 / 7.0 };
                        (t, v)
                    })
                    .collect(),
            })
            .collect();
        let opt = |r: u64| match r % 3 {
            0 => None,
            _ => Some(pick_v(r / 3)),
        };
        let (y_min, y_max) = (opt(next()), opt(next()));
        let spec = ChartSpec {
            title: format!("case {case}"),
            unit: ["", "%", "replicas", "ms"][(next() % 4) as usize].into(),
            from_ms,
            to_ms,
            width: (next() % 1_500) as u32,
            height: (next() % 700) as u32,
            series,
            y_min,
            y_max,
            step: next() % 2 == 0,
            markers: (0..next() % 4).map(|i| Marker { at_ms: pick_t(next()), label: format!("m{i}") }).collect(),
            threshold: if next() % 2 == 0 { Some((pick_v(next()), "t".into())) } else { None },
            time: if next() % 2 == 0 { TimeLabels::Elapsed } else { TimeLabels::Clock },
        };
        let svg = render_svg(&spec);
        let width = spec.width.clamp(crane_charts::MIN_WIDTH, crane_charts::MAX_SIZE);
        let height = spec.height.clamp(crane_charts::MIN_HEIGHT, crane_charts::MAX_SIZE);
        check_svg(&svg, width, height);
        assert!(!svg.contains("NaN") && !svg.contains("inf"), "case {case}: {spec:?}");
    }
}

/// Two runs of an experiment on the time since each one's start: one chart per metric, stacked.
fn overlay() -> Vec<ChartSpec> {
    let run = |name: &str, every: i64, value: f64| Series {
        name: name.into(),
        points: (0..=45).map(|i| (i * every, value + (i % 7) as f64)).collect(),
    };
    ["Replicas (desired)", "CPU (mean of the instances)"]
        .iter()
        .map(|title| ChartSpec {
            title: (*title).into(),
            unit: "%".into(),
            from_ms: 0,
            to_ms: 90_000,
            width: 640,
            height: 220,
            series: vec![
                run("stab-10s: stabilization 10s", 2_000, 10.0),
                run("stab-60s: stabilization 1m", 1_000, 40.0),
            ],
            y_min: Some(0.0),
            time: TimeLabels::Elapsed,
            threshold: Some((50.0, "target 50%".into())),
            ..ChartSpec::default()
        })
        .collect()
}

#[test]
fn a_panel_stacks_charts_with_elapsed_time_and_names_every_run() {
    let specs = overlay();
    let svg = render_panel_svg(&specs);
    let doc = check_svg(&svg, 640, 440);
    let all = texts(&doc);
    for expected in [
        "Replicas (desired)",
        "CPU (mean of the instances)",
        "stab-10s: stabilization 10s",
        "stab-60s: stabilization 1m",
        "0:00",
        "0:30",
        "1:30",
    ] {
        assert!(all.iter().any(|t| t == expected), "{expected:?} missing from {all:?}");
    }
    // Two series per chart, two charts.
    assert_eq!(lines(&doc).len(), 4, "{svg}");
    // Each chart's labels are drawn in its own band (the threshold label of the second one below 220 px).
    let ys: Vec<f64> = doc
        .descendants()
        .filter(|n| n.has_tag_name("text") && n.text().is_some_and(|t| t.trim() == "target 50%"))
        .filter_map(|n| n.attribute("y")?.parse().ok())
        .collect();
    assert!(ys.len() == 2 && ys[0] < 220.0 && (220.0..440.0).contains(&ys[1]), "threshold labels at {ys:?}");
    assert!(!all.iter().any(|t| t.contains(':') && t.len() == 8), "clock labels on an elapsed axis: {all:?}");
    // Too many or too large charts are bounded; none is an empty white panel.
    let many: Vec<ChartSpec> = (0..20).map(|_| ChartSpec { height: 5_000, ..overlay().remove(0) }).collect();
    check_svg(&render_panel_svg(&many), 640, 5_000 + 3_192);
    check_svg(&render_panel_svg(&[]), crane_charts::MIN_WIDTH, crane_charts::MIN_HEIGHT);
}

/// Decodes a PNG: its size and its RGB pixels.
fn decode_png(bytes: &[u8]) -> (u32, u32, Vec<u8>) {
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "not a PNG signature");
    let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    let mut reader = decoder.read_info().expect("PNG header");
    let mut buf = vec![0; reader.output_buffer_size().expect("size")];
    let info = reader.next_frame(&mut buf).expect("PNG data");
    assert_eq!(info.color_type, png::ColorType::Rgb);
    buf.truncate(info.buffer_size());
    (info.width, info.height, buf)
}

#[test]
fn a_png_panel_has_the_lines_and_the_text() {
    let specs = overlay();
    let png = render_png(&specs).expect("png");
    let (w, h, pixels) = decode_png(&png);
    assert_eq!((w, h), (640, 440));
    let px = |x: u32, y: u32| {
        let i = ((y * w + x) * 3) as usize;
        (pixels[i], pixels[i + 1], pixels[i + 2])
    };
    let count = |f: &dyn Fn((u8, u8, u8)) -> bool, ys: std::ops::Range<u32>| {
        ys.flat_map(|y| (0..w).map(move |x| (x, y))).filter(|&(x, y)| f(px(x, y))).count()
    };
    // The first two palette colours (blue, emerald): one per run, in both charts.
    let blue = |c: (u8, u8, u8)| c == (37, 99, 235);
    let emerald = |c: (u8, u8, u8)| c == (16, 185, 129);
    for half in [0..220, 220..440] {
        assert!(count(&blue, half.clone()) > 100, "no line of the first run in rows {half:?}");
        assert!(count(&emerald, half.clone()) > 100, "no line of the second run in rows {half:?}");
    }
    // Text is drawn with the embedded font: the title row has dark (title-coloured) pixels.
    let dark = |c: (u8, u8, u8)| c.0 < 90 && c.1 < 90 && c.2 < 110;
    assert!(count(&dark, 8..30) > 50, "no title text in the PNG");
    // An empty list is still a valid (white) image.
    let (w, h, _) = decode_png(&render_png(&[]).expect("png"));
    assert_eq!((w, h), (crane_charts::MIN_WIDTH, crane_charts::MIN_HEIGHT));
}
