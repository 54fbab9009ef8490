//! The engine loop: one `select!` over commands, Docker events and a tick. Each pass snapshots desired (store) and
//! observed (runtime) state, asks `crane_core::reconcile` for a plan, applies it and logs every action with its reason.
//!
//! Errors never end the loop: they are logged, shown in the state, and the next pass retries (level-triggered).

use crane_api::EventKind;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use crane_api::ChangeView;
use crane_core::backoff::BackoffPolicy;
use crane_core::model::{DesiredApp, Millis, ObservedInstance};
use crane_core::ports::{
    EventRecord, ExecOutput, InstanceDetails, InstanceRequest, LogLine, PutOutcome, ResourceSample, Runtime,
    RuntimeError, RuntimeEvent,
};
use crane_core::reconcile::{reconcile, RemoveCause, RolloutDecision, Snapshot, WaitCause};
use futures_util::stream::{BoxStream, StreamExt};
use tokio::sync::mpsc;

use crate::clock::LockExt;
use crate::probes::{ProbeReport, Target};
use crate::{views, Command, Inner};

/// How long to wait before re-subscribing to Docker events after the stream ended or failed.
const RESUBSCRIBE_AFTER: Duration = Duration::from_secs(2);

/// How often a pass also lists the engine's networks and volumes, to find those of apps that are gone (an engine
/// killed between deleting an app and removing its network leaves them). The first pass always looks.
const RESOURCE_SCAN_EVERY: Millis = 30_000;

/// What the loop owns and nobody else reads or writes: the inputs of its decisions that are not in the store or
/// the runtime. Lost when the loop restarts after a panic (everything here is rebuilt by observation, at worst a
/// crash-looping slot restarts its backoff).
#[derive(Default)]
pub(crate) struct LoopState {
    /// CrashLoop histories per slot.
    histories: crane_core::model::RestartHistories,
    /// Failed starts per slot (the error policy of starts).
    start_failures: crane_core::model::StartFailures,
    /// Revision each app was last rolled back to automatically (a failing rollback then pauses instead).
    rolled_back_to: BTreeMap<String, u64>,
    /// When this loop last listed networks and volumes (`None`: not yet).
    resources_scanned_at: Option<Millis>,
    /// Why each app's last automatic rollback happened, while it runs.
    rollback_reasons: BTreeMap<String, String>,
    /// Slots held back by the last pass, and why (an event is written when this changes, not every pass).
    waiting: BTreeMap<(String, u32), WaitCause>,
    /// Apps whose stored row cannot be read, as last reported (an event when this changes).
    unreadable: BTreeMap<String, String>,
}

/// Panics in a row after which the supervisor gives up (each restart waits longer: 1 s, 2 s, 4 s…).
const MAX_RESTARTS: u32 = 8;
/// A loop that ran this long since its last restart starts the count over.
const STABLE_RUN: Duration = Duration::from_secs(300);

/// Runs the loop and restarts it when it panics: the panic becomes an `engine.loop_restarted` event and every
/// request waiting for the failed pass gets an error instead of a success. The channels outlive each run, so the
/// doors keep talking to the restarted loop. After [`MAX_RESTARTS`] panics in a row the loop stays stopped and
/// every door reports why.
pub(crate) async fn supervise(
    inner: Arc<Inner>,
    mut commands: mpsc::Receiver<Command>,
    mut reports: mpsc::UnboundedReceiver<ProbeReport>,
) {
    use futures_util::FutureExt;
    let mut in_a_row = 0u32;
    loop {
        let started = tokio::time::Instant::now();
        let mut state = LoopState::default();
        let run = std::panic::AssertUnwindSafe(run(&inner, &mut commands, &mut reports, &mut state));
        match run.catch_unwind().await {
            Ok(()) => {
                inner.loop_health.locked().stopped = Some("the engine has shut down".to_string());
                return;
            }
            Err(panic) => {
                let message = panic_message(&panic);
                if started.elapsed() >= STABLE_RUN {
                    in_a_row = 0;
                }
                in_a_row += 1;
                {
                    let mut health = inner.loop_health.locked();
                    health.restarts += 1;
                    health.last_panic = Some(message.clone());
                }
                if in_a_row > MAX_RESTARTS {
                    let why = format!(
                        "the engine loop failed {in_a_row} times in a row and was stopped (last: {message}); restart \
                         Crane, and report this as a bug"
                    );
                    record(
                        &inner,
                        None,
                        None,
                        EventKind::EngineLoopStopped,
                        why.clone(),
                        serde_json::json!({"panic": message}),
                    )
                    .await;
                    inner.loop_health.locked().stopped = Some(why);
                    return;
                }
                let wait = Duration::from_secs(1 << (in_a_row - 1).min(5));
                record(
                    &inner,
                    None,
                    None,
                    EventKind::EngineLoopRestarted,
                    format!("the engine loop failed ({message}); restarting it in {}s", wait.as_secs()),
                    serde_json::json!({"panic": message, "inARow": in_a_row, "waitMs": wait.as_millis() as u64}),
                )
                .await;
                tokio::time::sleep(wait).await;
            }
        }
    }
}

/// The text of a panic payload.
fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic without a message".to_string()
    }
}

/// The loop: one `select!` over commands, Docker events, probe reports and the requeue timer. Returns on shutdown.
async fn run(
    inner: &Arc<Inner>,
    commands: &mut mpsc::Receiver<Command>,
    reports: &mut mpsc::UnboundedReceiver<ProbeReport>,
    state: &mut LoopState,
) {
    let mut events: Option<BoxStream<'static, Result<RuntimeEvent, RuntimeError>>> = None;
    let mut resubscribe_at = tokio::time::Instant::now();
    let mut next_pass = tokio::time::Instant::now();
    loop {
        if events.is_none() && tokio::time::Instant::now() >= resubscribe_at {
            match inner.runtime.events(&inner.owner).await {
                Ok(stream) => {
                    events = Some(stream);
                    // Events may have been missed while unsubscribed: look again now.
                    next_pass = tokio::time::Instant::now();
                }
                Err(e) => {
                    tracing::debug!("cannot subscribe to Docker events: {e}");
                    resubscribe_at = tokio::time::Instant::now() + RESUBSCRIBE_AFTER;
                }
            }
        }
        let mut reply = None;
        let mut forget = None;
        let mut ticked = false;
        tokio::select! {
            // Requests from the doors first: a person is waiting for them.
            biased;
            cmd = commands.recv() => match cmd {
                Some(Command::Reconcile { reply: tx, retry, forget: gone }) => {
                    reply = Some(tx);
                    forget = gone;
                    if let Some(app) = retry {
                        // A person changed the app: what failed before may work now, so it is tried at once. The
                        // record stays, so the same error again is not news.
                        for ((a, _), failure) in state.start_failures.iter_mut() {
                            if a == &app {
                                failure.last_at = 0;
                            }
                        }
                    }
                }
                Some(Command::Image { work, reply }) => {
                    // Builds and pulls take seconds: they run beside the loop, which keeps reconciling.
                    let inner = inner.clone();
                    tokio::spawn(async move {
                        let _ = reply.send(image_work(&inner, work).await);
                    });
                    continue;
                }
                Some(Command::ManageNginx { app, managed, reply }) => {
                    let _ = reply.send(manage_nginx(inner, &app, managed).await);
                    continue;
                }
                Some(Command::Wake { app }) => {
                    // Falls through to a pass, so the instance starts now rather than at the next tick.
                    wake(inner, &app, state).await;
                }
                Some(Command::Shutdown(tx)) => {
                    let _ = tx.send(());
                    break;
                }
                None => break,
            },
            ev = next_event(&mut events) => match ev {
                Some(Ok(ev)) => {
                    note_event(inner, &ev).await;
                    match pass_after(&ev.action) {
                        // A `kill` is followed by `die` when it works, and exec probes report through their own
                        // channel: a pass for them would only delay the pass that matters.
                        None => continue,
                        Some(wait) if !wait.is_zero() => tokio::time::sleep(wait).await,
                        Some(_) => {}
                    }
                }
                Some(Err(e)) => {
                    tracing::debug!("Docker event stream failed: {e}");
                    events = None;
                    resubscribe_at = tokio::time::Instant::now() + RESUBSCRIBE_AFTER;
                    continue;
                }
                None => {
                    events = None;
                    resubscribe_at = tokio::time::Instant::now() + RESUBSCRIBE_AFTER;
                    continue;
                }
            },
            Some(report) = reports.recv() => {
                if !on_probe_report(inner, report, &mut state.histories).await {
                    // Nothing but counters changed: no pass needed.
                    continue;
                }
            }
            _ = tokio::time::sleep_until(next_pass) => ticked = true,
            _ = tokio::time::sleep_until(resubscribe_at), if events.is_none() => continue,
        }
        let (mut errors, requeue) = pass(inner, state).await;
        if let Some(app) = forget {
            forget_app(inner, &app, &mut errors).await;
        }
        if ticked && inner.proxies.busy() {
            // Traffic figures moved: let the window refresh them (at most once per tick).
            let _ = inner.changes.send(ChangeView::Apps);
        }
        if let Some(tx) = reply {
            let _ = tx.send(errors);
        }
        let wait = requeue.map(Duration::from_millis).unwrap_or(inner.config.tick).min(inner.config.tick);
        next_pass = tokio::time::Instant::now() + wait;
    }
}

