//! A scriptable in-memory [`Runtime`] for engine tests without Docker: containers that start, crash, hang or fail
//! to be created, and events delivered late or twice. It follows the Docker adapter's contract (names
//! `<app>-<index>`, an old revision's running container moved aside to `<app>-<index>-r<revision>` by a start in its
//! slot, removal of a missing container is not an error, owner labels separate engines), so the engine under test
//! cannot tell the difference for what the loop does. Claims about Docker itself are proven against the real engine
//! in `tests/`.
//!
//! Time comes from [`Clock`] (tests use [`Clock::tokio`] with a paused runtime).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use crane_core::model::{ContainerState, Millis, ObservedInstance};
use crane_core::ports::{
    ExecOutput, InstanceDetails, InstanceRequest, LogLine, ResourceSample, Runtime, RuntimeError, RuntimeEvent,
};
use futures_util::stream::{BoxStream, StreamExt};
use tokio::sync::{mpsc, Notify};

use crate::clock::{Clock, LockExt};

/// One container the fake runtime holds.
#[derive(Debug, Clone, PartialEq)]
pub struct FakeContainer {
    /// Its id (`c1`, `c2`…).
    pub id: String,
    /// Its name.
    pub name: String,
    /// App label.
    pub app: String,
    /// Instance index label.
    pub index: u32,
    /// Revision label.
    pub revision: u64,
    /// Owner label.
    pub owner: String,
    /// Image it was created from.
    pub image: String,
    /// State.
    pub state: ContainerState,
    /// Exit code once exited.
    pub exit_code: Option<i64>,
    /// Creation time.
    pub created_at: Millis,
    /// Start time.
    pub started_at: Option<Millis>,
}

/// What the test scripted.
#[derive(Default)]
struct Script {
    /// Images that exist; `ensure_image` of any other fails (unless `any_image`).
    images: BTreeSet<String>,
    /// Every image exists.
    any_image: bool,
    /// Starts of these apps fail with this error (cleared with [`FakeRuntime::heal_starts`]).
    fail_starts: BTreeMap<String, RuntimeError>,
    /// Instances of these (app, revision) exit with code 1 right after they start.
    crash_on_start: BTreeSet<(String, u64)>,
    /// Exec probes in instances of these (app, revision) fail (exit code 1).
    fail_exec: BTreeSet<(String, u64)>,
    /// Starts of these apps hang until [`FakeRuntime::release`] is called.
    hang_starts: BTreeSet<String>,
    /// The next `list_instances` calls panic (a bug in an adapter, as the loop sees it).
    panic_lists: u32,
    /// The next `list_instances` call waits until [`FakeRuntime::release`] (holds a pass mid-way).
    block_lists: u32,
    /// Every event is delivered twice.
    events_twice: bool,
    /// Events are delivered this late.
    events_delay: Option<Duration>,
    /// The runtime is unreachable.
    unreachable: bool,
    /// Lines each container has written (`line 0`, `line 1`…), served by `logs`.
    log_lines: u32,
    /// The `tail` of every `logs` call, in order.
    log_tails: Vec<Option<u32>>,
}

/// A mutating call the fake received, for assertions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    /// `ensure_network(app)`.
    EnsureNetwork(String),
    /// `remove_app_resources(app)`.
    RemoveAppResources(String),
    /// `start_instance(app, index, revision)`; `ok` tells whether it succeeded.
    Start {
        /// App.
        app: String,
        /// Index.
        index: u32,
        /// Revision.
        revision: u64,
        /// Whether it succeeded.
        ok: bool,
    },
    /// `remove_instance(name)` of a container that existed.
    Remove(String),
    /// `rename_instance(id, new name)`.
    Rename(String, String),
    /// `create_standby(app, index, revision)`; `ok` tells whether it succeeded.
    CreateStandby {
        /// App.
        app: String,
        /// Index.
        index: u32,
        /// Revision.
        revision: u64,
        /// Whether it succeeded.
        ok: bool,
    },
    /// `promote_standby(id, name)`.
    Promote(String, String),
    /// `remove_standby(name)` of a container that existed.
    RemoveStandby(String),
}

#[derive(Default)]
struct State {
    containers: BTreeMap<String, FakeContainer>,
    networks: BTreeSet<String>,
    next_id: u64,
    calls: Vec<Call>,
    subscribers: Vec<(String, mpsc::UnboundedSender<Result<RuntimeEvent, RuntimeError>>)>,
    script: Script,
}

