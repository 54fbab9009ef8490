//! End-to-end: Crane's built-in alert evaluator over real containers. A rule on the ready instances of an app (what
//! `/metrics` shows from real readiness probes) fires after the app is scaled to 2 and both instances are ready, and
//! resolves after it is scaled back to 1; each transition is an event. The evaluator runs every second here.

use std::time::Duration;

use crane_api::AlertStateView;
use crane_e2e::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rule_on_ready_instances_fires_and_resolves_with_real_containers() {
    ensure_demo_image().await;
    let engine = TestEngine::start_with(|c| c.with_alert_interval(Duration::from_secs(1))).await;
    let e = &engine.handle;
    let name = unique_name("t-alert");
    let rules = format!(
        "groups:\n  - name: e2e\n    rules:\n      - alert: TwoReady\n        expr: crane_app_ready_replicas{{app=\"{name}\"}} > 1\n        for: 2s\n        firing_action: notify\n"
    );
    e.set_alert_rules(&rules).await.unwrap();
    e.apply(&demo_spec(&name, 1), false).await.unwrap();
    app_until(&engine, &name, Duration::from_secs(60), "one ready instance", |a| a.ready == 1).await;
    assert!(e.active_alerts().await.unwrap().is_empty(), "one ready instance does not match");

    e.scale(&name, 2).await.unwrap();
    let events = |kind: &'static str| {
        let name = name.clone();
        move || {
            let name = name.clone();
            async move {
                let events = e.events(Some(&name), 200).await.ok()?;
                events.into_iter().find(|ev| ev.kind == kind)
            }
        }
    };
    let firing = wait_for(Duration::from_secs(90), "alert.firing", events("alert.firing")).await;
    assert!(firing.reason.contains("TwoReady") && firing.reason.contains("value 2"), "{}", firing.reason);
    let details: serde_json::Value = serde_json::from_str(&firing.details).unwrap();
    assert_eq!(details["action"], "notify");
    assert_eq!(details["labels"]["app"], name.as_str());
    let active = e.active_alerts().await.unwrap();
    assert_eq!(active.len(), 1);
    assert_eq!(active[0].state, AlertStateView::Firing);
    let pending = e.events(Some(&name), 200).await.unwrap();
    assert!(pending.iter().any(|ev| ev.kind == "alert.pending"), "pending came first");

    e.scale(&name, 1).await.unwrap();
    let resolved = wait_for(Duration::from_secs(90), "alert.resolved", events("alert.resolved")).await;
    assert!(resolved.reason.contains("resolved"), "{}", resolved.reason);
    assert!(e.active_alerts().await.unwrap().is_empty());
    e.delete(&name).await.unwrap();
}
