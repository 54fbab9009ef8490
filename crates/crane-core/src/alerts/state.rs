//! The state of one alerting rule's alerts, stepped like Prometheus' `AlertingRule.Eval` (rules/alerting.go).
//!
//! Each element the rule's expression returns is an alert, identified by its labels (the element's labels without
//! the metric name, the rule's labels, and `alertname`). A new alert is *pending* from that evaluation on
//! (`active_at`), *firing* once it has been returned for `for` (at once with `for: 0`), and when it is no longer
//! returned it becomes *inactive*: a pending alert is forgotten, a firing one is *resolved* and kept for
//! [`RESOLVED_RETENTION_MS`] so it can still be sent as resolved. With `keep_firing_for`, a firing alert that is no
//! longer returned keeps firing for that long first.

use std::collections::BTreeMap;
use std::fmt;

use super::eval::{render_labels, Labels};
use super::query::METRIC_NAME;
use super::rules::AlertRule;
use crate::model::Millis;

/// How long a resolved alert is kept (so it can be sent as resolved), as Prometheus' `resolvedRetention`.
pub const RESOLVED_RETENTION_MS: u64 = 15 * 60 * 1000;

/// The label that names the rule in every alert.
pub const ALERT_NAME: &str = "alertname";

/// Where an alert is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AlertState {
    /// Not returned by the expression (resolved, if it fired), or not known at all.
    Inactive,
    /// Returned, for less than the rule's `for`.
    Pending,
    /// Returned for at least `for` (or kept firing by `keep_firing_for`).
    Firing,
}

impl AlertState {
    /// The word Prometheus uses: `inactive`, `pending`, `firing`.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Inactive => "inactive",
            AlertState::Pending => "pending",
            AlertState::Firing => "firing",
        }
    }
}

impl fmt::Display for AlertState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One alert of a rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    /// Its identity: the element's labels without `__name__`, the rule's labels (expanded), and `alertname`.
    pub labels: Labels,
    /// The rule's annotations, expanded with this alert's labels and latest value.
    pub annotations: Labels,
    /// Alertmanager's fingerprint of `labels` ([`fingerprint`]).
    pub fingerprint: u64,
    /// Where it is.
    pub state: AlertState,
    /// The latest value the expression returned for it.
    pub value: f64,
    /// When it became pending.
    pub active_at: Millis,
    /// When it started firing: Alertmanager's `startsAt`.
    pub fired_at: Option<Millis>,
    /// When it was resolved.
    pub resolved_at: Option<Millis>,
    /// While `keep_firing_for` holds it: since when the expression no longer returns it.
    pub keep_firing_since: Option<Millis>,
}

impl Alert {
    /// The fingerprint as Alertmanager writes it: 16 lowercase hex digits.
    pub fn fingerprint_hex(&self) -> String {
        format!("{:016x}", self.fingerprint)
    }
}

/// The alerts of one rule, by their labels.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RuleState {
    /// Pending, firing and recently resolved alerts.
    pub alerts: BTreeMap<Labels, Alert>,
}

impl RuleState {
    /// The alerts that are firing now.
    pub fn firing(&self) -> impl Iterator<Item = &Alert> {
        self.alerts.values().filter(|a| a.state == AlertState::Firing)
    }
}

/// One change of an alert's state in a step: what the engine records as an event (and acts on when `to` is firing,
/// or when a firing alert resolves).
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    /// The rule's name (`alertname`).
    pub rule: String,
    /// The alert's labels.
    pub labels: Labels,
    /// Alertmanager's fingerprint of the labels.
    pub fingerprint: u64,
    /// The state before the step.
    pub from: AlertState,
    /// The state after the step.
    pub to: AlertState,
    /// The alert's latest value.
    pub value: f64,
    /// The time of the step.
    pub at: Millis,
    /// When the alert started firing (Alertmanager's `startsAt`), if it has fired.
    pub starts_at: Option<Millis>,
    /// The expanded annotations.
    pub annotations: Labels,
}

impl Transition {
    /// Whether the alert started firing in this step.
    pub fn fired(&self) -> bool {
        self.to == AlertState::Firing && self.from != AlertState::Firing
    }

    /// Whether a firing alert was resolved in this step.
    pub fn resolved(&self) -> bool {
        self.from == AlertState::Firing && self.to == AlertState::Inactive
    }
}

/// Why a step failed; the state is unchanged then, as in Prometheus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepError(pub String);

impl fmt::Display for StepError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StepError {}