/// A request is held at zero replicas: the pure `scale_to_zero::wake` decides, the scaling policy bounds it like
/// every autoscaler change, and the count is stored here, in the loop, which then starts the instance.
async fn wake(inner: &Arc<Inner>, app: &str, state: &mut LoopState) {
    let Ok(Some(stored)) = inner.store.get_app(app).await else { return };
    let Some(policy) = stored.spec.autoscaling.as_ref() else { return };
    let decision = crane_core::scale_to_zero::wake(app, stored.spec.replicas, policy.min, policy.max);
    let Some(to) = decision.replicas else { return };
    let Some(to) = crate::policies::bound_autoscaler(inner, &stored.spec, to).await else { return };
    if let Ok(Some(from)) = crate::store_replicas(inner, app, Some(0), to).await {
        // A start that failed before (image gone, port taken) is tried again now: a person is waiting.
        for ((a, _), failure) in state.start_failures.iter_mut() {
            if a == app {
                failure.last_at = 0;
            }
        }
        let details = serde_json::json!({ "from": from, "to": to, "decision": { "from": from, "to": to } });
        record(inner, Some(app), None, EventKind::AutoscaleWake, decision.reason, details).await;
    }
}

/// How long a new standby may take to accept connections on its first port before it is given up.
const STANDBY_WARM: Duration = Duration::from_secs(10);

/// Creates the standbys the plan asks for, beside the loop (each costs a container start, which healing must not
/// wait for). A slot is marked in flight until its creation ends; the outcome is an event, a failure is retried
/// later by the planner (`standby::retry_after`).
fn create_standbys(
    inner: &Arc<Inner>,
    stored: &[crane_core::ports::StoredApp],
    creates: &[crane_core::reconcile::standby::CreateStandby],
) {
    for c in creates {
        let Some(spec) = stored.iter().find(|a| a.spec.name == c.app).map(|a| a.spec.clone()) else { continue };
        let slot = (c.app.clone(), c.index);
        if !inner.shared.locked().standby_in_flight.insert(slot.clone()) {
            continue;
        }
        let req = InstanceRequest {
            app: c.app.clone(),
            index: c.index,
            revision: c.revision,
            spec,
            owner: inner.owner.clone(),
        };
        let inner = inner.clone();
        let name = c.name.clone();
        tokio::spawn(async move {
            let t = std::time::Instant::now();
            let result = inner.runtime.create_standby(&req, STANDBY_WARM).await;
            let took_ms = t.elapsed().as_millis() as u64;
            let now = inner.now();
            let (kind, reason, details) = match &result {
                Ok(id) => {
                    inner.shared.locked().standby_failures.remove(&slot);
                    (
                        EventKind::InstanceStandbyReady,
                        format!(
                            "standby {name} started and paused ({took_ms} ms): a death of {}-{} is healed by \
                             unpausing it",
                            req.app, req.index
                        ),
                        serde_json::json!({"container": id, "revision": req.revision, "tookMs": took_ms}),
                    )
                }
                Err(e) => {
                    let attempts = {
                        let mut shared = inner.shared.locked();
                        let failure = shared.standby_failures.entry(slot.clone()).or_default();
                        failure.attempts = failure.attempts.saturating_add(1);
                        failure.last_at = now;
                        failure.message = e.to_string();
                        failure.attempts
                    };
                    let retry = crane_core::reconcile::standby::retry_after(attempts);
                    (
                        EventKind::InstanceStandbyFailed,
                        format!(
                            "could not make standby {name}: {e}; retried in {} (healing meanwhile starts a new \
                             container)",
                            crane_core::units::format_millis(retry)
                        ),
                        serde_json::json!({"revision": req.revision, "attempts": attempts, "tookMs": took_ms}),
                    )
                }
            };
            inner.shared.locked().standby_in_flight.remove(&slot);
            record(&inner, Some(&req.app), Some(&name), kind, reason, details).await;
        });
    }
}

/// Removes the network and volumes of an app that no longer exists (after its containers went in the pass).
async fn forget_app(inner: &Arc<Inner>, app: &str, errors: &mut crate::PassReport) {
    if let Ok(Some(_)) = inner.store.get_app(app).await {
        // Created again meanwhile: its resources are in use.
        return;
    }
    match inner.runtime.remove_app_resources(app, &inner.owner).await {
        Ok(kept) if !kept.is_empty() => {
            let reason = format!("app '{app}' deleted: removed its network and volumes; {}", kept_note(&kept));
            let details = serde_json::json!({ "kept_volumes": kept });
            record(inner, Some(app), None, EventKind::AppResourcesRemoved, reason, details).await;
        }
        Ok(_) => {}
        Err(e) => errors.entry(app.to_string()).or_default().push(e),
    }
}

/// What an event says about volumes `remove_app_resources` kept.
fn kept_note(kept: &[String]) -> String {
    format!(
        "kept {} (named by an older Crane, whose volume names could be shared by two apps); save what you need from \
         them, then remove them with `docker volume rm {}`",
        kept.join(", "),
        kept.join(" ")
    )
}

/// Carries out image work for a door (see [`Command::Image`]).
async fn image_work(inner: &Arc<Inner>, work: crate::ImageWork) -> crate::Result<String> {
    match work {
        crate::ImageWork::Ensure(image) => {
            inner.runtime.ensure_image(&image).await.map_err(crate::runtime_error)?;
            Ok(image)
        }
        crate::ImageWork::BuildDemo => build_demo_image(inner, false).await,
        crate::ImageWork::BuildVulnerableDemo => build_demo_image(inner, true).await,
    }
}

