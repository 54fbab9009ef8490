//! End-to-end: the shipped self-healing lab on the real Docker engine. It loads (three instances of the demo image
//! behind the load balancer), its first step turns green once they are ready, its second once a container killed
//! behind Crane's back (`docker kill`) was replaced, and its reset leaves no container, network or volume of the lab.

use std::collections::HashMap;
use std::time::Duration;

use bollard::query_parameters::{
    KillContainerOptionsBuilder, ListContainersOptionsBuilder, ListNetworksOptionsBuilder, ListVolumesOptionsBuilder,
};
use crane_api::{EventKind, LabSource};
use crane_e2e::*;

const GENEROUS: Duration = Duration::from_secs(90);

/// Names of the Docker objects of this engine (`io.crane.owner`) that belong to `app`.
async fn objects_of(owner: &str, app: &str) -> Vec<String> {
    let docker = docker().await;
    let owner_label = format!("io.crane.owner={owner}");
    let filters: HashMap<&str, Vec<&str>> = HashMap::from([("label", vec![owner_label.as_str()])]);
    let mut out = Vec::new();
    let containers = docker
        .list_containers(Some(ListContainersOptionsBuilder::new().all(true).filters(&filters).build()))
        .await
        .expect("list containers");
    for c in containers {
        if c.labels.unwrap_or_default().get("io.crane.app").map(String::as_str) == Some(app) {
            out.push(format!("container {:?}", c.names.unwrap_or_default()));
        }
    }
    let networks = docker
        .list_networks(Some(ListNetworksOptionsBuilder::new().filters(&filters).build()))
        .await
        .expect("networks");
    for n in networks {
        let name = n.name.unwrap_or_default();
        if name == format!("crane-{app}") {
            out.push(format!("network {name}"));
        }
    }
    let volumes =
        docker.list_volumes(Some(ListVolumesOptionsBuilder::new().filters(&filters).build())).await.expect("volumes");
    for v in volumes.volumes.unwrap_or_default() {
        if v.name.starts_with(&format!("crane-{app}_")) {
            out.push(format!("volume {}", v.name));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_self_healing_lab_loads_turns_green_after_a_kill_and_resets_to_nothing() {
    ensure_demo_image().await;
    let engine = TestEngine::start().await;
    let handle = &engine.handle;
    let owner = handle.owner().to_string();

    let view = handle.lab_load(&LabSource::Shipped { id: "self-healing".into() }).await.expect("the lab loads");
    assert_eq!(view.created.apps, ["heal-web"]);
    assert!(!view.steps[0].done, "nothing is ready the moment the lab is loaded: {view:#?}");

    let status = wait_for(GENEROUS, "step 1 (three ready instances) to turn green", || async {
        handle.lab_status(None).await.ok().filter(|s| s.steps[0].done)
    })
    .await;
    assert!(!status.steps[1].done, "step 2 waits for a kill: {status:#?}");

    // The expected action: kill an instance behind Crane's back.
    let docker = docker().await;
    docker
        .kill_container("heal-web-2", Some(KillContainerOptionsBuilder::new().signal("SIGKILL").build()))
        .await
        .expect("docker kill heal-web-2");
    let status = wait_for(GENEROUS, "step 2 (the kill recorded and three ready again) to turn green", || async {
        handle.lab_status(None).await.ok().filter(|s| s.steps[1].done)
    })
    .await;
    assert_eq!(status.steps[1].checks[1].observed, "3 of 3 ready", "{status:#?}");
    let events = handle.events(None, 1000).await.unwrap();
    let passed: Vec<_> = events.iter().filter(|e| e.kind == EventKind::LabCheckPassed).collect();
    assert_eq!(passed.len(), 2, "one lab.check_passed per step: {passed:#?}");

    let reset = handle.lab_reset(Some("self-healing")).await.expect("reset");
    assert_eq!(reset.removed_apps, ["heal-web"]);
    let left = wait_for(Duration::from_secs(30), "the lab's Docker objects to be gone", || async {
        let left = objects_of(&owner, "heal-web").await;
        left.is_empty().then_some(left)
    })
    .await;
    assert!(left.is_empty());
    assert!(handle.list_apps().await.unwrap().is_empty());
    assert!(handle.lab_list().await.unwrap().iter().all(|l| !l.loaded));
}
