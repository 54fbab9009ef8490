//! How results are shown: kubectl-style aligned tables, `describe` text, and `-o json|yaml`. Pure functions of
//! the wire types (and "now", for ages), so they are tested without an engine.

use chrono::{DateTime, Utc};
use clap::ValueEnum;
use crane_api::{
    AppView, AuditView, AutoscaleMetric, AutoscalingView, EventView, InstanceState, InstanceView, IssuedToken,
    LoadView, RevisionView, Role, RolloutView, SettingsView, StatusView, TokenView, TrafficView, UserView,
};
use serde::Serialize;

use crate::error::{CliError, Result};

/// Output format of commands that print resources.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Aligned columns.
    Table,
    /// Pretty JSON (the REST API's wire types).
    Json,
    /// YAML.
    Yaml,
}

/// Renders `value` as JSON or YAML, or with `table` for the table format.
pub fn render<T: Serialize>(format: Format, value: &T, table: impl FnOnce() -> String) -> Result<String> {
    match format {
        Format::Table => Ok(table()),
        Format::Json => serde_json::to_string_pretty(value)
            .map(|mut s| {
                s.push('\n');
                s
            })
            .map_err(|e| CliError::Serve(format!("cannot print JSON: {e}"))),
        Format::Yaml => serde_norway::to_string(value).map_err(|e| CliError::Serve(format!("cannot print YAML: {e}"))),
    }
}

/// Aligns columns like kubectl: each column as wide as its widest cell, three spaces apart.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let line = |cells: Vec<&str>| {
        let mut out = String::new();
        let last = cells.len().saturating_sub(1);
        for (i, cell) in cells.iter().enumerate() {
            out.push_str(cell);
            if i < last {
                let pad = widths[i] - cell.chars().count() + 3;
                out.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.truncate(out.trim_end().len());
        out.push('\n');
        out
    };
    let mut out = line(headers.to_vec());
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

/// `get apps`.
pub fn apps_table(apps: &[AppView], now: DateTime<Utc>) -> String {
    if apps.is_empty() {
        return "No apps found.\n".to_string();
    }
    let rows: Vec<Vec<String>> = apps
        .iter()
        .map(|a| {
            vec![
                a.name.clone(),
                a.image.clone(),
                a.replicas.to_string(),
                a.ready.to_string(),
                a.revision.to_string(),
                a.url.clone().unwrap_or_else(|| "<none>".into()),
                a.owner.clone(),
                age(&a.created_at, now),
            ]
        })
        .collect();
    table(&["NAME", "IMAGE", "REPLICAS", "READY", "REVISION", "URL", "OWNER", "AGE"], &rows)
}

/// The word of a role (`viewer`, `operator`, `admin`).
pub fn role_word(role: Role) -> &'static str {
    match role {
        Role::Viewer => "viewer",
        Role::Operator => "operator",
        Role::Admin => "admin",
    }
}

/// A token just made: what it is, and the token alone on the last line (scripts take the last line).
pub fn issued_token_text(issued: &IssuedToken) -> String {
    format!(
        "token/{} for user {} with role {}; it is shown only this once (use it as CRANE_TOKEN or a bearer token):\n{}\n",
        issued.info.id,
        issued.info.user,
        role_word(issued.info.role),
        issued.token
    )
}

/// The wire spelling of a serde enum (`cli`, `forbidden`).
fn wire_word<T: Serialize>(value: &T) -> String {
    serde_json::to_value(value).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
}

/// `user ls`.
pub fn users_table(users: &[UserView], now: DateTime<Utc>) -> String {
    let rows: Vec<Vec<String>> = users
        .iter()
        .map(|u| {
            let tokens = if u.builtin { format!("{} + data dir token", u.tokens) } else { u.tokens.to_string() };
            vec![u.name.clone(), role_word(u.role).to_string(), tokens, age(&u.created_at, now)]
        })
        .collect();
    table(&["NAME", "ROLE", "TOKENS", "AGE"], &rows)
}

/// `token ls`.
pub fn tokens_table(tokens: &[TokenView], now: DateTime<Utc>) -> String {
    if tokens.is_empty() {
        return "No tokens found.\n".to_string();
    }
    let rows: Vec<Vec<String>> = tokens
        .iter()
        .map(|t| {
            vec![
                t.id.clone(),
                t.user.clone(),
                role_word(t.role).to_string(),
                t.label.clone().unwrap_or_else(|| "-".into()),
                age(&t.created_at, now),
            ]
        })
        .collect();
    table(&["ID", "USER", "ROLE", "LABEL", "AGE"], &rows)
}

/// `audit`.
pub fn audit_table(rows: &[AuditView], now: DateTime<Utc>) -> String {
    if rows.is_empty() {
        return "No audit entries found.\n".to_string();
    }
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                age(&r.at, now),
                r.user.clone(),
                role_word(r.role).to_string(),
                wire_word(&r.door),
                r.action.as_str().to_string(),
                r.app.clone().or_else(|| r.target.clone()).unwrap_or_else(|| "-".into()),
                r.error.map_or_else(|| "ok".to_string(), |e| wire_word(&e)),
            ]
        })
        .collect();
    table(&["AGE", "USER", "ROLE", "DOOR", "ACTION", "TARGET", "OUTCOME"], &rows)
}

/// `n thing` or `n things`.
pub fn count(n: usize, thing: &str) -> String {
    format!("{n} {thing}{}", if n == 1 { "" } else { "s" })
}

/// `alerts rules`.
pub fn alert_rules_table(view: &crane_api::AlertRulesView) -> String {
    let mut out = if view.is_default {
        "Crane's shipped rules (replace them with `cranectl alerts apply -f FILE`):\n".to_string()
    } else {
        String::new()
    };
    if view.rules.is_empty() {
        out.push_str("No alert rules.\n");
        return out;
    }
    let rows: Vec<Vec<String>> = view
        .rules
        .iter()
        .map(|r| {
            let action = match (&r.firing_action, &r.resolved_action) {
                (None, None) => "-".to_string(),
                (Some(f), None) => f.clone(),
                (f, Some(res)) => format!("{} / {res}", f.as_deref().unwrap_or("-")),
            };
            let state = match (&r.last_error, r.active) {
                (Some(e), _) => format!("error: {e}"),
                (None, 0) => "ok".to_string(),
                (None, n) => format!("{n} active"),
            };
            vec![
                r.group.clone(),
                r.alert.clone(),
                r.expr.split_whitespace().collect::<Vec<_>>().join(" "),
                r.for_.clone(),
                action,
                state,
            ]
        })
        .collect();
    out.push_str(&table(&["GROUP", "ALERT", "EXPR", "FOR", "ACTION", "STATE"], &rows));
    out
}

