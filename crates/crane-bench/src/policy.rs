//! `crane-bench policy` (`docs/bench/policy.json`): how long a policy decision takes with the shipped policies, as
//! the engine makes it (typed input → JSON → compiled regorus policy → typed decision), p50/p99 over 10,000
//! evaluations after a warm-up. No OPA server is available on this machine (Debian packages none), so the OPA REST
//! round trip the issue suggests for comparison is not measured; the table says so.

use std::path::Path;
use std::time::Instant;

use crane_core::policy::{
    data_document, AdmissionAction, AdmissionDecision, AdmissionInput, CompiledPolicy, PolicyName, PolicyRuntime,
    PolicySource, ScaleSource, ScalingDecision, ScalingInput,
};
use crane_policy::{shipped, Regorus};

/// Evaluations measured per decision.
const EVALUATIONS: usize = 10_000;
/// Evaluations before measuring (allocator and caches warm).
const WARM_UP: usize = 500;

fn compile(name: PolicyName) -> std::sync::Arc<dyn CompiledPolicy> {
    let source = PolicySource {
        name,
        rego: shipped(name).rego.to_string(),
        tests: None,
        data: data_document(name, &serde_json::json!({})),
    };
    Regorus.compile(&source).expect("the shipped policies compile")
}

/// The machine's 1-minute load average when the bench ran (the tail of a sub-millisecond measure depends on it).
fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg").ok()?.split_whitespace().next()?.parse().ok()
}

/// p50 and p99 in microseconds of `EVALUATIONS` runs of `decide`.
fn measure(mut decide: impl FnMut(usize)) -> (f64, f64, Vec<f64>) {
    for i in 0..WARM_UP {
        decide(i);
    }
    let mut micros = Vec::with_capacity(EVALUATIONS);
    for i in 0..EVALUATIONS {
        let started = Instant::now();
        decide(i);
        micros.push(started.elapsed().as_secs_f64() * 1e6);
    }
    let mut sorted = micros.clone();
    sorted.sort_by(|a, b| a.partial_cmp(b).unwrap());
    (crate::percentile(&sorted, 0.5), crate::percentile(&sorted, 0.99), sorted)
}

pub async fn run() {
    // Two specs in turn: one the shipped admission policy admits cleanly, one it denies three times and warns about.
    let clean: crane_core::spec::AppSpec = serde_norway::from_str(
        "name: web\nimage: crane-demo:0.1.0\nreplicas: 2\nports: [{container: 8080}]\nresources: {memory: 128Mi, cpu: 0.5}\nsecurity: {user: '1000'}\n",
    )
    .unwrap();
    let bad: crane_core::spec::AppSpec = serde_norway::from_str(
        "name: web\nimage: nginx:latest\nvolumes: [{source: /srv/www, target: /www}]\nsecurity: {privileged: true, addCapabilities: [NET_ADMIN]}\n",
    )
    .unwrap();
    let admission = compile(PolicyName::Admission);
    let started = Instant::now();
    let _ = compile(PolicyName::Admission);
    let compile_ms = started.elapsed().as_secs_f64() * 1e3;
    let (adm_p50, adm_p99, sorted) = measure(|i| {
        let spec = if i % 2 == 0 { &clean } else { &bad };
        let input = AdmissionInput {
            action: AdmissionAction::Create,
            spec,
            current: None,
            user: "admin",
            door: "cli",
            settings: Default::default(),
            scan: None,
        };
        let output = admission.evaluate(&input.to_value()).expect("evaluates");
        let decision = AdmissionDecision::from_output(&output).expect("decodes");
        assert_eq!(decision.admitted(), i % 2 == 0);
    });

    let clean_only = measure(|_| {
        let input = AdmissionInput {
            action: AdmissionAction::Create,
            spec: &clean,
            current: None,
            user: "admin",
            door: "cli",
            settings: Default::default(),
            scan: None,
        };
        admission.evaluate(&input.to_value()).expect("evaluates");
    });
    let bad_only = measure(|_| {
        let input = AdmissionInput {
            action: AdmissionAction::Create,
            spec: &bad,
            current: None,
            user: "admin",
            door: "cli",
            settings: Default::default(),
            scan: None,
        };
        admission.evaluate(&input.to_value()).expect("evaluates");
    });
    let adm_max = sorted.last().copied().unwrap_or(f64::NAN);
    let scaling = compile(PolicyName::Scaling);
    let (sc_p50, sc_p99, _) = measure(|i| {
        let input = ScalingInput {
            app: "web".into(),
            source: ScaleSource::Autoscaler,
            current: 3,
            requested: (i % 40) as u32,
            autoscaling: None,
            user: "admin".into(),
            door: "engine".into(),
        };
        let output = scaling.evaluate(&serde_json::to_value(&input).unwrap()).expect("evaluates");
        let decision = ScalingDecision::from_output(&output, input.current).expect("decodes");
        assert!(decision.replicas <= 20);
    });

    println!();
    println!("| Measure | Result | Target |");
    println!("|---|---|---|");
    println!(
        "| admission decision, shipped policy (embedded regorus), {EVALUATIONS} evaluations | p50 {adm_p50:.0} µs, p99 {adm_p99:.0} µs | p99 ≤ 1000 µs |"
    );
    println!(
        "| … of which an admitted spec / a denied spec (3 denials, 3 warnings) | p99 {:.0} µs / p99 {:.0} µs | — |",
        clean_only.1, bad_only.1
    );
    println!(
        "| scaling decision, shipped policy, {EVALUATIONS} evaluations | p50 {sc_p50:.0} µs, p99 {sc_p99:.0} µs | — |"
    );
    println!("| machine load average (1 min) during the run | {:.2} | — |", load_average().unwrap_or(f64::NAN));
    println!("| compile the admission policy (once per change) | {compile_ms:.1} ms | — |");
    println!("| admission through an OPA server's REST API | not measured: no OPA server available here (Debian ships none) | — |");
    let json = serde_json::json!({
        "evaluations": EVALUATIONS,
        "admission_us": {"p50": adm_p50, "p99": adm_p99, "max": adm_max},
        "admission_admitted_us": {"p50": clean_only.0, "p99": clean_only.1},
        "admission_denied_us": {"p50": bad_only.0, "p99": bad_only.1},
        "load_average_1m": load_average(),
        "scaling_us": {"p50": sc_p50, "p99": sc_p99},
        "compile_admission_ms": compile_ms,
        "opa_rest_us": null,
        "opa_rest_note": "no OPA server available on this machine (no Debian package); not measured",
    });
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/bench/policy.json");
    std::fs::create_dir_all(out.parent().unwrap()).unwrap();
    std::fs::write(&out, serde_json::to_string_pretty(&json).unwrap()).unwrap();
    println!("\nwritten to {}", out.display());
}
