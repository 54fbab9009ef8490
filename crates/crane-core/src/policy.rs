//! Policies as code: the names of Crane's three policies, the input documents the engine gives them, the data
//! document they read, and the pure decoding of what a policy answered into a typed decision.
//!
//! A policy is Rego (see `policies/README.md` at the repository root). The Rego engine is an adapter (crate
//! `crane-policy`, implementing [`PolicyRuntime`]); this module only holds the contract, so the engine, the doors and
//! the tests agree on it without an interpreter:
//!
//! - `crane.admission` answers `deny` and `warn`, each a set of message strings, for an [`AdmissionInput`].
//! - `crane.scaling` answers `decision` = `{"allowed": bool, "replicas": n, "reason": "…"}` for a [`ScalingInput`].
//! - `crane.alerts` answers `decision` = `{"action": "…", "reason": "…", "step"?: n, "cooldown"?: "2m"}` for an
//!   [`AlertInput`].
//!
//! What a policy answers is checked here ([`AdmissionDecision::from_output`], [`ScalingDecision::from_output`],
//! [`AlertDecision::from_output`]): a wrong type or an unknown action is an error naming the rule and what was
//! expected, never a guess.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::error::Diagnostic;
use crate::spec::AppSpec;
use crate::units::{Bytes, Duration};

/// Largest policy source (Rego) Crane accepts: 128 KiB.
pub const MAX_POLICY_BYTES: usize = 128 * 1024;
/// Largest data document of one policy (JSON): 64 KiB.
pub const MAX_POLICY_DATA_BYTES: usize = 64 * 1024;
/// Largest input document given to one evaluation (JSON): 1 MiB (an admission input holds up to two specs of at
/// most 256 KiB each).
pub const MAX_POLICY_INPUT_BYTES: usize = 1024 * 1024;
/// How long one evaluation (or one unit test) may run before the interpreter stops it.
pub const EVAL_TIME_LIMIT_MS: u64 = 250;
/// Most messages taken from one `deny` or `warn` set, and the longest message (longer ones are cut).
pub const MAX_MESSAGES: usize = 100;
/// Longest message or reason taken from a policy, in bytes.
pub const MAX_MESSAGE_BYTES: usize = 1024;

/// One of Crane's policies. The set is closed: each has a package, rules the engine reads, and a place where the
/// engine consults it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PolicyName {
    /// Admits or denies every create, update, scale and undo (`crane.admission`: `deny`, `warn`).
    Admission,
    /// Bounds every change of a replica count: manual scale, apply, autoscaler, alert actions (`crane.scaling`:
    /// `decision`).
    Scaling,
    /// Decides what an alert does (`crane.alerts`: `decision`).
    Alerts,
}

impl PolicyName {
    /// Every policy, in the order doors list them.
    pub const ALL: [PolicyName; 3] = [PolicyName::Admission, PolicyName::Scaling, PolicyName::Alerts];
    /// The names doors use, in the order of [`PolicyName::ALL`].
    pub const NAMES: &'static [&'static str] = &["admission", "scaling", "alerts"];

    /// The name doors use (`admission`).
    pub fn as_str(self) -> &'static str {
        match self {
            PolicyName::Admission => "admission",
            PolicyName::Scaling => "scaling",
            PolicyName::Alerts => "alerts",
        }
    }

    /// The policy a door names, if any.
    pub fn from_name(name: &str) -> Option<PolicyName> {
        PolicyName::ALL.into_iter().find(|p| p.as_str() == name)
    }

    /// The Rego package the policy must declare (`crane.admission`).
    pub fn package(self) -> &'static str {
        match self {
            PolicyName::Admission => "crane.admission",
            PolicyName::Scaling => "crane.scaling",
            PolicyName::Alerts => "crane.alerts",
        }
    }

    /// The rules of the package the engine reads; a policy must declare at least one of them.
    pub fn rules(self) -> &'static [&'static str] {
        match self {
            PolicyName::Admission => &["deny", "warn"],
            PolicyName::Scaling | PolicyName::Alerts => &["decision"],
        }
    }

    /// The names a door accepts, for messages ("admission, scaling, alerts").
    pub fn names() -> String {
        PolicyName::ALL.map(PolicyName::as_str).join(", ")
    }
}

