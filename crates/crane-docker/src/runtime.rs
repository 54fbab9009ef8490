//! [`DockerRuntime`]: crane-core's [`Runtime`] over the Docker Engine API (bollard).
//!
//! Everything Crane creates carries `io.crane.managed=true` and `io.crane.owner=<owner>`; every lookup filters on
//! both, so two engines sharing one Docker daemon (tests, classrooms) never touch each other's objects, and nothing a
//! user made by hand is adopted or deleted. A name already taken by something that is not ours is a
//! [`RuntimeError::NameConflict`], never a silent takeover.
//!
//! The API version is negotiated on first use: bollard speaks a newer API than Docker 20.10 (1.41) accepts, and an
//! old engine refuses every request made with a too-new version, so the adapter asks the engine's `/version` without
//! a version prefix and downgrades to what the engine supports.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use bollard::models::{
    ContainerCreateBody, ContainerSummary, ContainerSummaryStateEnum, EndpointSettings, EventMessage, HostConfig,
    HostConfigLogConfig, Mount, MountType, NetworkCreateRequest, NetworkingConfig, RestartPolicy,
    RestartPolicyNameEnum, VolumeCreateRequest,
};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, CreateImageOptionsBuilder, EventsOptionsBuilder, InspectContainerOptions,
    ListContainersOptionsBuilder, ListNetworksOptionsBuilder, ListVolumesOptionsBuilder, LogsOptionsBuilder,
    RemoveContainerOptionsBuilder, RemoveVolumeOptionsBuilder, RenameContainerOptionsBuilder, StartContainerOptions,
    StopContainerOptionsBuilder,
};
use bollard::{BollardRequest, Docker};
use crane_core::model::{labels, ContainerState, Millis, ObservedInstance};
use crane_core::ports::{ExecOutput, InstanceDetails, InstanceRequest, LogLine, ResourceSample, Runtime, RuntimeEvent};
use crane_core::safety;
use crane_core::spec::{AppSpec, DROPPED_CAPABILITIES};
use futures_core::stream::BoxStream;
use futures_util::{StreamExt, TryStreamExt};

use crate::error::{self, Result, RuntimeError};

/// How long the first contact with the engine may take before it counts as unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Upper bound of a single (non-streaming) API request; streams are bounded only until their headers arrive.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// How long `ensure_image` may spend pulling before it gives up.
const PULL_TIMEOUT: Duration = Duration::from_secs(10);
/// Grace period between SIGTERM and SIGKILL when an instance is removed.
const STOP_GRACE_SECONDS: i32 = 2;
/// How much of an exec's output is kept.
const EXEC_OUTPUT_LIMIT: usize = 4096;
/// Value of the node label for containers on the local engine.
const LOCAL_NODE: &str = "local";

/// The Docker (or Podman) engine, as a [`Runtime`].
///
/// Construction does no I/O ([`DockerRuntime::new`]); the first call negotiates the API version and fails with
/// [`RuntimeError::Unreachable`] within [`CONNECT_TIMEOUT`] when the engine does not answer.
/// [`DockerRuntime::connect`] does both at once.
#[derive(Debug)]
pub struct DockerRuntime {
    /// The bollard client (cheap to clone: it shares one connection pool).
    docker: Docker,
    /// Where the engine is (`unix:///var/run/docker.sock`, `tcp://…`), for messages.
    endpoint: String,
    /// Set once the API version has been negotiated; retried on the next call after a failure.
    negotiated: tokio::sync::OnceCell<()>,
    /// Serializes network creation: Docker 20.10 happily creates two networks with the same name when asked twice
    /// at once, and a duplicate name makes every later lookup ambiguous.
    network_lock: tokio::sync::Mutex<()>,
    /// Networks (`owner/app`) known to exist, so starting an instance does not list networks every time; forgotten
    /// when the app's resources are removed or a create reports the network missing.
    known_networks: std::sync::Mutex<std::collections::HashSet<String>>,
}

impl DockerRuntime {
    /// A runtime for the engine named by `DOCKER_HOST`, else the first local socket found (Docker's, then
    /// Podman's rootless and rootful ones). No I/O beyond checking the socket file exists.
    pub fn new() -> Result<DockerRuntime> {
        DockerRuntime::with_host(&default_host()?)
    }

    /// A runtime for the engine at `host` (`unix:///path`, `tcp://host:port` or `http://host:port`). No I/O.
    pub fn with_host(host: &str) -> Result<DockerRuntime> {
        let docker = Docker::connect_with_host(host)
            .map_err(|e| RuntimeError::Unreachable(format!("{host}: {}", error::describe(&e))))?
            .with_timeout(REQUEST_TIMEOUT)
            .with_request_modifier(unversioned_version_probe);
        Ok(DockerRuntime {
            docker,
            endpoint: host.to_string(),
            negotiated: tokio::sync::OnceCell::new(),
            network_lock: tokio::sync::Mutex::new(()),
            known_networks: std::sync::Mutex::default(),
        })
    }

    /// Connects to the default engine (see [`DockerRuntime::new`]) and negotiates the API version; an engine that
    /// does not answer within two seconds is [`RuntimeError::Unreachable`].
    pub async fn connect() -> Result<DockerRuntime> {
        let runtime = DockerRuntime::new()?;
        runtime.ready().await?;
        Ok(runtime)
    }

    /// Like [`DockerRuntime::connect`], for the engine at `host`.
    pub async fn connect_with_host(host: &str) -> Result<DockerRuntime> {
        let runtime = DockerRuntime::with_host(host)?;
        runtime.ready().await?;
        Ok(runtime)
    }

    /// The bollard client, for callers who need more than the [`Runtime`] trait (stats, exec, image builds). Call
    /// [`DockerRuntime::ready`] (or construct with [`DockerRuntime::connect`]) first so the API version is negotiated.
    pub fn docker(&self) -> &Docker {
        &self.docker
    }

    /// Where the engine is, as given or found (`unix:///var/run/docker.sock`).
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Negotiates the API version once; later calls return at once. Fails with [`RuntimeError::Unreachable`] within
    /// two seconds when the engine does not answer.
    pub async fn ready(&self) -> Result<()> {
        self.negotiated
            .get_or_try_init(|| async {
                match tokio::time::timeout(CONNECT_TIMEOUT, self.docker.clone().negotiate_version()).await {
                    Err(_) => Err(RuntimeError::Unreachable(format!(
                        "{} did not answer within {} s",
                        self.endpoint,
                        CONNECT_TIMEOUT.as_secs()
                    ))),
                    Ok(Err(e)) => Err(RuntimeError::Unreachable(format!("{}: {}", self.endpoint, error::describe(&e)))),
                    Ok(Ok(_)) => Ok(()),
                }
            })
            .await
            .map(|_| ())
    }

    /// The API version in use (after negotiation), e.g. `1.41`.
    pub fn api_version(&self) -> String {
        self.docker.client_version().to_string()
    }

    /// Finds networks named exactly `name` (Docker's name filter matches substrings).
    async fn networks_named(&self, name: &str) -> Result<Vec<bollard::models::Network>> {
        let filters = HashMap::from([("name", vec![name])]);
        let networks = self
            .docker
            .list_networks(Some(ListNetworksOptionsBuilder::new().filters(&filters).build()))
            .await
            .map_err(|e| error::map(&format!("listing networks named {name}"), e))?;
        Ok(networks.into_iter().filter(|n| n.name.as_deref() == Some(name)).collect())
    }

    /// Creates the named volume `name` for `app` unless it exists; a volume of that name that is not this app's
    /// (another owner's, or labelled for another app) is a conflict, never shared.
    async fn ensure_volume(&self, name: &str, app: &str, owner: &str) -> Result<()> {
        match self.docker.inspect_volume(name).await {
            Ok(volume) => {
                if is_ours(Some(&volume.labels), owner)
                    && volume.labels.get(labels::APP).map(String::as_str) == Some(app)
                {
                    Ok(())
                } else {
                    Err(RuntimeError::NameConflict(name.to_string()))
                }
            }
            Err(e) if error::is_not_found(&e) => {
                let request = VolumeCreateRequest {
                    name: Some(name.to_string()),
                    labels: Some(resource_labels(app, owner)),
                    ..Default::default()
                };
                self.docker
                    .create_volume(request)
                    .await
                    .map(|_| ())
                    .map_err(|e| error::map(&format!("creating volume {name}"), e))
            }
            Err(e) => Err(error::map(&format!("inspecting volume {name}"), e)),
        }
    }

