//! Probe runners: one task per running instance that has probes, running each configured probe (http, tcp, exec) on
//! its period and feeding the outcomes to the pure [`InstanceHealth`] state machine of `crane_core::probe`. What
//! changed is reported to the engine loop, which logs it, updates the load balancer and restarts failed instances.
//!
//! **Architecture Invariant:** runners only observe and report; only the engine loop removes containers.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crane_core::ports::Runtime;
use crane_core::probe::{HealthSettings, InstanceHealth, Outcome, ProbeKind, ProbeSettings, Transition};
use crane_core::spec::ProbeType;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

use crate::clock::LockExt;

/// What a runner tells the engine loop after a probe run.
#[derive(Debug)]
pub(crate) struct ProbeReport {
    /// Container id.
    pub id: String,
    /// App name.
    pub app: String,
    /// Instance name.
    pub name: String,
    /// Which probe ran.
    pub kind: ProbeKind,
    /// What changed (often nothing).
    pub transitions: Vec<Transition>,
}

struct Entry {
    health: Arc<Mutex<InstanceHealth>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Entry {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The runners of every probed instance, by container id.
#[derive(Default)]
pub(crate) struct Probers {
    entries: Mutex<BTreeMap<String, Entry>>,
}

/// A running instance that may need probing.
pub(crate) struct Target {
    /// Container id.
    pub id: String,
    /// App name.
    pub app: String,
    /// Instance name.
    pub name: String,
    /// Address on the app network.
    pub ip: Option<IpAddr>,
    /// The app's probes.
    pub settings: HealthSettings,
}

impl Probers {
    /// Starts runners for new targets and stops those whose container is gone or no longer has probes.
    pub(crate) fn sync(
        &self,
        targets: Vec<Target>,
        runtime: &Arc<dyn Runtime>,
        reports: &mpsc::UnboundedSender<ProbeReport>,
    ) {
        let mut entries = self.entries.locked();
        entries.retain(|id, _| targets.iter().any(|t| &t.id == id && t.settings.any()));
        for t in targets {
            if !t.settings.any() || entries.contains_key(&t.id) {
                continue;
            }
            let health = Arc::new(Mutex::new(InstanceHealth::new(t.settings.clone())));
            let task = tokio::spawn(run_instance(t.clone_info(), health.clone(), runtime.clone(), reports.clone()));
            entries.insert(t.id.clone(), Entry { health, task });
        }
    }

    /// Probe state of a container, when it is probed.
    pub(crate) fn health(&self, id: &str) -> Option<InstanceHealth> {
        self.entries.locked().get(id).map(|e| e.health.locked().clone())
    }

    /// Stops every runner.
    pub(crate) fn clear(&self) {
        self.entries.locked().clear();
    }
}

impl Target {
    fn clone_info(&self) -> Target {
        Target {
            id: self.id.clone(),
            app: self.app.clone(),
            name: self.name.clone(),
            ip: self.ip,
            settings: self.settings.clone(),
        }
    }
}

async fn run_instance(
    target: Target,
    health: Arc<Mutex<InstanceHealth>>,
    runtime: Arc<dyn Runtime>,
    reports: mpsc::UnboundedSender<ProbeReport>,
) {
    let target = Arc::new(target);
    let mut loops = tokio::task::JoinSet::new();
    for kind in [ProbeKind::Startup, ProbeKind::Liveness, ProbeKind::Readiness] {
        let Some(settings) = target.settings.get(kind).cloned() else { continue };
        let (target, health, runtime, reports) = (target.clone(), health.clone(), runtime.clone(), reports.clone());
        loops.spawn(async move {
            tokio::time::sleep(settings.initial_delay).await;
            loop {
                let runnable = health.locked().should_run(kind);
                if runnable {
                    let outcome = run_probe(&*runtime, &target, &settings).await;
                    let (transitions, doomed) = {
                        let mut h = health.locked();
                        (h.observe(kind, &outcome), h.doomed)
                    };
                    let report = ProbeReport {
                        id: target.id.clone(),
                        app: target.app.clone(),
                        name: target.name.clone(),
                        kind,
                        transitions,
                    };
                    if reports.send(report).is_err() || doomed {
                        return;
                    }
                } else if health.locked().doomed {
                    return;
                }
                tokio::time::sleep(settings.period).await;
            }
        });
    }
    while loops.join_next().await.is_some() {}
}

/// Runs one probe once, bounded by its timeout.
pub(crate) async fn run_probe(runtime: &dyn Runtime, target: &Target, settings: &ProbeSettings) -> Outcome {
    let addr = |port: Option<u16>| -> Result<SocketAddr, String> {
        let ip = target.ip.ok_or_else(|| "the instance has no address on its network yet".to_string())?;
        let port = port.ok_or_else(|| "no port to probe: set the probe's `port` or the app's `ports`".to_string())?;
        Ok(SocketAddr::new(ip, port))
    };
    let timeout = settings.timeout;
    match settings.kind {
        ProbeType::Tcp => {
            let addr = match addr(settings.port) {
                Ok(a) => a,
                Err(e) => return Outcome::Failure(e),
            };
            match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(addr)).await {
                Ok(Ok(_)) => Outcome::Success,
                Ok(Err(e)) => Outcome::Failure(format!("tcp connect to :{} failed: {e}", addr.port())),
                Err(_) => Outcome::Failure(format!("tcp connect to :{} timed out after {}", addr.port(), ms(timeout))),
            }
        }
        ProbeType::Http => {
            let addr = match addr(settings.port) {
                Ok(a) => a,
                Err(e) => return Outcome::Failure(e),
            };
            match tokio::time::timeout(timeout, http_get(addr, &settings.path)).await {
                Ok(Ok(code)) if (200..400).contains(&code) => Outcome::Success,
                Ok(Ok(code)) => Outcome::Failure(format!("GET {} returned {code}", settings.path)),
                Ok(Err(e)) => Outcome::Failure(format!("GET {} failed: {e}", settings.path)),
                Err(_) => Outcome::Failure(format!("GET {} timed out after {}", settings.path, ms(timeout))),
            }
        }
        ProbeType::Exec => match runtime.exec(&target.id, &settings.command, timeout).await {
            Ok(out) if out.exit_code == 0 => Outcome::Success,
            Ok(out) => Outcome::Failure(format!(
                "`{}` exited with code {}{}",
                settings.command.join(" "),
                out.exit_code,
                if out.output.trim().is_empty() { String::new() } else { format!(": {}", out.output.trim()) }
            )),
            Err(e) => Outcome::Failure(e.to_string()),
        },
    }
}

fn ms(d: Duration) -> String {
    crane_core::units::format_millis(d.as_millis() as u64)
}

/// A minimal HTTP/1.0 GET returning the status code: probes need nothing more, and a client pool would keep
/// connections to instances that are about to go away.
async fn http_get(addr: SocketAddr, path: &str) -> Result<u16, String> {
    let mut stream = tokio::net::TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let request = format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\nUser-Agent: crane-probe\r\nAccept: */*\r\n\r\n");
    stream.write_all(request.as_bytes()).await.map_err(|e| e.to_string())?;
    let mut buf = [0u8; 64];
    let mut got = 0;
    while got < 12 {
        let n = stream.read(&mut buf[got..]).await.map_err(|e| e.to_string())?;
        if n == 0 {
            break;
        }
        got += n;
    }
    let head = std::str::from_utf8(&buf[..got]).unwrap_or("");
    head.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("not an HTTP response: {:?}", head.lines().next().unwrap_or("")))
}
