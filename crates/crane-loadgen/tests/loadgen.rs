//! The load generator against real sockets: a small HTTP server on 127.0.0.1:0 per test, nothing else.

mod support;

use std::time::{Duration, Instant};

use crane_loadgen::{validate, LoadError, LoadPlan, LoadProgress, LoadReport, LoadRun, Shape, CONCURRENCY_LIMIT};
use support::{closed_port, TestServer};

fn constant(url: &str, rate: f64, secs: u64) -> LoadPlan {
    LoadPlan::new(url, Shape::Constant { rate }, Duration::from_secs(secs))
}

fn kind(report: &LoadReport, kind: &str) -> u64 {
    report.error_kinds.get(kind).copied().unwrap_or(0)
}

/// Every outcome is accounted for exactly once.
fn assert_accounted(report: &LoadReport) {
    assert_eq!(report.ok + report.errors, report.sent + kind(report, CONCURRENCY_LIMIT), "{report:#?}");
    assert_eq!(report.errors, report.error_kinds.values().sum::<u64>(), "{report:#?}");
}

/// Collects every progress snapshot of `run` in the background.
fn collect_progress(run: &LoadRun) -> tokio::task::JoinHandle<Vec<LoadProgress>> {
    let mut rx = run.progress();
    tokio::spawn(async move {
        let mut seen = Vec::new();
        while rx.changed().await.is_ok() {
            let p = rx.borrow_and_update().clone();
            let done = p.done;
            seen.push(p);
            if done {
                break;
            }
        }
        seen
    })
}

#[tokio::test]
async fn constant_rate_is_held_and_nothing_outlives_wait() {
    let server = TestServer::start(200, Duration::ZERO);
    let tasks_before = tokio::runtime::Handle::current().metrics().num_alive_tasks();

    let run = LoadRun::start(constant(&server.url("/hello"), 200.0, 2)).unwrap();
    let progress = collect_progress(&run);
    let report = run.wait().await;
    // Bounded: no task of the run is left once `wait` returns — checked before anything else gets to run.
    let tasks_after = tokio::runtime::Handle::current().metrics().num_alive_tasks();
    let collector_alive = usize::from(!progress.is_finished());
    assert_eq!(tasks_after, tasks_before + collector_alive, "tasks of the run outlived wait");
    let progress = progress.await.unwrap();

    assert!((360..=440).contains(&report.sent), "{report:#?}");
    assert_eq!(report.ok, report.sent, "{report:#?}");
    assert_eq!(report.errors, 0, "{report:#?}");
    assert_eq!(report.status_counts.get(&200), Some(&report.sent));
    assert!((150.0..=250.0).contains(&report.achieved_rate), "{report:#?}");
    assert!(report.p50_ms > 0.0 && report.p50_ms <= report.p95_ms && report.p95_ms <= report.p99_ms, "{report:#?}");
    assert!(report.p99_ms <= report.max_ms, "{report:#?}");
    assert!((1900.0..3000.0).contains(&report.duration_ms), "{report:#?}");
    assert!(!report.stopped_early);

    // The server saw exactly what was sent, marked as generated load.
    assert_eq!(server.arrivals().len() as u64, report.sent);
    assert!(server.user_agents().iter().all(|ua| ua == "crane-loadgen"), "{:?}", server.user_agents());

    // Live progress: several snapshots, a target and an achieved rate mid-run, and a final `done` matching the report.
    assert!(progress.len() >= 4, "{progress:#?}");
    let mid = progress.iter().find(|p| p.elapsed_ms > 1000.0 && !p.done).expect("a snapshot after 1 s");
    assert_eq!(mid.target_rate, 200.0);
    assert!((100.0..=300.0).contains(&mid.achieved_rate), "{mid:#?}");
    assert!(mid.p95_ms > 0.0, "{mid:#?}");
    let last = progress.last().unwrap();
    assert!(last.done);
    assert_eq!((last.sent, last.ok, last.errors), (report.sent, report.ok, report.errors));

    // Its keep-alive connections are closed.
    let deadline = Instant::now() + Duration::from_secs(2);
    while server.open_connections() > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(server.open_connections(), 0, "connections left open after wait");
}