fn alert_state(s: crane_api::AlertStateView) -> &'static str {
    match s {
        crane_api::AlertStateView::Inactive => "inactive",
        crane_api::AlertStateView::Pending => "pending",
        crane_api::AlertStateView::Firing => "firing",
    }
}

/// Extra labels of an alert (not `alertname`, `app`), as `k=v,k=v`.
fn other_labels(labels: &std::collections::BTreeMap<String, String>) -> String {
    let rest: Vec<String> =
        labels.iter().filter(|(k, _)| *k != "alertname" && *k != "app").map(|(k, v)| format!("{k}={v}")).collect();
    if rest.is_empty() {
        "-".to_string()
    } else {
        rest.join(",")
    }
}

/// `alerts active`.
pub fn alerts_table(alerts: &[crane_api::AlertView], now: DateTime<Utc>) -> String {
    if alerts.is_empty() {
        return "No active alerts.\n".to_string();
    }
    let rows: Vec<Vec<String>> = alerts
        .iter()
        .map(|a| {
            vec![
                a.rule.clone(),
                alert_state(a.state).to_string(),
                a.app.clone().unwrap_or_else(|| "-".into()),
                a.value.to_string(),
                age(a.starts_at.as_deref().unwrap_or(&a.active_at), now),
                other_labels(&a.labels),
            ]
        })
        .collect();
    table(&["ALERT", "STATE", "APP", "VALUE", "SINCE", "LABELS"], &rows)
}