impl fmt::Display for PolicyName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The data document every policy reads: `data.crane.defaults` (Crane's built-in limits, from [`crate::safety`] and
/// [`crate::validate`], so a policy never keeps its own copy) and `data.crane.config.<policy>` (the policy's own
/// settings, which an admin edits next to the Rego).
pub fn data_document(name: PolicyName, config: &Value) -> Value {
    json!({
        "crane": {
            "defaults": {
                "memory": Bytes::new(crate::safety::DEFAULT_MEMORY_BYTES).to_string(),
                "memory_bytes": crate::safety::DEFAULT_MEMORY_BYTES,
                "cpu": crate::safety::DEFAULT_CPU,
                "pids": crate::safety::DEFAULT_PIDS,
                "allowed_capabilities": crate::safety::ALLOWED_CAPABILITIES,
                "max_replicas": crate::validate::MAX_REPLICAS,
            },
            "config": { name.as_str(): config },
        }
    })
}

/// What a change asks of the admission policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AdmissionAction {
    /// An apply that creates the app.
    Create,
    /// An apply to an existing app.
    Update,
    /// A change of the replica count (`scale`).
    Scale,
    /// A return to an earlier revision.
    Undo,
}

impl AdmissionAction {
    /// The word in the input document.
    pub fn as_str(self) -> &'static str {
        match self {
            AdmissionAction::Create => "create",
            AdmissionAction::Update => "update",
            AdmissionAction::Scale => "scale",
            AdmissionAction::Undo => "undo",
        }
    }
}

/// The input document of `crane.admission`: `{"action", "spec", "current", "user", "door"}`. `spec` and `current`
/// are specs with the field names of the YAML (`resources.memory`, `security.addCapabilities`); `current` is null
/// for a create.
#[derive(Debug, Clone, Serialize)]
pub struct AdmissionInput<'a> {
    /// What is asked.
    pub action: AdmissionAction,
    /// The spec as it would be stored.
    pub spec: &'a AppSpec,
    /// The app's spec now, or null for a new app.
    pub current: Option<&'a AppSpec>,
    /// Who asks.
    pub user: &'a str,
    /// Through which door (`window`, `rest`, `cli`, `lab`, `engine`).
    pub door: &'a str,
    /// The engine settings the safety floor applied (`settings.host_path_allow`, `settings.allow_unsafe`), so the
    /// policy's default allow-list is the one an admin set for the engine.
    pub settings: EngineSettings<'a>,
    /// The image scan of `spec.image` (create, update, undo): `{"status": "scanned", "counts", "findings": [{"id",
    /// "package", "installed", "fixed", "severity", …}], …}`, or `{"status": "not_local" | "unavailable" |
    /// "failed", "reason"}`; left out when the engine did not scan (scale). Written by the engine's scanner.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scan: Option<&'a Value>,
}

/// The engine settings an admission input carries.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct EngineSettings<'a> {
    /// Host directories specs may bind-mount (read-only), as the engine's `hostPathAllow` setting says.
    pub host_path_allow: &'a [String],
    /// Whether the safety floor is off.
    pub allow_unsafe: bool,
}

impl AdmissionInput<'_> {
    /// The document as JSON.
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// What the admission policy decided: denied when `deny` has a message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AdmissionDecision {
    /// Why the change is refused, one sentence each naming the fix; empty when admitted.
    pub deny: Vec<String>,
    /// Remarks shown with an admitted change.
    pub warn: Vec<String>,
}

impl AdmissionDecision {
    /// Whether the change may go on.
    pub fn admitted(&self) -> bool {
        self.deny.is_empty()
    }

    /// Reads the answer of `crane.admission` (`{"deny": [...], "warn": [...]}`, either may be missing).
    pub fn from_output(output: &Value) -> Result<AdmissionDecision, PolicyError> {
        Ok(AdmissionDecision { deny: messages(output, "deny")?, warn: messages(output, "warn")? })
    }
}

