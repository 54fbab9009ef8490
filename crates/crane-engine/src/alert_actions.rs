//! Carrying out alert actions: when an alert of the built-in evaluator fires or resolves, the rule's
//! `firing_action`/`resolved_action` (or, when the rule names none, the `alerts` policy) decides what Crane does,
//! and the engine does it as its own admin: a scale goes through the scaling policy (and the app's autoscaling
//! bounds) and the generation-checked replica write, then the loop is asked for a pass; a rollback is
//! `rollout_undo` to the previous revision; a restart is `rollout_restart` (a rolling replacement of every instance);
//! `stop` scales to zero. After an action the same rule does not act on
//! the same app again within the cooldown. Every decision is one `alert.action` event linking the rule, the alert
//! (fingerprint, labels, status), the decision's source, the action, the replica change and the outcome.
//!
//! **Architecture Invariant:** alert actions change replicas only through the scaling policy and `store_replicas`,
//! and Docker only through the loop.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};

use crane_api::{Door, EventKind};
use crane_core::alerts::{AlertRule, Transition};
use crane_core::model::Millis;
use crane_core::policy::{
    AlertAction, AlertInput, AlertStatus, RecentAction, ScaleSource, ScalingBounds, ScalingInput, MAX_ALERT_STEP,
};
use serde_json::json;

use crate::clock::LockExt;
use crate::policies::door_word;
use crate::{run, Caller, Command, EngineHandle, Inner};

/// How long the same rule waits before acting on the same app again when neither the rule nor the policy says.
pub const DEFAULT_COOLDOWN_MS: Millis = 60_000;
/// Recent actions per app kept for the policy's input.
const MAX_RECENT: usize = 20;
/// Recent actions older than this are left out of the policy's input.
const RECENT_WINDOW_MS: Millis = 3_600_000;

/// What acting on an alert needs to know of its rule: the built-in evaluator's rule, or what an Alertmanager alert
/// carries (the annotations `crane_firing_action`, `crane_resolved_action` and `crane_action_cooldown` that Crane's
/// exported rule files put there).
pub(crate) struct RuleActions<'a> {
    /// Where the alert came from: `evaluator` (Crane's rules) or `webhook` (an Alertmanager).
    pub origin: &'static str,
    /// The expression, for the reason (empty when unknown).
    pub expr: &'a str,
    /// What to do when the alert fires (`None`: the alerts policy decides).
    pub firing_action: Option<AlertAction>,
    /// What to do when it resolves (`None`: the alerts policy decides).
    pub resolved_action: Option<AlertAction>,
    /// The rule's own cooldown.
    pub action_cooldown: Option<Millis>,
}

impl<'a> From<&'a AlertRule> for RuleActions<'a> {
    fn from(rule: &'a AlertRule) -> RuleActions<'a> {
        RuleActions {
            origin: "evaluator",
            expr: rule.expr.trim(),
            firing_action: rule.firing_action,
            resolved_action: rule.resolved_action,
            action_cooldown: rule.action_cooldown.map(|c| c.as_millis()),
        }
    }
}

/// An action a rule took on an app.
#[derive(Debug, Clone, Copy)]
struct Taken {
    /// When.
    at: Millis,
    /// Until when the rule does not act on the app again.
    until: Millis,
    /// What.
    action: AlertAction,
}

/// (rule, app).
type RuleApp = (String, String);

/// What the engine remembers about the actions it took.
#[derive(Default)]
pub(crate) struct Actions {
    /// By (rule, app).
    cooldowns: Mutex<BTreeMap<RuleApp, Taken>>,
    /// By app, newest first: the action and the alert that asked for it.
    recent: Mutex<BTreeMap<String, VecDeque<(Taken, String)>>>,
}

