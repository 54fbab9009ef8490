//! Charts of an app's stored metrics, rendered to SVG by `crane-charts` (plotters): the series come from the store,
//! the autoscaler's scale events become markers and its target a threshold line.

use std::collections::BTreeMap;

use crane_charts::{ChartSpec, Marker, Series};
use crane_core::model::Millis;
use crane_core::ports::StoredApp;
use crane_core::spec::Metric;

use crate::{EngineError, Inner, Result};

/// The charts an app has, in the order the window shows them.
pub const METRICS: &[&str] = &["cpu", "memory", "rps", "latency", "errors", "replicas"];

/// Parses a range (`5m`, `1h`, `24h`, or any duration) into milliseconds.
pub(crate) fn range_ms(range: &str) -> Result<Millis> {
    let ms = crane_core::units::parse_duration(range)
        .map_err(|e| EngineError::BadRequest(format!("range: {e}; use 5m, 1h or 24h")))?
        .as_millis();
    if !(10_000..=7 * 24 * 3600 * 1000).contains(&ms) {
        return Err(EngineError::BadRequest(format!("range: {range} is outside 10s..7d; use 5m, 1h or 24h")));
    }
    Ok(ms)
}

/// Renders one chart of an app.
pub(crate) async fn render(inner: &Inner, app: &StoredApp, metric: &str, range: &str, now: Millis) -> Result<String> {
    let span = range_ms(range)?;
    let from = now.saturating_sub(span);
    let name = &app.spec.name;
    let scaling = app.spec.autoscaling.as_ref();
    let target_if = |m: Metric| scaling.filter(|a| a.metric == m).map(|a| a.target);
    // (title, unit, series prefix, series suffix filter, fixed y bounds, step, threshold)
    let (title, unit, prefix, suffixes, y_max, step, threshold): (
        &str,
        &str,
        String,
        &[&str],
        Option<f64>,
        bool,
        Option<f64>,
    ) = match metric {
        "cpu" => ("CPU per instance", "%", format!("{name}/"), &["/cpu"], None, false, target_if(Metric::Cpu)),
        "memory" => ("Memory per instance", "MiB", format!("{name}/"), &["/memory_mib"], None, false, None),
        "rps" => ("Requests per second", "req/s", format!("{name}/"), &["/rps"], None, false, target_if(Metric::Rps)),
        "latency" => {
            ("Latency p95", "ms", format!("{name}/latency_p95_ms"), &[""], None, false, target_if(Metric::LatencyP95))
        }
        "errors" => ("Errors per second (5xx)", "/s", format!("{name}/errors_per_s"), &[""], None, false, None),
        "replicas" => ("Replicas", "replicas", format!("{name}/"), &["/replicas", "/ready"], None, true, None),
        other => {
            return Err(EngineError::BadRequest(format!(
                "metric: no chart named '{other}'; the charts are {}",
                METRICS.join(", ")
            )))
        }
    };
    let samples =
        inner.store.query_samples(&prefix, from, now).await.map_err(|e| EngineError::Internal(e.to_string()))?;
    let mut by_series: BTreeMap<String, Vec<(i64, f64)>> = BTreeMap::new();
    for s in samples {
        let rest = &s.series[format!("{name}/").len().min(s.series.len())..];
        let depth = rest.matches('/').count();
        let keep = match metric {
            // Per-instance charts: `<app>/<instance>/<metric>`; requests/s shows the app total too.
            "cpu" | "memory" => depth == 1 && suffixes.iter().any(|x| s.series.ends_with(x)),
            "rps" => (depth == 1 && s.series.ends_with("/rps")) || rest == "rps",
            "replicas" => rest == "replicas" || rest == "ready",
            _ => true,
        };
        if !keep {
            continue;
        }
        let label = match (metric, rest) {
            ("rps", "rps") => "all instances".to_string(),
            ("replicas", "replicas") => "desired".to_string(),
            ("replicas", "ready") => "ready".to_string(),
            ("latency", _) => "p95".to_string(),
            ("errors", _) => "5xx/s".to_string(),
            _ => rest.split('/').next().unwrap_or(rest).to_string(),
        };
        by_series.entry(label).or_default().push((s.at as i64, s.value));
    }
    let events = inner.store.list_events(Some(name), 500, None).await.unwrap_or_default();
    let markers = events
        .iter()
        .filter(|e| e.kind == "autoscale.scaled" && e.at >= from)
        .map(|e| Marker {
            at_ms: e.at as i64,
            label: e.reason.rsplit("scale ").next().unwrap_or("scaled").trim().to_string(),
        })
        .collect();
    let spec = ChartSpec {
        title: title.to_string(),
        unit: unit.to_string(),
        from_ms: from as i64,
        to_ms: now as i64,
        width: 640,
        height: 220,
        series: by_series.into_iter().map(|(name, points)| Series { name, points }).collect(),
        y_min: Some(0.0),
        y_max,
        step,
        markers,
        threshold: threshold.map(|t| (t, format!("target {t}{}", if unit == "%" { "%" } else { "" }))),
    };
    Ok(crane_charts::render_svg(&spec))
}