/// The fake runtime. Cheap to clone (shared state).
#[derive(Clone)]
pub struct FakeRuntime {
    state: Arc<Mutex<State>>,
    release: Arc<Notify>,
    clock: Clock,
}

impl FakeRuntime {
    /// An empty runtime on `clock` where every image exists.
    pub fn new(clock: Clock) -> FakeRuntime {
        let runtime = FakeRuntime { state: Arc::default(), release: Arc::new(Notify::new()), clock };
        runtime.state.locked().script.any_image = true;
        runtime
    }

    /// Each container has written `lines` log lines from now on.
    pub fn write_logs(&self, lines: u32) {
        self.state.locked().script.log_lines = lines;
    }

    /// The `tail` each `logs` call asked for, in order.
    pub fn log_tails(&self) -> Vec<Option<u32>> {
        self.state.locked().script.log_tails.clone()
    }

    /// Only these images exist from now on.
    pub fn only_images(&self, images: &[&str]) {
        let mut state = self.state.locked();
        state.script.any_image = false;
        state.script.images = images.iter().map(|i| i.to_string()).collect();
    }

    /// Starts of `app` fail with `error` until [`FakeRuntime::heal_starts`].
    pub fn fail_starts(&self, app: &str, error: RuntimeError) {
        self.state.locked().script.fail_starts.insert(app.to_string(), error);
    }

    /// Starts of `app` work again.
    pub fn heal_starts(&self, app: &str) {
        self.state.locked().script.fail_starts.remove(app);
    }

    /// Instances of `app` at `revision` exit with code 1 right after starting.
    pub fn crash_on_start(&self, app: &str, revision: u64) {
        self.state.locked().script.crash_on_start.insert((app.to_string(), revision));
    }

    /// Instances of `app` at `revision` run normally again.
    pub fn stop_crashing(&self, app: &str, revision: u64) {
        self.state.locked().script.crash_on_start.remove(&(app.to_string(), revision));
    }

    /// Commands run in instances of `app` at `revision` (exec probes) exit with code 1.
    pub fn fail_exec(&self, app: &str, revision: u64) {
        self.state.locked().script.fail_exec.insert((app.to_string(), revision));
    }

    /// Starts of `app` hang until [`FakeRuntime::release`].
    pub fn hang_starts(&self, app: &str) {
        self.state.locked().script.hang_starts.insert(app.to_string());
    }

    /// The next `n` observations (`list_instances`) panic.
    pub fn panic_next_lists(&self, n: u32) {
        self.state.locked().script.panic_lists = n;
    }

    /// The next observation waits until [`FakeRuntime::release`]: the pass that makes it is held mid-way.
    pub fn block_next_list(&self) {
        self.state.locked().script.block_lists = 1;
    }

    /// Lets every hung start and blocked observation go on.
    pub fn release(&self) {
        {
            let mut state = self.state.locked();
            state.script.hang_starts.clear();
            state.script.block_lists = 0;
        }
        self.release.notify_waiters();
    }

    /// Delivers every event twice from now on.
    pub fn events_twice(&self, twice: bool) {
        self.state.locked().script.events_twice = twice;
    }

    /// Delivers events this late from now on.
    pub fn delay_events(&self, delay: Option<Duration>) {
        self.state.locked().script.events_delay = delay;
    }

    /// Makes the runtime unreachable (or reachable again); open event streams end.
    pub fn set_unreachable(&self, unreachable: bool) {
        let mut state = self.state.locked();
        state.script.unreachable = unreachable;
        if unreachable {
            state.subscribers.clear();
        }
    }

    /// Makes the named container exit with `code`, as a crash or `docker kill` would, and reports `die`.
    pub fn crash(&self, name: &str, code: i64) -> bool {
        let now = self.clock.now();
        let mut state = self.state.locked();
        let Some(c) = state.containers.values_mut().find(|c| c.name == name && c.state == ContainerState::Running)
        else {
            return false;
        };
        c.state = ContainerState::Exited;
        c.exit_code = Some(code);
        let (id, app) = (c.id.clone(), c.app.clone());
        Self::emit(&mut state, &id, "die", &app, Some(code), now);
        true
    }

    /// Adds a container as if another process (or an earlier engine) had created it.
    pub fn insert(&self, container: FakeContainer) {
        self.state.locked().containers.insert(container.id.clone(), container);
    }

    /// Every container, in id order.
    pub fn containers(&self) -> Vec<FakeContainer> {
        self.state.locked().containers.values().cloned().collect()
    }

