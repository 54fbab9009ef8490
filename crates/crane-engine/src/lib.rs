//! The engine: one loop that reconciles desired apps (store) with observed containers (runtime), plus the handle the
//! three doors (Tauri, REST, CLI) call. See ARCHITECTURE.md.
//!
//! **Architecture Invariant:** decisions are made by `crane_core` planners; this crate only gathers the snapshot,
//! applies the plan through the [`Runtime`] and [`Store`] ports, and writes every action to the event log.

pub mod charts;
pub mod error;
mod exposition;
mod load;
mod metrics;
mod nginx;
mod probes;
mod proxy;
mod run;
mod views;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crane_api::{AppView, ApplyResult, ChangeView, EventView, LogLineView, ProgressView, StatusView};
use crane_core::model::Millis;
use crane_core::ports::{Runtime, RuntimeError, Store, StoredApp};
use futures_util::stream::{BoxStream, StreamExt};
use tokio::sync::{broadcast, mpsc, oneshot};

pub use error::{EngineError, Result};
pub use exposition::SdTargetGroup;
pub use nginx::ManagedNginx;

/// Settings key of the engine's random id, used as the `io.crane.owner` label value.
const ENGINE_ID_KEY: &str = "engine_id";

/// How to start an engine.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Data directory (SQLite database, API token, API address file).
    pub data_dir: PathBuf,
    /// Period of the level-triggered reconcile tick (events trigger it sooner).
    pub tick: Duration,
    /// How often metrics are collected and the autoscaler runs (0.5–5 s; env `CRANE_METRICS_INTERVAL_MS`).
    pub metrics_interval: Duration,
    /// A Prometheus for `metric: custom` autoscaling (env `CRANE_PROMETHEUS_URL`).
    pub prometheus_url: Option<String>,
}

impl EngineConfig {
    /// A config with the default tick (2 s) for `data_dir`.
    pub fn new(data_dir: PathBuf) -> EngineConfig {
        EngineConfig {
            data_dir,
            tick: Duration::from_secs(2),
            metrics_interval: std::env::var("CRANE_METRICS_INTERVAL_MS")
                .ok()
                .and_then(|v| v.parse().ok())
                .map(Duration::from_millis)
                .unwrap_or(Duration::from_secs(2)),
            prometheus_url: std::env::var("CRANE_PROMETHEUS_URL").ok().filter(|u| !u.is_empty()),
        }
    }

    /// The same with another metrics interval.
    pub fn with_metrics_interval(mut self, interval: Duration) -> EngineConfig {
        self.metrics_interval = interval;
        self
    }

    /// The same with another reconcile tick (tests use a short one).
    pub fn with_tick(mut self, tick: Duration) -> EngineConfig {
        self.tick = tick;
        self
    }
}

/// The data directory used when none is given: `$CRANE_DATA_DIR`, else the user's data directory + `crane`
/// (`~/.local/share/crane` on Linux). The desktop app and `cranectl` agree on it, so `cranectl` finds the window's
/// engine.
pub fn default_data_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CRANE_DATA_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    dirs::data_dir().unwrap_or_else(std::env::temp_dir).join("crane")
}

