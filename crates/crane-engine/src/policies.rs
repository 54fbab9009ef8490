//! The running policy set and where the engine consults it: admission before every create, update, scale and undo;
//! the scaling policy before every replica change (manual, apply, autoscaler); the alerts policy for an alert. And
//! the management of policies every door offers: list, get, validate, set, reset, evaluate, test.
//!
//! Each policy is compiled once when it is loaded or changed ([`Policies`]) and evaluated on a blocking thread, bounded
//! in input size and time by the adapter. The running set is never broken: an edit is compiled, tested and tried on
//! the shipped sample inputs before it is stored and swapped in; a stored edit that no longer compiles at start is
//! replaced by the shipped version with a `policy.failed` event.
//!
//! A policy named in the `opa_policies` setting is decided by the OPA server at `opa_url` instead ([`decide`]; the
//! Rego shown and edited here is then the embedded fallback, not what runs).
//!
//! **Architecture Invariant:** admission fails closed. A policy that cannot decide (runtime error, time limit, an
//! answer of the wrong type) refuses the change with `policy_failed`; the autoscaler holds.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use crane_api::{EventKind, PolicyEvalRequest, PolicyEvalResult, PolicyTestReport, PolicyTestResult, PolicyUpdate};
use crane_api::{PolicyValidation, PolicyView};
use crane_core::model::Millis;
use crane_core::policy::{
    data_document, AdmissionAction, AdmissionDecision, AdmissionInput, AlertDecision, AlertInput, CompiledPolicy,
    PolicyError, PolicyName, PolicyRuntime, PolicySource, ScaleSource, ScalingBounds, ScalingDecision, ScalingInput,
};
use crane_core::ports::StoredPolicy;
use crane_core::spec::AppSpec;
use serde_json::{json, Value};

use crate::clock::LockExt;
use crate::{internal, EngineError, EngineHandle, Inner, Result};

/// One policy as it runs.
#[derive(Clone)]
pub(crate) struct Running {
    /// The compiled policy.
    pub compiled: Arc<dyn CompiledPolicy>,
    /// Its Rego source.
    pub rego: String,
    /// Its settings (`data.crane.config.<name>`), an object.
    pub config: Value,
    /// When and by whom it was edited; `None` for the shipped version.
    pub edited: Option<(Millis, String)>,
}

/// The running policy set.
pub(crate) struct Policies {
    runtime: Arc<dyn PolicyRuntime>,
    running: Mutex<BTreeMap<PolicyName, Running>>,
    /// When the scaling policy last held the autoscaler of each app (so a hold is logged every 30 s, not every round).
    holds: Mutex<BTreeMap<String, Millis>>,
    /// Serialises edits (store write + swap), so two saves cannot interleave.
    writes: tokio::sync::Mutex<()>,
}

impl Policies {
    /// The shipped policies, compiled (the shipped policies' tests in `crane-policy` prove they compile).
    pub(crate) fn shipped(runtime: Arc<dyn PolicyRuntime>) -> Policies {
        let running = PolicyName::ALL
            .into_iter()
            .map(|name| {
                let shipped = crane_policy::shipped(name);
                let compiled = runtime
                    .compile(&PolicySource {
                        name,
                        rego: shipped.rego.to_string(),
                        tests: None,
                        data: data_document(name, &json!({})),
                    })
                    .unwrap_or_else(|e| panic!("the shipped {name} policy does not compile: {e}"));
                (name, Running { compiled, rego: shipped.rego.to_string(), config: json!({}), edited: None })
            })
            .collect();
        Policies {
            runtime,
            running: Mutex::new(running),
            holds: Mutex::new(BTreeMap::new()),
            writes: tokio::sync::Mutex::new(()),
        }
    }

    /// The running version of a policy.
    pub(crate) fn get(&self, name: PolicyName) -> Running {
        self.running.locked().get(&name).cloned().expect("every policy is always in the running set")
    }

    fn set(&self, name: PolicyName, running: Running) {
        self.running.locked().insert(name, running);
    }

