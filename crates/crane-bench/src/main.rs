//! `crane-bench`: measures Crane against the real Docker engine, prints tables and writes JSON under `docs/bench/`.
//!
//! `crane-bench skeleton` (`docs/bench/skeleton.json`):
//! (a) replica killed → replacement running (median and p95 of N kills),
//! (b) apply 10 replicas → all running, next to `docker-compose up -d --scale` of the same image in the same run,
//! (c) engine RSS idle and with 10 replicas (`cranectl serve` as its own process).
//!
//! `crane-bench lb` (`docs/bench/lb.json`): see [`lb`]. `crane-bench scale` (`docs/bench/scale.json`): see [`scale`].
//! `crane-bench hostile` (`docs/bench/hostile.json`): see [`hostile`].
//! `crane-bench policy` (`docs/bench/policy.json`, no Docker needed): see [`policy`].
//! `crane-bench alerts` (`docs/bench/alerts.json`; Prometheus and Alertmanager): see [`alerts`].
//! `crane-bench traffic` (`docs/bench/traffic.json`): tcp ports vs NGINX `stream`, WebSocket messages; see
//! [`traffic`]. `crane-bench heal` (`docs/bench/heal.json`): replica killed → replacement running; see [`heal`].
//! `crane-bench window` (`docs/bench/window.json`; needs a display, `make bench` provides Xvfb): the desktop window's
//! start to interactive, its whole-app memory idle and with a lab running, and its refresh work under load; see
//! [`window`].
//!
//! Without an argument all run. `make bench` runs it. Timing goals live here, not in tests.

mod alerts;
mod heal;
mod hostile;
mod lb;
mod policy;
mod scale;
mod scan;
mod traffic;
mod window;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crane_e2e::*;

/// One kill per slot: a slot killed again within 30 s is a CrashLoop (backoff), which is not what (a) measures.
const KILLS: usize = 10;
const REPLICAS: u32 = 10;

pub(crate) struct Server {
    pub(crate) child: Child,
    url: String,
    token: String,
    _dir: tempfile::TempDir,
    pub(crate) owner_cleanup: Option<Cleanup>,
}

impl Drop for Server {
    fn drop(&mut self) {
        // SIGTERM lets the server shut down cleanly.
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        let _ = self.child.wait();
    }
}

fn cranectl() -> PathBuf {
    if let Ok(p) = std::env::var("CRANECTL") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("current exe");
    exe.parent().expect("bin dir").join("cranectl")
}

pub(crate) fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

pub(crate) async fn start_server() -> Server {
    start_server_with(&[]).await
}

/// Starts `cranectl serve` with extra environment variables.
pub(crate) async fn start_server_with(env: &[(&str, &str)]) -> Server {
    let dir = tempfile::Builder::new().prefix("crane-bench-").tempdir().unwrap();
    let bin = cranectl();
    assert!(bin.exists(), "{} not found: build it with `cargo build --release -p cranectl`", bin.display());
    let child = Command::new(&bin)
        .envs(env.iter().copied())
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start cranectl serve");
    let api = dir.path().join("api.json");
    let url = wait_for(Duration::from_secs(30), "api.json", || {
        let api = api.clone();
        async move {
            let text = std::fs::read_to_string(&api).ok()?;
            let v: serde_json::Value = serde_json::from_str(&text).ok()?;
            v["url"].as_str().map(str::to_string)
        }
    })
    .await;
    let token = std::fs::read_to_string(dir.path().join("token")).unwrap().trim().to_string();
    Server { child, url, token, _dir: dir, owner_cleanup: None }
}

impl Server {
    pub(crate) async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> serde_json::Value {
        let client = reqwest::Client::new();
        let mut req = client.request(method, format!("{}/api/v1{path}", self.url)).bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        assert!(status.is_success(), "{path}: {status} {text}");
        serde_json::from_str(&text).unwrap_or(serde_json::Value::Null)
    }
}

pub(crate) fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx]
}

pub(crate) async fn running_of(app: &str) -> Vec<bollard::models::ContainerSummary> {
    let docker = docker().await;
    let label = format!("io.crane.app={app}");
    let filters = std::collections::HashMap::from([("label", vec![label.as_str()])]);
    docker
        .list_containers(Some(bollard::query_parameters::ListContainersOptionsBuilder::new().filters(&filters).build()))
        .await
        .unwrap()
}

#[tokio::main]
async fn main() {
    let which = std::env::args().nth(1).unwrap_or_else(|| "all".to_string());
    if which != "policy" {
        ensure_demo_image().await;
    }
    match which.as_str() {
        "skeleton" => skeleton().await,
        "lb" => lb::run().await,
        "scale" => scale::run().await,
        "hostile" => hostile::run().await,
        "policy" => policy::run().await,
        "alerts" => alerts::run().await,
        "traffic" => traffic::run().await,
        "heal" => heal::run().await,
        "scan" => scan::run().await,
        "window" => window::run().await,
        "all" => {
            skeleton().await;
            lb::run().await;
            scale::run().await;
            hostile::run().await;
            policy::run().await;
            alerts::run().await;
            traffic::run().await;
            heal::run().await;
            scan::run().await;
            window::run().await;
        }
        other => {
            eprintln!(
                "unknown benchmark {other:?}; use skeleton, lb, scale, hostile, policy, alerts, traffic, heal, scan, window or all"
            );
            std::process::exit(2);
        }
    }
}