/// A set of message strings (a Rego set arrives as an array), sorted, bounded in count and length.
fn messages(output: &Value, rule: &str) -> Result<Vec<String>, PolicyError> {
    let wrong = |what: &str| {
        PolicyError::Output(format!(
            "rule `{rule}` of crane.admission must be a set of message strings (`{rule} contains msg if {{ … }}`); \
             it gave {what}"
        ))
    };
    match output.get(rule) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => {
            let mut out = Vec::new();
            for item in items.iter().take(MAX_MESSAGES) {
                match item {
                    Value::String(text) => out.push(crate::text::truncate(text, MAX_MESSAGE_BYTES).to_string()),
                    other => return Err(wrong(&format!("an element {}", kind(other)))),
                }
            }
            out.sort();
            out.dedup();
            Ok(out)
        }
        Some(other) => Err(wrong(&kind(other))),
    }
}

/// A JSON value's kind and a short view of it, for messages.
fn kind(value: &Value) -> String {
    let text = value.to_string();
    let short = crate::text::truncate(&text, 60);
    let name = match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    };
    format!("{name} ({short})")
}

/// Where a replica change comes from, in the scaling policy's input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScaleSource {
    /// `scale` by a person (any door).
    Manual,
    /// An apply that changes `replicas` (or creates the app).
    Apply,
    /// The autoscaler.
    Autoscaler,
    /// An alert's action.
    Alert,
}

impl ScaleSource {
    /// The word in the input document.
    pub fn as_str(self) -> &'static str {
        match self {
            ScaleSource::Manual => "manual",
            ScaleSource::Apply => "apply",
            ScaleSource::Autoscaler => "autoscaler",
            ScaleSource::Alert => "alert",
        }
    }
}

/// The app's autoscaling bounds, in the scaling policy's input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScalingBounds {
    /// `autoscaling.min`.
    pub min: u32,
    /// `autoscaling.max`.
    pub max: u32,
}

/// The input document of `crane.scaling`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScalingInput {
    /// App name.
    pub app: String,
    /// Who asks for the change.
    pub source: ScaleSource,
    /// Replicas now (0 for a new app).
    pub current: u32,
    /// Replicas asked for.
    pub requested: u32,
    /// The app's autoscaling bounds, when it has `autoscaling`.
    pub autoscaling: Option<ScalingBounds>,
    /// Who asks (`engine`'s admin for the autoscaler).
    pub user: String,
    /// Through which door.
    pub door: String,
}

/// What the scaling policy decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScalingDecision {
    /// Whether the replica count may change at all.
    pub allowed: bool,
    /// The count to set (the request, or the request clamped into the policy's bounds).
    pub replicas: u32,
    /// Why, one sentence.
    pub reason: String,
}

impl ScalingDecision {
    /// Whether the policy changed the count asked for.
    pub fn clamped(&self, requested: u32) -> bool {
        self.allowed && self.replicas != requested
    }

    /// Reads the answer of `crane.scaling`: `decision` = `{"allowed": bool, "replicas": n, "reason": "…"}`.
    /// `replicas` may be left out of a refusal (it is then `current`); it must lie in
    /// 0..=[`crate::validate::MAX_REPLICAS`].
    pub fn from_output(output: &Value, current: u32) -> Result<ScalingDecision, PolicyError> {
        let decision = decision_object(output, PolicyName::Scaling)?;
        let allowed = match decision.get("allowed") {
            Some(Value::Bool(b)) => *b,
            None => return Err(field_error(PolicyName::Scaling, "allowed", "a boolean", "nothing")),
            Some(other) => return Err(field_error(PolicyName::Scaling, "allowed", "a boolean", &kind(other))),
        };
        let max = crate::validate::MAX_REPLICAS;
        let replicas = match decision.get("replicas") {
            None | Some(Value::Null) if !allowed => current,
            Some(Value::Number(n)) => match n.as_u64() {
                Some(n) if n <= u64::from(max) => n as u32,
                _ => {
                    return Err(field_error(
                        PolicyName::Scaling,
                        "replicas",
                        &format!("a whole number from 0 to {max}"),
                        &kind(&Value::Number(n.clone())),
                    ))
                }
            },
            None | Some(Value::Null) => {
                return Err(field_error(PolicyName::Scaling, "replicas", "a whole number", "nothing"))
            }
            Some(other) => return Err(field_error(PolicyName::Scaling, "replicas", "a whole number", &kind(other))),
        };
        let reason = reason(decision, PolicyName::Scaling)?;
        Ok(ScalingDecision { allowed, replicas, reason })
    }
}

