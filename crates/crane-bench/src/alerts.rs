//! `crane-bench alerts` (`docs/bench/alerts.json`):
//! (a) the built-in evaluator: one evaluation round of 100 rules (the shipped rules' expressions with varied
//!     thresholds, each over every app) over a synthetic buffer of 50 apps × 3 instances with an hour of samples every
//!     15 s — the series `/metrics` shows, so the size an engine of 50 apps holds — as `crane_core::alerts::evaluate`
//!     + `step` run it, p50/p99 over [`ROUNDS`] rounds (no Docker needed);
//! (b) a load step → the alert fires → a replica is added and ready: Crane's built-in evaluator (every 1 s) next to
//!     the real chain (Debian's Prometheus scraping Crane every 1 s and evaluating the exported rule every 1 s →
//!     Alertmanager with group_wait 1 s → Crane's webhook), the same rule, load and app, runs alternating in the same
//!     bench run, medians of `CRANE_BENCH_CHAIN_RUNS` runs each (default 5).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crane_core::alerts::{
    evaluate, parse_rule_file, step, LabelMatcher, Labels, RuleFile, RuleState, Series, SeriesSource,
};
use crane_core::model::Millis;
use crane_e2e::chain::{Alertmanager, Prometheus};
use crane_e2e::*;

use crate::{percentile, start_server, start_server_with, Server};

/// Evaluation rounds measured in (a).
const ROUNDS: usize = 200;
/// Apps, instances per app, and the sample interval of the synthetic buffer.
const APPS: usize = 50;
const INSTANCES: usize = 3;
const STEP_MS: Millis = 15_000;
/// An hour of history (the buffer's retention).
const HISTORY_MS: Millis = 3_600_000;
/// Rules in (a).
const RULES: usize = 100;

/// A buffer of series by metric name, as the engine's `tsdb` keeps them.
struct Store {
    by_name: BTreeMap<String, Vec<Series>>,
}

impl SeriesSource for Store {
    fn select(&self, name: &str, matchers: &[LabelMatcher], start: Millis, end: Millis) -> Result<Vec<Series>, String> {
        let Some(list) = self.by_name.get(name) else { return Ok(Vec::new()) };
        Ok(list
            .iter()
            .filter(|s| matchers.iter().all(|m| m.matches(s.labels.get(&m.name).map_or("", String::as_str))))
            .map(|s| {
                let from = s.samples.partition_point(|(t, _)| *t < start);
                let to = s.samples.partition_point(|(t, _)| *t <= end);
                Series { labels: s.labels.clone(), samples: s.samples[from..to].to_vec() }
            })
            .collect())
    }
}

fn labels(name: &str, pairs: &[(&str, &str)]) -> Labels {
    let mut l: Labels = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    l.insert("__name__".to_string(), name.to_string());
    l
}

