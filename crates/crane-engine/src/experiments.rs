//! Experiments in the engine: recording a run of an app (its settings at the start, optionally the load generator
//! with a profile, then its series copied from the samples when it ends), stopping it, and comparing runs on the same
//! axes — charts rendered by `crane-charts` (SVG, PNG) and the CSV export.
//!
//! The pure parts (points from samples, alignment, what differs, CSV, bounds) are `crane_core::experiment`; this
//! module keeps the recordings running (one task each, ended by the load, a duration, a stop, the app's deletion),
//! writes the runs through the `Store` port and records `experiment.started` / `experiment.finished` events with their
//! inputs.
//!
//! **Architecture Invariant:** a run is written once when it starts and once when it ends, by its own task (or, after
//! a restart, by [`recover`]); its points are copied from the samples before the app's deletion removes them, so a run
//! survives the app and the samples' retention. At most one recording per app; at most
//! [`experiment::MAX_RUNS`] runs.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crane_api::{
    AuditAction, ChangeView, EventKind, ExperimentAutoscalingView, ExperimentComparisonView, ExperimentDifferenceView,
    ExperimentEnd, ExperimentMetric, ExperimentPointView, ExperimentRecordRequest, ExperimentSettingsView,
    ExperimentState, ExperimentView, ExportFormat, ProgressView,
};
use crane_charts::{ChartSpec, Series, TimeLabels};
use crane_core::experiment::{self, LoadProfile, Run, RunEnd, RunMetric, RunPoint, Settings};
use crane_core::model::Millis;
use crane_core::ports::{InstanceFilter, SampleMetric, StoredExperiment};
use tokio::sync::{oneshot, watch};

use crate::clock::LockExt;
use crate::{internal, now_ms, run, EngineError, EngineHandle, Inner, Permission, Result};

/// How often a recording looks at its load and its deadline, and reports progress.
const TICK: Duration = Duration::from_millis(250);
/// How long `stop` (and an app's deletion) waits for a recording to copy its points.
const FINISH_WAIT: Duration = Duration::from_secs(15);
/// Width of each overlay chart, pixels.
const CHART_WIDTH: u32 = 720;
/// Height of each overlay chart, pixels.
const CHART_HEIGHT: u32 = 230;

/// The recordings running now, by run name.
#[derive(Default)]
pub(crate) struct Experiments {
    active: Mutex<BTreeMap<String, Active>>,
    /// Held while a run is created or deleted, so the count and name checks hold when the row is written.
    pub(crate) writes: tokio::sync::Mutex<()>,
}

/// A recording in progress.
struct Active {
    /// Its app.
    app: String,
    /// Ends the recording early, saying why.
    stop: Option<oneshot::Sender<RunEnd>>,
    /// Becomes true once the run's points are stored.
    done: watch::Receiver<bool>,
}

impl Experiments {
    /// The recording of `app`, if one runs.
    fn recording_of(&self, app: &str) -> Option<String> {
        self.active.locked().iter().find(|(_, a)| a.app == app).map(|(name, _)| name.clone())
    }

    /// Asks a recording to end (why: `end`) and returns what to wait on, or `None` when it is not running.
    fn end(&self, name: &str, end: RunEnd) -> Option<watch::Receiver<bool>> {
        let mut active = self.active.locked();
        let entry = active.get_mut(name)?;
        if let Some(stop) = entry.stop.take() {
            let _ = stop.send(end);
        }
        Some(entry.done.clone())
    }

    /// Stops every recording's task (the engine is stopping; the runs are closed by [`recover`] at the next start).
    pub(crate) fn clear(&self) {
        self.active.locked().clear();
    }
}

/// Waits (bounded) until a recording has stored its points.
async fn wait_done(mut done: watch::Receiver<bool>) {
    let _ = tokio::time::timeout(FINISH_WAIT, done.wait_for(|d| *d)).await;
}

fn bad(message: impl Into<String>) -> EngineError {
    EngineError::BadRequest(message.into())
}

fn missing(name: &str) -> EngineError {
    EngineError::Missing(format!("no experiment run named '{name}'; list them with `cranectl experiment list`"))
}

