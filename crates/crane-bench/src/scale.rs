//! `crane-bench scale` (`docs/bench/scale.json`):
//! (1) reaction: a load step at t0 → the added replica ready and serving (median of 5), next to HPA's default 15 s
//!     sync period; (2) chart: 24 h at 5 s resolution for 4 series → SVG; (3) collector overhead: engine CPU and RSS
//!     with 20 instances collected every second; (4) scale to zero: an app with `min: 0` at zero replicas → its first
//!     response (cold start through the load balancer's activator, median of 5), and the engine's memory for an app
//!     at zero (its load balancer only: engine RSS with the app at zero minus before the app existed).

use std::path::Path;
use std::time::{Duration, Instant};

use crane_charts::{ChartSpec, Series};
use crane_e2e::*;

use crate::{percentile, rss_kib, start_server_with, Server};

const TRIALS: usize = 5;

async fn view(server: &Server, app: &str) -> serde_json::Value {
    server.call(reqwest::Method::GET, &format!("/apps/{app}"), None).await
}

/// Process CPU time (user + system) in seconds, from /proc.
pub(crate) fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may contain spaces) start after the last ')'.
    let rest = stat.rsplit(')').next().unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 of stat, i.e. 11 and 12 after the state field.
    (ticks(11) + ticks(12)) / 100.0
}

pub(crate) async fn run() {
    // (1) Reaction to a load step.
    let mut server = start_server_with(&[("CRANE_METRICS_INTERVAL_MS", "1000")]).await;
    let app = unique_name("benchas");
    let yaml = format!(
        "name: {app}\nimage: {DEMO_IMAGE}\nreplicas: 1\ncommand: [\"/demo\", \"--port\", \"8080\"]\nports:\n  - container: 8080\nhealth:\n  readiness: {{ type: http, path: /ready, period: 250ms, failureThreshold: 1 }}\nautoscaling: {{ min: 1, max: 4, metric: rps, target: 20, scaleDownStabilization: 3s }}\n"
    );
    server.call(reqwest::Method::POST, "/apps", Some(serde_json::json!({"yaml": yaml, "create_only": true}))).await;
    wait_for(Duration::from_secs(60), "1 ready", || async { (view(&server, &app).await["ready"] == 1).then_some(()) })
        .await;
    let running = crate::running_of(&app).await;
    server.owner_cleanup = Some(Cleanup { owner: running[0].labels.as_ref().unwrap()["io.crane.owner"].clone() });
    let mut reactions = Vec::new();
    for _ in 0..TRIALS {
        wait_for(Duration::from_secs(60), "back to 1 replica", || async {
            let v = view(&server, &app).await;
            (v["replicas"] == 1 && v["ready"] == 1).then_some(())
        })
        .await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        let t0 = Instant::now();
        server
            .call(
                reqwest::Method::POST,
                &format!("/apps/{app}/load"),
                Some(serde_json::json!({"rate": 100.0, "duration_s": 20.0})),
            )
            .await;
        wait_for(Duration::from_secs(30), "a second ready replica", || async {
            (view(&server, &app).await["ready"].as_u64().unwrap_or(0) >= 2).then_some(())
        })
        .await;
        reactions.push(t0.elapsed().as_secs_f64());
        server.call(reqwest::Method::DELETE, &format!("/apps/{app}/load"), None).await;
    }
    server.call(reqwest::Method::DELETE, &format!("/apps/{app}"), None).await;
    drop(server);

    // (4) Scale to zero: cold start and memory at zero.
    let (cold_starts, zero_kib) = scale_to_zero().await;

    // (2) Chart rendering.
    let now = 1_800_000_000_000i64;
    let day = 24 * 3600 * 1000;
    let series: Vec<Series> = (0..4)
        .map(|k| Series {
            name: format!("web-{}", k + 1),
            points: (0..17_280)
                .map(|i| (now - day + i * 5000, 50.0 + 30.0 * ((i as f64 / 500.0 + k as f64).sin())))
                .collect(),
        })
        .collect();
    let spec = ChartSpec {
        title: "CPU per instance".into(),
        unit: "%".into(),
        from_ms: now - day,
        to_ms: now,
        series,
        ..ChartSpec::default()
    };
    let mut chart_ms = Vec::new();
    let mut svg_len = 0;
    for _ in 0..20 {
        let t = Instant::now();
        let svg = crane_charts::render_svg(&spec);
        chart_ms.push(t.elapsed().as_secs_f64() * 1e3);
        svg_len = svg.len();
    }
    chart_ms.sort_by(|a, b| a.partial_cmp(b).unwrap());

    // (3) Collector overhead with 20 instances at a 1 s interval.
    let mut server = start_server_with(&[("CRANE_METRICS_INTERVAL_MS", "1000")]).await;
    let pid = server.child.id();
    let app = unique_name("benchcol");
    server
        .call(
            reqwest::Method::POST,
            "/apps",
            Some(serde_json::json!({"yaml": demo_spec(&app, 20), "create_only": true})),
        )
        .await;
    wait_for(Duration::from_secs(120), "20 ready", || async {
        (view(&server, &app).await["ready"] == 20).then_some(())
    })
    .await;
    let running = crate::running_of(&app).await;
    server.owner_cleanup = Some(Cleanup { owner: running[0].labels.as_ref().unwrap()["io.crane.owner"].clone() });
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (c0, t0) = (cpu_seconds(pid), Instant::now());
    tokio::time::sleep(Duration::from_secs(20)).await;
    let cpu_percent = (cpu_seconds(pid) - c0) / t0.elapsed().as_secs_f64() * 100.0;
    let rss = rss_kib(pid) as f64 / 1024.0;
    server.call(reqwest::Method::DELETE, &format!("/apps/{app}"), None).await;
    drop(server);

    let mut sorted = reactions.clone();
    sorted.sort_by(|a, b| a.partial_cmp(b).unwrap());
    println!();
    println!("| Measure | Result | Target / reference |");
    println!("|---|---|---|");
    println!(
        "| load step → added replica ready and serving, median of {TRIALS} | {:.2} s (max {:.2} s) | ≤ 2 s; HPA's sync period alone is 15 s |",
        percentile(&sorted, 0.5),
        sorted.last().copied().unwrap_or(f64::NAN)
    );
    println!(
        "| 24 h at 5 s, 4 series → SVG, median of 20 | {:.2} ms ({} KiB) | ≤ 50 ms |",
        percentile(&chart_ms, 0.5),
        svg_len / 1024
    );
    println!("| engine with 20 instances collected every 1 s | {cpu_percent:.1} % CPU, {rss:.1} MB RSS | — |");
    let mut cold = cold_starts.clone();
    cold.sort_by(|a, b| a.partial_cmp(b).unwrap());
    println!(
        "| cold start: app at 0 replicas → first response, median of {TRIALS} | {:.0} ms (max {:.0} ms) | ≤ 1 s; Knative's activator, KEDA (HPA cannot scale to zero) |",
        percentile(&cold, 0.5) * 1e3,
        cold.last().copied().unwrap_or(f64::NAN) * 1e3
    );
    println!(
        "| memory of an app at zero (its load balancer only) | {:.0} KiB of engine RSS | no container runs |",
        zero_kib
    );
    let json = serde_json::json!({
        "reaction_s": {"median": percentile(&sorted, 0.5), "samples": reactions},
        "chart_24h_4_series_ms": {"median": percentile(&chart_ms, 0.5), "svg_bytes": svg_len},
        "collector_20_instances_1s": {"cpu_percent": cpu_percent, "rss_mb": rss},
        "cold_start_s": {"median": percentile(&cold, 0.5), "samples": cold_starts},
        "app_at_zero_rss_kib": zero_kib,
    });
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/bench/scale.json");
    std::fs::write(&out, serde_json::to_string_pretty(&json).unwrap()).unwrap();
    println!("\nwritten to {}", out.display());
}

