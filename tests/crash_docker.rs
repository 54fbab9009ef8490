//! Crash consistency: `cranectl serve` (the engine in its own process) is killed with SIGKILL at random moments while
//! it applies, updates (rolling updates), scales and deletes apps — 20 rounds. After every restart on the same data
//! directory the engine must converge: every stored app runs exactly its replica count, all at its current revision,
//! with unique instance names; no container, network or volume is left for an app that is gone; each app's history
//! holds its current revision with strictly increasing numbers.
//!
//! The random choices come from a seed printed at the start (`CRANE_CRASH_SEED` replays one); the rounds are
//! `CRANE_CRASH_ROUNDS` (default 20).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use bollard::query_parameters::{ListContainersOptionsBuilder, ListNetworksOptionsBuilder};
use crane_e2e::*;
use rand::{Rng, SeedableRng};

const CONVERGE: Duration = Duration::from_secs(90);

/// `cranectl`, built next to this test binary (`cargo build --workspace --bins`, which `make test` runs first).
fn cranectl_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    // target/<profile>/deps/crash_docker-<hash> → target/<profile>/cranectl
    let bin = exe.parent().and_then(Path::parent).expect("target dir").join("cranectl");
    assert!(
        bin.exists(),
        "{} not found: build it first with `cargo build --workspace --bins` (make test does)",
        bin.display()
    );
    bin
}

/// How to call an engine's REST API.
#[derive(Clone)]
struct Api {
    url: String,
    token: String,
}

/// A running `cranectl serve` child.
struct Serve {
    child: Child,
    api: Api,
}

impl Serve {
    async fn start(data_dir: &Path) -> Serve {
        // A killed engine leaves its api.json behind; the new one writes its own.
        let api = data_dir.join("api.json");
        let _ = std::fs::remove_file(&api);
        let child = Command::new(cranectl_bin())
            .env_remove("CRANE_DATA_DIR")
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start cranectl serve");
        let url = wait_for(Duration::from_secs(30), "the engine's api.json", || {
            let api = api.clone();
            async move {
                let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&api).ok()?).ok()?;
                v["url"].as_str().map(str::to_string)
            }
        })
        .await;
        let token = std::fs::read_to_string(data_dir.join("token")).expect("token").trim().to_string();
        Serve { child, api: Api { url, token } }
    }

    fn kill9(&mut self) {
        let _ = self.child.kill(); // SIGKILL
        let _ = self.child.wait();
    }
}

