//! Table-driven tests of experiments: points from samples, alignment, comparison, the CSV export, names and plans.

use super::*;

const T0: Millis = 1_700_000_000_000;

fn app_sample(metric: SampleMetric, at: Millis, value: f64) -> Sample {
    Sample { app: "web".into(), instance: None, metric, at, value }
}

fn instance_sample(instance: &str, metric: SampleMetric, at: Millis, value: f64) -> Sample {
    Sample { app: "web".into(), instance: Some(instance.into()), metric, at, value }
}

fn point(at: Millis) -> RunPoint {
    RunPoint { at, ..RunPoint::default() }
}

/// A run of `web` started at `T0`, with `settings` and `load` changed by the caller.
fn run(name: &str) -> Run {
    Run {
        name: name.into(),
        app: "web".into(),
        recorded_by: "admin".into(),
        started_at: T0,
        ended_at: Some(T0 + 30_000),
        planned_ms: Some(30_000),
        after_ms: 0,
        settings: Settings {
            image: "crane-demo:0.1.0".into(),
            revision: 1,
            replicas: 1,
            cpus: 0.5,
            autoscaling: Some(AutoscalingSettings {
                metric: Metric::Cpu,
                target: 50.0,
                min: 1,
                max: 5,
                tolerance: 0.1,
                scale_down_stabilization_ms: 10_000,
                max_scale_up_step: None,
                max_scale_down_step: None,
            }),
        },
        load: Some(LoadProfile {
            rate: 40.0,
            ramp_to: None,
            duration_ms: 30_000,
            concurrency: None,
            path: "/work?ms=20".into(),
        }),
        end: Some(RunEnd::LoadFinished),
        point_count: 0,
        points: Vec::new(),
    }
}

#[test]
fn points_take_app_values_mean_cpu_and_rps_per_ready_replica() {
    let samples = vec![
        // Round 1: two instances, one ready.
        app_sample(SampleMetric::Replicas, T0 + 1000, 2.0),
        app_sample(SampleMetric::Ready, T0 + 1000, 1.0),
        app_sample(SampleMetric::Rps, T0 + 1000, 30.0),
        app_sample(SampleMetric::LatencyP95Ms, T0 + 1000, 12.5),
        app_sample(SampleMetric::ErrorsPerS, T0 + 1000, 0.0),
        instance_sample("web-1", SampleMetric::Cpu, T0 + 1000, 80.0),
        instance_sample("web-2", SampleMetric::Cpu, T0 + 1000, 20.0),
        // Per-instance rps and memory are not series of a run.
        instance_sample("web-1", SampleMetric::Rps, T0 + 1000, 30.0),
        instance_sample("web-1", SampleMetric::MemoryMib, T0 + 1000, 9.0),
        // Round 2: none ready (no per-replica rate), a NaN skipped.
        app_sample(SampleMetric::Replicas, T0 + 3000, 2.0),
        app_sample(SampleMetric::Ready, T0 + 3000, 0.0),
        app_sample(SampleMetric::Rps, T0 + 3000, 0.0),
        app_sample(SampleMetric::LatencyP95Ms, T0 + 3000, f64::NAN),
        // A round of memory only is no point; samples outside the range are left out.
        instance_sample("web-1", SampleMetric::MemoryMib, T0 + 5000, 9.0),
        app_sample(SampleMetric::Replicas, T0 - 1, 7.0),
        app_sample(SampleMetric::Replicas, T0 + 60_001, 7.0),
    ];
    let points = points_from_samples(&samples, T0, T0 + 60_000, MAX_POINTS);
    assert_eq!(
        points,
        vec![
            RunPoint {
                at: T0 + 1000,
                replicas: Some(2.0),
                ready: Some(1.0),
                rps: Some(30.0),
                rps_per_replica: Some(30.0),
                latency_p95_ms: Some(12.5),
                cpu_percent: Some(50.0),
                errors_per_s: Some(0.0),
            },
            RunPoint { at: T0 + 3000, replicas: Some(2.0), ready: Some(0.0), rps: Some(0.0), ..point(0) },
        ]
    );
}

