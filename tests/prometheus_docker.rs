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
