//! Experiments: a recorded run of an app under load, and what two or more runs have in common and where they differ.
//!
//! A [`Run`] keeps what a student changes between two tries — the app's settings when the recording started
//! ([`Settings`]: image, CPU limit, replicas and the autoscaler's effective policy), the load profile
//! ([`LoadProfile`]) — and what happened: one [`RunPoint`] per collector round (replicas, ready instances, requests
//! per second in all and per ready replica, latency p95, mean CPU of the instances, 5xx per second), copied from the
//! app's samples when the run ends so it survives the app's deletion and the samples' retention.
//!
//! The pure parts live here, table-tested: deriving the points from samples ([`points_from_samples`]), aligning a
//! run's series on the time since its start ([`aligned`]), what differs between runs ([`compare`], the overlay's
//! legend), the CSV export ([`to_csv`]), names ([`name_problem`], [`default_name`]) and how long a recording lasts
//! ([`planned_ms`]).
//!
//! **Architecture Invariant:** bounded. At most [`MAX_RUNS`] runs are kept, a recording lasts at most
//! [`MAX_RECORD_MS`], a run keeps at most [`MAX_POINTS`] points, an overlay draws at most [`MAX_OVERLAY`] runs; each
//! refusal names the limit and the fix.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::autoscale::{Metric, Policy};
use crate::model::Millis;
use crate::ports::{Sample, SampleMetric};
use crate::spec::AppSpec;

/// Most runs kept; recording another one is refused until one is deleted.
pub const MAX_RUNS: usize = 50;
/// Most runs one overlay (chart or export) compares.
pub const MAX_OVERLAY: usize = 4;
/// Longest recording (the load's duration plus the time observed after it, or the duration asked for): 1 h.
pub const MAX_RECORD_MS: Millis = 3_600_000;
/// Most points a run keeps (an hour at the shortest collector interval, 0.5 s); longer series are thinned evenly.
pub const MAX_POINTS: usize = 7_200;

/// The CSV export's header: one row per point of each run, runs in the order asked for. `run` and `app` name the run
/// and its app; `t_s` is the time since the run started, in seconds (3 decimals); `at_ms` the Unix time in ms; then
/// one column per [`RunMetric`] (empty where the collector had no value that round).
pub const CSV_HEADER: &str =
    "run,app,t_s,at_ms,replicas,ready,rps,rps_per_replica,latency_p95_ms,cpu_percent,errors_per_s";

/// The autoscaler's policy as it was applied when a run started (Crane's defaults filled in).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AutoscalingSettings {
    /// What is measured.
    pub metric: Metric,
    /// Target value (percent for cpu and memory, requests/s per replica for rps, ms for latency p95).
    pub target: f64,
    /// Lowest replica count.
    pub min: u32,
    /// Highest replica count.
    pub max: u32,
    /// How far `usage / target` may stray from 1 before anything changes.
    pub tolerance: f64,
    /// How far back recommendations hold a scale down, ms.
    pub scale_down_stabilization_ms: Millis,
    /// Most instances added by one decision.
    pub max_scale_up_step: Option<u32>,
    /// Most instances removed by one decision.
    pub max_scale_down_step: Option<u32>,
}

/// The app's settings when a run started: what a student changes between two runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    /// Image.
    pub image: String,
    /// The spec's revision.
    pub revision: u64,
    /// Replica count at the start.
    pub replicas: u32,
    /// CPU limit per instance, in cores (Crane's default when the spec sets none).
    pub cpus: f64,
    /// The autoscaler's policy, when the app has one.
    pub autoscaling: Option<AutoscalingSettings>,
}

