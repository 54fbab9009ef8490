//! Labs and multi-app files as the engine carries them out, on the fake runtime and the in-memory store on a paused
//! clock: a lab loads (policies, alert rules, apps), its checks turn green from the engine's state and are recorded,
//! a reset removes exactly what it created and restores what it replaced, a lab with a problem creates nothing, and
//! a file of apps is applied whole or not at all.

mod support;

use std::path::Path;

use crane_api::{ErrorCode, LabCheckKind, LabOrigin, LabSource, PolicyName, Role};
use crane_core::ports::Store;
use crane_engine::{Caller, EngineError};
use support::{spec, Rig};

const RULES: &str =
    "groups:\n  - name: lab\n    rules:\n      - alert: LabDown\n        expr: crane_app_ready_replicas < 1\n";

/// Writes a lab folder: `lab.yaml` as given, plus an app spec, a policy data file, a rule file and a step file.
fn write_lab(dir: &Path, manifest: &str) {
    for (path, text) in [
        ("lab.yaml", manifest),
        (
            "apps/web.yaml",
            "name: web\nimage: demo:1\nreplicas: 3\nports: [{container: 8080}]\n---\nname: worker\nimage: demo:1\n",
        ),
        ("policies/admission.json", r#"{"allowed_images": ["demo"]}"#),
        ("alerts.yml", RULES),
        ("steps/01.md", "# Meet\n\nWait for three ready instances.\n"),
        ("steps/02.md", "# Kill\n\n`docker kill web-2`\n"),
    ] {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
}

const MANIFEST: &str = "id: demo-lab\ntitle: Demo\nsummary: A lab of the tests.\nlevel: beginner\nresources:\n  apps: [apps/web.yaml]\n  policies:\n    - name: admission\n      data: policies/admission.json\n  alerts: alerts.yml\nsteps:\n  - title: Meet\n    text: steps/01.md\n    checks:\n      - app_ready: {app: web, min: 3}\n  - title: Kill\n    text: steps/02.md\n    checks:\n      - event: {kind: instance.replaced, app: web}\n      - app_ready: {app: web, min: 3}\n";

fn folder(dir: &tempfile::TempDir) -> LabSource {
    LabSource::Folder { path: dir.path().display().to_string() }
}

#[tokio::test(start_paused = true)]
async fn a_lab_loads_its_checks_turn_green_and_reset_removes_exactly_what_it_created() {
    let rig = Rig::new().await;
    // The student's own app, which no reset may touch.
    rig.apply(&spec("mine", "demo:1", 1, "")).await;
    let lab_dir = tempfile::tempdir().unwrap();
    write_lab(lab_dir.path(), MANIFEST);
    let mut progress = rig.engine.subscribe();

    let view = rig.engine.lab_load(&folder(&lab_dir)).await.unwrap();
    assert_eq!((view.id.as_str(), view.origin, view.steps.len()), ("demo-lab", LabOrigin::Loaded, 2));
    assert_eq!(view.created.apps, ["web", "worker"]);
    assert_eq!(view.created.policies, [PolicyName::Admission]);
    assert!(view.created.alert_rules);
    assert_eq!(view.steps[0].checks[0].kind, LabCheckKind::AppReady);
    assert_eq!(view.steps[0].checks[0].description, "app web has at least 3 ready instances");
    assert!(view.steps[1].markdown.contains("docker kill"));
    let mut operations = Vec::new();
    while let Ok(change) = progress.try_recv() {
        if let crane_api::ChangeView::Progress { progress } = change {
            operations.push((progress.operation, progress.done, progress.error));
        }
    }
    assert!(operations.iter().all(|(op, _, _)| op == "lab:demo-lab"), "{operations:?}");
    assert_eq!(operations.last(), Some(&("lab:demo-lab".to_string(), true, None)), "{operations:?}");
    assert!(!rig.engine.get_policy(PolicyName::Admission).await.unwrap().shipped, "the lab's policy runs");
    assert!(!rig.engine.alert_rules().await.unwrap().is_default, "the lab's rules run");
    let err = rig.engine.apply(&spec("other", "nginx:1", 1, ""), false).await.unwrap_err();
    assert!(matches!(err, EngineError::PolicyDenied { .. }), "the lab's admission data decides: {err}");

    rig.until(10, "step 1 done", |r| !r.events(&["lab.check_passed"]).is_empty()).await;
    let status = rig.engine.lab_status(None).await.unwrap();
    assert!(status.steps[0].done && !status.steps[1].done, "{status:#?}");
    assert_eq!(status.steps[1].checks[0].observed, "0 recorded");

    assert!(rig.fake.crash("web-2", 137));
    rig.until(20, "step 2 done", |r| r.events(&["lab.check_passed"]).len() == 2).await;
    let status = rig.engine.lab_status(Some("demo-lab")).await.unwrap();
    assert_eq!(status.done, 2, "{status:#?}");
    let passed = rig.events(&["lab.check_passed"]);
    assert_eq!(passed[1].details["step"], 2);
    assert_eq!(passed[1].details["checks"][0]["kind"], "event");

    let reset = rig.engine.lab_reset(None).await.unwrap();
    assert_eq!(reset.removed_apps, ["web", "worker"]);
    assert_eq!(reset.restored_policies, [PolicyName::Admission]);
    assert!(reset.alert_rules_restored);
    let names: Vec<String> = rig.engine.list_apps().await.unwrap().into_iter().map(|a| a.name).collect();
    assert_eq!(names, ["mine"], "only the lab's apps were removed");
    rig.until(10, "the lab's containers are gone", |r| r.running("web").is_empty() && r.running("worker").is_empty())
        .await;
    assert!(rig.engine.get_policy(PolicyName::Admission).await.unwrap().shipped, "the policy is restored");
    assert!(rig.engine.alert_rules().await.unwrap().is_default, "the rules are restored");
    assert!(rig.store.list_labs().await.unwrap().is_empty());
    assert_eq!(rig.events(&["lab.loaded"]).len(), 1);
    assert_eq!(rig.events(&["lab.reset"]).len(), 1);
    let audit: Vec<String> = rig.store.all_audit().into_iter().map(|a| a.action).collect();
    assert!(audit.contains(&"lab.load".to_string()) && audit.contains(&"lab.reset".to_string()), "{audit:?}");
    let err = rig.engine.lab_status(None).await.unwrap_err();
    assert_eq!(err.to_api().code, ErrorCode::NotFound);
    rig.engine.shutdown().await;
}

/// A policy that was already edited before the lab comes back as it was, not as the shipped one.
#[tokio::test(start_paused = true)]
async fn reset_restores_an_edited_policy_and_custom_rules_as_they_were() {
    let rig = Rig::new().await;
    let before = serde_json::json!({"allowed_images": ["demo", "nginx"]});
    rig.engine
        .set_policy(PolicyName::Admission, crane_api::PolicyUpdate { rego: None, data: Some(before.clone()) })
        .await
        .unwrap();
    let custom = RULES.replace("LabDown", "Mine");
    rig.engine.set_alert_rules(&custom).await.unwrap();
    let lab_dir = tempfile::tempdir().unwrap();
    write_lab(lab_dir.path(), MANIFEST);
    rig.engine.lab_load(&folder(&lab_dir)).await.unwrap();
    assert_eq!(rig.engine.get_policy(PolicyName::Admission).await.unwrap().data["allowed_images"][0], "demo");
    rig.engine.lab_reset(Some("demo-lab")).await.unwrap();
    let policy = rig.engine.get_policy(PolicyName::Admission).await.unwrap();
    assert_eq!(policy.data, before);
    assert_eq!(rig.engine.alert_rules().await.unwrap().yaml, custom);
    rig.engine.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_malformed_lab_is_refused_with_file_and_line_and_creates_nothing() {
    let rig = Rig::new().await;
    let lab_dir = tempfile::tempdir().unwrap();
    write_lab(
        lab_dir.path(),
        &MANIFEST.replace(
            "app_ready: {app: web, min: 3}\n  - title: Kill",
            "app_ready: {app: Web, min: 3}\n  - title: Kill",
        ),
    );
    std::fs::write(lab_dir.path().join("apps/web.yaml"), "name: web\nimage: demo:1\nreplicas: lots\n").unwrap();
    let err = rig.engine.lab_load(&folder(&lab_dir)).await.unwrap_err();
    let EngineError::InvalidLab(problems) = &err else { panic!("not invalid: {err}") };
    let places: Vec<(Option<&str>, u32, &str)> =
        problems.iter().map(|d| (d.file.as_deref(), d.line, d.path.as_str())).collect();
    assert!(places.contains(&(Some("lab.yaml"), 15, "steps[0].checks[0].app_ready.app")), "{places:?}");
    assert!(places.contains(&(Some("apps/web.yaml"), 3, "replicas")), "{places:?}");
    assert_eq!(err.to_api().code, ErrorCode::InvalidSpec);
    assert!(rig.engine.list_apps().await.unwrap().is_empty());
    assert!(rig.engine.get_policy(PolicyName::Admission).await.unwrap().shipped);
    assert!(rig.store.list_labs().await.unwrap().is_empty());
    assert!(rig.events(&["lab.loaded"]).is_empty());
    rig.engine.shutdown().await;
}

/// A lab whose app cannot start (its image is missing) is undone: no app, the policy and rules as before, no record.
#[tokio::test(start_paused = true)]
async fn a_lab_that_fails_while_loading_is_undone() {
    let rig = Rig::new().await;
    rig.fake.only_images(&["other:1"]);
    let lab_dir = tempfile::tempdir().unwrap();
    write_lab(lab_dir.path(), MANIFEST);
    let err = rig.engine.lab_load(&folder(&lab_dir)).await.unwrap_err();
    assert!(matches!(err, EngineError::ImageUnavailable(_)), "{err}");
    assert!(rig.engine.list_apps().await.unwrap().is_empty());
    assert!(rig.engine.get_policy(PolicyName::Admission).await.unwrap().shipped);
    assert!(rig.engine.alert_rules().await.unwrap().is_default);
    assert!(rig.store.list_labs().await.unwrap().is_empty());
    rig.engine.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn one_lab_at_a_time_its_apps_must_be_new_and_only_admins_load() {
    let rig = Rig::new().await;
    rig.apply(&spec("worker", "demo:1", 1, "")).await;
    let lab_dir = tempfile::tempdir().unwrap();
    write_lab(lab_dir.path(), MANIFEST);
    let err = rig.engine.lab_load(&folder(&lab_dir)).await.unwrap_err();
    assert!(matches!(&err, EngineError::Conflict(m) if m.contains("worker")), "{err}");
    rig.engine.delete("worker").await.unwrap();

    let viewer = rig.engine.as_caller(Caller { user: "ann".into(), role: Role::Operator, door: crane_api::Door::Rest });
    let err = viewer.lab_load(&folder(&lab_dir)).await.unwrap_err();
    assert!(matches!(err, EngineError::Forbidden(_)), "{err}");
    assert!(viewer.lab_list().await.is_ok(), "every role lists labs");

    rig.engine.lab_load(&folder(&lab_dir)).await.unwrap();
    let err = rig.engine.lab_load(&LabSource::Shipped { id: "self-healing".into() }).await.unwrap_err();
    assert!(matches!(&err, EngineError::Conflict(m) if m.contains("reset it first")), "{err}");
    let list = rig.engine.lab_list().await.unwrap();
    assert!(list.len() >= 5, "{list:?}");
    assert!(list.iter().any(|l| l.id == "demo-lab" && l.loaded && l.origin == LabOrigin::Loaded));
    let err = rig.engine.lab_status(Some("self-healing")).await.unwrap_err();
    assert_eq!(err.to_api().code, ErrorCode::NotFound);
    rig.engine.shutdown().await;
}

/// A loaded lab survives an engine restart: its checks are decided from the stored record, and it resets.
#[tokio::test(start_paused = true)]
async fn a_loaded_lab_survives_a_restart() {
    let rig = Rig::new().await;
    let lab_dir = tempfile::tempdir().unwrap();
    write_lab(lab_dir.path(), MANIFEST);
    rig.engine.lab_load(&folder(&lab_dir)).await.unwrap();
    rig.until(10, "step 1 done", |r| !r.events(&["lab.check_passed"]).is_empty()).await;
    let rig = rig.restart().await;
    let status = rig.engine.lab_status(None).await.unwrap();
    assert!(status.steps[0].done, "{status:#?}");
    assert!(rig.fake.crash("web-1", 137));
    rig.until(20, "step 2 done after the restart", |r| r.events(&["lab.check_passed"]).len() == 2).await;
    rig.engine.lab_reset(None).await.unwrap();
    assert!(rig.engine.list_apps().await.unwrap().is_empty());
    rig.engine.shutdown().await;
}

/// Every shipped lab loads by its id on the fakes and resets to nothing; the policy lab's denial turns its check
/// green.
#[tokio::test(start_paused = true)]
async fn every_shipped_lab_loads_and_resets_to_nothing() {
    let rig = Rig::new().await;
    let shipped: Vec<String> = rig.engine.lab_list().await.unwrap().into_iter().map(|l| l.id).collect();
    assert_eq!(shipped, ["self-healing", "scaling-under-load", "rolling-update-rollback", "policy-blocks-bad-deploy"]);
    for id in &shipped {
        let view =
            rig.engine.lab_load(&LabSource::Shipped { id: id.clone() }).await.unwrap_or_else(|e| panic!("{id}: {e}"));
        assert_eq!(view.origin, LabOrigin::Shipped);
        if id == "policy-blocks-bad-deploy" {
            let bad =
                "name: bad\nimage: crane-demo:0.1.0\nsecurity: { user: '1000', addCapabilities: [NET_BIND_SERVICE] }\n";
            let err = rig.engine.apply(bad, false).await.unwrap_err();
            assert!(matches!(err, EngineError::PolicyDenied { .. }), "{err}");
            let status = rig.engine.lab_status(None).await.unwrap();
            assert!(status.steps[1].done, "{status:#?}");
        }
        rig.engine.lab_reset(Some(id)).await.unwrap_or_else(|e| panic!("{id}: {e}"));
        assert!(rig.engine.list_apps().await.unwrap().is_empty(), "{id} left apps");
        assert!(rig.engine.get_policy(PolicyName::Admission).await.unwrap().shipped, "{id}");
        assert!(rig.engine.alert_rules().await.unwrap().is_default, "{id}");
    }
    rig.until(10, "no container left", |r| {
        r.fake.containers().iter().all(|c| c.state != crane_core::model::ContainerState::Running)
    })
    .await;
    let err = rig.engine.lab_load(&LabSource::Shipped { id: "nope".into() }).await.unwrap_err();
    assert!(err.to_string().contains("self-healing"), "the error lists the shipped labs: {err}");
    rig.engine.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_file_of_apps_is_applied_whole_or_not_at_all() {
    let rig = Rig::new().await;
    // One invalid document: nothing is created, every problem names its document and the line of the file.
    let bad =
        "name: a\nimage: demo:1\n---\nname: b\nimage: demo:1\nreplicas: x\n---\nname: c\nimage: demo:1\nbogus: 1\n";
    let err = rig.engine.apply_all(bad, false).await.unwrap_err();
    let api = err.to_api();
    assert_eq!(api.code, ErrorCode::InvalidSpec);
    let places: Vec<(Option<u32>, u32)> = api.diagnostics.iter().map(|d| (d.document, d.line)).collect();
    assert_eq!(places, [(Some(2), 6), (Some(3), 10)]);
    assert!(rig.engine.list_apps().await.unwrap().is_empty());

    let good = "name: a\nimage: demo:1\n---\nname: b\nimage: demo:1\nreplicas: 2\n";
    let all = rig.engine.apply_all(good, false).await.unwrap();
    let names: Vec<&str> = all.results.iter().map(|r| r.app.name.as_str()).collect();
    assert_eq!(names, ["a", "b"]);
    assert!(all.results.iter().all(|r| r.action == crane_api::ApplyAction::Created));

    // The second app is denied by admission: the first, created by this call, is removed again.
    rig.engine
        .set_policy(
            PolicyName::Admission,
            crane_api::PolicyUpdate { rego: None, data: Some(serde_json::json!({"allowed_images": ["demo"]})) },
        )
        .await
        .unwrap();
    let denied = "name: c\nimage: demo:1\n---\nname: d\nimage: nginx:1\n";
    let err = rig.engine.apply_all(denied, false).await.unwrap_err();
    let EngineError::PolicyDenied { messages, .. } = &err else { panic!("not denied: {err}") };
    assert!(
        messages[0].starts_with("document 2 (app 'd')") && messages[0].contains("removed again: c"),
        "{messages:?}"
    );
    let names: Vec<String> = rig.engine.list_apps().await.unwrap().into_iter().map(|a| a.name).collect();
    assert_eq!(names, ["a", "b"]);

    // Create-only refuses the whole file when one app exists.
    let err = rig.engine.apply_all("name: e\nimage: demo:1\n---\nname: a\nimage: demo:1\n", true).await.unwrap_err();
    assert!(matches!(&err, EngineError::Conflict(m) if m.contains("'a'")), "{err}");
    assert!(rig.store.get_app("e").await.unwrap().is_none());
    rig.engine.shutdown().await;
}

/// A lab archive (tar.gz) loads like its folder; one with a link is refused.
#[tokio::test(start_paused = true)]
async fn a_lab_archive_loads_and_a_link_in_it_is_refused() {
    let rig = Rig::new().await;
    let lab_dir = tempfile::tempdir().unwrap();
    write_lab(lab_dir.path(), MANIFEST);
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast()));
    builder.append_dir_all("demo-lab", lab_dir.path()).unwrap();
    let bytes = builder.into_inner().unwrap().finish().unwrap();
    let archive = lab_dir.path().join("../demo-lab.tar.gz");
    std::fs::write(&archive, &bytes).unwrap();
    let view = rig.engine.lab_load(&LabSource::Archive { path: archive.display().to_string() }).await.unwrap();
    assert_eq!(view.id, "demo-lab");
    rig.engine.lab_reset(None).await.unwrap();
    std::fs::remove_file(&archive).unwrap();

    std::os::unix::fs::symlink("/etc/passwd", lab_dir.path().join("steps/03.md")).unwrap();
    let err = rig.engine.lab_load(&folder(&lab_dir)).await.unwrap_err();
    assert!(err.to_string().contains("links"), "{err}");
    let view = rig.engine.lab_load_archive(bytes).await.unwrap();
    assert_eq!(view.created.apps, ["web", "worker"]);
    rig.engine.shutdown().await;
}
