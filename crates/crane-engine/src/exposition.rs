//! Crane's own metrics in the Prometheus text exposition format, and the Prometheus HTTP service-discovery list
//! (`http_sd_configs`) of every instance plus Crane itself, so a real Prometheus scrapes new replicas without a
//! restart or a config rewrite.

use std::fmt::Write;

use crane_core::model::ContainerState;
use crane_core::ports::{SampleMetric, StoredApp};
use serde::Serialize;

use crate::clock::LockExt;
use crate::Inner;

/// One target group of Prometheus' HTTP service discovery.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SdTargetGroup {
    /// `host:port` addresses.
    pub targets: Vec<String>,
    /// Labels attached to every target of the group.
    pub labels: std::collections::BTreeMap<String, String>,
}

/// Escapes a label value for the text format.
fn label(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

struct Family<'a> {
    out: &'a mut String,
}

impl Family<'_> {
    fn header(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.out, "# HELP {name} {help}");
        let _ = writeln!(self.out, "# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        let labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{}\"", label(v))).collect();
        let value = if value.is_finite() { value } else { 0.0 };
        if labels.is_empty() {
            let _ = writeln!(self.out, "{name} {value}");
        } else {
            let _ = writeln!(self.out, "{name}{{{}}} {value}", labels.join(","));
        }
    }
}

