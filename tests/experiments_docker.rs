//! End-to-end: two short experiment runs of the demo app under the built-in load generator, recorded with two
//! different scale-down stabilization windows, then compared and exported — the CSV has a row per point of each
//! run under the documented header, the SVG names both runs (and what differs) in every chart, the PNG is a PNG of
//! the panel's size — and the runs outlive the app.

use std::time::Duration;

use crane_api::{ExperimentEnd, ExperimentRecordRequest, ExperimentState, ExperimentView, ExportFormat, LoadRequest};
use crane_e2e::*;

fn spec(name: &str, stabilization: &str) -> String {
    format!(
        "name: {name}\nimage: {DEMO_IMAGE}\nreplicas: 1\ncommand: [\"/demo\", \"--port\", \"8080\"]\n\
         ports:\n  - container: 8080\nresources: {{ cpu: 0.2, memory: 32Mi }}\n\
         autoscaling: {{ min: 1, max: 3, metric: cpu, target: 50, scaleDownStabilization: {stabilization} }}\n"
    )
}

/// Records a run of 4 s of load (30 req/s of 20 ms CPU each) and 2 s after it; waits for its end.
async fn record(engine: &TestEngine, app: &str, name: &str) -> ExperimentView {
    let request = ExperimentRecordRequest {
        app: app.to_string(),
        name: Some(name.to_string()),
        load: Some(LoadRequest {
            rate: 30.0,
            duration_s: 4.0,
            ramp_to: None,
            concurrency: None,
            path: Some("/work?ms=20".into()),
        }),
        after_s: Some(2.0),
        duration_s: None,
    };
    let started = engine.handle.experiment_record(&request).await.expect("record");
    assert_eq!((started.state, started.planned_s), (ExperimentState::Recording, Some(6.0)));
    let run = wait_for(Duration::from_secs(60), &format!("run {name} to end"), || async {
        engine.handle.experiment_get(name).await.ok().filter(|r| r.state == ExperimentState::Done)
    })
    .await;
    println!(
        "{name}: {:.1} s, {} points, ended: {:?}; replicas {:?}",
        run.elapsed_s,
        run.point_count,
        run.end,
        run.points.iter().map(|p| p.replicas.unwrap_or(-1.0)).collect::<Vec<_>>()
    );
    assert_eq!(run.end, Some(ExperimentEnd::LoadFinished));
    assert!(run.elapsed_s >= 5.5 && run.elapsed_s < 30.0, "the load's 4 s and 2 s after it: {}", run.elapsed_s);
    // A round every 0.5 s over 6 s: far more than 4 points.
    assert!(run.point_count >= 4, "{run:?}");
    assert!(run.points.iter().any(|p| p.rps.is_some_and(|r| r > 0.0)), "the load shows in the points: {run:?}");
    assert!(run.points.iter().any(|p| p.cpu_percent.is_some()), "the instances' CPU is in the points");
    run
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_runs_under_real_load_are_compared_and_exported_and_outlive_their_app() {
    ensure_demo_image().await;
    let engine = TestEngine::start_with(|config| config.with_metrics_interval(Duration::from_millis(500))).await;
    let app = unique_name("t-exp");
    engine.handle.apply(&spec(&app, "2s"), false).await.expect("apply");
    app_until(&engine, &app, Duration::from_secs(60), "1 ready", |v| v.ready == 1).await;
    let a = record(&engine, &app, "stab-2s").await;
    assert_eq!(a.settings.autoscaling.as_ref().unwrap().scale_down_stabilization_ms, 2000.0);
    engine.handle.apply(&spec(&app, "5s"), false).await.expect("apply the second window");
    let b = record(&engine, &app, "stab-5s").await;

    let runs = vec!["stab-2s".to_string(), "stab-5s".to_string()];
    let comparison = engine.handle.experiment_compare(&runs).await.unwrap();
    assert!(comparison.runs[0].differing.contains(&"stabilization 2s".to_string()), "{comparison:?}");
    assert!(comparison.runs[1].differing.contains(&"stabilization 5s".to_string()), "{comparison:?}");
    assert!(comparison.common.contains(&"30 req/s".to_string()), "{comparison:?}");

    // CSV: the header, then one row per point of each run, in the order asked for.
    let (csv, _) = engine.handle.experiment_export(&runs, ExportFormat::Csv, None).await.unwrap();
    let csv = String::from_utf8(csv).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], crane_core::experiment::CSV_HEADER);
    assert_eq!(lines.len(), 1 + (a.point_count + b.point_count) as usize, "{csv}");
    let columns = lines[0].split(',').count();
    assert!(lines[1..].iter().all(|l| l.split(',').count() == columns), "every row has every column:\n{csv}");
    let (first, second): (Vec<&str>, Vec<&str>) = lines[1..].iter().partition(|l| l.starts_with("stab-2s,"));
    assert_eq!((first.len(), second.len()), (a.point_count as usize, b.point_count as usize));
    assert!(second.iter().all(|l| l.starts_with(&format!("stab-5s,{app},"))));
    // Some row of each run saw the load (the rps column, the 7th).
    for rows in [&first, &second] {
        assert!(rows.iter().any(|l| l.split(',').nth(6).and_then(|v| v.parse::<f64>().ok()).is_some_and(|v| v > 0.0)));
    }

    // SVG: both runs named, with what differs, in each of the four charts.
    let (svg, media) = engine.handle.experiment_export(&runs, ExportFormat::Svg, None).await.unwrap();
    let svg = String::from_utf8(svg).unwrap();
    assert_eq!(media, "image/svg+xml");
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    assert_eq!(svg.matches("stab-2s: ").count(), 4, "{svg}");
    assert_eq!(svg.matches("stab-5s: ").count(), 4);
    assert!(svg.contains("stabilization 2s") && svg.contains("stabilization 5s"));
    for title in ["Replicas (desired)", "Requests/s per ready replica", "Latency p95", "CPU (mean of the instances)"] {
        assert!(svg.contains(title), "{title} missing");
    }

    // PNG: a PNG of the panel's size (four charts of 720 × 230).
    let (png, media) = engine.handle.experiment_export(&runs, ExportFormat::Png, None).await.unwrap();
    assert_eq!(media, "image/png");
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    assert_eq!(&png[12..16], b"IHDR");
    let size =
        (u32::from_be_bytes(png[16..20].try_into().unwrap()), u32::from_be_bytes(png[20..24].try_into().unwrap()));
    assert_eq!(size, (720, 920));
    assert!(png.len() > 10_000, "a drawn image, not an empty one: {} bytes", png.len());

    // The event log has both ends of each run with their inputs.
    let events = engine.handle.events(Some(&app), 500).await.unwrap();
    let started: Vec<_> = events.iter().filter(|e| e.kind == "experiment.started").collect();
    assert_eq!(started.len(), 2);
    let details: serde_json::Value = serde_json::from_str(&started[0].details).unwrap();
    assert_eq!(details["load"]["rate"], 30.0);
    assert_eq!(events.iter().filter(|e| e.kind == "experiment.finished").count(), 2);

    // The runs outlive the app and its samples.
    engine.handle.delete(&app).await.expect("delete");
    let kept = engine.handle.experiment_get("stab-2s").await.unwrap();
    assert_eq!(kept.point_count, a.point_count);
    let (again, _) = engine.handle.experiment_export(&runs, ExportFormat::Csv, None).await.unwrap();
    assert_eq!(String::from_utf8(again).unwrap(), csv);
}
