//! Charts of an app's stored metrics, rendered to SVG by `crane-charts` (plotters): the series come from the store,
//! the autoscaler's scale events become markers and its target a threshold line.

use crane_api::EventKind;
use std::collections::BTreeMap;

use crane_charts::{ChartSpec, Marker, Series};
use crane_core::autoscale::{DecisionRecord, Metric, Policy};
use crane_core::model::Millis;
use crane_core::ports::{EventRecord, InstanceFilter, Sample, SampleMetric, StoredApp};

use crate::{EngineError, Inner, Result};

/// The charts an app has, in the order the window shows them.
pub const METRICS: &[&str] = &["cpu", "memory", "rps", "latency", "errors", "replicas", "connections", "bytes"];

/// Parses a range (`5m`, `1h`, `24h`, or any duration) into milliseconds.
pub(crate) fn range_ms(range: &str) -> Result<Millis> {
    let ms = crane_core::units::parse_duration(range)
        .map_err(|e| EngineError::BadRequest(format!("range: {e}; use fit, 5m, 1h or 24h")))?
        .as_millis();
    if !(10_000..=7 * 24 * 3600 * 1000).contains(&ms) {
        return Err(EngineError::BadRequest(format!("range: {range} is outside 10s..7d; use fit, 5m, 1h or 24h")));
    }
    Ok(ms)
}

/// Which stored series a chart draws.
enum Lines {
    /// One line per instance of this per-instance metric (cpu, memory).
    PerInstance(SampleMetric),
    /// One line per instance of this metric plus the app's total (requests/s).
    PerInstanceAndApp(SampleMetric, &'static str),
    /// The app's own series, each with its label (latency, errors, replicas and ready).
    App(&'static [(SampleMetric, &'static str)]),
}

/// The range word that fits the time axis to the data's age: the app's age plus a tenth, at least 20 s and at most
/// an hour, so a 20-second-old app's data fills the chart instead of its rightmost 20 px.
pub const FIT_RANGE: &str = "fit";

/// The span of [`FIT_RANGE`] for an app created at `created_at`.
pub(crate) fn fit_span(created_at: Millis, now: Millis) -> Millis {
    let age = now.saturating_sub(created_at);
    (age + age / 10).clamp(20_000, 3_600_000)
}