    /// Compiles a policy to run (its own `test_` rules, if any, come along; the shipped tests do not: see
    /// [`Policies::tests`]).
    fn compile(
        &self,
        name: PolicyName,
        rego: &str,
        config: &Value,
    ) -> std::result::Result<Arc<dyn CompiledPolicy>, PolicyError> {
        self.runtime.compile(&PolicySource {
            name,
            rego: rego.to_string(),
            tests: None,
            data: data_document(name, config),
        })
    }

    /// Runs a policy's unit tests. The shipped Rego is tested with the shipped tests, under the shipped (empty)
    /// settings: they test its logic, and an admin's settings are just other inputs. An edited Rego brings its own
    /// `test_` rules, run as compiled.
    fn tests(
        &self,
        name: PolicyName,
        rego: &str,
        compiled: &Arc<dyn CompiledPolicy>,
    ) -> std::result::Result<Vec<crane_core::policy::TestOutcome>, PolicyError> {
        if rego == crane_policy::shipped(name).rego {
            Ok(compile_shipped(self.runtime.as_ref(), name)?.run_tests())
        } else {
            Ok(compiled.run_tests())
        }
    }
}

fn compile_shipped(
    runtime: &dyn PolicyRuntime,
    name: PolicyName,
) -> std::result::Result<Arc<dyn CompiledPolicy>, PolicyError> {
    let shipped = crane_policy::shipped(name);
    runtime.compile(&PolicySource {
        name,
        rego: shipped.rego.to_string(),
        tests: Some(shipped.tests.to_string()),
        data: data_document(name, &json!({})),
    })
}

/// The wire name of a policy.
pub(crate) fn wire_name(name: PolicyName) -> crane_api::PolicyName {
    match name {
        PolicyName::Admission => crane_api::PolicyName::Admission,
        PolicyName::Scaling => crane_api::PolicyName::Scaling,
        PolicyName::Alerts => crane_api::PolicyName::Alerts,
    }
}

/// The core name of a wire policy name.
pub fn core_name(name: crane_api::PolicyName) -> PolicyName {
    match name {
        crane_api::PolicyName::Admission => PolicyName::Admission,
        crane_api::PolicyName::Scaling => PolicyName::Scaling,
        crane_api::PolicyName::Alerts => PolicyName::Alerts,
    }
}

/// The policy a door names (`admission`), or `NotFound`-like `BadRequest` naming the policies there are.
pub fn parse_name(name: &str) -> Result<crane_api::PolicyName> {
    PolicyName::from_name(name).map(wire_name).ok_or_else(|| {
        EngineError::PolicyNotFound(format!("no policy named '{name}'; the policies are {}", PolicyName::names()))
    })
}

/// Evaluates a compiled policy. A decision is evaluated in place: it takes tens of microseconds (`make bench`) and
/// the adapter stops it after [`crane_core::policy::EVAL_TIME_LIMIT_MS`]; handing it to a blocking thread would cost
/// more than the evaluation and let a paused test clock jump while it runs. Compiling and testing (management) run
/// on blocking threads.
fn evaluate(compiled: &dyn CompiledPolicy, input: &Value) -> std::result::Result<Value, PolicyError> {
    compiled.evaluate(input)
}

/// A running policy's answer for `input`: the OPA server's when `opa_policies` names the policy (see [`crate::opa`]),
/// else the embedded Rego's.
pub(crate) async fn decide(inner: &Inner, name: PolicyName, input: &Value) -> std::result::Result<Value, PolicyError> {
    let opa = inner.remote.locked().opa_for(wire_name(name)).map(str::to_string);
    match opa {
        Some(base) => crate::opa::decide(&base, name, input).await,
        None => evaluate(inner.policies.get(name).compiled.as_ref(), input),
    }
}

/// The error a door gets when a policy could not decide, naming the fix.
fn failed(name: PolicyName, error: &PolicyError) -> EngineError {
    EngineError::PolicyFailed(format!(
        "the {name} policy could not decide, so nothing was changed: {error}; fix it (`cranectl policy get {name}`, \
         `cranectl policy set {name} -f FILE`) or return to the shipped version (`cranectl policy reset {name}`)"
    ))
}

