//! Shared helpers for Crane's end-to-end tests and benchmarks: an engine on a temporary data directory that removes
//! everything it created when dropped, the demo image, unique names and polling with generous bounds.
//!
//! Tests use the real Docker engine and fail loudly when it is absent.

use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use bollard::query_parameters::{
    ListContainersOptionsBuilder, ListNetworksOptionsBuilder, ListVolumesOptionsBuilder, RemoveContainerOptionsBuilder,
};
use bollard::Docker;
use crane_engine::{EngineConfig, EngineHandle};
use tokio::sync::OnceCell;

pub mod chain;
pub mod registry;

/// The demo image tag every test uses.
pub const DEMO_IMAGE: &str = crane_docker::DEMO_IMAGE;

/// A bollard client, or a panic that names the fix.
pub async fn docker() -> Docker {
    let docker = Docker::connect_with_local_defaults()
        .unwrap_or_else(|e| panic!("cannot configure a Docker client ({e}); these tests need the real Docker engine"));
    let docker = docker.negotiate_version().await.unwrap_or_else(|e| {
        panic!("the Docker engine is not reachable ({e}); start Docker — these tests need the real engine")
    });
    docker
        .ping()
        .await
        .unwrap_or_else(|e| panic!("the Docker engine does not answer ping ({e}); start Docker — these tests need it"));
    docker
}

static DEMO: OnceCell<()> = OnceCell::const_new();

/// Builds the demo image once per test process (the build is idempotent and cached by Docker).
pub async fn ensure_demo_image() {
    DEMO.get_or_init(|| async {
        let docker = docker().await;
        let mut quiet = |_p: crane_api::ProgressView| {};
        crane_docker::build_demo_image(&docker, &mut quiet)
            .await
            .unwrap_or_else(|e| panic!("building the demo image failed: {e}"));
    })
    .await;
}

/// A unique, valid app name: `prefix-<8 hex>`.
pub fn unique_name(prefix: &str) -> String {
    format!("{prefix}-{:08x}", rand::random::<u32>())
}

/// A spec for `replicas` instances of the demo image, listening on 8080.
pub fn demo_spec(name: &str, replicas: u32) -> String {
    format!(
        "name: {name}\nimage: {DEMO_IMAGE}\nreplicas: {replicas}\ncommand: [\"/demo\", \"--port\", \"8080\"]\nports:\n  - container: 8080\nresources: {{ cpu: 0.2, memory: 32Mi }}\n"
    )
}

/// Polls `check` every 100 ms until it returns `Some`, or panics after `timeout` with `what`.
pub async fn wait_for<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        if start.elapsed() > timeout {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// An engine on a temporary data directory. Dropping it stops nothing by itself; call [`TestEngine::cleanup`] (also
/// done by [`Cleanup`]'s `Drop`, so a failing test still removes what it created).
pub struct TestEngine {
    /// The engine.
    pub handle: EngineHandle,
    /// Its data directory (kept so a test can restart an engine on it).
    pub data_dir: PathBuf,
    /// Removes the owner's Docker objects and the data directory when dropped.
    pub cleanup: Cleanup,
    _dir: Option<tempfile::TempDir>,
}

impl TestEngine {
    /// Starts an engine on a fresh temporary data directory with a 1 s tick.
    pub async fn start() -> TestEngine {
        TestEngine::start_with(|config| config).await
    }

    /// The same with a changed config (e.g. a shorter alert interval).
    pub async fn start_with(change: impl FnOnce(EngineConfig) -> EngineConfig) -> TestEngine {
        let dir = tempfile::Builder::new().prefix("crane-test-").tempdir().expect("temp dir");
        let data_dir = dir.path().to_path_buf();
        let handle = EngineHandle::start(change(engine_config(&data_dir)))
            .await
            .unwrap_or_else(|e| panic!("engine did not start: {e}"));
        let cleanup = Cleanup { owner: handle.owner().to_string() };
        TestEngine { handle, data_dir, cleanup, _dir: Some(dir) }
    }
}

impl Drop for TestEngine {
    fn drop(&mut self) {
        // Stop the loop before `cleanup` removes containers, or the loop would replace them.
        self.handle.abort();
    }
}

/// Aborts an engine's loop when dropped (for engines a test starts besides its [`TestEngine`]).
pub struct EngineGuard(pub EngineHandle);

impl Drop for EngineGuard {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Starts an engine on `data_dir` with a 1 s tick.
pub async fn start_engine(data_dir: &std::path::Path) -> EngineHandle {
    EngineHandle::start(engine_config(data_dir)).await.unwrap_or_else(|e| panic!("engine did not start: {e}"))
}

/// The config of test engines: a 1 s tick and metrics interval.
pub fn engine_config(data_dir: &std::path::Path) -> EngineConfig {
    EngineConfig::new(data_dir.to_path_buf())
        .with_tick(Duration::from_secs(1))
        .with_metrics_interval(Duration::from_secs(1))
}

/// Removes every container, network and volume labelled with an engine's owner id, when dropped.
pub struct Cleanup {
    /// The engine's owner id (`io.crane.owner` label).
    pub owner: String,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let owner = self.owner.clone();
        // Drop may run inside a tokio runtime; do the async work on a thread with its own runtime.
        let done = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            rt.block_on(async {
                // Twice: a container create that was in flight when the engine stopped may land after the first.
                purge_owner(&owner).await?;
                tokio::time::sleep(Duration::from_millis(500)).await;
                purge_owner(&owner).await
            })
        })
        .join();
        if let Ok(Err(e)) = done {
            eprintln!("cleanup of owner {} incomplete: {e}", self.owner);
        }
    }
}

