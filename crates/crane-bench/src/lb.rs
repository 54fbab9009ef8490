//! `crane-bench lb`: the built-in load balancer next to NGINX and next to no proxy at all, measured with `wrk` in the
//! same run against the same 3 demo backends; and replica killed → replacement ready and back in the load balancer.
//!
//! (1) built-in load balancer, (2) NGINX (Debian's) as an equivalent round-robin proxy with keep-alive to the same
//! backends, (3) one backend directly. Prints req/s and p50/p99 for each, the ratio built-in / NGINX and the latency
//! the built-in load balancer adds over a direct connection.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crane_e2e::*;

use crate::{percentile, start_server, Server};

const KILLS: usize = 10;
const WRK_SECONDS: u32 = 10;
const WRK_CONNECTIONS: u32 = 32;

/// What one wrk run measured.
#[derive(Debug, Clone, serde::Serialize)]
struct WrkResult {
    target: String,
    requests_per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
    errors: String,
}

fn parse_latency(value: &str) -> f64 {
    let v = value.trim();
    let (number, factor) = if let Some(n) = v.strip_suffix("us") {
        (n, 0.001)
    } else if let Some(n) = v.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = v.strip_suffix('s') {
        (n, 1000.0)
    } else {
        (v, 1.0)
    };
    number.parse::<f64>().map(|n| n * factor).unwrap_or(f64::NAN)
}

fn wrk(target: &str, url: &str) -> WrkResult {
    let out = Command::new("wrk")
        .args(["-t", "2", "-c", &WRK_CONNECTIONS.to_string(), "-d", &format!("{WRK_SECONDS}s"), "--latency", url])
        .output()
        .expect("wrk is not installed: `apt-get install wrk` (make bench does this)");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let mut result = WrkResult {
        target: target.to_string(),
        requests_per_second: 0.0,
        p50_ms: f64::NAN,
        p99_ms: f64::NAN,
        errors: String::new(),
    };
    for line in text.lines() {
        let t = line.trim();
        if let Some(v) = t.strip_prefix("Requests/sec:") {
            result.requests_per_second = v.trim().parse().unwrap_or(0.0);
        } else if let Some(v) = t.strip_prefix("50%") {
            result.p50_ms = parse_latency(v);
        } else if let Some(v) = t.strip_prefix("99%") {
            result.p99_ms = parse_latency(v);
        } else if t.starts_with("Socket errors") || t.starts_with("Non-2xx") {
            result.errors.push_str(t);
        }
    }
    result
}

struct Nginx {
    prefix: tempfile::TempDir,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        if let Ok(pid) = std::fs::read_to_string(self.prefix.path().join("nginx.pid")) {
            let _ = Command::new("kill").arg("-QUIT").arg(pid.trim()).status();
        }
    }
}

