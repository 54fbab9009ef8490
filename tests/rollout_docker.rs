//! End-to-end: self-healing and rolling updates under steady load through the built-in load balancer, automatic
//! rollback of a revision that never becomes ready, revision history and undo.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crane_e2e::*;

const GENEROUS: Duration = Duration::from_secs(90);

fn spec(name: &str, replicas: u32, greeting: &str, extra_args: &str, readiness_path: &str, deadline: &str) -> String {
    format!(
        "name: {name}\nimage: {DEMO_IMAGE}\nreplicas: {replicas}\ncommand: [\"/demo\", \"--port\", \"8080\"{extra_args}]\nenv: {{ GREETING: {greeting} }}\nports:\n  - container: 8080\nhealth:\n  readiness: {{ type: http, path: {readiness_path}, period: 300ms, failureThreshold: 1 }}\nupdate: {{ maxSurge: 1, maxUnavailable: 0, failureAction: rollback, deadline: {deadline} }}\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_update_under_load_fails_no_request() {
    ensure_demo_image().await;
    let engine = TestEngine::start().await;
    let app = unique_name("t-roll");
    engine.handle.apply(&spec(&app, 3, "one", "", "/ready", "30s"), false).await.expect("apply");
    let view = app_until(&engine, &app, GENEROUS, "3 ready", |v| v.ready == 3).await;

    let stop = Arc::new(AtomicBool::new(false));
    let load =
        tokio::spawn(steady_load(view.url.clone().unwrap(), 200, 4, 20_000, Duration::from_secs(60), stop.clone()));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let result = engine.handle.apply(&spec(&app, 3, "two", "", "/ready", "30s"), false).await.expect("update");
    assert_eq!(result.action, crane_api::ApplyAction::Updated);
    let view = app_until(&engine, &app, GENEROUS, "the rollout to complete", |v| {
        v.rollout.as_ref().map(|r| r.state == crane_api::RolloutState::Complete).unwrap_or(false)
            && v.instances.len() == 3
            && v.instances.iter().all(|i| i.revision == 2)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    let report = load.await.unwrap();
    println!("rolling update under load: {} ok, {} failed {:?}", report.ok, report.failed, report.samples);
    assert!(report.ok > 200, "too little traffic to mean anything: {report:?}");
    assert_eq!(report.failed, 0, "requests failed during the rolling update: {:?}", report.samples);
    assert_eq!(view.revision, 2);
    let events = engine.handle.events(Some(&app), 200).await.unwrap();
    assert_eq!(
        events.iter().filter(|e| e.kind == "instance.updated").count(),
        3,
        "each old instance drained and replaced"
    );
    assert!(events.iter().any(|e| e.kind == "rollout.complete"));
    engine.handle.delete(&app).await.expect("delete");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revision_that_never_becomes_ready_is_rolled_back_automatically() {
    ensure_demo_image().await;
    let engine = TestEngine::start().await;
    let app = unique_name("t-rback");
    engine.handle.apply(&spec(&app, 2, "good", "", "/ready", "4s"), false).await.expect("apply");
    let view = app_until(&engine, &app, GENEROUS, "2 ready", |v| v.ready == 2).await;
    let url = view.url.clone().unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let load = tokio::spawn(steady_load(url, 100, 2, 10_000, Duration::from_secs(60), stop.clone()));
    // Revision 2 answers 503 on /ready forever: its instances never become ready.
    engine.handle.apply(&spec(&app, 2, "bad", "", "/never-ready", "4s"), false).await.expect("update");
    let view = app_until(&engine, &app, GENEROUS, "the automatic rollback", |v| {
        v.revision == 1 && v.instances.iter().all(|i| i.revision == 1) && v.ready == 2
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    let report = load.await.unwrap();
    println!("rollback under load: {} ok, {} failed {:?}", report.ok, report.failed, report.samples);
    assert_eq!(report.failed, 0, "the old revision kept serving: {:?}", report.samples);
    assert_eq!(view.rollout.as_ref().map(|r| r.to), Some(1), "the rollback is a rollout back to revision 1");
    let rollout = view.rollout.as_ref().unwrap();
    assert_eq!(
        rollout.state,
        crane_api::RolloutState::RolledBack,
        "the window keeps saying the update was rolled back: {rollout:?}"
    );
    assert!(rollout.message.contains("not ready"), "and why: {rollout:?}");

    let events = engine.handle.events(Some(&app), 200).await.unwrap();
    let failed = events.iter().find(|e| e.kind == "rollout.failed").expect("a rollout.failed event");
    assert!(failed.reason.contains("not ready"), "{}", failed.reason);
    let back = events.iter().find(|e| e.kind == "rollout.rolled_back").expect("a rollout.rolled_back event");
    assert!(back.reason.contains("revision 1"), "{}", back.reason);

    // History keeps both revisions; undo goes to revision 2 on request (and would roll back again).
    let history = engine.handle.rollout_history(&app).await.unwrap();
    assert_eq!(history.iter().map(|r| (r.revision, r.current)).collect::<Vec<_>>(), [(1, true), (2, false)]);
    engine.handle.delete(&app).await.expect("delete");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollout_undo_returns_to_an_earlier_revision() {
    ensure_demo_image().await;
    let engine = TestEngine::start().await;
    let app = unique_name("t-undo");
    engine.handle.apply(&spec(&app, 1, "one", "", "/ready", "30s"), false).await.expect("apply");
    app_until(&engine, &app, GENEROUS, "1 ready", |v| v.ready == 1).await;
    engine.handle.apply(&spec(&app, 1, "two", "", "/ready", "30s"), false).await.expect("update");
    app_until(&engine, &app, GENEROUS, "revision 2 ready", |v| {
        v.ready == 1 && v.instances.iter().all(|i| i.revision == 2)
    })
    .await;
    let view = engine.handle.rollout_undo(&app, None).await.expect("undo");
    assert_eq!(view.revision, 1);
    app_until(&engine, &app, GENEROUS, "revision 1 back", |v| {
        v.ready == 1 && v.instances.iter().all(|i| i.revision == 1)
    })
    .await;
    assert!(view.spec_yaml.contains("one"), "{}", view.spec_yaml);
    let err = engine.handle.rollout_undo(&app, Some(7)).await.expect_err("no revision 7");
    assert!(err.to_string().contains("no revision 7"), "{err}");
    // A new change after an undo gets a fresh number.
    let result = engine.handle.apply(&spec(&app, 1, "three", "", "/ready", "30s"), false).await.expect("update");
    assert_eq!(result.app.revision, 3);
    engine.handle.delete(&app).await.expect("delete");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_replicas_under_load_fails_almost_no_request() {
    ensure_demo_image().await;
    let engine = TestEngine::start().await;
    let app = unique_name("t-heal");
    engine.handle.apply(&spec(&app, 3, "x", "", "/ready", "30s"), false).await.expect("apply");
    let view = app_until(&engine, &app, GENEROUS, "3 ready", |v| v.ready == 3).await;

    let stop = Arc::new(AtomicBool::new(false));
    let load =
        tokio::spawn(steady_load(view.url.clone().unwrap(), 200, 4, 20_000, Duration::from_secs(60), stop.clone()));
    for k in 0..6 {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let victim = format!("{app}-{}", (k % 3) + 1);
        let _ = kill(&victim).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::Relaxed);
    let report = load.await.unwrap();
    let total = report.ok + report.failed;
    println!(
        "self-healing under load: {total} requests, {} failed ({:.3}%) {:?}",
        report.failed,
        report.failed as f64 * 100.0 / total as f64,
        report.samples
    );
    assert!(total > 1000, "too little traffic: {report:?}");
    assert!(report.failed * 1000 <= total, "more than 0.1% failed: {} of {total}: {:?}", report.failed, report.samples);
    app_until(&engine, &app, GENEROUS, "3 ready again", |v| v.ready == 3).await;
    engine.handle.delete(&app).await.expect("delete");
}
