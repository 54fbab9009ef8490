//! Alert rules and Crane's built-in evaluator: the pure part.
//!
//! - [`parse_rule_file`]: a Prometheus rule file (`groups: [{name, interval, rules: [{alert, expr, for,
//!   keep_firing_for, labels, annotations}]}]`) plus Crane's `firing_action`/`resolved_action`, with every problem
//!   reported at once, each with line and column; every `expr` is parsed with `promql-parser` and must be in the
//!   subset of [`query`] (anything else is refused with the reason).
//! - [`evaluate`]: one expression at one instant over a [`SeriesSource`], with Prometheus' semantics
//!   ([`eval`]), bounded by [`Limits`].
//! - [`step`]: a rule's alerts from one evaluation to the next (pending → firing → resolved), as Prometheus'
//!   alerting rule does ([`state`]), with the transitions the engine records and acts on.
//! - [`to_prometheus_rule_file`]: the rules as a file `promtool check rules` accepts.
//!
//! docs/alerts.md describes the format and the subset for users.

pub mod eval;
pub mod notify;
pub mod query;
pub mod rules;
pub mod state;
pub mod template;

#[cfg(test)]
mod tests;

pub use eval::{evaluate, evaluate_with, EvalError, Labels, Limits, Series, SeriesSource, LOOKBACK_MS};
pub use query::{parse_query, Expr, LabelMatcher, MatchOp, QueryError};
pub use rules::{
    parse_rule_file, AlertAction, AlertRule, RuleFile, RuleGroup, ACTION_COOLDOWN_ANNOTATION, FIRING_ACTION_ANNOTATION,
    MAX_ACTION_COOLDOWN, MAX_RULES, MAX_RULE_FILE_BYTES, RESOLVED_ACTION_ANNOTATION,
};
pub use state::{fingerprint, step, Alert, AlertState, RuleState, StepError, Transition, RESOLVED_RETENTION_MS};

use serde::Serialize;
use std::collections::BTreeMap;

use crate::units::format_prometheus_duration;

/// The rules shipped with Crane (`assets/alerts/default.rules.yml`), over the metrics Crane exposes on `/metrics`.
pub const DEFAULT_RULES: &str = include_str!("../../../assets/alerts/default.rules.yml");

#[derive(Serialize)]
struct ExportFile<'a> {
    groups: Vec<ExportGroup<'a>>,
}

#[derive(Serialize)]
struct ExportGroup<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    interval: Option<String>,
    rules: Vec<ExportRule<'a>>,
}

#[derive(Serialize)]
struct ExportRule<'a> {
    alert: &'a str,
    expr: &'a str,
    #[serde(rename = "for", skip_serializing_if = "Option::is_none")]
    for_: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    keep_firing_for: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    labels: &'a BTreeMap<String, String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    annotations: BTreeMap<String, String>,
}

/// The rules as a Prometheus rule file that `promtool check rules` accepts. Crane's extension fields are not part of
/// Prometheus' format, so `firing_action`, `resolved_action` and `action_cooldown` travel as the
/// annotations [`FIRING_ACTION_ANNOTATION`], [`RESOLVED_ACTION_ANNOTATION`] and [`ACTION_COOLDOWN_ANNOTATION`]: Prometheus passes them on to Alertmanager (and
/// so to Crane's webhook), and [`parse_rule_file`] reads them back as the extension fields, so export and import
/// round-trip. Durations are written in Prometheus' canonical form.
pub fn to_prometheus_rule_file(file: &RuleFile) -> String {
    let prom_duration = |d: crate::units::Duration| (!d.is_zero()).then(|| format_prometheus_duration(d));
    let export = ExportFile {
        groups: file
            .groups
            .iter()
            .map(|g| ExportGroup {
                name: &g.name,
                interval: g.interval.map(format_prometheus_duration),
                rules: g
                    .rules
                    .iter()
                    .map(|r| {
                        let mut annotations = r.annotations.clone();
                        for (key, action) in [
                            (FIRING_ACTION_ANNOTATION, r.firing_action),
                            (RESOLVED_ACTION_ANNOTATION, r.resolved_action),
                        ] {
                            if let Some(a) = action {
                                annotations.insert(key.to_string(), a.as_str().to_string());
                            }
                        }
                        if let Some(c) = r.action_cooldown {
                            annotations.insert(ACTION_COOLDOWN_ANNOTATION.to_string(), format_prometheus_duration(c));
                        }
                        ExportRule {
                            alert: &r.alert,
                            expr: &r.expr,
                            for_: prom_duration(r.for_),
                            keep_firing_for: prom_duration(r.keep_firing_for),
                            labels: &r.labels,
                            annotations,
                        }
                    })
                    .collect(),
            })
            .collect(),
    };
    // Plain structs of strings and maps always serialize; the fallback keeps the function total.
    serde_norway::to_string(&export).unwrap_or_else(|e| format!("# the rules could not be rendered: {e}\n"))
}
