//! The Docker adapter against the real engine: every claim Crane makes about Docker behaviour is checked here.
//! The tests need a running engine and fail (never skip) without one. Each test uses its own random app name and
//! owner label, so they run in parallel, and a [`Cleanup`] guard removes what they created even when they fail.

mod support;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bollard::models::ContainerCreateBody;
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, InspectContainerOptions, KillContainerOptionsBuilder, ListVolumesOptionsBuilder,
};
use crane_core::model::ContainerState;
use crane_core::ports::{Runtime, RuntimeError};
use crane_core::spec::DROPPED_CAPABILITIES;
use crane_docker::{build_demo_image, demo_image_present, DockerRuntime, DEMO_IMAGE};
use futures_util::StreamExt;
use support::{demo_image, demo_spec, eventually, http_get, request, runtime, unique_app, Cleanup};

#[tokio::test]
async fn instance_is_labelled_hardened_reachable_and_logged() {
    let guard = Cleanup::new();
    let rt = runtime().await;
    demo_image(&rt).await;
    let app = unique_app();
    let spec = demo_spec(
        &app,
        serde_json::json!({
            "command": ["/demo", "--port", "8080"],
            "env": { "GREETING": "hello" },
            "ports": [{ "container": 8080 }],
            "resources": { "cpu": 0.5, "memory": "64Mi" },
            "volumes": [{ "source": "data", "target": "/data" }],
        }),
    );
    rt.ensure_image(DEMO_IMAGE).await.expect("the demo image is present");
    let network = rt.ensure_network(&app, &guard.owner).await.unwrap();
    assert_eq!(network, format!("crane-{app}"));
    assert_eq!(rt.ensure_network(&app, &guard.owner).await.unwrap(), network, "ensure_network is idempotent");

    let id = rt.start_instance(&request(&spec, 1, &guard.owner)).await.expect("start_instance");
    let name = format!("{app}-1");

    let details = rt.docker().inspect_container(&id, None::<InspectContainerOptions>).await.unwrap();
    assert_eq!(details.name.as_deref(), Some(format!("/{name}").as_str()));
    let config = details.config.unwrap();
    assert_eq!(config.hostname.as_deref(), Some(name.as_str()));
    let labels = config.labels.unwrap();
    for (key, value) in [
        ("io.crane.app", app.as_str()),
        ("io.crane.instance", "1"),
        ("io.crane.revision", "1"),
        ("io.crane.node", "local"),
        ("io.crane.managed", "true"),
        ("io.crane.owner", guard.owner.as_str()),
    ] {
        assert_eq!(labels.get(key).map(String::as_str), Some(value), "label {key}");
    }
    let env = config.env.unwrap();
    for expected in [format!("CRANE_INSTANCE={name}"), format!("CRANE_APP={app}"), "GREETING=hello".to_string()] {
        assert!(env.contains(&expected), "env {env:?} lacks {expected}");
    }
    let host = details.host_config.unwrap();
    let cap_drop = host.cap_drop.unwrap_or_default();
    for cap in DROPPED_CAPABILITIES.iter().chain(&["NET_BIND_SERVICE"]) {
        assert!(cap_drop.iter().any(|c| c.trim_start_matches("CAP_") == *cap), "CapDrop {cap_drop:?} lacks {cap}");
    }
    assert!(host.security_opt.unwrap_or_default().iter().any(|o| o.starts_with("no-new-privileges")));
    assert_eq!(host.nano_cpus, Some(500_000_000));
    assert_eq!(host.memory, Some(64 * 1024 * 1024));
    // The safety floor's process limit and log rotation, as the engine stores them.
    assert_eq!(host.pids_limit, Some(512));
    let log = host.log_config.unwrap_or_default();
    let options = log.config.unwrap_or_default();
    assert_eq!(log.typ.as_deref(), Some("json-file"));
    assert_eq!(
        (options.get("max-size").map(String::as_str), options.get("max-file").map(String::as_str)),
        (Some("10m"), Some("3"))
    );
    // Not checked through HostConfig.NetworkMode: Podman reports "bridge" there even for a named network.
    assert_eq!(host.restart_policy.and_then(|p| p.name).map(|n| n.to_string()).as_deref(), Some("no"));
    let networks = details.network_settings.unwrap().networks.unwrap();
    assert_eq!(networks.keys().collect::<Vec<_>>(), vec![&network], "attached to its app network only");

    // The named volume exists and carries our labels.
    let volume = rt.docker().inspect_volume(&format!("crane-{app}_data")).await.expect("named volume created");
    assert_eq!(volume.labels.get("io.crane.owner"), Some(&guard.owner));

    let instances = rt.list_instances(&guard.owner).await.unwrap();
    assert_eq!(instances.len(), 1, "{instances:?}");
    let observed = &instances[0];
    assert_eq!(
        (observed.id.as_str(), observed.name.as_str(), observed.app.as_str()),
        (id.as_str(), name.as_str(), app.as_str())
    );
    assert_eq!((observed.index, observed.revision, observed.state), (1, 1, ContainerState::Running));
    assert!(observed.created_at > 1_600_000_000_000, "created_at in ms: {}", observed.created_at);

    // Reachable from the host over the app network's bridge IP.
    let details = rt.inspect_instance(&id).await.unwrap().expect("the container exists");
    assert!(details.started_at.is_some(), "a running container has a start time");
    let ip = details.ip.expect("an IP on the app network");
    let reply = eventually("the demo to answer on its container IP", Duration::from_secs(10), || async {
        http_get(ip, 8080, "/").ok()
    })
    .await;
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(reply.contains(&format!("X-Crane-Instance: {name}")), "{reply}");
    assert!(reply.ends_with(&format!("hello from {name}\n")), "{reply}");

    // Logs: the startup line, with the engine's timestamp split off.
    let startup = eventually("the startup line in the logs", Duration::from_secs(5), || async {
        let mut lines = rt.logs(&id, &name, false, None).await.ok()?;
        while let Some(line) = lines.next().await {
            let line = line.ok()?;
            if line.line.contains("listening on") {
                return Some(line);
            }
        }
        None
    })
    .await;
    assert_eq!(startup.instance, name);
    assert_eq!(startup.stream, "stdout");
    assert!(startup.timestamp.as_deref().is_some_and(|t| t.contains('T')), "{startup:?}");
    assert!(startup.line.starts_with("crane-demo "), "{startup:?}");

    // Removing stops promptly (the demo handles SIGTERM) and is idempotent.
    let started = Instant::now();
    rt.remove_instance(&id).await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(2), "stop took {:?}", started.elapsed());
    rt.remove_instance(&id).await.expect("removing a missing container is not an error");
    assert!(rt.list_instances(&guard.owner).await.unwrap().is_empty());

    rt.remove_app_resources(&app, &guard.owner).await.unwrap();
    assert!(rt
        .docker()
        .inspect_network(&network, None::<bollard::query_parameters::InspectNetworkOptions>)
        .await
        .is_err());
    assert!(rt.docker().inspect_volume(&format!("crane-{app}_data")).await.is_err());
    rt.remove_app_resources(&app, &guard.owner).await.expect("removing missing resources is not an error");
}

