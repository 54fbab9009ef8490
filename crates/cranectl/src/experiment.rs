//! `cranectl experiment record|stop|list|show|overlay|export|delete`: experiment runs through the REST API. `record`
//! follows the recording (a progress line about every second on stderr) and prints the run when it ends; Ctrl-C stops
//! it in the engine first, so an interrupted command never leaves a recording (or its load) running.

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Subcommand;
use crane_api::{
    ExperimentComparisonView, ExperimentEnd, ExperimentMetric, ExperimentRecordRequest, ExperimentState,
    ExperimentView, ExportFormat, LoadRequest,
};

use crate::client::Client;
use crate::emit;
use crate::error::{CliError, Result};
use crate::output::{self, Format};

/// How often a recording is polled.
const POLL: Duration = Duration::from_millis(500);
/// Time between two progress lines.
const PRINT_EVERY: Duration = Duration::from_secs(1);

/// What `cranectl experiment` does.
#[derive(Debug, Subcommand)]
pub enum ExperimentWhat {
    /// Record a run of an app: its settings now, optionally the load generator with a profile (the recording then
    /// ends when the load has ended and --after passed), and its series (replicas, req/s, latency p95, CPU).
    #[command(after_help = "Examples:\n  \
        cranectl experiment record web --name stab-10s --rate 40 --duration 30s --path '/work?ms=20' --after 60s\n  \
        cranectl experiment record web --name idle --for 2m        # no load, two minutes\n  \
        cranectl experiment record web --rate 20 --duration 1m --detach   # return at once; `experiment stop` ends it\n\n\
        Between two runs change one setting (e.g. `autoscaling.scaleDownStabilization: 60s` with `cranectl apply`),\n\
        then compare: `cranectl experiment overlay stab-10s stab-60s --out overlay.svg`. At most 50 runs are kept\n\
        and a recording lasts at most 1h.")]
    Record(RecordArgs),
    /// Stop a recording (and the load it started); prints the run.
    #[command(after_help = "Example:\n  cranectl experiment stop stab-10s")]
    Stop {
        /// Run name.
        name: String,
    },
    /// List the runs, oldest first.
    #[command(after_help = "Examples:\n  cranectl experiment list\n  cranectl experiment list -o json")]
    List,
    /// Show one run: its settings, its load and its points.
    #[command(
        after_help = "Examples:\n  cranectl experiment show stab-10s\n  cranectl experiment show stab-10s -o json"
    )]
    Show {
        /// Run name.
        name: String,
    },
    /// Compare runs (1 to 4): what differs between them and how each went; with --out, write their charts on the
    /// same axes (time since each run's start) as SVG or PNG.
    #[command(after_help = "Examples:\n  cranectl experiment overlay stab-10s stab-60s\n  \
        cranectl experiment overlay stab-10s stab-60s --out overlay.svg\n  \
        cranectl experiment overlay cpu-50 rps-5 --metric replicas --format png --out replicas.png")]
    Overlay {
        /// Run names.
        #[arg(required = true, num_args = 1..=4)]
        runs: Vec<String>,
        /// One chart of this series (default: replicas, req/s per replica, latency p95 and CPU).
        #[arg(long, value_enum, value_name = "SERIES")]
        metric: Option<Series>,
        /// Chart format with --out.
        #[arg(long, value_enum, default_value = "svg")]
        format: ChartFormat,
        /// Write the charts to this file (`-`: standard output).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Export runs (1 to 4) as a file: the overlay charts (svg, png) or every point (csv).
    #[command(
        after_help = "Examples:\n  cranectl experiment export stab-10s stab-60s --format csv --out runs.csv\n  \
        cranectl experiment export stab-10s stab-60s --format png --out overlay.png\n\n\
        CSV columns: run,app,t_s,at_ms,replicas,ready,rps,rps_per_replica,latency_p95_ms,cpu_percent,errors_per_s\n\
        (one row per point per run; t_s is seconds since the run's start; an empty cell is a round without that value)."
    )]
    Export {
        /// Run names.
        #[arg(required = true, num_args = 1..=4)]
        runs: Vec<String>,
        /// What to write.
        #[arg(long, value_enum)]
        format: FileFormat,
        /// The file (`-`: standard output).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Delete a run (operators: their own).
    #[command(after_help = "Example:\n  cranectl experiment delete stab-10s")]
    Delete {
        /// Run name.
        name: String,
    },
}

