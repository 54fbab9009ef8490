//! End-to-end: the CRANE chain (rule → alert → policy → action) with the real parts, then with Crane alone.
//!
//! 1. **Real chain.** A rule on the demo app's request rate goes into Crane through the REST door and comes out of
//!    `GET /api/v1/alerts/rules/export` as a Prometheus rule file (`promtool check rules` accepts it). Debian's
//!    `prometheus` scrapes Crane through its HTTP service discovery (bearer token) and evaluates that file every
//!    second; Debian's `prometheus-alertmanager` routes the alert to Crane's webhook (`POST /api/v1/alerts/webhook`)
//!    with the webhook's own token (`GET /api/v1/alerts/webhook/info`). Crane's built-in evaluator has no rules in
//!    this half, so every action comes through the webhook. Load through the load balancer pushes the app over the
//!    threshold: the alert goes pending and firing in Prometheus, reaches Alertmanager, arrives at the webhook, and
//!    Crane scales the app up (the action from the `crane_firing_action` annotation the export wrote); when the load
//!    stops the alert resolves and Crane scales it down (`crane_resolved_action`).
//! 2. **Built-in evaluator alone.** The same rule file, the same app and load, on an engine without Prometheus or
//!    Alertmanager evaluating every second (`with_alert_interval`).
//!
//! Both print their timeline, and both must agree on which alerts fired (alert name and app). Waits are generous
//! (90 s); nothing is timed (the latencies are `crane-bench alerts`).

use std::collections::BTreeSet;
use std::io::Write;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crane_api::EventView;
use crane_e2e::chain::{Alertmanager, Prometheus, Timeline};
use crane_e2e::*;

/// The rule's alert name and group.
const ALERT: &str = "DemoBusy";
const GROUP: &str = "crane-chain";
/// The load (req/s) and the rule's threshold (req/s).
const RATE: u32 = 30;
const WAIT: Duration = Duration::from_secs(90);

/// One rule on the app's request rate through the load balancer, with Crane's actions and a short cooldown (so the
/// scale-down on resolution is not held by the scale-up's cooldown).
fn rule_file() -> String {
    format!(
        "groups:\n  - name: {GROUP}\n    interval: 1s\n    rules:\n      - alert: {ALERT}\n        expr: sum by (app) (rate(crane_lb_requests_total[10s])) > 8\n        for: 2s\n        labels:\n          severity: warning\n        annotations:\n          summary: \"{{{{ $labels.app }}}} receives {{{{ $value }}}} requests per second\"\n        firing_action: scale_up\n        resolved_action: scale_down\n        action_cooldown: 1s\n"
    )
}

fn details(e: &EventView) -> serde_json::Value {
    serde_json::from_str(&e.details).unwrap_or(serde_json::Value::Null)
}

/// The `alert.action` event of the rule for `status` (`firing`/`resolved`), if recorded.
async fn action_event(engine: &TestEngine, app: &str, status: &str) -> Option<(EventView, serde_json::Value)> {
    let events = engine.handle.events(Some(app), 1000).await.ok()?;
    events
        .into_iter()
        .filter(|e| e.kind == "alert.action")
        .map(|e| (details(&e), e))
        .find_map(|(d, e)| (d["rule"] == ALERT && d["status"] == status).then_some((e, d)))
}

/// The first event of `kind` for the rule whose details satisfy `cond`.
async fn alert_event(
    engine: &TestEngine,
    app: &str,
    kind: &str,
    cond: impl Fn(&serde_json::Value) -> bool,
) -> Option<(EventView, serde_json::Value)> {
    let events = engine.handle.events(Some(app), 1000).await.ok()?;
    events
        .into_iter()
        .filter(|e| e.kind == kind)
        .map(|e| (details(&e), e))
        .find_map(|(d, e)| (d["rule"] == ALERT && cond(&d)).then_some((e, d)))
}

