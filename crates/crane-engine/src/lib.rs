//! The engine: one loop that reconciles desired apps (store) with observed containers (runtime), plus the handle the
//! three doors (Tauri, REST, CLI) call. See ARCHITECTURE.md.
//!
//! **Architecture Invariant:** decisions are made by `crane_core` planners; this crate only gathers the snapshot,
//! applies the plan through the [`Runtime`] and [`Store`] ports, and writes every action to the event log.

pub mod access;
mod alert_actions;
mod alert_send;
mod alerting;
pub mod charts;
pub mod clock;
mod data_dir;
pub mod error;
pub mod experiments;
mod exposition;
pub mod fakes;
mod labs;
mod load;
mod metrics;
mod nginx;
mod opa;
pub mod policies;
mod probes;
mod proxy;
mod run;
pub mod scan;
mod settings;
mod tsdb;
mod views;
mod webhook;
pub mod window;

use crane_api::EventKind;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use clock::LockExt;
use std::time::Duration;

use crane_api::{AppView, ApplyResult, AuditAction, ChangeView, EventView, LogLineView, StatusView};
use crane_core::model::Millis;
use crane_core::ports::{PutOutcome, Runtime, RuntimeError, Store, StoredApp};
use crane_core::revision::ApplyAction;
use futures_util::stream::{BoxStream, StreamExt};
use tokio::sync::{broadcast, mpsc, oneshot};

pub use access::Permission;
pub use alerting::MAX_HISTORY as MAX_ALERT_HISTORY;
pub use clock::Clock;
pub use error::{EngineError, Result};
pub use exposition::SdTargetGroup;
pub use nginx::ManagedNginx;
pub use webhook::MAX_ALERTS as MAX_WEBHOOK_ALERTS;

/// Settings key of the engine's random id, used as the `io.crane.owner` label value.
const ENGINE_ID_KEY: &str = "engine_id";

/// Log lines per instance a door gets when it names no tail, so reading logs never loads a container's whole history.
pub const DEFAULT_LOG_TAIL: u32 = 1000;
/// Most log lines per instance a door may ask for.
pub const MAX_LOG_TAIL: u32 = 10_000;

/// The tail [`EngineHandle::logs`] asks the runtime for: the default when none is given, never above the cap.
fn log_tail(asked: Option<u32>) -> u32 {
    asked.unwrap_or(DEFAULT_LOG_TAIL).min(MAX_LOG_TAIL)
}

