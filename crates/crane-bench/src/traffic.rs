//! `crane-bench traffic` (`docs/bench/traffic.json`): traffic beyond request/response, same run, same 3 demo
//! backends —
//! (1) a tcp port (`mode: tcp`) of the built-in load balancer next to NGINX's `stream` module (Debian's
//!     `libnginx-mod-stream`; when it is not installed the table says so) and next to one backend directly:
//!     connections per second (connect, one echoed line, close) and bytes per second (long connections echoing
//!     lines both ways);
//! (2) WebSocket messages per second (one message, then its echo, per round trip) through the load balancer and
//!     directly;
//! Healing (replica killed → replacement running) is `crane-bench heal`.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crane_e2e::*;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::{start_server, Server};

const SECONDS: u64 = 5;
const WORKERS: usize = 16;
const STREAMS: usize = 8;
/// Where Debian's `libnginx-mod-stream` puts the module.
const STREAM_MODULE: &str = "/usr/lib/nginx/modules/ngx_stream_module.so";

/// One measured target.
#[derive(Debug, Clone, serde::Serialize)]
struct TcpResult {
    target: String,
    connections_per_second: f64,
    failed_connections: u64,
    bytes_per_second: f64,
}

/// Connections per second: `WORKERS` loops of connect, one echoed line, close, for `SECONDS`.
async fn connection_rate(port_of: impl Fn() -> (String, u16)) -> (f64, u64) {
    let done = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(SECONDS);
    let mut tasks = Vec::new();
    for _ in 0..WORKERS {
        let (host, port) = port_of();
        let (done, failed) = (done.clone(), failed.clone());
        tasks.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                let ok = async {
                    let stream = TcpStream::connect((host.as_str(), port)).await.ok()?;
                    let mut stream = BufReader::new(stream);
                    stream.get_mut().write_all(b"ping\n").await.ok()?;
                    let mut line = String::new();
                    stream.read_line(&mut line).await.ok()?;
                    line.ends_with("ping\n").then_some(())
                }
                .await;
                match ok {
                    Some(()) => done.fetch_add(1, Ordering::Relaxed),
                    None => failed.fetch_add(1, Ordering::Relaxed),
                };
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    (done.load(Ordering::Relaxed) as f64 / SECONDS as f64, failed.load(Ordering::Relaxed))
}

/// Bytes per second: `STREAMS` connections each writing 1 KiB lines as fast as they are echoed back, counting the
/// bytes received (the echo is the line plus the instance's prefix).
async fn byte_rate(host: &str, port: u16) -> f64 {
    let received = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for _ in 0..STREAMS {
        let Ok(stream) = TcpStream::connect((host, port)).await else { continue };
        let (mut read, mut write) = stream.into_split();
        let writing = stop.clone();
        let line = format!("{}\n", "x".repeat(1023));
        tasks.push(tokio::spawn(async move {
            while !writing.load(Ordering::Relaxed) {
                if write.write_all(line.as_bytes()).await.is_err() {
                    return;
                }
            }
        }));
        let (received, stop) = (received.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut buffer = vec![0u8; 64 * 1024];
            while !stop.load(Ordering::Relaxed) {
                match tokio::time::timeout(Duration::from_millis(500), read.read(&mut buffer)).await {
                    Ok(Ok(n)) if n > 0 => {
                        received.fetch_add(n as u64, Ordering::Relaxed);
                    }
                    Ok(_) => return,
                    Err(_) => {}
                }
            }
        }));
    }
    // Skip the first second (buffers filling), then measure.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = received.load(Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs(SECONDS)).await;
    let bytes = received.load(Ordering::Relaxed) - before;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.abort();
    }
    bytes as f64 / SECONDS as f64
}

struct NginxStream {
    prefix: tempfile::TempDir,
}