/// Arguments of `cranectl experiment record`.
#[derive(Debug, clap::Args)]
pub struct RecordArgs {
    /// App name.
    app: String,
    /// The run's name (lowercase letters, digits, '-'); default `<app>-<n>`.
    #[arg(long, value_name = "NAME")]
    name: Option<String>,
    /// Send load at this many requests per second (the start rate with --ramp-to).
    #[arg(long, value_name = "REQ/S", requires = "duration")]
    rate: Option<f64>,
    /// How long the load lasts: 30s, 2m (1s to 1h).
    #[arg(long, value_name = "DURATION", value_parser = crate::load::parse_duration, requires = "rate")]
    duration: Option<Duration>,
    /// Ramp the rate linearly from --rate to this.
    #[arg(long, value_name = "REQ/S", requires = "rate")]
    ramp_to: Option<f64>,
    /// Path requested (default /); `/work?ms=20` burns 20 ms of CPU per request in the demo app.
    #[arg(long, value_name = "PATH", requires = "rate")]
    path: Option<String>,
    /// Most requests in flight at once (default 64).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..), requires = "rate")]
    concurrency: Option<u32>,
    /// Keep recording this long after the load ends (to watch the scale down), e.g. 60s.
    #[arg(long, value_name = "DURATION", value_parser = crate::load::parse_duration, requires = "rate")]
    after: Option<Duration>,
    /// Without load: record this long (default: until `experiment stop`, at most 1h).
    #[arg(long = "for", value_name = "DURATION", value_parser = crate::load::parse_duration, conflicts_with = "rate")]
    record_for: Option<Duration>,
    /// Return right after starting; the recording goes on in the engine.
    #[arg(long)]
    detach: bool,
}

/// A series of `--metric`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Series {
    /// Desired replicas.
    Replicas,
    /// Ready instances.
    Ready,
    /// Requests per second, all instances.
    Rps,
    /// Requests per second per ready instance.
    RpsPerReplica,
    /// Latency p95.
    LatencyP95Ms,
    /// Mean CPU of the instances.
    CpuPercent,
    /// 5xx answers per second.
    ErrorsPerS,
}

impl From<Series> for ExperimentMetric {
    fn from(s: Series) -> ExperimentMetric {
        match s {
            Series::Replicas => ExperimentMetric::Replicas,
            Series::Ready => ExperimentMetric::Ready,
            Series::Rps => ExperimentMetric::Rps,
            Series::RpsPerReplica => ExperimentMetric::RpsPerReplica,
            Series::LatencyP95Ms => ExperimentMetric::LatencyP95Ms,
            Series::CpuPercent => ExperimentMetric::CpuPercent,
            Series::ErrorsPerS => ExperimentMetric::ErrorsPerS,
        }
    }
}

/// A chart format.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ChartFormat {
    /// SVG document.
    Svg,
    /// PNG image.
    Png,
}

/// An export format.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum FileFormat {
    /// The overlay charts as SVG.
    Svg,
    /// The overlay charts as PNG.
    Png,
    /// Every point as CSV.
    Csv,
}

impl From<FileFormat> for ExportFormat {
    fn from(f: FileFormat) -> ExportFormat {
        match f {
            FileFormat::Svg => ExportFormat::Svg,
            FileFormat::Png => ExportFormat::Png,
            FileFormat::Csv => ExportFormat::Csv,
        }
    }
}