/// Asks the scaling policy about a replica change. A refusal is an `Ok` decision with `allowed: false`; `Err` when
/// the policy fails, with the error a door reports and the event to record (the caller decides whether to record it:
/// the autoscaler asks every round and must not repeat the same failure every 2 s).
pub(crate) async fn scaling(
    inner: &Inner,
    input: &ScalingInput,
) -> std::result::Result<ScalingDecision, ScalingFailure> {
    let name = PolicyName::Scaling;
    let value = serde_json::to_value(input).unwrap_or(Value::Null);
    decide(inner, name, &value).await.and_then(|output| ScalingDecision::from_output(&output, input.current)).map_err(
        |error| ScalingFailure {
            error: failed(name, &error),
            reason: format!("the scaling policy could not decide about app '{}': {error}; the count stays", input.app),
            details: json!({"policy": name, "input": value, "error": error.to_string()}),
        },
    )
}

/// A scaling policy that could not decide: the error for the door, and the `policy.failed` event's reason and details.
pub(crate) struct ScalingFailure {
    error: EngineError,
    reason: String,
    details: Value,
}

impl ScalingFailure {
    /// Records the `policy.failed` event and gives the door's error.
    pub(crate) async fn record(self, inner: &Inner, app: &str) -> EngineError {
        crate::run::record(inner, Some(app), None, EventKind::PolicyFailed, self.reason, self.details).await;
        self.error
    }
}

/// Whether a hold of an app's autoscaler by the scaling policy is due for the log (at most every 30 s per app).
fn hold_due(inner: &Inner, app: &str) -> bool {
    let now = inner.now();
    let mut holds = inner.policies.holds.locked();
    if holds.get(app).is_some_and(|at| now.saturating_sub(*at) < HOLD_LOG_EVERY_MS) {
        return false;
    }
    holds.insert(app.to_string(), now);
    true
}

/// The scaling policy's bounds applied to an autoscaler decision: the count to set, or `None` to hold (the policy
/// refused or failed). Clamps and refusals are recorded.
pub(crate) async fn bound_autoscaler(inner: &Inner, spec: &AppSpec, desired: u32) -> Option<u32> {
    let input = ScalingInput {
        app: spec.name.clone(),
        source: ScaleSource::Autoscaler,
        current: spec.replicas,
        requested: desired,
        autoscaling: spec.autoscaling.as_ref().map(|a| ScalingBounds { min: a.min, max: a.max }),
        user: crate::Caller::ADMIN.to_string(),
        door: door_word(crane_api::Door::Engine),
    };
    let decision = match scaling(inner, &input).await {
        Ok(decision) => decision,
        Err(failure) => {
            if hold_due(inner, &spec.name) {
                failure.record(inner, &spec.name).await;
            }
            return None;
        }
    };
    if decision.allowed && decision.replicas == desired {
        return Some(desired);
    }
    let (kind, outcome) = if decision.allowed {
        (EventKind::PolicyClamped, decision.replicas)
    } else {
        (EventKind::PolicyDenied, spec.replicas)
    };
    // A hold every round would flood the log: a hold is logged again after 30 s; a clamped change every time.
    if outcome == spec.replicas && !hold_due(inner, &spec.name) {
        return None;
    }
    let reason = format!("autoscaler asked {} → {desired} for app '{}': {}", spec.replicas, spec.name, decision.reason);
    crate::run::record(
        inner,
        Some(&spec.name),
        None,
        kind,
        reason,
        json!({"policy": PolicyName::Scaling, "input": input, "allowed": decision.allowed, "replicas": decision.replicas}),
    )
    .await;
    (outcome != spec.replicas).then_some(outcome)
}

/// How often a hold of the autoscaler by the scaling policy is logged again.
const HOLD_LOG_EVERY_MS: Millis = 30_000;

/// The word a policy input uses for a door (`window`, `rest`, `cli`, `lab`, `engine`).
pub(crate) fn door_word(door: crane_api::Door) -> String {
    serde_json::to_value(door).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
}