    /// Removes a container of ours that blocks `name`, or reports a conflict when the name belongs to someone else.
    async fn clear_name(&self, name: &str, owner: &str, revision: u64) -> Result<()> {
        match self.docker.inspect_container(name, None::<InspectContainerOptions>).await {
            Ok(existing) => {
                let labels = existing.config.and_then(|c| c.labels);
                if !is_ours(labels.as_ref(), owner) {
                    return Err(RuntimeError::NameConflict(name.to_string()));
                }
                let id = existing.id.as_deref().unwrap_or(name).to_string();
                let running = existing.state.and_then(|s| s.running).unwrap_or(false);
                let old_revision = labels.as_ref().and_then(|l| l.get(labels::REVISION)).cloned().unwrap_or_default();
                if running && old_revision != revision.to_string() {
                    // Moving a serving old revision aside is the planner's decision (`Start::displace`), carried out
                    // by the engine before this call; a running one here means the plan did not ask for it.
                    return Err(RuntimeError::Other(format!(
                        "{name} is held by a running instance of revision {old_revision}; it must be moved aside first"
                    )));
                }
                tracing::info!(container = name, "removing a leftover instance before recreating it");
                self.remove_instance(&id).await
            }
            Err(e) if error::is_not_found(&e) => Ok(()),
            Err(e) => Err(error::map(&format!("inspecting container {name}"), e)),
        }
    }

    /// Creates (not starts) the container of `req` under `name`: the instance's name, or a standby's (which has no
    /// network alias, so the slot's name resolves to the serving instance only; a promotion renames it, and Docker's
    /// DNS follows the name).
    async fn create_instance(&self, req: &InstanceRequest, name: &str, standby: bool) -> Result<String> {
        self.ready().await?;
        let name = name.to_string();
        let network_key = format!("{}/{}", req.owner, req.app);
        let known = self.known_networks.lock().unwrap().contains(&network_key);
        let network = if known { network_name(&req.app) } else { self.ensure_network(&req.app, &req.owner).await? };
        self.known_networks.lock().unwrap().insert(network_key.clone());
        for volume in &req.spec.volumes {
            if let Some(volume_name) = named_volume(&req.app, &volume.source) {
                self.ensure_volume(&volume_name, &req.app, &req.owner).await?;
            }
        }
        let mut body = container_body(req, &network)?;
        if standby {
            if let Some(endpoint) = body
                .networking_config
                .as_mut()
                .and_then(|n| n.endpoints_config.as_mut())
                .and_then(|e| e.get_mut(&network))
            {
                endpoint.aliases = None;
            }
        }
        let options = CreateContainerOptionsBuilder::new().name(&name).build();
        // Create first and deal with a taken name only when Docker says so: the common path costs one call.
        let mut attempt = 0;
        let created = loop {
            attempt += 1;
            match self.docker.create_container(Some(options.clone()), body.clone()).await {
                Ok(created) => break created,
                Err(e) if error::status_of(&e) == Some(409) && attempt == 1 => {
                    self.clear_name(&name, &req.owner, req.revision).await?;
                }
                Err(e) if error::is_not_found(&e) && error::describe(&e).contains("network") && attempt == 1 => {
                    // The network went away behind Crane's back: create it again.
                    self.known_networks.lock().unwrap().remove(&network_key);
                    self.ensure_network(&req.app, &req.owner).await?;
                    self.known_networks.lock().unwrap().insert(network_key.clone());
                }
                Err(e) if error::is_not_found(&e) => {
                    return Err(RuntimeError::ImageUnavailable {
                        image: req.spec.image.clone(),
                        reason: format!(
                            "it is not present locally ({}); build the demo image with `cranectl demo-image`, or \
                             `docker load` it",
                            error::describe(&e)
                        ),
                    });
                }
                Err(e) if error::status_of(&e) == Some(409) => {
                    return Err(RuntimeError::Other(format!(
                        "creating container {name}: the name was taken while Crane was creating it ({})",
                        error::describe(&e)
                    )));
                }
                Err(e) => return Err(error::map(&format!("creating container {name}"), e)),
            }
        };
        Ok(created.id)
    }

    /// Starts a created container; a failure removes it (nothing half-created stays behind).
    async fn start_created(&self, id: &str, name: &str) -> Result<String> {
        if let Err(e) = self.docker.start_container(id, None::<StartContainerOptions>).await {
            // Nothing half-created stays behind: a created-but-not-started container would look like an instance.
            self.discard(id).await;
            let text = error::describe(&e);
            if let Some(port) = port_in_use(&text) {
                return Err(RuntimeError::PortInUse(port));
            }
            return Err(error::map(&format!("starting container {name}"), e));
        }
        Ok(id.to_string())
    }

    /// Force-removes a container with its anonymous volumes; "already gone" and "already being removed" are not
    /// errors.
    async fn force_remove(&self, id: &str) -> Result<()> {
        let options = RemoveContainerOptionsBuilder::new().force(true).v(true).build();
        match self.docker.remove_container(id, Some(options)).await {
            Ok(()) => Ok(()),
            Err(e) if error::is_not_found(&e) => Ok(()),
            // Someone else is already removing it.
            Err(e) if error::status_of(&e) == Some(409) && error::describe(&e).contains("in progress") => Ok(()),
            Err(e) => Err(error::map(&format!("removing container {id}"), e)),
        }
    }

    /// Force-removes a container, ignoring "already gone"; used to undo a half-created instance.
    async fn discard(&self, id: &str) {
        let options = RemoveContainerOptionsBuilder::new().force(true).v(true).build();
        if let Err(e) = self.docker.remove_container(id, Some(options)).await {
            if !error::is_not_found(&e) {
                tracing::warn!(container = id, error = %error::describe(&e), "could not remove a failed instance");
            }
        }
    }
}

#[async_trait]
impl Runtime for DockerRuntime {
    async fn list_instances(&self, owner: &str) -> Result<Vec<ObservedInstance>> {
        self.ready().await?;
        let filters = HashMap::from([("label", owner_filters(owner))]);
        let options = ListContainersOptionsBuilder::new().all(true).filters(&filters).build();
        let containers =
            self.docker.list_containers(Some(options)).await.map_err(|e| error::map("listing containers", e))?;
        let mut instances = Vec::with_capacity(containers.len());
        for summary in containers {
            let mut instance = observed_from_summary(&summary);
            // The list API only words the exit code ("Exited (137) 2 seconds ago"); ask for it when that fails.
            if instance.state == ContainerState::Exited && instance.exit_code.is_none() {
                if let Ok(details) = self.docker.inspect_container(&instance.id, None::<InspectContainerOptions>).await
                {
                    instance.exit_code = details.state.and_then(|s| s.exit_code);
                }
            }
            instances.push(instance);
        }
        instances.sort_by(|a, b| (&a.app, a.index, &a.id).cmp(&(&b.app, b.index, &b.id)));
        Ok(instances)
    }

    async fn ensure_image(&self, image: &str) -> Result<()> {
        self.ready().await?;
        match self.docker.inspect_image(image).await {
            Ok(_) => return Ok(()),
            Err(e) if error::is_not_found(&e) => {}
            Err(e) => return Err(error::map(&format!("inspecting image {image}"), e)),
        }
        let (from_image, tag) = split_reference(image);
        let options = CreateImageOptionsBuilder::new().from_image(&from_image).tag(&tag).build();
        let pull = async {
            let mut stream = self.docker.create_image(Some(options), None, None);
            while let Some(item) = stream.next().await {
                let info = item.map_err(|e| error::describe(&e))?;
                if let Some(detail) = info.error_detail {
                    return Err(detail.message.unwrap_or_else(|| "the pull failed".to_string()));
                }
            }
            Ok::<(), String>(())
        };
        let why = match tokio::time::timeout(PULL_TIMEOUT, pull).await {
            Ok(Ok(())) => match self.docker.inspect_image(image).await {
                Ok(_) => return Ok(()),
                Err(e) => error::describe(&e),
            },
            Ok(Err(why)) => why,
            Err(_) => format!("no answer from the registry within {} s", PULL_TIMEOUT.as_secs()),
        };
        Err(RuntimeError::ImageUnavailable {
            image: image.to_string(),
            reason: format!(
                "it is not present locally and could not be pulled ({why}); build the demo image with \
                 `cranectl demo-image`, or `docker load` it"
            ),
        })
    }

