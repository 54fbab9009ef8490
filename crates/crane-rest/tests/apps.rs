//! One small app through every app route, on the real Docker engine with the demo image. Fails, saying so, when
//! Docker is unreachable (never skips). Its own test binary so no other engine of this crate's tests runs beside it.

mod support;

use std::time::Duration;

use crane_api::{AppView, ApplyResult, ErrorCode, EventView, LoadView, LogLineView, RevisionView, StatusView};
use futures_util::FutureExt;
use reqwest::{Method, StatusCode};
use support::{api_error, TestServer};

#[tokio::test]
async fn app_lifecycle_over_rest() {
    let t = TestServer::start().await;
    let status: StatusView = t.req(Method::GET, "/api/v1/status").send().await.unwrap().json().await.unwrap();
    if !status.docker_ok {
        t.stop().await;
        // Tests that need Docker fail without it; they never skip (a green run must mean the routes were exercised).
        panic!(
            "app_lifecycle_over_rest needs a running Docker engine (tests that need Docker fail without it, never \
             skip); the engine reports: {}",
            status.docker
        );
    }
    let name = format!("t-rest-{:08x}", rand::random::<u32>());
    let outcome = std::panic::AssertUnwindSafe(lifecycle(&t, &name)).catch_unwind().await;
    // Always remove the app, whatever happened above.
    let _ = t.req(Method::DELETE, &format!("/api/v1/apps/{name}")).send().await;
    t.stop().await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

async fn lifecycle(t: &TestServer, name: &str) {
    let long = Duration::from_secs(600);
    let r = t.req(Method::POST, "/api/v1/demo-image").timeout(long).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap_or_default());
    let image: serde_json::Value = r.json().await.unwrap();
    let image = image["image"].as_str().unwrap().to_string();

    let yaml = format!(
        "name: {name}\nimage: {image}\nreplicas: 1\ncommand: [\"/demo\", \"--port\", \"8080\"]\n\
         ports:\n  - container: 8080\n"
    );
    let r = t
        .req(Method::POST, "/api/v1/apps")
        .timeout(long)
        .json(&serde_json::json!({ "yaml": yaml }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED, "{}", r.text().await.unwrap_or_default());
    let created: ApplyResult = r.json().await.unwrap();
    assert_eq!(created.action, crane_api::ApplyAction::Created);
    assert_eq!(created.app.name, name);

    // Create-only on an existing app is a conflict.
    let r = t
        .req(Method::POST, "/api/v1/apps")
        .json(&serde_json::json!({ "yaml": yaml, "create_only": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert_eq!(api_error(r).await.code, ErrorCode::Conflict);

    // The same spec as raw YAML changes nothing.
    let r = t
        .req(Method::POST, "/api/v1/apps")
        .header("Content-Type", "application/yaml")
        .body(yaml.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<ApplyResult>().await.unwrap().action, crane_api::ApplyAction::Unchanged);

    let apps: Vec<AppView> = t.req(Method::GET, "/api/v1/apps").send().await.unwrap().json().await.unwrap();
    assert!(apps.iter().any(|a| a.name == name));
    let app: AppView = t.req(Method::GET, &format!("/api/v1/apps/{name}")).send().await.unwrap().json().await.unwrap();
    assert_eq!(app.replicas, 1);
    images_and_check(t, name, &image, &yaml).await;

    rollout_and_nginx(t, name, &yaml).await;
    load_and_charts(t, name).await;

    let r = t
        .req(Method::POST, &format!("/api/v1/apps/{name}/scale"))
        .timeout(long)
        .json(&serde_json::json!({ "replicas": 2 }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap_or_default());
    assert_eq!(r.json::<AppView>().await.unwrap().replicas, 2);

    let r = t
        .req(Method::GET, &format!("/api/v1/apps/{name}/logs?tail=5"))
        .timeout(Duration::from_secs(60))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "application/x-ndjson");
    for line in r.text().await.unwrap().lines() {
        serde_json::from_str::<LogLineView>(line).unwrap_or_else(|e| panic!("bad log line {line:?}: {e}"));
    }

    let events: Vec<EventView> =
        t.req(Method::GET, &format!("/api/v1/events?app={name}&limit=50")).send().await.unwrap().json().await.unwrap();
    assert!(events.iter().all(|e| e.app.as_deref() == Some(name)), "{events:?}");

    let r = t.req(Method::DELETE, &format!("/api/v1/apps/{name}")).timeout(long).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = t.req(Method::GET, &format!("/api/v1/apps/{name}")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

/// Revision history and undo, and the NGINX routes, on the running app (revision 1 on entry, revision 1 on exit).
async fn rollout_and_nginx(t: &TestServer, name: &str, yaml: &str) {
    let long = Duration::from_secs(600);
    let history = |t: &TestServer| {
        let request = t.req(Method::GET, &format!("/api/v1/apps/{name}/rollout/history"));
        async move {
            let r = request.send().await.unwrap();
            assert_eq!(r.status(), StatusCode::OK);
            r.json::<Vec<RevisionView>>().await.unwrap()
        }
    };
    let revisions = history(t).await;
    assert_eq!(revisions.len(), 1, "{revisions:?}");
    assert!(revisions[0].current && revisions[0].revision == 1, "{revisions:?}");
    // Nothing to undo yet: a 400 that says so.
    let r = t.req(Method::POST, &format!("/api/v1/apps/{name}/rollout/undo")).json(&serde_json::json!({})).send();
    let r = r.await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(api_error(r).await.message.contains("nothing to undo"));

    // A changed env makes revision 2; undo returns to 1.
    let changed = format!("{yaml}env: {{ GREETING: changed }}\n");
    let r = t.req(Method::POST, "/api/v1/apps").timeout(long).json(&serde_json::json!({ "yaml": changed })).send();
    let r = r.await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap_or_default());
    assert_eq!(r.json::<ApplyResult>().await.unwrap().action, crane_api::ApplyAction::Updated);
    let revisions = history(t).await;
    assert_eq!(revisions.iter().map(|r| (r.revision, r.current)).collect::<Vec<_>>(), [(1, false), (2, true)]);
    assert!(revisions[1].spec_yaml.contains("changed"), "{}", revisions[1].spec_yaml);
    let r = t
        .req(Method::POST, &format!("/api/v1/apps/{name}/rollout/undo"))
        .timeout(long)
        .json(&serde_json::json!({ "to": 7 }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(api_error(r).await.message.contains("no revision 7"));
    let r = t
        .req(Method::POST, &format!("/api/v1/apps/{name}/rollout/undo"))
        .timeout(long)
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap_or_default());
    assert_eq!(r.json::<AppView>().await.unwrap().revision, 1);
    let revisions = history(t).await;
    assert_eq!(revisions.iter().map(|r| (r.revision, r.current)).collect::<Vec<_>>(), [(1, true), (2, false)]);

    // NGINX export: plain text with an upstream and the asked port.
    let r = t.req(Method::GET, &format!("/api/v1/apps/{name}/nginx?listen=18099")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
    let text = r.text().await.unwrap();
    assert!(text.contains("upstream ") && text.contains("listen 127.0.0.1:18099;"), "{text}");
    let r = t.req(Method::GET, &format!("/api/v1/apps/{name}/nginx")).send().await.unwrap();
    assert!(r.text().await.unwrap().contains("listen 127.0.0.1:8080;"), "the default port is 8080");

    // Managed NGINX without a running NGINX: the config is written, the missing pid file is a 400 naming it.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("web.conf");
    let r = t
        .req(Method::PUT, &format!("/api/v1/apps/{name}/nginx"))
        .json(&serde_json::json!({
            "config_path": config,
            "pid_file": dir.path().join("nginx.pid"),
            "listen": 18098,
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let err = api_error(r).await;
    assert!(err.message.contains("pid file"), "{}", err.message);
    assert!(std::fs::read_to_string(&config).unwrap().contains("listen 127.0.0.1:18098;"));
    let r = t.req(Method::DELETE, &format!("/api/v1/apps/{name}/nginx")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body: serde_json::Value = r.json().await.unwrap();
    assert!(body["message"].as_str().unwrap().contains("no longer manages"), "{body}");
}

/// The local images (the demo image built above among them, marked) and a check of the running app's spec: an
/// apply would update it, its image is present, admission admits it.
async fn images_and_check(t: &TestServer, name: &str, image: &str, yaml: &str) {
    let r = t.req(Method::GET, "/api/v1/images").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap_or_default());
    let images: Vec<crane_api::ImageView> = r.json().await.unwrap();
    let demo = images.iter().find(|i| i.reference == image).unwrap_or_else(|| panic!("{image} not in {images:?}"));
    assert!(demo.demo && demo.id.starts_with("sha256:"), "{demo:?}");
    assert!(demo.size.is_some_and(|s| s > 0.0), "{demo:?}");
    let created = demo.created.as_deref().expect("the engine says when the image was built");
    // RFC 3339 in UTC to the second: `2025-01-10T12:00:00Z`.
    assert!(created.len() == 20 && created.as_bytes()[10] == b'T' && created.ends_with('Z'), "{created}");
    assert!(images.iter().filter(|i| i.demo).count() == 1, "only the demo image is marked: {images:?}");
    let mut sorted = images.clone();
    sorted.sort_by(|a, b| a.reference.cmp(&b.reference));
    assert_eq!(images, sorted, "sorted by tag");

    let r = t.req(Method::POST, "/api/v1/check").header("Content-Type", "application/yaml").body(yaml.to_string());
    let check: crane_api::SpecFileCheckView = r.send().await.unwrap().json().await.unwrap();
    assert!(check.valid, "{check:?}");
    let doc = &check.documents[0];
    assert_eq!(doc.name.as_deref(), Some(name));
    assert!(doc.exists && doc.is_demo_image, "{doc:?}");
    assert_eq!(doc.image_present, Some(true), "{doc:?}");
    assert!(doc.admission.as_ref().is_some_and(|a| a.admitted), "{doc:?}");
}

/// A short load run (start, status, its report, its event) and the charts of the app.
async fn load_and_charts(t: &TestServer, name: &str) {
    // A few requests through the load balancer, each answered by a named instance of this app.
    let r = t.req(Method::POST, &format!("/api/v1/apps/{name}/requests?count=4")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap_or_default());
    let sent: crane_api::SendRequestsView = r.json().await.unwrap();
    assert_eq!(sent.hits.len(), 4, "{sent:?}");
    for hit in &sent.hits {
        assert_eq!(hit.status, Some(200), "{sent:?}");
        assert!(hit.instance.as_deref().is_some_and(|i| i.starts_with(&format!("{name}-"))), "{sent:?}");
    }
    let r = t.req(Method::POST, &format!("/api/v1/apps/{name}/requests?count=99")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let status: crane_api::DemoImageView =
        t.req(Method::GET, "/api/v1/demo-image").send().await.unwrap().json().await.unwrap();
    assert_eq!(status.present, Some(true), "the demo image was built above: {status:?}");

    let r = t.req(Method::GET, &format!("/api/v1/apps/{name}/load")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(api_error(r).await.message.contains("no load run"));

    let r = t
        .req(Method::POST, &format!("/api/v1/apps/{name}/load"))
        .json(&serde_json::json!({ "rate": 20, "duration_s": 2 }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED, "{}", r.text().await.unwrap_or_default());
    let started: LoadView = r.json().await.unwrap();
    assert!(started.running && started.url.starts_with("http://127.0.0.1:"), "{started:?}");
    // A second run while the first runs is a conflict.
    let r = t
        .req(Method::POST, &format!("/api/v1/apps/{name}/load"))
        .json(&serde_json::json!({ "rate": 20, "duration_s": 2 }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT);

    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let report = loop {
        let r = t.req(Method::GET, &format!("/api/v1/apps/{name}/load")).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let view: LoadView = r.json().await.unwrap();
        if !view.running {
            break view;
        }
        assert!(std::time::Instant::now() < deadline, "the 2 s load run still runs after 30 s: {view:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(report.sent > 0.0 && report.ok > 0.0, "{report:?}");
    let app: AppView = t.req(Method::GET, &format!("/api/v1/apps/{name}")).send().await.unwrap().json().await.unwrap();
    assert_eq!(app.load.as_ref().map(|l| l.running), Some(false), "{:?}", app.load);
    // Stopping a finished run changes nothing.
    let r = t.req(Method::DELETE, &format!("/api/v1/apps/{name}/load")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<LoadView>().await.unwrap().sent, report.sent);

    for metric in ["cpu", "memory", "rps", "latency", "errors", "replicas"] {
        let r = t.req(Method::GET, &format!("/api/v1/apps/{name}/charts/{metric}?range=5m")).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{metric}");
        assert_eq!(r.headers()["content-type"], "image/svg+xml", "{metric}");
        let svg = r.text().await.unwrap();
        assert!(svg.contains("<svg"), "{metric}: {svg}");
    }
    let r = t.req(Method::GET, &format!("/api/v1/apps/{name}/charts/rps")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "range defaults to 5m");
    for bad in ["charts/disk", "charts/rps?range=forever"] {
        let r = t.req(Method::GET, &format!("/api/v1/apps/{name}/{bad}")).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(api_error(r).await.code, ErrorCode::BadRequest, "{bad}");
    }
}
