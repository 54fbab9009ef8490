//! End-to-end: liveness, readiness and startup probes (http, tcp, exec) on real containers of the demo image.

use std::time::Duration;

use crane_api::InstanceState;
use crane_e2e::*;

const GENEROUS: Duration = Duration::from_secs(60);

fn spec_with_health(name: &str, replicas: u32, extra_args: &str, health: &str) -> String {
    format!(
        "name: {name}\nimage: {DEMO_IMAGE}\nreplicas: {replicas}\ncommand: [\"/demo\", \"--port\", \"8080\"{extra_args}]\nports:\n  - container: 8080\nhealth:\n{health}"
    )
}

/// Flips a switch of the demo app. Retried briefly: an instance without a readiness probe counts as ready as soon
/// as it runs, which can be a moment before it listens.
async fn post(address: &str, path: &str) {
    let client = reqwest::Client::new();
    let resp = wait_for(Duration::from_secs(10), "the switch request to be answered", || async {
        client.post(format!("http://{address}:8080{path}")).send().await.ok()
    })
    .await;
    assert!(resp.status().is_success(), "{path}: {}", resp.status());
}

/// Sends `n` requests on fresh connections through the load balancer and returns who answered.
async fn answers(url: &str, n: usize) -> Vec<String> {
    let client = reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap();
    let mut out = Vec::new();
    for _ in 0..n {
        let body = client.get(url).send().await.expect("request through the load balancer").text().await.unwrap();
        out.push(body.trim().trim_start_matches("hello from ").to_string());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_takes_an_instance_out_of_the_load_balancer_and_back() {
    ensure_demo_image().await;
    let engine = TestEngine::start().await;
    let app = unique_name("t-ready");
    let health = "  readiness: { type: http, path: /ready, period: 300ms, failureThreshold: 1 }\n";
    engine.handle.apply(&spec_with_health(&app, 2, "", health), false).await.expect("apply");
    let view = app_until(&engine, &app, GENEROUS, "2 ready instances", |v| v.ready == 2).await;
    let url = view.url.clone().unwrap();
    let first = view.instances[0].clone();
    let second = view.instances[1].name.clone();

    post(first.address.as_deref().unwrap(), "/admin/ready/off").await;
    let view = app_until(&engine, &app, GENEROUS, "the first instance unready", |v| {
        v.instances[0].state == InstanceState::Running
    })
    .await;
    assert!(view.instances[0].probe_failure.as_deref().unwrap_or("").contains("503"), "{:?}", view.instances[0]);
    let got = answers(&url, 12).await;
    assert!(got.iter().all(|who| who == &second), "an unready instance received traffic: {got:?}");
    let events = engine.handle.events(Some(&app), 50).await.unwrap();
    assert!(events.iter().any(|e| e.kind == "instance.unready" && e.instance.as_deref() == Some(first.name.as_str())));

    post(first.address.as_deref().unwrap(), "/admin/ready/on").await;
    app_until(&engine, &app, GENEROUS, "the first instance ready again", |v| v.ready == 2).await;
    let got = answers(&url, 12).await;
    assert!(got.contains(&first.name), "the instance did not come back into the load balancer: {got:?}");
    engine.handle.delete(&app).await.expect("delete");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_http_liveness_probe_restarts_the_instance() {
    ensure_demo_image().await;
    let engine = TestEngine::start().await;
    let app = unique_name("t-live");
    let health = "  liveness: { type: http, path: /health, period: 300ms, failureThreshold: 2 }\n";
    engine.handle.apply(&spec_with_health(&app, 1, "", health), false).await.expect("apply");
    let view =
        app_until(&engine, &app, GENEROUS, "1 ready", |v| v.ready == 1 && v.instances[0].address.is_some()).await;
    let old = view.instances[0].clone();
    post(old.address.as_deref().unwrap(), "/admin/health/fail").await;
    let view = app_until(&engine, &app, GENEROUS, "a restarted instance", |v| {
        v.instances.len() == 1 && v.instances[0].id != old.id && !v.instances[0].id.is_empty() && v.ready == 1
    })
    .await;
    assert_eq!(view.instances[0].restarts, 1);
    let events = engine.handle.events(Some(&app), 50).await.unwrap();
    let why = events.iter().find(|e| e.kind == "instance.unhealthy").expect("an instance.unhealthy event");
    assert!(why.reason.contains("liveness probe") && why.reason.contains("500"), "{}", why.reason);
    engine.handle.delete(&app).await.expect("delete");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_liveness_and_tcp_readiness_probes_work_on_real_containers() {
    ensure_demo_image().await;
    let engine = TestEngine::start().await;
    let app = unique_name("t-exec");
    let health = "  liveness: { type: exec, command: [\"/demo\", \"check\", \"8080\", \"/health\"], period: 300ms, failureThreshold: 2 }\n  readiness: { type: tcp, port: 8080, period: 300ms }\n";
    engine.handle.apply(&spec_with_health(&app, 1, "", health), false).await.expect("apply");
    let view = app_until(&engine, &app, GENEROUS, "ready through the tcp probe", |v| v.ready == 1).await;
    let old = view.instances[0].clone();
    assert_eq!(old.probe.as_deref(), Some("liveness ok · ready"));
    post(old.address.as_deref().unwrap(), "/admin/health/fail").await;
    app_until(&engine, &app, GENEROUS, "a restart by the exec probe", |v| v.instances[0].id != old.id && v.ready == 1)
        .await;
    let events = engine.handle.events(Some(&app), 50).await.unwrap();
    let why = events.iter().find(|e| e.kind == "instance.unhealthy").expect("an instance.unhealthy event");
    assert!(why.reason.contains("exited with code 1"), "{}", why.reason);

    // A tcp readiness probe on a port nothing listens on never lets the instance in.
    let app2 = unique_name("t-tcp");
    let health = "  readiness: { type: tcp, port: 9999, period: 300ms }\n";
    engine.handle.apply(&spec_with_health(&app2, 1, "", health), false).await.expect("apply");
    let view =
        app_until(&engine, &app2, GENEROUS, "a tcp probe failure", |v| v.instances[0].probe_failure.is_some()).await;
    assert_eq!(view.instances[0].state, InstanceState::Running);
    assert_eq!(view.ready, 0);
    assert!(view.instances[0].probe_failure.as_deref().unwrap().contains("9999"));
    let resp = reqwest::get(view.url.unwrap()).await.unwrap();
    assert_eq!(resp.status().as_u16(), 503, "no ready instance → 503");
    engine.handle.delete(&app).await.expect("delete");
    engine.handle.delete(&app2).await.expect("delete");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_startup_probe_holds_the_other_probes_until_it_passes() {
    ensure_demo_image().await;
    let engine = TestEngine::start().await;
    let app = unique_name("t-start");
    let health = "  startup: { type: http, path: /ready, period: 200ms, failureThreshold: 50 }\n  liveness: { type: http, path: /health, period: 200ms }\n";
    engine
        .handle
        .apply(&spec_with_health(&app, 1, ", \"--not-ready-for-ms\", \"2500\"", health), false)
        .await
        .expect("apply");
    app_until(&engine, &app, GENEROUS, "starting while the startup probe fails", |v| {
        v.instances[0].state == InstanceState::Starting && v.instances[0].probe_failure.is_some()
    })
    .await;
    let view = app_until(&engine, &app, GENEROUS, "ready after the startup probe passed", |v| v.ready == 1).await;
    assert_eq!(view.instances[0].probe.as_deref(), Some("startup passed · liveness ok"));
    let events = engine.handle.events(Some(&app), 50).await.unwrap();
    assert!(events.iter().any(|e| e.kind == "probe.started"));
    assert!(
        !events.iter().any(|e| e.kind == "instance.unhealthy"),
        "the startup probe must not restart a slow starter"
    );
    engine.handle.delete(&app).await.expect("delete");
}