    async fn ensure_network(&self, app: &str, owner: &str) -> Result<String> {
        self.ready().await?;
        let name = network_name(app);
        // Known from an earlier call: no round trip (a heal is timed). A network removed behind Crane's back is
        // found by the create that needs it (`start_instance` then makes it again).
        let key = format!("{owner}/{app}");
        if self.known_networks.lock().unwrap().contains(&key) {
            return Ok(name);
        }
        let _guard = self.network_lock.lock().await;
        let existing = self.networks_named(&name).await?;
        if existing.iter().any(|n| !is_ours(n.labels.as_ref(), owner)) {
            return Err(RuntimeError::NameConflict(name));
        }
        if existing.is_empty() {
            let request = NetworkCreateRequest {
                name: name.clone(),
                driver: Some("bridge".to_string()),
                labels: Some(resource_labels(app, owner)),
                ..Default::default()
            };
            match self.docker.create_network(request).await {
                Ok(_) => {}
                // A newer engine refuses duplicates itself; another process won the race, which is fine.
                Err(e) if error::status_of(&e) == Some(409) => {}
                Err(e) => return Err(error::map(&format!("creating network {name}"), e)),
            }
            // Another engine process with the same owner may have created one at the same moment (old engines
            // allow duplicate names): keep the one with the smallest id, drop the others.
            let mut ours = self.networks_named(&name).await?;
            ours.sort_by(|a, b| a.id.cmp(&b.id));
            for extra in ours.iter().skip(1) {
                if let Some(id) = &extra.id {
                    let _ = self.docker.remove_network(id).await;
                }
            }
        }
        self.known_networks.lock().unwrap().insert(key);
        Ok(name)
    }

    async fn remove_app_resources(&self, app: &str, owner: &str) -> Result<Vec<String>> {
        self.ready().await?;
        self.known_networks.lock().unwrap().remove(&format!("{owner}/{app}"));
        let mut label_filters = owner_filters(owner);
        label_filters.push(format!("{}={app}", labels::APP));
        let filters = HashMap::from([("label", label_filters)]);
        let networks = self
            .docker
            .list_networks(Some(ListNetworksOptionsBuilder::new().filters(&filters).build()))
            .await
            .map_err(|e| error::map(&format!("listing networks of {app}"), e))?;
        for network in networks {
            let Some(id) = network.id else { continue };
            let name = network.name.unwrap_or_else(|| id.clone());
            match self.docker.remove_network(&id).await {
                Ok(()) => {}
                Err(e) if error::is_not_found(&e) => {}
                Err(e) => return Err(error::map(&format!("removing network {name}"), e)),
            }
        }
        let volumes = self
            .docker
            .list_volumes(Some(ListVolumesOptionsBuilder::new().filters(&filters).build()))
            .await
            .map_err(|e| error::map(&format!("listing volumes of {app}"), e))?;
        let mut kept = Vec::new();
        for volume in volumes.volumes.unwrap_or_default() {
            // Only names this version gives the app's volumes: a volume of the older naming scheme may hold data
            // another app shared by accident, so it is reported, not deleted.
            if volume_owner(&volume.name).is_none_or(|(named_for, _)| named_for != app) {
                kept.push(volume.name);
                continue;
            }
            let options = RemoveVolumeOptionsBuilder::new().force(false).build();
            match self.docker.remove_volume(&volume.name, Some(options)).await {
                Ok(()) => {}
                Err(e) if error::is_not_found(&e) => {}
                Err(e) => return Err(error::map(&format!("removing volume {}", volume.name), e)),
            }
        }
        kept.sort();
        Ok(kept)
    }

    async fn list_app_resources(&self, owner: &str) -> Result<std::collections::BTreeSet<String>> {
        self.ready().await?;
        let filters = HashMap::from([("label", owner_filters(owner))]);
        let networks = self
            .docker
            .list_networks(Some(ListNetworksOptionsBuilder::new().filters(&filters).build()))
            .await
            .map_err(|e| error::map("listing networks", e))?;
        let volumes = self
            .docker
            .list_volumes(Some(ListVolumesOptionsBuilder::new().filters(&filters).build()))
            .await
            .map_err(|e| error::map("listing volumes", e))?;
        let app_of = |labels: Option<&HashMap<String, String>>| labels.and_then(|l| l.get(labels::APP)).cloned();
        // A volume of the older naming scheme is never removed by `remove_app_resources` (it is reported instead),
        // so it does not make its app an orphan to clean up again and again.
        let removable = |v: &bollard::models::Volume| {
            app_of(Some(&v.labels)).filter(|app| volume_owner(&v.name).is_some_and(|(named_for, _)| named_for == app))
        };
        Ok(networks
            .iter()
            .filter_map(|n| app_of(n.labels.as_ref()))
            .chain(volumes.volumes.unwrap_or_default().iter().filter_map(removable))
            .collect())
    }

    async fn start_instance(&self, req: &InstanceRequest) -> Result<String> {
        let name = instance_name(&req.app, req.index);
        let id = self.create_instance(req, &name, false).await?;
        self.start_created(&id, &name).await
    }