/// Builds the demo image, with progress broadcast to every door and the outcome in the event log.
async fn build_demo_image(inner: &Arc<Inner>, vulnerable: bool) -> crate::Result<String> {
    let Some(docker) = inner.docker.clone() else {
        let why = inner.shared.locked().docker_error.clone().unwrap_or_else(|| "no Docker client".into());
        return Err(crate::EngineError::DockerUnreachable(why));
    };
    let changes = inner.changes.clone();
    let mut progress = |p: crane_api::ProgressView| {
        let _ = changes.send(ChangeView::Progress { progress: p });
    };
    record(
        inner,
        None,
        None,
        EventKind::ImageBuild,
        format!(
            "building the demo image {}",
            if vulnerable { crane_docker::VULNERABLE_DEMO_IMAGE } else { crane_docker::DEMO_IMAGE }
        ),
        serde_json::json!({}),
    )
    .await;
    let built = if vulnerable {
        crane_docker::build_vulnerable_demo_image(docker.docker()).await
    } else {
        crane_docker::build_demo_image(docker.docker(), &mut progress).await
    };
    match built {
        Ok(image) => {
            record(
                inner,
                None,
                None,
                EventKind::ImageBuilt,
                format!("demo image {image} built"),
                serde_json::json!({"image": image}),
            )
            .await;
            Ok(image)
        }
        Err(e) => {
            record(
                inner,
                None,
                None,
                EventKind::ImageFailed,
                format!("demo image build failed: {e}"),
                serde_json::json!({}),
            )
            .await;
            Err(crate::runtime_error(e))
        }
    }
}

/// Starts or stops managing an NGINX for an app (the loop's half of [`crate::EngineHandle::manage_nginx`]).
async fn manage_nginx(
    inner: &Arc<Inner>,
    name: &str,
    managed: Option<crate::nginx::ManagedNginx>,
) -> crate::Result<String> {
    let internal = |e: crane_core::ports::StoreError| crate::EngineError::Internal(e.to_string());
    let key = format!("nginx:{name}");
    let Some(app) = inner.store.get_app(name).await.map_err(internal)? else {
        return Err(crate::EngineError::NotFound(name.to_string()));
    };
    match managed {
        None => {
            inner.store.put_setting(&key, "").await.map_err(internal)?;
            inner.shared.locked().nginx_written.remove(name);
            Ok(format!("Crane no longer manages NGINX for app '{name}'"))
        }
        Some(m) => {
            let backends = inner.shared.locked().ready_backends.get(name).cloned().unwrap_or_default();
            let text = crate::nginx::config(name, app.revision, m.listen, &backends);
            let outcome = crate::nginx::write_and_reload(&m, &text).map_err(crate::EngineError::BadRequest)?;
            let json = serde_json::to_string(&m).map_err(|e| crate::EngineError::Internal(e.to_string()))?;
            inner.store.put_setting(&key, &json).await.map_err(internal)?;
            inner.shared.locked().nginx_written.insert(name.to_string(), text);
            record(
                inner,
                Some(name),
                None,
                EventKind::NginxManaged,
                format!("NGINX now follows app '{}' (revision {}): {outcome}", name, app.revision),
                serde_json::json!({"config": m.config_path, "pidFile": m.pid_file, "listen": m.listen}),
            )
            .await;
            Ok(outcome)
        }
    }
}

async fn next_event(
    events: &mut Option<BoxStream<'static, Result<RuntimeEvent, RuntimeError>>>,
) -> Option<Result<RuntimeEvent, RuntimeError>> {
    match events {
        Some(s) => s.next().await,
        None => std::future::pending().await,
    }
}

/// Logs what Docker reported about one of our containers when it was not Crane's own doing.
/// Whether a Docker event calls for a pass, and after how long. A death is acted on at once (healing is measured
/// from it); other changes wait 20 ms so a burst (`stop` → `destroy`, `create` → `start`) makes one pass; `kill`,
/// which `die` follows, and the exec events of exec probes make none.
fn pass_after(action: &str) -> Option<Duration> {
    match action {
        "die" | "oom" => Some(Duration::ZERO),
        "kill" | "exec_create" | "exec_start" | "exec_die" | "exec_detach" | "attach" | "resize" | "top" => None,
        _ => Some(Duration::from_millis(20)),
    }
}

async fn note_event(inner: &Arc<Inner>, ev: &RuntimeEvent) {
    if ev.action == "start" {
        inner.shared.locked().died.remove(&ev.id);
    }
    if ev.action == "die" {
        // Docker may still list the container as running for a moment after `die`: remember the death so the pass
        // this event triggers already replaces it, instead of waiting for the next tick.
        inner.shared.locked().died.insert(ev.id.clone(), (ev.exit_code, inner.now()));
    }
    if ev.action != "die" && ev.action != "oom" {
        return;
    }
    let (name, removing) = {
        let shared = inner.shared.locked();
        let name = shared.observed.iter().find(|o| o.id == ev.id).map(|o| o.name.clone());
        // A standby serves nothing: its end is handled by the planner (it is removed and made again).
        let not_an_instance = shared.standbys.contains(&ev.id) && name.is_none();
        (name, shared.removing.contains(&ev.id) || not_an_instance)
    };
    if removing {
        return;
    }
    let who = name.clone().unwrap_or_else(|| short(&ev.id).to_string());
    let reason = match (ev.action.as_str(), ev.exit_code) {
        ("oom", _) => format!("{who} ran out of memory (Docker event oom)"),
        (_, Some(code)) => format!("{who} exited with code {code}{} (Docker event die)", explain_exit(code)),
        _ => format!("{who} exited (Docker event die)"),
    };
    record(
        inner,
        ev.app.as_deref(),
        name.as_deref(),
        EventKind::InstanceDied,
        reason,
        serde_json::json!({"container": ev.id, "action": ev.action, "exitCode": ev.exit_code}),
    )
    .await;
}

fn explain_exit(code: i64) -> &'static str {
    match code {
        137 => ": killed (SIGKILL)",
        143 => ": terminated (SIGTERM)",
        139 => ": segmentation fault",
        _ => "",
    }
}

fn short(id: &str) -> &str {
    &id[..id.len().min(12)]
}