/// How to start an engine.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Data directory (SQLite database, API token, API address file).
    pub data_dir: PathBuf,
    /// Period of the level-triggered reconcile tick (events trigger it sooner).
    pub tick: Duration,
    /// How often metrics are collected and the autoscaler runs (0.5–5 s; env `CRANE_METRICS_INTERVAL_MS`).
    pub metrics_interval: Duration,
    /// How often the built-in alert evaluator scrapes `/metrics` and evaluates rule groups without an `interval`
    /// (1 s – 5 min; default 15 s, Prometheus' default; env `CRANE_ALERT_INTERVAL_MS`).
    pub alert_interval: Duration,
    /// A Prometheus for `metric: custom` autoscaling (env `CRANE_PROMETHEUS_URL`).
    pub prometheus_url: Option<String>,
    /// Where the loop's decisions take the time from (tests use tokio's paused clock).
    pub clock: Clock,
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
            alert_interval: std::env::var("CRANE_ALERT_INTERVAL_MS")
                .ok()
                .and_then(|v| v.parse().ok())
                .map(Duration::from_millis)
                .unwrap_or(Duration::from_secs(15)),
            prometheus_url: std::env::var("CRANE_PROMETHEUS_URL").ok().filter(|u| !u.is_empty()),
            clock: Clock::System,
        }
    }

    /// The same with another clock.
    pub fn with_clock(mut self, clock: Clock) -> EngineConfig {
        self.clock = clock;
        self
    }

    /// The same with another metrics interval.
    pub fn with_metrics_interval(mut self, interval: Duration) -> EngineConfig {
        self.metrics_interval = interval;
        self
    }

    /// The same with another alert evaluation interval (tests use a short one).
    pub fn with_alert_interval(mut self, interval: Duration) -> EngineConfig {
        self.alert_interval = interval;
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

/// Current wall-clock time as [`Millis`] (metrics and charts; the loop uses [`EngineConfig::clock`]).
pub(crate) fn now_ms() -> Millis {
    Clock::System.now()
}

/// What a pass reports to the door that asked for it: the runtime errors it met, per app.
pub(crate) type PassReport = BTreeMap<String, Vec<RuntimeError>>;

/// Messages to the engine loop (a closed set: the loop is the only place that creates or removes Docker objects and
/// touches NGINX).
pub(crate) enum Command {
    /// Run a reconcile pass now and reply with what it met.
    Reconcile {
        /// Where the report goes.
        reply: oneshot::Sender<PassReport>,
        /// An app a person just changed: its failed starts are retried now instead of after their delay.
        retry: Option<String>,
        /// An app that was just deleted: after the pass, remove its network and volumes even when it had no
        /// container left (the pass removes containers as orphans).
        forget: Option<String>,
    },
    /// Start (`Some`) or stop (`None`) managing an NGINX for an app; replies with what was done.
    ManageNginx {
        /// App name.
        app: String,
        /// What to manage.
        managed: Option<ManagedNginx>,
        /// Where the outcome goes.
        reply: oneshot::Sender<Result<String>>,
    },
    /// Image work (creates Docker objects): the loop runs it as a task of its own and replies with the image.
    Image {
        /// What to do.
        work: ImageWork,
        /// Where the outcome goes.
        reply: oneshot::Sender<Result<String>>,
    },
    /// A request is held at zero replicas (the load balancer's activator): decide with
    /// `crane_core::scale_to_zero::wake` and start an instance in the same pass.
    Wake {
        /// The app.
        app: String,
    },
    /// Stop the loop.
    Shutdown(oneshot::Sender<()>),
}

/// Image work the loop carries out for a door.
pub(crate) enum ImageWork {
    /// Make sure this image is present, pulling it when missing (bounded in time by the adapter).
    Ensure(String),
    /// Build Crane's demo image.
    BuildDemo,
    /// Build the vulnerable demo variant (`crane-demo:vulnerable`).
    BuildVulnerableDemo,
}

/// How the loop task is doing, for every door to report.
#[derive(Debug, Default, Clone)]
pub(crate) struct LoopHealth {
    /// Times the supervisor restarted the loop after a panic.
    pub restarts: u32,
    /// The last panic's message.
    pub last_panic: Option<String>,
    /// Set when the loop has stopped for good (shutdown, or too many panics): why.
    pub stopped: Option<String>,
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
    /// The rolling update of each app, as the last pass saw it.
    pub rollouts: BTreeMap<String, crane_api::RolloutView>,
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
    /// Standbys (`heal.standby`) as last observed, by id: their `die` events are not instance deaths.
    pub standbys: std::collections::BTreeSet<String>,
    /// Paused standbys per app, as last observed (shown in the app's view).
    pub standby_counts: BTreeMap<String, u32>,
    /// Slots whose standby is being created beside the loop.
    pub standby_in_flight: std::collections::BTreeSet<(String, u32)>,
    /// Slots whose last standby creations failed.
    pub standby_failures: crane_core::model::StartFailures,
    /// Standbys promoted into their slot, and when: their uptime counts from the promotion, not from the start they
    /// had while they waited.
    pub promoted: BTreeMap<String, Millis>,
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
    /// The built-in alert evaluator's rules, alerts and series.
    pub alerting: alerting::Alerting,
    /// The image scanner (reports, jobs, the advisory database).
    pub scans: scan::Scans,
    /// The alert evaluator task.
    pub alerting_task: Mutex<Option<tokio::task::JoinHandle<()>>>,
    pub probe_reports: mpsc::UnboundedSender<probes::ProbeReport>,
    /// Serialises apply/scale/delete so two doors cannot interleave a read-modify-write of one app. Never held
    /// while waiting for a pass. (The loop and the autoscaler do not take it: the store's generation check makes
    /// their writes lose against a newer one instead.)
    pub writes: tokio::sync::Mutex<()>,
    pub loop_done: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// The supervisor's view of the loop task.
    pub loop_health: Mutex<LoopHealth>,
    /// REST API URL, once the REST door is up (set by that door, not by the loop).
    pub api_url: Mutex<String>,
    /// The exclusive lock of the data directory, held until shutdown.
    pub data_lock: Mutex<Option<data_dir::Lock>>,
    /// The users' tokens as authentication reads them (rebuilt after every change).
    pub tokens: access::TokenCache,
    /// Alertmanager alerts already handled (deduplication of the webhook).
    pub webhook_seen: webhook::Seen,
    /// The running policies (admission, scaling, alerts), compiled.
    pub policies: policies::Policies,
    /// The settings naming other services (Alertmanager, OPA), as in the store.
    pub remote: Mutex<settings::Remote>,
    /// The loaded lab's work lock and check evaluator.
    pub labs: labs::Labs,
    /// The experiment runs being recorded.
    pub experiments: experiments::Experiments,
}

impl Inner {
    /// The current time on the engine's clock.
    pub(crate) fn now(&self) -> Millis {
        self.config.clock.now()
    }
}

/// A clonable handle to a running engine. Every door calls these methods.
#[derive(Clone)]
pub struct EngineHandle {
    inner: Arc<Inner>,
    /// Who is asking, through which door: what the engine checks roles and ownership against
    /// ([`EngineHandle::authorize`]), records in the audit log ([`EngineHandle::audited`]) and gives policies. A fresh
    /// handle acts as the engine's own admin; doors narrow it with [`EngineHandle::as_caller`].
    caller: Arc<Caller>,
}

/// Who makes a request and through which door.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The user's name.
    pub user: String,
    /// What the user may do.
    pub role: crane_api::Role,
    /// How the request arrived.
    pub door: crane_api::Door,
}

impl Caller {
    /// The name of the user every engine has: the holder of the data directory's token, and the window.
    pub const ADMIN: &'static str = "admin";

    /// The engine's own admin, through a door.
    pub fn admin(door: crane_api::Door) -> Caller {
        Caller { user: Caller::ADMIN.to_string(), role: crane_api::Role::Admin, door }
    }
}

impl EngineHandle {
    /// Starts an engine on the local Docker engine (or `DOCKER_HOST`) with SQLite state in `config.data_dir`.
    /// Fails only when the data directory or database cannot be used; an unreachable Docker engine is reported by
    /// [`EngineHandle::status`] and by each operation that needs it.
    pub async fn start(config: EngineConfig) -> Result<EngineHandle> {
        // Checked and locked before SQLite creates anything in the directory.
        let lock = data_dir::prepare(&config.data_dir)?;
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
        let shared = Shared { docker_error: error, ..Shared::default() };
        Self::start_inner(config, runtime, docker, Arc::new(store), shared, Some(lock)).await
    }

    /// Starts an engine on the given adapters (tests use fakes). Without a Docker client the demo image cannot be
    /// built.
    pub async fn start_with(
        config: EngineConfig,
        runtime: Arc<dyn Runtime>,
        store: Arc<dyn Store>,
    ) -> Result<EngineHandle> {
        Self::start_inner(config, runtime, None, store, Shared::default(), None).await
    }