#[test]
fn long_series_are_thinned_evenly_keeping_the_last_point() {
    #[rustfmt::skip]
    let cases: &[(usize, usize, &[Millis])] = &[
        // (points, max, the `at`s kept)
        (3, 10, &[0, 1, 2]),
        (10, 4, &[0, 4, 8, 9]),
        (10, 5, &[0, 3, 6, 9]),
        (11, 4, &[0, 4, 8, 10]),
        (5, 0, &[0, 4]),
    ];
    for &(n, max, kept) in cases {
        let samples: Vec<Sample> = (0..n as Millis).map(|i| app_sample(SampleMetric::Replicas, i, 1.0)).collect();
        let got: Vec<Millis> = points_from_samples(&samples, 0, 100, max).iter().map(|p| p.at).collect();
        assert_eq!(got, kept, "{n} points, at most {max}");
    }
}

#[test]
fn series_are_aligned_on_the_time_since_the_start() {
    let mut r = run("a");
    r.points = vec![
        RunPoint { replicas: Some(9.0), ..point(T0 - 500) },
        RunPoint { replicas: Some(1.0), ..point(T0) },
        RunPoint { replicas: Some(2.0), cpu_percent: Some(70.0), ..point(T0 + 2000) },
        RunPoint { cpu_percent: Some(f64::INFINITY), ..point(T0 + 4000) },
        RunPoint { replicas: Some(9.0), ..point(T0 + 30_001) },
    ];
    assert_eq!(aligned(&r, RunMetric::Replicas), vec![(0, 1.0), (2000, 2.0)]);
    assert_eq!(aligned(&r, RunMetric::CpuPercent), vec![(2000, 70.0)]);
    assert_eq!(aligned(&r, RunMetric::LatencyP95Ms), vec![]);
    let mut longer = run("b");
    longer.ended_at = Some(T0 + 45_000);
    let mut recording = run("c");
    recording.ended_at = None;
    assert_eq!(longest_ms(&[&r, &longer], 0), 45_000);
    assert_eq!(longest_ms(&[&r, &recording], T0 + 50_000), 50_000);
    assert_eq!(longest_ms(&[], T0), 0);
}

/// `check(changes to each run, the differing settings of each, the number of common settings)`.
fn check(changes: &[fn(&mut Run)], differing: &[&[&str]], common: usize) {
    let runs: Vec<Run> = changes
        .iter()
        .enumerate()
        .map(|(i, change)| {
            let mut r = run(&format!("run-{i}"));
            change(&mut r);
            r
        })
        .collect();
    let refs: Vec<&Run> = runs.iter().collect();
    let got = compare(&refs);
    let expected: Vec<Vec<String>> = differing.iter().map(|d| d.iter().map(|s| s.to_string()).collect()).collect();
    assert_eq!(got.differing, expected, "common: {:?}", got.common);
    assert_eq!(got.common.len(), common, "common: {:?}", got.common);
}

fn autoscaling(r: &mut Run) -> &mut AutoscalingSettings {
    r.settings.autoscaling.as_mut().expect("autoscaling")
}