/// One reconcile pass: observe → plan (`crane_core::reconcile`) → apply the plan → record the outcomes. Returns
/// the start/remove errors per app and when to look again.
async fn pass(inner: &Arc<Inner>, state: &mut LoopState) -> (crate::PassReport, Option<Millis>) {
    let mut errors: crate::PassReport = BTreeMap::new();
    // Where a pass's time goes, written with every start it makes (healing is measured from these).
    let pass_began = std::time::Instant::now();
    let (stored, unreadable) = match inner.store.scan_apps().await {
        Ok(scan) => (scan.apps, scan.unreadable),
        Err(e) => {
            tracing::warn!("reconcile: cannot read apps: {e}");
            return (errors, None);
        }
    };
    let observed = match inner.runtime.list_instances(&inner.owner).await {
        Ok(o) => {
            inner.shared.locked().docker_error = None;
            o
        }
        Err(e) => {
            let changed = {
                let mut shared = inner.shared.locked();
                let changed = shared.docker_error.as_deref() != Some(&e.to_string());
                shared.docker_error = Some(e.to_string());
                changed
            };
            if changed {
                let _ = inner.changes.send(ChangeView::Apps);
            }
            for app in &stored {
                errors.entry(app.spec.name.clone()).or_default().push(e.clone());
            }
            return (errors, None);
        }
    };
    // An app whose row cannot be read is not "no longer desired": its containers are left alone, and the event log
    // says why once.
    let unreadable: BTreeMap<String, String> = unreadable.into_iter().collect();
    for (app, why) in &unreadable {
        if state.unreadable.get(app) != Some(why) {
            record(
                inner,
                Some(app),
                None,
                EventKind::AppUnreadable,
                format!(
                    "app '{app}' cannot be read from the state database ({why}); its containers are left as they are"
                ),
                serde_json::json!({"error": why}),
            )
            .await;
        }
    }
    state.unreadable = unreadable;
    // Standbys (`heal.standby`) are not instances: only the planner's standby step sees them.
    let (mut standbys, mut observed): (Vec<ObservedInstance>, Vec<ObservedInstance>) =
        observed.into_iter().partition(|o| o.standby);
    observed.retain(|o| !state.unreadable.contains_key(&o.app));
    standbys.retain(|o| !state.unreadable.contains_key(&o.app));
    let now = inner.now();
    {
        let mut shared = inner.shared.locked();
        shared.died.retain(|id, (_, at)| now.saturating_sub(*at) < 30_000 && observed.iter().any(|o| &o.id == id));
        for o in observed.iter_mut() {
            if let Some((code, _)) = shared.died.get(&o.id) {
                if o.state == crane_core::model::ContainerState::Running {
                    o.state = crane_core::model::ContainerState::Exited;
                    o.exit_code = *code;
                }
            }
        }
        // The views forget rollouts of apps that are gone.
        shared.rollouts.retain(|app, _| stored.iter().any(|a| &a.spec.name == app));
    }
    state.rolled_back_to.retain(|app, _| stored.iter().any(|a| &a.spec.name == app));
    let mut desired = Vec::with_capacity(stored.len());
    for a in &stored {
        // Only a rolling update (a container of another revision) can fail and need the history, so the common pass
        // (healing, scaling) does not read it.
        let rolling = observed.iter().any(|o| o.app == a.spec.name && o.revision != a.revision);
        let history = if !rolling {
            Vec::new()
        } else {
            match inner.store.list_revisions(&a.spec.name).await {
                Ok(revisions) => revisions.iter().map(|r| r.revision).collect(),
                Err(e) => {
                    tracing::warn!("reconcile: cannot read the history of '{}': {e}", a.spec.name);
                    Vec::new()
                }
            }
        };
        desired.push(DesiredApp {
            spec: a.spec.clone(),
            revision: a.revision,
            paused: a.paused,
            history,
            rolled_back_to: state.rolled_back_to.get(&a.spec.name).copied(),
        });
    }
    let mut with_readiness = observed.clone();
    for o in &mut with_readiness {
        // Ready = running and passing readiness; a container without a probe runner yet (no probes, or adopted
        // after an engine restart) counts as ready while it runs, as the load balancer does.
        o.ready = o.state == crane_core::model::ContainerState::Running
            && inner.probers.health(&o.id).map(|h| h.ready).unwrap_or(true);
    }
    // Slots that are no longer wanted forget their failed starts.
    state
        .start_failures
        .retain(|(app, index), _| stored.iter().any(|a| &a.spec.name == app && (1..=a.spec.replicas).contains(index)));
    let mut resource_apps = std::collections::BTreeSet::new();
    if state.resources_scanned_at.is_none_or(|at| now.saturating_sub(at) >= RESOURCE_SCAN_EVERY) {
        match inner.runtime.list_app_resources(&inner.owner).await {
            Ok(apps) => {
                state.resources_scanned_at = Some(now);
                // An unreadable app's network and volumes are left alone, like its containers.
                resource_apps = apps.into_iter().filter(|app| !state.unreadable.contains_key(app)).collect();
            }
            Err(e) => tracing::debug!("cannot list networks and volumes: {e}"),
        }
    }
    let (standby_in_flight, standby_failures) = {
        let shared = inner.shared.locked();
        (shared.standby_in_flight.clone(), shared.standby_failures.clone())
    };
    let snapshot = Snapshot {
        desired,
        observed: with_readiness,
        histories: state.histories.clone(),
        now,
        backoff: BackoffPolicy::default(),
        start_failures: state.start_failures.clone(),
        resource_apps,
        standbys,
        standby_in_flight,
        standby_failures,
    };
    {
        let mut shared = inner.shared.locked();
        shared.standbys = snapshot.standbys.iter().map(|s| s.id.clone()).collect();
        let mut counts: BTreeMap<String, u32> = BTreeMap::new();
        for s in snapshot.standbys.iter().filter(|s| s.state == crane_core::model::ContainerState::Paused) {
            *counts.entry(s.app.clone()).or_default() += 1;
        }
        if counts != shared.standby_counts {
            shared.standby_counts = counts;
            let _ = inner.changes.send(ChangeView::Apps);
        }
        shared.standby_failures.retain(|(app, index), _| {
            stored.iter().any(|a| &a.spec.name == app && a.spec.heal_standby() && *index <= a.spec.replicas)
        });
    }
    let observed_ms = pass_began.elapsed().as_secs_f64() * 1e3;
    let plan = reconcile(&snapshot);
    let planned_ms = pass_began.elapsed().as_secs_f64() * 1e3;

    for slot in &plan.reset {
        state.histories.remove(slot);
    }

    // Removals first (they free names and slots), concurrently — except crashed containers a start displaces: they
    // are renamed aside and removed beside their replacement's start (below), so healing does not wait for them.
    let displaced: BTreeSet<&str> =
        plan.start.iter().filter_map(|s| s.displace.as_ref().map(|d| d.id.as_str())).collect();
    let (late_removals, early_removals): (Vec<&crane_core::reconcile::Remove>, Vec<_>) =
        plan.remove.iter().partition(|r| displaced.contains(r.id.as_str()));
    {
        let mut shared = inner.shared.locked();
        for r in &plan.remove {
            shared.removing.insert(r.id.clone());
        }
    }
    drain(inner, &stored, &plan.remove).await;
    let removals = early_removals.iter().map(|r| {
        let inner = inner.clone();
        async move {
            let t = std::time::Instant::now();
            let result = inner.runtime.remove_instance(&r.id).await;
            (*r, result, t.elapsed().as_millis() as u64)
        }
    });
    let standby_removals = plan.standby_remove.iter().map(|r| {
        let inner = inner.clone();
        async move {
            inner.shared.locked().removing.insert(r.id.clone());
            let result = inner.runtime.remove_standby(&r.id).await;
            inner.shared.locked().removing.remove(&r.id);
            (r, result)
        }
    });
    let (removed, standbys_removed) = futures_util::future::join(
        futures_util::future::join_all(removals),
        futures_util::future::join_all(standby_removals),
    )
    .await;
    for (r, result) in standbys_removed {
        match result {
            Ok(()) => {
                let details = serde_json::json!({"container": r.id});
                record(inner, Some(&r.app), Some(&r.name), EventKind::InstanceStandbyRemoved, r.reason.clone(), details)
                    .await
            }
            Err(e) => {
                tracing::warn!(standby = %r.name, "could not remove a standby: {e}");
                errors.entry(r.app.clone()).or_default().push(e);
            }
        }
    }
    create_standbys(inner, &stored, &plan.standby_create);
    // A crash is recorded (`plan.crashed`) once its container is gone: if the removal fails, the next pass sees the
    // same container again and must not count it twice.
    let mut crash_not_removed: BTreeSet<(String, u32)> = BTreeSet::new();
    record_removals(inner, removed, &mut crash_not_removed, &mut errors).await;
    for app in &plan.orphan_apps {
        match inner.runtime.remove_app_resources(app, &inner.owner).await {
            Ok(kept) => {
                let mut reason = format!("app '{app}' no longer exists: removed its network and volumes");
                if !kept.is_empty() {
                    reason = format!("{reason}; {}", kept_note(&kept));
                }
                let details = serde_json::json!({ "kept_volumes": kept });
                record(inner, Some(app), None, EventKind::AppResourcesRemoved, reason, details).await
            }
            Err(e) => errors.entry(app.clone()).or_default().push(e),
        }
    }

    // Starts, concurrently; one network per app, created before its instances.
    let mut apps_starting: BTreeSet<&str> = BTreeSet::new();
    for s in &plan.start {
        apps_starting.insert(&s.app);
    }
    let mut network_failed: Vec<(String, RuntimeError)> = Vec::new();
    for app in apps_starting {
        if let Err(e) = inner.runtime.ensure_network(app, &inner.owner).await {
            record(
                inner,
                Some(app),
                None,
                EventKind::AppNetworkFailed,
                format!("cannot create the network of app '{app}': {e}"),
                serde_json::json!({}),
            )
            .await;
            errors.entry(app.to_string()).or_default().push(e.clone());
            network_failed.push((app.to_string(), e));
        }
    }
    let network_ready_ms = pass_began.elapsed().as_secs_f64() * 1e3;
    let starts = plan.start.iter().map(|s| {
        let spec = stored.iter().find(|a| a.spec.name == s.app).map(|a| a.spec.clone());
        let network_error = network_failed.iter().find(|(app, _)| app == &s.app).map(|(_, e)| e.clone());
        // A crashed container this start displaces is removed by it, after the rename, beside the new start.
        let late = s.displace.as_ref().and_then(|d| late_removals.iter().copied().find(|r| r.id == d.id));
        let inner = inner.clone();
        async move {
            let t = std::time::Instant::now();
            let mut rename_ms = None;
            let mut promoted = false;
            let remove_late = |inner: Arc<Inner>| async move {
                match late {
                    Some(r) => {
                        let t = std::time::Instant::now();
                        let result = inner.runtime.remove_instance(&r.id).await;
                        Some((r, result, t.elapsed().as_millis() as u64))
                    }
                    None => None,
                }
            };
            let (result, removed) = match (network_error, spec) {
                (Some(e), _) => (Err(e), remove_late(inner.clone()).await),
                (None, None) => {
                    (Err(RuntimeError::Other(format!("app '{}' is gone", s.app))), remove_late(inner.clone()).await)
                }
                (None, Some(spec)) => {
                    // A start-first update: the old revision keeps serving under another name.
                    let moved = match &s.displace {
                        Some(d) => {
                            let moved = inner.runtime.rename_instance(&d.id, &d.to).await;
                            rename_ms = Some(t.elapsed().as_secs_f64() * 1e3);
                            moved
                        }
                        None => Ok(()),
                    };
                    match moved {
                        Err(e) => (Err(e), remove_late(inner.clone()).await),
                        Ok(()) => {
                            let req = InstanceRequest {
                                app: s.app.clone(),
                                index: s.index,
                                revision: s.revision,
                                spec,
                                owner: inner.owner.clone(),
                            };
                            let start = async {
                                if let Some(p) = &s.standby {
                                    let name = format!("{}-{}", s.app, s.index);
                                    match inner.runtime.promote_standby(&p.id, &name).await {
                                        Ok(()) => {
                                            promoted = true;
                                            inner.shared.locked().promoted.insert(p.id.clone(), inner.now());
                                            return Ok(p.id.clone());
                                        }
                                        Err(e) => {
                                            // A standby that cannot take over is dropped; the slot gets a new
                                            // container as it would without one.
                                            tracing::warn!(standby = %p.name, "could not promote the standby: {e}");
                                            let _ = inner.runtime.remove_standby(&p.id).await;
                                        }
                                    }
                                }
                                inner.runtime.start_instance(&req).await
                            };
                            futures_util::future::join(start, remove_late(inner.clone())).await
                        }
                    }
                }
            };
            (s, result, (t.elapsed().as_millis() as u64, rename_ms, promoted), removed)
        }
    });
    let (started, late_removed): (Vec<_>, Vec<_>) =
        futures_util::future::join_all(starts).await.into_iter().map(|(s, r, t, late)| ((s, r, t), late)).unzip();
    let late_removed: Vec<_> = late_removed.into_iter().flatten().collect();
    record_removals(inner, late_removed, &mut crash_not_removed, &mut errors).await;
    for slot in plan.crashed.iter().filter(|slot| !crash_not_removed.contains(*slot)) {
        *inner.shared.locked().restarts.entry(slot.clone()).or_default() += 1;
        state.histories.entry(slot.clone()).or_default().record_crash(now);
    }
    {
        let mut shared = inner.shared.locked();
        for r in &plan.remove {
            shared.removing.remove(&r.id);
        }
    }
    for (s, result, (took_ms, rename_ms, promoted)) in started {
        let name = format!("{}-{}", s.app, s.index);
        let slot = (s.app.clone(), s.index);
        match result {
            Ok(id) => {
                if let Some(failure) = state.start_failures.remove(&slot) {
                    record(
                        inner,
                        Some(&s.app),
                        Some(&name),
                        EventKind::InstanceStartRecovered,
                        format!("{name} started after {} failed attempt(s)", failure.attempts),
                        serde_json::json!({"attempts": failure.attempts}),
                    )
                    .await;
                }
                // A replacement of a dead container says how long after the death it runs, and where that went.
                let since_death = s.displace.as_ref().and_then(|d| {
                    let at = inner.shared.locked().died.get(&d.id).map(|(_, at)| *at)?;
                    Some(inner.now().saturating_sub(at))
                });
                let round = |ms: f64| (ms * 10.0).round() / 10.0;
                let timing = serde_json::json!({
                    "observedMs": round(observed_ms),
                    "plannedMs": round(planned_ms),
                    "networkReadyMs": round(network_ready_ms),
                    "renameMs": rename_ms.map(round),
                    "sinceDeathMs": since_death,
                });
                record(
                    inner,
                    Some(&s.app),
                    Some(&name),
                    EventKind::InstanceStarted,
                    s.reason.clone(),
                    serde_json::json!({
                        "container": id,
                        "revision": s.revision,
                        "tookMs": took_ms,
                        "timing": timing,
                        "standby": promoted,
                    }),
                )
                .await
            }
            Err(e) => {
                // The error policy: one event per change of state (the first failure, or a different error), not
                // per attempt; the planner spaces the attempts out (`StartFailure`, `WaitCause::StartFailed`).
                let message = e.to_string();
                let failure = state.start_failures.entry(slot).or_default();
                let changed = failure.attempts == 0 || failure.message != message;
                failure.attempts = failure.attempts.saturating_add(1);
                failure.last_at = now;
                failure.message = message.clone();
                let attempts = failure.attempts;
                if changed {
                    record(
                        inner,
                        Some(&s.app),
                        Some(&name),
                        EventKind::InstanceStartFailed,
                        format!("could not start {name}: {message}"),
                        serde_json::json!({"revision": s.revision, "attempts": attempts}),
                    )
                    .await;
                }
                errors.entry(s.app.clone()).or_default().push(e);
            }
        }
    }
    for w in &plan.waiting {
        let key = (w.app.clone(), w.index);
        let known = state.waiting.get(&key).copied();
        if known != Some(w.cause) {
            let (kind, count) = match w.cause {
                WaitCause::CrashLoop => {
                    (EventKind::InstanceBackoff, state.histories.get(&key).map_or(0, |h| h.consecutive_crashes))
                }
                WaitCause::StartFailed => {
                    (EventKind::InstanceStartRetry, state.start_failures.get(&key).map_or(0, |f| f.attempts))
                }
            };
            record(
                inner,
                Some(&w.app),
                Some(&format!("{}-{}", w.app, w.index)),
                kind,
                w.reason.clone(),
                serde_json::json!({"until": w.until, "count": count}),
            )
            .await;
        }
    }

    state.waiting = plan.waiting.iter().map(|w| ((w.app.clone(), w.index), w.cause)).collect();

    // Observe again when anything changed, so views show the result of this pass.
    let observed = if plan.remove.is_empty() && plan.start.is_empty() {
        observed
    } else {
        match inner.runtime.list_instances(&inner.owner).await {
            Ok(again) => again.into_iter().filter(|o| !o.standby).collect(),
            Err(_) => observed,
        }
    };
    let mut observed = observed;
    let details = inspect_new(inner, &mut observed).await;
    let changed = {
        let mut shared = inner.shared.locked();
        let before = views::signature(&shared);
        shared.observed = observed;
        shared.waiting = plan.waiting.iter().map(|w| ((w.app.clone(), w.index), (w.until, w.reason.clone()))).collect();
        shared.addresses = details.iter().filter_map(|(id, d)| d.ip.map(|ip| (id.clone(), ip))).collect();
        shared.details = details;
        shared.failures = state.start_failures.iter().map(|(k, f)| (k.clone(), f.message.clone())).collect();
        // Forget restart counts of slots that no longer exist.
        let live: BTreeSet<(String, u32)> =
            stored.iter().flat_map(|a| (1..=a.spec.replicas).map(move |i| (a.spec.name.clone(), i))).collect();
        shared.restarts.retain(|k, _| live.contains(k));
        before != views::signature(&shared)
    };
    on_rollouts(inner, state, &stored, &plan).await;
    sync_probers(inner, &stored);
    inner.proxies.update(inner, &stored);
    sync_managed_nginx(inner, &stored).await;
    if changed {
        let _ = inner.changes.send(ChangeView::Apps);
    }
    (errors, plan.requeue_after.map(|at| at.saturating_sub(inner.now())))
}