/// Removes every Docker object labelled `io.crane.owner=<owner>`.
pub async fn purge_owner(owner: &str) -> Result<(), String> {
    let docker = Docker::connect_with_local_defaults().map_err(|e| e.to_string())?;
    let docker = docker.negotiate_version().await.map_err(|e| e.to_string())?;
    let label = format!("io.crane.owner={owner}");
    let filters: HashMap<&str, Vec<&str>> = HashMap::from([("label", vec![label.as_str()])]);
    let containers = docker
        .list_containers(Some(ListContainersOptionsBuilder::new().all(true).filters(&filters).build()))
        .await
        .map_err(|e| e.to_string())?;
    for c in containers {
        if let Some(id) = c.id {
            let _ = docker
                .remove_container(&id, Some(RemoveContainerOptionsBuilder::new().force(true).v(true).build()))
                .await;
        }
    }
    let networks = docker
        .list_networks(Some(ListNetworksOptionsBuilder::new().filters(&filters).build()))
        .await
        .map_err(|e| e.to_string())?;
    for n in networks {
        if let Some(id) = n.id {
            let _ = docker.remove_network(&id).await;
        }
    }
    let volumes = docker
        .list_volumes(Some(ListVolumesOptionsBuilder::new().filters(&filters).build()))
        .await
        .map_err(|e| e.to_string())?;
    for v in volumes.volumes.unwrap_or_default() {
        let _ = docker.remove_volume(&v.name, None::<bollard::query_parameters::RemoveVolumeOptions>).await;
    }
    Ok(())
}

/// Containers (all states) of one app of one owner, by name.
pub async fn containers_of(owner: &str, app: &str) -> Vec<bollard::models::ContainerSummary> {
    let docker = docker().await;
    let owner_label = format!("io.crane.owner={owner}");
    let app_label = format!("io.crane.app={app}");
    let filters: HashMap<&str, Vec<&str>> = HashMap::from([("label", vec![owner_label.as_str(), app_label.as_str()])]);
    let mut list = docker
        .list_containers(Some(ListContainersOptionsBuilder::new().all(true).filters(&filters).build()))
        .await
        .expect("list containers");
    list.sort_by_key(|c| c.names.clone());
    list
}

