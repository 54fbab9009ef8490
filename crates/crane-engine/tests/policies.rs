//! Policies as the engine applies them, on the fake runtime and the in-memory store: admission before every change,
//! the scaling policy's bounds on manual scales, applies and the autoscaler, and the management of policies (edit,
//! refuse a broken one, reset, evaluate, test).

mod support;

use crane_api::{ErrorCode, PolicyEvalRequest, PolicyName, PolicyUpdate, Role};
use crane_core::policy::{AlertAction, AlertInput, AlertStatus};
use crane_core::ports::Store;
use crane_engine::{Caller, EngineError};
use serde_json::json;
use support::{spec, Rig};

/// A spec the shipped admission policy admits without a warning.
fn clean(name: &str, replicas: u32) -> String {
    spec(name, "demo:1", replicas, "resources: { memory: 64Mi }\nsecurity: { user: '1000' }\n")
}

fn rego(update: &str) -> PolicyUpdate {
    PolicyUpdate { rego: Some(update.to_string()), data: None }
}

fn data(data: serde_json::Value) -> PolicyUpdate {
    PolicyUpdate { rego: None, data: Some(data) }
}

/// With the floor off (`allow_unsafe`), each escape reaches the admission policy, which denies it with its message;
/// nothing is stored or started, and the denial is an event with its input.
#[tokio::test(start_paused = true)]
async fn admission_denies_privileged_host_mounts_and_capabilities_with_their_messages() {
    let rig = Rig::new().await;
    rig.store.put_setting("allow_unsafe", "true").await.unwrap();
    let cases = [
        ("security: { user: '1000', privileged: true }\n", "privileged containers are not allowed"),
        (
            "security: { user: '1000' }\nvolumes: [{ source: /srv/www, target: /www }]\n",
            "volumes[0]: host path \"/srv/www\" is not allowed",
        ),
        ("security: { user: '1000', addCapabilities: [NET_ADMIN] }\n", "capability \"NET_ADMIN\" is not allowed"),
    ];
    for (extra, message) in cases {
        let yaml = spec("web", "demo:1", 1, &format!("resources: {{ memory: 64Mi }}\n{extra}"));
        let err = rig.engine.apply(&yaml, false).await.unwrap_err();
        let EngineError::PolicyDenied { policy, messages } = &err else { panic!("not denied: {err}") };
        assert_eq!(*policy, PolicyName::Admission);
        assert_eq!(messages.len(), 1, "{messages:?}");
        assert!(messages[0].starts_with(message), "{messages:?}");
        let api = err.to_api();
        assert_eq!(api.code, ErrorCode::PolicyDenied);
        assert_eq!(api.diagnostics[0].path, "policy:admission");
        assert!(api.message.contains(message), "{}", api.message);
    }
    assert!(rig.store.get_app("web").await.unwrap().is_none(), "nothing was created");
    assert!(rig.fake.calls().is_empty(), "nothing was asked of the runtime: {:?}", rig.fake.calls());
    let denied = rig.events(&["policy.denied"]);
    assert_eq!(denied.len(), 3, "{}", rig.log());
    assert_eq!(denied[0].details["input"]["action"], "create");
    assert_eq!(denied[0].details["input"]["spec"]["security"]["privileged"], true);
    assert_eq!(denied[0].details["input"]["door"], "engine");
    rig.engine.shutdown().await;
}

/// A clean spec is admitted without policy warnings; a spec with the `latest` tag, no user and no memory limit gets
/// the policy's three warnings in the result and one `policy.warned` event.
#[tokio::test(start_paused = true)]
async fn a_clean_spec_is_admitted_and_warnings_are_returned_and_recorded() {
    let rig = Rig::new().await;
    let result = rig.apply(&clean("web", 1)).await;
    assert!(result.policy_warnings.is_empty(), "{:?}", result.policy_warnings);
    assert!(rig.events(&["policy.warned", "policy.denied"]).is_empty(), "{}", rig.log());

    let result = rig.apply(&spec("api", "demo:latest", 1, "")).await;
    assert_eq!(result.policy_warnings.len(), 3, "{:?}", result.policy_warnings);
    assert!(result.policy_warnings.iter().any(|w| w.contains("Crane's default of 512Mi applies")));
    assert!(result.policy_warnings.iter().any(|w| w.contains("runs as root")));
    assert!(result.policy_warnings.iter().any(|w| w.contains("`latest` tag")));
    let warned = rig.events(&["policy.warned"]);
    assert_eq!(warned.len(), 1, "{}", rig.log());
    assert_eq!(warned[0].app.as_deref(), Some("api"));
    rig.engine.shutdown().await;
}