/// An app with `min: 0` and `idleAfter: 1s`: five times, wait until it is at zero with no container running, then
/// time one GET through its load balancer (held, the app wakes, answered). Returns the seconds of each trial and the
/// engine's RSS growth for the app at zero (KiB).
async fn scale_to_zero() -> (Vec<f64>, f64) {
    let mut server = start_server_with(&[("CRANE_METRICS_INTERVAL_MS", "500")]).await;
    let pid = server.child.id();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let before = rss_kib(pid) as f64;
    let app = unique_name("benchzero");
    let yaml = format!(
        "name: {app}\nimage: {DEMO_IMAGE}\nreplicas: 1\ncommand: [\"/demo\", \"--port\", \"8080\"]\nports:\n  - container: 8080\nhealth:\n  readiness: {{ type: http, path: /ready, period: 100ms, failureThreshold: 1 }}\nautoscaling: {{ min: 0, max: 2, metric: rps, target: 50, idleAfter: 1s }}\n"
    );
    server.call(reqwest::Method::POST, "/apps", Some(serde_json::json!({"yaml": yaml, "create_only": true}))).await;
    wait_for(Duration::from_secs(60), "1 ready", || async { (view(&server, &app).await["ready"] == 1).then_some(()) })
        .await;
    let running = crate::running_of(&app).await;
    server.owner_cleanup = Some(Cleanup { owner: running[0].labels.as_ref().unwrap()["io.crane.owner"].clone() });
    let url = view(&server, &app).await["url"].as_str().expect("an address").to_string();
    let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
    let mut cold_starts = Vec::new();
    let mut at_zero_kib = f64::NAN;
    for trial in 0..TRIALS {
        wait_for(Duration::from_secs(60), "at zero", || async {
            let v = view(&server, &app).await;
            let zero = v["replicas"] == 0 && v["autoscaling"]["scale_to_zero"]["phase"] == "zero";
            (zero && crate::running_of(&app).await.is_empty()).then_some(())
        })
        .await;
        if trial == 0 {
            tokio::time::sleep(Duration::from_secs(2)).await;
            at_zero_kib = rss_kib(pid) as f64 - before;
        }
        let t0 = Instant::now();
        let status = client.get(&url).send().await.map(|r| r.status().as_u16());
        cold_starts.push(t0.elapsed().as_secs_f64());
        assert_eq!(status.ok(), Some(200), "the first request after zero must be answered");
    }
    server.call(reqwest::Method::DELETE, &format!("/apps/{app}"), None).await;
    drop(server);
    (cold_starts, at_zero_kib.max(0.0))
}
