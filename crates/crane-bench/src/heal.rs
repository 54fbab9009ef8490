//! `crane-bench heal` (`docs/bench/heal.json`): replica killed (SIGKILL through the Docker API) → replacement
//! running, median of 10 (one kill per slot of a 10-replica demo app), in the same run for
//! (a) the default healing: a new container is created and started after the death, and
//! (b) `heal: { standby: true }`: the slot's paused standby is renamed and unpaused.
//!
//! "Running" is Docker's view: the slot's name holds another container, running and not paused. Where the time
//! goes comes from the engine's `instance.started` event (`timing`: the pass's observation, plan, network check and
//! rename, and `sinceDeathMs` from the `die` event to the replacement started) and from Docker's own timestamps
//! (created → started). A bare container start without Crane on the same machine is measured too: it is the floor
//! of (a).

use std::path::Path;
use std::time::{Duration, Instant};

use bollard::query_parameters::InspectContainerOptions;
use crane_e2e::*;

use crate::{percentile, start_server, Server};

const REPLICAS: usize = 10;

#[derive(Debug, Default, serde::Serialize)]
struct Run {
    mode: &'static str,
    kill_to_running_ms: Vec<f64>,
    /// `die` event received → replacement running (the engine's own measure, from its event).
    since_death_ms: Vec<f64>,
    /// The pass that acted: observation done, plan done, network checked (ms from the pass's start).
    observed_ms: Vec<f64>,
    planned_ms: Vec<f64>,
    /// Docker: container created → started (default healing only).
    created_to_started_ms: Vec<f64>,
}

fn sorted(v: &[f64]) -> Vec<f64> {
    let mut s: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    s.sort_by(|a, b| a.partial_cmp(b).unwrap());
    s
}

fn median(v: &[f64]) -> f64 {
    percentile(&sorted(v), 0.5)
}

/// Milliseconds between two Docker timestamps (RFC 3339 with nanoseconds).
fn between_ms(from: &str, to: &str) -> f64 {
    let parse = |t: &str| chrono::DateTime::parse_from_rfc3339(t).map(|d| d.timestamp_nanos_opt().unwrap_or(0));
    match (parse(from), parse(to)) {
        (Ok(a), Ok(b)) => (b - a) as f64 / 1e6,
        _ => f64::NAN,
    }
}

async fn ready_count(server: &Server, app: &str) -> u64 {
    server.call(reqwest::Method::GET, &format!("/apps/{app}"), None).await["ready"].as_u64().unwrap_or(0)
}

/// The paused standbys of `app` (names ending in `-s<revision>`).
async fn paused_standbys(app: &str) -> usize {
    let docker = docker().await;
    let mut n = 0;
    for k in 1..=REPLICAS {
        if let Ok(c) = docker.inspect_container(&format!("{app}-{k}-s1"), None::<InspectContainerOptions>).await {
            if c.state.and_then(|s| s.paused) == Some(true) {
                n += 1;
            }
        }
    }
    n
}

async fn measure(server: &mut Server, standby: bool) -> Run {
    let mode =
        if standby { "heal.standby: paused copy unpaused" } else { "default: new container created and started" };
    let app = unique_name(if standby { "benchsb" } else { "benchheal" });
    let mut yaml = format!(
        "name: {app}\nimage: {DEMO_IMAGE}\nreplicas: {REPLICAS}\ncommand: [\"/demo\", \"--port\", \"8080\"]\n\
         ports:\n  - container: 8080\nresources: {{ cpu: 0.2, memory: 32Mi }}\n\
         health:\n  readiness: {{ type: http, path: /ready, period: 200ms, failureThreshold: 1 }}\n"
    );
    if standby {
        yaml.push_str("heal: { standby: true }\n");
    }
    server.call(reqwest::Method::POST, "/apps", Some(serde_json::json!({"yaml": yaml, "create_only": true}))).await;
    wait_for(Duration::from_secs(120), "all replicas ready", || async {
        (ready_count(server, &app).await == REPLICAS as u64).then_some(())
    })
    .await;
    if server.owner_cleanup.is_none() {
        let running = crate::running_of(&app).await;
        let owner = running[0].labels.as_ref().unwrap()["io.crane.owner"].clone();
        server.owner_cleanup = Some(Cleanup { owner });
    }
    let server = &*server;
    let docker = docker().await;
    let mut run = Run { mode, ..Run::default() };
    for k in 1..=REPLICAS {
        if standby {
            wait_for(Duration::from_secs(120), "every slot's standby paused", || async {
                (paused_standbys(&app).await == REPLICAS).then_some(())
            })
            .await;
        }
        // Settle: the previous replacement's probes and the standby's creation are done.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let victim = format!("{app}-{k}");
        let old = docker.inspect_container(&victim, None::<InspectContainerOptions>).await.expect("the victim");
        let t = Instant::now();
        kill(&victim).await;
        let new = loop {
            if let Ok(c) = docker.inspect_container(&victim, None::<InspectContainerOptions>).await {
                let state = c.state.clone().unwrap_or_default();
                if c.id != old.id && state.running == Some(true) && state.paused != Some(true) {
                    break c;
                }
            }
            assert!(t.elapsed() < Duration::from_secs(30), "no replacement for {victim} within 30 s");
            tokio::time::sleep(Duration::from_millis(2)).await;
        };
        run.kill_to_running_ms.push(t.elapsed().as_secs_f64() * 1e3);
        if !standby {
            let created = new.created.clone().unwrap_or_default();
            let started = new.state.as_ref().and_then(|s| s.started_at.clone()).unwrap_or_default();
            run.created_to_started_ms.push(between_ms(&created, &started));
        }
        // The engine's own account of the start (its event is written right after the start returns).
        let id = new.id.clone().unwrap_or_default();
        let timing = wait_for(Duration::from_secs(10), "the start's event", || async {
            let events = server.call(reqwest::Method::GET, &format!("/events?app={app}&limit=100"), None).await;
            events.as_array().into_iter().flatten().find_map(|e| {
                if e["kind"] != "instance.started" {
                    return None;
                }
                let details: serde_json::Value = match &e["details"] {
                    serde_json::Value::String(s) => serde_json::from_str(s).ok()?,
                    other => other.clone(),
                };
                (details["container"] == id.as_str()).then(|| details["timing"].clone())
            })
        })
        .await;
        let num = |key: &str| timing[key].as_f64().unwrap_or(f64::NAN);
        run.since_death_ms.push(num("sinceDeathMs"));
        run.observed_ms.push(num("observedMs"));
        run.planned_ms.push(num("plannedMs"));
    }
    server.call(reqwest::Method::DELETE, &format!("/apps/{app}"), None).await;
    run
}

