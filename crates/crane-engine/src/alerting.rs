//! The built-in alert evaluator: a background task that, every evaluation interval, scrapes Crane's own `/metrics`
//! into the [`Tsdb`] buffer and evaluates every alerting rule with `crane_core::alerts` (`evaluate` + `step`),
//! keeping each rule's alerts in memory and writing every transition (pending, firing, resolved) to the event log.
//! Also the handle's alert methods: the rule file (stored as a setting, Crane's shipped rules when none is saved),
//! the active alerts and the recent transitions.
//!
//! **Architecture Invariant:** the evaluator reads only what `/metrics` shows (through the buffer). It records each
//! transition, then hands fired and resolved alerts to `alert_actions`, which acts through the engine's one writer
//! (the scaling policy, the generation-checked replica write, the loop).

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crane_api::{
    AlertRuleView, AlertRulesView, AlertStateView, AlertTransitionView, AlertView, AuditAction, Diagnostic, EventKind,
};
use crane_core::alerts::{
    evaluate, parse_rule_file, step, to_prometheus_rule_file, Alert, AlertRule, AlertState, RuleFile, RuleState,
    Transition, DEFAULT_RULES,
};
use crane_core::model::Millis;
use crane_core::units::format_prometheus_duration;

use crate::clock::LockExt;
use crate::tsdb::{self, Tsdb};
use crate::views::rfc3339;
use crate::{exposition, internal, run, EngineError, EngineHandle, Inner, Permission, Result};

/// The store setting that holds the user's rule file; absent or empty means Crane's shipped rules.
pub(crate) const RULES_KEY: &str = "alerts.rules";
/// Transitions kept in memory for [`EngineHandle::alert_history`] (the event log keeps them all).
pub const MAX_HISTORY: usize = 1000;
/// The shortest evaluation interval (a rule group's `interval` or the engine's).
const MIN_INTERVAL: Duration = Duration::from_secs(1);
/// The longest evaluation interval.
const MAX_INTERVAL: Duration = Duration::from_secs(300);

/// One rule's alerts and its latest evaluation error.
#[derive(Debug, Default)]
struct RuleRun {
    state: RuleState,
    error: Option<String>,
}

/// The rules in force and what the evaluator knows about them.
struct Rules {
    /// The rule file as saved (or the shipped one).
    yaml: String,
    /// Whether these are the shipped rules.
    is_default: bool,
    /// The parsed file.
    file: Arc<RuleFile>,
    /// By (group index, rule index).
    runs: BTreeMap<(usize, usize), RuleRun>,
    /// When each group (by index) was last evaluated.
    evaluated: BTreeMap<usize, Millis>,
}

impl Rules {
    fn shipped() -> Rules {
        // The shipped rules parse (a test in crane-core checks it); without them the evaluator has no rules.
        let file = parse_rule_file(DEFAULT_RULES).unwrap_or(RuleFile { groups: Vec::new() });
        Rules {
            yaml: DEFAULT_RULES.to_string(),
            is_default: true,
            file: Arc::new(file),
            runs: BTreeMap::new(),
            evaluated: BTreeMap::new(),
        }
    }
}

/// The evaluator's state, shared by the task and the handle.
pub(crate) struct Alerting {
    /// The scraped series.
    tsdb: Mutex<Tsdb>,
    rules: Mutex<Rules>,
    /// Newest last.
    history: Mutex<VecDeque<AlertTransitionView>>,
    /// The actions taken on alerts (cooldowns, recent actions per app).
    pub(crate) actions: crate::alert_actions::Actions,
    /// What was sent to the Alertmanager (`alertmanager_url`).
    pub(crate) sender: crate::alert_send::Sender,
}

impl Default for Alerting {
    fn default() -> Self {
        Alerting {
            tsdb: Mutex::default(),
            rules: Mutex::new(Rules::shipped()),
            history: Mutex::default(),
            actions: Default::default(),
            sender: Default::default(),
        }
    }
}

/// Whether two rules find the same alerts, so a rule-file change keeps their state.
fn same_rule(a: &AlertRule, b: &AlertRule) -> bool {
    a.alert == b.alert
        && a.expr == b.expr
        && a.for_ == b.for_
        && a.keep_firing_for == b.keep_firing_for
        && a.labels == b.labels
}