/// Networks and volumes of one app of one owner (names).
pub async fn app_resources(owner: &str, app: &str) -> (Vec<String>, Vec<String>) {
    let docker = docker().await;
    let owner_label = format!("io.crane.owner={owner}");
    let app_label = format!("io.crane.app={app}");
    let filters: HashMap<&str, Vec<&str>> = HashMap::from([("label", vec![owner_label.as_str(), app_label.as_str()])]);
    let networks = docker
        .list_networks(Some(ListNetworksOptionsBuilder::new().filters(&filters).build()))
        .await
        .expect("list networks")
        .into_iter()
        .filter_map(|n| n.name)
        .collect();
    let volumes = docker
        .list_volumes(Some(ListVolumesOptionsBuilder::new().filters(&filters).build()))
        .await
        .expect("list volumes")
        .volumes
        .unwrap_or_default()
        .into_iter()
        .map(|v| v.name)
        .collect();
    (networks, volumes)
}

/// Kills a container with SIGKILL, as a crash would (`docker kill`); an already gone container is not an error.
pub async fn kill(name: &str) {
    use bollard::query_parameters::KillContainerOptionsBuilder;
    let _ =
        docker().await.kill_container(name, Some(KillContainerOptionsBuilder::new().signal("SIGKILL").build())).await;
}

/// Polls an app's view until `cond` holds (or panics after `within` with `what`), and returns that view.
pub async fn app_until(
    engine: &TestEngine,
    app: &str,
    within: Duration,
    what: &str,
    cond: impl Fn(&crane_api::AppView) -> bool,
) -> crane_api::AppView {
    wait_for(within, what, || async {
        let v = engine.handle.get_app(app).await.ok()?;
        cond(&v).then_some(v)
    })
    .await
}

/// Whether a container summary is running.
pub fn is_running(c: &bollard::models::ContainerSummary) -> bool {
    c.state.as_ref().map(|s| format!("{s:?}").to_lowercase().contains("running")).unwrap_or(false)
}

/// Result of [`steady_load`].
#[derive(Debug, Default, Clone)]
pub struct LoadReport {
    /// Requests answered with 2xx.
    pub ok: u64,
    /// Requests that failed (non-2xx or transport error).
    pub failed: u64,
    /// A few failure descriptions.
    pub samples: Vec<String>,
    /// Who answered (the demo's instance names), with counts.
    pub answered_by: std::collections::BTreeMap<String, u64>,
}

/// Sends GET requests to `url` from `workers` keep-alive clients at about `rate` requests per second in total,
/// until `stop` is set, `max_requests` were sent, or `deadline` passed — bounded in count and time.
pub async fn steady_load(
    url: String,
    rate: u32,
    workers: u32,
    max_requests: u64,
    deadline: Duration,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> LoadReport {
    use std::sync::atomic::{AtomicU64, Ordering};
    let sent = std::sync::Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let interval = Duration::from_secs_f64(workers as f64 / rate.max(1) as f64);
    let mut tasks = Vec::new();
    for _ in 0..workers {
        let (url, sent, stop) = (url.clone(), sent.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
            let mut report = LoadReport::default();
            let mut next = tokio::time::Instant::now();
            while !stop.load(Ordering::Relaxed)
                && started.elapsed() < deadline
                && sent.fetch_add(1, Ordering::Relaxed) < max_requests
            {
                match client.get(&url).send().await {
                    Ok(resp) if resp.status().is_success() => {
                        report.ok += 1;
                        let body = resp.text().await.unwrap_or_default();
                        let who = body.trim().trim_start_matches("hello from ").to_string();
                        *report.answered_by.entry(who).or_default() += 1;
                    }
                    Ok(resp) => {
                        report.failed += 1;
                        if report.samples.len() < 5 {
                            report.samples.push(format!(
                                "{}: {}",
                                resp.status(),
                                resp.text().await.unwrap_or_default()
                            ));
                        }
                    }
                    Err(e) => {
                        report.failed += 1;
                        if report.samples.len() < 5 {
                            report.samples.push(format!("{e:?}"));
                        }
                    }
                }
                next += interval;
                tokio::time::sleep_until(next).await;
            }
            report
        }));
    }
    let mut total = LoadReport::default();
    for t in tasks {
        let r = t.await.expect("load worker");
        total.ok += r.ok;
        total.failed += r.failed;
        total.samples.extend(r.samples);
        for (k, v) in r.answered_by {
            *total.answered_by.entry(k).or_default() += v;
        }
    }
    total
}