/// Runs a `cranectl experiment` command.
pub async fn run(client: &Client, what: ExperimentWhat, format: Format) -> Result<()> {
    match what {
        ExperimentWhat::Record(args) => record(client, args, format).await,
        ExperimentWhat::Stop { name } => {
            let view = client.experiment_stop(&name).await?;
            emit(&output::render(format, &view, || run_text(&view))?)
        }
        ExperimentWhat::List => {
            let runs = client.experiment_list().await?;
            emit(&output::render(format, &runs, || list_text(&runs))?)
        }
        ExperimentWhat::Show { name } => {
            let view = client.experiment_get(&name).await?;
            emit(&output::render(format, &view, || format!("{}{}", run_text(&view), points_text(&view)))?)
        }
        ExperimentWhat::Overlay { runs, metric, format: chart, out } => {
            let comparison = client.experiment_compare(&runs).await?;
            if let Some(out) = out {
                let file_format = match chart {
                    ChartFormat::Svg => ExportFormat::Svg,
                    ChartFormat::Png => ExportFormat::Png,
                };
                let bytes = client.experiment_export(&runs, file_format, metric.map(Into::into)).await?;
                write_out(&out, &bytes)?;
                if out.as_os_str() == "-" {
                    return Ok(());
                }
                eprintln!("wrote the overlay of {} to {} ({} bytes)", runs.join(", "), out.display(), bytes.len());
            }
            emit(&output::render(format, &comparison, || comparison_text(&comparison))?)
        }
        ExperimentWhat::Export { runs, format: file, out } => {
            let bytes = client.experiment_export(&runs, file.into(), None).await?;
            write_out(&out, &bytes)?;
            if out.as_os_str() != "-" {
                emit(&format!(
                    "wrote {} of {} to {} ({} bytes)\n",
                    kind(file),
                    runs.join(", "),
                    out.display(),
                    bytes.len()
                ))?;
            }
            Ok(())
        }
        ExperimentWhat::Delete { name } => {
            client.experiment_delete(&name).await?;
            emit(&format!("experiment/{name} deleted\n"))
        }
    }
}

fn kind(format: FileFormat) -> &'static str {
    match format {
        FileFormat::Svg => "the overlay (SVG)",
        FileFormat::Png => "the overlay (PNG)",
        FileFormat::Csv => "every point (CSV)",
    }
}

/// Writes bytes to a file, or to standard output for `-`.
fn write_out(out: &PathBuf, bytes: &[u8]) -> Result<()> {
    if out.as_os_str() == "-" {
        let mut stdout = std::io::stdout().lock();
        return stdout.write_all(bytes).and_then(|()| stdout.flush()).map_err(|_| CliError::OutputClosed);
    }
    std::fs::write(out, bytes).map_err(|e| CliError::Serve(format!("cannot write {}: {e}", out.display())))
}

/// `experiment record`: starts the recording, then follows it unless `--detach`.
async fn record(client: &Client, args: RecordArgs, format: Format) -> Result<()> {
    let load = match (args.rate, args.duration) {
        (Some(rate), Some(duration)) => Some(LoadRequest {
            rate,
            duration_s: duration.as_secs_f64(),
            ramp_to: args.ramp_to,
            concurrency: args.concurrency,
            path: args.path,
        }),
        _ => None,
    };
    let request = ExperimentRecordRequest {
        app: args.app.clone(),
        name: args.name,
        load,
        after_s: args.after.map(|d| d.as_secs_f64()),
        duration_s: args.record_for.map(|d| d.as_secs_f64()),
    };
    let mut interrupt = crate::load::Interrupt::listen();
    let started = client.experiment_record(&request).await?;
    let name = started.name.clone();
    let headline = format!("experiment/{name} recording app/{}: {}", started.app, plan_text(&started));
    if args.detach {
        return emit(&output::render(format, &started, || {
            format!("{headline}\nstop it with `cranectl experiment stop {name}`; see it with `cranectl experiment show {name}`\n")
        })?);
    }
    eprintln!("{headline} (Ctrl-C stops it)");
    let mut last_print = Instant::now();
    loop {
        tokio::select! {
            () = interrupt.wait() => {
                eprintln!("interrupted: stopping the recording '{name}'");
                let view = client.experiment_stop(&name).await?;
                return emit(&output::render(format, &view, || run_text(&view))?);
            }
            () = tokio::time::sleep(POLL) => {
                let view = client.experiment_get(&name).await?;
                if view.state == ExperimentState::Done {
                    return emit(&output::render(format, &view, || run_text(&view))?);
                }
                if last_print.elapsed() >= PRINT_EVERY {
                    let planned = view.planned_s.map_or_else(|| "until stopped".to_string(), |p| format!("{p:.0}s"));
                    eprintln!("{:.0}s/{planned} recorded", view.elapsed_s);
                    last_print = Instant::now();
                }
            }
        }
    }
}

/// What a run sends and for how long.
fn plan_text(view: &ExperimentView) -> String {
    match (&view.load, view.planned_s) {
        (Some(l), _) => {
            let rate = match l.ramp_to {
                Some(to) => format!("ramp {}→{to} req/s", l.rate),
                None => format!("{} req/s", l.rate),
            };
            let after = if view.after_s > 0.0 { format!(", then {}s without", view.after_s) } else { String::new() };
            format!("{rate} to {} for {}s{after}", l.path.as_deref().unwrap_or("/"), l.duration_s)
        }
        (None, Some(s)) => format!("no load, {s}s"),
        (None, None) => "no load, until stopped (at most 1h)".to_string(),
    }
}

