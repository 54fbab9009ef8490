//! Crane's policy adapter: Rego policies compiled once and evaluated many times with regorus, an embedded Rego
//! interpreter (no OPA server, no network).
//!
//! [`Regorus`] implements [`crane_core::policy::PolicyRuntime`]: it parses a policy (and its unit tests) once, checks
//! Crane's conventions (the package the policy must declare, at least one of the rules the engine reads), prepares
//! the interpreter, and hands back a [`CompiledPolicy`] the engine keeps until the policy changes. Every evaluation is
//! bounded: the input's size is checked first ([`crane_core::policy::check_input`]) and the interpreter stops after
//! [`crane_core::policy::EVAL_TIME_LIMIT_MS`]. Errors keep the line and column regorus reports, as
//! [`Diagnostic`]s.
//!
//! The shipped policies (`policies/` at the repository root) are embedded here ([`shipped`]); the engine stores
//! edits over them and returns to them on reset.
//!
//! **Architecture Invariant:** the only crate that knows regorus. The engine and the doors see the traits and types
//! of `crane_core::policy`.

mod diagnostics;
mod shipped;

use std::num::NonZeroU32;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crane_core::policy::{
    check_input, check_source_size, CompiledPolicy, PolicyError, PolicyName, PolicyRuntime, PolicySource, TestOutcome,
    EVAL_TIME_LIMIT_MS,
};
use crane_core::Diagnostic;
use serde_json::Value;

pub use diagnostics::diagnostic;
pub use shipped::{shipped, Sample, Shipped};

/// The regorus-backed [`PolicyRuntime`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Regorus;

impl PolicyRuntime for Regorus {
    fn compile(&self, source: &PolicySource) -> Result<Arc<dyn CompiledPolicy>, PolicyError> {
        Ok(Arc::new(RegoPolicy::compile(source)?))
    }
}

/// File name the policy's module is loaded as; diagnostics name it.
fn policy_file(name: PolicyName) -> String {
    format!("{name}.rego")
}

/// File name the policy's tests are loaded as.
fn tests_file(name: PolicyName) -> String {
    format!("{name}_test.rego")
}

/// A compiled policy: a prepared interpreter with the policy, its tests and its data loaded.
pub struct RegoPolicy {
    name: PolicyName,
    /// The interpreter. Evaluations take turns (one sets the input, then reads the rules); each is short and
    /// bounded in time.
    engine: Mutex<regorus::Engine>,
    /// Rule paths the engine reads (`data.crane.admission.deny`), with their short names: the policy's rules of
    /// [`PolicyName::rules`] that it declares.
    rules: Vec<(String, &'static str)>,
    /// `test_` rules, as full rule paths, in source order.
    tests: Vec<String>,
}

impl RegoPolicy {
    /// Parses, checks and prepares a policy.
    pub fn compile(source: &PolicySource) -> Result<RegoPolicy, PolicyError> {
        check_source_size(&source.rego, &source.data)?;
        if let Some(tests) = &source.tests {
            check_source_size(tests, &Value::Object(Default::default()))?;
        }
        let name = source.name;
        let mut engine = regorus::Engine::new();
        engine.set_execution_timer_config(regorus::utils::limits::ExecutionTimerConfig {
            limit: Duration::from_millis(EVAL_TIME_LIMIT_MS),
            check_interval: NonZeroU32::new(32).unwrap_or(NonZeroU32::MIN),
        });
        let file = policy_file(name);
        let package = engine
            .add_policy(file.clone(), source.rego.clone())
            .map_err(|e| PolicyError::Invalid(vec![diagnostic(&e.to_string(), &file)]))?;
        let wanted = format!("data.{}", name.package());
        if package != wanted {
            return Err(PolicyError::Invalid(vec![Diagnostic::new(
                package_line(&source.rego),
                1,
                file,
                format!(
                    "the policy declares `package {}`; the {name} policy must be `package {}`",
                    package.trim_start_matches("data."),
                    name.package()
                ),
                format!("write `package {}` at the top", name.package()),
            )]));
        }
        let mut rules = Vec::new();
        for rule in name.rules() {
            // An error here means the rule name cannot be checked, which is a bug of ours, not the policy's: treat the
            // rule as declared, so the evaluation reports what is wrong.
            if engine.has_declared_rule_rooted_at(&file, rule).unwrap_or(true) {
                rules.push((format!("{wanted}.{rule}"), *rule));
            }
        }
        if rules.is_empty() {
            let names = name.rules().iter().map(|r| format!("`{r}`")).collect::<Vec<_>>().join(" or ");
            return Err(PolicyError::Invalid(vec![Diagnostic::new(
                0,
                0,
                file,
                format!("the policy declares none of the rules Crane reads ({names})"),
                "see policies/README.md for what each policy must answer",
            )]));
        }
        let mut test_rules: Vec<String> = test_rule_names(&source.rego).map(|t| format!("{wanted}.{t}")).collect();
        if let Some(tests) = &source.tests {
            let file = tests_file(name);
            let package = engine
                .add_policy(file.clone(), tests.clone())
                .map_err(|e| PolicyError::Invalid(vec![diagnostic(&e.to_string(), &file)]))?;
            test_rules.extend(test_rule_names(tests).map(|t| format!("{package}.{t}")));
        }
        test_rules.dedup();
        engine
            .add_data(regorus::Value::from(source.data.clone()))
            .map_err(|e| PolicyError::Invalid(vec![Diagnostic::new(0, 0, "data", e.to_string(), "")]))?;
        // Preparing (the analysis of the whole module: unsafe variables, unknown functions, recursion) happens on the
        // first evaluation; do it now, so a broken policy is refused when it is saved, not when it is first asked.
        engine.set_input(regorus::Value::new_object());
        let first = rules[0].0.clone();
        match catch_unwind(AssertUnwindSafe(|| engine.eval_rule(first))) {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(PolicyError::Invalid(vec![diagnostic(&e.to_string(), &policy_file(name))])),
            Err(_) => return Err(PolicyError::Invalid(vec![panicked(name)])),
        }
        Ok(RegoPolicy { name, engine: Mutex::new(engine), rules, tests: test_rules })
    }