#[tokio::test]
async fn a_ramp_sends_more_in_its_second_half() {
    let server = TestServer::start(200, Duration::ZERO);
    let started = Instant::now();
    let plan = LoadPlan::new(server.url("/"), Shape::Ramp { from: 50.0, to: 250.0 }, Duration::from_secs(2));
    let report = LoadRun::start(plan).unwrap().wait().await;

    let half = started + Duration::from_secs(1);
    let arrivals = server.arrivals();
    let first = arrivals.iter().filter(|t| **t < half).count();
    let second = arrivals.len() - first;
    // The schedule puts 100 requests in the first second and 200 in the second; the bounds leave room for a busy
    // machine (timing goals are measured by benches, not asserted here).
    assert!(second as f64 > first as f64 * 1.2, "first half {first}, second half {second}");
    assert!((200..=330).contains(&report.sent), "{report:#?}");
    assert_eq!(report.ok, report.sent);
}

#[tokio::test]
async fn max_requests_is_a_hard_bound() {
    let server = TestServer::start(200, Duration::ZERO);
    let mut plan = constant(&server.url("/"), 100.0, 10);
    plan.max_requests = 25;
    let started = Instant::now();
    let report = LoadRun::start(plan).unwrap().wait().await;
    assert_eq!(report.sent, 25, "{report:#?}");
    assert_eq!(server.arrivals().len(), 25);
    // The plan lasts 10 s; ending well before shows the bound ended it.
    assert!(started.elapsed() < Duration::from_secs(7), "ended at the bound, not at the duration");
    assert!(!report.stopped_early);
}

#[tokio::test]
async fn stop_ends_the_run_early() {
    let server = TestServer::start(200, Duration::ZERO);
    let run = LoadRun::start(constant(&server.url("/"), 100.0, 30)).unwrap();
    let progress = run.progress();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    run.stop();
    run.stop(); // a second stop is harmless
    let report = run.wait().await;
    // The plan lasts 30 s (3,000 requests); stopping ends it long before.
    assert!(started.elapsed() < Duration::from_secs(10), "stop took {:?}", started.elapsed());
    assert!(report.stopped_early);
    assert!((1..1000).contains(&report.sent), "{report:#?}");
    assert_accounted(&report);
    assert!(progress.borrow().done);
}

#[tokio::test]
async fn stop_abandons_requests_in_flight() {
    // Every answer takes 30 s: waiting for them would take that long, abandoning them does not.
    let server = TestServer::start(200, Duration::from_secs(30));
    let run = LoadRun::start(constant(&server.url("/"), 20.0, 10)).unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    run.stop();
    let started = Instant::now();
    let report = run.wait().await;
    assert!(started.elapsed() < Duration::from_secs(10), "wait took {:?}", started.elapsed());
    assert!(kind(&report, "cancelled by stop") > 0, "{report:#?}");
    assert_eq!(report.ok, 0);
    assert_accounted(&report);
}

#[tokio::test]
async fn dropping_the_handle_stops_the_load() {
    let server = TestServer::start(200, Duration::ZERO);
    drop(LoadRun::start(constant(&server.url("/"), 100.0, 30)).unwrap());
    tokio::time::sleep(Duration::from_millis(500)).await;
    let seen = server.arrivals().len();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(server.arrivals().len(), seen, "requests kept coming after the handle was dropped");
}