/// 50 apps with 3 instances each, every series `/metrics` shows for them, sampled every 15 s from 0 to `until`.
/// Values are deterministic and spread so that some alerts of every rule fire and others do not.
fn synthetic_store(until: Millis) -> (Store, usize, usize) {
    let mut by_name: BTreeMap<String, Vec<Series>> = BTreeMap::new();
    let times: Vec<Millis> = (0..=until / STEP_MS).map(|i| i * STEP_MS).collect();
    let mut add = |name: &str, pairs: &[(&str, &str)], value: &dyn Fn(Millis) -> f64| {
        let samples = times.iter().map(|t| (*t, value(*t))).collect();
        by_name.entry(name.to_string()).or_default().push(Series { labels: labels(name, pairs), samples });
    };
    add("crane_docker_up", &[], &|_| 1.0);
    add("crane_apps", &[], &|_| APPS as f64);
    for a in 0..APPS {
        let app = format!("app-{a:02}");
        let app = app.as_str();
        let k = a as f64;
        let secs = |t: Millis| t as f64 / 1000.0;
        add("crane_app_replicas", &[("app", app)], &|_| INSTANCES as f64);
        add("crane_app_ready_replicas", &[("app", app)], &move |_| if a % 7 == 0 { 2.0 } else { 3.0 });
        add("crane_app_revision", &[("app", app)], &|_| 1.0);
        for (name, v) in [
            ("crane_lb_errors_total", 0.01 * k),
            ("crane_lb_retries_total", 0.005 * k),
            ("crane_lb_received_bytes_total", 300.0 * k),
            ("crane_lb_sent_bytes_total", 900.0 * k),
        ] {
            add(name, &[("app", app)], &move |t| v * secs(t));
        }
        add("crane_lb_in_flight_requests", &[("app", app)], &move |t| ((t / STEP_MS) % 5) as f64);
        add("crane_lb_requests_per_second", &[("app", app)], &move |_| 2.0 * k);
        for (q, f) in [("0.5", 0.4), ("0.9", 0.7), ("0.95", 0.8), ("0.99", 1.0)] {
            add("crane_lb_request_duration_seconds", &[("app", app), ("quantile", q)], &move |_| f * 0.02 * k);
        }
        add("crane_lb_request_duration_seconds_sum", &[("app", app)], &move |t| 0.01 * k * secs(t));
        add("crane_lb_request_duration_seconds_count", &[("app", app)], &move |t| 2.0 * k * secs(t));
        for i in 1..=INSTANCES {
            let instance = format!("{app}-{i}");
            let pairs = [("app", app), ("instance", instance.as_str())];
            add("crane_instance_up", &[("app", app), ("instance", &instance), ("revision", "1")], &|_| 1.0);
            add("crane_instance_restarts_total", &pairs, &move |t| if a % 11 == 0 { (t / 60_000) as f64 } else { 0.0 });
            add("crane_instance_cpu_percent", &pairs, &move |t| (k + (t / STEP_MS % 10) as f64) % 100.0);
            add("crane_instance_memory_percent", &pairs, &move |_| 20.0 + k);
            add("crane_instance_memory_bytes", &pairs, &move |_| (20.0 + k) * 1048576.0);
            add("crane_instance_scrape_up", &pairs, &|_| 1.0);
            add("crane_instance_scrape_samples", &pairs, &|_| 12.0);
            // Requests per answer class: app k serves about 2k req/s in all, 1 % of them 5xx.
            for (code, share) in [("2xx", 0.95), ("3xx", 0.02), ("4xx", 0.02), ("5xx", 0.01)] {
                let per_second = 2.0 * k * share / INSTANCES as f64;
                add("crane_lb_requests_total", &[("app", app), ("instance", &instance), ("code", code)], &move |t| {
                    (per_second * secs(t)).floor()
                });
            }
        }
    }
    let series: usize = by_name.values().map(Vec::len).sum();
    // What the engine's buffer holds at any time: an hour of samples per series (older ones are dropped there; here
    // they stay behind the evaluation window, which the binary search skips).
    let samples = series * (HISTORY_MS / STEP_MS + 1) as usize;
    (Store { by_name }, series, samples)
}

/// 100 rules: the shipped rules' expressions in turn, with thresholds spread around the synthetic values, in 5 groups.
fn hundred_rules() -> RuleFile {
    let exprs: [&dyn Fn(usize) -> String; 6] = [
        &|i| format!("sum by (app) (rate(crane_lb_requests_total[1m])) > {}", 10 + i),
        &|i| {
            format!(
                "sum by (app) (rate(crane_lb_requests_total{{code=\"5xx\"}}[1m])) / sum by (app) (rate(crane_lb_requests_total[1m])) > 0.00{}",
                1 + i % 9
            )
        },
        &|i| format!("max by (app) (crane_lb_request_duration_seconds{{quantile=\"0.95\"}}) > 0.{}", 1 + i % 9),
        &|_| "min by (app) (crane_app_ready_replicas) < min by (app) (crane_app_replicas)".to_string(),
        &|i| format!("sum by (app) (increase(crane_instance_restarts_total[5m])) > {}", i % 4),
        &|i| format!("avg by (app) (avg_over_time(crane_instance_cpu_percent[5m])) > {}", 10 + i % 40),
    ];
    let mut yaml = String::from("groups:\n");
    for g in 0..5 {
        yaml.push_str(&format!("  - name: bench-{g}\n    rules:\n"));
        for r in 0..RULES / 5 {
            let i = g * (RULES / 5) + r;
            yaml.push_str(&format!(
                "      - alert: Bench{i}\n        expr: '{}'\n        for: 30s\n        labels:\n          severity: warning\n        annotations:\n          summary: \"{{{{ $labels.app }}}} at {{{{ $value }}}}\"\n",
                exprs[i % exprs.len()](i)
            ));
        }
    }
    parse_rule_file(&yaml).unwrap_or_else(|d| panic!("the bench's rules parse: {d:?}"))
}

/// (a): p50, p99 and max of one round in ms, series and samples in the buffer, alerts firing at the end.
fn evaluator() -> (f64, f64, f64, usize, usize, usize) {
    let rules = hundred_rules();
    let end = HISTORY_MS + ROUNDS as Millis * STEP_MS;
    let (store, series, samples) = synthetic_store(end);
    let all: Vec<_> = rules.rules().collect();
    let mut states: Vec<RuleState> = vec![RuleState::default(); all.len()];
    let mut round = |at: Millis| {
        for (rule, state) in all.iter().zip(states.iter_mut()) {
            let results = evaluate(&rule.query, at, &store).expect("evaluates");
            let (next, _transitions) = step(rule, state, &results, at).expect("steps");
            *state = next;
        }
    };
    // Warm-up: the alerts reach their steady states (pending → firing after 30 s).
    for w in 0..5 {
        round(HISTORY_MS - (5 - w) * STEP_MS);
    }
    let mut millis = Vec::with_capacity(ROUNDS);
    for r in 0..ROUNDS {
        let started = Instant::now();
        round(HISTORY_MS + r as Millis * STEP_MS);
        millis.push(started.elapsed().as_secs_f64() * 1e3);
    }
    millis.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let firing = states.iter().map(|s| s.firing().count()).sum();
    (percentile(&millis, 0.5), percentile(&millis, 0.99), *millis.last().unwrap(), series, samples, firing)
}