/// The `decision` object of a policy's answer.
fn decision_object(output: &Value, policy: PolicyName) -> Result<&serde_json::Map<String, Value>, PolicyError> {
    match output.get("decision") {
        Some(Value::Object(map)) => Ok(map),
        None | Some(Value::Null) => Err(PolicyError::Output(format!(
            "{} gave no `decision` for this input (the rule is undefined); give it a value for every input, e.g. \
             with `default decision := {{…}}`",
            policy.package()
        ))),
        Some(other) => Err(PolicyError::Output(format!(
            "`decision` of {} must be an object; it gave {}",
            policy.package(),
            kind(other)
        ))),
    }
}

fn field_error(policy: PolicyName, field: &str, expected: &str, got: &str) -> PolicyError {
    PolicyError::Output(format!("`decision.{field}` of {} must be {expected}; it gave {got}", policy.package()))
}

/// `decision.reason`: a string, cut to [`MAX_MESSAGE_BYTES`].
fn reason(decision: &serde_json::Map<String, Value>, policy: PolicyName) -> Result<String, PolicyError> {
    match decision.get("reason") {
        Some(Value::String(text)) => Ok(crate::text::truncate(text, MAX_MESSAGE_BYTES).to_string()),
        None => Err(field_error(policy, "reason", "a sentence (string)", "nothing")),
        Some(other) => Err(field_error(policy, "reason", "a sentence (string)", &kind(other))),
    }
}

/// Whether an alert fires or has resolved (each alert's own status, as Alertmanager sends it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertStatus {
    /// The alert fires.
    Firing,
    /// The alert has resolved.
    Resolved,
}

/// What an alert makes Crane do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertAction {
    /// Add `step` replicas (bounded by the scaling policy).
    ScaleUp,
    /// Remove `step` replicas (bounded by the scaling policy).
    ScaleDown,
    /// Replace the app's instances.
    Restart,
    /// Return to the previous revision.
    Rollback,
    /// Scale the app to zero.
    Stop,
    /// Only record the alert.
    Notify,
    /// Do nothing.
    None,
}

impl AlertAction {
    /// Every action, in declaration order.
    pub const ALL: [AlertAction; 7] = [
        AlertAction::ScaleUp,
        AlertAction::ScaleDown,
        AlertAction::Restart,
        AlertAction::Rollback,
        AlertAction::Stop,
        AlertAction::Notify,
        AlertAction::None,
    ];

    /// The spellings (in policy answers and rule files), in the order of [`AlertAction::ALL`].
    pub const NAMES: &'static [&'static str] =
        &["scale_up", "scale_down", "restart", "rollback", "stop", "notify", "none"];

    /// The word a policy answers and a rule file uses.
    pub fn as_str(self) -> &'static str {
        Self::NAMES[self as usize]
    }

    /// The action a policy spells `word`, if any.
    pub fn from_name(word: &str) -> Option<AlertAction> {
        AlertAction::ALL.into_iter().find(|a| a.as_str() == word)
    }
}

/// An action Crane took for an app recently, in the alerts policy's input (so a policy can keep a cooldown).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecentAction {
    /// What was done.
    pub action: AlertAction,
    /// The alert that asked for it.
    pub alert: String,
    /// How long ago, in seconds.
    pub seconds_ago: u64,
}

/// The input document of `crane.alerts`: one alert (Alertmanager sends each with its own status).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertInput {
    /// The alert's name (`alertname`).
    pub alert: String,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// Its `severity` label (`""` when it has none).
    pub severity: String,
    /// Firing or resolved.
    pub status: AlertStatus,
    /// The app it is about (its `app` label), if any.
    pub app: Option<String>,
    /// The app's replica count now (0 when there is no such app).
    pub replicas: u32,
    /// Actions Crane took for this app recently, newest first.
    pub recent_actions: Vec<RecentAction>,
}