    async fn start_inner(
        config: EngineConfig,
        runtime: Arc<dyn Runtime>,
        docker: Option<Arc<crane_docker::DockerRuntime>>,
        store: Arc<dyn Store>,
        shared: Shared,
        lock: Option<data_dir::Lock>,
    ) -> Result<EngineHandle> {
        let lock = match lock {
            Some(lock) => lock,
            None => data_dir::prepare(&config.data_dir)?,
        };
        let image_source = docker.clone().map(|d| d as Arc<dyn crane_docker::ImageSource>);
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
        let (zero_signals, zero_rx) = mpsc::unbounded_channel();
        let inner = Arc::new(Inner {
            config,
            owner,
            runtime,
            docker,
            store,
            shared: Mutex::new(shared),
            changes,
            commands,
            proxies: proxy::Proxies::new(zero_signals),
            probers: probes::Probers::default(),
            collector: metrics::Collector::with_zero_signals(zero_rx),
            loads: load::Loads::default(),
            collector_task: Mutex::new(None),
            alerting: alerting::Alerting::default(),
            alerting_task: Mutex::new(None),
            scans: scan::Scans::new(image_source),
            probe_reports,
            writes: tokio::sync::Mutex::new(()),
            loop_done: Mutex::new(None),
            loop_health: Mutex::new(LoopHealth::default()),
            api_url: Mutex::new(String::new()),
            data_lock: Mutex::new(Some(lock)),
            tokens: access::TokenCache::default(),
            webhook_seen: webhook::Seen::default(),
            policies: policies::Policies::shipped(Arc::new(crane_policy::Regorus)),
            remote: Mutex::default(),
            labs: labs::Labs::default(),
            experiments: experiments::Experiments::default(),
        });
        let handle = EngineHandle { inner, caller: Arc::new(Caller::admin(crane_api::Door::Engine)) };
        handle.ensure_admin_user().await?;
        handle.load_policies().await?;
        handle.load_remote().await?;
        alerting::load(&handle.inner).await;
        // Runs that were recording when the engine stopped are closed from the samples, which outlive a restart.
        experiments::recover(&handle.inner).await;
        handle.start_loop(rx, reports_rx);
        handle.resume_lab().await;
        Ok(handle)
    }

    fn start_loop(&self, rx: mpsc::Receiver<Command>, reports: mpsc::UnboundedReceiver<probes::ProbeReport>) {
        let inner = self.inner.clone();
        let task = tokio::spawn(async move { run::supervise(inner, rx, reports).await });
        *self.inner.loop_done.locked() = Some(task);
        let inner = self.inner.clone();
        *self.inner.collector_task.locked() = Some(tokio::spawn(async move { metrics::run(inner).await }));
        let inner = self.inner.clone();
        *self.inner.alerting_task.locked() = Some(tokio::spawn(async move { alerting::run(inner).await }));
    }

    /// The engine acting as itself (`admin` through the `engine` door), for its own background work.
    pub(crate) fn engine_side(inner: Arc<Inner>) -> EngineHandle {
        EngineHandle { inner, caller: Arc::new(Caller::admin(crane_api::Door::Engine)) }
    }

    /// The same engine, acting for `caller`: every request through the returned handle is checked, recorded and
    /// decided as that caller's.
    pub fn as_caller(&self, caller: Caller) -> EngineHandle {
        EngineHandle { inner: self.inner.clone(), caller: Arc::new(caller) }
    }

    /// Who this handle acts for.
    pub fn caller(&self) -> &Caller {
        &self.caller
    }

    /// The owner label value of this engine's containers.
    pub fn owner(&self) -> &str {
        &self.inner.owner
    }

    /// Validates and applies a YAML spec: creates the app, or updates/scales an existing one. With `create_only`,
    /// an existing app is a `Conflict` error. A new app whose first instances cannot be started (image missing,
    /// port in use, name taken) is rolled back entirely: nothing is left behind. A new app is owned by the caller;
    /// an operator may change only apps it owns. Audited.
    pub async fn apply(&self, yaml: &str, create_only: bool) -> Result<ApplyResult> {
        let action = if create_only { AuditAction::AppCreate } else { AuditAction::AppApply };
        // The app's name is known once the spec is parsed; the audit row names it from then on.
        let mut name = None;
        let mut result = self.apply_as_caller(yaml, create_only, &mut name).await;
        // The loop (acting on a rollout) or the autoscaler may write the app between this apply's read and its write.
        // The person's apply is the newer wish: it is prepared again from the fresh row, a few times at most.
        for _ in 0..4 {
            if !matches!(result, Err(EngineError::Stale(_))) {
                break;
            }
            result = self.apply_as_caller(yaml, create_only, &mut name).await;
        }
        self.audit(action, name.as_deref(), None, result.as_ref().err()).await;
        result
    }