    async fn create_standby(&self, req: &InstanceRequest, warm: Duration) -> Result<String> {
        let name = crane_core::reconcile::standby::standby_name(&req.app, req.index, req.revision);
        let id = self.create_instance(req, &name, true).await?;
        self.start_created(&id, &name).await?;
        let warmed = async {
            // Let it open its first tcp port, so the promoted standby serves at once (no port: it only started).
            if let Some(port) = req.spec.ports.iter().find(|p| p.protocol != Some(crane_core::spec::Protocol::Udp)) {
                let ip =
                    self.inspect_instance(&id).await?.and_then(|d| d.ip).ok_or_else(|| {
                        RuntimeError::Other(format!("standby {name} has no address on the app network"))
                    })?;
                let deadline = tokio::time::Instant::now() + warm;
                loop {
                    let attempt = tokio::time::timeout(
                        Duration::from_millis(250),
                        tokio::net::TcpStream::connect((ip, port.container)),
                    );
                    if let Ok(Ok(_)) = attempt.await {
                        break;
                    }
                    if tokio::time::Instant::now() >= deadline {
                        return Err(RuntimeError::Other(format!(
                            "standby {name} did not accept connections on port {} within {} ms",
                            port.container,
                            warm.as_millis()
                        )));
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
            self.docker.pause_container(&id).await.map_err(|e| error::map(&format!("pausing standby {name}"), e))
        };
        match warmed.await {
            Ok(()) => Ok(id),
            Err(e) => {
                self.discard(&id).await;
                Err(e)
            }
        }
    }

    async fn promote_standby(&self, id: &str, name: &str) -> Result<()> {
        self.rename_instance(id, name).await?;
        self.docker.unpause_container(id).await.map_err(|e| error::map(&format!("unpausing {name}"), e))
    }

    async fn remove_standby(&self, id: &str) -> Result<()> {
        self.ready().await?;
        self.force_remove(id).await
    }

    async fn rename_instance(&self, id: &str, name: &str) -> Result<()> {
        self.ready().await?;
        self.docker
            .rename_container(id, RenameContainerOptionsBuilder::new().name(name).build())
            .await
            .map_err(|e| error::map(&format!("renaming {id} to {name}"), e))
    }

    async fn remove_instance(&self, id: &str) -> Result<()> {
        self.ready().await?;
        let stop = StopContainerOptionsBuilder::new().t(STOP_GRACE_SECONDS).build();
        match self.docker.stop_container(id, Some(stop)).await {
            Ok(()) => {}
            Err(e) if error::is_not_found(&e) => return Ok(()),
            Err(e) if error::is_connection_failure(&e) => return Err(error::map(&format!("stopping {id}"), e)),
            // 304 (already stopped) and other failures: the forced removal below settles it.
            Err(_) => {}
        }
        self.force_remove(id).await
    }

    async fn inspect_instance(&self, id: &str) -> Result<Option<InstanceDetails>> {
        self.ready().await?;
        let details = match self.docker.inspect_container(id, None::<InspectContainerOptions>).await {
            Ok(d) => d,
            Err(e) if error::is_not_found(&e) => return Ok(None),
            Err(e) => return Err(error::map(&format!("inspecting container {id}"), e)),
        };
        let app = details.config.as_ref().and_then(|c| c.labels.as_ref()).and_then(|l| l.get(labels::APP)).cloned();
        let started_at = details
            .state
            .as_ref()
            .and_then(|s| s.started_at.as_deref())
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.timestamp_millis())
            .filter(|ms| *ms > 0)
            .map(|ms| ms as Millis);
        let networks = details.network_settings.and_then(|n| n.networks).unwrap_or_default();
        let endpoint = match &app {
            Some(app) => networks.get(&network_name(app)),
            None => networks.values().next(),
        };
        let ip =
            endpoint.and_then(|e| e.ip_address.as_deref()).filter(|ip| !ip.is_empty()).and_then(|ip| ip.parse().ok());
        Ok(Some(InstanceDetails { ip, started_at }))
    }

    async fn events(&self, owner: &str) -> Result<BoxStream<'static, Result<RuntimeEvent>>> {
        self.ready().await?;
        let filters = HashMap::from([("type", vec!["container".to_string()]), ("label", owner_filters(owner))]);
        // Filtered again on our side: Podman 4 does not apply the label filters to its event stream.
        let owner = owner.to_string();
        // The request goes out only when the stream is first polled; `since` = now makes the engine replay what
        // happened in between, so nothing that happens after this call returns is missed.
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        let since = format!("{}.{:09}", now.as_secs(), now.subsec_nanos());
        let options = EventsOptionsBuilder::new().filters(&filters).since(&since).build();
        let stream =
            self.docker.events(Some(options)).map_err(|e| error::map("following engine events", e)).try_filter_map(
                move |message| {
                    let event = runtime_event(message, &owner);
                    async move { Ok(event) }
                },
            );
        Ok(stream.boxed())
    }

    async fn logs(
        &self,
        id: &str,
        name: &str,
        follow: bool,
        tail: Option<u32>,
    ) -> Result<BoxStream<'static, Result<LogLine>>> {
        self.ready().await?;
        let tail = tail.map_or_else(|| "all".to_string(), |n| n.to_string());
        let options =
            LogsOptionsBuilder::new().follow(follow).stdout(true).stderr(true).timestamps(true).tail(&tail).build();
        let instance = name.to_string();
        let context = format!("reading the logs of {name}");
        let stream = self.docker.logs(id, Some(options)).flat_map(move |item| {
            let lines: Vec<Result<LogLine>> = match item {
                Ok(output) => {
                    let (stream, bytes) = match output {
                        bollard::container::LogOutput::StdErr { message } => ("stderr", message),
                        bollard::container::LogOutput::StdOut { message }
                        | bollard::container::LogOutput::Console { message }
                        | bollard::container::LogOutput::StdIn { message } => ("stdout", message),
                    };
                    log_lines(&instance, stream, &String::from_utf8_lossy(&bytes)).into_iter().map(Ok).collect()
                }
                Err(e) => vec![Err(error::map(&context, e))],
            };
            futures_util::stream::iter(lines)
        });
        Ok(stream.boxed())
    }

    async fn exec(&self, id: &str, command: &[String], timeout: Duration) -> Result<ExecOutput> {
        self.ready().await?;
        let run = async {
            let config = bollard::exec::CreateExecOptions {
                attach_stdout: Some(true),
                attach_stderr: Some(true),
                cmd: Some(command.to_vec()),
                ..Default::default()
            };
            let created = self.docker.create_exec(id, config).await.map_err(|e| error::map("creating an exec", e))?;
            let (mut output, mut full) = (String::new(), false);
            if let bollard::exec::StartExecResults::Attached { output: mut stream, .. } =
                self.docker.start_exec(&created.id, None).await.map_err(|e| error::map("starting an exec", e))?
            {
                while let Some(chunk) = stream.next().await {
                    let Ok(chunk) = chunk else { break };
                    // Keep the first few KiB: enough for a probe's failure message.
                    // The rest of the stream is still read, so the exec ends normally.
                    if !full {
                        full = append_bounded(&mut output, &chunk.into_bytes(), EXEC_OUTPUT_LIMIT);
                    }
                }
            }
            let inspected =
                self.docker.inspect_exec(&created.id).await.map_err(|e| error::map("inspecting an exec", e))?;
            Ok(ExecOutput { exit_code: inspected.exit_code.unwrap_or(-1), output })
        };
        match tokio::time::timeout(timeout, run).await {
            Ok(result) => result,
            Err(_) => Err(RuntimeError::Other(format!(
                "`{}` did not finish within {}ms",
                command.join(" "),
                timeout.as_millis()
            ))),
        }
    }

    async fn stats(&self, id: &str) -> Result<BoxStream<'static, Result<ResourceSample>>> {
        self.ready().await?;
        let options = bollard::query_parameters::StatsOptionsBuilder::new().stream(true).build();
        let context = format!("reading the stats of {id}");
        let stream = self.docker.stats(id, Some(options)).map(move |item| match item {
            Ok(stats) => Ok(resource_sample(&stats)),
            Err(e) => Err(error::map(&context, e)),
        });
        Ok(stream.boxed())
    }

    async fn version(&self) -> Result<String> {
        self.ready().await?;
        let version = self.docker.version().await.map_err(|e| error::map("asking the engine version", e))?;
        let product = version
            .components
            .as_ref()
            .and_then(|c| c.first())
            .map(|c| c.name.clone())
            .unwrap_or_else(|| "Docker Engine".to_string());
        Ok(format!(
            "{product} {} (API {}, using {})",
            version.version.unwrap_or_else(|| "?".to_string()),
            version.api_version.unwrap_or_else(|| "?".to_string()),
            self.api_version()
        ))
    }
}

/// The engine address from `DOCKER_HOST`, else the first local socket that exists.
fn default_host() -> Result<String> {
    if let Ok(host) = std::env::var("DOCKER_HOST") {
        if !host.trim().is_empty() {
            return Ok(host.trim().to_string());
        }
    }
    let mut candidates = vec!["/var/run/docker.sock".to_string()];
    if let Ok(dir) = std::env::var("XDG_RUNTIME_DIR") {
        candidates.push(format!("{dir}/podman/podman.sock"));
        candidates.push(format!("{dir}/docker.sock"));
    }
    candidates.push("/run/podman/podman.sock".to_string());
    match candidates.iter().find(|p| std::path::Path::new(p).exists()) {
        Some(path) => Ok(format!("unix://{path}")),
        None => Err(RuntimeError::Unreachable(format!(
            "no engine socket at {}; set DOCKER_HOST if the engine listens elsewhere",
            candidates.join(", ")
        ))),
    }
}

/// Rewrites `GET /v1.NN/version` to the unversioned `GET /version`.
///
/// bollard negotiates by asking `/version` with its own (newest) API version in the path, which Docker 20.10 refuses
/// ("client version 1.53 is too new"); the unversioned path is answered by every engine, so negotiation works
/// against old and new engines alike.
fn unversioned_version_probe(mut req: BollardRequest) -> BollardRequest {
    let path = req.uri().path().to_string();
    let Some(prefix) = path.strip_suffix("/version") else {
        return req;
    };
    if !is_api_version_prefix(prefix) {
        return req;
    }
    let full = req.uri().to_string();
    if let Some(pos) = full.find(&path) {
        let rewritten = format!("{}{}", &full[..pos], &full[pos + prefix.len()..]);
        if let Ok(uri) = rewritten.parse() {
            *req.uri_mut() = uri;
        }
    }
    req
}

/// Whether `prefix` looks like `/v1.41`.
fn is_api_version_prefix(prefix: &str) -> bool {
    let Some(version) = prefix.strip_prefix("/v") else {
        return false;
    };
    let Some((major, minor)) = version.split_once('.') else {
        return false;
    };
    !major.is_empty()
        && !minor.is_empty()
        && major.bytes().all(|b| b.is_ascii_digit())
        && minor.bytes().all(|b| b.is_ascii_digit())
}

/// Container name of an instance: `<app>-<index>`.
pub fn instance_name(app: &str, index: u32) -> String {
    format!("{app}-{index}")
}

/// Name of an app's private network: `crane-<app>`.
pub fn network_name(app: &str) -> String {
    format!("crane-{app}")
}