/// What the alerts policy decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertDecision {
    /// What to do.
    pub action: AlertAction,
    /// Why, one sentence.
    pub reason: String,
    /// Replicas to add or remove (scale actions; 1 when the policy names none).
    pub step: Option<u32>,
    /// How long the same action for the same app should wait after this one.
    pub cooldown: Option<Duration>,
}

/// Most replicas one alert action may add or remove.
pub const MAX_ALERT_STEP: u32 = 10;

impl AlertDecision {
    /// Reads the answer of `crane.alerts`: `decision` = `{"action", "reason", "step"?, "cooldown"?}`.
    pub fn from_output(output: &Value) -> Result<AlertDecision, PolicyError> {
        let decision = decision_object(output, PolicyName::Alerts)?;
        let names = AlertAction::ALL.map(AlertAction::as_str).join(", ");
        let action = match decision.get("action") {
            Some(Value::String(word)) => AlertAction::from_name(word).ok_or_else(|| {
                PolicyError::Output(format!(
                    "`decision.action` of crane.alerts is `{}`, which is not an action Crane knows; use one of {names}",
                    crate::text::truncate(word, 60)
                ))
            })?,
            None => return Err(field_error(PolicyName::Alerts, "action", &format!("one of {names}"), "nothing")),
            Some(other) => {
                return Err(field_error(PolicyName::Alerts, "action", &format!("one of {names}"), &kind(other)))
            }
        };
        let reason = reason(decision, PolicyName::Alerts)?;
        let step = match decision.get("step") {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) => match n.as_u64() {
                Some(n @ 1..) if n <= u64::from(MAX_ALERT_STEP) => Some(n as u32),
                _ => {
                    return Err(field_error(
                        PolicyName::Alerts,
                        "step",
                        &format!("a whole number from 1 to {MAX_ALERT_STEP}"),
                        &kind(&Value::Number(n.clone())),
                    ))
                }
            },
            Some(other) => {
                return Err(field_error(
                    PolicyName::Alerts,
                    "step",
                    &format!("a whole number from 1 to {MAX_ALERT_STEP}"),
                    &kind(other),
                ))
            }
        };
        let cooldown = match decision.get("cooldown") {
            None | Some(Value::Null) => None,
            Some(Value::String(text)) => Some(crate::units::parse_duration(text).map_err(|e| {
                field_error(
                    PolicyName::Alerts,
                    "cooldown",
                    "a duration such as `2m` or `90s`",
                    &format!("`{text}` ({e})"),
                )
            })?),
            Some(other) => {
                return Err(field_error(
                    PolicyName::Alerts,
                    "cooldown",
                    "a duration such as `2m` or `90s`",
                    &kind(other),
                ))
            }
        };
        Ok(AlertDecision { action, reason, step, cooldown })
    }
}

/// Everything a policy (and its unit tests) is made from.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicySource {
    /// Which policy.
    pub name: PolicyName,
    /// The Rego module of package [`PolicyName::package`].
    pub rego: String,
    /// Rego unit tests loaded next to it (the shipped `<name>_test.rego`), if any.
    pub tests: Option<String>,
    /// The whole data document ([`data_document`]).
    pub data: Value,
}

/// One `test_` rule's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestOutcome {
    /// The rule's full name (`data.crane.admission_test.test_privileged_denied`).
    pub name: String,
    /// Whether it was true.
    pub passed: bool,
    /// Why it failed, when it did not merely evaluate to false or undefined.
    pub error: Option<String>,
}

/// Why a policy cannot be used or could not decide.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// The policy does not compile, or breaks the conventions (package, rules, size); every problem with its line
    /// and column.
    #[error("the policy is invalid: {}", crate::error::render(.0).trim_start())]
    Invalid(Vec<Diagnostic>),
    /// The policy failed while evaluating this input (a runtime error, or the time limit).
    #[error("the policy failed on this input: {0}")]
    Evaluation(String),
    /// The policy answered something Crane cannot act on (a wrong type, an unknown action).
    #[error("{0}")]
    Output(String),
    /// The input document is larger than [`MAX_POLICY_INPUT_BYTES`] or not an object.
    #[error("{0}")]
    Input(String),
}