impl Alerting {
    /// Puts a new rule file in force; rules that did not change keep their alerts.
    fn install(&self, yaml: String, is_default: bool, file: RuleFile) {
        let mut rules = self.rules.locked();
        let mut runs = BTreeMap::new();
        for (gi, group) in file.groups.iter().enumerate() {
            for (ri, rule) in group.rules.iter().enumerate() {
                let old = rules.file.groups.get(gi).filter(|g| g.name == group.name).and_then(|g| g.rules.get(ri));
                if old.is_some_and(|old| same_rule(old, rule)) {
                    if let Some(run) = rules.runs.remove(&(gi, ri)) {
                        runs.insert((gi, ri), run);
                    }
                }
            }
        }
        *rules = Rules { yaml, is_default, file: Arc::new(file), runs, evaluated: BTreeMap::new() };
    }
}

/// Reads the saved rule file at start. A saved file that no longer parses (written by a newer Crane) leaves the
/// shipped rules in force, with an event saying so.
pub(crate) async fn load(inner: &Inner) {
    let saved = match inner.store.get_setting(RULES_KEY).await {
        Ok(saved) => saved.filter(|s| !s.is_empty()),
        Err(e) => {
            tracing::warn!("cannot read the alert rules: {e}");
            None
        }
    };
    let Some(yaml) = saved else { return };
    match parse_rule_file(&yaml) {
        Ok(file) => inner.alerting.install(yaml, false, file),
        Err(diags) => {
            let reason = format!(
                "the saved alert rules do not parse ({}); Crane's shipped rules are in force until they are saved \
                 again with `cranectl alerts apply -f FILE`",
                diags
                    .first()
                    .map(|d| format!("line {} column {}: {}", d.line, d.column, d.message))
                    .unwrap_or_default()
            );
            run::record(inner, None, None, EventKind::AlertEvalFailed, reason, serde_json::json!({"saved": true}))
                .await;
        }
    }
}

/// The evaluation interval of the engine (the scrape interval), within bounds.
fn base_interval(inner: &Inner) -> Duration {
    inner.config.alert_interval.clamp(MIN_INTERVAL, MAX_INTERVAL)
}

/// A group's evaluation interval: its own `interval`, else the engine's.
fn group_interval(inner: &Inner, interval: Option<crane_core::units::Duration>) -> Duration {
    interval.map_or_else(|| base_interval(inner), |d| d.to_std().clamp(MIN_INTERVAL, MAX_INTERVAL))
}

/// Runs the evaluator until the engine stops (the task is aborted with the engine). The first round comes one
/// interval after the start, when the loop has observed the containers (before that every app would look degraded).
pub(crate) async fn run(inner: Arc<Inner>) {
    let mut wait = base_interval(&inner);
    loop {
        tokio::time::sleep(wait).await;
        wait = round(&inner).await;
    }
}

/// One round: scrape, evaluate the groups that are due, record. Returns how long to wait for the next round: the
/// shortest of the engine's interval and the groups' intervals.
async fn round(inner: &Arc<Inner>) -> Duration {
    let now = inner.now();
    let base = base_interval(inner);
    match inner.store.list_apps().await {
        Ok(apps) => {
            let text = exposition::prometheus_text(inner, &apps);
            match tsdb::parse_exposition(&text) {
                Ok(samples) => inner.alerting.tsdb.locked().append(now, samples),
                Err(e) => tracing::warn!("the alert evaluator cannot read Crane's metrics: {e}"),
            }
        }
        Err(e) => tracing::warn!("the alert evaluator cannot list apps: {e}"),
    }

    let (file, evaluated) = {
        let rules = inner.alerting.rules.locked();
        (rules.file.clone(), rules.evaluated.clone())
    };
    let wait = file.groups.iter().map(|g| group_interval(inner, g.interval)).fold(base, Duration::min);
    let due: Vec<usize> = (0..file.groups.len())
        .filter(|gi| {
            let interval = group_interval(inner, file.groups[*gi].interval).as_millis() as Millis;
            evaluated.get(gi).is_none_or(|last| now.saturating_sub(*last) >= interval)
        })
        .collect();
    if due.is_empty() {
        return wait;
    }
    let mut results = Vec::new();
    {
        let db = inner.alerting.tsdb.locked();
        for gi in &due {
            for (ri, rule) in file.groups[*gi].rules.iter().enumerate() {
                results.push(((*gi, ri), evaluate(&rule.query, now, &*db).map_err(|e| e.to_string())));
            }
        }
    }

    let mut records = Vec::new();
    // Fired and resolved alerts, acted on once their transitions are recorded.
    let mut acts = Vec::new();
    {
        let mut rules = inner.alerting.rules.locked();
        if !Arc::ptr_eq(&rules.file, &file) {
            // The rules changed during the evaluation: the new ones are evaluated next round.
            return wait;
        }
        for gi in &due {
            rules.evaluated.insert(*gi, now);
        }
        let mut history = inner.alerting.history.locked();
        for ((gi, ri), result) in results {
            let group = &file.groups[gi];
            let rule = &group.rules[ri];
            let run = rules.runs.entry((gi, ri)).or_default();
            let stepped = result.and_then(|found| step(rule, &run.state, &found, now).map_err(|e| e.0));
            match stepped {
                Ok((next, transitions)) => {
                    run.state = next;
                    if let Some(was) = run.error.take() {
                        records.push(eval_record(&group.name, rule, None, Some(&was)));
                    }
                    for t in transitions {
                        let view = transition_view(rule, &t);
                        history.push_back(view.clone());
                        while history.len() > MAX_HISTORY {
                            history.pop_front();
                        }
                        records.push(transition_record(&group.name, rule, &t, view.action));
                        if t.fired() || t.resolved() {
                            acts.push((gi, ri, t));
                        }
                    }
                }
                Err(e) => {
                    if run.error.as_deref() != Some(e.as_str()) {
                        records.push(eval_record(&group.name, rule, Some(&e), None));
                    }
                    run.error = Some(e);
                }
            }
        }
    }
    for (app, kind, reason, details) in records {
        run::record(inner, app.as_deref(), None, kind, reason, details).await;
    }
    for (gi, ri, t) in acts {
        crate::alert_actions::act(inner, (&file.groups[gi].rules[ri]).into(), &t).await;
    }
    let alerts: Vec<Alert> = {
        let rules = inner.alerting.rules.locked();
        rules.runs.values().flat_map(|run| run.state.alerts.values().cloned()).collect()
    };
    crate::alert_send::after_round(inner, alerts, now, base);
    wait
}