    async fn apply_as_caller(&self, yaml: &str, create_only: bool, named: &mut Option<String>) -> Result<ApplyResult> {
        self.authorize(Permission::ManageApp, None).await?;
        let floor = self.safety_floor().await?;
        // Parsing is CPU work bounded by the spec size cap; it runs off the async workers so a large spec never
        // stalls other requests or the loop.
        let source = yaml.to_string();
        let parsed = tokio::task::spawn_blocking(move || crane_core::validate::parse_spec_with(&source, &floor))
            .await
            .map_err(|e| EngineError::Internal(format!("parsing the spec failed: {e}")))?;
        let mut spec = parsed
            .map_err(|diags| EngineError::InvalidSpec(diags.into_iter().map(error::wire_diagnostic).collect()))?;
        let name = spec.name.clone();
        *named = Some(name.clone());
        let mut policy_warnings = Vec::new();
        let (action, created_generation, admission) = {
            let _guard = self.inner.writes.lock().await;
            let store = &self.inner.store;
            let existing = store.get_app(&name).await.map_err(internal)?;
            if let Some(existing) = &existing {
                // Checked under the write lock, against the row this apply changes.
                let caller = self.caller();
                crane_core::access::check(
                    access::core_role(caller.role),
                    &caller.user,
                    Permission::ManageApp,
                    Some((&name, &existing.owner)),
                )
                .map_err(|denied| EngineError::Forbidden(denied.0))?;
            }
            if create_only && existing.is_some() {
                return Err(EngineError::Conflict(format!(
                    "an app named '{name}' already exists; choose another name, or use `cranectl apply` to change it"
                )));
            }
            // Policies decide before anything is written: the scaling policy bounds a new replica count, then
            // admission sees the spec as it would be stored.
            let current_replicas = existing.as_ref().map(|e| e.spec.replicas);
            let mut source_yaml = yaml.to_string();
            if current_replicas != Some(spec.replicas) {
                let (replicas, clamped) = self
                    .bound_replicas(crane_core::policy::ScaleSource::Apply, &spec, current_replicas.unwrap_or(0))
                    .await?;
                if let Some(reason) = clamped {
                    spec.replicas = replicas;
                    source_yaml = crane_core::validate::to_yaml(&spec);
                    policy_warnings.push(reason);
                }
            }
            let admission = if existing.is_some() {
                crane_core::policy::AdmissionAction::Update
            } else {
                crane_core::policy::AdmissionAction::Create
            };
            let warned = self.admit(admission, &spec, existing.as_ref().map(|e| &e.spec)).await?;
            policy_warnings.extend(warned);
            let yaml = source_yaml.as_str();
            let image_changed = existing.as_ref().map(|e| e.spec.image != spec.image).unwrap_or(true);
            if image_changed {
                self.image_present(&spec.image).await?;
            }
            let now = self.inner.now();
            let history: Vec<u64> =
                store.list_revisions(&name).await.map_err(internal)?.iter().map(|r| r.revision).collect();
            let current =
                existing.as_ref().map(|e| crane_core::revision::Current { spec: &e.spec, revision: e.revision });
            let (action, revision) = crane_core::revision::classify_apply(current, &spec, &history);
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
                generation: existing.as_ref().map_or(0, |e| e.generation),
                owner: existing.as_ref().map_or_else(|| self.caller().user.clone(), |e| e.owner.clone()),
            };
            let revision_record = action.makes_revision().then(|| crane_core::ports::StoredRevision {
                app: name.clone(),
                revision,
                spec: spec.clone(),
                source_yaml: yaml.to_string(),
                cause: match &existing {
                    Some(old) if old.spec.image != spec.image => {
                        format!("apply: image {} → {}", old.spec.image, spec.image)
                    }
                    Some(_) => "apply: container settings changed".to_string(),
                    None => format!("apply: created with image {}", spec.image),
                },
                created_at: now,
            });
            let mut created_generation = None;
            let changed = action != ApplyAction::Unchanged
                || existing.as_ref().is_some_and(|e| e.source_yaml != yaml || e.paused);
            if changed {
                match store.put_app(&stored, revision_record.as_ref()).await.map_err(internal)? {
                    PutOutcome::Written { generation } => {
                        if action == ApplyAction::Created {
                            created_generation = Some(generation);
                        }
                    }
                    PutOutcome::Stale => {
                        return Err(EngineError::Stale(format!(
                            "app '{name}' changed while this apply was being prepared (the engine acted on a rollout, \
                             or the autoscaler scaled it); apply again"
                        )))
                    }
                }
            }
            let details = serde_json::json!({"revision": revision, "replicas": spec.replicas, "image": spec.image, "action": action.as_str()});
            let reason = match action {
                ApplyAction::Created => format!("app '{name}' created: {} replica(s) of {}", spec.replicas, spec.image),
                ApplyAction::Updated => format!(
                    "app '{name}' changed: container settings differ, revision {} → {revision}; instances are \
                     replaced one slot at a time",
                    existing.as_ref().map_or(0, |e| e.revision)
                ),
                ApplyAction::Scaled => format!(
                    "app '{name}' changed without new containers (replicas {} → {})",
                    existing.as_ref().map(|e| e.spec.replicas).unwrap_or(0),
                    spec.replicas
                ),
                ApplyAction::Unchanged => format!("app '{name}' applied unchanged"),
            };
            if action != ApplyAction::Unchanged {
                let kind = match action {
                    ApplyAction::Created => EventKind::AppCreated,
                    ApplyAction::Updated => EventKind::AppUpdated,
                    ApplyAction::Scaled | ApplyAction::Unchanged => EventKind::AppScaled,
                };
                self.record(Some(&name), None, kind, reason, details).await;
            }
            (action, created_generation, admission)
        };
        self.record_warnings(&name, admission, &policy_warnings).await;
        let mut warnings = spec.inactive_sections();
        warnings.extend(spec.applied_defaults());
        if spec.autoscaling.as_ref().is_some_and(|a| a.metric == crane_core::spec::Metric::Custom)
            && self.inner.config.prometheus_url.is_none()
        {
            warnings.push(
                "autoscaling: metric custom needs a Prometheus; start Crane with CRANE_PROMETHEUS_URL set, until then the \
                 app keeps its replica count"
                    .to_string(),
            );
        }
        let errors = self.pass(Some(&name), None).await?;
        if let Some(errs) = errors.get(&name).filter(|e| !e.is_empty()) {
            if let Some(generation) = created_generation {
                // Nothing half-created: remove what the first pass made, then report why. Only the app this apply
                // created is removed: should another door have changed it since, that change stands.
                let first = errs[0].clone();
                let removed = {
                    let _guard = self.inner.writes.lock().await;
                    let now = self.inner.store.get_app(&name).await.map_err(internal)?;
                    now.is_some_and(|a| a.generation == generation)
                        && self.inner.store.delete_app(&name).await.map_err(internal)?
                };
                if removed {
                    self.inner.proxies.remove(&name);
                    let _ = self.pass(None, Some(&name)).await;
                    self.record(
                        Some(&name),
                        None,
                        EventKind::AppRolledBack,
                        format!("app '{name}' was not created: {first}"),
                        serde_json::json!({"error": first.to_string()}),
                    )
                    .await;
                    return Err(runtime_error(first));
                }
            }
            warnings.extend(errs.iter().map(|e| e.to_string()));
        }
        let app = self.get_app(&name).await?;
        Ok(ApplyResult { app, action: wire_action(action), warnings, policy_warnings })
    }

    /// All apps with their instances.
    pub async fn list_apps(&self) -> Result<Vec<AppView>> {
        let apps = self.inner.store.list_apps().await.map_err(internal)?;
        let health = self.health_by_id();
        let traffic: BTreeMap<String, Vec<proxy::PortTraffic>> =
            apps.iter().map(|a| (a.spec.name.clone(), self.inner.proxies.ports(&a.spec.name))).collect();
        let views: Vec<AppView> = {
            let shared = self.inner.shared.locked();
            apps.iter()
                .map(|a| {
                    let ports = traffic.get(&a.spec.name).map_or(&[][..], Vec::as_slice);
                    views::app_view(a, &shared, &health, ports, self.inner.now())
                })
                .collect()
        };
        Ok(views.into_iter().map(|v| self.with_activity(v)).collect())
    }

    /// One app.
    pub async fn get_app(&self, name: &str) -> Result<AppView> {
        let app = self.stored(name).await?;
        let health = self.health_by_id();
        let ports = self.inner.proxies.ports(name);
        let view = {
            let shared = self.inner.shared.locked();
            views::app_view(&app, &shared, &health, &ports, self.inner.now())
        };
        Ok(self.with_activity(view))
    }

    /// Adds what the load generator and the autoscaler are doing to an app's view.
    fn with_activity(&self, mut view: AppView) -> AppView {
        view.load = self.inner.loads.view(&view.name);
        views::add_last_decision(&mut view, &self.inner.collector);
        let now = now_ms();
        for instance in &mut view.instances {
            instance.cpu_percent = self.inner.collector.cpu_percent(&instance.id, now);
        }
        let zero = self.inner.proxies.zero_status(&view.name);
        views::add_scale_to_zero(&mut view, zero, now);
        view
    }

    /// Probe states of the observed containers (taken before locking `shared`, to keep one lock order).
    fn health_by_id(&self) -> BTreeMap<String, crane_core::probe::InstanceHealth> {
        let ids: Vec<String> = self.inner.shared.locked().observed.iter().map(|o| o.id.clone()).collect();
        ids.into_iter().filter_map(|id| self.inner.probers.health(&id).map(|h| (id, h))).collect()
    }

    async fn stored(&self, name: &str) -> Result<StoredApp> {
        self.inner.store.get_app(name).await.map_err(internal)?.ok_or_else(|| EngineError::NotFound(name.to_string()))
    }

    /// Changes the replica count (operators: of their own apps). Audited.
    pub async fn scale(&self, name: &str, replicas: u32) -> Result<AppView> {
        self.audited(AuditAction::AppScale, Some(name), None, async {
            self.authorize(Permission::ManageApp, Some(name)).await?;
            self.scale_now(name, replicas).await
        })
        .await
    }

    async fn scale_now(&self, name: &str, replicas: u32) -> Result<AppView> {
        if replicas > crane_core::validate::MAX_REPLICAS {
            return Err(EngineError::BadRequest(format!(
                "replicas must be between 0 and {}; got {replicas}",
                crane_core::validate::MAX_REPLICAS
            )));
        }
        let app = self.stored(name).await?;
        let mut next = app.spec.clone();
        next.replicas = replicas;
        let warnings = self.admit(crane_core::policy::AdmissionAction::Scale, &next, Some(&app.spec)).await?;
        self.record_warnings(name, crane_core::policy::AdmissionAction::Scale, &warnings).await;
        let replicas = if replicas == app.spec.replicas {
            replicas
        } else {
            self.bound_replicas(crane_core::policy::ScaleSource::Manual, &next, app.spec.replicas).await?.0
        };
        if let Some(from) = store_replicas(&self.inner, name, None, replicas).await? {
            self.record(
                Some(name),
                None,
                EventKind::AppScaled,
                format!("app '{name}' scaled by request: replicas {from} → {replicas}"),
                serde_json::json!({"from": from, "to": replicas}),
            )
            .await;
        }
        self.pass(Some(name), None).await?;
        self.get_app(name).await
    }

    /// Deletes an app and every container, network and volume it owns (operators: their own apps). Audited.
    pub async fn delete(&self, name: &str) -> Result<()> {
        self.audited(AuditAction::AppDelete, Some(name), None, async {
            self.authorize(Permission::ManageApp, Some(name)).await?;
            self.delete_now(name).await
        })
        .await
    }

    async fn delete_now(&self, name: &str) -> Result<()> {
        // A run being recorded keeps its points up to now: they are copied before the app's samples go.
        experiments::app_deleted(&self.inner, name).await;
        {
            let _guard = self.inner.writes.lock().await;
            // The app, its history and its NGINX setting go in one transaction (a managed NGINX keeps its last
            // config; Crane just stops rewriting it).
            if !self.inner.store.delete_app(name).await.map_err(internal)? {
                return Err(EngineError::NotFound(name.to_string()));
            }
            self.inner.loads.forget(name);
            self.inner.proxies.remove(name);
            self.record(
                Some(name),
                None,
                EventKind::AppDeleted,
                format!("app '{name}' deleted by request: removing its instances, network and volumes"),
                serde_json::json!({}),
            )
            .await;
        }
        // The pass removes the containers (orphans); the loop then removes the network and volumes, even when the
        // app had no container left.
        let errors = self.pass(None, Some(name)).await?;
        if let Some(e) = errors.get(name).and_then(|e| e.first()) {
            return Err(runtime_error(e.clone()));
        }
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
    /// revision's, the replica count stays, and a rolling update replaces the instances (operators: their own
    /// apps). Audited.
    pub async fn rollout_undo(&self, name: &str, to: Option<u64>) -> Result<AppView> {
        self.audited(AuditAction::RolloutUndo, Some(name), None, async {
            self.authorize(Permission::ManageApp, Some(name)).await?;
            self.rollout_undo_now(name, to).await
        })
        .await
    }

    async fn rollout_undo_now(&self, name: &str, to: Option<u64>) -> Result<AppView> {
        {
            let _guard = self.inner.writes.lock().await;
            let mut app = self.stored(name).await?;
            let revisions = self.inner.store.list_revisions(name).await.map_err(internal)?;
            let numbers: Vec<u64> = revisions.iter().map(|r| r.revision).collect();
            let target = crane_core::revision::undo_target(name, app.revision, &numbers, to)
                .map_err(|e| EngineError::BadRequest(e.to_string()))?;
            let target = revisions.iter().find(|r| r.revision == target).expect("undo_target picks from the history");
            let from = app.revision;
            let replicas = app.spec.replicas;
            let mut next = target.spec.clone();
            next.replicas = replicas;
            let action = crane_core::policy::AdmissionAction::Undo;
            let warnings = self.admit(action, &next, Some(&app.spec)).await?;
            self.record_warnings(name, action, &warnings).await;
            app.spec = next;
            app.source_yaml = crane_core::validate::to_yaml(&app.spec);
            app.revision = target.revision;
            app.paused = false;
            app.updated_at = self.inner.now();
            self.image_present(&app.spec.image).await?;
            if self.inner.store.put_app(&app, None).await.map_err(internal)? == PutOutcome::Stale {
                return Err(EngineError::Conflict(format!(
                    "app '{name}' changed while the undo was being prepared; run the undo again"
                )));
            }
            self.record(
                Some(name),
                None,
                EventKind::RolloutUndo,
                format!(
                    "app '{name}' rolled back by request: revision {from} → {} ({})",
                    target.revision, target.cause
                ),
                serde_json::json!({"from": from, "to": target.revision}),
            )
            .await;
        }
        self.pass(Some(name), None).await?;
        self.get_app(name).await
    }

    /// Restarts an app the way `kubectl rollout restart` does: the same spec becomes a new revision, so a rolling
    /// update replaces every instance with a fresh container, one slot at a time, each new one ready before its old
    /// one goes (operators: their own apps). Admission sees it as an update with the spec unchanged. `why` is the
    /// revision's cause (`None`: "restart requested by <user> (<door>)"). Audited.
    pub async fn rollout_restart(&self, name: &str, why: Option<String>) -> Result<AppView> {
        self.audited(AuditAction::RolloutRestart, Some(name), None, async {
            self.authorize(Permission::ManageApp, Some(name)).await?;
            self.rollout_restart_now(name, why).await
        })
        .await
    }

    async fn rollout_restart_now(&self, name: &str, why: Option<String>) -> Result<AppView> {
        {
            let _guard = self.inner.writes.lock().await;
            let mut app = self.stored(name).await?;
            if app.spec.replicas == 0 {
                return Err(EngineError::BadRequest(format!(
                    "app '{name}' runs no instances (replicas: 0), so there is nothing to restart; scale it up first"
                )));
            }
            let action = crane_core::policy::AdmissionAction::Update;
            let warnings = self.admit(action, &app.spec, Some(&app.spec)).await?;
            self.record_warnings(name, action, &warnings).await;
            let revisions = self.inner.store.list_revisions(name).await.map_err(internal)?;
            let from = app.revision;
            let next = revisions.iter().map(|r| r.revision).max().unwrap_or(from).max(from) + 1;
            let caller = self.caller().clone();
            let cause = why.unwrap_or_else(|| {
                format!("restart requested by {} ({})", caller.user, settings::door_name(caller.door))
            });
            let now = self.inner.now();
            app.revision = next;
            app.paused = false;
            app.updated_at = now;
            let record = crane_core::ports::StoredRevision {
                app: name.to_string(),
                revision: next,
                spec: app.spec.clone(),
                source_yaml: app.source_yaml.clone(),
                cause: format!("restart: {cause}"),
                created_at: now,
            };
            if self.inner.store.put_app(&app, Some(&record)).await.map_err(internal)? == PutOutcome::Stale {
                return Err(EngineError::Conflict(format!(
                    "app '{name}' changed while the restart was being prepared; run the restart again"
                )));
            }
            self.record(
                Some(name),
                None,
                EventKind::RolloutRestart,
                format!(
                    "app '{name}' restarts: revision {from} → {next} with the same spec, so a rolling update replaces \
                     its {} instance(s) one at a time ({cause})",
                    app.spec.replicas
                ),
                serde_json::json!({"from": from, "to": next, "replicas": app.spec.replicas, "cause": cause,
                    "by": {"user": caller.user, "door": caller.door}}),
            )
            .await;
        }
        self.pass(Some(name), None).await?;
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
        let backends = self.inner.shared.locked().ready_backends.get(name).cloned().unwrap_or_default();
        Ok(nginx::config(name, app.revision, listen, &backends))
    }

    /// Makes the engine manage an NGINX for the app: it writes the app's config to `managed.config_path` now and
    /// after every change of the ready set, and reloads NGINX each time. `None` stops managing. The loop does the
    /// writing and reloading (it is the one place that touches NGINX). Operators: their own apps. Audited.
    pub async fn manage_nginx(&self, name: &str, managed: Option<ManagedNginx>) -> Result<String> {
        let action = if managed.is_some() { AuditAction::NginxManage } else { AuditAction::NginxUnmanage };
        self.audited(action, Some(name), None, async {
            // Managed NGINX writes a file and signals a process on the host: an engine setting, not an app change.
            self.authorize(Permission::ManageSettings, Some(name)).await?;
            self.manage_nginx_now(name, managed).await
        })
        .await
    }

    async fn manage_nginx_now(&self, name: &str, managed: Option<ManagedNginx>) -> Result<String> {
        let app = self.stored(name).await?;
        if managed.is_some() && app.spec.ports.is_empty() {
            return Err(EngineError::BadRequest(format!(
                "app '{name}' has no port to proxy to; add `ports: [{{container: PORT}}]` to its spec"
            )));
        }
        let (reply, rx) = oneshot::channel();
        self.send(Command::ManageNginx { app: name.to_string(), managed, reply }).await?;
        rx.await.map_err(|_| self.loop_failed())?
    }

    /// Starts the built-in load generator against the app's load-balancer address (operators: their own apps).
    /// Audited.
    pub async fn start_load(&self, name: &str, request: &crane_api::LoadRequest) -> Result<crane_api::LoadView> {
        self.audited(AuditAction::LoadStart, Some(name), None, async {
            self.authorize(Permission::ManageApp, Some(name)).await?;
            self.start_load_now(name, request).await
        })
        .await
    }

    async fn start_load_now(&self, name: &str, request: &crane_api::LoadRequest) -> Result<crane_api::LoadView> {
        load::check_numbers(request)?;
        let app = self.stored(name).await?;
        let port = app.public_port.ok_or_else(|| {
            EngineError::BadRequest(format!(
                "app '{name}' has no address to send load to; add `ports: [{{container: PORT}}]` to its spec"
            ))
        })?;
        load::start(&self.inner, name, port, request)
    }

    /// Stops the app's load run; the view of the run, or NotFound-like BadRequest when none ran (operators: their
    /// own apps). Audited.
    pub async fn stop_load(&self, name: &str) -> Result<crane_api::LoadView> {
        self.audited(AuditAction::LoadStop, Some(name), None, async {
            self.authorize(Permission::ManageApp, Some(name)).await?;
            self.stop_load_now(name).await
        })
        .await
    }

    async fn stop_load_now(&self, name: &str) -> Result<crane_api::LoadView> {
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
    /// `tail` lines per instance ([`DEFAULT_LOG_TAIL`] when not given, at most [`MAX_LOG_TAIL`]); without `follow`
    /// the merged answer is the last `tail` lines of all of them.
    pub async fn logs(&self, app: &str, follow: bool, tail: Option<u32>) -> Result<BoxStream<'static, LogLineView>> {
        let tail = Some(log_tail(tail));
        self.stored(app).await?;
        let observed = self.inner.runtime.list_instances(&self.inner.owner).await.map_err(runtime_error)?;
        let mut streams = Vec::new();
        for inst in observed.iter().filter(|i| i.app == app && !i.standby) {
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
            let keep = tail.map_or(lines.len(), |t| t as usize);
            let lines = lines.split_off(lines.len().saturating_sub(keep));
            Ok(futures_util::stream::iter(lines).boxed())
        }
    }

    /// Builds the demo image `crane-demo:<version>`; progress is also broadcast as [`ChangeView::Progress`]. The loop
    /// runs the build (it is the one place that creates Docker objects) as a task of its own, so passes go on.
    /// Operators and admins. Audited.
    pub async fn build_demo_image(&self) -> Result<String> {
        self.audited(AuditAction::ImageBuildDemo, None, None, async {
            self.authorize(Permission::ManageApp, None).await?;
            self.image_work(ImageWork::BuildDemo).await
        })
        .await
    }

    /// Makes sure an image is present (pulling it when it is not), through the loop.
    async fn image_present(&self, image: &str) -> Result<String> {
        self.image_work(ImageWork::Ensure(image.to_string())).await
    }

    async fn image_work(&self, work: ImageWork) -> Result<String> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Image { work, reply }).await?;
        rx.await.map_err(|_| self.loop_failed())?
    }

    /// Engine status.
    pub async fn status(&self) -> StatusView {
        let version = self.inner.runtime.version().await;
        let apps = self.inner.store.list_apps().await.map(|a| a.len() as u32).unwrap_or(0);
        let api_url = self.inner.api_url.locked().clone();
        let (docker_ok, docker) = match version {
            Ok(v) => (true, v),
            Err(e) => (false, e.to_string()),
        };
        StatusView {
            version: env!("CARGO_PKG_VERSION").to_string(),
            docker_ok,
            docker,
            api_url,
            data_dir: self.inner.config.data_dir.display().to_string(),
            apps,
            engine_error: self.loop_error(),
            rules: views::rules(),
            // A store that cannot be read shows the floor as on (no apply gets through such a store anyway).
            allow_unsafe: self.settings().await.is_ok_and(|s| s.allow_unsafe),
        }
    }

    /// Whether the engine loop runs; when it does not, why (every door reports it).
    pub fn loop_error(&self) -> Option<String> {
        let health = self.inner.loop_health.locked();
        health.stopped.clone()
    }

    /// How often the supervisor restarted the loop after a panic, and the last panic's message.
    pub fn loop_restarts(&self) -> (u32, Option<String>) {
        let health = self.inner.loop_health.locked();
        (health.restarts, health.last_panic.clone())
    }

    /// Subscribes to changes (apps, events, progress).
    pub fn subscribe(&self) -> broadcast::Receiver<ChangeView> {
        self.inner.changes.subscribe()
    }

    /// Records in the event log that this handle's caller replaced the REST API token (the door that holds the token
    /// rotates it; the engine only keeps the record). `file` is where the new token is; the token itself is never
    /// logged.
    pub async fn token_rotated(&self, file: &str) {
        let caller = self.caller().clone();
        self.record(
            None,
            None,
            EventKind::TokenRotated,
            format!(
                "the REST API token was replaced by {} ({}); the old one no longer works; the new one is in {file}",
                caller.user,
                settings::door_name(caller.door)
            ),
            serde_json::json!({"token_file": file, "by": {"user": caller.user, "door": caller.door}}),
        )
        .await;
    }

    /// Records the REST API address shown by [`EngineHandle::status`].
    pub fn set_api_url(&self, url: String) {
        *self.inner.api_url.locked() = url;
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
        let task = self.inner.loop_done.locked().take();
        if let Some(task) = task {
            let _ = task.await;
        }
        self.stop_side_tasks();
        // The loop has ended: another engine may use the data directory now.
        self.inner.data_lock.locked().take();
    }

    /// Stops the loop at once without waiting for it (for `Drop` paths, where nothing can be awaited). Containers
    /// keep running, as with [`EngineHandle::shutdown`].
    pub fn abort(&self) {
        if let Some(task) = self.inner.loop_done.locked().take() {
            task.abort();
        }
        self.stop_side_tasks();
        // Another engine may take the data directory now.
        self.inner.data_lock.locked().take();
    }

    fn stop_side_tasks(&self) {
        if let Some(task) = self.inner.collector_task.locked().take() {
            task.abort();
        }
        if let Some(task) = self.inner.alerting_task.locked().take() {
            task.abort();
        }
        if let Some(task) = self.inner.labs.task.locked().take() {
            task.abort();
        }
        self.inner.collector.clear();
        self.inner.experiments.clear();
        self.inner.loads.clear();
        self.inner.proxies.clear();
        self.inner.probers.clear();
    }

    /// Asks the loop for a reconcile pass and waits for it. `retry` names an app a person just changed (its failed
    /// starts are retried at once); `forget` an app just deleted (its network and volumes go after the pass).
    async fn pass(&self, retry: Option<&str>, forget: Option<&str>) -> Result<PassReport> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Reconcile { reply, retry: retry.map(str::to_string), forget: forget.map(str::to_string) })
            .await?;
        rx.await.map_err(|_| self.loop_failed())
    }

    /// Sends a command to the loop; an error when the loop has stopped for good.
    async fn send(&self, command: Command) -> Result<()> {
        self.inner.commands.send(command).await.map_err(|_| self.loop_failed())
    }

    /// The error a door reports when the loop did not answer: it stopped, or it panicked during the pass (then the
    /// supervisor restarts it and the request can be repeated).
    fn loop_failed(&self) -> EngineError {
        let health = self.inner.loop_health.locked().clone();
        match (health.stopped, health.last_panic) {
            (Some(why), _) => EngineError::LoopStopped(why),
            (None, Some(panic)) => EngineError::LoopStopped(format!(
                "the engine loop failed during this request ({panic}) and was restarted; the change is stored and is \
                 applied on the next pass, try again to see its result"
            )),
            (None, None) => EngineError::LoopStopped("the engine loop is not running".to_string()),
        }
    }

    async fn record(
        &self,
        app: Option<&str>,
        instance: Option<&str>,
        kind: EventKind,
        reason: String,
        details: serde_json::Value,
    ) {
        run::record(&self.inner, app, instance, kind, reason, details).await;
    }
}