#[tokio::test]
async fn server_errors_are_counted_by_status() {
    let server = TestServer::start(503, Duration::ZERO);
    let report = LoadRun::start(constant(&server.url("/"), 50.0, 1)).unwrap().wait().await;
    assert!(report.sent >= 45, "{report:#?}");
    assert_eq!(report.ok, 0);
    assert_eq!(report.errors, report.sent);
    assert_eq!(kind(&report, "HTTP 503"), report.sent, "{report:#?}");
    assert_eq!(report.status_counts.get(&503), Some(&report.sent));
    // 503s are answers: they have a latency and count towards the achieved rate.
    assert!(report.p50_ms > 0.0 && report.achieved_rate > 0.0, "{report:#?}");
}

#[tokio::test]
async fn client_errors_are_errors_too() {
    let server = TestServer::start(404, Duration::ZERO);
    let report = LoadRun::start(constant(&server.url("/missing"), 20.0, 1)).unwrap().wait().await;
    assert_eq!(report.ok, 0);
    assert_eq!(kind(&report, "HTTP 404"), report.sent, "{report:#?}");
}

#[tokio::test]
async fn redirects_are_ok_and_not_followed() {
    let server = TestServer::start(302, Duration::ZERO);
    let report = LoadRun::start(constant(&server.url("/"), 20.0, 1)).unwrap().wait().await;
    assert_eq!(report.ok, report.sent, "{report:#?}");
    assert_eq!(server.arrivals().len() as u64, report.sent);
}

#[tokio::test]
async fn a_closed_port_is_connect_refused() {
    let url = format!("http://127.0.0.1:{}/", closed_port());
    let report = LoadRun::start(constant(&url, 20.0, 1)).unwrap().wait().await;
    assert!(report.sent >= 18, "{report:#?}");
    assert_eq!(report.ok, 0);
    assert_eq!(kind(&report, "connect refused"), report.sent, "{report:#?}");
    assert_eq!(report.achieved_rate, 0.0);
    assert_eq!(report.p99_ms, 0.0);
}

#[tokio::test]
async fn a_slow_app_hits_the_concurrency_limit() {
    let server = TestServer::start(200, Duration::from_millis(200));
    let mut plan = constant(&server.url("/"), 100.0, 1);
    plan.concurrency = 4;
    let report = LoadRun::start(plan).unwrap().wait().await;
    // 4 in flight × 200 ms each serve about 20 req/s of the 100 asked for: the rest are refused, not queued.
    let refused = kind(&report, CONCURRENCY_LIMIT);
    assert!(refused >= 50, "{report:#?}");
    assert!((10..=40).contains(&report.sent), "{report:#?}");
    assert_eq!(report.ok, report.sent, "{report:#?}");
    assert!(report.p50_ms >= 200.0, "{report:#?}");
    assert_eq!(report.sent + refused, 100, "every scheduled request is either sent or refused");
    assert_accounted(&report);
}

#[tokio::test]
async fn a_request_slower_than_the_timeout_is_a_timeout() {
    let server = TestServer::start(200, Duration::from_millis(600));
    let mut plan = constant(&server.url("/"), 10.0, 1);
    plan.timeout = Duration::from_millis(100);
    let report = LoadRun::start(plan).unwrap().wait().await;
    assert_eq!(report.ok, 0, "{report:#?}");
    assert_eq!(kind(&report, "timeout"), report.sent, "{report:#?}");
    assert!(report.duration_ms < 1500.0, "the timeout bounds the drain: {report:#?}");
}

/// Validates `plan` and returns each issue's field and message.
fn issues(plan: &LoadPlan) -> Vec<(&'static str, String)> {
    match validate(plan) {
        Ok(()) => Vec::new(),
        Err(e) => e.issues().iter().map(|i| (i.field(), i.to_string())).collect(),
    }
}