/// Seconds from a request as milliseconds, checked before conversion: finite, within `0..=max_s`.
fn seconds(field: &str, value: f64, max_ms: Millis) -> Result<Millis> {
    let max_s = max_ms as f64 / 1000.0;
    if !(value.is_finite() && (0.0..=max_s).contains(&value)) {
        return Err(bad(format!("{field}: {value} is out of range; give seconds from 0 to {max_s}")));
    }
    Ok((value * 1000.0).round() as Millis)
}

/// The row of a run: its record without the points, and the points apart.
fn row(run: &Run) -> Result<StoredExperiment> {
    let record = serde_json::to_string(&Run { points: Vec::new(), ..run.clone() }).map_err(internal)?;
    let points = serde_json::to_string(&run.points).map_err(internal)?;
    Ok(StoredExperiment {
        name: run.name.clone(),
        app: run.app.clone(),
        started_at: run.started_at,
        ended_at: run.ended_at,
        record,
        points,
    })
}

/// A run read back from its row (`points` empty in lists).
fn from_row(row: &StoredExperiment) -> Result<Run> {
    let mut run: Run = serde_json::from_str(&row.record)
        .map_err(|e| internal(format!("the stored run '{}' cannot be read: {e}", row.name)))?;
    if !row.points.is_empty() {
        run.points = serde_json::from_str(&row.points)
            .map_err(|e| internal(format!("the points of run '{}' cannot be read: {e}", row.name)))?;
    }
    Ok(run)
}

/// The wire form of a run (points included when `with_points`).
pub(crate) fn view(run: &Run, now: Millis, with_points: bool) -> ExperimentView {
    let s = &run.settings;
    ExperimentView {
        name: run.name.clone(),
        app: run.app.clone(),
        recorded_by: run.recorded_by.clone(),
        state: if run.ended_at.is_some() { ExperimentState::Done } else { ExperimentState::Recording },
        started_at: crate::views::rfc3339(run.started_at),
        ended_at: run.ended_at.map(crate::views::rfc3339),
        elapsed_s: run.elapsed_ms(now) as f64 / 1000.0,
        planned_s: run.planned_ms.map(|ms| ms as f64 / 1000.0),
        after_s: run.after_ms as f64 / 1000.0,
        end: run.end.map(wire_end),
        settings: ExperimentSettingsView {
            image: s.image.clone(),
            revision: s.revision.min(u64::from(u32::MAX)) as u32,
            replicas: s.replicas,
            cpus: s.cpus,
            autoscaling: s.autoscaling.as_ref().map(|a| ExperimentAutoscalingView {
                metric: crate::views::wire_metric(a.metric),
                target: a.target,
                min: a.min,
                max: a.max,
                tolerance: a.tolerance,
                scale_down_stabilization_ms: a.scale_down_stabilization_ms as f64,
                max_scale_up_step: a.max_scale_up_step,
                max_scale_down_step: a.max_scale_down_step,
            }),
        },
        load: run.load.as_ref().map(|l| crane_api::LoadRequest {
            rate: l.rate,
            duration_s: l.duration_ms as f64 / 1000.0,
            ramp_to: l.ramp_to,
            concurrency: l.concurrency,
            path: Some(l.path.clone()),
        }),
        point_count: run.point_count.min(u32::MAX as usize) as u32,
        points: if with_points { run.points.iter().map(|p| point_view(run, p)).collect() } else { Vec::new() },
    }
}

fn point_view(run: &Run, p: &RunPoint) -> ExperimentPointView {
    ExperimentPointView {
        t_s: p.at.saturating_sub(run.started_at) as f64 / 1000.0,
        at_ms: p.at as f64,
        replicas: p.replicas,
        ready: p.ready,
        rps: p.rps,
        rps_per_replica: p.rps_per_replica,
        latency_p95_ms: p.latency_p95_ms,
        cpu_percent: p.cpu_percent,
        errors_per_s: p.errors_per_s,
    }
}

fn wire_end(end: RunEnd) -> ExperimentEnd {
    match end {
        RunEnd::LoadFinished => ExperimentEnd::LoadFinished,
        RunEnd::DurationReached => ExperimentEnd::DurationReached,
        RunEnd::Stopped => ExperimentEnd::Stopped,
        RunEnd::AppDeleted => ExperimentEnd::AppDeleted,
        RunEnd::EngineRestarted => ExperimentEnd::EngineRestarted,
        RunEnd::LimitReached => ExperimentEnd::LimitReached,
    }
}