/// `alerts history`.
pub fn alert_history_table(history: &[crane_api::AlertTransitionView], now: DateTime<Utc>) -> String {
    if history.is_empty() {
        return "No alert transitions yet.\n".to_string();
    }
    let rows: Vec<Vec<String>> = history
        .iter()
        .map(|t| {
            vec![
                age(&t.at, now),
                t.rule.clone(),
                t.app.clone().unwrap_or_else(|| "-".into()),
                format!("{} → {}", alert_state(t.from), alert_state(t.to)),
                t.value.to_string(),
                t.action.clone().unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    table(&["AGE", "ALERT", "APP", "CHANGE", "VALUE", "ACTION"], &rows)
}

/// `get instances APP`.
pub fn instances_table(instances: &[InstanceView]) -> String {
    if instances.is_empty() {
        return "No instances.\n".to_string();
    }
    let rows: Vec<Vec<String>> = instances
        .iter()
        .map(|i| {
            vec![
                i.name.clone(),
                state(i.state).to_string(),
                i.revision.to_string(),
                i.restarts.to_string(),
                i.address.clone().unwrap_or_else(|| "<none>".into()),
                probe(i),
                i.traffic.as_ref().map(|t| format!("{:.0}", t.requests)).unwrap_or_else(|| "-".into()),
                i.message.clone(),
            ]
        })
        .collect();
    table(&["NAME", "STATE", "REVISION", "RESTARTS", "ADDRESS", "PROBE", "REQUESTS", "MESSAGE"], &rows)
}

/// The PROBE cell: the probe state while it is healthy, the last failure while it is not (that is what the user
/// needs to act on), `-` for apps without probes.
fn probe(i: &InstanceView) -> String {
    let unhealthy = i.probe.as_deref().is_some_and(|p| p.contains("failed") || p.contains("not ready"));
    match (&i.probe, &i.probe_failure) {
        (Some(_), Some(failure)) if unhealthy => failure.clone(),
        (None, Some(failure)) => failure.clone(),
        (Some(state), _) if !state.is_empty() => state.clone(),
        _ => "-".into(),
    }
}

/// `rollout history APP`.
pub fn history_table(revisions: &[RevisionView], now: DateTime<Utc>) -> String {
    if revisions.is_empty() {
        return "No revisions found.\n".to_string();
    }
    let rows: Vec<Vec<String>> = revisions
        .iter()
        .map(|r| {
            vec![
                r.revision.to_string(),
                if r.current { "*".into() } else { String::new() },
                r.image.clone(),
                r.cause.clone(),
                format!("{} ago", age(&r.created_at, now)),
            ]
        })
        .collect();
    table(&["REVISION", "CURRENT", "IMAGE", "CAUSE", "CREATED"], &rows)
}

/// `rollout status APP`: the engine's sentence about the rollout, or what the app runs when there was none.
pub fn rollout_text(app: &AppView) -> String {
    match &app.rollout {
        Some(r) => format!("{}\n", r.message),
        None => format!("app/{} runs revision {}; no rolling update recorded\n", app.name, app.revision),
    }
}

/// Whether a rollout ended without reaching its revision (`rollout status` then exits 1).
pub fn rollout_failed(r: &RolloutView) -> bool {
    r.state.needs_attention()
}

/// One line of load-balancer figures.
pub fn traffic_text(t: &TrafficView) -> String {
    format!(
        "{:.1} req/s, p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms, {:.0} requests, {:.0} 5xx ({:.0} from the load \
         balancer), {:.0} in flight",
        t.rps, t.p50_ms, t.p95_ms, t.p99_ms, t.requests, t.status_5xx, t.errors, t.in_flight
    )
}

/// "1 error", "3 errors".
fn errors_text(n: f64) -> String {
    format!("{n:.0} error{}", if n == 1.0 { "" } else { "s" })
}

/// One progress line of a running load run: `12s/60s  198/200 req/s  p95 3.1 ms  0 errors`.
pub fn load_progress(view: &LoadView) -> String {
    format!(
        "{:.0}s/{:.0}s  {:.0}/{:.0} req/s  p95 {:.1} ms  {}",
        view.elapsed_s.min(view.duration_s),
        view.duration_s,
        view.achieved_rate,
        view.target_rate,
        view.p95_ms,
        errors_text(view.errors)
    )
}

/// The report of a finished load run (`cranectl load`).
pub fn load_report(app: &str, view: &LoadView) -> String {
    let ended = if view.running {
        format!("still running after {:.1}s of {:.0}s", view.elapsed_s, view.duration_s)
    } else if view.stopped_early {
        format!("stopped early after {:.1}s of {:.0}s", view.elapsed_s, view.duration_s)
    } else {
        format!("finished after {:.1}s", view.elapsed_s)
    };
    let kinds = if view.error_kinds.is_empty() { "none".to_string() } else { view.error_kinds.join(", ") };
    let mut out = format!(
        "load/{app} {ended}
"
    );
    let mut field = |k: &str, v: String| {
        out.push_str(&format!(
            "{:<15}{v}
",
            format!("{k}:")
        ))
    };
    field("URL", view.url.clone());
    field("Requests", format!("{:.0} sent, {:.0} ok, {}", view.sent, view.ok, errors_text(view.errors)));
    // The engine reports the rate scheduled *now*: 0 once the run is over, so it is shown only while it means
    // something.
    let target =
        if view.target_rate > 0.0 { format!(" (target {:.0} req/s)", view.target_rate) } else { String::new() };
    field("Achieved rate", format!("{:.1} req/s{target}", view.achieved_rate));
    field("Latency", format!("p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms", view.p50_ms, view.p95_ms, view.p99_ms));
    field("Error kinds", kinds);
    out
}

/// The Load line of `describe app`: the running run's progress, or the last run's figures.
pub fn load_summary(view: &LoadView) -> String {
    if view.running {
        return format!("running: {}", load_progress(view));
    }
    format!(
        "last run{}: {:.0} sent, {:.0} ok, {}, {:.1} req/s, p95 {:.1} ms (against {})",
        if view.stopped_early { " (stopped early)" } else { "" },
        view.sent,
        view.ok,
        errors_text(view.errors),
        view.achieved_rate,
        view.p95_ms,
        view.url
    )
}

/// `get events`.
pub fn events_table(events: &[EventView], now: DateTime<Utc>) -> String {
    if events.is_empty() {
        return "No events found.\n".to_string();
    }
    let rows: Vec<Vec<String>> = events
        .iter()
        .map(|e| {
            vec![
                age(&e.at, now),
                e.app.clone().unwrap_or_else(|| "-".into()),
                e.instance.clone().unwrap_or_else(|| "-".into()),
                e.kind.as_str().to_string(),
                e.reason.clone(),
            ]
        })
        .collect();
    table(&["AGE", "APP", "INSTANCE", "KIND", "REASON"], &rows)
}

/// `describe app NAME`.
pub fn describe_app(app: &AppView, events: &[EventView], now: DateTime<Utc>) -> String {
    let ports = if app.ports.is_empty() {
        "<none>".to_string()
    } else {
        app.ports.iter().map(u16::to_string).collect::<Vec<_>>().join(", ")
    };
    let mut out = String::new();
    let mut field = |k: &str, v: String| out.push_str(&format!("{:<12}{v}\n", format!("{k}:")));
    field("Name", app.name.clone());
    field("Image", app.image.clone());
    field("Owner", app.owner.clone());
    let standbys = if app.standbys > 0 { format!(", {} standby paused", app.standbys) } else { String::new() };
    field("Replicas", format!("{} desired, {} ready{standbys}", app.replicas, app.ready));
    field("Revision", app.revision.to_string());
    field("Ports", ports);
    field("URL", app.url.clone().unwrap_or_else(|| "<none>".into()));
    field("Created", format!("{} ({} ago)", app.created_at, age(&app.created_at, now)));
    field("Rollout", app.rollout.as_ref().map(|r| r.message.clone()).unwrap_or_else(|| "<none>".into()));
    field("Traffic", app.traffic.as_ref().map(traffic_text).unwrap_or_else(|| "<none>".into()));
    field("Autoscaler", app.autoscaling.as_ref().map(autoscaling_text).unwrap_or_else(|| "<none>".into()));
    if let Some(a) = &app.autoscaling {
        field(
            "Decision",
            a.last_decision
                .as_ref()
                .map(|d| format!("{} ({} ago)", d.reason, age(&d.at, now)))
                .unwrap_or_else(|| "<no decision yet>".into()),
        );
    }
    field("Load", app.load.as_ref().map(load_summary).unwrap_or_else(|| "<none>".into()));
    if !app.inactive.is_empty() {
        out.push_str("Inactive:\n");
        for sentence in &app.inactive {
            out.push_str(&format!("  {sentence}\n"));
        }
    }
    if !app.listeners.is_empty() {
        out.push_str("Listeners:\n");
        for port in &app.listeners {
            out.push_str(&format!("  {}\n", listener_text(port)));
        }
    }
    out.push_str("Instances:\n");
    out.push_str(&indent(&instances_table(&app.instances)));
    // The table shows the probe state; the last failure of each instance is worth a full line.
    let failures: Vec<String> =
        app.instances.iter().filter_map(|i| i.probe_failure.as_ref().map(|f| format!("{}: {f}", i.name))).collect();
    if !failures.is_empty() {
        out.push_str("Probe failures (last of each instance):\n");
        for line in failures {
            out.push_str(&format!("  {line}\n"));
        }
    }
    out.push_str("Events:\n");
    out.push_str(&indent(&events_table(events, now)));
    out
}

/// One port in one line: "9000 → tcp://127.0.0.1:41234  tcp, round robin · 3 open, 12 connections, 1.2/s, 4.0 KiB
/// in, 4.1 KiB out".
fn listener_text(port: &crane_api::PortView) -> String {
    use crane_api::{AppProtocolView, BalanceView, PortModeView};
    let mut kind = vec![match (port.mode, port.app_protocol) {
        (PortModeView::Tcp, _) => "tcp",
        (PortModeView::Http, AppProtocolView::Http2) => "http (HTTP/2 to instances)",
        (PortModeView::Http, AppProtocolView::Grpc) => "http (gRPC)",
        (PortModeView::Http, _) => "http",
    }];
    kind.push(match port.balance {
        BalanceView::RoundRobin => "round robin",
        BalanceView::LeastConnections => "least connections",
    });
    if port.sticky {
        kind.push("sticky cookie");
    }
    let address = port.address.clone().unwrap_or_else(|| "<not listening>".into());
    let traffic = port.traffic.as_ref().map(|t| {
        let kib = |b: f64| format!("{:.1} KiB", b / 1024.0);
        let mut parts = Vec::new();
        if port.mode == PortModeView::Http {
            parts.push(format!("{} requests, {:.1} req/s", t.requests, t.rps));
        }
        parts.push(format!(
            "{} open, {} connections, {:.1}/s",
            t.open_connections, t.connections, t.connections_per_second
        ));
        parts.push(format!("{} in, {} out", kib(t.bytes_in), kib(t.bytes_out)));
        if !t.grpc.is_empty() {
            let codes: Vec<String> = t.grpc.iter().map(|g| format!("{} {}", g.name, g.count)).collect();
            parts.push(format!("gRPC {}", codes.join(", ")));
        }
        parts.join(", ")
    });
    let mut line = format!("{} → {address}  {}", port.container, kind.join(", "));
    if let Some(traffic) = traffic {
        line.push_str(" · ");
        line.push_str(&traffic);
    }
    line
}

/// An autoscaling policy in one line: "cpu target 70%, 1..5 replicas, scale down after 60s, at most 1 removed".
fn autoscaling_text(a: &AutoscalingView) -> String {
    let target = match a.metric {
        AutoscaleMetric::Cpu => format!("cpu target {}%", a.target),
        AutoscaleMetric::Memory => format!("memory target {}%", a.target),
        AutoscaleMetric::Rps => format!("rps target {}/replica", a.target),
        AutoscaleMetric::LatencyP95 => format!("latency p95 target {}ms", a.target),
        AutoscaleMetric::Custom => format!("custom target {}", a.target),
    };
    let mut text = format!(
        "{target}, {}..{} replicas, scale down after {}s",
        a.min,
        a.max,
        a.scale_down_stabilization_ms / 1000.0
    );
    if let Some(n) = a.max_scale_up_step {
        text.push_str(&format!(", at most {n} added"));
    }
    if let Some(n) = a.max_scale_down_step {
        text.push_str(&format!(", at most {n} removed"));
    }
    if let Some(ms) = a.idle_after_ms {
        text.push_str(&format!(", to zero after {}s idle", ms / 1000.0));
    }
    if let Some(z) = &a.scale_to_zero {
        text.push_str(match z.phase {
            crane_api::ZeroPhase::Zero => "; scaled to zero — the next request wakes it",
            crane_api::ZeroPhase::Waking => "; waking from zero",
            crane_api::ZeroPhase::Serving => "",
        });
        if let Some(ms) = z.last_cold_start_ms {
            text.push_str(&format!("; last cold start {ms} ms"));
        }
    }
    text
}

/// `cranectl requests`: one line per request (which instance answered), then how many each instance answered.
pub fn requests_text(sent: &crane_api::SendRequestsView) -> String {
    let mut out = format!("{} requests to {}\n", sent.hits.len(), sent.url);
    let mut counts: std::collections::BTreeMap<String, usize> = std::collections::BTreeMap::new();
    for h in &sent.hits {
        let who = match (&h.instance, &h.error) {
            (Some(i), _) => i.clone(),
            (None, Some(_)) => "failed".to_string(),
            (None, None) => "(no X-Crane-Instance)".to_string(),
        };
        let what = match (&h.error, h.status) {
            (Some(e), _) => e.clone(),
            (None, Some(s)) => format!("{s} in {:.1} ms", h.ms),
            (None, None) => String::new(),
        };
        out.push_str(&format!("#{:<3} {who:<24} {what}\n", h.seq));
        *counts.entry(who).or_default() += 1;
    }
    let summary: Vec<String> = counts.iter().map(|(who, n)| format!("{who} ×{n}")).collect();
    out.push_str(&format!("answered by: {}\n", summary.join(", ")));
    out
}

/// `cranectl images`: one row per tag, as `docker images` shows them (short id, decimal sizes), with Crane's demo
/// image marked.
pub fn images_table(images: &[crane_api::ImageView], now: DateTime<Utc>) -> String {
    if images.is_empty() {
        return "No images found. Build the demo image with `cranectl demo-image`.\n".to_string();
    }
    let rows: Vec<Vec<String>> = images
        .iter()
        .map(|i| {
            let id = i.id.strip_prefix("sha256:").unwrap_or(&i.id);
            vec![
                i.reference.clone(),
                id.chars().take(12).collect(),
                i.size.map(size_text).unwrap_or_else(|| "<unknown>".into()),
                i.created.as_deref().map(|at| format!("{} ago", age(at, now))).unwrap_or_else(|| "<unknown>".into()),
                if i.demo { "yes" } else { "no" }.to_string(),
            ]
        })
        .collect();
    table(&["IMAGE", "ID", "SIZE", "CREATED", "DEMO"], &rows)
}

/// A size in bytes with decimal units and three significant digits, as `docker images` prints it (`7.85MB`).
pub fn size_text(bytes: f64) -> String {
    let mut value = bytes.max(0.0);
    let mut unit = 0;
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    while value >= 999.5 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    let digits = if unit == 0 || value >= 99.95 {
        0
    } else if value >= 9.995 {
        1
    } else {
        2
    };
    format!("{value:.digits$}{}", UNITS[unit])
}

/// `cranectl check`: every problem as `FILE:LINE:COL: … — fix`, then each app with what an apply would do (create
/// or update), whether its image is present and what the admission policy says.
pub fn check_text(view: &crane_api::SpecFileCheckView, file: &str) -> String {
    let mut out = String::new();
    for d in &view.diagnostics {
        out.push_str(&crate::error::diagnostic_line(d, file));
        out.push('\n');
    }
    let multi = view.documents.len() > 1;
    for (i, doc) in view.documents.iter().enumerate() {
        let which = if multi { format!(" (document {})", i + 1) } else { String::new() };
        let Some(name) = &doc.name else {
            let subject = if multi { format!("document {}", i + 1) } else { "the spec".to_string() };
            out.push_str(&format!("{subject}: does not parse ({})\n", count(doc.diagnostics.len(), "problem")));
            continue;
        };
        let verdict = if doc.valid { "valid" } else { "invalid" };
        let action = if doc.exists { "apply updates it" } else { "apply creates it" };
        out.push_str(&format!("app/{name}{which}: {verdict}; {action}\n"));
        let image = doc.image.as_deref().unwrap_or_default();
        let presence = match (doc.image_present, doc.is_demo_image) {
            (Some(true), _) => "present".to_string(),
            (Some(false), true) => {
                "not built yet on this Docker engine; build it with `cranectl demo-image`".to_string()
            }
            (Some(false), false) => "not on this Docker engine; a deploy asks Docker to pull it from its registry, \
                                     which needs network access (offline, `docker load` or `docker build` it first)"
                .to_string(),
            (None, _) => "presence unknown (Docker cannot be asked)".to_string(),
        };
        out.push_str(&format!("  image {image}: {presence}\n"));
        match (&doc.admission, &doc.admission_error) {
            (Some(a), _) if a.admitted && a.warn.is_empty() => out.push_str("  admission policy: admitted\n"),
            (Some(a), _) if a.admitted => {
                out.push_str(&format!("  admission policy: admitted with warnings: {}\n", a.warn.join("; ")))
            }
            (Some(a), _) => out.push_str(&format!("  admission policy: denied — {}\n", a.deny.join("; "))),
            (None, Some(e)) => out.push_str(&format!("  admission policy: could not be asked: {e}\n")),
            (None, None) => {}
        }
    }
    if let Some(reason) = check_failure(view) {
        out.push_str(&format!("{file}: would not apply: {reason}\n"));
    } else {
        out.push_str(&format!("{file}: valid ({})\n", count(view.documents.len(), "app")));
    }
    out
}

/// Why `check` fails (exit 1): the file's problems, or apps the admission policy denies or could not decide; `None`
/// when an apply would pass validation and admission.
pub fn check_failure(view: &crane_api::SpecFileCheckView) -> Option<String> {
    if !view.diagnostics.is_empty() {
        return Some(count(view.diagnostics.len(), "problem"));
    }
    let names = |pick: &dyn Fn(&crane_api::SpecCheckView) -> bool| -> Vec<String> {
        view.documents.iter().filter(|d| pick(d)).filter_map(|d| d.name.as_ref().map(|n| format!("app/{n}"))).collect()
    };
    let denied = names(&|d| d.admission.as_ref().is_some_and(|a| !a.admitted));
    let undecided = names(&|d| d.admission.is_none() && d.admission_error.is_some());
    let mut reasons = Vec::new();
    if !denied.is_empty() {
        reasons.push(format!("the admission policy denies {}", denied.join(", ")));
    }
    if !undecided.is_empty() {
        reasons.push(format!("the admission policy could not be asked about {}", undecided.join(", ")));
    }
    (!reasons.is_empty()).then(|| reasons.join("; "))
}

/// `status`.
pub fn status_text(status: &StatusView) -> String {
    let docker =
        if status.docker_ok { format!("ok ({})", status.docker) } else { format!("unreachable: {}", status.docker) };
    let mut text = format!(
        "Crane:      {}\nAPI:        {}\nData dir:   {}\nDocker:     {docker}\nApps:       {}\n",
        status.version, status.api_url, status.data_dir, status.apps
    );
    if let Some(why) = &status.engine_error {
        text.push_str(&format!("Engine:     stopped: {why}\n"));
    }
    if status.allow_unsafe {
        text.push_str("Unsafe:     allowUnsafe is on: the safety floor is off (see `cranectl settings`)\n");
    }
    text
}

/// `settings`: one line per setting, with what it means now.
pub fn settings_text(settings: &SettingsView) -> String {
    let unsafe_note = if settings.allow_unsafe {
        "the safety floor is OFF: specs may run privileged containers, mount any host path read-write and add any \
         capability (root on the host)"
    } else {
        "the safety floor is on: no privileged containers, no host paths outside hostPathAllow, only safe capabilities"
    };
    let paths = if settings.host_path_allow.is_empty() {
        "(none: specs may use named volumes only)".to_string()
    } else {
        format!("{} (mounted read-only)", settings.host_path_allow.join(", "))
    };
    table(
        &["SETTING", "VALUE", "MEANING"],
        &[
            vec!["allowUnsafe".into(), settings.allow_unsafe.to_string(), unsafe_note.into()],
            vec!["hostPathAllow".into(), paths, "host directories specs may bind-mount".into()],
            vec![
                "alertmanager_url".into(),
                settings.alertmanager_url.clone().unwrap_or_else(|| "(none)".into()),
                "where Crane sends its firing and resolved alerts (Alertmanager API v2)".into(),
            ],
            vec![
                "opa_url".into(),
                settings.opa_url.clone().unwrap_or_else(|| "(none)".into()),
                "the OPA server deciding the policies in opa_policies".into(),
            ],
            vec![
                "opa_policies".into(),
                if settings.opa_policies.is_empty() {
                    "(none: the embedded Rego decides every policy)".into()
                } else {
                    settings
                        .opa_policies
                        .iter()
                        .map(|p| crane_engine::policies::core_name(*p).to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                },
                "policies decided by OPA; unreachable → admission refuses, actions hold".into(),
            ],
        ],
    )
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("  {l}\n")).collect()
}

fn state(s: InstanceState) -> &'static str {
    match s {
        InstanceState::Starting => "starting",
        InstanceState::Running => "running",
        InstanceState::Ready => "ready",
        InstanceState::Crashed => "crashed",
        InstanceState::Restarting => "restarting",
        InstanceState::Stopping => "stopping",
    }
}

/// Time since an RFC 3339 instant, the way kubectl prints ages (`45s`, `5m20s`, `3h`, `2d4h`).
pub fn age(rfc3339: &str, now: DateTime<Utc>) -> String {
    let Ok(then) = DateTime::parse_from_rfc3339(rfc3339) else {
        return "<unknown>".to_string();
    };
    let secs = (now - then.with_timezone(&Utc)).num_seconds().max(0);
    let (mins, hours, days) = (secs / 60, secs / 3600, secs / 86_400);
    if secs < 120 {
        format!("{secs}s")
    } else if mins < 10 {
        match secs % 60 {
            0 => format!("{mins}m"),
            s => format!("{mins}m{s}s"),
        }
    } else if hours < 3 {
        format!("{mins}m")
    } else if hours < 8 {
        match mins % 60 {
            0 => format!("{hours}h"),
            m => format!("{hours}h{m}m"),
        }
    } else if hours < 48 {
        format!("{hours}h")
    } else if hours < 24 * 8 {
        match hours % 24 {
            0 => format!("{days}d"),
            h => format!("{days}d{h}h"),
        }
    } else if days < 365 * 2 {
        format!("{days}d")
    } else {
        format!("{}y", days / 365)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crane_api::{AutoscaleDecisionView, ScaleChange};

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2025-01-10T12:00:00Z").unwrap().with_timezone(&Utc)
    }

    fn image(reference: &str, size: Option<f64>, created: Option<&str>, demo: bool) -> crane_api::ImageView {
        crane_api::ImageView {
            reference: reference.into(),
            id: "sha256:0123456789abcdef0123".into(),
            size,
            created: created.map(str::to_string),
            demo,
        }
    }

    #[test]
    fn images_show_tag_short_id_size_age_and_the_demo_image() {
        let text = images_table(
            &[
                image("crane-demo:0.1.0", Some(7_851_000.0), Some("2025-01-10T11:54:40Z"), true),
                image("nginx:1.27", None, None, false),
            ],
            now(),
        );
        assert_eq!(
            text,
            "IMAGE              ID             SIZE        CREATED     DEMO\n\
             crane-demo:0.1.0   0123456789ab   7.85MB      5m20s ago   yes\n\
             nginx:1.27         0123456789ab   <unknown>   <unknown>   no\n"
        );
        assert!(images_table(&[], now()).starts_with("No images found."));
    }

    #[test]
    fn sizes_read_like_docker_images() {
        let cases = [
            (0.0, "0B"),
            (999.0, "999B"),
            (1_000.0, "1.00kB"),
            (7_851_000.0, "7.85MB"),
            (12_340_000.0, "12.3MB"),
            (128_000_000.0, "128MB"),
            (1_500_000_000.0, "1.50GB"),
        ];
        for (bytes, want) in cases {
            assert_eq!(size_text(bytes), want, "{bytes}");
        }
    }

    fn checked(
        name: Option<&str>,
        exists: bool,
        present: Option<bool>,
        admitted: Option<bool>,
    ) -> crane_api::SpecCheckView {
        crane_api::SpecCheckView {
            valid: name.is_some(),
            diagnostics: Vec::new(),
            name: name.map(str::to_string),
            image: name.map(|_| "crane-demo:0.1.0".to_string()),
            exists,
            image_present: present,
            is_demo_image: true,
            admission: admitted.map(|admitted| crane_api::AdmissionPreview {
                admitted,
                deny: if admitted { vec![] } else { vec!["no root".into()] },
                warn: vec![],
            }),
            admission_error: None,
        }
    }

    #[test]
    fn checks_list_problems_then_each_app_and_say_why_they_fail() {
        let diagnostic = crane_api::Diagnostic {
            line: 6,
            column: 11,
            path: "replicas".into(),
            message: "expected a whole number".into(),
            fix: "write e.g. `replicas: 3`".into(),
            file: None,
            document: Some(2),
        };
        let mut broken = checked(None, false, None, None);
        broken.diagnostics = vec![diagnostic.clone()];
        let view = crane_api::SpecFileCheckView {
            valid: false,
            diagnostics: vec![diagnostic],
            documents: vec![checked(Some("web"), false, Some(false), Some(true)), broken],
        };
        let text = check_text(&view, "apps.yaml");
        assert_eq!(
            text,
            "apps.yaml:6:11: document 2: replicas: expected a whole number — write e.g. `replicas: 3`\n\
             app/web (document 1): valid; apply creates it\n  \
             image crane-demo:0.1.0: not built yet on this Docker engine; build it with `cranectl demo-image`\n  \
             admission policy: admitted\n\
             document 2: does not parse (1 problem)\n\
             apps.yaml: would not apply: 1 problem\n"
        );

        let view = crane_api::SpecFileCheckView {
            valid: true,
            diagnostics: vec![],
            documents: vec![checked(Some("web"), true, Some(true), Some(false))],
        };
        let text = check_text(&view, "web.yaml");
        assert!(text.starts_with("app/web: valid; apply updates it\n  image crane-demo:0.1.0: present\n"), "{text}");
        assert!(text.contains("  admission policy: denied — no root\n"), "{text}");
        assert_eq!(check_failure(&view).as_deref(), Some("the admission policy denies app/web"));

        let view = crane_api::SpecFileCheckView {
            valid: true,
            diagnostics: vec![],
            documents: vec![checked(Some("web"), false, None, Some(true))],
        };
        assert_eq!(check_failure(&view), None);
        let text = check_text(&view, "web.yaml");
        assert!(
            text.ends_with(
                "image crane-demo:0.1.0: presence unknown (Docker cannot be asked)\n  admission policy: admitted\n\
                 web.yaml: valid (1 app)\n"
            ),
            "{text}"
        );
    }

    #[test]
    fn requests_say_who_answered_each_and_how_often() {
        let hit = |seq, instance: Option<&str>, error: Option<&str>| crane_api::RequestHitView {
            seq,
            status: error.is_none().then_some(200),
            instance: instance.map(str::to_string),
            ms: 1.25,
            error: error.map(str::to_string),
        };
        let sent = crane_api::SendRequestsView {
            url: "http://127.0.0.1:18080".into(),
            hits: vec![
                hit(1, Some("web-1"), None),
                hit(2, Some("web-2"), None),
                hit(3, Some("web-1"), None),
                hit(4, None, Some("no answer within 3 s")),
            ],
        };
        let text = requests_text(&sent);
        assert!(text.starts_with("4 requests to http://127.0.0.1:18080\n"), "{text}");
        assert!(text.contains("#2   web-2                    200 in 1.2 ms\n"), "{text}");
        assert!(text.contains("#4   failed                   no answer within 3 s\n"), "{text}");
        assert!(text.ends_with("answered by: failed ×1, web-1 ×2, web-2 ×1\n"), "{text}");
    }

    #[test]
    fn ages() {
        let check = |at: &str, expected: &str| assert_eq!(age(at, now()), expected, "{at}");
        check("2025-01-10T11:59:15Z", "45s");
        check("2025-01-10T11:54:40Z", "5m20s");
        check("2025-01-10T11:30:00Z", "30m");
        check("2025-01-10T08:00:00Z", "4h");
        check("2025-01-10T07:30:00Z", "4h30m");
        check("2025-01-09T00:00:00Z", "36h");
        check("2025-01-07T08:00:00Z", "3d4h");
        check("2024-12-01T12:00:00Z", "40d");
        check("2025-01-10T12:00:05Z", "0s");
        check("yesterday", "<unknown>");
    }

    #[test]
    fn tables_align() {
        let out = table(&["NAME", "X"], &[vec!["a".into(), "1".into()], vec!["longer".into(), "22".into()]]);
        assert_eq!(out, "NAME     X\na        1\nlonger   22\n");
    }

    fn app() -> AppView {
        AppView {
            name: "web".into(),
            image: "crane-demo:0.1.0".into(),
            replicas: 2,
            ready: 1,
            standbys: 0,
            revision: 3,
            ports: vec![8080],
            url: Some("http://127.0.0.1:18080".into()),
            listeners: vec![],
            inactive: vec![],
            spec_yaml: String::new(),
            instances: vec![InstanceView {
                name: "web-1".into(),
                index: 1,
                id: "abc".into(),
                state: InstanceState::Ready,
                revision: 3,
                restarts: 0,
                message: String::new(),
                address: Some("172.18.0.2".into()),
                uptime_ms: Some(1.0),
                probe: Some("liveness ok · ready".into()),
                probe_failure: None,
                traffic: Some(traffic(12.0)),
                cpu_percent: None,
            }],
            created_at: "2025-01-10T11:59:00Z".into(),
            owner: "alice".into(),
            rollout: Some(RolloutView {
                from: vec![2],
                to: 3,
                ready: 2,
                total: 3,
                state: crane_api::RolloutState::Progressing,
                message: "rolling update to revision 3: 2/3 new instances ready".into(),
            }),
            traffic: Some(traffic(12.0)),
            load: None,
            autoscaling: None,
        }
    }

    fn load(running: bool) -> LoadView {
        LoadView {
            running,
            url: "http://127.0.0.1:18080/work?ms=20".into(),
            target_rate: 200.0,
            achieved_rate: 198.4,
            sent: 2400.0,
            ok: 2399.0,
            errors: 1.0,
            p50_ms: 1.2,
            p95_ms: 3.1,
            p99_ms: 7.04,
            elapsed_s: 12.3,
            duration_s: 60.0,
            stopped_early: false,
            error_kinds: if running { vec![] } else { vec!["HTTP 503: 1".into()] },
        }
    }

    #[test]
    fn load_lines() {
        assert_eq!(load_progress(&load(true)), "12s/60s  198/200 req/s  p95 3.1 ms  1 error");
        let mut done = load(false);
        done.elapsed_s = 60.02;
        done.target_rate = 0.0;
        assert_eq!(
            load_report("web", &done),
            "load/web finished after 60.0s\n\
             URL:           http://127.0.0.1:18080/work?ms=20\n\
             Requests:      2400 sent, 2399 ok, 1 error\n\
             Achieved rate: 198.4 req/s\n\
             Latency:       p50 1.2 ms, p95 3.1 ms, p99 7.0 ms\n\
             Error kinds:   HTTP 503: 1\n"
        );
        done.stopped_early = true;
        done.elapsed_s = 12.3;
        assert!(load_report("web", &done).starts_with("load/web stopped early after 12.3s of 60s\n"));
        let mut a = app();
        a.autoscaling = Some(AutoscalingView {
            min: 1,
            max: 5,
            metric: AutoscaleMetric::Cpu,
            target: 70.0,
            query: None,
            tolerance: 0.1,
            scale_down_stabilization_ms: 60_000.0,
            max_scale_up_step: None,
            max_scale_down_step: Some(1),
            idle_after_ms: None,
            scale_to_zero: None,
            last_decision: Some(AutoscaleDecisionView {
                at: "2025-01-10T11:59:30Z".into(),
                from: 2,
                to: 3,
                change: ScaleChange::Up,
                value: Some(93.0),
                ratio: Some(93.0 / 70.0),
                recommendation: 3,
                limits: Vec::new(),
                reason: "cpu 93% > target 70% → scale 2→3".into(),
            }),
        });
        a.load = Some(load(true));
        let described = describe_app(&a, &[], now());
        assert!(
            described.contains(
                "Autoscaler: cpu target 70%, 1..5 replicas, scale down after 60s, at most 1 removed\n\
                 Decision:   cpu 93% > target 70% → scale 2→3 (30s ago)\n"
            ),
            "{described}"
        );
        assert!(described.contains("Load:       running: 12s/60s  198/200 req/s"), "{described}");
        a.load = Some(done);
        let described = describe_app(&a, &[], now());
        assert!(described.contains("Load:       last run (stopped early): 2400 sent, 2399 ok, 1 error"), "{described}");
        assert!(describe_app(&app(), &[], now()).contains("Autoscaler: <none>\nLoad:       <none>\n"));
    }

    fn traffic(requests: f64) -> TrafficView {
        TrafficView {
            requests,
            rps: 2.5,
            p50_ms: 1.0,
            p95_ms: 3.3,
            p99_ms: 9.0,
            status_2xx: requests,
            status_3xx: 0.0,
            status_4xx: 0.0,
            status_5xx: 1.0,
            errors: 1.0,
            in_flight: 0.0,
            bytes_in: 0.0,
            bytes_out: 0.0,
            open_connections: 0.0,
            connections: 0.0,
            connections_per_second: 0.0,
            grpc: vec![],
        }
    }

    #[test]
    fn listeners_show_mode_address_and_long_lived_traffic() {
        use crane_api::{AppProtocolView, BalanceView, GrpcStatusCount, PortModeView, PortView};
        let mut t = traffic(3.0);
        (t.open_connections, t.connections, t.connections_per_second, t.bytes_in) = (2.0, 12.0, 1.5, 4096.0);
        t.grpc = vec![GrpcStatusCount { code: 14, name: "UNAVAILABLE".into(), count: 1.0 }];
        let port = |mode, app_protocol, sticky, traffic| PortView {
            container: 9000,
            public: Some(41234),
            mode,
            app_protocol,
            sticky,
            balance: BalanceView::LeastConnections,
            address: Some("tcp://127.0.0.1:41234".into()),
            traffic,
        };
        assert_eq!(
            listener_text(&port(PortModeView::Tcp, AppProtocolView::Tcp, false, Some(t.clone()))),
            "9000 → tcp://127.0.0.1:41234  tcp, least connections · 2 open, 12 connections, 1.5/s, 4.0 KiB in, 0.0 KiB \
             out, gRPC UNAVAILABLE 1"
        );
        assert_eq!(
            listener_text(&port(PortModeView::Http, AppProtocolView::Grpc, true, None)),
            "9000 → tcp://127.0.0.1:41234  http (gRPC), least connections, sticky cookie"
        );
        let mut a = app();
        a.listeners = vec![port(PortModeView::Tcp, AppProtocolView::Tcp, false, None)];
        assert!(describe_app(&a, &[], now()).contains("Listeners:\n  9000 → tcp://127.0.0.1:41234  tcp"));
    }

    #[test]
    fn apps_and_instances() {
        assert_eq!(
            apps_table(&[app()], now()),
            "NAME   IMAGE              REPLICAS   READY   REVISION   URL                      OWNER   AGE\n\
             web    crane-demo:0.1.0   2          1       3          http://127.0.0.1:18080   alice   60s\n"
        );
        assert_eq!(
            instances_table(&app().instances),
            "NAME    STATE   REVISION   RESTARTS   ADDRESS      PROBE                 REQUESTS   MESSAGE\n\
             web-1   ready   3          0          172.18.0.2   liveness ok · ready   12\n"
        );
        let described = describe_app(&app(), &[], now());
        assert!(described.contains("Replicas:   2 desired, 1 ready\n"), "{described}");
        assert!(
            described.contains("Rollout:    rolling update to revision 3: 2/3 new instances ready\n"),
            "{described}"
        );
        assert!(
            described.contains("Traffic:    2.5 req/s, p50 1.0 ms, p95 3.3 ms, p99 9.0 ms, 12 requests, 1 5xx"),
            "{described}"
        );
        assert!(described.contains("Events:\n  No events found.\n"), "{described}");
        assert!(described.contains("Owner:      alice\n"), "{described}");
    }

    #[test]
    fn users_tokens_and_audit() {
        let users = [UserView {
            name: "admin".into(),
            role: Role::Admin,
            created_at: "2025-01-10T11:00:00Z".into(),
            tokens: 0,
            builtin: true,
        }];
        assert_eq!(
            users_table(&users, now()),
            "NAME    ROLE    TOKENS               AGE\nadmin   admin   0 + data dir token   60m\n"
        );
        let info = TokenView {
            id: "0123456789ab".into(),
            user: "alice".into(),
            role: Role::Viewer,
            label: None,
            created_at: "2025-01-10T11:59:50Z".into(),
        };
        assert_eq!(
            tokens_table(std::slice::from_ref(&info), now()),
            "ID             USER    ROLE     LABEL   AGE\n0123456789ab   alice   viewer   -       10s\n"
        );
        let issued = IssuedToken { token: "crane_0123456789ab_ff".into(), info };
        let text = issued_token_text(&issued);
        assert_eq!(text.lines().last(), Some("crane_0123456789ab_ff"), "the token alone on the last line");
        let row = AuditView {
            id: 1.0,
            at: "2025-01-10T11:59:59Z".into(),
            user: "bob".into(),
            role: Role::Operator,
            door: crane_api::Door::Cli,
            action: crane_api::AuditAction::AppScale,
            app: Some("web".into()),
            target: None,
            ok: false,
            error: Some(crane_api::ErrorCode::Forbidden),
        };
        assert_eq!(
            audit_table(&[row], now()),
            "AGE   USER   ROLE       DOOR   ACTION      TARGET   OUTCOME\n1s    bob    operator   cli    app.scale   web      forbidden\n"
        );
    }

    #[test]
    fn probe_cell_shows_the_failure_while_unhealthy() {
        let mut i = app().instances[0].clone();
        i.probe_failure = Some("readiness: GET /ready returned 503".into());
        assert_eq!(probe(&i), "liveness ok · ready", "healthy again: the state, not an old failure");
        i.probe = Some("liveness ok · not ready".into());
        assert_eq!(probe(&i), "readiness: GET /ready returned 503");
        i.probe = None;
        i.probe_failure = None;
        assert_eq!(probe(&i), "-");
        let mut a = app();
        a.instances = vec![i.clone(), InstanceView { probe_failure: Some("liveness: timed out".into()), ..i }];
        let described = describe_app(&a, &[], now());
        assert!(
            described.contains("Probe failures (last of each instance):\n  web-1: liveness: timed out\n"),
            "{described}"
        );
    }

    #[test]
    fn history_and_rollout() {
        let rev = |revision: u32, current: bool| RevisionView {
            revision,
            created_at: "2025-01-10T11:58:00Z".into(),
            image: "crane-demo:0.1.0".into(),
            cause: format!("apply: r{revision}"),
            current,
            spec_yaml: String::new(),
        };
        assert_eq!(
            history_table(&[rev(1, false), rev(2, true)], now()),
            "REVISION   CURRENT   IMAGE              CAUSE       CREATED\n\
             1                    crane-demo:0.1.0   apply: r1   2m ago\n\
             2          *         crane-demo:0.1.0   apply: r2   2m ago\n"
        );
        assert_eq!(history_table(&[], now()), "No revisions found.\n");
        let mut a = app();
        assert_eq!(rollout_text(&a), "rolling update to revision 3: 2/3 new instances ready\n");
        assert!(!rollout_failed(a.rollout.as_ref().unwrap()));
        a.rollout.as_mut().unwrap().state = crane_api::RolloutState::RolledBack;
        assert!(rollout_failed(a.rollout.as_ref().unwrap()));
        a.rollout = None;
        assert_eq!(rollout_text(&a), "app/web runs revision 3; no rolling update recorded\n");
    }

    #[test]
    fn formats() {
        let json = render(Format::Json, &vec![app()], String::new).unwrap();
        assert!(json.starts_with("[\n"));
        let yaml = render(Format::Yaml, &app(), String::new).unwrap();
        assert!(yaml.contains("name: web"), "{yaml}");
    }
}