/// An event-log row to write: app, kind, reason, details.
type Record = (Option<String>, EventKind, String, serde_json::Value);

fn wire_state(s: AlertState) -> AlertStateView {
    match s {
        AlertState::Inactive => AlertStateView::Inactive,
        AlertState::Pending => AlertStateView::Pending,
        AlertState::Firing => AlertStateView::Firing,
    }
}

/// The action the rule names for a transition: `firing_action` when it fires, `resolved_action` when a firing alert
/// resolves.
fn named_action(rule: &AlertRule, t: &Transition) -> Option<String> {
    if t.fired() {
        rule.firing_action.map(|a| a.as_str().to_string())
    } else if t.resolved() {
        rule.resolved_action.map(|a| a.as_str().to_string())
    } else {
        None
    }
}

fn transition_view(rule: &AlertRule, t: &Transition) -> AlertTransitionView {
    AlertTransitionView {
        at: rfc3339(t.at),
        rule: t.rule.clone(),
        app: t.labels.get("app").cloned(),
        from: wire_state(t.from),
        to: wire_state(t.to),
        value: t.value,
        labels: t.labels.clone(),
        fingerprint: format!("{:016x}", t.fingerprint),
        starts_at: t.starts_at.map(rfc3339),
        action: named_action(rule, t),
    }
}

/// "for app 'web'" or "" for an alert without an `app` label.
fn for_app(labels: &BTreeMap<String, String>) -> String {
    labels.get("app").map(|a| format!(" for app '{a}'")).unwrap_or_default()
}

fn transition_record(group: &str, rule: &AlertRule, t: &Transition, action: Option<String>) -> Record {
    let app = t.labels.get("app").cloned();
    let who = for_app(&t.labels);
    let expr = rule.expr.split_whitespace().collect::<Vec<_>>().join(" ");
    let value = t.value;
    let for_ = format_prometheus_duration(rule.for_);
    let (kind, mut reason) = match (t.from, t.to) {
        (_, AlertState::Pending) => (
            EventKind::AlertPending,
            format!(
                "alert {}{who} is pending: `{expr}` holds (value {value}); it fires if it still holds after {for_}",
                t.rule
            ),
        ),
        (_, AlertState::Firing) => (
            EventKind::AlertFiring,
            if rule.for_.is_zero() {
                format!("alert {}{who} fires: `{expr}` holds (value {value})", t.rule)
            } else {
                format!("alert {}{who} fires: `{expr}` has held for {for_} (value {value})", t.rule)
            },
        ),
        (AlertState::Firing, _) => (
            EventKind::AlertResolved,
            format!("alert {}{who} resolved: `{expr}` no longer holds (last value {value})", t.rule),
        ),
        _ => (
            EventKind::AlertResolved,
            format!(
                "alert {}{who} cleared before firing: `{expr}` held for less than {for_} (last value {value})",
                t.rule
            ),
        ),
    };
    if let Some(summary) = t.annotations.get("summary").filter(|s| !s.is_empty()) {
        reason.push_str(&format!(" — {summary}"));
    }
    if let Some(a) = &action {
        reason.push_str(&format!("; the rule names the action {a}"));
    }
    let details = serde_json::json!({
        "group": group,
        "rule": t.rule,
        "expr": rule.expr,
        "for": for_,
        "labels": t.labels,
        "annotations": t.annotations,
        "fingerprint": format!("{:016x}", t.fingerprint),
        "value": if value.is_finite() { serde_json::json!(value) } else { serde_json::json!(value.to_string()) },
        "from": t.from.as_str(),
        "to": t.to.as_str(),
        "startsAt": t.starts_at.map(rfc3339),
        "action": action,
    });
    (app, kind, reason, details)
}