async fn skeleton() {
    let mut server = start_server().await;
    let pid = server.child.id();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_idle = rss_kib(pid);

    // (b) apply 10 replicas → all running.
    let app = unique_name("bench");
    let t0 = Instant::now();
    let applied = server
        .call(
            reqwest::Method::POST,
            "/apps",
            Some(serde_json::json!({"yaml": demo_spec(&app, REPLICAS), "create_only": true})),
        )
        .await;
    let _ = applied;
    wait_for(Duration::from_secs(120), "10 running", || async {
        (running_of(&app).await.len() == REPLICAS as usize).then_some(())
    })
    .await;
    let crane_apply = t0.elapsed().as_secs_f64();
    let owner = running_of(&app).await[0].labels.as_ref().unwrap()["io.crane.owner"].clone();
    server.owner_cleanup = Some(Cleanup { owner });
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rss_10 = rss_kib(pid);

    // (a) kill → replacement running.
    let mut kills = Vec::new();
    for k in 0..KILLS {
        let victim = format!("{app}-{}", (k % REPLICAS as usize) + 1);
        let before = running_of(&app).await;
        let old_id = before.iter().find(|c| c.names.as_ref().unwrap()[0].ends_with(&victim)).and_then(|c| c.id.clone());
        let t = Instant::now();
        kill(&victim).await;
        loop {
            let list = running_of(&app).await;
            if list.iter().any(|c| c.names.as_ref().unwrap()[0].ends_with(&victim) && c.id != old_id) {
                break;
            }
            if t.elapsed() > Duration::from_secs(30) {
                panic!("no replacement for {victim} within 30 s");
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        kills.push(t.elapsed().as_secs_f64());
        // Let the slot run stably so the next kill of it is a first crash again (no backoff).
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    server.call(reqwest::Method::DELETE, &format!("/apps/{app}"), None).await;

    // docker-compose baseline, same image and replicas, same run.
    let compose = compose_baseline().await;

    let mut sorted = kills.clone();
    sorted.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let median = percentile(&sorted, 0.5);
    let p95 = percentile(&sorted, 0.95);
    let ratio = compose.map(|c| crane_apply / c);

    println!();
    println!("| Measure | Result | Target |");
    println!("|---|---|---|");
    println!(
        "| (a) replica killed → replacement running, median of {KILLS} | {:.0} ms (p95 {:.0} ms) | ≤ 1000 ms |",
        median * 1e3,
        p95 * 1e3
    );
    match compose {
        Some(c) => println!(
            "| (b) apply {REPLICAS} replicas → all running: Crane vs docker-compose --scale | {:.2} s vs {:.2} s (ratio {:.2}) | ratio ≤ 1.0 |",
            crane_apply, c, ratio.unwrap()
        ),
        None => println!("| (b) apply {REPLICAS} replicas → all running: Crane (docker-compose not installed) | {crane_apply:.2} s | ratio ≤ 1.0 |"),
    }
    println!(
        "| (c) engine RSS idle / with {REPLICAS} replicas | {:.1} MB / {:.1} MB | ≤ 30 MB idle |",
        rss_idle as f64 / 1024.0,
        rss_10 as f64 / 1024.0
    );

    let json = serde_json::json!({
        "kill_to_running_ms": {"median": median * 1e3, "p95": p95 * 1e3, "samples": kills.iter().map(|k| k * 1e3).collect::<Vec<_>>()},
        "apply_10": {"crane_s": crane_apply, "compose_s": compose, "ratio": ratio},
        "rss_mb": {"idle": rss_idle as f64 / 1024.0, "with_10": rss_10 as f64 / 1024.0},
    });
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/bench/skeleton.json");
    std::fs::create_dir_all(out.parent().unwrap()).unwrap();
    std::fs::write(&out, serde_json::to_string_pretty(&json).unwrap()).unwrap();
    println!("\nwritten to {}", out.display());
}

/// `docker-compose up -d --scale web=10` of the demo image; seconds until it returns with all running.
async fn compose_baseline() -> Option<f64> {
    if Command::new("docker-compose")
        .arg("version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .ok()?
        .success()
    {
        let dir = tempfile::tempdir().ok()?;
        let project = unique_name("cranebench");
        let file = dir.path().join("docker-compose.yml");
        std::fs::write(
            &file,
            format!(
                "version: '2.4'\nservices:\n  web:\n    image: {DEMO_IMAGE}\n    command: [\"/demo\", \"--port\", \"8080\"]\n    labels:\n      io.crane.bench: 'true'\n    mem_limit: 32m\n    cpus: 0.2\n"
            ),
        )
        .ok()?;
        let t = Instant::now();
        let ok = Command::new("docker-compose")
            .args(["-p", &project, "-f"])
            .arg(&file)
            .args(["up", "-d", "--scale", &format!("web={REPLICAS}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .ok()?
            .success();
        let took = t.elapsed().as_secs_f64();
        let _ = Command::new("docker-compose")
            .args(["-p", &project, "-f"])
            .arg(&file)
            .args(["down", "-t", "1"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        ok.then_some(took)
    } else {
        None
    }
}