/// Checks an `alert.action` event: the action the rule's annotation or field names, carried out, with the replica
/// change.
fn check_action(d: &serde_json::Value, action: &str, from: u32, to: u32) {
    assert_eq!(d["source"], "rule", "the action comes from the rule (its annotation / field): {d}");
    assert_eq!(d["action"], action, "{d}");
    assert_eq!(d["outcome"], "done", "{d}");
    assert_eq!((d["from"].as_u64(), d["to"].as_u64()), (Some(from.into()), Some(to.into())), "{d}");
}

/// Waits until the app has `n` replicas, all ready, and exactly `n` instances.
async fn until_replicas(engine: &TestEngine, app: &str, n: u32, what: &str) {
    app_until(engine, app, WAIT, what, |a| a.replicas == n && a.ready == n && a.instances.len() == n as usize).await;
}

fn start_load(url: String) -> (Arc<AtomicBool>, tokio::task::JoinHandle<LoadReport>) {
    let stop = Arc::new(AtomicBool::new(false));
    let load = tokio::spawn(steady_load(url, RATE, 3, 20_000, Duration::from_secs(240), stop.clone()));
    (stop, load)
}

async fn stop_load(stop: Arc<AtomicBool>, load: tokio::task::JoinHandle<LoadReport>) -> LoadReport {
    stop.store(true, Ordering::Relaxed);
    load.await.expect("load task")
}

/// Deletes the app and waits until Docker holds nothing of it, so the next half can use the same name.
async fn delete_and_wait(engine: &TestEngine, app: &str) {
    engine.handle.delete(app).await.expect("delete");
    let owner = engine.handle.owner().to_string();
    wait_for(Duration::from_secs(60), "the app's containers and network gone", || async {
        let (networks, volumes) = app_resources(&owner, app).await;
        (containers_of(&owner, app).await.is_empty() && networks.is_empty() && volumes.is_empty()).then_some(())
    })
    .await;
}

