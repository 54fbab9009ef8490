//! Writes a few sample charts as SVG files into a folder, and an experiment-style overlay of two runs as SVG and PNG,
//! for eyeballing the design: `cargo run -p crane-charts --example chart_demo -- /tmp/charts`.

use crane_charts::{render_panel_svg, render_png, render_svg, ChartSpec, Marker, Series, TimeLabels};

fn main() -> std::io::Result<()> {
    let dir = std::env::args().nth(1).unwrap_or_else(|| "charts".to_string());
    std::fs::create_dir_all(&dir)?;
    let to: i64 = 1_704_153_600_000;
    let wave = |name: &str, from: i64, every: i64, phase: f64, scale: f64| Series {
        name: name.to_string(),
        points: (0..)
            .map(|k| (from + k * every, k))
            .take_while(|&(t, _)| t <= to)
            .map(|(t, k)| {
                let noise = ((k * 7_919) % 100) as f64 / 100.0;
                (t, scale * (0.5 + 0.3 * ((t - from) as f64 / (to - from) as f64 * 12.0 + phase).sin() + 0.1 * noise))
            })
            .collect(),
    };
    let five_min = to - 5 * 60_000;
    let mut gappy = wave("web-2", five_min, 5_000, 2.0, 100.0);
    gappy.points.retain(|&(t, _)| !(five_min + 100_000..five_min + 160_000).contains(&t));
    let charts = [
        (
            "cpu",
            ChartSpec {
                title: "CPU per instance".into(),
                unit: "%".into(),
                from_ms: five_min,
                to_ms: to,
                series: vec![
                    wave("web-1", five_min, 5_000, 0.0, 100.0),
                    gappy,
                    wave("web-3", five_min, 5_000, 4.0, 80.0),
                ],
                y_min: Some(0.0),
                y_max: Some(100.0),
                markers: vec![Marker { at_ms: five_min + 170_000, label: "scale 2 → 3".into() }],
                threshold: Some((70.0, "target 70%".into())),
                ..ChartSpec::default()
            },
        ),
        (
            "rps",
            ChartSpec {
                title: "Requests/s".into(),
                unit: "req/s".into(),
                from_ms: to - 3_600_000,
                to_ms: to,
                series: vec![wave("app", to - 3_600_000, 5_000, 0.0, 240.0)],
                ..ChartSpec::default()
            },
        ),
        (
            "replicas",
            ChartSpec {
                title: "Replicas".into(),
                unit: "replicas".into(),
                from_ms: to - 3_600_000,
                to_ms: to,
                step: true,
                series: vec![Series {
                    name: "web".into(),
                    points: (0..=60)
                        .map(|m| (to - 3_600_000 + m * 60_000, [2.0, 3.0, 5.0, 4.0, 2.0][(m / 13) as usize]))
                        .collect(),
                }],
                markers: vec![
                    Marker { at_ms: to - 3_600_000 + 13 * 60_000, label: "↑ 3".into() },
                    Marker { at_ms: to - 3_600_000 + 26 * 60_000, label: "↑ 5".into() },
                    Marker { at_ms: to - 3_600_000 + 39 * 60_000, label: "↓ 4".into() },
                ],
                ..ChartSpec::default()
            },
        ),
        (
            "latency_day",
            ChartSpec {
                title: "Latency p95".into(),
                unit: "ms".into(),
                from_ms: to - 86_400_000,
                to_ms: to,
                series: (0..4).map(|i| wave(&format!("web-{i}"), to - 86_400_000, 5_000, f64::from(i), 12.0)).collect(),
                ..ChartSpec::default()
            },
        ),
        (
            "empty",
            ChartSpec {
                title: "Error rate".into(),
                unit: "%".into(),
                y_min: Some(0.0),
                y_max: Some(100.0),
                ..ChartSpec::default()
            },
        ),
    ];
    for (name, spec) in charts {
        std::fs::write(format!("{dir}/{name}.svg"), render_svg(&spec))?;
    }
    // Two runs on the time since each one's start: replicas step up under load and come down after a 10 s or a
    // 60 s stabilization window.
    let run = |name: &str, down_after: i64| Series {
        name: name.to_string(),
        points: (0..=60)
            .map(|i| {
                let t = i * 2_000;
                let replicas = if t < 6_000 {
                    1.0
                } else if t < 40_000 + down_after {
                    4.0
                } else {
                    1.0
                };
                (t, replicas)
            })
            .collect(),
    };
    let overlay: Vec<ChartSpec> = ["Replicas (desired)", "CPU (mean of the instances)"]
        .iter()
        .enumerate()
        .map(|(i, title)| ChartSpec {
            title: (*title).to_string(),
            unit: if i == 0 { "replicas" } else { "%" }.to_string(),
            from_ms: 0,
            to_ms: 120_000,
            width: 720,
            height: 230,
            series: vec![run("stab-10s: stabilization 10s", 10_000), run("stab-60s: stabilization 1m", 60_000)],
            y_min: Some(0.0),
            step: i == 0,
            threshold: (i == 1).then(|| (50.0, "target 50%".to_string())),
            time: TimeLabels::Elapsed,
            ..ChartSpec::default()
        })
        .collect();
    std::fs::write(format!("{dir}/overlay.svg"), render_panel_svg(&overlay))?;
    std::fs::write(format!("{dir}/overlay.png"), render_png(&overlay).map_err(std::io::Error::other)?)?;
    Ok(())
}