impl Settings {
    /// The settings of a validated spec at `revision`.
    pub fn from_spec(spec: &AppSpec, revision: u64) -> Settings {
        Settings {
            image: spec.image.clone(),
            revision,
            replicas: spec.replicas,
            cpus: spec.effective_nano_cpus() as f64 / 1e9,
            autoscaling: spec.autoscaling.as_ref().map(|a| {
                let p = Policy::from_spec(a);
                AutoscalingSettings {
                    metric: p.metric,
                    target: p.target,
                    min: p.min,
                    max: p.max,
                    tolerance: p.tolerance,
                    scale_down_stabilization_ms: p.scale_down_stabilization,
                    max_scale_up_step: p.max_scale_up_step,
                    max_scale_down_step: p.max_scale_down_step,
                }
            }),
        }
    }
}

/// The load a run sent through the app's load balancer (the built-in load generator's request).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadProfile {
    /// Requests per second (the start rate of a ramp).
    pub rate: f64,
    /// With a ramp: the rate reached at the end.
    pub ramp_to: Option<f64>,
    /// How long the load lasts, ms.
    pub duration_ms: Millis,
    /// Most requests in flight (the generator's default when `None`).
    pub concurrency: Option<u32>,
    /// Path requested.
    pub path: String,
}

/// Why a recording ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunEnd {
    /// The load ended and the time to observe after it passed.
    LoadFinished,
    /// The duration asked for passed.
    DurationReached,
    /// Someone stopped it.
    Stopped,
    /// The app was deleted (the points up to then are kept).
    AppDeleted,
    /// The engine stopped while recording (the run was closed then, or when the engine started again).
    EngineRestarted,
    /// A recording without a planned end reached [`MAX_RECORD_MS`].
    LimitReached,
}

/// One collector round of a run. A value is `None` when the collector had none that round.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(from = "PointRow", into = "PointRow")]
pub struct RunPoint {
    /// When (Unix ms).
    pub at: Millis,
    /// Desired replicas.
    pub replicas: Option<f64>,
    /// Ready instances (those the load balancer sends to).
    pub ready: Option<f64>,
    /// Requests per second through the load balancer, all instances.
    pub rps: Option<f64>,
    /// Requests per second per ready instance (`rps / ready`), what an rps autoscaler compares with its target.
    pub rps_per_replica: Option<f64>,
    /// Latency p95 over the round, ms.
    pub latency_p95_ms: Option<f64>,
    /// Mean CPU of the running instances, percent of their limit (what a cpu autoscaler compares).
    pub cpu_percent: Option<f64>,
    /// Answers with a 5xx status per second.
    pub errors_per_s: Option<f64>,
}

/// A point as stored: one JSON array per point (`[at, replicas, ready, …]`), so an hour of points stays small.
type PointRow = (Millis, Option<f64>, Option<f64>, Option<f64>, Option<f64>, Option<f64>, Option<f64>, Option<f64>);

impl From<PointRow> for RunPoint {
    fn from(r: PointRow) -> RunPoint {
        RunPoint {
            at: r.0,
            replicas: r.1,
            ready: r.2,
            rps: r.3,
            rps_per_replica: r.4,
            latency_p95_ms: r.5,
            cpu_percent: r.6,
            errors_per_s: r.7,
        }
    }
}

impl From<RunPoint> for PointRow {
    fn from(p: RunPoint) -> PointRow {
        (p.at, p.replicas, p.ready, p.rps, p.rps_per_replica, p.latency_p95_ms, p.cpu_percent, p.errors_per_s)
    }
}

/// One series of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunMetric {
    /// Desired replicas.
    Replicas,
    /// Ready instances.
    Ready,
    /// Requests per second, all instances.
    Rps,
    /// Requests per second per ready instance.
    RpsPerReplica,
    /// Latency p95, ms.
    LatencyP95Ms,
    /// Mean CPU of the instances, percent of their limit.
    CpuPercent,
    /// 5xx answers per second.
    ErrorsPerS,
}

impl RunMetric {
    /// Every series, in the CSV's column order.
    pub const ALL: [RunMetric; 7] = [
        RunMetric::Replicas,
        RunMetric::Ready,
        RunMetric::Rps,
        RunMetric::RpsPerReplica,
        RunMetric::LatencyP95Ms,
        RunMetric::CpuPercent,
        RunMetric::ErrorsPerS,
    ];

