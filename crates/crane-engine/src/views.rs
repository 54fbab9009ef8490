//! Read models: turn stored apps plus the last observation into the wire views every door shows.

use std::collections::BTreeMap;

use crane_api::{
    AppView, AutoscaleDecisionView, AutoscaleMetric, AutoscalingView, EventView, InstanceState, InstanceView,
    RulesView, ScaleChange,
};
use crane_api::{AutoscaleLimitView, AutoscaleRecommendationView, AutoscaleRule};
use crane_core::autoscale::{Change, Limit, Metric, Policy};
use crane_core::model::{ContainerState, Millis};
use crane_core::ports::{EventRecord, StoredApp};
use crane_core::probe::{InstanceHealth, ProbeKind};

use crate::clock::LockExt;
use crate::metrics::{Collector, LastDecision};
use crate::Shared;

/// Formats a timestamp as RFC 3339 with milliseconds (UTC).
pub(crate) fn rfc3339(at: Millis) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(at as i64)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

/// The view of one event.
pub(crate) fn event_view(e: &EventRecord) -> EventView {
    EventView {
        id: e.id as f64,
        at: rfc3339(e.at),
        app: e.app.clone(),
        instance: e.instance.clone(),
        kind: crane_api::EventKind::parse(&e.kind),
        tone: crane_api::EventKind::parse(&e.kind).tone(),
        reason: e.reason.clone(),
        details: e.details.to_string(),
    }
}

/// The view of one app: its instances by index, including slots held by backoff or failing to start.
pub(crate) fn app_view(
    app: &StoredApp,
    shared: &Shared,
    health: &BTreeMap<String, InstanceHealth>,
    ports: &[crate::proxy::PortTraffic],
    now: Millis,
) -> AppView {
    let name = &app.spec.name;
    // The app's and its instances' traffic are those of its first port.
    let traffic = ports.first().map(|p| &p.metrics);
    let mut instances: Vec<InstanceView> = Vec::new();
    for o in shared.observed.iter().filter(|o| &o.app == name) {
        let slot = (name.clone(), o.index);
        let removing = shared.removing.contains(&o.id);
        let (state, message) = match o.state {
            _ if removing => (InstanceState::Stopping, "being removed".to_string()),
            ContainerState::Running if o.revision != app.revision => (
                if health.get(&o.id).map(|h| h.ready).unwrap_or(true) {
                    InstanceState::Ready
                } else {
                    InstanceState::Running
                },
                format!("running revision {}; will be replaced by {}", o.revision, app.revision),
            ),
            ContainerState::Running if o.index > app.spec.replicas => {
                (InstanceState::Stopping, "above the desired replica count".to_string())
            }
            ContainerState::Running => match health.get(&o.id) {
                Some(h) if !h.started => (InstanceState::Starting, "waiting for the startup probe".to_string()),
                // Ready means "receives traffic": what the load balancer last applied, not the probe's latest word.
                Some(_) if !shared.in_load_balancer.contains(&o.id) => {
                    (InstanceState::Running, "running, not ready".to_string())
                }
                // Without probes a running container is ready, as in Kubernetes without a readiness probe.
                _ => (InstanceState::Ready, "running".to_string()),
            },
            ContainerState::Created => (InstanceState::Starting, "created".to_string()),
            ContainerState::Restarting => (InstanceState::Restarting, "restarting".to_string()),
            ContainerState::Paused => (InstanceState::Running, "paused".to_string()),
            ContainerState::Exited | ContainerState::Dead => (
                InstanceState::Crashed,
                match o.exit_code {
                    Some(c) => format!("exited with code {c}; replacing it"),
                    None => "exited; replacing it".to_string(),
                },
            ),
            ContainerState::Removing => (InstanceState::Stopping, "being removed".to_string()),
        };
        instances.push(InstanceView {
            name: o.name.clone(),
            index: o.index,
            id: o.id.chars().take(12).collect(),
            state,
            revision: o.revision as u32,
            restarts: shared.restarts.get(&slot).copied().unwrap_or(0),
            message,
            address: shared.addresses.get(&o.id).map(|ip| ip.to_string()),
            uptime_ms: match (o.state, o.started_at) {
                (ContainerState::Running, Some(s)) => Some(now.saturating_sub(s) as f64),
                _ => None,
            },
            probe: health.get(&o.id).map(probe_summary),
            probe_failure: health
                .get(&o.id)
                .and_then(|h| h.last_failure.as_ref())
                .map(|(kind, why)| format!("{}: {why}", kind.as_str())),
            traffic: traffic.and_then(|t| t.backends.iter().find(|b| b.id == o.id)).map(|b| traffic_view(&b.traffic)),
            // Filled in by the handle from the metrics collector (`EngineHandle::with_activity`).
            cpu_percent: None,
        });
    }
    for index in 1..=app.spec.replicas {
        if instances.iter().any(|i| i.index == index) {
            continue;
        }
        let slot = (name.clone(), index);
        let (state, message) = if let Some((until, reason)) = shared.waiting.get(&slot) {
            let secs = until.saturating_sub(now).div_ceil(1000);
            (InstanceState::Crashed, format!("{reason} (next restart in {secs}s)"))
        } else if let Some(err) = shared.failures.get(&slot) {
            (InstanceState::Crashed, format!("cannot start: {err}"))
        } else {
            (InstanceState::Restarting, "being created".to_string())
        };
        instances.push(InstanceView {
            name: format!("{name}-{index}"),
            index,
            id: String::new(),
            state,
            revision: app.revision as u32,
            restarts: shared.restarts.get(&slot).copied().unwrap_or(0),
            message,
            address: None,
            uptime_ms: None,
            probe: None,
            probe_failure: None,
            traffic: None,
            cpu_percent: None,
        });
    }
    instances.sort_by_key(|i| (i.index, i.name.clone()));
    let ready = instances.iter().filter(|i| i.state == InstanceState::Ready && i.index <= app.spec.replicas).count();
    AppView {
        name: name.clone(),
        image: app.spec.image.clone(),
        replicas: app.spec.replicas,
        ready: ready as u32,
        standbys: shared.standby_counts.get(name).copied().unwrap_or(0),
        revision: app.revision as u32,
        ports: app.spec.ports.iter().map(|p| p.container).collect(),
        url: app.public_port.map(|p| format!("http://127.0.0.1:{p}")),
        listeners: port_views(app, ports),
        inactive: app.spec.inactive_sections(),
        spec_yaml: app.source_yaml.clone(),
        instances,
        created_at: rfc3339(app.created_at),
        owner: app.owner.clone(),
        rollout: shared.rollouts.get(name).cloned(),
        traffic: traffic.map(|t| traffic_view(&t.app.traffic)),
        load: None,
        autoscaling: app.spec.autoscaling.as_ref().map(|a| autoscaling_view(&Policy::from_spec(a), a.query.clone())),
    }
}

