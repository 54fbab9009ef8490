//! `crane-bench window` (`docs/bench/window.json`): the desktop window as a user starts it, on the current display
//! (`make bench` wraps itself in `xvfb-run` when there is none).
//!
//! (1) Startup: the real `crane` binary (src-tauri) spawned 5 times, each with a fresh data directory and a free
//!     REST port, timed from `spawn` to the window's "interactive" mark: every input handler attached, the engine's
//!     change events subscribed, the first live data fetched and the Home view rendered from it and painted (two
//!     animation frames later). The window writes the mark itself when `CRANE_BENCH_MARKS` names a file
//!     (`src-tauri/src/bench_marks.rs`, which says why marks and not WebDriver); its time is when the backend got it.
//!     Median, min and max of the 5.
//! (2) Memory of the whole app: the `crane` process and all its descendants (WebKitWebProcess, WebKitNetworkProcess,
//!     …), `VmRSS` of `/proc/<pid>/status` summed — shared pages (WebKit's libraries) count once per process, so the
//!     sum overstates — and PSS from `/proc/<pid>/smaps_rollup` summed (shared pages divided among their users), both
//!     reported; idle (the window on Home, 10 s after interactive, each of the 5 starts) and with the shipped lab
//!     `scaling-under-load` running (its app ready and its load run going, 15 s after). Docker's daemon and the
//!     containers are not the app's processes and are not counted.
//! (3) Refresh work under load: an app of 10 replicas of the demo image, the window on its Scaling view
//!     (`CRANE_BENCH_ROUTE`), the built-in load generator at 200 req/s for 20 s (`POST /api/v1/apps/{app}/load`):
//!     the window's coalesced refreshes and change events per second (`window.__craneStats`, reported every second
//!     with the marks), the same over 10 s without load, and the CPU of each of the app's processes over the run
//!     (`crane` includes the engine, the load balancer forwarding the requests and the load generator itself).
//!
//! Everything the bench creates (the lab, the app, the data directories) is removed at the end, also when a step
//! panics: each window's engine is stopped and its Docker objects are removed by their owner label.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crane_e2e::chain::free_port;
use crane_e2e::*;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::{percentile, rss_kib};

/// Window starts timed.
const STARTS: usize = 5;
/// How long after interactive the idle memory is read.
const IDLE_AFTER: Duration = Duration::from_secs(10);
/// How long a start may take before the bench gives up.
const INTERACTIVE_TIMEOUT: Duration = Duration::from_secs(90);
/// The shipped lab loaded for the "lab running" memory (an app, an alert rule and a load run; no other test
/// loads it on the shared Docker engine).
const LAB: &str = "scaling-under-load";
/// How long the lab runs, its apps ready, before its memory is read.
const LAB_SETTLE: Duration = Duration::from_secs(15);
/// Replicas of the app under load.
const LOAD_REPLICAS: u32 = 10;
/// Requests per second of the load run.
const LOAD_RATE: f64 = 200.0;
/// Seconds of the load run.
const LOAD_SECONDS: f64 = 20.0;
/// Seconds of the no-load baseline of the window's work.
const QUIET: Duration = Duration::from_secs(10);
/// The targets.
const STARTUP_TARGET_S: f64 = 2.0;
const MEMORY_TARGET_MB: f64 = 250.0;