impl EngineHandle {
    /// Asks the admission policy about a change. A denial is `policy_denied` carrying the policy's messages (and a
    /// `policy.denied` event); warnings come back for the caller to show (and are recorded by it once the change is
    /// made).
    pub(crate) async fn admit(
        &self,
        action: AdmissionAction,
        spec: &AppSpec,
        current: Option<&AppSpec>,
    ) -> Result<Vec<String>> {
        let name = PolicyName::Admission;
        let door = door_word(self.caller().door);
        let settings = self.settings().await?;
        // The deploy gate: the image is scanned (once per image id and advisory database) before it may run.
        let scan = match action {
            AdmissionAction::Scale => None,
            _ => {
                let mut scan = self.admission_scan(&spec.image).await;
                if scan.get("status").and_then(Value::as_str) == Some("not_local") {
                    // The gate scans what will run: an image that is not here yet is pulled first (the start would
                    // pull it anyway), then scanned, so a pulled image never runs unscanned.
                    self.image_present(&spec.image).await?;
                    scan = self.admission_scan(&spec.image).await;
                }
                Some(scan)
            }
        };
        let input = AdmissionInput {
            action,
            spec,
            current,
            user: &self.caller().user,
            door: &door,
            settings: crane_core::policy::EngineSettings {
                host_path_allow: &settings.host_path_allow,
                allow_unsafe: settings.allow_unsafe,
            },
            scan: scan.as_ref(),
        }
        .to_value();
        let outcome =
            decide(&self.inner, name, &input).await.and_then(|output| AdmissionDecision::from_output(&output));
        let app = spec.name.as_str();
        let decision = match outcome {
            Ok(decision) => decision,
            Err(error) => {
                self.record(
                    Some(app),
                    None,
                    EventKind::PolicyFailed,
                    format!(
                        "the admission policy could not decide about the {} of app '{app}': {error}; refused",
                        action.as_str()
                    ),
                    json!({"policy": name, "input": input, "error": error.to_string()}),
                )
                .await;
                return Err(failed(name, &error));
            }
        };
        if !decision.admitted() {
            self.record(
                Some(app),
                None,
                EventKind::PolicyDenied,
                format!(
                    "the admission policy denied the {} of app '{app}' by {}: {}",
                    action.as_str(),
                    self.caller().user,
                    decision.deny.join("; ")
                ),
                json!({"policy": name, "input": input, "deny": decision.deny, "warn": decision.warn}),
            )
            .await;
            return Err(EngineError::PolicyDenied { policy: wire_name(name), messages: decision.deny });
        }
        Ok(decision.warn)
    }

    /// Records the warnings an admitted change got.
    pub(crate) async fn record_warnings(&self, app: &str, action: AdmissionAction, warnings: &[String]) {
        if warnings.is_empty() {
            return;
        }
        self.record(
            Some(app),
            None,
            EventKind::PolicyWarned,
            format!(
                "the admission policy admitted the {} of app '{app}' with warnings: {}",
                action.as_str(),
                warnings.join("; ")
            ),
            json!({"policy": PolicyName::Admission, "action": action.as_str(), "user": self.caller().user,
                   "door": self.caller().door, "warn": warnings}),
        )
        .await;
    }

