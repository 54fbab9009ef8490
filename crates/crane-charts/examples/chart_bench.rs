//! Renders a 24 h chart at 5 s resolution for 4 series (4 × 17 280 points) 20 times and prints
//! the median time; the product's target is ≤ 50 ms. Run it in release:
//! `cargo run --release -p crane-charts --example chart_bench`.

use std::time::Instant;

use crane_charts::{render_svg, ChartSpec, Marker, Series};

fn main() {
    let to: i64 = 1_704_153_600_000;
    let from = to - 24 * 3_600_000;
    let series: Vec<Series> = (0..4)
        .map(|i| Series {
            name: format!("web-{}", i + 1),
            points: (0..17_280)
                .map(|k| {
                    let t = from + k * 5_000;
                    let wave = ((k as f64) / 720.0 + f64::from(i)).sin();
                    let noise = ((k * 7_919 + i64::from(i) * 104_729) % 1_000) as f64 / 100.0;
                    (t, (40.0 + 30.0 * wave + noise).clamp(0.0, 100.0))
                })
                .collect(),
        })
        .collect();
    let spec = ChartSpec {
        title: "CPU per instance".into(),
        unit: "%".into(),
        from_ms: from,
        to_ms: to,
        width: 640,
        height: 240,
        series,
        y_min: Some(0.0),
        y_max: Some(100.0),
        step: false,
        markers: vec![Marker { at_ms: from + 6 * 3_600_000, label: "scale 2 → 3".into() }],
        threshold: Some((70.0, "target 70%".into())),
        ..ChartSpec::default()
    };

    let mut times = Vec::with_capacity(20);
    let mut size = 0;
    for _ in 0..20 {
        let start = Instant::now();
        let svg = render_svg(&spec);
        times.push(start.elapsed().as_secs_f64() * 1_000.0);
        size = svg.len();
    }
    times.sort_by(f64::total_cmp);
    let median = (times[9] + times[10]) / 2.0;
    println!(
        "24 h at 5 s, 4 series ({} points): median {median:.2} ms over 20 runs (min {:.2}, max {:.2}); SVG {} KiB",
        4 * 17_280,
        times[0],
        times[19],
        size / 1024
    );
}
