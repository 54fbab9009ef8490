//! The built-in alert evaluator on the fakes and tokio's paused clock: it scrapes Crane's own `/metrics` every
//! evaluation interval (15 s by default) and records every alert transition as an event; the rule file is validated
//! (line and column), stored, reset and exported.

mod support;

use crane_api::{AlertStateView, Door, Role};
use crane_core::alerts::parse_rule_file;
use crane_engine::{Caller, EngineError};
use support::{spec, Rig};

const RULES: &str = "groups:
  - name: test
    rules:
      - alert: TooManyReplicas
        expr: crane_app_replicas > 1
        for: 30s
        labels:
          severity: warning
        annotations:
          summary: \"{{ $labels.app }} asks for {{ $value }} replicas\"
        firing_action: notify
        resolved_action: notify
";

fn details(e: &crane_core::ports::EventRecord) -> serde_json::Value {
    e.details.clone()
}

#[tokio::test(start_paused = true)]
async fn a_rule_on_crane_metrics_goes_pending_then_firing_then_resolved() {
    let rig = Rig::new().await;
    let view = rig.engine.set_alert_rules(RULES).await.unwrap();
    assert!(!view.is_default);
    assert_eq!(view.rules.len(), 1);
    assert_eq!(view.rules[0].for_, "30s");
    assert_eq!(view.rules[0].firing_action.as_deref(), Some("notify"));
    assert_eq!(rig.events(&["alert.rules_changed"]).len(), 1);

    rig.apply(&spec("web", "demo:1", 2, "")).await;
    rig.apply(&spec("one", "demo:1", 1, "")).await;
    rig.until(20, "the alert is pending", |r| !r.events(&["alert.pending"]).is_empty()).await;
    let pending = rig.events(&["alert.pending"]);
    assert_eq!(pending.len(), 1, "{}", rig.log());
    assert_eq!(pending[0].app.as_deref(), Some("web"));
    assert!(pending[0].reason.contains("TooManyReplicas"), "{}", pending[0].reason);
    assert!(pending[0].reason.contains("crane_app_replicas > 1"), "{}", pending[0].reason);
    assert!(pending[0].reason.contains("value 2"), "{}", pending[0].reason);
    let active = rig.engine.active_alerts().await.unwrap();
    assert_eq!(active.len(), 1);
    assert_eq!(active[0].state, AlertStateView::Pending);
    assert_eq!(active[0].app.as_deref(), Some("web"));
    assert_eq!(active[0].value, 2.0);
    assert_eq!(active[0].annotations.get("summary").map(String::as_str), Some("web asks for 2 replicas"));
    assert!(rig.events(&["alert.firing"]).is_empty(), "fired before its `for`:\n{}", rig.log());

    // Two more evaluations (15 s apart) make 30 s: it fires.
    rig.until(45, "the alert fires", |r| !r.events(&["alert.firing"]).is_empty()).await;
    let firing = rig.events(&["alert.firing"]);
    assert_eq!(firing.len(), 1);
    assert!(firing[0].at - pending[0].at >= 30_000, "fired {} ms after pending", firing[0].at - pending[0].at);
    let d = details(&firing[0]);
    assert_eq!(d["rule"], "TooManyReplicas");
    assert_eq!(d["labels"]["app"], "web");
    assert_eq!(d["labels"]["severity"], "warning");
    assert_eq!(d["labels"]["alertname"], "TooManyReplicas");
    assert_eq!(d["value"], 2.0);
    assert_eq!(d["action"], "notify");
    assert_eq!(d["fingerprint"].as_str().map(str::len), Some(16));
    assert!(d["startsAt"].is_string(), "{d}");
    let active = rig.engine.active_alerts().await.unwrap();
    assert_eq!(active[0].state, AlertStateView::Firing);
    assert_eq!(active[0].fingerprint, d["fingerprint"].as_str().unwrap());
    assert!(active[0].starts_at.is_some());

    // The condition ends: resolved at the next evaluation.
    rig.engine.scale("web", 1).await.unwrap();
    rig.until(20, "the alert resolves", |r| !r.events(&["alert.resolved"]).is_empty()).await;
    let resolved = rig.events(&["alert.resolved"]);
    assert_eq!(resolved.len(), 1);
    assert_eq!(resolved[0].app.as_deref(), Some("web"));
    assert!(resolved[0].reason.contains("resolved"), "{}", resolved[0].reason);
    assert_eq!(details(&resolved[0])["from"], "firing");
    assert_eq!(details(&resolved[0])["action"], "notify");
    assert!(rig.engine.active_alerts().await.unwrap().is_empty());

    let history = rig.engine.alert_history(10).await.unwrap();
    let states: Vec<_> = history.iter().map(|t| t.to).collect();
    assert_eq!(states, vec![AlertStateView::Inactive, AlertStateView::Firing, AlertStateView::Pending]);
    assert_eq!(history[1].action.as_deref(), Some("notify"));
    assert_eq!(history[2].action, None);
    assert_eq!(rig.engine.alert_history(1).await.unwrap().len(), 1);

    // No further transitions while nothing changes.
    rig.idle(120).await;
    assert_eq!(rig.engine.alert_history(10).await.unwrap().len(), 3);
    let (series, samples, dropped) = rig.engine.alert_buffer_size();
    assert!(series > 0 && samples > series, "{series} series, {samples} samples");
    assert_eq!(dropped, 0);
}