    /// Asks the scaling policy about a replica change a person asked for (scale, or an apply that changes
    /// `replicas`): the count to set and, when the policy changed it, why. A refusal is `policy_denied`.
    pub(crate) async fn bound_replicas(
        &self,
        source: ScaleSource,
        spec: &AppSpec,
        current: u32,
    ) -> Result<(u32, Option<String>)> {
        let input = ScalingInput {
            app: spec.name.clone(),
            source,
            current,
            requested: spec.replicas,
            autoscaling: spec.autoscaling.as_ref().map(|a| ScalingBounds { min: a.min, max: a.max }),
            user: self.caller().user.clone(),
            door: door_word(self.caller().door),
        };
        let decision = match scaling(&self.inner, &input).await {
            Ok(decision) => decision,
            Err(failure) => return Err(failure.record(&self.inner, &spec.name).await),
        };
        let details = json!({"policy": PolicyName::Scaling, "input": input, "allowed": decision.allowed, "replicas": decision.replicas});
        if !decision.allowed {
            self.record(
                Some(&spec.name),
                None,
                EventKind::PolicyDenied,
                format!(
                    "the scaling policy refused {current} → {} for app '{}': {}",
                    spec.replicas, spec.name, decision.reason
                ),
                details,
            )
            .await;
            return Err(EngineError::PolicyDenied {
                policy: wire_name(PolicyName::Scaling),
                messages: vec![decision.reason],
            });
        }
        if decision.replicas == spec.replicas {
            return Ok((decision.replicas, None));
        }
        self.record(Some(&spec.name), None, EventKind::PolicyClamped, decision.reason.clone(), details).await;
        Ok((decision.replicas, Some(decision.reason)))
    }

    /// What the alerts policy decides for one alert (the input documented in `policies/README.md`). The caller
    /// carries the action out (bounded by the scaling policy) and records the chain.
    pub async fn decide_alert(&self, input: &AlertInput) -> Result<AlertDecision> {
        let name = PolicyName::Alerts;
        let value = serde_json::to_value(input).unwrap_or(Value::Null);
        decide(&self.inner, name, &value)
            .await
            .and_then(|output| AlertDecision::from_output(&output))
            .map_err(|error| failed(name, &error))
    }

    /// Loads the stored policy edits over the shipped versions (at start). An edit that no longer compiles is left
    /// in the store but not run: the shipped version runs, and a `policy.failed` event says why.
    pub(crate) async fn load_policies(&self) -> Result<()> {
        let stored = self.inner.store.list_policies().await.map_err(internal)?;
        for row in stored {
            let Some(name) = PolicyName::from_name(&row.name) else { continue };
            let config = serde_json::from_str::<Value>(&row.data).unwrap_or(Value::Null);
            match self.inner.policies.compile(name, &row.rego, &config) {
                Ok(compiled) => self.inner.policies.set(
                    name,
                    Running { compiled, rego: row.rego, config, edited: Some((row.updated_at, row.updated_by)) },
                ),
                Err(error) => {
                    self.record(
                        None,
                        None,
                        EventKind::PolicyFailed,
                        format!(
                            "the stored {name} policy cannot be loaded ({error}); the shipped version runs until it is \
                             fixed or reset"
                        ),
                        json!({"policy": name, "error": error.to_string()}),
                    )
                    .await;
                }
            }
        }
        Ok(())
    }

    /// Every policy as it runs.
    pub async fn list_policies(&self) -> Result<Vec<PolicyView>> {
        Ok(PolicyName::ALL.into_iter().map(|name| self.policy_view(name)).collect())
    }

    /// One policy as it runs.
    pub async fn get_policy(&self, name: crane_api::PolicyName) -> Result<PolicyView> {
        Ok(self.policy_view(core_name(name)))
    }

    fn policy_view(&self, name: PolicyName) -> PolicyView {
        let running = self.inner.policies.get(name);
        let shipped = crane_policy::shipped(name);
        PolicyView {
            name: wire_name(name),
            package: name.package().to_string(),
            rules: name.rules().iter().map(|r| r.to_string()).collect(),
            rego: running.rego,
            data: running.config,
            shipped: running.edited.is_none(),
            updated_at: running.edited.as_ref().map(|(at, _)| crate::views::rfc3339(*at)),
            updated_by: running.edited.map(|(_, by)| by),
            sample_input: serde_json::from_str(shipped.samples[0].json).unwrap_or(Value::Null),
            opa_url: self.inner.remote.locked().opa_for(wire_name(name)).map(str::to_string),
        }
    }

    /// The policy an update would make: the running one with the update's parts replaced.
    fn draft(&self, name: PolicyName, rego: Option<String>, data: Option<Value>) -> (String, Value) {
        let running = self.inner.policies.get(name);
        (rego.unwrap_or(running.rego), data.unwrap_or(running.config))
    }