/// Renders one chart of an app.
pub(crate) async fn render(inner: &Inner, app: &StoredApp, metric: &str, range: &str, now: Millis) -> Result<String> {
    let span = if range == FIT_RANGE { fit_span(app.created_at, now) } else { range_ms(range)? };
    let from = now.saturating_sub(span);
    let name = &app.spec.name;
    let scaling = app.spec.autoscaling.as_ref().map(Policy::from_spec);
    let target_if = |m: Metric| scaling.as_ref().filter(|p| p.metric == m).map(|p| p.target);
    // (title, unit, lines, step, threshold)
    let (title, unit, lines, step, threshold) = match metric {
        "cpu" => ("CPU per instance", "%", Lines::PerInstance(SampleMetric::Cpu), false, target_if(Metric::Cpu)),
        "memory" => ("Memory per instance", "MiB", Lines::PerInstance(SampleMetric::MemoryMib), false, None),
        "rps" => (
            "Requests per second",
            "req/s",
            Lines::PerInstanceAndApp(SampleMetric::Rps, "all instances"),
            false,
            target_if(Metric::Rps),
        ),
        "latency" => (
            "Latency p95",
            "ms",
            Lines::App(&[(SampleMetric::LatencyP95Ms, "p95")]),
            false,
            target_if(Metric::LatencyP95),
        ),
        "errors" => ("Errors per second (5xx)", "/s", Lines::App(&[(SampleMetric::ErrorsPerS, "5xx/s")]), false, None),
        "replicas" => (
            "Replicas",
            "replicas",
            Lines::App(&[(SampleMetric::Replicas, "desired"), (SampleMetric::Ready, "ready")]),
            true,
            None,
        ),
        "connections" => (
            "Long-lived connections (WebSockets, tcp ports)",
            "connections",
            Lines::App(&[(SampleMetric::OpenConnections, "open"), (SampleMetric::ConnectionsPerS, "opened/s")]),
            false,
            None,
        ),
        "bytes" => {
            ("Bytes through the load balancer", "B/s", Lines::App(&[(SampleMetric::BytesPerS, "bytes/s")]), false, None)
        }
        other => {
            return Err(EngineError::BadRequest(format!(
                "metric: no chart named '{other}'; the charts are {}",
                METRICS.join(", ")
            )))
        }
    };
    let query = |instance: InstanceFilter<'static>, metric: SampleMetric| async move {
        inner
            .store
            .query_samples(name, instance, &metric, from, now)
            .await
            .map_err(|e| EngineError::Internal(e.to_string()))
    };
    let mut by_series: BTreeMap<String, Vec<(i64, f64)>> = BTreeMap::new();
    let mut add = |label: String, samples: Vec<Sample>| {
        if !samples.is_empty() {
            by_series.entry(label).or_default().extend(samples.iter().map(|s| (s.at as i64, s.value)));
        }
    };
    match &lines {
        Lines::PerInstance(metric) | Lines::PerInstanceAndApp(metric, _) => {
            let mut per_instance: BTreeMap<String, Vec<Sample>> = BTreeMap::new();
            let mut app_level = Vec::new();
            for s in query(InstanceFilter::Any, metric.clone()).await? {
                match s.instance.clone() {
                    Some(instance) => per_instance.entry(instance).or_default().push(s),
                    None => app_level.push(s),
                }
            }
            for (instance, samples) in per_instance {
                add(instance, samples);
            }
            if let Lines::PerInstanceAndApp(_, label) = &lines {
                add(label.to_string(), app_level);
            }
        }
        Lines::App(series) => {
            for (metric, label) in series.iter() {
                add(label.to_string(), query(InstanceFilter::App, metric.clone()).await?);
            }
        }
    }
    let events = inner.store.list_events(Some(name), 500, None).await.unwrap_or_default();
    let markers = events
        .iter()
        .filter(|e| e.kind == EventKind::AutoscaleScaled.as_str() && e.at >= from)
        .filter_map(marker)
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
        y_max: None,
        step,
        markers,
        threshold: threshold.map(|t| (t, format!("target {t}{}", if unit == "%" { "%" } else { "" }))),
        time: crane_charts::TimeLabels::Clock,
    };
    Ok(crane_charts::render_svg(&spec))
}

/// The marker of a scale event, from the decision's fields in its details (`2→3`); `None` for events recorded
/// before decisions carried them.
fn marker(event: &EventRecord) -> Option<Marker> {
    let record: DecisionRecord = serde_json::from_value(event.details.get("decision")?.clone()).ok()?;
    Some(Marker { at_ms: event.at as i64, label: format!("{}→{}", record.from, record.to) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_span_follows_the_data_age_within_20_s_and_an_hour() {
        for (age, span) in
            [(0, 20_000), (10_000, 20_000), (20_000, 22_000), (120_000, 132_000), (86_400_000, 3_600_000)]
        {
            assert_eq!(fit_span(1_000_000, 1_000_000 + age), span, "age {age} ms");
        }
        // A creation time in the future (clock moved) is an age of zero, not a panic.
        assert_eq!(fit_span(5_000, 1_000), 20_000);
    }

    #[test]
    fn markers_come_from_the_decision_fields() {
        let event = |details: serde_json::Value| EventRecord {
            id: 1,
            at: 5_000,
            app: Some("web".into()),
            instance: None,
            kind: EventKind::AutoscaleScaled.as_str().into(),
            // The prose says something else on purpose: the marker must not come from it.
            reason: "cpu 93% > target 70% → scale 9→9".into(),
            details,
        };
        let decision = DecisionRecord { from: 2, to: 3, metric: Metric::Cpu, value: Some(93.0), target: 70.0 };
        let details = serde_json::json!({ "current": 2, "decision": decision });
        assert_eq!(marker(&event(details)), Some(Marker { at_ms: 5_000, label: "2→3".into() }));
        assert_eq!(marker(&event(serde_json::json!({ "current": 2 }))), None);
    }
}