#[test]
fn only_loopback_hosts_are_accepted() {
    for url in ["http://10.1.2.3/", "http://example.com/", "http://192.168.1.10:8080/x", "http://[2001:db8::1]/"] {
        let found = issues(&constant(url, 10.0, 2));
        assert_eq!(found.len(), 1, "{url}: {found:?}");
        let (field, message) = &found[0];
        assert_eq!(*field, "url");
        assert!(message.starts_with("url:") && message.contains("not a loopback address"), "{message}");
        assert!(message.contains("127.0.0.1"), "the message says the fix: {message}");
    }
    for url in ["http://127.0.0.1:8080/", "http://127.9.9.9/", "http://[::1]:8080/", "http://localhost:8080/"] {
        assert_eq!(issues(&constant(url, 10.0, 2)), [], "{url}");
    }
}

#[tokio::test]
async fn start_refuses_a_remote_host_without_sending() {
    let err = LoadRun::start(constant("http://example.com/", 10.0, 2)).unwrap_err();
    assert!(matches!(err, LoadError::InvalidPlan(_)));
    assert!(err.to_string().contains("url: host `example.com` is not a loopback address"), "{err}");
}

#[test]
fn https_and_bad_urls_are_refused() {
    let found = issues(&constant("https://127.0.0.1:8443/", 10.0, 2));
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].0, "url");
    assert!(found[0].1.contains("scheme `https`") && found[0].1.contains("http://"), "{}", found[0].1);
    assert_eq!(issues(&constant("127.0.0.1:8080", 10.0, 2))[0].0, "url");
    assert_eq!(issues(&constant("http://127.0.0.1:8080/a b", 10.0, 2))[0].0, "url");
}

#[test]
fn each_bad_field_is_named() {
    let check = |plan: LoadPlan, field: &str| {
        let found = issues(&plan);
        assert_eq!(found.len(), 1, "{field}: {found:?}");
        assert_eq!(found[0].0, field);
        assert!(found[0].1.starts_with(&format!("{field}:")), "{}", found[0].1);
    };
    let ok = constant("http://127.0.0.1:8080/", 10.0, 2);
    check(LoadPlan { shape: Shape::Constant { rate: 0.0 }, ..ok.clone() }, "shape.rate");
    check(LoadPlan { shape: Shape::Constant { rate: 20_001.0 }, ..ok.clone() }, "shape.rate");
    check(LoadPlan { shape: Shape::Constant { rate: f64::INFINITY }, ..ok.clone() }, "shape.rate");
    check(LoadPlan { shape: Shape::Ramp { from: -5.0, to: 10.0 }, ..ok.clone() }, "shape.from");
    check(LoadPlan { shape: Shape::Ramp { from: 10.0, to: 30_000.0 }, ..ok.clone() }, "shape.to");
    check(LoadPlan { shape: Shape::Ramp { from: 0.0, to: 0.0 }, ..ok.clone() }, "shape");
    check(LoadPlan { duration: Duration::from_millis(999), ..ok.clone() }, "duration");
    check(LoadPlan { duration: Duration::from_secs(3601), ..ok.clone() }, "duration");
    check(LoadPlan { concurrency: 0, ..ok.clone() }, "concurrency");
    check(LoadPlan { concurrency: 1025, ..ok.clone() }, "concurrency");
    check(LoadPlan { max_requests: 0, ..ok.clone() }, "max_requests");
    check(LoadPlan { timeout: Duration::ZERO, ..ok.clone() }, "timeout");
    // The bounds themselves are fine, and a ramp may start (or end) at 0.
    assert_eq!(issues(&LoadPlan { shape: Shape::Ramp { from: 0.0, to: 20_000.0 }, ..ok.clone() }), []);
    assert_eq!(issues(&LoadPlan { duration: Duration::from_secs(3600), concurrency: 1024, ..ok.clone() }), []);
    assert_eq!(issues(&LoadPlan { duration: Duration::from_secs(1), concurrency: 1, max_requests: 1, ..ok }), []);
}

#[test]
fn start_needs_a_runtime() {
    let err = LoadRun::start(constant("http://127.0.0.1:8080/", 10.0, 2)).unwrap_err();
    assert_eq!(err, LoadError::NoRuntime);
}