    /// The charts of an overlay, in the Scaling view's order: replicas, req/s per replica, latency p95, CPU.
    pub const OVERLAY: [RunMetric; 4] =
        [RunMetric::Replicas, RunMetric::RpsPerReplica, RunMetric::LatencyP95Ms, RunMetric::CpuPercent];

    /// The CSV column (and the wire name).
    pub fn column(self) -> &'static str {
        match self {
            RunMetric::Replicas => "replicas",
            RunMetric::Ready => "ready",
            RunMetric::Rps => "rps",
            RunMetric::RpsPerReplica => "rps_per_replica",
            RunMetric::LatencyP95Ms => "latency_p95_ms",
            RunMetric::CpuPercent => "cpu_percent",
            RunMetric::ErrorsPerS => "errors_per_s",
        }
    }

    /// A chart's title.
    pub fn title(self) -> &'static str {
        match self {
            RunMetric::Replicas => "Replicas (desired)",
            RunMetric::Ready => "Ready instances",
            RunMetric::Rps => "Requests per second",
            RunMetric::RpsPerReplica => "Requests/s per ready replica",
            RunMetric::LatencyP95Ms => "Latency p95",
            RunMetric::CpuPercent => "CPU (mean of the instances)",
            RunMetric::ErrorsPerS => "Errors per second (5xx)",
        }
    }

    /// The unit of its values, as a chart labels them.
    pub fn unit(self) -> &'static str {
        match self {
            RunMetric::Replicas | RunMetric::Ready => "replicas",
            RunMetric::Rps | RunMetric::RpsPerReplica => "req/s",
            RunMetric::LatencyP95Ms => "ms",
            RunMetric::CpuPercent => "%",
            RunMetric::ErrorsPerS => "/s",
        }
    }

    /// Whether it is a count that holds until the next value (drawn as steps).
    pub fn step(self) -> bool {
        matches!(self, RunMetric::Replicas | RunMetric::Ready)
    }

    /// The autoscaler metric whose target is drawn on this chart.
    pub fn target_of(self) -> Option<Metric> {
        match self {
            RunMetric::RpsPerReplica => Some(Metric::Rps),
            RunMetric::LatencyP95Ms => Some(Metric::LatencyP95),
            RunMetric::CpuPercent => Some(Metric::Cpu),
            _ => None,
        }
    }

    /// Its value at a point.
    pub fn value(self, p: &RunPoint) -> Option<f64> {
        match self {
            RunMetric::Replicas => p.replicas,
            RunMetric::Ready => p.ready,
            RunMetric::Rps => p.rps,
            RunMetric::RpsPerReplica => p.rps_per_replica,
            RunMetric::LatencyP95Ms => p.latency_p95_ms,
            RunMetric::CpuPercent => p.cpu_percent,
            RunMetric::ErrorsPerS => p.errors_per_s,
        }
    }
}

/// A recorded run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Run {
    /// Name (the app name rule), unique among runs.
    pub name: String,
    /// The app recorded.
    pub app: String,
    /// Who started the recording.
    pub recorded_by: String,
    /// When the recording started (Unix ms).
    pub started_at: Millis,
    /// When it ended; `None` while recording.
    pub ended_at: Option<Millis>,
    /// How long it was planned to last (the load's duration plus `after_ms`, or the duration asked for); `None`
    /// records until stopped (at most [`MAX_RECORD_MS`]).
    pub planned_ms: Option<Millis>,
    /// How long the recording went on after the load ended (to watch the scale down), ms.
    pub after_ms: Millis,
    /// The app's settings at the start.
    pub settings: Settings,
    /// The load sent, when the recording started the load generator.
    pub load: Option<LoadProfile>,
    /// Why it ended.
    pub end: Option<RunEnd>,
    /// How many points it kept (in the record too, so a list need not read the points).
    #[serde(default)]
    pub point_count: usize,
    /// The points, oldest first (kept apart from the rest in the store, so lists stay small).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub points: Vec<RunPoint>,
}

