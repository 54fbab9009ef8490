//! The experiment routes over REST: two finished runs (written to the engine's database, as a recording leaves them)
//! are listed, read, compared, drawn on the same axes (SVG, PNG), exported (CSV with its header, as a download) and
//! deleted; every bad input is a 4xx `ApiError` naming the field. Needs no Docker: a recording with real load is
//! `tests/experiments_docker.rs` at the repository root.

mod support;

use crane_api::{ErrorCode, ExperimentComparisonView, ExperimentState, ExperimentView};
use crane_core::experiment::{AutoscalingSettings, Run, RunEnd, RunPoint, Settings, CSV_HEADER};
use crane_core::ports::{Store, StoredExperiment};
use reqwest::{Method, StatusCode};
use support::{api_error, TestServer};

const T0: u64 = 1_700_000_000_000;

/// A finished run of `web` with 30 points, scaled down `down_after_s` after the load (its stabilization window).
fn run(name: &str, stabilization_ms: u64, started_at: u64) -> Run {
    let points: Vec<RunPoint> = (0..30)
        .map(|i| {
            let t = i * 2_000;
            let replicas = if t < 4_000 || t > 20_000 + stabilization_ms { 1.0 } else { 3.0 };
            RunPoint {
                at: started_at + t,
                replicas: Some(replicas),
                ready: Some(replicas),
                rps: Some(if t < 20_000 { 40.0 } else { 0.0 }),
                rps_per_replica: Some(if t < 20_000 { 40.0 / replicas } else { 0.0 }),
                latency_p95_ms: Some(3.0),
                cpu_percent: Some(if t < 20_000 { 60.0 } else { 1.0 }),
                errors_per_s: Some(0.0),
            }
        })
        .collect();
    Run {
        name: name.into(),
        app: "web".into(),
        recorded_by: "admin".into(),
        started_at,
        ended_at: Some(started_at + 60_000),
        planned_ms: Some(60_000),
        after_ms: 40_000,
        settings: Settings {
            image: "crane-demo:0.1.0".into(),
            revision: 1,
            replicas: 1,
            cpus: 0.5,
            autoscaling: Some(AutoscalingSettings {
                metric: crane_core::autoscale::Metric::Cpu,
                target: 50.0,
                min: 1,
                max: 4,
                tolerance: 0.1,
                scale_down_stabilization_ms: stabilization_ms,
                max_scale_up_step: None,
                max_scale_down_step: None,
            }),
        },
        load: Some(crane_core::experiment::LoadProfile {
            rate: 40.0,
            ramp_to: None,
            duration_ms: 20_000,
            concurrency: None,
            path: "/work?ms=20".into(),
        }),
        end: Some(RunEnd::LoadFinished),
        point_count: points.len(),
        points,
    }
}

/// Writes runs into the engine's database, as the engine's recordings leave them.
async fn seed(t: &TestServer, runs: &[Run]) {
    let store = crane_store::SqliteStore::open(&t.dir.path().join("data").join("crane.db")).await.unwrap();
    for r in runs {
        let record = serde_json::to_string(&Run { points: Vec::new(), ..r.clone() }).unwrap();
        let points = serde_json::to_string(&r.points).unwrap();
        let row = StoredExperiment {
            name: r.name.clone(),
            app: r.app.clone(),
            started_at: r.started_at,
            ended_at: r.ended_at,
            record,
            points,
        };
        store.put_experiment(&row).await.unwrap();
    }
}