/// Admission is asked with the caller's user and door, and before scale and undo too.
#[tokio::test(start_paused = true)]
async fn admission_sees_the_caller_and_covers_scale_and_undo() {
    let rig = Rig::new().await;
    rig.apply(&clean("web", 1)).await;
    rig.apply(&clean("web", 1).replace("demo:1", "demo:2")).await;
    // A policy that refuses every scale and every undo, and names who asked.
    let strict = "package crane.admission\n\ndeny contains msg if {\n  input.action in {\"scale\", \"undo\"}\n  msg := sprintf(\"%s by %s through %s is not allowed\", [input.action, input.user, input.door])\n}\n";
    rig.engine.set_policy(PolicyName::Admission, rego(strict)).await.unwrap();
    let window = rig.engine.as_caller(Caller::admin(crane_api::Door::Window));
    let err = window.scale("web", 2).await.unwrap_err();
    assert!(err.to_string().contains("scale by admin through window is not allowed"), "{err}");
    let err = window.rollout_undo("web", None).await.unwrap_err();
    assert!(err.to_string().contains("undo by admin through window is not allowed"), "{err}");
    let app = rig.engine.get_app("web").await.unwrap();
    assert_eq!((app.replicas, app.revision), (1, 2), "nothing changed");
    rig.engine.shutdown().await;
}

/// An edited policy decides the next change; it is stored and survives a restart; reset returns to the shipped one.
#[tokio::test(start_paused = true)]
async fn an_edited_policy_decides_the_next_change_and_reset_returns_to_the_shipped_one() {
    let rig = Rig::new().await;
    rig.apply(&clean("web", 1)).await;
    let view = rig
        .engine
        .set_policy(PolicyName::Admission, data(json!({"allowed_images": ["registry.local/*"]})))
        .await
        .unwrap();
    assert!(!view.shipped);
    assert_eq!(view.updated_by.as_deref(), Some("admin"));
    let err = rig.engine.apply(&clean("api", 1), false).await.unwrap_err();
    assert!(err.to_string().contains("image \"demo:1\" is not on the allowed list"), "{err}");
    assert_eq!(rig.events(&["policy.changed"]).len(), 1, "{}", rig.log());

    let rig = rig.restart().await;
    let err = rig.engine.apply(&clean("api", 1), false).await.unwrap_err();
    assert!(matches!(err, EngineError::PolicyDenied { .. }), "the edit was loaded again: {err}");

    let view = rig.engine.reset_policy(PolicyName::Admission).await.unwrap();
    assert!(view.shipped && view.updated_at.is_none());
    assert_eq!(view.data, json!({}));
    rig.apply(&clean("api", 1)).await;
    assert!(rig.store.list_policies().await.unwrap().is_empty());
    rig.engine.shutdown().await;
}

/// Broken policies are refused with line and column, and the running set stays as it was.
#[tokio::test(start_paused = true)]
async fn invalid_rego_is_refused_with_line_and_column_and_the_running_set_stays() {
    let rig = Rig::new().await;
    let broken = "package crane.admission\n\ndeny contains msg if {\n  msg := concat(\", \"\n}\n";
    let err = rig.engine.set_policy(PolicyName::Admission, rego(broken)).await.unwrap_err();
    let EngineError::InvalidPolicy(diagnostics) = &err else { panic!("not invalid: {err}") };
    assert!(diagnostics[0].line >= 4 && diagnostics[0].column > 0, "{diagnostics:?}");
    assert_eq!(diagnostics[0].path, "admission.rego");
    assert_eq!(err.to_api().code, ErrorCode::InvalidPolicy);

    let wrong_package = "package crane.other\n\ndeny contains \"x\" if false\n";
    let err = rig.engine.set_policy(PolicyName::Admission, rego(wrong_package)).await.unwrap_err();
    assert!(err.to_string().contains("must be `package crane.admission`"), "{err}");

    // Compiles, but answers the wrong type on the sample input.
    let wrong_type = "package crane.scaling\n\ndecision := {\"allowed\": \"yes\", \"replicas\": 1, \"reason\": \"\"}\n";
    let err = rig.engine.set_policy(PolicyName::Scaling, rego(wrong_type)).await.unwrap_err();
    assert!(err.to_string().contains("`decision.allowed` of crane.scaling must be a boolean"), "{err}");

    // Its own failing test refuses it.
    let failing =
        format!("{}\ntest_never if false\n", crane_policy::shipped(crane_core::policy::PolicyName::Admission).rego);
    let err = rig.engine.set_policy(PolicyName::Admission, rego(&failing)).await.unwrap_err();
    assert!(err.to_string().contains("test data.crane.admission.test_never failed"), "{err}");

    let validation = rig.engine.validate_policy(PolicyName::Admission, rego(broken)).await.unwrap();
    assert!(!validation.valid && validation.diagnostics[0].line >= 4);

    assert!(rig.engine.list_policies().await.unwrap().iter().all(|p| p.shipped), "nothing was swapped in");
    assert!(rig.events(&["policy.changed"]).is_empty(), "{}", rig.log());
    rig.apply(&clean("web", 1)).await;
    rig.engine.shutdown().await;
}