/// The wire form of an autoscaler metric.
pub(crate) fn wire_metric(metric: Metric) -> AutoscaleMetric {
    match metric {
        Metric::Cpu => AutoscaleMetric::Cpu,
        Metric::Memory => AutoscaleMetric::Memory,
        Metric::Rps => AutoscaleMetric::Rps,
        Metric::LatencyP95 => AutoscaleMetric::LatencyP95,
        Metric::Custom => AutoscaleMetric::Custom,
    }
}

/// The policy the autoscaler applies, defaults included (they come from `crane_core::autoscale`, never from here).
fn autoscaling_view(policy: &Policy, query: Option<String>) -> AutoscalingView {
    AutoscalingView {
        min: policy.min,
        max: policy.max,
        metric: wire_metric(policy.metric),
        target: policy.target,
        query,
        tolerance: policy.tolerance,
        scale_down_stabilization_ms: policy.scale_down_stabilization as f64,
        max_scale_up_step: policy.max_scale_up_step,
        max_scale_down_step: policy.max_scale_down_step,
        idle_after_ms: policy.idle_after.map(|ms| ms as f64),
        scale_to_zero: None,
        last_decision: None,
    }
}

/// Adds where scale to zero stands (from the app's load balancer) to the view of an app with `min: 0`.
pub(crate) fn add_scale_to_zero(view: &mut AppView, status: Option<crane_proxy::ZeroStatus>, now: Millis) {
    use crane_api::{ScaleToZeroView, ZeroPhase};
    use crane_core::scale_to_zero::Phase;
    let Some(autoscaling) = view.autoscaling.as_mut() else { return };
    if autoscaling.idle_after_ms.is_none() {
        return;
    }
    // Before the load balancer runs (no port yet, engine starting) the replica count tells the phase.
    let phase = match status.as_ref().map(|s| s.phase) {
        Some(Phase::Serving) => ZeroPhase::Serving,
        Some(Phase::Zero) => ZeroPhase::Zero,
        Some(Phase::Waking { .. }) => ZeroPhase::Waking,
        None if view.replicas == 0 => ZeroPhase::Zero,
        None => ZeroPhase::Serving,
    };
    let config = status.as_ref().map_or(crane_core::scale_to_zero::Config::new(0), |s| s.config);
    autoscaling.scale_to_zero = Some(ScaleToZeroView {
        phase,
        held: status.as_ref().map_or(0, |s| s.held as u32),
        max_held: config.max_held as u32,
        hold_timeout_ms: config.hold_timeout as f64,
        refused: status.as_ref().map_or(0.0, |s| s.refused as f64),
        last_cold_start_ms: status.as_ref().and_then(|s| s.last_cold_start).map(|(ms, _)| ms as f64),
        last_woke_at: status.and_then(|s| s.last_cold_start).map(|(_, ago)| rfc3339(now.saturating_sub(ago))),
    });
}