#[test]
fn comparison_names_what_differs_per_run() {
    // 15 settings apply to an autoscaled run with a load and nothing after it.
    check(&[|_| {}, |_| {}], &[&[], &[]], 15);
    check(&[|_| {}], &[&[]], 15);
    check(
        &[
            |r| autoscaling(r).scale_down_stabilization_ms = 10_000,
            |r| autoscaling(r).scale_down_stabilization_ms = 60_000,
        ],
        &[&["stabilization 10s"], &["stabilization 1m"]],
        14,
    );
    check(
        &[
            |_| {},
            |r| {
                let a = autoscaling(r);
                a.metric = Metric::Rps;
                a.target = 5.0;
            },
        ],
        &[&["metric cpu", "target 50%"], &["metric rps", "target 5 req/s"]],
        13,
    );
    check(
        &[|_| {}, |r| r.settings.autoscaling = None],
        &[
            &[
                "metric cpu",
                "target 50%",
                "min 1",
                "max 5",
                "stabilization 10s",
                "tolerance 10%",
                "no step-up limit",
                "no step-down limit",
            ],
            &["no autoscaling"],
        ],
        7,
    );
    check(
        &[|r| r.load = None, |_| {}],
        &[&["no load"], &["40 req/s", "load 30s", "default concurrency", "path /work?ms=20"]],
        11,
    );
    check(
        &[|r| r.load.as_mut().unwrap().ramp_to = Some(200.0), |r| r.after_ms = 60_000, |r| r.settings.replicas = 3],
        &[
            &["1 replica at start", "ramp 40→200 req/s"],
            &["1 replica at start", "40 req/s", "1m after the load"],
            &["3 replicas at start", "40 req/s"],
        ],
        13,
    );
    check(
        &[|r| autoscaling(r).max_scale_up_step = Some(2), |r| r.settings.cpus = 0.25, |_| {}],
        &[&["cpu 0.5", "step up ≤ 2"], &["cpu 0.25", "no step-up limit"], &["cpu 0.5", "no step-up limit"]],
        13,
    );
}

#[test]
fn legends_name_the_run_and_what_differs_within_a_bound() {
    assert_eq!(legend("stab-10s", &[]), "stab-10s");
    assert_eq!(legend("stab-10s", &["stabilization 10s".into()]), "stab-10s: stabilization 10s");
    let long: Vec<String> = (0..20).map(|i| format!("setting number {i}")).collect();
    let text = legend("run", &long);
    assert_eq!(text.chars().count(), MAX_LEGEND_CHARS);
    assert!(text.starts_with("run: setting number 0, ") && text.ends_with('…'), "{text}");
    // Multibyte characters are never split.
    let arrows: Vec<String> = vec!["→".repeat(100)];
    assert!(legend("r", &arrows).ends_with("→…"));
}

#[test]
fn csv_has_the_documented_header_and_one_row_per_point_per_run() {
    let mut a = run("stab-10s");
    a.points = vec![
        RunPoint {
            replicas: Some(1.0),
            ready: Some(1.0),
            rps: Some(40.0),
            rps_per_replica: Some(40.0),
            ..point(T0 + 1000)
        },
        RunPoint { replicas: Some(2.0), cpu_percent: Some(61.23456), latency_p95_ms: Some(3.5), ..point(T0 + 3500) },
    ];
    let mut b = run("stab-60s");
    b.started_at = T0 + 100_000;
    b.points = vec![RunPoint { errors_per_s: Some(0.25), ..point(T0 + 100_250) }];
    assert_eq!(
        to_csv(&[&a, &b]),
        format!(
            "{CSV_HEADER}\n\
             stab-10s,web,1.000,{},1,1,40,40,,,\n\
             stab-10s,web,3.500,{},2,,,,3.5,61.235,\n\
             stab-60s,web,0.250,{},,,,,,,0.25\n",
            T0 + 1000,
            T0 + 3500,
            T0 + 100_250
        )
    );
    assert_eq!(to_csv(&[]), format!("{CSV_HEADER}\n"));
    // The header names one column per series, in order.
    let columns: Vec<&str> = CSV_HEADER.split(',').skip(4).collect();
    assert_eq!(columns, RunMetric::ALL.map(RunMetric::column));
    // Fields that need it are quoted.
    let mut out = String::new();
    csv_field(&mut out, "a,\"b\"");
    assert_eq!(out, "\"a,\"\"b\"\"\"");
}

#[test]
fn numbers_are_short() {
    for (v, text) in [(1.0, "1"), (0.5, "0.5"), (61.23456, "61.235"), (-0.0001, "0"), (1e6, "1000000"), (f64::NAN, "")]
    {
        assert_eq!(number(v), text, "{v}");
    }
}