/// Compiles policies: the port the Rego adapter implements.
pub trait PolicyRuntime: Send + Sync + 'static {
    /// Parses and prepares a policy once, checking the conventions (its package, at least one of its rules, sizes).
    /// The result is evaluated many times.
    fn compile(&self, source: &PolicySource) -> Result<Arc<dyn CompiledPolicy>, PolicyError>;
}

/// A compiled policy, ready to evaluate many inputs (from several threads).
pub trait CompiledPolicy: Send + Sync + 'static {
    /// Evaluates the policy's rules ([`PolicyName::rules`]) for `input` and answers them as an object
    /// `{rule: value}`; a rule that is undefined for this input is left out. Bounded by [`EVAL_TIME_LIMIT_MS`].
    fn evaluate(&self, input: &Value) -> Result<Value, PolicyError>;
    /// Runs every `test_` rule of the policy and of its tests, in source order.
    fn run_tests(&self) -> Vec<TestOutcome>;
}

/// Checks an input document before evaluation: an object of at most [`MAX_POLICY_INPUT_BYTES`] as JSON text.
pub fn check_input(input: &Value) -> Result<(), PolicyError> {
    if !input.is_object() {
        return Err(PolicyError::Input(format!(
            "the input document must be a JSON object; got {}; see policies/samples for examples",
            kind(input)
        )));
    }
    let size = serde_json::to_vec(input).map(|v| v.len()).unwrap_or(usize::MAX);
    if size > MAX_POLICY_INPUT_BYTES {
        return Err(PolicyError::Input(format!(
            "the input document is {size} bytes; at most {MAX_POLICY_INPUT_BYTES} (1 MiB) are evaluated"
        )));
    }
    Ok(())
}

