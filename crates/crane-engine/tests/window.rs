//! What the window's wizard and "Send requests" ask of the engine, on the fake runtime: a spec (or a file of
//! specs) checked without applying it (diagnostics, existence, admission preview, nothing recorded) and the bounds
//! of send_requests.

mod support;

use crane_core::ports::Store;
use crane_engine::EngineError;
use support::{spec, Rig};

fn clean(name: &str) -> String {
    spec(name, "demo:1", 1, "resources: { memory: 64Mi }\nsecurity: { user: '1000' }\n")
}

#[tokio::test(start_paused = true)]
async fn check_spec_lists_problems_with_their_line_and_changes_nothing() {
    let rig = Rig::new().await;
    for (yaml, line, path) in
        [("name: Bad_Name\nimage: demo:1\n", 1, "name"), ("name: web\nimage: demo:1\nreplicas: lots\n", 3, "replicas")]
    {
        let check = rig.engine.check_spec(yaml).await.unwrap();
        assert!(!check.valid);
        let lines: Vec<(u32, &str)> = check.diagnostics.iter().map(|d| (d.line, d.path.as_str())).collect();
        assert!(lines.contains(&(line, path)), "{yaml}: {lines:?}");
        assert_eq!((check.name, check.admission, check.exists), (None, None, false));
    }
    assert!(rig.store.get_app("bad").await.unwrap().is_none());
    rig.engine.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn check_spec_previews_admission_and_existence_without_recording() {
    let rig = Rig::new().await;
    let check = rig.engine.check_spec(&clean("web")).await.unwrap();
    assert!(check.valid, "{:?}", check.diagnostics);
    assert_eq!(check.name.as_deref(), Some("web"));
    assert_eq!(check.image.as_deref(), Some("demo:1"));
    assert!(!check.exists);
    assert!(!check.is_demo_image);
    // The fake runtime is no Docker engine: whether the image is there cannot be asked.
    assert_eq!(check.image_present, None);
    let admission = check.admission.expect("the admission policy answered");
    assert!(admission.admitted, "{admission:?}");

    // A spec the shipped policy denies (the floor off, so it reaches the policy): the preview says why, and no
    // policy.denied event is recorded (nothing was asked to change).
    rig.store.put_setting("allow_unsafe", "true").await.unwrap();
    let denied = rig
        .engine
        .check_spec(&spec(
            "web",
            "demo:1",
            1,
            "resources: { memory: 64Mi }\nsecurity: { user: '1000', privileged: true }\n",
        ))
        .await
        .unwrap();
    let admission = denied.admission.expect("the admission policy answered");
    assert!(!admission.admitted);
    assert!(admission.deny[0].starts_with("privileged containers are not allowed"), "{admission:?}");
    assert!(rig.events(&["policy.denied", "policy.warned"]).is_empty(), "{}", rig.log());

    rig.store.put_setting("allow_unsafe", "false").await.unwrap();
    rig.apply(&clean("web")).await;
    assert!(rig.engine.check_spec(&clean("web")).await.unwrap().exists, "an apply would update the app");
    rig.engine.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn check_file_reports_every_document_as_apply_all_would_and_previews_the_rest() {
    let rig = Rig::new().await;
    rig.apply(&clean("api")).await;
    // Document 1 valid (a new app), 2 does not parse, 3 names an existing app, 4 repeats document 1's name.
    let file = format!(
        "{}---
name: broken
image: demo:1
bogus: 1
---
{}---
{}",
        clean("web"),
        clean("api"),
        clean("web")
    );
    let check = rig.engine.check_file(&file).await.unwrap();
    assert!(!check.valid);
    let places: Vec<(Option<u32>, u32, &str)> =
        check.diagnostics.iter().map(|d| (d.document, d.line, d.path.as_str())).collect();
    let refused = rig.engine.apply_all(&file, false).await.unwrap_err().to_api();
    let refused: Vec<(Option<u32>, u32, &str)> =
        refused.diagnostics.iter().map(|d| (d.document, d.line, d.path.as_str())).collect();
    assert_eq!(places, refused, "the same problems an apply of the file is refused with");
    assert!(places.contains(&(Some(2), 9, "bogus")), "{places:?}");
    assert!(places.iter().any(|p| p.0 == Some(4) && p.2 == "name"), "the repeated name: {places:?}");

    let summary: Vec<(Option<&str>, bool, bool, usize)> =
        check.documents.iter().map(|d| (d.name.as_deref(), d.valid, d.exists, d.diagnostics.len())).collect();
    assert_eq!(
        summary,
        [
            (Some("web"), true, false, 0),
            (None, false, false, 1),
            (Some("api"), true, true, 0),
            (Some("web"), false, false, 1)
        ]
    );
    assert!(check.documents[0].admission.as_ref().is_some_and(|a| a.admitted), "{:?}", check.documents[0]);
    assert!(check.documents[1].admission.is_none(), "a document that does not parse gets no preview");
    assert!(rig.store.get_app("web").await.unwrap().is_none(), "nothing was applied");

    // One spec is a file of one document: its problems name no document, and its preview is check_spec's.
    let one = rig.engine.check_file(&clean("web")).await.unwrap();
    assert!(one.valid && one.diagnostics.is_empty());
    assert_eq!(one.documents, [rig.engine.check_spec(&clean("web")).await.unwrap()]);
    let one = rig.engine.check_file("name: web\nimage: demo:1\nreplicas: lots\n").await.unwrap();
    assert_eq!(one.diagnostics[0].document, None);
    assert_eq!(one.documents[0].diagnostics, one.diagnostics);
    // A file refused as a whole (nothing in it) has problems and no documents.
    let empty = rig.engine.check_file("# nothing\n").await.unwrap();
    assert!(!empty.valid && empty.documents.is_empty());
    assert!(empty.diagnostics[0].message.contains("no app"), "{:?}", empty.diagnostics);
    rig.engine.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn send_requests_is_bounded_and_needs_an_address() {
    let rig = Rig::new().await;
    rig.apply(&clean("web")).await;
    for count in [0, 51] {
        let err = rig.engine.send_requests("web", count, None).await.unwrap_err();
        assert!(matches!(&err, EngineError::BadRequest(m) if m.contains("1..50")), "{err}");
    }
    let err = rig.engine.send_requests("web", 3, Some("no-slash")).await.unwrap_err();
    assert!(matches!(&err, EngineError::BadRequest(m) if m.contains("path")), "{err}");
    // No port, no load balancer: nowhere to send requests, and the message names the fix.
    let err = rig.engine.send_requests("web", 3, None).await.unwrap_err();
    assert!(matches!(&err, EngineError::BadRequest(m) if m.contains("ports")), "{err}");
    let err = rig.engine.send_requests("nope", 3, None).await.unwrap_err();
    assert!(matches!(err, EngineError::NotFound(_)), "{err}");
    rig.engine.shutdown().await;
}