#[test]
fn a_recording_lasts_as_planned_within_the_limit() {
    let load = |duration_ms| LoadProfile { rate: 1.0, ramp_to: None, duration_ms, concurrency: None, path: "/".into() };
    type Case = (Option<LoadProfile>, Option<Millis>, Millis, Result<Option<Millis>, &'static str>);
    #[rustfmt::skip]
    let cases: Vec<Case> = vec![
        (Some(load(30_000)), None, 0, Ok(Some(30_000))),
        (Some(load(30_000)), None, 60_000, Ok(Some(90_000))),
        (Some(load(3_600_000)), None, 1, Err("after_s: the load's 3600 s plus 0.001 s after it is more than a recording may last (3600 s)")),
        (Some(load(30_000)), Some(10_000), 0, Err("duration_s: a recording with a load lasts as long as the load")),
        (None, None, 0, Ok(None)),
        (None, Some(20_000), 0, Ok(Some(20_000))),
        (None, Some(0), 0, Err("duration_s: give a duration above 0")),
        (None, Some(MAX_RECORD_MS + 1), 0, Err("duration_s: 3600.001 s is more than a recording may last (3600 s)")),
        (None, None, 5_000, Err("after_s: time after the load needs a load")),
    ];
    for (load, duration, after, expected) in cases {
        let got = planned_ms(load.as_ref(), duration, after);
        match (got, expected) {
            (Ok(got), Ok(expected)) => assert_eq!(got, expected),
            (Err(got), Err(expected)) => assert!(got.starts_with(expected), "{got}"),
            (got, expected) => panic!("{got:?}, expected {expected:?}"),
        }
    }
    let mut r = run("a");
    r.planned_ms = None;
    assert_eq!(r.deadline(), T0 + MAX_RECORD_MS);
    r.planned_ms = Some(5_000);
    assert_eq!(r.deadline(), T0 + 5_000);
}

#[test]
fn run_names_follow_the_app_name_rule() {
    #[rustfmt::skip]
    let cases: &[(&str, Option<&str>)] = &[
        ("stab-10s", None),
        ("a", None),
        ("", Some("name: the run's name is empty")),
        ("Stab", Some("name: `Stab` is not a valid run name: use lowercase letters")),
        ("10s", Some("name: `10s` is not a valid run name")),
        ("a_b", Some("name: `a_b` is not a valid run name")),
        (&"a".repeat(41), Some("name: the run's name is 41 characters long; the limit is 40")),
        ("overlay", Some("name: `overlay` names a route of the experiments API (compare, export, overlay)")),
        ("overlay-1", None),
    ];
    for (name, problem) in cases {
        match (name_problem(name), problem) {
            (None, None) => {}
            (Some(got), Some(expected)) => assert!(got.starts_with(expected), "{got}"),
            (got, expected) => panic!("{name}: {got:?}, expected {expected:?}"),
        }
    }
    assert_eq!(default_name("web", []), "web-1");
    assert_eq!(default_name("web", ["web-1", "web-3"]), "web-2");
    let long = "a".repeat(40);
    let name = default_name(&long, []);
    assert_eq!(name.len(), 40);
    assert!(name.ends_with("-1") && name_problem(&name).is_none(), "{name}");
    // A long name whose cut ends on '-' does not give `a--1`.
    let dashed = format!("{}-b", "a".repeat(37));
    assert_eq!(default_name(&dashed, []), format!("{}-1", "a".repeat(37)));
}

#[test]
fn a_run_round_trips_through_json_with_points_as_arrays() {
    let mut r = run("a");
    r.points = vec![RunPoint { replicas: Some(2.0), cpu_percent: Some(55.5), ..point(T0 + 1000) }];
    let json = serde_json::to_value(&r).expect("json");
    assert_eq!(json["points"][0], serde_json::json!([T0 + 1000, 2.0, null, null, null, null, 55.5, null]));
    assert_eq!(json["end"], "load_finished");
    assert_eq!(json["settings"]["autoscaling"]["metric"], "cpu");
    let back: Run = serde_json::from_value(json).expect("back");
    assert_eq!(back, r);
    // Without points (a list, or a recording), the field is left out and reads back empty.
    r.points.clear();
    let json = serde_json::to_value(&r).expect("json");
    assert!(json.get("points").is_none());
    assert_eq!(serde_json::from_value::<Run>(json).expect("back"), r);
}

#[test]
fn settings_come_from_the_spec_with_the_autoscalers_defaults() {
    let spec = crate::validate::parse_spec(
        "name: web\nimage: crane-demo:0.1.0\nreplicas: 2\nresources: {cpu: 0.5}\nports: [{container: 8080}]\n\
         autoscaling: {min: 1, max: 4, metric: rps, target: 5, scaleDownStabilization: 10s}\n",
    )
    .expect("spec");
    let s = Settings::from_spec(&spec, 3);
    assert_eq!((s.image.as_str(), s.revision, s.replicas, s.cpus), ("crane-demo:0.1.0", 3, 2, 0.5));
    let a = s.autoscaling.expect("autoscaling");
    assert_eq!((a.metric, a.target, a.min, a.max, a.scale_down_stabilization_ms), (Metric::Rps, 5.0, 1, 4, 10_000));
    assert_eq!(a.tolerance, crate::autoscale::DEFAULT_TOLERANCE);
}

#[test]
fn a_summary_gives_the_peak_and_when_it_was_first_reached() {
    let mut r = run("a");
    r.points = vec![
        RunPoint { replicas: Some(1.0), latency_p95_ms: Some(4.0), cpu_percent: Some(20.0), ..point(T0 + 1000) },
        RunPoint { replicas: Some(3.0), latency_p95_ms: Some(9.5), cpu_percent: Some(80.0), ..point(T0 + 5000) },
        RunPoint { replicas: Some(3.0), cpu_percent: Some(50.0), ..point(T0 + 7000) },
        RunPoint { replicas: Some(2.0), ..point(T0 + 9000) },
    ];
    assert_eq!(
        summary(&r),
        Summary {
            peak_replicas: Some(3.0),
            peak_at_ms: Some(5000),
            final_replicas: Some(2.0),
            max_latency_p95_ms: Some(9.5),
            mean_cpu_percent: Some(50.0),
        }
    );
    r.points.clear();
    assert_eq!(summary(&r), Summary::default());
}

#[test]
fn a_target_line_is_drawn_only_when_every_run_shares_it() {
    let cpu50 = run("a");
    let mut cpu70 = run("b");
    autoscaling(&mut cpu70).target = 70.0;
    let mut rps5 = run("c");
    autoscaling(&mut rps5).metric = Metric::Rps;
    autoscaling(&mut rps5).target = 5.0;
    let mut none = run("d");
    none.settings.autoscaling = None;
    #[rustfmt::skip]
    let cases: Vec<(Vec<&Run>, RunMetric, Option<f64>)> = vec![
        (vec![&cpu50, &cpu50], RunMetric::CpuPercent, Some(50.0)),
        (vec![&cpu50, &cpu70], RunMetric::CpuPercent, None),
        (vec![&cpu50, &rps5], RunMetric::CpuPercent, None),
        (vec![&rps5, &rps5], RunMetric::RpsPerReplica, Some(5.0)),
        (vec![&rps5], RunMetric::CpuPercent, None),
        (vec![&cpu50, &none], RunMetric::CpuPercent, None),
        (vec![&cpu50], RunMetric::Replicas, None),
        (vec![], RunMetric::CpuPercent, None),
    ];
    for (runs, metric, expected) in cases {
        assert_eq!(
            shared_target(&runs, metric),
            expected,
            "{metric:?} of {:?}",
            runs.iter().map(|r| &r.name).collect::<Vec<_>>()
        );
    }
}