#[tokio::test(start_paused = true)]
async fn a_pending_alert_that_clears_before_its_for_never_fires() {
    let rig = Rig::new().await;
    rig.engine.set_alert_rules(&RULES.replace("for: 30s", "for: 5m")).await.unwrap();
    rig.apply(&spec("web", "demo:1", 2, "")).await;
    rig.until(20, "pending", |r| !r.events(&["alert.pending"]).is_empty()).await;
    rig.engine.scale("web", 1).await.unwrap();
    rig.until(20, "cleared", |r| !r.events(&["alert.resolved"]).is_empty()).await;
    let cleared = rig.events(&["alert.resolved"]);
    assert!(cleared[0].reason.contains("cleared before firing"), "{}", cleared[0].reason);
    assert_eq!(details(&cleared[0])["action"], serde_json::Value::Null);
    assert!(rig.events(&["alert.firing"]).is_empty());
}

#[tokio::test(start_paused = true)]
async fn an_invalid_rule_file_is_refused_with_line_and_column_and_nothing_is_saved() {
    let rig = Rig::new().await;
    rig.engine.set_alert_rules(RULES).await.unwrap();
    let bad = RULES.replace("crane_app_replicas > 1", "crane_app_replicas >");
    let err = rig.engine.set_alert_rules(&bad).await.unwrap_err();
    let EngineError::InvalidRules(diags) = &err else { panic!("not a rules error: {err}") };
    assert_eq!(diags[0].line, 5, "{diags:?}");
    assert!(diags[0].column > 0);
    assert!(err.to_string().starts_with("the rule file is invalid: line 5"), "{err}");
    assert_eq!(err.to_api().code, crane_api::ErrorCode::InvalidSpec);
    assert_eq!(rig.engine.alert_rules().await.unwrap().yaml, RULES);
    assert!(rig.engine.validate_alert_rules(&bad).await.is_err());
    assert_eq!(rig.engine.validate_alert_rules(RULES).await.unwrap(), 1);

    // A viewer reads the rules but cannot change them.
    let viewer = rig.engine.as_caller(Caller { user: "vic".into(), role: Role::Viewer, door: Door::Rest });
    assert_eq!(viewer.alert_rules().await.unwrap().rules.len(), 1);
    let err = viewer.reset_alert_rules().await.unwrap_err();
    assert!(matches!(err, EngineError::Forbidden(_)), "{err}");
    assert_eq!(rig.engine.alert_rules().await.unwrap().yaml, RULES);
    assert_eq!(rig.events(&["alert.rules_changed"]).len(), 1);
}