fn eval_record(group: &str, rule: &AlertRule, error: Option<&str>, was: Option<&str>) -> Record {
    let reason = match error {
        Some(e) => format!("alert rule {} (group {group}) cannot be evaluated: {e}", rule.alert),
        None => format!("alert rule {} (group {group}) is evaluated again", rule.alert),
    };
    let details = serde_json::json!({
        "group": group,
        "rule": rule.alert,
        "expr": rule.expr,
        "error": error,
        "previousError": was,
    });
    let kind = if error.is_some() { EventKind::AlertEvalFailed } else { EventKind::AlertEvalRecovered };
    (None, kind, reason, details)
}

fn alert_view(rule: &str, a: &Alert) -> AlertView {
    AlertView {
        rule: rule.to_string(),
        state: wire_state(a.state),
        app: a.labels.get("app").cloned(),
        labels: a.labels.clone(),
        annotations: a.annotations.clone(),
        value: a.value,
        active_at: rfc3339(a.active_at),
        starts_at: a.fired_at.map(rfc3339),
        fingerprint: a.fingerprint_hex(),
    }
}

/// The wire form of rule-file diagnostics.
fn wire_diagnostics(diags: Vec<crane_core::error::Diagnostic>) -> Vec<Diagnostic> {
    diags.into_iter().map(crate::error::wire_diagnostic).collect()
}

/// Parses a rule file off the async threads (regular expressions compile), refusing it with every diagnostic.
async fn parse(yaml: String) -> Result<(String, RuleFile)> {
    tokio::task::spawn_blocking(move || {
        let parsed = parse_rule_file(&yaml);
        (yaml, parsed)
    })
    .await
    .map_err(internal)
    .and_then(|(yaml, parsed)| match parsed {
        Ok(file) => Ok((yaml, file)),
        Err(diags) => Err(EngineError::InvalidRules(wire_diagnostics(diags))),
    })
}

impl EngineHandle {
    /// The alert rules in force: the rule file and each rule with its latest evaluation error and active alerts.
    pub async fn alert_rules(&self) -> Result<AlertRulesView> {
        self.authorize(Permission::ReadAll, None).await?;
        let rules = self.inner.alerting.rules.locked();
        let mut views = Vec::new();
        for (gi, group) in rules.file.groups.iter().enumerate() {
            for (ri, rule) in group.rules.iter().enumerate() {
                let run = rules.runs.get(&(gi, ri));
                views.push(AlertRuleView {
                    group: group.name.clone(),
                    alert: rule.alert.clone(),
                    expr: rule.expr.clone(),
                    for_: format_prometheus_duration(rule.for_),
                    interval: humantime_interval(group_interval(&self.inner, group.interval)),
                    labels: rule.labels.clone(),
                    annotations: rule.annotations.clone(),
                    firing_action: rule.firing_action.map(|a| a.as_str().to_string()),
                    resolved_action: rule.resolved_action.map(|a| a.as_str().to_string()),
                    last_error: run.and_then(|r| r.error.clone()),
                    active: run.map_or(0, |r| {
                        r.state.alerts.values().filter(|a| a.state != AlertState::Inactive).count() as u32
                    }),
                });
            }
        }
        Ok(AlertRulesView { yaml: rules.yaml.clone(), is_default: rules.is_default, rules: views })
    }

    /// Checks a rule file without saving it: every problem with its line and column
    /// ([`EngineError::InvalidRules`]), or the rules it holds.
    pub async fn validate_alert_rules(&self, yaml: &str) -> Result<u32> {
        self.authorize(Permission::ReadAll, None).await?;
        let (_, file) = parse(yaml.to_string()).await?;
        Ok(file.rules().count() as u32)
    }