impl Drop for NginxStream {
    fn drop(&mut self) {
        if let Ok(pid) = std::fs::read_to_string(self.prefix.path().join("nginx.pid")) {
            let _ = Command::new("kill").arg("-QUIT").arg(pid.trim()).status();
        }
    }
}

/// NGINX's `stream` module balancing the same backends round-robin, or why it cannot run.
fn start_nginx_stream(listen: u16, backends: &[String]) -> Result<NginxStream, String> {
    if !Path::new(STREAM_MODULE).exists() {
        return Err(format!(
            "NGINX's stream module is not installed ({STREAM_MODULE} is missing; Debian: apt-get install libnginx-mod-stream)"
        ));
    }
    let nginx = ["/usr/sbin/nginx", "/usr/bin/nginx"]
        .into_iter()
        .find(|n| Path::new(n).exists())
        .ok_or("nginx is not installed")?;
    let prefix = tempfile::tempdir().map_err(|e| e.to_string())?;
    let p = prefix.path();
    let servers: String = backends.iter().map(|b| format!("    server {b};\n")).collect();
    let conf = format!(
        "load_module {STREAM_MODULE};\nworker_processes auto;\npid {p}/nginx.pid;\nerror_log {p}/error.log;\n\
         events {{ worker_connections 4096; }}\nstream {{\n  upstream echo {{\n{servers}  }}\n  server {{\n    \
         listen 127.0.0.1:{listen};\n    proxy_pass echo;\n    proxy_connect_timeout 1s;\n  }}\n}}\n",
        p = p.display()
    );
    std::fs::write(p.join("nginx.conf"), conf).map_err(|e| e.to_string())?;
    let ok = Command::new(nginx)
        .arg("-p")
        .arg(p)
        .arg("-c")
        .arg(p.join("nginx.conf"))
        .stderr(Stdio::null())
        .status()
        .map_err(|e| e.to_string())?;
    if !ok.success() {
        return Err("nginx with the stream module did not start".into());
    }
    Ok(NginxStream { prefix })
}

async fn measure_tcp(target: &str, host: &str, port: u16) -> TcpResult {
    let (host_owned, p) = (host.to_string(), port);
    let (rate, failed) = connection_rate(move || (host_owned.clone(), p)).await;
    let bytes = byte_rate(host, port).await;
    TcpResult {
        target: target.to_string(),
        connections_per_second: rate,
        failed_connections: failed,
        bytes_per_second: bytes,
    }
}