impl Api {
    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        reqwest::Client::new()
            .request(method, format!("{}/api/v1{path}", self.url))
            .bearer_auth(&self.token)
            .timeout(Duration::from_secs(30))
    }

    async fn get(&self, path: &str) -> Option<serde_json::Value> {
        let answer = self.request(reqwest::Method::GET, path).send().await.ok()?;
        if !answer.status().is_success() {
            return None;
        }
        answer.json().await.ok()
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// The spec of a crash-test app: `version` goes into the environment, so changing it is a new revision (a rolling
/// update); readiness makes the update health-gated.
fn spec(app: &str, replicas: u32, version: u32) -> String {
    format!(
        "name: {app}\nimage: {DEMO_IMAGE}\nreplicas: {replicas}\ncommand: [\"/demo\", \"--port\", \"8080\"]\n\
         env:\n  VERSION: \"v{version}\"\nports:\n  - container: 8080\n\
         health:\n  readiness: {{ type: http, path: /ready, period: 300ms, failureThreshold: 1 }}\n\
         resources: {{ cpu: 0.1, memory: 32Mi }}\n"
    )
}

/// One operation a round starts and then interrupts.
#[derive(Debug, Clone)]
enum Op {
    Apply { app: String, replicas: u32, version: u32 },
    Scale { app: String, replicas: u32 },
    Delete { app: String },
    Undo { app: String },
}

async fn send(serve: &Api, op: &Op) {
    let request = match op {
        Op::Apply { app, replicas, version } => serve
            .request(reqwest::Method::POST, "/apps")
            .json(&serde_json::json!({ "yaml": spec(app, *replicas, *version) })),
        Op::Scale { app, replicas } => serve
            .request(reqwest::Method::POST, &format!("/apps/{app}/scale"))
            .json(&serde_json::json!({ "replicas": replicas })),
        Op::Delete { app } => serve.request(reqwest::Method::DELETE, &format!("/apps/{app}")),
        Op::Undo { app } => {
            serve.request(reqwest::Method::POST, &format!("/apps/{app}/rollout/undo")).json(&serde_json::json!({}))
        }
    };
    // The answer does not matter (the engine may be killed before it answers, or refuse an undo without history).
    let _ = request.send().await;
}

/// Containers and networks of this engine, by app label.
async fn docker_objects(owner: &str) -> (BTreeMap<String, Vec<bollard::models::ContainerSummary>>, BTreeSet<String>) {
    let docker = docker().await;
    let label = format!("io.crane.owner={owner}");
    let filters: HashMap<&str, Vec<&str>> = HashMap::from([("label", vec![label.as_str()])]);
    let mut containers: BTreeMap<String, Vec<_>> = BTreeMap::new();
    for c in docker
        .list_containers(Some(ListContainersOptionsBuilder::new().all(true).filters(&filters).build()))
        .await
        .expect("list containers")
    {
        let app = c.labels.as_ref().and_then(|l| l.get("io.crane.app")).cloned().unwrap_or_default();
        containers.entry(app).or_default().push(c);
    }
    let networks = docker
        .list_networks(Some(ListNetworksOptionsBuilder::new().filters(&filters).build()))
        .await
        .expect("list networks")
        .into_iter()
        .filter_map(|n| n.labels.and_then(|l| l.get("io.crane.app").cloned()))
        .collect();
    (containers, networks)
}

/// Whether the engine's state and Docker agree completely; `Err` says what still differs.
async fn converged(serve: &Api, owner: &str) -> Result<(), String> {
    let apps = serve.get("/apps").await.ok_or("the engine does not answer GET /apps yet")?;
    let apps = apps.as_array().ok_or("GET /apps is not a list")?;
    let (containers, networks) = docker_objects(owner).await;
    let mut stored = BTreeSet::new();
    for app in apps {
        let name = app["name"].as_str().ok_or("an app without a name")?.to_string();
        let replicas = app["replicas"].as_u64().ok_or("an app without replicas")? as usize;
        let revision = app["revision"].as_u64().ok_or("an app without a revision")?;
        let mine = containers.get(&name).map(Vec::as_slice).unwrap_or_default();
        if mine.len() != replicas {
            return Err(format!("app {name}: {} containers for {replicas} replicas", mine.len()));
        }
        let mut names = BTreeSet::new();
        for c in mine {
            let cname = c.names.as_ref().and_then(|n| n.first()).cloned().unwrap_or_default();
            if !is_running(c) {
                return Err(format!("app {name}: {cname} is not running"));
            }
            let rev = c.labels.as_ref().and_then(|l| l.get("io.crane.revision")).cloned().unwrap_or_default();
            if rev != revision.to_string() {
                return Err(format!("app {name}: {cname} runs revision {rev}, the app is at {revision}"));
            }
            let index = c.labels.as_ref().and_then(|l| l.get("io.crane.instance")).cloned().unwrap_or_default();
            if !names.insert(index.clone()) {
                return Err(format!("app {name}: two containers for instance {index}"));
            }
        }
        let ready = app["ready"].as_u64().unwrap_or(0) as usize;
        if ready != replicas {
            return Err(format!("app {name}: {ready} of {replicas} ready"));
        }
        let history = serve
            .get(&format!("/apps/{name}/rollout/history"))
            .await
            .ok_or(format!("app {name}: no rollout history answer"))?;
        let numbers: Vec<u64> =
            history.as_array().into_iter().flatten().filter_map(|r| r["revision"].as_u64()).collect();
        assert!(numbers.windows(2).all(|w| w[0] < w[1]), "app {name}: history out of order: {numbers:?}");
        assert!(numbers.contains(&revision), "app {name}: revision {revision} missing from its history {numbers:?}");
        assert!(numbers.len() <= 20, "app {name}: history not bounded: {numbers:?}");
        stored.insert(name);
    }
    for (app, list) in &containers {
        if !stored.contains(app) {
            return Err(format!("{} container(s) of app '{app}', which is not stored", list.len()));
        }
    }
    for app in &networks {
        if !stored.contains(app) {
            return Err(format!("the network of app '{app}', which is not stored, is still there"));
        }
    }
    Ok(())
}

async fn wait_converged(serve: &Api, owner: &str, round: usize, op: &Op) {
    let started = std::time::Instant::now();
    loop {
        match converged(serve, owner).await {
            Ok(()) => return,
            Err(why) if started.elapsed() > CONVERGE => {
                panic!("round {round} ({op:?}): not converged after {CONVERGE:?}: {why}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(250)).await,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_engine_converges_after_being_killed_at_random_moments() {
    ensure_demo_image().await;
    let seed: u64 = std::env::var("CRANE_CRASH_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(rand::random);
    let rounds: usize = std::env::var("CRANE_CRASH_ROUNDS").ok().and_then(|s| s.parse().ok()).unwrap_or(20);
    eprintln!("crash test: seed {seed} (replay with CRANE_CRASH_SEED={seed}), {rounds} rounds");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);

    // Learn the engine id (the owner label) from an in-process engine on the data directory, then hand the directory
    // to `cranectl serve`: the id lives in the database, so every restart keeps it.
    let dir = tempfile::Builder::new().prefix("crane-crash-").tempdir().expect("temp dir");
    let owner = {
        let engine = start_engine(dir.path()).await;
        let owner = engine.owner().to_string();
        engine.shutdown().await;
        owner
    };
    let _cleanup = Cleanup { owner: owner.clone() };
    let prefix = unique_name("crash");
    let apps: Vec<String> = (0..3).map(|i| format!("{prefix}-{i}")).collect();
    let mut versions: BTreeMap<String, u32> = BTreeMap::new();

    let mut serve = Serve::start(dir.path()).await;
    for round in 1..=rounds {
        let app = apps[rng.random_range(0..apps.len())].clone();
        let op = match rng.random_range(0..10) {
            0..=3 => {
                let version = versions.entry(app.clone()).or_insert(0);
                // Mostly a new version (a rolling update, or a create), sometimes the same spec scaled.
                if rng.random_bool(0.7) {
                    *version += 1;
                }
                Op::Apply { app, replicas: rng.random_range(1..=3), version: *version }
            }
            4..=5 => Op::Scale { app, replicas: rng.random_range(0..=3) },
            6..=7 => Op::Delete { app },
            _ => Op::Undo { app },
        };
        let delay = Duration::from_millis(rng.random_range(0..1500));
        eprintln!("round {round}: {op:?}, SIGKILL after {delay:?}");
        let request = {
            let (api, op) = (serve.api.clone(), op.clone());
            tokio::spawn(async move { send(&api, &op).await })
        };
        tokio::time::sleep(delay).await;
        serve.kill9();
        let _ = request.await;

        serve = Serve::start(dir.path()).await;
        wait_converged(&serve.api, &owner, round, &op).await;
    }
    serve.kill9();
}
