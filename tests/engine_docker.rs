//! End-to-end: the engine against the real Docker engine with the demo image. Each test uses its own engine (own
//! data directory and owner label) and unique app names, so tests run in parallel; each removes what it created.

use std::time::{Duration, Instant};

use bollard::query_parameters::InspectContainerOptions;
use crane_api::InstanceState;
use crane_e2e::*;
use crane_engine::EngineError;

const GENEROUS: Duration = Duration::from_secs(60);

async fn running_names(owner: &str, app: &str) -> Vec<String> {
    containers_of(owner, app)
        .await
        .iter()
        .filter(|c| is_running(c))
        .filter_map(|c| c.names.as_ref().and_then(|n| n.first()).map(|n| n.trim_start_matches('/').to_string()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_three_replicas_runs_labelled_hardened_containers_on_the_app_network() {
    ensure_demo_image().await;
    let engine = TestEngine::start().await;
    let app = unique_name("t-apply");
    let result = engine.handle.apply(&demo_spec(&app, 3), false).await.expect("apply");
    assert_eq!(result.action, crane_api::ApplyAction::Created);

    let owner = engine.handle.owner().to_string();
    let names = wait_for(GENEROUS, "3 running containers", || async {
        let n = running_names(&owner, &app).await;
        (n.len() == 3).then_some(n)
    })
    .await;
    assert_eq!(names, vec![format!("{app}-1"), format!("{app}-2"), format!("{app}-3")]);

    let docker = docker().await;
    for name in &names {
        let info = docker.inspect_container(name, None::<InspectContainerOptions>).await.expect("inspect");
        let labels = info.config.as_ref().and_then(|c| c.labels.clone()).unwrap_or_default();
        assert_eq!(labels.get("io.crane.app"), Some(&app));
        assert_eq!(labels.get("io.crane.managed").map(String::as_str), Some("true"));
        assert_eq!(labels.get("io.crane.revision").map(String::as_str), Some("1"));
        assert!(labels.contains_key("io.crane.instance"));
        let networks = info.network_settings.as_ref().and_then(|n| n.networks.clone()).unwrap_or_default();
        assert!(networks.contains_key(&format!("crane-{app}")), "{name} is on {:?}", networks.keys());
        let host = info.host_config.expect("host config");
        let dropped = host.cap_drop.unwrap_or_default();
        for cap in ["NET_RAW", "SETUID", "CHOWN", "NET_BIND_SERVICE"] {
            assert!(dropped.iter().any(|c| c.ends_with(cap)), "{cap} not dropped: {dropped:?}");
        }
        assert!(host.security_opt.unwrap_or_default().iter().any(|o| o.starts_with("no-new-privileges")));
        assert_eq!(host.memory, Some(32 * 1024 * 1024));
        assert_eq!(host.nano_cpus, Some(200_000_000));
    }

    // The window's view agrees, and the load balancer answers from different replicas.
    let view = engine.handle.get_app(&app).await.expect("get app");
    assert_eq!(view.instances.len(), 3);
    assert!(view.instances.iter().all(|i| i.state == InstanceState::Ready), "{:?}", view.instances);
    let url = view.url.expect("an app with a port gets an address");
    // A new connection per request: this first load balancer balances connections, not requests.
    let client = reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap();
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..12 {
        let body = client.get(&url).send().await.expect("GET through the load balancer").text().await.unwrap();
        seen.insert(body);
    }
    assert!(seen.len() >= 2, "answers came from one replica only: {seen:?}");

    engine.handle.delete(&app).await.expect("delete");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_instance_is_replaced_and_the_event_log_says_why() {
    ensure_demo_image().await;
    let engine = TestEngine::start().await;
    let app = unique_name("t-kill");
    engine.handle.apply(&demo_spec(&app, 2), false).await.expect("apply");
    let owner = engine.handle.owner().to_string();
    wait_for(GENEROUS, "2 running", || async { (running_names(&owner, &app).await.len() == 2).then_some(()) }).await;

    let victim = format!("{app}-2");
    let before = containers_of(&owner, &app).await;
    let old_id = before.iter().find(|c| c.names.as_ref().unwrap()[0].ends_with(&victim)).unwrap().id.clone().unwrap();
    let killed_at = Instant::now();
    kill(&victim).await;

    wait_for(Duration::from_secs(20), "a replacement for the killed instance", || async {
        let list = containers_of(&owner, &app).await;
        list.iter()
            .any(|c| {
                is_running(c) && c.id.as_deref() != Some(&old_id) && c.names.as_ref().unwrap()[0].ends_with(&victim)
            })
            .then_some(())
    })
    .await;
    println!("replacement running {:?} after the kill", killed_at.elapsed());

    let events = engine.handle.events(Some(&app), 50).await.expect("events");
    for e in events.iter().take(4).rev() {
        println!("{} {} {} {}", e.at, e.kind, e.reason, e.details);
    }
    let replaced = events.iter().find(|e| e.kind == "instance.replaced").expect("an instance.replaced event");
    assert!(replaced.reason.contains(&victim) && replaced.reason.contains("137"), "{}", replaced.reason);
    assert!(events.iter().any(|e| e.kind == "instance.started" && e.instance.as_deref() == Some(victim.as_str())));
    let view = engine.handle.get_app(&app).await.unwrap();
    assert_eq!(view.instances.iter().find(|i| i.name == victim).unwrap().restarts, 1);
    engine.handle.delete(&app).await.expect("delete");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_looping_instance_backs_off_with_growing_delays() {
    ensure_demo_image().await;
    let engine = TestEngine::start().await;
    let app = unique_name("t-crash");
    let spec = format!(
        "name: {app}\nimage: {DEMO_IMAGE}\nreplicas: 1\ncommand: [\"/demo\", \"--port\", \"8080\", \"--exit-after-ms\", \"100\"]\n"
    );
    engine.handle.apply(&spec, false).await.expect("apply");

    // Collect the start times of the slot until at least 4 starts happened.
    let starts = wait_for(Duration::from_secs(45), "4 starts of the crashing instance", || async {
        let events = engine.handle.events(Some(&app), 200).await.unwrap();
        let mut starts: Vec<String> =
            events.iter().filter(|e| e.kind == "instance.started").map(|e| e.at.clone()).collect();
        starts.reverse();
        (starts.len() >= 4).then_some(starts)
    })
    .await;
    let at: Vec<chrono::DateTime<chrono::FixedOffset>> =
        starts.iter().map(|s| chrono::DateTime::parse_from_rfc3339(s).unwrap()).collect();
    let gaps: Vec<i64> = at.windows(2).map(|w| (w[1] - w[0]).num_milliseconds()).collect();
    println!("gaps between starts: {gaps:?} ms");
    // The first crash is replaced at once; then the waits are 1 s, 2 s, …: each gap is at least its wait (plus the
    // container's short life and the start), so the gaps after the 2nd and 3rd crash respect and show the doubling.
    assert!(gaps[1] >= 1000 && gaps[2] >= 2000 && gaps[2] > gaps[1], "delays did not grow: {gaps:?}");

    let events = engine.handle.events(Some(&app), 200).await.unwrap();
    for wait in ["waiting 1s", "waiting 2s"] {
        assert!(
            events.iter().any(|e| e.kind == "instance.backoff" && e.reason.contains(wait)),
            "no backoff event saying {wait:?}"
        );
    }
    // The state says so while it waits: crashed with a next-restart message, restarts counted.
    let view = wait_for(Duration::from_secs(30), "the crashed state with a restart countdown", || async {
        let v = engine.handle.get_app(&app).await.unwrap();
        let i = &v.instances[0];
        (i.state == InstanceState::Crashed && i.message.contains("next restart")).then_some(v)
    })
    .await;
    assert!(view.instances[0].restarts >= 2, "{:?}", view.instances[0]);
    engine.handle.delete(&app).await.expect("delete");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_engine_adopts_its_containers_without_duplicates() {
    ensure_demo_image().await;
    let engine = TestEngine::start().await;
    let app = unique_name("t-adopt");
    engine.handle.apply(&demo_spec(&app, 3), false).await.expect("apply");
    let owner = engine.handle.owner().to_string();
    wait_for(GENEROUS, "3 running", || async { (running_names(&owner, &app).await.len() == 3).then_some(()) }).await;
    let ids_before: Vec<String> = containers_of(&owner, &app).await.into_iter().filter_map(|c| c.id).collect();
    engine.handle.shutdown().await;

    let restarted = EngineGuard(start_engine(&engine.data_dir).await);
    let handle = &restarted.0;
    assert_eq!(handle.owner(), owner, "the engine id survives a restart");
    // Give the new engine several passes to do anything wrong.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let ids_after: Vec<String> = containers_of(&owner, &app).await.into_iter().filter_map(|c| c.id).collect();
    assert_eq!(ids_after, ids_before, "containers were not adopted as they were");
    let events = handle.events(Some(&app), 100).await.unwrap();
    let after_restart: Vec<_> = events
        .iter()
        .filter(|e| e.kind.as_str().starts_with("instance.started") || e.kind.as_str().contains("removed"))
        .collect();
    assert_eq!(after_restart.len(), 3, "only the 3 original starts are logged: {after_restart:?}");
    let view = handle.get_app(&app).await.unwrap();
    assert_eq!(view.ready, 3);
    handle.delete(&app).await.expect("delete");
    handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scale_up_and_down_then_delete_leaves_nothing_behind() {
    ensure_demo_image().await;
    let engine = TestEngine::start().await;
    let app = unique_name("t-scale");
    let mut spec = demo_spec(&app, 3);
    spec.push_str("volumes:\n  - { source: data, target: /data }\n");
    engine.handle.apply(&spec, false).await.expect("apply");
    let owner = engine.handle.owner().to_string();
    for n in [3usize, 5, 1] {
        if n != 3 {
            engine.handle.scale(&app, n as u32).await.expect("scale");
        }
        wait_for(GENEROUS, &format!("{n} containers"), || async {
            let all = containers_of(&owner, &app).await;
            (all.len() == n && all.iter().all(is_running)).then_some(())
        })
        .await;
    }
    assert_eq!(running_names(&owner, &app).await, vec![format!("{app}-1")], "scale down removes the highest first");
    let (networks, volumes) = app_resources(&owner, &app).await;
    assert_eq!(networks, vec![format!("crane-{app}")]);
    assert_eq!(volumes.len(), 1, "{volumes:?}");

    engine.handle.delete(&app).await.expect("delete");
    assert!(containers_of(&owner, &app).await.is_empty(), "containers remain after delete");
    let (networks, volumes) = app_resources(&owner, &app).await;
    assert!(networks.is_empty() && volumes.is_empty(), "left behind: {networks:?} {volumes:?}");
    assert!(matches!(engine.handle.get_app(&app).await, Err(EngineError::NotFound(_))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_image_fails_fast_and_leaves_nothing() {
    let engine = TestEngine::start().await;
    let app = unique_name("t-noimg");
    let spec = format!("name: {app}\nimage: crane-no-such-image-{app}:1\nreplicas: 2\n");
    let started = Instant::now();
    let err = engine.handle.apply(&spec, false).await.expect_err("a missing image must fail");
    assert!(started.elapsed() < Duration::from_secs(30), "took {:?}", started.elapsed());
    assert!(matches!(err, EngineError::ImageUnavailable(_)), "{err:?}");
    assert!(err.to_string().contains("demo-image"), "the message names the fix: {err}");
    assert!(matches!(engine.handle.get_app(&app).await, Err(EngineError::NotFound(_))));
    assert!(containers_of(engine.handle.owner(), &app).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_public_port_in_use_is_refused_and_nothing_is_created() {
    ensure_demo_image().await;
    let engine = TestEngine::start().await;
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let app = unique_name("t-port");
    let spec = format!(
        "name: {app}\nimage: {DEMO_IMAGE}\nreplicas: 1\ncommand: [\"/demo\", \"--port\", \"8080\"]\nports:\n  - container: 8080\n    public: {port}\n"
    );
    let err = engine.handle.apply(&spec, false).await.expect_err("port in use must fail");
    assert!(matches!(err, EngineError::PortInUse(_)), "{err:?}");
    assert!(err.to_string().contains(&port.to_string()));
    assert!(matches!(engine.handle.get_app(&app).await, Err(EngineError::NotFound(_))));
    assert!(containers_of(engine.handle.owner(), &app).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn taken_names_are_refused_with_the_fix() {
    ensure_demo_image().await;
    let engine = TestEngine::start().await;
    let app = unique_name("t-name");
    engine.handle.apply(&demo_spec(&app, 1), true).await.expect("create");
    let err = engine.handle.apply(&demo_spec(&app, 2), true).await.expect_err("create twice must fail");
    assert!(matches!(err, EngineError::Conflict(_)), "{err:?}");
    assert!(err.to_string().contains("already exists"));
    engine.handle.delete(&app).await.expect("delete");

    // A container Crane does not manage holds the name of the first instance.
    let other = TestEngine::start().await;
    let app2 = unique_name("t-name2");
    other.handle.apply(&demo_spec(&app2, 1), false).await.expect("other engine's app");
    let err = engine.handle.apply(&demo_spec(&app2, 1), false).await.expect_err("name held by another owner");
    assert!(matches!(err, EngineError::Conflict(_)), "{err:?}");
    assert!(err.to_string().contains(&app2) && err.to_string().contains("does not manage"), "{err}");
    assert!(matches!(engine.handle.get_app(&app2).await, Err(EngineError::NotFound(_))), "nothing half-created");
    other.handle.delete(&app2).await.expect("delete");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_specs_list_every_problem_with_its_line() {
    let engine = TestEngine::start().await;
    let err = engine.handle.apply("name: Bad_Name\nimage: crane-demo:0.1.0\nreplicas: 3\nreplica: 2\n", false).await;
    let Err(EngineError::InvalidSpec(diags)) = err else { panic!("expected InvalidSpec, got {err:?}") };
    assert!(diags.iter().any(|d| d.line == 4 && d.path.contains("replica")), "{diags:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_of_an_app_merge_its_instances() {
    ensure_demo_image().await;
    let engine = TestEngine::start().await;
    let app = unique_name("t-logs");
    engine.handle.apply(&demo_spec(&app, 2), false).await.expect("apply");
    let owner = engine.handle.owner().to_string();
    wait_for(GENEROUS, "2 running", || async { (running_names(&owner, &app).await.len() == 2).then_some(()) }).await;
    use futures_util::StreamExt;
    let lines = wait_for(Duration::from_secs(20), "startup lines of both instances", || async {
        let lines: Vec<_> = engine.handle.logs(&app, false, Some(20)).await.unwrap().collect().await;
        let instances: std::collections::BTreeSet<_> = lines.iter().map(|l| l.instance.clone()).collect();
        (instances.len() == 2).then_some(lines)
    })
    .await;
    assert!(lines.iter().all(|l| l.timestamp.is_some()));
    engine.handle.delete(&app).await.expect("delete");
}

/// `heal.standby`: each ready instance gets a paused copy (`<app>-<index>-s<revision>`), which is not an instance;
/// a killed instance is replaced by unpausing its copy (same container id under the slot's name), a new copy is
/// made, and scaling down or deleting the app removes the copies too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_instance_is_replaced_by_its_paused_standby() {
    ensure_demo_image().await;
    let engine = TestEngine::start().await;
    let app = unique_name("t-standby");
    let spec = format!(
        "{}health:\n  readiness: {{ type: http, path: /ready, period: 200ms }}\nheal: {{ standby: true }}\n",
        demo_spec(&app, 2)
    );
    engine.handle.apply(&spec, false).await.expect("apply");
    let owner = engine.handle.owner().to_string();
    let paused = |c: &bollard::models::ContainerSummary| {
        c.state.as_ref().map(|s| format!("{s:?}").to_lowercase().contains("paused")).unwrap_or(false)
    };
    let name_of = |c: &bollard::models::ContainerSummary| {
        c.names.as_ref().and_then(|n| n.first()).map(|n| n.trim_start_matches('/').to_string()).unwrap_or_default()
    };
    let standby_ids = |wanted: Vec<String>| {
        let owner = owner.clone();
        let app = app.clone();
        async move {
            let all = containers_of(&owner, &app).await;
            let mut ids = Vec::new();
            for name in &wanted {
                let c = all.iter().find(|c| &name_of(c) == name && paused(c))?;
                ids.push(c.id.clone().unwrap_or_default());
            }
            Some(ids)
        }
    };
    let waiting = vec![format!("{app}-1-s1"), format!("{app}-2-s1")];
    let ids = wait_for(GENEROUS, "two paused standbys", || standby_ids(waiting.clone())).await;

    // Standbys are not instances: the view lists the two instances only.
    let view = app_until(&engine, &app, GENEROUS, "2 ready, 2 standbys", |v| v.ready == 2 && v.standbys == 2).await;
    assert_eq!(view.instances.len(), 2, "{:?}", view.instances.iter().map(|i| &i.name).collect::<Vec<_>>());

    // Kill instance 1: its standby takes the slot (same container, renamed and unpaused).
    kill(&format!("{app}-1")).await;
    let docker = docker().await;
    wait_for(GENEROUS, "the standby serving as instance 1", || async {
        let c = docker.inspect_container(&format!("{app}-1"), None::<InspectContainerOptions>).await.ok()?;
        let state = c.state?;
        (c.id.as_deref() == Some(ids[0].as_str()) && state.running == Some(true) && state.paused == Some(false))
            .then_some(())
    })
    .await;
    // The start's event is written once the promotion returned, a moment after Docker shows it.
    let (promoted, events) = wait_for(GENEROUS, "the event of the start by a standby", || async {
        let events = engine.handle.events(Some(&app), 200).await.ok()?;
        let promoted = events
            .iter()
            .find(|e| e.kind == crane_api::EventKind::InstanceStarted && e.details.contains("\"standby\":true"))?
            .clone();
        Some((promoted, events))
    })
    .await;
    assert!(promoted.reason.contains("takes over"), "{}", promoted.reason);
    assert!(events.iter().any(|e| e.kind == crane_api::EventKind::InstanceStandbyReady));
    // The slot gets a new standby, and the app serves again with two ready instances.
    let again = wait_for(GENEROUS, "a new standby for slot 1", || standby_ids(vec![format!("{app}-1-s1")])).await;
    assert_ne!(again[0], ids[0]);
    app_until(&engine, &app, GENEROUS, "2 ready again", |v| v.ready == 2).await;

    // Scaling down removes the standby of the slot that goes; deleting the app removes the rest.
    engine.handle.scale(&app, 1).await.expect("scale");
    wait_for(GENEROUS, "the standby of slot 2 removed", || async {
        let all = containers_of(&owner, &app).await;
        (!all.iter().any(|c| name_of(c).starts_with(&format!("{app}-2")))).then_some(())
    })
    .await;
    engine.handle.delete(&app).await.expect("delete");
    wait_for(GENEROUS, "nothing left of the app", || async {
        containers_of(&owner, &app).await.is_empty().then_some(())
    })
    .await;
}