/// Records rollout progress (events on transitions only) and carries out the planner's decision about each failed
/// rollout (`plan.rollout_actions`): roll back to a revision, or pause. The decision is written with the generation
/// the pass read, so a change a door made meanwhile (a scale, an apply) wins and the next pass decides again.
async fn on_rollouts(
    inner: &Arc<Inner>,
    state: &mut LoopState,
    stored: &[crane_core::ports::StoredApp],
    plan: &crane_core::reconcile::Plan,
) {
    use crane_api::RolloutState as Wire;
    use crane_core::reconcile::RolloutState;
    for r in &plan.rollouts {
        let from: Vec<u32> = r.from.iter().map(|v| *v as u32).collect();
        let (wire, message) = match &r.state {
            RolloutState::Progressing => (
                Wire::Progressing,
                format!("rolling update to revision {}: {}/{} new instances ready", r.to, r.ready_new, r.total),
            ),
            RolloutState::Complete => (Wire::Complete, format!("rolling update to revision {} complete", r.to)),
            RolloutState::Failed(why) => (Wire::Failed, format!("rolling update to revision {} failed: {why}", r.to)),
            RolloutState::Paused => (Wire::Paused, format!("rolling update to revision {} is paused", r.to)),
        };
        // While (and after) an automatic rollback, the view keeps saying so, with why the update failed: the window
        // shows it until the next update.
        let rollback =
            (state.rolled_back_to.get(&r.app) == Some(&r.to)).then(|| state.rollback_reasons.get(&r.app).cloned());
        let (wire, message) = match (rollback, &r.state) {
            (Some(reason), RolloutState::Progressing | RolloutState::Complete) => (
                Wire::RolledBack,
                format!(
                    "{} — back to revision {}: {}/{} instances ready",
                    reason.unwrap_or_else(|| "the update failed".to_string()),
                    r.to,
                    r.ready_new,
                    r.total
                ),
            ),
            _ => (wire, message),
        };
        let view = crane_api::RolloutView {
            from: from.clone(),
            to: r.to as u32,
            ready: r.ready_new,
            total: r.total,
            state: wire,
            message: message.clone(),
        };
        let previous = inner.shared.locked().rollouts.insert(r.app.clone(), view);
        let changed = previous.as_ref().map(|p| (p.state, p.ready, p.to)) != Some((wire, r.ready_new, r.to as u32));
        let details = serde_json::json!({"from": r.from, "to": r.to, "readyNew": r.ready_new, "total": r.total});
        // `rollout.failed`, `rollout.paused` and `rollout.rolled_back` are decisions, logged once below when they are
        // made; reaching the paused state is not news, and the rollback's progress has a kind of its own.
        if changed && wire != Wire::Failed && wire != Wire::Paused {
            let kind = match wire {
                Wire::RolledBack => EventKind::RolloutRollbackProgress,
                Wire::Complete => EventKind::RolloutComplete,
                Wire::Progressing | Wire::Failed | Wire::Paused => EventKind::RolloutProgressing,
            };
            record(inner, Some(&r.app), None, kind, message.clone(), details.clone()).await;
        }
        if r.state == RolloutState::Complete {
            state.rolled_back_to.remove(&r.app);
            state.rollback_reasons.remove(&r.app);
        }
    }
    for action in &plan.rollout_actions {
        let Some(app) = stored.iter().find(|a| a.spec.name == action.app) else { continue };
        let failure = plan.rollouts.iter().find(|r| r.app == action.app);
        let details = serde_json::json!({
            "from": failure.map(|r| r.from.clone()),
            "to": action.failed,
            "decision": format!("{:?}", action.decision),
        });
        let failure_text = match failure.map(|r| &r.state) {
            Some(RolloutState::Failed(why)) => format!("rolling update to revision {} failed: {why}", action.failed),
            _ => format!("rolling update to revision {} failed", action.failed),
        };
        let mut updated = app.clone();
        let (kind, reason) = match action.decision {
            RolloutDecision::RollbackTo(revision) => {
                let target = match inner.store.list_revisions(&app.spec.name).await {
                    Ok(revisions) => revisions.into_iter().find(|r| r.revision == revision),
                    Err(e) => {
                        tracing::warn!("cannot read the history of '{}': {e}", app.spec.name);
                        continue;
                    }
                };
                let Some(target) = target else { continue };
                updated.spec = target.spec.clone();
                updated.spec.replicas = app.spec.replicas;
                updated.source_yaml = target.source_yaml.clone();
                updated.revision = target.revision;
                updated.paused = false;
                (EventKind::RolloutRolledBack, format!("{} ({})", action.reason, target.cause))
            }
            RolloutDecision::Pause => {
                updated.paused = true;
                (EventKind::RolloutPaused, action.reason.clone())
            }
        };
        updated.updated_at = inner.now();
        match inner.store.put_app(&updated, None).await {
            Ok(PutOutcome::Written { .. }) => {}
            Ok(PutOutcome::Stale) => {
                // A door changed the app during this pass; its change stands and the next pass decides again.
                tracing::debug!("rollout decision for '{}' lost against a newer write", app.spec.name);
                continue;
            }
            Err(e) => {
                tracing::warn!("cannot store the rollout decision: {e}");
                continue;
            }
        }
        record(inner, Some(&action.app), None, EventKind::RolloutFailed, failure_text.clone(), details.clone()).await;
        record(inner, Some(&action.app), None, kind, reason, details).await;
        if let RolloutDecision::RollbackTo(revision) = action.decision {
            state.rolled_back_to.insert(action.app.clone(), revision);
            state.rollback_reasons.insert(action.app.clone(), failure_text.clone());
            if let Some(v) = inner.shared.locked().rollouts.get_mut(&action.app) {
                v.state = Wire::RolledBack;
                v.message = format!("{failure_text}; rolled back to revision {revision}");
            }
        }
    }
    // Apps whose rollout finished earlier report nothing any more: keep their last (complete) view.
}

