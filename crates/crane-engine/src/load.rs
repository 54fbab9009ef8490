//! The built-in load generator, run by the engine against an app's load-balancer address so every door sees the
//! same run: progress is broadcast (`ChangeView::Progress`, operation `load:<app>`) and kept for the views, the
//! final report goes to the event log.
//!
//! **Architecture Invariant:** at most one run per app; a run is bounded in time and requests (crane-loadgen) and
//! stops when the app is deleted or the engine stops.

use crane_api::EventKind;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crane_api::{ChangeView, LoadRequest, LoadView, ProgressView};
use crane_loadgen::{
    LoadPlan, LoadProgress, LoadReport, LoadRun, Shape, MAX_CONCURRENCY, MAX_DURATION, MAX_RATE, MIN_DURATION,
};

use crate::clock::LockExt;
use crate::{run, EngineError, Inner, Result};

/// Runs by app: the stop switch and the latest view.
#[derive(Default)]
pub(crate) struct Loads {
    runs: Mutex<BTreeMap<String, Entry>>,
}

struct Entry {
    view: Arc<Mutex<LoadView>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Loads {
    /// The latest view of an app's run.
    pub(crate) fn view(&self, app: &str) -> Option<LoadView> {
        self.runs.locked().get(app).map(|e| e.view.locked().clone())
    }

    /// Stops an app's run (if any) and forgets it.
    pub(crate) fn forget(&self, app: &str) {
        if let Some(mut e) = self.runs.locked().remove(app) {
            if let Some(stop) = e.stop.take() {
                let _ = stop.send(());
            }
        }
    }

    /// Stops an app's run; returns whether one was running.
    pub(crate) fn stop(&self, app: &str) -> bool {
        let mut runs = self.runs.locked();
        match runs.get_mut(app).and_then(|e| e.stop.take()) {
            Some(stop) => stop.send(()).is_ok(),
            None => false,
        }
    }

    /// Stops every run.
    pub(crate) fn clear(&self) {
        let apps: Vec<String> = self.runs.locked().keys().cloned().collect();
        for app in apps {
            self.forget(&app);
        }
    }
}

fn view_of(url: &str, duration_s: f64, p: &LoadProgress) -> LoadView {
    LoadView {
        running: !p.done,
        url: url.to_string(),
        target_rate: p.target_rate,
        achieved_rate: p.achieved_rate,
        sent: p.sent as f64,
        ok: p.ok as f64,
        errors: p.errors as f64,
        p50_ms: p.p50_ms,
        p95_ms: p.p95_ms,
        p99_ms: p.p99_ms,
        elapsed_s: p.elapsed_ms / 1000.0,
        duration_s,
        stopped_early: false,
        error_kinds: Vec::new(),
    }
}

fn finish(view: &mut LoadView, report: &LoadReport) {
    view.running = false;
    view.sent = report.sent as f64;
    view.ok = report.ok as f64;
    view.errors = report.errors as f64;
    view.achieved_rate = report.achieved_rate;
    view.p50_ms = report.p50_ms;
    view.p95_ms = report.p95_ms;
    view.p99_ms = report.p99_ms;
    view.elapsed_s = report.duration_ms / 1000.0;
    view.stopped_early = report.stopped_early;
    view.error_kinds = report.error_kinds.iter().map(|(k, n)| format!("{k}: {n}")).collect();
}

/// Checks every number of a request against the load generator's ranges before any is converted (a duration of
/// `1e30` seconds overflowed `Duration::from_secs_f64` and panicked). The message names the field and its range.
pub(crate) fn check_numbers(req: &LoadRequest) -> Result<()> {
    let (min_s, max_s) = (MIN_DURATION.as_secs_f64(), MAX_DURATION.as_secs_f64());
    let out_of_range = |field: &str, range: String, value: String| {
        Err(EngineError::BadRequest(format!("{field}: {value} is out of range; give a number from {range}")))
    };
    if !(min_s..=max_s).contains(&req.duration_s) {
        return out_of_range("duration_s", format!("{min_s} to {max_s} (seconds)"), req.duration_s.to_string());
    }
    // A ramp may start at 0 ("from nothing to 500 req/s"); a constant rate may not.
    let min_rate = if req.ramp_to.is_some() { 0.0 } else { f64::MIN_POSITIVE };
    if !(min_rate..=MAX_RATE).contains(&req.rate) {
        let low = if req.ramp_to.is_some() { "0" } else { "just above 0" };
        return out_of_range("rate", format!("{low} to {MAX_RATE} (requests per second)"), req.rate.to_string());
    }
    if let Some(to) = req.ramp_to.filter(|to| !(0.0..=MAX_RATE).contains(to)) {
        return out_of_range("ramp_to", format!("0 to {MAX_RATE} (requests per second)"), to.to_string());
    }
    if let Some(c) = req.concurrency.filter(|c| !(1..=MAX_CONCURRENCY).contains(c)) {
        return out_of_range("concurrency", format!("1 to {MAX_CONCURRENCY}"), c.to_string());
    }
    Ok(())
}

/// Starts a run against `http://127.0.0.1:<port><path>`.
pub(crate) fn start(inner: &Arc<Inner>, app: &str, port: u16, req: &LoadRequest) -> Result<LoadView> {
    let path = req.path.clone().unwrap_or_else(|| "/".to_string());
    if !path.starts_with('/') {
        return Err(EngineError::BadRequest(format!("path: `{path}` must start with '/', e.g. /work?ms=20")));
    }
    check_numbers(req)?;
    let url = format!("http://127.0.0.1:{port}{path}");
    let shape = match req.ramp_to {
        Some(to) => Shape::Ramp { from: req.rate, to },
        None => Shape::Constant { rate: req.rate },
    };
    let mut plan = LoadPlan::new(url.clone(), shape, Duration::from_secs_f64(req.duration_s));
    if let Some(c) = req.concurrency {
        plan.concurrency = c;
    }
    if inner.loads.view(app).map(|v| v.running).unwrap_or(false) {
        return Err(EngineError::Conflict(format!(
            "a load run against '{app}' is already running; stop it first (`cranectl load {app} --stop`)"
        )));
    }
    let load = LoadRun::start(plan).map_err(|e| EngineError::BadRequest(e.to_string()))?;
    let first = view_of(&url, req.duration_s, &load.progress().borrow());
    let view = Arc::new(Mutex::new(LoadView { running: true, ..first }));
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel();
    inner.loads.runs.locked().insert(app.to_string(), Entry { view: view.clone(), stop: Some(stop_tx) });

    let started = view.locked().clone();
    let (inner, app, duration_s) = (inner.clone(), app.to_string(), req.duration_s);
    let shape_text = match req.ramp_to {
        Some(to) => format!("ramp {}→{to} req/s", req.rate),
        None => format!("{} req/s", req.rate),
    };
    tokio::spawn(async move {
        run::record(
            &inner,
            Some(&app),
            None,
            EventKind::LoadStarted,
            format!("load generator started against '{app}': {shape_text} for {duration_s}s at {url}"),
            serde_json::json!({"url": url, "durationS": duration_s}),
        )
        .await;
        let mut progress = load.progress();
        let mut stop_rx = stop_rx;
        let mut stopped = false;
        loop {
            tokio::select! {
                changed = progress.changed() => {
                    if changed.is_err() { break; }
                    let p = progress.borrow().clone();
                    let v = view_of(&url, duration_s, &p);
                    let message = format!(
                        "{:.0}/{:.0} req/s · p95 {:.1} ms · {} errors",
                        v.achieved_rate, v.target_rate, v.p95_ms, p.errors
                    );
                    *view.locked() = v;
                    let _ = inner.changes.send(ChangeView::Progress { progress: ProgressView {
                        operation: format!("load:{app}"),
                        message,
                        fraction: Some((p.elapsed_ms / 1000.0 / duration_s).clamp(0.0, 1.0)),
                        done: false,
                        error: None,
                    }});
                    if p.done { break; }
                }
                // Stop asked for, or the run forgotten (app deleted, engine stopping): end it.
                _ = &mut stop_rx, if !stopped => {
                    stopped = true;
                    load.stop();
                }
            }
        }
        let report = load.wait().await;
        let text = {
            let mut v = view.locked();
            finish(&mut v, &report);
            format!(
                "load generator finished against '{app}': {} sent, {} ok, {} errors, {:.1} req/s achieved, p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms{}",
                report.sent,
                report.ok,
                report.errors,
                report.achieved_rate,
                report.p50_ms,
                report.p95_ms,
                report.p99_ms,
                if report.stopped_early { " (stopped early)" } else { "" }
            )
        };
        let _ = inner.changes.send(ChangeView::Progress {
            progress: ProgressView {
                operation: format!("load:{app}"),
                message: text.clone(),
                fraction: Some(1.0),
                done: true,
                error: None,
            },
        });
        let details = serde_json::json!({
            "sent": report.sent, "ok": report.ok, "errors": report.errors, "achievedRate": report.achieved_rate,
            "p50Ms": report.p50_ms, "p95Ms": report.p95_ms, "p99Ms": report.p99_ms, "errorKinds": report.error_kinds,
        });
        run::record(&inner, Some(&app), None, EventKind::LoadFinished, text, details).await;
        let _ = inner.changes.send(ChangeView::Apps);
    });
    Ok(started)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(rate: f64, duration_s: f64, ramp_to: Option<f64>, concurrency: Option<u32>) -> LoadRequest {
        LoadRequest { rate, duration_s, ramp_to, concurrency, path: None }
    }

    /// Every number is range-checked before conversion; the message names the field and its range.
    #[test]
    fn numbers_out_of_range_are_refused_by_name() {
        let check = |req: LoadRequest| match check_numbers(&req) {
            Ok(()) => "ok".to_string(),
            Err(e) => e.to_string(),
        };
        assert_eq!(check(request(10.0, 60.0, None, None)), "ok");
        assert_eq!(check(request(0.0, 60.0, Some(100.0), Some(1024))), "ok");
        for (req, field) in [
            (request(10.0, 1e30, None, None), "duration_s: 1000000000000000000000000000000 is out of range"),
            (request(10.0, f64::NAN, None, None), "duration_s: NaN is out of range"),
            (request(10.0, -5.0, None, None), "duration_s: -5 is out of range"),
            (request(10.0, f64::INFINITY, None, None), "duration_s: inf is out of range"),
            (request(0.0, 60.0, None, None), "rate: 0 is out of range"),
            (request(f64::NAN, 60.0, None, None), "rate: NaN is out of range"),
            (request(1e30, 60.0, None, None), "rate: 1000000000000000000000000000000 is out of range"),
            (request(1.0, 60.0, Some(-1.0), None), "ramp_to: -1 is out of range"),
            (request(1.0, 60.0, None, Some(0)), "concurrency: 0 is out of range"),
            (request(1.0, 60.0, None, Some(u32::MAX)), "concurrency: 4294967295 is out of range"),
        ] {
            let got = check(req);
            assert!(got.contains(field), "{got}");
            assert!(got.contains("give a number from"), "{got}");
        }
    }
}