/// The core series of a wire metric.
pub fn core_metric(metric: ExperimentMetric) -> RunMetric {
    match metric {
        ExperimentMetric::Replicas => RunMetric::Replicas,
        ExperimentMetric::Ready => RunMetric::Ready,
        ExperimentMetric::Rps => RunMetric::Rps,
        ExperimentMetric::RpsPerReplica => RunMetric::RpsPerReplica,
        ExperimentMetric::LatencyP95Ms => RunMetric::LatencyP95Ms,
        ExperimentMetric::CpuPercent => RunMetric::CpuPercent,
        ExperimentMetric::ErrorsPerS => RunMetric::ErrorsPerS,
    }
}

/// Why a run ended, in words.
fn end_text(end: RunEnd) -> &'static str {
    match end {
        RunEnd::LoadFinished => "the load ended",
        RunEnd::DurationReached => "its duration passed",
        RunEnd::Stopped => "it was stopped",
        RunEnd::AppDeleted => "its app was deleted",
        RunEnd::EngineRestarted => "the engine stopped while it recorded",
        RunEnd::LimitReached => "it reached the one-hour limit",
    }
}

/// Copies the app's samples between the run's start and `end` into the run's points.
async fn copy_points(inner: &Inner, run: &mut Run, end: Millis) -> Result<()> {
    let app = run.app.as_str();
    let (from, to) = (run.started_at, end);
    let mut samples = Vec::new();
    for metric in [
        SampleMetric::Replicas,
        SampleMetric::Ready,
        SampleMetric::Rps,
        SampleMetric::LatencyP95Ms,
        SampleMetric::ErrorsPerS,
    ] {
        samples.extend(inner.store.query_samples(app, InstanceFilter::App, &metric, from, to).await.map_err(internal)?);
    }
    samples.extend(
        inner.store.query_samples(app, InstanceFilter::Any, &SampleMetric::Cpu, from, to).await.map_err(internal)?,
    );
    run.points = experiment::points_from_samples(&samples, from, to, experiment::MAX_POINTS);
    run.point_count = run.points.len();
    Ok(())
}

/// Ends a run at `end`: copies its points, stores it, records `experiment.finished` and says so to the windows.
async fn finish(inner: &Inner, run: &mut Run, end: Millis, why: RunEnd) {
    if let Err(e) = copy_points(inner, run, end).await {
        tracing::warn!(run = %run.name, "cannot copy the run's points: {e}");
    }
    run.ended_at = Some(end);
    run.end = Some(why);
    let stored = match row(run) {
        Ok(row) => inner.store.put_experiment(&row).await.map_err(internal),
        Err(e) => Err(e),
    };
    if let Err(e) = &stored {
        tracing::warn!(run = %run.name, "cannot store the run: {e}");
    }
    let seconds = run.elapsed_ms(end) as f64 / 1000.0;
    let text = format!(
        "experiment run '{}' of '{}' ended after {:.1} s ({}): {} point{} kept",
        run.name,
        run.app,
        seconds,
        end_text(why),
        run.points.len(),
        if run.points.len() == 1 { "" } else { "s" }
    );
    let details = serde_json::json!({
        "name": run.name, "app": run.app, "end": why, "points": run.points.len(), "durationS": seconds,
        "stored": stored.is_ok(),
    });
    run::record(inner, Some(&run.app), None, EventKind::ExperimentFinished, text.clone(), details).await;
    let _ = inner.changes.send(ChangeView::Progress {
        progress: ProgressView {
            operation: format!("experiment:{}", run.name),
            message: text,
            fraction: Some(1.0),
            done: true,
            error: stored.err().map(|e| e.to_string()),
        },
    });
}