/// Rewrites and reloads each managed NGINX whose app's ready set changed since the last write.
async fn sync_managed_nginx(inner: &Arc<Inner>, stored: &[crane_core::ports::StoredApp]) {
    for app in stored {
        let name = &app.spec.name;
        let Ok(Some(json)) = inner.store.get_setting(&format!("nginx:{name}")).await else { continue };
        let Ok(managed) = serde_json::from_str::<crate::nginx::ManagedNginx>(&json) else { continue };
        let (text, changed) = {
            let shared = inner.shared.locked();
            let backends = shared.ready_backends.get(name).cloned().unwrap_or_default();
            let text = crate::nginx::config(name, app.revision, managed.listen, &backends);
            let changed = shared.nginx_written.get(name) != Some(&text);
            (text, changed)
        };
        if !changed {
            continue;
        }
        let (kind, reason) = match crate::nginx::write_and_reload(&managed, &text) {
            Ok(outcome) => (EventKind::NginxReloaded, format!("ready instances of '{name}' changed: {outcome}")),
            Err(e) => (EventKind::NginxFailed, format!("cannot update NGINX for '{name}': {e}")),
        };
        inner.shared.locked().nginx_written.insert(name.clone(), text);
        record(inner, Some(name), None, kind, reason, serde_json::json!({"config": managed.config_path})).await;
    }
}

