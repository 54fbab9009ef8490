//! Helpers shared by the integration tests: connecting to the real engine (failing loudly when it is absent),
//! the demo image, unique names, and a guard that removes everything a test created even when the test fails.

#![allow(dead_code)]

use std::collections::HashMap;
use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use bollard::query_parameters::{
    ListContainersOptionsBuilder, ListNetworksOptionsBuilder, ListVolumesOptionsBuilder, RemoveContainerOptionsBuilder,
};
use crane_core::ports::InstanceRequest;
use crane_core::spec::AppSpec;
use crane_docker::{build_demo_image, demo_image_present, DockerRuntime, DEMO_IMAGE};

/// A random lowercase hex string (std only: `RandomState` is seeded randomly per process and per instance).
pub fn random_hex() -> String {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos());
    format!("{:010x}", hasher.finish() & 0xff_ffff_ffff)
}

/// A unique app name (valid spec name: starts with a letter, lowercase, short).
pub fn unique_app() -> String {
    format!("t{}", random_hex())
}

/// Connects to the real engine or fails the test with instructions.
pub async fn runtime() -> DockerRuntime {
    match DockerRuntime::connect().await {
        Ok(rt) => rt,
        Err(e) => panic!(
            "these tests need a running Docker engine (or Podman's socket via DOCKER_HOST) and could not reach one: \
             {e}"
        ),
    }
}

/// Makes sure the demo image of this build exists (building it if needed).
pub async fn demo_image(rt: &DockerRuntime) {
    if !demo_image_present(rt.docker()).await {
        build_demo_image(rt.docker(), &mut |_| {}).await.expect("building the demo image");
    }
}

/// A spec for the demo image, from JSON (the same field names as YAML).
pub fn demo_spec(app: &str, extra: serde_json::Value) -> AppSpec {
    let mut value = serde_json::json!({ "name": app, "image": DEMO_IMAGE });
    if let (Some(base), Some(extra)) = (value.as_object_mut(), extra.as_object()) {
        for (k, v) in extra {
            base.insert(k.clone(), v.clone());
        }
    }
    serde_json::from_value(value).expect("valid spec")
}

/// An instance request for `spec`.
pub fn request(spec: &AppSpec, index: u32, owner: &str) -> InstanceRequest {
    InstanceRequest { app: spec.name.clone(), index, revision: 1, spec: spec.clone(), owner: owner.to_string() }
}

/// Removes every container, network and volume carrying `io.crane.owner=<owner>` when dropped, so a failing test
/// leaves nothing behind. Runs on its own thread with its own tokio runtime (Drop cannot await).
pub struct Cleanup {
    /// The owner label value of this test.
    pub owner: String,
}

impl Cleanup {
    /// A guard with a fresh unique owner.
    pub fn new() -> Cleanup {
        Cleanup { owner: format!("test-{}", random_hex()) }
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let owner = self.owner.clone();
        let done = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(remove_everything_of(&owner));
        })
        .join();
        if done.is_err() {
            eprintln!("cleanup of test owner {} panicked", self.owner);
        }
    }
}

async fn remove_everything_of(owner: &str) {
    let Ok(rt) = DockerRuntime::connect().await else {
        return;
    };
    let docker = rt.docker();
    let filters = HashMap::from([("label", vec![format!("io.crane.owner={owner}")])]);
    if let Ok(containers) =
        docker.list_containers(Some(ListContainersOptionsBuilder::new().all(true).filters(&filters).build())).await
    {
        for c in containers {
            if let Some(id) = c.id {
                let _ = docker
                    .remove_container(&id, Some(RemoveContainerOptionsBuilder::new().force(true).v(true).build()))
                    .await;
            }
        }
    }
    if let Ok(networks) = docker.list_networks(Some(ListNetworksOptionsBuilder::new().filters(&filters).build())).await
    {
        for n in networks {
            if let Some(id) = n.id {
                let _ = docker.remove_network(&id).await;
            }
        }
    }
    if let Ok(volumes) = docker.list_volumes(Some(ListVolumesOptionsBuilder::new().filters(&filters).build())).await {
        for v in volumes.volumes.unwrap_or_default() {
            let _ = docker.remove_volume(&v.name, None::<bollard::query_parameters::RemoveVolumeOptions>).await;
        }
    }
}

/// Polls `check` every 100 ms until it returns `Some` or `timeout` passes.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        if Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A minimal blocking HTTP GET (the demo speaks HTTP/1.1); returns the raw response text.
pub fn http_get(ip: IpAddr, port: u16, path: &str) -> std::io::Result<String> {
    let mut stream = TcpStream::connect_timeout(&SocketAddr::new(ip, port), Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")?;
    let mut text = String::new();
    stream.read_to_string(&mut text)?;
    Ok(text)
}