#[tokio::test]
async fn runs_are_listed_compared_drawn_exported_and_deleted_over_rest() {
    let t = TestServer::start().await;
    seed(&t, &[run("stab-10s", 10_000, T0), run("stab-60s", 60_000, T0 + 3_600_000)]).await;

    let r = t.req(Method::GET, "/api/v1/experiments").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let runs: Vec<ExperimentView> = r.json().await.unwrap();
    let names: Vec<(&str, ExperimentState, u32, usize)> =
        runs.iter().map(|r| (r.name.as_str(), r.state, r.point_count, r.points.len())).collect();
    assert_eq!(names, [("stab-10s", ExperimentState::Done, 30, 0), ("stab-60s", ExperimentState::Done, 30, 0)]);

    let r = t.req(Method::GET, "/api/v1/experiments/stab-10s").send().await.unwrap();
    let one: ExperimentView = r.json().await.unwrap();
    assert_eq!(one.points.len(), 30);
    assert_eq!((one.points[3].t_s, one.points[3].replicas), (6.0, Some(3.0)));
    assert_eq!(one.load.as_ref().and_then(|l| l.path.as_deref()), Some("/work?ms=20"));
    assert_eq!(one.settings.autoscaling.as_ref().map(|a| a.scale_down_stabilization_ms), Some(10_000.0));

    let runs_q = [("runs", "stab-10s,stab-60s")];
    let r = t.req(Method::GET, "/api/v1/experiments/compare").query(&runs_q).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let comparison: ExperimentComparisonView = r.json().await.unwrap();
    let differing: Vec<&[String]> = comparison.runs.iter().map(|r| r.differing.as_slice()).collect();
    assert_eq!(differing, [&["stabilization 10s".to_string()][..], &["stabilization 1m".to_string()][..]]);
    assert_eq!(comparison.runs[0].legend, "stab-10s: stabilization 10s");
    assert_eq!((comparison.runs[0].peak_replicas, comparison.runs[0].peak_at_s), (Some(3.0), Some(4.0)));
    assert!(comparison.common.contains(&"metric cpu".to_string()), "{:?}", comparison.common);

    // The overlay: SVG with both runs named in every chart's legend.
    let r = t.req(Method::GET, "/api/v1/experiments/overlay").query(&runs_q).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()[reqwest::header::CONTENT_TYPE], "image/svg+xml");
    let svg = r.text().await.unwrap();
    assert_eq!(svg.matches("stab-10s: stabilization 10s").count(), 4, "one legend entry per chart");
    assert_eq!(svg.matches("stab-60s: stabilization 1m").count(), 4);
    assert!(svg.contains("target 50%"), "the shared cpu target is drawn");
    // One chart, as PNG.
    let r = t
        .req(Method::GET, "/api/v1/experiments/overlay")
        .query(&[("runs", "stab-10s,stab-60s"), ("metric", "replicas"), ("format", "png")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()[reqwest::header::CONTENT_TYPE], "image/png");
    let png = r.bytes().await.unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    assert_eq!(u32::from_be_bytes(png[16..20].try_into().unwrap()), 720, "width of one chart");
    assert_eq!(u32::from_be_bytes(png[20..24].try_into().unwrap()), 230, "height of one chart");

    // The CSV export, as a download.
    let r = t
        .req(Method::GET, "/api/v1/experiments/export")
        .query(&[("runs", "stab-60s,stab-10s"), ("format", "csv")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()[reqwest::header::CONTENT_TYPE], "text/csv; charset=utf-8");
    assert_eq!(
        r.headers()[reqwest::header::CONTENT_DISPOSITION],
        "attachment; filename=\"crane-stab-60s-vs-stab-10s.csv\""
    );
    let csv = r.text().await.unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], CSV_HEADER);
    assert_eq!(lines.len(), 61, "a header and one row per point of each run");
    assert!(lines[1].starts_with("stab-60s,web,0.000,") && lines[60].starts_with("stab-10s,web,58.000,"), "{csv}");
    let r = t
        .req(Method::GET, "/api/v1/experiments/export")
        .query(&[("runs", "stab-10s"), ("format", "svg")])
        .send()
        .await
        .unwrap();
    assert!(r.text().await.unwrap().contains("Requests/s per ready replica"));

    let r = t.req(Method::DELETE, "/api/v1/experiments/stab-10s").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = t.req(Method::GET, "/api/v1/experiments/stab-10s").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(api_error(r).await.code, ErrorCode::NotFound);
    t.stop().await;
}

