//! Wire types of experiments (`/api/v1/experiments…`, `cranectl experiment …`, the Scaling view's Experiments
//! panel): record a run of an app (its settings, the load sent, its series), then compare runs on the same axes and
//! export them as SVG, PNG or CSV.

use serde::{Deserialize, Serialize};
use specta::Type;
use utoipa::ToSchema;

use crate::{AutoscaleMetric, LoadRequest};

/// Body of `POST /api/v1/experiments`: start recording a run of an app. Unknown fields are rejected.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Type, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExperimentRecordRequest {
    /// The app to record.
    pub app: String,
    /// The run's name (lowercase letters, digits and '-', starting with a letter; at most 40); default `<app>-<n>`.
    #[serde(default)]
    pub name: Option<String>,
    /// Start the built-in load generator with this profile; the recording then lasts as long as the load, plus
    /// `after_s`.
    #[serde(default)]
    pub load: Option<LoadRequest>,
    /// With a load: keep recording this long after it ends, in seconds (to watch the scale down; default 0).
    #[serde(default)]
    pub after_s: Option<f64>,
    /// Without a load: record this long, in seconds (default: until stopped). A recording lasts at most an hour.
    #[serde(default)]
    pub duration_s: Option<f64>,
}

/// Whether a run is still being recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Type, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExperimentState {
    /// Recording: its points are copied when it ends.
    Recording,
    /// Ended: its points are kept (also after the app is deleted).
    Done,
}

/// Why a recording ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Type, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExperimentEnd {
    /// The load ended and the time after it passed.
    LoadFinished,
    /// The duration asked for passed.
    DurationReached,
    /// Someone stopped it.
    Stopped,
    /// The app was deleted; the points up to then are kept.
    AppDeleted,
    /// The engine stopped while recording (the run was closed then, or when the engine started again).
    EngineRestarted,
    /// A recording without a planned end reached the one-hour limit.
    LimitReached,
}

/// The autoscaler's policy when a run started (Crane's defaults filled in).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Type, ToSchema)]
pub struct ExperimentAutoscalingView {
    /// What is measured.
    pub metric: AutoscaleMetric,
    /// Target value: percent for cpu and memory, requests/s per replica for rps, ms for latency p95.
    pub target: f64,
    /// Lowest replica count.
    pub min: u32,
    /// Highest replica count.
    pub max: u32,
    /// How far `usage / target` may stray from 1 before anything changes (0.1 = 10 %).
    pub tolerance: f64,
    /// How far back recommendations hold a scale down, ms.
    pub scale_down_stabilization_ms: f64,
    /// Most instances added by one decision; `None` for no limit.
    pub max_scale_up_step: Option<u32>,
    /// Most instances removed by one decision; `None` for no limit.
    pub max_scale_down_step: Option<u32>,
}

/// The app's settings when a run started.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Type, ToSchema)]
pub struct ExperimentSettingsView {
    /// Image.
    pub image: String,
    /// The spec's revision.
    pub revision: u32,
    /// Replicas at the start.
    pub replicas: u32,
    /// CPU limit per instance, in cores.
    pub cpus: f64,
    /// The autoscaler's policy, when the app has one.
    pub autoscaling: Option<ExperimentAutoscalingView>,
}

/// One collector round of a run; a value is null when the collector had none that round.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Type, ToSchema)]
pub struct ExperimentPointView {
    /// Seconds since the run started.
    pub t_s: f64,
    /// Unix time, ms.
    pub at_ms: f64,
    /// Desired replicas.
    pub replicas: Option<f64>,
    /// Ready instances.
    pub ready: Option<f64>,
    /// Requests per second, all instances.
    pub rps: Option<f64>,
    /// Requests per second per ready instance.
    pub rps_per_replica: Option<f64>,
    /// Latency p95, ms.
    pub latency_p95_ms: Option<f64>,
    /// Mean CPU of the instances, percent of their limit.
    pub cpu_percent: Option<f64>,
    /// 5xx answers per second.
    pub errors_per_s: Option<f64>,
}

/// A run: what was recorded, with what settings and load, and (from `GET /experiments/{name}`) its points.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Type, ToSchema)]
pub struct ExperimentView {
    /// Name.
    pub name: String,
    /// The app recorded.
    pub app: String,
    /// Who recorded it.
    pub recorded_by: String,
    /// Recording or done.
    pub state: ExperimentState,
    /// When the recording started, RFC 3339.
    pub started_at: String,
    /// When it ended, RFC 3339.
    pub ended_at: Option<String>,
    /// Seconds recorded (so far, while recording).
    pub elapsed_s: f64,
    /// How long it was planned to last, s; null records until stopped (at most an hour).
    pub planned_s: Option<f64>,
    /// Seconds recorded after the load ended.
    pub after_s: f64,
    /// Why it ended.
    pub end: Option<ExperimentEnd>,
    /// The app's settings at the start.
    pub settings: ExperimentSettingsView,
    /// The load sent, when the recording started the load generator.
    pub load: Option<LoadRequest>,
    /// Number of points kept (0 while recording: they are copied at the end).
    pub point_count: u32,
    /// The points, oldest first; empty in lists and while recording.
    pub points: Vec<ExperimentPointView>,
}

/// One series of a run (a CSV column, a chart of an overlay).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Type, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExperimentMetric {
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

/// What an export is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Type, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExportFormat {
    /// The overlay charts as one SVG document.
    Svg,
    /// The overlay charts as one PNG image.
    Png,
    /// Every point of every run as CSV (header: `run,app,t_s,at_ms,replicas,ready,rps,rps_per_replica,
    /// latency_p95_ms,cpu_percent,errors_per_s`).
    Csv,
}

/// One run of a comparison.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Type, ToSchema)]
pub struct ExperimentDifferenceView {
    /// The run's name.
    pub name: String,
    /// Its legend entry in the overlay: the name and what differs (`stab-10s: stabilization 10s`).
    pub legend: String,
    /// The settings whose values differ between the runs, as this run has them (`stabilization 10s`).
    pub differing: Vec<String>,
    /// Most replicas during the run.
    pub peak_replicas: Option<f64>,
    /// Seconds from the start until the peak was first reached.
    pub peak_at_s: Option<f64>,
    /// Replicas at the end.
    pub final_replicas: Option<f64>,
    /// Highest latency p95, ms.
    pub max_latency_p95_ms: Option<f64>,
    /// Mean CPU over the run, percent of the limit.
    pub mean_cpu_percent: Option<f64>,
}

/// What runs have in common and where they differ (`GET /api/v1/experiments/compare`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Type, ToSchema)]
pub struct ExperimentComparisonView {
    /// Each run, in the order asked for.
    pub runs: Vec<ExperimentDifferenceView>,
    /// The settings every run shares (`metric cpu`, `target 50%`).
    pub common: Vec<String>,
}

/// Where the window wrote an export.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Type, ToSchema)]
pub struct ExperimentExportView {
    /// The file written (absolute).
    pub path: String,
    /// Its size in bytes.
    pub bytes: f64,
    /// What it holds.
    pub format: ExportFormat,
}