/// A container of the demo image created and started on a fresh network, without Crane (the floor of a heal that
/// starts a new container): median of 5 starts.
async fn bare_start_ms() -> f64 {
    use bollard::models::{ContainerCreateBody, HostConfig, NetworkCreateRequest};
    use bollard::query_parameters::{CreateContainerOptionsBuilder, RemoveContainerOptionsBuilder};
    let docker = docker().await;
    let network = unique_name("crane-bench-bare");
    docker
        .create_network(NetworkCreateRequest {
            name: network.clone(),
            driver: Some("bridge".into()),
            ..Default::default()
        })
        .await
        .expect("network");
    let mut starts = Vec::new();
    for i in 0..5 {
        let name = format!("{network}-{i}");
        let body = ContainerCreateBody {
            image: Some(DEMO_IMAGE.to_string()),
            cmd: Some(vec!["/demo".into(), "--port".into(), "8080".into()]),
            host_config: Some(HostConfig { network_mode: Some(network.clone()), ..Default::default() }),
            ..Default::default()
        };
        let created = docker
            .create_container(Some(CreateContainerOptionsBuilder::new().name(&name).build()), body)
            .await
            .expect("create");
        let t = Instant::now();
        docker.start_container(&created.id, None).await.expect("start");
        starts.push(t.elapsed().as_secs_f64() * 1e3);
        let _ =
            docker.remove_container(&created.id, Some(RemoveContainerOptionsBuilder::new().force(true).build())).await;
    }
    let _ = docker.remove_network(&network).await;
    median(&starts)
}

/// Runs the heal benchmark and writes `docs/bench/heal.json`.
pub(crate) async fn run() {
    let mut server = start_server().await;
    let bare = bare_start_ms().await;
    let default = measure(&mut server, false).await;
    let standby = measure(&mut server, true).await;

    println!();
    println!("Replica killed → replacement running, {REPLICAS} kills each (one per slot):");
    println!(
        "| Healing | kill → running, median (p95) | `die` → running (engine's event) | pass: observed / planned |"
    );
    println!("|---|---|---|---|");
    for r in [&default, &standby] {
        println!(
            "| {} | {:.0} ms ({:.0} ms) | {:.0} ms | {:.1} ms / {:.1} ms |",
            r.mode,
            median(&r.kill_to_running_ms),
            percentile(&sorted(&r.kill_to_running_ms), 0.95),
            median(&r.since_death_ms),
            median(&r.observed_ms),
            median(&r.planned_ms)
        );
    }
    println!(
        "\nDocker alone: created → started of the default replacements {:.0} ms (median); a bare start of the demo image \
         on a fresh network, without Crane: {bare:.0} ms (median of 5). Target: ≤ 400 ms.",
        median(&default.created_to_started_ms)
    );
    let json = serde_json::json!({
        "replicas": REPLICAS,
        "target_ms": 400,
        "bare_docker_start_ms": bare,
        "runs": [default, standby],
        "medians": {
            "default_kill_to_running_ms": median(&default.kill_to_running_ms),
            "standby_kill_to_running_ms": median(&standby.kill_to_running_ms),
            "default_created_to_started_ms": median(&default.created_to_started_ms),
        },
        "build": if cfg!(debug_assertions) { "debug" } else { "release" },
    });
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/bench/heal.json");
    std::fs::create_dir_all(out.parent().unwrap()).unwrap();
    std::fs::write(&out, serde_json::to_string_pretty(&json).unwrap()).unwrap();
    println!("\nwritten to {}", out.display());
}