/// Runs a recording until its load ends (plus `after_ms`), its planned duration passes, it reaches the limit or it
/// is stopped; then finishes it.
async fn record_task(inner: Arc<Inner>, mut run: Run, mut stop: oneshot::Receiver<RunEnd>, done: watch::Sender<bool>) {
    let start = tokio::time::Instant::now();
    let limit = start + Duration::from_millis(experiment::MAX_RECORD_MS);
    // Without a load the plan is the deadline; with one, the deadline is set when the load is seen to end.
    let mut deadline = match (&run.load, run.planned_ms) {
        (None, Some(ms)) => Some(start + Duration::from_millis(ms)),
        _ => None,
    };
    let mut ticker = tokio::time::interval(TICK);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_report = start;
    let why = loop {
        tokio::select! {
            // A dropped switch: the engine is stopping.
            why = &mut stop => break why.unwrap_or(RunEnd::EngineRestarted),
            _ = ticker.tick() => {}
        }
        let now = tokio::time::Instant::now();
        if run.load.is_some() && deadline.is_none() {
            let load_running = inner.loads.view(&run.app).is_some_and(|v| v.running);
            if !load_running {
                deadline = Some(now + Duration::from_millis(run.after_ms));
            }
        }
        match deadline {
            Some(d) if now >= d => {
                break if run.load.is_some() { RunEnd::LoadFinished } else { RunEnd::DurationReached }
            }
            _ if now >= limit => break RunEnd::LimitReached,
            _ => {}
        }
        if now.duration_since(last_report) >= Duration::from_secs(1) {
            last_report = now;
            let elapsed = now.duration_since(start).as_secs_f64();
            let planned = run.planned_ms.map(|ms| ms as f64 / 1000.0);
            let phase = match (&run.load, deadline) {
                (Some(_), None) => "load running",
                (Some(_), Some(_)) => "after the load",
                (None, _) => "recording",
            };
            let message = match planned {
                Some(p) => format!("recording '{}': {elapsed:.0}/{p:.0} s, {phase}", run.name),
                None => format!("recording '{}': {elapsed:.0} s, until stopped", run.name),
            };
            let _ = inner.changes.send(ChangeView::Progress {
                progress: ProgressView {
                    operation: format!("experiment:{}", run.name),
                    message,
                    fraction: planned.map(|p| (elapsed / p.max(0.001)).clamp(0.0, 1.0)),
                    done: false,
                    error: None,
                },
            });
        }
    };
    // A stop ends the load this recording started, so "stop" means the whole run.
    if why == RunEnd::Stopped && run.load.is_some() {
        inner.loads.stop(&run.app);
    }
    let end = now_ms();
    finish(&inner, &mut run, end, why).await;
    inner.experiments.active.locked().remove(&run.name);
    let _ = done.send(true);
}

/// Closes the runs the engine was recording when it stopped: their points up to the deadline (or now) are copied
/// from the samples, which outlive a restart.
pub(crate) async fn recover(inner: &Inner) {
    let Ok(rows) = inner.store.list_experiments().await else { return };
    for row in rows.iter().filter(|r| r.ended_at.is_none()) {
        let mut run = match from_row(row) {
            Ok(run) => run,
            Err(e) => {
                tracing::warn!("{e}");
                continue;
            }
        };
        let end = now_ms().min(run.deadline());
        finish(inner, &mut run, end, RunEnd::EngineRestarted).await;
    }
}

/// Ends the recordings of an app that is being deleted (before its samples go) and waits for their points.
pub(crate) async fn app_deleted(inner: &Inner, app: &str) {
    let names: Vec<String> =
        inner.experiments.active.locked().iter().filter(|(_, a)| a.app == app).map(|(name, _)| name.clone()).collect();
    for name in names {
        if let Some(done) = inner.experiments.end(&name, RunEnd::AppDeleted) {
            wait_done(done).await;
        }
    }
}

impl EngineHandle {
    /// Starts recording a run of an app (operators: their own apps): its settings now, and with `load` the load
    /// generator with that profile (the recording then ends once the load has ended and `after_s` passed). Records
    /// `experiment.started` with the inputs. Audited.
    pub async fn experiment_record(&self, request: &ExperimentRecordRequest) -> Result<ExperimentView> {
        self.audited(AuditAction::ExperimentRecord, Some(&request.app), request.name.as_deref(), async {
            self.authorize(Permission::ManageApp, Some(&request.app)).await?;
            self.experiment_record_now(request).await
        })
        .await
    }