/// The separator between the app and the volume source in a volume name. App names are `[a-z][a-z0-9-]*`
/// (`crane_core::validate::app_name_pattern`) and never contain it, so the first one after `crane-` ends the app name
/// and the naming is injective: two (app, source) pairs never share a volume. (The older `crane-<app>-<source>` was
/// not: app `a` with volume `b-c` and app `a-b` with volume `c` were both `crane-a-b-c`.)
pub const VOLUME_SEPARATOR: char = '_';

/// Docker volume backing a named volume source (`data` of app `web` → `crane-web_data`); `None` for host paths.
pub fn named_volume(app: &str, source: &str) -> Option<String> {
    (!source.starts_with('/')).then(|| format!("{}{source}", volume_prefix(app)))
}

/// What every volume name of `app` starts with: `crane-<app>_`.
fn volume_prefix(app: &str) -> String {
    format!("crane-{app}{VOLUME_SEPARATOR}")
}

/// The app and source a volume name was made from ([`named_volume`]'s inverse); `None` for a name it never makes,
/// such as one of the older `crane-<app>-<source>` scheme.
pub fn volume_owner(volume: &str) -> Option<(&str, &str)> {
    let rest = volume.strip_prefix("crane-")?;
    let (app, source) = rest.split_once(VOLUME_SEPARATOR)?;
    (!app.is_empty() && !source.is_empty()).then_some((app, source))
}

/// Label filters selecting what `owner` manages.
fn owner_filters(owner: &str) -> Vec<String> {
    vec![format!("{}=true", labels::MANAGED), format!("{}={owner}", labels::OWNER)]
}

/// Labels of an app-level resource (network, volume).
fn resource_labels(app: &str, owner: &str) -> HashMap<String, String> {
    HashMap::from([
        (labels::MANAGED.to_string(), "true".to_string()),
        (labels::APP.to_string(), app.to_string()),
        (labels::OWNER.to_string(), owner.to_string()),
    ])
}

/// Whether an object with these labels is managed by Crane for `owner`.
fn is_ours(object_labels: Option<&HashMap<String, String>>, owner: &str) -> bool {
    object_labels.is_some_and(|l| {
        l.get(labels::MANAGED).map(String::as_str) == Some("true")
            && l.get(labels::OWNER).map(String::as_str) == Some(owner)
    })
}

/// Splits `name[:tag]` (or `name@digest`) into what the pull API wants; no tag means `latest`.
fn split_reference(image: &str) -> (String, String) {
    if image.contains('@') {
        return (image.to_string(), String::new());
    }
    let last_segment_start = image.rfind('/').map_or(0, |i| i + 1);
    match image[last_segment_start..].rfind(':') {
        Some(i) => {
            let split = last_segment_start + i;
            (image[..split].to_string(), image[split + 1..].to_string())
        }
        None => (image.to_string(), "latest".to_string()),
    }
}

/// Capabilities to drop and to add for a spec: the hardened list (plus `NET_BIND_SERVICE` unless a container port is
/// privileged) minus what the spec adds back; nothing dropped with `keepDefaultCapabilities`.
pub fn capabilities(spec: &AppSpec) -> (Vec<String>, Vec<String>) {
    let security = spec.security.clone().unwrap_or_default();
    let add: Vec<String> = security.add_capabilities.iter().map(|c| normalize_capability(c)).collect();
    if security.keep_default_capabilities {
        return (Vec::new(), add);
    }
    let mut drop: Vec<String> = DROPPED_CAPABILITIES.iter().map(|c| c.to_string()).collect();
    if !spec.ports.iter().any(|p| p.container < 1024) {
        drop.push("NET_BIND_SERVICE".to_string());
    }
    drop.retain(|c| !add.contains(c));
    (drop, add)
}

/// `cap_net_admin` → `NET_ADMIN`.
fn normalize_capability(cap: &str) -> String {
    let upper = cap.trim().to_ascii_uppercase();
    upper.strip_prefix("CAP_").map(str::to_string).unwrap_or(upper)
}

/// Turns one Docker stats record into a [`ResourceSample`] the way `docker stats` computes its columns: CPU from the
/// container's and the system's usage deltas, memory without the page cache.
pub fn resource_sample(stats: &bollard::models::ContainerStatsResponse) -> ResourceSample {
    let cpu = stats.cpu_stats.as_ref();
    let pre = stats.precpu_stats.as_ref();
    let total = |c: Option<&bollard::models::ContainerCpuStats>| {
        c.and_then(|c| c.cpu_usage.as_ref()).and_then(|u| u.total_usage).unwrap_or(0)
    };
    let system = |c: Option<&bollard::models::ContainerCpuStats>| c.and_then(|c| c.system_cpu_usage).unwrap_or(0);
    let cpu_delta = total(cpu).saturating_sub(total(pre)) as f64;
    let system_delta = system(cpu).saturating_sub(system(pre)) as f64;
    let cores = cpu
        .and_then(|c| c.online_cpus)
        .map(f64::from)
        .or_else(|| {
            cpu.and_then(|c| c.cpu_usage.as_ref()).and_then(|u| u.percpu_usage.as_ref()).map(|p| p.len() as f64)
        })
        .unwrap_or(1.0);
    let cpu_percent =
        if system_delta > 0.0 && cpu_delta >= 0.0 { cpu_delta / system_delta * cores * 100.0 } else { 0.0 };
    let memory = stats.memory_stats.as_ref();
    let usage = memory.and_then(|m| m.usage).unwrap_or(0);
    // cgroup v1 reports the page cache as total_inactive_file (or cache); v2 as inactive_file.
    let cache = memory
        .and_then(|m| m.stats.as_ref())
        .and_then(|s| {
            s.get("total_inactive_file").or_else(|| s.get("inactive_file")).or_else(|| s.get("cache")).copied()
        })
        .unwrap_or(0);
    let (rx, tx) = stats.networks.as_ref().map_or((0, 0), |n| {
        n.values().fold((0, 0), |(rx, tx), i| (rx + i.rx_bytes.unwrap_or(0), tx + i.tx_bytes.unwrap_or(0)))
    });
    let at = stats
        .read
        .as_ref()
        .and_then(|d| chrono::DateTime::parse_from_rfc3339(&d.to_string()).ok())
        .map(|t| t.timestamp_millis().max(0) as Millis)
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as Millis)
                .unwrap_or(0)
        });
    ResourceSample {
        at,
        cpu_percent,
        memory_bytes: usage.saturating_sub(cache),
        memory_limit_bytes: memory.and_then(|m| m.limit).unwrap_or(0),
        net_rx_bytes: rx,
        net_tx_bytes: tx,
    }
}

/// Labels that let a Traefik with the Docker provider route `http://<app>.localhost` to the app's instances, for
/// users who run Traefik instead of Crane's built-in load balancer. (Traefik only looks at a container's readiness
/// through its Docker health check, so it may route to unready instances; the built-in load balancer does not.)
pub fn traefik_labels(app: &str, spec: &AppSpec) -> Vec<(String, String)> {
    let Some(port) = spec.ports.first() else { return Vec::new() };
    vec![
        ("traefik.enable".to_string(), "true".to_string()),
        (format!("traefik.http.routers.{app}.rule"), format!("Host(`{app}.localhost`)")),
        (format!("traefik.http.services.{app}.loadbalancer.server.port"), port.container.to_string()),
        ("traefik.docker.network".to_string(), network_name(app)),
    ]
}