fn start_nginx(listen: u16, backends: &[String]) -> Nginx {
    let prefix = tempfile::tempdir().unwrap();
    let p = prefix.path();
    std::fs::create_dir_all(p.join("tmp")).unwrap();
    let servers: String = backends.iter().map(|b| format!("    server {b};\n")).collect();
    // The same job as the built-in load balancer: round-robin, keep-alive to the backends, one worker per core.
    let conf = format!(
        "worker_processes auto;\npid {p}/nginx.pid;\nerror_log {p}/error.log;\nevents {{ worker_connections 1024; }}\nhttp {{\n  access_log off;\n  client_body_temp_path {p}/tmp;\n  proxy_temp_path {p}/tmp;\n  upstream demo {{\n{servers}    keepalive 64;\n  }}\n  server {{\n    listen 127.0.0.1:{listen};\n    location / {{\n      proxy_pass http://demo;\n      proxy_http_version 1.1;\n      proxy_set_header Connection \"\";\n      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n    }}\n  }}\n}}\n",
        p = p.display()
    );
    std::fs::write(p.join("nginx.conf"), conf).unwrap();
    let nginx = ["/usr/sbin/nginx", "/usr/bin/nginx"]
        .into_iter()
        .find(|n| Path::new(n).exists())
        .expect("nginx is not installed");
    let ok = Command::new(nginx)
        .arg("-p")
        .arg(p)
        .arg("-c")
        .arg(p.join("nginx.conf"))
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(ok.success(), "nginx did not start");
    Nginx { prefix }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

async fn app_view(server: &Server, app: &str) -> serde_json::Value {
    server.call(reqwest::Method::GET, &format!("/apps/{app}"), None).await
}

/// Runs the load balancer benchmark and writes `docs/bench/lb.json`.
pub(crate) async fn run() {
    let mut server = start_server().await;
    let app = unique_name("benchlb");
    let yaml = format!(
        "name: {app}\nimage: {DEMO_IMAGE}\nreplicas: 3\ncommand: [\"/demo\", \"--port\", \"8080\"]\nports:\n  - container: 8080\nhealth:\n  readiness: {{ type: http, path: /ready, period: 200ms, failureThreshold: 1 }}\n"
    );
    server.call(reqwest::Method::POST, "/apps", Some(serde_json::json!({"yaml": yaml, "create_only": true}))).await;
    let view = wait_for(Duration::from_secs(60), "3 ready", || async {
        let v = app_view(&server, &app).await;
        (v["ready"] == 3).then_some(v)
    })
    .await;
    let running = crate::running_of(&app).await;
    let owner = running[0].labels.as_ref().unwrap()["io.crane.owner"].clone();
    server.owner_cleanup = Some(Cleanup { owner });
    let url = view["url"].as_str().unwrap().to_string() + "/";
    let backends: Vec<String> = view["instances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| format!("{}:8080", i["address"].as_str().unwrap()))
        .collect();
    let nginx_port = free_port();
    let nginx = start_nginx(nginx_port, &backends);
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Warm up each target briefly, then measure.
    let direct = format!("http://{}/", backends[0]);
    let nginx_url = format!("http://127.0.0.1:{nginx_port}/");
    for u in [&url, &nginx_url, &direct] {
        let _ = Command::new("wrk").args(["-t", "1", "-c", "8", "-d", "2s", u]).output();
    }
    let builtin = wrk("built-in load balancer", &url);
    let with_nginx = wrk("NGINX 1.22 (round-robin, keepalive)", &nginx_url);
    let no_proxy = wrk("one backend, direct", &direct);
    drop(nginx);

    // Replica killed → replacement ready and back in the load balancer. One kill per slot (10 replicas): a slot
    // killed again within 30 s would be in CrashLoop backoff, which is a different measure.
    server
        .call(reqwest::Method::POST, &format!("/apps/{app}/scale"), Some(serde_json::json!({"replicas": KILLS})))
        .await;
    wait_for(Duration::from_secs(60), "10 ready", || async {
        (app_view(&server, &app).await["ready"] == KILLS as u64).then_some(())
    })
    .await;
    let mut kills = Vec::new();
    for k in 0..KILLS {
        let index = k + 1;
        let victim = format!("{app}-{index}");
        let before = app_view(&server, &app).await;
        let old_id =
            before["instances"].as_array().unwrap().iter().find(|i| i["index"] == index).unwrap()["id"].clone();
        let t = Instant::now();
        kill(&victim).await;
        loop {
            let v = app_view(&server, &app).await;
            let back = v["instances"]
                .as_array()
                .unwrap()
                .iter()
                .any(|i| i["index"] == index && i["id"] != old_id && i["state"] == "ready" && i["id"] != "");
            if back {
                break;
            }
            assert!(t.elapsed() < Duration::from_secs(30), "no ready replacement for {victim} within 30 s");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        kills.push(t.elapsed().as_secs_f64() * 1e3);
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    server.call(reqwest::Method::DELETE, &format!("/apps/{app}"), None).await;

    let mut sorted = kills.clone();
    sorted.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let ratio = builtin.requests_per_second / with_nginx.requests_per_second;
    let added_p99 = builtin.p99_ms - no_proxy.p99_ms;
    println!();
    println!("wrk -t2 -c{WRK_CONNECTIONS} -d{WRK_SECONDS}s, 3 demo backends, same run:");
    println!("| Target | req/s | p50 | p99 | errors |");
    println!("|---|---|---|---|---|");
    for r in [&builtin, &with_nginx, &no_proxy] {
        println!(
            "| {} | {:.0} | {:.2} ms | {:.2} ms | {} |",
            r.target,
            r.requests_per_second,
            r.p50_ms,
            r.p99_ms,
            if r.errors.is_empty() { "none" } else { &r.errors }
        );
    }
    println!();
    println!("| Measure | Result | Target |");
    println!("|---|---|---|");
    println!("| built-in / NGINX req/s | {ratio:.2}× | ≥ 1.0× |");
    println!("| p99 added by the built-in load balancer over direct | {added_p99:.2} ms | ≤ 1 ms |");
    println!(
        "| replica killed → replacement ready and back in the load balancer, median of {KILLS} | {:.0} ms (p95 {:.0} ms) | ≤ 1000 ms |",
        percentile(&sorted, 0.5),
        percentile(&sorted, 0.95)
    );
    let json = serde_json::json!({
        "wrk": {"threads": 2, "connections": WRK_CONNECTIONS, "seconds": WRK_SECONDS},
        "results": [builtin, with_nginx, no_proxy],
        "ratio_builtin_over_nginx": ratio,
        "added_p99_ms_over_direct": added_p99,
        "kill_to_ready_in_lb_ms": {"median": percentile(&sorted, 0.5), "p95": percentile(&sorted, 0.95), "samples": kills},
    });
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/bench/lb.json");
    std::fs::create_dir_all(out.parent().unwrap()).unwrap();
    std::fs::write(&out, serde_json::to_string_pretty(&json).unwrap()).unwrap();
    println!("\nwritten to {}", out.display());
}