impl Run {
    /// The time from the start until `at` (or the end), ms.
    pub fn elapsed_ms(&self, now: Millis) -> Millis {
        self.ended_at.unwrap_or(now).saturating_sub(self.started_at)
    }

    /// When a recording must end at the latest: its plan, or [`MAX_RECORD_MS`].
    pub fn deadline(&self) -> Millis {
        self.started_at.saturating_add(self.planned_ms.unwrap_or(MAX_RECORD_MS).min(MAX_RECORD_MS))
    }
}

/// What is wrong with a run's name, with the fix; `None` for a good one. Run names follow the app name rule, so
/// they fit in a URL, a file name and a CSV cell unquoted.
pub fn name_problem(name: &str) -> Option<String> {
    let max = crate::validate::MAX_NAME_LEN;
    if name.is_empty() {
        return Some("name: the run's name is empty; use lowercase letters, digits and '-', e.g. `stab-10s`".into());
    }
    if name.chars().count() > max {
        return Some(format!("name: the run's name is {} characters long; the limit is {max}", name.chars().count()));
    }
    if !crate::validate::is_app_name(name) {
        return Some(format!(
            "name: `{}` is not a valid run name: use {}, e.g. `stab-10s`",
            crate::text::truncate(name, 64),
            crate::validate::APP_NAME_RULE
        ));
    }
    if RESERVED_NAMES.contains(&name) {
        return Some(format!(
            "name: `{name}` names a route of the experiments API ({}); choose another name, e.g. `{name}-1`",
            RESERVED_NAMES.join(", ")
        ));
    }
    None
}

/// Names a run cannot have: they are paths under `/api/v1/experiments/`.
pub const RESERVED_NAMES: [&str; 3] = ["compare", "export", "overlay"];

/// A free name for a run of `app`: `<app>-1`, `<app>-2`… (the app part shortened to fit the name limit).
pub fn default_name<'a>(app: &str, taken: impl IntoIterator<Item = &'a str>) -> String {
    let taken: std::collections::BTreeSet<&str> = taken.into_iter().collect();
    let max = crate::validate::MAX_NAME_LEN;
    (1..=MAX_RUNS + 1)
        .map(|n| {
            let suffix = format!("-{n}");
            let head = crate::text::truncate(app, max.saturating_sub(suffix.len())).trim_end_matches('-');
            format!("{head}{suffix}")
        })
        .find(|name| !taken.contains(name.as_str()))
        .unwrap_or_else(|| format!("{}-run", crate::text::truncate(app, max - 4)))
}

/// How long a recording lasts (`None`: until stopped), or why the request cannot be recorded: with a load, the load's
/// duration plus `after_ms`; without one, `duration_ms`. The total is at most [`MAX_RECORD_MS`]; `after_ms` needs a
/// load and `duration_ms` none (the load's duration is the recording's).
pub fn planned_ms(
    load: Option<&LoadProfile>,
    duration_ms: Option<Millis>,
    after_ms: Millis,
) -> Result<Option<Millis>, String> {
    let seconds = |ms: Millis| format!("{} s", number(ms as f64 / 1000.0));
    let limit = seconds(MAX_RECORD_MS);
    match (load, duration_ms) {
        (Some(_), Some(_)) => Err("duration_s: a recording with a load lasts as long as the load (plus after_s); \
                                   leave duration_s out, or record without a load"
            .into()),
        (Some(load), None) => {
            let total = load.duration_ms.saturating_add(after_ms);
            if total > MAX_RECORD_MS {
                return Err(format!(
                    "after_s: the load's {} plus {} after it is more than a recording may last ({limit}); shorten one",
                    seconds(load.duration_ms),
                    seconds(after_ms)
                ));
            }
            Ok(Some(total))
        }
        (None, _) if after_ms > 0 => Err("after_s: time after the load needs a load; give one, or use duration_s \
                                          to record for a while without sending load"
            .into()),
        (None, Some(0)) => Err(format!(
            "duration_s: give a duration above 0 (at most {limit}), or leave it out to record until stopped"
        )),
        (None, Some(d)) if d > MAX_RECORD_MS => {
            Err(format!("duration_s: {} is more than a recording may last ({limit}); record shorter runs", seconds(d)))
        }
        (None, d) => Ok(d),
    }
}