impl Actions {
    fn recent(&self, app: &str, now: Millis) -> Vec<RecentAction> {
        let recent = self.recent.locked();
        recent
            .get(app)
            .map(|list| {
                list.iter()
                    .filter(|(taken, _)| now.saturating_sub(taken.at) < RECENT_WINDOW_MS)
                    .map(|(taken, alert)| RecentAction {
                        action: taken.action,
                        alert: alert.clone(),
                        seconds_ago: now.saturating_sub(taken.at) / 1000,
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    fn took(&self, rule: &str, app: &str, action: AlertAction, now: Millis, cooldown: Millis) {
        let taken = Taken { at: now, until: now.saturating_add(cooldown), action };
        self.cooldowns.locked().insert((rule.to_string(), app.to_string()), taken);
        let mut recent = self.recent.locked();
        let list = recent.entry(app.to_string()).or_default();
        list.push_front((taken, rule.to_string()));
        list.truncate(MAX_RECENT);
    }

    /// The action the rule took on the app and when, while its cooldown lasts.
    fn cooling(&self, rule: &str, app: &str, now: Millis) -> Option<Taken> {
        let mut cooldowns = self.cooldowns.locked();
        cooldowns.retain(|_, taken| taken.until > now);
        cooldowns.get(&(rule.to_string(), app.to_string())).copied()
    }
}

/// The action of the policy's vocabulary a rule names.
fn from_rule(action: crane_core::alerts::AlertAction) -> AlertAction {
    AlertAction::from_name(action.as_str()).unwrap_or(AlertAction::Notify)
}

/// The replica count an action asks for (before the scaling policy): `None` for actions that do not scale.
/// Scale actions stay within the app's autoscaling bounds when it has them; `stop` asks for zero.
pub(crate) fn requested_replicas(
    action: AlertAction,
    current: u32,
    step: u32,
    autoscaling: Option<ScalingBounds>,
) -> Option<u32> {
    let step = step.clamp(1, MAX_ALERT_STEP);
    let within = |n: u32| autoscaling.map_or(n, |b| n.clamp(b.min, b.max.max(b.min)));
    match action {
        AlertAction::ScaleUp => Some(within(current.saturating_add(step).min(crane_core::validate::MAX_REPLICAS))),
        AlertAction::ScaleDown => Some(within(current.saturating_sub(step))),
        AlertAction::Stop => Some(0),
        _ => None,
    }
}

/// A number as the event shows it.
fn number(value: f64) -> serde_json::Value {
    if value.is_finite() {
        json!(value)
    } else {
        json!(value.to_string())
    }
}

/// Decides and carries out the action for one transition (a fired or resolved alert; others are ignored), and
/// records the `alert.action` event.
pub(crate) async fn act(inner: &Arc<Inner>, rule: RuleActions<'_>, t: &Transition) {
    let status = if t.fired() {
        AlertStatus::Firing
    } else if t.resolved() {
        AlertStatus::Resolved
    } else {
        return;
    };
    let status_word = if status == AlertStatus::Firing { "firing" } else { "resolved" };
    let named = if status == AlertStatus::Firing { rule.firing_action } else { rule.resolved_action };
    let app_name = t.labels.get("app").cloned();
    let now = inner.now();
    let stored = match &app_name {
        Some(name) => match inner.store.get_app(name).await {
            Ok(app) => app,
            Err(e) => {
                tracing::warn!("cannot read app '{name}' for alert {}: {e}", t.rule);
                None
            }
        },
        None => None,
    };
    let current = stored.as_ref().map(|a| a.spec.replicas);
    let handle = EngineHandle { inner: inner.clone(), caller: Arc::new(Caller::admin(Door::Engine)) };
    let who = app_name.as_deref().map(|a| format!(" for app '{a}'")).unwrap_or_default();
    let head = if rule.expr.is_empty() || rule.origin == "webhook" {
        format!("alert {} {status_word}{who} (from an Alertmanager)", t.rule)
    } else {
        format!("alert {} {status_word}{who} (value {}, `{}`)", t.rule, t.value, rule.expr)
    };

    let mut details = json!({
        "rule": t.rule,
        "fingerprint": format!("{:016x}", t.fingerprint),
        "labels": t.labels,
        "status": status_word,
        "value": number(t.value),
        "app": app_name,
        "origin": rule.origin,
    });
    let set = |details: &mut serde_json::Value, key: &str, value: serde_json::Value| {
        if let Some(map) = details.as_object_mut() {
            map.insert(key.to_string(), value);
        }
    };

    // The decision: the rule's action, else the alerts policy's.
    let (source, action, step, cooldown, why) = match named {
        Some(a) => ("rule", from_rule(a), 1, None, format!("the rule names the action {}", a.as_str())),
        None => {
            let input = AlertInput {
                alert: t.rule.clone(),
                labels: t.labels.clone(),
                severity: t.labels.get("severity").cloned().unwrap_or_default(),
                status,
                app: app_name.clone(),
                replicas: current.unwrap_or(0),
                recent_actions: app_name.as_deref().map(|a| inner.alerting.actions.recent(a, now)).unwrap_or_default(),
            };
            match handle.decide_alert(&input).await {
                Ok(d) => (
                    "policy",
                    d.action,
                    d.step.unwrap_or(1),
                    d.cooldown.map(|c| c.as_millis()),
                    format!("the alerts policy says {}: {}", d.action.as_str(), d.reason),
                ),
                Err(e) => {
                    let reason = format!("{head}: the alerts policy could not decide, so nothing is done: {e}");
                    run::record(
                        inner,
                        app_name.as_deref(),
                        None,
                        EventKind::PolicyFailed,
                        reason.clone(),
                        json!({"policy": "alerts", "input": input, "error": e.to_string()}),
                    )
                    .await;
                    set(&mut details, "source", json!("policy"));
                    set(&mut details, "outcome", json!("failed"));
                    set(&mut details, "error", json!(e.to_string()));
                    run::record(inner, app_name.as_deref(), None, EventKind::AlertAction, reason, details).await;
                    return;
                }
            }
        }
    };
    set(&mut details, "source", json!(source));
    set(&mut details, "action", json!(action.as_str()));
    // The rule's `action_cooldown`, else the policy's, else the default.
    let cooldown = rule.action_cooldown.or(cooldown).unwrap_or(DEFAULT_COOLDOWN_MS);
    set(&mut details, "cooldownMs", json!(cooldown));

    let (outcome, said) = carry_out(inner, &handle, t, action, step, cooldown, stored.as_ref(), &mut details).await;
    set(&mut details, "outcome", json!(outcome));
    let reason = format!("{head}: {why} → {said}");
    run::record(inner, app_name.as_deref(), None, EventKind::AlertAction, reason, details).await;
}

/// Does the action; the outcome word (`done`, `clamped`, `recorded`, `none`, `cooldown`, `denied`, `unchanged`,
/// `failed`) and what happened in words. Fills `from`/`to`/`error` in the details.
#[allow(clippy::too_many_arguments)]
async fn carry_out(
    inner: &Arc<Inner>,
    handle: &EngineHandle,
    t: &Transition,
    action: AlertAction,
    step: u32,
    cooldown: Millis,
    stored: Option<&crane_core::ports::StoredApp>,
    details: &mut serde_json::Value,
) -> (&'static str, String) {
    let mut set = |key: &str, value: serde_json::Value| {
        if let Some(map) = details.as_object_mut() {
            map.insert(key.to_string(), value);
        }
    };
    match action {
        AlertAction::None => return ("none", "nothing to do".to_string()),
        AlertAction::Notify => return ("recorded", "recorded only".to_string()),
        _ => {}
    }
    let Some(app) = t.labels.get("app") else {
        return (
            "recorded",
            format!("the alert has no `app` label, so {} has no app to act on: recorded only", action.as_str()),
        );
    };
    let Some(stored) = stored else {
        return ("recorded", format!("there is no app '{app}', so {} is not done: recorded only", action.as_str()));
    };
    let now = inner.now();
    if let Some(Taken { at, until, action: took }) = inner.alerting.actions.cooling(&t.rule, app, now) {
        return (
            "cooldown",
            format!(
                "held: rule {} already did {} on app '{app}' {} s ago; it acts again after its cooldown ({} s, {} s left)",
                t.rule,
                took.as_str(),
                now.saturating_sub(at) / 1000,
                (until.saturating_sub(at)) / 1000,
                until.saturating_sub(now).div_ceil(1000)
            ),
        );
    }
    match action {
        AlertAction::Restart => {
            let cause = format!("alert {} {}", t.rule, if t.fired() { "fired" } else { "resolved" });
            match handle.rollout_restart(app, Some(cause)).await {
                Ok(view) => {
                    inner.alerting.actions.took(&t.rule, app, action, now, cooldown);
                    set("fromRevision", json!(stored.revision));
                    set("toRevision", json!(view.revision));
                    (
                        "done",
                        format!(
                            "app '{app}' restarts: revision {} → {} with the same spec, replaced one instance at a \
                             time",
                            stored.revision, view.revision
                        ),
                    )
                }
                Err(e) => {
                    set("error", json!(e.to_string()));
                    ("failed", format!("the restart of app '{app}' failed: {e}"))
                }
            }
        }
        AlertAction::Rollback => match handle.rollout_undo(app, None).await {
            Ok(view) => {
                inner.alerting.actions.took(&t.rule, app, action, now, cooldown);
                set("fromRevision", json!(stored.revision));
                set("toRevision", json!(view.revision));
                ("done", format!("app '{app}' rolled back: revision {} → {}", stored.revision, view.revision))
            }
            Err(e) => {
                set("error", json!(e.to_string()));
                ("failed", format!("the rollback of app '{app}' failed: {e}"))
            }
        },
        _ => {
            let current = stored.spec.replicas;
            let autoscaling = stored.spec.autoscaling.as_ref().map(|a| ScalingBounds { min: a.min, max: a.max });
            let bounds = if action == AlertAction::Stop { None } else { autoscaling };
            let Some(requested) = requested_replicas(action, current, step, bounds) else {
                return ("recorded", "recorded only".to_string());
            };
            set("from", json!(current));
            set("step", json!(step));
            set("requested", json!(requested));
            let input = ScalingInput {
                app: app.clone(),
                source: ScaleSource::Alert,
                current,
                requested,
                autoscaling,
                user: Caller::ADMIN.to_string(),
                door: door_word(Door::Engine),
            };
            let verb = match action {
                AlertAction::ScaleUp => format!("scale_up by {}", step.clamp(1, MAX_ALERT_STEP)),
                AlertAction::ScaleDown => format!("scale_down by {}", step.clamp(1, MAX_ALERT_STEP)),
                _ => "stop".to_string(),
            };
            let decision = match crate::policies::scaling(inner, &input).await {
                Ok(d) => d,
                Err(failure) => {
                    let error = failure.record(inner, app).await;
                    set("error", json!(error.to_string()));
                    return ("failed", format!("{verb} is not done: the scaling policy could not decide ({error})"));
                }
            };
            if !decision.allowed {
                set("to", json!(current));
                return (
                    "denied",
                    format!("{verb} is held by the scaling policy: {}; replicas stay {current}", decision.reason),
                );
            }
            let target = decision.replicas;
            set("to", json!(target));
            let clamped = target != requested;
            if clamped {
                set("clamp", json!(decision.reason));
            }
            if target == current {
                let why = if clamped { format!(" ({})", decision.reason) } else { String::new() };
                return ("unchanged", format!("{verb}: replicas stay {current}{why}"));
            }
            match crate::store_replicas(inner, app, Some(current), target).await {
                Ok(Some(from)) => {
                    inner.alerting.actions.took(&t.rule, app, action, now, cooldown);
                    let (reply, _rx) = tokio::sync::oneshot::channel();
                    let _ = inner.commands.send(Command::Reconcile { reply, retry: None, forget: None }).await;
                    if clamped {
                        (
                            "clamped",
                            format!(
                                "{verb} → replicas {from} → {target}, clamped by the scaling policy: {}",
                                decision.reason
                            ),
                        )
                    } else {
                        ("done", format!("{verb} → replicas {from} → {target}"))
                    }
                }
                Ok(None) => {
                    ("unchanged", format!("{verb} is not done: app '{app}' changed its replica count meanwhile"))
                }
                Err(e) => {
                    set("error", json!(e.to_string()));
                    ("failed", format!("{verb} failed: {e}"))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requested_replicas_by_action() {
        let b = Some(ScalingBounds { min: 2, max: 4 });
        let cases = [
            (AlertAction::ScaleUp, 1, 1, None, Some(2)),
            (AlertAction::ScaleUp, 1, 3, None, Some(4)),
            (AlertAction::ScaleUp, 4, 1, b, Some(4)),
            (AlertAction::ScaleDown, 2, 1, b, Some(2)),
            (AlertAction::ScaleDown, 0, 1, None, Some(0)),
            (AlertAction::ScaleDown, 5, 2, None, Some(3)),
            (AlertAction::Stop, 5, 1, b, Some(0)),
            (AlertAction::ScaleUp, 1, 0, None, Some(2)),
            (AlertAction::ScaleUp, 1, 99, None, Some(1 + MAX_ALERT_STEP)),
            (AlertAction::Notify, 1, 1, None, None),
            (AlertAction::Rollback, 1, 1, None, None),
        ];
        for (action, current, step, bounds, want) in cases {
            assert_eq!(
                requested_replicas(action, current, step, bounds),
                want,
                "{action:?} {current} {step} {bounds:?}"
            );
        }
    }
}