    /// The interpreter, even if an evaluation panicked while holding it (its state is reset by the next one).
    fn engine(&self) -> std::sync::MutexGuard<'_, regorus::Engine> {
        self.engine.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn panicked(name: PolicyName) -> Diagnostic {
    Diagnostic::new(
        0,
        0,
        policy_file(name),
        "the Rego interpreter failed on this policy",
        "simplify the rule it fails on, or reset the policy to the shipped version",
    )
}

impl CompiledPolicy for RegoPolicy {
    fn evaluate(&self, input: &Value) -> Result<Value, PolicyError> {
        check_input(input)?;
        let input = regorus::Value::from(input.clone());
        let mut engine = self.engine();
        engine.set_input(input);
        let mut answer = serde_json::Map::new();
        for (path, rule) in &self.rules {
            let value = catch_unwind(AssertUnwindSafe(|| engine.eval_rule(path.clone())))
                .map_err(|_| PolicyError::Evaluation(panicked(self.name).message))?
                .map_err(|e| {
                    PolicyError::Evaluation(diagnostic(&e.to_string(), &policy_file(self.name)).to_string())
                })?;
            if value != regorus::Value::Undefined {
                let value = serde_json::to_value(&value).map_err(|e| {
                    PolicyError::Output(format!(
                        "rule `{rule}` of {} gave a value Crane cannot read: {e}",
                        self.name.package()
                    ))
                })?;
                answer.insert((*rule).to_string(), value);
            }
        }
        Ok(Value::Object(answer))
    }

