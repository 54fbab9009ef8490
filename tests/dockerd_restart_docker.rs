//! The Docker daemon restarts under Crane: against a `dockerd` this test starts itself (own data root, exec root,
//! socket, containerd namespace and `--config-file`, address pool apart from the host daemon's), the daemon is
//! stopped and started again while an app runs. Crane reports Docker unreachable, reconnects, re-subscribes to
//! Docker events and converges with no duplicate container.
//!
//! The engine's tick is long (10 minutes) so that whatever happens after the restart is driven by Crane noticing the
//! daemon again (re-subscribing to events), not by a periodic pass. This file is its own test process because it
//! sets `DOCKER_HOST`. It needs root (dockerd does) and fails, saying so, without it.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use bollard::query_parameters::{KillContainerOptionsBuilder, ListContainersOptionsBuilder};
use bollard::Docker;
use crane_e2e::*;
use crane_engine::{EngineConfig, EngineHandle};

const GENEROUS: Duration = Duration::from_secs(90);

/// A `dockerd` of the test's own, stopped (and its containers with it) when dropped.
struct Daemon {
    dir: PathBuf,
    child: Option<Child>,
}

impl Daemon {
    fn socket(&self) -> PathBuf {
        self.dir.join("docker.sock")
    }

    fn start(&mut self) {
        let dir = &self.dir;
        let ns = format!("crane-test-{}", dir.file_name().and_then(|n| n.to_str()).unwrap_or("dockerd"));
        let log = std::fs::OpenOptions::new().create(true).append(true).open(dir.join("dockerd.log")).expect("log");
        let child = Command::new("dockerd")
            .arg("--config-file")
            .arg(dir.join("daemon.json"))
            .arg("--data-root")
            .arg(dir.join("root"))
            .arg("--exec-root")
            .arg(dir.join("exec"))
            .arg("--pidfile")
            .arg(dir.join("dockerd.pid"))
            .arg("--host")
            .arg(format!("unix://{}", self.socket().display()))
            .args(["--containerd-namespace", &ns, "--containerd-plugins-namespace", &format!("{ns}-plugins")])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start dockerd (Debian's docker.io provides it; it needs root): {e}"));
        self.child = Some(child);
    }

    /// Stops the daemon as `systemctl stop docker` would (SIGTERM) and waits for it to exit.
    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SAFETY: kill(2) with the pid of our own child.
            unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
            let deadline = std::time::Instant::now() + Duration::from_secs(60);
            while std::time::Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    async fn client(&self) -> Docker {
        let socket = self.socket();
        wait_for(Duration::from_secs(60), "the test's dockerd to answer", || {
            let socket = socket.clone();
            async move {
                let docker = Docker::connect_with_unix(socket.to_str()?, 10, bollard::API_DEFAULT_VERSION).ok()?;
                docker.ping().await.ok()?;
                docker.negotiate_version().await.ok()
            }
        })
        .await
    }

    fn log(&self) -> String {
        let text = std::fs::read_to_string(self.dir.join("dockerd.log")).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(30).collect();
        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn containers(docker: &Docker, owner: &str, app: &str) -> Vec<bollard::models::ContainerSummary> {
    let owner = format!("io.crane.owner={owner}");
    let app = format!("io.crane.app={app}");
    let filters: HashMap<&str, Vec<&str>> = HashMap::from([("label", vec![owner.as_str(), app.as_str()])]);
    docker
        .list_containers(Some(ListContainersOptionsBuilder::new().all(true).filters(&filters).build()))
        .await
        .unwrap_or_default()
}

/// Exactly `n` containers, all running, with distinct instance numbers.
async fn exactly_running(docker: &Docker, owner: &str, app: &str, n: usize) -> Option<Vec<String>> {
    let list = containers(docker, owner, app).await;
    let instances: BTreeSet<String> =
        list.iter().filter_map(|c| c.labels.as_ref().and_then(|l| l.get("io.crane.instance")).cloned()).collect();
    (list.len() == n && instances.len() == n && list.iter().all(is_running))
        .then(|| list.iter().filter_map(|c| c.id.clone()).collect())
}

fn write_config(dir: &Path) {
    // vfs needs nothing from the kernel; no iptables (the host daemon owns them) and no default bridge; app
    // networks come from a pool the host daemon does not use.
    let config = serde_json::json!({
        "storage-driver": "vfs",
        "iptables": false,
        "ip6tables": false,
        "bridge": "none",
        "default-address-pools": [{"base": "10.213.0.0/16", "size": 24}],
    });
    std::fs::write(dir.join("daemon.json"), config.to_string()).expect("daemon.json");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crane_reconnects_and_converges_after_the_docker_daemon_restarts() {
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(euid, 0, "this test starts its own dockerd, which needs root; run the suite as root (CI does)");
    // A short path: the socket's path must fit in 108 bytes.
    let dir = tempfile::Builder::new().prefix("crane-dd-").tempdir_in("/tmp").expect("temp dir");
    write_config(dir.path());
    let mut daemon = Daemon { dir: dir.path().to_path_buf(), child: None };
    daemon.start();
    let docker = daemon.client().await;

    // SAFETY: set before the engine (the only reader of DOCKER_HOST in this process) starts.
    unsafe { std::env::set_var("DOCKER_HOST", format!("unix://{}", daemon.socket().display())) };
    let data = tempfile::Builder::new().prefix("crane-test-").tempdir().expect("data dir");
    let engine = EngineHandle::start(EngineConfig::new(data.path().to_path_buf()).with_tick(Duration::from_secs(600)))
        .await
        .expect("engine starts");
    let _stop = EngineGuard(engine.clone());
    let owner = engine.owner().to_string();
    assert!(engine.status().await.docker_ok, "the engine reaches the test's dockerd");
    // The test daemon has no images and no registry: Crane builds its demo image there.
    engine.build_demo_image().await.unwrap_or_else(|e| panic!("demo image build: {e}\n{}", daemon.log()));

    let app = unique_name("t-dockerd");
    engine.apply(&demo_spec(&app, 2), false).await.unwrap_or_else(|e| panic!("apply: {e}\n{}", daemon.log()));
    wait_for(GENEROUS, "2 running containers", || exactly_running(&docker, &owner, &app, 2)).await;

    // Stop the daemon: its containers stop with it (no live-restore), and Crane says Docker is unreachable.
    daemon.stop();
    let status = wait_for(GENEROUS, "the engine to report Docker unreachable", || async {
        let status = engine.status().await;
        (!status.docker_ok).then_some(status)
    })
    .await;
    assert!(status.docker.contains("not reachable"), "status names the problem: {}", status.docker);
    let view = engine.get_app(&app).await.expect("the app is still known while Docker is down");
    assert_eq!(view.replicas, 2);

    // Start it again: Crane reconnects and brings the app back, without duplicates.
    daemon.start();
    let docker = daemon.client().await;
    wait_for(GENEROUS, "the engine to report Docker reachable again", || async {
        engine.status().await.docker_ok.then_some(())
    })
    .await;
    let ids = wait_for(GENEROUS, "exactly 2 running containers after the restart", || {
        exactly_running(&docker, &owner, &app, 2)
    })
    .await;
    wait_for(GENEROUS, "both instances ready after the restart", || async {
        let v = engine.get_app(&app).await.ok()?;
        (v.ready == 2).then_some(())
    })
    .await;

    // Crane listens to the new daemon's events: a container killed now is replaced long before the next tick.
    docker
        .kill_container(&ids[0], Some(KillContainerOptionsBuilder::new().signal("SIGKILL").build()))
        .await
        .expect("kill one instance");
    wait_for(Duration::from_secs(60), "the killed instance to be replaced (through Docker events)", || async {
        let now = exactly_running(&docker, &owner, &app, 2).await?;
        (!now.contains(&ids[0])).then_some(())
    })
    .await;

    engine.delete(&app).await.expect("delete");
    assert!(containers(&docker, &owner, &app).await.is_empty(), "delete leaves nothing on the test daemon");
    engine.shutdown().await;
    daemon.stop();
}