    /// Checks a policy the way saving it does, without saving: it compiles and follows the conventions, its own
    /// `test_` rules pass, and each shipped sample input gives a decision Crane can act on.
    pub async fn validate_policy(&self, name: crane_api::PolicyName, update: PolicyUpdate) -> Result<PolicyValidation> {
        let name = core_name(name);
        let (rego, config) = self.draft(name, update.rego, update.data);
        let inner = self.inner.clone();
        let (validation, _) = tokio::task::spawn_blocking(move || check(&inner.policies, name, &rego, &config))
            .await
            .map_err(|e| EngineError::Internal(format!("validating the policy failed: {e}")))?;
        Ok(validation)
    }

    /// Saves a policy edit (admin only): it is checked like [`EngineHandle::validate_policy`], refused with
    /// `invalid_policy` and every problem when it fails, else stored and swapped in for the next decision. An edit
    /// equal to the shipped version is a reset.
    pub async fn set_policy(&self, name: crane_api::PolicyName, update: PolicyUpdate) -> Result<PolicyView> {
        let target = core_name(name).as_str();
        self.audited(crane_api::AuditAction::PolicyChange, None, Some(target), self.set_policy_now(name, update)).await
    }

    async fn set_policy_now(&self, name: crane_api::PolicyName, update: PolicyUpdate) -> Result<PolicyView> {
        self.authorize(crate::Permission::ManagePolicies, None).await?;
        let name = core_name(name);
        let _guard = self.inner.policies.writes.lock().await;
        let (rego, config) = self.draft(name, update.rego, update.data);
        if rego == crane_policy::shipped(name).rego && config == json!({}) {
            return self.reset_locked(name).await;
        }
        let inner = self.inner.clone();
        let (checked_rego, checked_config) = (rego.clone(), config.clone());
        let (validation, compiled) =
            tokio::task::spawn_blocking(move || check(&inner.policies, name, &checked_rego, &checked_config))
                .await
                .map_err(|e| EngineError::Internal(format!("validating the policy failed: {e}")))?;
        let compiled = match compiled {
            Some(compiled) if validation.valid => compiled,
            _ => return Err(EngineError::InvalidPolicy(validation.diagnostics)),
        };
        let now = self.inner.now();
        let user = self.caller().user.clone();
        let row = StoredPolicy {
            name: name.as_str().to_string(),
            rego: rego.clone(),
            data: config.to_string(),
            updated_at: now,
            updated_by: user.clone(),
        };
        // Stored first: a policy that runs is always one the next start loads.
        self.inner.store.put_policy(&row).await.map_err(internal)?;
        self.inner
            .policies
            .set(name, Running { compiled, rego, config: config.clone(), edited: Some((now, user.clone())) });
        self.record(
            None,
            None,
            EventKind::PolicyChanged,
            format!("the {name} policy was changed by {user} through the {}; it decides from now on", door_word(self.caller().door)),
            json!({"policy": name, "user": user, "door": self.caller().door, "shipped": false, "rego_bytes": row.rego.len(),
                   "data": config, "tests": validation.tests.len()}),
        )
        .await;
        Ok(self.policy_view(name))
    }

    /// Returns a policy to the version Crane ships (admin only).
    pub async fn reset_policy(&self, name: crane_api::PolicyName) -> Result<PolicyView> {
        let target = core_name(name).as_str();
        self.audited(crane_api::AuditAction::PolicyReset, None, Some(target), async {
            self.authorize(crate::Permission::ManagePolicies, None).await?;
            let _guard = self.inner.policies.writes.lock().await;
            self.reset_locked(core_name(name)).await
        })
        .await
    }

