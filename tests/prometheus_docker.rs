//! End-to-end: a real Prometheus (Debian's, started by the test on loopback) configured ONLY with Crane's HTTP
//! service-discovery URL scrapes every instance and Crane itself, and discovers a new replica without a restart;
//! `promtool check metrics` accepts Crane's `/metrics`.

use std::io::Write;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crane_e2e::*;

struct Prometheus {
    child: Child,
    _dir: tempfile::TempDir,
    url: String,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn start_prometheus(sd_url: &str, token: &str) -> Prometheus {
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, token).unwrap();
    let config = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: crane\n    authorization:\n      type: Bearer\n      credentials_file: {tf}\n    http_sd_configs:\n      - url: {sd_url}\n        refresh_interval: 1s\n        authorization:\n          type: Bearer\n          credentials_file: {tf}\n",
        tf = token_file.display()
    );
    let config_file = dir.path().join("prometheus.yml");
    std::fs::write(&config_file, config).unwrap();
    let port = free_port();
    let child = Command::new("prometheus")
        .arg(format!("--config.file={}", config_file.display()))
        .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("prometheus is not installed: `apt-get install prometheus` (make test does this)");
    Prometheus { child, _dir: dir, url: format!("http://127.0.0.1:{port}") }
}

/// Active targets as (scrapeUrl, health).
async fn targets(prometheus: &Prometheus) -> Option<Vec<(String, String)>> {
    let v: serde_json::Value =
        reqwest::get(format!("{}/api/v1/targets?state=active", prometheus.url)).await.ok()?.json().await.ok()?;
    Some(
        v["data"]["activeTargets"]
            .as_array()?
            .iter()
            .map(|t| {
                (t["scrapeUrl"].as_str().unwrap_or("").to_string(), t["health"].as_str().unwrap_or("").to_string())
            })
            .collect(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_discovers_and_scrapes_every_instance_and_crane_itself() {
    ensure_demo_image().await;
    let engine = TestEngine::start().await;
    let api = crane_rest::start(engine.handle.clone(), SocketAddr::from(([127, 0, 0, 1], 0))).await.expect("REST API");
    let app = unique_name("t-prom");
    engine.handle.apply(&demo_spec(&app, 2), false).await.expect("apply");
    wait_for(Duration::from_secs(60), "2 ready", || async {
        (engine.handle.get_app(&app).await.ok()?.ready == 2).then_some(())
    })
    .await;

    // Crane's own /metrics passes promtool's checks (after a collection round has scraped the instances).
    let client = reqwest::Client::new();
    wait_for(Duration::from_secs(20), "the instances' own /metrics scraped", || async {
        let text =
            client.get(format!("{}/metrics", api.url)).bearer_auth(&api.token).send().await.ok()?.text().await.ok()?;
        let scraped = |i: u32| format!("crane_instance_scrape_up{{app=\"{app}\",instance=\"{app}-{i}\"}} 1\n");
        (text.contains(&scraped(1)) && text.contains(&scraped(2))).then_some(())
    })
    .await;
    let metrics = client.get(format!("{}/metrics", api.url)).bearer_auth(&api.token).send().await.unwrap();
    assert!(metrics.status().is_success(), "{}", metrics.status());
    let text = metrics.text().await.unwrap();
    assert!(text.contains("crane_app_replicas{app=\"") && text.contains("crane_instance_up"), "{text}");
    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool is not installed: `apt-get install prometheus`");
    promtool.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = promtool.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    let prometheus = start_prometheus(&format!("{}/api/v1/sd", api.url), &api.token);
    let up = wait_for(Duration::from_secs(60), "3 healthy targets (Crane + 2 instances)", || async {
        let t = targets(&prometheus).await?;
        (t.len() == 3 && t.iter().all(|(_, h)| h == "up")).then_some(t)
    })
    .await;
    assert!(up.iter().any(|(u, _)| u.ends_with("/metrics") && u.contains(&api.addr.port().to_string())), "{up:?}");

    // A new replica is discovered without restarting or reconfiguring Prometheus.
    engine.handle.scale(&app, 3).await.expect("scale");
    wait_for(Duration::from_secs(60), "4 healthy targets after scaling", || async {
        let t = targets(&prometheus).await?;
        (t.len() == 4 && t.iter().all(|(_, h)| h == "up")).then_some(())
    })
    .await;
    drop(prometheus);
    engine.handle.delete(&app).await.expect("delete");
    api.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_metric_autoscaling_follows_a_prometheus_query() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    ensure_demo_image().await;
    // Prometheus must know the API address before the engine starts, and the engine must know Prometheus' address:
    // pick both ports first.
    let api_port = free_port();
    let dir = tempfile::Builder::new().prefix("crane-test-").tempdir().unwrap();
    let token = "0123456789abcdef".repeat(4);
    std::fs::write(dir.path().join("token"), &token).unwrap();
    let prometheus = start_prometheus(&format!("http://127.0.0.1:{api_port}/api/v1/sd"), &token);
    let config = crane_engine::EngineConfig::new(dir.path().to_path_buf())
        .with_tick(Duration::from_secs(1))
        .with_metrics_interval(Duration::from_secs(1));
    let config = crane_engine::EngineConfig { prometheus_url: Some(prometheus.url.clone()), ..config };
    let handle = crane_engine::EngineHandle::start(config).await.expect("engine");
    let _guard = EngineGuard(handle.clone());
    let _cleanup = Cleanup { owner: handle.owner().to_string() };
    let api = crane_rest::start(handle.clone(), SocketAddr::from(([127, 0, 0, 1], api_port))).await.expect("REST API");
    assert_eq!(api.token, token, "the REST API uses the token in the data directory");

    let app = unique_name("t-custom");
    let spec = format!(
        "{}autoscaling:\n  min: 1\n  max: 3\n  metric: custom\n  query: 'sum(rate(demo_requests_total{{app=\"{app}\",path=\"/\"}}[5s]))'\n  target: 5\n  scaleDownStabilization: 5s\n",
        demo_spec(&app, 1)
    );
    let applied = handle.apply(&spec, false).await.expect("apply");
    assert!(applied.warnings.is_empty(), "{:?}", applied.warnings);
    let view = wait_for(Duration::from_secs(60), "1 ready", || async {
        let v = handle.get_app(&app).await.ok()?;
        (v.ready == 1).then_some(v)
    })
    .await;
    let stop = Arc::new(AtomicBool::new(false));
    let load =
        tokio::spawn(steady_load(view.url.clone().unwrap(), 40, 2, 20_000, Duration::from_secs(90), stop.clone()));
    wait_for(Duration::from_secs(75), "a scale-up driven by the Prometheus query", || async {
        (handle.get_app(&app).await.ok()?.replicas >= 2).then_some(())
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    load.await.unwrap();
    let events = handle.events(Some(&app), 500).await.unwrap();
    let scaled = events.iter().rev().find(|e| e.kind == "autoscale.scaled").expect("an autoscale.scaled event");
    assert!(scaled.reason.starts_with("custom"), "{}", scaled.reason);
    println!("custom: {}", scaled.reason);
    handle.delete(&app).await.expect("delete");
    api.shutdown().await;
    drop(prometheus);
}