/// One line of the marks file (`src-tauri/src/bench_marks.rs`).
#[derive(Debug, Clone, Deserialize)]
struct Mark {
    /// When the backend received the mark (ms since the Unix epoch).
    unix_ms: u64,
    /// `interactive` or `stats`.
    kind: String,
    /// The window's clock at the mark.
    window_ms: f64,
    /// Refreshes run so far.
    refreshes: u64,
    /// Change events received so far.
    changes: u64,
    /// Progress changes received so far (the load run's).
    progress: u64,
    /// Chart-set redraws so far.
    charts: u64,
    /// The view shown.
    view: String,
    /// The app the view shows.
    shown_app: Option<String>,
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// The `crane` binary: `CRANE_BIN`, else beside this benchmark's executable (the same profile's target directory).
fn crane_binary() -> PathBuf {
    if let Ok(p) = std::env::var("CRANE_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("current exe");
    exe.parent().expect("bin dir").join("crane")
}

/// `release` or `debug`: the name of the target directory the binary was built into.
fn profile_of(bin: &Path) -> String {
    bin.parent().and_then(|d| d.file_name()).map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

/// Owners (`io.crane.owner`) of the containers of `apps`, in any state.
async fn owners_of(apps: &[String]) -> HashSet<String> {
    let docker = docker().await;
    let mut owners = HashSet::new();
    for app in apps {
        let label = format!("io.crane.app={app}");
        let filters = HashMap::from([("label", vec![label.as_str()])]);
        let list = docker
            .list_containers(Some(
                bollard::query_parameters::ListContainersOptionsBuilder::new().all(true).filters(&filters).build(),
            ))
            .await
            .unwrap_or_default();
        owners.extend(list.into_iter().filter_map(|c| c.labels?.get("io.crane.owner").cloned()));
    }
    owners
}

/// Every owner with a container on the Docker engine now.
async fn all_owners() -> HashSet<String> {
    let docker = docker().await;
    let filters = HashMap::from([("label", vec!["io.crane.owner"])]);
    docker
        .list_containers(Some(
            bollard::query_parameters::ListContainersOptionsBuilder::new().all(true).filters(&filters).build(),
        ))
        .await
        .unwrap_or_default()
        .into_iter()
        .filter_map(|c| c.labels?.get("io.crane.owner").cloned())
        .collect()
}

/// A running `crane` window on its own data directory. Dropping it stops the app (SIGTERM, then SIGKILL after
/// 15 s) and removes the Docker objects of its engine, found by owner: the owners of the containers of the apps it
/// was told about that were not on the engine before it started.
struct Window {
    child: Child,
    dir: tempfile::TempDir,
    /// When it was spawned (ms since the Unix epoch).
    spawned_ms: u64,
    /// The REST API's port.
    port: u16,
    /// Owners with containers before this window started (never removed by it).
    owners_before: HashSet<String>,
    /// Apps its engine runs that the bench created or loaded.
    apps: Vec<String>,
    /// Removes its engine's Docker objects when dropped (once the owner is known).
    cleanup: Option<Cleanup>,
}

impl Window {
    /// Spawns `crane` with a fresh data directory, a free REST port and marks on; `route` is where the window goes
    /// after its interactive mark.
    async fn launch(bin: &Path, route: Option<&str>) -> Window {
        let owners_before = all_owners().await;
        let dir = tempfile::Builder::new().prefix("crane-bench-window-").tempdir().expect("temp dir");
        std::fs::create_dir_all(dir.path().join("data")).expect("data dir");
        let port = free_port();
        let log = std::fs::File::create(dir.path().join("crane.log")).expect("log file");
        let mut command = Command::new(bin);
        command
            .env("CRANE_DATA_DIR", dir.path().join("data"))
            .env("CRANE_API_LISTEN", format!("127.0.0.1:{port}"))
            .env("CRANE_BENCH_MARKS", dir.path().join("marks.jsonl"))
            .env_remove("CRANE_BENCH_ROUTE")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone().expect("log file")))
            .stderr(Stdio::from(log));
        if let Some(route) = route {
            command.env("CRANE_BENCH_ROUTE", route);
        }
        let spawned_ms = now_ms();
        let child = command.spawn().unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        Window { child, dir, spawned_ms, port, owners_before, apps: Vec::new(), cleanup: None }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.dir.path().join("crane.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// Every mark written so far (a line being written is skipped).
    fn marks(&self) -> Vec<Mark> {
        std::fs::read_to_string(self.dir.path().join("marks.jsonl"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// Panics with the app's log when it has exited.
    fn check_alive(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!("crane exited ({status}); its log:\n{}", self.log_tail());
        }
    }

    /// Waits for the interactive mark.
    async fn interactive(&mut self) -> Mark {
        let deadline = Instant::now() + INTERACTIVE_TIMEOUT;
        loop {
            if let Some(mark) = self.marks().into_iter().find(|m| m.kind == "interactive") {
                return mark;
            }
            self.check_alive();
            assert!(
                Instant::now() < deadline,
                "the window did not become interactive within {INTERACTIVE_TIMEOUT:?}; its log:\n{}",
                self.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The first stats mark received after `after_ms`.
    async fn stats_after(&mut self, after_ms: u64) -> Mark {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(mark) = self.marks().into_iter().find(|m| m.kind == "stats" && m.unix_ms > after_ms) {
                return mark;
            }
            self.check_alive();
            assert!(
                Instant::now() < deadline,
                "the window stopped reporting its counters; its log:\n{}",
                self.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A REST call as the built-in admin (the token the app wrote to its data directory); panics on a failure.
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let token = std::fs::read_to_string(self.dir.path().join("data/token")).expect("the app's REST token");
        let client = reqwest::Client::new();
        let mut req = client
            .request(method, format!("http://127.0.0.1:{}/api/v1{path}", self.port))
            .bearer_auth(token.trim())
            .timeout(Duration::from_secs(60));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap_or_else(|e| panic!("{path}: {e}"));
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        assert!(status.is_success(), "{path}: {status} {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    /// Learns this engine's owner from the containers of its apps (which must exist by now), so they are removed
    /// at the end.
    async fn learn_owner(&mut self) {
        if self.cleanup.is_none() {
            let mut owners = owners_of(&self.apps).await;
            owners.retain(|o| !self.owners_before.contains(o));
            if let Some(owner) = owners.into_iter().next() {
                self.cleanup = Some(Cleanup { owner });
            }
        }
    }

    /// Stops the app as a session manager would (SIGTERM), SIGKILL after 15 s. Returns whether it exited by itself.
    fn stop(&mut self) -> bool {
        if let Ok(Some(_)) = self.child.try_wait() {
            return true;
        }
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        false
    }
}

impl Drop for Window {
    fn drop(&mut self) {
        // Stop the engine first, or it would replace the containers the cleanup removes.
        self.stop();
        if self.cleanup.is_none() && !self.apps.is_empty() {
            // A step panicked before the owner was learnt: look once more (on a thread with its own runtime, as
            // this may run inside the benchmark's).
            let (apps, before) = (self.apps.clone(), self.owners_before.clone());
            let owners = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
                Some(rt.block_on(owners_of(&apps)))
            })
            .join()
            .ok()
            .flatten()
            .unwrap_or_default();
            self.cleanup = owners.into_iter().find(|o| !before.contains(o)).map(|owner| Cleanup { owner });
        }
        // Removes the owner's containers, networks and volumes.
        drop(self.cleanup.take());
    }
}

// ---------------------------------------------------------------- processes

/// A process of the app.
struct Proc {
    pid: u32,
    name: String,
}

/// `root` and all its descendants, from the parent pids in `/proc/<pid>/stat`.
fn process_tree(root: u32) -> Vec<Proc> {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // The fields after the command name (which may hold spaces) start after the last ')': state, ppid, …
        let ppid = stat.rsplit(')').next().and_then(|rest| rest.split_whitespace().nth(1)).and_then(|p| p.parse().ok());
        if let Some(ppid) = ppid {
            children.entry(ppid).or_default().push(pid);
        }
    }
    let mut out = Vec::new();
    let mut todo = vec![root];
    while let Some(pid) = todo.pop() {
        // The root is the app's main process whatever its file is called (`CRANE_BIN`).
        let name = if pid == root { "crane".to_string() } else { process_name(pid) };
        out.push(Proc { pid, name });
        todo.extend(children.get(&pid).into_iter().flatten());
    }
    out
}

/// A process's program name: the file name of its `argv[0]` (`comm` is cut to 15 bytes: "WebKitWebProces").
fn process_name(pid: u32) -> String {
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let argv0 = cmdline.split(|b| *b == 0).next().map(|a| String::from_utf8_lossy(a).into_owned()).unwrap_or_default();
    match argv0.rsplit('/').next() {
        Some(name) if !name.is_empty() => name.to_string(),
        _ => std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default().trim().to_string(),
    }
}

/// PSS in KiB from `/proc/<pid>/smaps_rollup`, when the kernel has it.
fn pss_kib(pid: u32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
    text.lines().find(|l| l.starts_with("Pss:")).and_then(|l| l.split_whitespace().nth(1)).and_then(|v| v.parse().ok())
}

/// The whole app's memory now.
struct Memory {
    rss_mb: f64,
    /// `None` when a process had no `smaps_rollup`.
    pss_mb: Option<f64>,
    processes: Vec<Value>,
}

fn app_memory(root: u32) -> Memory {
    let mut rss = 0;
    let mut pss = Some(0);
    let mut processes = Vec::new();
    for p in process_tree(root) {
        let (r, s) = (rss_kib(p.pid), pss_kib(p.pid));
        rss += r;
        pss = pss.zip(s).map(|(a, b)| a + b);
        processes.push(json!({
            "name": p.name, "rss_mb": r as f64 / 1024.0, "pss_mb": s.map(|s| s as f64 / 1024.0),
        }));
    }
    Memory { rss_mb: rss as f64 / 1024.0, pss_mb: pss.map(|p| p as f64 / 1024.0), processes }
}

/// CPU seconds of each process of the app now, by pid (with its name).
fn app_cpu(root: u32) -> HashMap<u32, (String, f64)> {
    process_tree(root).into_iter().map(|p| (p.pid, (p.name, crate::scale::cpu_seconds(p.pid)))).collect()
}

/// CPU % (100 = one core) per process name between two readings `secs` apart, with `crane` for the root and
/// `all` for the sum.
fn cpu_percent(
    before: &HashMap<u32, (String, f64)>,
    after: &HashMap<u32, (String, f64)>,
    secs: f64,
) -> BTreeMap<String, f64> {
    let mut by_name: BTreeMap<String, f64> = BTreeMap::new();
    for (pid, (name, cpu)) in after {
        let start = before.get(pid).map(|(_, c)| *c).unwrap_or(0.0);
        *by_name.entry(name.clone()).or_default() += (cpu - start).max(0.0) / secs * 100.0;
    }
    let all = by_name.values().sum();
    by_name.insert("all".into(), all);
    by_name
}

// ---------------------------------------------------------------- the scenario

fn stats_of(samples: &[f64]) -> Value {
    let mut sorted = samples.to_vec();
    sorted.sort_by(|a, b| a.partial_cmp(b).unwrap());
    json!({
        "median": percentile(&sorted, 0.5),
        "min": sorted.first(),
        "max": sorted.last(),
        "samples": samples,
    })
}

fn median(samples: &[f64]) -> f64 {
    let mut sorted = samples.to_vec();
    sorted.sort_by(|a, b| a.partial_cmp(b).unwrap());
    percentile(&sorted, 0.5)
}

/// The window's counters per second between two stats marks.
struct Rates {
    refreshes: f64,
    changes: f64,
    progress: f64,
    charts: f64,
    secs: f64,
}

impl Rates {
    fn between(a: &Mark, b: &Mark) -> Rates {
        let secs = (b.window_ms - a.window_ms) / 1000.0;
        let per_s = |x: u64, y: u64| y.saturating_sub(x) as f64 / secs;
        Rates {
            refreshes: per_s(a.refreshes, b.refreshes),
            changes: per_s(a.changes, b.changes),
            progress: per_s(a.progress, b.progress),
            charts: per_s(a.charts, b.charts),
            secs,
        }
    }

    fn json(&self) -> Value {
        json!({
            "refreshes_per_s": self.refreshes,
            "change_events_per_s": self.changes,
            "progress_changes_per_s": self.progress,
            "chart_set_redraws_per_s": self.charts,
            "measured_s": self.secs,
        })
    }
}

async fn sleep_until_ms(at_ms: u64) {
    let now = now_ms();
    if at_ms > now {
        tokio::time::sleep(Duration::from_millis(at_ms - now)).await;
    }
}

/// Waits until every app of `apps` has all its replicas ready (at least one).
async fn all_ready(w: &Window, apps: &[String], within: Duration) {
    wait_for(within, "the apps ready", || async {
        for app in apps {
            let v = w.call(reqwest::Method::GET, &format!("/apps/{app}"), None).await;
            let (replicas, ready) = (v["replicas"].as_u64().unwrap_or(0), v["ready"].as_u64().unwrap_or(0));
            if replicas == 0 || ready < replicas {
                return None;
            }
        }
        Some(())
    })
    .await;
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

pub(crate) async fn run() {
    if std::env::var_os("DISPLAY").is_none() && std::env::var_os("WAYLAND_DISPLAY").is_none() {
        panic!(
            "crane-bench window opens the real window and needs a display: run it under \
             xvfb-run -a -s \"-screen 0 1280x800x24\" (make bench does when DISPLAY is unset)"
        );
    }
    let bin = crane_binary();
    assert!(
        bin.exists(),
        "{} not found: build it with `cargo build --release -p crane-app --bin crane` (or set CRANE_BIN)",
        bin.display()
    );
    let loadavg_start = loadavg();
    let (starts, last) = starts(&bin).await;
    let lab = lab_running(last).await;
    let load = under_load(&bin).await;
    report(&bin, &loadavg_start, &starts, &lab, &load);
}

/// What the starts measured.
struct Starts {
    /// Seconds from spawn to the interactive mark.
    startups: Vec<f64>,
    /// Whole-app RSS (MB) 10 s after interactive.
    idle_rss: Vec<f64>,
    /// Whole-app PSS (MB) at the same moment (empty without `smaps_rollup`).
    idle_pss: Vec<f64>,
    /// The processes of the last start, with their memory.
    idle_processes: Value,
}

/// (1) and (2) idle: the window started [`STARTS`] times, each on Home, its memory read 10 s after interactive.
/// Returns the last window still open.
async fn starts(bin: &Path) -> (Starts, Window) {
    let mut out =
        Starts { startups: Vec::new(), idle_rss: Vec::new(), idle_pss: Vec::new(), idle_processes: Value::Null };
    for i in 0..STARTS {
        let mut w = Window::launch(bin, None).await;
        let mark = w.interactive().await;
        let secs = mark.unix_ms.saturating_sub(w.spawned_ms) as f64 / 1000.0;
        assert_eq!(mark.view, "home", "the window did not open on Home");
        out.startups.push(secs);
        sleep_until_ms(mark.unix_ms + IDLE_AFTER.as_millis() as u64).await;
        let memory = app_memory(w.pid());
        eprintln!(
            "start {}: {secs:.2} s to interactive; idle {:.1} MB RSS{}",
            i + 1,
            memory.rss_mb,
            pss_text(memory.pss_mb)
        );
        out.idle_rss.push(memory.rss_mb);
        out.idle_pss.extend(memory.pss_mb);
        out.idle_processes = Value::Array(memory.processes);
        if i + 1 == STARTS {
            return (out, w);
        }
        assert!(w.stop(), "crane did not exit within 15 s of SIGTERM");
    }
    unreachable!("STARTS is at least 1")
}

/// The lab's memory measure.
struct LabRun {
    memory: Memory,
    /// Each lab app's replicas, readiness and load run when measured.
    apps: Vec<Value>,
}

/// (2) with the lab [`LAB`] loaded in `w` (on Home) over REST, its apps ready and then [`LAB_SETTLE`] of it running;
/// reset and the window stopped after.
async fn lab_running(mut w: Window) -> LabRun {
    let lab = w.call(reqwest::Method::POST, "/labs", Some(json!({ "shipped": LAB }))).await;
    let lab_apps: Vec<String> = lab["created"]["apps"]
        .as_array()
        .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
        .unwrap_or_default();
    assert!(!lab_apps.is_empty(), "the lab created no app: {lab}");
    w.apps.extend(lab_apps.iter().cloned());
    all_ready(&w, &lab_apps, Duration::from_secs(120)).await;
    w.learn_owner().await;
    tokio::time::sleep(LAB_SETTLE).await;
    let memory = app_memory(w.pid());
    let mut apps = Vec::new();
    for app in &lab_apps {
        let v = w.call(reqwest::Method::GET, &format!("/apps/{app}"), None).await;
        apps.push(json!({
            "app": app, "replicas": v["replicas"], "ready": v["ready"],
            "load_running": v["load"]["running"], "load_rate": v["load"]["achieved_rate"],
        }));
    }
    eprintln!("lab {LAB} running: {:.1} MB RSS{}; {apps:?}", memory.rss_mb, pss_text(memory.pss_mb));
    w.call(reqwest::Method::POST, &format!("/labs/{LAB}/reset"), None).await;
    wait_for(Duration::from_secs(60), "the lab's apps removed", || async {
        let list = w.call(reqwest::Method::GET, "/apps", None).await;
        list.as_array().is_some_and(|a| a.is_empty()).then_some(())
    })
    .await;
    LabRun { memory, apps }
}

/// The load run's measures.
struct LoadRun {
    /// The window's counters over [`QUIET`] with the replicas running and no load.
    quiet: Rates,
    /// The app's processes' CPU over the quiet period.
    quiet_cpu: BTreeMap<String, f64>,
    /// The window's counters over the load run.
    under_load: Rates,
    /// The app's processes' CPU over the load run.
    cpu: BTreeMap<String, f64>,
    /// Whole-app memory half-way through the run.
    memory: Memory,
    /// The load generator's report.
    report: Value,
}

/// (3) the window on the Scaling view of an app of [`LOAD_REPLICAS`] replicas, [`QUIET`] without load and then the
/// built-in load generator at [`LOAD_RATE`] for [`LOAD_SECONDS`].
async fn under_load(bin: &Path) -> LoadRun {
    let app = unique_name("benchwin");
    let mut w = Window::launch(bin, Some(&format!("#/scaling/{app}"))).await;
    w.interactive().await;
    w.apps.push(app.clone());
    w.call(
        reqwest::Method::POST,
        "/apps",
        Some(json!({ "yaml": demo_spec(&app, LOAD_REPLICAS), "create_only": true })),
    )
    .await;
    all_ready(&w, std::slice::from_ref(&app), Duration::from_secs(180)).await;
    w.learn_owner().await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let on_scaling = |m: &Mark| m.view == "scaling" && m.shown_app.as_deref() == Some(app.as_str());

    let cpu_before = app_cpu(w.pid());
    let t0 = Instant::now();
    let quiet_a = w.stats_after(now_ms()).await;
    tokio::time::sleep(QUIET).await;
    let quiet_b = w.stats_after(now_ms()).await;
    let quiet_cpu = cpu_percent(&cpu_before, &app_cpu(w.pid()), t0.elapsed().as_secs_f64());
    assert!(on_scaling(&quiet_b), "the window does not show the app's Scaling view: {quiet_b:?}");
    let quiet = Rates::between(&quiet_a, &quiet_b);

    let cpu_before = app_cpu(w.pid());
    let t0 = Instant::now();
    let body = json!({ "rate": LOAD_RATE, "duration_s": LOAD_SECONDS });
    w.call(reqwest::Method::POST, &format!("/apps/{app}/load"), Some(body)).await;
    let load_a = w.stats_after(now_ms()).await;
    let mut memory = None;
    let report = loop {
        let v = w.call(reqwest::Method::GET, &format!("/apps/{app}"), None).await;
        if v["load"]["running"] == json!(false) {
            break v["load"].clone();
        }
        if memory.is_none() && t0.elapsed() >= Duration::from_secs_f64(LOAD_SECONDS / 2.0) {
            memory = Some(app_memory(w.pid()));
        }
        assert!(t0.elapsed() < Duration::from_secs_f64(LOAD_SECONDS + 60.0), "the load run did not end");
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let done_ms = now_ms();
    let cpu = cpu_percent(&cpu_before, &app_cpu(w.pid()), t0.elapsed().as_secs_f64());
    // The counters between the first report after the start and the last one while the run still went.
    let during: Vec<Mark> = w
        .marks()
        .into_iter()
        .filter(|m| m.kind == "stats" && m.unix_ms >= load_a.unix_ms && m.unix_ms <= done_ms)
        .collect();
    let load_b = during.last().cloned().expect("counters reported during the load run");
    let off_view: Vec<&Mark> = during.iter().filter(|m| !on_scaling(m)).collect();
    assert!(off_view.is_empty(), "the window left the app's Scaling view during the run: {off_view:?}");
    let under_load = Rates::between(&load_a, &load_b);
    let memory = memory.unwrap_or_else(|| app_memory(w.pid()));
    w.call(reqwest::Method::DELETE, &format!("/apps/{app}"), None).await;
    LoadRun { quiet, quiet_cpu, under_load, cpu, memory, report }
}

fn pss_text(pss_mb: Option<f64>) -> String {
    pss_mb.map(|p| format!(" (PSS {p:.0} MB)")).unwrap_or_default()
}

/// Prints the table and writes `docs/bench/window.json`.
fn report(bin: &Path, loadavg_start: &str, starts: &Starts, lab: &LabRun, load: &LoadRun) {
    let profile = profile_of(bin);
    let startup_median = median(&starts.startups);
    let idle_rss_median = median(&starts.idle_rss);
    let idle_pss_median = (!starts.idle_pss.is_empty()).then(|| median(&starts.idle_pss));
    let mut sorted = starts.startups.clone();
    sorted.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let (s_min, s_max) = (sorted[0], sorted[sorted.len() - 1]);
    let met = |ok: bool| if ok { "" } else { " — **not met**" };
    let (q, u) = (&load.quiet, &load.under_load);
    let cpu_of = |cpu: &BTreeMap<String, f64>, name: &str| cpu.get(name).copied().unwrap_or(0.0);
    println!();
    println!("crane-bench window ({profile} build of crane; load average at start {loadavg_start})");
    println!();
    println!("| Measure | Result | Target |");
    println!("|---|---|---|");
    println!(
        "| window start → interactive (Home from live data, handlers attached, painted), median of {STARTS} | {startup_median:.2} s (min {s_min:.2}, max {s_max:.2}) | ≤ {STARTUP_TARGET_S} s{} |",
        met(startup_median <= STARTUP_TARGET_S)
    );
    println!(
        "| whole app RSS idle on Home (crane + WebKit processes, 10 s after interactive), median of {STARTS} | {idle_rss_median:.0} MB{} | ≤ {MEMORY_TARGET_MB} MB{} |",
        pss_text(idle_pss_median),
        met(idle_rss_median <= MEMORY_TARGET_MB)
    );
    println!(
        "| whole app RSS with the lab `{LAB}` running | {:.0} MB{} | ≤ {MEMORY_TARGET_MB} MB{} |",
        lab.memory.rss_mb,
        pss_text(lab.memory.pss_mb),
        met(lab.memory.rss_mb <= MEMORY_TARGET_MB)
    );
    println!(
        "| window refreshes/s and change events/s, {LOAD_REPLICAS} replicas at {LOAD_RATE:.0} req/s, Scaling view ({:.0} s) | {:.2} / {:.2} (no load: {:.2} / {:.2}) | ≤ 4 refreshes/s |",
        u.secs, u.refreshes, u.changes, q.refreshes, q.changes
    );
    println!(
        "| the same run: load progress changes/s, chart-set redraws/s (4 SVG charts each) | {:.1} / {:.2} (no load: {:.1} / {:.2}) | — |",
        u.progress, u.charts, q.progress, q.charts
    );
    println!(
        "| CPU over the load run: crane (engine, load balancer, load generator) / WebKitWebProcess / all (no load: …) | {:.0} % / {:.0} % / {:.0} % ({:.0} % / {:.0} % / {:.0} %) | — |",
        cpu_of(&load.cpu, "crane"),
        cpu_of(&load.cpu, "WebKitWebProcess"),
        cpu_of(&load.cpu, "all"),
        cpu_of(&load.quiet_cpu, "crane"),
        cpu_of(&load.quiet_cpu, "WebKitWebProcess"),
        cpu_of(&load.quiet_cpu, "all")
    );
    println!("| whole app RSS under that load | {:.0} MB{} | — |", load.memory.rss_mb, pss_text(load.memory.pss_mb));

    let json = json!({
        "build": profile,
        "crane_binary": bin.display().to_string(),
        "loadavg_at_start": loadavg_start,
        "targets": { "startup_s": STARTUP_TARGET_S, "memory_mb": MEMORY_TARGET_MB },
        "interactive": "the window's body[data-ready] (handlers attached, change events subscribed, first live fetch \
                        done, Home rendered from it) and two animation frames later, as received by the backend \
                        (CRANE_BENCH_MARKS); measured from spawn of the crane binary with a fresh data directory",
        "memory": "VmRSS of /proc/<pid>/status summed over crane and all its descendant processes (shared pages count \
                   once per process); PSS from /proc/<pid>/smaps_rollup summed; Docker and containers not counted",
        "startup_to_interactive_s": stats_of(&starts.startups),
        "idle_on_home": {
            "after_interactive_s": IDLE_AFTER.as_secs(),
            "rss_mb": stats_of(&starts.idle_rss),
            "pss_mb": (!starts.idle_pss.is_empty()).then(|| stats_of(&starts.idle_pss)),
            "processes_last_start": starts.idle_processes,
        },
        "lab_running": {
            "lab": LAB,
            "view": "home",
            "after_ready_s": LAB_SETTLE.as_secs(),
            "apps": lab.apps,
            "rss_mb": lab.memory.rss_mb,
            "pss_mb": lab.memory.pss_mb,
            "processes": lab.memory.processes,
        },
        "under_load": {
            "replicas": LOAD_REPLICAS,
            "rate": LOAD_RATE,
            "duration_s": LOAD_SECONDS,
            "view": "scaling",
            "window": u.json(),
            "cpu_percent": load.cpu,
            "rss_mb": load.memory.rss_mb,
            "pss_mb": load.memory.pss_mb,
            "processes": load.memory.processes,
            "load_report": {
                "achieved_rate": load.report["achieved_rate"], "sent": load.report["sent"], "ok": load.report["ok"],
                "errors": load.report["errors"], "p95_ms": load.report["p95_ms"],
            },
        },
        "no_load_same_app": {
            "seconds": QUIET.as_secs(),
            "window": q.json(),
            "cpu_percent": load.quiet_cpu,
        },
    });
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/bench/window.json");
    std::fs::write(&out, serde_json::to_string_pretty(&json).unwrap() + "\n").unwrap();
    println!("\nwritten to {}", out.display());
}
