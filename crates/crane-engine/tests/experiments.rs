//! Experiment runs on the fake runtime: a recording ends by its duration, a stop, its app's deletion or an engine
//! restart and keeps the collector's points; every bound is refused by name; runs compare and export (CSV, SVG, PNG)
//! and outlive their app. (A recording with real load is `tests/experiments_docker.rs` at the root.)

mod support;

use crane_api::{Door, ExperimentEnd, ExperimentMetric, ExperimentRecordRequest, ExperimentState, ExportFormat, Role};
use crane_core::experiment;
use crane_core::ports::{Store, StoredExperiment};
use crane_engine::{Caller, EngineError};
use support::{spec, Rig};

fn app(name: &str) -> String {
    spec(
        name,
        "demo:1",
        1,
        "resources: { memory: 64Mi, cpu: 0.5 }\nsecurity: { user: '1000' }\n\
         autoscaling: { min: 1, max: 4, metric: cpu, target: 50, scaleDownStabilization: 10s }\n",
    )
}

fn request(app: &str, name: Option<&str>, duration_s: Option<f64>) -> ExperimentRecordRequest {
    ExperimentRecordRequest { app: app.into(), name: name.map(str::to_string), load: None, after_s: None, duration_s }
}

/// Waits (virtual time) until the run has ended.
async fn ended(rig: &Rig, name: &str) {
    let store = rig.store.clone();
    let name = name.to_string();
    for _ in 0..600 {
        if store.get_experiment(&name).await.unwrap().is_some_and(|r| r.ended_at.is_some()) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("run {name} did not end\n{}", rig.log());
}

#[tokio::test(start_paused = true)]
async fn a_recording_ends_with_its_duration_and_keeps_the_collectors_points() {
    let rig = Rig::new().await;
    rig.apply(&app("web")).await;
    let started = rig.engine.experiment_record(&request("web", Some("stab-10s"), Some(12.0))).await.unwrap();
    assert_eq!((started.state, started.planned_s, started.point_count), (ExperimentState::Recording, Some(12.0), 0));
    let s = &started.settings;
    assert_eq!((s.image.as_str(), s.replicas, s.cpus), ("demo:1", 1, 0.5));
    let a = s.autoscaling.as_ref().expect("the autoscaler's policy");
    assert_eq!((a.target, a.min, a.max, a.scale_down_stabilization_ms), (50.0, 1, 4, 10_000.0));
    // Listed while recording, without points.
    let list = rig.engine.experiment_list().await.unwrap();
    assert_eq!(
        list.iter().map(|r| (r.name.as_str(), r.state)).collect::<Vec<_>>(),
        [("stab-10s", ExperimentState::Recording)]
    );

    ended(&rig, "stab-10s").await;
    let run = rig.engine.experiment_get("stab-10s").await.unwrap();
    assert_eq!((run.state, run.end), (ExperimentState::Done, Some(ExperimentEnd::DurationReached)));
    assert!(run.point_count >= 1 && run.points.len() == run.point_count as usize, "{run:?}");
    // The collector's rounds: the app's desired and ready replicas.
    assert!(run.points.iter().all(|p| p.replicas == Some(1.0) && p.t_s >= 0.0), "{:?}", run.points);

    // Both ends are in the event log with their inputs.
    let started = rig.events(&["experiment.started"]);
    assert_eq!(started.len(), 1, "{}", rig.log());
    assert_eq!(started[0].details["name"], "stab-10s");
    assert_eq!(started[0].details["settings"]["autoscaling"]["scale_down_stabilization_ms"], 10_000);
    assert_eq!(started[0].details["plannedS"], 12.0);
    let finished = rig.events(&["experiment.finished"]);
    assert_eq!(finished[0].details["end"], "duration_reached");
    assert_eq!(finished[0].details["points"], run.point_count);
    rig.engine.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn stop_and_the_apps_deletion_end_recordings_and_runs_outlive_the_app() {
    let rig = Rig::new().await;
    rig.apply(&app("web")).await;
    rig.engine.experiment_record(&request("web", None, None)).await.unwrap();
    rig.idle(12).await;
    let stopped = rig.engine.experiment_stop("web-1").await.unwrap();
    assert_eq!((stopped.state, stopped.end), (ExperimentState::Done, Some(ExperimentEnd::Stopped)));
    assert!(stopped.point_count >= 1, "{stopped:?}");
    // Stopping again returns the run as it is.
    assert_eq!(rig.engine.experiment_stop("web-1").await.unwrap().end, Some(ExperimentEnd::Stopped));

    // The next default name; the app deleted under a recording: the points up to then are kept.
    let second = rig.engine.experiment_record(&request("web", None, None)).await.unwrap();
    assert_eq!(second.name, "web-2");
    rig.idle(12).await;
    rig.engine.delete("web").await.unwrap();
    let deleted = rig.engine.experiment_get("web-2").await.unwrap();
    assert_eq!((deleted.state, deleted.end), (ExperimentState::Done, Some(ExperimentEnd::AppDeleted)));
    assert!(deleted.point_count >= 1, "the points were copied before the samples went: {deleted:?}");
    assert!(rig
        .store
        .query_samples(
            "web",
            crane_core::ports::InstanceFilter::Any,
            &crane_core::ports::SampleMetric::Replicas,
            0,
            u64::MAX
        )
        .await
        .unwrap()
        .is_empty());

    // Compared and exported after the app is gone.
    let runs = vec!["web-1".to_string(), "web-2".to_string()];
    let comparison = rig.engine.experiment_compare(&runs).await.unwrap();
    assert_eq!(comparison.runs.len(), 2);
    assert!(comparison.runs.iter().all(|r| r.differing.is_empty() && r.peak_replicas == Some(1.0)), "{comparison:?}");
    assert!(comparison.common.iter().any(|c| c == "stabilization 10s"), "{comparison:?}");
    let (csv, media) = rig.engine.experiment_export(&runs, ExportFormat::Csv, None).await.unwrap();
    let csv = String::from_utf8(csv).unwrap();
    assert_eq!(media, "text/csv; charset=utf-8");
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some(experiment::CSV_HEADER));
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), (stopped.point_count + deleted.point_count) as usize, "{csv}");
    assert!(rows[0].starts_with("web-1,web,") && rows.last().unwrap().starts_with("web-2,web,"), "{csv}");
    let (svg, media) = rig.engine.experiment_export(&runs, ExportFormat::Svg, None).await.unwrap();
    let svg = String::from_utf8(svg).unwrap();
    assert_eq!(media, "image/svg+xml");
    assert!(svg.contains(">web-1<") || svg.contains("web-1\n"), "run names in the legend");
    assert!(svg.contains("Replicas (desired)") && svg.contains("Latency p95"), "the four charts");
    let (one, _) =
        rig.engine.experiment_export(&runs, ExportFormat::Svg, Some(ExperimentMetric::Replicas)).await.unwrap();
    let one = String::from_utf8(one).unwrap();
    assert!(one.contains("Replicas (desired)") && !one.contains("Latency p95"));
    let (png, media) = rig.engine.experiment_export(&runs, ExportFormat::Png, None).await.unwrap();
    assert_eq!((media, &png[..8]), ("image/png", &b"\x89PNG\r\n\x1a\n"[..]));

    // Deleted on request.
    rig.engine.experiment_delete("web-1").await.unwrap();
    assert!(matches!(rig.engine.experiment_get("web-1").await, Err(EngineError::Missing(_))));
    assert_eq!(rig.engine.experiment_list().await.unwrap().len(), 1);
    rig.engine.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn every_bound_is_refused_by_name_and_nothing_is_created() {
    let rig = Rig::new().await;
    rig.apply(&app("web")).await;
    let refused = |result: Result<crane_api::ExperimentView, EngineError>| match result {
        Err(e) => e.to_string(),
        Ok(v) => panic!("accepted: {v:?}"),
    };
    let mut bad = request("web", Some("Stab_10"), None);
    assert!(refused(rig.engine.experiment_record(&bad).await).starts_with("name: `Stab_10` is not a valid run name"));
    bad.name = Some("overlay".into());
    assert!(refused(rig.engine.experiment_record(&bad).await).contains("names a route"));
    bad = request("web", None, Some(3601.0));
    assert!(refused(rig.engine.experiment_record(&bad).await).starts_with("duration_s: 3601 is out of range"));
    bad = request("web", None, None);
    bad.after_s = Some(10.0);
    assert!(refused(rig.engine.experiment_record(&bad).await).starts_with("after_s: time after the load needs a load"));
    bad = request("web", None, None);
    bad.load =
        Some(crane_api::LoadRequest { rate: 0.0, duration_s: 10.0, ramp_to: None, concurrency: None, path: None });
    assert!(refused(rig.engine.experiment_record(&bad).await).starts_with("rate: 0 is out of range"));
    // A load needs the app's address: this app has no port, and no run is stored.
    bad.load.as_mut().unwrap().rate = 10.0;
    assert!(refused(rig.engine.experiment_record(&bad).await).contains("ports"));
    assert!(matches!(rig.engine.experiment_record(&request("nope", None, None)).await, Err(EngineError::NotFound(_))));
    assert!(rig.engine.experiment_list().await.unwrap().is_empty(), "nothing half-created");

    // One recording per app; names are unique.
    rig.engine.experiment_record(&request("web", Some("a"), None)).await.unwrap();
    assert!(refused(rig.engine.experiment_record(&request("web", Some("b"), None)).await)
        .contains("run 'a' of 'web' is being recorded"));
    assert!(refused(rig.engine.experiment_delete("a").await.map(|_| unreachable!()))
        .contains("is being recorded; stop it first"));
    let runs = vec!["a".to_string()];
    assert!(rig.engine.experiment_compare(&runs).await.unwrap_err().to_string().contains("still recording"));
    rig.engine.experiment_stop("a").await.unwrap();
    assert!(refused(rig.engine.experiment_record(&request("web", Some("a"), None)).await)
        .contains("named 'a' exists already"));

    // Overlays: 1 to 4 runs, each once.
    let five: Vec<String> = (0..5).map(|i| format!("r{i}")).collect();
    assert!(rig.engine.experiment_compare(&five).await.unwrap_err().to_string().contains("at most 4"));
    let twice = vec!["a".to_string(), "a".to_string()];
    assert!(rig.engine.experiment_compare(&twice).await.unwrap_err().to_string().contains("named twice"));
    assert!(rig.engine.experiment_compare(&[]).await.unwrap_err().to_string().starts_with("runs:"));
    let err =
        rig.engine.experiment_export(&runs, ExportFormat::Csv, Some(ExperimentMetric::Replicas)).await.unwrap_err();
    assert!(err.to_string().starts_with("metric:"), "{err}");

    // At most 50 runs: the 51st is refused and says how to make room.
    for i in 1..experiment::MAX_RUNS {
        let row = rig.store.get_experiment("a").await.unwrap().unwrap();
        let record = row.record.replace("\"name\":\"a\"", &format!("\"name\":\"filler-{i}\""));
        rig.store.put_experiment(&StoredExperiment { name: format!("filler-{i}"), record, ..row }).await.unwrap();
    }
    let full = refused(rig.engine.experiment_record(&request("web", Some("one-more"), None)).await);
    assert!(full.starts_with("Crane keeps at most 50 experiment runs and has 50; delete one"), "{full}");
    rig.engine.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_restart_closes_the_runs_that_were_recording() {
    let rig = Rig::new().await;
    rig.apply(&app("web")).await;
    rig.engine.experiment_record(&request("web", Some("long"), None)).await.unwrap();
    rig.idle(6).await;
    let rig = rig.restart().await;
    let run = rig.engine.experiment_get("long").await.unwrap();
    assert_eq!((run.state, run.end), (ExperimentState::Done, Some(ExperimentEnd::EngineRestarted)));
    rig.engine.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn viewers_read_runs_and_operators_manage_only_their_own() {
    let rig = Rig::new().await;
    rig.apply(&app("web")).await;
    rig.engine.experiment_record(&request("web", Some("admins"), Some(5.0))).await.unwrap();
    ended(&rig, "admins").await;
    let as_user = |user: &str, role| rig.engine.as_caller(Caller { user: user.into(), role, door: Door::Rest });
    let viewer = as_user("vera", Role::Viewer);
    assert_eq!(viewer.experiment_list().await.unwrap().len(), 1);
    assert!(viewer.experiment_get("admins").await.is_ok());
    assert!(matches!(viewer.experiment_record(&request("web", None, None)).await, Err(EngineError::Forbidden(_))));
    let operator = as_user("olga", Role::Operator);
    // Not her app, not her run.
    assert!(matches!(operator.experiment_record(&request("web", None, None)).await, Err(EngineError::Forbidden(_))));
    let err = operator.experiment_delete("admins").await.unwrap_err();
    assert!(matches!(&err, EngineError::Forbidden(m) if m.contains("was recorded by 'admin'")), "{err}");
    // Audited, also when refused.
    let audit = rig.store.all_audit();
    assert!(audit.iter().any(|a| a.action == "experiment.record" && a.user == "admin" && a.outcome == "ok"));
    assert!(audit.iter().any(|a| a.action == "experiment.delete" && a.user == "olga" && a.outcome == "forbidden"));
    rig.engine.shutdown().await;
}