    fn run_tests(&self) -> Vec<TestOutcome> {
        let mut engine = self.engine();
        let mut outcomes = Vec::new();
        for test in &self.tests {
            // Tests bring their own input with `with input as …`, as under `opa test`.
            engine.set_input(regorus::Value::Undefined);
            let outcome = match catch_unwind(AssertUnwindSafe(|| engine.eval_rule(test.clone()))) {
                Ok(Ok(value)) => {
                    TestOutcome { name: test.clone(), passed: value == regorus::Value::Bool(true), error: None }
                }
                Ok(Err(e)) => TestOutcome {
                    name: test.clone(),
                    passed: false,
                    error: Some(diagnostic(&e.to_string(), &policy_file(self.name)).to_string()),
                },
                Err(_) => TestOutcome { name: test.clone(), passed: false, error: Some(panicked(self.name).message) },
            };
            outcomes.push(outcome);
        }
        outcomes
    }
}

/// The names of the `test_` rules a module declares: rules whose head starts a line with `test_` (the way OPA's test
/// files are written), each once, in source order.
fn test_rule_names(rego: &str) -> impl Iterator<Item = String> + '_ {
    let mut seen = std::collections::BTreeSet::new();
    rego.lines().filter_map(move |line| {
        let rest = line.strip_prefix("test_")?;
        let len = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(rest.len());
        let name = format!("test_{}", &rest[..len]);
        seen.insert(name.clone()).then_some(name)
    })
}

/// The 1-based line of the `package` statement (1 when there is none).
fn package_line(rego: &str) -> u32 {
    rego.lines().position(|l| l.trim_start().starts_with("package ")).map_or(1, |i| i as u32 + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crane_core::policy::data_document;
    use serde_json::json;

    fn source(name: PolicyName, rego: &str) -> PolicySource {
        PolicySource { name, rego: rego.to_string(), tests: None, data: data_document(name, &json!({})) }
    }

    fn invalid(name: PolicyName, rego: &str) -> Vec<Diagnostic> {
        match RegoPolicy::compile(&source(name, rego)) {
            Err(PolicyError::Invalid(d)) => d,
            Err(other) => panic!("expected an invalid policy, got {other}"),
            Ok(_) => panic!("expected an invalid policy, it compiled"),
        }
    }

    #[test]
    fn syntax_errors_carry_line_and_column() {
        let d = invalid(PolicyName::Admission, "package crane.admission\n\ndeny contains msg if {\n  msg := \n}\n");
        assert_eq!(d.len(), 1);
        // `msg := ` then `}`: regorus reads `{` after `:=`... as an unfinished set that starts at line 4, column 7.
        assert_eq!((d[0].line, d[0].column, d[0].path.as_str()), (4, 7, "admission.rego"), "{:?}", d[0]);
        assert!(!d[0].message.is_empty() && !d[0].message.contains("-->"), "{:?}", d[0]);
    }

    #[test]
    fn conventions_are_checked() {
        let d = invalid(PolicyName::Admission, "package crane.other\n\ndeny contains \"x\" if true\n");
        assert!(d[0].message.contains("must be `package crane.admission`"), "{:?}", d[0]);
        assert_eq!(d[0].line, 1);
        let d = invalid(PolicyName::Scaling, "package crane.scaling\n\nallow := true\n");
        assert!(d[0].message.contains("none of the rules Crane reads (`decision`)"), "{:?}", d[0]);
        let d = invalid(PolicyName::Admission, "package crane.admission\n\ndeny contains x if { y := 1 }\n");
        assert!(d[0].line > 0, "an unsafe variable is found when the policy is saved: {:?}", d[0]);
    }

    #[test]
    fn evaluates_declared_rules_and_leaves_undefined_ones_out() {
        let policy = RegoPolicy::compile(&source(
            PolicyName::Admission,
            "package crane.admission\n\ndeny contains \"no\" if input.spec.bad\n",
        ))
        .unwrap();
        assert_eq!(policy.evaluate(&json!({"spec": {"bad": true}})).unwrap(), json!({"deny": ["no"]}));
        assert_eq!(policy.evaluate(&json!({"spec": {}})).unwrap(), json!({"deny": []}));
        assert!(matches!(policy.evaluate(&json!([1])), Err(PolicyError::Input(_))));
        let scaling = RegoPolicy::compile(&source(
            PolicyName::Scaling,
            "package crane.scaling\n\ndecision := {\"allowed\": true, \"replicas\": input.requested, \"reason\": \"ok\"} if input.requested\n",
        ))
        .unwrap();
        assert_eq!(scaling.evaluate(&json!({})).unwrap(), json!({}));
        assert_eq!(scaling.evaluate(&json!({"requested": 3})).unwrap()["decision"]["replicas"], json!(3));
    }

    #[test]
    fn runaway_evaluation_is_stopped() {
        let policy = RegoPolicy::compile(&source(
            PolicyName::Admission,
            "package crane.admission\n\ndeny contains msg if {\n  input.spin\n  some a in numbers.range(1, 1000)\n  some b in numbers.range(1, 1000)\n  some c in numbers.range(1, 1000)\n  msg := sprintf(\"%d\", [a + b + c])\n  false\n}\n",
        ))
        .unwrap();
        let started = std::time::Instant::now();
        let err = policy.evaluate(&json!({"spin": true})).unwrap_err();
        assert!(matches!(err, PolicyError::Evaluation(_)), "{err}");
        assert!(err.to_string().contains("time limit"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(10), "the time limit stopped it: {err}");
    }

    #[test]
    fn failing_tests_are_reported_by_name() {
        let mut src = source(PolicyName::Admission, "package crane.admission\n\ndeny contains \"x\" if input.bad\n");
        src.tests = Some(
            "package crane.admission_test\n\nimport data.crane.admission\n\ntest_passes if {\n  \"x\" in admission.deny with input as {\"bad\": true}\n}\n\ntest_fails if {\n  count(admission.deny) == 1\n}\n\ntest_errs if {\n  1 / 0 == 1\n}\n"
                .to_string(),
        );
        let outcomes = RegoPolicy::compile(&src).unwrap().run_tests();
        let summary: Vec<(&str, bool)> = outcomes.iter().map(|o| (o.name.as_str(), o.passed)).collect();
        assert_eq!(
            summary,
            [
                ("data.crane.admission_test.test_passes", true),
                ("data.crane.admission_test.test_fails", false),
                ("data.crane.admission_test.test_errs", false)
            ]
        );
    }

    #[test]
    fn test_rules_are_found_at_the_start_of_lines() {
        let names: Vec<String> =
            test_rule_names("test_a if true\n  test_nested\ntest_b := true\ntest_a if false\nx := 1\n").collect();
        assert_eq!(names, ["test_a", "test_b"]);
    }
}