/// The create-container request for an instance, on `network`.
pub fn container_body(req: &InstanceRequest, network: &str) -> Result<ContainerCreateBody> {
    let spec = &req.spec;
    let name = instance_name(&req.app, req.index);

    // Crane's variables come last: on duplicate keys the engine keeps the last one, so a spec cannot fake them.
    let mut env: Vec<String> = spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
    env.push(format!("CRANE_INSTANCE={name}"));
    env.push(format!("CRANE_APP={}", req.app));

    // `placement.labels` are stored but not copied: placement is not active, and labels are how Crane and Traefik
    // find containers, so a spec must not write them (validation also refuses `io.crane.*` and `traefik.*` keys).
    let mut container_labels: HashMap<String, String> = HashMap::new();
    container_labels.extend([
        (labels::APP.to_string(), req.app.clone()),
        (labels::INSTANCE.to_string(), req.index.to_string()),
        (labels::REVISION.to_string(), req.revision.to_string()),
        (labels::NODE.to_string(), LOCAL_NODE.to_string()),
        (labels::MANAGED.to_string(), "true".to_string()),
        (labels::OWNER.to_string(), req.owner.clone()),
    ]);
    container_labels.extend(traefik_labels(&req.app, spec));

    // The spec is typed: memory was parsed once (by crane_core::units) when the spec was read. Limits the spec does
    // not set take crane_core's defaults, so no container runs unbounded.
    let nano_cpus = spec.effective_nano_cpus();
    let bytes = spec.effective_memory_bytes();
    let memory = i64::try_from(bytes)
        .map_err(|_| RuntimeError::Other(format!("resources.memory of {bytes} bytes is more than Docker accepts")))?;

    let security = spec.security.clone().unwrap_or_default();
    let (cap_drop, cap_add) = capabilities(spec);
    let mounts: Vec<Mount> = spec
        .volumes
        .iter()
        .map(|v| match named_volume(&req.app, &v.source) {
            Some(volume) => Mount {
                typ: Some(MountType::VOLUME),
                source: Some(volume),
                target: Some(v.target.clone()),
                read_only: Some(v.read_only),
                ..Default::default()
            },
            None => Mount {
                typ: Some(MountType::BIND),
                source: Some(v.source.clone()),
                target: Some(v.target.clone()),
                read_only: Some(v.read_only),
                ..Default::default()
            },
        })
        .collect();

    let host_config = HostConfig {
        nano_cpus: Some(nano_cpus),
        memory: Some(memory),
        pids_limit: Some(safety::DEFAULT_PIDS),
        // Rotated logs, so a chatty instance cannot fill the host's disk.
        log_config: Some(HostConfigLogConfig {
            typ: Some(safety::LOG_DRIVER.to_string()),
            config: Some(HashMap::from([
                ("max-size".to_string(), safety::LOG_MAX_SIZE.to_string()),
                ("max-file".to_string(), safety::LOG_MAX_FILE.to_string()),
            ])),
        }),
        network_mode: Some(network.to_string()),
        // Crane restarts crashed instances itself (with backoff and events); the engine must not race it.
        restart_policy: Some(RestartPolicy { name: Some(RestartPolicyNameEnum::NO), maximum_retry_count: None }),
        cap_drop: (!cap_drop.is_empty()).then_some(cap_drop),
        cap_add: (!cap_add.is_empty()).then_some(cap_add),
        security_opt: Some(vec!["no-new-privileges:true".to_string()]),
        privileged: Some(security.privileged),
        readonly_rootfs: Some(security.read_only_root_fs),
        mounts: (!mounts.is_empty()).then_some(mounts),
        ..Default::default()
    };
    Ok(ContainerCreateBody {
        image: Some(spec.image.clone()),
        hostname: Some(name.clone()),
        cmd: spec.command.clone(),
        env: Some(env),
        user: security.user.clone(),
        labels: Some(container_labels),
        host_config: Some(host_config),
        networking_config: Some(NetworkingConfig {
            endpoints_config: Some(HashMap::from([(
                network.to_string(),
                EndpointSettings { aliases: Some(vec![name]), ..Default::default() },
            )])),
        }),
        ..Default::default()
    })
}

/// Maps one row of the container list to an observed instance.
fn observed_from_summary(summary: &ContainerSummary) -> ObservedInstance {
    let no_labels = HashMap::new();
    let l = summary.labels.as_ref().unwrap_or(&no_labels);
    let name = summary
        .names
        .as_ref()
        .and_then(|n| n.first())
        .map(|n| n.trim_start_matches('/').to_string())
        .unwrap_or_default();
    let state = match summary.state {
        Some(ContainerSummaryStateEnum::CREATED) | Some(ContainerSummaryStateEnum::EMPTY) | None => {
            ContainerState::Created
        }
        Some(ContainerSummaryStateEnum::RUNNING) => ContainerState::Running,
        Some(ContainerSummaryStateEnum::PAUSED) => ContainerState::Paused,
        Some(ContainerSummaryStateEnum::RESTARTING) => ContainerState::Restarting,
        Some(ContainerSummaryStateEnum::EXITED) => ContainerState::Exited,
        Some(ContainerSummaryStateEnum::REMOVING) | Some(ContainerSummaryStateEnum::STOPPING) => {
            ContainerState::Removing
        }
        Some(ContainerSummaryStateEnum::DEAD) => ContainerState::Dead,
    };
    let exit_code = match state {
        ContainerState::Exited | ContainerState::Dead => summary.status.as_deref().and_then(exit_code_from_status),
        _ => None,
    };
    let app = l.get(labels::APP).cloned().unwrap_or_default();
    let index = l.get(labels::INSTANCE).and_then(|v| v.parse().ok()).unwrap_or(0);
    let revision = l.get(labels::REVISION).and_then(|v| v.parse().ok()).unwrap_or(0);
    let standby = crane_core::reconcile::standby::is_standby_name(&name, &app, index, revision);
    ObservedInstance {
        id: summary.id.clone().unwrap_or_default(),
        name,
        app,
        index,
        revision,
        state,
        exit_code,
        created_at: summary.created.map_or(0, |s| (s.max(0) as Millis) * 1000),
        started_at: None,
        // Readiness comes from the engine's probes, which overwrite this before reconciling.
        ready: false,
        standby,
    }
}

/// Reads the exit code out of a status text such as `Exited (137) 5 seconds ago`.
fn exit_code_from_status(status: &str) -> Option<i64> {
    let rest = &status[status.find("Exited (")? + "Exited (".len()..];
    rest[..rest.find(')')?].trim().parse().ok()
}

/// Maps an engine event to a runtime event; `None` for events without a container id or of another owner (container
/// events carry the container's labels as attributes).
fn runtime_event(message: EventMessage, owner: &str) -> Option<RuntimeEvent> {
    let actor = message.actor?;
    let id = actor.id?;
    let attributes = actor.attributes.unwrap_or_default();
    if !is_ours(Some(&attributes), owner) {
        return None;
    }
    // Some actions carry detail after a colon ("health_status: healthy", "exec_start: sh -c …").
    let action = message.action.unwrap_or_default();
    let action = action.split(':').next().unwrap_or_default().trim().to_string();
    let exit_code = if action == "die" {
        attributes.get("exitCode").or_else(|| attributes.get("containerExitCode")).and_then(|c| c.parse().ok())
    } else {
        None
    };
    let at = match (message.time_nano, message.time) {
        (Some(nanos), _) if nanos > 0 => (nanos / 1_000_000) as Millis,
        (_, Some(secs)) => (secs.max(0) as Millis) * 1000,
        _ => 0,
    };
    Some(RuntimeEvent { id, action, app: attributes.get(labels::APP).cloned(), exit_code, at })
}

/// Splits one chunk of log output into lines, separating the engine's RFC 3339 timestamp from the text.
fn log_lines(instance: &str, stream: &'static str, chunk: &str) -> Vec<LogLine> {
    let chunk = chunk.strip_suffix('\n').unwrap_or(chunk);
    chunk
        .split('\n')
        .map(|raw| {
            let raw = raw.strip_suffix('\r').unwrap_or(raw);
            let (timestamp, line) = match raw.split_once(' ') {
                Some((ts, rest)) if looks_like_timestamp(ts) => (Some(ts.to_string()), rest.to_string()),
                None if looks_like_timestamp(raw) => (Some(raw.to_string()), String::new()),
                _ => (None, raw.to_string()),
            };
            LogLine { instance: instance.to_string(), stream, timestamp, line }
        })
        .collect()
}

/// Whether `s` is an RFC 3339 timestamp as the engine writes them (`2024-05-01T10:00:00.123456789Z`).
fn looks_like_timestamp(s: &str) -> bool {
    s.len() >= 20
        && s.as_bytes()[4] == b'-'
        && s.as_bytes()[10] == b'T'
        && s.as_bytes()[..4].iter().all(u8::is_ascii_digit)
}