/// A policy that compiles and passes the samples but answers the wrong type for one input fails closed: the change
/// is refused with `policy_failed`, nothing is created, and the failure is an event. An unknown alert action is a
/// clear error too.
#[tokio::test(start_paused = true)]
async fn a_policy_answering_a_wrong_type_or_an_unknown_action_changes_nothing() {
    let rig = Rig::new().await;
    let odd = "package crane.admission\n\ndeny contains 5 if input.spec.name == \"odd\"\n";
    rig.engine.set_policy(PolicyName::Admission, rego(odd)).await.unwrap();
    let err = rig.engine.apply(&clean("odd", 1), false).await.unwrap_err();
    assert!(matches!(err, EngineError::PolicyFailed(_)), "{err}");
    assert_eq!(err.to_api().code, ErrorCode::PolicyFailed);
    assert!(err.to_string().contains("must be a set of message strings"), "{err}");
    assert!(err.to_string().contains("cranectl policy reset admission"), "{err}");
    assert!(rig.store.get_app("odd").await.unwrap().is_none());
    assert!(rig.fake.calls().is_empty(), "{:?}", rig.fake.calls());
    assert_eq!(rig.events(&["policy.failed"]).len(), 1, "{}", rig.log());

    let boom = "package crane.alerts\n\ndecision := {\"action\": \"explode\", \"reason\": \"boom\"} if input.alert == \"Boom\"\n\ndecision := {\"action\": \"notify\", \"reason\": \"ok\"} if input.alert != \"Boom\"\n";
    rig.engine.set_policy(PolicyName::Alerts, rego(boom)).await.unwrap();
    let alert = |name: &str| AlertInput {
        alert: name.into(),
        labels: [("app".to_string(), "web".to_string())].into(),
        severity: "warning".into(),
        status: AlertStatus::Firing,
        app: Some("web".into()),
        replicas: 1,
        recent_actions: vec![],
    };
    let err = rig.engine.decide_alert(&alert("Boom")).await.unwrap_err();
    assert!(err.to_string().contains("`explode`, which is not an action Crane knows"), "{err}");
    assert_eq!(rig.engine.decide_alert(&alert("Fine")).await.unwrap().action, AlertAction::Notify);
    rig.engine.reset_policy(PolicyName::Alerts).await.unwrap();
    let decision = rig.engine.decide_alert(&alert("HighRequestRate")).await.unwrap();
    assert_eq!((decision.action, decision.step), (AlertAction::ScaleUp, Some(1)));
    rig.engine.shutdown().await;
}