    async fn experiment_record_now(&self, request: &ExperimentRecordRequest) -> Result<ExperimentView> {
        let inner = &self.inner;
        // Every input is checked before anything starts.
        if let Some(name) = &request.name {
            if let Some(problem) = experiment::name_problem(name) {
                return Err(bad(problem));
            }
        }
        let after_ms =
            request.after_s.map(|s| seconds("after_s", s, experiment::MAX_RECORD_MS)).transpose()?.unwrap_or(0);
        let duration_ms =
            request.duration_s.map(|s| seconds("duration_s", s, experiment::MAX_RECORD_MS)).transpose()?;
        if let Some(load) = &request.load {
            crate::load::check_numbers(load)?;
        }
        let load = request.load.as_ref().map(|l| LoadProfile {
            rate: l.rate,
            ramp_to: l.ramp_to,
            duration_ms: (l.duration_s * 1000.0).round() as Millis,
            concurrency: l.concurrency,
            path: l.path.clone().unwrap_or_else(|| "/".to_string()),
        });
        let planned = experiment::planned_ms(load.as_ref(), duration_ms, after_ms).map_err(bad)?;
        let app = self.stored(&request.app).await?;

        let _guard = inner.experiments.writes.lock().await;
        let existing = inner.store.list_experiments().await.map_err(internal)?;
        if existing.len() >= experiment::MAX_RUNS {
            return Err(EngineError::Conflict(format!(
                "Crane keeps at most {} experiment runs and has {}; delete one (`cranectl experiment delete NAME`, or \
                 Delete in the Experiments panel) and record again",
                experiment::MAX_RUNS,
                existing.len()
            )));
        }
        let name = match &request.name {
            Some(name) => name.clone(),
            None => experiment::default_name(&request.app, existing.iter().map(|e| e.name.as_str())),
        };
        if existing.iter().any(|e| e.name == name) {
            return Err(EngineError::Conflict(format!(
                "an experiment run named '{name}' exists already; choose another name, or delete it first"
            )));
        }
        if let Some(other) = inner.experiments.recording_of(&request.app) {
            return Err(EngineError::Conflict(format!(
                "run '{other}' of '{}' is being recorded; stop it first (`cranectl experiment stop {other}`)",
                request.app
            )));
        }
        let mut run = Run {
            name: name.clone(),
            app: request.app.clone(),
            recorded_by: self.caller().user.clone(),
            started_at: now_ms(),
            ended_at: None,
            planned_ms: planned,
            after_ms,
            settings: Settings::from_spec(&app.spec, app.revision),
            load,
            end: None,
            point_count: 0,
            points: Vec::new(),
        };
        // The load starts first: when it cannot (no port, a run already going), nothing is stored.
        if let Some(load) = &request.load {
            self.start_load_now(&request.app, load).await?;
            run.started_at = now_ms();
        }
        if let Err(e) = inner.store.put_experiment(&row(&run)?).await {
            if run.load.is_some() {
                inner.loads.stop(&run.app);
            }
            return Err(internal(e));
        }
        let (stop, stop_rx) = oneshot::channel();
        let (done_tx, done) = watch::channel(false);
        inner.experiments.active.locked().insert(name.clone(), Active { app: run.app.clone(), stop: Some(stop), done });
        let details = serde_json::json!({
            "name": name, "app": run.app, "settings": run.settings, "load": run.load, "afterS": after_ms as f64 / 1000.0,
            "plannedS": planned.map(|ms| ms as f64 / 1000.0),
            "by": {"user": self.caller().user, "door": self.caller().door},
        });
        let plan = match (&run.load, planned) {
            (Some(l), _) => format!(
                "{} for {}{}",
                match l.ramp_to {
                    Some(to) => format!("ramp {}→{} req/s", experiment::number(l.rate), experiment::number(to)),
                    None => format!("{} req/s", experiment::number(l.rate)),
                },
                crane_core::units::format_millis(l.duration_ms),
                if after_ms > 0 {
                    format!(", then {}", crane_core::units::format_millis(after_ms))
                } else {
                    String::new()
                }
            ),
            (None, Some(ms)) => format!("no load, {}", crane_core::units::format_millis(ms)),
            (None, None) => "no load, until stopped".to_string(),
        };
        run::record(
            inner,
            Some(&run.app),
            None,
            EventKind::ExperimentStarted,
            format!("experiment run '{name}' of '{}' started recording: {plan}", run.app),
            details,
        )
        .await;
        let view = view(&run, now_ms(), false);
        tokio::spawn(record_task(inner.clone(), run, stop_rx, done_tx));
        Ok(view)
    }