/// The points of a run between `from` and `to` (inclusive) from an app's samples: one per collector round (the
/// round's timestamp is shared by every sample it wrote). App-level replicas, ready, rps, latency and errors are
/// taken as they are; `cpu_percent` is the mean of the instances' CPU samples of the round; `rps_per_replica` is
/// `rps / ready` when an instance was ready. Non-finite values are skipped. More than `max_points` rounds are thinned
/// evenly (every k-th kept, the last one always).
pub fn points_from_samples(samples: &[Sample], from: Millis, to: Millis, max_points: usize) -> Vec<RunPoint> {
    #[derive(Default)]
    struct Round {
        point: RunPoint,
        cpu_sum: f64,
        cpu_n: u32,
    }
    let mut rounds: BTreeMap<Millis, Round> = BTreeMap::new();
    for s in samples.iter().filter(|s| (from..=to).contains(&s.at) && s.value.is_finite()) {
        let round = rounds.entry(s.at).or_default();
        let p = &mut round.point;
        match (&s.instance, &s.metric) {
            (None, SampleMetric::Replicas) => p.replicas = Some(s.value),
            (None, SampleMetric::Ready) => p.ready = Some(s.value),
            (None, SampleMetric::Rps) => p.rps = Some(s.value),
            (None, SampleMetric::LatencyP95Ms) => p.latency_p95_ms = Some(s.value),
            (None, SampleMetric::ErrorsPerS) => p.errors_per_s = Some(s.value),
            (Some(_), SampleMetric::Cpu) => {
                round.cpu_sum += s.value;
                round.cpu_n += 1;
            }
            _ => {}
        }
    }
    let points: Vec<RunPoint> = rounds
        .into_iter()
        .filter_map(|(at, round)| {
            let mut p = round.point;
            p.at = at;
            p.cpu_percent = (round.cpu_n > 0).then(|| round.cpu_sum / f64::from(round.cpu_n));
            p.rps_per_replica = match (p.rps, p.ready) {
                (Some(rps), Some(ready)) if ready >= 1.0 => Some(rps / ready),
                _ => None,
            };
            // A round that wrote only series a run does not keep (memory, bytes) is no point of the run.
            (RunMetric::ALL.iter().any(|m| m.value(&p).is_some())).then_some(p)
        })
        .collect();
    thin(points, max_points)
}

/// Keeps at most `max` points, evenly: every k-th, and always the last.
fn thin(points: Vec<RunPoint>, max: usize) -> Vec<RunPoint> {
    let max = max.max(2);
    if points.len() <= max {
        return points;
    }
    let every = points.len().div_ceil(max - 1);
    let last = points[points.len() - 1];
    let mut kept: Vec<RunPoint> = points.into_iter().step_by(every).collect();
    if kept.last() != Some(&last) {
        kept.push(last);
    }
    kept.truncate(max);
    kept
}

/// One series of a run on the time since the run started: `(ms since start, value)`, points before the start or
/// after the end left out.
pub fn aligned(run: &Run, metric: RunMetric) -> Vec<(i64, f64)> {
    let end = run.ended_at.unwrap_or(Millis::MAX);
    run.points
        .iter()
        .filter(|p| p.at >= run.started_at && p.at <= end)
        .filter_map(|p| metric.value(p).filter(|v| v.is_finite()).map(|v| ((p.at - run.started_at) as i64, v)))
        .collect()
}

/// The longest of the runs, ms since each one's start (the overlay's x range).
pub fn longest_ms(runs: &[&Run], now: Millis) -> Millis {
    runs.iter().map(|r| r.elapsed_ms(now)).max().unwrap_or(0)
}

