//! `crane-bench hostile` (`docs/bench/hostile.json`): what hostile input costs a running engine (`cranectl serve`,
//! release build, its own process).
//!
//! (1) Specs: an alias bomb (an anchored string and 300 aliases) and a long explicit key, each at the size the issue
//!     found them (1 MB, 1.9 MB) and just under the spec cap: time to answer (median of 5) and the answer, engine RSS
//!     before and after, and its peak (VmHWM).
//! (2) A hostile workload: one demo instance whose `/metrics` is switched to a 256 MiB page, an endless page, and a
//!     redirect to the Docker API's port; RSS before and after 10 scrape rounds each, whether the scrape gave up, and
//!     how long the engine then takes to answer `/status`.
//! (3) 1,000 idle connections: request p50/p99 on a kept-alive connection opened before them, the engine's open file
//!     descriptors while they are held (the server serves at most 256 connections), and what a new client (the
//!     257th and later) experiences: how long its first request waits.

use std::path::Path;
use std::time::{Duration, Instant};

use crane_e2e::*;

use crate::{percentile, rss_kib, start_server_with, Server};

/// Runs of each spec case.
const ROUNDS: usize = 5;
/// Idle connections opened against the REST API.
const IDLE_CONNECTIONS: usize = 1000;
/// Requests timed on the kept-alive connection, before and during the idle flood.
const REQUESTS: usize = 500;

/// The peak RSS of a process so far, KiB.
fn hwm_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Open file descriptors of a process.
fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map(|d| d.count()).unwrap_or(0)
}

fn mb(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// A spec whose `env` holds one anchored string of `bytes` bytes and `aliases` aliases of it.
fn alias_bomb(bytes: usize, aliases: usize) -> String {
    let mut yaml = format!("name: bomb\nimage: x\nenv:\n  A: &a \"{}\"\n", "x".repeat(bytes));
    for i in 0..aliases {
        yaml.push_str(&format!("  B{i}: *a\n"));
    }
    yaml
}

/// A spec with one explicit top-level key of `bytes` bytes (unknown, so validation looks for a "did you mean").
fn long_key(bytes: usize) -> String {
    format!("name: key\nimage: x\n? {}\n: 1\n", "k".repeat(bytes))
}

/// What one spec case measured.
#[derive(Debug, Clone, serde::Serialize)]
struct SpecCase {
    case: String,
    body_bytes: usize,
    status: u16,
    code: String,
    answer_ms_median: f64,
    answer_ms_max: f64,
    rss_before_mb: f64,
    rss_after_mb: f64,
    peak_rss_mb: f64,
}

/// What one hostile `/metrics` mode measured.
#[derive(Debug, Clone, serde::Serialize)]
struct MetricsCase {
    case: String,
    rss_before_mb: f64,
    rss_after_mb: f64,
    peak_rss_mb: f64,
    scrape_up: Option<f64>,
    status_answer_ms: f64,
}

async fn post_yaml(server: &Server, yaml: &str) -> (u16, String, f64) {
    let client = reqwest::Client::new();
    let started = Instant::now();
    let response = client
        .post(format!("{}/api/v1/apps", server.url))
        .bearer_auth(&server.token)
        .header("Content-Type", "application/yaml")
        .body(yaml.to_string())
        .send()
        .await;
    let (status, text) = match response {
        Ok(r) => {
            let status = r.status().as_u16();
            (status, r.text().await.unwrap_or_default())
        }
        Err(e) => (0, e.to_string()),
    };
    let took = started.elapsed().as_secs_f64() * 1e3;
    let code = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| v["code"].as_str().map(str::to_string))
        .unwrap_or(text.chars().take(80).collect());
    (status, code, took)
}

