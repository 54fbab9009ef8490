//! A running generation: [`LoadRun`] is the handle, [`drive`] the one loop that issues requests on the schedule,
//! collects their outcomes, publishes progress and ends every task it started.

use std::sync::Arc;
use std::time::Duration;

use hyper::Uri;
use tokio::sync::{watch, Semaphore};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::{Instant, MissedTickBehavior};

use crate::client::{self, Outcome, TrackedExecutor};
use crate::error::{LoadError, Result};
use crate::plan::{resolve_target, LoadPlan, Schedule};
use crate::stats::{LoadProgress, LoadReport, Stats, CANCELLED, CONCURRENCY_LIMIT};

/// How often progress is published.
const PROGRESS_EVERY: Duration = Duration::from_millis(250);

/// The handle of a running generation. Dropping it without [`LoadRun::wait`] stops the run (in the background).
#[derive(Debug)]
pub struct LoadRun {
    stop: watch::Sender<bool>,
    progress: watch::Receiver<LoadProgress>,
    task: Option<JoinHandle<LoadReport>>,
}

impl LoadRun {
    /// Validates `plan` and starts generating on the current tokio runtime.
    pub fn start(plan: LoadPlan) -> Result<LoadRun> {
        let target = resolve_target(&plan)?;
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| LoadError::NoRuntime)?;
        let (stop, stop_rx) = watch::channel(false);
        let (progress_tx, progress) = watch::channel(LoadProgress {
            elapsed_ms: 0.0,
            sent: 0,
            ok: 0,
            errors: 0,
            target_rate: plan.shape.rate_at(Duration::ZERO, plan.duration),
            achieved_rate: 0.0,
            p50_ms: 0.0,
            p95_ms: 0.0,
            p99_ms: 0.0,
            done: false,
        });
        tracing::info!(url = %target, shape = ?plan.shape, duration = ?plan.duration, concurrency = plan.concurrency,
            max_requests = plan.max_requests, "load generation starting");
        let task = runtime.spawn(drive(plan, target, stop_rx, progress_tx));
        Ok(LoadRun { stop, progress, task: Some(task) })
    }

    /// A receiver of live progress, updated about four times a second and once more (with `done`) at the end.
    pub fn progress(&self) -> watch::Receiver<LoadProgress> {
        self.progress.clone()
    }

    /// Ends the run early: no further request is issued and requests in flight are abandoned
    /// (counted as `cancelled by stop`). Calling it again, or after the end, does nothing.
    pub fn stop(&self) {
        self.stop.send_replace(true);
    }

    /// Waits for the end of the run and returns its report; when it returns, no task of the run is left.
    pub async fn wait(mut self) -> LoadReport {
        let task = self.task.take().expect("only wait takes the task, and it consumes the handle");
        match task.await {
            Ok(report) => report,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            // Only a runtime shutting down cancels the task; there is nothing left to report then.
            Err(_) => LoadReport { stopped_early: true, ..LoadReport::default() },
        }
    }
}

impl Drop for LoadRun {
    fn drop(&mut self) {
        // A forgotten handle must not leave load running against the user's app until the duration ends.
        if self.task.is_some() {
            self.stop.send_replace(true);
        }
    }
}

/// The run's loop: issues each request when the schedule says (open loop — never waiting for earlier answers),
/// collects outcomes, publishes progress, and on the schedule's end or a stop drains every task before reporting.
async fn drive(
    plan: LoadPlan,
    target: Uri,
    mut stop: watch::Receiver<bool>,
    progress: watch::Sender<LoadProgress>,
) -> LoadReport {
    let executor = TrackedExecutor::default();
    let http = client::client(executor.clone(), plan.concurrency);
    // One permit per request in flight; a request due when none is free is refused rather than queued, so a slow
    // app shows up as errors and growing latency instead of a silently lower rate.
    let permits = Arc::new(Semaphore::new(plan.concurrency as usize));
    let mut in_flight: JoinSet<Outcome> = JoinSet::new();
    let mut schedule = Schedule::new(&plan);
    let started = Instant::now();
    let mut stats = Stats::new(started);
    let mut ticker = tokio::time::interval(PROGRESS_EVERY);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut stopped_early = false;

    loop {
        let next_due = schedule.next_due().map(|offset| started + offset);
        if next_due.is_none() && in_flight.is_empty() {
            break;
        }
        tokio::select! {
            biased;
            // A closed channel means the handle was dropped, which also asks for a stop.
            _ = stop.changed(), if !stopped_early => {
                stopped_early = true;
                schedule.finish();
                in_flight.abort_all();
            }
            Some(joined) = in_flight.join_next(), if !in_flight.is_empty() => match joined {
                Ok(outcome) => stats.record(outcome),
                Err(e) if e.is_cancelled() => stats.failed(CANCELLED),
                Err(e) => std::panic::resume_unwind(e.into_panic()),
            },
            _ = tokio::time::sleep_until(next_due.unwrap_or(started)), if next_due.is_some() => {
                // Issue everything due by now: the timer ticks in milliseconds, so at high rates several requests
                // share a tick, and after a stall the schedule catches up instead of drifting.
                let now = Instant::now();
                while let Some(offset) = schedule.next_due() {
                    if started + offset > now {
                        break;
                    }
                    schedule.advance();
                    match permits.clone().try_acquire_owned() {
                        Ok(permit) => {
                            stats.sent();
                            in_flight.spawn(client::send_one(http.clone(), target.clone(), plan.timeout, permit));
                        }
                        Err(_) => stats.failed(CONCURRENCY_LIMIT),
                    }
                }
            }
            _ = ticker.tick() => {
                let now = Instant::now();
                let target_rate = if stopped_early { 0.0 } else { plan.shape.rate_at(now - started, plan.duration) };
                progress.send_replace(stats.progress(now, target_rate));
            }
        }
    }

    let ended = Instant::now();
    // No request is in flight: dropping the client and ending its connection tasks closes the idle keep-alive
    // connections, so nothing of this run outlives `wait`.
    drop(http);
    executor.shutdown().await;
    let report = stats.report(ended, stopped_early);
    tracing::info!(
        sent = report.sent,
        ok = report.ok,
        errors = report.errors,
        achieved_rate = report.achieved_rate,
        p95_ms = report.p95_ms,
        stopped_early,
        "load generation finished"
    );
    progress.send_replace(report.final_progress());
    report
}