#[tokio::test(start_paused = true)]
async fn rules_are_stored_reset_and_exported() {
    let rig = Rig::new().await;
    let shipped = rig.engine.alert_rules().await.unwrap();
    assert!(shipped.is_default);
    assert!(shipped.rules.iter().any(|r| r.alert == "AppDegraded"));
    rig.engine.set_alert_rules(RULES).await.unwrap();

    let rig = rig.restart().await;
    let stored = rig.engine.alert_rules().await.unwrap();
    assert_eq!(stored.yaml, RULES);
    assert!(!stored.is_default);

    let exported = rig.engine.export_alert_rules().await.unwrap();
    assert!(exported.contains("crane_firing_action: notify"), "{exported}");
    let back = parse_rule_file(&exported).unwrap();
    let rule = back.rules().next().unwrap();
    assert_eq!(rule.alert, "TooManyReplicas");
    assert_eq!(rule.expr, "crane_app_replicas > 1");
    assert_eq!(rule.firing_action.map(|a| a.as_str()), Some("notify"));

    let reset = rig.engine.reset_alert_rules().await.unwrap();
    assert!(reset.is_default);
    assert_eq!(reset.rules.len(), shipped.rules.len());
    let rig = rig.restart().await;
    assert!(rig.engine.alert_rules().await.unwrap().is_default);
    assert_eq!(rig.events(&["alert.rules_changed"]).len(), 2);
}

#[tokio::test(start_paused = true)]
async fn an_evaluation_error_is_one_event_per_change_not_one_per_evaluation() {
    let rig = Rig::new().await;
    // With two apps, matching on no label at all finds two partners for each element: Prometheus fails such an
    // evaluation ("many-to-many matching not allowed"), and so does Crane.
    let rules = RULES.replace("crane_app_replicas > 1", "crane_app_replicas > on() crane_app_ready_replicas");
    rig.engine.set_alert_rules(&rules).await.unwrap();
    rig.apply(&spec("web", "demo:1", 1, "")).await;
    rig.apply(&spec("api", "demo:1", 1, "")).await;
    rig.until(20, "the error", |r| !r.events(&["alert.eval_failed"]).is_empty()).await;
    rig.idle(90).await;
    let failed = rig.events(&["alert.eval_failed"]);
    assert_eq!(failed.len(), 1, "one event for six failed evaluations:\n{}", rig.log());
    assert!(
        failed[0].reason.contains("TooManyReplicas") && failed[0].reason.contains("cannot be evaluated"),
        "{}",
        failed[0].reason
    );
    let view = rig.engine.alert_rules().await.unwrap();
    assert!(view.rules[0].last_error.is_some());

    // One app left: the match is one-to-one again.
    rig.engine.delete("api").await.unwrap();
    rig.until(20, "the recovery", |r| !r.events(&["alert.eval_recovered"]).is_empty()).await;
    let again = &rig.events(&["alert.eval_recovered"])[0];
    assert!(again.reason.contains("is evaluated again"), "{}", again.reason);
    assert_eq!(again.details["error"], serde_json::Value::Null);
    assert!(rig.engine.alert_rules().await.unwrap().rules[0].last_error.is_none());
    rig.idle(60).await;
    assert_eq!(rig.events(&["alert.eval_failed", "alert.eval_recovered"]).len(), 2);
}

// Alert actions: a rule watches app `trigger` (which the test scales to make the alert fire or resolve) and names
// app `web` in its labels, so the action lands on `web`.