    /// Running containers of `app`, by name.
    pub fn running(&self, app: &str) -> Vec<FakeContainer> {
        let mut running: Vec<FakeContainer> = self
            .state
            .locked()
            .containers
            .values()
            .filter(|c| c.app == app && c.state == ContainerState::Running)
            .cloned()
            .collect();
        running.sort_by(|a, b| a.name.cmp(&b.name));
        running
    }

    /// Networks that exist (one per app).
    pub fn networks(&self) -> BTreeSet<String> {
        self.state.locked().networks.clone()
    }

    /// The mutating calls received so far.
    pub fn calls(&self) -> Vec<Call> {
        self.state.locked().calls.clone()
    }

    fn emit(state: &mut State, id: &str, action: &str, app: &str, exit_code: Option<i64>, at: Millis) {
        let owner = state.containers.get(id).map(|c| c.owner.clone()).unwrap_or_default();
        let event =
            RuntimeEvent { id: id.to_string(), action: action.to_string(), app: Some(app.to_string()), exit_code, at };
        let copies = if state.script.events_twice { 2 } else { 1 };
        let delay = state.script.events_delay;
        state.subscribers.retain(|(o, tx)| !tx.is_closed() || o != &owner);
        for (o, tx) in &state.subscribers {
            if o != &owner {
                continue;
            }
            for _ in 0..copies {
                match delay {
                    None => {
                        let _ = tx.send(Ok(event.clone()));
                    }
                    Some(delay) => {
                        let (tx, event) = (tx.clone(), event.clone());
                        tokio::spawn(async move {
                            tokio::time::sleep(delay).await;
                            let _ = tx.send(Ok(event));
                        });
                    }
                }
            }
        }
    }

    /// Waits for [`FakeRuntime::release`] while `held` says the script holds this call (registered before the check,
    /// so a release between the check and the wait is not missed).
    async fn hold_while(&self, held: impl Fn(&Script) -> bool) {
        let released = self.release.notified();
        tokio::pin!(released);
        released.as_mut().enable();
        if held(&self.state.locked().script) {
            released.await;
        }
    }

    fn check_reachable(&self) -> Result<(), RuntimeError> {
        if self.state.locked().script.unreachable {
            return Err(RuntimeError::Unreachable("the fake runtime is switched off".into()));
        }
        Ok(())
    }

    /// A container of `req`'s slot, created and started at `now`.
    fn container(
        req: &InstanceRequest,
        id: &str,
        name: String,
        state: ContainerState,
        exit_code: Option<i64>,
        now: Millis,
    ) -> FakeContainer {
        FakeContainer {
            id: id.to_string(),
            name,
            app: req.app.clone(),
            index: req.index,
            revision: req.revision,
            owner: req.owner.clone(),
            image: req.spec.image.clone(),
            state,
            exit_code,
            created_at: now,
            started_at: Some(now),
        }
    }

    fn observed(c: &FakeContainer) -> ObservedInstance {
        ObservedInstance {
            id: c.id.clone(),
            name: c.name.clone(),
            app: c.app.clone(),
            index: c.index,
            revision: c.revision,
            state: c.state,
            exit_code: c.exit_code,
            created_at: c.created_at,
            started_at: c.started_at,
            ready: false,
            standby: crane_core::reconcile::standby::is_standby_name(&c.name, &c.app, c.index, c.revision),
        }
    }
}

#[async_trait]
impl Runtime for FakeRuntime {
    async fn list_instances(&self, owner: &str) -> Result<Vec<ObservedInstance>, RuntimeError> {
        let (panic, block) = {
            let mut state = self.state.locked();
            let panic = state.script.panic_lists > 0;
            state.script.panic_lists = state.script.panic_lists.saturating_sub(1);
            (panic, state.script.block_lists > 0)
        };
        if panic {
            panic!("fake runtime: list_instances panicked on purpose");
        }
        if block {
            self.hold_while(|script| script.block_lists > 0).await;
        }
        self.check_reachable()?;
        let state = self.state.locked();
        Ok(state.containers.values().filter(|c| c.owner == owner).map(Self::observed).collect())
    }

    async fn ensure_image(&self, image: &str) -> Result<(), RuntimeError> {
        self.check_reachable()?;
        let state = self.state.locked();
        if state.script.any_image || state.script.images.contains(image) {
            Ok(())
        } else {
            Err(RuntimeError::ImageUnavailable { image: image.to_string(), reason: "not in the fake runtime".into() })
        }
    }

