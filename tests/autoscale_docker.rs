//! End-to-end: the autoscaler scales the demo app under load (cpu, then rps) and back down after the stabilization
//! window, and every decision is written to the event log with its formula.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crane_e2e::*;

fn spec(name: &str, autoscaling: &str) -> String {
    format!(
        "name: {name}\nimage: {DEMO_IMAGE}\nreplicas: 1\ncommand: [\"/demo\", \"--port\", \"8080\"]\nports:\n  - container: 8080\nresources: {{ cpu: 0.2, memory: 32Mi }}\nautoscaling: {autoscaling}\n"
    )
}

async fn scale_up_then_down(metric: &str, autoscaling: &str, path: &str, rate: u32) {
    ensure_demo_image().await;
    let engine = TestEngine::start().await;
    let app = unique_name(&format!("t-as-{metric}"));
    let result = engine.handle.apply(&spec(&app, autoscaling), false).await.expect("apply");
    assert!(result.warnings.iter().all(|w| !w.contains("autoscaling")), "autoscaling is active: {:?}", result.warnings);
    let view = app_until(&engine, &app, Duration::from_secs(60), "1 ready", |v| v.ready == 1).await;

    let stop = Arc::new(AtomicBool::new(false));
    let url = format!("{}{path}", view.url.clone().unwrap());
    let load = tokio::spawn(steady_load(url, rate, 4, 50_000, Duration::from_secs(90), stop.clone()));
    let up = app_until(&engine, &app, Duration::from_secs(75), "a scale-up under load", |v| v.replicas >= 2).await;
    println!("{metric}: scaled to {} under load", up.replicas);
    stop.store(true, Ordering::Relaxed);
    let report = load.await.unwrap();
    println!("{metric}: load sent {} ok / {} failed", report.ok, report.failed);

    let events = engine.handle.events(Some(&app), 500).await.unwrap();
    let scaled = events.iter().rev().find(|e| e.kind == "autoscale.scaled").expect("an autoscale.scaled event");
    assert!(scaled.reason.contains(metric) && scaled.reason.contains("ceil("), "{}", scaled.reason);
    assert!(scaled.reason.contains("scale 1→"), "{}", scaled.reason);
    // The outcome is also fields: in the event's details, in the app view, and as the chart's marker.
    let details: serde_json::Value = serde_json::from_str(&scaled.details).unwrap();
    let decision: crane_core::autoscale::DecisionRecord =
        serde_json::from_value(details["decision"].clone()).expect("details.decision");
    assert_eq!((decision.from, decision.metric.as_str()), (1, metric), "{decision:?}");
    assert!(decision.to >= 2 && decision.value.is_some(), "{decision:?}");
    let view = engine.handle.get_app(&app).await.unwrap();
    let policy = view.autoscaling.expect("the view carries the policy");
    assert_eq!((policy.min, policy.max, policy.scale_down_stabilization_ms), (1, 4, 5000.0));
    assert!(policy.last_decision.is_some(), "the view carries the last decision");
    let replicas = engine.handle.chart(&app, "replicas", "5m").await.unwrap();
    let marker = format!("{}→{}", decision.from, decision.to);
    assert!(replicas.contains(&marker), "no {marker} marker in the replicas chart");
    let per_instance = engine.handle.chart(&app, metric, "5m").await.unwrap();
    assert!(per_instance.contains(&format!("{app}-1")), "the {metric} chart has no line for {app}-1");

    // After the load stops, replicas return to min once the (short) stabilization window has passed.
    app_until(&engine, &app, Duration::from_secs(90), "the scale-down to 1 after the window", |v| v.replicas == 1)
        .await;
    let events = engine.handle.events(Some(&app), 500).await.unwrap();
    let down =
        events.iter().find(|e| e.kind == "autoscale.scaled" && e.reason.contains("→1")).expect("a scale-down event");
    println!("{metric}: {}", down.reason);
    engine.handle.delete(&app).await.expect("delete");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cpu_autoscaling_scales_up_under_load_and_back_down_after_the_window() {
    scale_up_then_down(
        "cpu",
        "{ min: 1, max: 4, metric: cpu, target: 50, scaleDownStabilization: 5s }",
        "/work?ms=20",
        40,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rps_autoscaling_scales_up_under_load_and_back_down_after_the_window() {
    scale_up_then_down("rps", "{ min: 1, max: 4, metric: rps, target: 10, scaleDownStabilization: 5s }", "/", 60).await;
}