/// Advances `rule`'s alerts to time `at`, given what its expression returned at `at`. Returns the new state and one
/// transition for each alert whose state changed (an alert that goes from inactive to firing in one step, with
/// `for: 0`, gives one transition from inactive to firing).
pub fn step(
    rule: &AlertRule,
    state: &RuleState,
    results: &[(Labels, f64)],
    at: Millis,
) -> Result<(RuleState, Vec<Transition>), StepError> {
    // The alerts the expression returns now, with their labels and annotations.
    let mut current: BTreeMap<Labels, (Labels, f64)> = BTreeMap::new();
    for (element, value) in results {
        let mut labels = element.clone();
        labels.remove(METRIC_NAME);
        let mut expanded: Labels = Labels::new();
        for (name, template) in rule.label_templates() {
            expanded.insert(name.clone(), template.expand(element, *value));
        }
        labels.extend(expanded);
        labels.insert(ALERT_NAME.to_string(), rule.alert.clone());
        let annotations: Labels =
            rule.annotation_templates().map(|(name, t)| (name.clone(), t.expand(element, *value))).collect();
        if current.insert(labels.clone(), (annotations, *value)).is_some() {
            return Err(StepError(format!(
                "rule {}: the expression returned {} twice after the rule's labels were applied (vector contains \
                 metrics with the same labelset after applying alert labels)",
                rule.alert,
                render_labels(&labels)
            )));
        }
    }

    let mut next = RuleState::default();
    let mut transitions = Vec::new();
    let before = |labels: &Labels| state.alerts.get(labels).map_or(AlertState::Inactive, |a| a.state);

    for (labels, (annotations, value)) in &current {
        let mut alert = match state.alerts.get(labels) {
            Some(a) if a.state != AlertState::Inactive => {
                let mut a = a.clone();
                a.value = *value;
                a.annotations = annotations.clone();
                a.keep_firing_since = None;
                a
            }
            _ => Alert {
                labels: labels.clone(),
                annotations: annotations.clone(),
                fingerprint: fingerprint(labels),
                state: AlertState::Pending,
                value: *value,
                active_at: at,
                fired_at: None,
                resolved_at: None,
                keep_firing_since: None,
            },
        };
        if alert.state == AlertState::Pending && at.saturating_sub(alert.active_at) >= rule.for_.as_millis() {
            alert.state = AlertState::Firing;
            alert.fired_at = Some(at);
        }
        next.alerts.insert(labels.clone(), alert);
    }

    for (labels, old) in &state.alerts {
        if current.contains_key(labels) {
            continue;
        }
        let mut alert = old.clone();
        let keep_firing = alert.state == AlertState::Firing && !rule.keep_firing_for.is_zero() && {
            let since = *alert.keep_firing_since.get_or_insert(at);
            at.saturating_sub(since) < rule.keep_firing_for.as_millis()
        };
        if keep_firing {
            next.alerts.insert(labels.clone(), alert);
            continue;
        }
        match alert.state {
            // A pending alert that is no longer returned is forgotten.
            AlertState::Pending => {}
            AlertState::Firing => {
                alert.state = AlertState::Inactive;
                alert.resolved_at = Some(at);
                alert.keep_firing_since = None;
                next.alerts.insert(labels.clone(), alert);
            }
            AlertState::Inactive => {
                let expired = alert.resolved_at.is_none_or(|r| at.saturating_sub(r) > RESOLVED_RETENTION_MS);
                if !expired {
                    next.alerts.insert(labels.clone(), alert);
                }
            }
        }
    }

    for (labels, alert) in &state.alerts {
        let to = next.alerts.get(labels).map_or(AlertState::Inactive, |a| a.state);
        if to != alert.state {
            transitions.push(transition(rule, alert, alert.state, to, at, next.alerts.get(labels)));
        }
    }
    for (labels, alert) in &next.alerts {
        let from = before(labels);
        if !state.alerts.contains_key(labels) && from != alert.state {
            transitions.push(transition(rule, alert, from, alert.state, at, Some(alert)));
        }
    }
    transitions.sort_by(|a, b| a.labels.cmp(&b.labels));
    Ok((next, transitions))
}

fn transition(
    rule: &AlertRule,
    old: &Alert,
    from: AlertState,
    to: AlertState,
    at: Millis,
    new: Option<&Alert>,
) -> Transition {
    let alert = new.unwrap_or(old);
    Transition {
        rule: rule.alert.clone(),
        labels: alert.labels.clone(),
        fingerprint: alert.fingerprint,
        from,
        to,
        value: alert.value,
        at,
        starts_at: alert.fired_at,
        annotations: alert.annotations.clone(),
    }
}

/// Alertmanager's fingerprint of a label set (prometheus/common `LabelSet.Fingerprint`): FNV-1a 64 over each label
/// name and value in name order, each followed by the byte 0xff. The same alert has the same fingerprint in Crane,
/// in Prometheus and in Alertmanager's webhook payload.
pub fn fingerprint(labels: &Labels) -> u64 {
    const OFFSET: u64 = 14_695_981_039_346_656_037;
    const PRIME: u64 = 1_099_511_628_211;
    let mut hash = OFFSET;
    let mut add = |bytes: &[u8]| {
        for b in bytes {
            hash ^= u64::from(*b);
            hash = hash.wrapping_mul(PRIME);
        }
    };
    for (name, value) in labels {
        add(name.as_bytes());
        add(&[0xff]);
        add(value.as_bytes());
        add(&[0xff]);
    }
    hash
}