/// The scaling policy clamps a manual scale and an apply, and refuses a frozen app's scale.
#[tokio::test(start_paused = true)]
async fn the_scaling_policy_clamps_manual_scale_and_apply() {
    let rig = Rig::new().await;
    rig.apply(&clean("web", 1)).await;
    let view = rig.engine.scale("web", 50).await.unwrap();
    assert_eq!(view.replicas, 20, "the shipped maximum");
    let clamped = rig.events(&["policy.clamped"]);
    assert_eq!(clamped.len(), 1, "{}", rig.log());
    assert!(clamped[0].reason.contains("50 replicas asked"), "{}", clamped[0].reason);

    rig.engine.set_policy(PolicyName::Scaling, data(json!({"apps": {"web": {"max_replicas": 3}}}))).await.unwrap();
    let result = rig.apply(&clean("web", 8)).await;
    assert_eq!(result.app.replicas, 3);
    assert!(result.policy_warnings.iter().any(|w| w.contains("set to 3")), "{:?}", result.policy_warnings);
    assert!(result.app.spec_yaml.contains("replicas: 3"), "the stored YAML says what runs: {}", result.app.spec_yaml);

    rig.engine.set_policy(PolicyName::Scaling, data(json!({"apps": {"web": {"frozen": true}}}))).await.unwrap();
    let err = rig.engine.scale("web", 2).await.unwrap_err();
    assert!(matches!(&err, EngineError::PolicyDenied { policy: PolicyName::Scaling, .. }), "{err}");
    assert_eq!(rig.engine.get_app("web").await.unwrap().replicas, 3);
    rig.engine.shutdown().await;
}

/// The autoscaler's decisions go through the scaling policy: below `autoscaling.min` it asks for min, and the
/// policy's lower maximum wins.
#[tokio::test(start_paused = true)]
async fn the_scaling_policy_clamps_the_autoscaler() {
    let rig = Rig::new().await;
    rig.engine.set_policy(PolicyName::Scaling, data(json!({"max_replicas": 3}))).await.unwrap();
    rig.apply(
        &clean("web", 1)
            .replace("replicas: 1\n", "replicas: 1\nautoscaling: { min: 4, max: 10, metric: cpu, target: 50 }\n"),
    )
    .await;
    rig.until(30, "the autoscaler scaled within the policy", |r| r.fake.running("web").len() == 3).await;
    rig.idle(30).await;
    assert_eq!(rig.engine.get_app("web").await.unwrap().replicas, 3, "never above the policy's maximum");
    let clamped = rig.events(&["policy.clamped"]);
    assert!(!clamped.is_empty(), "{}", rig.log());
    assert_eq!(clamped[0].details["input"]["source"], "autoscaler");
    assert_eq!(clamped[0].details["input"]["requested"], 4);
    assert_eq!(clamped[0].details["replicas"], 3);
    assert!(clamped.len() <= 3, "a hold is not logged every round: {}", rig.log());
    rig.engine.shutdown().await;
}

/// A scaling policy that fails for the autoscaler holds it, and says so without repeating itself every round.
#[tokio::test(start_paused = true)]
async fn a_failing_scaling_policy_holds_the_autoscaler() {
    let rig = Rig::new().await;
    let failing = "package crane.scaling\n\ndecision := {\"allowed\": \"maybe\", \"reason\": \"\"} if input.app == \"auto\"\n\ndecision := {\"allowed\": true, \"replicas\": input.requested, \"reason\": \"ok\"} if input.app != \"auto\"\n";
    rig.engine.set_policy(PolicyName::Scaling, rego(failing)).await.unwrap();
    let err = rig.engine.apply(&clean("auto", 1), false).await.unwrap_err();
    assert!(matches!(err, EngineError::PolicyFailed(_)), "an apply that changes replicas fails closed: {err}");
    rig.engine.reset_policy(PolicyName::Scaling).await.unwrap();
    rig.apply(
        &clean("auto", 1)
            .replace("replicas: 1\n", "replicas: 1\nautoscaling: { min: 2, max: 4, metric: cpu, target: 50 }\n"),
    )
    .await;
    rig.until(30, "the autoscaler raised the app to its minimum", |r| r.fake.running("auto").len() == 2).await;
    rig.engine.set_policy(PolicyName::Scaling, rego(failing)).await.unwrap();
    rig.engine
        .apply(
            &clean("auto", 1)
                .replace("replicas: 1\n", "replicas: 2\nautoscaling: { min: 3, max: 4, metric: cpu, target: 50 }\n"),
            false,
        )
        .await
        .unwrap();
    rig.idle(40).await;
    assert_eq!(rig.engine.get_app("auto").await.unwrap().replicas, 2, "the autoscaler held");
    let failed: Vec<_> =
        rig.events(&["policy.failed"]).into_iter().filter(|e| e.details["input"]["source"] == "autoscaler").collect();
    assert!((1..=2).contains(&failed.len()), "said, but not every round: {}", rig.log());
    rig.engine.shutdown().await;
}