/// The rule of (b): the demo app's request rate through the load balancer above 8 req/s for 1 s.
fn chain_rules() -> String {
    "groups:\n  - name: bench-chain\n    interval: 1s\n    rules:\n      - alert: BenchBusy\n        expr: sum by (app) (rate(crane_lb_requests_total[10s])) > 8\n        for: 1s\n        firing_action: scale_up\n        resolved_action: scale_down\n        action_cooldown: 1s\n".to_string()
}

/// The text answer of a request (for the YAML routes), asserting success.
async fn text(server: &Server, method: reqwest::Method, path: &str, yaml: Option<String>) -> String {
    let mut req =
        reqwest::Client::new().request(method, format!("{}/api/v1{path}", server.url)).bearer_auth(&server.token);
    if let Some(body) = yaml {
        req = req.header("content-type", "application/yaml").body(body);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status();
    let body = resp.text().await.unwrap_or_default();
    assert!(status.is_success(), "{path}: {status} {body}");
    body
}

/// Seconds from the load step to: the alert firing (in Crane's evaluator or in Prometheus), Crane's `alert.action`
/// (scale_up), and the added replica ready.
#[derive(Debug, Clone, Copy, Default)]
struct Run {
    fired: f64,
    acted: f64,
    ready: f64,
}

/// One run on `server`: a new app of 1 replica, 30 req/s from t0, until the second replica is ready; then the app is
/// deleted. `prometheus` is the real chain's (its alert state is the "fired" moment), else Crane's `alert.firing`.
/// Also returns the engine's owner id (from the app's containers), for the cleanup.
async fn one_run(server: &Server, prometheus: Option<&Prometheus>) -> (Run, String) {
    let app = unique_name("bench-alert");
    server
        .call(
            reqwest::Method::POST,
            "/apps",
            Some(serde_json::json!({"yaml": demo_spec(&app, 1), "create_only": true})),
        )
        .await;
    let view = wait_for(Duration::from_secs(60), "1 ready", || async {
        let v = server.call(reqwest::Method::GET, &format!("/apps/{app}"), None).await;
        (v["ready"] == 1).then_some(v)
    })
    .await;
    let running = crate::running_of(&app).await;
    let owner = running[0].labels.as_ref().expect("labels")["io.crane.owner"].clone();
    // Both chains see the idle app for a few scrapes first.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let url = view["url"].as_str().expect("the app's load balancer URL").to_string();
    let stop = Arc::new(AtomicBool::new(false));
    let t0 = Instant::now();
    let load = tokio::spawn(steady_load(url, 30, 3, 20_000, Duration::from_secs(120), stop.clone()));
    let mut run = Run::default();
    let (mut fired, mut acted) = (None, None);
    loop {
        assert!(
            t0.elapsed() < Duration::from_secs(90),
            "no replica added within 90 s (fired {fired:?}, acted {acted:?})"
        );
        if fired.is_none() {
            let now = match prometheus {
                Some(p) => p.alert_state("BenchBusy", &app).await.as_deref() == Some("firing"),
                None => server
                    .call(reqwest::Method::GET, &format!("/events?app={app}&limit=200"), None)
                    .await
                    .as_array()
                    .is_some_and(|l| l.iter().any(|e| e["kind"] == "alert.firing")),
            };
            if now {
                fired = Some(t0.elapsed().as_secs_f64());
            }
        }
        if acted.is_none() {
            let events = server.call(reqwest::Method::GET, &format!("/events?app={app}&limit=200"), None).await;
            if events.as_array().is_some_and(|l| {
                l.iter().any(|e| {
                    e["kind"] == "alert.action" && e["details"].as_str().is_some_and(|d| d.contains("\"scale_up\""))
                })
            }) {
                acted = Some(t0.elapsed().as_secs_f64());
            }
        }
        let v = server.call(reqwest::Method::GET, &format!("/apps/{app}"), None).await;
        if v["replicas"] == 2 && v["ready"] == 2 {
            run.ready = t0.elapsed().as_secs_f64();
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let _ = load.await;
    // A replica ready before the poll saw the alert or the action: those happened by then.
    run.fired = fired.unwrap_or(run.ready);
    run.acted = acted.unwrap_or(run.ready);
    server.call(reqwest::Method::DELETE, &format!("/apps/{app}"), None).await;
    (run, owner)
}

/// One measure of a [`Run`].
type Field = fn(&Run) -> f64;

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(|a, b| a.partial_cmp(b).unwrap());
    percentile(&sorted, 0.5)
}

pub(crate) async fn run() {
    // (a) The evaluator, no Docker.
    let (p50, p99, max, series, samples, firing) = evaluator();

    // (b) Both chains, same run, runs alternating.
    let runs: usize = std::env::var("CRANE_BENCH_CHAIN_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(5).max(1);
    let mut builtin_server = start_server_with(&[("CRANE_ALERT_INTERVAL_MS", "1000")]).await;
    text(&builtin_server, reqwest::Method::PUT, "/alerts/rules", Some(chain_rules())).await;
    let mut real_server = start_server().await;
    text(&real_server, reqwest::Method::PUT, "/alerts/rules", Some(chain_rules())).await;
    let exported = text(&real_server, reqwest::Method::GET, "/alerts/rules/export", None).await;
    // The real chain's Crane evaluates nothing itself: its actions come through the webhook only.
    text(&real_server, reqwest::Method::PUT, "/alerts/rules", Some("groups: []\n".to_string())).await;
    let info = real_server.call(reqwest::Method::GET, "/alerts/webhook/info", None).await;
    let mut alertmanager = Alertmanager::start(
        info["url"].as_str().expect("webhook url"),
        Path::new(info["token_file"].as_str().expect("webhook token file")),
    );
    alertmanager.ready(Duration::from_secs(30)).await;
    let mut prometheus = Prometheus::start(
        &format!("{}/api/v1/sd", real_server.url),
        &real_server.token,
        &exported,
        &alertmanager.address,
    );
    prometheus.ready("bench-chain", 1, Duration::from_secs(60)).await;
    let (mut builtin, mut real) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        let (run, owner) = one_run(&builtin_server, None).await;
        builtin.push(run);
        builtin_server.owner_cleanup.get_or_insert(Cleanup { owner });
        let (run, owner) = one_run(&real_server, Some(&prometheus)).await;
        real.push(run);
        real_server.owner_cleanup.get_or_insert(Cleanup { owner });
    }
    let (notified, failed) = alertmanager.notifications().await;
    drop(prometheus);
    drop(alertmanager);

    let med = |list: &[Run], f: Field| median(&list.iter().map(f).collect::<Vec<_>>());
    let rows: [(&str, Field); 3] = [
        ("load step → alert firing", |r| r.fired),
        ("load step → alert.action scale_up", |r| r.acted),
        ("load step → added replica ready", |r| r.ready),
    ];
    println!();
    println!("| Measure | Result | Target |");
    println!("|---|---|---|");
    println!(
        "| built-in evaluator: one round of {RULES} rules over {APPS} apps ({series} series, {samples} samples in the 1 h window), {ROUNDS} rounds | p50 {p50:.1} ms, p99 {p99:.1} ms (max {max:.1} ms; {firing} alerts firing) | ≤ 50 ms |"
    );
    for (what, f) in rows {
        println!(
            "| {what}, median of {runs}: built-in (1 s) vs Prometheus + Alertmanager (1 s scrape/eval, group_wait 1 s) | {:.2} s vs {:.2} s | — |",
            med(&builtin, f),
            med(&real, f)
        );
    }
    println!("| Alertmanager webhook notifications: sent / failed | {notified} / {failed} | failed 0 |");

    let as_json = |list: &[Run]| {
        serde_json::json!({
            "fired_s": list.iter().map(|r| r.fired).collect::<Vec<_>>(),
            "acted_s": list.iter().map(|r| r.acted).collect::<Vec<_>>(),
            "ready_s": list.iter().map(|r| r.ready).collect::<Vec<_>>(),
            "median": {"fired_s": med(list, |r| r.fired), "acted_s": med(list, |r| r.acted), "ready_s": med(list, |r| r.ready)},
        })
    };
    let json = serde_json::json!({
        "evaluator": {"rules": RULES, "apps": APPS, "series": series, "samples": samples, "rounds": ROUNDS,
                      "round_ms": {"p50": p50, "p99": p99, "max": max}, "firing": firing},
        "chain": {"runs": runs, "rule": chain_rules(), "load_rps": 30,
                  "builtin": as_json(&builtin), "prometheus_alertmanager": as_json(&real),
                  "alertmanager_notifications": {"sent": notified, "failed": failed}},
    });
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/bench/alerts.json");
    std::fs::create_dir_all(out.parent().unwrap()).unwrap();
    std::fs::write(&out, serde_json::to_string_pretty(&json).unwrap()).unwrap();
    println!("\nwritten to {}", out.display());
}
