//! What a run measured: counters, latency histograms (whole run and a sliding ~1 s window), and the
//! [`LoadProgress`] / [`LoadReport`] values built from them.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::client::Outcome;

/// The error kind of a request that was due while `concurrency` requests were already in flight (it is not sent).
pub const CONCURRENCY_LIMIT: &str = "concurrency limit";
/// The error kind of a request still in flight when [`crate::LoadRun::stop`] was called (it is abandoned).
pub const CANCELLED: &str = "cancelled by stop";

/// The longest latency the histograms hold exactly, in µs; longer ones are recorded as this (the timeout caps
/// latency at 60 s anyway).
const HISTOGRAM_MAX_US: u64 = 120_000_000;
/// How many progress ticks the sliding window spans (4 ticks of 250 ms ≈ the last second).
const WINDOW_SLOTS: usize = 4;

/// A live snapshot of a run, published about four times a second and once more at the end.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadProgress {
    /// Time since the run started, in milliseconds.
    pub elapsed_ms: f64,
    /// Requests that went out so far.
    pub sent: u64,
    /// Answers with a 2xx or 3xx status so far.
    pub ok: u64,
    /// Failures so far: 4xx/5xx answers, transport errors, timeouts, and requests refused by the concurrency limit.
    pub errors: u64,
    /// The rate the schedule asks for right now, in requests per second (0 once the schedule is over).
    pub target_rate: f64,
    /// Answers received per second over about the last second; over the whole run when `done`.
    pub achieved_rate: f64,
    /// Median latency of the answers of about the last second, in ms (0 when none arrived); whole run when `done`.
    pub p50_ms: f64,
    /// 95th-percentile latency, like `p50_ms`.
    pub p95_ms: f64,
    /// 99th-percentile latency, like `p50_ms`.
    pub p99_ms: f64,
    /// True in the last snapshot, sent when the run has ended.
    pub done: bool,
}

/// The summary of a finished run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LoadReport {
    /// Requests that went out (requests refused by the concurrency limit are not sent and not counted here).
    pub sent: u64,
    /// Answers with a 2xx or 3xx status.
    pub ok: u64,
    /// Failures of every kind; `ok + errors == sent + error_kinds["concurrency limit"]`.
    pub errors: u64,
    /// Answers by HTTP status code.
    pub status_counts: BTreeMap<u16, u64>,
    /// Failures by kind: `HTTP 503`, `connect refused`, `timeout`, `reset`, `concurrency limit`, `cancelled by stop`, …
    pub error_kinds: BTreeMap<String, u64>,
    /// Answers (any status) per second over the whole run.
    pub achieved_rate: f64,
    /// From the start to the end of the last request, in ms.
    pub duration_ms: f64,
    /// Median latency of all answers, in ms (0 when none arrived).
    pub p50_ms: f64,
    /// 95th-percentile latency of all answers, in ms.
    pub p95_ms: f64,
    /// 99th-percentile latency of all answers, in ms.
    pub p99_ms: f64,
    /// Slowest answer, in ms.
    pub max_ms: f64,
    /// True when [`crate::LoadRun::stop`] ended the run before its schedule did.
    pub stopped_early: bool,
}

/// Latency percentiles of a histogram, in ms: p50, p95, p99.
fn percentiles(histogram: &Histogram<u64>) -> (f64, f64, f64) {
    if histogram.is_empty() {
        return (0.0, 0.0, 0.0);
    }
    let ms = |q: f64| histogram.value_at_quantile(q) as f64 / 1000.0;
    (ms(0.50), ms(0.95), ms(0.99))
}

fn new_histogram() -> Histogram<u64> {
    // µs values, 3 significant digits; the bounds are constants that hdrhistogram accepts.
    Histogram::new_with_bounds(1, HISTOGRAM_MAX_US, 3).expect("constant histogram bounds are valid")
}

/// One progress tick's worth of answers.
struct Slot {
    since: Instant,
    answers: u64,
    latency: Histogram<u64>,
}

/// Counters and histograms of a run, owned by the run's loop.
pub(crate) struct Stats {
    started: Instant,
    sent: u64,
    ok: u64,
    errors: u64,
    answers: u64,
    status_counts: BTreeMap<u16, u64>,
    error_kinds: BTreeMap<String, u64>,
    latency: Histogram<u64>,
    window: VecDeque<Slot>,
}

impl Stats {
    /// Empty statistics of a run that started at `started`.
    pub(crate) fn new(started: Instant) -> Self {
        Stats {
            started,
            sent: 0,
            ok: 0,
            errors: 0,
            answers: 0,
            status_counts: BTreeMap::new(),
            error_kinds: BTreeMap::new(),
            latency: new_histogram(),
            window: VecDeque::from([Slot { since: started, answers: 0, latency: new_histogram() }]),
        }
    }

    /// A request went out.
    pub(crate) fn sent(&mut self) {
        self.sent += 1;
    }

    /// A failure of `kind` (also used for requests that never went out).
    pub(crate) fn failed(&mut self, kind: &str) {
        self.errors += 1;
        *self.error_kinds.entry(kind.to_string()).or_default() += 1;
    }