/// Adds the autoscaler's latest decision for the app, if any, to its view.
pub(crate) fn add_last_decision(view: &mut AppView, collector: &Collector) {
    let Some(autoscaling) = view.autoscaling.as_mut() else { return };
    autoscaling.last_decision = collector.decisions.locked().get(&view.name).map(decision_view);
}

fn decision_view(d: &LastDecision) -> AutoscaleDecisionView {
    AutoscaleDecisionView {
        at: rfc3339(d.at),
        from: d.record.from,
        to: d.record.to,
        change: match d.change {
            Change::Up => ScaleChange::Up,
            Change::Down => ScaleChange::Down,
            Change::None => ScaleChange::None,
        },
        value: d.record.value,
        ratio: d.ratio,
        recommendation: d.recommendation,
        limits: d.limits.iter().map(limit_view).collect(),
        reason: d.reason.clone(),
    }
}

/// A rule that changed or held a decision, as the window reads it.
fn limit_view(limit: &Limit) -> AutoscaleLimitView {
    let mut view = AutoscaleLimitView {
        rule: AutoscaleRule::NoData,
        ratio: None,
        tolerance: None,
        wanted: None,
        bound: None,
        bound_max: None,
        step: None,
        window_ms: None,
        recommendations: Vec::new(),
        highest: None,
    };
    match limit {
        Limit::Tolerance { ratio, tolerance } => {
            (view.rule, view.ratio, view.tolerance) = (AutoscaleRule::Tolerance, Some(*ratio), Some(*tolerance));
        }
        Limit::SetAside { ratio } => (view.rule, view.ratio) = (AutoscaleRule::SetAside, Some(*ratio)),
        Limit::Direction { computed } => (view.rule, view.wanted) = (AutoscaleRule::Direction, Some(*computed)),
        Limit::NoData => view.rule = AutoscaleRule::NoData,
        Limit::Max { max, wanted } => {
            (view.rule, view.bound, view.wanted) = (AutoscaleRule::Max, Some(*max), Some(*wanted));
        }
        Limit::Min { min, wanted } => {
            (view.rule, view.bound, view.wanted) = (AutoscaleRule::Min, Some(*min), Some(*wanted));
        }
        Limit::OutOfRange { min, max } => {
            (view.rule, view.bound, view.bound_max) = (AutoscaleRule::OutOfRange, Some(*min), Some(*max));
        }
        Limit::Stabilization { window_ms, recommendations, highest } => {
            view.rule = AutoscaleRule::Stabilization;
            view.window_ms = Some(*window_ms as f64);
            view.highest = Some(*highest);
            view.recommendations = recommendations
                .iter()
                .map(|&(at, replicas)| AutoscaleRecommendationView { at: rfc3339(at), replicas })
                .collect();
        }
        Limit::StepUp { step, wanted } => {
            (view.rule, view.step, view.wanted) = (AutoscaleRule::StepUp, Some(*step), Some(*wanted));
        }
        Limit::StepDown { step, wanted } => {
            (view.rule, view.step, view.wanted) = (AutoscaleRule::StepDown, Some(*step), Some(*wanted));
        }
        Limit::AtZero => view.rule = AutoscaleRule::AtZero,
    }
    view
}

/// The input rules every door shows and checks, from `crane_core::validate`.
pub(crate) fn rules() -> RulesView {
    use crane_core::validate::{app_name_pattern, APP_NAME_RULE, MAX_NAME_LEN};
    RulesView {
        app_name_max_len: MAX_NAME_LEN as u32,
        app_name_pattern: app_name_pattern(),
        app_name_rule: APP_NAME_RULE.to_string(),
    }
}