    async fn ensure_network(&self, app: &str, _owner: &str) -> Result<String, RuntimeError> {
        self.check_reachable()?;
        let mut state = self.state.locked();
        state.calls.push(Call::EnsureNetwork(app.to_string()));
        state.networks.insert(format!("crane-{app}"));
        Ok(format!("crane-{app}"))
    }

    async fn remove_app_resources(&self, app: &str, _owner: &str) -> Result<Vec<String>, RuntimeError> {
        self.check_reachable()?;
        let mut state = self.state.locked();
        state.calls.push(Call::RemoveAppResources(app.to_string()));
        state.networks.remove(&format!("crane-{app}"));
        Ok(Vec::new())
    }

    async fn list_app_resources(&self, _owner: &str) -> Result<std::collections::BTreeSet<String>, RuntimeError> {
        self.check_reachable()?;
        let state = self.state.locked();
        Ok(state.networks.iter().filter_map(|n| n.strip_prefix("crane-")).map(str::to_string).collect())
    }

    async fn start_instance(&self, req: &InstanceRequest) -> Result<String, RuntimeError> {
        self.check_reachable()?;
        self.hold_while(|script| script.hang_starts.contains(&req.app)).await;
        let now = self.clock.now();
        let mut state = self.state.locked();
        let name = format!("{}-{}", req.app, req.index);
        let failure = state.script.fail_starts.get(&req.app).cloned().or_else(|| {
            (!state.script.any_image && !state.script.images.contains(&req.spec.image)).then(|| {
                RuntimeError::ImageUnavailable {
                    image: req.spec.image.clone(),
                    reason: "not in the fake runtime".into(),
                }
            })
        });
        if let Some(e) = failure {
            state.calls.push(Call::Start { app: req.app.clone(), index: req.index, revision: req.revision, ok: false });
            return Err(e);
        }
        // The adapter's contract for a taken name: someone else's is a conflict; ours, running another revision,
        // moves aside (start-first update); any other of ours is a leftover and goes.
        if let Some(holder) = state.containers.values().find(|c| c.name == name).cloned() {
            if holder.owner != req.owner {
                state.calls.push(Call::Start {
                    app: req.app.clone(),
                    index: req.index,
                    revision: req.revision,
                    ok: false,
                });
                return Err(RuntimeError::NameConflict(name));
            }
            if holder.state == ContainerState::Running && holder.revision != req.revision {
                state.calls.push(Call::Start {
                    app: req.app.clone(),
                    index: req.index,
                    revision: req.revision,
                    ok: false,
                });
                return Err(RuntimeError::Other(format!("{name} is held by a running instance; move it aside first")));
            }
            state.containers.remove(&holder.id);
        }
        state.next_id += 1;
        let id = format!("c{}", state.next_id);
        let crash = state.script.crash_on_start.contains(&(req.app.clone(), req.revision));
        let running = if crash { ContainerState::Exited } else { ContainerState::Running };
        state.containers.insert(id.clone(), Self::container(req, &id, name, running, crash.then_some(1), now));
        state.calls.push(Call::Start { app: req.app.clone(), index: req.index, revision: req.revision, ok: true });
        Self::emit(&mut state, &id, "start", &req.app, None, now);
        if crash {
            Self::emit(&mut state, &id, "die", &req.app, Some(1), now);
        }
        Ok(id)
    }

    async fn create_standby(&self, req: &InstanceRequest, _warm: Duration) -> Result<String, RuntimeError> {
        self.check_reachable()?;
        let now = self.clock.now();
        let mut state = self.state.locked();
        let name = crane_core::reconcile::standby::standby_name(&req.app, req.index, req.revision);
        let fails = state.script.fail_starts.contains_key(&req.app)
            || state.containers.values().any(|c| c.name == name)
            || (!state.script.any_image && !state.script.images.contains(&req.spec.image));
        let call = |ok| Call::CreateStandby { app: req.app.clone(), index: req.index, revision: req.revision, ok };
        if fails {
            state.calls.push(call(false));
            return Err(RuntimeError::Other(format!("the fake runtime cannot make standby {name}")));
        }
        state.next_id += 1;
        let id = format!("c{}", state.next_id);
        state.containers.insert(id.clone(), Self::container(req, &id, name, ContainerState::Paused, None, now));
        state.calls.push(call(true));
        Self::emit(&mut state, &id, "pause", &req.app, None, now);
        Ok(id)
    }