#[tokio::test]
async fn leftover_instance_of_ours_is_replaced() {
    let guard = Cleanup::new();
    let rt = runtime().await;
    demo_image(&rt).await;
    let app = unique_app();
    let spec = demo_spec(&app, serde_json::json!({}));
    let first = rt.start_instance(&request(&spec, 3, &guard.owner)).await.unwrap();
    let second = rt.start_instance(&request(&spec, 3, &guard.owner)).await.expect("a leftover of ours is replaced");
    assert_ne!(first, second);
    let instances = rt.list_instances(&guard.owner).await.unwrap();
    assert_eq!(instances.iter().map(|i| i.id.as_str()).collect::<Vec<_>>(), vec![second.as_str()]);
    assert_eq!(instances[0].name, format!("{app}-3"));
}

/// A start-first update: the planner decides to move the serving old revision aside (`Start::displace`) and the
/// engine renames it; the adapter never renames on its own, so a running old revision under the name is an error.
#[tokio::test]
async fn an_old_revision_is_moved_aside_only_when_the_plan_says_so() {
    let guard = Cleanup::new();
    let rt = runtime().await;
    demo_image(&rt).await;
    let app = unique_app();
    let spec = demo_spec(&app, serde_json::json!({}));
    let old = rt.start_instance(&request(&spec, 1, &guard.owner)).await.unwrap();
    let mut next = request(&spec, 1, &guard.owner);
    next.revision = 2;
    let err = rt.start_instance(&next).await.expect_err("the name is held by a running older revision");
    assert!(err.to_string().contains("moved aside first"), "{err}");
    rt.rename_instance(&old, &format!("{app}-1-r1")).await.expect("rename");
    let new = rt.start_instance(&next).await.expect("the name is free after the rename");
    let mut instances: Vec<(String, u64, ContainerState)> =
        rt.list_instances(&guard.owner).await.unwrap().into_iter().map(|i| (i.name, i.revision, i.state)).collect();
    instances.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        instances,
        vec![(format!("{app}-1"), 2, ContainerState::Running), (format!("{app}-1-r1"), 1, ContainerState::Running)],
        "both run: the old one keeps serving under its new name ({old} → {new})"
    );
}