/// The app's ports as the load balancer serves them, with each port's traffic.
fn port_views(app: &StoredApp, ports: &[crate::proxy::PortTraffic]) -> Vec<crane_api::PortView> {
    use crane_api::{AppProtocolView, BalanceView, PortModeView, PortView};
    use crane_core::spec::{AppProtocol, Balance, PortMode};
    app.spec
        .ports
        .iter()
        .map(|p| {
            let live = ports.iter().find(|l| l.container == p.container);
            let mode = match p.effective_mode() {
                PortMode::Http => PortModeView::Http,
                PortMode::Tcp => PortModeView::Tcp,
            };
            let scheme = if mode == PortModeView::Tcp { "tcp" } else { "http" };
            PortView {
                container: p.container,
                public: live.map(|l| l.public),
                mode,
                app_protocol: match p.app_protocol {
                    None | Some(AppProtocol::Http) => AppProtocolView::Http,
                    Some(AppProtocol::Http2) => AppProtocolView::Http2,
                    Some(AppProtocol::Grpc) => AppProtocolView::Grpc,
                    Some(AppProtocol::Tcp) => AppProtocolView::Tcp,
                },
                sticky: p.sticky.is_some(),
                balance: match p.balance.unwrap_or_default() {
                    Balance::RoundRobin => BalanceView::RoundRobin,
                    Balance::LeastConnections => BalanceView::LeastConnections,
                },
                address: live.map(|l| format!("{scheme}://127.0.0.1:{}", l.public)),
                traffic: live.map(|l| traffic_view(&l.metrics.app.traffic)),
            }
        })
        .collect()
}

fn traffic_view(t: &crane_proxy::Traffic) -> crane_api::TrafficView {
    crane_api::TrafficView {
        requests: t.requests_total as f64,
        rps: t.rps,
        p50_ms: t.latency_p50_ms,
        p95_ms: t.latency_p95_ms,
        p99_ms: t.latency_p99_ms,
        status_2xx: t.status_2xx as f64,
        status_3xx: t.status_3xx as f64,
        status_4xx: t.status_4xx as f64,
        status_5xx: t.status_5xx as f64,
        errors: t.errors as f64,
        in_flight: t.in_flight as f64,
        bytes_in: t.bytes_in as f64,
        bytes_out: t.bytes_out as f64,
        open_connections: t.open_connections as f64,
        connections: t.connections_total as f64,
        connections_per_second: t.connections_per_second,
        grpc: t
            .grpc_status
            .iter()
            .map(|(code, n)| crane_api::GrpcStatusCount {
                code: *code,
                name: crane_proxy::GRPC_CODES.get(usize::from(*code)).copied().unwrap_or("UNKNOWN").to_string(),
                count: *n as f64,
            })
            .collect(),
    }
}

/// "startup passed · liveness ok · ready" — the probe state in a few words.
fn probe_summary(h: &InstanceHealth) -> String {
    let mut parts = Vec::new();
    let settings = h.settings();
    if settings.startup.is_some() {
        parts.push(if h.started {
            "startup passed".to_string()
        } else {
            format!("startup {} failed", h.startup.failures)
        });
    }
    if settings.liveness.is_some() && h.started {
        parts.push(match h.liveness.failures {
            0 => "liveness ok".to_string(),
            n => {
                format!("liveness {n}/{} failed", settings.liveness.as_ref().map(|p| p.failure_threshold).unwrap_or(3))
            }
        });
    }
    if settings.get(ProbeKind::Readiness).is_some() && h.started {
        parts.push(if h.ready { "ready".to_string() } else { "not ready".to_string() });
    }
    parts.join(" · ")
}

/// A cheap fingerprint of what the views show, to broadcast a change only when something visible changed.
pub(crate) fn signature(shared: &Shared) -> String {
    let mut s = String::new();
    for o in &shared.observed {
        s.push_str(&format!("{}:{:?}:{};", o.id, o.state, o.revision));
    }
    for (k, v) in &shared.waiting {
        s.push_str(&format!("w{}-{}:{};", k.0, k.1, v.0));
    }
    for (k, v) in &shared.failures {
        s.push_str(&format!("f{}-{}:{v};", k.0, k.1));
    }
    s.push_str(&format!("d{:?}", shared.docker_error));
    s
}