    async fn promote_standby(&self, id: &str, name: &str) -> Result<(), RuntimeError> {
        self.rename_instance(id, name).await?;
        let now = self.clock.now();
        let mut state = self.state.locked();
        let c = state.containers.get_mut(id).ok_or_else(|| RuntimeError::Other(format!("no container {id}")))?;
        c.state = ContainerState::Running;
        let app = c.app.clone();
        state.calls.push(Call::Promote(id.to_string(), name.to_string()));
        Self::emit(&mut state, id, "unpause", &app, None, now);
        Ok(())
    }

    async fn remove_standby(&self, id: &str) -> Result<(), RuntimeError> {
        self.check_reachable()?;
        let now = self.clock.now();
        let mut state = self.state.locked();
        if let Some(c) = state.containers.remove(id) {
            state.calls.push(Call::RemoveStandby(c.name.clone()));
            Self::emit(&mut state, id, "destroy", &c.app, None, now);
        }
        Ok(())
    }

    async fn rename_instance(&self, id: &str, name: &str) -> Result<(), RuntimeError> {
        self.check_reachable()?;
        let mut state = self.state.locked();
        if state.containers.values().any(|c| c.name == name && c.id != id) {
            return Err(RuntimeError::NameConflict(name.to_string()));
        }
        let c = state.containers.get_mut(id).ok_or_else(|| RuntimeError::Other(format!("no container {id}")))?;
        c.name = name.to_string();
        state.calls.push(Call::Rename(id.to_string(), name.to_string()));
        Ok(())
    }

    async fn remove_instance(&self, id: &str) -> Result<(), RuntimeError> {
        self.check_reachable()?;
        let now = self.clock.now();
        let mut state = self.state.locked();
        if let Some(c) = state.containers.get(id).cloned() {
            state.calls.push(Call::Remove(c.name.clone()));
            if c.state == ContainerState::Running {
                Self::emit(&mut state, id, "die", &c.app, Some(143), now);
            }
            Self::emit(&mut state, id, "destroy", &c.app, None, now);
            state.containers.remove(id);
        }
        Ok(())
    }

    async fn inspect_instance(&self, id: &str) -> Result<Option<InstanceDetails>, RuntimeError> {
        self.check_reachable()?;
        let state = self.state.locked();
        Ok(state.containers.get(id).map(|c| InstanceDetails { ip: None, started_at: c.started_at }))
    }

    async fn events(
        &self,
        owner: &str,
    ) -> Result<BoxStream<'static, Result<RuntimeEvent, RuntimeError>>, RuntimeError> {
        self.check_reachable()?;
        let (tx, rx) = mpsc::unbounded_channel();
        self.state.locked().subscribers.push((owner.to_string(), tx));
        Ok(tokio_stream::wrappers::UnboundedReceiverStream::new(rx).boxed())
    }

    async fn logs(
        &self,
        id: &str,
        name: &str,
        _follow: bool,
        tail: Option<u32>,
    ) -> Result<BoxStream<'static, Result<LogLine, RuntimeError>>, RuntimeError> {
        self.check_reachable()?;
        let _ = id;
        let mut state = self.state.locked();
        state.script.log_tails.push(tail);
        // Like Docker: the last `tail` lines, or all of them without a tail.
        let total = state.script.log_lines;
        let first = tail.map_or(0, |t| total.saturating_sub(t));
        let instance = name.to_string();
        let lines: Vec<_> = (first..total)
            .map(|i| {
                Ok(LogLine {
                    instance: instance.clone(),
                    stream: "stdout",
                    timestamp: Some(format!("2026-01-01T00:00:{i:02}Z")),
                    line: format!("line {i}"),
                })
            })
            .collect();
        Ok(futures_util::stream::iter(lines).boxed())
    }

    async fn exec(&self, id: &str, _command: &[String], _timeout: Duration) -> Result<ExecOutput, RuntimeError> {
        self.check_reachable()?;
        let state = self.state.locked();
        let Some(c) = state.containers.get(id).filter(|c| c.state == ContainerState::Running) else {
            return Err(RuntimeError::Other(format!("container {id} is not running")));
        };
        let fails = state.script.fail_exec.contains(&(c.app.clone(), c.revision));
        Ok(ExecOutput { exit_code: i64::from(fails), output: if fails { "not ready".into() } else { String::new() } })
    }

    async fn stats(&self, _id: &str) -> Result<BoxStream<'static, Result<ResourceSample, RuntimeError>>, RuntimeError> {
        self.check_reachable()?;
        // No samples, and no end either (an ended stream would be re-opened every interval).
        Ok(futures_util::stream::pending().boxed())
    }

    async fn version(&self) -> Result<String, RuntimeError> {
        self.check_reachable()?;
        Ok("fake runtime".to_string())
    }
}