fn end_text(end: Option<ExperimentEnd>) -> &'static str {
    match end {
        None => "recording",
        Some(ExperimentEnd::LoadFinished) => "load finished",
        Some(ExperimentEnd::DurationReached) => "duration reached",
        Some(ExperimentEnd::Stopped) => "stopped",
        Some(ExperimentEnd::AppDeleted) => "app deleted",
        Some(ExperimentEnd::EngineRestarted) => "engine restarted",
        Some(ExperimentEnd::LimitReached) => "1h limit",
    }
}

/// The settings of a run in one line.
fn settings_text(view: &ExperimentView) -> String {
    let s = &view.settings;
    let mut text = format!("{} (revision {}), {} replicas at start, cpu {}", s.image, s.revision, s.replicas, s.cpus);
    match &s.autoscaling {
        Some(a) => text.push_str(&format!(
            "; autoscaling {} target {} min {} max {}, stabilization {}s",
            serde_json::to_value(a.metric).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default(),
            a.target,
            a.min,
            a.max,
            a.scale_down_stabilization_ms / 1000.0
        )),
        None => text.push_str("; no autoscaling"),
    }
    text
}

fn run_text(view: &ExperimentView) -> String {
    format!(
        "experiment/{}: app/{}, {}, {:.1}s, {} points ({}), recorded by {} at {}\n  settings: {}\n  load: {}\n",
        view.name,
        view.app,
        if view.state == ExperimentState::Recording { "recording" } else { "done" },
        view.elapsed_s,
        view.point_count,
        end_text(view.end),
        view.recorded_by,
        view.started_at,
        settings_text(view),
        plan_text(view)
    )
}

fn list_text(runs: &[ExperimentView]) -> String {
    let mut out = format!(
        "{:<24} {:<20} {:<10} {:>8} {:>6}  {:<17} {}\n",
        "NAME", "APP", "STATE", "SECONDS", "POINTS", "END", "STARTED"
    );
    for r in runs {
        out.push_str(&format!(
            "{:<24} {:<20} {:<10} {:>8.1} {:>6}  {:<17} {}\n",
            r.name,
            r.app,
            if r.state == ExperimentState::Recording { "recording" } else { "done" },
            r.elapsed_s,
            r.point_count,
            end_text(r.end),
            r.started_at
        ));
    }
    out
}

/// A number, or `-` when missing.
fn cell(v: Option<f64>, decimals: usize) -> String {
    v.map_or_else(|| "-".to_string(), |v| format!("{v:.decimals$}"))
}

fn points_text(view: &ExperimentView) -> String {
    if view.points.is_empty() {
        return "  no points (yet)\n".to_string();
    }
    let mut out = format!(
        "{:>8} {:>8} {:>6} {:>8} {:>10} {:>9} {:>7} {:>7}\n",
        "T_S", "REPLICAS", "READY", "RPS", "RPS/REPL", "P95_MS", "CPU_%", "5XX/S"
    );
    for p in &view.points {
        out.push_str(&format!(
            "{:>8.1} {:>8} {:>6} {:>8} {:>10} {:>9} {:>7} {:>7}\n",
            p.t_s,
            cell(p.replicas, 0),
            cell(p.ready, 0),
            cell(p.rps, 1),
            cell(p.rps_per_replica, 1),
            cell(p.latency_p95_ms, 1),
            cell(p.cpu_percent, 0),
            cell(p.errors_per_s, 2)
        ));
    }
    out
}

fn comparison_text(c: &ExperimentComparisonView) -> String {
    let mut out = String::new();
    for r in &c.runs {
        let differs = if r.differing.is_empty() { "same settings".to_string() } else { r.differing.join(", ") };
        out.push_str(&format!(
            "{}: {differs}\n  peak {} replicas at {}s, {} at the end; p95 up to {} ms; mean CPU {}%\n",
            r.name,
            cell(r.peak_replicas, 0),
            cell(r.peak_at_s, 1),
            cell(r.final_replicas, 0),
            cell(r.max_latency_p95_ms, 1),
            cell(r.mean_cpu_percent, 0)
        ));
    }
    if !c.common.is_empty() {
        out.push_str(&format!("in common: {}\n", c.common.join(", ")));
    }
    out
}