#[tokio::test]
async fn crashing_instance_reports_its_exit_code() {
    let guard = Cleanup::new();
    let rt = runtime().await;
    demo_image(&rt).await;
    let app = unique_app();
    let spec = demo_spec(&app, serde_json::json!({ "command": ["/demo", "--exit-after-ms", "200"] }));
    let id = rt.start_instance(&request(&spec, 1, &guard.owner)).await.unwrap();
    let exited = eventually("the instance to exit", Duration::from_secs(10), || async {
        let instances = rt.list_instances(&guard.owner).await.ok()?;
        instances.into_iter().find(|i| i.id == id && i.state == ContainerState::Exited)
    })
    .await;
    assert_eq!(exited.exit_code, Some(1));

    let spec =
        demo_spec(&app, serde_json::json!({ "command": ["/demo", "--exit-after-ms", "100", "--exit-code", "3"] }));
    let id = rt.start_instance(&request(&spec, 2, &guard.owner)).await.unwrap();
    let exited = eventually("the second instance to exit", Duration::from_secs(10), || async {
        let instances = rt.list_instances(&guard.owner).await.ok()?;
        instances.into_iter().find(|i| i.id == id && i.state == ContainerState::Exited)
    })
    .await;
    assert_eq!(exited.exit_code, Some(3));
}

#[tokio::test]
async fn missing_image_is_unavailable_quickly() {
    let rt = runtime().await;
    let started = Instant::now();
    let err = rt.ensure_image("nonexistent-image-xyz:1").await.expect_err("the image cannot exist");
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(15), "took {elapsed:?}");
    match err {
        RuntimeError::ImageUnavailable { image, reason } => {
            assert_eq!(image, "nonexistent-image-xyz:1");
            assert!(reason.contains("not present locally"), "{reason}");
            assert!(reason.contains("cranectl demo-image"), "{reason}");
        }
        other => panic!("expected ImageUnavailable, got {other:?}"),
    }
}

#[tokio::test]
async fn starting_from_a_missing_image_is_image_unavailable() {
    let guard = Cleanup::new();
    let rt = runtime().await;
    let app = unique_app();
    let mut spec = demo_spec(&app, serde_json::json!({}));
    spec.image = "nonexistent-image-xyz:1".into();
    let err = rt.start_instance(&request(&spec, 1, &guard.owner)).await.expect_err("no such image");
    assert!(matches!(err, RuntimeError::ImageUnavailable { .. }), "{err:?}");
    assert!(rt.list_instances(&guard.owner).await.unwrap().is_empty(), "nothing half-created");
}