    async fn reset_locked(&self, name: PolicyName) -> Result<PolicyView> {
        self.inner.store.delete_policy(name.as_str()).await.map_err(internal)?;
        let shipped = crane_policy::shipped(name);
        let compiled = self
            .inner
            .policies
            .compile(name, shipped.rego, &json!({}))
            .map_err(|e| EngineError::Internal(format!("the shipped {name} policy does not compile: {e}")))?;
        self.inner
            .policies
            .set(name, Running { compiled, rego: shipped.rego.to_string(), config: json!({}), edited: None });
        let user = self.caller().user.clone();
        self.record(
            None,
            None,
            EventKind::PolicyChanged,
            format!("the {name} policy was reset to the shipped version by {user}"),
            json!({"policy": name, "user": user, "door": self.caller().door, "shipped": true}),
        )
        .await;
        Ok(self.policy_view(name))
    }

    /// Evaluates a policy (the running one, or a draft when the request carries Rego or data; nothing is saved)
    /// against an input, and says what Crane would read from the answer.
    pub async fn eval_policy(
        &self,
        name: crane_api::PolicyName,
        request: PolicyEvalRequest,
    ) -> Result<PolicyEvalResult> {
        let name = core_name(name);
        crane_core::policy::check_input(&request.input).map_err(|e| EngineError::BadRequest(e.to_string()))?;
        let compiled = if request.rego.is_some() || request.data.is_some() {
            let (rego, config) = self.draft(name, request.rego, request.data);
            let inner = self.inner.clone();
            tokio::task::spawn_blocking(move || inner.policies.compile(name, &rego, &config))
                .await
                .map_err(|e| EngineError::Internal(format!("compiling the draft failed: {e}")))?
                .map_err(invalid)?
        } else {
            self.inner.policies.get(name).compiled
        };
        let input = request.input;
        let started = std::time::Instant::now();
        let output = evaluate(compiled.as_ref(), &input).map_err(|e| match e {
            PolicyError::Input(message) => EngineError::BadRequest(message),
            other => failed(name, &other),
        })?;
        let duration_us = started.elapsed().as_secs_f64() * 1e6;
        let (summary, problem) = match summarize(name, &output, &input) {
            Ok(summary) => (summary, None),
            Err(problem) => (format!("Crane cannot act on this answer: {problem}"), Some(problem.to_string())),
        };
        Ok(PolicyEvalResult { name: wire_name(name), output, valid: problem.is_none(), summary, problem, duration_us })
    }

    /// Runs every running policy's Rego unit tests (the shipped tests for shipped policies, a policy's own `test_`
    /// rules for an edited one).
    pub async fn test_policies(&self) -> Result<PolicyTestReport> {
        let inner = self.inner.clone();
        let results = tokio::task::spawn_blocking(move || {
            let mut results = Vec::new();
            for name in PolicyName::ALL {
                let running = inner.policies.get(name);
                match inner.policies.tests(name, &running.rego, &running.compiled) {
                    Ok(outcomes) => results.extend(outcomes.into_iter().map(|o| test_result(name, o))),
                    Err(error) => results.push(PolicyTestResult {
                        policy: wire_name(name),
                        name: format!("{name}_test.rego"),
                        passed: false,
                        error: Some(error.to_string()),
                    }),
                }
            }
            results
        })
        .await
        .map_err(|e| EngineError::Internal(format!("running the policy tests failed: {e}")))?;
        let passed = results.iter().filter(|r| r.passed).count() as u32;
        Ok(PolicyTestReport { failed: results.len() as u32 - passed, passed, results })
    }
}

fn test_result(name: PolicyName, outcome: crane_core::policy::TestOutcome) -> PolicyTestResult {
    PolicyTestResult { policy: wire_name(name), name: outcome.name, passed: outcome.passed, error: outcome.error }
}

/// The `invalid_policy` error of a compile failure.
fn invalid(error: PolicyError) -> EngineError {
    match error {
        PolicyError::Invalid(diagnostics) => {
            EngineError::InvalidPolicy(diagnostics.into_iter().map(wire_diagnostic).collect())
        }
        other => EngineError::InvalidPolicy(vec![crane_api::Diagnostic {
            line: 0,
            column: 0,
            path: String::new(),
            message: other.to_string(),
            fix: "correct the policy".to_string(),
        }]),
    }
}

fn wire_diagnostic(d: crane_core::Diagnostic) -> crane_api::Diagnostic {
    crane_api::Diagnostic { line: d.line, column: d.column, path: d.path, message: d.message, fix: d.fix }
}