/// Current time as [`Millis`].
pub(crate) fn now_ms() -> Millis {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// Messages to the engine loop (a closed set: the loop is the only place that mutates containers).
pub(crate) enum Command {
    /// Run a reconcile pass now; reply with the errors the pass met, per app.
    Reconcile(oneshot::Sender<BTreeMap<String, Vec<RuntimeError>>>),
    /// Stop the loop.
    Shutdown(oneshot::Sender<()>),
}

/// State shared between the loop and the handle (read for views).
#[derive(Default)]
pub(crate) struct Shared {
    /// Result of the last observation.
    pub observed: Vec<crane_core::model::ObservedInstance>,
    /// Slots held by backoff: (app, index) → (until, reason).
    pub waiting: BTreeMap<(String, u32), (Millis, String)>,
    /// Cumulative restarts per slot (like Kubernetes' restartCount).
    pub restarts: BTreeMap<(String, u32), u32>,
    /// Last start failure per slot.
    pub failures: BTreeMap<(String, u32), String>,
    /// Container addresses on their app network.
    pub addresses: BTreeMap<String, std::net::IpAddr>,
    /// What inspecting each running container told (address, start time), kept while it runs.
    pub details: BTreeMap<String, crane_core::ports::InstanceDetails>,
    /// Why the Docker engine cannot be used, when it cannot.
    pub docker_error: Option<String>,
    /// Docker version, when reachable.
    pub docker_version: Option<String>,
    /// REST API URL, once the REST door is up.
    pub api_url: String,
    /// The rolling update of each app, as the last pass saw it.
    pub rollouts: BTreeMap<String, crane_api::RolloutView>,
    /// Revision each app was last rolled back to automatically (a failing rollback then pauses instead).
    pub rolled_back_to: BTreeMap<String, u64>,
    /// Why each app's last automatic rollback happened, while it runs.
    pub rollback_reasons: BTreeMap<String, String>,
    /// Ready backends (address:container port) of each app with a port, as last given to its load balancer.
    pub ready_backends: BTreeMap<String, Vec<std::net::SocketAddr>>,
    /// What was last written for each managed NGINX, so it is reloaded only on a change.
    pub nginx_written: BTreeMap<String, String>,
    /// Containers the load balancer currently sends traffic to (ready and running), as last applied.
    pub in_load_balancer: std::collections::BTreeSet<String>,
    /// Containers Docker reported dead (`die` event) with their exit code and when, until the list agrees.
    pub died: BTreeMap<String, (Option<i64>, Millis)>,
    /// Containers the engine is removing itself (their `die` events are not crashes).
    pub removing: std::collections::BTreeSet<String>,
}

pub(crate) struct Inner {
    pub config: EngineConfig,
    pub owner: String,
    pub runtime: Arc<dyn Runtime>,
    pub docker: Option<Arc<crane_docker::DockerRuntime>>,
    pub store: Arc<dyn Store>,
    pub shared: Mutex<Shared>,
    pub changes: broadcast::Sender<ChangeView>,
    pub commands: mpsc::Sender<Command>,
    pub proxies: proxy::Proxies,
    pub probers: probes::Probers,
    pub collector: metrics::Collector,
    pub loads: load::Loads,
    pub collector_task: Mutex<Option<tokio::task::JoinHandle<()>>>,
    pub probe_reports: mpsc::UnboundedSender<probes::ProbeReport>,
    /// Serialises apply/scale/delete so two doors cannot interleave a read-modify-write of one app.
    pub writes: tokio::sync::Mutex<()>,
    pub loop_done: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

/// A clonable handle to a running engine. Every door calls these methods.
#[derive(Clone)]
pub struct EngineHandle {
    inner: Arc<Inner>,
}

impl EngineHandle {
    /// Starts an engine on the local Docker engine (or `DOCKER_HOST`) with SQLite state in `config.data_dir`.
    /// Fails only when the data directory or database cannot be used; an unreachable Docker engine is reported by
    /// [`EngineHandle::status`] and by each operation that needs it.
    pub async fn start(config: EngineConfig) -> Result<EngineHandle> {
        let store = crane_store::SqliteStore::open(&config.data_dir.join("crane.db")).await.map_err(|e| {
            EngineError::Internal(format!("cannot open the state database in {}: {e}", config.data_dir.display()))
        })?;
        let (runtime, docker, error): (Arc<dyn Runtime>, _, _) = match crane_docker::DockerRuntime::new() {
            Ok(d) => {
                let d = Arc::new(d);
                (d.clone() as Arc<dyn Runtime>, Some(d), None)
            }
            Err(e) => (Arc::new(run::Unreachable(e.clone())), None, Some(e.to_string())),
        };
        let handle = Self::start_inner(config, runtime, docker, Arc::new(store)).await?;
        handle.inner.shared.lock().unwrap().docker_error = error;
        Ok(handle)
    }

    /// Starts an engine on the given adapters (tests use fakes). Without a Docker client the demo image cannot be
    /// built.
    pub async fn start_with(
        config: EngineConfig,
        runtime: Arc<dyn Runtime>,
        store: Arc<dyn Store>,
    ) -> Result<EngineHandle> {
        Self::start_inner(config, runtime, None, store).await
    }

    async fn start_inner(
        config: EngineConfig,
        runtime: Arc<dyn Runtime>,
        docker: Option<Arc<crane_docker::DockerRuntime>>,
        store: Arc<dyn Store>,
    ) -> Result<EngineHandle> {
        std::fs::create_dir_all(&config.data_dir).map_err(|e| {
            EngineError::Internal(format!("cannot create the data directory {}: {e}", config.data_dir.display()))
        })?;
        let owner = match store.get_setting(ENGINE_ID_KEY).await.map_err(internal)? {
            Some(id) => id,
            None => {
                let id: String = format!("{:016x}", rand::random::<u64>());
                store.put_setting(ENGINE_ID_KEY, &id).await.map_err(internal)?;
                id
            }
        };
        let (changes, _) = broadcast::channel(1024);
        let (commands, rx) = mpsc::channel(64);
        let (probe_reports, reports_rx) = mpsc::unbounded_channel();
        let inner = Arc::new(Inner {
            config,
            owner,
            runtime,
            docker,
            store,
            shared: Mutex::new(Shared::default()),
            changes,
            commands,
            proxies: proxy::Proxies::default(),
            probers: probes::Probers::default(),
            collector: metrics::Collector::default(),
            loads: load::Loads::default(),
            collector_task: Mutex::new(None),
            probe_reports,
            writes: tokio::sync::Mutex::new(()),
            loop_done: Mutex::new(None),
        });
        let handle = EngineHandle { inner };
        handle.start_loop(rx, reports_rx);
        Ok(handle)
    }

    fn start_loop(&self, rx: mpsc::Receiver<Command>, reports: mpsc::UnboundedReceiver<probes::ProbeReport>) {
        let inner = self.inner.clone();
        let task = tokio::spawn(async move { run::run(inner, rx, reports).await });
        *self.inner.loop_done.lock().unwrap() = Some(task);
        let inner = self.inner.clone();
        *self.inner.collector_task.lock().unwrap() = Some(tokio::spawn(async move { metrics::run(inner).await }));
    }

    /// The owner label value of this engine's containers.
    pub fn owner(&self) -> &str {
        &self.inner.owner
    }

    /// Validates and applies a YAML spec: creates the app, or updates/scales an existing one. With `create_only`,
    /// an existing app is a `Conflict` error. A new app whose first instances cannot be started (image missing,
    /// port in use, name taken) is rolled back entirely: nothing is left behind.
    pub async fn apply(&self, yaml: &str, create_only: bool) -> Result<ApplyResult> {
        let spec = crane_core::validate::parse_spec(yaml).map_err(|diags| {
            EngineError::InvalidSpec(
                diags
                    .into_iter()
                    .map(|d| crane_api::Diagnostic {
                        line: d.line,
                        column: d.column,
                        path: d.path,
                        message: d.message,
                        fix: d.fix,
                    })
                    .collect(),
            )
        })?;
        let _guard = self.inner.writes.lock().await;
        let store = &self.inner.store;
        let existing = store.get_app(&spec.name).await.map_err(internal)?;
        if create_only && existing.is_some() {
            return Err(EngineError::Conflict(format!(
                "an app named '{}' already exists; choose another name, or use `cranectl apply` to change it",
                spec.name
            )));
        }
        let image_changed = existing.as_ref().map(|e| e.spec.image != spec.image).unwrap_or(true);
        if image_changed {
            self.inner.runtime.ensure_image(&spec.image).await.map_err(runtime_error)?;
        }
        let now = now_ms();
        let history = store.list_revisions(&spec.name).await.map_err(internal)?;
        // New revisions number past every revision in the history: after an undo the current number is not the
        // highest one.
        let next_revision =
            history.iter().map(|r| r.revision).max().unwrap_or(0).max(existing.as_ref().map_or(0, |e| e.revision)) + 1;
        let (action, revision) = match &existing {
            None => ("created", next_revision),
            Some(old) if crane_core::validate::needs_new_revision(&old.spec, &spec) => ("updated", next_revision),
            Some(old) if old.spec != spec => ("scaled", old.revision),
            Some(old) => ("unchanged", old.revision),
        };
        let wanted_port = spec.ports.first().and_then(|p| p.public);
        let public_port =
            self.inner.proxies.prepare(&spec, existing.as_ref().and_then(|e| e.public_port), wanted_port).map_err(
                |e| match e {
                    RuntimeError::PortInUse(p) => EngineError::PortInUse(RuntimeError::PortInUse(p).to_string()),
                    other => runtime_error(other),
                },
            )?;
        let stored = StoredApp {
            spec: spec.clone(),
            source_yaml: yaml.to_string(),
            revision,
            public_port,
            created_at: existing.as_ref().map(|e| e.created_at).unwrap_or(now),
            updated_at: now,
            // A new apply resumes a paused rollout.
            paused: false,
        };
        if action != "unchanged" || existing.as_ref().map(|e| e.source_yaml != yaml || e.paused).unwrap_or(false) {
            store.put_app(&stored).await.map_err(internal)?;
        }
        if action == "created" || action == "updated" {
            let cause = match &existing {
                Some(old) if old.spec.image != spec.image => {
                    format!("apply: image {} → {}", old.spec.image, spec.image)
                }
                Some(_) => "apply: container settings changed".to_string(),
                None => format!("apply: created with image {}", spec.image),
            };
            let rev = crane_core::ports::StoredRevision {
                app: spec.name.clone(),
                revision,
                spec: spec.clone(),
                source_yaml: yaml.to_string(),
                cause,
                created_at: now,
            };
            store.put_revision(&rev).await.map_err(internal)?;
        }
        let mut warnings = spec.inactive_sections();
        if spec.autoscaling.as_ref().is_some_and(|a| a.metric == "custom") && self.inner.config.prometheus_url.is_none()
        {
            warnings.push(
                "autoscaling: metric custom needs a Prometheus; start Crane with CRANE_PROMETHEUS_URL set, until then the \
                 app keeps its replica count"
                    .to_string(),
            );
        }
        let details = serde_json::json!({"revision": revision, "replicas": spec.replicas, "image": spec.image});
        let reason = match action {
            "created" => format!("app '{}' created: {} replica(s) of {}", spec.name, spec.replicas, spec.image),
            "updated" => format!(
                "app '{}' changed: container settings differ, revision {} → {}; instances are replaced one slot at a time",
                spec.name,
                revision - 1,
                revision
            ),
            "scaled" => format!(
                "app '{}' changed without new containers (replicas {} → {})",
                spec.name,
                existing.as_ref().map(|e| e.spec.replicas).unwrap_or(0),
                spec.replicas
            ),
            _ => format!("app '{}' applied unchanged", spec.name),
        };
        if action != "unchanged" {
            self.record(Some(&spec.name), None, &format!("app.{action}"), reason, details).await;
        }
        let errors = self.reconcile_now().await;
        if let Some(errs) = errors.get(&spec.name).filter(|e| !e.is_empty()) {
            if action == "created" {
                // Nothing half-created: remove what the first pass made, then report why.
                let first = errs[0].clone();
                let _ = store.delete_app(&spec.name).await;
                let _ = store.delete_revisions(&spec.name).await;
                self.inner.proxies.remove(&spec.name);
                let _ = self.reconcile_now().await;
                let _ = self.inner.runtime.remove_app_resources(&spec.name, &self.inner.owner).await;
                self.record(
                    Some(&spec.name),
                    None,
                    "app.rolled_back",
                    format!("app '{}' was not created: {first}", spec.name),
                    serde_json::json!({"error": first.to_string()}),
                )
                .await;
                return Err(runtime_error(first));
            }
            warnings.extend(errs.iter().map(|e| e.to_string()));
        }
        let app = self.get_app(&spec.name).await?;
        Ok(ApplyResult { app, action: action.to_string(), warnings })
    }

    /// All apps with their instances.
    pub async fn list_apps(&self) -> Result<Vec<AppView>> {
        let apps = self.inner.store.list_apps().await.map_err(internal)?;
        let health = self.health_by_id();
        let traffic: BTreeMap<String, crane_proxy::ProxyMetrics> = apps
            .iter()
            .filter_map(|a| self.inner.proxies.metrics(&a.spec.name).map(|m| (a.spec.name.clone(), m)))
            .collect();
        let views: Vec<AppView> = {
            let shared = self.inner.shared.lock().unwrap();
            apps.iter().map(|a| views::app_view(a, &shared, &health, traffic.get(&a.spec.name), now_ms())).collect()
        };
        Ok(views.into_iter().map(|v| self.with_activity(v)).collect())
    }

    /// One app.
    pub async fn get_app(&self, name: &str) -> Result<AppView> {
        let app = self.stored(name).await?;
        let health = self.health_by_id();
        let traffic = self.inner.proxies.metrics(name);
        let view = {
            let shared = self.inner.shared.lock().unwrap();
            views::app_view(&app, &shared, &health, traffic.as_ref(), now_ms())
        };
        Ok(self.with_activity(view))
    }

    /// Adds what the load generator and the autoscaler are doing to an app's view.
    fn with_activity(&self, mut view: AppView) -> AppView {
        view.load = self.inner.loads.view(&view.name);
        views::add_last_decision(&mut view, &self.inner.collector);
        view
    }

    /// Probe states of the observed containers (taken before locking `shared`, to keep one lock order).
    fn health_by_id(&self) -> BTreeMap<String, crane_core::probe::InstanceHealth> {
        let ids: Vec<String> = self.inner.shared.lock().unwrap().observed.iter().map(|o| o.id.clone()).collect();
        ids.into_iter().filter_map(|id| self.inner.probers.health(&id).map(|h| (id, h))).collect()
    }

    async fn stored(&self, name: &str) -> Result<StoredApp> {
        self.inner.store.get_app(name).await.map_err(internal)?.ok_or_else(|| EngineError::NotFound(name.to_string()))
    }

    /// Changes the replica count.
    pub async fn scale(&self, name: &str, replicas: u32) -> Result<AppView> {
        if replicas > crane_core::validate::MAX_REPLICAS {
            return Err(EngineError::BadRequest(format!(
                "replicas must be between 0 and {}; got {replicas}",
                crane_core::validate::MAX_REPLICAS
            )));
        }
        {
            let from = self.stored(name).await?.spec.replicas;
            if store_replicas(&self.inner, name, None, replicas).await? {
                self.record(
                    Some(name),
                    None,
                    "app.scaled",
                    format!("app '{name}' scaled by request: replicas {from} → {replicas}"),
                    serde_json::json!({"from": from, "to": replicas}),
                )
                .await;
            }
        }
        self.reconcile_now().await;
        self.get_app(name).await
    }

    /// Deletes an app and every container, network and volume it owns.
    pub async fn delete(&self, name: &str) -> Result<()> {
        {
            let _guard = self.inner.writes.lock().await;
            if !self.inner.store.delete_app(name).await.map_err(internal)? {
                return Err(EngineError::NotFound(name.to_string()));
            }
            self.inner.store.delete_revisions(name).await.map_err(internal)?;
            // A managed NGINX keeps its last config; Crane just stops rewriting it.
            self.inner.store.put_setting(&format!("nginx:{name}"), "").await.map_err(internal)?;
            self.inner.shared.lock().unwrap().rollouts.remove(name);
            self.inner.loads.forget(name);
            self.inner.store.delete_samples(name).await.map_err(internal)?;
            self.inner.proxies.remove(name);
            self.record(
                Some(name),
                None,
                "app.deleted",
                format!("app '{name}' deleted by request: removing its instances, network and volumes"),
                serde_json::json!({}),
            )
            .await;
        }
        let errors = self.reconcile_now().await;
        if let Some(e) = errors.get(name).and_then(|e| e.first()) {
            return Err(runtime_error(e.clone()));
        }
        // The pass removed the containers (orphans) and the network; make sure of the network and volumes even when
        // the app had no container left.
        self.inner.runtime.remove_app_resources(name, &self.inner.owner).await.map_err(runtime_error)?;
        Ok(())
    }

    /// Revision history of an app, oldest first.
    pub async fn rollout_history(&self, name: &str) -> Result<Vec<crane_api::RevisionView>> {
        let app = self.stored(name).await?;
        let revisions = self.inner.store.list_revisions(name).await.map_err(internal)?;
        Ok(revisions
            .iter()
            .map(|r| crane_api::RevisionView {
                revision: r.revision as u32,
                created_at: views::rfc3339(r.created_at),
                image: r.spec.image.clone(),
                cause: r.cause.clone(),
                current: r.revision == app.revision,
                spec_yaml: r.source_yaml.clone(),
            })
            .collect())
    }

    /// Rolls an app back to revision `to` (the previous one when `None`): its container settings return to that
    /// revision's, the replica count stays, and a rolling update replaces the instances.
    pub async fn rollout_undo(&self, name: &str, to: Option<u64>) -> Result<AppView> {
        {
            let _guard = self.inner.writes.lock().await;
            let mut app = self.stored(name).await?;
            let revisions = self.inner.store.list_revisions(name).await.map_err(internal)?;
            let target = match to {
                Some(n) => revisions.iter().find(|r| r.revision == n).ok_or_else(|| {
                    EngineError::BadRequest(format!(
                        "app '{name}' has no revision {n}; see `cranectl rollout history {name}` (revisions: {})",
                        revisions.iter().map(|r| r.revision.to_string()).collect::<Vec<_>>().join(", ")
                    ))
                })?,
                None => revisions.iter().rev().find(|r| r.revision < app.revision).ok_or_else(|| {
                    EngineError::BadRequest(format!(
                        "app '{name}' has no revision before {}; nothing to undo",
                        app.revision
                    ))
                })?,
            };
            if target.revision == app.revision {
                return Err(EngineError::BadRequest(format!("app '{name}' already runs revision {}", app.revision)));
            }
            let from = app.revision;
            let replicas = app.spec.replicas;
            app.spec = target.spec.clone();
            app.spec.replicas = replicas;
            app.source_yaml = crane_core::validate::to_yaml(&app.spec);
            app.revision = target.revision;
            app.paused = false;
            app.updated_at = now_ms();
            self.inner.runtime.ensure_image(&app.spec.image).await.map_err(runtime_error)?;
            self.inner.store.put_app(&app).await.map_err(internal)?;
            self.record(
                Some(name),
                None,
                "rollout.undo",
                format!(
                    "app '{name}' rolled back by request: revision {from} → {} ({})",
                    target.revision, target.cause
                ),
                serde_json::json!({"from": from, "to": target.revision}),
            )
            .await;
        }
        self.reconcile_now().await;
        self.get_app(name).await
    }

    /// An NGINX config (upstream + server on `127.0.0.1:listen`) for the app's ready instances.
    pub async fn export_nginx(&self, name: &str, listen: u16) -> Result<String> {
        let app = self.stored(name).await?;
        if app.spec.ports.is_empty() {
            return Err(EngineError::BadRequest(format!(
                "app '{name}' has no port to proxy to; add `ports: [{{container: PORT}}]` to its spec"
            )));
        }
        let backends = self.inner.shared.lock().unwrap().ready_backends.get(name).cloned().unwrap_or_default();
        Ok(nginx::config(name, app.revision, listen, &backends))
    }

    /// Makes the engine manage an NGINX for the app: it writes the app's config to `managed.config_path` now and
    /// after every change of the ready set, and reloads NGINX each time. `None` stops managing.
    pub async fn manage_nginx(&self, name: &str, managed: Option<ManagedNginx>) -> Result<String> {
        let app = self.stored(name).await?;
        let key = format!("nginx:{name}");
        match managed {
            None => {
                self.inner.store.put_setting(&key, "").await.map_err(internal)?;
                self.inner.shared.lock().unwrap().nginx_written.remove(name);
                Ok(format!("Crane no longer manages NGINX for app '{name}'"))
            }
            Some(m) => {
                let text = self.export_nginx(name, m.listen).await?;
                let outcome = nginx::write_and_reload(&m, &text).map_err(EngineError::BadRequest)?;
                let json = serde_json::to_string(&m).map_err(internal)?;
                self.inner.store.put_setting(&key, &json).await.map_err(internal)?;
                self.inner.shared.lock().unwrap().nginx_written.insert(name.to_string(), text);
                self.record(
                    Some(name),
                    None,
                    "nginx.managed",
                    format!("NGINX now follows app '{}' (revision {}): {outcome}", name, app.revision),
                    serde_json::json!({"config": m.config_path, "pidFile": m.pid_file, "listen": m.listen}),
                )
                .await;
                Ok(outcome)
            }
        }
    }

    /// Starts the built-in load generator against the app's load-balancer address.
    pub async fn start_load(&self, name: &str, request: &crane_api::LoadRequest) -> Result<crane_api::LoadView> {
        let app = self.stored(name).await?;
        let port = app.public_port.ok_or_else(|| {
            EngineError::BadRequest(format!(
                "app '{name}' has no address to send load to; add `ports: [{{container: PORT}}]` to its spec"
            ))
        })?;
        load::start(&self.inner, name, port, request)
    }

    /// Stops the app's load run; the view of the run, or NotFound-like BadRequest when none ran.
    pub async fn stop_load(&self, name: &str) -> Result<crane_api::LoadView> {
        self.stored(name).await?;
        self.inner.loads.stop(name);
        self.inner.loads.view(name).ok_or_else(|| {
            EngineError::BadRequest(format!("no load run against '{name}'; start one with `cranectl load {name}`"))
        })
    }

    /// The app's load run (running or the last one), if any.
    pub async fn load_status(&self, name: &str) -> Result<Option<crane_api::LoadView>> {
        self.stored(name).await?;
        Ok(self.inner.loads.view(name))
    }

    /// One chart of an app as SVG: `metric` is one of [`charts::METRICS`], `range` like `5m`, `1h`, `24h`.
    pub async fn chart(&self, name: &str, metric: &str, range: &str) -> Result<String> {
        let app = self.stored(name).await?;
        charts::render(&self.inner, &app, metric, range, now_ms()).await
    }

    /// Crane's metrics in the Prometheus text exposition format (`GET /metrics`).
    pub async fn prometheus_metrics(&self) -> Result<String> {
        let apps = self.inner.store.list_apps().await.map_err(internal)?;
        Ok(exposition::prometheus_text(&self.inner, &apps))
    }

    /// Prometheus HTTP service discovery: every running instance with a port, and Crane itself.
    pub async fn sd_targets(&self) -> Result<Vec<SdTargetGroup>> {
        let apps = self.inner.store.list_apps().await.map_err(internal)?;
        Ok(exposition::sd_targets(&self.inner, &apps))
    }

    /// Newest-first event log, optionally of one app.
    pub async fn events(&self, app: Option<&str>, limit: u32) -> Result<Vec<EventView>> {
        let events = self.inner.store.list_events(app, limit.clamp(1, 10_000), None).await.map_err(internal)?;
        Ok(events.iter().map(views::event_view).collect())
    }

    /// Logs of every instance of an app (merged, chronological for the tail), following new lines when `follow`.
    pub async fn logs(&self, app: &str, follow: bool, tail: Option<u32>) -> Result<BoxStream<'static, LogLineView>> {
        self.stored(app).await?;
        let observed = self.inner.runtime.list_instances(&self.inner.owner).await.map_err(runtime_error)?;
        let mut streams = Vec::new();
        for inst in observed.iter().filter(|i| i.app == app) {
            let s = self.inner.runtime.logs(&inst.id, &inst.name, follow, tail).await.map_err(runtime_error)?;
            streams.push(s);
        }
        let to_view = |l: crane_core::ports::LogLine| LogLineView {
            instance: l.instance,
            stream: l.stream.to_string(),
            timestamp: l.timestamp,
            line: l.line,
        };
        if follow {
            let merged =
                futures_util::stream::select_all(streams).filter_map(move |r| async move { r.ok().map(to_view) });
            Ok(merged.boxed())
        } else {
            let mut lines = Vec::new();
            for s in streams {
                let got: Vec<_> = s.filter_map(|r| async move { r.ok() }).collect().await;
                lines.extend(got.into_iter().map(to_view));
            }
            // RFC 3339 timestamps from one engine sort correctly as text.
            lines.sort_by(|a, b| a.timestamp.cmp(&b.timestamp));
            Ok(futures_util::stream::iter(lines).boxed())
        }
    }

    /// Builds the demo image `crane-demo:<version>`; progress is also broadcast as [`ChangeView::Progress`].
    pub async fn build_demo_image(&self) -> Result<String> {
        let Some(docker) = self.inner.docker.clone() else {
            let why =
                self.inner.shared.lock().unwrap().docker_error.clone().unwrap_or_else(|| "no Docker client".into());
            return Err(EngineError::DockerUnreachable(why));
        };
        let changes = self.inner.changes.clone();
        let mut last: Option<ProgressView> = None;
        let mut progress = |p: ProgressView| {
            let _ = changes.send(ChangeView::Progress { progress: p.clone() });
            last = Some(p);
        };
        self.record(
            None,
            None,
            "image.build",
            format!("building the demo image {}", crane_docker::DEMO_IMAGE),
            serde_json::json!({}),
        )
        .await;
        let result = crane_docker::build_demo_image(docker.docker(), &mut progress).await;
        match result {
            Ok(image) => {
                self.record(
                    None,
                    None,
                    "image.built",
                    format!("demo image {image} built"),
                    serde_json::json!({"image": image}),
                )
                .await;
                Ok(image)
            }
            Err(e) => {
                self.record(None, None, "image.failed", format!("demo image build failed: {e}"), serde_json::json!({}))
                    .await;
                Err(runtime_error(e))
            }
        }
    }

    /// Engine status.
    pub async fn status(&self) -> StatusView {
        let version = self.inner.runtime.version().await;
        let apps = self.inner.store.list_apps().await.map(|a| a.len() as u32).unwrap_or(0);
        let mut shared = self.inner.shared.lock().unwrap();
        match version {
            Ok(v) => {
                shared.docker_error = None;
                shared.docker_version = Some(v);
            }
            Err(e) => shared.docker_error = Some(e.to_string()),
        }
        StatusView {
            version: env!("CARGO_PKG_VERSION").to_string(),
            docker_ok: shared.docker_error.is_none(),
            docker: shared.docker_error.clone().or_else(|| shared.docker_version.clone()).unwrap_or_default(),
            api_url: shared.api_url.clone(),
            data_dir: self.inner.config.data_dir.display().to_string(),
            apps,
            rules: views::rules(),
        }
    }

    /// Subscribes to changes (apps, events, progress).
    pub fn subscribe(&self) -> broadcast::Receiver<ChangeView> {
        self.inner.changes.subscribe()
    }

    /// Records the REST API address shown by [`EngineHandle::status`].
    pub fn set_api_url(&self, url: String) {
        self.inner.shared.lock().unwrap().api_url = url;
    }

    /// Data directory.
    pub fn data_dir(&self) -> PathBuf {
        self.inner.config.data_dir.clone()
    }

    /// Stops the loop and waits for it; containers keep running (they are adopted on the next start).
    pub async fn shutdown(&self) {
        let (tx, rx) = oneshot::channel();
        if self.inner.commands.send(Command::Shutdown(tx)).await.is_ok() {
            let _ = rx.await;
        }
        let task = self.inner.loop_done.lock().unwrap().take();
        if let Some(task) = task {
            let _ = task.await;
        }
        self.stop_side_tasks();
    }

    /// Stops the loop at once without waiting for it (for `Drop` paths, where nothing can be awaited). Containers
    /// keep running, as with [`EngineHandle::shutdown`].
    pub fn abort(&self) {
        if let Some(task) = self.inner.loop_done.lock().unwrap().take() {
            task.abort();
        }
        self.stop_side_tasks();
    }

    fn stop_side_tasks(&self) {
        if let Some(task) = self.inner.collector_task.lock().unwrap().take() {
            task.abort();
        }
        self.inner.collector.clear();
        self.inner.loads.clear();
        self.inner.proxies.clear();
        self.inner.probers.clear();
    }

    /// Asks the loop for a reconcile pass and waits for it.
    async fn reconcile_now(&self) -> BTreeMap<String, Vec<RuntimeError>> {
        let (tx, rx) = oneshot::channel();
        if self.inner.commands.send(Command::Reconcile(tx)).await.is_err() {
            return BTreeMap::new();
        }
        rx.await.unwrap_or_default()
    }

    async fn record(
        &self,
        app: Option<&str>,
        instance: Option<&str>,
        kind: &str,
        reason: String,
        details: serde_json::Value,
    ) {
        run::record(&self.inner, app, instance, kind, reason, details).await;
    }
}

/// Stores a new replica count for an app (the YAML shown follows), under the write lock so no door interleaves.
/// With `only_from`, nothing changes unless the count is still that (the autoscaler must not undo a concurrent
/// `scale`). Returns whether the count changed.
pub(crate) async fn store_replicas(inner: &Inner, name: &str, only_from: Option<u32>, replicas: u32) -> Result<bool> {
    let _guard = inner.writes.lock().await;
    let Some(mut app) = inner.store.get_app(name).await.map_err(internal)? else {
        return Err(EngineError::NotFound(name.to_string()));
    };
    if app.spec.replicas == replicas || only_from.is_some_and(|from| from != app.spec.replicas) {
        return Ok(false);
    }
    app.spec.replicas = replicas;
    app.source_yaml = crane_core::validate::to_yaml(&app.spec);
    app.updated_at = now_ms();
    inner.store.put_app(&app).await.map_err(internal)?;
    Ok(true)
}

fn internal(e: impl std::fmt::Display) -> EngineError {
    EngineError::Internal(e.to_string())
}

/// Maps a runtime failure to the engine error a door reports.
pub(crate) fn runtime_error(e: RuntimeError) -> EngineError {
    match e {
        RuntimeError::Unreachable(_) => EngineError::DockerUnreachable(e.to_string()),
        RuntimeError::ImageUnavailable { .. } => EngineError::ImageUnavailable(e.to_string()),
        RuntimeError::NameConflict(_) => EngineError::Conflict(e.to_string()),
        RuntimeError::PortInUse(_) => EngineError::PortInUse(e.to_string()),
        RuntimeError::Other(_) => EngineError::Internal(e.to_string()),
    }
}