/// Stores a new replica count for an app (the YAML shown follows), under the write lock so no door interleaves.
/// With `only_from`, nothing changes unless the count is still that (the autoscaler must not undo a concurrent
/// `scale`). Returns the previous count when it changed. A write that loses against a newer one (the loop rolled the
/// app back meanwhile) is read and tried again.
pub(crate) async fn store_replicas(
    inner: &Inner,
    name: &str,
    only_from: Option<u32>,
    replicas: u32,
) -> Result<Option<u32>> {
    let _guard = inner.writes.lock().await;
    for _ in 0..5 {
        let Some(mut app) = inner.store.get_app(name).await.map_err(internal)? else {
            return Err(EngineError::NotFound(name.to_string()));
        };
        let from = app.spec.replicas;
        if from == replicas || only_from.is_some_and(|only| only != from) {
            return Ok(None);
        }
        app.spec.replicas = replicas;
        app.source_yaml = crane_core::validate::to_yaml(&app.spec);
        app.updated_at = inner.now();
        if let PutOutcome::Written { .. } = inner.store.put_app(&app, None).await.map_err(internal)? {
            return Ok(Some(from));
        }
    }
    Err(EngineError::Conflict(format!("app '{name}' keeps changing under this request; try again")))
}

/// The wire form of a core apply action.
fn wire_action(action: ApplyAction) -> crane_api::ApplyAction {
    match action {
        ApplyAction::Created => crane_api::ApplyAction::Created,
        ApplyAction::Updated => crane_api::ApplyAction::Updated,
        ApplyAction::Scaled => crane_api::ApplyAction::Scaled,
        ApplyAction::Unchanged => crane_api::ApplyAction::Unchanged,
    }
}

pub(crate) fn internal(e: impl std::fmt::Display) -> EngineError {
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