#[tokio::test]
async fn names_taken_by_unmanaged_objects_conflict() {
    let guard = Cleanup::new();
    let rt = runtime().await;
    demo_image(&rt).await;
    let app = unique_app();
    let name = format!("{app}-1");
    // An unmanaged container: no io.crane.managed label. It carries the owner label only so the guard removes it.
    let body = ContainerCreateBody {
        image: Some(DEMO_IMAGE.to_string()),
        labels: Some(HashMap::from([("io.crane.owner".to_string(), guard.owner.clone())])),
        ..Default::default()
    };
    rt.docker().create_container(Some(CreateContainerOptionsBuilder::new().name(&name).build()), body).await.unwrap();
    let spec = demo_spec(&app, serde_json::json!({}));
    let err = rt.start_instance(&request(&spec, 1, &guard.owner)).await.expect_err("the name is taken");
    assert_eq!(err, RuntimeError::NameConflict(name.clone()));
    assert!(err.to_string().contains("does not manage"), "{err}");
    assert!(rt.list_instances(&guard.owner).await.unwrap().is_empty(), "the unmanaged container is not adopted");

    // The same for a network: `crane-<app>` made by someone else.
    let other_app = unique_app();
    let network = format!("crane-{other_app}");
    rt.docker()
        .create_network(bollard::models::NetworkCreateRequest {
            name: network.clone(),
            labels: Some(HashMap::from([("io.crane.owner".to_string(), guard.owner.clone())])),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(rt.ensure_network(&other_app, &guard.owner).await, Err(RuntimeError::NameConflict(network)));

    // And a network of ours, but of another owner, is not ours either.
    let third_app = unique_app();
    rt.ensure_network(&third_app, &guard.owner).await.unwrap();
    assert!(matches!(rt.ensure_network(&third_app, "someone-else").await, Err(RuntimeError::NameConflict(_))));
}

#[tokio::test]
async fn kill_produces_a_die_event_with_exit_code() {
    let guard = Cleanup::new();
    let rt = runtime().await;
    demo_image(&rt).await;
    let app = unique_app();
    let mut events = rt.events(&guard.owner).await.unwrap();
    let spec = demo_spec(&app, serde_json::json!({}));
    let id = rt.start_instance(&request(&spec, 1, &guard.owner)).await.unwrap();
    let started = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(event) = events.next().await {
            let event = event.unwrap();
            if event.id == id && event.action == "start" {
                return event;
            }
        }
        panic!("the event stream ended");
    })
    .await
    .expect("a start event within 10 s");
    assert_eq!(started.app.as_deref(), Some(app.as_str()));

    rt.docker().kill_container(&id, Some(KillContainerOptionsBuilder::new().signal("SIGKILL").build())).await.unwrap();
    let died = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(event) = events.next().await {
            let event = event.unwrap();
            if event.id == id && event.action == "die" {
                return event;
            }
        }
        panic!("the event stream ended");
    })
    .await
    .expect("a die event within 10 s");
    assert_eq!(died.exit_code, Some(137));
    assert_eq!(died.app.as_deref(), Some(app.as_str()));
    assert!(died.at >= started.at);

    // Events of other owners are filtered out by the engine: a container of another owner stays invisible.
    let other = Cleanup::new();
    let other_app = unique_app();
    let other_spec = demo_spec(&other_app, serde_json::json!({}));
    let other_id = rt.start_instance(&request(&other_spec, 1, &other.owner)).await.unwrap();
    let seen_other = tokio::time::timeout(Duration::from_secs(2), async {
        while let Some(event) = events.next().await {
            if event.unwrap().id == other_id {
                return true;
            }
        }
        false
    })
    .await
    .unwrap_or(false);
    assert!(!seen_other, "an event of another owner leaked through the filter");
}