/// The text exposition of everything Crane knows: engine, apps, instances, load balancers, autoscaler.
pub(crate) fn prometheus_text(inner: &Inner, apps: &[StoredApp]) -> String {
    let mut out = String::new();
    let mut f = Family { out: &mut out };
    let shared = inner.shared.locked();
    let latest = inner.collector.latest.locked().clone();

    f.header("crane_build_info", "gauge", "Crane's version (always 1).");
    f.sample("crane_build_info", &[("version", env!("CARGO_PKG_VERSION"))], 1.0);
    f.header("crane_docker_up", "gauge", "Whether the Docker engine answers (1) or not (0).");
    f.sample("crane_docker_up", &[], if shared.docker_error.is_none() { 1.0 } else { 0.0 });
    f.header("crane_apps", "gauge", "Number of apps.");
    f.sample("crane_apps", &[], apps.len() as f64);

    f.header("crane_app_replicas", "gauge", "Desired replicas of an app.");
    for a in apps {
        f.sample("crane_app_replicas", &[("app", &a.spec.name)], f64::from(a.spec.replicas));
    }
    f.header("crane_app_ready_replicas", "gauge", "Instances of an app receiving traffic (ready).");
    for a in apps {
        let ready =
            shared.observed.iter().filter(|o| o.app == a.spec.name && shared.in_load_balancer.contains(&o.id)).count();
        f.sample("crane_app_ready_replicas", &[("app", &a.spec.name)], ready as f64);
    }
    f.header("crane_app_revision", "gauge", "Current revision of an app.");
    for a in apps {
        f.sample("crane_app_revision", &[("app", &a.spec.name)], a.revision as f64);
    }

    f.header("crane_instance_up", "gauge", "1 for every running instance.");
    for o in shared.observed.iter().filter(|o| o.state == ContainerState::Running) {
        let rev = o.revision.to_string();
        f.sample("crane_instance_up", &[("app", &o.app), ("instance", &o.name), ("revision", &rev)], 1.0);
    }
    f.header("crane_instance_restarts_total", "counter", "Restarts of an instance slot since the engine started.");
    for ((app, index), n) in &shared.restarts {
        let instance = format!("{app}-{index}");
        f.sample("crane_instance_restarts_total", &[("app", app), ("instance", &instance)], f64::from(*n));
    }
    // Per-instance gauges from the collector's latest round, keyed by their metric column.
    let per_instance = |metric: SampleMetric| {
        latest.iter().filter(move |s| s.metric == metric).filter_map(|s| Some((&s.app, s.instance.as_ref()?, s.value)))
    };
    for (metric, name, help) in [
        (
            SampleMetric::Cpu,
            "crane_instance_cpu_percent",
            "CPU use of an instance in percent of its limit (Crane's default limit when the spec sets none).",
        ),
        (SampleMetric::Memory, "crane_instance_memory_percent", "Memory use of an instance in percent of its limit."),
    ] {
        f.header(name, "gauge", help);
        for (app, instance, value) in per_instance(metric) {
            f.sample(name, &[("app", app), ("instance", instance)], value);
        }
    }
    f.header("crane_instance_memory_bytes", "gauge", "Memory in use by an instance (without page cache).");
    for (app, instance, mib) in per_instance(SampleMetric::MemoryMib) {
        f.sample("crane_instance_memory_bytes", &[("app", app), ("instance", instance)], mib * 1048576.0);
    }
    drop(shared);

    let traffic: Vec<(String, crane_proxy::ProxyMetrics)> =
        apps.iter().filter_map(|a| inner.proxies.metrics(&a.spec.name).map(|m| (a.spec.name.clone(), m))).collect();
    f.header(
        "crane_lb_requests_total",
        "counter",
        "Requests answered by an app's load balancer, by instance and status class.",
    );
    for (app, m) in &traffic {
        for b in &m.backends {
            for (class, n) in [
                ("1xx", b.traffic.status_1xx),
                ("2xx", b.traffic.status_2xx),
                ("3xx", b.traffic.status_3xx),
                ("4xx", b.traffic.status_4xx),
                ("5xx", b.traffic.status_5xx),
            ] {
                f.sample("crane_lb_requests_total", &[("app", app), ("instance", &b.name), ("code", class)], n as f64);
            }
        }
    }
    f.header("crane_lb_errors_total", "counter", "Answers the load balancer made itself (502/503/504), per app.");
    for (app, m) in &traffic {
        f.sample("crane_lb_errors_total", &[("app", app)], m.app.traffic.errors as f64);
    }
    f.header("crane_lb_retries_total", "counter", "Requests retried on another instance, per app.");
    for (app, m) in &traffic {
        f.sample("crane_lb_retries_total", &[("app", app)], m.app.retries as f64);
    }
    f.header("crane_lb_in_flight_requests", "gauge", "Requests in flight through an app's load balancer.");
    for (app, m) in &traffic {
        f.sample("crane_lb_in_flight_requests", &[("app", app)], m.app.traffic.in_flight as f64);
    }
    f.header("crane_lb_requests_per_second", "gauge", "Requests per second over the last 10 s, per app.");
    for (app, m) in &traffic {
        f.sample("crane_lb_requests_per_second", &[("app", app)], m.app.traffic.rps);
    }
    f.header(
        "crane_lb_grpc_responses_total",
        "counter",
        "gRPC answers through an app's load balancer, by instance and gRPC status code.",
    );
    for (app, m) in &traffic {
        for b in &m.backends {
            for (code, n) in &b.traffic.grpc_status {
                let name = crane_proxy::GRPC_CODES.get(usize::from(*code)).copied().unwrap_or("UNKNOWN");
                let labels = [("app", app.as_str()), ("instance", &b.name), ("grpc_code", name)];
                f.sample("crane_lb_grpc_responses_total", &labels, *n as f64);
            }
        }
    }
    let ports: Vec<(String, crate::proxy::PortTraffic)> = apps
        .iter()
        .flat_map(|a| inner.proxies.ports(&a.spec.name).into_iter().map(|p| (a.spec.name.clone(), p)))
        .collect();
    f.header(
        "crane_lb_open_connections",
        "gauge",
        "Long-lived connections open through a port of an app's load balancer (WebSockets, tcp ports).",
    );
    for (app, p) in &ports {
        let port = p.container.to_string();
        f.sample(
            "crane_lb_open_connections",
            &[("app", app), ("port", &port)],
            p.metrics.app.traffic.open_connections as f64,
        );
    }
    f.header(
        "crane_lb_connections_total",
        "counter",
        "Long-lived connections opened through a port of an app's load balancer.",
    );
    for (app, p) in &ports {
        let port = p.container.to_string();
        f.sample(
            "crane_lb_connections_total",
            &[("app", app), ("port", &port)],
            p.metrics.app.traffic.connections_total as f64,
        );
    }
    f.header("crane_lb_bytes_total", "counter", "Bytes through a port of an app's load balancer, by direction.");
    for (app, p) in &ports {
        let port = p.container.to_string();
        let t = &p.metrics.app.traffic;
        for (direction, n) in [("in", t.bytes_in), ("out", t.bytes_out)] {
            f.sample("crane_lb_bytes_total", &[("app", app), ("port", &port), ("direction", direction)], n as f64);
        }
    }
    f.header(
        "crane_lb_request_duration_seconds",
        "summary",
        "Latency of requests through an app's load balancer since the engine started.",
    );
    for (app, _) in &traffic {
        let Some(h) = inner.proxies.latency_histogram(app) else { continue };
        for q in [0.5, 0.95, 0.99] {
            let value = if h.is_empty() { 0.0 } else { h.value_at_quantile(q) as f64 / 1e6 };
            f.sample("crane_lb_request_duration_seconds", &[("app", app), ("quantile", &q.to_string())], value);
        }
        f.sample("crane_lb_request_duration_seconds_sum", &[("app", app)], h.mean() * h.len() as f64 / 1e6);
        f.sample("crane_lb_request_duration_seconds_count", &[("app", app)], h.len() as f64);
    }
    f.header("crane_lb_received_bytes_total", "counter", "Bytes received from clients, per app.");
    for (app, m) in &traffic {
        f.sample("crane_lb_received_bytes_total", &[("app", app)], m.app.traffic.bytes_in as f64);
    }
    f.header("crane_lb_sent_bytes_total", "counter", "Bytes sent to clients, per app.");
    for (app, m) in &traffic {
        f.sample("crane_lb_sent_bytes_total", &[("app", app)], m.app.traffic.bytes_out as f64);
    }

    let scrapes = inner.collector.app_scrapes.locked().clone();
    f.header(
        "crane_instance_scrape_up",
        "gauge",
        "Whether an instance's own /metrics answered and parsed at the last round.",
    );
    for ((app, instance), (up, _)) in &scrapes {
        f.sample("crane_instance_scrape_up", &[("app", app), ("instance", instance)], if *up { 1.0 } else { 0.0 });
    }
    f.header("crane_instance_scrape_samples", "gauge", "Samples in an instance's own /metrics at the last round.");
    for ((app, instance), (_, n)) in &scrapes {
        f.sample("crane_instance_scrape_samples", &[("app", app), ("instance", instance)], *n as f64);
    }

    let decisions = inner.collector.decision_counts.locked().clone();
    f.header(
        "crane_autoscaler_decisions_total",
        "counter",
        "Autoscaler decisions per app and outcome (up, down, none).",
    );
    for ((app, change), n) in &decisions {
        f.sample("crane_autoscaler_decisions_total", &[("app", app), ("change", change)], *n as f64);
    }
    out
}

