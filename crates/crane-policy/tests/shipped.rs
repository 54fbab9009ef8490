//! The shipped policies' Rego unit tests run in `make test`: each policy is loaded with its `<name>_test.rego` and
//! every `test_` rule must be true. A failure names the rule. The sample inputs must give decisions Crane can act on.

use crane_core::policy::{
    data_document, AdmissionDecision, AlertAction, AlertDecision, PolicyName, PolicyRuntime, PolicySource,
    ScalingDecision, ScalingInput,
};
use crane_policy::{shipped, Regorus};
use serde_json::{json, Value};

fn compile(name: PolicyName, with_tests: bool) -> std::sync::Arc<dyn crane_core::policy::CompiledPolicy> {
    let shipped = shipped(name);
    let source = PolicySource {
        name,
        rego: shipped.rego.to_string(),
        tests: with_tests.then(|| shipped.tests.to_string()),
        data: data_document(name, &json!({})),
    };
    Regorus.compile(&source).unwrap_or_else(|e| panic!("the shipped {name} policy does not compile: {e}"))
}

#[test]
fn every_shipped_rego_unit_test_passes() {
    for name in PolicyName::ALL {
        let outcomes = compile(name, true).run_tests();
        assert!(outcomes.len() >= 5, "{name}: too few tests found: {outcomes:?}");
        let failed: Vec<String> = outcomes
            .iter()
            .filter(|o| !o.passed)
            .map(|o| format!("{} ({})", o.name, o.error.as_deref().unwrap_or("false or undefined")))
            .collect();
        assert!(failed.is_empty(), "{name}: failing Rego tests: {}", failed.join("; "));
    }
}

fn sample(name: PolicyName, index: usize) -> Value {
    serde_json::from_str(shipped(name).samples[index].json).expect("samples are JSON")
}

#[test]
fn samples_give_decisions() {
    let admission = compile(PolicyName::Admission, false);
    let clean =
        AdmissionDecision::from_output(&admission.evaluate(&sample(PolicyName::Admission, 0)).unwrap()).unwrap();
    assert_eq!(clean, AdmissionDecision::default());
    let bad = AdmissionDecision::from_output(&admission.evaluate(&sample(PolicyName::Admission, 1)).unwrap()).unwrap();
    assert_eq!(bad.deny.len(), 3, "privileged, host path, capability: {:?}", bad.deny);
    for start in [
        "privileged containers are not allowed: remove `security.privileged: true`",
        "volumes[0]: host path \"/srv/www\" is not allowed: use a named volume",
        "capability \"NET_ADMIN\" is not allowed: remove it from `security.addCapabilities`",
    ] {
        assert!(bad.deny.iter().any(|m| m.starts_with(start)), "no denial starting {start:?}: {:?}", bad.deny);
    }
    assert!(bad.warn.iter().any(|w| w.contains("`latest`")), "{:?}", bad.warn);
    let vulnerable =
        AdmissionDecision::from_output(&admission.evaluate(&sample(PolicyName::Admission, 2)).unwrap()).unwrap();
    assert_eq!(
        vulnerable.deny,
        ["image \"crane-demo:vulnerable\" has CRITICAL vulnerability DSA-3032-1 in package bash 4.2+dfsg-0.1: upgrade \
          bash to 4.2+dfsg-0.1+deb7u1 or later (rebuild the image on an updated base), or ask an admin to add \
          DSA-3032-1 to scan.ignore or raise scan.deny_severity in the admission policy's data"]
    );

    let scaling = compile(PolicyName::Scaling, false);
    let input = sample(PolicyName::Scaling, 0);
    let typed: ScalingInput = serde_json::from_value(input.clone()).unwrap();
    let d = ScalingDecision::from_output(&scaling.evaluate(&input).unwrap(), typed.current).unwrap();
    assert!(d.clamped(50));
    assert_eq!(d.replicas, 20);

    let alerts = compile(PolicyName::Alerts, false);
    let d = AlertDecision::from_output(&alerts.evaluate(&sample(PolicyName::Alerts, 0)).unwrap()).unwrap();
    assert_eq!((d.action, d.step), (AlertAction::ScaleUp, Some(1)));
    let d = AlertDecision::from_output(&alerts.evaluate(&sample(PolicyName::Alerts, 1)).unwrap()).unwrap();
    assert_eq!(d.action, AlertAction::ScaleDown);
}