#[tokio::test]
async fn unreachable_engine_fails_fast() {
    for host in ["unix:///nonexistent/docker.sock", "tcp://127.0.0.1:9"] {
        let started = Instant::now();
        let err = DockerRuntime::connect_with_host(host).await.expect_err("nothing listens there");
        assert!(started.elapsed() < Duration::from_secs(3), "{host} took {:?}", started.elapsed());
        assert!(matches!(err, RuntimeError::Unreachable(_)), "{host}: {err:?}");
        assert!(err.to_string().contains("not reachable"), "{err}");
    }
    // Construction alone does no I/O, so the engine can start without Docker and report the error on first use.
    let lazy = DockerRuntime::with_host("tcp://127.0.0.1:9").expect("construction does no I/O");
    let started = Instant::now();
    assert!(matches!(lazy.list_instances("x").await, Err(RuntimeError::Unreachable(_))));
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn version_names_engine_and_negotiated_api() {
    let rt = runtime().await;
    let version = rt.version().await.unwrap();
    assert!(version.contains("API "), "{version}");
    let engine_api = rt.docker().version().await.unwrap().api_version.unwrap();
    assert_eq!(
        rt.api_version(),
        engine_api.min(bollard::API_DEFAULT_VERSION.to_string()),
        "negotiated down to the engine's"
    );
}

#[tokio::test]
async fn demo_image_builds_concurrently_with_progress() {
    let rt = runtime().await;
    let other = runtime().await;
    let mut first_reports = Vec::new();
    let mut second_reports = Vec::new();
    let mut record_first = |p| first_reports.push(p);
    let mut record_second = |p| second_reports.push(p);
    let (a, b) = tokio::join!(
        build_demo_image(rt.docker(), &mut record_first),
        build_demo_image(other.docker(), &mut record_second),
    );
    assert_eq!(a.expect("first build"), DEMO_IMAGE);
    assert_eq!(b.expect("second build"), DEMO_IMAGE);
    for reports in [&first_reports, &second_reports] {
        let last = reports.last().expect("progress was reported");
        assert!(last.done && last.error.is_none(), "{last:?}");
        assert_eq!(last.operation, "demo-image");
        assert!(reports.iter().any(|p| p.message.to_ascii_lowercase().starts_with("step 2/")), "{reports:?}");
        assert!(reports.iter().filter(|p| !p.done).all(|p| p.fraction.is_some_and(|f| (0.0..1.0).contains(&f))));
    }
    assert!(demo_image_present(rt.docker()).await);

    // The image runs as the unprivileged user and answers from a scratch container.
    let image = rt.docker().inspect_image(DEMO_IMAGE).await.unwrap();
    let config = image.config.unwrap();
    assert_eq!(config.user.as_deref(), Some("65534:65534"));
    assert_eq!(config.cmd, Some(vec!["/demo".to_string()]));
    assert_eq!(config.labels.unwrap().get("io.crane.demo").map(String::as_str), Some("true"));
}

#[tokio::test]
async fn removing_app_resources_leaves_other_owners_alone() {
    let mine = Cleanup::new();
    let theirs = Cleanup::new();
    let rt = runtime().await;
    let app = unique_app();
    // Two owners cannot share a network name, so the other owner's resources are under another app name.
    let other_app = unique_app();
    rt.ensure_network(&app, &mine.owner).await.unwrap();
    rt.ensure_network(&other_app, &theirs.owner).await.unwrap();
    rt.remove_app_resources(&other_app, &mine.owner).await.unwrap();
    rt.docker()
        .inspect_network(&format!("crane-{other_app}"), None::<bollard::query_parameters::InspectNetworkOptions>)
        .await
        .expect("another owner's network survives");
    rt.remove_app_resources(&app, &mine.owner).await.unwrap();
    let filters = HashMap::from([("label", vec![format!("io.crane.owner={}", mine.owner)])]);
    let left =
        rt.docker().list_volumes(Some(ListVolumesOptionsBuilder::new().filters(&filters).build())).await.unwrap();
    assert!(left.volumes.unwrap_or_default().is_empty());
}

/// Writes `text` to `path` (a file under a mounted volume) in a running container, through Docker's archive API
/// (the demo image has no shell).
async fn put_file(rt: &DockerRuntime, id: &str, dir: &str, file: &str, text: &str) {
    let mut archive = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(text.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    archive.append_data(&mut header, file, text.as_bytes()).unwrap();
    let bytes = archive.into_inner().unwrap();
    let options = bollard::query_parameters::UploadToContainerOptionsBuilder::default().path(dir).build();
    rt.docker().upload_to_container(id, Some(options), bollard::body_full(bytes.into())).await.expect("upload");
}

/// Reads a file of a running container through Docker's archive API.
async fn get_file(rt: &DockerRuntime, id: &str, path: &str) -> String {
    use std::io::Read;
    let options = bollard::query_parameters::DownloadFromContainerOptionsBuilder::default().path(path).build();
    let chunks: Vec<_> = rt.docker().download_from_container(id, Some(options)).collect().await;
    let bytes: Vec<u8> = chunks.into_iter().flat_map(|c| c.expect("download").to_vec()).collect();
    let mut archive = tar::Archive::new(bytes.as_slice());
    let mut entry = archive.entries().unwrap().next().expect("one file").unwrap();
    let mut text = String::new();
    entry.read_to_string(&mut text).unwrap();
    text
}

/// App `X` with volume `b-c` and app `X-b` with volume `c` were both `crane-X-b-c` under the old naming: they shared
/// data, and deleting one deleted the other's. Now each has its own volume, deleting one keeps the other's data, and
/// a volume of the right name labelled for another app is a conflict, never shared.
#[tokio::test]
async fn apps_whose_names_overlap_keep_their_own_volumes() {
    let guard = Cleanup::new();
    let rt = runtime().await;
    demo_image(&rt).await;
    let first = unique_app();
    let second = format!("{first}-b");
    let first_spec = demo_spec(&first, serde_json::json!({ "volumes": [{ "source": "b-c", "target": "/data" }] }));
    let second_spec = demo_spec(&second, serde_json::json!({ "volumes": [{ "source": "c", "target": "/data" }] }));
    let first_id = rt.start_instance(&request(&first_spec, 1, &guard.owner)).await.expect("first app starts");
    let second_id = rt.start_instance(&request(&second_spec, 1, &guard.owner)).await.expect("second app starts");
    let first_volume = format!("crane-{first}_b-c");
    let second_volume = format!("crane-{first}-b_c");
    for (volume, app) in [(&first_volume, &first), (&second_volume, &second)] {
        let inspected = rt.docker().inspect_volume(volume).await.unwrap_or_else(|e| panic!("{volume}: {e}"));
        assert_eq!(inspected.labels.get("io.crane.app"), Some(app), "{volume}");
    }
    put_file(&rt, &first_id, "/data", "owner", "first").await;
    put_file(&rt, &second_id, "/data", "owner", "second").await;
    assert_eq!(get_file(&rt, &first_id, "/data/owner").await, "first");
    assert_eq!(get_file(&rt, &second_id, "/data/owner").await, "second", "not the first app's file");

    rt.remove_instance(&first_id).await.unwrap();
    let kept = rt.remove_app_resources(&first, &guard.owner).await.unwrap();
    assert!(kept.is_empty(), "{kept:?}");
    assert!(rt.docker().inspect_volume(&first_volume).await.is_err(), "the first app's volume is gone");
    assert!(rt.docker().inspect_volume(&second_volume).await.is_ok(), "the second app's volume stays");
    assert_eq!(get_file(&rt, &second_id, "/data/owner").await, "second", "and keeps its data");

    // A volume with the name the first app's `x` would get, but labelled for the second app: a conflict.
    let squatted = format!("crane-{first}_x");
    let labels = HashMap::from([
        ("io.crane.managed".to_string(), "true".to_string()),
        ("io.crane.owner".to_string(), guard.owner.clone()),
        ("io.crane.app".to_string(), second.clone()),
    ]);
    let create = bollard::models::VolumeCreateRequest {
        name: Some(squatted.clone()),
        labels: Some(labels),
        ..Default::default()
    };
    rt.docker().create_volume(create).await.unwrap();
    let spec = demo_spec(&first, serde_json::json!({ "volumes": [{ "source": "x", "target": "/x" }] }));
    let err = rt.start_instance(&request(&spec, 1, &guard.owner)).await.unwrap_err();
    assert!(matches!(&err, RuntimeError::NameConflict(name) if *name == squatted), "{err:?}");
    rt.docker().remove_volume(&squatted, None::<bollard::query_parameters::RemoveVolumeOptions>).await.unwrap();

    // A volume of the older naming scheme labelled for the app is reported and kept, not deleted silently.
    let old_scheme = format!("crane-{second}-c");
    let labels = HashMap::from([
        ("io.crane.managed".to_string(), "true".to_string()),
        ("io.crane.owner".to_string(), guard.owner.clone()),
        ("io.crane.app".to_string(), second.clone()),
    ]);
    let create = bollard::models::VolumeCreateRequest {
        name: Some(old_scheme.clone()),
        labels: Some(labels),
        ..Default::default()
    };
    rt.docker().create_volume(create).await.unwrap();
    rt.remove_instance(&second_id).await.unwrap();
    let kept = rt.remove_app_resources(&second, &guard.owner).await.unwrap();
    assert_eq!(kept, std::slice::from_ref(&old_scheme), "kept and named: {kept:?}");
    assert!(rt.docker().inspect_volume(&second_volume).await.is_err());
    assert!(rt.docker().inspect_volume(&old_scheme).await.is_ok(), "the old-scheme volume is kept");
}