/// An in-memory [`Store`](crane_core::ports::Store) with the SQLite store's contract (generation checks, one
/// transaction per multi-row change), without threads or I/O: with a paused clock, engine tests are deterministic.
#[derive(Clone, Default)]
pub struct MemStore {
    inner: Arc<Mutex<MemState>>,
}

#[derive(Default)]
struct MemState {
    apps: BTreeMap<String, crane_core::ports::StoredApp>,
    revisions: BTreeMap<(String, u64), crane_core::ports::StoredRevision>,
    events: Vec<crane_core::ports::EventRecord>,
    samples: Vec<crane_core::ports::Sample>,
    settings: BTreeMap<String, String>,
    policies: BTreeMap<String, crane_core::ports::StoredPolicy>,
    labs: BTreeMap<String, crane_core::ports::StoredLab>,
    experiments: BTreeMap<String, crane_core::ports::StoredExperiment>,
    unreadable: BTreeMap<String, String>,
    users: BTreeMap<String, crane_core::ports::StoredUser>,
    tokens: Vec<crane_core::ports::StoredToken>,
    audit: Vec<crane_core::ports::AuditRecord>,
}

impl MemStore {
    /// An empty store.
    pub fn new() -> MemStore {
        MemStore::default()
    }

    /// Makes an app's row unreadable, as a row written by a newer Crane or damaged on disk would be.
    pub fn damage(&self, name: &str, why: &str) {
        let mut state = self.inner.locked();
        state.apps.remove(name);
        state.unreadable.insert(name.to_string(), why.to_string());
    }

    /// Every event so far, oldest first.
    pub fn all_events(&self) -> Vec<crane_core::ports::EventRecord> {
        self.inner.locked().events.clone()
    }

    /// Every audit row so far, oldest first.
    pub fn all_audit(&self) -> Vec<crane_core::ports::AuditRecord> {
        self.inner.locked().audit.clone()
    }
}

#[async_trait]
impl crane_core::ports::Store for MemStore {
    async fn scan_apps(&self) -> Result<crane_core::ports::AppScan, crane_core::ports::StoreError> {
        let state = self.inner.locked();
        Ok(crane_core::ports::AppScan {
            apps: state.apps.values().cloned().collect(),
            unreadable: state.unreadable.iter().map(|(n, w)| (n.clone(), w.clone())).collect(),
        })
    }

    async fn get_app(&self, name: &str) -> Result<Option<crane_core::ports::StoredApp>, crane_core::ports::StoreError> {
        Ok(self.inner.locked().apps.get(name).cloned())
    }

    async fn put_app(
        &self,
        app: &crane_core::ports::StoredApp,
        revision: Option<&crane_core::ports::StoredRevision>,
    ) -> Result<crane_core::ports::PutOutcome, crane_core::ports::StoreError> {
        let mut state = self.inner.locked();
        let current = state.apps.get(&app.spec.name).map_or(0, |a| a.generation);
        if current != app.generation {
            return Ok(crane_core::ports::PutOutcome::Stale);
        }
        let mut written = app.clone();
        written.generation = app.generation + 1;
        if let Some(existing) = state.apps.get(&app.spec.name) {
            written.created_at = existing.created_at;
            written.owner = existing.owner.clone();
        }
        state.apps.insert(app.spec.name.clone(), written);
        if let Some(r) = revision {
            state.revisions.insert((r.app.clone(), r.revision), r.clone());
            // Bounded like the SQLite store: the newest revisions, and always the current one.
            let mut numbers: Vec<u64> = state.revisions.keys().filter(|(a, _)| a == &r.app).map(|(_, n)| *n).collect();
            numbers.sort_unstable_by(|a, b| b.cmp(a));
            for old in numbers.into_iter().skip(crane_core::ports::MAX_REVISIONS) {
                if old != app.revision {
                    state.revisions.remove(&(r.app.clone(), old));
                }
            }
        }
        Ok(crane_core::ports::PutOutcome::Written { generation: app.generation + 1 })
    }

    async fn delete_app(&self, name: &str) -> Result<bool, crane_core::ports::StoreError> {
        let mut state = self.inner.locked();
        let existed = state.apps.remove(name).is_some();
        state.revisions.retain(|(app, _), _| app != name);
        state.samples.retain(|s| s.app != name);
        state.settings.remove(&format!("nginx:{name}"));
        Ok(existed)
    }