fn promtool_check_rules(text: &str) {
    let mut file = tempfile::Builder::new().suffix(".rules.yml").tempfile().unwrap();
    file.write_all(text.as_bytes()).unwrap();
    let out = Command::new("promtool")
        .args(["check", "rules"])
        .arg(file.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .expect("promtool is not installed: `apt-get install prometheus`");
    assert!(
        out.status.success(),
        "promtool check rules refused the exported file:\n{}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The real chain. Returns the (alert, app) pairs that fired (as the webhook delivered them) and the timeline.
async fn real_chain(app: &str) -> (BTreeSet<(String, String)>, Timeline) {
    let engine = TestEngine::start().await;
    let api = crane_rest::start(engine.handle.clone(), SocketAddr::from(([127, 0, 0, 1], 0))).await.expect("REST API");
    let client = reqwest::Client::new();
    let put_rules = |body: String| {
        client
            .put(format!("{}/api/v1/alerts/rules", api.url))
            .bearer_auth(&api.token)
            .header("content-type", "application/yaml")
            .body(body)
            .send()
    };

    // The rule goes in through the REST door and comes out as a Prometheus rule file.
    let put = put_rules(rule_file()).await.expect("PUT rules");
    assert!(put.status().is_success(), "PUT rules: {} {}", put.status(), put.text().await.unwrap_or_default());
    let export = client
        .get(format!("{}/api/v1/alerts/rules/export", api.url))
        .bearer_auth(&api.token)
        .send()
        .await
        .expect("export");
    assert!(export.status().is_success(), "export: {}", export.status());
    let exported = export.text().await.unwrap();
    assert!(
        exported.contains("crane_firing_action: scale_up") && exported.contains("crane_resolved_action: scale_down"),
        "the export carries the actions as annotations:\n{exported}"
    );
    promtool_check_rules(&exported);
    // Crane's own evaluator stays silent in this half: every action must come through the webhook.
    let put = put_rules("groups: []\n".to_string()).await.expect("PUT empty rules");
    assert!(put.status().is_success(), "PUT empty rules: {}", put.status());

    let info: crane_api::WebhookInfo = client
        .get(format!("{}/api/v1/alerts/webhook/info", api.url))
        .bearer_auth(&api.token)
        .send()
        .await
        .expect("webhook info")
        .json()
        .await
        .expect("webhook info body");
    assert_ne!(info.token, api.token, "the webhook has its own token");
    let mut alertmanager = Alertmanager::start(&info.url, std::path::Path::new(&info.token_file));
    alertmanager.ready(Duration::from_secs(30)).await;

    engine.handle.apply(&demo_spec(app, 1), false).await.expect("apply");
    let view = app_until(&engine, app, Duration::from_secs(60), "one ready instance", |a| a.ready == 1).await;
    let mut prometheus =
        Prometheus::start(&format!("{}/api/v1/sd", api.url), &api.token, &exported, &alertmanager.address);
    // Crane itself and the one instance.
    prometheus.ready(GROUP, 2, Duration::from_secs(60)).await;

    let mut tl =
        Timeline::start("real chain: Prometheus (rule file exported by Crane) → Alertmanager → Crane's webhook");
    let (stop, load) = start_load(view.url.clone().expect("the app's load balancer URL"));
    tl.mark(format!("load on: {RATE} req/s through Crane's load balancer (threshold 8 req/s, for 2s)"));
    let first = wait_for(WAIT, "Prometheus: alert pending or firing", || prometheus.alert_state(ALERT, app)).await;
    tl.mark(format!("Prometheus: {ALERT}{{app=\"{app}\"}} {first}"));
    if first == "pending" {
        wait_for(WAIT, "Prometheus: alert firing", || async {
            (prometheus.alert_state(ALERT, app).await.as_deref() == Some("firing")).then_some(())
        })
        .await;
        tl.mark("Prometheus: firing");
    }
    wait_for(WAIT, "Alertmanager: the alert is active", || async {
        alertmanager.has_alert(ALERT, app).await.then_some(())
    })
    .await;
    tl.mark("Alertmanager: alert received from Prometheus");
    let (fired, d) =
        wait_for(WAIT, "Crane: the webhook's firing alert acted on", || action_event(&engine, app, "firing")).await;
    tl.mark(format!("Crane: webhook received (firing) → alert.action: {}", fired.reason));
    check_action(&d, "scale_up", 1, 2);
    until_replicas(&engine, app, 2, "scaled up to 2 ready").await;
    tl.mark("scaled up: 2 replicas, both ready and in the load balancer");

    let report = stop_load(stop, load).await;
    tl.mark(format!("load off ({} requests answered, {} failed)", report.ok, report.failed));
    wait_for(WAIT, "Prometheus: the alert resolved", || async {
        prometheus.alert_state(ALERT, app).await.is_none().then_some(())
    })
    .await;
    tl.mark("Prometheus: alert resolved (inactive)");
    let (resolved, d) =
        wait_for(WAIT, "Crane: the webhook's resolved alert acted on", || action_event(&engine, app, "resolved")).await;
    tl.mark(format!("Crane: webhook received (resolved) → alert.action: {}", resolved.reason));
    check_action(&d, "scale_down", 2, 1);
    until_replicas(&engine, app, 1, "scaled down to 1").await;
    tl.mark("scaled down: 1 replica");

    let (sent, failed) = alertmanager.notifications().await;
    println!("Alertmanager webhook notifications: {sent} sent, {failed} failed");
    assert!(sent >= 2.0 && failed == 0.0, "Alertmanager delivered the firing and the resolved notification");
    let events = engine.handle.events(Some(app), 1000).await.unwrap();
    assert!(
        !events.iter().any(|e| e.kind == "alert.pending" || e.kind == "alert.firing"),
        "Crane's own evaluator had no rules in this half"
    );
    let fired: BTreeSet<(String, String)> = events
        .iter()
        .filter(|e| e.kind == "alert.action")
        .map(details)
        .filter(|d| d["status"] == "firing")
        .map(|d| (d["rule"].as_str().unwrap_or("").to_string(), d["app"].as_str().unwrap_or("").to_string()))
        .collect();
    drop(prometheus);
    drop(alertmanager);
    delete_and_wait(&engine, app).await;
    api.shutdown().await;
    (fired, tl)
}

/// The same scenario with Crane's built-in evaluator alone.
async fn builtin_chain(app: &str) -> (BTreeSet<(String, String)>, Timeline) {
    let engine = TestEngine::start_with(|c| c.with_alert_interval(Duration::from_secs(1))).await;
    engine.handle.set_alert_rules(&rule_file()).await.expect("rules");
    engine.handle.apply(&demo_spec(app, 1), false).await.expect("apply");
    let view = app_until(&engine, app, Duration::from_secs(60), "one ready instance", |a| a.ready == 1).await;

    let mut tl = Timeline::start("built-in evaluator alone (no Prometheus, no Alertmanager; evaluated every 1 s)");
    let (stop, load) = start_load(view.url.clone().expect("the app's load balancer URL"));
    tl.mark(format!("load on: {RATE} req/s through Crane's load balancer (threshold 8 req/s, for 2s)"));
    let (pending, _) = wait_for(WAIT, "alert.pending", || alert_event(&engine, app, "alert.pending", |_| true)).await;
    tl.mark(format!("Crane: alert.pending: {}", pending.reason));
    let (firing, _) = wait_for(WAIT, "alert.firing", || alert_event(&engine, app, "alert.firing", |_| true)).await;
    tl.mark(format!("Crane: alert.firing: {}", firing.reason));
    let (fired, d) = wait_for(WAIT, "the firing alert acted on", || action_event(&engine, app, "firing")).await;
    tl.mark(format!("Crane: alert.action: {}", fired.reason));
    check_action(&d, "scale_up", 1, 2);
    until_replicas(&engine, app, 2, "scaled up to 2 ready").await;
    tl.mark("scaled up: 2 replicas, both ready and in the load balancer");

    let report = stop_load(stop, load).await;
    tl.mark(format!("load off ({} requests answered, {} failed)", report.ok, report.failed));
    let (resolved, _) =
        wait_for(WAIT, "alert.resolved", || alert_event(&engine, app, "alert.resolved", |d| d["from"] == "firing"))
            .await;
    tl.mark(format!("Crane: alert.resolved: {}", resolved.reason));
    let (acted, d) = wait_for(WAIT, "the resolved alert acted on", || action_event(&engine, app, "resolved")).await;
    tl.mark(format!("Crane: alert.action: {}", acted.reason));
    check_action(&d, "scale_down", 2, 1);
    until_replicas(&engine, app, 1, "scaled down to 1").await;
    tl.mark("scaled down: 1 replica");

    let events = engine.handle.events(Some(app), 1000).await.unwrap();
    let fired: BTreeSet<(String, String)> = events
        .iter()
        .filter(|e| e.kind == "alert.firing")
        .map(details)
        .map(|d| (d["rule"].as_str().unwrap_or("").to_string(), d["labels"]["app"].as_str().unwrap_or("").to_string()))
        .collect();
    delete_and_wait(&engine, app).await;
    (fired, tl)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_alertmanager_and_the_builtin_evaluator_scale_the_app_up_and_down_alike() {
    ensure_demo_image().await;
    // The same app name in both halves (one after the other), so "the same alerts" is literal.
    let app = unique_name("t-chain");
    let (real, real_timeline) = real_chain(&app).await;
    let (builtin, builtin_timeline) = builtin_chain(&app).await;

    println!("\n{}\n{}", real_timeline.render(), builtin_timeline.render());
    println!("fired through Prometheus + Alertmanager: {real:?}\nfired in Crane's built-in evaluator: {builtin:?}");
    let expected = BTreeSet::from([(ALERT.to_string(), app.clone())]);
    assert_eq!(real, expected, "the real chain fired exactly the rule's alert for the app");
    assert_eq!(builtin, real, "the built-in evaluator and the real chain agree on which alerts fired");
}