    /// The run, checked for the caller: operators stop and delete only the runs they recorded.
    async fn own_run(&self, name: &str) -> Result<Run> {
        self.authorize(Permission::ManageApp, None).await?;
        let row = self.inner.store.get_experiment(name).await.map_err(internal)?.ok_or_else(|| missing(name))?;
        let run = from_row(&row)?;
        let caller = self.caller();
        if caller.role < crane_api::Role::Admin && run.recorded_by != caller.user {
            return Err(EngineError::Forbidden(format!(
                "run '{name}' was recorded by '{}'; an operator stops and deletes only their own runs (you are \
                 '{}'); ask '{}' or an admin",
                run.recorded_by, caller.user, run.recorded_by
            )));
        }
        Ok(run)
    }

    /// Stops a recording (and the load it started), waits until its points are stored and returns the run. A run
    /// that already ended is returned as it is. Audited.
    pub async fn experiment_stop(&self, name: &str) -> Result<ExperimentView> {
        self.audited(AuditAction::ExperimentStop, None, Some(name), async {
            self.own_run(name).await?;
            if let Some(done) = self.inner.experiments.end(name, RunEnd::Stopped) {
                wait_done(done).await;
            }
            self.experiment_get(name).await
        })
        .await
    }

    /// Every run, oldest first, without points.
    pub async fn experiment_list(&self) -> Result<Vec<ExperimentView>> {
        let rows = self.inner.store.list_experiments().await.map_err(internal)?;
        let now = now_ms();
        rows.iter().map(|row| Ok(view(&from_row(row)?, now, false))).collect()
    }

    /// One run with its points.
    pub async fn experiment_get(&self, name: &str) -> Result<ExperimentView> {
        let run = self.run_named(name).await?;
        Ok(view(&run, now_ms(), true))
    }

    async fn run_named(&self, name: &str) -> Result<Run> {
        let row = self.inner.store.get_experiment(name).await.map_err(internal)?.ok_or_else(|| missing(name))?;
        from_row(&row)
    }

    /// Deletes a run (operators: their own). A run being recorded is refused: stop it first. Audited.
    pub async fn experiment_delete(&self, name: &str) -> Result<()> {
        self.audited(AuditAction::ExperimentDelete, None, Some(name), async {
            let _guard = self.inner.experiments.writes.lock().await;
            let run = self.own_run(name).await?;
            if run.ended_at.is_none() || self.inner.experiments.active.locked().contains_key(name) {
                return Err(EngineError::Conflict(format!(
                    "run '{name}' is being recorded; stop it first (`cranectl experiment stop {name}`)"
                )));
            }
            self.inner.store.delete_experiment(name).await.map_err(internal)?;
            let _ = self.inner.changes.send(ChangeView::Progress {
                progress: ProgressView {
                    operation: format!("experiment:{name}"),
                    message: format!("experiment run '{name}' deleted"),
                    fraction: None,
                    done: true,
                    error: None,
                },
            });
            Ok(())
        })
        .await
    }

    /// The finished runs named, in order: at least one, at most [`experiment::MAX_OVERLAY`], each once.
    async fn runs_to_compare(&self, names: &[String]) -> Result<Vec<Run>> {
        if names.is_empty() {
            return Err(bad("runs: name at least one run, e.g. runs=stab-10s,stab-60s"));
        }
        if names.len() > experiment::MAX_OVERLAY {
            return Err(bad(format!(
                "runs: {} runs named; an overlay compares at most {} (the chart stays readable)",
                names.len(),
                experiment::MAX_OVERLAY
            )));
        }
        let mut runs = Vec::with_capacity(names.len());
        for (i, name) in names.iter().enumerate() {
            if names[..i].contains(name) {
                return Err(bad(format!("runs: '{name}' is named twice")));
            }
            let run = self.run_named(name).await?;
            if run.ended_at.is_none() {
                return Err(EngineError::Conflict(format!(
                    "run '{name}' is still recording; its points are copied when it ends (stop it, or wait)"
                )));
            }
            runs.push(run);
        }
        Ok(runs)
    }