    async fn append_event(
        &self,
        mut event: crane_core::ports::EventRecord,
    ) -> Result<crane_core::ports::EventRecord, crane_core::ports::StoreError> {
        let mut state = self.inner.locked();
        event.id = state.events.len() as i64 + 1;
        state.events.push(event.clone());
        Ok(event)
    }

    async fn list_events(
        &self,
        app: Option<&str>,
        limit: u32,
        before: Option<i64>,
    ) -> Result<Vec<crane_core::ports::EventRecord>, crane_core::ports::StoreError> {
        let state = self.inner.locked();
        Ok(state
            .events
            .iter()
            .rev()
            .filter(|e| app.is_none_or(|a| e.app.as_deref() == Some(a)))
            .filter(|e| before.is_none_or(|b| e.id < b))
            .take(limit as usize)
            .cloned()
            .collect())
    }

    async fn list_revisions(
        &self,
        app: &str,
    ) -> Result<Vec<crane_core::ports::StoredRevision>, crane_core::ports::StoreError> {
        Ok(self.inner.locked().revisions.values().filter(|r| r.app == app).cloned().collect())
    }

    async fn append_samples(&self, samples: &[crane_core::ports::Sample]) -> Result<(), crane_core::ports::StoreError> {
        let mut state = self.inner.locked();
        state.samples.extend_from_slice(samples);
        // Bounded like the real store (which rolls up): tests never need more than the last few thousand.
        let excess = state.samples.len().saturating_sub(10_000);
        state.samples.drain(..excess);
        Ok(())
    }

    async fn query_samples(
        &self,
        app: &str,
        instance: crane_core::ports::InstanceFilter<'_>,
        metric: &crane_core::ports::SampleMetric,
        from: Millis,
        to: Millis,
    ) -> Result<Vec<crane_core::ports::Sample>, crane_core::ports::StoreError> {
        use crane_core::ports::InstanceFilter;
        let state = self.inner.locked();
        Ok(state
            .samples
            .iter()
            .filter(|s| s.app == app && &s.metric == metric && (from..=to).contains(&s.at))
            .filter(|s| match instance {
                InstanceFilter::Any => true,
                InstanceFilter::App => s.instance.is_none(),
                InstanceFilter::Instance(name) => s.instance.as_deref() == Some(name),
            })
            .cloned()
            .collect())
    }

    async fn compact_samples(&self, _now: Millis) -> Result<u64, crane_core::ports::StoreError> {
        Ok(0)
    }

    async fn delete_samples(&self, app: &str) -> Result<(), crane_core::ports::StoreError> {
        self.inner.locked().samples.retain(|s| s.app != app);
        Ok(())
    }

    async fn get_setting(&self, key: &str) -> Result<Option<String>, crane_core::ports::StoreError> {
        Ok(self.inner.locked().settings.get(key).cloned())
    }

    async fn put_setting(&self, key: &str, value: &str) -> Result<(), crane_core::ports::StoreError> {
        self.inner.locked().settings.insert(key.to_string(), value.to_string());
        Ok(())
    }

    async fn list_users(&self) -> Result<Vec<crane_core::ports::StoredUser>, crane_core::ports::StoreError> {
        Ok(self.inner.locked().users.values().cloned().collect())
    }

    async fn create_user(
        &self,
        user: &crane_core::ports::StoredUser,
        token: Option<&crane_core::ports::StoredToken>,
    ) -> Result<bool, crane_core::ports::StoreError> {
        let mut state = self.inner.locked();
        if state.users.contains_key(&user.name) {
            return Ok(false);
        }
        if let Some(token) = token {
            if token.user != user.name || state.tokens.iter().any(|t| t.id == token.id || t.hash == token.hash) {
                return Err(crane_core::ports::StoreError(format!("the first token of '{}' is not new", user.name)));
            }
            state.tokens.push(token.clone());
        }
        state.users.insert(user.name.clone(), user.clone());
        Ok(true)
    }

    async fn delete_user(&self, name: &str) -> Result<bool, crane_core::ports::StoreError> {
        let mut state = self.inner.locked();
        state.tokens.retain(|t| t.user != name);
        Ok(state.users.remove(name).is_some())
    }

    async fn list_tokens(&self) -> Result<Vec<crane_core::ports::StoredToken>, crane_core::ports::StoreError> {
        Ok(self.inner.locked().tokens.clone())
    }