/// Checks a policy's sizes before it is compiled, naming the cap.
pub fn check_source_size(rego: &str, data: &Value) -> Result<(), PolicyError> {
    let mut problems = Vec::new();
    if rego.len() > MAX_POLICY_BYTES {
        problems.push(Diagnostic::new(
            0,
            0,
            "rego",
            format!("the policy is {} bytes; a policy may be at most {MAX_POLICY_BYTES} bytes (128 KiB)", rego.len()),
            "move settings into the data document, or split the logic",
        ));
    }
    let data_size = serde_json::to_vec(data).map(|v| v.len()).unwrap_or(usize::MAX);
    if data_size > MAX_POLICY_DATA_BYTES {
        problems.push(Diagnostic::new(
            0,
            0,
            "data",
            format!("the data document is {data_size} bytes; it may be at most {MAX_POLICY_DATA_BYTES} bytes (64 KiB)"),
            "keep only settings in it",
        ));
    }
    if !data.is_object() {
        problems.push(Diagnostic::new(
            0,
            0,
            "data",
            format!("the data document must be a JSON object; got {}", kind(data)),
            "write it as an object, e.g. {\"allowed_images\": [\"crane-demo\"]}",
        ));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(PolicyError::Invalid(problems))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admission_answers() {
        let check = |output: Value| AdmissionDecision::from_output(&output).map_err(|e| e.to_string());
        assert_eq!(check(json!({})), Ok(AdmissionDecision::default()));
        assert_eq!(
            check(json!({"deny": ["b", "a", "a"], "warn": ["w"]})),
            Ok(AdmissionDecision { deny: vec!["a".into(), "b".into()], warn: vec!["w".into()] })
        );
        assert!(check(json!({"deny": "no"})).unwrap_err().contains("must be a set of message strings"));
        assert!(check(json!({"warn": [1]})).unwrap_err().contains("an element a number (1)"));
        let long = "x".repeat(5000);
        assert_eq!(check(json!({"deny": [long]})).unwrap().deny[0].len(), MAX_MESSAGE_BYTES);
    }

    #[test]
    fn scaling_answers() {
        let check = |output: Value| ScalingDecision::from_output(&output, 2).map_err(|e| e.to_string());
        let clamped = check(json!({"decision": {"allowed": true, "replicas": 20, "reason": "max 20"}})).unwrap();
        assert!(clamped.clamped(30));
        assert_eq!(clamped.replicas, 20);
        let refused = check(json!({"decision": {"allowed": false, "reason": "frozen"}})).unwrap();
        assert_eq!((refused.allowed, refused.replicas), (false, 2));
        assert!(check(json!({})).unwrap_err().contains("gave no `decision`"));
        assert!(check(json!({"decision": 3})).unwrap_err().contains("must be an object"));
        assert!(check(json!({"decision": {"allowed": "yes", "replicas": 1, "reason": ""}}))
            .unwrap_err()
            .contains("`decision.allowed` of crane.scaling must be a boolean; it gave a string"));
        assert!(check(json!({"decision": {"allowed": true, "replicas": 101, "reason": ""}}))
            .unwrap_err()
            .contains("from 0 to 100"));
        assert!(check(json!({"decision": {"allowed": true, "replicas": -1, "reason": ""}})).is_err());
        assert!(check(json!({"decision": {"allowed": true, "replicas": 1.5, "reason": ""}})).is_err());
        assert!(check(json!({"decision": {"allowed": true, "replicas": 1}})).unwrap_err().contains("reason"));
    }

    #[test]
    fn alert_answers() {
        let check = |output: Value| AlertDecision::from_output(&output).map_err(|e| e.to_string());
        let d = check(json!({"decision": {"action": "scale_up", "reason": "r", "step": 2, "cooldown": "2m"}})).unwrap();
        assert_eq!(d.action, AlertAction::ScaleUp);
        assert_eq!(d.step, Some(2));
        assert_eq!(d.cooldown.map(|c| c.as_millis()), Some(120_000));
        assert_eq!(check(json!({"decision": {"action": "none", "reason": ""}})).unwrap().step, None);
        let err = check(json!({"decision": {"action": "explode", "reason": ""}})).unwrap_err();
        assert!(err.contains("`explode`, which is not an action Crane knows; use one of scale_up,"), "{err}");
        assert!(check(json!({"decision": {"action": 1, "reason": ""}})).unwrap_err().contains("a number"));
        assert!(check(json!({"decision": {"action": "notify", "reason": "", "step": 0}})).is_err());
        assert!(check(json!({"decision": {"action": "notify", "reason": "", "step": 11}})).is_err());
        let err = check(json!({"decision": {"action": "notify", "reason": "", "cooldown": "soon"}})).unwrap_err();
        assert!(err.contains("cooldown"), "{err}");
        for action in AlertAction::ALL {
            assert_eq!(AlertAction::from_name(action.as_str()), Some(action));
            assert_eq!(serde_json::to_value(action).unwrap(), json!(action.as_str()));
        }
    }

    #[test]
    fn names_and_inputs() {
        for name in PolicyName::ALL {
            assert_eq!(PolicyName::from_name(name.as_str()), Some(name));
            assert_eq!(name.package(), format!("crane.{name}"));
        }
        assert_eq!(PolicyName::from_name("nope"), None);
        for (i, action) in AlertAction::ALL.into_iter().enumerate() {
            assert_eq!((action as usize, AlertAction::from_name(action.as_str())), (i, Some(action)));
        }
        let spec: AppSpec = serde_norway::from_str("name: w\nimage: x\nresources: {memory: 128Mi}\n").unwrap();
        let input = AdmissionInput {
            action: AdmissionAction::Create,
            spec: &spec,
            current: None,
            user: "admin",
            door: "cli",
            settings: Default::default(),
            scan: None,
        };
        assert_eq!(
            input.to_value(),
            json!({"action": "create", "spec": {"name": "w", "image": "x", "replicas": 1,
                   "resources": {"memory": "128Mi"}}, "current": null, "user": "admin", "door": "cli",
                   "settings": {"host_path_allow": [], "allow_unsafe": false}})
        );
        let data = data_document(PolicyName::Scaling, &json!({"max_replicas": 5}));
        assert_eq!(data["crane"]["config"]["scaling"]["max_replicas"], 5);
        assert_eq!(data["crane"]["defaults"]["memory"], "512Mi");
        assert!(check_input(&json!([])).is_err());
        assert!(check_input(&json!({"a": "x".repeat(MAX_POLICY_INPUT_BYTES)})).is_err());
        assert!(check_source_size("package x", &json!([])).is_err());
        assert!(check_source_size(&"#".repeat(MAX_POLICY_BYTES + 1), &json!({})).is_err());
        assert!(check_source_size("package x", &json!({})).is_ok());
    }
}