    /// Records what became of a request that went out.
    pub(crate) fn record(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Failed { kind } => self.failed(kind),
            Outcome::Response { status, latency } => {
                self.answers += 1;
                *self.status_counts.entry(status).or_default() += 1;
                if (200..400).contains(&status) {
                    self.ok += 1;
                } else {
                    self.failed(&format!("HTTP {status}"));
                }
                let us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX).max(1);
                self.latency.saturating_record(us);
                let slot = self.window.back_mut().expect("the window always has a current slot");
                slot.answers += 1;
                slot.latency.saturating_record(us);
            }
        }
    }

    /// Starts a new window slot at `now`, forgetting the oldest once the window spans [`WINDOW_SLOTS`] ticks.
    fn rotate(&mut self, now: Instant) {
        let recycled = if self.window.len() >= WINDOW_SLOTS { self.window.pop_front() } else { None };
        let slot = match recycled {
            Some(mut slot) => {
                slot.since = now;
                slot.answers = 0;
                slot.latency.reset();
                slot
            }
            None => Slot { since: now, answers: 0, latency: new_histogram() },
        };
        self.window.push_back(slot);
    }

    /// A live snapshot at `now` (with the schedule's current `target_rate`), then a new window slot.
    pub(crate) fn progress(&mut self, now: Instant, target_rate: f64) -> LoadProgress {
        let since = self.window.front().map_or(self.started, |slot| slot.since);
        let span = now.saturating_duration_since(since).as_secs_f64();
        let answers: u64 = self.window.iter().map(|slot| slot.answers).sum();
        let mut merged = new_histogram();
        for slot in &self.window {
            // Same bounds everywhere, so adding cannot fail.
            let _ = merged.add(&slot.latency);
        }
        let (p50_ms, p95_ms, p99_ms) = percentiles(&merged);
        self.rotate(now);
        LoadProgress {
            elapsed_ms: millis(now.saturating_duration_since(self.started)),
            sent: self.sent,
            ok: self.ok,
            errors: self.errors,
            target_rate,
            achieved_rate: if span > 0.0 { answers as f64 / span } else { 0.0 },
            p50_ms,
            p95_ms,
            p99_ms,
            done: false,
        }
    }

    /// The summary of the run, ended at `ended`.
    pub(crate) fn report(&self, ended: Instant, stopped_early: bool) -> LoadReport {
        let duration = ended.saturating_duration_since(self.started);
        let (p50_ms, p95_ms, p99_ms) = percentiles(&self.latency);
        let secs = duration.as_secs_f64();
        LoadReport {
            sent: self.sent,
            ok: self.ok,
            errors: self.errors,
            status_counts: self.status_counts.clone(),
            error_kinds: self.error_kinds.clone(),
            achieved_rate: if secs > 0.0 { self.answers as f64 / secs } else { 0.0 },
            duration_ms: millis(duration),
            p50_ms,
            p95_ms,
            p99_ms,
            max_ms: if self.latency.is_empty() { 0.0 } else { self.latency.max() as f64 / 1000.0 },
            stopped_early,
        }
    }
}

impl LoadReport {
    /// The last progress snapshot, carrying the report's whole-run figures.
    pub(crate) fn final_progress(&self) -> LoadProgress {
        LoadProgress {
            elapsed_ms: self.duration_ms,
            sent: self.sent,
            ok: self.ok,
            errors: self.errors,
            target_rate: 0.0,
            achieved_rate: self.achieved_rate,
            p50_ms: self.p50_ms,
            p95_ms: self.p95_ms,
            p99_ms: self.p99_ms,
            done: true,
        }
    }
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_percentiles() {
        let start = Instant::now();
        let mut stats = Stats::new(start);
        for ms in 1..=100 {
            stats.sent();
            stats.record(Outcome::Response { status: 200, latency: Duration::from_millis(ms) });
        }
        stats.sent();
        stats.record(Outcome::Response { status: 503, latency: Duration::from_millis(1) });
        stats.sent();
        stats.record(Outcome::Failed { kind: "timeout" });
        stats.failed(CONCURRENCY_LIMIT);
        let report = stats.report(start + Duration::from_secs(2), false);
        assert_eq!((report.sent, report.ok, report.errors), (102, 100, 3));
        assert_eq!(report.status_counts, BTreeMap::from([(200, 100), (503, 1)]));
        let kinds: Vec<_> = report.error_kinds.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        assert_eq!(kinds, [("HTTP 503", 1), (CONCURRENCY_LIMIT, 1), ("timeout", 1)]);
        assert_eq!(report.achieved_rate, 101.0 / 2.0);
        assert!((report.p50_ms - 50.0).abs() < 0.1, "{report:?}");
        assert!((report.p99_ms - 99.0).abs() < 0.1, "{report:?}");
        assert!((report.max_ms - 100.0).abs() < 0.1, "{report:?}");
    }

    #[test]
    fn the_window_forgets_answers_older_than_a_second() {
        let start = Instant::now();
        let mut stats = Stats::new(start);
        for _ in 0..100 {
            stats.record(Outcome::Response { status: 200, latency: Duration::from_millis(500) });
        }
        let tick = Duration::from_millis(250);
        let first = stats.progress(start + tick, 100.0);
        assert_eq!(first.achieved_rate, 400.0);
        assert!((first.p95_ms - 500.0).abs() < 1.0, "{first:?}");
        // Four quiet ticks later the burst has left the window.
        let mut last = first;
        for n in 2..=5 {
            stats.record(Outcome::Response { status: 200, latency: Duration::from_millis(10) });
            last = stats.progress(start + tick * n, 100.0);
        }
        assert_eq!(last.achieved_rate, 4.0);
        assert!((last.p95_ms - 10.0).abs() < 0.1, "{last:?}");
    }
}