    async fn create_token(
        &self,
        token: &crane_core::ports::StoredToken,
    ) -> Result<bool, crane_core::ports::StoreError> {
        let mut state = self.inner.locked();
        if !state.users.contains_key(&token.user) {
            return Ok(false);
        }
        if state.tokens.iter().any(|t| t.id == token.id || t.hash == token.hash) {
            return Err(crane_core::ports::StoreError(format!("token id {} is taken", token.id)));
        }
        state.tokens.push(token.clone());
        Ok(true)
    }

    async fn delete_token(&self, id: &str) -> Result<bool, crane_core::ports::StoreError> {
        let mut state = self.inner.locked();
        let before = state.tokens.len();
        state.tokens.retain(|t| t.id != id);
        Ok(state.tokens.len() < before)
    }

    async fn append_audit(
        &self,
        mut record: crane_core::ports::AuditRecord,
    ) -> Result<crane_core::ports::AuditRecord, crane_core::ports::StoreError> {
        let mut state = self.inner.locked();
        record.id = state.audit.last().map_or(1, |r| r.id + 1);
        state.audit.push(record.clone());
        // Bounded like the SQLite store.
        let excess = state.audit.len().saturating_sub(crane_store::MAX_AUDIT as usize);
        state.audit.drain(..excess);
        Ok(record)
    }

    async fn list_audit(
        &self,
        user: Option<&str>,
        app: Option<&str>,
        limit: u32,
    ) -> Result<Vec<crane_core::ports::AuditRecord>, crane_core::ports::StoreError> {
        let state = self.inner.locked();
        Ok(state
            .audit
            .iter()
            .rev()
            .filter(|r| user.is_none_or(|u| r.user == u))
            .filter(|r| app.is_none_or(|a| r.app.as_deref() == Some(a)))
            .take(limit as usize)
            .cloned()
            .collect())
    }

    async fn list_policies(&self) -> Result<Vec<crane_core::ports::StoredPolicy>, crane_core::ports::StoreError> {
        Ok(self.inner.locked().policies.values().cloned().collect())
    }

    async fn put_policy(&self, policy: &crane_core::ports::StoredPolicy) -> Result<(), crane_core::ports::StoreError> {
        self.inner.locked().policies.insert(policy.name.clone(), policy.clone());
        Ok(())
    }

    async fn delete_policy(&self, name: &str) -> Result<bool, crane_core::ports::StoreError> {
        Ok(self.inner.locked().policies.remove(name).is_some())
    }

    async fn list_labs(&self) -> Result<Vec<crane_core::ports::StoredLab>, crane_core::ports::StoreError> {
        Ok(self.inner.locked().labs.values().cloned().collect())
    }

    async fn put_lab(&self, lab: &crane_core::ports::StoredLab) -> Result<(), crane_core::ports::StoreError> {
        self.inner.locked().labs.insert(lab.id.clone(), lab.clone());
        Ok(())
    }

    async fn delete_lab(&self, id: &str) -> Result<bool, crane_core::ports::StoreError> {
        Ok(self.inner.locked().labs.remove(id).is_some())
    }

    async fn list_experiments(
        &self,
    ) -> Result<Vec<crane_core::ports::StoredExperiment>, crane_core::ports::StoreError> {
        let mut runs: Vec<_> = self
            .inner
            .locked()
            .experiments
            .values()
            .map(|e| crane_core::ports::StoredExperiment { points: String::new(), ..e.clone() })
            .collect();
        runs.sort_by(|a, b| (a.started_at, &a.name).cmp(&(b.started_at, &b.name)));
        Ok(runs)
    }

    async fn get_experiment(
        &self,
        name: &str,
    ) -> Result<Option<crane_core::ports::StoredExperiment>, crane_core::ports::StoreError> {
        Ok(self.inner.locked().experiments.get(name).cloned())
    }

    async fn put_experiment(
        &self,
        run: &crane_core::ports::StoredExperiment,
    ) -> Result<(), crane_core::ports::StoreError> {
        let mut run = run.clone();
        if run.points.is_empty() {
            run.points = "[]".to_string();
        }
        self.inner.locked().experiments.insert(run.name.clone(), run);
        Ok(())
    }

    async fn delete_experiment(&self, name: &str) -> Result<bool, crane_core::ports::StoreError> {
        Ok(self.inner.locked().experiments.remove(name).is_some())
    }
}