/// Only an admin changes policies; anyone may read, validate and evaluate them.
#[tokio::test(start_paused = true)]
async fn only_an_admin_changes_policies() {
    let rig = Rig::new().await;
    let viewer = rig.engine.as_caller(Caller { user: "sam".into(), role: Role::Operator, door: crane_api::Door::Rest });
    let err = viewer.set_policy(PolicyName::Scaling, data(json!({"max_replicas": 99}))).await.unwrap_err();
    assert!(matches!(err, EngineError::Forbidden(_)), "{err}");
    assert_eq!(err.to_api().code, ErrorCode::Forbidden);
    assert!(viewer.reset_policy(PolicyName::Scaling).await.is_err());
    assert_eq!(viewer.list_policies().await.unwrap().len(), 3);
    let sample = viewer.get_policy(PolicyName::Scaling).await.unwrap().sample_input;
    let result = viewer
        .eval_policy(PolicyName::Scaling, PolicyEvalRequest { input: sample, rego: None, data: None })
        .await
        .unwrap();
    assert!(result.valid && result.summary.starts_with("clamped to 20"), "{result:?}");
    rig.engine.shutdown().await;
}

/// Evaluating a draft does not save it; the running policies' unit tests pass.
#[tokio::test(start_paused = true)]
async fn evaluating_a_draft_and_running_the_tests() {
    let rig = Rig::new().await;
    let input = rig.engine.get_policy(PolicyName::Alerts).await.unwrap().sample_input;
    let draft = "package crane.alerts\n\ndecision := {\"action\": \"launch\", \"reason\": \"why not\"}\n";
    let result = rig
        .engine
        .eval_policy(
            PolicyName::Alerts,
            PolicyEvalRequest { input: input.clone(), rego: Some(draft.into()), data: None },
        )
        .await
        .unwrap();
    assert!(!result.valid);
    assert!(result.problem.unwrap().contains("`launch`"));
    assert_eq!(result.output["decision"]["action"], "launch");
    let running =
        rig.engine.eval_policy(PolicyName::Alerts, PolicyEvalRequest { input, rego: None, data: None }).await.unwrap();
    assert!(running.valid && running.summary.starts_with("scale_up"), "{running:?}");
    let err = rig
        .engine
        .eval_policy(PolicyName::Alerts, PolicyEvalRequest { input: json!([1, 2]), rego: None, data: None })
        .await
        .unwrap_err();
    assert!(matches!(err, EngineError::BadRequest(_)), "{err}");

    let report = rig.engine.test_policies().await.unwrap();
    assert_eq!(report.failed, 0, "{:#?}", report.results.iter().filter(|r| !r.passed).collect::<Vec<_>>());
    assert!(report.passed >= 25, "{}", report.passed);
    rig.engine.shutdown().await;
}

/// A stored edit that no longer compiles (written by another version, or damaged) is not run: the shipped version
/// runs and an event says why.
#[tokio::test(start_paused = true)]
async fn a_broken_stored_policy_falls_back_to_the_shipped_one() {
    let rig = Rig::new().await;
    rig.store
        .put_policy(&crane_core::ports::StoredPolicy {
            name: "admission".into(),
            rego: "package crane.admission\n\ndeny contains".into(),
            data: "{}".into(),
            updated_at: 1,
            updated_by: "admin".into(),
        })
        .await
        .unwrap();
    let rig = rig.restart().await;
    assert!(rig.engine.get_policy(PolicyName::Admission).await.unwrap().shipped);
    assert_eq!(rig.events(&["policy.failed"]).len(), 1, "{}", rig.log());
    rig.apply(&clean("web", 1)).await;
    rig.engine.shutdown().await;
}