/// Records the outcome of removals: an event per container (its cause, or the failure), the errors of the pass,
/// and which crashed slots could not be removed (their crash is not counted yet: the next pass sees them again).
async fn record_removals(
    inner: &Arc<Inner>,
    removed: Vec<(&crane_core::reconcile::Remove, Result<(), RuntimeError>, u64)>,
    crash_not_removed: &mut BTreeSet<(String, u32)>,
    errors: &mut crate::PassReport,
) {
    for (r, result, took_ms) in removed {
        let kind = match r.cause {
            RemoveCause::Crashed => EventKind::InstanceReplaced,
            RemoveCause::ScaledDown => EventKind::InstanceScaledDown,
            RemoveCause::Orphan => EventKind::InstanceOrphanRemoved,
            RemoveCause::Duplicate => EventKind::InstanceDuplicateRemoved,
            RemoveCause::Outdated => EventKind::InstanceOutdated,
            RemoveCause::Stale => EventKind::InstanceStaleRemoved,
            RemoveCause::Replaced => EventKind::InstanceUpdated,
        };
        let details = serde_json::json!({"container": r.id, "cause": format!("{:?}", r.cause), "tookMs": took_ms});
        match result {
            Ok(()) => record(inner, Some(&r.app), Some(&r.name), kind, r.reason.clone(), details).await,
            Err(e) => {
                if r.cause == RemoveCause::Crashed {
                    crash_not_removed.insert((r.app.clone(), r.index));
                }
                record(
                    inner,
                    Some(&r.app),
                    Some(&r.name),
                    EventKind::InstanceRemoveFailed,
                    format!("could not remove {}: {e}", r.name),
                    details,
                )
                .await;
                errors.entry(r.app.clone()).or_default().push(e);
            }
        }
    }
}

/// Longest wait for requests in flight to instances about to be removed.
const DRAIN_LIMIT: Duration = Duration::from_secs(10);

