//! The engine loop: one `select!` over commands, Docker events and a tick. Each pass snapshots desired (store) and
//! observed (runtime) state, asks `crane_core::reconcile` for a plan, applies it and logs every action with its reason.
//!
//! Errors never end the loop: they are logged, shown in the state, and the next pass retries (level-triggered).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use crane_api::ChangeView;
use crane_core::backoff::BackoffPolicy;
use crane_core::model::{DesiredApp, Millis, ObservedInstance};
use crane_core::ports::{
    EventRecord, ExecOutput, InstanceDetails, InstanceRequest, LogLine, ResourceSample, Runtime, RuntimeError,
    RuntimeEvent,
};
use crane_core::reconcile::{reconcile, RemoveCause, Snapshot};
use futures_util::stream::{BoxStream, StreamExt};
use tokio::sync::mpsc;

use crate::probes::{ProbeReport, Target};
use crate::{now_ms, views, Command, Inner};

/// How long to wait before re-subscribing to Docker events after the stream ended or failed.
const RESUBSCRIBE_AFTER: Duration = Duration::from_secs(2);

pub(crate) async fn run(
    inner: Arc<Inner>,
    mut commands: mpsc::Receiver<Command>,
    mut reports: mpsc::UnboundedReceiver<ProbeReport>,
) {
    let mut events: Option<BoxStream<'static, Result<RuntimeEvent, RuntimeError>>> = None;
    let mut resubscribe_at = tokio::time::Instant::now();
    let mut histories = BTreeMap::new();
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
        let mut ticked = false;
        tokio::select! {
            cmd = commands.recv() => match cmd {
                Some(Command::Reconcile(tx)) => reply = Some(tx),
                Some(Command::Shutdown(tx)) => {
                    let _ = tx.send(());
                    break;
                }
                None => break,
            },
            ev = next_event(&mut events) => match ev {
                Some(Ok(ev)) => {
                    note_event(&inner, &ev).await;
                    // Coalesce a burst of events (kill → die → stop) into one pass.
                    tokio::time::sleep(Duration::from_millis(20)).await;
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
                if !on_probe_report(&inner, report, &mut histories).await {
                    // Nothing but counters changed: no pass needed.
                    continue;
                }
            }
            _ = tokio::time::sleep_until(next_pass) => ticked = true,
            _ = tokio::time::sleep_until(resubscribe_at), if events.is_none() => continue,
        }
        let (errors, requeue) = pass(&inner, &mut histories).await;
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

async fn next_event(
    events: &mut Option<BoxStream<'static, Result<RuntimeEvent, RuntimeError>>>,
) -> Option<Result<RuntimeEvent, RuntimeError>> {
    match events {
        Some(s) => s.next().await,
        None => std::future::pending().await,
    }
}

/// Logs what Docker reported about one of our containers when it was not Crane's own doing.
async fn note_event(inner: &Arc<Inner>, ev: &RuntimeEvent) {
    if ev.action == "start" {
        inner.shared.lock().unwrap().died.remove(&ev.id);
    }
    if ev.action == "die" {
        // Docker may still list the container as running for a moment after `die`: remember the death so the pass
        // this event triggers already replaces it, instead of waiting for the next tick.
        inner.shared.lock().unwrap().died.insert(ev.id.clone(), (ev.exit_code, now_ms()));
    }
    if ev.action != "die" && ev.action != "oom" {
        return;
    }
    let (name, removing) = {
        let shared = inner.shared.lock().unwrap();
        let name = shared.observed.iter().find(|o| o.id == ev.id).map(|o| o.name.clone());
        (name, shared.removing.contains(&ev.id))
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
        "instance.died",
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

/// One reconcile pass. Returns the start/remove errors per app and when to look again.
async fn pass(
    inner: &Arc<Inner>,
    histories: &mut crane_core::model::RestartHistories,
) -> (BTreeMap<String, Vec<RuntimeError>>, Option<Millis>) {
    let mut errors: BTreeMap<String, Vec<RuntimeError>> = BTreeMap::new();
    let stored = match inner.store.list_apps().await {
        Ok(apps) => apps,
        Err(e) => {
            tracing::warn!("reconcile: cannot read apps: {e}");
            return (errors, None);
        }
    };
    let observed = match inner.runtime.list_instances(&inner.owner).await {
        Ok(o) => {
            inner.shared.lock().unwrap().docker_error = None;
            o
        }
        Err(e) => {
            let changed = {
                let mut shared = inner.shared.lock().unwrap();
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
    let now = now_ms();
    let mut observed = observed;
    {
        let mut shared = inner.shared.lock().unwrap();
        shared.died.retain(|id, (_, at)| now.saturating_sub(*at) < 30_000 && observed.iter().any(|o| &o.id == id));
        for o in observed.iter_mut() {
            if let Some((code, _)) = shared.died.get(&o.id) {
                if o.state == crane_core::model::ContainerState::Running {
                    o.state = crane_core::model::ContainerState::Exited;
                    o.exit_code = *code;
                }
            }
        }
    }
    let desired: Vec<DesiredApp> =
        stored.iter().map(|a| DesiredApp { spec: a.spec.clone(), revision: a.revision, paused: a.paused }).collect();
    let mut with_readiness = observed.clone();
    for o in &mut with_readiness {
        // Ready = running and passing readiness; a container without a probe runner yet (no probes, or adopted
        // after an engine restart) counts as ready while it runs, as the load balancer does.
        o.ready = o.state == crane_core::model::ContainerState::Running
            && inner.probers.health(&o.id).map(|h| h.ready).unwrap_or(true);
    }
    let snapshot = Snapshot {
        desired,
        observed: with_readiness,
        histories: histories.clone(),
        now,
        backoff: BackoffPolicy::default(),
    };
    let plan = reconcile(&snapshot);

    // A crash is recorded once its container is gone: if the removal fails, the next pass sees the same container
    // again and must not count it twice.
    let crashed_removed: BTreeSet<(String, u32)> =
        plan.remove.iter().filter(|r| r.cause == RemoveCause::Crashed).map(|r| (r.app.clone(), r.index)).collect();
    let _ = &crashed_removed;
    for slot in &plan.reset {
        histories.remove(slot);
    }

    // Removals first (they free names and slots), concurrently.
    {
        let mut shared = inner.shared.lock().unwrap();
        for r in &plan.remove {
            shared.removing.insert(r.id.clone());
        }
    }
    drain(inner, &stored, &plan.remove).await;
    let removals = plan.remove.iter().map(|r| {
        let inner = inner.clone();
        async move {
            let t = std::time::Instant::now();
            let result = inner.runtime.remove_instance(&r.id).await;
            (r, result, t.elapsed().as_millis() as u64)
        }
    });
    for (r, result, took_ms) in futures_util::future::join_all(removals).await {
        let kind = match r.cause {
            RemoveCause::Crashed => "instance.replaced",
            RemoveCause::ScaledDown => "instance.scaled_down",
            RemoveCause::Orphan => "instance.orphan_removed",
            RemoveCause::Duplicate => "instance.duplicate_removed",
            RemoveCause::Outdated => "instance.outdated",
            RemoveCause::Stale => "instance.stale_removed",
            RemoveCause::Replaced => "instance.updated",
        };
        let details = serde_json::json!({"container": r.id, "cause": format!("{:?}", r.cause), "tookMs": took_ms});
        match result {
            Ok(()) => {
                if r.cause == RemoveCause::Crashed {
                    *inner.shared.lock().unwrap().restarts.entry((r.app.clone(), r.index)).or_default() += 1;
                    histories.entry((r.app.clone(), r.index)).or_default().record_crash(now);
                }
                record(inner, Some(&r.app), Some(&r.name), kind, r.reason.clone(), details).await
            }
            Err(e) => {
                record(
                    inner,
                    Some(&r.app),
                    Some(&r.name),
                    "instance.remove_failed",
                    format!("could not remove {}: {e}", r.name),
                    details,
                )
                .await;
                errors.entry(r.app.clone()).or_default().push(e);
            }
        }
    }
    {
        let mut shared = inner.shared.lock().unwrap();
        for r in &plan.remove {
            shared.removing.remove(&r.id);
        }
    }
    for app in &plan.orphan_apps {
        match inner.runtime.remove_app_resources(app, &inner.owner).await {
            Ok(()) => {
                record(
                    inner,
                    Some(app),
                    None,
                    "app.resources_removed",
                    format!("app '{app}' no longer exists: removed its network and volumes"),
                    serde_json::json!({}),
                )
                .await
            }
            Err(e) => errors.entry(app.clone()).or_default().push(e),
        }
    }

    // Starts, concurrently; one network per app, created before its instances.
    let mut apps_starting: BTreeSet<&str> = BTreeSet::new();
    for s in &plan.start {
        apps_starting.insert(&s.app);
    }
    let mut network_failed = BTreeSet::new();
    for app in apps_starting {
        if let Err(e) = inner.runtime.ensure_network(app, &inner.owner).await {
            record(
                inner,
                Some(app),
                None,
                "app.network_failed",
                format!("cannot create the network of app '{app}': {e}"),
                serde_json::json!({}),
            )
            .await;
            errors.entry(app.to_string()).or_default().push(e);
            network_failed.insert(app.to_string());
        }
    }
    let starts = plan.start.iter().filter(|s| !network_failed.contains(&s.app)).filter_map(|s| {
        let spec = stored.iter().find(|a| a.spec.name == s.app)?.spec.clone();
        let inner = inner.clone();
        Some(async move {
            let req = InstanceRequest {
                app: s.app.clone(),
                index: s.index,
                revision: s.revision,
                spec,
                owner: inner.owner.clone(),
            };
            let t = std::time::Instant::now();
            let result = inner.runtime.start_instance(&req).await;
            (s, result, t.elapsed().as_millis() as u64)
        })
    });
    for (s, result, took_ms) in futures_util::future::join_all(starts).await {
        let name = format!("{}-{}", s.app, s.index);
        let slot = (s.app.clone(), s.index);
        match result {
            Ok(id) => {
                inner.shared.lock().unwrap().failures.remove(&slot);
                record(
                    inner,
                    Some(&s.app),
                    Some(&name),
                    "instance.started",
                    s.reason.clone(),
                    serde_json::json!({"container": id, "revision": s.revision, "tookMs": took_ms}),
                )
                .await
            }
            Err(e) => {
                inner.shared.lock().unwrap().failures.insert(slot, e.to_string());
                record(
                    inner,
                    Some(&s.app),
                    Some(&name),
                    "instance.start_failed",
                    format!("could not start {name}: {e}"),
                    serde_json::json!({"revision": s.revision}),
                )
                .await;
                errors.entry(s.app.clone()).or_default().push(e);
            }
        }
    }
    for w in &plan.waiting {
        let key = (w.app.clone(), w.index);
        let known = inner.shared.lock().unwrap().waiting.contains_key(&key);
        if !known {
            record(
                inner,
                Some(&w.app),
                Some(&format!("{}-{}", w.app, w.index)),
                "instance.backoff",
                w.reason.clone(),
                serde_json::json!({"until": w.until, "crashes": histories.get(&key).map(|h| h.consecutive_crashes)}),
            )
            .await;
        }
    }

    // Observe again when anything changed, so views show the result of this pass.
    let observed = if plan.remove.is_empty() && plan.start.is_empty() {
        observed
    } else {
        inner.runtime.list_instances(&inner.owner).await.unwrap_or(observed)
    };
    let mut observed = observed;
    let details = inspect_new(inner, &mut observed).await;
    let changed = {
        let mut shared = inner.shared.lock().unwrap();
        let before = views::signature(&shared);
        shared.observed = observed;
        shared.waiting = plan.waiting.iter().map(|w| ((w.app.clone(), w.index), (w.until, w.reason.clone()))).collect();
        shared.addresses = details.iter().filter_map(|(id, d)| d.ip.map(|ip| (id.clone(), ip))).collect();
        shared.details = details;
        // Forget restart counts of slots that no longer exist.
        let live: BTreeSet<(String, u32)> =
            stored.iter().flat_map(|a| (1..=a.spec.replicas).map(move |i| (a.spec.name.clone(), i))).collect();
        shared.restarts.retain(|k, _| live.contains(k));
        shared.failures.retain(|k, _| live.contains(k));
        before != views::signature(&shared)
    };
    on_rollouts(inner, &stored, &plan.rollouts).await;
    sync_probers(inner, &stored);
    inner.proxies.update(inner, &stored);
    sync_managed_nginx(inner, &stored).await;
    if changed {
        let _ = inner.changes.send(ChangeView::Apps);
    }
    (errors, plan.requeue_after.map(|at| at.saturating_sub(now_ms())))
}

/// Records rollout progress (events on transitions only) and acts on failed rollouts: roll back to the revision
/// that was replaced, or pause, as the app's `update.failureAction` says.
async fn on_rollouts(
    inner: &Arc<Inner>,
    stored: &[crane_core::ports::StoredApp],
    rollouts: &[crane_core::reconcile::RolloutStatus],
) {
    use crane_core::reconcile::RolloutState;
    for r in rollouts {
        let from: Vec<u32> = r.from.iter().map(|v| *v as u32).collect();
        let (state, message) = match &r.state {
            RolloutState::Progressing => (
                "progressing",
                format!("rolling update to revision {}: {}/{} new instances ready", r.to, r.ready_new, r.total),
            ),
            RolloutState::Complete => ("complete", format!("rolling update to revision {} complete", r.to)),
            RolloutState::Failed(why) => ("failed", format!("rolling update to revision {} failed: {why}", r.to)),
            RolloutState::Paused => ("paused", format!("rolling update to revision {} is paused", r.to)),
        };
        // While (and after) an automatic rollback, the view keeps saying so, with why the update failed: the window
        // shows it until the next update.
        let rollback = {
            let shared = inner.shared.lock().unwrap();
            (shared.rolled_back_to.get(&r.app) == Some(&r.to)).then(|| shared.rollback_reasons.get(&r.app).cloned())
        };
        let (state, message) = match (rollback, &r.state) {
            (Some(reason), RolloutState::Progressing | RolloutState::Complete) => (
                "rolled_back",
                format!(
                    "{} — back to revision {}: {}/{} instances ready",
                    reason.unwrap_or_else(|| "the update failed".to_string()),
                    r.to,
                    r.ready_new,
                    r.total
                ),
            ),
            _ => (state, message),
        };
        let view = crane_api::RolloutView {
            from: from.clone(),
            to: r.to as u32,
            ready: r.ready_new,
            total: r.total,
            state: state.to_string(),
            message: message.clone(),
        };
        let previous = inner.shared.lock().unwrap().rollouts.insert(r.app.clone(), view.clone());
        let changed =
            previous.as_ref().map(|p| (p.state.as_str(), p.ready, p.to)) != Some((state, r.ready_new, r.to as u32));
        let details = serde_json::json!({"from": r.from, "to": r.to, "readyNew": r.ready_new, "total": r.total});
        if changed && state != "failed" {
            // `rollout.rolled_back` is the decision itself (logged below); its progress has a kind of its own.
            let kind = if state == "rolled_back" {
                "rollout.rollback_progress".to_string()
            } else {
                format!("rollout.{state}")
            };
            record(inner, Some(&r.app), None, &kind, message.clone(), details.clone()).await;
        }
        if r.state == RolloutState::Complete {
            let mut shared = inner.shared.lock().unwrap();
            shared.rolled_back_to.remove(&r.app);
            shared.rollback_reasons.remove(&r.app);
        }
        let RolloutState::Failed(_) = &r.state else { continue };
        let Some(app) = stored.iter().find(|a| a.spec.name == r.app) else { continue };
        let action = app.spec.update.as_ref().and_then(|u| u.failure_action).unwrap_or_default();
        let back_to = r.from.iter().copied().max();
        // A rollback that fails in turn is paused rather than bounced back and forth.
        let rolling_back_already = inner.shared.lock().unwrap().rolled_back_to.get(&r.app) == Some(&r.to);
        let revisions = inner.store.list_revisions(&r.app).await.unwrap_or_default();
        let target = back_to.and_then(|n| revisions.iter().find(|rev| rev.revision == n));
        let mut updated = app.clone();
        let (kind, reason) = match target {
            Some(target) if action == crane_core::spec::FailureAction::Rollback && !rolling_back_already => {
                updated.spec = target.spec.clone();
                updated.spec.replicas = app.spec.replicas;
                updated.source_yaml = target.source_yaml.clone();
                updated.revision = target.revision;
                updated.paused = false;
                (
                    "rollout.rolled_back",
                    format!(
                        "{message} → failureAction rollback: returning to revision {} ({})",
                        target.revision, target.cause
                    ),
                )
            }
            _ => {
                updated.paused = true;
                ("rollout.paused", format!("{message} → pausing the update (failureAction {action}); apply a fixed spec or `cranectl rollout undo {}`", r.app))
            }
        };
        updated.updated_at = now_ms();
        if let Err(e) = inner.store.put_app(&updated).await {
            tracing::warn!("cannot store the rollout decision: {e}");
            continue;
        }
        record(inner, Some(&r.app), None, "rollout.failed", message.clone(), details.clone()).await;
        record(inner, Some(&r.app), None, kind, reason, details).await;
        if kind == "rollout.rolled_back" {
            let mut shared = inner.shared.lock().unwrap();
            shared.rolled_back_to.insert(r.app.clone(), updated.revision);
            shared.rollback_reasons.insert(r.app.clone(), message.clone());
            if let Some(v) = shared.rollouts.get_mut(&r.app) {
                v.state = "rolled_back".to_string();
                v.message = format!("{message}; rolled back to revision {}", updated.revision);
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
            let shared = inner.shared.lock().unwrap();
            let backends = shared.ready_backends.get(name).cloned().unwrap_or_default();
            let text = crate::nginx::config(name, app.revision, managed.listen, &backends);
            let changed = shared.nginx_written.get(name) != Some(&text);
            (text, changed)
        };
        if !changed {
            continue;
        }
        let (kind, reason) = match crate::nginx::write_and_reload(&managed, &text) {
            Ok(outcome) => ("nginx.reloaded", format!("ready instances of '{name}' changed: {outcome}")),
            Err(e) => ("nginx.failed", format!("cannot update NGINX for '{name}': {e}")),
        };
        inner.shared.lock().unwrap().nginx_written.insert(name.clone(), text);
        record(inner, Some(name), None, kind, reason, serde_json::json!({"config": managed.config_path})).await;
    }
}

/// Longest wait for requests in flight to instances about to be removed.
const DRAIN_LIMIT: Duration = Duration::from_secs(10);

/// Takes instances that are about to be removed out of the load balancer and waits until the requests they are
/// serving have finished (bounded), so scale-down and rolling updates fail no request.
async fn drain(
    inner: &Arc<Inner>,
    stored: &[crane_core::ports::StoredApp],
    removals: &[crane_core::reconcile::Remove],
) {
    let serving: Vec<String> = {
        let shared = inner.shared.lock().unwrap();
        removals.iter().filter(|r| shared.in_load_balancer.contains(&r.id)).map(|r| r.id.clone()).collect()
    };
    if serving.is_empty() {
        return;
    }
    inner.proxies.update(inner, stored);
    // A request may have picked its backend just before the swap; let it register as in flight.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let started = tokio::time::Instant::now();
    while inner.proxies.in_flight(&serving) > 0 && started.elapsed() < DRAIN_LIMIT {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Starts probe runners for running instances of apps with probes; stops runners of containers that are gone.
fn sync_probers(inner: &Arc<Inner>, stored: &[crane_core::ports::StoredApp]) {
    let targets: Vec<Target> = {
        let shared = inner.shared.lock().unwrap();
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
        let shared = inner.shared.lock().unwrap();
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
                    "probe.started",
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
                    "instance.ready",
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
                    "instance.unready",
                    format!("{} taken out of the load balancer: {why}", report.name),
                    details.clone(),
                )
                .await
            }
            Transition::Restart(why) => {
                inner.shared.lock().unwrap().removing.insert(report.id.clone());
                let result = inner.runtime.remove_instance(&report.id).await;
                inner.shared.lock().unwrap().removing.remove(&report.id);
                match result {
                    Ok(()) => {
                        if let Some(index) = index {
                            let slot = (report.app.clone(), index);
                            *inner.shared.lock().unwrap().restarts.entry(slot.clone()).or_default() += 1;
                            // A failed probe counts as a crash for CrashLoop backoff, as in Kubernetes.
                            histories.entry(slot).or_default().record_crash(now_ms());
                        }
                        record(
                            inner,
                            Some(&report.app),
                            Some(&report.name),
                            "instance.unhealthy",
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
                            "instance.remove_failed",
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
    let known = inner.shared.lock().unwrap().details.clone();
    let mut out = BTreeMap::new();
    for o in observed.iter_mut().filter(|o| o.state == crane_core::model::ContainerState::Running) {
        let details = match known.get(&o.id) {
            Some(d) => Some(d.clone()),
            None => inner.runtime.inspect_instance(&o.id).await.ok().flatten(),
        };
        if let Some(d) = details {
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
    kind: &str,
    reason: String,
    details: serde_json::Value,
) {
    tracing::info!(app = app.unwrap_or("-"), kind, "{reason}");
    let event = EventRecord {
        id: 0,
        at: now_ms(),
        app: app.map(str::to_string),
        instance: instance.map(str::to_string),
        kind: kind.to_string(),
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
    async fn remove_app_resources(&self, _: &str, _: &str) -> Result<(), RuntimeError> {
        Err(self.err())
    }
    async fn start_instance(&self, _: &InstanceRequest) -> Result<String, RuntimeError> {
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