#[tokio::test]
async fn bad_experiment_requests_are_refused_by_field() {
    let t = TestServer::start().await;
    seed(&t, &[run("a", 10_000, T0)]).await;
    let post = |body: serde_json::Value| t.req(Method::POST, "/api/v1/experiments").json(&body).send();

    let check = |status: StatusCode, code: ErrorCode, starts: &'static str| {
        move |r: reqwest::Response| async move {
            assert_eq!(r.status(), status);
            let e = api_error(r).await;
            assert_eq!(e.code, code, "{}", e.message);
            assert!(e.message.contains(starts), "{}", e.message);
        }
    };
    check(StatusCode::BAD_REQUEST, ErrorCode::BadRequest, "unknown field `rate`")(
        post(serde_json::json!({"app": "web", "rate": 5})).await.unwrap(),
    )
    .await;
    check(StatusCode::BAD_REQUEST, ErrorCode::BadRequest, "name: `No` is not a valid run name")(
        post(serde_json::json!({"app": "web", "name": "No"})).await.unwrap(),
    )
    .await;
    check(StatusCode::BAD_REQUEST, ErrorCode::BadRequest, "duration_s: -1 is out of range")(
        post(serde_json::json!({"app": "web", "duration_s": -1})).await.unwrap(),
    )
    .await;
    check(StatusCode::NOT_FOUND, ErrorCode::NotFound, "no app named 'web'")(
        post(serde_json::json!({"app": "web"})).await.unwrap(),
    )
    .await;

    let get = |path: &str, query: &[(&str, &str)]| t.req(Method::GET, path).query(query).send();
    check(StatusCode::BAD_REQUEST, ErrorCode::BadRequest, "runs")(
        get("/api/v1/experiments/compare", &[]).await.unwrap(),
    )
    .await;
    check(StatusCode::BAD_REQUEST, ErrorCode::BadRequest, "runs: 5 runs named; an overlay compares at most 4")(
        get("/api/v1/experiments/compare", &[("runs", "a,b,c,d,e")]).await.unwrap(),
    )
    .await;
    check(StatusCode::NOT_FOUND, ErrorCode::NotFound, "no experiment run named 'ghost'")(
        get("/api/v1/experiments/overlay", &[("runs", "a,ghost")]).await.unwrap(),
    )
    .await;
    check(StatusCode::BAD_REQUEST, ErrorCode::BadRequest, "format: an overlay is a chart")(
        get("/api/v1/experiments/overlay", &[("runs", "a"), ("format", "csv")]).await.unwrap(),
    )
    .await;
    check(StatusCode::BAD_REQUEST, ErrorCode::BadRequest, "metric")(
        get("/api/v1/experiments/overlay", &[("runs", "a"), ("metric", "bogus")]).await.unwrap(),
    )
    .await;
    check(StatusCode::BAD_REQUEST, ErrorCode::BadRequest, "format")(
        get("/api/v1/experiments/export", &[("runs", "a"), ("format", "xls")]).await.unwrap(),
    )
    .await;
    check(StatusCode::BAD_REQUEST, ErrorCode::BadRequest, "format")(
        get("/api/v1/experiments/export", &[("runs", "a")]).await.unwrap(),
    )
    .await;
    check(StatusCode::NOT_FOUND, ErrorCode::NotFound, "no experiment run named 'ghost'")(
        t.req(Method::POST, "/api/v1/experiments/ghost/stop").send().await.unwrap(),
    )
    .await;

    // The routes are in the OpenAPI document.
    let doc: serde_json::Value = t.req(Method::GET, "/api/v1/openapi.json").send().await.unwrap().json().await.unwrap();
    for path in [
        "/api/v1/experiments",
        "/api/v1/experiments/{name}",
        "/api/v1/experiments/{name}/stop",
        "/api/v1/experiments/compare",
        "/api/v1/experiments/overlay",
        "/api/v1/experiments/export",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} is not in the OpenAPI document");
    }
    assert!(doc["components"]["schemas"]["ExperimentRecordRequest"].is_object());
    t.stop().await;
}