/// A rule file with one rule: `trigger` has more than one replica → act on `app`.
fn acting_rule(alert: &str, app: &str, actions: &str) -> String {
    format!(
        "groups:
  - name: act
    rules:
      - alert: {alert}
        expr: crane_app_replicas{{app=\"trigger\"}} > 1
        labels:
          app: {app}
          severity: warning
{actions}"
    )
}

async fn replicas(rig: &Rig, app: &str) -> u32 {
    rig.engine.get_app(app).await.unwrap().replicas
}

async fn acting_rig(rules: &str, web: u32) -> Rig {
    let rig = Rig::new().await;
    rig.engine.set_alert_rules(rules).await.unwrap();
    rig.apply(&spec("web", "demo:1", web, "")).await;
    rig.apply(&spec("trigger", "demo:1", 1, "")).await;
    rig
}

#[tokio::test(start_paused = true)]
async fn a_firing_action_scales_up_once_and_the_resolved_action_scales_down_with_one_event_chain() {
    let actions = "        firing_action: scale_up\n        resolved_action: scale_down\n";
    let rig = acting_rig(&acting_rule("Busy", "web", actions), 1).await;
    rig.engine.scale("trigger", 2).await.unwrap();
    rig.until(20, "the action", |r| !r.events(&["alert.action"]).is_empty()).await;
    let firing = rig.events(&["alert.firing"]);
    let acted = rig.events(&["alert.action"]);
    assert_eq!(acted.len(), 1, "{}", rig.log());
    let d = details(&acted[0]);
    assert_eq!(acted[0].app.as_deref(), Some("web"));
    assert_eq!(d["rule"], "Busy");
    assert_eq!(d["fingerprint"], details(&firing[0])["fingerprint"], "the action names the alert it answers");
    assert_eq!(d["labels"]["app"], "web");
    assert_eq!(d["status"], "firing");
    assert_eq!(d["source"], "rule");
    assert_eq!(d["origin"], "evaluator");
    assert_eq!(d["action"], "scale_up");
    assert_eq!((d["from"].as_u64(), d["to"].as_u64()), (Some(1), Some(2)));
    assert_eq!(d["outcome"], "done");
    let reason = &acted[0].reason;
    assert!(reason.starts_with("alert Busy firing for app 'web' (value 2"), "{reason}");
    assert!(reason.contains("the rule names the action scale_up → scale_up by 1 → replicas 1 → 2"), "{reason}");
    assert_eq!(replicas(&rig, "web").await, 2);
    rig.until(10, "the loop starts the new instance", |r| r.running("web") == "web-1@1 web-2@1").await;

    // The alert keeps firing: no new transition, no new action.
    rig.idle(75).await;
    assert_eq!(rig.events(&["alert.action"]).len(), 1, "{}", rig.log());
    assert_eq!(replicas(&rig, "web").await, 2);

    // It resolves (after the cooldown): the resolved action removes the replica.
    rig.engine.scale("trigger", 1).await.unwrap();
    rig.until(20, "the resolved action", |r| r.events(&["alert.action"]).len() == 2).await;
    let d = details(&rig.events(&["alert.action"])[1]);
    assert_eq!(
        (d["status"].as_str(), d["action"].as_str(), d["outcome"].as_str()),
        (Some("resolved"), Some("scale_down"), Some("done"))
    );
    assert_eq!((d["from"].as_u64(), d["to"].as_u64()), (Some(2), Some(1)));
    assert_eq!(replicas(&rig, "web").await, 1);
}

#[tokio::test(start_paused = true)]
async fn a_flapping_alert_does_not_act_again_within_the_cooldown() {
    // Fires while web has one replica; scaling up resolves it, and scaling down would make it fire again.
    let rules = "groups:
  - name: act
    rules:
      - alert: Thin
        expr: crane_app_replicas{app=\"web\"} < 2
        firing_action: scale_up
        resolved_action: scale_down
";
    let rig = Rig::new().await;
    rig.engine.set_alert_rules(rules).await.unwrap();
    rig.apply(&spec("web", "demo:1", 1, "")).await;
    rig.until(20, "the action", |r| !r.events(&["alert.action"]).is_empty()).await;
    assert_eq!(replicas(&rig, "web").await, 2);
    rig.until(20, "the resolved alert", |r| r.events(&["alert.action"]).len() == 2).await;
    let held = &rig.events(&["alert.action"])[1];
    assert_eq!(details(held)["outcome"], "cooldown", "{}", rig.log());
    assert!(held.reason.contains("held: rule Thin already did scale_up on app 'web'"), "{}", held.reason);
    rig.idle(120).await;
    assert_eq!(replicas(&rig, "web").await, 2, "{}", rig.log());
    assert_eq!(rig.events(&["alert.action"]).len(), 2, "one event per transition, not per evaluation");
}

#[tokio::test(start_paused = true)]
async fn without_a_rule_action_the_alerts_policy_decides() {
    let rig = acting_rig(&acting_rule("HighRequestRate", "web", ""), 1).await;
    rig.engine.scale("trigger", 2).await.unwrap();
    rig.until(20, "the action", |r| !r.events(&["alert.action"]).is_empty()).await;
    let acted = &rig.events(&["alert.action"])[0];
    let d = details(acted);
    assert_eq!(
        (d["source"].as_str(), d["action"].as_str(), d["outcome"].as_str()),
        (Some("policy"), Some("scale_up"), Some("done"))
    );
    assert_eq!(d["cooldownMs"], 120_000, "the shipped policy's cooldown");
    assert!(acted.reason.contains("the alerts policy says scale_up"), "{}", acted.reason);
    assert_eq!(replicas(&rig, "web").await, 2);
}

#[tokio::test(start_paused = true)]
async fn the_scaling_policy_bounds_an_alert_scale_and_stop_scales_to_zero() {
    let actions = "        firing_action: scale_up\n        resolved_action: stop\n";
    let rig = acting_rig(&acting_rule("Busy", "web", actions), 2).await;
    let data = serde_json::json!({"apps": {"web": {"max_replicas": 2}}});
    rig.engine
        .set_policy(crane_api::PolicyName::Scaling, crane_api::PolicyUpdate { rego: None, data: Some(data) })
        .await
        .unwrap();
    rig.engine.scale("trigger", 2).await.unwrap();
    rig.until(20, "the action", |r| !r.events(&["alert.action"]).is_empty()).await;
    let d = details(&rig.events(&["alert.action"])[0]);
    assert_eq!(d["outcome"], "unchanged", "{d}");
    assert_eq!((d["requested"].as_u64(), d["to"].as_u64()), (Some(3), Some(2)));
    assert!(d["clamp"].as_str().is_some_and(|c| c.contains("0–2")), "{d}");
    assert_eq!(replicas(&rig, "web").await, 2);

    // Nothing was done, so no cooldown: the resolved action stops the app at once.
    rig.engine.scale("trigger", 1).await.unwrap();
    rig.until(20, "the stop", |r| r.events(&["alert.action"]).len() == 2).await;
    let d = details(&rig.events(&["alert.action"])[1]);
    assert_eq!((d["action"].as_str(), d["outcome"].as_str(), d["to"].as_u64()), (Some("stop"), Some("done"), Some(0)));
    assert_eq!(replicas(&rig, "web").await, 0);
    rig.until(10, "the loop stops the instances", |r| r.running("web").is_empty()).await;
}

#[tokio::test(start_paused = true)]
async fn an_alert_for_an_app_that_does_not_exist_is_recorded_without_error() {
    let rig = acting_rig(&acting_rule("Busy", "ghost", "        firing_action: scale_up\n"), 1).await;
    rig.engine.scale("trigger", 2).await.unwrap();
    rig.until(20, "the action", |r| !r.events(&["alert.action"]).is_empty()).await;
    let acted = &rig.events(&["alert.action"])[0];
    assert_eq!(details(acted)["outcome"], "recorded");
    assert!(acted.reason.contains("there is no app 'ghost'"), "{}", acted.reason);
    assert!(rig.events(&["policy.failed"]).is_empty());
    assert_eq!(replicas(&rig, "web").await, 1);
}

#[tokio::test(start_paused = true)]
async fn an_alerts_policy_that_cannot_decide_holds_with_policy_failed() {
    let rig = acting_rig(&acting_rule("Boom", "web", ""), 1).await;
    // Undefined for this alert only, so the shipped sample inputs still decode and the policy is saved.
    let rego = "package crane.alerts\n\ndecision := {\"action\": \"scale_up\", \"reason\": \"ok\"} if input.alert != \"Boom\"\n";
    rig.engine
        .set_policy(crane_api::PolicyName::Alerts, crane_api::PolicyUpdate { rego: Some(rego.to_string()), data: None })
        .await
        .unwrap();
    rig.engine.scale("trigger", 2).await.unwrap();
    rig.until(20, "the action", |r| !r.events(&["alert.action"]).is_empty()).await;
    let acted = &rig.events(&["alert.action"])[0];
    assert_eq!(details(acted)["outcome"], "failed");
    assert!(acted.reason.contains("could not decide, so nothing is done"), "{}", acted.reason);
    let failed = rig.events(&["policy.failed"]);
    assert_eq!(failed.len(), 1, "{}", rig.log());
    assert_eq!(failed[0].app.as_deref(), Some("web"));
    assert_eq!(replicas(&rig, "web").await, 1);
}

#[tokio::test(start_paused = true)]
async fn a_rule_sets_its_own_cooldown() {
    let rules = "groups:
  - name: act
    rules:
      - alert: Thin
        expr: crane_app_replicas{app=\"web\"} < 2
        firing_action: scale_up
        resolved_action: scale_down
        action_cooldown: 10s
";
    let rig = Rig::new().await;
    rig.engine.set_alert_rules(rules).await.unwrap();
    rig.apply(&spec("web", "demo:1", 1, "")).await;
    rig.until(40, "two actions", |r| r.events(&["alert.action"]).len() >= 2).await;
    let acted = rig.events(&["alert.action"]);
    let d = details(&acted[1]);
    assert_eq!((d["action"].as_str(), d["outcome"].as_str()), (Some("scale_down"), Some("done")), "{}", rig.log());
    assert_eq!(d["cooldownMs"], 10_000);
}

#[tokio::test(start_paused = true)]
async fn a_rollback_action_returns_the_app_to_its_previous_revision() {
    let rig = acting_rig(&acting_rule("Broken", "web", "        firing_action: rollback\n"), 1).await;
    rig.apply(&spec("web", "demo:2", 1, "")).await;
    rig.until(20, "revision 2 runs", |r| r.running("web") == "web-1@2").await;
    rig.engine.scale("trigger", 2).await.unwrap();
    rig.until(20, "the action", |r| !r.events(&["alert.action"]).is_empty()).await;
    let acted = &rig.events(&["alert.action"])[0];
    let d = details(acted);
    assert_eq!((d["action"].as_str(), d["outcome"].as_str()), (Some("rollback"), Some("done")), "{}", rig.log());
    assert_eq!((d["fromRevision"].as_u64(), d["toRevision"].as_u64()), (Some(2), Some(1)));
    assert!(acted.reason.contains("rolled back: revision 2 → 1"), "{}", acted.reason);
    let app = rig.engine.get_app("web").await.unwrap();
    assert_eq!(app.revision, 1);
    rig.until(20, "revision 1 runs", |r| r.running("web") == "web-1@1").await;
}

/// An Alertmanager webhook payload (version 4) with one alert.
fn payload(status: &str, app: &str, annotations: serde_json::Value, starts_at: &str) -> crane_api::AlertmanagerPayload {
    serde_json::from_value(serde_json::json!({
        "version": "4", "groupKey": "{}:{alertname=\"HighRequestRate\"}", "truncatedAlerts": 0, "status": status,
        "receiver": "crane", "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {}, "externalURL": "http://am",
        "alerts": [{"status": status, "labels": {"alertname": "HighRequestRate", "app": app, "severity": "warning"},
                    "annotations": annotations, "startsAt": starts_at, "endsAt": "0001-01-01T00:00:00Z",
                    "generatorURL": "http://prometheus/graph", "fingerprint": "0b1c2d3e4f5a6b7c"}]
    }))
    .unwrap()
}

/// Alerts from a real Alertmanager take the same chain: the action its exported rule carries in the annotations, a
/// repeat is counted and not acted on again, each alert's own status decides, an unknown app is recorded.
#[tokio::test(start_paused = true)]
async fn alertmanager_alerts_act_through_the_same_chain_once_each() {
    let rig = Rig::new().await;
    rig.apply(&spec("web", "demo:1", 1, "")).await;
    let actions = serde_json::json!({"crane_firing_action": "scale_up", "crane_resolved_action": "scale_down",
                                     "crane_action_cooldown": "0s"});
    let firing = payload("firing", "web", actions.clone(), "2026-12-02T10:00:00Z");
    let receipt = rig.engine.receive_alertmanager(&firing).await.unwrap();
    assert_eq!((receipt.received, receipt.handled, receipt.duplicates), (1, 1, 0));
    assert_eq!(replicas(&rig, "web").await, 2);
    let acted = rig.events(&["alert.action"]);
    assert_eq!(acted.len(), 1, "{}", rig.log());
    let d = details(&acted[0]);
    assert_eq!(
        (d["rule"].as_str(), d["source"].as_str(), d["action"].as_str()),
        (Some("HighRequestRate"), Some("rule"), Some("scale_up"))
    );
    assert_eq!(d["fingerprint"], "0b1c2d3e4f5a6b7c");
    assert_eq!(d["origin"], "webhook");
    assert!(acted[0].reason.contains("(from an Alertmanager)"), "{}", acted[0].reason);

    // Alertmanager repeats it (repeat_interval, a retry): counted, not acted on again.
    let receipt = rig.engine.receive_alertmanager(&firing).await.unwrap();
    assert_eq!((receipt.handled, receipt.duplicates), (0, 1));
    assert_eq!(replicas(&rig, "web").await, 2);

    // Resolved: its own status decides (the group's status is not read).
    let mut resolved = payload("resolved", "web", actions, "2026-12-02T10:00:00Z");
    resolved.status = "firing".to_string();
    rig.engine.receive_alertmanager(&resolved).await.unwrap();
    assert_eq!(replicas(&rig, "web").await, 1);

    // No action in the annotations: the alerts policy decides (HighRequestRate firing → scale_up); an unknown app is
    // recorded only.
    let unknown = payload("firing", "nope", serde_json::json!({}), "2026-12-02T11:00:00Z");
    assert_eq!(rig.engine.receive_alertmanager(&unknown).await.unwrap().handled, 1);
    let last = rig.events(&["alert.action"]).last().cloned().unwrap();
    assert_eq!(
        (details(&last)["source"].as_str(), details(&last)["outcome"].as_str()),
        (Some("policy"), Some("recorded"))
    );

    // Bad payloads are refused whole.
    let mut old = firing.clone();
    old.version = "3".into();
    assert!(
        matches!(rig.engine.receive_alertmanager(&old).await, Err(EngineError::BadRequest(m)) if m.contains("version"))
    );
    let mut odd = firing.clone();
    odd.alerts[0].status = "weird".into();
    assert!(
        matches!(rig.engine.receive_alertmanager(&odd).await, Err(EngineError::BadRequest(m)) if m.contains("alerts[0].status"))
    );
    let mut many = firing;
    many.alerts = vec![many.alerts[0].clone(); crane_engine::MAX_WEBHOOK_ALERTS + 1];
    assert!(
        matches!(rig.engine.receive_alertmanager(&many).await, Err(EngineError::BadRequest(m)) if m.contains("max_alerts"))
    );
    assert_eq!(replicas(&rig, "web").await, 1, "nothing of a refused payload was done");
    rig.engine.shutdown().await;
}