/// A run at a glance: how far it scaled and when, and how the app did.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Summary {
    /// Most replicas (desired) during the run.
    pub peak_replicas: Option<f64>,
    /// When the peak was first reached, ms since the start.
    pub peak_at_ms: Option<Millis>,
    /// Replicas at the last point.
    pub final_replicas: Option<f64>,
    /// Highest latency p95, ms.
    pub max_latency_p95_ms: Option<f64>,
    /// Mean of the CPU points, percent.
    pub mean_cpu_percent: Option<f64>,
}

/// Sums a run up from its points.
pub fn summary(run: &Run) -> Summary {
    let replicas = aligned(run, RunMetric::Replicas);
    let peak = replicas.iter().copied().fold(None, |best: Option<(i64, f64)>, (t, v)| match best {
        Some((_, b)) if b >= v => best,
        _ => Some((t, v)),
    });
    let latency = aligned(run, RunMetric::LatencyP95Ms);
    let cpu = aligned(run, RunMetric::CpuPercent);
    Summary {
        peak_replicas: peak.map(|p| p.1),
        peak_at_ms: peak.map(|p| p.0.max(0) as Millis),
        final_replicas: replicas.last().map(|p| p.1),
        max_latency_p95_ms: latency.iter().map(|p| p.1).reduce(f64::max),
        mean_cpu_percent: (!cpu.is_empty()).then(|| cpu.iter().map(|p| p.1).sum::<f64>() / cpu.len() as f64),
    }
}

/// The autoscaling target a chart of `metric` shows: the one every run shares (same autoscaler metric and target),
/// else none (different targets would be one line per run; the legend names them instead).
pub fn shared_target(runs: &[&Run], metric: RunMetric) -> Option<f64> {
    let wanted = metric.target_of()?;
    let targets: Vec<Option<f64>> =
        runs.iter().map(|r| r.settings.autoscaling.as_ref().filter(|a| a.metric == wanted).map(|a| a.target)).collect();
    match targets.first() {
        Some(Some(t)) if targets.iter().all(|x| *x == Some(*t)) => Some(*t),
        _ => None,
    }
}

/// What runs have in common and where they differ, setting by setting.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Comparison {
    /// For each run (in the order given), the settings whose values are not the same in every run, as short text
    /// (`stabilization 10s`, `metric cpu`, `rate 40 req/s`).
    pub differing: Vec<Vec<String>>,
    /// The settings every run shares, as short text.
    pub common: Vec<String>,
}

/// A number as short text: no trailing zeros, at most three decimals.
pub fn number(v: f64) -> String {
    if !v.is_finite() {
        return String::new();
    }
    let text = format!("{v:.3}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text == "-0" {
        "0".into()
    } else {
        text.into()
    }
}

/// The unit of an autoscaling target.
fn target_unit(metric: Metric) -> &'static str {
    match metric {
        Metric::Cpu | Metric::Memory => "%",
        Metric::Rps => " req/s",
        Metric::LatencyP95 => " ms",
        Metric::Custom => "",
    }
}