/// Takes instances that are about to be removed out of the load balancer and waits until the requests and
/// long-lived connections (WebSockets, TCP) they are serving have finished, for at most [`DRAIN_LIMIT`], then closes
/// what is left, so scale-down and rolling updates fail no request.
async fn drain(
    inner: &Arc<Inner>,
    stored: &[crane_core::ports::StoredApp],
    removals: &[crane_core::reconcile::Remove],
) {
    let serving: Vec<String> = {
        let shared = inner.shared.locked();
        removals.iter().filter(|r| shared.in_load_balancer.contains(&r.id)).map(|r| r.id.clone()).collect()
    };
    if serving.is_empty() {
        return;
    }
    inner.proxies.update(inner, stored);
    // A crashed instance serves nothing: what it held has failed already (the load balancer retried the idempotent
    // requests elsewhere), so its connections are closed at once and only live instances are waited for — healing
    // does not wait for a drain.
    let (dead, serving): (Vec<String>, Vec<String>) =
        serving.into_iter().partition(|id| removals.iter().any(|r| &r.id == id && r.cause == RemoveCause::Crashed));
    if !dead.is_empty() {
        inner.proxies.close_connections(&dead);
    }
    if serving.is_empty() {
        return;
    }
    // A request may have picked its backend just before the swap; let it register as in flight.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let started = tokio::time::Instant::now();
    while inner.proxies.in_flight(&serving) > 0 && started.elapsed() < DRAIN_LIMIT {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Long-lived connections (WebSockets, TCP) that outlived the limit are closed by the load balancer now, before
    // their instance goes, so clients see a clean close rather than a reset.
    let closed = inner.proxies.close_connections(&serving);
    if closed > 0 {
        tracing::info!(closed, "drain limit passed: closed the connections still open to removed instances");
    }
}

/// Starts probe runners for running instances of apps with probes; stops runners of containers that are gone.
fn sync_probers(inner: &Arc<Inner>, stored: &[crane_core::ports::StoredApp]) {
    let targets: Vec<Target> = {
        let shared = inner.shared.locked();
        shared
            .observed
            .iter()
            .filter(|o| o.state == crane_core::model::ContainerState::Running && !shared.removing.contains(&o.id))
            .filter_map(|o| {
                let app = stored.iter().find(|a| a.spec.name == o.app)?;
                let default_port = app.spec.ports.first().map(|p| p.container);
                Some(Target {
                    id: o.id.clone(),
                    app: o.app.clone(),
                    name: o.name.clone(),
                    ip: shared.addresses.get(&o.id).copied(),
                    settings: crane_core::probe::HealthSettings::from_spec(app.spec.health.as_ref(), default_port),
                })
            })
            .collect()
    };
    inner.probers.sync(targets, &inner.runtime, &inner.probe_reports);
}

/// Handles what a probe runner reported: logs transitions, restarts instances whose liveness or startup probe
/// failed. Returns whether a reconcile pass should follow (membership or containers changed).
async fn on_probe_report(
    inner: &Arc<Inner>,
    report: ProbeReport,
    histories: &mut crane_core::model::RestartHistories,
) -> bool {
    use crane_core::probe::Transition;
    if report.transitions.is_empty() {
        // A failure message may have changed what the window shows, without any transition.
        let _ = inner.changes.send(ChangeView::Apps);
        return false;
    }
    let index = {
        let shared = inner.shared.locked();
        shared.observed.iter().find(|o| o.id == report.id).map(|o| o.index)
    };
    let details = serde_json::json!({"container": report.id, "probe": report.kind.as_str()});
    for t in &report.transitions {
        match t {
            Transition::Started => {
                record(
                    inner,
                    Some(&report.app),
                    Some(&report.name),
                    EventKind::ProbeStarted,
                    format!("{}: startup probe passed; liveness and readiness probes start", report.name),
                    details.clone(),
                )
                .await
            }
            Transition::Ready => {
                record(
                    inner,
                    Some(&report.app),
                    Some(&report.name),
                    EventKind::InstanceReady,
                    format!("{} is ready: it receives traffic from the load balancer", report.name),
                    details.clone(),
                )
                .await
            }
            Transition::Unready(why) => {
                record(
                    inner,
                    Some(&report.app),
                    Some(&report.name),
                    EventKind::InstanceUnready,
                    format!("{} taken out of the load balancer: {why}", report.name),
                    details.clone(),
                )
                .await
            }
            Transition::Restart(why) => {
                inner.shared.locked().removing.insert(report.id.clone());
                let result = inner.runtime.remove_instance(&report.id).await;
                inner.shared.locked().removing.remove(&report.id);
                match result {
                    Ok(()) => {
                        if let Some(index) = index {
                            let slot = (report.app.clone(), index);
                            *inner.shared.locked().restarts.entry(slot.clone()).or_default() += 1;
                            // A failed probe counts as a crash for CrashLoop backoff, as in Kubernetes.
                            histories.entry(slot).or_default().record_crash(inner.now());
                        }
                        record(
                            inner,
                            Some(&report.app),
                            Some(&report.name),
                            EventKind::InstanceUnhealthy,
                            format!("restarting {}: {why}", report.name),
                            details.clone(),
                        )
                        .await
                    }
                    Err(e) => {
                        record(
                            inner,
                            Some(&report.app),
                            Some(&report.name),
                            EventKind::InstanceRemoveFailed,
                            format!("could not restart unhealthy {}: {e}", report.name),
                            details.clone(),
                        )
                        .await
                    }
                }
            }
        }
    }
    true
}

/// Looks up the network address and start time of running instances (once per container; both stay fixed while it
/// runs).
async fn inspect_new(inner: &Arc<Inner>, observed: &mut [ObservedInstance]) -> BTreeMap<String, InstanceDetails> {
    let (known, promoted) = {
        let mut shared = inner.shared.locked();
        shared.promoted.retain(|id, _| observed.iter().any(|o| &o.id == id));
        (shared.details.clone(), shared.promoted.clone())
    };
    let mut out = BTreeMap::new();
    for o in observed.iter_mut().filter(|o| o.state == crane_core::model::ContainerState::Running) {
        let details = match known.get(&o.id) {
            Some(d) => Some(d.clone()),
            None => inner.runtime.inspect_instance(&o.id).await.ok().flatten(),
        };
        if let Some(mut d) = details {
            if let Some(at) = promoted.get(&o.id) {
                d.started_at = Some(*at);
            }
            if o.started_at.is_none() {
                o.started_at = d.started_at;
            }
            out.insert(o.id.clone(), d);
        }
    }
    out
}

/// Appends an event to the log and broadcasts it.
pub(crate) async fn record(
    inner: &Inner,
    app: Option<&str>,
    instance: Option<&str>,
    kind: EventKind,
    reason: String,
    details: serde_json::Value,
) {
    tracing::info!(app = app.unwrap_or("-"), kind = kind.as_str(), "{reason}");
    let event = EventRecord {
        id: 0,
        at: inner.now(),
        app: app.map(str::to_string),
        instance: instance.map(str::to_string),
        kind: kind.as_str().to_string(),
        reason,
        details,
    };
    match inner.store.append_event(event).await {
        Ok(saved) => {
            let _ = inner.changes.send(ChangeView::Event { event: views::event_view(&saved) });
        }
        Err(e) => tracing::warn!("cannot write the event log: {e}"),
    }
}

/// The runtime used when no Docker client could even be configured (e.g. a malformed `DOCKER_HOST`): every call
/// reports why, so each door shows the reason instead of failing obscurely.
pub(crate) struct Unreachable(pub RuntimeError);

#[async_trait]
impl Runtime for Unreachable {
    async fn list_instances(&self, _: &str) -> Result<Vec<ObservedInstance>, RuntimeError> {
        Err(self.err())
    }
    async fn ensure_image(&self, _: &str) -> Result<(), RuntimeError> {
        Err(self.err())
    }
    async fn ensure_network(&self, _: &str, _: &str) -> Result<String, RuntimeError> {
        Err(self.err())
    }
    async fn remove_app_resources(&self, _: &str, _: &str) -> Result<Vec<String>, RuntimeError> {
        Err(self.err())
    }
    async fn list_app_resources(&self, _: &str) -> Result<std::collections::BTreeSet<String>, RuntimeError> {
        Err(self.err())
    }
    async fn start_instance(&self, _: &InstanceRequest) -> Result<String, RuntimeError> {
        Err(self.err())
    }
    async fn rename_instance(&self, _: &str, _: &str) -> Result<(), RuntimeError> {
        Err(self.err())
    }
    async fn remove_instance(&self, _: &str) -> Result<(), RuntimeError> {
        Err(self.err())
    }
    async fn inspect_instance(&self, _: &str) -> Result<Option<InstanceDetails>, RuntimeError> {
        Err(self.err())
    }
    async fn events(&self, _: &str) -> Result<BoxStream<'static, Result<RuntimeEvent, RuntimeError>>, RuntimeError> {
        Err(self.err())
    }
    async fn logs(
        &self,
        _: &str,
        _: &str,
        _: bool,
        _: Option<u32>,
    ) -> Result<BoxStream<'static, Result<LogLine, RuntimeError>>, RuntimeError> {
        Err(self.err())
    }
    async fn exec(&self, _: &str, _: &[String], _: Duration) -> Result<ExecOutput, RuntimeError> {
        Err(self.err())
    }
    async fn stats(&self, _: &str) -> Result<BoxStream<'static, Result<ResourceSample, RuntimeError>>, RuntimeError> {
        Err(self.err())
    }
    async fn version(&self) -> Result<String, RuntimeError> {
        Err(self.err())
    }
}

impl Unreachable {
    fn err(&self) -> RuntimeError {
        self.0.clone()
    }
}
