//! End-to-end: Crane sends its own alerts to a real Alertmanager (Debian's `prometheus-alertmanager`, started by the
//! test on loopback), as Prometheus does. A rule on an app's real ready instances fires; with `alertmanager_url`
//! set, the alert appears in Alertmanager's API v2 with Crane's labels and annotations; when the rule resolves,
//! Alertmanager marks it resolved (it drops it from the active list). The evaluator runs every second here.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crane_e2e::*;

struct Alertmanager {
    child: Child,
    _dir: tempfile::TempDir,
    url: String,
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn start_alertmanager() -> Alertmanager {
    let dir = tempfile::tempdir().unwrap();
    // A receiver that sends nothing: the test reads what Alertmanager holds through its API.
    let config = "route:\n  receiver: none\n  group_wait: 1s\n  group_interval: 1s\nreceivers:\n  - name: none\n";
    let config_file = dir.path().join("alertmanager.yml");
    std::fs::write(&config_file, config).unwrap();
    let port = free_port();
    let child = Command::new("prometheus-alertmanager")
        .arg(format!("--config.file={}", config_file.display()))
        .arg(format!("--storage.path={}", dir.path().join("data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        // No cluster listener (it would take port 9094 for every test run).
        .arg("--cluster.listen-address=")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect(
            "prometheus-alertmanager is not installed: `apt-get install prometheus-alertmanager` (make test does this)",
        );
    Alertmanager { child, _dir: dir, url: format!("http://127.0.0.1:{port}") }
}

/// Alertmanager's alerts named `alertname` (active and not), as its API v2 lists them.
async fn alerts_named(am: &Alertmanager, alertname: &str) -> Option<Vec<serde_json::Value>> {
    let url = format!("{}/api/v2/alerts?active=true&silenced=true&inhibited=true&unprocessed=true", am.url);
    let list: Vec<serde_json::Value> = reqwest::get(url).await.ok()?.json().await.ok()?;
    Some(list.into_iter().filter(|a| a["labels"]["alertname"] == alertname).collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crane_sends_its_firing_and_resolved_alerts_to_a_real_alertmanager() {
    ensure_demo_image().await;
    let am = start_alertmanager();
    wait_for(Duration::from_secs(30), "Alertmanager ready", || async {
        reqwest::get(format!("{}/-/ready", am.url)).await.ok().filter(|r| r.status().is_success()).map(|_| ())
    })
    .await;

    let engine = TestEngine::start_with(|c| c.with_alert_interval(Duration::from_secs(1))).await;
    let e = &engine.handle;
    let name = unique_name("t-amsend");
    let rules = format!(
        "groups:\n  - name: e2e\n    rules:\n      - alert: TwoReadySent\n        expr: crane_app_ready_replicas{{app=\"{name}\"}} > 1\n        for: 1s\n        labels: {{ severity: info }}\n        annotations: {{ summary: \"{{{{ $labels.app }}}} has {{{{ $value }}}} ready\" }}\n        firing_action: notify\n"
    );
    e.set_alert_rules(&rules).await.unwrap();
    let update = crane_api::SettingsUpdate { alertmanager_url: Some(am.url.clone()), ..Default::default() };
    e.set_settings(&update).await.unwrap();

    e.apply(&demo_spec(&name, 2), false).await.unwrap();
    let sent = wait_for(Duration::from_secs(90), "the alert in Alertmanager", || async {
        let list = alerts_named(&am, "TwoReadySent").await?;
        list.into_iter().find(|a| a["status"]["state"] == "active")
    })
    .await;
    assert_eq!(sent["labels"]["app"], name.as_str(), "{sent}");
    assert_eq!(sent["labels"]["severity"], "info", "{sent}");
    assert_eq!(sent["annotations"]["summary"], format!("{name} has 2 ready"), "{sent}");
    assert!(sent["generatorURL"].as_str().is_some_and(|u| !u.is_empty()), "{sent}");
    let events = e.events(None, 500).await.unwrap();
    let first = events.iter().find(|ev| ev.kind == crane_api::EventKind::AlertSent).expect("an alert.sent event");
    assert!(first.reason.contains("receives Crane's alerts"), "{}", first.reason);

    // Resolved: Crane sends it with its resolve time, and Alertmanager stops listing it as active.
    e.scale(&name, 1).await.unwrap();
    wait_for(Duration::from_secs(90), "the alert resolved in Alertmanager", || async {
        let list = alerts_named(&am, "TwoReadySent").await?;
        list.iter().all(|a| a["status"]["state"] != "active").then_some(())
    })
    .await;
    e.delete(&name).await.unwrap();
}