/// The settings compared, each as the text a run shows for it (`None`: it does not apply to that run).
const SETTINGS: &[fn(&Run) -> Option<String>] = &[
    |r| Some(format!("image {}", r.settings.image)),
    |r| Some(format!("cpu {}", number(r.settings.cpus))),
    |r| Some(format!("{} replica{} at start", r.settings.replicas, if r.settings.replicas == 1 { "" } else { "s" })),
    |r| r.settings.autoscaling.is_none().then(|| "no autoscaling".to_string()),
    |r| r.settings.autoscaling.as_ref().map(|a| format!("metric {}", a.metric)),
    |r| r.settings.autoscaling.as_ref().map(|a| format!("target {}{}", number(a.target), target_unit(a.metric))),
    |r| r.settings.autoscaling.as_ref().map(|a| format!("min {}", a.min)),
    |r| r.settings.autoscaling.as_ref().map(|a| format!("max {}", a.max)),
    |r| {
        r.settings
            .autoscaling
            .as_ref()
            .map(|a| format!("stabilization {}", crate::units::format_millis(a.scale_down_stabilization_ms)))
    },
    |r| r.settings.autoscaling.as_ref().map(|a| format!("tolerance {}%", number(a.tolerance * 100.0))),
    |r| {
        r.settings.autoscaling.as_ref().map(|a| match a.max_scale_up_step {
            Some(n) => format!("step up ≤ {n}"),
            None => "no step-up limit".into(),
        })
    },
    |r| {
        r.settings.autoscaling.as_ref().map(|a| match a.max_scale_down_step {
            Some(n) => format!("step down ≤ {n}"),
            None => "no step-down limit".into(),
        })
    },
    |r| r.load.is_none().then(|| "no load".to_string()),
    |r| {
        r.load.as_ref().map(|l| match l.ramp_to {
            Some(to) => format!("ramp {}→{} req/s", number(l.rate), number(to)),
            None => format!("{} req/s", number(l.rate)),
        })
    },
    |r| r.load.as_ref().map(|l| format!("load {}", crate::units::format_millis(l.duration_ms))),
    |r| {
        r.load.as_ref().map(|l| match l.concurrency {
            Some(c) => format!("concurrency {c}"),
            None => "default concurrency".into(),
        })
    },
    |r| r.load.as_ref().map(|l| format!("path {}", l.path)),
    |r| (r.after_ms > 0).then(|| format!("{} after the load", crate::units::format_millis(r.after_ms))),
];

/// Compares runs setting by setting: a setting whose text is not the same in every run (or applies to some runs
/// only) is named for each run it applies to; the others are common.
pub fn compare(runs: &[&Run]) -> Comparison {
    let mut out = Comparison { differing: vec![Vec::new(); runs.len()], common: Vec::new() };
    for setting in SETTINGS {
        let texts: Vec<Option<String>> = runs.iter().map(|r| setting(r)).collect();
        let same = texts.windows(2).all(|w| w[0] == w[1]);
        if same {
            out.common.extend(texts.into_iter().next().flatten());
        } else {
            for (run, text) in out.differing.iter_mut().zip(texts) {
                run.extend(text);
            }
        }
    }
    out
}

/// Longest legend entry, in characters; longer ones end with "…".
pub const MAX_LEGEND_CHARS: usize = 72;

/// A run's legend entry in an overlay: its name, then what differs (`stab-10s: stabilization 10s`).
pub fn legend(name: &str, differing: &[String]) -> String {
    let text = if differing.is_empty() { name.to_string() } else { format!("{name}: {}", differing.join(", ")) };
    if text.chars().count() <= MAX_LEGEND_CHARS {
        return text;
    }
    let cut =
        crate::text::floor_char_boundary(&text, text.char_indices().nth(MAX_LEGEND_CHARS - 1).map_or(0, |(i, _)| i));
    format!("{}…", &text[..cut])
}

/// One CSV field, quoted when it holds a comma, a quote or a line break (RFC 4180).
fn csv_field(out: &mut String, text: &str) {
    if text.contains([',', '"', '\n', '\r']) {
        out.push('"');
        out.push_str(&text.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(text);
    }
}

/// The runs as CSV: [`CSV_HEADER`], then one row per point of each run, in the order given.
pub fn to_csv(runs: &[&Run]) -> String {
    let rows: usize = runs.iter().map(|r| r.points.len()).sum();
    let mut out = String::with_capacity(CSV_HEADER.len() + 1 + rows * 64);
    out.push_str(CSV_HEADER);
    out.push('\n');
    for run in runs {
        for p in &run.points {
            csv_field(&mut out, &run.name);
            out.push(',');
            csv_field(&mut out, &run.app);
            out.push(',');
            let t = p.at.saturating_sub(run.started_at) as f64 / 1000.0;
            out.push_str(&format!("{t:.3},{}", p.at));
            for m in RunMetric::ALL {
                out.push(',');
                if let Some(v) = m.value(p) {
                    out.push_str(&number(v));
                }
            }
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests;