    /// What the runs named have in common and where they differ, with each run's figures.
    pub async fn experiment_compare(&self, names: &[String]) -> Result<ExperimentComparisonView> {
        let runs = self.runs_to_compare(names).await?;
        let refs: Vec<&Run> = runs.iter().collect();
        let comparison = experiment::compare(&refs);
        Ok(ExperimentComparisonView {
            runs: runs
                .iter()
                .zip(&comparison.differing)
                .map(|(run, differing)| {
                    let s = experiment::summary(run);
                    ExperimentDifferenceView {
                        name: run.name.clone(),
                        legend: experiment::legend(&run.name, differing),
                        differing: differing.clone(),
                        peak_replicas: s.peak_replicas,
                        peak_at_s: s.peak_at_ms.map(|ms| ms as f64 / 1000.0),
                        final_replicas: s.final_replicas,
                        max_latency_p95_ms: s.max_latency_p95_ms,
                        mean_cpu_percent: s.mean_cpu_percent,
                    }
                })
                .collect(),
            common: comparison.common,
        })
    }

    /// The runs named as a file: the overlay charts (SVG or PNG; one chart for `metric`, else the Scaling view's
    /// four) with time since each run's start, or every point as CSV. Returns the bytes and the media type.
    pub async fn experiment_export(
        &self,
        names: &[String],
        format: ExportFormat,
        metric: Option<ExperimentMetric>,
    ) -> Result<(Vec<u8>, &'static str)> {
        let runs = self.runs_to_compare(names).await?;
        let refs: Vec<&Run> = runs.iter().collect();
        if format == ExportFormat::Csv {
            if metric.is_some() {
                return Err(bad("metric: a CSV export has every series as a column; leave metric out"));
            }
            return Ok((experiment::to_csv(&refs).into_bytes(), "text/csv; charset=utf-8"));
        }
        let metrics: Vec<RunMetric> = match metric {
            Some(m) => vec![core_metric(m)],
            None => RunMetric::OVERLAY.to_vec(),
        };
        let specs = overlay_specs(&refs, &metrics);
        // Rendering is CPU work bounded by the point and run caps; it runs off the async workers.
        tokio::task::spawn_blocking(move || match format {
            ExportFormat::Png => crane_charts::render_png(&specs).map(|png| (png, "image/png")).map_err(internal),
            _ => Ok((crane_charts::render_panel_svg(&specs).into_bytes(), "image/svg+xml")),
        })
        .await
        .map_err(|e| internal(format!("rendering the overlay failed: {e}")))?
    }
}

/// The overlay charts of runs: one per metric, each run a series on the time since its own start, named by its
/// legend (what differs), the autoscaling target drawn when every run shares it.
pub(crate) fn overlay_specs(runs: &[&Run], metrics: &[RunMetric]) -> Vec<ChartSpec> {
    let comparison = experiment::compare(runs);
    let legends: Vec<String> =
        runs.iter().zip(&comparison.differing).map(|(r, d)| experiment::legend(&r.name, d)).collect();
    // At least ten seconds, so a very short run still gets a readable axis.
    let to = (experiment::longest_ms(runs, now_ms()) as i64).max(10_000);
    metrics
        .iter()
        .map(|&metric| {
            let threshold = experiment::shared_target(runs, metric).map(|t| {
                let unit = match metric.unit() {
                    "%" => "%".to_string(),
                    unit => format!(" {unit}"),
                };
                (t, format!("target {}{unit}", experiment::number(t)))
            });
            ChartSpec {
                title: metric.title().to_string(),
                unit: metric.unit().to_string(),
                from_ms: 0,
                to_ms: to,
                width: CHART_WIDTH,
                height: CHART_HEIGHT,
                series: runs
                    .iter()
                    .zip(&legends)
                    .map(|(r, legend)| Series { name: legend.clone(), points: experiment::aligned(r, metric) })
                    .collect(),
                y_min: Some(0.0),
                y_max: None,
                step: metric.step(),
                markers: Vec::new(),
                threshold,
                time: TimeLabels::Elapsed,
            }
        })
        .collect()
}