/// Every running instance of an app with a port (its own `/metrics`), and Crane itself.
pub(crate) fn sd_targets(inner: &Inner, apps: &[StoredApp]) -> Vec<SdTargetGroup> {
    let shared = inner.shared.locked();
    let mut groups = Vec::new();
    let api_url = inner.api_url.locked().clone();
    if let Some(addr) = api_url.strip_prefix("http://") {
        groups.push(SdTargetGroup {
            targets: vec![addr.trim_end_matches('/').to_string()],
            labels: [("job".to_string(), "crane".to_string())].into_iter().collect(),
        });
    }
    for o in shared.observed.iter().filter(|o| o.state == ContainerState::Running) {
        let Some(app) = apps.iter().find(|a| a.spec.name == o.app) else { continue };
        let (Some(ip), Some(port)) = (shared.addresses.get(&o.id), app.spec.ports.first()) else { continue };
        let labels = [
            ("job", "crane-apps".to_string()),
            ("app", o.app.clone()),
            ("instance_name", o.name.clone()),
            ("revision", o.revision.to_string()),
            ("ready", shared.in_load_balancer.contains(&o.id).to_string()),
        ];
        groups.push(SdTargetGroup {
            targets: vec![format!("{ip}:{}", port.container)],
            labels: labels.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
        });
    }
    groups
}