/// WebSocket messages per second over `STREAMS` connections to `host:port`.
async fn websocket_rate(host: &str, port: u16) -> f64 {
    let done = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(SECONDS);
    let mut tasks = Vec::new();
    for _ in 0..STREAMS {
        let Ok(mut stream) = TcpStream::connect((host, port)).await else { continue };
        let head = "GET /ws HTTP/1.1\r\nHost: demo\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                    Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
        if stream.write_all(head.as_bytes()).await.is_err() {
            continue;
        }
        let mut stream = BufReader::new(stream);
        loop {
            let mut line = String::new();
            if stream.read_line(&mut line).await.unwrap_or(0) == 0 || line == "\r\n" {
                break;
            }
        }
        let done = done.clone();
        tasks.push(tokio::spawn(async move {
            let payload = b"a message of 32 bytes, echoed..";
            let mut frame = vec![0x81, 0x80 | payload.len() as u8, 0, 0, 0, 0];
            frame.extend_from_slice(payload);
            let mut answer = vec![0u8; 2 + payload.len()];
            while Instant::now() < deadline {
                if stream.get_mut().write_all(&frame).await.is_err() || stream.read_exact(&mut answer).await.is_err() {
                    return;
                }
                done.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    done.load(Ordering::Relaxed) as f64 / SECONDS as f64
}

async fn app_view(server: &Server, app: &str) -> serde_json::Value {
    server.call(reqwest::Method::GET, &format!("/apps/{app}"), None).await
}

fn port_of(address: &str) -> u16 {
    address.rsplit(':').next().and_then(|p| p.parse().ok()).expect("a port")
}

/// Runs the traffic benchmark and writes `docs/bench/traffic.json`.
pub(crate) async fn run() {
    let mut server = start_server().await;
    let app = unique_name("benchtr");
    let yaml = format!(
        "name: {app}\nimage: {DEMO_IMAGE}\nreplicas: 3\ncommand: [\"/demo\", \"--port\", \"8080\", \"--tcp-echo\", \"9000\"]\n\
         ports:\n  - container: 8080\n  - {{ container: 9000, mode: tcp }}\n\
         health:\n  readiness: {{ type: http, path: /ready, period: 200ms, failureThreshold: 1 }}\n"
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
    let http_port = port_of(view["url"].as_str().unwrap());
    let tcp_port = port_of(view["listeners"][1]["address"].as_str().expect("the tcp port listens"));
    let ips: Vec<String> =
        view["instances"].as_array().unwrap().iter().map(|i| i["address"].as_str().unwrap().to_string()).collect();

    // (1) TCP.
    let builtin = measure_tcp("built-in load balancer, mode: tcp", "127.0.0.1", tcp_port).await;
    let nginx_port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let backends: Vec<String> = ips.iter().map(|ip| format!("{ip}:9000")).collect();
    let (with_nginx, nginx_note) = match start_nginx_stream(nginx_port, &backends) {
        Ok(nginx) => {
            tokio::time::sleep(Duration::from_millis(300)).await;
            let r = measure_tcp("NGINX 1.22 stream (round-robin)", "127.0.0.1", nginx_port).await;
            drop(nginx);
            (Some(r), None)
        }
        Err(why) => (None, Some(why)),
    };
    let direct = measure_tcp("one backend, direct", &ips[0], 9000).await;

    // (2) WebSocket messages.
    let ws_builtin = websocket_rate("127.0.0.1", http_port).await;
    let ws_direct = websocket_rate(&ips[0], 8080).await;

    server.call(reqwest::Method::DELETE, &format!("/apps/{app}"), None).await;

    println!();
    println!("TCP echo, 3 demo backends, same run ({WORKERS} connecting workers, {STREAMS} streaming connections, {SECONDS} s each):");
    println!("| Target | connections/s | failed | bytes/s |");
    println!("|---|---|---|---|");
    for r in [Some(&builtin), with_nginx.as_ref(), Some(&direct)].into_iter().flatten() {
        println!(
            "| {} | {:.0} | {} | {:.1} MB/s |",
            r.target,
            r.connections_per_second,
            r.failed_connections,
            r.bytes_per_second / 1e6
        );
    }
    if let Some(why) = &nginx_note {
        println!("| NGINX stream | not measured: {why} | | |");
    }
    println!();
    println!("| Measure | Result | Target |");
    println!("|---|---|---|");
    if let Some(n) = &with_nginx {
        println!(
            "| built-in / NGINX stream: connections/s, bytes/s | {:.2}×, {:.2}× | ≥ 1.0× |",
            builtin.connections_per_second / n.connections_per_second,
            builtin.bytes_per_second / n.bytes_per_second
        );
    }
    println!("| WebSocket messages/s: through the load balancer vs direct ({STREAMS} connections) | {ws_builtin:.0} vs {ws_direct:.0} ({:.2}×) | |", ws_builtin / ws_direct);
    let json = serde_json::json!({
        "tcp": {"workers": WORKERS, "streams": STREAMS, "seconds": SECONDS, "results": [Some(&builtin), with_nginx.as_ref(), Some(&direct)], "nginx_note": nginx_note},
        "websocket_messages_per_second": {"through_lb": ws_builtin, "direct": ws_direct},
    });
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/bench/traffic.json");
    std::fs::create_dir_all(out.parent().unwrap()).unwrap();
    std::fs::write(&out, serde_json::to_string_pretty(&json).unwrap()).unwrap();
    println!("\nwritten to {}", out.display());
}
