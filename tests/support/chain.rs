//! The real alerting chain around Crane, for the end-to-end test of the CRANE chain and its benchmark: Debian's
//! `prometheus` (scraping Crane through its HTTP service discovery, evaluating a rule file Crane exported and sending
//! alerts to an Alertmanager) and Debian's `prometheus-alertmanager` (routing them to Crane's webhook receiver with
//! the webhook's bearer token), each started on loopback on an ephemeral port with its own temporary directory, and
//! stopped (SIGTERM, then waited for) when dropped. A test that panics prints the tail of their logs.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A free TCP port on loopback (bound and released; the caller binds it next).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port").local_addr().expect("address").port()
}

/// A process the test started: stopped with SIGTERM and waited for when dropped; its log's tail is printed if the
/// thread is panicking (a failed test shows why Prometheus or Alertmanager misbehaved).
struct Process {
    child: Child,
    name: &'static str,
    log: PathBuf,
}

impl Process {
    fn spawn(name: &'static str, command: &mut Command, log: PathBuf, install: &str) -> Process {
        let out = std::fs::File::create(&log).expect("log file");
        let err = out.try_clone().expect("log file");
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({e}): {install} (make test's setup does this)"));
        Process { child, name, log }
    }

    /// Panics (with the log's tail) if the process has exited.
    fn check_alive(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!("{} exited ({status}):\n{}", self.name, tail(&self.log, 40));
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        // SIGTERM (by pid) lets it shut down cleanly; the wait reaps it.
        // SAFETY: `kill` with a pid this process spawned and has not reaped yet (so it cannot have been reused).
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match self.child.try_wait() {
                Ok(Some(_)) | Err(_) => break,
                Ok(None) if Instant::now() > deadline => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    break;
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
        if std::thread::panicking() {
            eprintln!("--- last lines of {}'s log ---\n{}", self.name, tail(&self.log, 40));
        }
    }
}

fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Debian's Alertmanager (`prometheus-alertmanager`), routing every alert to Crane's webhook receiver.
pub struct Alertmanager {
    process: Process,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// `127.0.0.1:PORT`, for Prometheus' `alertmanagers` targets.
    pub address: String,
    _dir: tempfile::TempDir,
}

impl Alertmanager {
    /// Starts Alertmanager with one route to `webhook_url`, sending the token in `token_file` as a bearer token
    /// (`http_config.authorization.credentials_file`), grouping by alert name and app with `group_wait` and
    /// `group_interval` of 1 s, and `send_resolved`. Clustering is off (no gossip port).
    pub fn start(webhook_url: &str, token_file: &Path) -> Alertmanager {
        let dir = tempfile::Builder::new().prefix("crane-am-").tempdir().expect("temp dir");
        let config = format!(
            "route:\n  receiver: crane\n  group_by: [alertname, app]\n  group_wait: 1s\n  group_interval: 1s\n  repeat_interval: 1h\nreceivers:\n  - name: crane\n    webhook_configs:\n      - url: {webhook_url}\n        send_resolved: true\n        http_config:\n          authorization:\n            type: Bearer\n            credentials_file: {}\n",
            token_file.display()
        );
        let config_file = dir.path().join("alertmanager.yml");
        std::fs::write(&config_file, config).expect("write alertmanager.yml");
        let port = free_port();
        let process = Process::spawn(
            "prometheus-alertmanager",
            Command::new("prometheus-alertmanager")
                .arg(format!("--config.file={}", config_file.display()))
                .arg(format!("--storage.path={}", dir.path().join("data").display()))
                .arg(format!("--web.listen-address=127.0.0.1:{port}"))
                .arg("--cluster.listen-address="),
            dir.path().join("alertmanager.log"),
            "`apt-get install prometheus-alertmanager`",
        );
        Alertmanager {
            process,
            url: format!("http://127.0.0.1:{port}"),
            address: format!("127.0.0.1:{port}"),
            _dir: dir,
        }
    }

    /// Waits until it answers `/-/ready` (panics after `within`, or if it exited).
    pub async fn ready(&mut self, within: Duration) {
        let started = Instant::now();
        loop {
            self.process.check_alive();
            if let Ok(r) = reqwest::get(format!("{}/-/ready", self.url)).await {
                if r.status().is_success() {
                    return;
                }
            }
            assert!(started.elapsed() < within, "Alertmanager not ready within {within:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Whether it holds an active alert `alertname` for `app` (API v2).
    pub async fn has_alert(&self, alertname: &str, app: &str) -> bool {
        let url = format!("{}/api/v2/alerts?active=true&silenced=false&inhibited=false", self.url);
        let Ok(resp) = reqwest::get(url).await else { return false };
        let Ok(list) = resp.json::<serde_json::Value>().await else { return false };
        list.as_array().is_some_and(|alerts| {
            alerts.iter().any(|a| a["labels"]["alertname"] == alertname && a["labels"]["app"] == app)
        })
    }

    /// Its counters of webhook notifications: (sent, failed).
    pub async fn notifications(&self) -> (f64, f64) {
        let text = match reqwest::get(format!("{}/metrics", self.url)).await {
            Ok(r) => r.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        let sum = |name: &str| -> f64 {
            text.lines()
                .filter(|l| l.starts_with(name) && l.contains("integration=\"webhook\""))
                .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                .sum()
        };
        (sum("alertmanager_notifications_total{"), sum("alertmanager_notifications_failed_total{"))
    }
}

/// Debian's Prometheus, scraping Crane through its HTTP service discovery (bearer token, `type: Bearer`) every
/// second, evaluating one rule file every second and sending its alerts to an Alertmanager.
pub struct Prometheus {
    process: Process,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    /// Starts Prometheus with Crane's service-discovery URL and API token, the rule file `rules` (written to its
    /// directory) and the Alertmanager at `alertmanager` (`host:port`).
    pub fn start(sd_url: &str, token: &str, rules: &str, alertmanager: &str) -> Prometheus {
        let dir = tempfile::Builder::new().prefix("crane-prom-").tempdir().expect("temp dir");
        let token_file = dir.path().join("token");
        std::fs::write(&token_file, token).expect("write token");
        let rule_file = dir.path().join("crane.rules.yml");
        std::fs::write(&rule_file, rules).expect("write rules");
        let config = format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\nrule_files:\n  - {rf}\nalerting:\n  alertmanagers:\n    - api_version: v2\n      static_configs:\n        - targets: ['{alertmanager}']\nscrape_configs:\n  - job_name: crane\n    authorization:\n      type: Bearer\n      credentials_file: {tf}\n    http_sd_configs:\n      - url: {sd_url}\n        refresh_interval: 1s\n        authorization:\n          type: Bearer\n          credentials_file: {tf}\n",
            rf = rule_file.display(),
            tf = token_file.display()
        );
        let config_file = dir.path().join("prometheus.yml");
        std::fs::write(&config_file, config).expect("write prometheus.yml");
        let port = free_port();
        let process = Process::spawn(
            "prometheus",
            Command::new("prometheus")
                .arg(format!("--config.file={}", config_file.display()))
                .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
                .arg(format!("--web.listen-address=127.0.0.1:{port}")),
            dir.path().join("prometheus.log"),
            "`apt-get install prometheus`",
        );
        Prometheus { process, url: format!("http://127.0.0.1:{port}"), _dir: dir }
    }

    /// Waits until the rule group `group` is loaded with every rule healthy-or-unknown and `targets` active targets
    /// are up (panics after `within`, or if Prometheus exited).
    pub async fn ready(&mut self, group: &str, targets: usize, within: Duration) {
        let started = Instant::now();
        loop {
            self.process.check_alive();
            if self.rules_loaded(group).await && self.targets_up().await >= targets {
                return;
            }
            assert!(
                started.elapsed() < within,
                "Prometheus did not load rule group {group:?} with {targets} healthy targets within {within:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn rules_loaded(&self, group: &str) -> bool {
        let Ok(resp) = reqwest::get(format!("{}/api/v1/rules", self.url)).await else { return false };
        let Ok(v) = resp.json::<serde_json::Value>().await else { return false };
        v["data"]["groups"].as_array().is_some_and(|groups| {
            groups.iter().any(|g| {
                g["name"] == group
                    && g["rules"]
                        .as_array()
                        .is_some_and(|rules| !rules.is_empty() && rules.iter().all(|r| r["health"] != "err"))
            })
        })
    }

    /// How many active targets are up.
    pub async fn targets_up(&self) -> usize {
        let Ok(resp) = reqwest::get(format!("{}/api/v1/targets?state=active", self.url)).await else { return 0 };
        let Ok(v) = resp.json::<serde_json::Value>().await else { return 0 };
        v["data"]["activeTargets"].as_array().map_or(0, |t| t.iter().filter(|t| t["health"] == "up").count())
    }

    /// The state (`pending` or `firing`) of alert `alertname` for `app` in Prometheus, if it is active.
    pub async fn alert_state(&self, alertname: &str, app: &str) -> Option<String> {
        let v: serde_json::Value = reqwest::get(format!("{}/api/v1/alerts", self.url)).await.ok()?.json().await.ok()?;
        v["data"]["alerts"]
            .as_array()?
            .iter()
            .find(|a| a["labels"]["alertname"] == alertname && a["labels"]["app"] == app)
            .and_then(|a| a["state"].as_str().map(str::to_string))
    }
}

/// A timeline of a scenario: each mark is printed as `t+X.Xs  what` from the start, and kept for a summary.
pub struct Timeline {
    title: String,
    started: Instant,
    /// Marks: (seconds since the start, what happened).
    pub marks: Vec<(f64, String)>,
}

impl Timeline {
    /// Starts a timeline now.
    pub fn start(title: &str) -> Timeline {
        println!("\n=== {title} ===");
        Timeline { title: title.to_string(), started: Instant::now(), marks: Vec::new() }
    }

    /// Seconds since the start.
    pub fn now(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    /// Records and prints a mark at the current time.
    pub fn mark(&mut self, what: impl Into<String>) -> f64 {
        let at = self.now();
        let what = what.into();
        println!("t+{at:6.1}s  {what}");
        self.marks.push((at, what));
        at
    }

    /// The whole timeline as text.
    pub fn render(&self) -> String {
        let mut out = format!("{}\n", self.title);
        for (at, what) in &self.marks {
            out.push_str(&format!("  t+{at:6.1}s  {what}\n"));
        }
        out
    }
}