/// A stand-in for an OPA server's REST Data API (`POST /v1/data/crane/<policy>`): admission denies images with
/// `bad` in their name; scaling allows what is asked. Records the paths asked. Stops when the handle is dropped.
struct FakeOpa {
    url: String,
    asked: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeOpa {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn fake_opa() -> FakeOpa {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let asked = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = asked.clone();
    let task = tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else { return };
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                let (head_end, length) = loop {
                    let n = socket.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                        let length = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:").map(|v| v.trim().parse().unwrap_or(0)))
                            .unwrap_or(0usize);
                        break (end + 4, length);
                    }
                };
                while buf.len() < head_end + length {
                    let n = socket.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                }
                let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
                let path = head.split_whitespace().nth(1).unwrap_or("").to_string();
                seen.lock().unwrap().push(path.clone());
                let body: serde_json::Value = serde_json::from_slice(&buf[head_end..head_end + length]).unwrap();
                let input = &body["input"];
                let result = match path.as_str() {
                    "/v1/data/crane/admission" => {
                        let image = input["spec"]["image"].as_str().unwrap_or("");
                        if image.contains("bad") {
                            json!({"deny": [format!("OPA says no to image {image}")], "warn": []})
                        } else {
                            json!({"deny": [], "warn": ["OPA looked at it"]})
                        }
                    }
                    "/v1/data/crane/scaling" => json!({"decision": {"allowed": true,
                        "replicas": input["requested"], "reason": "OPA allows it"}}),
                    _ => json!(null),
                };
                let answer = if result.is_null() { json!({}) } else { json!({"result": result}) };
                let text = answer.to_string();
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{text}",
                    text.len()
                );
                let _ = socket.write_all(response.as_bytes()).await;
            });
        }
    });
    FakeOpa { url, asked, task }
}

/// With `opa_url` and `opa_policies: [admission]`, the OPA server decides admission (its denial and warnings reach
/// the caller; the embedded Rego is not asked); when it cannot be reached, admission fails closed and nothing is
/// created. Scaling stays embedded until named. Real time: the requests are real HTTP.
#[tokio::test]
async fn an_opa_server_decides_the_policies_named_and_admission_fails_closed_without_it() {
    let rig = Rig::new().await;
    let opa = fake_opa().await;
    let settings = |url: &str, policies: Vec<PolicyName>| crane_api::SettingsUpdate {
        opa_url: Some(url.to_string()),
        opa_policies: Some(policies),
        ..Default::default()
    };
    rig.engine.set_settings(&settings(&opa.url, vec![PolicyName::Admission])).await.unwrap();
    let view = rig.engine.get_policy(PolicyName::Admission).await.unwrap();
    assert_eq!(view.opa_url.as_deref(), Some(opa.url.as_str()));
    assert_eq!(rig.engine.get_policy(PolicyName::Scaling).await.unwrap().opa_url, None);

    let err = rig.engine.apply(&clean("web", 1).replace("demo:1", "bad:1"), false).await.unwrap_err();
    let EngineError::PolicyDenied { messages, .. } = &err else { panic!("not denied: {err}") };
    assert_eq!(messages, &["OPA says no to image bad:1"]);
    let applied = rig.engine.apply(&clean("web", 1), false).await.unwrap();
    assert_eq!(applied.policy_warnings, ["OPA looked at it"], "{applied:?}");
    rig.engine.scale("web", 2).await.unwrap();
    assert_eq!(
        opa.asked.lock().unwrap().clone(),
        ["/v1/data/crane/admission", "/v1/data/crane/admission", "/v1/data/crane/admission"],
        "scaling is embedded; the scale's admission went to OPA"
    );

    // Scaling by OPA too.
    rig.engine.set_settings(&settings(&opa.url, vec![PolicyName::Admission, PolicyName::Scaling])).await.unwrap();
    rig.engine.scale("web", 3).await.unwrap();
    assert!(opa.asked.lock().unwrap().contains(&"/v1/data/crane/scaling".to_string()));

    // OPA gone: admission refuses (fails closed) and says why; the scaling policy holds the count.
    let url = opa.url.clone();
    drop(opa);
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let err = rig.engine.apply(&clean("api", 1), false).await.unwrap_err();
    assert_eq!(err.to_api().code, ErrorCode::PolicyFailed, "{err}");
    assert!(err.to_string().contains(&format!("the OPA server at {url} could not be asked")), "{err}");
    assert!(rig.store.get_app("api").await.unwrap().is_none(), "nothing was created");
    let err = rig.engine.scale("web", 4).await.unwrap_err();
    assert_eq!(err.to_api().code, ErrorCode::PolicyFailed, "{err}");
    assert_eq!(rig.store.get_app("web").await.unwrap().unwrap().spec.replicas, 3);
    let failed = rig.events(&["policy.failed"]);
    assert!(failed.iter().any(|e| e.reason.contains("could not be asked")), "{}", rig.log());
    // Back to embedded: decisions work again without OPA.
    rig.engine.set_settings(&settings("", vec![])).await.unwrap();
    rig.engine.apply(&clean("api", 1), false).await.unwrap();
    rig.engine.shutdown().await;
}