    /// Replaces the alert rules with `yaml` (Prometheus' rule-file format plus `firing_action`/`resolved_action`).
    /// An invalid file is refused with every problem and its line and column, and nothing is saved. Admins only
    /// (the rules concern every app). Audited; an `alert.rules_changed` event.
    pub async fn set_alert_rules(&self, yaml: &str) -> Result<AlertRulesView> {
        self.audited(AuditAction::AlertRulesChange, None, None, async {
            self.authorize(Permission::ManageSettings, None).await?;
            let (yaml, file) = parse(yaml.to_string()).await?;
            // Two saves do not interleave: what is stored is what is in force.
            let _guard = self.inner.writes.lock().await;
            self.inner.store.put_setting(RULES_KEY, &yaml).await.map_err(internal)?;
            let count = file.rules().count();
            let names: Vec<String> = file.rules().map(|r| r.alert.clone()).collect();
            self.inner.alerting.install(yaml, false, file);
            self.record(
                None,
                None,
                EventKind::AlertRulesChanged,
                format!(
                    "{} replaced the alert rules: {count} rule{}",
                    self.caller().user,
                    if count == 1 { "" } else { "s" }
                ),
                serde_json::json!({"rules": names, "default": false, "user": self.caller().user}),
            )
            .await;
            Ok(())
        })
        .await?;
        self.alert_rules().await
    }

    /// Returns to Crane's shipped rules (`assets/alerts/default.rules.yml`). Admins only. Audited; an
    /// `alert.rules_changed` event.
    pub async fn reset_alert_rules(&self) -> Result<AlertRulesView> {
        self.audited(AuditAction::AlertRulesChange, None, Some("reset"), async {
            self.authorize(Permission::ManageSettings, None).await?;
            let (yaml, file) = parse(DEFAULT_RULES.to_string()).await?;
            let _guard = self.inner.writes.lock().await;
            self.inner.store.put_setting(RULES_KEY, "").await.map_err(internal)?;
            let names: Vec<String> = file.rules().map(|r| r.alert.clone()).collect();
            self.inner.alerting.install(yaml, true, file);
            self.record(
                None,
                None,
                EventKind::AlertRulesChanged,
                format!(
                    "{} reset the alert rules to Crane's shipped rules ({} rules)",
                    self.caller().user,
                    names.len()
                ),
                serde_json::json!({"rules": names, "default": true, "user": self.caller().user}),
            )
            .await;
            Ok(())
        })
        .await?;
        self.alert_rules().await
    }

    /// The rules in force as a Prometheus rule file (`promtool check rules` accepts it; `firing_action` and
    /// `resolved_action` travel as annotations).
    pub async fn export_alert_rules(&self) -> Result<String> {
        self.authorize(Permission::ReadAll, None).await?;
        let file = self.inner.alerting.rules.locked().file.clone();
        Ok(to_prometheus_rule_file(&file))
    }

    /// Pending and firing alerts: firing first, then by rule and labels.
    pub async fn active_alerts(&self) -> Result<Vec<AlertView>> {
        self.authorize(Permission::ReadAll, None).await?;
        let rules = self.inner.alerting.rules.locked();
        let mut out = Vec::new();
        for ((gi, ri), run) in &rules.runs {
            let Some(rule) = rules.file.groups.get(*gi).and_then(|g| g.rules.get(*ri)) else { continue };
            for alert in run.state.alerts.values().filter(|a| a.state != AlertState::Inactive) {
                out.push(alert_view(&rule.alert, alert));
            }
        }
        out.sort_by(|a, b| {
            (b.state == AlertStateView::Firing)
                .cmp(&(a.state == AlertStateView::Firing))
                .then_with(|| (a.rule.as_str(), &a.labels).cmp(&(b.rule.as_str(), &b.labels)))
        });
        Ok(out)
    }

    /// The latest alert transitions, newest first: at most `limit` (1–[`MAX_HISTORY`]). The event log keeps them
    /// all (`alert.*` events).
    pub async fn alert_history(&self, limit: u32) -> Result<Vec<AlertTransitionView>> {
        self.authorize(Permission::ReadAll, None).await?;
        let limit = (limit as usize).clamp(1, MAX_HISTORY);
        let history = self.inner.alerting.history.locked();
        Ok(history.iter().rev().take(limit).cloned().collect())
    }

    /// Series and samples in the evaluator's buffer, and samples dropped at its series cap.
    pub fn alert_buffer_size(&self) -> (usize, usize, u64) {
        let db = self.inner.alerting.tsdb.locked();
        let (series, samples) = db.size();
        (series, samples, db.dropped)
    }
}

/// An interval as Prometheus writes durations (`15s`, `1m`).
fn humantime_interval(d: Duration) -> String {
    format_prometheus_duration(crane_core::units::Duration::from_millis(d.as_millis() as u64))
}
