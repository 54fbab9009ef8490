//! End-to-end: the autoscaler scales the demo app under load (cpu, then rps) and back down after the stabilization
//! window, and every decision is written to the event log with its formula; an app with `min: 0` goes to zero when
//! idle and wakes on its first requests without failing one.

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
    // Series are stored by the collector's full rounds (one per interval); a scale-up decided by a quick round can
    // come before the first of them, so the line may take an interval to appear.
    let line = format!("{app}-1");
    wait_for(Duration::from_secs(15), &format!("the {metric} chart's line for {line}"), || async {
        engine.handle.chart(&app, metric, "5m").await.ok().filter(|svg| svg.contains(&line)).map(|_| ())
    })
    .await;

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

/// Scale to zero and back on the real engine: an app with `min: 0` goes to zero replicas after `idleAfter` without
/// a request; its load balancer keeps listening; 50 requests sent at once while it is at zero are held, the app
/// wakes, and every one of them is answered 200 — none fails. The decisions are events (scaled to zero, wake,
/// woke with the cold start time) and the view says where scale to zero stands.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_at_zero_answers_its_first_requests_after_a_cold_start() {
    ensure_demo_image().await;
    let engine = TestEngine::start().await;
    let app = unique_name("t-as-zero");
    let yaml = format!(
        "name: {app}\nimage: {DEMO_IMAGE}\nreplicas: 1\ncommand: [\"/demo\", \"--port\", \"8080\"]\nports:\n  - container: 8080\n\
         health:\n  readiness: {{ type: http, path: /ready, period: 250ms, failureThreshold: 1 }}\n\
         autoscaling: {{ min: 0, max: 3, metric: rps, target: 50, idleAfter: 2s }}\n"
    );
    engine.handle.apply(&yaml, false).await.expect("apply");
    let view = app_until(&engine, &app, Duration::from_secs(60), "1 ready", |v| v.ready == 1).await;
    let url = view.url.clone().expect("a load balancer address");
    let policy = view.autoscaling.as_ref().expect("autoscaling in the view");
    assert_eq!(policy.idle_after_ms, Some(2000.0));

    // Idle for 2 s: to zero, with the load balancer still listening.
    let zero = app_until(&engine, &app, Duration::from_secs(30), "scaled to zero after idleAfter", |v| {
        v.replicas == 0
            && v.instances.is_empty()
            && v.autoscaling.as_ref().and_then(|a| a.scale_to_zero.as_ref()).map(|z| z.phase)
                == Some(crane_api::ZeroPhase::Zero)
    })
    .await;
    assert_eq!(zero.url.as_deref(), Some(url.as_str()), "the address stays");
    let owner = engine.handle.owner().to_string();
    wait_for(Duration::from_secs(30), "no container left", || async {
        containers_of(&owner, &app).await.iter().all(|c| !is_running(c)).then_some(())
    })
    .await;
    let events = engine.handle.events(Some(&app), 200).await.unwrap();
    let zeroed = events.iter().find(|e| e.kind == "autoscale.zero").expect("an autoscale.zero event");
    assert!(zeroed.reason.contains("→0") && zeroed.reason.contains("wakes"), "{}", zeroed.reason);

    // 50 requests at once, at zero: held, then answered.
    let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
    let started = std::time::Instant::now();
    let requests = (0..50).map(|_| {
        let (client, url) = (client.clone(), url.clone());
        tokio::spawn(async move {
            let response = client.get(&url).send().await;
            (response.map(|r| r.status().as_u16()).map_err(|e| e.to_string()), started.elapsed())
        })
    });
    let answers: Vec<_> = futures_util::future::join_all(requests).await.into_iter().map(Result::unwrap).collect();
    let failed: Vec<_> = answers.iter().filter(|(status, _)| *status != Ok(200)).collect();
    let first = answers.iter().map(|(_, t)| *t).min().unwrap();
    println!("cold start: first of 50 answered after {first:?}; {} failed", failed.len());
    assert!(
        failed.is_empty(),
        "{} of 50 failed during the wake-up: {:?}",
        failed.len(),
        &failed[..failed.len().min(5)]
    );

    let woke = wait_for(Duration::from_secs(10), "an autoscale.woke event", || async {
        let events = engine.handle.events(Some(&app), 200).await.ok()?;
        events.into_iter().find(|e| e.kind == "autoscale.woke")
    })
    .await;
    let details: serde_json::Value = serde_json::from_str(&woke.details).unwrap();
    let cold_start_ms = details["cold_start_ms"].as_u64().expect("cold_start_ms");
    assert!(details["released"].as_u64().unwrap_or(0) >= 1, "{details}");
    println!("{}", woke.reason);
    let events = engine.handle.events(Some(&app), 200).await.unwrap();
    let wake = events.iter().find(|e| e.kind == "autoscale.wake").expect("an autoscale.wake event");
    assert!(wake.reason.contains("scale 0→1"), "{}", wake.reason);
    let view = engine.handle.get_app(&app).await.unwrap();
    let zero = view.autoscaling.unwrap().scale_to_zero.expect("scale to zero in the view");
    assert_eq!(zero.last_cold_start_ms, Some(cold_start_ms as f64));
    assert!(view.replicas >= 1, "awake");
    engine.handle.delete(&app).await.expect("delete");
}