async fn spec_cases(server: &Server, pid: u32) -> Vec<SpecCase> {
    let cases = [
        ("alias bomb, 1 MB (1 MB anchored string, 300 aliases)", alias_bomb(1_000_000, 300)),
        ("alias bomb under the spec cap (200 KB string, 300 aliases)", alias_bomb(200_000, 300)),
        ("long key, 1.9 MB", long_key(1_900_000)),
        ("long key under the spec cap (250 KB)", long_key(250_000)),
    ];
    let mut out = Vec::new();
    for (case, yaml) in cases {
        let before = rss_kib(pid);
        let mut times = Vec::new();
        let mut answer = (0, String::new());
        for _ in 0..ROUNDS {
            let (status, code, took) = post_yaml(server, &yaml).await;
            times.push(took);
            answer = (status, code);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        times.sort_by(|a, b| a.partial_cmp(b).unwrap());
        out.push(SpecCase {
            case: case.to_string(),
            body_bytes: yaml.len(),
            status: answer.0,
            code: answer.1,
            answer_ms_median: percentile(&times, 0.5),
            answer_ms_max: *times.last().unwrap(),
            rss_before_mb: mb(before),
            rss_after_mb: mb(rss_kib(pid)),
            peak_rss_mb: mb(hwm_kib(pid)),
        });
    }
    out
}

/// The value of `crane_instance_scrape_up` for `app` in Crane's own `/metrics`.
async fn scrape_up(server: &Server, app: &str) -> Option<f64> {
    let text = reqwest::Client::new()
        .get(format!("{}/metrics", server.url))
        .bearer_auth(&server.token)
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    let prefix = format!("crane_instance_scrape_up{{app=\"{app}\"");
    text.lines().find(|l| l.starts_with(&prefix))?.rsplit(' ').next()?.parse().ok()
}

async fn status_ms(server: &Server) -> f64 {
    let started = Instant::now();
    server.call(reqwest::Method::GET, "/status", None).await;
    started.elapsed().as_secs_f64() * 1e3
}

async fn metrics_cases(server: &mut Server, pid: u32) -> Vec<MetricsCase> {
    let app = unique_name("hostile");
    let yaml = format!(
        "name: {app}\nimage: {DEMO_IMAGE}\nreplicas: 1\ncommand: [\"/demo\", \"--port\", \"8080\"]\nports:\n  - container: 8080\nhealth:\n  readiness: {{ type: http, path: /ready, period: 1s }}\n"
    );
    server.call(reqwest::Method::POST, "/apps", Some(serde_json::json!({"yaml": yaml, "create_only": true}))).await;
    let view = wait_for(Duration::from_secs(60), "the hostile app ready", || async {
        let v = server.call(reqwest::Method::GET, &format!("/apps/{app}"), None).await;
        (v["ready"] == 1).then_some(v)
    })
    .await;
    let running = crate::running_of(&app).await;
    server.owner_cleanup = Some(Cleanup { owner: running[0].labels.as_ref().unwrap()["io.crane.owner"].clone() });
    let url = view["url"].as_str().expect("the app's address").to_string();
    let client = reqwest::Client::new();
    // A normal page first, so the scrape is known to work.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let normal_up = scrape_up(server, &app).await;
    assert_eq!(normal_up, Some(1.0), "the demo's normal /metrics is scraped");
    let mut out = Vec::new();
    for (case, switch) in [
        ("/metrics of 256 MiB", "/admin/metrics/huge?mb=256"),
        ("/metrics without end", "/admin/metrics/endless"),
        ("/metrics redirecting to 127.0.0.1:2375 (Docker API)", "/admin/metrics/redirect"),
    ] {
        let before = rss_kib(pid);
        let r = client.post(format!("{url}{switch}")).send().await.expect("switch");
        assert!(r.status().is_success(), "{switch}: {}", r.status());
        // Ten collection rounds at 1 s.
        tokio::time::sleep(Duration::from_secs(10)).await;
        out.push(MetricsCase {
            case: case.to_string(),
            rss_before_mb: mb(before),
            rss_after_mb: mb(rss_kib(pid)),
            peak_rss_mb: mb(hwm_kib(pid)),
            scrape_up: scrape_up(server, &app).await,
            status_answer_ms: status_ms(server).await,
        });
        client.post(format!("{url}/admin/metrics/normal")).send().await.expect("switch back");
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    server.call(reqwest::Method::DELETE, &format!("/apps/{app}"), None).await;
    out
}

/// Times `n` sequential `GET /api/v1/status` on one kept-alive client; sorted milliseconds.
async fn timed_requests(client: &reqwest::Client, server: &Server, n: usize) -> Vec<f64> {
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let started = Instant::now();
        let r = client.get(format!("{}/api/v1/status", server.url)).bearer_auth(&server.token).send().await;
        let ok = match r {
            Ok(r) => r.status().is_success() && r.bytes().await.is_ok(),
            Err(_) => false,
        };
        assert!(ok, "a request on the kept-alive connection failed");
        times.push(started.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(|a, b| a.partial_cmp(b).unwrap());
    times
}

/// How long a client on a new connection waits for `GET /api/v1/status`, ms (`None`: no answer within 120 s).
async fn new_client_ms(server: &Server) -> (Option<f64>, String) {
    let client =
        reqwest::Client::builder().pool_max_idle_per_host(0).timeout(Duration::from_secs(120)).build().unwrap();
    let started = Instant::now();
    match client.get(format!("{}/api/v1/status", server.url)).bearer_auth(&server.token).send().await {
        Ok(r) => (Some(started.elapsed().as_secs_f64() * 1e3), r.status().to_string()),
        Err(e) => (None, e.to_string()),
    }
}

async fn idle_connections(server: &Server, pid: u32) -> serde_json::Value {
    let kept = reqwest::Client::builder().pool_max_idle_per_host(1).build().unwrap();
    let fds_before = open_fds(pid);
    let before = timed_requests(&kept, server, REQUESTS).await;
    let (new_before, _) = new_client_ms(server).await;

    // All at once (well within the server's 15 s header timeout), then held without sending a byte.
    let addr = server.url.trim_start_matches("http://").to_string();
    let opening = Instant::now();
    let attempts = (0..IDLE_CONNECTIONS).map(|_| {
        let addr = addr.clone();
        async move { tokio::time::timeout(Duration::from_secs(5), tokio::net::TcpStream::connect(addr)).await }
    });
    let results = futures_util::future::join_all(attempts).await;
    let open_ms = opening.elapsed().as_secs_f64() * 1e3;
    let idle: Vec<tokio::net::TcpStream> = results.into_iter().filter_map(|r| r.ok().and_then(Result::ok)).collect();
    let held = idle.len();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let fds_during = open_fds(pid);

    // A new client (the 257th and later) starts now; the kept-alive connection is timed meanwhile.
    let newcomer = {
        let (url, token) = (server.url.clone(), server.token.clone());
        tokio::spawn(async move {
            let client =
                reqwest::Client::builder().pool_max_idle_per_host(0).timeout(Duration::from_secs(120)).build().unwrap();
            let started = Instant::now();
            match client.get(format!("{url}/api/v1/status")).bearer_auth(token).send().await {
                Ok(r) => (Some(started.elapsed().as_secs_f64() * 1e3), r.status().to_string()),
                Err(e) => (None, e.to_string()),
            }
        })
    };
    let during = timed_requests(&kept, server, REQUESTS).await;
    let rss_during = rss_kib(pid);
    let mut fds_max = fds_during;
    while !newcomer.is_finished() {
        fds_max = fds_max.max(open_fds(pid));
        // The kept-alive connection must not idle out (15 s) while the newcomer waits.
        let _ = timed_requests(&kept, server, 1).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (new_during, new_during_answer) = newcomer.await.expect("newcomer task");
    drop(idle);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (new_after, _) = new_client_ms(server).await;

    let p = |t: &[f64], q: f64| percentile(t, q);
    serde_json::json!({
        "idle_connections_opened": held,
        "idle_connections_open_ms": open_ms,
        "engine_fds": {"before": fds_before, "during": fds_during, "max_while_new_client_waited": fds_max},
        "engine_rss_mb_during": mb(rss_during),
        "kept_alive_ms": {
            "before": {"p50": p(&before, 0.5), "p99": p(&before, 0.99), "max": before.last()},
            "during": {"p50": p(&during, 0.5), "p99": p(&during, 0.99), "max": during.last()},
        },
        "new_client_ms": {"before": new_before, "during": new_during, "during_answer": new_during_answer, "after": new_after},
    })
}

pub(crate) async fn run() {
    let mut server = start_server_with(&[("CRANE_METRICS_INTERVAL_MS", "1000")]).await;
    let pid = server.child.id();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_idle = rss_kib(pid);

    let specs = spec_cases(&server, pid).await;
    let metrics = metrics_cases(&mut server, pid).await;
    let idle = idle_connections(&server, pid).await;

    println!();
    println!("Engine RSS at start: {:.1} MB", mb(rss_idle));
    println!("| Hostile spec | Answer | Time to answer (median / max of {ROUNDS}) | RSS before → after (peak) |");
    println!("|---|---|---|---|");
    for c in &specs {
        println!(
            "| {} ({} bytes) | {} `{}` | {:.1} ms / {:.1} ms | {:.1} → {:.1} MB ({:.1} MB) |",
            c.case,
            c.body_bytes,
            c.status,
            c.code,
            c.answer_ms_median,
            c.answer_ms_max,
            c.rss_before_mb,
            c.rss_after_mb,
            c.peak_rss_mb
        );
    }
    println!();
    println!("| Hostile workload, 10 scrape rounds | Scrape | RSS before → after (peak) | /status answered in |");
    println!("|---|---|---|---|");
    for c in &metrics {
        let scrape = match c.scrape_up {
            Some(0.0) => "gave up (scrape_up 0)".to_string(),
            Some(v) => format!("scrape_up {v}"),
            None => "no sample".to_string(),
        };
        println!(
            "| {} | {scrape} | {:.1} → {:.1} MB ({:.1} MB) | {:.1} ms |",
            c.case, c.rss_before_mb, c.rss_after_mb, c.peak_rss_mb, c.status_answer_ms
        );
    }
    println!();
    println!("1,000 idle connections: {idle:#}");

    let json = serde_json::json!({
        "rss_mb_at_start": mb(rss_idle),
        "specs": specs,
        "hostile_metrics": metrics,
        "idle_connections": idle,
    });
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/bench/hostile.json");
    std::fs::create_dir_all(out.parent().unwrap()).unwrap();
    std::fs::write(&out, serde_json::to_string_pretty(&json).unwrap()).unwrap();
    println!("\nwritten to {}", out.display());
}