/// The host port in an engine message such as "Bind for 0.0.0.0:8080 failed: port is already allocated".
fn port_in_use(message: &str) -> Option<u16> {
    if !message.contains("port is already allocated") && !message.contains("address already in use") {
        return None;
    }
    // "… Bind for 0.0.0.0:18080 failed: …" or "listen tcp4 0.0.0.0:18080: bind: address already in use".
    let address = match message.find("Bind for ") {
        Some(start) => {
            let rest = &message[start + "Bind for ".len()..];
            &rest[..rest.find(' ').unwrap_or(rest.len())]
        }
        None => {
            let end = message.find(": bind:")?;
            message[..end].rsplit(' ').next()?
        }
    };
    address.rsplit(':').next()?.trim().parse().ok()
}

/// Appends `chunk` (lossily decoded) to `output`, keeping at most `limit` bytes; a character that would straddle the
/// limit is left out whole, since cutting a `String` inside a character panics. Returns whether anything was left
/// out, after which the caller appends nothing more (so the output is a prefix of what the command wrote).
fn append_bounded(output: &mut String, chunk: &[u8], limit: usize) -> bool {
    let room = limit.saturating_sub(output.len());
    // Decoding more than the room left is wasted work; 3 extra bytes keep a character split by the limit decodable.
    let take = chunk.len().min(room.saturating_add(3));
    let before = output.len();
    output.push_str(&String::from_utf8_lossy(&chunk[..take]));
    let decoded = output.len() - before;
    crane_core::text::truncate_on_char_boundary(output, limit);
    take < chunk.len() || output.len() < before + decoded
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Volume names are injective over every (app, source) pair the validator accepts: all app names and volume
    /// sources of up to three characters from an alphabet that includes the separator and `-`, kept only when
    /// `parse_spec` accepts them, give pairwise distinct names, and [`volume_owner`] reads each pair back.
    #[test]
    fn volume_names_never_collide() {
        let strings = |alphabet: &[char]| {
            let mut out: Vec<String> = alphabet.iter().map(|c| c.to_string()).collect();
            for _ in 0..2 {
                let longer: Vec<String> =
                    out.iter().flat_map(|s| alphabet.iter().map(move |c| format!("{s}{c}"))).collect();
                out.extend(longer);
            }
            out.sort();
            out.dedup();
            out
        };
        let accepted = |name: &str, source: &str| {
            let yaml = format!("name: '{name}'\nimage: x\nvolumes: [{{ source: '{source}', target: /d }}]\n");
            crane_core::validate::parse_spec(&yaml).is_ok()
        };
        let apps: Vec<String> = strings(&['a', '1', '-', '_', '.']).into_iter().filter(|a| accepted(a, "d")).collect();
        let sources: Vec<String> =
            strings(&['a', '1', '-', '_', '.']).into_iter().filter(|s| accepted("w", s)).collect();
        assert!(apps.contains(&"a-a".to_string()) && !apps.iter().any(|a| a.contains('_')), "{apps:?}");
        assert!(sources.contains(&"a_a".to_string()) && sources.contains(&"1-.".to_string()), "{sources:?}");
        let mut seen = HashMap::new();
        for app in &apps {
            for source in &sources {
                let name = named_volume(app, source).unwrap();
                assert_eq!(volume_owner(&name), Some((app.as_str(), source.as_str())), "{name}");
                if let Some(earlier) = seen.insert(name.clone(), (app.clone(), source.clone())) {
                    panic!("{name} is the volume of both {earlier:?} and {:?}", (app, source));
                }
            }
        }
        assert!(seen.len() > 500, "only {} pairs", seen.len());
        // The pair of the old scheme's collision now has two volumes.
        assert_eq!(named_volume("a", "b-c").unwrap(), "crane-a_b-c");
        assert_eq!(named_volume("a-b", "c").unwrap(), "crane-a-b_c");
        assert_eq!(named_volume("web", "/srv/data"), None);
        // Names of the older scheme are not read as this one's, so removal keeps them.
        assert_eq!(volume_owner("crane-a-b-c"), None);
        assert_eq!(volume_owner("crane-web_"), None);
    }

    /// Probe output is cut at the limit without splitting a character (a multibyte character across byte 4096
    /// panicked in `String::truncate`).
    #[test]
    fn exec_output_is_cut_on_a_character_boundary() {
        let mut output = String::new();
        let mut chunk = "a".repeat(EXEC_OUTPUT_LIMIT - 1).into_bytes();
        chunk.extend_from_slice("é and more".as_bytes());
        assert!(append_bounded(&mut output, &chunk, EXEC_OUTPUT_LIMIT));
        assert_eq!(output, "a".repeat(EXEC_OUTPUT_LIMIT - 1));
        // Across chunks: the straddling character arrives in the second one.
        let mut output = "a".repeat(EXEC_OUTPUT_LIMIT - 2);
        assert!(append_bounded(&mut output, "€uro".as_bytes(), EXEC_OUTPUT_LIMIT));
        assert_eq!(output.len(), EXEC_OUTPUT_LIMIT - 2);
        let mut output = String::new();
        assert!(!append_bounded(&mut output, "héllo".as_bytes(), EXEC_OUTPUT_LIMIT));
        assert_eq!(output, "héllo");
        let mut output = String::new();
        assert!(!append_bounded(&mut output, "a".repeat(EXEC_OUTPUT_LIMIT).as_bytes(), EXEC_OUTPUT_LIMIT));
        assert!(append_bounded(&mut output, b"b", EXEC_OUTPUT_LIMIT));
        assert_eq!(output.len(), EXEC_OUTPUT_LIMIT);
    }
    use crane_core::spec::{Bytes, PortSpec, Resources, Security, VolumeSpec};

    fn spec() -> AppSpec {
        serde_json::from_value(serde_json::json!({ "name": "web", "image": "crane-demo:0.1.0" })).unwrap()
    }

    fn request(spec: AppSpec) -> InstanceRequest {
        InstanceRequest { app: "web".into(), index: 2, revision: 7, spec, owner: "o1".into() }
    }

    #[test]
    fn limits_come_from_the_typed_spec() {
        // `1e8` passes validation, so container creation must take it too (it once did not: a second parser).
        for (memory, bytes) in
            [("1e8", 100_000_000), ("512Mi", 512 << 20), ("0.5Gi", 1 << 29), ("1500M", 1_500_000_000)]
        {
            let yaml = format!("name: web\nimage: x\nresources: {{ cpu: 0.25, memory: {memory} }}\n");
            let spec = crane_core::parse_spec(&yaml).expect("valid spec");
            let hc = container_body(&request(spec), "crane-web").unwrap().host_config.unwrap();
            assert_eq!((hc.memory, hc.nano_cpus), (Some(bytes), Some(250_000_000)), "memory: {memory}");
        }
        // Without `resources`, crane_core's defaults, never "unlimited".
        let hc = container_body(&request(spec()), "crane-web").unwrap().host_config.unwrap();
        assert_eq!((hc.memory, hc.nano_cpus), (Some(512 << 20), Some(1_000_000_000)));
    }

    #[test]
    fn image_references() {
        for (image, name, tag) in [
            ("crane-demo:0.1.0", "crane-demo", "0.1.0"),
            ("node", "node", "latest"),
            ("localhost:5000/app", "localhost:5000/app", "latest"),
            ("localhost:5000/app:v2", "localhost:5000/app", "v2"),
            ("repo/app@sha256:abc", "repo/app@sha256:abc", ""),
        ] {
            assert_eq!(split_reference(image), (name.to_string(), tag.to_string()), "{image}");
        }
    }

    #[test]
    fn version_probe_prefix() {
        assert!(is_api_version_prefix("/v1.41"));
        assert!(is_api_version_prefix("/v1.53"));
        assert!(!is_api_version_prefix("/containers/x"));
        assert!(!is_api_version_prefix("/v1."));
        assert!(!is_api_version_prefix(""));
    }

    #[test]
    fn hardened_capabilities_by_default() {
        let (drop, add) = capabilities(&spec());
        for cap in DROPPED_CAPABILITIES {
            assert!(drop.contains(&cap.to_string()), "{cap}");
        }
        assert!(drop.contains(&"NET_BIND_SERVICE".to_string()));
        assert!(add.is_empty());
    }

    #[test]
    fn privileged_port_keeps_net_bind_service() {
        let mut s = spec();
        s.ports = vec![PortSpec {
            container: 80,
            public: None,
            protocol: None,
            balance: None,
            mode: None,
            app_protocol: None,
            sticky: None,
        }];
        assert!(!capabilities(&s).0.contains(&"NET_BIND_SERVICE".to_string()));
    }

    #[test]
    fn added_capabilities_are_not_dropped() {
        let mut s = spec();
        s.security =
            Some(Security { add_capabilities: vec!["cap_chown".into(), "NET_ADMIN".into()], ..Default::default() });
        let (drop, add) = capabilities(&s);
        assert!(!drop.contains(&"CHOWN".to_string()));
        assert_eq!(add, vec!["CHOWN".to_string(), "NET_ADMIN".to_string()]);
        s.security.as_mut().unwrap().keep_default_capabilities = true;
        assert!(capabilities(&s).0.is_empty());
    }

    #[test]
    fn container_body_carries_labels_limits_and_hardening() {
        let mut s = spec();
        s.command = Some(vec!["/demo".into(), "--port".into(), "8080".into()]);
        s.env.insert("GREETING".into(), "hi".into());
        s.env.insert("CRANE_INSTANCE".into(), "fake".into());
        s.resources = Some(Resources { cpu: Some(0.5), memory: Some("64Mi".parse().unwrap()) });
        s.security = Some(Security { user: Some("1000".into()), read_only_root_fs: true, ..Default::default() });
        s.volumes = vec![
            VolumeSpec { source: "data".into(), target: "/data".into(), read_only: false },
            VolumeSpec { source: "/srv/x".into(), target: "/x".into(), read_only: true },
        ];
        let body = container_body(&request(s), "crane-web").unwrap();
        assert_eq!(body.hostname.as_deref(), Some("web-2"));
        assert_eq!(body.cmd, Some(vec!["/demo".to_string(), "--port".to_string(), "8080".to_string()]));
        assert_eq!(body.entrypoint, None);
        assert_eq!(body.user.as_deref(), Some("1000"));
        let env = body.env.unwrap();
        assert_eq!(env.last().map(String::as_str), Some("CRANE_APP=web"));
        assert!(env.contains(&"GREETING=hi".to_string()));
        let crane_instance: Vec<_> = env.iter().filter(|e| e.starts_with("CRANE_INSTANCE=")).collect();
        assert_eq!(crane_instance.last().map(|s| s.as_str()), Some("CRANE_INSTANCE=web-2"));
        let l = body.labels.unwrap();
        assert_eq!(l[labels::APP], "web");
        assert_eq!(l[labels::INSTANCE], "2");
        assert_eq!(l[labels::REVISION], "7");
        assert_eq!(l[labels::NODE], "local");
        assert_eq!(l[labels::MANAGED], "true");
        assert_eq!(l[labels::OWNER], "o1");
        let hc = body.host_config.unwrap();
        assert_eq!(hc.nano_cpus, Some(500_000_000));
        assert_eq!(hc.memory, Some(64 * 1024 * 1024));
        assert_eq!(hc.network_mode.as_deref(), Some("crane-web"));
        assert_eq!(hc.security_opt, Some(vec!["no-new-privileges:true".to_string()]));
        assert_eq!(hc.readonly_rootfs, Some(true));
        assert_eq!(hc.restart_policy.unwrap().name, Some(RestartPolicyNameEnum::NO));
        let mounts = hc.mounts.unwrap();
        assert_eq!(mounts[0].typ, Some(MountType::VOLUME));
        assert_eq!(mounts[0].source.as_deref(), Some("crane-web_data"));
        assert_eq!(mounts[1].typ, Some(MountType::BIND));
        assert_eq!(mounts[1].read_only, Some(true));
    }

    /// Without `resources` an instance still gets crane_core's default limits, a process limit and rotated logs; and
    /// `placement.labels` (stored, not active) never reach the container, so a spec cannot inject routing labels.
    #[test]
    fn container_body_applies_the_default_limits_and_no_placement_labels() {
        let mut s = spec();
        s.placement = Some(crane_core::spec::Placement {
            labels: [
                ("traefik.http.routers.x.rule".into(), "Host(`bank.localhost`)".into()),
                ("tier".into(), "web".into()),
            ]
            .into(),
            strategy: None,
            constraints: Vec::new(),
        });
        let body = container_body(&request(s), "crane-web").unwrap();
        let hc = body.host_config.unwrap();
        assert_eq!(hc.memory, Some(512 * 1024 * 1024));
        assert_eq!(hc.nano_cpus, Some(1_000_000_000));
        assert_eq!(hc.pids_limit, Some(512));
        let log = hc.log_config.unwrap();
        assert_eq!(log.typ.as_deref(), Some("json-file"));
        let options = log.config.unwrap();
        assert_eq!((options["max-size"].as_str(), options["max-file"].as_str()), ("10m", "3"));
        let l = body.labels.unwrap();
        assert!(!l.contains_key("tier"), "{l:?}");
        assert!(!l.contains_key("traefik.http.routers.x.rule"), "{l:?}");
        assert_eq!(l[labels::APP], "web");

        // With resources, the spec's own limits, and still a process limit.
        let mut s = spec();
        s.resources = Some(Resources { cpu: Some(0.25), memory: None });
        let hc = container_body(&request(s), "n").unwrap().host_config.unwrap();
        assert_eq!((hc.nano_cpus, hc.memory, hc.pids_limit), (Some(250_000_000), Some(512 * 1024 * 1024), Some(512)));
    }

    #[test]
    fn memory_beyond_docker_is_an_error() {
        // A typed spec cannot hold unparsed text; what is left is a size Docker's signed field cannot carry.
        let mut s = spec();
        s.resources = Some(Resources { cpu: None, memory: Some(Bytes::new(u64::MAX)) });
        assert!(
            matches!(container_body(&request(s), "n"), Err(RuntimeError::Other(m)) if m.contains("more than Docker"))
        );
    }

    #[test]
    fn exit_codes_from_status() {
        assert_eq!(exit_code_from_status("Exited (137) 5 seconds ago"), Some(137));
        assert_eq!(exit_code_from_status("Exited (0) About a minute ago"), Some(0));
        assert_eq!(exit_code_from_status("Up 3 seconds"), None);
    }

    #[test]
    fn log_lines_split_timestamps() {
        let lines = log_lines("web-1", "stdout", "2024-05-01T10:00:00.123456789Z hello world\n");
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].timestamp.as_deref(), Some("2024-05-01T10:00:00.123456789Z"));
        assert_eq!(lines[0].line, "hello world");
        let lines = log_lines("web-1", "stderr", "2024-05-01T10:00:00Z a\r\n2024-05-01T10:00:01Z b\n");
        assert_eq!(lines.iter().map(|l| l.line.as_str()).collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(log_lines("w", "stdout", "no timestamp here")[0].timestamp, None);
    }

    #[test]
    fn port_conflicts_are_recognized() {
        assert_eq!(
            port_in_use("driver failed programming external connectivity: Bind for 0.0.0.0:18080 failed: port is already allocated"),
            Some(18080)
        );
        assert_eq!(port_in_use("listen tcp4 0.0.0.0:9000: bind: address already in use"), Some(9000));
        assert_eq!(port_in_use("some other failure"), None);
    }

    #[test]
    fn die_events_carry_exit_codes() {
        let message: EventMessage = serde_json::from_value(serde_json::json!({
            "Type": "container", "Action": "die", "timeNano": 1_700_000_000_123_000_000i64,
            "Actor": { "ID": "abc", "Attributes": {
                "exitCode": "137", "io.crane.app": "web", "io.crane.managed": "true", "io.crane.owner": "o1"
            } }
        }))
        .unwrap();
        assert_eq!(runtime_event(message.clone(), "o2"), None, "another owner's event");
        let event = runtime_event(message, "o1").unwrap();
        assert_eq!(event.id, "abc");
        assert_eq!(event.action, "die");
        assert_eq!(event.exit_code, Some(137));
        assert_eq!(event.app.as_deref(), Some("web"));
        assert_eq!(event.at, 1_700_000_000_123);
        let health: EventMessage = serde_json::from_value(serde_json::json!({
            "Type": "container", "Action": "health_status: healthy", "time": 5,
            "Actor": { "ID": "abc", "Attributes": { "io.crane.managed": "true", "io.crane.owner": "o1" } }
        }))
        .unwrap();
        let event = runtime_event(health, "o1").unwrap();
        assert_eq!((event.action.as_str(), event.at, event.exit_code), ("health_status", 5000, None));
    }
}