/// What saving a policy checks (on a blocking thread): compile, the policy's tests, a decision for every shipped
/// sample input. Gives the compiled policy when it compiled.
fn check(
    policies: &Policies,
    name: PolicyName,
    rego: &str,
    config: &Value,
) -> (PolicyValidation, Option<Arc<dyn CompiledPolicy>>) {
    let compiled = match policies.compile(name, rego, config) {
        Ok(compiled) => compiled,
        Err(error) => {
            let EngineError::InvalidPolicy(diagnostics) = invalid(error) else {
                unreachable!("invalid gives InvalidPolicy")
            };
            return (PolicyValidation { valid: false, diagnostics, tests: Vec::new() }, None);
        }
    };
    let mut diagnostics = Vec::new();
    let tests: Vec<PolicyTestResult> = match policies.tests(name, rego, &compiled) {
        Ok(outcomes) => outcomes.into_iter().map(|o| test_result(name, o)).collect(),
        Err(error) => {
            diagnostics.push(crane_api::Diagnostic {
                line: 0,
                column: 0,
                path: format!("{name}_test.rego"),
                message: format!("the tests do not compile: {error}"),
                fix: "correct the tests".to_string(),
            });
            Vec::new()
        }
    };
    for test in tests.iter().filter(|t| !t.passed) {
        diagnostics.push(crane_api::Diagnostic {
            line: 0,
            column: 0,
            path: test.name.clone(),
            message: format!(
                "test {} failed{}",
                test.name,
                test.error.as_ref().map(|e| format!(": {e}")).unwrap_or_default()
            ),
            fix: "correct the policy or the test".to_string(),
        });
    }
    for sample in crane_policy::shipped(name).samples {
        let input: Value = serde_json::from_str(sample.json).unwrap_or(Value::Null);
        let outcome = compiled.evaluate(&input).and_then(|output| summarize(name, &output, &input));
        if let Err(error) = outcome {
            diagnostics.push(crane_api::Diagnostic {
                line: 0,
                column: 0,
                path: format!("samples/{}", sample.file),
                message: format!("on the sample input policies/samples/{}: {error}", sample.file),
                fix: "make the policy answer what policies/README.md describes for every input".to_string(),
            });
        }
    }
    (PolicyValidation { valid: diagnostics.is_empty(), diagnostics, tests }, Some(compiled))
}

/// The decision Crane reads from a policy's answer, in one sentence; an error when it cannot act on it.
fn summarize(name: PolicyName, output: &Value, input: &Value) -> std::result::Result<String, PolicyError> {
    Ok(match name {
        PolicyName::Admission => {
            let d = AdmissionDecision::from_output(output)?;
            match (d.admitted(), d.warn.len()) {
                (false, _) => format!("denied: {}", d.deny.join("; ")),
                (true, 0) => "admitted".to_string(),
                (true, n) => format!("admitted with {n} warning(s): {}", d.warn.join("; ")),
            }
        }
        PolicyName::Scaling => {
            let current = input.get("current").and_then(Value::as_u64).unwrap_or(0).min(u64::from(u32::MAX)) as u32;
            let requested = input.get("requested").and_then(Value::as_u64);
            let d = ScalingDecision::from_output(output, current)?;
            match (d.allowed, requested) {
                (false, _) => format!("refused: {}", d.reason),
                (true, Some(r)) if r != u64::from(d.replicas) => format!("clamped to {}: {}", d.replicas, d.reason),
                (true, _) => format!("allowed, {} replicas: {}", d.replicas, d.reason),
            }
        }
        PolicyName::Alerts => {
            let d = AlertDecision::from_output(output)?;
            let mut text = format!("{}: {}", d.action.as_str(), d.reason);
            if let Some(step) = d.step {
                text.push_str(&format!(" (step {step})"));
            }
            if let Some(cooldown) = d.cooldown {
                text.push_str(&format!(" (cooldown {cooldown})"));
            }
            text
        }
    })
}
